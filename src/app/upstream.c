/*
 * The socket upstream of app/upstream.h: the loop's own requests on the
 * session's struct io, so http_fwd over a socket makes exactly the
 * syscalls and copies it made before the interface existed.
 */
#include "app/upstream.h"

static void sock_submit(struct upstream *u, struct io_req *req, uint8_t op, void *buf, size_t len,
			io_cb cb)
{
	io_submit_op(u->impl, req, op, buf, len, cb);
}

static bool sock_is_open(const struct upstream *u)
{
	return io_is_open(u->impl);
}

static void sock_close(struct upstream *u, int err)
{
	if (err)
		io_abort(u->impl);
	else
		io_close(u->impl);
}

const struct upstream_ops upstream_socket_ops = {
	.name = "socket",
	.submit = sock_submit,
	.is_open = sock_is_open,
	.close = sock_close,
};
