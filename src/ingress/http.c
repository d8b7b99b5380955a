/*
 * HTTP proxy ingress. CONNECT opens a tunnel ("200 Connection established",
 * then the relay). Any other request (absolute-form GET http://host/path,
 * or a bad one) is left unconsumed with INGRESS_FORWARD: the HTTP
 * forwarding loop (app/http_fwd.c) takes the connection and serves it
 * request after request. Errors are proper responses: 400, 403, 407, 431,
 * 502, 504.
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

int ingress_http_status(int err)
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
	int n;

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
	if (req.method_len != 7 || memcmp(req.method, "CONNECT", 7) != 0) {
		/* A plain request: the HTTP forwarding loop reads it again. */
		ctx->event = INGRESS_FORWARD;
		return 0;
	}
	if (http1_parse_target(req.method, req.method_len, req.target, req.target_len, &t) < 0 ||
	    set_target(ctx, &t) < 0) {
		respond(ctx, 400, NULL, "bad request target");
		return n;
	}
	s->is_connect = true;
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
		respond(ctx, ingress_http_status(err), NULL, NULL);
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
