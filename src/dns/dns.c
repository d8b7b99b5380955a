#include "dns/dns.h"

#include <ares.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "core/util.h"

/* One c-ares socket watched by the loop. */
struct dns_sock {
	struct io io;		/* fd owned by c-ares: detached, never closed by us */
	struct io_req rreq, wreq;
	struct dns *d;		/* borrowed */
	struct dns_sock *next;
	bool want_r, want_w;
	bool dead;		/* c-ares is done with it; free when idle */
};

struct dns_query {
	dns_cb cb;		/* NULL once cancelled */
	void *arg;
	struct dns *d;		/* borrowed */
	struct timer defer;	/* delivers a result c-ares gave synchronously */
	union sockaddr_any *addrs; /* owned until delivered */
	size_t n;
	int err;
	uint16_t port;
	bool starting;		/* inside ares_getaddrinfo() */
};

struct dns {
	struct loop *loop;	/* borrowed */
	ares_channel ch;
	struct timer timer;
	struct dns_sock *socks;	/* owned list */
	struct dns_sock *busy;	/* inside ares_process_fd() for this one */
	bool in_destroy;
};

int dns_global_init(void)
{
	return ares_library_init(ARES_LIB_INIT_ALL) == ARES_SUCCESS ? 0 : -1;
}

void dns_global_fini(void)
{
	ares_library_cleanup();
}

static void timer_rearm(struct dns *d)
{
	struct timeval tv, *tp;

	tp = ares_timeout(d->ch, NULL, &tv);
	if (!tp) {
		loop_timer_cancel(d->loop, &d->timer);
		return;
	}
	loop_timer_arm(d->loop, &d->timer,
		       (uint64_t)tp->tv_sec * 1000 + (uint64_t)(tp->tv_usec + 999) / 1000);
}

static void on_timer(struct timer *t)
{
	struct dns *d = container_of(t, struct dns, timer);

	ares_process_fd(d->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	timer_rearm(d);
}

static void sock_unlink_free(struct dns_sock *s)
{
	struct dns_sock **pp = &s->d->socks;

	for (; *pp; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	free(s);
}

static void on_poll(struct io_req *req);

static void sock_arm(struct dns_sock *s)
{
	if (s->dead)
		return;
	if (s->want_r && !s->rreq.inflight) {
		s->rreq.op = IO_POLL_IN;
		s->rreq.cb = on_poll;
		io_submit(&s->io, &s->rreq);
	}
	if (s->want_w && !s->wreq.inflight) {
		s->wreq.op = IO_POLL_OUT;
		s->wreq.cb = on_poll;
		io_submit(&s->io, &s->wreq);
	}
}

static void on_poll(struct io_req *req)
{
	struct dns_sock *s = container_of(req->io, struct dns_sock, io);
	struct dns *d = s->d;
	ares_socket_t fd;
	bool is_read;

	is_read = req == &s->rreq;
	if (s->dead) {
		if (!s->rreq.inflight && !s->wreq.inflight)
			sock_unlink_free(s);
		return;
	}
	if (req->res < 0)
		return;
	fd = s->io.fd;
	/* May call sock_state_cb (closing s) and query callbacks. */
	d->busy = s;
	ares_process_fd(d->ch, is_read ? fd : ARES_SOCKET_BAD, is_read ? ARES_SOCKET_BAD : fd);
	d->busy = NULL;
	if (!s->dead)
		sock_arm(s);
	else if (!s->rreq.inflight && !s->wreq.inflight)
		sock_unlink_free(s);
	timer_rearm(d);
}

static void sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns *d = data;
	struct dns_sock *s;

	for (s = d->socks; s; s = s->next)
		if (!s->dead && s->io.fd == fd)
			break;
	if (!readable && !writable) {
		if (!s)
			return;
		s->dead = true;
		io_detach(&s->io);	/* c-ares closes the fd right after this */
		/* on_poll() frees it on its way out when it is the caller. */
		if (!s->rreq.inflight && !s->wreq.inflight && d->busy != s)
			sock_unlink_free(s);
		return;
	}
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return;		/* the query will time out */
		io_init(&s->io);
		if (io_open(d->loop, &s->io, fd, 0) < 0) {
			free(s);
			return;
		}
		s->d = d;
		s->next = d->socks;
		d->socks = s;
	}
	s->want_r = readable;
	s->want_w = writable;
	sock_arm(s);
}

struct dns *dns_new(struct loop *l, const char *servers)
{
	struct ares_options opts = { 0 };
	struct dns *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->loop = l;
	timer_init(&d->timer, on_timer);
	opts.sock_state_cb = sock_state_cb;
	opts.sock_state_cb_data = d;
	if (ares_init_options(&d->ch, &opts, ARES_OPT_SOCK_STATE_CB) != ARES_SUCCESS) {
		free(d);
		return NULL;
	}
	if (servers && ares_set_servers_ports_csv(d->ch, servers) != ARES_SUCCESS) {
		ares_destroy(d->ch);
		free(d);
		return NULL;
	}
	return d;
}

void dns_free(struct dns *d)
{
	struct dns_sock *s, *next;

	if (!d)
		return;
	d->in_destroy = true;
	ares_destroy(d->ch);	/* runs callbacks with ARES_EDESTRUCTION */
	loop_timer_cancel(d->loop, &d->timer);
	for (s = d->socks; s; s = next) {
		next = s->next;
		io_detach(&s->io);
		/*
		 * Pending POLL requests were cancelled into the completion
		 * queue; the loop is being torn down and will not deliver them,
		 * so the memory can go.
		 */
		free(s);
	}
	free(d);
}

static int status_to_err(int status)
{
	switch (status) {
	case ARES_ENOTFOUND:
	case ARES_ENODATA:
	case ARES_ENONAME:
		return -ENOENT;
	case ARES_ETIMEOUT:
		return -ETIMEDOUT;
	case ARES_ENOMEM:
		return -ENOMEM;
	case ARES_ECANCELLED:
	case ARES_EDESTRUCTION:
		return -ECANCELED;
	default:
		return -EAGAIN;
	}
}

const char *dns_strerror(int err)
{
	switch (err) {
	case -ENOENT:
		return "name not found";
	case -ETIMEDOUT:
		return "DNS timeout";
	case -ENOMEM:
		return "out of memory";
	case -ECANCELED:
		return "cancelled";
	default:
		return "DNS server failure";
	}
}

static void on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct dns_query *q = arg;
	union sockaddr_any *addrs = NULL;
	size_t n = 0, cap = 0;
	int err = 0;

	if (status != ARES_SUCCESS) {
		err = status_to_err(status);
		goto out;
	}
	for (struct ares_addrinfo_node *ai = res->nodes; ai; ai = ai->ai_next)
		if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6)
			cap++;
	if (cap == 0) {
		err = -ENOENT;
		goto out;
	}
	addrs = calloc(cap, sizeof(*addrs));
	if (!addrs) {
		err = -ENOMEM;
		goto out;
	}
	for (struct ares_addrinfo_node *ai = res->nodes; ai; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		memcpy(&addrs[n], ai->ai_addr, ai->ai_family == AF_INET6 ?
		       sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
		addr_set_port(&addrs[n], q->port);
		n++;
	}
out:
	if (res)
		ares_freeaddrinfo(res);
	if (q->starting) {	/* answer before dns_resolve() returned */
		q->addrs = addrs;
		q->n = n;
		q->err = err;
		loop_timer_arm(q->d->loop, &q->defer, 0);
		return;
	}
	if (q->cb)
		q->cb(q->arg, err, addrs, n);
	else
		free(addrs);
	free(q);
}

static void on_defer(struct timer *t)
{
	struct dns_query *q = container_of(t, struct dns_query, defer);

	q->cb(q->arg, q->err, q->addrs, q->n);
	free(q);
}

struct dns_query *dns_resolve(struct dns *d, const char *host, uint16_t port,
			      dns_cb cb, void *arg)
{
	struct ares_addrinfo_hints hints = { .ai_family = AF_UNSPEC };
	struct dns_query *q = malloc(sizeof(*q));

	if (!q)
		return NULL;
	*q = (struct dns_query){ .cb = cb, .arg = arg, .d = d, .port = port };
	timer_init(&q->defer, on_defer);
	/* c-ares may answer right here (a hosts-file hit): see on_addrinfo. */
	q->starting = true;
	ares_getaddrinfo(d->ch, host, NULL, &hints, on_addrinfo, q);
	q->starting = false;
	timer_rearm(d);
	return q;
}

void dns_query_cancel(struct dns_query *q)
{
	if (!q)
		return;
	if (timer_is_armed(&q->defer)) {	/* result parked: drop it now */
		loop_timer_cancel(q->d->loop, &q->defer);
		free(q->addrs);
		free(q);
		return;
	}
	q->cb = NULL;
}
