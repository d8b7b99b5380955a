/*
 * A -F tunnel:// stream as the HTTP forwarding loop's upstream
 * (app/upstream.h): loop-shaped RECV/SEND requests served from the mux
 * stream API, the same one tstream_relay() uses.
 *
 *   SEND: the caller's buffer is lent to the mux (mux_stream_write) and the
 *         request completes when the mux has framed all of it (on_sent), so
 *         the stream's credit and the arq's send room are the backpressure,
 *         as a socket's send buffer is. No copy of ours.
 *   RECV: the mux's receive chunks are copied into the caller's buffer (the
 *         one copy a socket's recv() makes too) and consumed, which grants
 *         the peer credit. With nothing there the request waits for on_data.
 *
 * Completions go through loop_complete(), never inside submit or a mux
 * callback, as core/loop.h promises. While a stream is used this way its
 * state is TS_IO and tunnel_peer.c hands its mux events here.
 */
#include "app/tunnel_int.h"
#include "app/upstream.h"

#include <errno.h>
#include <string.h>

#include "app/worker.h"

/* A stream let go cleanly waits this long for the server's FIN, then resets. */
#define TSIO_LINGER_MS	5000

static struct loop *ts_loop(const struct tstream *ts)
{
	return &ts->p->w->loop;
}

static void complete(struct loop *l, struct io_req *req, ssize_t res)
{
	loop_complete(l, req, res);
}

/* The error requests get once the stream was reset (by the peer or the tunnel dying). */
static int reset_err(const struct tstream *ts)
{
	return tstream_reset_errno(ts, ts->reason ? ts->reason : MUX_R_RESET);
}

/* Serve the pending RECV if there is something to say: bytes, EOF or the reset. */
static void try_read(struct tstream *ts)
{
	struct io_req *req = ts->io_rd;
	const uint8_t *p;
	size_t got = 0, n;

	if (!req)
		return;
	while (got < req->len && (n = mux_stream_peek(ts->ms, &p)) > 0) {
		if (n > req->len - got)
			n = req->len - got;
		memcpy((uint8_t *)req->buf + got, p, n);
		mux_stream_consume(ts->ms, n);
		got += n;
	}
	if (got) {
		ts->last_active = loop_now(ts_loop(ts));
		tpeer_kick(ts->p);		/* credit went back */
		complete(ts_loop(ts), req, (ssize_t)got);
	} else if (mux_stream_is_reset(ts->ms)) {
		complete(ts_loop(ts), req, reset_err(ts));
	} else if (mux_stream_is_eof(ts->ms)) {
		complete(ts_loop(ts), req, 0);
	} else {
		return;
	}
	ts->io_rd = NULL;
}

/*
 * Lingering (see ts_close): drop what still comes; once the server's FIN is
 * consumed, mux_stream_free() is a clean end (our FIN went before).
 */
static void linger_check(struct tstream *ts)
{
	const uint8_t *p;
	size_t n;

	while ((n = mux_stream_peek(ts->ms, &p)) > 0)
		mux_stream_consume(ts->ms, n);
	if (mux_stream_is_eof(ts->ms) || mux_stream_is_reset(ts->ms))
		tstream_free(ts);
	else
		tpeer_kick(ts->p);	/* credit for what was dropped */
}

static void on_linger_timeout(struct timer *t)
{
	struct tstream *ts = container_of(t, struct tstream, open_timer);

	tstream_free(ts);	/* RST: the server never said it was done */
}

void tsio_on_data(struct tstream *ts)
{
	if (ts->io_linger)
		linger_check(ts);
	else
		try_read(ts);
}

void tsio_on_sent(struct tstream *ts)
{
	struct io_req *req = ts->io_wr;

	if (!req)
		return;
	ts->io_wr = NULL;
	ts->last_active = loop_now(ts_loop(ts));
	complete(ts_loop(ts), req, (ssize_t)ts->io_wlen);
}

void tsio_on_reset(struct tstream *ts)
{
	if (ts->io_linger) {
		tstream_free(ts);
		return;
	}
	if (ts->io_wr) {
		complete(ts_loop(ts), ts->io_wr, reset_err(ts));
		ts->io_wr = NULL;
	}
	try_read(ts);
}

static void ts_submit(struct upstream *u, struct io_req *req, uint8_t op, void *buf, size_t len,
		      io_cb cb)
{
	struct tstream *ts = u->impl;
	int err;

	req->op = op;
	req->flags = 0;
	req->buf = buf;
	req->len = len;
	req->cb = cb;
	req->io = NULL;
	req->inflight = true;
	req->queued = false;
	if (!ts) {
		complete(u->loop, req, -EBADF);
		return;
	}
	if (op == IO_RECV) {
		if (ts->io_rd || !buf) {
			complete(u->loop, req, ts->io_rd ? -EBUSY : -EINVAL);
			return;
		}
		ts->io_rd = req;
		try_read(ts);
		return;
	}
	if (op != IO_SEND || ts->io_wr) {
		complete(u->loop, req, op != IO_SEND ? -EOPNOTSUPP : -EBUSY);
		return;
	}
	if (mux_stream_is_reset(ts->ms)) {
		complete(u->loop, req, reset_err(ts));
		return;
	}
	if (len == 0) {
		complete(u->loop, req, 0);
		return;
	}
	err = mux_stream_write(ts->ms, buf, len);
	if (err) {
		complete(u->loop, req, err);
		return;
	}
	ts->io_wr = req;
	ts->io_wlen = len;
	tpeer_kick(ts->p);		/* may frame it all at once: on_sent completes it */
}

static bool ts_is_open(const struct upstream *u)
{
	return u->impl != NULL;
}

static void ts_close(struct upstream *u, int err)
{
	struct tstream *ts = u->impl;

	if (!ts)
		return;
	u->impl = NULL;
	if (ts->io_rd)
		complete(u->loop, ts->io_rd, -ECANCELED);
	if (ts->io_wr)
		complete(u->loop, ts->io_wr, -ECANCELED);
	ts->io_rd = ts->io_wr = NULL;
	if (err || mux_stream_is_reset(ts->ms)) {
		if (!mux_stream_is_reset(ts->ms))
			mux_stream_reset(ts->ms, mux_reason_from_errno(err));
		tstream_free(ts);
		return;
	}
	/*
	 * A clean close, as a socket's close() is: our FIN now, and the stream
	 * lives on (owned by itself) until the server's FIN comes back, so
	 * the origin sees a FIN, not a reset, and the server logs an eof.
	 * Freed at once, mux_stream_free() would reset it (their FIN is not
	 * in yet). Bounded: TSIO_LINGER_MS, then the reset after all.
	 */
	if (mux_stream_write_pending(ts->ms) || mux_stream_fin(ts->ms) < 0) {
		tstream_free(ts);
		return;
	}
	ts->io_linger = true;
	tpeer_kick(ts->p);
	ts->open_timer.cb = on_linger_timeout;
	loop_timer_arm(ts_loop(ts), &ts->open_timer, TSIO_LINGER_MS);
	linger_check(ts);
}

const struct upstream_ops upstream_tstream_ops = {
	.name = "tunnel",
	.submit = ts_submit,
	.is_open = ts_is_open,
	.close = ts_close,
};

void tstream_upstream_attach(struct upstream *u, struct tstream *ts)
{
	ts->state = TS_IO;
	ts->io_rd = ts->io_wr = NULL;
	ts->last_active = loop_now(ts_loop(ts));
	u->impl = ts;
}

struct tstream *tstream_upstream_detach(struct upstream *u)
{
	struct tstream *ts = u->impl;

	if (!ts || ts->io_rd || ts->io_wr)
		return NULL;
	u->impl = NULL;
	ts->state = TS_OPEN;
	return ts;
}
