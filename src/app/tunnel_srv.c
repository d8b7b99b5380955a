/*
 * -L tunnel://BIND[/TARGET]: the server side.
 *
 * One UDP socket per listener, owned by one worker (listener index modulo
 * the worker count), rather than one SO_REUSEPORT socket per worker: the
 * kernel hashes a datagram's 4-tuple to a socket, so a client that roams
 * (new address or port) would land on a worker whose tchan_server does not
 * know its channel, and the msg1 replay cache would be split across
 * workers. With one socket, roaming is just "the latest authenticated
 * source becomes the peer address", and a replayed msg1 is always caught.
 * The cost: all tunnel sessions of one listener share one core (one
 * session is single-core anyway); run several listeners to spread them.
 *
 * Each OPEN is dialled with the direct egress under the proxies' rule:
 * private and loopback destinations only with --allow-private or when the
 * listener itself is on loopback. A listener with /TARGET ignores what the
 * stream asks for and dials its target (like tcp://).
 */
#include "app/tunnel_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/worker.h"
#include "core/util.h"
#include "egress/direct.h"

#define WALL_RESYNC_MS	1000
#define BAD_LOG_MS	10000	/* at most one "failed handshakes" line this often */

struct tsrv {
	struct list link;		/* on w->tun_srvs */
	struct wlistener *wl;		/* borrowed */
	struct worker *w;		/* borrowed */
	struct tchan_server *cs;	/* owned */
	struct list peers;		/* struct tpeer.link */
	struct tpeer *last;		/* borrowed: the peer of the last datagram */
	struct timer wall;		/* re-anchors the handshake clock */
	uint64_t seq;
	uint64_t bad_seen, bad_logged;	/* hs_bad + hs_stale counted / already logged */
	uint64_t bad_log_ms;		/* when the last such line went out */
	bool draining;
	bool deny_private;
	struct tep ep;			/* last: it is big */
};

/* A stream the server dials and bridges. */
struct sstream {
	struct tstream ts;
	struct tsrv *srv;		/* borrowed */
	struct dial dial;
	struct io up;			/* the connection to the destination */
	struct target t;		/* host points into host */
	char host[HOST_MAX + 1];
	union sockaddr_any client;	/* the tunnel peer at open time, for the log */
	struct timer idle;		/* --idle-timeout while relaying */
	uint64_t id, tunnel_id, start_ms;
	const char *why;
	bool released;
};

int tunnel_listen_udp(const union sockaddr_any *a)
{
	int fd = socket(a->sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int off = 0, err;

	if (fd < 0)
		return -errno;
	if (a->sa.sa_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	if (bind(fd, &a->sa, addr_len(a)) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static void on_wall(struct timer *t)
{
	struct tsrv *s = container_of(t, struct tsrv, wall);

	tchan_server_set_wall(s->cs, loop_now(&s->w->loop), tunnel_wall_ms());
	loop_timer_arm(&s->w->loop, &s->wall, WALL_RESYNC_MS);
}

int tunnel_srv_start(struct wlistener *wl, int fd)
{
	struct worker *w = wl->w;
	const struct config *cfg = w->cfg;
	struct tsrv *s = calloc(1, sizeof(*s));
	int err;

	if (!s)
		return -ENOMEM;
	s->wl = wl;
	s->w = w;
	list_init(&s->peers);
	timer_init(&s->wall, on_wall);
	s->deny_private = !cfg->allow_private && !addr_is_loopback(&wl->cfg->bind);
	s->cs = tchan_server_new(cfg->tunnel.key, loop_now(&w->loop), tunnel_wall_ms(),
				 tunnel_rng, NULL);
	if (!s->cs) {
		free(s);
		return -ENOMEM;
	}
	tep_init(&s->ep, w);
	s->ep.srv = s;
	s->ep.peer = NULL;
	err = tep_open(&s->ep, fd);
	if (err) {
		tchan_server_free(s->cs);
		free(s);
		return err;
	}
	/* On a wildcard address, answer each client from the address it sent to. */
	err = udp_local_enable(fd);
	if (err < 0)
		log_warn(w->log, "tunnel: cannot learn local addresses (IP_PKTINFO): %s",
			 strerror(-err));
	s->ep.want_local = err > 0;
	list_add_tail(&w->tun_srvs, &s->link);
	tep_arm(&s->ep);
	loop_timer_arm(&w->loop, &s->wall, WALL_RESYNC_MS);
	return 0;
}

static struct tpeer *find_peer(struct tsrv *s, const struct tchan *ch)
{
	struct list *pos, *tmp;

	if (s->last && s->last->ch == ch)
		return s->last;
	list_for_each_safe(pos, tmp, &s->peers) {
		struct tpeer *p = list_entry(pos, struct tpeer, link);

		if (p->ch == ch)
			return s->last = p;
	}
	return NULL;
}

/*
 * Handshakes that fail authentication (a wrong key, a stale clock) leave
 * no state; say so in the log, rate-limited, with the latest source.
 */
static void note_bad(struct tsrv *s, const union sockaddr_any *from)
{
	struct tchan_server_stats st;
	uint64_t bad, now = loop_now(&s->w->loop);
	char a[ADDR_STRLEN];

	tchan_server_get_stats(s->cs, &st);
	bad = st.hs_bad + st.hs_stale;
	if (bad == s->bad_seen)
		return;
	s->bad_seen = bad;
	if (s->bad_log_ms && now - s->bad_log_ms < BAD_LOG_MS)
		return;
	log_warn(s->w->log, "tunnel://%s: %llu handshake%s failed authentication, latest from %s "
		 "(wrong --tunnel-key, clock off by more than %d s, or a session from before "
		 "a restart)",
		 s->wl->cfg->url + strlen("tunnel://"),
		 (unsigned long long)(bad - s->bad_logged), bad - s->bad_logged == 1 ? "" : "s",
		 addr_format(from, a, sizeof(a)), TCHAN_HS_WINDOW_MS / 1000);
	s->bad_logged = bad;
	s->bad_log_ms = now;
}

void tsrv_on_datagram(struct tep *ep, const uint8_t *pkt, size_t len,
		      const union sockaddr_any *from, const struct udp_local *local)
{
	struct tsrv *s = ep->srv;
	struct worker *w = s->w;
	struct tchan *ch = NULL;
	struct tpeer *p;
	size_t plen = 0;
	char a[ADDR_STRLEN], b[ADDR_STRLEN];
	int rc;

	rc = tchan_server_input(s->cs, pkt, len, loop_now(&w->loop), &ch, ep->pt, sizeof(ep->pt),
				&plen);
	switch (rc) {
	case TCHAN_NEW:
		if (s->draining) {
			tchan_free(ch);
			return;
		}
		p = tpeer_new(w, false, s->seq++ * w->nworkers + w->id);
		if (!p) {
			tchan_free(ch);
			return;
		}
		p->srv = s;
		p->ep = &s->ep;
		p->ch = ch;
		p->addr = *from;
		p->local = *local;
		p->state = TPEER_HANDSHAKE;
		list_add_tail(&s->peers, &p->link);
		s->last = p;
		tchan_set_emit(ch, tpeer_emit, p);
		tchan_set_padding(ch, w->cfg->tunnel.padding, w->cfg->tunnel.mtu);
		tchan_flush(ch);
		log_debug(w->log, "tunnel %llu: handshake from %s", (unsigned long long)p->id,
			  addr_format(from, a, sizeof(a)));
		tep_touch(ep, p);
		return;
	case TCHAN_DATA:
	case TCHAN_CTRL:
		p = find_peer(s, ch);
		if (!p)
			return;
		if (memcmp(&p->addr, from, addr_len(from)) != 0) {
			/* Roaming: answer where the latest authenticated packet came from. */
			log_info(w->log, "tunnel %llu: client moved from %s to %s",
				 (unsigned long long)p->id, addr_format(&p->addr, a, sizeof(a)),
				 addr_format(from, b, sizeof(b)));
			memset(&p->addr, 0, sizeof(p->addr));
			memcpy(&p->addr, from, addr_len(from));
		}
		p->local = *local;	/* and from the address it sent to */
		if (rc == TCHAN_DATA && plen)
			tpeer_input(p, ep->pt, plen);
		tep_touch(ep, p);
		return;
	default:
		note_bad(s, from);
		return;
	}
}

void tsrv_peer_gone(struct tpeer *p)
{
	struct tsrv *s = p->srv;

	if (s->last == p)
		s->last = NULL;
	list_del(&p->link);
	list_init(&p->link);
}

/* --- streams --- */

static void ss_maybe_free(struct sstream *ss)
{
	struct worker *w = ss->srv->w;

	if (!ss->released || dial_is_busy(&ss->dial))
		return;
	loop_timer_cancel(&w->loop, &ss->idle);
	tstream_fini(&ss->ts);
	free(ss);
	worker_session_gone(w);
}

static void ss_log_close(struct sstream *ss, int err)
{
	struct worker *w = ss->srv->w;
	char peer[ADDR_STRLEN], target[ADDR_STRLEN + HOST_MAX], why[96];
	uint64_t ms = loop_now(&w->loop) - ss->start_ms;
	const char *reason = ss->why ? ss->why : tstream_why(&ss->ts);

	if (!log_on(w->log, LOG_INFO))
		return;
	if (ss->dial.peer.sa.sa_family)
		addr_format(&ss->dial.peer, target, sizeof(target));
	else if (ss->t.host)
		snprintf(target, sizeof(target), "%s:%u", ss->t.host, ss->t.port);
	else
		addr_format(&ss->t.addr, target, sizeof(target));
	if (!reason) {
		if (err == 0)
			reason = "eof";
		else if (err == -ECONNRESET || err == -EPIPE)
			reason = "reset";
		else {
			snprintf(why, sizeof(why), "error: %s", strerror(-err));
			reason = why;
		}
	}
	/* up = client -> target, as in the TCP sessions' lines. */
	log_msg(w->log, LOG_INFO,
		"conn %llu closed: tunnel %llu client %s target %s up %llu down %llu "
		"time %llu.%03llus (%s)",
		(unsigned long long)ss->id, (unsigned long long)ss->tunnel_id,
		addr_format(&ss->client, peer, sizeof(peer)), target,
		(unsigned long long)tstream_bytes(&ss->ts, false),
		(unsigned long long)tstream_bytes(&ss->ts, true),
		(unsigned long long)(ms / 1000), (unsigned long long)(ms % 1000), reason);
}

static void ss_done(void *arg, int err)
{
	struct sstream *ss = arg;

	loop_timer_cancel(&ss->srv->w->loop, &ss->idle);
	if (ss->dial.cb && dial_is_busy(&ss->dial))
		dial_cancel(&ss->dial);
	ss_log_close(ss, err);
	if (err)
		io_abort(&ss->up);
	else
		io_close(&ss->up);
}

static void ss_released(void *arg, int err)
{
	struct sstream *ss = arg;

	ss->released = true;
	ss_maybe_free(ss);
}

static void ss_on_idle(struct timer *t);

static void ss_on_dialed(struct dial *d, int err)
{
	struct sstream *ss = container_of(d, struct sstream, dial);
	struct worker *w = ss->srv->w;
	char peer[ADDR_STRLEN], target[ADDR_STRLEN];

	if (ss->ts.state == TS_DONE) {		/* the stream ended while dialling */
		ss_maybe_free(ss);
		return;
	}
	if (err == -EACCES)
		log_warn(w->log, "conn %llu tunnel %llu client %s: %s is not a public address "
			 "(--allow-private permits it)", (unsigned long long)ss->id,
			 (unsigned long long)ss->tunnel_id,
			 addr_format(&ss->client, peer, sizeof(peer)),
			 addr_format(&d->peer, target, sizeof(target)));
	else if (err && ss->t.host && d->peer.sa.sa_family == 0)
		log_warn(w->log, "conn %llu tunnel %llu client %s: resolving %s failed: %s",
			 (unsigned long long)ss->id, (unsigned long long)ss->tunnel_id,
			 addr_format(&ss->client, peer, sizeof(peer)), ss->t.host,
			 dns_strerror(err));
	else if (err)
		log_warn(w->log, "conn %llu tunnel %llu client %s: connect to %s failed: %s",
			 (unsigned long long)ss->id, (unsigned long long)ss->tunnel_id,
			 addr_format(&ss->client, peer, sizeof(peer)),
			 addr_format(&d->peer, target, sizeof(target)), strerror(-err));
	if (err) {
		mux_refuse(ss->ts.ms, mux_reason_from_errno(err));
		ss->why = "connect failed";
		ss->ts.state = TS_DONE;
		ss_log_close(ss, err);
		ss->released = true;
		tpeer_kick(ss->ts.p);
		ss_maybe_free(ss);
		return;
	}
	mux_accept(ss->ts.ms);
	tstream_relay(&ss->ts, &ss->up, NULL, 0, NULL, 0, NULL, ss_done, ss_released, ss);
	if (w->cfg->idle_timeout_ms && ss->ts.state == TS_RELAYING)
		loop_timer_arm(&w->loop, &ss->idle, w->cfg->idle_timeout_ms);
}

static void ss_on_idle(struct timer *t)
{
	struct sstream *ss = container_of(t, struct sstream, idle);
	struct worker *w = ss->srv->w;
	uint64_t idle = w->cfg->idle_timeout_ms;
	uint64_t quiet = loop_now(&w->loop) - tstream_last_active(&ss->ts);

	if (ss->ts.state != TS_RELAYING)
		return;
	if (quiet < idle) {
		loop_timer_arm(&w->loop, &ss->idle, idle - quiet);
		return;
	}
	ss->why = "idle timeout";
	tstream_finish(&ss->ts, -ETIMEDOUT);
}

void tsrv_on_open(struct tpeer *p, struct mux_stream *ms, const struct mux_dest *d)
{
	struct tsrv *s = p->srv;
	struct worker *w = s->w;
	const struct config *cfg = w->cfg;
	const struct wlistener *wl = s->wl;
	struct sstream *ss;

	if (s->draining || w->state != WORKER_RUN) {
		mux_refuse(ms, MUX_R_RESOURCE);
		mux_stream_free(ms);
		return;
	}
	ss = calloc(1, sizeof(*ss));
	if (!ss) {
		mux_refuse(ms, MUX_R_RESOURCE);
		mux_stream_free(ms);
		return;
	}
	tstream_init(&ss->ts, p, ms);
	ss->ts.state = TS_OPEN;
	ss->ts.done = ss_done;		/* a reset while dialling ends it */
	ss->ts.released = ss_released;
	ss->ts.arg = ss;
	ss->srv = s;
	ss->id = w->seq++ * w->nworkers + w->id;
	ss->tunnel_id = p->id;
	ss->start_ms = loop_now(&w->loop);
	ss->client = p->addr;
	io_init(&ss->up);
	ss->up.loop = &w->loop;
	timer_init(&ss->idle, ss_on_idle);
	worker_session_added(w);
	if (wl->cfg->target_host[0]) {
		ss->t = wl->target;		/* the listener's fixed target */
	} else {
		ss->t.port = d->port;
		switch (d->type) {
		case MUX_DEST_IPV4:
			ss->t.addr.sin.sin_family = AF_INET;
			memcpy(&ss->t.addr.sin.sin_addr, d->addr, 4);
			addr_set_port(&ss->t.addr, d->port);
			break;
		case MUX_DEST_IPV6:
			ss->t.addr.sin6.sin6_family = AF_INET6;
			memcpy(ss->t.addr.sin6.sin6_addr.s6_addr, d->addr, 16);
			addr_set_port(&ss->t.addr, d->port);
			break;
		default:
			if (addr_from_literal(d->name, d->port, &ss->t.addr))
				break;
			snprintf(ss->host, sizeof(ss->host), "%s", d->name);
			ss->t.host = ss->host;
			break;
		}
	}
	(s->deny_private ? dial_start_public : dial_start)(&ss->dial, &w->loop, w->dns, &ss->up,
		&ss->t, cfg->connect_timeout_ms, cfg->he_delay_ms, ss_on_dialed);
}

/* --- worker hooks --- */

void tunnel_worker_drain(struct worker *w)
{
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &w->tun_srvs)
		list_entry(pos, struct tsrv, link)->draining = true;
}

void tunnel_worker_kill(struct worker *w)
{
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &w->tun_srvs) {
		struct tsrv *s = list_entry(pos, struct tsrv, link);

		s->draining = true;
		while (!list_is_empty(&s->peers))
			tpeer_close(list_entry(s->peers.next, struct tpeer, link), "shutdown");
	}
}

void tunnel_worker_stop(struct worker *w)
{
	struct list *pos, *tmp;

	tunnel_worker_kill(w);
	list_for_each_safe(pos, tmp, &w->tun_srvs) {
		struct tsrv *s = list_entry(pos, struct tsrv, link);

		loop_timer_cancel(&w->loop, &s->wall);
		tep_close(&s->ep);
	}
	tclient_stop(w);
}

void tunnel_worker_fini(struct worker *w)
{
	while (!list_is_empty(&w->tun_srvs)) {
		struct tsrv *s = list_entry(w->tun_srvs.next, struct tsrv, link);

		list_del(&s->link);
		loop_timer_cancel(&w->loop, &s->wall);
		tep_close(&s->ep);
		tchan_server_free(s->cs);
		free(s);
	}
	tclient_fini(w);
}
