#include "app/session.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/udp.h"
#include "app/http_fwd.h"
#include "app/tunnel.h"
#include "core/sock.h"
#include "core/util.h"

/* Handshake buffer: starts small, grows up to the largest head we accept. */
#define HS_BUF_MIN	2048
#define HS_BUF_MAX	(64 * 1024 + 1024)

/* What only the handshake needs; freed when relaying starts. */
struct handshake {
	struct session *s;		/* back pointer */
	struct io_req rd;		/* RECV from the client into buf */
	struct io_req wr;		/* SEND ctx.out to the client, or leftovers upstream */
	uint8_t *buf;			/* owned: client bytes not consumed yet */
	size_t len, cap;
	size_t out_off;			/* bytes of ctx.out already sent */
	size_t fwd_off;			/* leftover bytes already sent upstream */
	size_t up_off;			/* bytes of ctx.up already sent upstream */
	bool close_after_flush;
	bool starved;			/* the ingress wants more than buf holds */
	struct auth_job *job;		/* borrowed: a pending credentials check */
	char auth_user[64];		/* for the log line of a failed login */
	size_t auth_user_len;
	struct ingress_ctx ctx;
};

static void process(struct session *s);
static void act(struct session *s);
static void start_relay(struct session *s);
static void start_egress(struct session *s, const struct target *t);
static void start_bind(struct session *s);

static struct loop *s_loop(struct session *s)
{
	return &s->w->loop;
}

static const struct target *requested(const struct session *s)
{
	return s->hs ? &s->hs->ctx.target : &s->wl->target;
}

static bool hs_busy(const struct handshake *hs)
{
	return hs && (hs->rd.inflight || hs->wr.inflight);
}

static void hs_free(struct session *s)
{
	if (!s->hs)
		return;
	if (s->hs->job)		/* the worker frees it when it comes back */
		atomic_store(&s->hs->job->cancelled, true);
	free(s->hs->ctx.up);
	free(s->hs->buf);
	free(s->hs);
	s->hs = NULL;
}

static void maybe_free(struct session *s)
{
	struct worker *w = s->w;

	if (dial_is_busy(&s->dial) || relay_is_busy(&s->relay) || hs_busy(s->hs) ||
	    (s->assoc && udp_assoc_is_busy(s->assoc)) || (s->fwd && http_fwd_is_busy(s->fwd)) ||
	    (s->tun && tstream_is_busy(s->tun)))
		return;
	if (s->tun) {
		tstream_free(s->tun);
		s->tun = NULL;
	}
	hs_free(s);
	udp_assoc_free(s->assoc);
	s->assoc = NULL;
	http_fwd_free(s->fwd);
	s->fwd = NULL;
	free(s->chain_target);
	s->chain_target = NULL;
	list_del(&s->link);
	pool_put(&w->session_pool, s);
	worker_session_gone(w);
}

static const char *reason(int err, const char *why, char *buf, size_t len)
{
	if (why)
		return why;
	if (err == 0)
		return "eof";
	if (err == -ECONNRESET || err == -EPIPE)
		return "reset";
	snprintf(buf, len, "error: %s", strerror(-err));
	return buf;
}

static void log_close(struct session *s, int err)
{
	char peer[ADDR_STRLEN], target[ADDR_STRLEN + HOST_MAX], why[96];
	uint64_t ms = loop_now(s_loop(s)) - s->start_ms;
	uint64_t up = s->relay.dir[0].bytes, down = s->relay.dir[1].bytes;

	if (!log_on(s->w->log, LOG_INFO))
		return;
	if (s->fwd)
		http_fwd_bytes(s->fwd, &up, &down);
	if (s->assoc) {		/* UDP ASSOCIATE: payload bytes, both ways */
		const struct udp_assoc_stats *st = udp_assoc_stats(s->assoc);

		up = st->up_bytes;
		down = st->down_bytes;
		snprintf(target, sizeof(target), "udp-associate");
		log_msg(s->w->log, LOG_INFO, "conn %llu udp associate: datagrams up %llu down %llu "
			"dropped %llu (malformed, fragments, policy, strangers, no room)",
			(unsigned long long)s->id, (unsigned long long)st->up_dgrams,
			(unsigned long long)st->down_dgrams, (unsigned long long)st->dropped);
	} else if (s->tun)
		snprintf(target, sizeof(target), "%s", tstream_target(s->tun));
	else if (s->chain_target)
		snprintf(target, sizeof(target), "%s", s->chain_target);
	else if (s->dial.peer.sa.sa_family)
		addr_format(&s->dial.peer, target, sizeof(target));
	else if (s->fwd && http_fwd_target(s->fwd, target, sizeof(target)))
		;
	else if (requested(s)->host)
		snprintf(target, sizeof(target), "%s:%u", requested(s)->host, requested(s)->port);
	else if (requested(s)->addr.sa.sa_family)
		addr_format(&requested(s)->addr, target, sizeof(target));
	else
		snprintf(target, sizeof(target), "-");
	log_msg(s->w->log, LOG_INFO,
		"conn %llu closed: client %s target %s up %llu down %llu time %llu.%03llus (%s)",
		(unsigned long long)s->id, addr_format(&s->peer, peer, sizeof(peer)), target,
		(unsigned long long)up, (unsigned long long)down,
		(unsigned long long)(ms / 1000), (unsigned long long)(ms % 1000),
		reason(err, s->why, why, sizeof(why)));
}

/* Close both sides. An error resets them so the peers learn at once. */
static void close_ios(struct session *s, int err)
{
	if (err) {
		io_abort(&s->client);
		io_abort(&s->upstream);
	} else {
		io_close(&s->client);
		io_close(&s->upstream);
	}
}

/* End a session that is not relaying (handshake, dial, reply). */
static void close_early(struct session *s, int err, const char *why)
{
	if (s->state == SESSION_CLOSING || s->state == SESSION_RELAYING)
		return;
	if (!s->why)
		s->why = why;
	s->state = SESSION_CLOSING;
	loop_timer_cancel(s_loop(s), &s->timer);
	if (s->dial.cb)
		dial_cancel(&s->dial);
	if (s->chain) {
		chain_cancel(s->chain);
		s->chain = NULL;
	}
	bind_cancel(s->bind);
	s->bind = NULL;
	if (s->tun) {			/* not relaying: nothing of it in flight */
		tstream_free(s->tun);
		s->tun = NULL;
	}
	log_close(s, err);
	if (s->assoc)
		udp_assoc_close(s->assoc);
	close_ios(s, err);
	maybe_free(s);
}

/* --- SOCKS5 UDP ASSOCIATE: the relay lives as long as the control connection --- */

static void on_assoc_done(void *arg, int err)
{
	struct session *s = arg;

	if (err == -ECANCELED)		/* udp_assoc_drain(): a clean close */
		close_early(s, 0, "shutdown");
	else
		close_early(s, err, err ? NULL : "udp associate: control connection closed");
}

static void on_assoc_released(void *arg)
{
	maybe_free(arg);
}

static void after_ingress(struct session *s);

/* Tell the client how UDP ASSOCIATE went (bound: our relay), then hold or close. */
static void udp_reply(struct session *s, int err, const union sockaddr_any *bound, const char *why)
{
	struct handshake *hs = s->hs;

	s->state = SESSION_REPLYING;
	hs->ctx.ops->connected(&hs->ctx, err, bound);
	if (hs->ctx.event == INGRESS_CLOSE) {
		hs->close_after_flush = true;
		if (!hs->ctx.why)
			hs->ctx.why = why;
	}
	after_ingress(s);
}

/* -F: the last hop answered our UDP ASSOCIATE (egress/chain.c). */
static void on_udp_chained(void *arg, int err, size_t where, const union sockaddr_any *relay)
{
	struct session *s = arg;
	const struct hop *h = &s->w->cfg->hops[where - 1];
	char peer[ADDR_STRLEN], addr[ADDR_STRLEN];
	union sockaddr_any bound = { 0 };

	s->chain = NULL;	/* it frees itself */
	if (err) {
		log_warn(s->w->log, "conn %llu client %s: udp associate via %s (hop %zu): %s",
			 (unsigned long long)s->id, addr_format(&s->peer, peer, sizeof(peer)),
			 h->url, where, err == -EPROTO ? "broken reply" : strerror(-err));
		udp_assoc_free(s->assoc);	/* not started: nothing in flight */
		s->assoc = NULL;
		udp_reply(s, err, &bound, "udp associate: refused by the -F chain");
		return;
	}
	log_msg(s->w->log, LOG_INFO, "conn %llu udp associate via %s: upstream relay %s",
		(unsigned long long)s->id, h->url, addr_format(relay, addr, sizeof(addr)));
	udp_assoc_via(s->assoc, &s->upstream, relay);
	udp_reply(s, 0, udp_assoc_bound(s->assoc), NULL);
}

static void start_udp(struct session *s)
{
	struct handshake *hs = s->hs;
	const struct config *cfg = s->w->cfg;
	union sockaddr_any local = { 0 }, bound = { 0 };
	bool via = cfg->nhops && chain_can_udp(cfg->hops, cfg->nhops);
	int err = -EOPNOTSUPP;	/* a chain that cannot carry UDP: say so */

	if (!cfg->nhops || via) {
		err = sock_local_addr(s->client.fd, &local);
		if (!err)
			s->assoc = udp_assoc_new(s->w, &s->peer, hs->ctx.target.port, &local,
						 s->wl->deny_private, &bound, &err);
	}
	if (s->assoc && via) {	/* the last hop's UDP ASSOCIATE first, then our reply */
		s->state = SESSION_DIALING;
		s->chain = chain_start_udp(s_loop(s), s->w->dns, &s->upstream, cfg->hops,
					   cfg->nhops, addr_port(&bound), cfg->connect_timeout_ms,
					   cfg->he_delay_ms, on_udp_chained, s);
		if (!s->chain)
			close_early(s, -ENOMEM, "out of memory");
		return;
	}
	udp_reply(s, s->assoc ? 0 : err, &bound,
		  err == -EOPNOTSUPP ? "udp associate: not supported with this -F chain" :
				       "udp associate failed");
}

static void hold_udp(struct session *s)
{
	loop_timer_cancel(s_loop(s), &s->timer);
	hs_free(s);		/* bytes after the request mean nothing: dropped */
	s->state = SESSION_UDP;
	udp_assoc_start(s->assoc, &s->client, on_assoc_done, on_assoc_released, s);
}

/* --- relay --- */

static void on_relay_done(struct relay *r)
{
	struct session *s = container_of(r, struct session, relay);

	s->state = SESSION_CLOSING;
	loop_timer_cancel(s_loop(s), &s->timer);
	log_close(s, r->err);
	close_ios(s, r->err);
}

static void on_relay_released(struct relay *r)
{
	maybe_free(container_of(r, struct session, relay));
}

/* The -F tunnel:// relay ended (tunnel.h): as on_relay_done. */
static void on_tun_done(void *arg, int err)
{
	struct session *s = arg;

	s->state = SESSION_CLOSING;
	loop_timer_cancel(s_loop(s), &s->timer);
	/* += : after plain HTTP requests (session_fwd_tunnel) those bytes count too. */
	s->relay.dir[0].bytes += tstream_bytes(s->tun, true);
	s->relay.dir[1].bytes += tstream_bytes(s->tun, false);
	if (!s->why && err)
		s->why = tstream_why(s->tun);
	log_close(s, err);
	close_ios(s, err);
}

static void on_tun_released(void *arg, int err)
{
	maybe_free(arg);
}

static void on_idle_timer(struct timer *t)
{
	struct session *s = container_of(t, struct session, timer);
	uint64_t idle = s->w->cfg->idle_timeout_ms;
	uint64_t last = s->tun ? tstream_last_active(s->tun) : s->relay.last_active;
	uint64_t quiet = loop_now(s_loop(s)) - last;

	if (quiet < idle) {	/* activity since armed: sleep the rest */
		loop_timer_arm(s_loop(s), &s->timer, idle - quiet);
		return;
	}
	s->why = "idle timeout";
	if (s->tun)
		tstream_finish(s->tun, -ETIMEDOUT);
	else
		relay_finish(&s->relay, -ETIMEDOUT);
}

static void on_deadline(struct timer *t)
{
	struct session *s = container_of(t, struct session, timer);

	close_early(s, -ETIMEDOUT, "handshake timeout");
}

/*
 * Through a -F chain nothing local knows the destination once the
 * handshake (the ingress's target) is freed: keep it for the close line.
 * Best effort (out of memory: the line says "-").
 */
static void keep_chain_target(struct session *s, const char *name)
{
	const struct target *t = requested(s);
	char buf[ADDR_STRLEN + HOST_MAX];

	if (!s->w->cfg->nhops || s->tun || s->chain_target)
		return;
	if (name)
		snprintf(buf, sizeof(buf), "%s", name);
	else if (s->hs && t->host)
		snprintf(buf, sizeof(buf), "%s:%u", t->host, t->port);
	else if (s->hs && t->addr.sa.sa_family)
		addr_format(&t->addr, buf, sizeof(buf));
	else
		return;
	s->chain_target = strdup(buf);
}

static void start_relay(struct session *s)
{
	struct worker *w = s->w;
	/* Bytes already sent upstream: a rewritten head, pipelined client bytes. */
	uint64_t early = s->hs ? s->hs->up_off + s->hs->fwd_off : 0;

	loop_timer_cancel(s_loop(s), &s->timer);
	keep_chain_target(s, NULL);
	if (s->tun) {
		/* Bytes the ingress has for upstream go into the stream first. */
		struct handshake *hs = s->hs;

		s->state = SESSION_RELAYING;
		tstream_relay(s->tun, &s->client,
			      hs && hs->ctx.up ? hs->ctx.up + hs->up_off : NULL,
			      hs && hs->ctx.up ? hs->ctx.up_len - hs->up_off : 0,
			      hs ? hs->buf + hs->fwd_off : NULL, hs ? hs->len - hs->fwd_off : 0,
			      NULL, on_tun_done, on_tun_released, s);
		hs_free(s);
	} else {
		hs_free(s);
		s->state = SESSION_RELAYING;
		relay_start(&s->relay, &s->client, &s->upstream, w->relay_mode,
			    on_relay_done, on_relay_released, NULL);
		s->relay.dir[0].bytes += early;
	}
	if (w->cfg->idle_timeout_ms) {
		s->timer.cb = on_idle_timer;
		loop_timer_arm(s_loop(s), &s->timer, w->cfg->idle_timeout_ms);
	}
}

/* --- handshake I/O --- */

static void on_hs_read(struct io_req *req);
static void on_hs_write(struct io_req *req);

static void hs_read(struct session *s)
{
	struct handshake *hs = s->hs;

	if (hs->len == hs->cap) {
		size_t ncap = hs->cap ? hs->cap * 2 : HS_BUF_MIN;
		uint8_t *nb;

		if (ncap > HS_BUF_MAX)
			ncap = HS_BUF_MAX;
		if (hs->len == ncap) {	/* the ingress should have refused by now */
			close_early(s, -EMSGSIZE, "request too large");
			return;
		}
		nb = realloc(hs->buf, ncap);
		if (!nb) {
			close_early(s, -ENOMEM, "out of memory");
			return;
		}
		hs->buf = nb;
		hs->cap = ncap;
	}
	io_submit_op(&s->client, &hs->rd, IO_RECV, hs->buf + hs->len, hs->cap - hs->len,
		     on_hs_read);
}

static void flush(struct session *s)
{
	struct handshake *hs = s->hs;

	io_submit_op(&s->client, &hs->wr, IO_SEND, hs->ctx.out + hs->out_off,
		     hs->ctx.out_len - hs->out_off, on_hs_write);
}

/* Act on what the last input/result left: reply first, then the event. */
static void after_ingress(struct session *s)
{
	struct handshake *hs = s->hs;

	if (hs->out_off < hs->ctx.out_len) {
		flush(s);
		return;
	}
	hs->ctx.out_len = hs->out_off = 0;
	if (hs->close_after_flush) {
		close_early(s, -ECONNABORTED, hs->ctx.why ? hs->ctx.why : "refused");
		return;
	}
	act(s);
}

static void process(struct session *s)
{
	struct handshake *hs = s->hs;

	while (hs->len > 0 && hs->ctx.event == INGRESS_NONE) {
		/* Not cached: proxy:// swaps in the detected ingress's ops. */
		int n = hs->ctx.ops->input(&hs->ctx, hs->buf, hs->len);

		if (n < 0) {
			hs->close_after_flush = true;
			if (!hs->ctx.why)
				hs->ctx.why = "protocol error";
			break;
		}
		if (n == 0) {
			hs->starved = true;
			break;
		}
		if ((size_t)n > hs->len)
			n = (int)hs->len;	/* defensive: an ingress over-consumed */
		/*
		 * INGRESS_AUTH points into the bytes just parsed: keep them
		 * until the check is done (consumed later, in on_auth()).
		 */
		if (hs->ctx.event == INGRESS_AUTH) {
			hs->fwd_off = (size_t)n;
			break;
		}
		memmove(hs->buf, hs->buf + n, hs->len - (size_t)n);
		hs->len -= (size_t)n;
	}
	after_ingress(s);
}

static void on_dialed(struct dial *d, int err);

static void auth_finish(struct session *s, bool ok)
{
	struct handshake *hs = s->hs;

	if (!ok)
		worker_log_auth_failure(s->w, (const uint8_t *)hs->auth_user, hs->auth_user_len,
					&s->peer);
	hs->ctx.event = INGRESS_NONE;
	hs->ctx.ops->auth_result(&hs->ctx, ok);
	if (hs->ctx.event == INGRESS_NONE && !hs->close_after_flush && hs->ctx.out_len == 0) {
		process(s);
		return;
	}
	if (hs->ctx.event == INGRESS_CLOSE)
		hs->close_after_flush = true;
	after_ingress(s);
}

static void check_auth(struct session *s)
{
	struct handshake *hs = s->hs;
	struct worker *w = s->w;
	struct auth_job *job = NULL;
	enum authsvc_answer ans = AUTHSVC_DENIED;

	/* Keep the user name for the log; the password goes nowhere. */
	hs->auth_user_len = hs->ctx.user_len < sizeof(hs->auth_user) ?
			    hs->ctx.user_len : sizeof(hs->auth_user);
	memcpy(hs->auth_user, hs->ctx.user, hs->auth_user_len);
	if (w->authsvc)
		ans = authsvc_check(w->authsvc, w->auth_cache, w, s, hs->ctx.user,
				    hs->ctx.user_len, hs->ctx.pass, hs->ctx.pass_len, &job);
	/* The credentials were parsed from buf[0..fwd_off): drop them now. */
	memmove(hs->buf, hs->buf + hs->fwd_off, hs->len - hs->fwd_off);
	hs->len -= hs->fwd_off;
	hs->fwd_off = 0;
	hs->ctx.user = hs->ctx.pass = NULL;
	if (ans == AUTHSVC_PENDING) {
		hs->job = job;		/* session_auth_done() follows */
		return;
	}
	auth_finish(s, ans == AUTHSVC_OK);
}

void session_auth_done(struct session *s, bool ok)
{
	if (s->fwd) {
		http_fwd_auth_done(s->fwd, ok);
		return;
	}
	s->hs->job = NULL;
	auth_finish(s, ok);
}

/* --- HTTP forwarding (app/http_fwd.c) --- */

/* A plain HTTP request: the forwarding loop takes the connection from here. */
static void start_forward(struct session *s)
{
	struct handshake *hs = s->hs;
	uint8_t *buf = hs->buf;
	size_t len = hs->len, cap = hs->cap;

	hs->buf = NULL;
	loop_timer_cancel(s_loop(s), &s->timer);
	hs_free(s);
	s->state = SESSION_FORWARDING;
	if (http_fwd_start(s, buf, len, cap) < 0) {
		s->state = SESSION_HANDSHAKE;
		close_early(s, -ENOMEM, "out of memory");
	}
}

void session_fwd_close(struct session *s, int err, const char *why)
{
	if (!s->why)
		s->why = why;
	s->state = SESSION_CLOSING;
	log_close(s, err);
	close_ios(s, err);
	maybe_free(s);
}

void session_fwd_release(struct session *s)
{
	maybe_free(s);
}

void session_fwd_tunnel(struct session *s)
{
	uint64_t up, down;
	char target[HOST_MAX + 8];

	http_fwd_bytes(s->fwd, &up, &down);
	if (http_fwd_target(s->fwd, target, sizeof(target)))
		keep_chain_target(s, target);
	http_fwd_free(s->fwd);
	s->fwd = NULL;
	start_relay(s);
	s->relay.dir[0].bytes += up;	/* the close line counts the whole connection */
	s->relay.dir[1].bytes += down;
}

static void act(struct session *s)
{
	struct handshake *hs = s->hs;

	switch (hs->ctx.event) {
	case INGRESS_NONE:
		if (s->bind)		/* BIND's first reply is out */
			bind_wait_peer(s->bind);
		else if (hs->len > 0 && !hs->starved)
			process(s);	/* pipelined bytes not fed yet */
		else
			hs_read(s);
		return;
	case INGRESS_AUTH:
		check_auth(s);
		return;
	case INGRESS_REQUEST:
		hs->ctx.event = INGRESS_NONE;
		loop_timer_cancel(s_loop(s), &s->timer);	/* the dial has its own */
		start_egress(s, &hs->ctx.target);
		return;
	case INGRESS_BIND:
		hs->ctx.event = INGRESS_NONE;
		loop_timer_cancel(s_loop(s), &s->timer);	/* the bind has its own */
		start_bind(s);
		return;
	case INGRESS_RELAY:		/* stays set until the relay starts */
		if (s->tun) {		/* the tunnel stream takes them (start_relay) */
			start_relay(s);
			return;
		}
		if (hs->up_off < hs->ctx.up_len) {
			/* What the ingress wrote for upstream (a rewritten head) first. */
			io_submit_op(&s->upstream, &hs->wr, IO_SEND, hs->ctx.up + hs->up_off,
				     hs->ctx.up_len - hs->up_off, on_hs_write);
			return;
		}
		if (hs->fwd_off < hs->len) {
			/* Pipelined client bytes after the request go upstream first. */
			io_submit_op(&s->upstream, &hs->wr, IO_SEND, hs->buf + hs->fwd_off,
				     hs->len - hs->fwd_off, on_hs_write);
			return;
		}
		start_relay(s);
		return;
	case INGRESS_CLOSE:
		close_early(s, -ECONNABORTED, hs->ctx.why ? hs->ctx.why : "refused");
		return;
	case INGRESS_UDP_ASSOCIATE:
		hs->ctx.event = INGRESS_NONE;
		start_udp(s);
		return;
	case INGRESS_HOLD:
		hold_udp(s);
		return;
	case INGRESS_FORWARD:
		start_forward(s);
		return;
	}
}

static void on_hs_read(struct io_req *req)
{
	struct handshake *hs = container_of(req, struct handshake, rd);
	struct session *s = hs->s;
	if (s->state == SESSION_CLOSING) {
		maybe_free(s);
		return;
	}
	if (req->res <= 0) {
		close_early(s, req->res == 0 ? 0 : (int)req->res,
			    req->res == 0 ? "client closed during handshake" : NULL);
		return;
	}
	hs->len += (size_t)req->res;
	hs->starved = false;
	process(s);
}

static void on_hs_write(struct io_req *req)
{
	struct handshake *hs = container_of(req, struct handshake, wr);
	struct session *s = hs->s;

	if (s->state == SESSION_CLOSING) {
		maybe_free(s);
		return;
	}
	if (req->res <= 0) {
		close_early(s, req->res == 0 ? -EPIPE : (int)req->res, NULL);
		return;
	}
	if (req->io == &s->upstream) {	/* ingress bytes or leftovers going upstream */
		if (hs->up_off < hs->ctx.up_len)
			hs->up_off += (size_t)req->res;
		else
			hs->fwd_off += (size_t)req->res;
		act(s);			/* INGRESS_RELAY again: more, or the relay */
		return;
	}
	hs->out_off += (size_t)req->res;
	after_ingress(s);
}

/* --- egress --- */

/* The egress answered (direct or chained): reply, relay, or close. */
static void egress_done(struct session *s, int err)
{
	union sockaddr_any bound = { 0 };

	if (!s->hs) {			/* tcp://: nothing to tell the client */
		if (err)
			close_early(s, err, "connect failed");
		else
			start_relay(s);
		return;
	}
	if (!err && s->is_bind)
		bound = s->dial.peer;	/* BIND: the second reply names the peer */
	else if (!err && s->hs->ctx.ops->wants_bound && !s->tun)
		sock_local_addr(s->upstream.fd, &bound);
	s->state = SESSION_REPLYING;
	s->timer.cb = on_deadline;
	loop_timer_arm(s_loop(s), &s->timer, s->w->cfg->handshake_timeout_ms);
	s->hs->ctx.ops->connected(&s->hs->ctx, err, &bound);
	if (s->hs->ctx.event == INGRESS_CLOSE) {
		s->hs->close_after_flush = true;
		if (!s->hs->ctx.why)
			s->hs->ctx.why = "connect failed";
	}
	after_ingress(s);
}

static void on_dialed(struct dial *d, int err)
{
	struct session *s = container_of(d, struct session, dial);
	char peer[ADDR_STRLEN], target[ADDR_STRLEN];
	const struct target *t;

	if (s->state == SESSION_CLOSING) {	/* cancelled dial letting go */
		maybe_free(s);
		return;
	}
	t = requested(s);
	if (err == -EACCES)
		log_warn(s->w->log, "conn %llu client %s: %s is not a public address "
			 "(--allow-private permits it)", (unsigned long long)s->id,
			 addr_format(&s->peer, peer, sizeof(peer)),
			 addr_format(&d->peer, target, sizeof(target)));
	else if (err && t->host && d->peer.sa.sa_family == 0)
		log_warn(s->w->log, "conn %llu client %s: resolving %s failed: %s",
			 (unsigned long long)s->id, addr_format(&s->peer, peer, sizeof(peer)),
			 t->host, dns_strerror(err));
	else if (err)
		log_warn(s->w->log, "conn %llu client %s: connect to %s failed: %s",
			 (unsigned long long)s->id, addr_format(&s->peer, peer, sizeof(peer)),
			 addr_format(&d->peer, target, sizeof(target)), strerror(-err));
	egress_done(s, err);
}

static void on_chained(void *arg, int err, size_t where)
{
	struct session *s = arg;
	char peer[ADDR_STRLEN];
	const struct hop *h = &s->w->cfg->hops[where - 1];

	s->chain = NULL;	/* it frees itself */
	if (err)
		log_warn(s->w->log, "conn %llu client %s: via %s (hop %zu): %s",
			 (unsigned long long)s->id, addr_format(&s->peer, peer, sizeof(peer)),
			 h->url, where, err == -EPROTO ? "broken reply" : strerror(-err));
	egress_done(s, err);
}

static void on_tunneled(void *arg, int err)
{
	struct session *s = arg;
	char peer[ADDR_STRLEN];

	if (err) {
		tstream_free(s->tun);	/* refused: nothing of it is in flight */
		s->tun = NULL;
		log_warn(s->w->log, "conn %llu client %s: via %s: %s", (unsigned long long)s->id,
			 addr_format(&s->peer, peer, sizeof(peer)), s->w->cfg->hops[0].url,
			 tunnel_open_strerror(err));
	}
	egress_done(s, err);
}

/* Dial t directly or through the -F chain. */
static void start_egress(struct session *s, const struct target *t)
{
	struct worker *w = s->w;
	const struct config *cfg = w->cfg;

	s->state = SESSION_DIALING;
	if (cfg->nhops && cfg->hops[0].kind == HOP_TUNNEL) {
		s->tun = tunnel_open(w, t, on_tunneled, s);
		if (!s->tun)
			close_early(s, -ENETUNREACH, "tunnel unavailable");
		return;
	}
	if (cfg->nhops) {
		s->chain = chain_start(s_loop(s), w->dns, &s->upstream, cfg->hops, cfg->nhops, t,
				       cfg->connect_timeout_ms, cfg->he_delay_ms, on_chained, s);
		if (!s->chain)
			close_early(s, -ENOMEM, "out of memory");
		return;
	}
	(s->wl->deny_private ? dial_start_public : dial_start)(&s->dial, s_loop(s), w->dns,
		&s->upstream, t, cfg->connect_timeout_ms, cfg->he_delay_ms, on_dialed);
}

/* --- BIND: egress/bind.c listens; the session relays the one peer --- */

static void log_bind(struct session *s, const char *what, const union sockaddr_any *a)
{
	char peer[ADDR_STRLEN], addr[ADDR_STRLEN];

	log_warn(s->w->log, "conn %llu client %s: BIND: %s%s", (unsigned long long)s->id,
		 addr_format(&s->peer, peer, sizeof(peer)), what,
		 a ? addr_format(a, addr, sizeof(addr)) : "");
}

static void on_bind_reject(void *arg, const union sockaddr_any *peer)
{
	log_bind(arg, "reset a connection that is not the requested peer: ", peer);
}

static void bind_failed(struct session *s, int err)
{
	s->hs->ctx.why = err == -ETIMEDOUT ? "BIND timeout" : "BIND failed";
	log_bind(s, err == -ETIMEDOUT ? "no peer connected in time" :
		 err == -EACCES ? "not a public address (--allow-private permits it)" :
		 err == -EPERM ? "not supported through -F upstream proxies" : strerror(-err),
		 NULL);
	if (s->hs->wr.inflight)		/* the first reply is still going out */
		close_early(s, err, s->hs->ctx.why);
	else
		egress_done(s, err);
}

static void on_bind_ready(void *arg, int err, const union sockaddr_any *addr)
{
	struct session *s = arg;

	if (err) {
		s->bind = NULL;
		bind_failed(s, err);
		return;
	}
	s->hs->ctx.ops->bound(&s->hs->ctx, addr);
	after_ingress(s);		/* then act() calls bind_wait_peer() */
}

static void on_bind_done(void *arg, int err, const union sockaddr_any *peer)
{
	struct session *s = arg;

	s->bind = NULL;
	if (err == -ECONNABORTED) {
		close_early(s, 0, "client closed during BIND");
		return;
	}
	if (err) {
		bind_failed(s, err);
		return;
	}
	s->dial.peer = *peer;		/* for the second reply and the log */
	egress_done(s, 0);
}

static void start_bind(struct session *s)
{
	struct worker *w = s->w;
	union sockaddr_any local = { 0 };
	struct bind_params p = {
		.want = &s->hs->ctx.target, .local = &local,
		.deny_private = s->wl->deny_private, .timeout_ms = w->cfg->bind_timeout_ms,
		.ready = on_bind_ready, .done = on_bind_done, .reject = on_bind_reject, .arg = s,
	};

	s->state = SESSION_DIALING;
	s->is_bind = true;
	if (w->cfg->nhops || !s->hs->ctx.ops->bound) {	/* chains only CONNECT */
		bind_failed(s, -EPERM);
		return;
	}
	sock_local_addr(s->client.fd, &local);
	s->bind = bind_start(s_loop(s), w->dns, &s->client, &s->upstream, &p);
	if (!s->bind)
		close_early(s, -ENOMEM, "out of memory");
}

void session_start(struct wlistener *wl, int fd, const struct sockaddr_storage *peer)
{
	struct worker *w = wl->w;
	struct session *s = pool_get(&w->session_pool);
	const struct ingress_ops *ops = wl->ingress;

	if (!s) {
		log_warn(w->log, "out of memory: dropping a connection");
		close(fd);
		return;
	}
	memset(s, 0, sizeof(*s));
	s->w = w;
	s->wl = wl;
	s->id = w->seq++ * w->nworkers + w->id;
	s->start_ms = loop_now(&w->loop);
	memcpy(&s->peer, peer, sizeof(s->peer));
	io_init(&s->client);
	io_init(&s->upstream);
	s->upstream.loop = &w->loop;
	timer_init(&s->timer, on_deadline);
	if (io_open(&w->loop, &s->client, fd, IO_READY_WR) < 0) {
		close(fd);
		pool_put(&w->session_pool, s);
		return;
	}
	list_add_tail(&w->sessions, &s->link);
	worker_session_added(w);

	if (!ops->input) {		/* tcp://: straight to the fixed target */
		start_egress(s, &wl->target);
		return;
	}
	s->hs = calloc(1, sizeof(*s->hs));
	if (!s->hs) {
		close_early(s, -ENOMEM, "out of memory");
		return;
	}
	s->hs->s = s;
	s->hs->ctx.ops = ops;
	s->hs->ctx.need_auth = wl->cfg->need_auth;
	ops->start(&s->hs->ctx);
	s->state = SESSION_HANDSHAKE;
	loop_timer_arm(&w->loop, &s->timer, w->cfg->handshake_timeout_ms);
	hs_read(s);
}

void session_drain(struct session *s)
{
	if (s->state == SESSION_FORWARDING)
		http_fwd_drain(s->fwd);
	else if (s->state == SESSION_UDP)
		udp_assoc_drain(s->assoc);
}

void session_kill(struct session *s, const char *why)
{
	if (s->state == SESSION_FORWARDING) {
		http_fwd_kill(s->fwd, why);
		return;
	}
	if (s->state == SESSION_RELAYING) {
		s->why = why;
		if (s->tun)
			tstream_finish(s->tun, -ECANCELED);
		else
			relay_finish(&s->relay, -ECANCELED);
		return;
	}
	close_early(s, -ECANCELED, why);
}
