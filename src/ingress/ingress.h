/*
 * An ingress turns an accepted client connection into a request ("connect
 * me to HOST:PORT") and, once the egress has an answer, tells the client in
 * its own protocol. Port forwarding (tcp://) asks for a fixed target and
 * says nothing; SOCKS and HTTP ingresses parse a handshake first.
 *
 * Ingress code does no I/O. The session (src/app/session.c) reads client
 * bytes and feeds them to input(); the ingress appends any reply to
 * ctx->out and sets ctx->event to say what the session must do next. The
 * session writes ctx->out to the client before acting on the event. So an
 * ingress is a state machine over bytes, testable without sockets, and any
 * ingress works with any egress.
 */
#ifndef SLUICE_INGRESS_INGRESS_H
#define SLUICE_INGRESS_INGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "egress/egress.h"

struct ingress_ctx;

enum ingress_event {
	INGRESS_NONE = 0,	/* keep feeding input */
	INGRESS_REQUEST,	/* dial ctx->target (ctx->host for names) */
	INGRESS_BIND,		/* BIND: listen for ctx->target, then bound(), connected() */
	INGRESS_AUTH,		/* check ctx->user/ctx->pass, then call auth_result() */
	INGRESS_RELAY,		/* handshake done: relay bytes from now on */
	INGRESS_CLOSE,		/* flush ctx->out, then close (a refusal already written) */
	INGRESS_UDP_ASSOCIATE,	/* open a UDP relay (SOCKS5 UDP ASSOCIATE): ctx->target.port
				 * is the client's announced UDP port (0: not known); then
				 * call connected() with the relay's address as bound */
	INGRESS_HOLD,		/* reply flushed: no relay, keep the connection open until
				 * the client closes it (it carries a UDP association) */
	INGRESS_FORWARD,	/* HTTP: a plain request; nothing consumed: the HTTP
				 * forwarding loop (app/http_fwd.c) takes over */
};

/* Why a session ends in the handshake, for the log line. */
struct ingress_ops {
	const char *name;
	/* connected() needs the outgoing socket's local address (SOCKS BND.ADDR). */
	bool wants_bound;
	/* Set up per-connection state in ctx->state (zeroed before). */
	void (*start)(struct ingress_ctx *ctx);
	/*
	 * Feed client bytes (all unconsumed bytes so far, from the start).
	 * Returns bytes consumed (0: need more) or -1 on a protocol error
	 * (ctx->out may hold an error reply; the session flushes then closes).
	 * One message at a time: the session calls again while bytes remain
	 * and ctx->event is INGRESS_NONE.
	 */
	int (*input)(struct ingress_ctx *ctx, const uint8_t *in, size_t len);
	/* The credentials check asked for by INGRESS_AUTH. */
	void (*auth_result)(struct ingress_ctx *ctx, bool ok);
	/*
	 * The egress result (0 or -errno, and the local address of the
	 * outgoing socket): write the reply and set INGRESS_RELAY or
	 * INGRESS_CLOSE.
	 */
	void (*connected)(struct ingress_ctx *ctx, int err, const union sockaddr_any *bound);
	/*
	 * INGRESS_BIND: the proxy listens on *addr; write the first reply
	 * (event stays INGRESS_NONE). connected() follows with the peer's
	 * address (or an error) for the second. NULL: no BIND.
	 */
	void (*bound)(struct ingress_ctx *ctx, const union sockaddr_any *addr);
};

#define INGRESS_OUT_MAX		1024
#define INGRESS_STATE_MAX	640

struct ingress_ctx {
	const struct ingress_ops *ops;
	enum ingress_event event;
	bool need_auth;			/* the listener requires credentials */
	struct target target;		/* for INGRESS_REQUEST; host points into hostbuf */
	char hostbuf[HOST_MAX + 1];
	const uint8_t *user, *pass;	/* INGRESS_AUTH: point into the input */
	size_t user_len, pass_len;
	const char *why;		/* static text for the log on close, or NULL */
	size_t out_len;
	uint8_t out[INGRESS_OUT_MAX];	/* reply bytes to send to the client */
	uint8_t *up;			/* owned (malloc): bytes to send upstream once
					 * connected, before any client bytes (a
					 * rewritten HTTP head), or NULL */
	size_t up_len;
	uint64_t state[INGRESS_STATE_MAX / 8]; /* the ingress's own state */
};

/* Append a reply; false if it does not fit (an ingress bug). */
static inline bool ingress_out(struct ingress_ctx *ctx, const void *p, size_t n)
{
	if (n > sizeof(ctx->out) - ctx->out_len)
		return false;
	for (size_t i = 0; i < n; i++)
		ctx->out[ctx->out_len + i] = ((const uint8_t *)p)[i];
	ctx->out_len += n;
	return true;
}

/* The one place egress failures (-errno) become HTTP statuses: 504, 403, 502. */
int ingress_http_status(int err);

extern const struct ingress_ops ingress_tcp;
extern const struct ingress_ops ingress_socks5;
extern const struct ingress_ops ingress_socks4;
extern const struct ingress_ops ingress_http;
/* proxy://: SOCKS5, SOCKS4 or HTTP, told apart by the first byte. */
extern const struct ingress_ops ingress_detect;

#endif
