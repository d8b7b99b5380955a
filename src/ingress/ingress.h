/*
 * An ingress turns an accepted client connection into a request ("connect
 * me to HOST:PORT") and, once the egress has an answer, tells the client in
 * its own protocol. Port forwarding (tcp://) asks for a fixed target and
 * has nothing to say; SOCKS and HTTP ingresses parse a handshake first.
 *
 * The session (src/app/session.c) drives an ingress through these ops and
 * gives it the calls back in struct ingress_ctx; ingress code never sees
 * the egress.
 */
#ifndef SLUICE_INGRESS_INGRESS_H
#define SLUICE_INGRESS_INGRESS_H

#include <stdbool.h>

#include "core/addr.h"
#include "core/loop.h"
#include "egress/egress.h"

struct ingress_ctx;

struct ingress_ops {
	const char *name;
	/* connected() needs the outgoing socket's local address (SOCKS BND.ADDR). */
	bool wants_bound;
	/* Begin on the accepted client: eventually call ctx->request() or ctx->fail(). */
	void (*start)(struct ingress_ctx *ctx);
	/*
	 * The egress result (0 or -errno, and the local address of the
	 * outgoing socket): reply to the client, then call ctx->ready() to
	 * start relaying, or ctx->fail().
	 */
	void (*connected)(struct ingress_ctx *ctx, int err, const union sockaddr_any *bound);
};

struct ingress_ctx {
	const struct ingress_ops *ops;
	struct io *client;			/* borrowed */
	const struct target *fixed;		/* borrowed: tcp:// target */
	void (*request)(struct ingress_ctx *ctx, const struct target *t);
	void (*ready)(struct ingress_ctx *ctx);
	void (*fail)(struct ingress_ctx *ctx, int err);
};

extern const struct ingress_ops ingress_tcp;

#endif
