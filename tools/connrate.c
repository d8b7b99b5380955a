/*
 * connrate: short-connection load generator for the benchmarks (bench/run.sh).
 *
 *   connrate [-H HOST] -p PORT [-c CONCURRENCY] [-d SECONDS] [-s BYTES] [-t THREADS]
 *
 * Keeps CONCURRENCY connections in flight (split over THREADS epoll loops,
 * default 1). Each one does: non-blocking connect -> send a BYTES-long request
 * (default 64) -> read BYTES back -> close (the client closes first) -> start
 * the next one. After SECONDS (default 5) no new connection is started, the
 * ones in flight are abandoned and one line is printed:
 *
 *   connrate conns=N secs=S rate=R errors=E mean_us=.. p50_us=.. p90_us=.. p99_us=..
 *            p999_us=.. max_us=..
 *
 * conns counts only complete exchanges (reply fully read); latency is from
 * the connect() call to the last reply byte. errors counts refused, reset,
 * short and timed-out (> 5 s) connections; the first error's text goes to
 * stderr. Exit status 0, or 1 when no connection completed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CONNRATE_MAX_MSG 65536
#define CONNRATE_STALL_NS (5ull * 1000000000ull)

/* One connection slot; reused for the next connection when this one ends. */
struct slot {
	int fd;			/* -1 when idle */
	bool sent;		/* request fully written */
	size_t off;		/* bytes sent (before sent) or received (after) */
	uint64_t t_start;	/* ns, at connect() */
};

/* Per-thread state. Owned by its thread until joined. */
struct worker {
	pthread_t tid;
	int ep;
	int nslots;
	struct slot *slots;
	uint32_t *lat_us;	/* completed connections' latencies */
	size_t nlat, caplat;
	unsigned long long errors;
	char first_error[128];
};

struct config {
	struct sockaddr_in target;
	size_t msg;
	uint64_t t_end;		/* ns, CLOCK_MONOTONIC */
	char req[CONNRATE_MAX_MSG];
};

static struct config cfg;	/* written once in main() before threads start */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void note_error(struct worker *w, const char *what, int err)
{
	if (!w->errors)
		snprintf(w->first_error, sizeof(w->first_error), "%s: %s",
			 what, err ? strerror(err) : "short reply");
	w->errors++;
}

static void slot_end(struct worker *w, struct slot *s)
{
	if (s->fd >= 0) {
		epoll_ctl(w->ep, EPOLL_CTL_DEL, s->fd, NULL);
		close(s->fd);
	}
	s->fd = -1;
}

/* Opens the next connection in slot s. Returns 0 or -errno. */
static int slot_start(struct worker *w, struct slot *s)
{
	struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = s };
	int one = 1, fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s->fd = fd;
	s->sent = false;
	s->off = 0;
	s->t_start = now_ns();
	if (connect(fd, (struct sockaddr *)&cfg.target, sizeof(cfg.target)) < 0 &&
	    errno != EINPROGRESS) {
		int err = errno;

		close(fd);
		s->fd = -1;
		return -err;
	}
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int err = errno;

		close(fd);
		s->fd = -1;
		return -err;
	}
	return 0;
}

static void record(struct worker *w, uint64_t ns)
{
	if (w->nlat == w->caplat) {
		size_t cap = w->caplat ? w->caplat * 2 : 65536;
		uint32_t *p = realloc(w->lat_us, cap * sizeof(*p));

		if (!p)
			return;
		w->lat_us = p;
		w->caplat = cap;
	}
	w->lat_us[w->nlat++] = ns / 1000 > UINT32_MAX ? UINT32_MAX : (uint32_t)(ns / 1000);
}

/* Advances slot s after an event. Returns true when the connection is over. */
static bool slot_step(struct worker *w, struct slot *s, uint32_t events)
{
	char buf[CONNRATE_MAX_MSG];

	if (!s->sent) {
		int err = 0;
		socklen_t len = sizeof(err);

		getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			note_error(w, "connect", err);
			return true;
		}
		while (s->off < cfg.msg) {
			ssize_t n = send(s->fd, cfg.req + s->off, cfg.msg - s->off,
					 MSG_NOSIGNAL);

			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN)
					return false;
				note_error(w, "send", errno);
				return true;
			}
			s->off += (size_t)n;
		}
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = s };

		s->sent = true;
		s->off = 0;
		epoll_ctl(w->ep, EPOLL_CTL_MOD, s->fd, &ev);
		/* the reply cannot be there yet; wait for EPOLLIN */
		return false;
	}
	(void)events;
	for (;;) {
		ssize_t n = recv(s->fd, buf, sizeof(buf), 0);

		if (n == 0) {
			note_error(w, "recv", 0);
			return true;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return false;
			note_error(w, "recv", errno);
			return true;
		}
		s->off += (size_t)n;
		if (s->off >= cfg.msg) {
			record(w, now_ns() - s->t_start);
			return true;
		}
	}
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[256];
	uint64_t last_sweep = now_ns();

	for (int i = 0; i < w->nslots; i++) {
		int r = slot_start(w, &w->slots[i]);

		if (r < 0)
			note_error(w, "connect", -r);
	}
	for (;;) {
		uint64_t t = now_ns();

		if (t >= cfg.t_end)
			break;
		int ms = (int)((cfg.t_end - t) / 1000000) + 1;
		int n = epoll_wait(w->ep, evs, 256, ms > 100 ? 100 : ms);

		for (int i = 0; i < n; i++) {
			struct slot *s = evs[i].data.ptr;

			if (!slot_step(w, s, evs[i].events))
				continue;
			slot_end(w, s);
			if (now_ns() < cfg.t_end) {
				int r = slot_start(w, s);

				if (r < 0)
					note_error(w, "connect", -r);
			}
		}
		/* Restart idle slots (failed starts) and give up on stalled ones. */
		t = now_ns();
		if (t - last_sweep > 100000000ull && t < cfg.t_end) {
			last_sweep = t;
			for (int i = 0; i < w->nslots; i++) {
				struct slot *s = &w->slots[i];

				if (s->fd >= 0 && t - s->t_start > CONNRATE_STALL_NS) {
					note_error(w, "stalled", ETIMEDOUT);
					slot_end(w, s);
				}
				if (s->fd < 0) {
					int r = slot_start(w, s);

					if (r < 0)
						note_error(w, "connect", -r);
				}
			}
		}
	}
	for (int i = 0; i < w->nslots; i++)
		slot_end(w, &w->slots[i]);
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static uint32_t pct(const uint32_t *v, size_t n, double p)
{
	size_t i;

	if (!n)
		return 0;
	i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

static void usage(void)
{
	fprintf(stderr, "usage: connrate [-H HOST] -p PORT [-c CONCURRENCY] [-d SECONDS] "
		"[-s BYTES] [-t THREADS]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1";
	int port = 0, conc = 50, nthreads = 1, opt;
	double secs = 5.0;
	struct worker *ws;
	uint32_t *all;
	size_t total = 0, k = 0;
	unsigned long long errors = 0;
	uint64_t t0, t1;
	struct rlimit rl;

	cfg.msg = 64;
	while ((opt = getopt(argc, argv, "H:p:c:d:s:t:")) != -1) {
		switch (opt) {
		case 'H': host = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'c': conc = atoi(optarg); break;
		case 'd': secs = atof(optarg); break;
		case 's': cfg.msg = (size_t)atol(optarg); break;
		case 't': nthreads = atoi(optarg); break;
		default: usage();
		}
	}
	if (port <= 0 || port > 65535 || conc < 1 || nthreads < 1 || secs <= 0 ||
	    cfg.msg < 1 || cfg.msg > CONNRATE_MAX_MSG)
		usage();
	if (nthreads > conc)
		nthreads = conc;
	cfg.target.sin_family = AF_INET;
	cfg.target.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &cfg.target.sin_addr) != 1) {
		fprintf(stderr, "connrate: bad IPv4 address '%s'\n", host);
		return 2;
	}
	for (size_t i = 0; i < cfg.msg; i++)
		cfg.req[i] = (char)('a' + i % 26);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	ws = calloc((size_t)nthreads, sizeof(*ws));
	if (!ws)
		return 1;
	t0 = now_ns();
	cfg.t_end = t0 + (uint64_t)(secs * 1e9);
	for (int i = 0; i < nthreads; i++) {
		struct worker *w = &ws[i];

		w->nslots = conc / nthreads + (i < conc % nthreads);
		w->slots = calloc((size_t)w->nslots, sizeof(*w->slots));
		w->ep = epoll_create1(EPOLL_CLOEXEC);
		if (!w->slots || w->ep < 0) {
			perror("connrate: setup");
			return 1;
		}
		for (int j = 0; j < w->nslots; j++)
			w->slots[j].fd = -1;
		if (pthread_create(&w->tid, NULL, worker_run, w)) {
			fprintf(stderr, "connrate: pthread_create failed\n");
			return 1;
		}
	}
	for (int i = 0; i < nthreads; i++) {
		pthread_join(ws[i].tid, NULL);
		total += ws[i].nlat;
		errors += ws[i].errors;
	}
	t1 = now_ns();
	all = malloc((total ? total : 1) * sizeof(*all));
	if (!all)
		return 1;
	for (int i = 0; i < nthreads; i++) {
		memcpy(all + k, ws[i].lat_us, ws[i].nlat * sizeof(*all));
		k += ws[i].nlat;
		if (ws[i].errors)
			fprintf(stderr, "connrate: thread %d: %llu errors, first: %s\n",
				i, ws[i].errors, ws[i].first_error);
	}
	qsort(all, total, sizeof(*all), cmp_u32);
	double el = (double)(t1 - t0) / 1e9, sum = 0;

	for (size_t i = 0; i < total; i++)
		sum += all[i];
	printf("connrate conns=%zu secs=%.3f rate=%.1f errors=%llu mean_us=%.0f p50_us=%u "
	       "p90_us=%u p99_us=%u p999_us=%u max_us=%u\n", total, el, (double)total / el,
	       errors, total ? sum / (double)total : 0.0, pct(all, total, 50), pct(all, total, 90), pct(all, total, 99),
	       pct(all, total, 99.9), total ? all[total - 1] : 0);
	return total ? 0 : 1;
}
