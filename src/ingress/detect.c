/*
 * proxy://: one port for SOCKS5, SOCKS4/4a and HTTP. The first byte tells
 * them apart (5, 4, anything else is HTTP); from then on the chosen ingress
 * runs as if it had been the listener's.
 */
#include "ingress/ingress.h"

static void detect_start(struct ingress_ctx *ctx)
{
	(void)ctx;
}

static int detect_input(struct ingress_ctx *ctx, const uint8_t *in, size_t len)
{
	if (len == 0)
		return 0;
	ctx->ops = in[0] == 0x05 ? &ingress_socks5 : in[0] == 0x04 ? &ingress_socks4 :
		   &ingress_http;
	ctx->ops->start(ctx);
	return ctx->ops->input(ctx, in, len);
}

const struct ingress_ops ingress_detect = {
	.name = "proxy",
	.wants_bound = true,
	.start = detect_start,
	.input = detect_input,
};
