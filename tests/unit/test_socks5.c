/*
 * SOCKS5 codec: tables of messages, each fed whole, cut at every offset
 * (each prefix in its own exact-size allocation, so ASan sees any read past
 * the end) and followed by pipelined bytes.
 */
#include <stdlib.h>

#include "core/util.h"
#include "proto/socks5.h"
#include "unit.h"
#include "proto_check.h"

static int p_greeting(const uint8_t *b, size_t l, void *o) { return socks5_parse_greeting(b, l, o); }
static int p_auth(const uint8_t *b, size_t l, void *o) { return socks5_parse_auth(b, l, o); }
static int p_request(const uint8_t *b, size_t l, void *o) { return socks5_parse_request(b, l, o); }
static int p_reply(const uint8_t *b, size_t l, void *o) { return socks5_parse_reply(b, l, o); }
static int p_method(const uint8_t *b, size_t l, void *o) { return socks5_parse_method_reply(b, l, o); }
static int p_auth_reply(const uint8_t *b, size_t l, void *o) { return socks5_parse_auth_reply(b, l, o); }
static int p_udp(const uint8_t *b, size_t l, void *o) { return socks5_parse_udp(b, l, o); }

struct bytes {
	const char *name;
	const char *b;	/* string literal with \x escapes */
	size_t n;
};
#define B(name, lit)	{ name, lit, sizeof(lit) - 1 }
#define U8(s)		((const uint8_t *)(s))

static void test_rep_str(void)
{
	CHECK_STR(socks5_rep_str(SOCKS5_REP_SUCCEEDED), "succeeded");
	CHECK_STR(socks5_rep_str(SOCKS5_REP_GENERAL_FAILURE), "general SOCKS server failure");
	CHECK_STR(socks5_rep_str(SOCKS5_REP_NOT_ALLOWED), "connection not allowed by ruleset");
	CHECK_STR(socks5_rep_str(SOCKS5_REP_NET_UNREACHABLE), "network unreachable");
	CHECK_STR(socks5_rep_str(SOCKS5_REP_HOST_UNREACHABLE), "host unreachable");
	CHECK_STR(socks5_rep_str(SOCKS5_REP_REFUSED), "connection refused");
	CHECK_STR(socks5_rep_str(SOCKS5_REP_TTL_EXPIRED), "TTL expired");
	CHECK_STR(socks5_rep_str(SOCKS5_REP_CMD_NOT_SUPPORTED), "command not supported");
	CHECK_STR(socks5_rep_str(SOCKS5_REP_ATYP_NOT_SUPPORTED), "address type not supported");
	CHECK_STR(socks5_rep_str(9), "unknown reply");
	CHECK_STR(socks5_rep_str(0xff), "unknown reply");
	CHECK_STR(socks5_rep_str(-1), "unknown reply");
}

static void test_greeting(void)
{
	static const struct {
		struct bytes in;
		bool no_auth, userpass;
		uint8_t need_auth_method, open_method;
	} valid[] = {
		{ B("no auth", "\x05\x01\x00"), true, false, 0xff, 0x00 },
		{ B("both", "\x05\x02\x00\x02"), true, true, 0x02, 0x00 },
		{ B("userpass only", "\x05\x01\x02"), false, true, 0x02, 0x02 },
		{ B("gssapi only", "\x05\x01\x01"), false, false, 0xff, 0xff },
		{ B("no methods", "\x05\x00"), false, false, 0xff, 0xff },
		{ B("reversed + junk", "\x05\x04\x80\x02\x01\x00"), true, true, 0x02, 0x00 },
	};
	static const struct bytes invalid[] = {
		B("socks4", "\x04\x01\x00"),
		B("http", "GET / HTTP/1.1\r\n"),
		B("zero", "\x00\x01\x00"),
	};
	struct socks5_greeting g;
	uint8_t big[2 + 255];

	for (size_t i = 0; i < ARRAY_SIZE(valid); i++) {
		check_valid(valid[i].in.name, p_greeting, U8(valid[i].in.b), valid[i].in.n,
			    &g, sizeof(g));
		CHECK_EQ_INT(g.nmethods, valid[i].in.n - 2);
		CHECK(g.has_no_auth == valid[i].no_auth);
		CHECK(g.has_userpass == valid[i].userpass);
		CHECK_EQ_INT(socks5_choose_method(&g, true), valid[i].need_auth_method);
		CHECK_EQ_INT(socks5_choose_method(&g, false), valid[i].open_method);
	}
	for (size_t i = 0; i < ARRAY_SIZE(invalid); i++)
		CHECK_EQ_INT(check_invalid(invalid[i].name, p_greeting, U8(invalid[i].b),
					   invalid[i].n, &g), 1);

	/* 255 methods, USERPASS last */
	big[0] = 5;
	big[1] = 255;
	for (int i = 0; i < 255; i++)
		big[2 + i] = (uint8_t)(0x10 + i % 0x40);
	big[2 + 254] = 0x02;
	check_valid("255 methods", p_greeting, big, sizeof(big), &g, sizeof(g));
	CHECK(g.has_userpass && !g.has_no_auth);
	CHECK_EQ_INT(g.nmethods, 255);
}

static void test_auth(void)
{
	struct socks5_auth a;
	uint8_t big[3 + 255 + 255];

	check_valid("bob", p_auth, U8("\x01\x03" "bob" "\x05" "s3cr3"), 11, &a, sizeof(a));
	CHECK_EQ_INT(a.user_len, 3);
	CHECK(memcmp(a.user, "bob", 3) == 0);
	CHECK_EQ_INT(a.pass_len, 5);
	CHECK(memcmp(a.pass, "s3cr3", 5) == 0);

	check_valid("empty password", p_auth, U8("\x01\x01" "u" "\x00"), 4, &a, sizeof(a));
	CHECK_EQ_INT(a.user_len, 1);
	CHECK_EQ_INT(a.pass_len, 0);

	/* binary bytes in user and password are not special */
	check_valid("binary", p_auth, U8("\x01\x02\x00\xff\x02\x00:"), 7, &a, sizeof(a));
	CHECK(a.user_len == 2 && a.user[0] == 0 && a.user[1] == 0xff);
	CHECK(a.pass_len == 2 && a.pass[0] == 0 && a.pass[1] == ':');

	big[0] = 1;
	big[1] = 255;
	memset(big + 2, 'u', 255);
	big[257] = 255;
	memset(big + 258, 'p', 255);
	check_valid("max lengths", p_auth, big, sizeof(big), &a, sizeof(a));
	CHECK(a.user_len == 255 && a.pass_len == 255);
	CHECK(a.user[0] == 'u' && a.user[254] == 'u');
	CHECK(a.pass[0] == 'p' && a.pass[254] == 'p');

	CHECK_EQ_INT(check_invalid("ver 5", p_auth, U8("\x05\x01u\x01p"), 5, &a), 1);
	CHECK_EQ_INT(check_invalid("ver 0", p_auth, U8("\x00\x01u\x01p"), 5, &a), 1);
	CHECK_EQ_INT(check_invalid("empty user", p_auth, U8("\x01\x00\x01p"), 4, &a), 2);
}

static void test_request(void)
{
	static const struct {
		struct bytes in;
		uint8_t cmd, reply, type;
		const char *addr;	/* bytes expected in dst.bytes */
		uint8_t alen;
		uint16_t port;
	} valid[] = {
		{ B("connect v4", "\x05\x01\x00\x01\x01\x02\x03\x04\x00\x50"),
		  1, 0, PROTO_ADDR_IPV4, "\x01\x02\x03\x04", 4, 80 },
		{ B("connect v6", "\x05\x01\x00\x04" "\x20\x01\x0d\xb8\x00\x00\x00\x00"
		    "\x00\x00\x00\x00\x00\x00\x00\x01" "\x01\xbb"),
		  1, 0, PROTO_ADDR_IPV6, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16, 443 },
		{ B("connect domain", "\x05\x01\x00\x03\x0b" "example.com" "\x1f\x90"),
		  1, 0, PROTO_ADDR_DOMAIN, "example.com", 11, 8080 },
		{ B("bind", "\x05\x02\x00\x01\x00\x00\x00\x00\x00\x00"),
		  2, 0, PROTO_ADDR_IPV4, "\0\0\0\0", 4, 0 },
		{ B("udp associate", "\x05\x03\x00\x01\x7f\x00\x00\x01\xff\xff"),
		  3, 0, PROTO_ADDR_IPV4, "\x7f\0\0\x01", 4, 65535 },
		{ B("rsv ignored", "\x05\x01\xff\x03\x01" "a" "\x00\x01"),
		  1, 0, PROTO_ADDR_DOMAIN, "a", 1, 1 },
		{ B("unknown cmd 0", "\x05\x00\x00\x01\x01\x02\x03\x04\x00\x50"),
		  0, 7, PROTO_ADDR_IPV4, "\x01\x02\x03\x04", 4, 80 },
		{ B("unknown cmd 4", "\x05\x04\x00\x03\x01" "b" "\x00\x50"),
		  4, 7, PROTO_ADDR_DOMAIN, "b", 1, 80 },
		{ B("unknown cmd ff", "\x05\xff\x00\x04" "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0" "\x00\x35"),
		  0xff, 7, PROTO_ADDR_IPV6, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16, 53 },
	};
	static const struct {
		struct bytes in;
		uint8_t reply;
		size_t first;	/* shortest prefix already rejected */
	} invalid[] = {
		{ B("ver 4", "\x04\x01\x00\x01\x01\x02\x03\x04\x00\x50"), 1, 1 },
		{ B("atyp 2", "\x05\x01\x00\x02\x01\x02\x03\x04\x00\x50"), 8, 4 },
		{ B("atyp 0", "\x05\x01\x00\x00"), 8, 4 },
		{ B("atyp ff + bad cmd", "\x05\x09\x00\xff\x01\x02"), 8, 4 },
		{ B("empty domain", "\x05\x01\x00\x03\x00\x00\x50"), 1, 5 },
		{ B("NUL in domain", "\x05\x01\x00\x03\x03" "a\0b" "\x00\x50"), 1, 10 },
	};
	struct socks5_request r;
	uint8_t big[SOCKS5_REQUEST_MAX];

	for (size_t i = 0; i < ARRAY_SIZE(valid); i++) {
		check_valid(valid[i].in.name, p_request, U8(valid[i].in.b), valid[i].in.n,
			    &r, sizeof(r));
		CHECK_EQ_INT(r.cmd, valid[i].cmd);
		CHECK_EQ_INT(r.reply, valid[i].reply);
		CHECK_EQ_INT(r.dst.type, valid[i].type);
		CHECK_EQ_INT(r.dst.len, valid[i].alen);
		CHECK(memcmp(r.dst.bytes, valid[i].addr, valid[i].alen) == 0);
		CHECK_EQ_INT(r.dst.port, valid[i].port);
		if (r.dst.type == PROTO_ADDR_DOMAIN)
			CHECK_EQ_INT(r.dst.bytes[r.dst.len], 0);
	}
	for (size_t i = 0; i < ARRAY_SIZE(invalid); i++) {
		size_t first = check_invalid(invalid[i].in.name, p_request, U8(invalid[i].in.b),
					     invalid[i].in.n, &r);

		CHECK_EQ_INT(first, invalid[i].first);
		r.reply = 0xee;
		CHECK_EQ_INT(socks5_parse_request(U8(invalid[i].in.b), first, &r), PROTO_ERROR);
		CHECK_EQ_INT(r.reply, invalid[i].reply);
	}

	/* the longest domain */
	big[0] = 5;
	big[1] = 1;
	big[2] = 0;
	big[3] = 3;
	big[4] = 255;
	memset(big + 5, 'x', 255);
	big[260] = 0x12;
	big[261] = 0x34;
	check_valid("domain 255", p_request, big, sizeof(big), &r, sizeof(r));
	CHECK(r.dst.type == PROTO_ADDR_DOMAIN && r.dst.len == 255 && r.dst.port == 0x1234);
	CHECK(r.dst.bytes[254] == 'x' && r.dst.bytes[255] == 0);
	CHECK_EQ_INT(strlen((const char *)r.dst.bytes), 255);
}

/* An encoder's output matches expect; every smaller capacity gives -1. */
static void check_encoded(const char *name, int rc, const uint8_t *buf, const char *expect,
			  size_t n)
{
	unsigned int before = unit_fail;

	CHECK_EQ_INT(rc, (int)n);
	CHECK(rc == (int)n && memcmp(buf, expect, n) == 0);
	if (unit_fail != before)
		fprintf(stderr, "  ^ in case '%s'\n", name);
}

static void test_server_encoders(void)
{
	static const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };
	struct proto_addr a4, a6, ad, none = { 0 };
	uint8_t buf[SOCKS5_REQUEST_MAX + 8];
	struct socks5_reply rp;

	proto_addr_set_ipv4(&a4, U8("\x0a\x00\x00\x01"), 1080);
	proto_addr_set_ipv6(&a6, v6, 53);
	CHECK_EQ_INT(proto_addr_set_domain(&ad, "h.example", 9, 443), 0);

	check_encoded("method 0", socks5_write_method(buf, 2, 0x00), buf, "\x05\x00", 2);
	check_encoded("method 2", socks5_write_method(buf, 2, 0x02), buf, "\x05\x02", 2);
	check_encoded("method ff", socks5_write_method(buf, 64, 0xff), buf, "\x05\xff", 2);
	CHECK_EQ_INT(socks5_write_method(buf, 1, 0), -1);
	CHECK_EQ_INT(socks5_write_method(buf, 0, 0), -1);
	check_encoded("auth ok", socks5_write_auth_reply(buf, 2, 0), buf, "\x01\x00", 2);
	check_encoded("auth fail", socks5_write_auth_reply(buf, 2, 1), buf, "\x01\x01", 2);
	CHECK_EQ_INT(socks5_write_auth_reply(buf, 1, 0), -1);

	/* every reply code, with each kind of bound address; parsed back */
	for (int rep = 0; rep <= 8; rep++) {
		const struct proto_addr *addrs[] = { NULL, &none, &a4, &a6, &ad };

		for (size_t i = 0; i < ARRAY_SIZE(addrs); i++) {
			const struct proto_addr *want = addrs[i] && addrs[i]->type ? addrs[i] : NULL;
			int n = socks5_write_reply(buf, sizeof(buf), (uint8_t)rep, addrs[i]);
			int expect = want ? 3 + socks5_addr_len(want) : 10;

			CHECK_EQ_INT(n, expect);
			CHECK(buf[0] == 5 && buf[1] == rep && buf[2] == 0);
			for (int cap = 0; cap < expect; cap++)
				CHECK_EQ_INT(socks5_write_reply(buf, (size_t)cap, (uint8_t)rep,
								addrs[i]), -1);
			CHECK_EQ_INT(socks5_write_reply(buf, (size_t)expect, (uint8_t)rep, addrs[i]),
				     expect);
			check_valid(socks5_rep_str(rep), p_reply, buf, (size_t)expect, &rp,
				    sizeof(rp));
			CHECK_EQ_INT(rp.rep, rep);
			if (want) {
				CHECK_EQ_INT(rp.bnd.type, want->type);
				CHECK_EQ_INT(rp.bnd.len, want->len);
				CHECK_EQ_INT(rp.bnd.port, want->port);
				CHECK(memcmp(rp.bnd.bytes, want->bytes, want->len) == 0);
			} else {
				CHECK(rp.bnd.type == PROTO_ADDR_IPV4 && rp.bnd.port == 0);
				CHECK(memcmp(rp.bnd.bytes, "\0\0\0\0", 4) == 0);
			}
		}
	}
	check_encoded("refused v4", socks5_write_reply(buf, sizeof(buf), SOCKS5_REP_REFUSED, &a4),
		      buf, "\x05\x05\x00\x01\x0a\x00\x00\x01\x04\x38", 10);
	check_encoded("ok domain", socks5_write_reply(buf, sizeof(buf), 0, &ad), buf,
		      "\x05\x00\x00\x03\x09h.example\x01\xbb", 16);
	check_encoded("fail null", socks5_write_reply(buf, sizeof(buf), 1, NULL), buf,
		      "\x05\x01\x00\x01\x00\x00\x00\x00\x00\x00", 10);
	/* an address that cannot be encoded */
	ad.len = 0;
	CHECK_EQ_INT(socks5_write_reply(buf, sizeof(buf), 0, &ad), -1);
	CHECK_EQ_INT(socks5_addr_len(&ad), -1);
	none.type = 9;
	CHECK_EQ_INT(socks5_write_reply(buf, sizeof(buf), 0, &none), -1);
}

static void test_client(void)
{
	static const uint8_t v6[16] = { [15] = 1 };
	struct proto_addr a4, a6, ad;
	struct socks5_request rq;
	struct socks5_reply rp;
	uint8_t buf[600], m;
	char user[256], pass[256];

	check_encoded("greeting", socks5_write_greeting(buf, 3, false), buf, "\x05\x01\x00", 3);
	check_encoded("greeting up", socks5_write_greeting(buf, 4, true), buf,
		      "\x05\x02\x00\x02", 4);
	CHECK_EQ_INT(socks5_write_greeting(buf, 2, false), -1);
	CHECK_EQ_INT(socks5_write_greeting(buf, 3, true), -1);

	check_encoded("auth", socks5_write_auth(buf, 11, "bob", 3, "s3cr3", 5), buf,
		      "\x01\x03" "bob" "\x05" "s3cr3", 11);
	CHECK_EQ_INT(socks5_write_auth(buf, 10, "bob", 3, "s3cr3", 5), -1);
	check_encoded("auth nopass", socks5_write_auth(buf, 4, "u", 1, NULL, 0), buf,
		      "\x01\x01u\x00", 4);
	CHECK_EQ_INT(socks5_write_auth(buf, sizeof(buf), "", 0, "p", 1), -1);
	memset(user, 'u', sizeof(user));
	memset(pass, 'p', sizeof(pass));
	CHECK_EQ_INT(socks5_write_auth(buf, sizeof(buf), user, 256, "p", 1), -1);
	CHECK_EQ_INT(socks5_write_auth(buf, sizeof(buf), "u", 1, pass, 256), -1);
	CHECK_EQ_INT(socks5_write_auth(buf, sizeof(buf), user, 255, pass, 255), 513);
	{
		struct socks5_auth a;

		check_valid("auth roundtrip", p_auth, buf, 513, &a, sizeof(a));
		CHECK(a.user_len == 255 && a.pass_len == 255);
	}

	proto_addr_set_ipv4(&a4, U8("\xc0\xa8\x01\x01"), 22);
	proto_addr_set_ipv6(&a6, v6, 8443);
	CHECK_EQ_INT(proto_addr_set_domain(&ad, "example.org", 11, 80), 0);
	check_encoded("req v4", socks5_write_request(buf, sizeof(buf), 1, &a4), buf,
		      "\x05\x01\x00\x01\xc0\xa8\x01\x01\x00\x16", 10);
	check_encoded("req domain", socks5_write_request(buf, sizeof(buf), 1, &ad), buf,
		      "\x05\x01\x00\x03\x0b" "example.org" "\x00\x50", 18);
	check_encoded("req v6", socks5_write_request(buf, sizeof(buf), 1, &a6), buf,
		      "\x05\x01\x00\x04" "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01" "\x20\xfb", 22);
	for (int cap = 0; cap < 22; cap++)
		CHECK_EQ_INT(socks5_write_request(buf, (size_t)cap, 1, &a6), -1);
	check_valid("req v6 roundtrip", p_request, buf, 22, &rq, sizeof(rq));
	CHECK(rq.cmd == 1 && rq.reply == 0 && rq.dst.type == PROTO_ADDR_IPV6 &&
	      rq.dst.port == 8443 && memcmp(rq.dst.bytes, v6, 16) == 0);
	memset(&a4, 0, sizeof(a4));
	CHECK_EQ_INT(socks5_write_request(buf, sizeof(buf), 1, &a4), -1);

	/* method reply */
	check_valid("method 00", p_method, U8("\x05\x00"), 2, &m, sizeof(m));
	CHECK_EQ_INT(m, 0);
	check_valid("method 02", p_method, U8("\x05\x02"), 2, &m, sizeof(m));
	CHECK_EQ_INT(m, 2);
	check_valid("method ff", p_method, U8("\x05\xff"), 2, &m, sizeof(m));
	CHECK_EQ_INT(m, 0xff);
	CHECK_EQ_INT(check_invalid("method ver 4", p_method, U8("\x04\x00"), 2, &m), 1);
	/* auth reply */
	check_valid("auth reply ok", p_auth_reply, U8("\x01\x00"), 2, &m, sizeof(m));
	CHECK_EQ_INT(m, 0);
	check_valid("auth reply fail", p_auth_reply, U8("\x01\x01"), 2, &m, sizeof(m));
	CHECK_EQ_INT(m, 1);
	check_valid("auth reply ver 5", p_auth_reply, U8("\x05\x00"), 2, &m, sizeof(m));
	CHECK_EQ_INT(m, 0);
	CHECK_EQ_INT(check_invalid("auth reply ver 2", p_auth_reply, U8("\x02\x00"), 2, &m), 1);

	/* request replies with every ATYP, success and failure */
	check_valid("reply v4", p_reply, U8("\x05\x00\x00\x01\x7f\x00\x00\x01\xc3\x50"), 10,
		    &rp, sizeof(rp));
	CHECK(rp.rep == 0 && rp.bnd.type == PROTO_ADDR_IPV4 && rp.bnd.port == 50000);
	check_valid("reply domain", p_reply, U8("\x05\x04\x00\x03\x03" "foo" "\x00\x00"), 10,
		    &rp, sizeof(rp));
	CHECK(rp.rep == SOCKS5_REP_HOST_UNREACHABLE && rp.bnd.type == PROTO_ADDR_DOMAIN);
	CHECK_STR((const char *)rp.bnd.bytes, "foo");
	check_valid("reply v6 rsv", p_reply, U8("\x05\x05\x07\x04" "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
						"\x00\x00"), 22, &rp, sizeof(rp));
	CHECK(rp.rep == SOCKS5_REP_REFUSED && rp.bnd.type == PROTO_ADDR_IPV6);
	/* garbage address, but the code is still there for the log */
	memset(&rp, 0, sizeof(rp));
	CHECK_EQ_INT(check_invalid("reply atyp 9", p_reply, U8("\x05\x02\x00\x09\x00"), 5, &rp), 4);
	CHECK_EQ_INT(socks5_parse_reply(U8("\x05\x02\x00\x09"), 4, &rp), PROTO_ERROR);
	CHECK_EQ_INT(rp.rep, SOCKS5_REP_NOT_ALLOWED);
	CHECK_EQ_INT(check_invalid("reply ver 0", p_reply, U8("\x00\x5a\x00\x50\x7f\0\0\x01"), 8,
				   &rp), 1);
	CHECK_EQ_INT(check_invalid("reply empty domain", p_reply, U8("\x05\x00\x00\x03\x00\x00\x00"),
				   7, &rp), 5);
}

static void test_udp(void)
{
	static const struct {
		struct bytes in;
		uint8_t frag, type;
		uint16_t port;
		size_t hdr;
	} valid[] = {
		{ B("v4", "\x00\x00\x00\x01\x08\x08\x08\x08\x00\x35" "DNSQUERY"),
		  0, PROTO_ADDR_IPV4, 53, 10 },
		{ B("v4 empty data", "\x00\x00\x00\x01\x08\x08\x08\x08\x00\x35"),
		  0, PROTO_ADDR_IPV4, 53, 10 },
		{ B("v6 frag", "\x00\x00\x03\x04" "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01" "\x30\x39" "x"),
		  3, PROTO_ADDR_IPV6, 12345, 22 },
		{ B("domain rsv", "\xff\xff\x00\x03\x04" "host" "\x00\x07" "\x00\x01\x02"),
		  0, PROTO_ADDR_DOMAIN, 7, 11 },
	};
	static const struct bytes invalid[] = {
		B("empty", ""),
		B("short", "\x00\x00\x00"),
		B("atyp 2", "\x00\x00\x00\x02\x01\x02\x03\x04\x00\x35" "data"),
		B("empty domain", "\x00\x00\x00\x03\x00\x00\x35" "data"),
		B("atyp 0", "\x00\x00\x00\x00\x01\x02\x03\x04\x00\x35"),
		B("atyp 255", "\x00\x00\x00\xff\x01\x02\x03\x04\x00\x35"),
		B("short v6", "\x00\x00\x00\x04" "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01" "\x30"),
		B("short v4 port", "\x00\x00\x00\x01\x7f\x00\x00\x01\x00"),
		B("domain past end", "\x00\x00\x00\x03\xc8" "abc\x00\x35"),
		B("NUL in domain", "\x00\x00\x00\x03\x03" "a\x00b" "\x00\x35" "data"),
	};
	struct socks5_udp u;
	struct proto_addr a;
	uint8_t buf[SOCKS5_UDP_HEADER_MAX + 8];

	for (size_t i = 0; i < ARRAY_SIZE(valid); i++) {
		const uint8_t *in = U8(valid[i].in.b);

		/* whole datagrams only: a cut header is an error, never partial */
		for (size_t k = 0; k < valid[i].hdr; k++)
			CHECK_EQ_INT(parse_exact(p_udp, in, k, &u),
				     PROTO_ERROR);
		CHECK_EQ_INT(parse_exact(p_udp, in, valid[i].in.n, &u),
			     (int)valid[i].hdr);
		CHECK_EQ_INT(u.data_off, valid[i].hdr);
		CHECK_EQ_INT(u.frag, valid[i].frag);
		CHECK_EQ_INT(u.addr.type, valid[i].type);
		CHECK_EQ_INT(u.addr.port, valid[i].port);
	}
	for (size_t i = 0; i < ARRAY_SIZE(invalid); i++)
		CHECK_EQ_INT(parse_exact(p_udp, U8(invalid[i].b),
					 invalid[i].n, &u), PROTO_ERROR);

	proto_addr_set_ipv4(&a, U8("\x01\x01\x01\x01"), 53);
	check_encoded("udp v4", socks5_write_udp_header(buf, 10, &a), buf,
		      "\x00\x00\x00\x01\x01\x01\x01\x01\x00\x35", 10);
	CHECK_EQ_INT(socks5_write_udp_header(buf, 9, &a), -1);
	memset(buf, 'x', sizeof(buf));
	CHECK_EQ_INT(proto_addr_set_domain(&a, buf, 255, 9), 0);
	CHECK_EQ_INT(socks5_write_udp_header(buf, sizeof(buf), &a), SOCKS5_UDP_HEADER_MAX);
	CHECK_EQ_INT(socks5_parse_udp(buf, SOCKS5_UDP_HEADER_MAX, &u), SOCKS5_UDP_HEADER_MAX);
	CHECK(u.addr.type == PROTO_ADDR_DOMAIN && u.addr.len == 255 && u.addr.port == 9);
	CHECK_EQ_INT(socks5_write_udp_header(buf, SOCKS5_UDP_HEADER_MAX - 1, &a), -1);

	/* A reply header for an IPv6 source written in front of the payload parses back. */
	{
		uint8_t dg[22 + 5];
		int n;

		proto_addr_set_ipv6(&a, U8("\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x02"), 51820);
		memcpy(dg + 22, "hello", 5);
		n = socks5_write_udp_header(dg, 22, &a);
		CHECK_EQ_INT(n, 22);
		CHECK_EQ_INT(socks5_parse_udp(dg, sizeof(dg), &u), 22);
		CHECK(u.frag == 0 && u.addr.type == PROTO_ADDR_IPV6 && u.addr.port == 51820 &&
		      memcmp(u.addr.bytes, a.bytes, 16) == 0 && memcmp(dg + u.data_off, "hello", 5) == 0);
		/* unencodable address: nothing written */
		a.type = PROTO_ADDR_NONE;
		CHECK_EQ_INT(socks5_write_udp_header(dg, sizeof(dg), &a), -1);
	}
}

static void test_addr_helpers(void)
{
	struct proto_addr a;
	char name[300];

	memset(name, 'n', sizeof(name));
	CHECK_EQ_INT(proto_addr_set_domain(&a, name, 0, 1), -1);
	CHECK_EQ_INT(proto_addr_set_domain(&a, name, 256, 1), -1);
	CHECK_EQ_INT(proto_addr_set_domain(&a, "a\0b", 3, 1), -1);
	CHECK_EQ_INT(proto_addr_set_domain(&a, name, 255, 1), 0);
	CHECK_EQ_INT(socks5_addr_len(&a), 259);
	proto_addr_set_ipv4(&a, U8("\0\0\0\0"), 0);
	CHECK_EQ_INT(socks5_addr_len(&a), 7);
	proto_addr_set_ipv6(&a, U8("\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"), 0);
	CHECK_EQ_INT(socks5_addr_len(&a), 19);
}

int main(void)
{
	RUN(test_rep_str);
	RUN(test_greeting);
	RUN(test_auth);
	RUN(test_request);
	RUN(test_server_encoders);
	RUN(test_client);
	RUN(test_udp);
	RUN(test_addr_helpers);
	return unit_done();
}
