/*
 * epoll backend: edge-triggered, every fd registered once for IN|OUT|RDHUP.
 * The handle remembers which directions are known ready; a submitted
 * request is tried at once when its direction is ready, otherwise it waits
 * for the next edge. EAGAIN clears the bit. A short read also clears it
 * (the kernel queues a new edge for any later arrival) unless the peer has
 * already hung up, in which case the EOF is still to be read. A short
 * splice clears it only when the pipe cannot have been the limit (see
 * try_read).
 */
#include "core/loop.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define EPOLL_BATCH	256
#define IO_READY_HUP	0x4	/* sticky: peer shut down or error */

static int ep_init(struct loop *l)
{
	l->fd = epoll_create1(EPOLL_CLOEXEC);
	if (l->fd < 0)
		return -errno;
	l->backend_data = calloc(EPOLL_BATCH, sizeof(struct epoll_event));
	if (!l->backend_data) {
		close(l->fd);
		l->fd = -1;
		return -ENOMEM;
	}
	return 0;
}

static void ep_fini(struct loop *l)
{
	free(l->backend_data);
	l->backend_data = NULL;
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
}

static int ep_attach(struct loop *l, struct io *io)
{
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
		.data.ptr = io,
	};

	if (epoll_ctl(l->fd, EPOLL_CTL_ADD, io->fd, &ev) < 0)
		return -errno;
	return 0;
}

static void ep_detach(struct loop *l, struct io *io)
{
	(void)epoll_ctl(l->fd, EPOLL_CTL_DEL, io->fd, NULL);
}

/* Ask the kernel to re-report current readiness (level-like, for POLL_*). */
static void ep_rearm(struct loop *l, struct io *io)
{
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
		.data.ptr = io,
	};

	(void)epoll_ctl(l->fd, EPOLL_CTL_MOD, io->fd, &ev);
}

/* Try a read-side request. Returns true when it completed. */
static bool try_read(struct loop *l, struct io *io, struct io_req *req)
{
	ssize_t n;
	size_t want;
	int err;

	switch (req->op) {
	case IO_ACCEPT: {
		socklen_t alen = sizeof(struct sockaddr_storage);

		for (;;) {
			n = accept4(io->fd, req->buf, &alen, SOCK_NONBLOCK | SOCK_CLOEXEC);
			if (n >= 0)
				break;
			err = errno;
			if (err == ECONNABORTED || err == EINTR)
				continue;
			if (loop_err_is_again(err)) {
				io->ready &= ~IO_READY_RD;
				return false;
			}
			n = -err;
			break;
		}
		loop_finish(l, req, n);
		return true;
	}
	case IO_RECV: {
		bool selected = req->buf == NULL;
		void *buf = req->buf;

		if (selected) {
			buf = pool_get(l->bufs);
			if (!buf) {
				loop_finish(l, req, -ENOMEM);
				return true;
			}
			want = req->len && req->len < l->bufs->size ? req->len : l->bufs->size;
		} else {
			want = req->len;
		}
		do
			n = recv(io->fd, buf, want, req->flags & IO_F_PEEK ? MSG_PEEK : 0);
		while (n < 0 && errno == EINTR);
		if (n > 0) {
			if (selected)
				req->buf = buf;
			/*
			 * A short read, peek or not, waits for the next edge; after a
			 * peek the caller hints readiness before taking the bytes.
			 */
			if ((size_t)n < want && !(io->ready & IO_READY_HUP))
				io->ready &= ~IO_READY_RD;
			loop_finish(l, req, n);
			return true;
		}
		err = n < 0 ? errno : 0;
		if (selected)
			pool_put(l->bufs, buf);
		if (n < 0 && loop_err_is_again(err)) {
			io->ready &= ~IO_READY_RD;
			return false;
		}
		loop_finish(l, req, n == 0 ? 0 : -err);
		return true;
	}
	case IO_SPLICE_IN: {
		bool selected = req->pipe == NULL;
		struct pipe *pp = req->pipe;

		if (selected) {
			pp = pipe_pool_get(l->pipes);
			if (!pp) {
				loop_finish(l, req, -errno);
				return true;
			}
		}
		want = req->len ? req->len : 1 << 20;
		do
			n = splice(io->fd, NULL, pp->wr, NULL, want,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		while (n < 0 && errno == EINTR);
		if (n > 0) {
			/*
			 * A short splice stopped because the socket had no more
			 * (then the next data brings a new edge) or because the
			 * pipe filled up (then more may be queued with no edge
			 * to come). A pooled pipe starts empty and every slot
			 * holds at least one byte: fewer bytes than slots cannot
			 * have filled it, so the socket was drained.
			 */
			if (selected && (size_t)n < want && (size_t)n < pp->slots &&
			    !(io->ready & IO_READY_HUP))
				io->ready &= ~IO_READY_RD;
			if (selected)
				req->pipe = pp;
			loop_finish(l, req, n);
			return true;
		}
		err = n < 0 ? errno : 0;
		if (selected)
			pipe_pool_put(l->pipes, pp);
		if (n < 0 && loop_err_is_again(err)) {
			io->ready &= ~IO_READY_RD;
			return false;
		}
		loop_finish(l, req, n == 0 ? 0 : -err);
		return true;
	}
	case IO_POLL_IN:
		loop_finish(l, req, 0);
		return true;
	default:
		loop_finish(l, req, -EINVAL);
		return true;
	}
}

static bool try_write(struct loop *l, struct io *io, struct io_req *req)
{
	ssize_t n;
	int err;

	switch (req->op) {
	case IO_CONNECT: {
		socklen_t len = sizeof(err);

		/*
		 * Writable with no error or hang-up reported: connected. Only a
		 * failure needs SO_ERROR, which saves a syscall per connection.
		 */
		err = 0;
		if ((io->ready & IO_READY_HUP) &&
		    getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		loop_finish(l, req, -err);
		return true;
	}
	case IO_SEND:
		do
			n = send(io->fd, req->buf, req->len, MSG_NOSIGNAL);
		while (n < 0 && errno == EINTR);
		break;
	case IO_SPLICE_OUT:
		do
			n = splice(req->pipe->rd, NULL, io->fd, NULL, req->len,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		while (n < 0 && errno == EINTR);
		break;
	case IO_POLL_OUT:
		loop_finish(l, req, 0);
		return true;
	default:
		loop_finish(l, req, -EINVAL);
		return true;
	}
	if (n >= 0) {
		if ((size_t)n < req->len)
			io->ready &= ~IO_READY_WR;	/* socket buffer full */
		loop_finish(l, req, n);
		return true;
	}
	err = errno;
	if (loop_err_is_again(err)) {
		io->ready &= ~IO_READY_WR;
		return false;
	}
	loop_finish(l, req, -err);
	return true;
}

static void ep_submit(struct loop *l, struct io_req *req)
{
	struct io *io = req->io;
	bool is_read = req->op == IO_ACCEPT || req->op == IO_RECV ||
		       req->op == IO_SPLICE_IN || req->op == IO_POLL_IN;

	if (is_read) {
		io->rd = req;
		if (req->op == IO_POLL_IN) {
			io->ready &= ~IO_READY_RD;
			if (!(req->flags & IO_F_EDGE))
				ep_rearm(l, io);
		} else if (io->ready & IO_READY_RD) {
			try_read(l, io, req);
		}
	} else {
		io->wr = req;
		if (req->op == IO_POLL_OUT) {
			io->ready &= ~IO_READY_WR;
			ep_rearm(l, io);
		} else if (req->op != IO_CONNECT && (io->ready & IO_READY_WR)) {
			try_write(l, io, req);
		}
	}
}

static int ep_wait(struct loop *l, int timeout_ms)
{
	struct epoll_event *ev = l->backend_data;
	int n = epoll_wait(l->fd, ev, EPOLL_BATCH, timeout_ms);

	if (n < 0)
		return -errno;
	for (int i = 0; i < n; i++) {
		struct io *io = ev[i].data.ptr;
		uint32_t e = ev[i].events;

		if (io->fd < 0)
			continue;
		if (e & (EPOLLERR | EPOLLHUP | EPOLLRDHUP))
			io->ready |= IO_READY_HUP | IO_READY_RD;
		if (e & (EPOLLERR | EPOLLHUP))
			io->ready |= IO_READY_WR;
		if (e & EPOLLIN)
			io->ready |= IO_READY_RD;
		if (e & EPOLLOUT)
			io->ready |= IO_READY_WR;
		if (io->rd && (io->ready & IO_READY_RD))
			try_read(l, io, io->rd);
		if (io->wr && (io->ready & IO_READY_WR))
			try_write(l, io, io->wr);
	}
	return 0;
}

const struct loop_backend loop_backend_epoll = {
	.name = "epoll",
	.init = ep_init,
	.fini = ep_fini,
	.attach = ep_attach,
	.detach = ep_detach,
	.submit = ep_submit,
	.wait = ep_wait,
};
