/*
 * connrate: short-connection load generator for the benchmarks (bench/run.sh).
 *
 *   connrate [-H HOST] -p PORT [-c CONCURRENCY] [-d SECONDS] [-s BYTES] [-t THREADS]
 *            [--socks5 TARGET_IP:PORT | --http-connect TARGET_IP:PORT]
 *
 * Keeps CONCURRENCY connections in flight (split over THREADS epoll loops,
 * default 1). Each one does: non-blocking connect -> send a BYTES-long request
 * (default 64) -> read BYTES back -> close (the client closes first) -> start
 * the next one. After SECONDS (default 5) no new connection is started, the
 * ones in flight are abandoned and one line is printed:
 *
 *   connrate conns=N secs=S rate=R errors=E mean_us=.. p50_us=.. p90_us=.. p99_us=..
 *            p999_us=.. max_us=.. cpu_s=..
 *
 * cpu_s is connrate's own CPU time (user + system), the cost of the client
 * side of each connection on this machine: the floor for a proxy, which
 * pays for one client side (its upstream connection) and one server side.
 * conns counts only complete exchanges (reply fully read); latency is from
 * the connect() call to the last reply byte. errors counts refused, reset,
 * short and timed-out (> 5 s) connections; the first error's text goes to
 * stderr. Exit status 0, or 1 when no connection completed.
 *
 * Through a proxy (HOST:PORT is the proxy, TARGET an echo server behind it),
 * the request/reply exchange follows a handshake, each step waiting for the
 * proxy's answer (no pipelining; a correct, patient client):
 *
 *   --socks5 (-x socks5 -T ..)  greeting 05 01 00 -> method reply 05 00 ->
 *       CONNECT 05 01 00 01 IPv4 PORT -> reply 05 00 00 ATYP BND.ADDR BND.PORT
 *       (any ATYP, REP must be 0) -> request/reply as above
 *   --http-connect (-x http -T ..)  "CONNECT IP:PORT HTTP/1.1", Host header ->
 *       response head read to its blank line, status must be 2xx ->
 *       request/reply as above
 *
 * Latency still runs from connect() to the last reply byte, handshake
 * included; errors name the step that failed (e.g. "socks5 reply: REP 2").
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
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

enum proxy_mode { MODE_PLAIN, MODE_SOCKS5, MODE_HTTP };

/* Where a connection is; each step is "send something, then read the answer". */
enum phase {
	PH_CONNECTING,		/* waiting for EPOLLOUT */
	PH_SEND,		/* writing s->out (then the phase in s->after_send) */
	PH_S5_METHOD,		/* reading the 2-byte method selection */
	PH_S5_REPLY,		/* reading the CONNECT reply (5 bytes, then the rest) */
	PH_HTTP_HEAD,		/* reading the CONNECT response head */
	PH_ECHO,		/* reading the payload's echo */
};

#define CONNRATE_HS_MAX 1024	/* handshake answers we read (HTTP head: at most this) */

/* One connection slot; reused for the next connection when this one ends. */
struct slot {
	int fd;			/* -1 when idle */
	enum phase phase;
	enum phase after_send;	/* read phase that follows PH_SEND */
	bool want_out;		/* registered for EPOLLOUT (else EPOLLIN) */
	const char *out;	/* PH_SEND: what to write */
	size_t out_len;
	size_t off;		/* bytes sent (PH_SEND) or received (read phases) */
	size_t need;		/* read phases: bytes wanted in total */
	uint64_t t_start;	/* ns, at connect() */
	char in[CONNRATE_HS_MAX];	/* handshake answer so far */
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
	struct sockaddr_in target;	/* what we connect to (the proxy, if any) */
	enum proxy_mode mode;
	size_t msg;
	uint64_t t_end;		/* ns, CLOCK_MONOTONIC */
	char s5_greeting[3];
	char s5_request[10];
	char http_request[256];
	size_t http_request_len;
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

/* A protocol error: the proxy answered, but not what a client can accept. */
static void note_proto(struct worker *w, const char *what, const char *detail)
{
	if (!w->errors)
		snprintf(w->first_error, sizeof(w->first_error), "%s: %s", what, detail);
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
	s->phase = PH_CONNECTING;
	s->want_out = true;
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

static void want(struct worker *w, struct slot *s, bool out)
{
	struct epoll_event ev = { .events = out ? EPOLLOUT : EPOLLIN, .data.ptr = s };

	if (s->want_out == out)
		return;
	s->want_out = out;
	epoll_ctl(w->ep, EPOLL_CTL_MOD, s->fd, &ev);
}

/* Starts writing buf; the answer is then read in phase next. */
static void start_send(struct slot *s, const char *buf, size_t len, enum phase next)
{
	s->phase = PH_SEND;
	s->out = buf;
	s->out_len = len;
	s->off = 0;
	s->after_send = next;
}

static const char *phase_name(enum phase p)
{
	switch (p) {
	case PH_CONNECTING: return "connect";
	case PH_SEND: return "send";
	case PH_S5_METHOD: return "socks5 method reply";
	case PH_S5_REPLY: return "socks5 reply";
	case PH_HTTP_HEAD: return "http response";
	case PH_ECHO: return "recv";
	}
	return "?";
}

/*
 * A handshake answer is complete in s->in[0..s->off). Checks it and moves on
 * to the next send. Returns false (after noting the error) when it is bad.
 */
static bool answer_done(struct worker *w, struct slot *s)
{
	const unsigned char *a = (const unsigned char *)s->in;
	char detail[64];

	switch (s->phase) {
	case PH_S5_METHOD:
		if (a[0] != 5 || a[1] != 0) {
			snprintf(detail, sizeof(detail), "%02x %02x (want 05 00)", a[0], a[1]);
			note_proto(w, "socks5 method reply", detail);
			return false;
		}
		start_send(s, cfg.s5_request, sizeof(cfg.s5_request), PH_S5_REPLY);
		s->need = 5;	/* VER REP RSV ATYP and the first address byte */
		return true;
	case PH_S5_REPLY:
		if (a[0] != 5 || a[1] != 0) {
			snprintf(detail, sizeof(detail), "VER %u REP %u", a[0], a[1]);
			note_proto(w, "socks5 reply", detail);
			return false;
		}
		break;
	default:
		break;
	}
	start_send(s, cfg.req, cfg.msg, PH_ECHO);
	s->need = cfg.msg;
	return true;
}

/* After the 5 first bytes of a SOCKS5 reply: its full length, or 0 if bad. */
static size_t s5_reply_len(const unsigned char *a)
{
	switch (a[3]) {
	case 1: return 4 + 4 + 2;
	case 3: return 4 + 1 + (size_t)a[4] + 2;
	case 4: return 4 + 16 + 2;
	}
	return 0;
}

/* HTTP: the head is complete once it holds a blank line. */
static bool http_head_check(struct worker *w, struct slot *s, size_t *head_len)
{
	char *end = memmem(s->in, s->off, "\r\n\r\n", 4);

	if (!end) {
		if (s->off == sizeof(s->in)) {
			note_proto(w, "http response", "head longer than 1 KB");
			return false;
		}
		*head_len = 0;
		return true;
	}
	*head_len = (size_t)(end - s->in) + 4;
	if (s->off < 12 || memcmp(s->in, "HTTP/1.", 7) != 0 || s->in[9] != '2') {
		char detail[64];
		const char *cr = memchr(s->in, '\r', s->off);
		size_t n = cr ? (size_t)(cr - s->in) : s->off;

		snprintf(detail, sizeof(detail), "%.*s", (int)(n < 40 ? n : 40), s->in);
		note_proto(w, "http response", detail);
		return false;
	}
	return true;
}

/* Advances slot s after an event. Returns true when the connection is over. */
static bool slot_step(struct worker *w, struct slot *s, uint32_t events)
{
	char buf[CONNRATE_MAX_MSG];

	(void)events;
	if (s->phase == PH_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);

		getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			note_error(w, "connect", err);
			return true;
		}
		switch (cfg.mode) {
		case MODE_PLAIN:
			start_send(s, cfg.req, cfg.msg, PH_ECHO);
			s->need = cfg.msg;
			break;
		case MODE_SOCKS5:
			start_send(s, cfg.s5_greeting, sizeof(cfg.s5_greeting), PH_S5_METHOD);
			s->need = 2;
			break;
		case MODE_HTTP:
			start_send(s, cfg.http_request, cfg.http_request_len, PH_HTTP_HEAD);
			s->need = sizeof(s->in);
			break;
		}
	}
	for (;;) {
		if (s->phase == PH_SEND) {
			while (s->off < s->out_len) {
				ssize_t n = send(s->fd, s->out + s->off, s->out_len - s->off,
						 MSG_NOSIGNAL);

				if (n < 0) {
					if (errno == EINTR)
						continue;
					if (errno == EAGAIN) {
						want(w, s, true);
						return false;
					}
					note_error(w, "send", errno);
					return true;
				}
				s->off += (size_t)n;
			}
			s->phase = s->after_send;
			s->off = 0;
			/* the answer cannot be there yet; wait for EPOLLIN */
			want(w, s, false);
			return false;
		}
		if (s->phase == PH_ECHO) {
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
		/* A handshake answer: read exactly what is still missing. */
		ssize_t n = recv(s->fd, s->in + s->off, s->need - s->off, 0);

		if (n == 0) {
			note_proto(w, phase_name(s->phase), "proxy closed the connection");
			return true;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return false;
			note_error(w, phase_name(s->phase), errno);
			return true;
		}
		s->off += (size_t)n;
		if (s->phase == PH_HTTP_HEAD) {
			size_t head = 0;

			if (!http_head_check(w, s, &head))
				return true;
			if (!head)
				continue;
			/* the echo server says nothing before it is asked */
			if (s->off > head) {
				note_proto(w, "http response", "tunnel data before the request");
				return true;
			}
			if (!answer_done(w, s))
				return true;
			continue;
		}
		if (s->off < s->need)
			continue;
		if (s->phase == PH_S5_REPLY && s->need == 5) {
			s->need = s5_reply_len((const unsigned char *)s->in);
			if (!s->need) {
				note_proto(w, "socks5 reply", "bad ATYP");
				return true;
			}
			if (s->off < s->need)
				continue;
		}
		if (!answer_done(w, s))
			return true;
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
		"[-s BYTES] [-t THREADS]\n"
		"                [--socks5 TARGET_IP:PORT | --http-connect TARGET_IP:PORT]\n");
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

	static const struct option longopts[] = {
		{ "socks5", required_argument, NULL, 'S' },
		{ "http-connect", required_argument, NULL, 'C' },
		{ 0, 0, 0, 0 },
	};
	const char *target = NULL;

	cfg.msg = 64;
	while ((opt = getopt_long(argc, argv, "H:p:c:d:s:t:x:T:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'S': cfg.mode = MODE_SOCKS5; target = optarg; break;
		case 'C': cfg.mode = MODE_HTTP; target = optarg; break;
		case 'x':
			if (!strcmp(optarg, "socks5"))
				cfg.mode = MODE_SOCKS5;
			else if (!strcmp(optarg, "http"))
				cfg.mode = MODE_HTTP;
			else
				usage();
			break;
		case 'T': target = optarg; break;
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
	if (cfg.mode != MODE_PLAIN) {
		char ip[64];
		const char *colon = target ? strrchr(target, ':') : NULL;
		struct in_addr ta;
		int tport = colon ? atoi(colon + 1) : 0;

		if (!colon || (size_t)(colon - target) >= sizeof(ip) || tport <= 0 || tport > 65535) {
			fprintf(stderr, "connrate: proxy target: expected IPv4:PORT\n");
			return 2;
		}
		memcpy(ip, target, (size_t)(colon - target));
		ip[colon - target] = '\0';
		if (inet_pton(AF_INET, ip, &ta) != 1) {
			fprintf(stderr, "connrate: bad IPv4 address '%s'\n", ip);
			return 2;
		}
		memcpy(cfg.s5_greeting, "\x05\x01\x00", 3);
		memcpy(cfg.s5_request, "\x05\x01\x00\x01", 4);
		memcpy(cfg.s5_request + 4, &ta, 4);
		cfg.s5_request[8] = (char)(tport >> 8);
		cfg.s5_request[9] = (char)(tport & 0xff);
		cfg.http_request_len = (size_t)snprintf(cfg.http_request, sizeof(cfg.http_request),
			"CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n\r\n", ip, tport, ip, tport);
	} else if (target) {
		usage();
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

	struct rusage ru;

	for (size_t i = 0; i < total; i++)
		sum += all[i];
	getrusage(RUSAGE_SELF, &ru);
	printf("connrate conns=%zu secs=%.3f rate=%.1f errors=%llu mean_us=%.0f p50_us=%u "
	       "p90_us=%u p99_us=%u p999_us=%u max_us=%u cpu_s=%.3f\n", total, el, (double)total / el,
	       errors, total ? sum / (double)total : 0.0, pct(all, total, 50), pct(all, total, 90), pct(all, total, 99),
	       pct(all, total, 99.9), total ? all[total - 1] : 0,
	       (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	return total ? 0 : 1;
}
