/*
 * SOCKS5 (RFC 1928) with username/password (RFC 1929): greeting, optional
 * auth, request, then the reply once the egress has answered. CONNECT and
 * BIND are served (BIND: two replies, the listening address, then the
 * peer's), and UDP ASSOCIATE (the session opens the UDP relay, see
 * src/app/udp_assoc.c).
 */
#include <errno.h>
#include <string.h>

#include "ingress/ingress.h"
#include "ingress/target.h"
#include "proto/socks5.h"

enum s5_phase {
	S5_GREETING = 0,
	S5_AUTH,		/* waiting for the RFC 1929 request */
	S5_AUTH_WAIT,		/* the session checks the credentials */
	S5_REQUEST,
	S5_DIALING,
	S5_UDP,			/* the session opens a UDP relay */
	S5_DONE,
};

struct s5_state {
	uint8_t phase;
};

static struct s5_state *st(struct ingress_ctx *ctx)
{
	return (struct s5_state *)ctx->state;
}

/* One place maps egress failures to SOCKS5 reply codes. */
uint8_t socks5_rep_for_error(int err)
{
	switch (err) {
	case 0:
		return SOCKS5_REP_SUCCEEDED;
	case -ECONNREFUSED:
		return SOCKS5_REP_REFUSED;
	case -ENETUNREACH:
		return SOCKS5_REP_NET_UNREACHABLE;
	case -EHOSTUNREACH:
	case -ENOENT:		/* no such name */
	case -EAGAIN:		/* DNS server failure */
		return SOCKS5_REP_HOST_UNREACHABLE;
	case -ETIMEDOUT:
		return SOCKS5_REP_TTL_EXPIRED;
	case -EACCES:
	case -EPERM:		/* refused by policy */
		return SOCKS5_REP_NOT_ALLOWED;
	case -EOPNOTSUPP:	/* UDP ASSOCIATE with -F */
		return SOCKS5_REP_CMD_NOT_SUPPORTED;
	default:
		return SOCKS5_REP_GENERAL_FAILURE;
	}
}

static void reply(struct ingress_ctx *ctx, uint8_t rep, const struct proto_addr *bnd)
{
	uint8_t buf[SOCKS5_REQUEST_MAX];
	int n = socks5_write_reply(buf, sizeof(buf), rep, bnd);

	if (n > 0)
		ingress_out(ctx, buf, (size_t)n);
}

static void s5_start(struct ingress_ctx *ctx)
{
	st(ctx)->phase = S5_GREETING;
}

static int on_greeting(struct ingress_ctx *ctx, const uint8_t *in, size_t len)
{
	struct socks5_greeting g;
	uint8_t out[2], method;
	int n = socks5_parse_greeting(in, len, &g);

	if (n == PROTO_PARTIAL)
		return 0;
	if (n < 0) {
		ctx->why = "bad SOCKS5 greeting";
		return -1;
	}
	method = socks5_choose_method(&g, ctx->need_auth);
	socks5_write_method(out, sizeof(out), method);
	ingress_out(ctx, out, 2);
	if (method == SOCKS5_METHOD_NONE) {
		ctx->why = ctx->need_auth ? "client offers no username/password auth" :
					    "no acceptable auth method";
		ctx->event = INGRESS_CLOSE;
	} else {
		st(ctx)->phase = method == SOCKS5_METHOD_USERPASS ? S5_AUTH : S5_REQUEST;
	}
	return n;
}

static int on_auth(struct ingress_ctx *ctx, const uint8_t *in, size_t len)
{
	struct socks5_auth a;
	uint8_t out[2];
	int n = socks5_parse_auth(in, len, &a);

	if (n == PROTO_PARTIAL)
		return 0;
	if (n < 0) {
		socks5_write_auth_reply(out, sizeof(out), SOCKS5_AUTH_FAILURE);
		ingress_out(ctx, out, 2);
		ctx->why = "bad SOCKS5 auth request";
		return -1;
	}
	if (!ctx->need_auth) {	/* no auth configured: any credentials do */
		socks5_write_auth_reply(out, sizeof(out), SOCKS5_AUTH_OK);
		ingress_out(ctx, out, 2);
		st(ctx)->phase = S5_REQUEST;
		return n;
	}
	ctx->user = a.user;
	ctx->user_len = a.user_len;
	ctx->pass = a.pass;
	ctx->pass_len = a.pass_len;
	ctx->event = INGRESS_AUTH;
	st(ctx)->phase = S5_AUTH_WAIT;
	return n;
}

static void s5_auth_result(struct ingress_ctx *ctx, bool ok)
{
	uint8_t out[2];

	socks5_write_auth_reply(out, sizeof(out), ok ? SOCKS5_AUTH_OK : SOCKS5_AUTH_FAILURE);
	ingress_out(ctx, out, 2);
	if (ok) {
		st(ctx)->phase = S5_REQUEST;
	} else {
		ctx->why = "authentication failed";
		ctx->event = INGRESS_CLOSE;
	}
}

static int on_request(struct ingress_ctx *ctx, const uint8_t *in, size_t len)
{
	struct socks5_request r;
	int n = socks5_parse_request(in, len, &r);

	if (n == PROTO_PARTIAL)
		return 0;
	if (n < 0) {
		reply(ctx, r.reply ? r.reply : SOCKS5_REP_GENERAL_FAILURE, NULL);
		ctx->why = r.reply == SOCKS5_REP_ATYP_NOT_SUPPORTED ?
			   "address type not supported" : "bad SOCKS5 request";
		return -1;
	}
	if (r.reply == SOCKS5_REP_SUCCEEDED && r.cmd == SOCKS5_CMD_UDP_ASSOCIATE) {
		/* DST.ADDR/DST.PORT: where the client will send from (maybe zeros). */
		memset(&ctx->target, 0, sizeof(ctx->target));
		ctx->target.port = r.dst.port;
		ctx->event = INGRESS_UDP_ASSOCIATE;
		st(ctx)->phase = S5_UDP;
		return n;
	}
	if (r.reply != SOCKS5_REP_SUCCEEDED ||
	    (r.cmd != SOCKS5_CMD_CONNECT && r.cmd != SOCKS5_CMD_BIND)) {
		reply(ctx, SOCKS5_REP_CMD_NOT_SUPPORTED, NULL);
		ctx->why = "command not supported";
		ctx->event = INGRESS_CLOSE;
		return n;
	}
	if (ingress_target_from_proto(ctx, &r.dst) < 0) {
		reply(ctx, SOCKS5_REP_ATYP_NOT_SUPPORTED, NULL);
		ctx->why = "address type not supported";
		ctx->event = INGRESS_CLOSE;
		return n;
	}
	/* BIND: DST is the peer allowed to connect (port 0: any port). */
	ctx->event = r.cmd == SOCKS5_CMD_BIND ? INGRESS_BIND : INGRESS_REQUEST;
	st(ctx)->phase = S5_DIALING;
	return n;
}

static int s5_input(struct ingress_ctx *ctx, const uint8_t *in, size_t len)
{
	switch (st(ctx)->phase) {
	case S5_GREETING:
		return on_greeting(ctx, in, len);
	case S5_AUTH:
		return on_auth(ctx, in, len);
	case S5_REQUEST:
		return on_request(ctx, in, len);
	default:
		return 0;	/* bytes after the request wait for the relay */
	}
}

static void s5_connected(struct ingress_ctx *ctx, int err, const union sockaddr_any *bound)
{
	struct proto_addr bnd;

	if (err) {
		reply(ctx, socks5_rep_for_error(err), NULL);
		ctx->event = INGRESS_CLOSE;
		return;
	}
	ingress_proto_from_sockaddr(bound, &bnd);
	reply(ctx, SOCKS5_REP_SUCCEEDED, &bnd);
	ctx->event = st(ctx)->phase == S5_UDP ? INGRESS_HOLD : INGRESS_RELAY;
	st(ctx)->phase = S5_DONE;
}

/* BIND's first reply: where the peer is to connect. */
static void s5_bound(struct ingress_ctx *ctx, const union sockaddr_any *addr)
{
	struct proto_addr bnd;

	ingress_proto_from_sockaddr(addr, &bnd);
	reply(ctx, SOCKS5_REP_SUCCEEDED, &bnd);
}

const struct ingress_ops ingress_socks5 = {
	.name = "socks5",
	.wants_bound = true,
	.start = s5_start,
	.input = s5_input,
	.auth_result = s5_auth_result,
	.connected = s5_connected,
	.bound = s5_bound,
};
