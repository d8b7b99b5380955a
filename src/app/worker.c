#include "app/worker.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "app/session.h"
#include "app/udp.h"
#include "app/tunnel.h"
#include "core/util.h"

/* Pause after an accept error that says we are out of something. */
#define ACCEPT_BACKOFF_MS	100
/*
 * With one fd left a worker accepts a client, fails to open the upstream
 * socket and pauses again: one warning per listener and worker per this
 * many ms, the rest counted into the next one.
 */
#define ACCEPT_WARN_MS		10000
/* Cached free blocks per worker. */
#define BUFS_CACHED		64
#define SESSIONS_CACHED		1024
#define PIPES_CACHED		64

static void on_accept(struct io_req *req);

static void accept_next(struct wlistener *wl)
{
	wl->req.op = IO_ACCEPT;
	wl->req.buf = &wl->peer;
	wl->req.len = sizeof(wl->peer);
	wl->req.cb = on_accept;
	io_submit(&wl->io, &wl->req);
}

static void on_backoff(struct timer *t)
{
	struct wlistener *wl = container_of(t, struct wlistener, backoff);

	if (!io_is_open(&wl->io))
		return;
	/*
	 * Connections may have queued up while we slept, with no new edge to
	 * announce them: try accept() at once rather than wait for one.
	 */
	io_hint_ready(&wl->io, IO_READY_RD);
	accept_next(wl);
}

static bool is_resource_error(int err)
{
	return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

/*
 * Accept balancing. SO_REUSEPORT spreads connections by a hash of their
 * addresses, which is fair on average but not for a few long flows: 4
 * streams land 3:1 or 4:0 on 2 workers more often than 2:2, and a loop
 * with all of them is one core's worth of relay (iperf3 -P4 through one
 * worker measured ~8 % below two). So a worker whose load is ahead of the
 * least loaded one by HANDOFF_GAP (and by a quarter, so busy workers with
 * many short connections do not pass every other one around) hands the
 * accepted fd to it: a node on its queue and a wake-up on its eventfd.
 * The target's load counts the connection at once, so a burst is not all
 * sent the same way. Nothing else crosses workers.
 */
#define HANDOFF_GAP	2

struct handoff {
	struct handoff *next;
	int fd;
	unsigned int listener;		/* index into the target's listeners */
	struct sockaddr_storage peer;
};

void worker_session_added(struct worker *w)
{
	w->nsessions++;
	atomic_fetch_add_explicit(&w->load, 1, memory_order_relaxed);
}

static struct worker *least_loaded(struct worker *w)
{
	unsigned int mine = atomic_load_explicit(&w->load, memory_order_relaxed), min = mine;
	struct worker *to = NULL;

	for (unsigned int i = 0; w->peers && i < w->nworkers; i++) {
		struct worker *p = &w->peers[i];
		unsigned int n;

		if (p == w || !atomic_load(&p->running) || atomic_load(&p->cmd) != WORKER_RUN)
			continue;
		n = atomic_load_explicit(&p->load, memory_order_relaxed);
		if (n < min) {
			min = n;
			to = p;
		}
	}
	if (!to || mine < min + HANDOFF_GAP || mine < min + min / 4)
		return NULL;
	return to;
}

/* true: fd is the other worker's now. */
static bool hand_off(struct wlistener *wl, int fd)
{
	struct worker *w = wl->w, *to = least_loaded(w);
	struct handoff *h;
	uint64_t one = 1;

	if (!to)
		return false;
	h = malloc(sizeof(*h));
	if (!h)
		return false;
	h->next = NULL;
	h->fd = fd;
	h->listener = (unsigned int)(wl - w->listeners);
	memcpy(&h->peer, &wl->peer, sizeof(h->peer));
	atomic_fetch_add_explicit(&to->load, 1, memory_order_relaxed);
	pthread_mutex_lock(&to->ho_mu);
	if (to->ho_tail)
		to->ho_tail->next = h;
	else
		to->ho_head = h;
	to->ho_tail = h;
	pthread_mutex_unlock(&to->ho_mu);
	if (write(to->evio.fd, &one, sizeof(one)) < 0) {
		/* The counter cannot overflow; the node is taken at the next wake-up. */
	}
	return true;
}

/* Connections other workers accepted for us (on_event), or leftovers at the end. */
static void take_handoffs(struct worker *w, bool serve)
{
	struct handoff *h, *next;

	pthread_mutex_lock(&w->ho_mu);
	h = w->ho_head;
	w->ho_head = w->ho_tail = NULL;
	pthread_mutex_unlock(&w->ho_mu);
	for (; h; h = next) {
		next = h->next;
		atomic_fetch_sub_explicit(&w->load, 1, memory_order_relaxed);
		/* Accepted before a drain began: a client like any other. */
		if (serve && w->state < WORKER_STOP && h->listener < w->nlisteners)
			session_start(&w->listeners[h->listener], h->fd, &h->peer);
		else
			close(h->fd);
		free(h);
	}
}

static void pause_warn(struct wlistener *wl, int err)
{
	struct worker *w = wl->w;
	uint64_t now = loop_now(&w->loop);
	char more[64] = "";

	wl->pause_logged = now >= wl->warn_after;
	if (!wl->pause_logged) {
		wl->pauses_quiet++;
		return;
	}
	if (wl->pauses_quiet)
		snprintf(more, sizeof(more), "; %u more pauses since the last warning",
			 wl->pauses_quiet);
	log_warn(w->log, "accept: %s; pausing accepts on %s (worker %u%s)",
		 strerror(err), wl->cfg->url, w->id, more);
	wl->pauses_quiet = 0;
	wl->warn_after = now + ACCEPT_WARN_MS;
}

static void on_accept(struct io_req *req)
{
	struct wlistener *wl = container_of(req, struct wlistener, req);
	struct worker *w = wl->w;
	int res = (int)req->res;

	if (res >= 0) {
		if (wl->paused) {
			wl->paused = false;
			if (wl->pause_logged)
				log_info(w->log, "accept: resumed on %s (worker %u)",
					 wl->cfg->url, w->id);
		}
		if (!hand_off(wl, res))
			session_start(wl, res, &wl->peer);
		if (io_is_open(&wl->io))
			accept_next(wl);
		return;
	}
	if (res == -ECANCELED || !io_is_open(&wl->io))
		return;
	if (is_resource_error(-res)) {
		if (!wl->paused)
			pause_warn(wl, -res);
		wl->paused = true;
		loop_timer_arm(&w->loop, &wl->backoff, ACCEPT_BACKOFF_MS);
		return;
	}
	/* Anything else (EPERM from a firewall, EPROTO...) is about one peer. */
	log_debug(w->log, "accept: %s", strerror(-res));
	loop_timer_arm(&w->loop, &wl->backoff, 1);
}

#define HOUSEKEEPING_MS	1000

/*
 * A pool nobody used for a whole tick gives its cache back: an idle proxy
 * should hold neither buffer memory nor pipe fds it does not need.
 */
static void on_housekeeping(struct timer *t)
{
	struct worker *w = container_of(t, struct worker, housekeeping);

	if (w->bufs.gets == w->bufs_gets) {
		pool_trim(&w->bufs);
		loop_trim(&w->loop);
	}
	if (w->pipes.gets == w->pipes_gets)
		pipe_pool_trim(&w->pipes);
	w->bufs_gets = w->bufs.gets;
	w->pipes_gets = w->pipes.gets;
	loop_timer_arm(&w->loop, &w->housekeeping, HOUSEKEEPING_MS);
}

static void close_listeners(struct worker *w)
{
	for (size_t i = 0; i < w->nlisteners; i++) {
		loop_timer_cancel(&w->loop, &w->listeners[i].backoff);
		udp_fwd_close(&w->listeners[i]);
		io_close(&w->listeners[i].io);
	}
}

static void check_done(struct worker *w)
{
	if (w->state != WORKER_RUN && w->nsessions == 0) {
		loop_timer_cancel(&w->loop, &w->housekeeping);
		loop_stop(&w->loop);
	}
}

void worker_session_gone(struct worker *w)
{
	w->nsessions--;
	atomic_fetch_sub_explicit(&w->load, 1, memory_order_relaxed);
	check_done(w);
}

void worker_log_auth_failure(struct worker *w, const uint8_t *user, size_t ulen,
			     const union sockaddr_any *peer)
{
	char a[ADDR_STRLEN], name[64];
	size_t n = 0;

	if (!log_on(w->log, LOG_WARN))
		return;
	/* The user name is peer input: print it tamed and short. */
	for (size_t i = 0; i < ulen && n < sizeof(name) - 4; i++)
		name[n++] = user[i] >= 0x20 && user[i] < 0x7f ? (char)user[i] : '?';
	name[n] = '\0';
	log_msg(w->log, LOG_WARN, "auth failed for user '%s' from %s", name,
		addr_format(peer, a, sizeof(a)));
}

void worker_auth_post(void *owner, struct auth_job *job)
{
	struct worker *w = owner;
	uint64_t one = 1;

	pthread_mutex_lock(&w->auth_mu);
	job->next = w->auth_done;
	w->auth_done = job;
	pthread_mutex_unlock(&w->auth_mu);
	if (write(w->evio.fd, &one, sizeof(one)) < 0) {
		/* an eventfd this far from overflow does not fail */
	}
}

/* Hand answered credential checks to their sessions. */
static void deliver_auth(struct worker *w)
{
	struct auth_job *job, *next;

	pthread_mutex_lock(&w->auth_mu);
	job = w->auth_done;
	w->auth_done = NULL;
	pthread_mutex_unlock(&w->auth_mu);
	for (; job; job = next) {
		next = job->next;
		if (!atomic_load(&job->cancelled))
			session_auth_done(job->cookie, job->ok);
		authsvc_job_done(w->authsvc, w->auth_cache, job);
	}
}

const struct ingress_ops *worker_ingress_for(enum listen_scheme scheme)
{
	switch (scheme) {
	case SCHEME_SOCKS5:
		return &ingress_socks5;
	case SCHEME_SOCKS4:
		return &ingress_socks4;
	case SCHEME_HTTP:
		return &ingress_http;
	case SCHEME_PROXY:
		return &ingress_detect;
	case SCHEME_TCP:
	default:
		return &ingress_tcp;
	}
}

static void on_event(struct io_req *req);

static void event_arm(struct worker *w)
{
	w->evreq.op = IO_POLL_IN;
	w->evreq.cb = on_event;
	io_submit(&w->evio, &w->evreq);
}

static void on_event(struct io_req *req)
{
	struct worker *w = container_of(req, struct worker, evreq);
	uint64_t v;
	int cmd;

	if (req->res < 0)
		return;
	while (read(w->evio.fd, &v, sizeof(v)) > 0)
		;
	deliver_auth(w);
	take_handoffs(w, true);
	cmd = atomic_load(&w->cmd);
	if (cmd >= WORKER_DRAIN && w->state < WORKER_DRAIN) {
		struct list *pos, *tmp;

		w->state = WORKER_DRAIN;
		close_listeners(w);
		/* Idle keep-alive connections need not wait for the grace period. */
		list_for_each_safe(pos, tmp, &w->sessions)
			session_drain(list_entry(pos, struct session, link));
		tunnel_worker_drain(w);
	}
	if (cmd >= WORKER_STOP && w->state < WORKER_STOP) {
		struct list *pos, *tmp;

		w->state = WORKER_STOP;
		tunnel_worker_kill(w);
		list_for_each_safe(pos, tmp, &w->sessions)
			session_kill(list_entry(pos, struct session, link), "shutdown");
	}
	check_done(w);
	event_arm(w);
}

/* --io-backend: the loop's backend (main.c names it in its "running" line). */
static int worker_loop_init(struct worker *w)
{
	const struct loop_backend *be = loop_backend_get(w->cfg->io_backend);

	if (!be) {
		log_error(w->log, "--io-backend uring: io_uring is not available here (%s)",
			  strerror(errno));
		return -errno;
	}
	return loop_init_be(&w->loop, be, &w->bufs, &w->pipes);
}

int worker_init(struct worker *w, unsigned int id, unsigned int nworkers,
		const struct config *cfg, struct log *log, struct supervisor *sup,
		struct authsvc *authsvc, const int *listen_fds)
{
	int err, efd;

	memset(w, 0, sizeof(*w));
	w->id = id;
	w->nworkers = nworkers;
	w->cfg = cfg;
	w->log = log;
	w->sup = sup;
	w->authsvc = authsvc;
	pthread_mutex_init(&w->auth_mu, NULL);
	pthread_mutex_init(&w->ho_mu, NULL);
	list_init(&w->sessions);
	list_init(&w->tun_srvs);
	/*
	 * auto = buffers for the first RELAY_SPLICE_AFTER bytes each way, then
	 * splice: splice measured on this kernel (bench/run.sh, relay section)
	 * at 1.2-1.3x the throughput and 0.39x the CPU per GB of buffers, but
	 * a short exchange through buffers costs two syscalls less per chunk
	 * and no pipe. A direction falls back to buffers when no pipe can be had.
	 */
	w->relay_mode = cfg->relay == RELAY_CHOICE_BUFFER ? RELAY_BUFFER :
			cfg->relay == RELAY_CHOICE_SPLICE ? RELAY_SPLICE : RELAY_AUTO;
	pool_init(&w->bufs, cfg->buffer_size, BUFS_CACHED);
	pipe_pool_init(&w->pipes, cfg->buffer_size > 1048576 ? 1048576 : cfg->buffer_size,
		       PIPES_CACHED);
	pool_init(&w->session_pool, sizeof(struct session), SESSIONS_CACHED);
	io_init(&w->evio);

	if (authsvc) {
		w->auth_cache = calloc(1, sizeof(*w->auth_cache));
		if (!w->auth_cache) {
			err = -ENOMEM;
			goto out_pools;
		}
	}
	err = worker_loop_init(w);
	if (err)
		goto out_pools;
	w->dns = dns_new(&w->loop, cfg->dns_servers, cfg->dns_cache_size);
	if (!w->dns) {
		err = -ENOMEM;
		goto out_loop;
	}
	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (efd < 0) {
		err = -errno;
		goto out_dns;
	}
	err = io_open(&w->loop, &w->evio, efd, 0);
	if (err) {
		close(efd);
		goto out_dns;
	}
	w->listeners = calloc(cfg->nlisteners, sizeof(*w->listeners));
	if (!w->listeners) {
		err = -ENOMEM;
		goto out_ev;
	}
	for (size_t i = 0; i < cfg->nlisteners; i++) {
		struct wlistener *wl = &w->listeners[i];
		const struct listener_cfg *lc = &cfg->listeners[i];

		wl->w = w;
		wl->cfg = lc;
		io_init(&wl->io);
		timer_init(&wl->backoff, on_backoff);
		wl->ingress = worker_ingress_for(lc->scheme);
		if (lc->scheme == SCHEME_TUNNEL) {	/* UDP, on one worker only */
			if (lc->target_host[0]) {
				wl->target.port = lc->target_port;
				if (lc->target_is_addr)
					wl->target.addr = lc->target;
				else
					wl->target.host = lc->target_host;
			}
			if (listen_fds[i] >= 0) {
				err = tunnel_srv_start(wl, listen_fds[i]);
				if (err) {
					close(listen_fds[i]);
					goto out_listeners;
				}
			}
			w->nlisteners = i + 1;
			continue;
		}
		/*
		 * SSRF guard: a proxy others can reach must not become their
		 * way into our loopback or private networks.
		 */
		wl->deny_private = lc->scheme != SCHEME_TCP && lc->scheme != SCHEME_UDP &&
				   !cfg->allow_private &&
				   !addr_is_loopback(&lc->bind);
		wl->target.port = lc->target_port;
		if (lc->target_is_addr)
			wl->target.addr = lc->target;
		else
			wl->target.host = lc->target_host;
		err = io_open(&w->loop, &wl->io, listen_fds[i], IO_READY_RD);
		if (err)
			goto out_listeners;
		w->nlisteners = i + 1;
		if (lc->scheme == SCHEME_UDP && (err = udp_fwd_new(wl)) < 0)
			goto out_listeners;
	}
	return 0;

out_listeners:
	tunnel_worker_fini(w);
	close_listeners(w);
	loop_drain(&w->loop);
	for (size_t i = 0; i < w->nlisteners; i++)
		udp_fwd_free(&w->listeners[i]);
	free(w->listeners);
	w->listeners = NULL;
out_ev:
	io_close(&w->evio);
out_dns:
	dns_free(w->dns);
	w->dns = NULL;
out_loop:
	loop_fini(&w->loop);
out_pools:
	free(w->auth_cache);
	w->auth_cache = NULL;
	pool_fini(&w->session_pool);
	pipe_pool_fini(&w->pipes);
	pool_fini(&w->bufs);
	return err;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	int err;

	for (size_t i = 0; i < w->nlisteners; i++) {
		if (w->listeners[i].cfg->scheme == SCHEME_TUNNEL)
			continue;	/* app/tunnel_srv.c reads its socket */
		if (w->listeners[i].udp)
			udp_fwd_start(&w->listeners[i]);
		else
			accept_next(&w->listeners[i]);
	}
	event_arm(w);
	timer_init(&w->housekeeping, on_housekeeping);
	loop_timer_arm(&w->loop, &w->housekeeping, HOUSEKEEPING_MS);
	atomic_store(&w->running, true);
	err = loop_run(&w->loop);
	atomic_store(&w->running, false);
	if (err)
		log_error(w->log, "worker %u: event loop failed: %s", w->id, strerror(-err));
	close_listeners(w);
	io_close(&w->evio);
	tunnel_worker_stop(w);
	loop_drain(&w->loop);	/* cancelled requests reach their owners */

	pthread_mutex_lock(&w->sup->mu);
	w->sup->live--;
	pthread_cond_broadcast(&w->sup->cv);
	pthread_mutex_unlock(&w->sup->mu);
	return NULL;
}

int worker_start(struct worker *w)
{
	int err;

	pthread_mutex_lock(&w->sup->mu);
	w->sup->live++;
	pthread_mutex_unlock(&w->sup->mu);
	err = pthread_create(&w->thread, NULL, worker_main, w);
	if (err) {
		pthread_mutex_lock(&w->sup->mu);
		w->sup->live--;
		pthread_mutex_unlock(&w->sup->mu);
		return -err;
	}
	w->started = true;
	return 0;
}

void worker_command(struct worker *w, enum worker_cmd cmd)
{
	uint64_t one = 1;

	atomic_store(&w->cmd, cmd);
	if (write(w->evio.fd, &one, sizeof(one)) < 0) {
		/* The counter cannot overflow at these rates; nothing to do. */
	}
}

void worker_join(struct worker *w)
{
	if (w->started)
		pthread_join(w->thread, NULL);
	w->started = false;
}

void worker_fini(struct worker *w)
{
	struct auth_job *job, *next;

	/* Answers that came after the loop stopped (the verifier is joined). */
	for (job = w->auth_done; job; job = next) {
		next = job->next;
		free(job);
	}
	w->auth_done = NULL;
	free(w->auth_cache);
	w->auth_cache = NULL;
	pthread_mutex_destroy(&w->auth_mu);
	take_handoffs(w, false);	/* after every worker ended: close them */
	pthread_mutex_destroy(&w->ho_mu);
	close_listeners(w);
	for (size_t i = 0; i < w->nlisteners; i++)
		udp_fwd_free(&w->listeners[i]);
	udp_batch_free(w);
	free(w->listeners);
	w->listeners = NULL;
	io_close(&w->evio);
	tunnel_worker_fini(w);
	dns_free(w->dns);
	w->dns = NULL;
	loop_fini(&w->loop);
	pool_fini(&w->session_pool);
	pipe_pool_fini(&w->pipes);
	pool_fini(&w->bufs);
}
