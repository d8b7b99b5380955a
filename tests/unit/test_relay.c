/*
 * The loop and the relay together, in process, over real TCP loopback
 * pairs: integrity both ways with half-close in between, for the buffered
 * and splice paths; a reset on one side finishes the relay with an error;
 * every buffer and pipe is back in its pool afterwards. Everything runs on
 * each event loop backend this kernel has (epoll, io_uring).
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/loop.h"
#include "core/sock.h"
#include "relay/relay.h"
#include "unit.h"

struct pair {
	int near, far;	/* near: given to the relay; far: the test's peer */
};

static int tcp_pair(struct pair *p)
{
	union sockaddr_any a = { 0 };
	socklen_t len = sizeof(a.sin);
	int l, c;

	a.sin.sin_family = AF_INET;
	a.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || bind(l, &a.sa, len) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, &a.sa, &len) < 0)
		return -1;
	c = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(c, &a.sa, len) < 0)
		return -1;
	p->far = c;
	p->near = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	close(l);
	return p->near < 0 ? -1 : 0;
}

static unsigned char pattern(uint64_t i, unsigned int seed)
{
	return (unsigned char)((i * 2654435761u) >> 13 ^ seed);
}

struct flow {
	int fd;
	uint64_t n;
	unsigned int seed;
	uint64_t got;
	int bad;
	int rst;	/* writer: abort with RST after n bytes instead of FIN */
};

static void *writer(void *arg)
{
	struct flow *f = arg;
	unsigned char buf[65536];
	uint64_t off = 0;

	while (off < f->n) {
		size_t chunk = f->n - off < sizeof(buf) ? (size_t)(f->n - off) : sizeof(buf);
		ssize_t w;

		for (size_t i = 0; i < chunk; i++)
			buf[i] = pattern(off + i, f->seed);
		w = send(f->fd, buf, chunk, MSG_NOSIGNAL);
		if (w <= 0)
			return NULL;
		off += (uint64_t)w;
	}
	if (f->rst) {
		struct linger lg = { 1, 0 };

		setsockopt(f->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(f->fd);
		f->fd = -1;
	} else {
		shutdown(f->fd, SHUT_WR);
	}
	return NULL;
}

static void *reader(void *arg)
{
	struct flow *f = arg;
	unsigned char buf[65536];
	ssize_t r;

	while ((r = recv(f->fd, buf, sizeof(buf), 0)) > 0) {
		for (ssize_t i = 0; i < r; i++)
			if (buf[i] != pattern(f->got + (uint64_t)i, f->seed))
				f->bad++;
		f->got += (uint64_t)r;
	}
	return NULL;
}

struct harness {
	struct loop loop;
	struct pool bufs;
	struct pipe_pool pipes;
	struct io a, b;
	struct relay relay;
	int done, released;
};

static void on_done(struct relay *r)
{
	struct harness *h = (struct harness *)((char *)r - offsetof(struct harness, relay));

	h->done++;
	if (r->err) {
		io_abort(&h->a);
		io_abort(&h->b);
	} else {
		io_close(&h->a);
		io_close(&h->b);
	}
}

static void on_released(struct relay *r)
{
	struct harness *h = (struct harness *)((char *)r - offsetof(struct harness, relay));

	h->released++;
	loop_stop(&h->loop);
}

/* A framer that lets exactly `limit` bytes through, in pieces of any size. */
struct limit_frame {
	uint64_t limit;
	unsigned int calls;
};

static int limit_frame(void *state, const uint8_t *p, size_t n, size_t *take)
{
	struct limit_frame *f = state;

	(void)p;
	f->calls++;
	*take = n < f->limit ? n : (size_t)f->limit;
	f->limit -= *take;
	return f->limit == 0;
}

static const struct loop_backend *g_be;	/* the backend under test */
static struct relay_framer *g_framer;
static uint64_t g_frame_len;	/* what a framed run must deliver */

static void run_relay(enum relay_mode mode, uint64_t up, uint64_t down, int rst)
{
	struct harness h;
	struct pair pa, pb;
	struct flow w1 = { .n = up, .seed = 1, .rst = rst }, r2 = { .seed = 1 };
	struct flow w2 = { .n = down, .seed = 2 }, r1 = { .seed = 2 };
	pthread_t t[4];

	memset(&h, 0, sizeof(h));
	pool_init(&h.bufs, 128 * 1024, 8);
	pipe_pool_init(&h.pipes, 256 * 1024, 8);
	CHECK_EQ_INT(loop_init_be(&h.loop, g_be, &h.bufs, &h.pipes), 0);
	CHECK_EQ_INT(tcp_pair(&pa), 0);
	CHECK_EQ_INT(tcp_pair(&pb), 0);
	io_init(&h.a);
	io_init(&h.b);
	CHECK_EQ_INT(io_open(&h.loop, &h.a, pa.near, IO_READY_WR), 0);
	CHECK_EQ_INT(io_open(&h.loop, &h.b, pb.near, IO_READY_WR), 0);

	w1.fd = pa.far;		/* client writes up ... */
	r2.fd = pb.far;		/* ... server reads it */
	w2.fd = pb.far;		/* server writes down ... */
	r1.fd = pa.far;		/* ... client reads it */
	pthread_create(&t[0], NULL, writer, &w1);
	pthread_create(&t[1], NULL, reader, &r2);
	pthread_create(&t[2], NULL, writer, &w2);
	pthread_create(&t[3], NULL, reader, &r1);

	relay_start(&h.relay, &h.a, &h.b, mode, on_done, on_released, g_framer);
	CHECK_EQ_INT(loop_run(&h.loop), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);

	CHECK_EQ_INT(h.done, 1);
	CHECK_EQ_INT(h.released, 1);
	if (rst) {
		CHECK(h.relay.err < 0);
	} else if (g_framer) {
		/* Only the message went through; the relay still ended cleanly. */
		CHECK_EQ_INT(h.relay.err, 0);
		CHECK_EQ_INT(h.relay.dir[0].bytes, g_frame_len);
		CHECK_EQ_INT(r2.got, g_frame_len);
		CHECK_EQ_INT(h.relay.dir[1].bytes, down);
	} else {
		CHECK_EQ_INT(h.relay.err, 0);
		CHECK_EQ_INT(h.relay.dir[0].bytes, up);
		CHECK_EQ_INT(h.relay.dir[1].bytes, down);
		CHECK_EQ_INT(r2.got, up);
		CHECK_EQ_INT(r1.got, down);
	}
	CHECK_EQ_INT(r2.bad, 0);
	CHECK_EQ_INT(r1.bad, 0);
	CHECK_EQ_INT(h.bufs.used - h.loop.bufs_held, 0);
	CHECK_EQ_INT(h.pipes.used, 0);
	if (w1.fd >= 0)
		close(pa.far);
	close(pb.far);
	loop_fini(&h.loop);
	pool_fini(&h.bufs);
	pipe_pool_fini(&h.pipes);
}

static void test_buffer_both_ways(void)
{
	run_relay(RELAY_BUFFER, 32u << 20, 24u << 20, 0);
}

static void test_splice_both_ways(void)
{
	run_relay(RELAY_SPLICE, 32u << 20, 24u << 20, 0);
}

static void test_one_way_and_empty(void)
{
	run_relay(RELAY_BUFFER, 1, 0, 0);
	run_relay(RELAY_BUFFER, 0, 0, 0);
	run_relay(RELAY_SPLICE, 0, 3000000, 0);
}

static void test_reset(void)
{
	run_relay(RELAY_BUFFER, 1u << 20, 0, 1);
	run_relay(RELAY_SPLICE, 1u << 20, 0, 1);
}

/*
 * A framed client->server direction stops after the message: the server
 * sees exactly `limit` bytes even though the client sends more, and the
 * relay ends when the server's reply is done.
 */
static void test_framed(void)
{
	struct limit_frame f = { .limit = 300000 };
	struct relay_framer fr = { .fn = limit_frame, .state = &f };

	g_framer = &fr;
	g_frame_len = f.limit;
	run_relay(RELAY_SPLICE, 1u << 20, 5000, 0);	/* splice is overridden: framed */
	g_framer = NULL;
	CHECK_EQ_INT(f.limit, 0);
	CHECK(f.calls >= 1);
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
		RUN(test_buffer_both_ways);
		RUN(test_splice_both_ways);
		RUN(test_one_way_and_empty);
		RUN(test_reset);
		RUN(test_framed);
	}
	return unit_done();
}
