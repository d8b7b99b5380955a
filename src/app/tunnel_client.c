/*
 * -F tunnel://HOST:PORT: the client side. One tunnel session per worker,
 * made when the first stream needs it; when it dies (server restarted,
 * keepalive timeout, ICMP port unreachable) the next stream makes a fresh
 * one with a new socket and a new handshake, so recovery needs no timer.
 */
#include "app/tunnel_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/worker.h"
#include "core/util.h"

struct tclient {
	struct tpeer *cur;	/* borrowed: the live session, or NULL */
	uint64_t seq;
};

static struct tclient *get_client(struct worker *w)
{
	if (!w->tun_client)
		w->tun_client = calloc(1, sizeof(*w->tun_client));
	return w->tun_client;
}

static void start_handshake(struct tpeer *p, const union sockaddr_any *addr)
{
	const struct tunnel_opts *o = &p->w->cfg->tunnel;
	uint64_t now = loop_now(&p->w->loop);
	int fd, err;

	p->addr = *addr;
	fd = socket(addr->sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		tpeer_die(p, -errno, "cannot make a UDP socket");
		return;
	}
	/* connect(): the kernel filters other sources and reports ICMP errors. */
	if (connect(fd, &addr->sa, addr_len(addr)) < 0) {
		err = -errno;
		close(fd);
		tpeer_die(p, err, "cannot reach the server address");
		return;
	}
	err = tep_open(p->ep, fd);
	if (err) {
		close(fd);
		tpeer_die(p, err, "cannot register the UDP socket");
		return;
	}
	p->ep->connected = true;
	p->state = TPEER_HANDSHAKE;
	p->ch = tchan_client_new(o->key, now, tunnel_wall_ms(), tunnel_rng, NULL, tpeer_emit, p);
	if (!p->ch) {
		tpeer_die(p, -ENOMEM, "out of memory");
		return;
	}
	tchan_set_padding(p->ch, o->padding, o->mtu);
	tep_arm(p->ep);
	tep_flush(p->ep);
	tpeer_schedule(p);
}

static void on_resolved(void *arg, int err, union sockaddr_any *addrs, size_t n)
{
	struct tpeer *p = arg;

	p->query = NULL;
	if (err || n == 0) {
		free(addrs);
		tpeer_die(p, err ? err : -ENOENT, "cannot resolve the server");
		return;
	}
	start_handshake(p, &addrs[0]);
	free(addrs);
}

static struct tpeer *client_peer(struct worker *w)
{
	struct tclient *tc = get_client(w);
	const struct hop *h = &w->cfg->hops[0];
	union sockaddr_any a;
	struct tpeer *p;

	if (!tc)
		return NULL;
	if (tc->cur)
		return tc->cur;
	p = tpeer_new(w, true, tc->seq++ * w->nworkers + w->id);
	if (!p)
		return NULL;
	p->ep = malloc(sizeof(*p->ep));
	if (!p->ep) {
		mux_free(p->mux);
		free(p);
		return NULL;
	}
	tep_init(p->ep, w);
	p->ep->peer = p;
	p->ep->srv = NULL;
	tc->cur = p;
	p->state = TPEER_RESOLVING;
	if (addr_from_literal(h->host, h->port, &a)) {
		start_handshake(p, &a);
	} else {
		p->query = dns_resolve(w->dns, h->host, h->port, on_resolved, p);
		if (!p->query)
			tpeer_die(p, -ENOMEM, "cannot start resolving the server");
		else
			tpeer_schedule(p);
	}
	if (p->state == TPEER_DEAD)
		return NULL;	/* tclient_peer_gone cleared tc->cur; freed when idle */
	return p;
}

void tclient_peer_gone(struct tpeer *p)
{
	struct tclient *tc = p->w->tun_client;

	if (tc && tc->cur == p)
		tc->cur = NULL;
	if (p->ep)
		tep_close(p->ep);
}

void tclient_on_datagram(struct tep *ep, const uint8_t *pkt, size_t len,
			 const union sockaddr_any *from)
{
	struct tpeer *p = ep->peer;
	size_t plen = 0;
	bool was_ready;
	int rc;

	if (!p || !p->ch || p->state == TPEER_DEAD)
		return;
	was_ready = tchan_is_ready(p->ch);
	rc = tchan_input(p->ch, pkt, len, loop_now(&p->w->loop), ep->pt, sizeof(ep->pt), &plen);
	if (rc < 0)
		return;
	if (rc == 1 && plen)
		tpeer_input(p, ep->pt, plen);
	if (rc == 1 || was_ready != tchan_is_ready(p->ch))
		tep_touch(ep, p);
}

void tclient_on_error(struct tep *ep, int err)
{
	struct tpeer *p = ep->peer;

	/*
	 * ECONNREFUSED: an ICMP port unreachable. Nothing listens there any
	 * more, so this session's server state is gone: start afresh.
	 */
	if (p && err == -ECONNREFUSED)
		tpeer_die(p, -ECONNREFUSED, "server port unreachable");
}

static void fill_dest(const struct target *t, struct mux_dest *d)
{
	memset(d, 0, sizeof(*d));
	d->port = t->port;
	if (t->host) {
		d->type = MUX_DEST_NAME;
		snprintf(d->name, sizeof(d->name), "%s", t->host);
	} else if (t->addr.sa.sa_family == AF_INET6 &&
		   !IN6_IS_ADDR_V4MAPPED(&t->addr.sin6.sin6_addr)) {
		d->type = MUX_DEST_IPV6;
		memcpy(d->addr, t->addr.sin6.sin6_addr.s6_addr, 16);
	} else if (t->addr.sa.sa_family == AF_INET6) {
		d->type = MUX_DEST_IPV4;
		memcpy(d->addr, t->addr.sin6.sin6_addr.s6_addr + 12, 4);
	} else {
		d->type = MUX_DEST_IPV4;
		memcpy(d->addr, &t->addr.sin.sin_addr, 4);
	}
}

struct tstream *tunnel_open(struct worker *w, const struct target *t, tstream_open_cb cb,
			    void *arg)
{
	struct tpeer *p = client_peer(w);
	struct mux_stream *ms;
	struct mux_dest d;
	struct tstream *ts;

	if (!p)
		return NULL;
	fill_dest(t, &d);
	ts = malloc(sizeof(*ts));
	if (!ts)
		return NULL;
	ms = mux_open(p->mux, &d);
	if (!ms) {
		free(ts);
		return NULL;
	}
	tstream_init(ts, p, ms);
	ts->heap = true;
	if (t->host)
		snprintf(ts->target, sizeof(ts->target), "%s:%u", t->host, t->port);
	else
		addr_format(&t->addr, ts->target, sizeof(ts->target));
	ts->state = TS_OPENING;
	ts->open_cb = cb;
	ts->arg = arg;
	tstream_arm_open(ts, w->cfg->connect_timeout_ms);
	tpeer_kick(p);
	return ts;
}

const char *tunnel_open_strerror(int err)
{
	switch (err) {
	case -ENOENT:
		return "no such name";
	case -EAGAIN:
		return "resolver failure";
	case -EACCES:
		return "destination not allowed by the tunnel server";
	default:
		return strerror(-err);
	}
}

void tclient_fini(struct worker *w)
{
	free(w->tun_client);
	w->tun_client = NULL;
}

void tclient_stop(struct worker *w)
{
	struct tclient *tc = w->tun_client;

	if (tc && tc->cur)
		tpeer_close(tc->cur, "shutdown");
}
