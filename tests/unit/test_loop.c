/*
 * The loop's contract (core/loop.h), checked the same way on every backend
 * this kernel has: callbacks never run inside submit; io_close() completes
 * pending requests with -ECANCELED, asynchronously, and a caller buffer is
 * not written after that; RECV without a buffer takes one only when data
 * is there; PEEK leaves the bytes; ACCEPT, CONNECT (refused and not),
 * POLL_IN, POLL_OUT, SPLICE_IN/OUT without a pipe; timers stop the loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/loop.h"
#include "core/sock.h"
#include "unit.h"

static const struct loop_backend *g_be;

struct h {
	struct loop loop;
	struct pool bufs;
	struct pipe_pool pipes;
	struct timer guard;	/* stops a loop that would hang */
	int calls;
	bool timed_out;
};

static struct h *g_h;

static void on_guard(struct timer *t)
{
	g_h->timed_out = true;
	loop_stop(&g_h->loop);
}

static void h_init(struct h *h)
{
	memset(h, 0, sizeof(*h));
	g_h = h;
	pool_init(&h->bufs, 4096, 4);
	pipe_pool_init(&h->pipes, 0, 4);
	CHECK_EQ_INT(loop_init_be(&h->loop, g_be, &h->bufs, &h->pipes), 0);
	timer_init(&h->guard, on_guard);
}

static void h_fini(struct h *h)
{
	loop_timer_cancel(&h->loop, &h->guard);
	CHECK_EQ_INT(h->bufs.used - h->loop.bufs_held, 0);
	CHECK_EQ_INT(h->pipes.used, 0);
	loop_fini(&h->loop);
	pool_fini(&h->bufs);
	pipe_pool_fini(&h->pipes);
}

/* Run until a callback stops the loop; 3 s at most. */
static void h_run(struct h *h)
{
	h->loop.stop = false;
	loop_timer_arm(&h->loop, &h->guard, 3000);
	CHECK_EQ_INT(loop_run(&h->loop), 0);
	loop_timer_cancel(&h->loop, &h->guard);
	CHECK(!h->timed_out);
}

/* One backend round (submits, waits up to 20 ms) and its callbacks. */
static int run_once(struct loop *l)
{
	int err = l->be->wait(l, 20);

	loop_drain(l);
	return err == -EINTR ? 0 : err;
}

static void on_stop(struct io_req *req)
{
	g_h->calls++;
	loop_stop(&g_h->loop);
}

static void on_count(struct io_req *req)
{
	g_h->calls++;
}

static int tcp_listener(union sockaddr_any *a)
{
	socklen_t len = sizeof(a->sin);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	memset(a, 0, sizeof(*a));
	a->sin.sin_family = AF_INET;
	a->sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0 || bind(l, &a->sa, len) < 0 || listen(l, 8) < 0 ||
	    getsockname(l, &a->sa, &len) < 0)
		return -1;
	return l;
}

/* A connected pair: near non-blocking (for the loop), far blocking. */
static void tcp_pair(int *near, int *far)
{
	union sockaddr_any a;
	int l = tcp_listener(&a);

	CHECK(l >= 0);
	*far = socket(AF_INET, SOCK_STREAM, 0);
	CHECK_EQ_INT(connect(*far, &a.sa, sizeof(a.sin)), 0);
	for (int i = 0; i < 100; i++) {
		*near = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (*near >= 0 || errno != EAGAIN)
			break;
		usleep(1000);
	}
	CHECK(*near >= 0);
	close(l);
}

static void test_cancel_on_close(void)
{
	struct h h;
	struct io io;
	struct io_req rd = { 0 }, wr = { 0 };
	char buf[64];
	int near, far;

	h_init(&h);
	tcp_pair(&near, &far);
	io_init(&io);
	CHECK_EQ_INT(io_open(&h.loop, &io, near, IO_READY_WR), 0);
	io_submit_op(&io, &rd, IO_RECV, buf, sizeof(buf), on_count);
	io_submit_op(&io, &wr, IO_POLL_OUT, NULL, 0, on_count);
	CHECK_EQ_INT(h.calls, 0);		/* never inside submit */
	io_close(&io);
	CHECK_EQ_INT(h.calls, 0);		/* never inside close either */
	CHECK(!io_is_open(&io));
	loop_drain(&h.loop);
	CHECK_EQ_INT(h.calls, 2);
	CHECK(!rd.inflight);
	CHECK(!wr.inflight);
	CHECK_EQ_INT(rd.res, -ECANCELED);
	CHECK_EQ_INT(wr.res, -ECANCELED);
	/* The buffer is ours again: data sent now must not land in it. */
	memset(buf, 'x', sizeof(buf));
	(void)send(far, "hello", 5, MSG_NOSIGNAL);
	loop_drain(&h.loop);
	CHECK_EQ_INT(buf[0], 'x');
	close(far);
	h_fini(&h);
}

static void test_recv_pooled_peek(void)
{
	struct h h;
	struct io io;
	struct io_req rd = { 0 };
	char peek[8];
	int near, far;

	h_init(&h);
	tcp_pair(&near, &far);
	io_init(&io);
	CHECK_EQ_INT(io_open(&h.loop, &io, near, IO_READY_WR), 0);
	/* Idle: a pooled RECV holds no buffer. */
	io_submit_op(&io, &rd, IO_RECV, NULL, 0, on_stop);
	CHECK_EQ_INT(run_once(&h.loop), 0);
	CHECK_EQ_INT(h.bufs.used - h.loop.bufs_held, 0);
	CHECK(rd.inflight);
	CHECK_EQ_INT(send(far, "abcdef", 6, 0), 6);
	h_run(&h);
	CHECK_EQ_INT(rd.res, 6);
	CHECK(rd.buf != NULL);
	CHECK(rd.buf && memcmp(rd.buf, "abcdef", 6) == 0);
	CHECK_EQ_INT(h.bufs.used - h.loop.bufs_held, 1);
	pool_put(&h.bufs, rd.buf);

	/* PEEK leaves the bytes for the next RECV. */
	CHECK_EQ_INT(send(far, "xyz", 3, 0), 3);
	rd.op = IO_RECV;
	rd.flags = IO_F_PEEK;
	rd.buf = peek;
	rd.len = sizeof(peek);
	rd.cb = on_stop;
	io_submit(&io, &rd);
	h_run(&h);
	CHECK_EQ_INT(rd.res, 3);
	io_hint_ready(&io, IO_READY_RD);
	io_submit_op(&io, &rd, IO_RECV, peek, sizeof(peek), on_stop);
	h_run(&h);
	CHECK_EQ_INT(rd.res, 3);
	CHECK(memcmp(peek, "xyz", 3) == 0);

	/* EOF */
	shutdown(far, SHUT_WR);
	io_submit_op(&io, &rd, IO_RECV, NULL, 0, on_stop);
	h_run(&h);
	CHECK_EQ_INT(rd.res, 0);
	io_close(&io);
	loop_drain(&h.loop);
	close(far);
	h_fini(&h);
}

/*
 * More pooled RECVs ready at once than io_uring's provided-buffer ring
 * holds: the ones the ring cannot serve fall back to poll + recv(), and
 * every one gets its own bytes in a buffer of its own.
 */
#define MANY_RECV	80

static void on_many(struct io_req *req)
{
	if (++g_h->calls == MANY_RECV)
		loop_stop(&g_h->loop);
}

static void test_recv_pooled_many(void)
{
	static struct io io[MANY_RECV];
	static struct io_req rd[MANY_RECV];
	int far[MANY_RECV];
	struct h h;

	h_init(&h);
	for (int i = 0; i < MANY_RECV; i++) {
		int near;

		tcp_pair(&near, &far[i]);
		io_init(&io[i]);
		CHECK_EQ_INT(io_open(&h.loop, &io[i], near, IO_READY_WR), 0);
		memset(&rd[i], 0, sizeof(rd[i]));
		io_submit_op(&io[i], &rd[i], IO_RECV, NULL, 0, on_many);
	}
	CHECK_EQ_INT(run_once(&h.loop), 0);
	CHECK_EQ_INT(h.bufs.used - h.loop.bufs_held, 0);
	for (int i = 0; i < MANY_RECV; i++) {
		char msg[16];
		int n = snprintf(msg, sizeof(msg), "msg-%d", i);

		CHECK_EQ_INT(send(far[i], msg, (size_t)n, 0), n);
	}
	usleep(20000);		/* all of them readable before the loop looks */
	h_run(&h);
	CHECK_EQ_INT(h.calls, MANY_RECV);
	CHECK_EQ_INT(h.bufs.used - h.loop.bufs_held, MANY_RECV);
	for (int i = 0; i < MANY_RECV; i++) {
		char msg[16];
		int n = snprintf(msg, sizeof(msg), "msg-%d", i);

		CHECK_EQ_INT(rd[i].res, n);
		CHECK(rd[i].buf && memcmp(rd[i].buf, msg, (size_t)n) == 0);
		for (int j = 0; j < i; j++)
			CHECK(rd[i].buf != rd[j].buf);
	}
	for (int i = 0; i < MANY_RECV; i++) {
		pool_put(&h.bufs, rd[i].buf);
		io_close(&io[i]);
		close(far[i]);
	}
	loop_drain(&h.loop);
	h_fini(&h);
}

static void test_accept_connect(void)
{
	struct h h;
	struct io lio, cio;
	struct io_req acc = { 0 }, con = { 0 };
	struct sockaddr_storage peer;
	union sockaddr_any a;
	int l, c;

	h_init(&h);
	l = tcp_listener(&a);
	CHECK(l >= 0);
	io_init(&lio);
	io_init(&cio);
	CHECK_EQ_INT(io_open(&h.loop, &lio, l, IO_READY_RD), 0);
	acc.op = IO_ACCEPT;
	acc.buf = &peer;
	acc.len = sizeof(peer);
	acc.cb = on_count;
	io_submit(&lio, &acc);

	c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	CHECK(connect(c, &a.sa, sizeof(a.sin)) == 0 || errno == EINPROGRESS);
	CHECK_EQ_INT(io_open(&h.loop, &cio, c, 0), 0);
	io_submit_op(&cio, &con, IO_CONNECT, NULL, 0, on_count);
	for (int i = 0; i < 100 && h.calls < 2; i++)
		CHECK_EQ_INT(run_once(&h.loop), 0);
	CHECK_EQ_INT(h.calls, 2);
	CHECK_EQ_INT(con.res, 0);
	CHECK(acc.res >= 0);
	CHECK_EQ_INT(peer.ss_family, AF_INET);
	if (acc.res >= 0)
		close((int)acc.res);
	io_close(&cio);

	/* Refused: the port of a listener that is gone. */
	io_close(&lio);
	loop_drain(&h.loop);
	h.calls = 0;
	c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	CHECK(connect(c, &a.sa, sizeof(a.sin)) < 0);
	if (errno == EINPROGRESS) {
		CHECK_EQ_INT(io_open(&h.loop, &cio, c, 0), 0);
		io_submit_op(&cio, &con, IO_CONNECT, NULL, 0, on_stop);
		h_run(&h);
		CHECK_EQ_INT(con.res, -ECONNREFUSED);
		io_close(&cio);
	} else {
		close(c);
	}
	loop_drain(&h.loop);
	h_fini(&h);
}

static void test_splice_pooled(void)
{
	struct h h;
	struct io a, b;
	struct io_req in = { 0 }, out = { 0 };
	int an, af, bn, bf;
	char got[16];

	h_init(&h);
	tcp_pair(&an, &af);
	tcp_pair(&bn, &bf);
	io_init(&a);
	io_init(&b);
	CHECK_EQ_INT(io_open(&h.loop, &a, an, IO_READY_WR), 0);
	CHECK_EQ_INT(io_open(&h.loop, &b, bn, IO_READY_WR), 0);
	in.op = IO_SPLICE_IN;
	in.pipe = NULL;
	in.len = 0;
	in.cb = on_stop;
	io_submit(&a, &in);
	CHECK_EQ_INT(run_once(&h.loop), 0);
	CHECK_EQ_INT(h.pipes.used, 0);		/* idle: no pipe taken */
	CHECK_EQ_INT(send(af, "0123456789", 10, 0), 10);
	h_run(&h);
	CHECK_EQ_INT(in.res, 10);
	CHECK(in.pipe != NULL);
	out.op = IO_SPLICE_OUT;
	out.pipe = in.pipe;
	out.len = 10;
	out.cb = on_stop;
	io_submit(&b, &out);
	h_run(&h);
	CHECK_EQ_INT(out.res, 10);
	pipe_pool_put(&h.pipes, out.pipe);
	CHECK_EQ_INT(recv(bf, got, 10, MSG_WAITALL), 10);
	CHECK(memcmp(got, "0123456789", 10) == 0);
	io_close(&a);
	io_close(&b);
	loop_drain(&h.loop);
	close(af);
	close(bf);
	h_fini(&h);
}

static void test_poll_in(void)
{
	struct h h;
	struct io io;
	struct io_req rd = { 0 };
	int p[2];
	uint64_t one = 1;

	h_init(&h);
	CHECK_EQ_INT(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	io_init(&io);
	CHECK_EQ_INT(io_open(&h.loop, &io, p[0], 0), 0);
	io_submit_op(&io, &rd, IO_POLL_IN, NULL, 0, on_stop);
	CHECK_EQ_INT(write(p[1], &one, 1), 1);
	h_run(&h);
	CHECK_EQ_INT(rd.res, 0);
	/* Level-like: still readable, so a new POLL_IN completes again. */
	io_submit_op(&io, &rd, IO_POLL_IN, NULL, 0, on_stop);
	h_run(&h);
	CHECK_EQ_INT(rd.res, 0);
	io_close(&io);
	loop_drain(&h.loop);
	close(p[1]);
	h_fini(&h);
}

static void on_timer_stop(struct timer *t)
{
	g_h->calls++;
	loop_stop(&g_h->loop);
}

static void test_timer(void)
{
	struct h h;
	struct timer t;

	h_init(&h);
	timer_init(&t, on_timer_stop);
	loop_timer_arm(&h.loop, &t, 20);
	h_run(&h);
	CHECK_EQ_INT(h.calls, 1);
	h_fini(&h);
}

int main(void)
{
	const struct loop_backend *bes[] = { &loop_backend_epoll, &loop_backend_uring };

	for (size_t i = 0; i < sizeof(bes) / sizeof(bes[0]); i++) {
		g_be = bes[i];
		if (g_be == &loop_backend_uring && !loop_uring_usable()) {
			printf("skip: io_uring not available here\n");
			continue;
		}
		printf("backend %s\n", g_be->name);
		RUN(test_cancel_on_close);
		RUN(test_recv_pooled_peek);
		RUN(test_recv_pooled_many);
		RUN(test_accept_connect);
		RUN(test_splice_pooled);
		RUN(test_poll_in);
		RUN(test_timer);
	}
	return unit_done();
}
