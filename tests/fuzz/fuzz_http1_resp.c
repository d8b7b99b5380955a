/*
 * HTTP/1.x response streams (http1_resp_*): a server's bytes, read by a
 * fresh reader per response as a proxy does. The first byte picks HEAD or
 * not and whether EOF follows, the second where to cut. Checked:
 *  - the transcript (heads, body bytes, ends) is the same whole and cut in
 *    two, so framing never depends on how reads split the stream (with an
 *    error, the events before it);
 *  - every head's pointers lie in the input, *used never exceeds what was
 *    given, and a forwarded head (http1_write_response_head) parses again
 *    with the same status and the same body framing.
 */
#include <stdio.h>
#include <stdlib.h>

#include "proto/http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXH		32
#define MAX_HEAD	2048
#define TRANSCRIPT	65536

struct transcript {
	char buf[TRANSCRIPT];
	size_t len;
	uint64_t body;		/* body bytes seen (body bytes are hashed, not stored) */
	uint64_t hash;
};

static void note(struct transcript *t, const char *s)
{
	size_t n = strlen(s);

	if (t->len + n < sizeof(t->buf)) {
		memcpy(t->buf + t->len, s, n);
		t->len += n;
	}
}

static void reforward(const char *buf, size_t len, const struct http1_response *res,
		      bool head_req)
{
	struct http1_header h2[MAXH + 1];	/* + Connection */
	struct http1_response r2 = { .headers = h2, .max_headers = MAXH + 1 };
	struct http1_body b1, b2;
	size_t cap = http1_response_head_max(res, 19);
	char *out = malloc(cap);
	int n = http1_write_response_head(out, cap, res, "Connection: close\r\n", 19);

	(void)buf;
	(void)len;
	if (n < 0 || (size_t)n > cap)
		abort();
	if (http1_parse_response(out, (size_t)n, 0, 0, &r2) != n || r2.status != res->status)
		abort();
	if (!http1_connection_has(r2.headers, r2.num_headers, "close"))
		abort();
	/* hop-by-hop headers never survive, framing always does */
	if (http1_find_header(r2.headers, r2.num_headers, 0, "Keep-Alive") >= 0 ||
	    http1_find_header(r2.headers, r2.num_headers, 0, "Upgrade") >= 0)
		abort();
	{
		int rc1 = http1_response_body(res, head_req ? "HEAD" : "GET", head_req ? 4 : 3, &b1);
		int rc2 = http1_response_body(&r2, head_req ? "HEAD" : "GET", head_req ? 4 : 3, &b2);

		if (rc1 != rc2 || (rc1 == 0 && (b1.kind != b2.kind || b1.length != b2.length)))
			abort();
	}
	free(out);
}

static void run(const char *in, size_t len, size_t cut, bool head_req, bool eof,
		struct transcript *t, bool check)
{
	struct http1_header h[MAXH];
	struct http1_response res;
	struct http1_resp_reader r;
	size_t avail = cut, done = 0, used;
	char s[64];

	http1_resp_init(&r, head_req, MAX_HEAD);
	for (int guard = 0; guard < 100000; guard++) {
		int rc;

		memset(&res, 0, sizeof(res));
		res.headers = h;
		res.max_headers = MAXH;
		rc = http1_resp_next(&r, in + done, avail - done, &res, &used);
		if (used > avail - done)
			abort();
		if (rc == HTTP1_RESP_HEAD) {
			if (!used || res.status < 100 || res.status > 999)
				abort();
			for (size_t i = 0; i < res.num_headers; i++)
				if (res.headers[i].name < in + done ||
				    res.headers[i].value + res.headers[i].value_len > in + done + used)
					abort();
			snprintf(s, sizeof(s), "H%d|", res.status);
			note(t, s);
			if (check)
				reforward(in + done, used, &res, head_req);
			done += used;
		} else if (rc == HTTP1_RESP_BODY) {
			if (!used)
				abort();
			for (size_t i = 0; i < used; i++)
				t->hash = t->hash * 1099511628211ULL + (uint8_t)in[done + i];
			t->body += used;
			done += used;
		} else if (rc == HTTP1_RESP_END) {
			snprintf(s, sizeof(s), "E%llu|", (unsigned long long)t->body);
			note(t, s);
			if (!http1_resp_is_done(&r))
				abort();
			if (done == len)
				break;
			http1_resp_init(&r, head_req, MAX_HEAD);
		} else if (rc == PROTO_PARTIAL) {
			if (avail < len) {
				avail = len;
				continue;
			}
			if (eof && done == len)
				note(t, http1_resp_eof(&r) == 0 ? "e" : "x");
			else
				note(t, "P");
			break;
		} else {
			snprintf(s, sizeof(s), "X%d", rc);
			note(t, s);
			break;
		}
	}
	snprintf(s, sizeof(s), "R%zu", len - done);
	note(t, s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct transcript a, b;
	const char *in;
	size_t cut;
	bool head_req, eof;

	if (size < 2)
		return 0;
	head_req = data[0] & 1;
	eof = data[0] & 2;
	in = (const char *)data + 2;
	size -= 2;
	cut = size ? ((size_t)data[1] * 131 + (data[0] >> 2)) % (size + 1) : 0;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	run(in, size, size, head_req, eof, &a, true);
	run(in, size, cut, head_req, eof, &b, false);
	if (!memchr(a.buf, 'X', a.len) && !memchr(b.buf, 'X', b.len)) {
		if (a.len != b.len || memcmp(a.buf, b.buf, a.len) != 0 || a.hash != b.hash ||
		    a.body != b.body)
			abort();
		return 0;
	}
	/*
	 * A malformed head is found on the first call or once its end is
	 * there, and a bad chunk once its bytes are, so where an error shows
	 * depends on the cut: then the events completed before it must agree.
	 */
	{
		const char *ea = memrchr(a.buf, '|', a.len), *eb = memrchr(b.buf, '|', b.len);
		size_t la = ea ? (size_t)(ea - a.buf) : 0, lb = eb ? (size_t)(eb - b.buf) : 0;
		size_t l = la < lb ? la : lb;

		if (memcmp(a.buf, b.buf, l) != 0)
			abort();
	}
	return 0;
}
