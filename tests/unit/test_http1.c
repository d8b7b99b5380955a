/*
 * HTTP/1.x codec: heads fed whole, cut at every offset (each prefix in its
 * own exact-size allocation, so ASan sees any read past the end), fed a
 * byte at a time with last_len, and followed by pipelined bytes; chunked
 * bodies split at every offset; the head rewriter compared byte for byte.
 */
#include <stdlib.h>

#include "core/util.h"
#include "proto/base64.h"
#include "proto/http1.h"
#include "unit.h"

#define MAXH	16

/* "Name: value|Name: value" for comparing header lists in one CHECK_STR. */
static const char *join_headers(const struct http1_header *h, size_t n)
{
	static char s[8192];
	size_t o = 0;

	s[0] = 0;
	for (size_t i = 0; i < n && o + h[i].name_len + h[i].value_len + 4 < sizeof(s); i++) {
		if (i)
			s[o++] = '|';
		memcpy(s + o, h[i].name, h[i].name_len);
		o += h[i].name_len;
		s[o++] = ':';
		s[o++] = ' ';
		memcpy(s + o, h[i].value, h[i].value_len);
		o += h[i].value_len;
		s[o] = 0;
	}
	return s;
}

static char *span(const char *p, size_t n)
{
	static char s[4][8192];
	static int k;
	char *r = s[k++ % 4];

	if (n >= sizeof(s[0]))
		n = sizeof(s[0]) - 1;
	if (n)
		memcpy(r, p, n);
	r[n] = 0;
	return r;
}

/* A parse of either kind into a fresh struct; buf must outlive its use. */
static int parse_req(const char *buf, size_t len, size_t last, size_t max_head, size_t max_hdrs,
		     struct http1_request *r, struct http1_header *h)
{
	memset(r, 0, sizeof(*r));
	r->headers = h;
	r->max_headers = max_hdrs;
	return http1_parse_request(buf, len, last, max_head, r);
}

static int parse_res(const char *buf, size_t len, size_t last, size_t max_head, size_t max_hdrs,
		     struct http1_response *r, struct http1_header *h)
{
	memset(r, 0, sizeof(*r));
	r->headers = h;
	r->max_headers = max_hdrs;
	return http1_parse_response(buf, len, last, max_head, r);
}

static int parse_any(bool req, const char *buf, size_t len, size_t last, size_t max_head,
		     size_t max_hdrs)
{
	struct http1_request rq;
	struct http1_response rs;
	struct http1_header h[MAXH];

	return req ? parse_req(buf, len, last, max_head, max_hdrs, &rq, h) :
		     parse_res(buf, len, last, max_head, max_hdrs, &rs, h);
}

static int parse_exact(bool req, const char *msg, size_t len, size_t last, size_t max_head)
{
	char *p = malloc(len ? len : 1);
	int rc;

	memcpy(p, msg, len);
	rc = parse_any(req, p, len, last, max_head, MAXH);
	free(p);
	return rc;
}

/*
 * A valid head: PARTIAL for every prefix (whole re-parse and streaming with
 * last_len), n when whole, n again with the next message and junk after it.
 */
static void check_head_splits(const char *name, bool req, const char *msg, size_t n)
{
	unsigned int before = unit_fail;
	char *big = malloc(2 * n + 8);

	for (size_t k = 0; k < n; k++) {
		CHECK_EQ_INT(parse_exact(req, msg, k, 0, 65536), PROTO_PARTIAL);
		CHECK_EQ_INT(parse_exact(req, msg, k, k ? k - 1 : 0, 65536), PROTO_PARTIAL);
	}
	CHECK_EQ_INT(parse_exact(req, msg, n, n - 1, 65536), (int)n);
	CHECK_EQ_INT(parse_exact(req, msg, n, 0, 65536), (int)n);
	/* exactly at the size limit is fine, one byte under is not */
	CHECK_EQ_INT(parse_exact(req, msg, n, 0, n), (int)n);
	CHECK_EQ_INT(parse_exact(req, msg, n, 0, n - 1), HTTP1_TOO_LARGE);
	memcpy(big, msg, n);
	memcpy(big + n, msg, n);
	memcpy(big + 2 * n, "\x01junk\r\n\r\n", 8);
	CHECK_EQ_INT(parse_any(req, big, 2 * n + 8, 0, 65536, MAXH), (int)n);
	free(big);
	if (unit_fail != before)
		fprintf(stderr, "  ^ in case '%s'\n", name);
}

/* A malformed head: ERROR whole; no prefix parses; the first error is at or before first. */
static void check_head_invalid(const char *name, bool req, const char *msg, size_t n,
			       size_t first)
{
	unsigned int before = unit_fail;
	size_t seen = n + 1;

	CHECK_EQ_INT(parse_exact(req, msg, n, 0, 65536), PROTO_ERROR);
	for (size_t k = 0; k < n; k++) {
		int rc = parse_exact(req, msg, k, 0, 65536);

		CHECK(rc == PROTO_PARTIAL || rc == PROTO_ERROR);
		if (rc == PROTO_ERROR && seen > n)
			seen = k;
	}
	CHECK_EQ_INT(seen, first);
	if (unit_fail != before)
		fprintf(stderr, "  ^ in case '%s'\n", name);
}

#define S(lit)	lit, sizeof(lit) - 1

static void test_request_valid(void)
{
	static const struct {
		const char *in;
		size_t n;
		const char *method, *target;
		int minor;
		const char *headers;
	} cases[] = {
		{ S("GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n"),
		  "GET", "http://example.com/", 1, "Host: example.com" },
		{ S("GET / HTTP/1.0\nUser-Agent: x\nAccept: */*\n\n"),
		  "GET", "/", 0, "User-Agent: x|Accept: */*" },
		{ S("POST /a?b=c HTTP/1.1\r\nA: 1\nB: 2\r\n\n"),
		  "POST", "/a?b=c", 1, "A: 1|B: 2" },
		{ S("\r\n\nGET / HTTP/1.1\r\n\r\n"), "GET", "/", 1, "" },
		{ S("GET / HTTP/1.1\r\n\r\n"), "GET", "/", 1, "" },
		{ S("GET / HTTP/1.1\r\nX:  a b \t\r\nEmpty:\r\nTab:\tv\r\n\r\n"),
		  "GET", "/", 1, "X: a b|Empty: |Tab: v" },
		{ S("GET / HTTP/1.1\r\nX-Obs: caf\xc3\xa9\r\n\r\n"),
		  "GET", "/", 1, "X-Obs: caf\xc3\xa9" },
		{ S("CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n"),
		  "CONNECT", "[::1]:443", 1, "Host: [::1]:443" },
		{ S("M-SEARCH * HTTP/1.1\r\nMAN: \"ssdp:discover\"\r\n\r\n"),
		  "M-SEARCH", "*", 1, "MAN: \"ssdp:discover\"" },
		{ S("GET /x HTTP/1.9\r\n!#$%&'*+-.^_`|~09az: ok\r\n\r\n"),
		  "GET", "/x", 9, "!#$%&'*+-.^_`|~09az: ok" },
		{ S("GET /%7e\xff HTTP/1.1\r\nX: a:b: c\r\n\r\n"),
		  "GET", "/%7e\xff", 1, "X: a:b: c" },
	};
	struct http1_header h[MAXH];
	struct http1_request r;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		unsigned int before = unit_fail;

		check_head_splits(cases[i].in, true, cases[i].in, cases[i].n);
		CHECK_EQ_INT(parse_req(cases[i].in, cases[i].n, 0, 65536, MAXH, &r, h),
			     (int)cases[i].n);
		CHECK_STR(span(r.method, r.method_len), cases[i].method);
		CHECK_STR(span(r.target, r.target_len), cases[i].target);
		CHECK_EQ_INT(r.minor_version, cases[i].minor);
		CHECK_STR(join_headers(r.headers, r.num_headers), cases[i].headers);
		if (unit_fail != before)
			fprintf(stderr, "  ^ in case %zu\n", i);
	}
}

static void test_request_invalid(void)
{
	static const struct {
		const char *in;
		size_t n, first;
	} cases[] = {
		{ S("GET  / HTTP/1.1\r\n\r\n"), 5 },
		{ S("GET / HTTP/1.1 \r\n\r\n"), 15 },
		{ S("GET / HTTP/2.0\r\n\r\n"), 12 },
		{ S("GET / http/1.1\r\n\r\n"), 7 },
		{ S("GET /\r\n\r\n"), 7 },
		{ S(" GET / HTTP/1.1\r\n\r\n"), 1 },
		{ S("GET\t/ HTTP/1.1\r\n\r\n"), 4 },
		{ S("GET /\x7f HTTP/1.1\r\n\r\n"), 6 },
		{ S("GET /a\rb HTTP/1.1\r\n\r\n"), 8 },
		{ S("G(T / HTTP/1.1\r\n\r\n"), 2 },
		{ S("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), 1 },
		{ S("\r\rGET / HTTP/1.1\r\n\r\n"), 2 },
		{ S("GET / HTTP/1.1\r\rX: y\r\n\r\n"), 16 },
		{ S("GET / HTTP/1.1\r\nHost : x\r\n\r\n"), 21 },
		{ S("GET / HTTP/1.1\r\nX: a\r\n  folded\r\n\r\n"), 23 },
		{ S("GET / HTTP/1.1\r\n\tX: a\r\n\r\n"), 17 },
		{ S("GET / HTTP/1.1\r\nX\x01Y: a\r\n\r\n"), 18 },
		{ S("GET / HTTP/1.1\r\nX: a\x00" "b\r\n\r\n"), 21 },
		{ S("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n"), 22 },
		{ S("GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n"), 21 },
		{ S("GET / HTTP/1.1\r\n: empty\r\n\r\n"), 17 },
		{ S("GET / HTTP/1.1\r\nNoColon\r\n\r\n"), 25 },
		{ S("GET / HTTP/1.1\r\nX: 1\r\n\rx"), 25 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		check_head_invalid(cases[i].in, true, cases[i].in, cases[i].n, cases[i].first);
}

static void test_request_limits(void)
{
	static char big[70000];
	struct http1_header h[MAXH + 1];
	struct http1_request r;
	size_t n = 0, last = 0;
	int rc;

	/* exactly MAXH headers fit; one more is too many */
	n = (size_t)sprintf(big, "GET / HTTP/1.1\r\n");
	for (int i = 0; i < MAXH; i++)
		n += (size_t)sprintf(big + n, "H%d: %d\r\n", i, i);
	memcpy(big + n, "\r\n", 2);
	CHECK_EQ_INT(parse_req(big, n + 2, 0, 65536, MAXH, &r, h), (int)n + 2);
	CHECK_EQ_INT(r.num_headers, MAXH);
	n += (size_t)sprintf(big + n, "Hx: x\r\n\r\n");
	CHECK_EQ_INT(parse_req(big, n, 0, 65536, MAXH, &r, h), HTTP1_TOO_MANY_HEADERS);
	CHECK_EQ_INT(parse_req(big, n, 0, 65536, MAXH + 1, &r, h), (int)n);
	/* too many is known as soon as the extra line starts */
	CHECK_EQ_INT(parse_req("GET / HTTP/1.1\r\nA: 1\r\nB", 23, 0, 65536, 1, &r, h),
		     HTTP1_TOO_MANY_HEADERS);
	CHECK_EQ_INT(parse_req("GET / HTTP/1.1\r\nA: 1\r\n\r", 23, 0, 65536, 1, &r, h),
		     PROTO_PARTIAL);
	CHECK_EQ_INT(parse_req("GET / HTTP/1.1\r\nA: 1\r\n", 22, 0, 65536, 0, &r, h),
		     HTTP1_TOO_MANY_HEADERS);

	/* 431: a head that never ends, fed in 1000-byte reads with last_len */
	n = (size_t)sprintf(big, "GET / HTTP/1.1\r\nCookie: ");
	memset(big + n, 'a', sizeof(big) - n);
	for (size_t len = 1000; len <= sizeof(big); len += 1000) {
		rc = parse_req(big, len, last, 65536, MAXH, &r, h);
		if (len < 65536)
			CHECK_EQ_INT(rc, PROTO_PARTIAL);
		else
			CHECK_EQ_INT(rc, HTTP1_TOO_LARGE);
		last = len;
	}
	CHECK_EQ_INT(parse_req(big, 65535, 0, 65536, MAXH, &r, h), PROTO_PARTIAL);
	CHECK_EQ_INT(parse_req(big, 65536, 0, 65536, MAXH, &r, h), HTTP1_TOO_LARGE);
	CHECK_EQ_INT(parse_req(big, 65536, 65535, 65536, MAXH, &r, h), HTTP1_TOO_LARGE);
	/* the same head ends in time: fine; and 0 means no limit */
	memcpy(big + 65532, "\r\n\r\n", 4);
	CHECK_EQ_INT(parse_req(big, sizeof(big), 0, 65536, MAXH, &r, h), 65536);
	CHECK_EQ_INT(parse_req(big, sizeof(big), 60000, 65536, MAXH, &r, h), 65536);
	CHECK_EQ_INT(r.headers[0].value_len, 65532 - 24);
	memcpy(big + 65532, "aa\r\n\r\n", 6);
	CHECK_EQ_INT(parse_req(big, sizeof(big), 0, 65536, MAXH, &r, h), HTTP1_TOO_LARGE);
	CHECK_EQ_INT(parse_req(big, sizeof(big), 0, 0, MAXH, &r, h), 65538);

	/* streaming: an error after the first call is found when the head ends */
	CHECK_EQ_INT(parse_req("GET / HTTP/1.1\r\nX", 17, 0, 65536, MAXH, &r, h), PROTO_PARTIAL);
	CHECK_EQ_INT(parse_req("GET / HTTP/1.1\r\nX\x01", 18, 17, 65536, MAXH, &r, h),
		     PROTO_PARTIAL);
	CHECK_EQ_INT(parse_req("GET / HTTP/1.1\r\nX\x01: y\r\n\r\n", 25, 18, 65536, MAXH, &r, h),
		     PROTO_ERROR);
	/* a bogus last_len beyond len is ignored */
	CHECK_EQ_INT(parse_req("GET / HTTP/1.1\r\n\r\n", 18, 99, 65536, MAXH, &r, h), 18);
}

static void test_response(void)
{
	static const struct {
		const char *in;
		size_t n;
		int minor, status;
		const char *reason, *headers;
	} valid[] = {
		{ S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"), 1, 200, "OK",
		  "Content-Length: 5" },
		{ S("HTTP/1.0 404 Not Found\nServer: x\n\n"), 0, 404, "Not Found", "Server: x" },
		{ S("HTTP/1.1 200\r\n\r\n"), 1, 200, "", "" },
		{ S("HTTP/1.1 204 \r\n\r\n"), 1, 204, "", "" },
		{ S("HTTP/1.1 200 Connection established\r\n\r\n"), 1, 200,
		  "Connection established", "" },
		{ S("HTTP/1.1 407 Proxy Auth\xe9 \tx\r\nProxy-Authenticate: Basic realm=\"x\"\r\n\r\n"),
		  1, 407, "Proxy Auth\xe9 \tx", "Proxy-Authenticate: Basic realm=\"x\"" },
		{ S("HTTP/1.1 999 Whatever\r\n\r\n"), 1, 999, "Whatever", "" },
		{ S("HTTP/1.1 100 Continue\r\n\r\n"), 1, 100, "Continue", "" },
	};
	static const struct {
		const char *in;
		size_t n, first;
	} invalid[] = {
		{ S("HTTP/1.1 20 OK\r\n\r\n"), 12 },
		{ S("HTTP/1.1 2000 OK\r\n\r\n"), 13 },
		{ S("HTTP/1.1 099 x\r\n\r\n"), 12 },
		{ S("HTTP/1.1  200 OK\r\n\r\n"), 10 },
		{ S("HTTP/1.1 200OK\r\n\r\n"), 13 },
		{ S("HTTP/1.1 200 O\x01K\r\n\r\n"), 15 },
		{ S("ICY 200 OK\r\n\r\n"), 1 },
		{ S("HTTP/2 200\r\n\r\n"), 6 },
		{ S("\r\nHTTP/1.1 200 OK\r\n\r\n"), 2 },
		{ S("HTTP/1.1 200 OK\r\nX : y\r\n\r\n"), 19 },
	};
	struct http1_header h[MAXH];
	struct http1_response r;

	for (size_t i = 0; i < ARRAY_SIZE(valid); i++) {
		unsigned int before = unit_fail;

		check_head_splits(valid[i].in, false, valid[i].in, valid[i].n);
		CHECK_EQ_INT(parse_res(valid[i].in, valid[i].n, 0, 65536, MAXH, &r, h),
			     (int)valid[i].n);
		CHECK_EQ_INT(r.minor_version, valid[i].minor);
		CHECK_EQ_INT(r.status, valid[i].status);
		CHECK_STR(span(r.reason, r.reason_len), valid[i].reason);
		CHECK_STR(join_headers(r.headers, r.num_headers), valid[i].headers);
		if (unit_fail != before)
			fprintf(stderr, "  ^ in case %zu\n", i);
	}
	for (size_t i = 0; i < ARRAY_SIZE(invalid); i++)
		check_head_invalid(invalid[i].in, false, invalid[i].in, invalid[i].n,
				   invalid[i].first);
	/* a CONNECT reply followed by tunnel data: consumed stops at the head */
	CHECK_EQ_INT(parse_res("HTTP/1.1 200 OK\r\n\r\n\x16\x03\x01", 22, 0, 65536, MAXH, &r, h),
		     19);
	CHECK_EQ_INT(parse_res("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n", 31, 0, 65536, 1, &r, h),
		     HTTP1_TOO_MANY_HEADERS);
	CHECK_EQ_INT(parse_res("HTTP/1.1 200 OK\r\nA: 1\r\n\r\n", 25, 0, 20, MAXH, &r, h),
		     HTTP1_TOO_LARGE);
}

static void test_headers(void)
{
	static const struct http1_header h[] = {
		{ "Host", "a", 4, 1 },
		{ "connection", "keep-alive, X-Foo", 10, 17 },
		{ "X-Foo", "1", 5, 1 },
		{ "CONNECTION", " ,Upgrade ,, ", 10, 13 },
		{ "x-foo", "2", 5, 1 },
	};
	static const struct http1_header close_h[] = { { "Connection", "Close", 10, 5 } };
	static const struct http1_header ka_h[] = { { "Connection", "Keep-Alive", 10, 10 } };
	const char *p, *end, *t;
	size_t tl;
	char got[64] = "";
	const char *list = " a , ,b,, c\t,";

	CHECK_EQ_INT(http1_find_header(h, 5, 0, "host"), 0);
	CHECK_EQ_INT(http1_find_header(h, 5, 0, "X-FOO"), 2);
	CHECK_EQ_INT(http1_find_header(h, 5, 3, "X-FOO"), 4);
	CHECK_EQ_INT(http1_find_header(h, 5, 5, "X-FOO"), -1);
	CHECK_EQ_INT(http1_find_header(h, 5, 0, "X-Fo"), -1);
	CHECK_EQ_INT(http1_find_header(h, 5, 0, "Hostx"), -1);
	CHECK_EQ_INT(http1_find_header(h, 0, 0, "Host"), -1);

	p = list;
	end = list + strlen(list);
	while (http1_next_token(&p, end, &t, &tl)) {
		strncat(got, t, tl);
		strcat(got, "|");
	}
	CHECK_STR(got, "a|b|c|");
	CHECK(p == end);
	p = end = "";
	CHECK(!http1_next_token(&p, end, &t, &tl));

	CHECK(http1_connection_has(h, 5, "keep-alive"));
	CHECK(http1_connection_has(h, 5, "x-foo"));
	CHECK(http1_connection_has(h, 5, "UPGRADE"));
	CHECK(!http1_connection_has(h, 5, "close"));
	CHECK(!http1_connection_has(h, 5, "X-Fo"));
	CHECK(!http1_connection_has(h, 5, "Host"));

	CHECK(http1_is_keep_alive(1, NULL, 0));
	CHECK(!http1_is_keep_alive(0, NULL, 0));
	CHECK(!http1_is_keep_alive(1, close_h, 1));
	CHECK(!http1_is_keep_alive(0, close_h, 1));
	CHECK(http1_is_keep_alive(0, ka_h, 1));
	CHECK(http1_is_keep_alive(1, ka_h, 1));
}

static void test_target(void)
{
	static const struct {
		const char *method, *in;
		int form;
		const char *host;
		int port;	/* -1: PROTO_ERROR */
		bool v6;
		const char *authority, *path;
	} cases[] = {
		{ "GET", "/", HTTP1_TARGET_ORIGIN, "", 0, false, "", "/" },
		{ "GET", "/a/b?c=d", HTTP1_TARGET_ORIGIN, "", 0, false, "", "/a/b?c=d" },
		{ "OPTIONS", "*", HTTP1_TARGET_ASTERISK, "", 0, false, "", "*" },
		{ "GET", "http://example.com", HTTP1_TARGET_ABSOLUTE, "example.com", 80, false,
		  "example.com", "/" },
		{ "GET", "http://example.com/", HTTP1_TARGET_ABSOLUTE, "example.com", 80, false,
		  "example.com", "/" },
		{ "GET", "http://example.com:8080/p?q=1", HTTP1_TARGET_ABSOLUTE, "example.com",
		  8080, false, "example.com:8080", "/p?q=1" },
		{ "POST", "HTTP://Ex-1.example_x.COM/x", HTTP1_TARGET_ABSOLUTE,
		  "Ex-1.example_x.COM", 80, false, "Ex-1.example_x.COM", "/x" },
		{ "GET", "http://[2001:db8::1]:8080/x", HTTP1_TARGET_ABSOLUTE, "2001:db8::1", 8080,
		  true, "[2001:db8::1]:8080", "/x" },
		{ "GET", "http://[::ffff:1.2.3.4]", HTTP1_TARGET_ABSOLUTE, "::ffff:1.2.3.4", 80,
		  true, "[::ffff:1.2.3.4]", "/" },
		{ "GET", "http://h?q", HTTP1_TARGET_ABSOLUTE, "h", 80, false, "h", "?q" },
		{ "GET", "http://h:/x", HTTP1_TARGET_ABSOLUTE, "h", 80, false, "h:", "/x" },
		{ "GET", "http://10.0.0.1:65535/", HTTP1_TARGET_ABSOLUTE, "10.0.0.1", 65535, false,
		  "10.0.0.1:65535", "/" },
		{ "CONNECT", "example.com:443", HTTP1_TARGET_AUTHORITY, "example.com", 443, false,
		  "example.com:443", "" },
		{ "CONNECT", "[::1]:22", HTTP1_TARGET_AUTHORITY, "::1", 22, true, "[::1]:22", "" },
		{ "CONNECT", "1.2.3.4:1", HTTP1_TARGET_AUTHORITY, "1.2.3.4", 1, false, "1.2.3.4:1",
		  "" },
		{ "CONNECT", "example.com", 0, NULL, -1, false, NULL, NULL },
		{ "CONNECT", "example.com:", 0, NULL, -1, false, NULL, NULL },
		{ "CONNECT", "example.com:0", 0, NULL, -1, false, NULL, NULL },
		{ "CONNECT", "example.com:65536", 0, NULL, -1, false, NULL, NULL },
		{ "CONNECT", "example.com:123456", 0, NULL, -1, false, NULL, NULL },
		{ "CONNECT", "example.com:+1", 0, NULL, -1, false, NULL, NULL },
		{ "CONNECT", ":443", 0, NULL, -1, false, NULL, NULL },
		{ "CONNECT", "[::1]", 0, NULL, -1, false, NULL, NULL },
		{ "CONNECT", "[::1", 0, NULL, -1, false, NULL, NULL },
		{ "CONNECT", "[]:80", 0, NULL, -1, false, NULL, NULL },
		{ "CONNECT", "[1.2.3.4]:80", 0, NULL, -1, false, NULL, NULL },
		{ "CONNECT", "[zz::1]:80", 0, NULL, -1, false, NULL, NULL },
		{ "CONNECT", "[::1]x:80", 0, NULL, -1, false, NULL, NULL },
		{ "CONNECT", "http://x/", 0, NULL, -1, false, NULL, NULL },
		{ "CONNECT", "/", 0, NULL, -1, false, NULL, NULL },
		{ "CONNECT", "a@b:80", 0, NULL, -1, false, NULL, NULL },
		{ "GET", "https://x/", 0, NULL, -1, false, NULL, NULL },
		{ "GET", "ftp://x/", 0, NULL, -1, false, NULL, NULL },
		{ "GET", "http:/x/", 0, NULL, -1, false, NULL, NULL },
		{ "GET", "http://user@x/", 0, NULL, -1, false, NULL, NULL },
		{ "GET", "http://u:p@x/", 0, NULL, -1, false, NULL, NULL },
		{ "GET", "http:///x", 0, NULL, -1, false, NULL, NULL },
		{ "GET", "http://x:99999/", 0, NULL, -1, false, NULL, NULL },
		{ "GET", "http://x:8o/", 0, NULL, -1, false, NULL, NULL },
		{ "GET", "http://a%20b/", 0, NULL, -1, false, NULL, NULL },
		{ "GET", "http://x/#frag", 0, NULL, -1, false, NULL, NULL },
		{ "GET", "/a#frag", 0, NULL, -1, false, NULL, NULL },
		{ "GET", "example.com:80", 0, NULL, -1, false, NULL, NULL },
		{ "GET", "", 0, NULL, -1, false, NULL, NULL },
		{ "OPTIONS", "**", 0, NULL, -1, false, NULL, NULL },
	};
	struct http1_target t;
	char host[300];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		unsigned int before = unit_fail;
		int rc = http1_parse_target(cases[i].method, strlen(cases[i].method), cases[i].in,
					    strlen(cases[i].in), &t);

		if (cases[i].port < 0) {
			CHECK_EQ_INT(rc, PROTO_ERROR);
		} else {
			CHECK_EQ_INT(rc, 0);
			CHECK_EQ_INT(t.form, cases[i].form);
			CHECK_STR(span(t.host, t.host_len), cases[i].host);
			CHECK_EQ_INT(t.port, cases[i].port);
			CHECK(t.host_is_ipv6 == cases[i].v6);
			CHECK_STR(span(t.authority, t.authority_len), cases[i].authority);
			CHECK_STR(span(t.path, t.path_len), cases[i].path);
		}
		if (unit_fail != before)
			fprintf(stderr, "  ^ in case %s %s\n", cases[i].method, cases[i].in);
	}
	/* host length: 255 is fine, 256 is not */
	memset(host, 'h', sizeof(host));
	CHECK_EQ_INT(http1_parse_target("CONNECT", 7, host, 255 + 3, &t), PROTO_ERROR);
	memcpy(host + 255, ":80", 3);
	CHECK_EQ_INT(http1_parse_target("CONNECT", 7, host, 255 + 3, &t), 0);
	CHECK_EQ_INT(t.host_len, 255);
	memset(host, 'h', sizeof(host));
	memcpy(host + 256, ":80", 3);
	CHECK_EQ_INT(http1_parse_target("CONNECT", 7, host, 256 + 3, &t), PROTO_ERROR);
}

struct hdrs {
	int minor;
	struct http1_header h[8];
	size_t n;
};

static void set_headers(struct hdrs *x, const char *const *pairs)
{
	x->n = 0;
	for (size_t i = 0; pairs[i]; i += 2, x->n++) {
		x->h[x->n].name = pairs[i];
		x->h[x->n].name_len = strlen(pairs[i]);
		x->h[x->n].value = pairs[i + 1];
		x->h[x->n].value_len = strlen(pairs[i + 1]);
	}
}

#define H(...)	((const char *const[]){ __VA_ARGS__, NULL })
#define ERR	-1

static void test_request_body(void)
{
	const struct {
		int minor;
		const char *const *h;
		int kind;	/* ERR: PROTO_ERROR */
		uint64_t len;
	} cases[] = {
		{ 1, (const char *const[]){ NULL }, HTTP1_BODY_NONE, 0 },
		{ 1, H("Content-Length", "10"), HTTP1_BODY_LENGTH, 10 },
		{ 0, H("content-length", "10"), HTTP1_BODY_LENGTH, 10 },
		{ 1, H("Content-Length", "0"), HTTP1_BODY_NONE, 0 },
		{ 1, H("Content-Length", "007"), HTTP1_BODY_LENGTH, 7 },
		{ 1, H("Content-Length", "5, 5"), HTTP1_BODY_LENGTH, 5 },
		{ 1, H("Content-Length", "5,5 ,\t5"), HTTP1_BODY_LENGTH, 5 },
		{ 1, H("Content-Length", "5", "X", "y", "Content-Length", "5"), HTTP1_BODY_LENGTH, 5 },
		{ 1, H("Content-Length", "5", "Content-Length", "6"), ERR, 0 },
		{ 1, H("Content-Length", "5, 6"), ERR, 0 },
		{ 1, H("Content-Length", "5,"), ERR, 0 },
		{ 1, H("Content-Length", ",5"), ERR, 0 },
		{ 1, H("Content-Length", "5 5"), ERR, 0 },
		{ 1, H("Content-Length", "abc"), ERR, 0 },
		{ 1, H("Content-Length", "-1"), ERR, 0 },
		{ 1, H("Content-Length", "+5"), ERR, 0 },
		{ 1, H("Content-Length", "0x10"), ERR, 0 },
		{ 1, H("Content-Length", ""), ERR, 0 },
		{ 1, H("Content-Length", "18446744073709551615"), HTTP1_BODY_LENGTH, UINT64_MAX },
		{ 1, H("Content-Length", "18446744073709551616"), ERR, 0 },
		{ 1, H("Content-Length", "99999999999999999999999"), ERR, 0 },
		{ 1, H("Transfer-Encoding", "chunked"), HTTP1_BODY_CHUNKED, 0 },
		{ 1, H("transfer-encoding", "CHUNKED"), HTTP1_BODY_CHUNKED, 0 },
		{ 1, H("Transfer-Encoding", "gzip, chunked"), HTTP1_BODY_CHUNKED, 0 },
		{ 1, H("Transfer-Encoding", "gzip", "Transfer-Encoding", "chunked"),
		  HTTP1_BODY_CHUNKED, 0 },
		{ 1, H("Transfer-Encoding", "chunked, gzip"), ERR, 0 },
		{ 1, H("Transfer-Encoding", "chunked", "Transfer-Encoding", "chunked"), ERR, 0 },
		{ 1, H("Transfer-Encoding", "chunked, chunked"), ERR, 0 },
		{ 1, H("Transfer-Encoding", "gzip"), ERR, 0 },
		{ 1, H("Transfer-Encoding", "identity"), ERR, 0 },
		{ 1, H("Transfer-Encoding", ""), ERR, 0 },
		{ 1, H("Transfer-Encoding", "chunked;x=1"), ERR, 0 },
		{ 1, H("Transfer-Encoding", "chunked", "Content-Length", "5"), ERR, 0 },
		{ 1, H("Content-Length", "5", "Transfer-Encoding", "chunked"), ERR, 0 },
		{ 0, H("Transfer-Encoding", "chunked"), ERR, 0 },
	};
	struct http1_request r = { 0 };
	struct http1_body b;
	struct hdrs x;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		unsigned int before = unit_fail;
		int rc;

		set_headers(&x, cases[i].h);
		r.headers = x.h;
		r.num_headers = x.n;
		r.minor_version = cases[i].minor;
		rc = http1_request_body(&r, &b);
		if (cases[i].kind == ERR) {
			CHECK_EQ_INT(rc, PROTO_ERROR);
		} else {
			CHECK_EQ_INT(rc, 0);
			CHECK_EQ_INT(b.kind, cases[i].kind);
			CHECK(b.length == cases[i].len);
		}
		if (unit_fail != before)
			fprintf(stderr, "  ^ in case %zu\n", i);
	}
}

static void test_response_body(void)
{
	const struct {
		const char *method;
		int minor, status;
		const char *const *h;
		int kind;
		uint64_t len;
	} cases[] = {
		{ "GET", 1, 200, H("Content-Length", "5"), HTTP1_BODY_LENGTH, 5 },
		{ "GET", 1, 200, H("Content-Length", "0"), HTTP1_BODY_NONE, 0 },
		{ "GET", 1, 200, (const char *const[]){ NULL }, HTTP1_BODY_CLOSE, 0 },
		{ "GET", 0, 200, (const char *const[]){ NULL }, HTTP1_BODY_CLOSE, 0 },
		{ "HEAD", 1, 200, H("Content-Length", "5"), HTTP1_BODY_NONE, 0 },
		{ "HEAD", 1, 200, H("Transfer-Encoding", "chunked"), HTTP1_BODY_NONE, 0 },
		{ "GET", 1, 204, H("Content-Length", "5"), HTTP1_BODY_NONE, 0 },
		{ "GET", 1, 304, H("Content-Length", "100"), HTTP1_BODY_NONE, 0 },
		{ "GET", 1, 100, (const char *const[]){ NULL }, HTTP1_BODY_NONE, 0 },
		{ "GET", 1, 101, H("Upgrade", "websocket"), HTTP1_BODY_NONE, 0 },
		{ "CONNECT", 1, 200, (const char *const[]){ NULL }, HTTP1_BODY_NONE, 0 },
		{ "CONNECT", 1, 200, H("Content-Length", "5"), HTTP1_BODY_NONE, 0 },
		{ "CONNECT", 1, 299, (const char *const[]){ NULL }, HTTP1_BODY_NONE, 0 },
		{ "CONNECT", 1, 407, H("Content-Length", "5"), HTTP1_BODY_LENGTH, 5 },
		{ "CONNECT", 1, 502, (const char *const[]){ NULL }, HTTP1_BODY_CLOSE, 0 },
		{ "connect", 1, 200, (const char *const[]){ NULL }, HTTP1_BODY_CLOSE, 0 },
		{ "GET", 1, 200, H("Transfer-Encoding", "chunked"), HTTP1_BODY_CHUNKED, 0 },
		{ "POST", 1, 500, H("Transfer-Encoding", "gzip, chunked"), HTTP1_BODY_CHUNKED, 0 },
		{ "GET", 1, 200, H("Transfer-Encoding", "gzip"), HTTP1_BODY_CLOSE, 0 },
		{ "GET", 0, 200, H("Transfer-Encoding", "chunked"), HTTP1_BODY_CLOSE, 0 },
		{ "GET", 1, 200, H("Transfer-Encoding", "chunked, gzip"), ERR, 0 },
		{ "GET", 1, 200, H("Transfer-Encoding", "chunked", "Content-Length", "5"), ERR, 0 },
		{ "GET", 1, 200, H("Content-Length", "5", "Content-Length", "7"), ERR, 0 },
		{ "GET", 1, 200, H("Content-Length", "x"), ERR, 0 },
	};
	struct http1_response r = { 0 };
	struct http1_body b;
	struct hdrs x;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		unsigned int before = unit_fail;
		int rc;

		set_headers(&x, cases[i].h);
		r.headers = x.h;
		r.num_headers = x.n;
		r.minor_version = cases[i].minor;
		r.status = cases[i].status;
		rc = http1_response_body(&r, cases[i].method, strlen(cases[i].method), &b);
		if (cases[i].kind == ERR) {
			CHECK_EQ_INT(rc, PROTO_ERROR);
		} else {
			CHECK_EQ_INT(rc, 0);
			CHECK_EQ_INT(b.kind, cases[i].kind);
			CHECK(b.length == cases[i].len);
		}
		if (unit_fail != before)
			fprintf(stderr, "  ^ in case %zu\n", i);
	}
}

/* Feed msg[0..n) then "NEXT": the message is exactly n bytes, however it is cut. */
static void check_chunked_valid(const char *name, const char *msg, size_t n)
{
	unsigned int before = unit_fail;
	struct http1_chunked c;
	char *big = malloc(n + 4);
	int rc;

	memcpy(big, msg, n);
	memcpy(big + n, "NEXT", 4);
	http1_chunked_init(&c);
	CHECK_EQ_INT(http1_chunked_feed(&c, big, n + 4), (int)n);
	CHECK(http1_chunked_is_done(&c));
	CHECK_EQ_INT(http1_chunked_feed(&c, big + n, 4), 0);

	for (size_t k = 0; k <= n; k++) {
		char *a = malloc(k ? k : 1), *b = malloc(n - k + 4);

		memcpy(a, msg, k);
		memcpy(b, big + k, n - k + 4);
		http1_chunked_init(&c);
		CHECK_EQ_INT(http1_chunked_feed(&c, a, k), (int)k);
		CHECK(http1_chunked_is_done(&c) == (k == n));
		CHECK_EQ_INT(http1_chunked_feed(&c, b, n - k + 4), (int)(n - k));
		CHECK(http1_chunked_is_done(&c));
		free(a);
		free(b);
	}
	/* one byte at a time */
	http1_chunked_init(&c);
	for (size_t k = 0; k < n; k++) {
		CHECK(!http1_chunked_is_done(&c));
		CHECK_EQ_INT(http1_chunked_feed(&c, big + k, 1), 1);
	}
	CHECK(http1_chunked_is_done(&c));
	rc = http1_chunked_feed(&c, big + n, 1);
	CHECK_EQ_INT(rc, 0);
	free(big);
	if (unit_fail != before)
		fprintf(stderr, "  ^ in case '%s'\n", name);
}

/* A malformed body: an error whole and byte by byte; never done. */
static void check_chunked_invalid(const char *name, const char *msg, size_t n)
{
	unsigned int before = unit_fail;
	struct http1_chunked c;
	int rc = 0;

	http1_chunked_init(&c);
	CHECK_EQ_INT(http1_chunked_feed(&c, msg, n), PROTO_ERROR);
	CHECK(!http1_chunked_is_done(&c));
	CHECK_EQ_INT(http1_chunked_feed(&c, "0\r\n\r\n", 5), PROTO_ERROR);
	http1_chunked_init(&c);
	for (size_t k = 0; k < n && rc >= 0; k++)
		rc = http1_chunked_feed(&c, msg + k, 1);
	CHECK_EQ_INT(rc, PROTO_ERROR);
	CHECK(!http1_chunked_is_done(&c));
	if (unit_fail != before)
		fprintf(stderr, "  ^ in case '%s'\n", name);
}

static void test_chunked(void)
{
	static const struct {
		const char *in;
		size_t n;
	} valid[] = {
		{ S("5\r\nhello\r\n0\r\n\r\n") },
		{ S("0\r\n\r\n") },
		{ S("000\r\n\r\n") },
		{ S("5;ext=1;foo=\"b a r\"\r\nhello\r\nA\r\n0123456789\r\n0;last\r\n"
		    "Trailer-1: x\r\nT2:\r\nT3: a \t\xff\r\n\r\n") },
		{ S("1 ;ext\r\nx\r\n1\t; e = v\r\ny\r\n0\r\n\r\n") },
		{ S("1F\r\n0123456789abcdef0123456789abcde\r\n1f\r\n"
		    "0123456789abcdef0123456789abcde\r\n0\r\n\r\n") },
		{ S("2\r\n\r\n\r\n0\r\n\r\n") },
		{ S("3\r\n\0\0\0\r\n0\r\n\r\n") },
	};
	static const struct {
		const char *in;
		size_t n;
	} invalid[] = {
		{ S("x\r\n") },
		{ S("\r\n") },
		{ S(";ext\r\n") },
		{ S("5\nhello\r\n") },
		{ S("5\r\nhello\n0\r\n\r\n") },
		{ S("5\r\nhelloX\r\n") },
		{ S("5\rhello") },
		{ S("5 \r\nhello\r\n") },
		{ S("5 5\r\n") },
		{ S("-5\r\n") },
		{ S("0x5\r\n") },
		{ S("10000000000000000\r\nx") },
		{ S("1;ext\x01\r\nx\r\n") },
		{ S("1;ext\nx\r\n") },
		{ S("0\r\nbad trailer\r\n\r\n") },
		{ S("0\r\n folded: x\r\n\r\n") },
		{ S("0\r\n: x\r\n\r\n") },
		{ S("0\r\nX: a\x01\r\n\r\n") },
		{ S("0\r\nX: a\n\r\n") },
		{ S("0\r\n\n") },
		{ S("0\r\n\rx") },
	};
	struct http1_chunked c;
	static char line[HTTP1_TRAILER_LINE_MAX + 16];
	size_t n;

	for (size_t i = 0; i < ARRAY_SIZE(valid); i++) {
		unsigned int before = unit_fail;

		check_chunked_valid("valid", valid[i].in, valid[i].n);
		if (unit_fail != before)
			fprintf(stderr, "  ^ valid[%zu]\n", i);
	}
	for (size_t i = 0; i < ARRAY_SIZE(invalid); i++) {
		unsigned int before = unit_fail;

		check_chunked_invalid("invalid", invalid[i].in, invalid[i].n);
		if (unit_fail != before)
			fprintf(stderr, "  ^ invalid[%zu]\n", i);
	}

	/* sizes: 2^60 - 1 and 2^60 are fine, 2^64 is not */
	http1_chunked_init(&c);
	CHECK_EQ_INT(http1_chunked_feed(&c, "FFFFFFFFFFFFFFF\r\nabc", 20), 20);
	CHECK(c.remaining == 0xfffffffffffffffULL - 3);
	http1_chunked_init(&c);
	CHECK_EQ_INT(http1_chunked_feed(&c, "1000000000000000\r\n", 18), 18);
	CHECK(c.remaining == 1ULL << 60);

	/* size line limit: extensions up to HTTP1_CHUNK_LINE_MAX bytes with the CRLF */
	memset(line, 'e', sizeof(line));
	memcpy(line, "0;", 2);
	n = HTTP1_CHUNK_LINE_MAX - 2;
	memcpy(line + n, "\r\n\r\n", 4);
	check_chunked_valid("long ext", line, n + 4);
	memset(line, 'e', sizeof(line));
	memcpy(line, "0;", 2);
	n = HTTP1_CHUNK_LINE_MAX - 1;
	memcpy(line + n, "\r\n\r\n", 4);
	check_chunked_invalid("ext too long", line, n + 4);
	/* leading zeros count against the same limit */
	memset(line, '0', sizeof(line));
	n = HTTP1_CHUNK_LINE_MAX + 1;
	memcpy(line + n, "\r\n\r\n", 4);
	check_chunked_invalid("zeros too long", line, n + 4);

	/* trailer line limit */
	memset(line, 'v', sizeof(line));
	memcpy(line, "0\r\nT:", 5);
	n = 3 + HTTP1_TRAILER_LINE_MAX - 2;
	memcpy(line + n, "\r\n\r\n", 4);
	check_chunked_valid("long trailer", line, n + 4);
	memset(line, 'v', sizeof(line));
	memcpy(line, "0\r\nT:", 5);
	n = 3 + HTTP1_TRAILER_LINE_MAX - 1;
	memcpy(line + n, "\r\n\r\n", 4);
	check_chunked_invalid("trailer too long", line, n + 4);
}

static void check_rewrite(const char *name, const char *in, unsigned int flags,
			  const char *extra, const char *expect)
{
	unsigned int before = unit_fail;
	struct http1_header h[MAXH];
	struct http1_request r, r2;
	struct http1_target t;
	char out[2048];
	size_t n = strlen(expect), elen = extra ? strlen(extra) : 0;
	int rc;

	CHECK_EQ_INT(parse_req(in, strlen(in), 0, 65536, MAXH, &r, h), (int)strlen(in));
	CHECK_EQ_INT(http1_parse_target(r.method, r.method_len, r.target, r.target_len, &t), 0);
	rc = http1_write_request_head(out, sizeof(out), &r, &t, flags, extra, elen);
	CHECK_EQ_INT(rc, (int)n);
	if (rc >= 0) {
		out[rc] = 0;
		CHECK_STR(out, expect);
	}
	for (size_t cap = 0; cap < n; cap++)
		CHECK_EQ_INT(http1_write_request_head(out, cap, &r, &t, flags, extra, elen), -1);
	CHECK_EQ_INT(http1_write_request_head(out, n, &r, &t, flags, extra, elen), (int)n);
	CHECK(n <= http1_request_head_max(&r, elen));
	CHECK(n <= http1_request_head_max(&r, elen) && http1_request_head_max(&r, elen) < n + 300);
	/* what we write, we parse */
	{
		struct http1_header h2[MAXH];

		CHECK_EQ_INT(parse_req(out, n, 0, 65536, MAXH, &r2, h2), (int)n);
	}
	if (unit_fail != before)
		fprintf(stderr, "  ^ in case '%s'\n", name);
}

static void test_rewrite(void)
{
	check_rewrite("hop-by-hop",
		      "GET http://example.com/index.html?x=1 HTTP/1.1\r\n"
		      "Host: example.com\r\n"
		      "User-Agent: curl/8\r\n"
		      "Proxy-Connection: keep-alive\r\n"
		      "Proxy-Authorization: Basic dXNlcjpwYXNz\r\n"
		      "Connection: keep-alive, X-Hop\r\n"
		      "Keep-Alive: timeout=5\r\n"
		      "X-Hop: 1\r\n"
		      "TE: trailers\r\n"
		      "Trailer: X-Sum\r\n"
		      "Upgrade: websocket\r\n"
		      "Transfer-Encoding: chunked\r\n"
		      "Accept: */*\r\n"
		      "x-hop: 2\r\n"
		      "\r\n", 0, NULL,
		      "GET /index.html?x=1 HTTP/1.1\r\n"
		      "Host: example.com\r\n"
		      "User-Agent: curl/8\r\n"
		      "Transfer-Encoding: chunked\r\n"
		      "Accept: */*\r\n"
		      "\r\n");
	check_rewrite("no host",
		      "GET http://example.com:8080 HTTP/1.0\nAccept: */*\n\n", 0, NULL,
		      "GET / HTTP/1.0\r\nHost: example.com:8080\r\nAccept: */*\r\n\r\n");
	check_rewrite("host replaced",
		      "GET http://a.example/ HTTP/1.1\r\nX: 1\r\nHost: b.example\r\n"
		      "Y: 2\r\nhost: c.example\r\n\r\n", 0, NULL,
		      "GET / HTTP/1.1\r\nX: 1\r\nHost: a.example\r\nY: 2\r\n\r\n");
	check_rewrite("ipv6",
		      "POST http://[2001:db8::1]:8080/x HTTP/1.1\r\nContent-Length: 3\r\n\r\n", 0,
		      NULL,
		      "POST /x HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\nContent-Length: 3\r\n\r\n");
	check_rewrite("query only", "GET http://h?q=1 HTTP/1.1\r\n\r\n", 0, NULL,
		      "GET /?q=1 HTTP/1.1\r\nHost: h\r\n\r\n");
	check_rewrite("origin form keeps host",
		      "GET /a HTTP/1.1\r\nHost: h1\r\nHost: h2\r\nConnection: close\r\n\r\n", 0,
		      NULL, "GET /a HTTP/1.1\r\nHost: h1\r\n\r\n");
	check_rewrite("origin form without host", "GET /a HTTP/1.0\r\n\r\n", 0, NULL,
		      "GET /a HTTP/1.0\r\n\r\n");
	check_rewrite("framing is protected",
		      "POST http://h/ HTTP/1.1\r\nConnection: Transfer-Encoding, Content-Length, "
		      "Host, X-A\r\nHost: h\r\nContent-Length: 2\r\nX-A: a\r\nX-B: b\r\n\r\n", 0,
		      NULL,
		      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nX-B: b\r\n\r\n");
	check_rewrite("absolute kept + extra",
		      "GET http://h:81/p HTTP/1.1\r\nHost: x\r\nProxy-Connection: close\r\n\r\n",
		      HTTP1_REWRITE_ABSOLUTE, "Via: 1.1 sluice\r\nConnection: close\r\n",
		      "GET http://h:81/p HTTP/1.1\r\nHost: h:81\r\nVia: 1.1 sluice\r\n"
		      "Connection: close\r\n\r\n");
	check_rewrite("values normalised",
		      "GET http://h/ HTTP/1.1\nX:   spaced \t\nEmpty:\n\n", 0, NULL,
		      "GET / HTTP/1.1\r\nHost: h\r\nX: spaced\r\nEmpty: \r\n\r\n");
	check_rewrite("grows",
		      "GET http://host.example/ HTTP/1.1\na:b\nc:d\ne:f\ng:h\n\n", 0, "X:y\r\n",
		      "GET / HTTP/1.1\r\nHost: host.example\r\na: b\r\nc: d\r\ne: f\r\n"
		      "g: h\r\nX:y\r\n\r\n");
	check_rewrite("connect",
		      "CONNECT h:443 HTTP/1.1\r\nProxy-Authorization: Basic x\r\n\r\n", 0, NULL,
		      "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n");
}

static void test_basic(void)
{
	static const struct {
		const char *in, *user, *pass;	/* user NULL: error */
	} cases[] = {
		{ "Basic dXNlcjpwYXNz", "user", "pass" },
		{ "basic  dXNlcjpwYXNz \t", "user", "pass" },
		{ "BASIC\tdXNlcjpwYXNz", "user", "pass" },
		{ "Basic dXNlcjpwYTpzcw==", "user", "pa:ss" },
		{ "Basic dXNlcjo=", "user", "" },
		{ "Basic dXNlcjo", "user", "" },
		{ "Basic OnBhc3M=", "", "pass" },
		{ "Basic dXNlcg==", NULL, NULL },
		{ "Basic", NULL, NULL },
		{ "Basic ", NULL, NULL },
		{ "Basicx dXNlcjpwYXNz", NULL, NULL },
		{ "Bearer dXNlcjpwYXNz", NULL, NULL },
		{ "Basic dXNlcjpwYXNz x", NULL, NULL },
		{ "Basic !!!!", NULL, NULL },
		{ "Basic dXNlcjpwYXN==", NULL, NULL },
		{ "Basic dXNl cjpwYXNz", NULL, NULL },
		{ "", NULL, NULL },
	};
	struct http1_basic b;
	char scratch[64], hdr[1024];
	char user[256], pass[256];
	int n;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		unsigned int before = unit_fail;
		int rc = http1_parse_basic(cases[i].in, strlen(cases[i].in), scratch,
					   sizeof(scratch), &b);

		if (!cases[i].user) {
			CHECK_EQ_INT(rc, PROTO_ERROR);
		} else {
			CHECK_EQ_INT(rc, 0);
			CHECK_STR(span(b.user, b.user_len), cases[i].user);
			CHECK_STR(span(b.pass, b.pass_len), cases[i].pass);
		}
		if (unit_fail != before)
			fprintf(stderr, "  ^ in case '%s'\n", cases[i].in);
	}
	/* scratch too small */
	CHECK_EQ_INT(http1_parse_basic("Basic dXNlcjpwYXNz", 18, scratch, 8, &b), PROTO_ERROR);
	CHECK_EQ_INT(http1_parse_basic("Basic dXNlcjpwYXNz", 18, scratch, 9, &b), 0);

	/* write, then parse back the value */
	n = http1_write_proxy_auth(hdr, sizeof(hdr), "user", 4, "pass", 4);
	CHECK_EQ_INT(n, 41);
	CHECK(n > 0 && memcmp(hdr, "Proxy-Authorization: Basic dXNlcjpwYXNz\r\n", 41) == 0);
	n = http1_write_proxy_auth(hdr, sizeof(hdr), "Aladdin", 7, "open sesame", 11);
	CHECK(n > 0 && memcmp(hdr, "Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n",
			      (size_t)n) == 0);
	for (size_t ul = 0; ul < 6; ul++) {
		for (size_t pl = 0; pl < 6; pl++) {
			char big[600];

			memcpy(user, "uvwxyz", 6);
			memcpy(pass, "p:qrst", 6);
			n = http1_write_proxy_auth(hdr, sizeof(hdr), user, ul, pass, pl);
			CHECK(n > 29);
			CHECK_EQ_INT(http1_write_proxy_auth(hdr, (size_t)n - 1, user, ul, pass, pl), -1);
			CHECK_EQ_INT(http1_write_proxy_auth(hdr, (size_t)n, user, ul, pass, pl), n);
			CHECK(memcmp(hdr + n - 2, "\r\n", 2) == 0);
			CHECK_EQ_INT(http1_parse_basic(hdr + 21, (size_t)n - 23, big, sizeof(big), &b),
				     0);
			CHECK(b.user_len == ul && memcmp(b.user, user, ul) == 0);
			CHECK(b.pass_len == pl && memcmp(b.pass, pass, pl) == 0);
		}
	}
	memset(user, 'u', sizeof(user));
	memset(pass, 'p', sizeof(pass));
	n = http1_write_proxy_auth(hdr, sizeof(hdr), user, 255, pass, 255);
	CHECK_EQ_INT(n, 27 + 684 + 2);
	CHECK_EQ_INT(http1_write_proxy_auth(hdr, sizeof(hdr), user, 256, pass, 1), -1);
	CHECK_EQ_INT(http1_write_proxy_auth(hdr, sizeof(hdr), "a:b", 3, pass, 1), -1);
}

static void test_base64(void)
{
	static const char *const vec[][2] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
		{ "\xff\xfe\xfd", "//79" }, { "\xfb\xff", "+/8=" },
	};
	static const char *const bad[] = {
		"Z", "Zg=", "Zg===", "=", "==", "Zm9v=", "Zm9vZ", "Z===", "Zg==Zg==", "Zm 9", "Zm9\n",
		"Zm-_", "Z=g=",
	};
	char enc[32];
	uint8_t dec[32];

	for (size_t i = 0; i < ARRAY_SIZE(vec); i++) {
		size_t pl = strlen(vec[i][0]), el = strlen(vec[i][1]);

		CHECK_EQ_INT(base64_encode(vec[i][0], pl, enc, sizeof(enc)), (int)el);
		CHECK(memcmp(enc, vec[i][1], el) == 0);
		CHECK_EQ_INT(base64_encode(vec[i][0], pl, enc, el), (int)el);
		if (el)
			CHECK_EQ_INT(base64_encode(vec[i][0], pl, enc, el - 1), -1);
		CHECK_EQ_INT(base64_decode(vec[i][1], el, dec, sizeof(dec)), (int)pl);
		CHECK(memcmp(dec, vec[i][0], pl) == 0);
		CHECK_EQ_INT(base64_decode(vec[i][1], el, dec, pl), (int)pl);
		if (pl)
			CHECK_EQ_INT(base64_decode(vec[i][1], el, dec, pl - 1), -1);
		/* padding is optional */
		while (el && vec[i][1][el - 1] == '=')
			el--;
		CHECK_EQ_INT(base64_decode(vec[i][1], el, dec, sizeof(dec)), (int)pl);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		CHECK_EQ_INT(base64_decode(bad[i], strlen(bad[i]), dec, sizeof(dec)), -1);
		if (base64_decode(bad[i], strlen(bad[i]), dec, sizeof(dec)) != -1)
			fprintf(stderr, "  ^ in case '%s'\n", bad[i]);
	}
}

static void test_writers(void)
{
	static const char e407[] =
		"HTTP/1.1 407 Proxy Authentication Required\r\n"
		"Proxy-Authenticate: Basic realm=\"sluice\"\r\n"
		"Content-Type: text/plain\r\n"
		"Content-Length: 34\r\n"
		"Connection: close\r\n"
		"\r\n"
		"407 Proxy Authentication Required\n";
	static const int codes[] = { 400, 403, 405, 407, 408, 431, 500, 501, 502, 503, 504, 505, 299 };
	struct http1_header h[MAXH];
	struct http1_response r;
	struct http1_body b;
	char buf[1024];
	int n;

	CHECK_STR(http1_reason(200), "OK");
	CHECK_STR(http1_reason(407), "Proxy Authentication Required");
	CHECK_STR(http1_reason(431), "Request Header Fields Too Large");
	CHECK_STR(http1_reason(502), "Bad Gateway");
	CHECK_STR(http1_reason(299), "Unknown");

	n = http1_write_error(buf, sizeof(buf), 407, "Proxy-Authenticate: Basic realm=\"sluice\"\r\n");
	CHECK_EQ_INT(n, (int)sizeof(e407) - 1);
	CHECK(n > 0 && memcmp(buf, e407, (size_t)n) == 0);
	for (size_t cap = 0; cap < sizeof(e407) - 1; cap++)
		CHECK_EQ_INT(http1_write_error(buf, cap, 407, "Proxy-Authenticate: Basic realm=\"sluice\"\r\n"), -1);
	CHECK_EQ_INT(http1_write_error(buf, sizeof(buf), 99, NULL), -1);
	CHECK_EQ_INT(http1_write_error(buf, sizeof(buf), 1000, NULL), -1);

	/* every error response is complete and framed right */
	for (size_t i = 0; i < ARRAY_SIZE(codes); i++) {
		int hl;

		n = http1_write_error(buf, sizeof(buf), codes[i], NULL);
		CHECK(n > 0);
		hl = parse_res(buf, (size_t)n, 0, 65536, MAXH, &r, h);
		CHECK(hl > 0);
		CHECK_EQ_INT(r.status, codes[i]);
		CHECK_STR(span(r.reason, r.reason_len), http1_reason(codes[i]));
		CHECK_EQ_INT(http1_response_body(&r, "GET", 3, &b), 0);
		CHECK_EQ_INT(b.kind, HTTP1_BODY_LENGTH);
		CHECK(b.length == (uint64_t)(n - hl));
		CHECK(!http1_is_keep_alive(r.minor_version, r.headers, r.num_headers));
	}

	n = http1_write_status(buf, sizeof(buf), 200, "Connection established", NULL);
	CHECK_EQ_INT(n, 39);
	CHECK(memcmp(buf, "HTTP/1.1 200 Connection established\r\n\r\n", 39) == 0);
	n = http1_write_status(buf, sizeof(buf), 200, NULL, "Via: sluice\r\n");
	CHECK_EQ_INT(n, 32);
	CHECK(memcmp(buf, "HTTP/1.1 200 OK\r\nVia: sluice\r\n\r\n", 32) == 0);
	CHECK_EQ_INT(http1_write_status(buf, 31, 200, NULL, "Via: sluice\r\n"), -1);
	CHECK_EQ_INT(http1_write_status(buf, sizeof(buf), 42, NULL, NULL), -1);

	n = http1_write_connect(buf, sizeof(buf), "example.com", 11, 443, NULL, 0);
	CHECK_EQ_INT(n, 59);
	CHECK(memcmp(buf, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
		     59) == 0);
	n = http1_write_connect(buf, sizeof(buf), "::1", 3, 22, "X-A: 1\r\n", 8);
	CHECK_EQ_INT(n, 53);
	CHECK(memcmp(buf, "CONNECT [::1]:22 HTTP/1.1\r\nHost: [::1]:22\r\nX-A: 1\r\n\r\n", 53) == 0);
	for (int cap = 0; cap < 53; cap++)
		CHECK_EQ_INT(http1_write_connect(buf, (size_t)cap, "::1", 3, 22, "X-A: 1\r\n", 8), -1);
	CHECK_EQ_INT(http1_write_connect(buf, sizeof(buf), "", 0, 22, NULL, 0), -1);
	CHECK_EQ_INT(http1_write_connect(buf, sizeof(buf), "a b", 3, 22, NULL, 0), -1);
	CHECK_EQ_INT(http1_write_connect(buf, sizeof(buf), "a\r\nX: y", 7, 22, NULL, 0), -1);
	CHECK_EQ_INT(http1_write_connect(buf, sizeof(buf), "[::1]", 5, 22, NULL, 0), -1);
	{
		struct http1_request rq;
		struct http1_target t;

		n = http1_write_connect(buf, sizeof(buf), "2001:db8::7", 11, 8443, NULL, 0);
		CHECK_EQ_INT(parse_req(buf, (size_t)n, 0, 65536, MAXH, &rq, h), n);
		CHECK_EQ_INT(http1_parse_target(rq.method, rq.method_len, rq.target, rq.target_len,
						&t), 0);
		CHECK(t.host_is_ipv6 && t.port == 8443);
		CHECK_STR(span(t.host, t.host_len), "2001:db8::7");
	}
}

int main(void)
{
	RUN(test_request_valid);
	RUN(test_request_invalid);
	RUN(test_request_limits);
	RUN(test_response);
	RUN(test_headers);
	RUN(test_target);
	RUN(test_request_body);
	RUN(test_response_body);
	RUN(test_chunked);
	RUN(test_rewrite);
	RUN(test_basic);
	RUN(test_base64);
	RUN(test_writers);
	return unit_done();
}
