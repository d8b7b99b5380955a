/* tcp:// port forwarding: the request is the listener's fixed target. */
#include "ingress/ingress.h"

static void tcp_start(struct ingress_ctx *ctx)
{
	ctx->request(ctx, ctx->fixed);
}

static void tcp_connected(struct ingress_ctx *ctx, int err, const union sockaddr_any *bound)
{
	(void)bound;
	if (err)
		ctx->fail(ctx, err);
	else
		ctx->ready(ctx);
}

const struct ingress_ops ingress_tcp = {
	.name = "tcp",
	.start = tcp_start,
	.connected = tcp_connected,
};
