#include "dns/dns.h"

#include <ares.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "core/list.h"
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

/* A waiter: one caller's interest in one name. */
struct dns_query {
	dns_cb cb;		/* NULL once cancelled */
	void *arg;
	struct dns *d;		/* borrowed */
	struct dns_name *name;	/* borrowed: the in-flight name waited on, or NULL */
	struct dns_query *next;	/* waiter list of that name */
	struct timer defer;	/* results are always delivered from the loop */
	union sockaddr_any *addrs; /* owned until delivered */
	size_t n;
	int err;
	uint16_t port;
};

/* A name in the cache, either answered (until expires) or being resolved. */
struct dns_name {
	struct dns *d;		/* borrowed: the resolver it belongs to */
	struct dns_name *hnext;	/* hash chain */
	struct list lru;	/* on d->lru while answered */
	struct dns_query *waiters; /* while pending */
	union sockaddr_any *addrs; /* owned: the answer (port 0) */
	size_t n;
	int err;		/* cached failure, 0 if addrs */
	uint64_t expires;	/* loop ms */
	uint32_t hash;
	bool pending;
	uint8_t len;
	char key[];		/* lower-cased name, NUL-terminated */
};

struct dns {
	struct loop *loop;	/* borrowed */
	ares_channel ch;
	struct timer timer;
	struct dns_sock *socks;	/* owned list */
	struct dns_sock *busy;	/* inside ares_process_fd() for this one */
	struct dns_name **table; /* owned: hash buckets */
	size_t nbuckets;	/* power of two */
	size_t nnames;		/* entries in the table */
	size_t max_names;	/* cache bound */
	struct list lru;	/* answered names, most recent first */
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

struct dns *dns_new(struct loop *l, const char *servers, size_t cache_size)
{
	struct ares_options opts = { 0 };
	struct dns *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->loop = l;
	d->max_names = cache_size ? cache_size : 1;
	for (d->nbuckets = 16; d->nbuckets < 2 * d->max_names; d->nbuckets *= 2)
		;
	d->table = calloc(d->nbuckets, sizeof(*d->table));
	list_init(&d->lru);
	if (!d->table) {
		free(d);
		return NULL;
	}
	timer_init(&d->timer, on_timer);
	opts.sock_state_cb = sock_state_cb;
	opts.sock_state_cb_data = d;
	if (ares_init_options(&d->ch, &opts, ARES_OPT_SOCK_STATE_CB) != ARES_SUCCESS) {
		free(d->table);
		free(d);
		return NULL;
	}
	if (servers && ares_set_servers_ports_csv(d->ch, servers) != ARES_SUCCESS) {
		ares_destroy(d->ch);
		free(d->table);
		free(d);
		return NULL;
	}
	return d;
}

static void name_free(struct dns_name *e)
{
	free(e->addrs);
	free(e);
}

void dns_free(struct dns *d)
{
	struct dns_sock *s, *next;

	if (!d)
		return;
	d->in_destroy = true;
	ares_destroy(d->ch);	/* runs callbacks with ARES_EDESTRUCTION */
	loop_timer_cancel(d->loop, &d->timer);
	for (size_t i = 0; i < d->nbuckets; i++) {
		struct dns_name *e = d->table[i], *enext;

		for (; e; e = enext) {
			enext = e->hnext;
			name_free(e);
		}
	}
	free(d->table);
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

static uint32_t name_hash(const char *k, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)k[i]) * 16777619u;
	return h;
}

static struct dns_name **name_slot(struct dns *d, const char *key, size_t len, uint32_t h)
{
	struct dns_name **pp = &d->table[h & (d->nbuckets - 1)];

	for (; *pp; pp = &(*pp)->hnext)
		if ((*pp)->hash == h && (*pp)->len == len && memcmp((*pp)->key, key, len) == 0)
			break;
	return pp;
}

static void name_remove(struct dns *d, struct dns_name *e)
{
	struct dns_name **pp = name_slot(d, e->key, e->len, e->hash);

	if (*pp == e)
		*pp = e->hnext;
	list_del(&e->lru);
	d->nnames--;
	name_free(e);
}

/* Keep the cache bounded: drop the least recently used answered names. */
static void evict(struct dns *d)
{
	while (d->nnames > d->max_names && !list_is_empty(&d->lru))
		name_remove(d, list_entry(d->lru.prev, struct dns_name, lru));
}

/* Hand q its own copy of the answer, with its port, on the next loop round. */
static void deliver(struct dns_query *q, int err, const union sockaddr_any *addrs, size_t n)
{
	q->name = NULL;
	q->err = err;
	if (!err) {
		q->addrs = malloc(n * sizeof(*addrs));
		if (!q->addrs) {
			q->err = -ENOMEM;
		} else {
			memcpy(q->addrs, addrs, n * sizeof(*addrs));
			for (size_t i = 0; i < n; i++)
				addr_set_port(&q->addrs[i], q->port);
			q->n = n;
		}
	}
	loop_timer_arm(q->d->loop, &q->defer, 0);
}

static void on_defer(struct timer *t)
{
	struct dns_query *q = container_of(t, struct dns_query, defer);
	dns_cb cb = q->cb;

	if (cb)
		cb(q->arg, q->err, q->addrs, q->n);
	else
		free(q->addrs);
	free(q);
}

/* Positive answers live their TTL (at least 1 s, at most 1 h). */
#define TTL_MIN_MS	1000
#define TTL_MAX_MS	3600000
/* "No such name" is remembered briefly; server failures are not. */
#define NEGATIVE_MS	2000

static void on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct dns_name *e = arg;
	struct dns *d;
	struct dns_query *q, *qnext;
	uint64_t ttl_ms = TTL_MAX_MS;
	size_t cap = 0;
	int err = 0;

	(void)timeouts;
	if (status == ARES_EDESTRUCTION) {
		/* dns_free(): the waiters are the sessions' and already gone. */
		for (q = e->waiters; q; q = qnext) {
			qnext = q->next;
			free(q);
		}
		e->waiters = NULL;
		if (res)
			ares_freeaddrinfo(res);
		return;		/* dns_free() frees e from the table */
	}
	d = e->d;
	if (status != ARES_SUCCESS) {
		err = status_to_err(status);
		goto answered;
	}
	for (struct ares_addrinfo_node *ai = res->nodes; ai; ai = ai->ai_next)
		if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6)
			cap++;
	if (cap == 0) {
		err = -ENOENT;
		goto answered;
	}
	e->addrs = calloc(cap, sizeof(*e->addrs));
	if (!e->addrs) {
		err = -ENOMEM;
		goto answered;
	}
	for (struct ares_addrinfo_node *ai = res->nodes; ai; ai = ai->ai_next) {
		uint64_t t;

		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		memcpy(&e->addrs[e->n++], ai->ai_addr, ai->ai_family == AF_INET6 ?
		       sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
		t = ai->ai_ttl > 0 ? (uint64_t)ai->ai_ttl * 1000 : 0;
		if (t < ttl_ms)
			ttl_ms = t;
	}
answered:
	if (res)
		ares_freeaddrinfo(res);
	e->err = err;
	e->pending = false;
	for (q = e->waiters; q; q = qnext) {
		qnext = q->next;
		deliver(q, err, e->addrs, e->n);
	}
	e->waiters = NULL;
	if (err == -ENOENT)
		ttl_ms = NEGATIVE_MS;
	else if (err)
		ttl_ms = 0;
	else if (ttl_ms < TTL_MIN_MS)
		ttl_ms = TTL_MIN_MS;
	e->expires = loop_now(d->loop) + ttl_ms;
	list_add(&d->lru, &e->lru);
	evict(d);
}

struct dns_query *dns_resolve(struct dns *d, const char *host, uint16_t port,
			      dns_cb cb, void *arg)
{
	struct ares_addrinfo_hints hints = { .ai_family = AF_UNSPEC };
	struct dns_query *q;
	struct dns_name *e, **pp;
	char key[256];
	size_t len = strlen(host);
	uint32_t h;

	if (len == 0 || len > 255)
		return NULL;
	for (size_t i = 0; i < len; i++)
		key[i] = (char)(host[i] >= 'A' && host[i] <= 'Z' ? host[i] + 32 : host[i]);
	key[len] = '\0';
	q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->cb = cb;
	q->arg = arg;
	q->d = d;
	q->port = port;
	timer_init(&q->defer, on_defer);

	h = name_hash(key, len);
	pp = name_slot(d, key, len, h);
	e = *pp;
	if (e && !e->pending && loop_now(d->loop) < e->expires) {
		list_del(&e->lru);	/* hit: most recently used now */
		list_add(&d->lru, &e->lru);
		deliver(q, e->err, e->addrs, e->n);
		return q;
	}
	if (e && !e->pending)		/* expired: resolve again in place */
		name_remove(d, e);
	else if (e) {			/* in flight: wait with the others */
		q->name = e;
		q->next = e->waiters;
		e->waiters = q;
		return q;
	}
	e = calloc(1, sizeof(*e) + len + 1);
	if (!e) {
		free(q);
		return NULL;
	}
	memcpy(e->key, key, len + 1);
	e->len = (uint8_t)len;
	e->d = d;
	e->hash = h;
	e->pending = true;
	list_init(&e->lru);
	pp = name_slot(d, key, len, h);
	e->hnext = *pp;
	*pp = e;
	d->nnames++;
	q->name = e;
	e->waiters = q;
	/* c-ares may answer right here (a hosts-file hit); delivery is deferred anyway. */
	ares_getaddrinfo(d->ch, e->key, NULL, &hints, on_addrinfo, e);
	timer_rearm(d);
	return q;
}

void dns_query_cancel(struct dns_query *q)
{
	struct dns_query **pp;

	if (!q)
		return;
	if (q->name) {		/* still waiting: leave the name's waiter list */
		for (pp = &q->name->waiters; *pp; pp = &(*pp)->next) {
			if (*pp == q) {
				*pp = q->next;
				break;
			}
		}
		free(q);
		return;
	}
	/* Answer parked on the defer timer: drop it now. */
	loop_timer_cancel(q->d->loop, &q->defer);
	free(q->addrs);
	free(q);
}
