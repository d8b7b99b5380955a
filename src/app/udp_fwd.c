/*
 * udp://BIND/TARGET: every client address gets a session with its own
 * connected upstream socket, so a reply goes back to the client that
 * caused it and to no other. Sessions live in a hash table keyed by the
 * client address, on an LRU list (least recently active first, evicted when
 * the table is full), each with an idle timer on the worker's wheel.
 *
 * SO_REUSEPORT hashes a flow's 4-tuple to one worker's socket, so one
 * client's datagrams all arrive on one worker and keep their order.
 */
#include "app/udp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "app/worker.h"
#include "core/sock.h"
#include "core/util.h"

/* Datagrams a session queues while its target name resolves. */
#define PENDING_MAX	16

struct pending {
	struct pending *next;
	size_t len;
	uint8_t data[];
};

struct udp_sess {
	struct udp_sess *hnext;		/* hash chain */
	struct list lru;		/* on f->lru: least recently active first */
	struct udp_fwd *f;		/* borrowed */
	struct io io;			/* the connected upstream socket */
	struct io_req req;		/* IO_POLL_IN on io */
	struct timer timer;		/* idle expiry */
	uint64_t last_active;		/* loop ms of the last datagram either way */
	uint64_t start_ms;
	uint64_t id;
	union sockaddr_any client;	/* key */
	union sockaddr_any peer;	/* the target address in use */
	struct udp_local local;		/* wildcard listener: the address the client sent to */
	struct dns_query *query;	/* resolving the target name, or NULL */
	struct pending *pend, **pend_tail; /* owned: queued while resolving */
	uint64_t up_dgrams, up_bytes, down_dgrams, down_bytes;
	uint32_t dropped;
	uint32_t hash;
	uint8_t npend;
	bool dead;			/* off the table; freed once req is back */
};

struct udp_fwd {
	struct wlistener *wl;		/* borrowed */
	struct udp_sess **table;	/* owned: buckets */
	size_t nbuckets;		/* power of two */
	size_t count;			/* live sessions */
	size_t max;			/* this worker's share of --udp-max-sessions */
	struct list lru;
	uint64_t seed;			/* hash key: remote peers choose the addresses */
	uint64_t dropped;		/* datagrams dropped at the listener */
	uint64_t seq;
	uint64_t warned_ms;		/* last "cannot open a session" warning */
	bool want_local;		/* bound to a wildcard: reply from the address used */
	bool closed;
};

static struct loop *f_loop(struct udp_fwd *f)
{
	return &f->wl->w->loop;
}

static uint32_t addr_hash(const struct udp_fwd *f, const union sockaddr_any *a)
{
	const uint8_t *p;
	size_t n;
	uint64_t h = f->seed ^ 0xcbf29ce484222325ull;

	if (a->sa.sa_family == AF_INET6) {
		p = (const uint8_t *)&a->sin6.sin6_addr;
		n = 16;
	} else {
		p = (const uint8_t *)&a->sin.sin_addr;
		n = 4;
	}
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	h = (h ^ addr_port(a)) * 0x100000001b3ull;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 32;
	return (uint32_t)h;
}

static bool same_client(const union sockaddr_any *a, const union sockaddr_any *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	if (a->sa.sa_family == AF_INET6)
		return a->sin6.sin6_port == b->sin6.sin6_port &&
		       memcmp(&a->sin6.sin6_addr, &b->sin6.sin6_addr, 16) == 0 &&
		       a->sin6.sin6_scope_id == b->sin6.sin6_scope_id;
	return a->sin.sin_port == b->sin.sin_port && a->sin.sin_addr.s_addr == b->sin.sin_addr.s_addr;
}

static struct udp_sess *lookup(struct udp_fwd *f, const union sockaddr_any *a, uint32_t h)
{
	for (struct udp_sess *s = f->table[h & (f->nbuckets - 1)]; s; s = s->hnext)
		if (s->hash == h && same_client(&s->client, a))
			return s;
	return NULL;
}

static void table_grow(struct udp_fwd *f)
{
	size_t n = f->nbuckets * 2;
	struct udp_sess **t = calloc(n, sizeof(*t));

	if (!t)
		return;		/* longer chains, still correct */
	for (size_t i = 0; i < f->nbuckets; i++) {
		struct udp_sess *s = f->table[i], *next;

		for (; s; s = next) {
			next = s->hnext;
			s->hnext = t[s->hash & (n - 1)];
			t[s->hash & (n - 1)] = s;
		}
	}
	free(f->table);
	f->table = t;
	f->nbuckets = n;
}

static void table_del(struct udp_fwd *f, struct udp_sess *s)
{
	struct udp_sess **pp = &f->table[s->hash & (f->nbuckets - 1)];

	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == s) {
			*pp = s->hnext;
			break;
		}
	}
	s->hnext = NULL;
}

static void free_pending(struct udp_sess *s)
{
	struct pending *p, *next;

	for (p = s->pend; p; p = next) {
		next = p->next;
		free(p);
	}
	s->pend = NULL;
	s->pend_tail = &s->pend;
	s->npend = 0;
}

static void sess_free(struct udp_sess *s)
{
	free_pending(s);
	free(s);
}

static void log_sess_close(struct udp_sess *s, const char *why)
{
	struct worker *w = s->f->wl->w;
	char c[ADDR_STRLEN], t[ADDR_STRLEN + HOST_MAX];
	uint64_t ms = loop_now(f_loop(s->f)) - s->start_ms;

	if (!log_on(w->log, LOG_INFO))
		return;
	if (s->peer.sa.sa_family)
		addr_format(&s->peer, t, sizeof(t));
	else
		snprintf(t, sizeof(t), "%s", s->f->wl->cfg->target_host);
	log_msg(w->log, LOG_INFO,
		"udp %llu closed: client %s target %s up %llu/%llu down %llu/%llu (dgrams/bytes) "
		"dropped %u time %llu.%03llus (%s)",
		(unsigned long long)s->id, addr_format(&s->client, c, sizeof(c)), t,
		(unsigned long long)s->up_dgrams, (unsigned long long)s->up_bytes,
		(unsigned long long)s->down_dgrams, (unsigned long long)s->down_bytes, s->dropped,
		(unsigned long long)(ms / 1000), (unsigned long long)(ms % 1000), why);
}

/* Take s off the table; its memory goes once no request is in flight. */
static void sess_kill(struct udp_sess *s, const char *why)
{
	struct udp_fwd *f = s->f;

	if (s->dead)
		return;
	s->dead = true;
	log_sess_close(s, why);
	table_del(f, s);
	list_del(&s->lru);
	f->count--;
	loop_timer_cancel(f_loop(f), &s->timer);
	if (s->query) {
		dns_query_cancel(s->query);
		s->query = NULL;
	}
	free_pending(s);
	if (io_is_open(&s->io))
		io_close(&s->io);
	if (!s->req.inflight)
		sess_free(s);
}

static void on_idle(struct timer *t)
{
	struct udp_sess *s = container_of(t, struct udp_sess, timer);
	uint64_t idle = s->f->wl->w->cfg->udp_timeout_ms;
	uint64_t quiet = loop_now(f_loop(s->f)) - s->last_active;

	if (quiet < idle) {	/* active since armed: sleep the rest */
		loop_timer_arm(f_loop(s->f), &s->timer, idle - quiet);
		return;
	}
	sess_kill(s, "idle timeout");
}

static void touch(struct udp_sess *s)
{
	s->last_active = loop_now(f_loop(s->f));
	list_del(&s->lru);
	list_add_tail(&s->f->lru, &s->lru);
}

static void on_upstream(struct io_req *req);

static void arm_upstream(struct udp_sess *s, bool drained)
{
	udp_poll(&s->io, &s->req, drained, on_upstream);
}

/* Connect the upstream socket to a; 0 or -errno. */
static int sess_connect(struct udp_sess *s, const union sockaddr_any *a)
{
	struct loop *l = f_loop(s->f);
	int fd = socket(a->sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), err;

	if (fd < 0)
		return -errno;
	sock_set_buffers(fd, UDP_SESSION_BUF);
	(void)udp_gro_enable(fd);	/* replies in runs where the NIC coalesces */
	if (connect(fd, &a->sa, addr_len(a)) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	err = io_open(l, &s->io, fd, 0);
	if (err) {
		close(fd);
		return err;
	}
	s->peer = *a;
	arm_upstream(s, false);
	return 0;
}

static void on_resolved(void *arg, int err, union sockaddr_any *addrs, size_t n)
{
	struct udp_sess *s = arg;
	struct worker *w = s->f->wl->w;
	char c[ADDR_STRLEN];
	struct pending *p;

	s->query = NULL;
	if (!err)
		err = sess_connect(s, &addrs[0]);
	(void)n;
	free(addrs);
	if (err) {
		log_warn(w->log, "udp %llu client %s: target %s: %s", (unsigned long long)s->id,
			 addr_format(&s->client, c, sizeof(c)), s->f->wl->cfg->target_host,
			 err == -ENOENT || err == -EAGAIN || err == -ETIMEDOUT ?
			 dns_strerror(err) : strerror(-err));
		sess_kill(s, "target unavailable");
		return;
	}
	for (p = s->pend; p; p = p->next) {
		if (send(s->io.fd, p->data, p->len, MSG_DONTWAIT) < 0) {
			s->dropped++;
			continue;
		}
		s->up_dgrams++;
		s->up_bytes += p->len;
	}
	free_pending(s);
}

static struct udp_sess *sess_new(struct udp_fwd *f, const union sockaddr_any *client,
				 uint32_t h)
{
	struct wlistener *wl = f->wl;
	struct worker *w = wl->w;
	struct udp_sess *s;
	int err = 0;

	if (f->count >= f->max)
		sess_kill(list_entry(f->lru.next, struct udp_sess, lru), "evicted");
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->f = f;
	s->client = *client;
	s->hash = h;
	s->id = f->seq++ * w->nworkers + w->id;
	s->start_ms = s->last_active = loop_now(f_loop(f));
	s->pend_tail = &s->pend;
	io_init(&s->io);
	timer_init(&s->timer, on_idle);
	list_init(&s->lru);
	if (wl->cfg->target_is_addr) {
		err = sess_connect(s, &wl->cfg->target);
	} else {
		s->query = dns_resolve(w->dns, wl->cfg->target_host, wl->cfg->target_port,
				       on_resolved, s);
		if (!s->query)
			err = -ENOMEM;
	}
	if (err) {
		char c[ADDR_STRLEN];

		/* Out of fds or memory: say so once a second, not per datagram. */
		if (loop_now(f_loop(f)) - f->warned_ms >= 1000 || !f->warned_ms) {
			f->warned_ms = loop_now(f_loop(f));
			log_warn(w->log, "udp: client %s: cannot open a session: %s (datagrams "
				 "dropped so far: %llu)", addr_format(client, c, sizeof(c)),
				 strerror(-err), (unsigned long long)f->dropped);
		}
		free(s);
		return NULL;
	}
	s->hnext = f->table[h & (f->nbuckets - 1)];
	f->table[h & (f->nbuckets - 1)] = s;
	list_add_tail(&f->lru, &s->lru);
	if (++f->count > f->nbuckets)
		table_grow(f);
	loop_timer_arm(f_loop(f), &s->timer, w->cfg->udp_timeout_ms);
	if (log_on(w->log, LOG_DEBUG)) {
		char c[ADDR_STRLEN];

		log_msg(w->log, LOG_DEBUG, "udp %llu: new session for %s",
			(unsigned long long)s->id, addr_format(client, c, sizeof(c)));
	}
	return s;
}

static void queue_pending(struct udp_sess *s, const uint8_t *data, size_t len)
{
	struct pending *p;

	if (s->npend >= PENDING_MAX || !(p = malloc(sizeof(*p) + len))) {
		s->dropped++;
		return;
	}
	p->next = NULL;
	p->len = len;
	memcpy(p->data, data, len);
	*s->pend_tail = p;
	s->pend_tail = &p->next;
	s->npend++;
}

/*
 * Client datagrams of one listener batch, grouped by session: each session
 * gets its datagrams in one sendmmsg() (in arrival order, so per-client
 * order is kept), however the clients interleave.
 */
struct up_groups {
	struct udp_sess *sess[UDP_BATCH];	/* borrowed: per datagram, NULL = not sent */
	struct udp_sess *uniq[UDP_BATCH];	/* borrowed: in order of first datagram */
	unsigned int nuniq;
};

static void send_groups(struct udp_batch *b, struct up_groups *g, unsigned int n)
{
	for (unsigned int u = 0; u < g->nuniq; u++) {
		struct udp_sess *s = g->uniq[u];
		unsigned int k = 0, dgrams = 0, dropped;

		for (unsigned int i = 0; i < n; i++) {
			if (g->sess[i] != s)
				continue;
			g->sess[i] = NULL;
			udp_out_set(b, k, b->in_iov[i].iov_base, b->in[i].msg_len, NULL, NULL);
			udp_out_seg(b, k, b->in_seg[i]);	/* a GRO run goes on as one */
			s->up_bytes += b->in[i].msg_len;
			dgrams += udp_in_count(b, i);
			k++;
		}
		touch(s);
		dropped = udp_send_flow(s->io.fd, b, k);
		s->up_dgrams += dgrams - dropped;
		s->dropped += dropped;
	}
	g->nuniq = 0;
}

/* Client datagrams on the listener socket. */
static void on_listener(struct io_req *req)
{
	struct wlistener *wl = container_of(req, struct wlistener, req);
	struct udp_fwd *f = wl->udp;
	struct udp_batch *b;
	struct up_groups g;
	bool drained = false;

	if (req->res == -ECANCELED || f->closed || !io_is_open(&wl->io))
		return;
	b = udp_batch_get(wl->w);
	for (int round = 0; b && round < UDP_ROUNDS; round++) {
		int n = udp_recv_batch(wl->io.fd, b, UDP_RX_ADDR | UDP_RX_GRO |
				       (f->want_local ? UDP_RX_LOCAL : 0));
		struct udp_sess *last = NULL;

		if (n <= 0) {
			drained = n == 0;
			break;
		}
		g.nuniq = 0;
		for (unsigned int i = 0; i < (unsigned int)n; i++) {
			const union sockaddr_any *from = &b->in_addr[i];
			struct udp_sess *s;
			uint32_t h;

			g.sess[i] = NULL;
			if (b->in[i].msg_len == 0 && (b->in[i].msg_hdr.msg_flags & MSG_TRUNC)) {
				f->dropped++;
				continue;
			}
			/* Clients send in bursts: most datagrams are the last one's. */
			if (last && same_client(&last->client, from)) {
				g.sess[i] = last;
				if (f->want_local)
					last->local = b->in_local[i];
				continue;
			}
			h = addr_hash(f, from);
			s = lookup(f, from, h);
			if (!s) {
				/* A new session may evict one that has datagrams here: send those first. */
				if (f->count >= f->max) {
					send_groups(b, &g, i);
					last = NULL;
				}
				s = sess_new(f, from, h);
			}
			if (!s) {
				f->dropped++;
				continue;
			}
			if (f->want_local)
				s->local = b->in_local[i];
			if (!io_is_open(&s->io)) {	/* still resolving */
				size_t len = b->in[i].msg_len, seg = b->in_seg[i] ? b->in_seg[i] : len;

				touch(s);
				for (size_t off = 0; off < len; off += seg)	/* a GRO run: each datagram */
					queue_pending(s, udp_slot(b, i) + off,
						      len - off < seg ? len - off : seg);
				continue;
			}
			last = s;
			g.sess[i] = s;
			for (unsigned int u = 0; u < g.nuniq; u++)
				if (g.uniq[u] == s)
					goto seen;
			g.uniq[g.nuniq++] = s;
seen:
			;
		}
		send_groups(b, &g, (unsigned int)n);
		if (n < UDP_BATCH) {	/* recvmmsg stops short only when the queue is empty */
			drained = true;
			break;
		}
	}
	if (io_is_open(&wl->io))
		udp_poll(&wl->io, &wl->req, drained, on_listener);
}

/*
 * Replies on a session's upstream socket go back to its client. They are
 * held (udp_hold_add) rather than sent at once: replies of every session
 * that woke in this loop turn then go out on the listener socket in one
 * sendmmsg().
 */
static void on_upstream(struct io_req *req)
{
	struct udp_sess *s = container_of(req, struct udp_sess, req);
	struct udp_fwd *f = s->f;
	int lfd = f->wl->io.fd;
	struct udp_batch *b;
	bool drained = false;

	if (s->dead) {
		sess_free(s);
		return;
	}
	if (req->res < 0 && req->res != -ECANCELED)
		goto rearm;
	b = udp_hold_batch(f->wl->w);
	for (int round = 0; b && round < UDP_ROUNDS && lfd >= 0; round++) {
		unsigned int first, k = 0;
		int n;

		/* Too little room after what is held: send that first. */
		if (UDP_BATCH - b->held_slot < UDP_BATCH / 4)
			udp_hold_flush(b);
		first = b->held_slot;
		n = udp_recv_batch_at(s->io.fd, b, first, UDP_RX_GRO);
		if (n == -ECONNREFUSED || n == -EHOSTUNREACH || n == -ENETUNREACH ||
		    n == -EMSGSIZE) {
			/* An ICMP error about an earlier datagram: the session goes on. */
			s->dropped++;
			continue;
		}
		if (n <= 0) {
			drained = n == 0;
			break;
		}
		for (unsigned int i = first; i < first + (unsigned int)n; i++) {
			if (b->in[i].msg_len == 0 && (b->in[i].msg_hdr.msg_flags & MSG_TRUNC)) {
				s->dropped++;
				continue;
			}
			udp_hold_add(b, lfd, &f->dropped, i, &s->client,
				     f->want_local ? &s->local : NULL);
			s->down_bytes += b->in[i].msg_len;
			k += udp_in_count(b, i);
		}
		s->down_dgrams += k;	/* the send's drops count on the listener */
		if (k)
			touch(s);
		if ((unsigned int)n < UDP_BATCH - first) {
			drained = true;
			break;
		}
	}
rearm:
	if (io_is_open(&s->io))
		arm_upstream(s, drained);
}

int udp_fwd_new(struct wlistener *wl)
{
	struct udp_fwd *f = calloc(1, sizeof(*f));
	uint32_t share;
	int rc;

	if (!f)
		return -ENOMEM;
	f->wl = wl;
	f->nbuckets = 64;
	f->table = calloc(f->nbuckets, sizeof(*f->table));
	if (!f->table) {
		free(f);
		return -ENOMEM;
	}
	list_init(&f->lru);
	if (getrandom(&f->seed, sizeof(f->seed), GRND_NONBLOCK) != sizeof(f->seed))
		f->seed = (uint64_t)(uintptr_t)f ^ loop_now(&wl->w->loop);
	/* The limit is for the listener: each worker takes its share. */
	share = wl->w->cfg->udp_max_sessions / wl->w->nworkers;
	f->max = share ? share : 1;
	sock_set_buffers(wl->io.fd, UDP_LISTEN_BUF);
	(void)udp_gro_enable(wl->io.fd);	/* client runs, where the NIC coalesces */
	/* A wildcard listener answers from the address the client sent to. */
	rc = udp_local_enable(wl->io.fd);
	if (rc < 0)	/* then the kernel picks reply sources by route */
		log_warn(wl->w->log, "udp: cannot learn local addresses (IP_PKTINFO): %s",
			 strerror(-rc));
	f->want_local = rc > 0;
	wl->udp = f;
	return 0;
}

void udp_fwd_start(struct wlistener *wl)
{
	udp_poll(&wl->io, &wl->req, false, on_listener);
}

void udp_fwd_close(struct wlistener *wl)
{
	struct udp_fwd *f = wl->udp;

	if (!f || f->closed)
		return;
	f->closed = true;
	/* Replies held for the listener socket would outlive it (and f->dropped). */
	udp_hold_drop(wl->w->udp, wl->io.fd);
	while (!list_is_empty(&f->lru))
		sess_kill(list_entry(f->lru.next, struct udp_sess, lru), "shutdown");
}

void udp_fwd_free(struct wlistener *wl)
{
	struct udp_fwd *f = wl->udp;

	if (!f)
		return;
	udp_fwd_close(wl);
	free(f->table);
	free(f);
	wl->udp = NULL;
}
