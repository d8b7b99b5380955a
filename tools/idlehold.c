/*
 * idlehold: open N connections through a proxy and hold them idle, for the
 * idle-memory benchmark (bench/run.sh).
 *
 *   idlehold [-H HOST] -p PORT -n N [-i INFLIGHT] [-T TIMEOUT] [-k HOLD]
 *
 * The proxy's target must be an echo server that keeps connections open
 * (tools/echod). Each connection sends one byte and waits for it to come
 * back: that proves it is established end to end (client -> proxy -> server
 * and back). At most INFLIGHT (default 256) connections are being set up at
 * once, so listen backlogs do not overflow. When all N are through it prints
 *
 *   READY n=N secs=S
 *
 * and then holds them, silent, until SIGTERM/SIGINT or HOLD seconds (default
 * 120). Before exiting it prints "DONE lost=L", L being the
 * connections the proxy or server closed while held. If not all N get
 * through within TIMEOUT seconds (default 60) it prints "FAIL ok=K errors=E
 * (first error)" and exits 1. -n 0 is allowed (prints READY at once).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
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

enum hold_state {
	HOLD_CONNECTING,	/* waiting for EPOLLOUT, then sends the byte */
	HOLD_WAITING,		/* byte sent, waiting for it to come back */
	HOLD_IDLE,		/* done: held open, watched for EOF/RST */
	HOLD_CLOSED,
};

struct hold {
	int fd;
	enum hold_state state;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void)
{
	fprintf(stderr, "usage: idlehold [-H HOST] -p PORT -n N [-i INFLIGHT] "
		"[-T TIMEOUT] [-k HOLD]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1";
	int port = 0, n = -1, inflight_max = 256, opt;
	double timeout = 60, hold_secs = 120;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct sigaction sact = { .sa_handler = on_signal };
	struct epoll_event evs[256];
	struct hold *h;
	int *retry, nretry = 0;
	struct rlimit rl;
	int ep, started = 0, inflight = 0, ok = 0, lost = 0;
	unsigned long errors = 0;
	char first_error[128] = "";
	double t0;

	while ((opt = getopt(argc, argv, "H:p:n:i:T:k:")) != -1) {
		switch (opt) {
		case 'H': host = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'n': n = atoi(optarg); break;
		case 'i': inflight_max = atoi(optarg); break;
		case 'T': timeout = atof(optarg); break;
		case 'k': hold_secs = atof(optarg); break;
		default: usage();
		}
	}
	if (port <= 0 || port > 65535 || n < 0 || inflight_max < 1)
		usage();
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "idlehold: bad IPv4 address '%s'\n", host);
		return 2;
	}
	sa.sin_port = htons((uint16_t)port);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	sigaction(SIGINT, &sact, NULL);
	sigaction(SIGTERM, &sact, NULL);
	signal(SIGPIPE, SIG_IGN);
	h = calloc((size_t)n + 1, sizeof(*h));
	retry = calloc((size_t)n + 1, sizeof(*retry));
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (!h || !retry || ep < 0) {
		perror("idlehold: setup");
		return 1;
	}

	t0 = now_s();
	while (ok < n) {
		if (stop_requested || now_s() - t0 > timeout) {
			printf("FAIL ok=%d errors=%lu %s\n", ok, errors,
			       stop_requested ? "(stopped)" :
			       first_error[0] ? first_error : "(timeout)");
			return 1;
		}
		while (inflight < inflight_max && (nretry || started < n)) {
			struct hold *c = nretry ? &h[retry[--nretry]] : &h[started++];
			struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = c };
			int one = 1;

			c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			if (c->fd < 0) {
				snprintf(first_error, sizeof(first_error), "socket: %s",
					 strerror(errno));
				printf("FAIL ok=%d errors=%lu %s\n", ok, errors + 1, first_error);
				return 1;
			}
			setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			c->state = HOLD_CONNECTING;
			if ((connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
			     errno != EINPROGRESS) ||
			    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
				if (!errors++)
					snprintf(first_error, sizeof(first_error),
						 "connect: %s", strerror(errno));
				close(c->fd);
				retry[nretry++] = (int)(c - h);
				break;	/* try again after the next wait */
			}
			inflight++;
		}
		int k = epoll_wait(ep, evs, 256, 100);
		unsigned long errors_before = errors;

		for (int i = 0; i < k; i++) {
			struct hold *c = evs[i].data.ptr;
			struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = c };
			const char *fail = NULL;
			int err = 0;
			socklen_t len = sizeof(err);
			char b;
			ssize_t r;

			switch (c->state) {
			case HOLD_CONNECTING:
				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
				if (err) {
					fail = "connect";
					break;
				}
				if (send(c->fd, "x", 1, MSG_NOSIGNAL) != 1) {
					err = errno;
					fail = "send";
					break;
				}
				c->state = HOLD_WAITING;
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
				break;
			case HOLD_WAITING:
				r = recv(c->fd, &b, 1, 0);
				if (r == 1) {
					c->state = HOLD_IDLE;
					inflight--;
					ok++;
				} else if (r == 0 || errno != EAGAIN) {
					err = r == 0 ? 0 : errno;
					fail = "recv";
				}
				break;
			case HOLD_IDLE:
			case HOLD_CLOSED:
				/* An established one was closed under us. */
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				c->state = HOLD_CLOSED;
				lost++;
				break;
			}
			if (fail) {
				/* Start this connection over later, in the same slot. */
				if (!errors++)
					snprintf(first_error, sizeof(first_error), "%s: %s",
						 fail, err ? strerror(err) : "EOF");
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				close(c->fd);
				inflight--;
				retry[nretry++] = (int)(c - h);
			}
		}
		if (errors != errors_before)
			usleep(10000);	/* refused or reset: don't hammer the proxy */
	}
	printf("READY n=%d secs=%.2f errors=%lu\n", n, now_s() - t0, errors);
	fflush(stdout);

	t0 = now_s();
	while (!stop_requested && now_s() - t0 < hold_secs) {
		int k = epoll_wait(ep, evs, 256, 100);

		for (int i = 0; i < k; i++) {
			struct hold *c = evs[i].data.ptr;

			epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
			if (c->state != HOLD_CLOSED) {
				c->state = HOLD_CLOSED;
				lost++;
			}
		}
	}
	printf("DONE lost=%d\n", lost);
	return 0;
}
