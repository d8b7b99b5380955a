/*
 * The upstream of the HTTP forwarding loop (app/http_fwd.c): a byte stream
 * to the origin that is either a socket (the direct or -F chain egress) or
 * a -F tunnel:// stream. http_fwd writes request heads and bodies to it and
 * reads responses from it through these few ops, so its keep-alive,
 * pipelining, body framing and error handling exist once for both.
 *
 * Requests have the loop's shape (core/loop.h) so the socket side is the
 * plain io_submit_op() it always was (no extra syscall or copy):
 *
 *   submit(u, req, IO_RECV, buf, cap, cb)  bytes into buf (a caller buffer,
 *                                          never a pooled one); res > 0
 *                                          bytes, 0 EOF, -errno
 *   submit(u, req, IO_SEND, buf, len, cb)  buf borrowed until cb; res bytes
 *                                          taken (maybe fewer), -errno
 *
 * Each request completes exactly once, through the loop's completion queue
 * (never inside submit), with req->inflight set until then; at most one
 * RECV and one SEND are pending at a time. close() completes pending
 * requests with -ECANCELED (asynchronously), like io_close(); err != 0
 * resets the other end (socket: RST; tunnel: a mux RST) instead of a clean
 * close. After close() is_open() is false and submit() fails its request
 * with -EBADF.
 */
#ifndef SLUICE_APP_UPSTREAM_H
#define SLUICE_APP_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/loop.h"

struct upstream;

struct upstream_ops {
	const char *name;
	void (*submit)(struct upstream *u, struct io_req *req, uint8_t op, void *buf, size_t len,
		       io_cb cb);
	bool (*is_open)(const struct upstream *u);
	void (*close)(struct upstream *u, int err);
};

struct upstream {
	const struct upstream_ops *ops;
	void *impl;		/* the socket: struct io (borrowed: the session's);
				 * the tunnel: struct tstream (owned until close),
				 * NULL while there is none */
	struct loop *loop;	/* borrowed: completes requests when impl is NULL */
};

/* impl is a struct io. */
extern const struct upstream_ops upstream_socket_ops;
/* impl is an open struct tstream (tunnel_stream_io.c); close() frees it. */
extern const struct upstream_ops upstream_tstream_ops;

static inline void upstream_submit(struct upstream *u, struct io_req *req, uint8_t op, void *buf,
				   size_t len, io_cb cb)
{
	u->ops->submit(u, req, op, buf, len, cb);
}

static inline bool upstream_is_open(const struct upstream *u)
{
	return u->ops->is_open(u);
}

static inline void upstream_close(struct upstream *u, int err)
{
	u->ops->close(u, err);
}

#endif
