/*
 * SOCKS4 and 4a: one request, one 8-byte reply. SOCKS4 carries no
 * password, so a listener that requires authentication refuses it.
 * CONNECT and BIND are served. BIND checks only the peer's IP against
 * DSTIP, as the SOCKS4 protocol text says (DSTPORT is the application
 * server's, not the port it connects from).
 */
#include <errno.h>

#include "ingress/ingress.h"
#include "ingress/target.h"
#include "proto/socks4.h"

static void reply(struct ingress_ctx *ctx, uint8_t cd, const struct proto_addr *bnd)
{
	uint8_t buf[SOCKS4_REPLY_LEN];

	if (socks4_write_reply(buf, sizeof(buf), cd, bnd) > 0)
		ingress_out(ctx, buf, sizeof(buf));
}

static void s4_start(struct ingress_ctx *ctx)
{
	ctx->state[0] = 0;	/* 0: waiting for the request, 1: dialing */
}

static int s4_input(struct ingress_ctx *ctx, const uint8_t *in, size_t len)
{
	struct socks4_request r;
	int n;

	if (ctx->state[0])
		return 0;	/* bytes after the request wait for the relay */
	n = socks4_parse_request(in, len, &r);
	if (n == PROTO_PARTIAL)
		return 0;
	if (n < 0) {
		reply(ctx, SOCKS4_REP_REJECTED, NULL);
		ctx->why = "bad SOCKS4 request";
		return -1;
	}
	if (ctx->need_auth) {
		reply(ctx, SOCKS4_REP_REJECTED, NULL);
		ctx->why = "SOCKS4 has no password: authentication required";
		ctx->event = INGRESS_CLOSE;
		return n;
	}
	if ((r.cmd != SOCKS4_CMD_CONNECT && r.cmd != SOCKS4_CMD_BIND) ||
	    ingress_target_from_proto(ctx, &r.dst) < 0) {
		reply(ctx, SOCKS4_REP_REJECTED, NULL);
		ctx->why = "command not supported";
		ctx->event = INGRESS_CLOSE;
		return n;
	}
	ctx->state[0] = 1;
	ctx->event = INGRESS_REQUEST;
	if (r.cmd == SOCKS4_CMD_BIND) {
		ctx->target.port = 0;	/* any source port */
		addr_set_port(&ctx->target.addr, 0);
		ctx->event = INGRESS_BIND;
	}
	return n;
}

static void s4_connected(struct ingress_ctx *ctx, int err, const union sockaddr_any *bound)
{
	struct proto_addr bnd;

	if (err) {
		reply(ctx, SOCKS4_REP_REJECTED, NULL);
		ctx->event = INGRESS_CLOSE;
		return;
	}
	ingress_proto_from_sockaddr(bound, &bnd);
	reply(ctx, SOCKS4_REP_GRANTED, &bnd);
	ctx->event = INGRESS_RELAY;
}

/* BIND's first reply: where the peer is to connect. */
static void s4_bound(struct ingress_ctx *ctx, const union sockaddr_any *addr)
{
	struct proto_addr bnd;

	ingress_proto_from_sockaddr(addr, &bnd);
	reply(ctx, SOCKS4_REP_GRANTED, &bnd);
}

const struct ingress_ops ingress_socks4 = {
	.name = "socks4",
	.wants_bound = true,
	.start = s4_start,
	.input = s4_input,
	.connected = s4_connected,
	.bound = s4_bound,
};
