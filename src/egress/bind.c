#include "egress/bind.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/sock.h"
#include "core/util.h"

/* Connections queued while we look at them: wrong peers included. */
#define BIND_BACKLOG	8

/*
 * One BIND. Owned by itself: the owner detaches with bind_cancel() or by
 * the final callback; it is freed when nothing of it is in flight.
 */
struct bind_wait {
	struct loop *loop;		/* borrowed */
	struct io *client;		/* borrowed: watched while waiting */
	struct io *out;			/* borrowed: gets the accepted peer */
	struct io lsock;		/* owned: the listening socket */
	struct io_req acc;		/* IO_ACCEPT on lsock */
	struct io_req cpoll;		/* IO_POLL_IN on *client */
	struct timer deadline;		/* the whole wait */
	struct timer kick;		/* reports a result found inside bind_start() */
	struct dns_query *query;	/* resolving a wanted name, or NULL */
	struct sockaddr_storage peer_ss; /* filled by each accept */
	union sockaddr_any *want;	/* owned unless == &one: allowed peer IPs */
	size_t nwant;			/* 0: any address */
	union sockaddr_any one;
	union sockaddr_any local;	/* where the client reached us */
	union sockaddr_any laddr;	/* the listening address */
	int family;			/* of an unspecified wanted address */
	int kick_err;
	uint16_t port;			/* wanted peer port, 0: any */
	bool deny_private;
	bool ready_sent;		/* ready(0) delivered: done() is next */
	bool over;			/* no callback may follow */
	bind_ready_fn ready;
	bind_done_fn done;
	bind_reject_fn reject;
	void *arg;
};

static void unmap(union sockaddr_any *a)
{
	if (a->sa.sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&a->sin6.sin6_addr)) {
		uint16_t port = addr_port(a);
		struct in_addr v4;

		memcpy(&v4, a->sin6.sin6_addr.s6_addr + 12, 4);
		memset(a, 0, sizeof(*a));
		a->sin.sin_family = AF_INET;
		a->sin.sin_addr = v4;
		addr_set_port(a, port);
	}
}

static bool same_ip(const union sockaddr_any *a, const union sockaddr_any *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	if (a->sa.sa_family == AF_INET)
		return a->sin.sin_addr.s_addr == b->sin.sin_addr.s_addr;
	return memcmp(&a->sin6.sin6_addr, &b->sin6.sin6_addr, 16) == 0;
}

static bool is_unspecified(const union sockaddr_any *a)
{
	if (a->sa.sa_family == AF_INET)
		return a->sin.sin_addr.s_addr == 0;
	return a->sa.sa_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&a->sin6.sin6_addr);
}

bool bind_peer_matches(const union sockaddr_any *peer, const union sockaddr_any *want,
		       size_t n, uint16_t port, bool deny_private)
{
	union sockaddr_any p = *peer;

	unmap(&p);
	if (port && addr_port(&p) != port)
		return false;
	if (n == 0)
		return !(deny_private && addr_is_private(&p));
	for (size_t i = 0; i < n; i++) {
		union sockaddr_any w = want[i];

		unmap(&w);
		if (same_ip(&p, &w))
			return true;
	}
	return false;
}

/* The source address the kernel would pick to reach dst. 0 or -errno. */
static int route_source(const union sockaddr_any *dst, union sockaddr_any *src)
{
	union sockaddr_any d = *dst;
	int fd, err = 0;

	if (addr_port(&d) == 0)
		addr_set_port(&d, 9);	/* any port: nothing is sent */
	fd = socket(d.sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, &d.sa, addr_len(&d)) < 0 || sock_local_addr(fd, src) < 0)
		err = -errno;
	close(fd);
	return err;
}

static bool is_idle(const struct bind_wait *b)
{
	return !b->acc.inflight && !b->cpoll.inflight && !b->query;
}

static void maybe_free(struct bind_wait *b)
{
	if (!b->over || !is_idle(b))
		return;
	if (b->want != &b->one)
		free(b->want);
	free(b);
}

/* Let go of everything; the requests come back -ECANCELED. */
static void stop(struct bind_wait *b)
{
	b->over = true;
	loop_timer_cancel(b->loop, &b->deadline);
	loop_timer_cancel(b->loop, &b->kick);
	dns_query_cancel(b->query);
	b->query = NULL;
	io_close(&b->lsock);
	if (b->cpoll.inflight)
		io_cancel(&b->cpoll);
}

/* The final result: ready(err) before the first reply, done() after. */
static void finish(struct bind_wait *b, int err, const union sockaddr_any *peer)
{
	bool ready_sent = b->ready_sent;

	stop(b);
	if (ready_sent)
		b->done(b->arg, err, peer);
	else
		b->ready(b->arg, err, NULL);
	maybe_free(b);
}

/* Policy, listening address, socket. 0 or -errno. */
static int open_listener(struct bind_wait *b)
{
	size_t n = 0;
	int fd, err;

	if (b->deny_private) {
		for (size_t i = 0; i < b->nwant; i++)
			if (!addr_is_private(&b->want[i]))
				b->want[n++] = b->want[i];
		if (b->nwant && !n)
			return -EACCES;
		b->nwant = n;
	}
	if (b->nwant) {
		err = route_source(&b->want[0], &b->laddr);
		if (err)
			return err;
	} else {
		b->laddr = b->local;
		unmap(&b->laddr);
		if (b->laddr.sa.sa_family != b->family) {
			memset(&b->laddr, 0, sizeof(b->laddr));
			b->laddr.sa.sa_family = (sa_family_t)b->family;
		}
	}
	unmap(&b->laddr);
	addr_set_port(&b->laddr, 0);
	fd = sock_listen_tcp(&b->laddr, false, BIND_BACKLOG);
	if (fd < 0)
		return fd;
	err = io_open(b->loop, &b->lsock, fd, 0);
	if (!err)
		err = sock_local_addr(fd, &b->laddr);
	if (err) {
		if (io_is_open(&b->lsock))
			io_close(&b->lsock);
		else
			close(fd);
	}
	return err;
}

static void report_ready(struct bind_wait *b, int err)
{
	if (err) {
		finish(b, err, NULL);
		return;
	}
	b->ready_sent = true;
	b->ready(b->arg, 0, &b->laddr);
}

static void on_kick(struct timer *t)
{
	struct bind_wait *b = container_of(t, struct bind_wait, kick);

	report_ready(b, b->kick_err);
}

static void on_deadline(struct timer *t)
{
	struct bind_wait *b = container_of(t, struct bind_wait, deadline);

	finish(b, -ETIMEDOUT, NULL);
}

static void on_resolved(void *arg, int err, union sockaddr_any *addrs, size_t n)
{
	struct bind_wait *b = arg;

	b->query = NULL;
	if (err) {
		finish(b, err, NULL);
		return;
	}
	b->want = addrs;
	b->nwant = n;
	report_ready(b, open_listener(b));
}

struct bind_wait *bind_start(struct loop *l, struct dns *dns, struct io *client, struct io *out,
			     const struct bind_params *p)
{
	struct bind_wait *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->loop = l;
	b->client = client;
	b->out = out;
	out->loop = l;
	io_init(&b->lsock);
	timer_init(&b->deadline, on_deadline);
	timer_init(&b->kick, on_kick);
	b->local = *p->local;
	b->port = p->want->port;
	b->deny_private = p->deny_private;
	b->ready = p->ready;
	b->done = p->done;
	b->reject = p->reject;
	b->arg = p->arg;
	b->want = &b->one;
	loop_timer_arm(l, &b->deadline, p->timeout_ms);
	if (p->want->host) {
		b->query = dns ? dns_resolve(dns, p->want->host, p->want->port, on_resolved, b) :
			   NULL;
		if (!b->query) {
			b->kick_err = -ENOMEM;
			loop_timer_arm(l, &b->kick, 0);
		}
		return b;
	}
	b->one = p->want->addr;
	b->family = b->one.sa.sa_family;
	b->nwant = is_unspecified(&b->one) ? 0 : 1;
	b->kick_err = open_listener(b);
	loop_timer_arm(l, &b->kick, 0);
	return b;
}

static void on_accept(struct io_req *req);
static void on_client_poll(struct io_req *req);

static void watch_client(struct bind_wait *b)
{
	io_submit_op(b->client, &b->cpoll, IO_POLL_IN, NULL, 0, on_client_poll);
}

static void accept_next(struct bind_wait *b)
{
	io_submit_op(&b->lsock, &b->acc, IO_ACCEPT, &b->peer_ss, sizeof(b->peer_ss), on_accept);
}

void bind_wait_peer(struct bind_wait *b)
{
	if (b->over || b->acc.inflight)
		return;
	accept_next(b);
	watch_client(b);
}

static void reset_fd(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

static void on_accept(struct io_req *req)
{
	struct bind_wait *b = container_of(req, struct bind_wait, acc);
	union sockaddr_any peer;
	int fd = (int)req->res, err;

	if (b->over) {
		if (fd >= 0)
			close(fd);
		maybe_free(b);
		return;
	}
	if (fd < 0) {
		finish(b, fd, NULL);
		return;
	}
	memset(&peer, 0, sizeof(peer));
	memcpy(&peer, &b->peer_ss, sizeof(peer));
	if (!bind_peer_matches(&peer, b->want, b->nwant, b->port, b->deny_private)) {
		reset_fd(fd);
		if (b->reject)
			b->reject(b->arg, &peer);
		if (!b->over)
			accept_next(b);
		return;
	}
	unmap(&peer);
	err = io_open(b->loop, b->out, fd, IO_READY_WR);
	if (err) {
		close(fd);
		finish(b, err, NULL);
		return;
	}
	finish(b, 0, &peer);
}

static void on_client_poll(struct io_req *req)
{
	struct bind_wait *b = container_of(req, struct bind_wait, cpoll);
	uint8_t byte;
	ssize_t n;

	if (b->over) {
		maybe_free(b);
		return;
	}
	if (req->res < 0) {
		finish(b, -ECONNABORTED, NULL);
		return;
	}
	n = recv(b->client->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
		watch_client(b);
		return;
	}
	if (n <= 0) {
		finish(b, -ECONNABORTED, NULL);
		return;
	}
	/*
	 * Early data: it stays in the socket for the relay. A poll would see
	 * it again at once, so the client is no longer watched; the deadline
	 * still bounds the wait.
	 */
}

void bind_cancel(struct bind_wait *b)
{
	if (!b || b->over)
		return;
	stop(b);
	maybe_free(b);
}
