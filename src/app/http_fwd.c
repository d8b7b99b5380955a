#include "app/http_fwd.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "app/session.h"
#include "app/tunnel.h"
#include "app/upstream.h"
#include "core/util.h"
#include "proto/http1.h"

#define FWD_HEAD_MAX		65536		/* request and response heads: 431 / 502 */
#define FWD_MAX_HEADERS		100
#define FWD_BUF_MIN		16384
#define FWD_BUF_MAX		(FWD_HEAD_MAX + 1024)
#define FWD_KEEPALIVE_MS	30000		/* idle client (and its upstream), unless --idle-timeout */
#define FWD_LINGER_MS		2000		/* after an error reply: unread client bytes drained */

static const char proxy_auth_hdr[] = "Proxy-Authenticate: Basic realm=\"sluice\"\r\n";

/* Client -> upstream: the request. */
enum up_phase {
	UP_HEAD = 0,		/* reading the next request head */
	UP_AUTH,		/* credentials being checked */
	UP_DIAL,		/* connecting to the origin */
	UP_SEND,		/* sending the rewritten head */
	UP_BODY,		/* sending the body as it comes */
	UP_DONE,		/* the whole request went; client not read */
	UP_TUNNEL,		/* CONNECT: 200 sent, then early bytes, then the relay */
};

/* Upstream -> client: the response. */
enum dn_phase {
	DN_IDLE = 0,		/* no request sent yet */
	DN_RESP,		/* heads and body going to the client */
	DN_DONE,		/* the response is complete */
};

/* A byte buffer: [0, len) are bytes not consumed yet. */
struct xbuf {
	uint8_t *p;		/* owned (malloc) */
	size_t len, cap;
};

struct http_fwd {
	struct session *s;		/* back pointer; owns this */
	struct io_req crd, cwr;		/* on s->client */
	struct io_req urd, uwr;		/* on up */
	struct upstream up;		/* s->upstream (socket), or a tunnel stream (owned) */
	struct tstream *opening;	/* owned: a tunnel stream waiting for OPEN_OK, or NULL */
	struct timer timer;		/* head deadline, keep-alive idle, or exchange idle */
	struct xbuf cin;		/* client bytes not consumed */
	struct xbuf uin;		/* upstream bytes not consumed */
	uint8_t *uhead;			/* owned: the rewritten request head, kept for a retry */
	size_t uhead_len, uhead_off;
	uint8_t *cout;			/* owned: a head or error reply for the client */
	size_t cout_len, cout_off;
	size_t up_pending;		/* body bytes at the front of cin being sent upstream */
	size_t dn_pending;		/* body bytes at the front of uin being sent to the client */
	size_t last_len;		/* for http1_parse_request's O(n) rescans */
	struct http1_framer req_body;
	struct http1_resp_reader rr;
	struct target target;		/* this request's; host points into host */
	char host[HOST_MAX + 1];
	char up_host[HOST_MAX + 1];	/* what s->upstream is connected to, while open */
	uint16_t up_port;
	struct auth_job *job;		/* borrowed: a pending credentials check */
	char auth_user[64];		/* for the log line of a failed login */
	size_t auth_user_len;
	char scratch[512];		/* decoded Basic credentials */
	char what[160];			/* "GET http://host/..." for the debug line */
	const char *why;		/* static: close reason for the log */
	uint64_t up_bytes, down_bytes;	/* totals over the connection */
	uint64_t last_active;		/* loop ms of the last progress */
	unsigned int nreq;
	int status;			/* final status of this request's response */
	uint8_t up_phase, dn_phase;
	bool cout_busy;			/* cwr is sending cout (else uin body bytes) */
	bool crd_pooled;		/* crd reads into a loop pool buffer (cin freed while idle) */
	bool client_keep;		/* the client lets the connection live on */
	bool client_10;			/* an HTTP/1.0 client: no 1xx for it */
	bool up_keep;			/* the upstream can take the next request */
	bool close_after;		/* close the client after this response */
	bool head_request;		/* method HEAD */
	bool is_connect;		/* CONNECT: a tunnel on the relay follows */
	bool reused;			/* sent on an upstream kept from before */
	bool retried;
	bool dn_started;		/* a byte of the response arrived */
	bool head_sent;			/* a final head went to the client */
	bool error_reply;		/* our own error reply is going out; close after */
	bool lingering;			/* it went: reading to EOF so no RST eats it */
	bool closing;
};

static void try_head(struct http_fwd *f);
static void on_timer(struct timer *t);
static void tunnel_go(struct http_fwd *f);
static void arm_head_timer(struct http_fwd *f, bool idle);
static void pump_up(struct http_fwd *f);
static void pump_down(struct http_fwd *f);
static void connect_upstream(struct http_fwd *f);

static struct loop *f_loop(const struct http_fwd *f)
{
	return &f->s->w->loop;
}

static const struct config *f_cfg(const struct http_fwd *f)
{
	return f->s->w->cfg;
}

bool http_fwd_is_busy(const struct http_fwd *f)
{
	return f->crd.inflight || f->cwr.inflight || f->urd.inflight || f->uwr.inflight;
}

void http_fwd_bytes(const struct http_fwd *f, uint64_t *up, uint64_t *down)
{
	*up = f->up_bytes;
	*down = f->down_bytes;
}

bool http_fwd_target(const struct http_fwd *f, char *buf, size_t len)
{
	if (f->host[0])
		snprintf(buf, len, "%s:%u", f->host, f->target.port);
	else
		snprintf(buf, len, "-");
	return true;
}

void http_fwd_free(struct http_fwd *f)
{
	if (!f)
		return;
	loop_timer_cancel(f_loop(f), &f->timer);
	if (f->job)		/* the worker frees it when it comes back */
		atomic_store(&f->job->cancelled, true);
	if (f->opening)
		tstream_free(f->opening);
	/* A tunnel stream is ours; the socket is the session's (it may relay on: CONNECT). */
	if (f->up.ops == &upstream_tstream_ops)
		upstream_close(&f->up, -ECANCELED);
	free(f->cin.p);
	free(f->uin.p);
	free(f->uhead);
	free(f->cout);
	free(f);
}

/* The end: the session logs, closes both sockets and frees us when idle. */
static void fwd_end(struct http_fwd *f, int err, const char *why)
{
	struct session *s = f->s;

	if (f->closing)
		return;
	f->closing = true;
	if (!f->why)
		f->why = why;
	loop_timer_cancel(f_loop(f), &f->timer);
	if (f->job) {
		atomic_store(&f->job->cancelled, true);
		f->job = NULL;
	}
	if (s->dial.cb)
		dial_cancel(&s->dial);
	if (s->chain) {
		chain_cancel(s->chain);
		s->chain = NULL;
	}
	if (f->opening) {	/* no callback follows */
		tstream_free(f->opening);
		f->opening = NULL;
	}
	upstream_close(&f->up, err);
	session_fwd_close(s, err, f->why);	/* may free f */
}

void http_fwd_kill(struct http_fwd *f, const char *why)
{
	fwd_end(f, -ECANCELED, why);
}

void http_fwd_drain(struct http_fwd *f)
{
	if (f->up_phase == UP_HEAD && f->cin.len == 0 && !f->error_reply)
		fwd_end(f, 0, "shutdown");
}

/* A completion came back after the end: let the session free us. */
static bool released(struct http_fwd *f)
{
	if (!f->closing)
		return false;
	session_fwd_release(f->s);
	return true;
}

static void touch(struct http_fwd *f)
{
	f->last_active = loop_now(f_loop(f));
}

static void consume(struct xbuf *b, size_t n)
{
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
}

/* Room to read into b: grow up to FWD_BUF_MAX. 0 or -ENOBUFS/-ENOMEM. */
static int room(struct xbuf *b)
{
	size_t ncap;
	uint8_t *np;

	if (b->len < b->cap)
		return 0;
	if (b->cap >= FWD_BUF_MAX)
		return -ENOBUFS;
	ncap = b->cap ? b->cap * 2 : FWD_BUF_MIN;
	if (ncap > FWD_BUF_MAX)
		ncap = FWD_BUF_MAX;
	np = realloc(b->p, ncap);
	if (!np)
		return -ENOMEM;
	b->p = np;
	b->cap = ncap;
	return 0;
}

/* --- writing to the client --- */

static void on_client_write(struct io_req *req);

static void send_cout(struct http_fwd *f)
{
	f->cout_busy = true;
	io_submit_op(&f->s->client, &f->cwr, IO_SEND, f->cout + f->cout_off,
		     f->cout_len - f->cout_off, on_client_write);
}

static void send_dn_body(struct http_fwd *f)
{
	f->cout_busy = false;
	io_submit_op(&f->s->client, &f->cwr, IO_SEND, f->uin.p, f->dn_pending, on_client_write);
}

/*
 * Answer the current request with an error and close. Once the client saw
 * a final head (or a write is under way) a reply cannot be told apart from
 * the body: reset the connection instead.
 */
static void fwd_error(struct http_fwd *f, int status, const char *extra, int err,
		      const char *why)
{
	char buf[512];
	int n;

	if (f->closing || f->error_reply)
		return;
	if (f->head_sent || f->cwr.inflight) {
		fwd_end(f, err ? err : -EPROTO, why);
		return;
	}
	n = http1_write_error(buf, sizeof(buf), status, extra);
	free(f->cout);
	f->cout = n > 0 ? malloc((size_t)n) : NULL;
	if (!f->cout) {
		fwd_end(f, -ENOMEM, why);
		return;
	}
	memcpy(f->cout, buf, (size_t)n);
	f->cout_len = (size_t)n;
	f->cout_off = 0;
	f->status = status;
	f->error_reply = true;
	f->why = why;
	/* A bounded flush: a client that does not read is dropped. */
	arm_head_timer(f, false);
	send_cout(f);
}

static void client_read(struct http_fwd *f);
static void close_upstream(struct http_fwd *f);

/*
 * The error reply is out. Closing now, with request bytes still unread,
 * would send a reset that can destroy the reply before the client reads
 * it: send our FIN, then read and drop until the client closes (bounded).
 */
static void linger(struct http_fwd *f)
{
	f->lingering = true;
	if (upstream_is_open(&f->up))
		close_upstream(f);
	(void)shutdown(f->s->client.fd, SHUT_WR);
	loop_timer_cancel(f_loop(f), &f->timer);
	f->timer.cb = on_timer;
	loop_timer_arm(f_loop(f), &f->timer, FWD_LINGER_MS);
	f->cin.len = 0;
	client_read(f);
}

static void on_client_write(struct io_req *req)
{
	struct http_fwd *f = container_of(req, struct http_fwd, cwr);

	if (released(f))
		return;
	if (req->res <= 0) {
		fwd_end(f, req->res == 0 ? -EPIPE : (int)req->res, NULL);
		return;
	}
	f->down_bytes += (uint64_t)req->res;
	touch(f);
	if (f->cout_busy) {
		f->cout_off += (size_t)req->res;
		if (f->cout_off < f->cout_len) {
			send_cout(f);
			return;
		}
		free(f->cout);
		f->cout = NULL;
		f->cout_len = f->cout_off = 0;
		f->cout_busy = false;
		if (f->error_reply) {
			linger(f);
			return;
		}
		if (f->up_phase == UP_TUNNEL) {
			tunnel_go(f);
			return;
		}
	} else {
		consume(&f->uin, (size_t)req->res);
		f->dn_pending -= (size_t)req->res;
		if (f->dn_pending) {
			send_dn_body(f);
			return;
		}
	}
	pump_down(f);
}

/* --- timers --- */

static void on_timer(struct timer *t)
{
	struct http_fwd *f = container_of(t, struct http_fwd, timer);
	uint64_t idle = f_cfg(f)->idle_timeout_ms;
	uint64_t quiet;

	if (f->closing)
		return;
	if (f->error_reply) {
		fwd_end(f, f->lingering ? 0 : -ETIMEDOUT, f->why);
		return;
	}
	if (f->up_phase == UP_HEAD) {
		if (f->cin.len == 0)
			fwd_end(f, 0, "keep-alive timeout");
		else
			fwd_end(f, -ETIMEDOUT, "request head timeout");
		return;
	}
	quiet = loop_now(f_loop(f)) - f->last_active;
	if (quiet < idle) {
		loop_timer_arm(f_loop(f), &f->timer, idle - quiet);
		return;
	}
	fwd_error(f, 504, NULL, -ETIMEDOUT, "idle timeout");
}

/* While a request and its response are under way: --idle-timeout, if set. */
static void arm_exchange_timer(struct http_fwd *f)
{
	loop_timer_cancel(f_loop(f), &f->timer);
	touch(f);
	if (f_cfg(f)->idle_timeout_ms) {
		f->timer.cb = on_timer;
		loop_timer_arm(f_loop(f), &f->timer, f_cfg(f)->idle_timeout_ms);
	}
}

static void arm_head_timer(struct http_fwd *f, bool idle)
{
	uint32_t ms = idle ? (f_cfg(f)->idle_timeout_ms ? f_cfg(f)->idle_timeout_ms :
			      FWD_KEEPALIVE_MS) : f_cfg(f)->handshake_timeout_ms;

	loop_timer_cancel(f_loop(f), &f->timer);
	f->timer.cb = on_timer;
	loop_timer_arm(f_loop(f), &f->timer, ms);
}

/* --- reading the client --- */

static void on_client_read(struct io_req *req);

static void client_read(struct http_fwd *f)
{
	int err;

	if (f->crd.inflight)
		return;
	if (!f->cin.p) {
		/* Idle between requests: no buffer of ours; the loop lends one. */
		f->crd_pooled = true;
		io_submit_op(&f->s->client, &f->crd, IO_RECV, NULL, FWD_BUF_MIN, on_client_read);
		return;
	}
	err = room(&f->cin);
	if (err) {
		fwd_error(f, 431, NULL, err, "request head too large");
		return;
	}
	io_submit_op(&f->s->client, &f->crd, IO_RECV, f->cin.p + f->cin.len,
		     f->cin.cap - f->cin.len, on_client_read);
}

static void on_client_read(struct io_req *req)
{
	struct http_fwd *f = container_of(req, struct http_fwd, crd);
	bool was_empty = f->cin.len == 0;

	if (f->crd_pooled) {
		struct pool *bufs = f_loop(f)->bufs;

		f->crd_pooled = false;
		if (req->res > 0 && !f->closing && !f->error_reply) {
			size_t cap = (size_t)req->res > FWD_BUF_MIN ? (size_t)req->res : FWD_BUF_MIN;

			f->cin.p = malloc(cap);
			if (f->cin.p) {
				f->cin.cap = cap;
				memcpy(f->cin.p, req->buf, (size_t)req->res);
			}
		}
		if (req->res > 0)
			pool_put(bufs, req->buf);
		if (req->res > 0 && !f->cin.p && !f->closing && !f->error_reply) {
			fwd_end(f, -ENOMEM, "out of memory");
			return;
		}
	}
	if (released(f))
		return;
	if (f->error_reply) {
		if (!f->lingering)
			return;		/* linger() reads again once the reply is out */
		if (req->res <= 0) {
			fwd_end(f, 0, f->why);
			return;
		}
		f->cin.len = 0;		/* dropped */
		client_read(f);
		return;
	}
	if (req->res < 0) {
		fwd_end(f, (int)req->res, NULL);
		return;
	}
	if (req->res == 0) {
		if (f->up_phase == UP_HEAD && f->cin.len == 0)
			fwd_end(f, 0, NULL);		/* between requests: the normal end */
		else if (f->up_phase == UP_HEAD)
			fwd_end(f, 0, "client closed during request head");
		else
			fwd_end(f, -ECONNRESET, "client closed during request body");
		return;
	}
	f->cin.len += (size_t)req->res;
	touch(f);
	if (f->up_phase == UP_HEAD) {
		if (was_empty)		/* a head has begun: it must end in time */
			arm_head_timer(f, false);
		try_head(f);
		return;
	}
	pump_up(f);
}

/* --- the request head --- */

static bool copy_target(struct http_fwd *f, const struct http1_target *t)
{
	memset(&f->target, 0, sizeof(f->target));
	f->host[0] = '\0';
	if (t->form != HTTP1_TARGET_ABSOLUTE && t->form != HTTP1_TARGET_AUTHORITY)
		return true;
	if (t->host_len > HOST_MAX)
		return false;
	memcpy(f->host, t->host, t->host_len);
	f->host[t->host_len] = '\0';
	if (memchr(f->host, '\0', t->host_len))
		return false;
	f->target.port = t->port;
	if (!addr_from_literal(f->host, t->port, &f->target.addr))
		f->target.host = f->host;
	return true;
}

/*
 * Credentials of this request: every request carries them (clients send
 * Proxy-Authorization each time) and each one is checked; the worker's
 * cache makes repeats cheap. Returns 1 ok, 0 pending, -1 refused (reply
 * sent).
 */
static int check_auth(struct http_fwd *f, const struct http1_request *req)
{
	struct session *s = f->s;
	struct worker *w = s->w;
	struct http1_basic b;
	struct auth_job *job = NULL;
	enum authsvc_answer ans = AUTHSVC_DENIED;
	int i = http1_find_header(req->headers, req->num_headers, 0, "Proxy-Authorization");

	if (i < 0 || http1_parse_basic(req->headers[i].value, req->headers[i].value_len,
				       f->scratch, sizeof(f->scratch), &b) < 0) {
		fwd_error(f, 407, proxy_auth_hdr, 0,
			  i < 0 ? "no proxy credentials" : "bad proxy credentials");
		return -1;
	}
	f->auth_user_len = b.user_len < sizeof(f->auth_user) ? b.user_len : sizeof(f->auth_user);
	memcpy(f->auth_user, b.user, f->auth_user_len);
	if (w->authsvc)
		ans = authsvc_check(w->authsvc, w->auth_cache, w, s, (const uint8_t *)b.user,
				    b.user_len, (const uint8_t *)b.pass, b.pass_len, &job);
	explicit_bzero(f->scratch, sizeof(f->scratch));
	if (ans == AUTHSVC_PENDING) {
		f->job = job;
		return 0;
	}
	if (ans == AUTHSVC_OK)
		return 1;
	worker_log_auth_failure(w, (const uint8_t *)f->auth_user, f->auth_user_len, &s->peer);
	fwd_error(f, 407, proxy_auth_hdr, 0, "authentication failed");
	return -1;
}

void http_fwd_auth_done(struct http_fwd *f, bool ok)
{
	f->job = NULL;
	if (f->closing)
		return;
	if (!ok) {
		worker_log_auth_failure(f->s->w, (const uint8_t *)f->auth_user, f->auth_user_len,
					&f->s->peer);
		fwd_error(f, 407, proxy_auth_hdr, 0, "authentication failed");
		return;
	}
	connect_upstream(f);
}

/* Parse, check and rewrite the request head at the front of cin. */
static void try_head(struct http_fwd *f)
{
	struct http1_header headers[FWD_MAX_HEADERS];
	struct http1_request req = { .headers = headers, .max_headers = FWD_MAX_HEADERS };
	struct http1_target t;
	struct http1_body body;
	const char *extra;
	size_t cap;
	int n, h, auth = 1;

	n = http1_parse_request((const char *)f->cin.p, f->cin.len, f->last_len, FWD_HEAD_MAX,
				&req);
	if (n == PROTO_PARTIAL) {
		f->last_len = f->cin.len;
		client_read(f);
		return;
	}
	f->last_len = 0;
	if (n == HTTP1_TOO_LARGE || n == HTTP1_TOO_MANY_HEADERS) {
		fwd_error(f, 431, NULL, 0, "request head too large");
		return;
	}
	if (n < 0) {
		fwd_error(f, 400, NULL, 0, "bad HTTP request");
		return;
	}
	if (http1_parse_target(req.method, req.method_len, req.target, req.target_len, &t) < 0 ||
	    !copy_target(f, &t)) {
		fwd_error(f, 400, NULL, 0, "bad request target");
		return;
	}
	f->is_connect = t.form == HTTP1_TARGET_AUTHORITY;
	if (f->is_connect) {
		/* After plain requests: a tunnel on the relay from here on. */
		snprintf(f->what, sizeof(f->what), "CONNECT %.*s",
			 (int)(req.target_len > 120 ? 120 : req.target_len), req.target);
		f->nreq++;
		loop_timer_cancel(f_loop(f), &f->timer);	/* before a 407 arms its own */
		if (f->s->wl->cfg->need_auth)
			auth = check_auth(f, &req);
		consume(&f->cin, (size_t)n);
		if (auth < 0)
			return;
		if (auth == 0) {
			f->up_phase = UP_AUTH;
			return;
		}
		connect_upstream(f);
		return;
	}
	if (t.form != HTTP1_TARGET_ABSOLUTE) {
		fwd_error(f, 400, NULL, 0, "not a proxy request (origin-form)");
		return;
	}
	/* Both Content-Length and Transfer-Encoding: refused (RFC 9112 6.3). */
	if (http1_request_body(&req, &body) < 0) {
		fwd_error(f, 400, NULL, 0, "bad request body framing");
		return;
	}
	http1_framer_init(&f->req_body, &body);
	/* HTTP/1.0 clients get one response, then the close they expect. */
	f->client_10 = req.minor_version == 0;
	f->client_keep = req.minor_version >= 1 &&
			 http1_is_keep_alive(req.minor_version, headers, req.num_headers);
	f->head_request = req.method_len == 4 && memcmp(req.method, "HEAD", 4) == 0;
	snprintf(f->what, sizeof(f->what), "%.*s %.*s", (int)(req.method_len > 16 ? 16 :
		 req.method_len), req.method, (int)(req.target_len > 120 ? 120 : req.target_len),
		 req.target);

	extra = f->client_keep ? "" : "Connection: close\r\n";
	cap = http1_request_head_max(&req, strlen(extra));
	free(f->uhead);
	f->uhead = malloc(cap);
	if (!f->uhead) {
		fwd_error(f, 502, NULL, -ENOMEM, "out of memory");
		return;
	}
	h = http1_write_request_head((char *)f->uhead, cap, &req, &t, 0, extra, strlen(extra));
	if (h < 0) {
		fwd_error(f, 400, NULL, 0, "request head cannot be forwarded");
		return;
	}
	f->uhead_len = (size_t)h;
	f->nreq++;
	loop_timer_cancel(f_loop(f), &f->timer);	/* before a 407 arms its own */
	if (f->s->wl->cfg->need_auth)
		auth = check_auth(f, &req);
	consume(&f->cin, (size_t)n);		/* req points nowhere from here */
	if (auth < 0)
		return;
	if (auth == 0) {
		f->up_phase = UP_AUTH;
		return;
	}
	connect_upstream(f);
}

/* --- the upstream --- */

static void on_upstream_write(struct io_req *req);
static void on_upstream_read(struct io_req *req);

static void send_head(struct http_fwd *f)
{
	f->up_phase = UP_SEND;
	f->uhead_off = 0;
	arm_exchange_timer(f);
	upstream_submit(&f->up, &f->uwr, IO_SEND, f->uhead, f->uhead_len,
		        on_upstream_write);
}

static void close_upstream(struct http_fwd *f)
{
	upstream_close(&f->up, 0);
	f->up_host[0] = '\0';
	f->up_port = 0;
	f->uin.len = 0;
}

static void on_dialed_fwd(struct dial *d, int err);
static void on_chained_fwd(void *arg, int err, size_t where);
static void on_tunneled_fwd(void *arg, int err);

static void connect_upstream(struct http_fwd *f)
{
	struct session *s = f->s;
	struct worker *w = s->w;
	const struct config *cfg = w->cfg;

	if (upstream_is_open(&f->up) && f->up_port == f->target.port && !f->is_connect &&
	    strcmp(f->up_host, f->host) == 0) {
		f->reused = true;
		send_head(f);
		return;
	}
	if (upstream_is_open(&f->up))
		close_upstream(f);
	f->reused = false;
	f->up_phase = UP_DIAL;
	if (f->up.ops == &upstream_tstream_ops) {
		/* A stream of this worker's tunnel session; on_tunneled_fwd makes it f->up. */
		f->opening = tunnel_open(w, &f->target, on_tunneled_fwd, f);
		if (!f->opening)
			fwd_error(f, 502, NULL, -ENETUNREACH, "tunnel unavailable");
		return;
	}
	if (cfg->nhops) {
		s->chain = chain_start(f_loop(f), w->dns, &s->upstream, cfg->hops, cfg->nhops,
				       &f->target, cfg->connect_timeout_ms, cfg->he_delay_ms,
				       on_chained_fwd, s);
		if (!s->chain)
			fwd_error(f, 502, NULL, -ENOMEM, "out of memory");
		return;
	}
	(s->wl->deny_private ? dial_start_public : dial_start)(&s->dial, f_loop(f), w->dns,
		&s->upstream, &f->target, cfg->connect_timeout_ms, cfg->he_delay_ms,
		on_dialed_fwd);
}

static void dialed(struct http_fwd *f, int err)
{
	if (err) {
		fwd_error(f, ingress_http_status(err), NULL, err, "connect failed");
		return;
	}
	snprintf(f->up_host, sizeof(f->up_host), "%s", f->host);
	f->up_port = f->target.port;
	if (f->is_connect) {
		static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";

		free(f->cout);
		f->cout = malloc(sizeof(ok) - 1);
		if (!f->cout) {
			fwd_end(f, -ENOMEM, "out of memory");
			return;
		}
		memcpy(f->cout, ok, sizeof(ok) - 1);
		f->cout_len = sizeof(ok) - 1;
		f->cout_off = 0;
		f->up_phase = UP_TUNNEL;
		log_debug(f->s->w->log, "conn %llu request %u: %s -> 200 (tunnel)",
			  (unsigned long long)f->s->id, f->nreq, f->what);
		send_cout(f);
		return;
	}
	send_head(f);
}

/*
 * The 200 went out: client bytes that came with the CONNECT go upstream
 * first, then the session runs the relay (splice) on both sockets, or
 * bridges the client to the tunnel stream (tstream_relay).
 */
static void tunnel_go(struct http_fwd *f)
{
	if (f->cin.len > 0) {
		f->up_pending = f->cin.len;
		upstream_submit(&f->up, &f->uwr, IO_SEND, f->cin.p, f->up_pending,
			        on_upstream_write);
		return;
	}
	if (f->up.ops == &upstream_tstream_ops) {
		f->s->tun = tstream_upstream_detach(&f->up);	/* the session's from here */
		if (!f->s->tun) {
			fwd_end(f, -EIO, "tunnel stream busy");
			return;
		}
	}
	session_fwd_tunnel(f->s);	/* frees f */
}

static void on_dialed_fwd(struct dial *d, int err)
{
	struct session *s = container_of(d, struct session, dial);
	struct http_fwd *f = s->fwd;
	char peer[ADDR_STRLEN], target[ADDR_STRLEN];

	if (released(f))
		return;
	if (err == -EACCES)
		log_warn(s->w->log, "conn %llu client %s: %s is not a public address "
			 "(--allow-private permits it)", (unsigned long long)s->id,
			 addr_format(&s->peer, peer, sizeof(peer)),
			 addr_format(&d->peer, target, sizeof(target)));
	else if (err && f->target.host && d->peer.sa.sa_family == 0)
		log_warn(s->w->log, "conn %llu client %s: resolving %s failed: %s",
			 (unsigned long long)s->id, addr_format(&s->peer, peer, sizeof(peer)),
			 f->target.host, dns_strerror(err));
	else if (err)
		log_warn(s->w->log, "conn %llu client %s: connect to %s failed: %s",
			 (unsigned long long)s->id, addr_format(&s->peer, peer, sizeof(peer)),
			 addr_format(&d->peer, target, sizeof(target)), strerror(-err));
	dialed(f, err);
}

static void on_chained_fwd(void *arg, int err, size_t where)
{
	struct session *s = arg;
	struct http_fwd *f = s->fwd;
	char peer[ADDR_STRLEN];

	s->chain = NULL;	/* it frees itself */
	if (err)
		log_warn(s->w->log, "conn %llu client %s: via %s (hop %zu): %s",
			 (unsigned long long)s->id, addr_format(&s->peer, peer, sizeof(peer)),
			 s->w->cfg->hops[where - 1].url, where,
			 err == -EPROTO ? "broken reply" : strerror(-err));
	dialed(f, err);
}

static void on_tunneled_fwd(void *arg, int err)
{
	struct http_fwd *f = arg;
	struct session *s = f->s;
	struct tstream *ts = f->opening;
	char peer[ADDR_STRLEN];

	f->opening = NULL;
	if (err) {
		tstream_free(ts);	/* refused: nothing of it is in flight */
		log_warn(s->w->log, "conn %llu client %s: via %s: %s", (unsigned long long)s->id,
			 addr_format(&s->peer, peer, sizeof(peer)), s->w->cfg->hops[0].url,
			 tunnel_open_strerror(err));
	} else {
		tstream_upstream_attach(&f->up, ts);
	}
	dialed(f, err);
}

/*
 * A kept upstream may have closed while idle: the request is sent again on
 * a new connection, once, if nothing of a response came and nothing but
 * the head was sent (no body: it might have been consumed).
 */
static bool can_retry(const struct http_fwd *f)
{
	return f->reused && !f->retried && !f->dn_started && f->uin.len == 0 &&
	       f->req_body.kind == HTTP1_BODY_NONE && !f->uwr.inflight && !f->urd.inflight &&
	       !f->cwr.inflight && f->uhead;
}

static void retry(struct http_fwd *f)
{
	log_debug(f->s->w->log, "conn %llu request %u: kept upstream %s:%u had closed; "
		  "sending again on a new one", (unsigned long long)f->s->id, f->nreq,
		  f->up_host, f->up_port);
	f->retried = true;
	f->dn_phase = DN_IDLE;
	close_upstream(f);
	connect_upstream(f);
}

static void on_upstream_write(struct io_req *req)
{
	struct http_fwd *f = container_of(req, struct http_fwd, uwr);

	if (released(f) || f->error_reply)
		return;
	if (req->res <= 0) {
		if (f->up_phase == UP_SEND && can_retry(f)) {
			retry(f);
			return;
		}
		fwd_error(f, 502, NULL, req->res == 0 ? -EPIPE : (int)req->res,
			  "upstream write failed");
		return;
	}
	f->up_bytes += (uint64_t)req->res;
	touch(f);
	if (f->up_phase == UP_SEND) {
		f->uhead_off += (size_t)req->res;
		if (f->uhead_off < f->uhead_len) {
			upstream_submit(&f->up, &f->uwr, IO_SEND, f->uhead + f->uhead_off,
				        f->uhead_len - f->uhead_off, on_upstream_write);
			return;
		}
		/* The head is out: the body goes while the response comes. */
		f->up_phase = UP_BODY;
		f->dn_phase = DN_RESP;
		f->dn_started = false;
		http1_resp_init(&f->rr, f->head_request, FWD_HEAD_MAX);
		pump_down(f);
		if (!f->closing && !f->error_reply)
			pump_up(f);
		return;
	}
	consume(&f->cin, (size_t)req->res);
	f->up_pending -= (size_t)req->res;
	if (f->up_pending) {
		upstream_submit(&f->up, &f->uwr, IO_SEND, f->cin.p, f->up_pending,
			        on_upstream_write);
		return;
	}
	if (f->up_phase == UP_TUNNEL) {
		tunnel_go(f);
		return;
	}
	pump_up(f);
}

static void upstream_read(struct http_fwd *f)
{
	int err;

	if (f->urd.inflight)
		return;
	err = room(&f->uin);
	if (err) {
		fwd_error(f, 502, NULL, err, "response head too large");
		return;
	}
	upstream_submit(&f->up, &f->urd, IO_RECV, f->uin.p + f->uin.len,
		        f->uin.cap - f->uin.len, on_upstream_read);
}

static void exchange_done(struct http_fwd *f);

static void on_upstream_read(struct io_req *req)
{
	struct http_fwd *f = container_of(req, struct http_fwd, urd);

	if (released(f) || f->error_reply)
		return;
	if (req->res > 0) {
		f->uin.len += (size_t)req->res;
		f->dn_started = true;
		touch(f);
		pump_down(f);
		return;
	}
	if (can_retry(f)) {
		retry(f);
		return;
	}
	if (req->res == 0 && f->uin.len == 0 && http1_resp_eof(&f->rr) == 0) {
		/* A body delimited by the close: complete; the client learns the same way. */
		f->up_keep = false;
		f->close_after = true;
		f->dn_phase = DN_DONE;
		exchange_done(f);
		return;
	}
	fwd_error(f, 502, NULL, req->res == 0 ? -ECONNRESET : (int)req->res,
		  req->res == 0 ? "upstream closed early" : "upstream read failed");
}

/* --- request body: client -> upstream --- */

static void pump_up(struct http_fwd *f)
{
	int n;

	if (f->up_phase != UP_BODY || f->uwr.inflight || f->crd.inflight)
		return;
	if (!http1_framer_is_done(&f->req_body) && f->cin.len > 0) {
		n = http1_framer_feed(&f->req_body, (const char *)f->cin.p, f->cin.len);
		if (n < 0) {
			fwd_error(f, 400, NULL, -EPROTO, "bad request body");
			return;
		}
		if (n > 0) {
			f->up_pending = (size_t)n;
			upstream_submit(&f->up, &f->uwr, IO_SEND, f->cin.p, f->up_pending,
				        on_upstream_write);
			return;
		}
	}
	if (!http1_framer_is_done(&f->req_body)) {
		client_read(f);
		return;
	}
	f->up_phase = UP_DONE;
	exchange_done(f);
}

/* --- response: upstream -> client --- */

static void response_head(struct http_fwd *f, const struct http1_response *res)
{
	const char *extra = "";
	size_t cap;
	int n;

	if (res->status >= 200) {
		f->status = res->status;
		f->head_sent = true;
		f->up_keep = res->minor_version >= 1 && f->rr.body.kind != HTTP1_BODY_CLOSE &&
			     http1_is_keep_alive(res->minor_version, res->headers, res->num_headers);
		/*
		 * The client connection goes on only if it wants to, the body has
		 * a length, and the request body was read to its end (else its
		 * rest is unread; its last bytes may still be on their way).
		 */
		if (!f->client_keep || f->rr.body.kind == HTTP1_BODY_CLOSE ||
		    !http1_framer_is_done(&f->req_body) || f->s->w->state != WORKER_RUN)
			f->close_after = true;
		if (f->close_after)
			extra = "Connection: close\r\n";
	}
	cap = http1_response_head_max(res, strlen(extra));
	free(f->cout);
	f->cout = malloc(cap);
	if (!f->cout) {
		fwd_end(f, -ENOMEM, "out of memory");
		return;
	}
	n = http1_write_response_head((char *)f->cout, cap, res, extra, strlen(extra));
	if (n < 0) {
		fwd_end(f, -EPROTO, "response head cannot be forwarded");
		return;
	}
	f->cout_len = (size_t)n;
	f->cout_off = 0;
}

static void pump_down(struct http_fwd *f)
{
	struct http1_header headers[FWD_MAX_HEADERS];
	struct http1_response res = { .headers = headers, .max_headers = FWD_MAX_HEADERS };
	size_t used = 0;
	int rc;

	if (f->dn_phase != DN_RESP || f->cwr.inflight || f->urd.inflight || f->closing)
		return;
again:
	rc = http1_resp_next(&f->rr, (const char *)f->uin.p, f->uin.len, &res, &used);
	switch (rc) {
	case HTTP1_RESP_HEAD:
		if (res.status < 200 && f->client_10) {
			/* RFC 9110 15.2: no interim responses to an HTTP/1.0 client */
			consume(&f->uin, used);
			goto again;
		}
		response_head(f, &res);
		if (f->closing)
			return;
		consume(&f->uin, used);
		send_cout(f);
		return;
	case HTTP1_RESP_BODY:
		f->dn_pending = used;
		send_dn_body(f);
		return;
	case HTTP1_RESP_END:
		f->dn_phase = DN_DONE;
		exchange_done(f);
		return;
	case PROTO_PARTIAL:
		upstream_read(f);
		return;
	case HTTP1_TOO_LARGE:
	case HTTP1_TOO_MANY_HEADERS:
		fwd_error(f, 502, NULL, -EPROTO, "response head too large");
		return;
	default:
		fwd_error(f, 502, NULL, -EPROTO, "bad response from upstream");
		return;
	}
}

/* --- between requests --- */

static void exchange_done(struct http_fwd *f)
{
	struct session *s = f->s;

	if (f->dn_phase != DN_DONE)
		return;
	if (f->up_phase != UP_DONE && http1_framer_is_done(&f->req_body) && f->uwr.inflight)
		return;		/* the last body bytes are still being sent: pump_up() ends it */
	log_debug(s->w->log, "conn %llu request %u: %s -> %d%s%s",
		  (unsigned long long)s->id, f->nreq, f->what, f->status,
		  f->reused ? " (reused upstream)" : "", f->close_after ? " (closing)" : "");
	if (f->up_phase != UP_DONE) {
		fwd_end(f, 0, "response ended before the request");
		return;
	}
	if (f->close_after || s->w->state != WORKER_RUN) {
		fwd_end(f, 0, NULL);
		return;
	}
	if (!f->up_keep || f->uin.len > 0)
		close_upstream(f);
	free(f->uhead);
	f->uhead = NULL;
	/* Idle connections hold no buffers (the next read borrows one). */
	if (f->cin.len == 0) {
		free(f->cin.p);
		f->cin = (struct xbuf){ 0 };
	}
	free(f->uin.p);
	f->uin = (struct xbuf){ 0 };
	f->up_phase = UP_HEAD;
	f->dn_phase = DN_IDLE;
	f->reused = f->retried = f->dn_started = f->head_sent = false;
	f->up_keep = f->close_after = false;
	f->status = 0;
	arm_head_timer(f, f->cin.len == 0);
	if (f->cin.len > 0)
		try_head(f);		/* pipelined */
	else
		client_read(f);
}

int http_fwd_start(struct session *s, uint8_t *buf, size_t len, size_t cap)
{
	struct http_fwd *f = calloc(1, sizeof(*f));

	if (!f) {
		free(buf);
		return -ENOMEM;
	}
	f->s = s;
	/* Over -F tunnel:// every request rides a stream of the worker's tunnel session. */
	if (s->w->cfg->nhops && s->w->cfg->hops[0].kind == HOP_TUNNEL)
		f->up = (struct upstream){ &upstream_tstream_ops, NULL, f_loop(f) };
	else
		f->up = (struct upstream){ &upstream_socket_ops, &s->upstream, f_loop(f) };
	f->cin.p = buf;
	f->cin.len = len;
	f->cin.cap = cap;
	timer_init(&f->timer, on_timer);
	s->fwd = f;
	f->up_phase = UP_HEAD;
	arm_head_timer(f, false);
	try_head(f);
	return 0;
}
