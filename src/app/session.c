#include "app/session.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/sock.h"
#include "core/util.h"

static struct loop *s_loop(struct session *s)
{
	return &s->w->loop;
}

static void maybe_free(struct session *s)
{
	struct worker *w = s->w;

	if (dial_is_busy(&s->dial) || relay_is_busy(&s->relay))
		return;
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
	char peer[ADDR_STRLEN], target[ADDR_STRLEN], why[96];
	uint64_t ms = loop_now(s_loop(s)) - s->start_ms;

	if (!log_on(s->w->log, LOG_INFO))
		return;
	log_msg(s->w->log, LOG_INFO,
		"conn %llu closed: client %s target %s up %llu down %llu time %llu.%03llus (%s)",
		(unsigned long long)s->id, addr_format(&s->peer, peer, sizeof(peer)),
		addr_format(&s->dial.peer, target, sizeof(target)),
		(unsigned long long)s->relay.dir[0].bytes,
		(unsigned long long)s->relay.dir[1].bytes,
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

static void on_idle_timer(struct timer *t)
{
	struct session *s = container_of(t, struct session, timer);
	uint64_t idle = s->w->cfg->idle_timeout_ms;
	uint64_t quiet = loop_now(s_loop(s)) - s->relay.last_active;

	if (quiet < idle) {	/* activity since armed: sleep the rest */
		loop_timer_arm(s_loop(s), &s->timer, idle - quiet);
		return;
	}
	s->why = "idle timeout";
	relay_finish(&s->relay, -ETIMEDOUT);
}

/* --- ingress callbacks --- */

static void ingress_ready(struct ingress_ctx *ctx)
{
	struct session *s = container_of(ctx, struct session, ingress);

	s->state = SESSION_RELAYING;
	relay_start(&s->relay, &s->client, &s->upstream, s->w->relay_mode,
		    on_relay_done, on_relay_released);
	if (s->w->cfg->idle_timeout_ms)
		loop_timer_arm(s_loop(s), &s->timer, s->w->cfg->idle_timeout_ms);
}

static void ingress_fail(struct ingress_ctx *ctx, int err)
{
	struct session *s = container_of(ctx, struct session, ingress);

	s->state = SESSION_CLOSING;
	close_ios(s, err ? err : -ECONNABORTED);
	maybe_free(s);
}

static void on_dialed(struct dial *d, int err)
{
	struct session *s = container_of(d, struct session, dial);
	union sockaddr_any bound = { 0 };

	if (s->state == SESSION_CLOSING) {	/* cancelled dial letting go */
		maybe_free(s);
		return;
	}
	if (err) {
		char peer[ADDR_STRLEN], target[ADDR_STRLEN];
		const struct target *t = s->ingress.fixed;

		if (t && t->host && d->peer.sa.sa_family == 0)
			log_warn(s->w->log, "conn %llu client %s: resolving %s failed: %s",
				 (unsigned long long)s->id,
				 addr_format(&s->peer, peer, sizeof(peer)), t->host,
				 dns_strerror(err));
		else
			log_warn(s->w->log, "conn %llu client %s: connect to %s failed: %s",
				 (unsigned long long)s->id,
				 addr_format(&s->peer, peer, sizeof(peer)),
				 addr_format(&d->peer, target, sizeof(target)), strerror(-err));
	} else if (s->ingress.ops->wants_bound) {
		sock_local_addr(s->upstream.fd, &bound);
	}
	s->ingress.ops->connected(&s->ingress, err, &bound);
}

static void ingress_request(struct ingress_ctx *ctx, const struct target *t)
{
	struct session *s = container_of(ctx, struct session, ingress);
	struct worker *w = s->w;

	s->state = SESSION_DIALING;
	dial_start(&s->dial, s_loop(s), w->dns, &s->upstream, t,
		   w->cfg->connect_timeout_ms, w->cfg->he_delay_ms, on_dialed);
}

void session_start(struct wlistener *wl, int fd)
{
	struct worker *w = wl->w;
	struct session *s = pool_get(&w->session_pool);

	if (!s) {
		log_warn(w->log, "out of memory: dropping a connection");
		close(fd);
		return;
	}
	memset(s, 0, sizeof(*s));
	s->w = w;
	s->id = w->seq++ * w->nworkers + w->id;
	s->start_ms = loop_now(&w->loop);
	memcpy(&s->peer, &wl->peer, sizeof(s->peer));
	io_init(&s->client);
	io_init(&s->upstream);
	s->upstream.loop = &w->loop;
	timer_init(&s->timer, on_idle_timer);
	if (io_open(&w->loop, &s->client, fd, IO_READY_WR) < 0) {
		close(fd);
		pool_put(&w->session_pool, s);
		return;
	}
	list_add_tail(&w->sessions, &s->link);
	w->nsessions++;

	s->ingress = (struct ingress_ctx){
		.ops = &ingress_tcp,
		.client = &s->client,
		.fixed = &wl->target,
		.request = ingress_request,
		.ready = ingress_ready,
		.fail = ingress_fail,
	};
	s->ingress.ops->start(&s->ingress);
}

void session_kill(struct session *s, const char *why)
{
	switch (s->state) {
	case SESSION_RELAYING:
		s->why = why;
		relay_finish(&s->relay, -ECANCELED);
		break;
	case SESSION_DIALING:
		s->state = SESSION_CLOSING;
		dial_cancel(&s->dial);
		close_ios(s, -ECANCELED);
		maybe_free(s);
		break;
	case SESSION_HANDSHAKE:
		s->state = SESSION_CLOSING;
		close_ios(s, -ECANCELED);
		maybe_free(s);
		break;
	default:
		break;
	}
}
