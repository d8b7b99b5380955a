/*
 * echod: a small epoll echo server for the benchmarks (bench/run.sh).
 *
 *   echod [-H HOST] -p PORT [-c BYTES] [-b BACKLOG] [-m echo|sink|source]
 *
 * Every byte a client sends is written back. By default a connection is
 * closed when the client closes (EOF) or fails, so the client closes first
 * and the server never holds a connection open that the client gave up.
 * With -c BYTES the server closes by itself once it has echoed that many
 * bytes (the "reply then close" style).
 *
 * The same server is the accept-and-hold peer of the idle-connection test:
 * a client that sends one byte, reads it back and stays quiet keeps its
 * connection open here, idle, for as long as it likes.
 *
 * -m sink: read and discard everything (close on EOF). -m source: wait for
 * the client's first byte ("go", so nothing is queued while a client is still
 * setting up its other streams), then send an endless stream of bytes, 128 KB
 * per send(), until the client closes or resets. Both are the far end of
 * tools/sockspipe's throughput test.
 *
 * Single-threaded on purpose: the machine has two cores shared by client,
 * proxy and server, and the server is the same for every proxy measured.
 * Prints "echod listening on HOST:PORT" once ready; stops on SIGINT/SIGTERM.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define ECHOD_BUF 4096
#define ECHOD_EVENTS 256
#define ECHOD_BULK (128 * 1024)	/* sink/source: bytes per recv()/send() */

enum echod_mode { MODE_ECHO, MODE_SINK, MODE_SOURCE };

static enum echod_mode mode = MODE_ECHO;
static char bulk[ECHOD_BULK];	/* sink: scratch; source: the bytes sent */

/* One accepted connection. Owned by the event loop; freed in conn_close(). */
struct conn {
	int fd;
	bool streaming;			/* source: "go" received, sending */
	unsigned long long echoed;	/* bytes written back so far */
	size_t pend_off;		/* unsent part of buf: [pend_off, pend_len) */
	size_t pend_len;
	char buf[ECHOD_BUF];
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void conn_close(int ep, struct conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
}

/*
 * Write what is pending. Returns 1 when all of it is out, 0 when the socket
 * is full (wait for EPOLLOUT), -1 on error.
 */
static int conn_flush(struct conn *c)
{
	while (c->pend_off < c->pend_len) {
		ssize_t n = send(c->fd, c->buf + c->pend_off,
				 c->pend_len - c->pend_off, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -1;
		}
		c->pend_off += (size_t)n;
		c->echoed += (unsigned long long)n;
	}
	c->pend_off = c->pend_len = 0;
	return 1;
}

/* sink and source. Returns false when the connection should be closed. */
static bool conn_bulk(int ep, struct conn *c, uint32_t events)
{
	if (mode == MODE_SINK || !c->streaming) {
		for (;;) {
			ssize_t n = recv(c->fd, bulk, sizeof(bulk), 0);

			if (n == 0)
				return false;
			if (n < 0) {
				if (errno == EINTR)
					continue;
				return errno == EAGAIN;
			}
			if (mode == MODE_SOURCE) {
				struct epoll_event ev = {
					.events = EPOLLOUT | EPOLLRDHUP, .data.ptr = c
				};

				c->streaming = true;
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
				break;
			}
		}
	}
	if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		return false;
	for (;;) {
		ssize_t n = send(c->fd, bulk, sizeof(bulk), MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN;
		}
	}
}

/* Returns false when the connection should be closed. */
static bool conn_service(int ep, struct conn *c, unsigned long long close_after)
{
	struct epoll_event ev = { .data.ptr = c };
	int r;

	if (c->pend_len) {
		r = conn_flush(c);
		if (r < 0)
			return false;
		if (r == 0)
			return true;	/* still waiting for EPOLLOUT */
		ev.events = EPOLLIN | EPOLLRDHUP;
		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
	}
	for (;;) {
		ssize_t n = recv(c->fd, c->buf, sizeof(c->buf), 0);

		if (n == 0)
			return false;	/* client closed: we close too */
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN;
		}
		c->pend_off = 0;
		c->pend_len = (size_t)n;
		r = conn_flush(c);
		if (r < 0)
			return false;
		if (close_after && c->echoed >= close_after)
			return false;
		if (r == 0) {
			ev.events = EPOLLOUT;
			epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
			return true;
		}
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: echod [-H HOST] -p PORT [-c BYTES] [-b BACKLOG] "
		"[-m echo|sink|source]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1";
	unsigned long long close_after = 0;
	int port = 0, backlog = 4096, opt, one = 1;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct epoll_event ev, evs[ECHOD_EVENTS];
	struct sigaction sact = { .sa_handler = on_signal };
	int lfd, ep;

	while ((opt = getopt(argc, argv, "H:p:c:b:m:")) != -1) {
		switch (opt) {
		case 'm':
			if (!strcmp(optarg, "echo"))
				mode = MODE_ECHO;
			else if (!strcmp(optarg, "sink"))
				mode = MODE_SINK;
			else if (!strcmp(optarg, "source"))
				mode = MODE_SOURCE;
			else
				usage();
			break;
		case 'H': host = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'c': close_after = strtoull(optarg, NULL, 10); break;
		case 'b': backlog = atoi(optarg); break;
		default: usage();
		}
	}
	if (port <= 0 || port > 65535)
		usage();
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "echod: bad IPv4 address '%s'\n", host);
		return 2;
	}
	sa.sin_port = htons((uint16_t)port);
	raise_nofile();
	sigaction(SIGINT, &sact, NULL);
	sigaction(SIGTERM, &sact, NULL);
	signal(SIGPIPE, SIG_IGN);

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0) {
		perror("echod: socket");
		return 1;
	}
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(lfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, backlog) < 0) {
		fprintf(stderr, "echod: %s:%d: %s\n", host, port, strerror(errno));
		return 1;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0) {
		perror("echod: epoll_create1");
		return 1;
	}
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;	/* NULL marks the listener */
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	memset(bulk, 'x', sizeof(bulk));
	printf("echod listening on %s:%d\n", host, port);
	fflush(stdout);

	while (!stop_requested) {
		int n = epoll_wait(ep, evs, ECHOD_EVENTS, 500);

		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if (c) {
				bool keep = mode == MODE_ECHO ?
					conn_service(ep, c, close_after) :
					conn_bulk(ep, c, evs[i].events);

				if (!keep)
					conn_close(ep, c);
				continue;
			}
			for (;;) {
				int fd = accept4(lfd, NULL, NULL,
						 SOCK_NONBLOCK | SOCK_CLOEXEC);

				if (fd < 0) {
					if (errno == EINTR || errno == ECONNABORTED)
						continue;
					if (errno == EMFILE || errno == ENFILE)
						fprintf(stderr, "echod: accept: %s\n",
							strerror(errno));
					break;
				}
				c = malloc(sizeof(*c));
				if (!c) {
					close(fd);
					continue;
				}
				c->fd = fd;
				c->streaming = false;
				c->echoed = 0;
				c->pend_off = c->pend_len = 0;
				ev.events = EPOLLIN | EPOLLRDHUP;
				ev.data.ptr = c;
				epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
			}
		}
	}
	return 0;
}
