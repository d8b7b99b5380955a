/*
 * HTTP/1.x over arbitrary bytes. The first byte picks what to exercise and
 * the second where to cut the input; the properties checked:
 *  - a head parsed whole or in two calls (with last_len) gives the same;
 *  - a parsed request's target, framing and rewrite are consistent, and
 *    the rewritten head parses again;
 *  - a chunked body scanned whole or in three pieces ends at the same byte;
 *  - base64 decodes what it encodes.
 */
#include <stdlib.h>

#include "proto/base64.h"
#include "proto/http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXH	32
#define MAX_HEAD 2048

static bool is_code(int rc)
{
	return rc == PROTO_PARTIAL || rc == PROTO_ERROR || rc == HTTP1_TOO_LARGE ||
	       rc == HTTP1_TOO_MANY_HEADERS;
}

static int parse(bool req, const char *buf, size_t len, size_t last, void *msg,
		 struct http1_header *h)
{
	if (req) {
		struct http1_request *r = msg;

		memset(r, 0, sizeof(*r));
		r->headers = h;
		r->max_headers = MAXH;
		return http1_parse_request(buf, len, last, MAX_HEAD, r);
	}
	struct http1_response *r = msg;

	memset(r, 0, sizeof(*r));
	r->headers = h;
	r->max_headers = MAXH;
	return http1_parse_response(buf, len, last, MAX_HEAD, r);
}

static void check_headers(const char *buf, size_t len, const struct http1_header *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (h[i].name < buf || h[i].name + h[i].name_len > buf + len || !h[i].name_len)
			abort();
		if (h[i].value < buf || h[i].value + h[i].value_len > buf + len)
			abort();
	}
}

static void rewrite(const char *buf, int len, struct http1_request *r)
{
	struct http1_header h2[MAXH + 2];	/* + Host + Via */
	struct http1_request r2;
	struct http1_target t;
	struct http1_body b;
	size_t cap = 2 * (size_t)len + 64;
	char *out;
	int n;

	if (http1_parse_target(r->method, r->method_len, r->target, r->target_len, &t) < 0)
		return;
	if (t.form != HTTP1_TARGET_ORIGIN && t.form != HTTP1_TARGET_ASTERISK &&
	    (t.host < r->target || t.host + t.host_len > r->target + r->target_len ||
	     !t.host_len || !t.port))
		abort();
	(void)http1_request_body(r, &b);

	out = malloc(cap);
	n = http1_write_request_head(out, cap, r, &t, len & 1 ? HTTP1_REWRITE_ABSOLUTE : 0,
				     "Via: x\r\n", 8);
	if (n < 0 || (size_t)n > http1_request_head_max(r, 8))
		abort();
	memset(&r2, 0, sizeof(r2));
	r2.headers = h2;
	r2.max_headers = MAXH + 2;
	if (http1_parse_request(out, (size_t)n, 0, 0, &r2) != n)
		abort();
	if (r2.method_len != r->method_len || memcmp(r2.method, r->method, r->method_len))
		abort();
	if (t.form == HTTP1_TARGET_ABSOLUTE || t.form == HTTP1_TARGET_AUTHORITY) {
		int host = http1_find_header(r2.headers, r2.num_headers, 0, "Host");

		if (host < 0 || http1_find_header(r2.headers, r2.num_headers, (size_t)host + 1,
						  "Host") >= 0)
			abort();
	}
	if (http1_find_header(r2.headers, r2.num_headers, 0, "Connection") >= 0 ||
	    http1_find_header(r2.headers, r2.num_headers, 0, "Proxy-Authorization") >= 0)
		abort();
	/* the framing survives the rewrite */
	{
		struct http1_body b1, b2;
		int rc1 = http1_request_body(r, &b1), rc2 = http1_request_body(&r2, &b2);

		if (rc1 != rc2 || (rc1 == 0 && (b1.kind != b2.kind || b1.length != b2.length)))
			abort();
	}
	free(out);
}

static void heads(bool req, const char *buf, size_t size, size_t cut)
{
	struct http1_header h1[MAXH], h2[MAXH];
	struct http1_request rq1, rq2;
	struct http1_response rs1, rs2;
	void *m1 = req ? (void *)&rq1 : (void *)&rs1, *m2 = req ? (void *)&rq2 : (void *)&rs2;
	int whole, first, stream;

	whole = parse(req, buf, size, 0, m1, h1);
	if (!is_code(whole) && (whole <= 0 || (size_t)whole > size || whole > MAX_HEAD))
		abort();
	if (cut < size) {
		first = parse(req, buf, cut, 0, m2, h2);
		if (first == PROTO_PARTIAL) {
			stream = parse(req, buf, size, cut, m2, h2);
			if ((whole > 0 || stream > 0) && whole != stream)
				abort();
			if ((whole == PROTO_PARTIAL || whole == HTTP1_TOO_LARGE) && stream != whole)
				abort();
		}
		if (first > 0 && first != whole)
			abort();
	}
	if (whole <= 0)
		return;
	if (req) {
		check_headers(buf, size, rq1.headers, rq1.num_headers);
		rewrite(buf, whole, &rq1);
	} else {
		struct http1_body b;

		check_headers(buf, size, rs1.headers, rs1.num_headers);
		if (rs1.status < 100 || rs1.status > 999)
			abort();
		(void)http1_response_body(&rs1, cut & 1 ? "HEAD" : "CONNECT", cut & 1 ? 4 : 7, &b);
		(void)http1_response_body(&rs1, "GET", 3, &b);
		(void)http1_is_keep_alive(rs1.minor_version, rs1.headers, rs1.num_headers);
	}
}

static void chunked(const char *buf, size_t size, size_t cut)
{
	struct http1_chunked c;
	int whole, a, b = 0, d = 0;
	size_t cut2;

	http1_chunked_init(&c);
	whole = http1_chunked_feed(&c, buf, size);
	bool done = http1_chunked_is_done(&c);

	if (whole != PROTO_ERROR && (whole < 0 || (size_t)whole > size ||
				     ((size_t)whole < size && !done)))
		abort();

	if (cut > size)
		cut = size;
	cut2 = cut + (size - cut) / 2;
	http1_chunked_init(&c);
	a = http1_chunked_feed(&c, buf, cut);
	if (a >= 0)
		b = http1_chunked_feed(&c, buf + a, cut2 - (size_t)a);
	if (a >= 0 && b >= 0)
		d = http1_chunked_feed(&c, buf + a + b, size - (size_t)a - (size_t)b);
	if (whole == PROTO_ERROR) {
		if (a >= 0 && b >= 0 && d >= 0)
			abort();
		return;
	}
	if (a < 0 || b < 0 || d < 0 || a + b + d != whole || http1_chunked_is_done(&c) != done)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf;
	size_t cut;

	if (size < 2)
		return 0;
	uint8_t mode = data[0];

	cut = data[1];
	buf = (const char *)data + 2;
	size -= 2;
	if (mode & 0x80)
		cut = cut * 17 % (size + 1);
	switch (mode % 6) {
	case 0:
	case 1:
		heads(true, buf, size, cut);
		break;
	case 2:
		heads(false, buf, size, cut);
		break;
	case 3:
		chunked(buf, size, cut);
		break;
	case 4: {
		struct http1_target t;

		if (http1_parse_target(cut & 1 ? "CONNECT" : "GET", cut & 1 ? 7 : 3, buf, size,
				       &t) == 0 && t.form != HTTP1_TARGET_ORIGIN &&
		    t.form != HTTP1_TARGET_ASTERISK && (t.host_len == 0 || t.host_len > 255 ||
							t.port == 0))
			abort();
		break;
	}
	default: {
		struct http1_basic b;
		char scratch[256];
		char enc[BASE64_ENCODED_LEN(256)];
		uint8_t dec[256];
		int n;

		if (http1_parse_basic(buf, size, scratch, sizeof(scratch), &b) == 0 &&
		    b.user_len + b.pass_len + 1 > sizeof(scratch))
			abort();
		if (size <= 256) {
			n = base64_encode(buf, size, enc, sizeof(enc));
			if (n < 0 || base64_decode(enc, (size_t)n, dec, sizeof(dec)) != (int)size ||
			    memcmp(dec, buf, size) != 0)
				abort();
		}
		(void)base64_decode(buf, size, dec, sizeof(dec));
		break;
	}
	}
	return 0;
}
