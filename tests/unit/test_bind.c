/*
 * SOCKS BIND: the codecs' BIND requests and both replies (whole, split at
 * every offset, back to back), the SOCKS5/SOCKS4 ingress state machines
 * through a BIND (event, first reply, second reply, failure codes), and
 * the peer check of egress/bind.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>

#include "core/util.h"
#include "egress/bind.h"
#include "ingress/ingress.h"
#include "proto/socks4.h"
#include "proto/socks5.h"
#include "unit.h"

#define U8(s)	((const uint8_t *)(s))

typedef int (*parse_fn)(const uint8_t *buf, size_t len, void *out);

static int parse_exact(parse_fn fn, const uint8_t *msg, size_t len, void *out)
{
	uint8_t *p = malloc(len ? len : 1);
	int rc;

	memcpy(p, msg, len);
	rc = fn(p, len, out);
	free(p);
	return rc;
}

/* Every prefix PARTIAL, the whole n, and n again with bytes after it. */
static void check_split(const char *name, parse_fn fn, const uint8_t *msg, size_t n, void *out,
			size_t out_size)
{
	uint8_t big[1024];
	unsigned int before = unit_fail;

	for (size_t k = 0; k < n; k++) {
		memset(out, 0, out_size);
		CHECK_EQ_INT(parse_exact(fn, msg, k, out), PROTO_PARTIAL);
	}
	memcpy(big, msg, n);
	memset(big + n, 0x5a, 32);
	memset(out, 0, out_size);
	CHECK_EQ_INT(fn(big, n + 32, out), (int)n);
	memset(out, 0, out_size);
	CHECK_EQ_INT(parse_exact(fn, msg, n, out), (int)n);
	if (unit_fail != before)
		fprintf(stderr, "  ^ in case '%s'\n", name);
}

static int p5_request(const uint8_t *b, size_t l, void *o) { return socks5_parse_request(b, l, o); }
static int p5_reply(const uint8_t *b, size_t l, void *o) { return socks5_parse_reply(b, l, o); }
static int p4_request(const uint8_t *b, size_t l, void *o) { return socks4_parse_request(b, l, o); }
static int p4_reply(const uint8_t *b, size_t l, void *o) { return socks4_parse_reply(b, l, o); }

static void test_socks5_codec(void)
{
	static const struct {
		const char *name, *in;
		size_t n;
		uint8_t type, alen;
		uint16_t port;
	} req[] = {
		{ "bind v4 port", "\x05\x02\x00\x01\xc0\x00\x02\x07\x00\x15", 10,
		  PROTO_ADDR_IPV4, 4, 21 },
		{ "bind v4 any", "\x05\x02\x00\x01\0\0\0\0\0\0", 10, PROTO_ADDR_IPV4, 4, 0 },
		{ "bind v6 any", "\x05\x02\x00\x04\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 22,
		  PROTO_ADDR_IPV6, 16, 0 },
		{ "bind domain", "\x05\x02\x00\x03\x08" "ftp.test" "\x00\x14", 15,
		  PROTO_ADDR_DOMAIN, 8, 20 },
	};
	struct socks5_request r;
	struct socks5_reply rp;
	struct proto_addr l4, p6;
	uint8_t two[64];
	int n1, n2;

	for (size_t i = 0; i < ARRAY_SIZE(req); i++) {
		check_split(req[i].name, p5_request, U8(req[i].in), req[i].n, &r, sizeof(r));
		CHECK_EQ_INT(r.cmd, SOCKS5_CMD_BIND);
		CHECK_EQ_INT(r.reply, SOCKS5_REP_SUCCEEDED);
		CHECK_EQ_INT(r.dst.type, req[i].type);
		CHECK_EQ_INT(r.dst.len, req[i].alen);
		CHECK_EQ_INT(r.dst.port, req[i].port);
	}

	/* first reply (listening v4 address), second (an IPv6 peer), back to back */
	proto_addr_set_ipv4(&l4, U8("\x7f\x00\x00\x01"), 40000);
	proto_addr_set_ipv6(&p6, U8("\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x09"), 20);
	n1 = socks5_write_reply(two, sizeof(two), SOCKS5_REP_SUCCEEDED, &l4);
	CHECK_EQ_INT(n1, 10);
	CHECK(memcmp(two, "\x05\x00\x00\x01\x7f\x00\x00\x01\x9c\x40", 10) == 0);
	n2 = socks5_write_reply(two + n1, sizeof(two) - (size_t)n1, SOCKS5_REP_SUCCEEDED, &p6);
	CHECK_EQ_INT(n2, 22);
	check_split("first reply", p5_reply, two, (size_t)n1, &rp, sizeof(rp));
	CHECK(rp.rep == 0 && rp.bnd.type == PROTO_ADDR_IPV4 && rp.bnd.port == 40000);
	check_split("second reply", p5_reply, two + n1, (size_t)n2, &rp, sizeof(rp));
	CHECK(rp.rep == 0 && rp.bnd.type == PROTO_ADDR_IPV6 && rp.bnd.port == 20 &&
	      rp.bnd.bytes[15] == 9);
	/* both in one read: the first parses to its own length only */
	CHECK_EQ_INT(socks5_parse_reply(two, (size_t)(n1 + n2), &rp), n1);
	CHECK_EQ_INT(socks5_parse_reply(two + n1, (size_t)n2, &rp), n2);
	/* a failed second reply: TTL expired, 0.0.0.0:0 */
	n2 = socks5_write_reply(two, sizeof(two), SOCKS5_REP_TTL_EXPIRED, NULL);
	CHECK_EQ_INT(n2, 10);
	check_split("second reply ttl expired", p5_reply, two, 10, &rp, sizeof(rp));
	CHECK(rp.rep == SOCKS5_REP_TTL_EXPIRED && rp.bnd.type == PROTO_ADDR_IPV4 &&
	      rp.bnd.port == 0);
}

static void test_socks4_codec(void)
{
	struct socks4_request r;
	struct socks4_reply rp;
	struct proto_addr l4, p4;
	uint8_t two[16];

	check_split("s4 bind", p4_request, U8("\x04\x02\x00\x15\xc0\x00\x02\x07" "me\0"), 11, &r,
		    sizeof(r));
	CHECK(r.cmd == SOCKS4_CMD_BIND && !r.is_4a && r.dst.type == PROTO_ADDR_IPV4 &&
	      r.dst.port == 21);
	check_split("s4a bind", p4_request, U8("\x04\x02\x00\x15\0\0\0\x01" "\0" "ftp.test\0"), 18,
		    &r, sizeof(r));
	CHECK(r.cmd == SOCKS4_CMD_BIND && r.is_4a && r.dst.type == PROTO_ADDR_DOMAIN &&
	      r.dst.len == 8);

	proto_addr_set_ipv4(&l4, U8("\x7f\x00\x00\x01"), 40000);
	proto_addr_set_ipv4(&p4, U8("\x7f\x00\x00\x02"), 33000);
	CHECK_EQ_INT(socks4_write_reply(two, 8, SOCKS4_REP_GRANTED, &l4), 8);
	CHECK_EQ_INT(socks4_write_reply(two + 8, 8, SOCKS4_REP_GRANTED, &p4), 8);
	CHECK(memcmp(two, "\x00\x5a\x9c\x40\x7f\x00\x00\x01" "\x00\x5a\x80\xe8\x7f\x00\x00\x02",
		     16) == 0);
	check_split("s4 first reply", p4_reply, two, 8, &rp, sizeof(rp));
	CHECK(rp.cd == SOCKS4_REP_GRANTED && rp.bnd.port == 40000);
	check_split("s4 second reply", p4_reply, two + 8, 8, &rp, sizeof(rp));
	CHECK(rp.cd == SOCKS4_REP_GRANTED && rp.bnd.port == 33000 && rp.bnd.bytes[3] == 2);
	CHECK_EQ_INT(socks4_parse_reply(two, 16, &rp), 8);
}

static void sa4(union sockaddr_any *a, const char *ip, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	a->sin.sin_family = AF_INET;
	inet_pton(AF_INET, ip, &a->sin.sin_addr);
	a->sin.sin_port = htons(port);
}

static void sa6(union sockaddr_any *a, const char *ip, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	a->sin6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, ip, &a->sin6.sin6_addr);
	a->sin6.sin6_port = htons(port);
}

/* Feed the whole input, or byte by byte; returns the total consumed. */
static size_t feed(struct ingress_ctx *ctx, const uint8_t *in, size_t n, bool bytewise)
{
	size_t off = 0, have = bytewise ? 1 : n;

	while (off < n && ctx->event == INGRESS_NONE) {
		int k = ctx->ops->input(ctx, in + off, have - off);

		CHECK(k >= 0);
		if (k < 0)
			break;
		if (k == 0) {
			if (have == n)
				break;
			have++;
			continue;
		}
		off += (size_t)k;
		if (have < off)
			have = off;
	}
	return off;
}

static void ctx_init(struct ingress_ctx *ctx, const struct ingress_ops *ops)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->ops = ops;
	ops->start(ctx);
}

static void test_socks5_ingress(void)
{
	static const uint8_t in[] = "\x05\x01\x00" "\x05\x02\x00\x01\x7f\x00\x00\x02\x00\x15";
	static const struct {
		int err;
		uint8_t rep;
	} fails[] = {
		{ -ETIMEDOUT, SOCKS5_REP_TTL_EXPIRED },
		{ -EPERM, SOCKS5_REP_NOT_ALLOWED },
		{ -EACCES, SOCKS5_REP_NOT_ALLOWED },
		{ -ENETUNREACH, SOCKS5_REP_NET_UNREACHABLE },
		{ -EMFILE, SOCKS5_REP_GENERAL_FAILURE },
	};
	struct ingress_ctx ctx;
	union sockaddr_any la, pa;

	for (int bytewise = 0; bytewise < 2; bytewise++) {
		ctx_init(&ctx, &ingress_socks5);
		CHECK_EQ_INT(feed(&ctx, in, sizeof(in) - 1, bytewise), sizeof(in) - 1);
		CHECK_EQ_INT(ctx.event, INGRESS_BIND);
		CHECK(ctx.target.host == NULL && ctx.target.port == 21 &&
		      ctx.target.addr.sin.sin_family == AF_INET &&
		      ctx.target.addr.sin.sin_addr.s_addr == htonl(0x7f000002));
		CHECK(ctx.out_len == 2 && memcmp(ctx.out, "\x05\x00", 2) == 0);
		ctx.out_len = 0;
		ctx.event = INGRESS_NONE;
		/* the session opened the listener */
		sa4(&la, "127.0.0.1", 40000);
		CHECK(ctx.ops->bound != NULL);
		ctx.ops->bound(&ctx, &la);
		CHECK_EQ_INT(ctx.event, INGRESS_NONE);
		CHECK(ctx.out_len == 10 &&
		      memcmp(ctx.out, "\x05\x00\x00\x01\x7f\x00\x00\x01\x9c\x40", 10) == 0);
		ctx.out_len = 0;
		/* bytes while waiting stay for the relay */
		CHECK_EQ_INT(ctx.ops->input(&ctx, U8("xyz"), 3), 0);
		/* the peer: an IPv4-mapped address is shown as IPv4 */
		sa6(&pa, "::ffff:127.0.0.2", 20);
		ctx.ops->connected(&ctx, 0, &pa);
		CHECK_EQ_INT(ctx.event, INGRESS_RELAY);
		CHECK(ctx.out_len == 10 &&
		      memcmp(ctx.out, "\x05\x00\x00\x01\x7f\x00\x00\x02\x00\x14", 10) == 0);
	}
	for (size_t i = 0; i < ARRAY_SIZE(fails); i++) {
		ctx_init(&ctx, &ingress_socks5);
		feed(&ctx, in, sizeof(in) - 1, false);
		ctx.out_len = 0;
		ctx.event = INGRESS_NONE;
		ctx.ops->connected(&ctx, fails[i].err, NULL);
		CHECK_EQ_INT(ctx.event, INGRESS_CLOSE);
		CHECK(ctx.out_len == 10 && ctx.out[0] == 5);
		CHECK_EQ_INT(ctx.out[1], fails[i].rep);
	}
	/* proxy:// detection hands over to the same BIND path */
	ctx_init(&ctx, &ingress_detect);
	CHECK_EQ_INT(feed(&ctx, in, sizeof(in) - 1, true), sizeof(in) - 1);
	CHECK_EQ_INT(ctx.event, INGRESS_BIND);
	CHECK(ctx.ops == &ingress_socks5);
}

static void test_socks4_ingress(void)
{
	static const uint8_t in[] = "\x04\x02\x00\x15\x7f\x00\x00\x02" "me\0" "early";
	struct ingress_ctx ctx;
	union sockaddr_any la, pa;

	for (int bytewise = 0; bytewise < 2; bytewise++) {
		ctx_init(&ctx, &ingress_socks4);
		CHECK_EQ_INT(feed(&ctx, in, sizeof(in) - 1, bytewise), 11);
		CHECK_EQ_INT(ctx.event, INGRESS_BIND);
		/* SOCKS4 checks the peer's IP only */
		CHECK(ctx.target.port == 0 && addr_port(&ctx.target.addr) == 0 &&
		      ctx.target.addr.sin.sin_addr.s_addr == htonl(0x7f000002));
		CHECK_EQ_INT(ctx.out_len, 0);
		ctx.event = INGRESS_NONE;
		sa4(&la, "127.0.0.1", 40000);
		ctx.ops->bound(&ctx, &la);
		CHECK(ctx.out_len == 8 && memcmp(ctx.out, "\x00\x5a\x9c\x40\x7f\x00\x00\x01", 8) == 0);
		ctx.out_len = 0;
		sa4(&pa, "127.0.0.2", 33000);
		ctx.ops->connected(&ctx, 0, &pa);
		CHECK_EQ_INT(ctx.event, INGRESS_RELAY);
		CHECK(ctx.out_len == 8 && memcmp(ctx.out, "\x00\x5a\x80\xe8\x7f\x00\x00\x02", 8) == 0);
	}
	ctx_init(&ctx, &ingress_socks4);
	feed(&ctx, in, 11, false);
	ctx.event = INGRESS_NONE;
	ctx.ops->connected(&ctx, -ETIMEDOUT, NULL);
	CHECK_EQ_INT(ctx.event, INGRESS_CLOSE);
	CHECK(ctx.out_len == 8 && ctx.out[1] == SOCKS4_REP_REJECTED);
	/* a listener that needs passwords refuses SOCKS4 BIND like CONNECT */
	ctx_init(&ctx, &ingress_socks4);
	ctx.need_auth = true;
	feed(&ctx, in, 11, false);
	CHECK_EQ_INT(ctx.event, INGRESS_CLOSE);
	CHECK(ctx.out_len == 8 && ctx.out[1] == SOCKS4_REP_REJECTED);
}

static void test_peer_matches(void)
{
	union sockaddr_any want[2], p;

	sa4(&want[0], "192.0.2.7", 21);
	sa6(&want[1], "2001:db8::9", 21);

	sa4(&p, "192.0.2.7", 20);
	CHECK(bind_peer_matches(&p, want, 2, 0, false));
	CHECK(bind_peer_matches(&p, want, 2, 20, true));
	CHECK(!bind_peer_matches(&p, want, 2, 21, false));	/* port given: must match */
	sa6(&p, "::ffff:192.0.2.7", 20);			/* mapped is the same IP */
	CHECK(bind_peer_matches(&p, want, 2, 0, false));
	sa6(&p, "2001:db8::9", 5000);
	CHECK(bind_peer_matches(&p, want, 2, 0, false));
	sa4(&p, "192.0.2.8", 20);
	CHECK(!bind_peer_matches(&p, want, 2, 0, false));
	sa6(&p, "2001:db8::8", 20);
	CHECK(!bind_peer_matches(&p, want, 2, 0, false));
	sa4(&p, "9.9.9.9", 20);
	CHECK(!bind_peer_matches(&p, want, 1, 0, false));
	/* unspecified DST: anyone, except private peers under the policy */
	CHECK(bind_peer_matches(&p, want, 0, 0, false));
	CHECK(bind_peer_matches(&p, want, 0, 0, true));
	sa4(&p, "127.0.0.1", 20);
	CHECK(bind_peer_matches(&p, want, 0, 0, false));
	CHECK(!bind_peer_matches(&p, want, 0, 0, true));
	CHECK(!bind_peer_matches(&p, want, 0, 21, false));
	sa6(&p, "::ffff:10.1.2.3", 20);
	CHECK(!bind_peer_matches(&p, want, 0, 0, true));
}

int main(void)
{
	RUN(test_socks5_codec);
	RUN(test_socks4_codec);
	RUN(test_socks5_ingress);
	RUN(test_socks4_ingress);
	RUN(test_peer_matches);
	return unit_done();
}
