/*
 * SOCKS5 UDP ASSOCIATE (RFC 1928 section 7): one relay socket per
 * association, alive exactly as long as its TCP control connection.
 *
 * The relay socket is unconnected and bound to the wildcard (so it can
 * reach any target); it takes datagrams from the client that asked (pinned
 * to its IP, and to its port from the announcement or the first datagram),
 * strips the SOCKS5 header and sends the payload on; datagrams from
 * addresses the client has sent to come back with a header naming their
 * source. Anything else is dropped and counted: strangers, malformed
 * headers, FRAG != 0 (we do not reassemble), targets the policy forbids.
 * Domain targets are resolved on the worker's resolver and kept for a
 * while; datagrams wait for them in a short bounded queue.
 *
 * Through a -F chain (udp_assoc_via()) the association rides on the last
 * hop's own UDP ASSOCIATE: the client's datagrams go to that relay as they
 * are (same header format; names are the upstream's to resolve), what the
 * relay sends comes back to the client as it is, anything from elsewhere
 * is dropped, and the upstream's control connection is watched too.
 */
#include "app/udp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/worker.h"
#include "core/sock.h"
#include "core/util.h"
#include "ingress/target.h"
#include "proto/socks5.h"

#define ASSOC_DESTS	32	/* destinations remembered, to let their replies in */
#define NAMES_MAX	8	/* names cached per association */
#define NAME_TTL_MS	30000	/* then asked again (the worker's resolver caches too) */
#define NAME_FAIL_MS	2000	/* a failed name is not asked again before this */
#define QUEUED_MAX	32	/* datagrams waiting for names, per association */
#define DRAIN_QUIET_MS	1000	/* at shutdown: an association quiet this long ends */

struct qdgram {
	struct qdgram *next;
	uint16_t port;
	size_t len;
	uint8_t data[];
};

struct name_ent {
	struct name_ent *next;
	struct udp_assoc *a;		/* back pointer for the resolver's callback */
	struct dns_query *query;	/* pending, or NULL */
	union sockaddr_any addr;	/* port 0; family 0: unusable */
	uint64_t expires;		/* loop ms */
	struct qdgram *q, **qtail;	/* owned: waiting for the answer */
	char name[PROTO_DOMAIN_MAX + 1];
};

struct udp_assoc {
	struct worker *w;		/* borrowed */
	struct io io;			/* the relay socket */
	struct io_req req;		/* IO_POLL_IN on io */
	struct io *ctl;			/* borrowed: the TCP control connection */
	struct io_req ctl_req;		/* IO_RECV on ctl, bytes dropped */
	struct io *up_ctl;		/* borrowed: -F: the last hop's control connection */
	struct io_req up_req;		/* IO_RECV on up_ctl, bytes dropped */
	union sockaddr_any up;		/* -F: the last hop's relay (unmapped); family 0: direct */
	union sockaddr_any bound;	/* BND.ADDR:BND.PORT we told the client */
	union sockaddr_any client;	/* IPv4 unmapped; port valid once pinned */
	struct udp_local local;		/* where the client sends to: replies go from there */
	union sockaddr_any *dests;	/* owned: ASSOC_DESTS slots, made on first send */
	unsigned int ndests, dest_next;
	struct name_ent *names;		/* owned */
	unsigned int nnames, nqueued;
	udp_assoc_done_fn done;
	void (*released)(void *arg);
	void *arg;
	struct udp_assoc_stats st;
	struct timer drain;		/* udp_assoc_drain(): waiting for a quiet second */
	uint64_t last_moved;		/* loop ms: a datagram last went either way */
	bool pinned;			/* client port known */
	bool deny_private;
	bool v6;			/* relay socket is AF_INET6 (dual-stack) */
	bool want_local;		/* IP_PKTINFO on: local is learnt */
	bool closed;
	bool warned;			/* policy drop logged once */
};

static struct loop *a_loop(struct udp_assoc *a)
{
	return &a->w->loop;
}

/* A request came back after the close: the owner may free us now. */
static void maybe_released(struct udp_assoc *a)
{
	if (a->closed && !udp_assoc_is_busy(a) && a->released)
		a->released(a->arg);
}

static void finish(struct udp_assoc *a, int err)
{
	udp_assoc_done_fn fn = a->done;

	if (a->closed || !fn)
		return;
	a->done = NULL;
	fn(a->arg, err);
}

/* ---- destinations and policy ---- */

static bool is_dest(const struct udp_assoc *a, const union sockaddr_any *from)
{
	for (unsigned int i = 0; i < a->ndests; i++)
		if (udp_addr_eq(&a->dests[i], from, true))
			return true;
	return false;
}

static void remember_dest(struct udp_assoc *a, const union sockaddr_any *to)
{
	union sockaddr_any u;

	udp_addr_unmap(to, &u);
	if (is_dest(a, &u))
		return;
	if (!a->dests) {
		a->dests = calloc(ASSOC_DESTS, sizeof(*a->dests));
		if (!a->dests)
			return;
	}
	a->dests[a->dest_next] = u;
	a->dest_next = (a->dest_next + 1) % ASSOC_DESTS;
	if (a->ndests < ASSOC_DESTS)
		a->ndests++;
}

/* Does the policy let datagrams go to t (whoever sends them)? Logs the first refusal. */
static bool policy_ok(struct udp_assoc *a, const union sockaddr_any *t)
{
	char c[ADDR_STRLEN], d[ADDR_STRLEN];

	if (addr_port(t) == 0)
		return false;
	if (!a->deny_private || !addr_is_private(t))
		return true;
	if (!a->warned) {
		a->warned = true;
		log_warn(a->w->log, "udp associate client %s: %s is not a public address "
			 "(--allow-private permits it); dropping such datagrams",
			 addr_format(&a->client, c, sizeof(c)), addr_format(t, d, sizeof(d)));
	}
	return false;
}

/* May the association send to t itself? */
static bool allowed(struct udp_assoc *a, const union sockaddr_any *t)
{
	if (t->sa.sa_family == AF_INET6 && !a->v6)
		return false;
	return policy_ok(a, t);
}

/* The address to hand the relay socket (IPv4-mapped on a dual-stack one). */
static void sock_addr_for(const struct udp_assoc *a, const union sockaddr_any *in,
			  union sockaddr_any *out)
{
	if (a->v6)
		udp_addr_map(in, out);
	else
		udp_addr_unmap(in, out);
}

/* ---- names ---- */

static void free_queue(struct udp_assoc *a, struct name_ent *e)
{
	struct qdgram *q, *next;

	for (q = e->q; q; q = next) {
		next = q->next;
		free(q);
		a->nqueued--;
	}
	e->q = NULL;
	e->qtail = &e->q;
}

static void on_name(void *arg, int err, union sockaddr_any *addrs, size_t n)
{
	struct name_ent *e = arg;
	struct udp_assoc *a = e->a;
	union sockaddr_any *pick = NULL;
	struct qdgram *q;

	e->query = NULL;
	for (size_t i = 0; !err && i < n && !pick; i++) {
		addr_set_port(&addrs[i], 1);	/* allowed() wants a port */
		if (!(addrs[i].sa.sa_family == AF_INET6 && !a->v6) &&
		    (!a->deny_private || !addr_is_private(&addrs[i])))
			pick = &addrs[i];
	}
	if (!pick && !err && n)
		(void)allowed(a, &addrs[0]);	/* log why */
	memset(&e->addr, 0, sizeof(e->addr));
	if (pick)
		e->addr = *pick;
	e->expires = loop_now(a_loop(a)) + (pick ? NAME_TTL_MS : NAME_FAIL_MS);
	free(addrs);
	for (q = e->q; q; q = q->next) {
		union sockaddr_any t, s;
		ssize_t r;

		if (!pick) {
			a->st.dropped++;
			continue;
		}
		t = e->addr;
		addr_set_port(&t, q->port);
		sock_addr_for(a, &t, &s);
		r = sendto(a->io.fd, q->data, q->len, MSG_DONTWAIT, &s.sa, addr_len(&s));
		if (r < 0) {
			a->st.dropped++;
			continue;
		}
		remember_dest(a, &t);
		a->st.up_dgrams++;
		a->st.up_bytes += q->len;
	}
	free_queue(a, e);
}

static struct name_ent *name_get(struct udp_assoc *a, const char *name)
{
	struct name_ent *e, **pp, **oldest = NULL;

	for (e = a->names; e; e = e->next)
		if (strcmp(e->name, name) == 0)
			return e;
	if (a->nnames >= NAMES_MAX) {
		/* Reuse the entry that expires first among those not resolving. */
		for (pp = &a->names; *pp; pp = &(*pp)->next)
			if (!(*pp)->query && (!oldest || (*pp)->expires < (*oldest)->expires))
				oldest = pp;
		if (!oldest)
			return NULL;
		e = *oldest;
		*oldest = e->next;
		free_queue(a, e);
		free(e);
		a->nnames--;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->a = a;
	e->qtail = &e->q;
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->next = a->names;
	a->names = e;
	a->nnames++;
	return e;
}

/* Queue a datagram for a name being resolved. */
static void queue_for(struct udp_assoc *a, struct name_ent *e, uint16_t port,
		      const uint8_t *data, size_t len)
{
	struct qdgram *q;

	if (a->nqueued >= QUEUED_MAX || !(q = malloc(sizeof(*q) + len))) {
		a->st.dropped++;
		return;
	}
	q->next = NULL;
	q->port = port;
	q->len = len;
	memcpy(q->data, data, len);
	*e->qtail = q;
	e->qtail = &q->next;
	a->nqueued++;
}

/*
 * Where a datagram for a domain goes: true with *t set when known now;
 * false when it was queued (or dropped).
 */
static bool resolve_name(struct udp_assoc *a, const struct proto_addr *pa, const uint8_t *data,
			 size_t len, union sockaddr_any *t)
{
	const char *name = (const char *)pa->bytes;
	struct name_ent *e;

	if (addr_from_literal(name, pa->port, t))
		return true;
	e = name_get(a, name);
	if (!e) {
		a->st.dropped++;
		return false;
	}
	if (!e->query && e->expires > loop_now(a_loop(a))) {
		if (!e->addr.sa.sa_family) {
			a->st.dropped++;	/* failed lately */
			return false;
		}
		*t = e->addr;
		addr_set_port(t, pa->port);
		return true;
	}
	queue_for(a, e, pa->port, data, len);
	if (!e->query) {
		e->query = dns_resolve(a->w->dns, name, 0, on_name, e);
		if (!e->query)
			free_queue(a, e);
	}
	return false;
}

/* ---- datagrams ---- */

/*
 * -F: a datagram from the client goes to the upstream relay whole, header
 * and all. Our policy still checks IP targets (ATYP 1 and 4, and a literal
 * sent as a name, which would otherwise slip past) (the listener's
 * promise not to reach private addresses for strangers does not depend on
 * who sends); names are resolved, and judged, by the upstream.
 */
static void via_from_client(struct udp_assoc *a, struct udp_batch *b, unsigned int i,
			    const struct socks5_udp *u, unsigned int *k)
{
	union sockaddr_any t;

	memset(&t, 0, sizeof(t));
	if (u->addr.type == PROTO_ADDR_IPV4) {
		t.sin.sin_family = AF_INET;
		memcpy(&t.sin.sin_addr, u->addr.bytes, 4);
	} else if (u->addr.type == PROTO_ADDR_IPV6) {
		t.sin6.sin6_family = AF_INET6;
		memcpy(&t.sin6.sin6_addr, u->addr.bytes, 16);
	} else if (!addr_from_literal((const char *)u->addr.bytes, u->addr.port, &t)) {
		memset(&t, 0, sizeof(t));	/* a real name: the upstream's */
	}
	if (t.sa.sa_family) {		/* an IP, even one spelt as a name */
		addr_set_port(&t, u->addr.port);
		if (!policy_ok(a, &t)) {
			a->st.dropped++;
			return;
		}
	} else if (u->addr.port == 0) {
		a->st.dropped++;
		return;
	}
	sock_addr_for(a, &a->up, &b->out_addr[*k]);
	udp_out_set(b, *k, udp_slot(b, i), b->in[i].msg_len, &b->out_addr[*k], NULL);
	a->st.up_bytes += b->in[i].msg_len - u->data_off;
	(*k)++;
}

/* -F: the upstream relay's datagram (its header names the source) goes to the client as is. */
static void via_from_upstream(struct udp_assoc *a, struct udp_batch *b, unsigned int i,
			      unsigned int *k)
{
	struct socks5_udp u;
	size_t len = b->in[i].msg_len;

	if (!a->pinned || socks5_parse_udp(udp_slot(b, i), len, &u) < 0) {
		a->st.dropped++;	/* nowhere to go yet, or not a SOCKS5 datagram */
		return;
	}
	sock_addr_for(a, &a->client, &b->out_addr[*k]);
	udp_out_set(b, *k, udp_slot(b, i), len, &b->out_addr[*k], &a->local);
	a->st.down_bytes += len - u.data_off;
	(*k)++;
}

/* A datagram from the client: its payload goes to out[*k] or a name's queue. */
static void from_client(struct udp_assoc *a, struct udp_batch *b, unsigned int i,
			unsigned int *k)
{
	uint8_t *p = udp_slot(b, i);
	size_t len = b->in[i].msg_len;
	struct socks5_udp u;
	union sockaddr_any t;
	int n = socks5_parse_udp(p, len, &u);

	if (n < 0 || u.frag != 0) {	/* malformed, or a fragment: we do not reassemble */
		a->st.dropped++;
		return;
	}
	if (a->up.sa.sa_family) {
		via_from_client(a, b, i, &u, k);
		return;
	}
	memset(&t, 0, sizeof(t));
	switch (u.addr.type) {
	case PROTO_ADDR_IPV4:
		t.sin.sin_family = AF_INET;
		memcpy(&t.sin.sin_addr, u.addr.bytes, 4);
		break;
	case PROTO_ADDR_IPV6:
		t.sin6.sin6_family = AF_INET6;
		memcpy(&t.sin6.sin6_addr, u.addr.bytes, 16);
		break;
	case PROTO_ADDR_DOMAIN:
		if (!resolve_name(a, &u.addr, p + n, len - (size_t)n, &t))
			return;
		break;
	default:
		a->st.dropped++;
		return;
	}
	addr_set_port(&t, u.addr.port);
	if (!allowed(a, &t)) {
		a->st.dropped++;
		return;
	}
	remember_dest(a, &t);
	sock_addr_for(a, &t, &b->out_addr[*k]);
	udp_out_set(b, *k, p + n, len - (size_t)n, &b->out_addr[*k], NULL);
	a->st.up_bytes += len - (size_t)n;
	(*k)++;
}

/* A reply from a target: a header naming the source goes in front. */
static void from_target(struct udp_assoc *a, struct udp_batch *b, unsigned int i,
			unsigned int *k)
{
	uint8_t *p = udp_slot(b, i), hdr[SOCKS5_UDP_HEADER_MAX];
	size_t len = b->in[i].msg_len;
	struct proto_addr src;
	int h;

	ingress_proto_from_sockaddr(&b->in_addr[i], &src);
	h = socks5_write_udp_header(hdr, sizeof(hdr), &src);
	if (h < 0 || h > UDP_HEADROOM) {
		a->st.dropped++;
		return;
	}
	memcpy(p - h, hdr, (size_t)h);
	sock_addr_for(a, &a->client, &b->out_addr[*k]);
	udp_out_set(b, *k, p - h, len + (size_t)h, &b->out_addr[*k], &a->local);
	a->st.down_bytes += len;
	(*k)++;
}

static void relay_arm(struct udp_assoc *a, bool drained);

static bool is_transient(int err)
{
	return err == -ECONNREFUSED || err == -EHOSTUNREACH || err == -ENETUNREACH ||
	       err == -EMSGSIZE || err == -ENOBUFS || err == -ENOMEM || err == -EPERM;
}

static void on_relay(struct io_req *req)
{
	struct udp_assoc *a = container_of(req, struct udp_assoc, req);
	struct udp_batch *b;
	bool drained = false;

	if (a->closed) {
		maybe_released(a);
		return;
	}
	b = udp_batch_get(a->w);
	for (int round = 0; b && round < UDP_ROUNDS; round++) {
		int n = udp_recv_batch(a->io.fd, b, UDP_RX_ADDR | (a->want_local ? UDP_RX_LOCAL : 0));
		unsigned int k = 0, up = 0, dropped;

		if (n < 0 && is_transient(n))
			continue;
		if (n < 0) {
			finish(a, n);
			return;
		}
		if (n == 0) {
			drained = true;
			break;
		}
		for (unsigned int i = 0; i < (unsigned int)n; i++) {
			const union sockaddr_any *from = &b->in_addr[i];
			unsigned int before = k;

			if (b->in[i].msg_hdr.msg_flags & MSG_TRUNC) {
				a->st.dropped++;
				continue;
			}
			if (a->up.sa.sa_family) {	/* -F: the relay first, it may share the client's IP */
				if (udp_addr_eq(from, &a->up, true)) {
					via_from_upstream(a, b, i, &k);
					continue;
				}
			}
			if (!a->pinned && udp_addr_eq(from, &a->client, false)) {
				udp_addr_unmap(from, &a->client);
				a->pinned = true;
			}
			if (a->pinned && udp_addr_eq(from, &a->client, true)) {
				if (a->want_local)
					a->local = b->in_local[i];
				from_client(a, b, i, &k);
				up += k - before;
			} else if (a->ndests && is_dest(a, from)) {
				from_target(a, b, i, &k);
			} else {
				a->st.dropped++;	/* a stranger */
			}
		}
		if (k)
			a->last_moved = loop_now(a_loop(a));
		dropped = udp_send_out(a->io.fd, b, k);
		/* Drops are not told apart by direction; the totals stay right. */
		a->st.up_dgrams += up;
		a->st.down_dgrams += k - up;
		a->st.dropped += dropped;
		if (n < UDP_BATCH) {
			drained = true;
			break;
		}
	}
	relay_arm(a, drained);
}

static void relay_arm(struct udp_assoc *a, bool drained)
{
	if (!a->closed && io_is_open(&a->io))
		udp_poll(&a->io, &a->req, drained, on_relay);
}

/* ---- the control connection ---- */

/*
 * A control connection: the client's, or with -F the upstream's. Nothing
 * is expected on either; its end (eof_err at EOF) ends the association.
 */
static void ctl_event(struct udp_assoc *a, struct io_req *req, int eof_err)
{
	if (req->res > 0) {
		pool_put(&a->w->bufs, req->buf);
		req->buf = NULL;
		if (!a->closed)
			io_submit(req->io, req);	/* the same RECV again */
		else
			maybe_released(a);
		return;
	}
	if (a->closed)
		maybe_released(a);
	else
		finish(a, req->res == 0 ? eof_err : (int)req->res);
}

static void on_ctl(struct io_req *req)
{
	ctl_event(container_of(req, struct udp_assoc, ctl_req), req, 0);
}

/* The upstream's end is a reset of ours: the client must not think it was clean. */
static void on_up_ctl(struct io_req *req)
{
	ctl_event(container_of(req, struct udp_assoc, up_req), req, -ECONNRESET);
}

static void ctl_read(struct udp_assoc *a)
{
	io_submit_op(a->ctl, &a->ctl_req, IO_RECV, NULL, 0, on_ctl);
}

static void up_read(struct udp_assoc *a)
{
	io_submit_op(a->up_ctl, &a->up_req, IO_RECV, NULL, 0, on_up_ctl);
}

/* ---- life cycle ---- */

/*
 * Shutting down: UDP has no in-flight marker, so an exchange counts as done
 * once nothing moved for DRAIN_QUIET_MS; then the association ends (the
 * control connection is closed) instead of holding the exit for --grace.
 */
static void on_drain(struct timer *t)
{
	struct udp_assoc *a = container_of(t, struct udp_assoc, drain);
	uint64_t now = loop_now(a_loop(a)), quiet = now - a->last_moved;

	if (a->closed)
		return;
	if (quiet >= DRAIN_QUIET_MS) {
		finish(a, -ECANCELED);
		return;
	}
	loop_timer_arm(a_loop(a), &a->drain, DRAIN_QUIET_MS - quiet);
}

void udp_assoc_drain(struct udp_assoc *a)
{
	if (!a->closed && !timer_is_armed(&a->drain))
		on_drain(&a->drain);
}

struct udp_assoc *udp_assoc_new(struct worker *w, const union sockaddr_any *client,
				uint16_t announced_port, const union sockaddr_any *local,
				bool deny_private, union sockaddr_any *bound, int *err)
{
	struct udp_assoc *a = calloc(1, sizeof(*a));
	union sockaddr_any any, me;
	int fd;

	if (!a) {
		*err = -ENOMEM;
		return NULL;
	}
	a->w = w;
	a->deny_private = deny_private;
	io_init(&a->io);
	timer_init(&a->drain, on_drain);
	a->last_moved = loop_now(&w->loop);	/* a fresh one gets its quiet second too */
	udp_addr_unmap(client, &a->client);
	if (announced_port) {
		addr_set_port(&a->client, announced_port);
		a->pinned = true;
	}
	memset(&any, 0, sizeof(any));
	any.sin6.sin6_family = AF_INET6;
	any.sin6.sin6_addr = in6addr_any;
	fd = sock_bind_udp(&any, false);
	a->v6 = fd >= 0;
	if (fd < 0 && a->client.sa.sa_family == AF_INET) {	/* no IPv6 here */
		memset(&any, 0, sizeof(any));
		any.sin.sin_family = AF_INET;
		fd = sock_bind_udp(&any, false);
	}
	if (fd < 0) {
		*err = fd;
		goto out_free;
	}
	sock_set_buffers(fd, UDP_SESSION_BUF);
	/* Bound to the wildcard: replies must leave from the address the client used. */
	a->want_local = udp_local_enable(fd) > 0;
	*err = sock_local_addr(fd, &me);
	if (*err)
		goto out_close;
	*err = io_open(&w->loop, &a->io, fd, 0);
	if (*err)
		goto out_close;
	if (w->cfg->udp_advertise.sa.sa_family)
		*bound = w->cfg->udp_advertise;
	else
		udp_addr_unmap(local, bound);
	addr_set_port(bound, addr_port(&me));
	a->bound = *bound;
	return a;

out_close:
	close(fd);
out_free:
	free(a);
	return NULL;
}

void udp_assoc_start(struct udp_assoc *a, struct io *ctl, udp_assoc_done_fn done,
		     void (*released)(void *arg), void *arg)
{
	a->ctl = ctl;
	a->done = done;
	a->released = released;
	a->arg = arg;
	relay_arm(a, false);
	ctl_read(a);
	if (a->up_ctl)
		up_read(a);
}

void udp_assoc_via(struct udp_assoc *a, struct io *up_ctl, const union sockaddr_any *relay)
{
	a->up_ctl = up_ctl;
	udp_addr_unmap(relay, &a->up);
}

void udp_assoc_close(struct udp_assoc *a)
{
	if (a->closed)
		return;
	a->closed = true;
	a->done = NULL;
	loop_timer_cancel(a_loop(a), &a->drain);
	for (struct name_ent *e = a->names; e; e = e->next) {
		if (e->query) {
			dns_query_cancel(e->query);
			e->query = NULL;
		}
	}
	if (io_is_open(&a->io))
		io_close(&a->io);
	if (a->ctl_req.inflight)
		io_cancel(&a->ctl_req);
	if (a->up_req.inflight)
		io_cancel(&a->up_req);
}

bool udp_assoc_is_busy(const struct udp_assoc *a)
{
	return a->req.inflight || a->ctl_req.inflight || a->up_req.inflight;
}

void udp_assoc_free(struct udp_assoc *a)
{
	struct name_ent *e, *next;

	if (!a)
		return;
	udp_assoc_close(a);
	for (e = a->names; e; e = next) {
		next = e->next;
		free_queue(a, e);
		free(e);
	}
	free(a->dests);
	free(a);
}

const union sockaddr_any *udp_assoc_bound(const struct udp_assoc *a)
{
	return &a->bound;
}

const struct udp_assoc_stats *udp_assoc_stats(const struct udp_assoc *a)
{
	return &a->st;
}
