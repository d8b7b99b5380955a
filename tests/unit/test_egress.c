/*
 * The direct egress with a real loop and resolver: happy-eyeballs ordering,
 * a name whose first address refuses (localhost: ::1 then 127.0.0.1 when
 * the server listens on IPv4 only), a refused literal, a missing name, and
 * cancelling mid-dial, and a dial that finds no fd for its socket
 * (EMFILE): it waits for one, then connects, or gives up with -EMFILE at
 * the connect timeout. Loopback only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/sock.h"
#include "dns/dns.h"
#include "egress/direct.h"
#include "unit.h"

static void test_interleave(void)
{
	union sockaddr_any a[6];
	const char *lit[] = { "::1", "::2", "::3", "10.0.0.1", "10.0.0.2", "::4" };
	int want[] = { AF_INET6, AF_INET, AF_INET6, AF_INET, AF_INET6, AF_INET6 };
	char buf[ADDR_STRLEN];

	for (int i = 0; i < 6; i++)
		CHECK(addr_from_literal(lit[i], 80, &a[i]));
	dial_interleave(a, 6);
	for (int i = 0; i < 6; i++)
		CHECK_EQ_INT(a[i].sa.sa_family, want[i]);
	/* Order within a family is kept. */
	CHECK_STR(addr_format(&a[0], buf, sizeof(buf)), "[::1]:80");
	CHECK_STR(addr_format(&a[2], buf, sizeof(buf)), "[::2]:80");
	CHECK_STR(addr_format(&a[1], buf, sizeof(buf)), "10.0.0.1:80");
}

struct run {
	struct loop loop;
	struct pool bufs;
	struct pipe_pool pipes;
	struct dns *dns;
	struct dial dial;
	struct io io;
	int calls, err;
};

static void on_dialed(struct dial *d, int err)
{
	struct run *r = (struct run *)((char *)d - offsetof(struct run, dial));

	r->calls++;
	r->err = err;
	loop_stop(&r->loop);
}

static void run_init(struct run *r)
{
	memset(r, 0, sizeof(*r));
	pool_init(&r->bufs, 4096, 1);
	pipe_pool_init(&r->pipes, 0, 1);
	CHECK_EQ_INT(loop_init(&r->loop, &r->bufs, &r->pipes), 0);
	r->dns = dns_new(&r->loop, NULL, 16);
	CHECK(r->dns != NULL);
	io_init(&r->io);
}

static void run_fini(struct run *r)
{
	io_close(&r->io);
	loop_drain(&r->loop);
	dns_free(r->dns);
	loop_fini(&r->loop);
	pool_fini(&r->bufs);
	pipe_pool_fini(&r->pipes);
}

static int listen_v4(uint16_t *port)
{
	union sockaddr_any a;
	int fd;

	addr_from_literal("127.0.0.1", 0, &a);
	fd = sock_listen_tcp(&a, false, 16);
	if (fd >= 0 && sock_local_addr(fd, &a) == 0)
		*port = addr_port(&a);
	return fd;
}

static void test_name_falls_back(void)
{
	struct run r;
	struct target t = { .host = "localhost" };
	uint16_t port = 0;
	int lfd = listen_v4(&port);
	char buf[ADDR_STRLEN];

	CHECK(lfd >= 0);
	run_init(&r);
	t.port = port;
	dial_start(&r.dial, &r.loop, r.dns, &r.io, &t, 2000, 250, on_dialed);
	CHECK_EQ_INT(r.calls, 0);	/* never from inside dial_start */
	loop_run(&r.loop);
	CHECK_EQ_INT(r.calls, 1);
	CHECK_EQ_INT(r.err, 0);
	CHECK(strncmp(addr_format(&r.dial.peer, buf, sizeof(buf)), "127.0.0.1:", 10) == 0);
	CHECK(io_is_open(&r.io));
	run_fini(&r);
	close(lfd);
}

static void test_refused_literal(void)
{
	struct run r;
	struct target t = { 0 };
	uint16_t port = 0;
	int lfd = listen_v4(&port);

	close(lfd);		/* nobody listens there now */
	run_init(&r);
	addr_from_literal("127.0.0.1", port, &t.addr);
	t.port = port;
	dial_start(&r.dial, &r.loop, r.dns, &r.io, &t, 2000, 250, on_dialed);
	loop_run(&r.loop);
	CHECK_EQ_INT(r.calls, 1);
	CHECK_EQ_INT(r.err, -ECONNREFUSED);
	run_fini(&r);
}

static void test_missing_name(void)
{
	struct run r;
	struct target t = { .host = "no-such-host.invalid", .port = 80 };

	run_init(&r);
	dial_start(&r.dial, &r.loop, r.dns, &r.io, &t, 2000, 250, on_dialed);
	loop_run(&r.loop);
	CHECK_EQ_INT(r.calls, 1);
	CHECK(r.err == -ENOENT || r.err == -EAGAIN || r.err == -ETIMEDOUT);
	run_fini(&r);
}

static void on_cancel_timer(struct timer *t);
static struct run *g_run;

static void on_cancel_timer(struct timer *t)
{
	(void)t;
	dial_cancel(&g_run->dial);
	io_close(&g_run->io);
	loop_stop(&g_run->loop);
}

static void test_cancel(void)
{
	struct run r;
	struct target t = { .host = "localhost" };
	struct timer stop;
	uint16_t port = 0;
	int lfd = listen_v4(&port);

	run_init(&r);
	g_run = &r;
	t.port = port;
	timer_init(&stop, on_cancel_timer);
	dial_start(&r.dial, &r.loop, r.dns, &r.io, &t, 2000, 250, on_dialed);
	loop_timer_arm(&r.loop, &stop, 0);	/* cancel before anything settles */
	loop_run(&r.loop);
	loop_drain(&r.loop);
	/* After a cancel: no result, only the -ECANCELED release if it was busy. */
	CHECK(r.calls == 0 || r.err == -ECANCELED);
	CHECK(!dial_is_busy(&r.dial));
	run_fini(&r);
	close(lfd);
}

static int g_spare = -1;

static void on_free_fd(struct timer *t)
{
	(void)t;
	close(g_spare);
	g_spare = -1;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Lower the soft fd limit so that no new fd can be made (the lowest free
 * one is at the limit); *spare is an fd below it whose close frees one.
 */
static void exhaust_fds(struct rlimit *saved, int *spare)
{
	struct rlimit lim;
	int next;

	CHECK_EQ_INT(getrlimit(RLIMIT_NOFILE, saved), 0);
	*spare = dup(0);
	CHECK(*spare >= 0);
	next = dup(0);
	CHECK(next > *spare);
	close(next);		/* the lowest free fd is next now */
	lim = *saved;
	lim.rlim_cur = (rlim_t)next;
	CHECK_EQ_INT(setrlimit(RLIMIT_NOFILE, &lim), 0);
	CHECK(dup(0) < 0 && errno == EMFILE);
}

static void on_guard(struct timer *t)
{
	(void)t;
	dial_cancel(&g_run->dial);	/* a hang: stop, the checks fail */
	loop_stop(&g_run->loop);
}

/*
 * Dial t (on r, fresh from run_init or reset) with no fd to be had
 * (exhaust_fds). When give_back, an fd is freed after 60 ms; a guard ends
 * the loop after 3 s, so a hang fails the checks instead of the run. The
 * fd limit is restored and the spare closed before it returns the ms the
 * dial took.
 */
static uint64_t dial_exhausted(struct run *r, const struct target *t, uint32_t timeout_ms,
			       bool give_back)
{
	struct rlimit saved;
	struct timer free_fd, guard;
	uint64_t t0;

	g_run = r;
	exhaust_fds(&saved, &g_spare);
	timer_init(&free_fd, on_free_fd);
	timer_init(&guard, on_guard);
	if (give_back)
		loop_timer_arm(&r->loop, &free_fd, 60);
	loop_timer_arm(&r->loop, &guard, 3000);
	t0 = now_ms();
	dial_start(&r->dial, &r->loop, r->dns, &r->io, t, timeout_ms, 250, on_dialed);
	loop_run(&r->loop);
	t0 = now_ms() - t0;
	CHECK_EQ_INT(setrlimit(RLIMIT_NOFILE, &saved), 0);
	loop_timer_cancel(&r->loop, &guard);
	loop_timer_cancel(&r->loop, &free_fd);
	if (give_back)
		CHECK_EQ_INT(g_spare, -1);	/* it was freed, and the dial then ended */
	if (g_spare >= 0)
		close(g_spare);
	g_spare = -1;
	return t0;
}

/*
 * A literal target: the dial waits for an fd and connects once one is
 * freed (a 2 s timeout), or gives up with -EMFILE at its 100 ms timeout.
 */
static void literal_case(bool give_back)
{
	struct run r;
	struct target t = { 0 };
	uint16_t port = 0;
	int lfd = listen_v4(&port);
	uint64_t took;

	CHECK(lfd >= 0);
	run_init(&r);
	addr_from_literal("127.0.0.1", port, &t.addr);
	t.port = port;
	took = dial_exhausted(&r, &t, give_back ? 2000 : 100, give_back);
	CHECK_EQ_INT(r.calls, 1);
	if (give_back) {
		CHECK_EQ_INT(r.err, 0);		/* it waited for the fd instead of failing */
		CHECK(took >= 50);
	} else {
		CHECK_EQ_INT(r.err, -EMFILE);	/* after the connect timeout's worth of waits */
		CHECK(took >= 80);
	}
	CHECK(io_is_open(&r.io) == give_back);
	loop_drain(&r.loop);
	run_fini(&r);
	close(lfd);
}

static void test_fd_wait_then_connect(void)
{
	literal_case(true);
}

static void test_fd_wait_gives_up(void)
{
	literal_case(false);
}

/*
 * A DNS server of two answers, on a thread: every A query for any name
 * gets 127.0.0.2 (where nobody listens) then 127.0.0.1; AAAA gets none.
 * It serves until stop is set (polling every 50 ms).
 */
struct fake_dns {
	pthread_t th;
	int fd;
	uint16_t port;
	volatile bool stop;
};

static void *fake_dns_serve(void *arg)
{
	struct fake_dns *f = arg;
	uint8_t q[512], a[600];

	while (!f->stop) {
		struct sockaddr_storage from;
		socklen_t flen = sizeof(from);
		struct pollfd pfd = { .fd = f->fd, .events = POLLIN };
		ssize_t n;
		size_t qend = 12, len;
		uint16_t qtype;

		if (poll(&pfd, 1, 50) <= 0)
			continue;
		n = recvfrom(f->fd, q, sizeof(q), 0, (struct sockaddr *)&from, &flen);
		if (n < 17)
			continue;
		while (qend < (size_t)n && q[qend])	/* the name's labels */
			qend += q[qend] + 1u;
		qend += 5;				/* its 0, QTYPE, QCLASS */
		if (qend > (size_t)n)
			continue;
		qtype = (uint16_t)(q[qend - 4] << 8 | q[qend - 3]);
		memcpy(a, q, qend);
		a[2] = 0x81;				/* response, recursion desired */
		a[3] = 0x80;				/* recursion available, NOERROR */
		a[6] = 0;
		a[7] = qtype == 1 ? 2 : 0;		/* answers */
		a[8] = a[9] = a[10] = a[11] = 0;	/* no authority, no additional */
		len = qend;
		for (int i = 0; qtype == 1 && i < 2; i++) {
			static const uint8_t rr[] = { 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0 };

			memcpy(a + len, rr, sizeof(rr));
			a[len + sizeof(rr)] = i == 0 ? 2 : 1;
			len += sizeof(rr) + 1;
		}
		(void)sendto(f->fd, a, len, 0, (struct sockaddr *)&from, flen);
	}
	return NULL;
}

static void fake_dns_start(struct fake_dns *f)
{
	union sockaddr_any a;
	socklen_t alen = sizeof(a);

	memset(f, 0, sizeof(*f));
	f->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	CHECK(f->fd >= 0);
	addr_from_literal("127.0.0.1", 0, &a);
	CHECK_EQ_INT(bind(f->fd, &a.sa, sizeof(a.sin)), 0);
	CHECK_EQ_INT(getsockname(f->fd, &a.sa, &alen), 0);
	f->port = addr_port(&a);
	CHECK_EQ_INT(pthread_create(&f->th, NULL, fake_dns_serve, f), 0);
}

static void fake_dns_stop(struct fake_dns *f)
{
	f->stop = true;
	pthread_join(f->th, NULL);
	close(f->fd);
}

/*
 * The same with a name of two addresses, so the dial races them: its
 * attempts wait for an fd too, and it ends (never hangs) when the fds do
 * not come back, or connects when one does.
 */
static void race_case(bool give_back)
{
	struct run r;
	struct target t = { .host = "two.sluice.test" };
	struct fake_dns fd;
	char server[32];
	uint16_t port = 0;
	int lfd = listen_v4(&port);

	CHECK(lfd >= 0);
	fake_dns_start(&fd);
	snprintf(server, sizeof(server), "127.0.0.1:%u", fd.port);
	run_init(&r);
	dns_free(r.dns);
	r.dns = dns_new(&r.loop, server, 16);
	CHECK(r.dns != NULL);
	t.port = port;
	/* Resolve once first: the answer is cached (60 s), so no fd is needed for it. */
	dial_start(&r.dial, &r.loop, r.dns, &r.io, &t, 2000, 250, on_dialed);
	loop_run(&r.loop);
	CHECK_EQ_INT(r.err, 0);
	CHECK_EQ_INT(r.dial.peer.sin.sin_addr.s_addr, htonl(0x7f000001));	/* the second */
	io_close(&r.io);
	loop_drain(&r.loop);
	io_init(&r.io);
	r.calls = 0;
	r.loop.stop = false;		/* on_dialed stopped it */
	dial_exhausted(&r, &t, 100, give_back);
	CHECK_EQ_INT(r.calls, 1);
	CHECK_EQ_INT(r.err, give_back ? 0 : -EMFILE);
	CHECK(io_is_open(&r.io) == give_back);
	loop_drain(&r.loop);
	run_fini(&r);
	fake_dns_stop(&fd);
	close(lfd);
}

static void test_fd_wait_race(void)
{
	race_case(false);
	race_case(true);
}

int main(void)
{
	if (dns_global_init() < 0)
		return 1;
	RUN(test_interleave);
	RUN(test_name_falls_back);
	RUN(test_refused_literal);
	RUN(test_missing_name);
	RUN(test_cancel);
	RUN(test_fd_wait_then_connect);
	RUN(test_fd_wait_gives_up);
	RUN(test_fd_wait_race);
	dns_global_fini();
	return unit_done();
}
