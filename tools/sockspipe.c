/*
 * sockspipe: bulk throughput through a SOCKS5 or HTTP CONNECT proxy (or a
 * plain TCP forwarder, or direct), for the benchmarks (bench/run.sh). iperf3
 * cannot talk to a proxy; this is the part of it the benchmark needs.
 *
 *   sockspipe [-H HOST] -p PORT [-P STREAMS] [-d SECONDS] [-m recv|send]
 *             [-l BYTES] [--socks5 TARGET_IP:PORT | --http-connect TARGET_IP:PORT]
 *
 * Opens STREAMS connections (default 1) to HOST:PORT, one after the other,
 * blocking, each with its proxy handshake done the way tools/connrate does
 * it (greeting, wait for the method; CONNECT, wait for the reply; or the
 * HTTP CONNECT head read to its end). Then, with all streams up:
 *
 *   -m recv (default)  the target is "echod -m source": each stream sends one
 *       "go" byte and the clock starts; bytes received are counted for
 *       SECONDS (default 5). The client is the receiver, so the count is
 *       exact, like iperf3's receiver figure.
 *   -m send  the target is "echod -m sink": the streams send for SECONDS;
 *       bytes handed to the kernel are counted (what is still queued in
 *       socket buffers at the end, a few MB, is counted too).
 *
 * One epoll loop, BYTES (default 128 KB, iperf3's default) per recv()/send(),
 * data copied to and from user space and Nagle left on, as iperf3 does.
 * Prints one line:
 *
 *   sockspipe streams=N secs=S bytes=B gbps=G mode=recv
 *
 * and exits 0; on a failed handshake or a stream that ends early it prints
 * the reason to stderr and exits 1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SP_MAX_STREAMS 128
#define SP_MAX_BUF (4 * 1024 * 1024)

enum proxy_mode { MODE_PLAIN, MODE_SOCKS5, MODE_HTTP };

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int fail(const char *what, const char *detail)
{
	fprintf(stderr, "sockspipe: %s: %s\n", what, detail);
	return -1;
}

static int send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads exactly len bytes. Returns 0, or -1 (errno 0 on EOF). */
static int recv_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = recv(fd, p, len, 0);

		if (n == 0) {
			errno = 0;
			return -1;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static const char *why(void)
{
	return errno ? strerror(errno) : "proxy closed the connection";
}

static int socks5_handshake(int fd, struct in_addr ip, int port)
{
	unsigned char req[10] = { 5, 1, 0, 1 }, a[4 + 255 + 2];
	size_t rest;

	if (send_all(fd, "\x05\x01\x00", 3) < 0)
		return fail("socks5 greeting", strerror(errno));
	if (recv_all(fd, a, 2) < 0)
		return fail("socks5 method reply", why());
	if (a[0] != 5 || a[1] != 0)
		return fail("socks5 method reply", "not 05 00");
	memcpy(req + 4, &ip, 4);
	req[8] = (unsigned char)(port >> 8);
	req[9] = (unsigned char)(port & 0xff);
	if (send_all(fd, req, sizeof(req)) < 0)
		return fail("socks5 request", strerror(errno));
	if (recv_all(fd, a, 5) < 0)
		return fail("socks5 reply", why());
	if (a[0] != 5 || a[1] != 0) {
		char d[32];

		snprintf(d, sizeof(d), "VER %u REP %u", a[0], a[1]);
		return fail("socks5 reply", d);
	}
	switch (a[3]) {
	case 1: rest = 4 - 1 + 2; break;
	case 3: rest = (size_t)a[4] + 2; break;
	case 4: rest = 16 - 1 + 2; break;
	default: return fail("socks5 reply", "bad ATYP");
	}
	if (recv_all(fd, a + 5, rest) < 0)
		return fail("socks5 reply", why());
	return 0;
}

static int http_handshake(int fd, const char *ip, int port)
{
	char req[256], head[1024];
	size_t off = 0;
	int n = snprintf(req, sizeof(req), "CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n\r\n",
			 ip, port, ip, port);

	if (send_all(fd, req, (size_t)n) < 0)
		return fail("http request", strerror(errno));
	/* byte by byte: what follows the head is tunnel data, not ours to eat */
	while (off < 4 || memcmp(head + off - 4, "\r\n\r\n", 4) != 0) {
		if (off == sizeof(head))
			return fail("http response", "head longer than 1 KB");
		if (recv_all(fd, head + off, 1) < 0)
			return fail("http response", why());
		off++;
	}
	if (off < 12 || memcmp(head, "HTTP/1.", 7) != 0 || head[9] != '2') {
		char *cr = memchr(head, '\r', off);

		*cr = '\0';
		return fail("http response", head);
	}
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: sockspipe [-H HOST] -p PORT [-P STREAMS] [-d SECONDS] "
		"[-m recv|send] [-l BYTES]\n"
		"                 [--socks5 TARGET_IP:PORT | --http-connect TARGET_IP:PORT]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socks5", required_argument, NULL, 'S' },
		{ "http-connect", required_argument, NULL, 'C' },
		{ 0, 0, 0, 0 },
	};
	const char *host = "127.0.0.1", *target = NULL;
	enum proxy_mode pmode = MODE_PLAIN;
	int port = 0, nstreams = 1, opt, tport = 0, ep;
	bool sending = false;
	double secs = 5.0;
	size_t buflen = 128 * 1024;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct in_addr tip = { 0 };
	char tipstr[64] = "";
	int fds[SP_MAX_STREAMS];
	unsigned long long bytes = 0;
	uint64_t t0, t_end, t1;
	char *buf;

	while ((opt = getopt_long(argc, argv, "H:p:P:d:m:l:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'H': host = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'P': nstreams = atoi(optarg); break;
		case 'd': secs = atof(optarg); break;
		case 'l': buflen = (size_t)atol(optarg); break;
		case 'm':
			if (!strcmp(optarg, "recv"))
				sending = false;
			else if (!strcmp(optarg, "send"))
				sending = true;
			else
				usage();
			break;
		case 'S': pmode = MODE_SOCKS5; target = optarg; break;
		case 'C': pmode = MODE_HTTP; target = optarg; break;
		default: usage();
		}
	}
	if (port <= 0 || port > 65535 || nstreams < 1 || nstreams > SP_MAX_STREAMS ||
	    secs <= 0 || buflen < 1 || buflen > SP_MAX_BUF)
		usage();
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "sockspipe: bad IPv4 address '%s'\n", host);
		return 2;
	}
	sa.sin_port = htons((uint16_t)port);
	if (pmode != MODE_PLAIN) {
		const char *colon = strrchr(target, ':');

		tport = colon ? atoi(colon + 1) : 0;
		if (!colon || (size_t)(colon - target) >= sizeof(tipstr) || tport <= 0 ||
		    tport > 65535) {
			fprintf(stderr, "sockspipe: proxy target: expected IPv4:PORT\n");
			return 2;
		}
		memcpy(tipstr, target, (size_t)(colon - target));
		tipstr[colon - target] = '\0';
		if (inet_pton(AF_INET, tipstr, &tip) != 1) {
			fprintf(stderr, "sockspipe: bad IPv4 address '%s'\n", tipstr);
			return 2;
		}
	}
	buf = malloc(buflen);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (!buf || ep < 0) {
		perror("sockspipe: setup");
		return 1;
	}
	memset(buf, 'y', buflen);

	for (int i = 0; i < nstreams; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r = 0;

		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			fail("connect", strerror(errno));
			return 1;
		}
		if (pmode == MODE_SOCKS5)
			r = socks5_handshake(fd, tip, tport);
		else if (pmode == MODE_HTTP)
			r = http_handshake(fd, tipstr, tport);
		if (r < 0)
			return 1;
		fds[i] = fd;
	}
	/* all up: go */
	for (int i = 0; i < nstreams; i++) {
		struct epoll_event ev = { .events = sending ? EPOLLOUT : EPOLLIN, .data.fd = fds[i] };
		int fl;

		if (!sending && send_all(fds[i], "g", 1) < 0) {
			fail("go", strerror(errno));
			return 1;
		}
		fl = fcntl(fds[i], F_GETFL);
		if (fl < 0 || fcntl(fds[i], F_SETFL, fl | O_NONBLOCK) < 0 ||
		    epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) < 0) {
			perror("sockspipe: epoll");
			return 1;
		}
	}
	t0 = now_ns();
	t_end = t0 + (uint64_t)(secs * 1e9);
	for (;;) {
		struct epoll_event evs[SP_MAX_STREAMS];
		uint64_t t = now_ns();
		int n, ms;

		if (t >= t_end)
			break;
		ms = (int)((t_end - t) / 1000000) + 1;
		n = epoll_wait(ep, evs, SP_MAX_STREAMS, ms > 100 ? 100 : ms);
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			ssize_t r = sending ? send(fd, buf, buflen, MSG_NOSIGNAL) :
					      recv(fd, buf, buflen, 0);

			if (r > 0) {
				bytes += (unsigned long long)r;
				continue;
			}
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			fail(sending ? "send" : "recv",
			     r == 0 ? "stream ended early" : strerror(errno));
			return 1;
		}
	}
	t1 = now_ns();
	for (int i = 0; i < nstreams; i++)
		close(fds[i]);
	double el = (double)(t1 - t0) / 1e9;

	printf("sockspipe streams=%d secs=%.3f bytes=%llu gbps=%.4f mode=%s\n", nstreams, el,
	       bytes, (double)bytes * 8 / el / 1e9, sending ? "send" : "recv");
	return 0;
}
