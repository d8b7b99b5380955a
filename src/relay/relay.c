#include "relay/relay.h"

#include <errno.h>
#include <sys/socket.h>

#include "core/util.h"

static void on_read(struct io_req *req);
static void on_write(struct io_req *req);
static void message_done(struct relay_dir *d);

bool relay_is_busy(const struct relay *r)
{
	for (int i = 0; i < 2; i++)
		if (r->dir[i].rd.inflight || r->dir[i].wr.inflight)
			return true;
	return false;
}

static struct loop *dir_loop(const struct relay_dir *d)
{
	return d->src->loop;
}

/* Give back whatever data holder a direction still owns. */
static void dir_release(struct relay_dir *d)
{
	struct loop *l = dir_loop(d);

	if (d->mode == RELAY_SPLICE) {
		if (d->pipe) {
			if (d->len)
				pipe_pool_discard(l->pipes, d->pipe);
			else
				pipe_pool_put(l->pipes, d->pipe);
			d->pipe = NULL;
		}
	} else if (d->buf) {
		pool_put(l->bufs, d->buf);
		d->buf = NULL;
	}
	d->len = d->off = 0;
}

static void maybe_released(struct relay *r)
{
	if (relay_is_busy(r))
		return;
	dir_release(&r->dir[0]);
	dir_release(&r->dir[1]);
	r->released(r);
}

void relay_finish(struct relay *r, int err)
{
	if (r->finished)
		return;
	r->finished = true;
	r->err = err;
	r->done(r);		/* the owner closes both handles here */
	maybe_released(r);
}

static void start_read(struct relay_dir *d)
{
	/* Nothing is held between a write's end and the next read: switch here. */
	if (d->upgrade && d->bytes >= RELAY_SPLICE_AFTER) {
		d->upgrade = false;
		d->mode = RELAY_SPLICE;
	}
	if (d->mode == RELAY_SPLICE) {
		d->rd.op = IO_SPLICE_IN;
		d->rd.pipe = NULL;
	} else {
		d->rd.op = IO_RECV;
		d->rd.buf = NULL;
	}
	d->rd.len = 0;
	d->rd.cb = on_read;
	io_submit(d->src, &d->rd);
}

static void start_write(struct relay_dir *d)
{
	if (d->mode == RELAY_SPLICE) {
		d->wr.op = IO_SPLICE_OUT;
		d->wr.pipe = d->pipe;
		d->wr.len = d->len;
	} else {
		d->wr.op = IO_SEND;
		d->wr.buf = (char *)d->buf + d->off;
		d->wr.len = d->len - d->off;
	}
	d->wr.cb = on_write;
	io_submit(d->dst, &d->wr);
}

static void on_read(struct io_req *req)
{
	struct relay_dir *d = container_of(req, struct relay_dir, rd);
	struct relay *r = d->r;
	ssize_t res = req->res;

	if (r->finished) {
		if (res > 0) {	/* data that raced the finish: drop it */
			if (d->mode == RELAY_SPLICE)
				pipe_pool_discard(dir_loop(d)->pipes, req->pipe);
			else
				pool_put(dir_loop(d)->bufs, req->buf);
		}
		maybe_released(r);
		return;
	}
	if (res > 0 && d->framer.fn) {
		size_t take = 0;
		int end = d->framer.fn(d->framer.state, req->buf, (size_t)res, &take);

		if (end < 0 || take > (size_t)res) {
			pool_put(dir_loop(d)->bufs, req->buf);
			relay_finish(r, -EPROTO);
			return;
		}
		d->last = end == 1;
		if (take == 0) {	/* nothing of it belongs to the message */
			pool_put(dir_loop(d)->bufs, req->buf);
			if (d->last)
				message_done(d);
			else
				start_read(d);
			return;
		}
		res = (ssize_t)take;
	}
	if (res > 0) {
		r->last_active = loop_now(dir_loop(d));
		if (d->mode == RELAY_SPLICE) {
			d->pipe = req->pipe;
			d->len = (size_t)res;
		} else {
			d->buf = req->buf;
			d->off = 0;
			d->len = (size_t)res;
		}
		start_write(d);
		return;
	}
	if (res == 0) {
		struct relay_dir *other = d == &r->dir[0] ? &r->dir[1] : &r->dir[0];

		d->eof = true;
		/*
		 * Pass the half-close on. When the other way is already done the
		 * owner closes both sockets next, which sends the FIN anyway.
		 */
		if (!other->eof && io_is_open(d->dst))
			(void)shutdown(d->dst->fd, SHUT_WR);
		if (r->dir[0].eof && r->dir[1].eof)
			relay_finish(r, 0);
		return;
	}
	if (d->mode == RELAY_SPLICE && (res == -EMFILE || res == -ENFILE || res == -ENOMEM)) {
		/* No pipe to be had: carry on with buffers for this direction. */
		d->mode = RELAY_BUFFER;
		d->upgrade = false;
		start_read(d);
		return;
	}
	relay_finish(r, (int)res);
}

static void on_write(struct io_req *req)
{
	struct relay_dir *d = container_of(req, struct relay_dir, wr);
	struct relay *r = d->r;
	ssize_t res = req->res;

	if (r->finished) {
		maybe_released(r);
		return;
	}
	if (res <= 0) {
		relay_finish(r, res == 0 ? -EPIPE : (int)res);
		return;
	}
	d->bytes += (uint64_t)res;
	if (d->mode == RELAY_SPLICE) {
		d->len -= (size_t)res;
		if (d->len) {
			start_write(d);
			return;
		}
		pipe_pool_put(dir_loop(d)->pipes, d->pipe);
		d->pipe = NULL;
	} else {
		d->off += (size_t)res;
		if (d->off < d->len) {
			start_write(d);
			return;
		}
		pool_put(dir_loop(d)->bufs, d->buf);
		d->buf = NULL;
		d->off = d->len = 0;
	}
	if (d->last) {
		message_done(d);
		return;
	}
	start_read(d);
}

/* A framed message has gone through: this direction is finished. */
static void message_done(struct relay_dir *d)
{
	struct relay *r = d->r;

	d->eof = true;
	if (r->dir[0].eof && r->dir[1].eof)
		relay_finish(r, 0);
}

void relay_start(struct relay *r, struct io *a, struct io *b, enum relay_mode mode,
		 relay_cb done, relay_cb released, const struct relay_framer *up)
{
	*r = (struct relay){ .done = done, .released = released };
	r->last_active = loop_now(a->loop);
	for (int i = 0; i < 2; i++) {
		struct relay_dir *d = &r->dir[i];

		d->src = i == 0 ? a : b;
		d->dst = i == 0 ? b : a;
		d->r = r;
		d->mode = (uint8_t)(mode == RELAY_AUTO ? RELAY_BUFFER : mode);
		d->upgrade = mode == RELAY_AUTO;
	}
	if (up && up->fn) {
		r->dir[0].framer = *up;
		r->dir[0].mode = RELAY_BUFFER;
		r->dir[0].upgrade = false;
	}
	if (up && up->done)
		r->dir[0].eof = true;	/* the whole message went before the relay */
	else
		start_read(&r->dir[0]);
	start_read(&r->dir[1]);
}
