/*
 * SOCKS4/4a codec: tables of messages, each fed whole, cut at every offset
 * (each prefix in its own exact-size allocation, so ASan sees any read past
 * the end) and followed by pipelined bytes.
 */
#include <stdlib.h>

#include "core/util.h"
#include "proto/socks4.h"
#include "unit.h"
#include "proto_check.h"

static int p_request(const uint8_t *b, size_t l, void *o) { return socks4_parse_request(b, l, o); }
static int p_reply(const uint8_t *b, size_t l, void *o) { return socks4_parse_reply(b, l, o); }

struct bytes {
	const char *name;
	const char *b;	/* string literal with \x escapes */
	size_t n;
};
#define B(name, lit)	{ name, lit, sizeof(lit) - 1 }
#define U8(s)		((const uint8_t *)(s))

static void test_request(void)
{
	static const struct {
		struct bytes in;
		uint8_t cmd;
		bool is_4a;
		const char *userid;
		uint8_t type;
		const char *addr;
		uint16_t port;
	} valid[] = {
		{ B("connect", "\x04\x01\x00\x50\x0a\x00\x00\x01" "\0"),
		  1, false, "", PROTO_ADDR_IPV4, "\x0a\x00\x00\x01", 80 },
		{ B("connect userid", "\x04\x01\x01\xbb\x7f\x00\x00\x01" "alice\0"),
		  1, false, "alice", PROTO_ADDR_IPV4, "\x7f\x00\x00\x01", 443 },
		{ B("bind", "\x04\x02\x00\x00\x00\x00\x00\x00" "\0"),
		  2, false, "", PROTO_ADDR_IPV4, "\0\0\0\0", 0 },
		{ B("unknown cmd", "\x04\x09\x00\x50\x01\x01\x01\x01" "u\0"),
		  9, false, "u", PROTO_ADDR_IPV4, "\x01\x01\x01\x01", 80 },
		{ B("4a", "\x04\x01\x00\x50\x00\x00\x00\x01" "\0" "example.com\0"),
		  1, true, "", PROTO_ADDR_DOMAIN, "example.com", 80 },
		{ B("4a userid x=ff", "\x04\x01\x1f\x90\x00\x00\x00\xff" "bob\0" "h\0"),
		  1, true, "bob", PROTO_ADDR_DOMAIN, "h", 8080 },
		{ B("0.0.0.0 is not 4a", "\x04\x01\x00\x50\x00\x00\x00\x00" "\0"),
		  1, false, "", PROTO_ADDR_IPV4, "\0\0\0\0", 80 },
		{ B("0.0.1.1 is not 4a", "\x04\x01\x00\x50\x00\x00\x01\x01" "\0"),
		  1, false, "", PROTO_ADDR_IPV4, "\0\0\x01\x01", 80 },
	};
	static const struct {
		struct bytes in;
		size_t first;
	} invalid[] = {
		{ B("socks5", "\x05\x01\x00"), 1 },
		{ B("http", "CONNECT x:1 HTTP/1.1\r\n\r\n"), 1 },
		{ B("4a empty domain", "\x04\x01\x00\x50\x00\x00\x00\x01" "u\0" "\0"), 11 },
	};
	struct socks4_request r;
	uint8_t big[SOCKS4_REQUEST_MAX + 2];

	for (size_t i = 0; i < ARRAY_SIZE(valid); i++) {
		check_valid(valid[i].in.name, p_request, U8(valid[i].in.b), valid[i].in.n,
			    &r, sizeof(r));
		CHECK_EQ_INT(r.cmd, valid[i].cmd);
		CHECK(r.is_4a == valid[i].is_4a);
		CHECK_EQ_INT(r.userid_len, strlen(valid[i].userid));
		CHECK_STR(r.userid, valid[i].userid);
		CHECK_EQ_INT(r.dst.type, valid[i].type);
		CHECK_EQ_INT(r.dst.port, valid[i].port);
		if (r.dst.type == PROTO_ADDR_DOMAIN) {
			CHECK_STR((const char *)r.dst.bytes, valid[i].addr);
			CHECK_EQ_INT(r.dst.len, strlen(valid[i].addr));
		} else {
			CHECK(memcmp(r.dst.bytes, valid[i].addr, 4) == 0);
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(invalid); i++)
		CHECK_EQ_INT(check_invalid(invalid[i].in.name, p_request, U8(invalid[i].in.b),
					   invalid[i].in.n, &r), invalid[i].first);

	/* the longest user id and domain */
	memcpy(big, "\x04\x01\x00\x50\x00\x00\x00\x07", 8);
	memset(big + 8, 'u', 255);
	big[263] = 0;
	memset(big + 264, 'd', 255);
	big[519] = 0;
	check_valid("limits", p_request, big, SOCKS4_REQUEST_MAX, &r, sizeof(r));
	CHECK(r.is_4a && r.userid_len == 255 && r.dst.len == 255);
	CHECK_EQ_INT(strlen((const char *)r.dst.bytes), 255);

	/* one byte more of user id: an error as soon as the 256th byte is not a NUL */
	big[263] = 'u';
	CHECK_EQ_INT(check_invalid("userid 256", p_request, big, 264, &r), 264);
	CHECK_EQ_INT(socks4_parse_request(big, SOCKS4_REQUEST_MAX, &r), PROTO_ERROR);
	/* same for the domain */
	big[263] = 0;
	big[519] = 'd';
	big[520] = 0;
	CHECK_EQ_INT(check_invalid("domain 256", p_request, big, 521, &r), 520);
	/* not 4a: the bytes after USERID NUL are pipelined data, not a domain */
	big[7] = 0;
	CHECK_EQ_INT(socks4_parse_request(big, 521, &r), 264);
	CHECK(!r.is_4a);
}

static void check_encoded(const char *name, int rc, const uint8_t *buf, const char *expect,
			  size_t n)
{
	unsigned int before = unit_fail;

	CHECK_EQ_INT(rc, (int)n);
	CHECK(rc == (int)n && memcmp(buf, expect, n) == 0);
	if (unit_fail != before)
		fprintf(stderr, "  ^ in case '%s'\n", name);
}

static void test_reply(void)
{
	struct proto_addr a4, a6, ad;
	struct socks4_reply rp;
	uint8_t buf[16];

	proto_addr_set_ipv4(&a4, U8("\xc0\x00\x02\x01"), 4321);
	proto_addr_set_ipv6(&a6, U8("\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01"), 1);
	CHECK_EQ_INT(proto_addr_set_domain(&ad, "x", 1, 1), 0);

	check_encoded("granted", socks4_write_reply(buf, 8, SOCKS4_REP_GRANTED, &a4), buf,
		      "\x00\x5a\x10\xe1\xc0\x00\x02\x01", 8);
	check_encoded("rejected", socks4_write_reply(buf, 8, SOCKS4_REP_REJECTED, NULL), buf,
		      "\x00\x5b\0\0\0\0\0\0", 8);
	check_encoded("granted v6 bnd", socks4_write_reply(buf, 16, SOCKS4_REP_GRANTED, &a6), buf,
		      "\x00\x5a\0\0\0\0\0\0", 8);
	check_encoded("granted domain", socks4_write_reply(buf, 8, SOCKS4_REP_GRANTED, &ad), buf,
		      "\x00\x5a\0\0\0\0\0\0", 8);
	for (size_t cap = 0; cap < 8; cap++)
		CHECK_EQ_INT(socks4_write_reply(buf, cap, SOCKS4_REP_GRANTED, &a4), -1);

	check_valid("reply granted", p_reply, U8("\x00\x5a\x10\xe1\xc0\x00\x02\x01"), 8, &rp,
		    sizeof(rp));
	CHECK(rp.cd == SOCKS4_REP_GRANTED && rp.bnd.type == PROTO_ADDR_IPV4 &&
	      rp.bnd.port == 4321 && memcmp(rp.bnd.bytes, "\xc0\x00\x02\x01", 4) == 0);
	check_valid("reply vn 4", p_reply, U8("\x04\x5b\0\0\0\0\0\0"), 8, &rp, sizeof(rp));
	CHECK_EQ_INT(rp.cd, SOCKS4_REP_REJECTED);
	check_valid("reply 5c", p_reply, U8("\x00\x5c\0\0\0\0\0\0"), 8, &rp, sizeof(rp));
	CHECK_EQ_INT(rp.cd, SOCKS4_REP_NO_IDENTD);
	check_valid("reply 5d", p_reply, U8("\x00\x5d\0\0\0\0\0\0"), 8, &rp, sizeof(rp));
	CHECK_EQ_INT(rp.cd, SOCKS4_REP_IDENTD_MISMATCH);
	CHECK_EQ_INT(check_invalid("reply vn 5", p_reply, U8("\x05\x00\0\0\0\0\0\0"), 8, &rp), 1);
	CHECK_EQ_INT(check_invalid("reply http", p_reply, U8("HTTP/1.0"), 8, &rp), 1);
}

static void test_client_request(void)
{
	struct proto_addr a4, a6, ad;
	struct socks4_request r;
	uint8_t buf[SOCKS4_REQUEST_MAX + 8];
	char id[300];

	proto_addr_set_ipv4(&a4, U8("\x0a\x01\x02\x03"), 22);
	proto_addr_set_ipv6(&a6, U8("\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01"), 1);
	CHECK_EQ_INT(proto_addr_set_domain(&ad, "example.net", 11, 443), 0);

	check_encoded("v4", socks4_write_request(buf, sizeof(buf), 1, &a4, NULL, 0), buf,
		      "\x04\x01\x00\x16\x0a\x01\x02\x03\0", 9);
	check_encoded("v4 id", socks4_write_request(buf, sizeof(buf), 1, &a4, "me", 2), buf,
		      "\x04\x01\x00\x16\x0a\x01\x02\x03me\0", 11);
	check_encoded("4a", socks4_write_request(buf, sizeof(buf), 1, &ad, "me", 2), buf,
		      "\x04\x01\x01\xbb\x00\x00\x00\x01me\0example.net\0", 23);
	for (size_t cap = 0; cap < 23; cap++)
		CHECK_EQ_INT(socks4_write_request(buf, cap, 1, &ad, "me", 2), -1);
	CHECK_EQ_INT(socks4_write_request(buf, 23, 1, &ad, "me", 2), 23);
	check_valid("4a roundtrip", p_request, buf, 23, &r, sizeof(r));
	CHECK(r.is_4a && r.dst.port == 443 && r.userid_len == 2);
	CHECK_STR((const char *)r.dst.bytes, "example.net");

	CHECK_EQ_INT(socks4_write_request(buf, sizeof(buf), 1, &a6, NULL, 0), -1);
	CHECK_EQ_INT(socks4_write_request(buf, sizeof(buf), 1, &a4, "a\0b", 3), -1);
	memset(id, 'i', sizeof(id));
	CHECK_EQ_INT(socks4_write_request(buf, sizeof(buf), 1, &a4, id, 256), -1);
	CHECK_EQ_INT(socks4_write_request(buf, sizeof(buf), 1, &a4, id, 255), 264);
	ad.len = 0;
	CHECK_EQ_INT(socks4_write_request(buf, sizeof(buf), 1, &ad, NULL, 0), -1);
	memcpy(ad.bytes, "a\0b", 3);
	ad.len = 3;
	CHECK_EQ_INT(socks4_write_request(buf, sizeof(buf), 1, &ad, NULL, 0), -1);
}

int main(void)
{
	RUN(test_request);
	RUN(test_reply);
	RUN(test_client_request);
	return unit_done();
}
