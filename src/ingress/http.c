/*
 * HTTP proxy ingress. CONNECT opens a tunnel ("200 Connection established",
 * then the relay). An absolute-form request (GET http://host/path) is sent
 * on in origin form, hop-by-hop headers removed, with "Connection: close",
 * followed by exactly its body (framed by Content-Length or chunked; bytes
 * after it are not forwarded: a second pipelined request must not reach
 * the origin unfiltered), and the response relayed back. So one request
 * per client connection for now: the server closes after the response.
 * Errors are proper responses: 400, 403, 407, 431, 502, 504.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ingress/ingress.h"
#include "ingress/target.h"
#include "proto/http1.h"

#define HTTP_HEAD_MAX		65536
#define HTTP_MAX_HEADERS	100

enum http_phase {
	HTTP_HEAD = 0,
	HTTP_AUTH_WAIT,
	HTTP_DIALING,
	HTTP_DONE,
};

struct http_state {
	uint8_t phase;
	bool is_connect;
	size_t last_len;		/* for http1_parse_request's O(n) rescans */
	char scratch[512];		/* decoded Basic credentials */
};

_Static_assert(sizeof(struct http_state) <= INGRESS_STATE_MAX, "ingress state too small");

static struct http_state *st(struct ingress_ctx *ctx)
{
	return (struct http_state *)ctx->state;
}

static void respond(struct ingress_ctx *ctx, int status, const char *extra, const char *why)
{
	char buf[512];
	int n = http1_write_error(buf, sizeof(buf), status, extra);

	if (n > 0)
		ingress_out(ctx, buf, (size_t)n);
	ctx->why = why;
	ctx->event = INGRESS_CLOSE;
}

/* One place maps egress failures to HTTP statuses. */
static int status_for_error(int err)
{
	switch (err) {
	case -ETIMEDOUT:
		return 504;
	case -EACCES:
	case -EPERM:
		return 403;
	default:
		return 502;
	}
}

/* Framing of the forwarded request body, for the relay (relay_frame_fn). */
struct body_frame {
	uint64_t remaining;		/* HTTP1_BODY_LENGTH */
	struct http1_chunked chunked;	/* HTTP1_BODY_CHUNKED */
	uint8_t kind;			/* enum http1_body_kind */
};

_Static_assert(sizeof(struct body_frame) <= sizeof(((struct ingress_ctx *)0)->up_frame_state),
	       "body frame state too big");

static int body_frame(void *state, const uint8_t *p, size_t n, size_t *take)
{
	struct body_frame *f = state;
	int r;

	switch (f->kind) {
	case HTTP1_BODY_LENGTH:
		*take = n < f->remaining ? n : (size_t)f->remaining;
		f->remaining -= *take;
		return f->remaining == 0;
	case HTTP1_BODY_CHUNKED:
		r = http1_chunked_feed(&f->chunked, (const char *)p, n > INT32_MAX ? INT32_MAX : n);
		if (r < 0)
			return -1;
		*take = (size_t)r;
		return http1_chunked_is_done(&f->chunked);
	default:
		*take = 0;
		return 1;
	}
}

static void http_start(struct ingress_ctx *ctx)
{
	st(ctx)->phase = HTTP_HEAD;
}

static int set_target(struct ingress_ctx *ctx, const struct http1_target *t)
{
	struct proto_addr a;

	if (proto_addr_set_domain(&a, t->host, t->host_len, t->port) < 0)
		return -1;
	return ingress_target_from_proto(ctx, &a);
}

static int http_input(struct ingress_ctx *ctx, const uint8_t *in, size_t len)
{
	struct http1_header headers[HTTP_MAX_HEADERS];
	struct http1_request req = { .headers = headers, .max_headers = HTTP_MAX_HEADERS };
	struct http1_target t;
	struct http_state *s = st(ctx);
	int n, h;

	if (s->phase != HTTP_HEAD)
		return 0;	/* body or tunnel bytes wait for the relay */
	n = http1_parse_request((const char *)in, len, s->last_len, HTTP_HEAD_MAX, &req);
	if (n == PROTO_PARTIAL) {
		s->last_len = len;
		return 0;
	}
	if (n == HTTP1_TOO_LARGE || n == HTTP1_TOO_MANY_HEADERS) {
		respond(ctx, 431, NULL, "request head too large");
		return -1;
	}
	if (n < 0) {
		respond(ctx, 400, NULL, "bad HTTP request");
		return -1;
	}
	if (http1_parse_target(req.method, req.method_len, req.target, req.target_len, &t) < 0) {
		respond(ctx, 400, NULL, "bad request target");
		return n;
	}
	if (t.form != HTTP1_TARGET_ABSOLUTE && t.form != HTTP1_TARGET_AUTHORITY) {
		respond(ctx, 400, NULL, "not a proxy request (origin-form)");
		return n;
	}
	if (set_target(ctx, &t) < 0) {
		respond(ctx, 400, NULL, "bad request target");
		return n;
	}
	s->is_connect = t.form == HTTP1_TARGET_AUTHORITY;
	if (!s->is_connect) {
		/* Forward in origin form; the server closes after its response. */
		static const char extra[] = "Connection: close\r\n";
		size_t cap = http1_request_head_max(&req, sizeof(extra) - 1);
		struct http1_body body;
		struct body_frame *f = (struct body_frame *)ctx->up_frame_state;

		if (http1_request_body(&req, &body) < 0) {
			respond(ctx, 400, NULL, "bad request body framing");
			return n;
		}
		memset(f, 0, sizeof(*f));
		f->kind = (uint8_t)body.kind;
		f->remaining = body.length;
		http1_chunked_init(&f->chunked);
		ctx->up_frame = body_frame;

		ctx->up = malloc(cap);
		if (!ctx->up) {
			respond(ctx, 502, NULL, "out of memory");
			return n;
		}
		h = http1_write_request_head((char *)ctx->up, cap, &req, &t, 0, extra,
					     sizeof(extra) - 1);
		if (h < 0) {
			respond(ctx, 400, NULL, "request head cannot be forwarded");
			return n;
		}
		ctx->up_len = (size_t)h;
	}
	if (ctx->need_auth) {
		struct http1_basic b;
		int i = http1_find_header(headers, req.num_headers, 0, "Proxy-Authorization");

		if (i < 0 || http1_parse_basic(headers[i].value, headers[i].value_len, s->scratch,
					       sizeof(s->scratch), &b) < 0) {
			respond(ctx, 407, "Proxy-Authenticate: Basic realm=\"sluice\"\r\n",
				i < 0 ? "no proxy credentials" : "bad proxy credentials");
			return n;
		}
		ctx->user = (const uint8_t *)b.user;
		ctx->user_len = b.user_len;
		ctx->pass = (const uint8_t *)b.pass;
		ctx->pass_len = b.pass_len;
		ctx->event = INGRESS_AUTH;
		s->phase = HTTP_AUTH_WAIT;
		return n;
	}
	ctx->event = INGRESS_REQUEST;
	s->phase = HTTP_DIALING;
	return n;
}

static void http_auth_result(struct ingress_ctx *ctx, bool ok)
{
	if (!ok) {
		respond(ctx, 407, "Proxy-Authenticate: Basic realm=\"sluice\"\r\n",
			"authentication failed");
		return;
	}
	st(ctx)->phase = HTTP_DIALING;
	ctx->event = INGRESS_REQUEST;
}

static void http_connected(struct ingress_ctx *ctx, int err, const union sockaddr_any *bound)
{
	static const char established[] = "HTTP/1.1 200 Connection established\r\n\r\n";

	(void)bound;
	if (err) {
		respond(ctx, status_for_error(err), NULL, NULL);
		return;
	}
	st(ctx)->phase = HTTP_DONE;
	if (st(ctx)->is_connect)
		ingress_out(ctx, established, sizeof(established) - 1);
	ctx->event = INGRESS_RELAY;
}

const struct ingress_ops ingress_http = {
	.name = "http",
	.start = http_start,
	.input = http_input,
	.auth_result = http_auth_result,
	.connected = http_connected,
};
