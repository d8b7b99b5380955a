/*
 * HTTP/1.x response streams and body framers (http1_resp_*, http1_framer_*,
 * http1_write_response_head): each case is a server's byte stream read by a
 * fresh reader per response (pipelined responses follow each other), fed
 * whole and cut at every offset; the transcript of events must not depend
 * on the cut.
 */
#include <stdlib.h>

#include "proto/http1.h"
#include "unit.h"

#define MAXH	16

/*
 * Transcript: "H<status>|" per head, body bytes as they come, "E" per
 * complete response, "X" on an error, "P" when more bytes are needed and
 * no EOF follows, and finally "R<n>" for the bytes left over.
 */
static void drive(const char *in, size_t len, size_t cut, bool head_req, bool eof, char *out,
		  size_t cap)
{
	struct http1_header h[MAXH];
	struct http1_response res;
	struct http1_resp_reader r;
	size_t avail = cut, done = 0, o = 0, used;
	char *copy = malloc(len ? len : 1);	/* exact size: ASan sees overreads */

	memcpy(copy, in, len);
	out[0] = 0;
	http1_resp_init(&r, head_req, 1024);
	for (int guard = 0; guard < 10000; guard++) {
		int rc;

		memset(&res, 0, sizeof(res));
		res.headers = h;
		res.max_headers = MAXH;
		rc = http1_resp_next(&r, copy + done, avail - done, &res, &used);
		if (rc == HTTP1_RESP_HEAD) {
			o += (size_t)snprintf(out + o, cap - o, "H%d|", res.status);
			done += used;
		} else if (rc == HTTP1_RESP_BODY) {
			CHECK(used > 0 && used <= avail - done);
			if (o + used < cap) {
				memcpy(out + o, copy + done, used);
				o += used;
				out[o] = 0;
			}
			done += used;
		} else if (rc == HTTP1_RESP_END) {
			o += (size_t)snprintf(out + o, cap - o, "E");
			CHECK(http1_resp_is_done(&r));
			if (done == len)
				break;
			http1_resp_init(&r, head_req, 1024);	/* the next response */
		} else if (rc == PROTO_PARTIAL) {
			CHECK_EQ_INT(used, 0);
			if (avail < len) {
				avail = len;
				continue;
			}
			if (eof && done == len)
				o += (size_t)snprintf(out + o, cap - o, http1_resp_eof(&r) == 0 ? "E" :
						      "X");
			else
				o += (size_t)snprintf(out + o, cap - o, "P");
			break;
		} else {
			o += (size_t)snprintf(out + o, cap - o, "X");
			break;
		}
	}
	snprintf(out + o, cap - o, "R%zu", len - done);
	free(copy);
}

struct resp_case {
	const char *in;
	bool head_req;
	bool eof;
	const char *want;
};

static void test_streams(void)
{
	static const struct resp_case cases[] = {
		{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false, false,
		  "H200|helloER0" },
		/* two pipelined responses, each read by its own reader */
		{ "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nabHTTP/1.1 404 Not Found\r\n"
		  "Content-Length: 3\r\n\r\nxyz", false, false, "H200|abEH404|xyzER0" },
		/* interim responses, then a chunked body with a trailer */
		{ "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
		  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\n"
		  "T: v\r\n\r\n", false, false,
		  "H100|H103|H200|5;x=y\r\nhello\r\n0\r\nT: v\r\n\r\nER0" },
		/* no body whatever the headers say */
		{ "HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n", false, false, "H204|ER0" },
		{ "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\nHTTP/1.1 200 OK\r\n"
		  "Content-Length: 1\r\n\r\nz", false, false, "H304|EH200|zER0" },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", true, false, "H200|ER0" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true, false, "H200|ER0" },
		/* delimited by the server's close */
		{ "HTTP/1.1 200 OK\r\n\r\nuntil close", false, true, "H200|until closeER0" },
		{ "HTTP/1.1 200 OK\r\n\r\nuntil close", false, false, "H200|until closePR0" },
		{ "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n", false, true,
		  "H200|1\r\nER0" },
		/* cut short */
		{ "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", false, true, "H200|abcXR0" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", false, true,
		  "H200|5\r\nabXR0" },
		/* EOF with a partial head left: the caller sees bytes unconsumed */
		{ "HTTP/1.1 200 OK\r\nContent-", false, true, "PR25" },
		{ "", false, true, "XR0" },
		{ "HTTP/1.1 100 Continue\r\n\r\n", false, true, "H100|XR0" },
		/* broken */
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false, false,
		  "H200|XR4" },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
		  false, false, "XR66" },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc", false,
		  false, "XR60" },
		{ "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", false, false, "XR48" },
		{ "HTTP/1.1 2000 OK\r\n\r\n", false, false, "XR20" },
		{ "HTTP/1.1 204 No Content\r\n\r\nXYZ", false, false, "H204|EXR3" },
	};
	char whole[4096], part[4096];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct resp_case *c = &cases[i];
		size_t len = strlen(c->in);

		drive(c->in, len, len, c->head_req, c->eof, whole, sizeof(whole));
		CHECK_STR(whole, c->want);
		for (size_t cut = 0; cut < len; cut++) {
			drive(c->in, len, cut, c->head_req, c->eof, part, sizeof(part));
			if (strcmp(part, whole) != 0) {
				CHECK_STR(part, whole);
				fprintf(stderr, "  case %zu cut at %zu\n", i, cut);
				break;
			}
		}
	}
}

/* A head over the limit: 431/502 for the caller, not a hang. */
static void test_limits(void)
{
	struct http1_header h[MAXH];
	struct http1_response res = { .headers = h, .max_headers = MAXH };
	struct http1_resp_reader r;
	char big[2048];
	size_t used;

	memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
	memset(big + 20, 'a', sizeof(big) - 20);
	http1_resp_init(&r, false, 1024);
	CHECK_EQ_INT(http1_resp_next(&r, big, sizeof(big), &res, &used), HTTP1_TOO_LARGE);
	CHECK_EQ_INT(http1_resp_next(&r, big, sizeof(big), &res, &used), PROTO_ERROR);

	char many[1024];
	int n = snprintf(many, sizeof(many), "HTTP/1.1 200 OK\r\n");

	for (int i = 0; i < MAXH + 1; i++)
		n += snprintf(many + n, sizeof(many) - (size_t)n, "A%d: b\r\n", i);
	n += snprintf(many + n, sizeof(many) - (size_t)n, "\r\n");
	http1_resp_init(&r, false, 0);
	CHECK_EQ_INT(http1_resp_next(&r, many, (size_t)n, &res, &used), HTTP1_TOO_MANY_HEADERS);
}

static void test_framer(void)
{
	struct http1_framer f;
	struct http1_body b = { .kind = HTTP1_BODY_LENGTH, .length = 5 };
	const char *chunked = "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n";

	http1_framer_init(&f, &b);
	CHECK(!http1_framer_is_done(&f));
	CHECK_EQ_INT(http1_framer_feed(&f, "abc", 3), 3);
	CHECK_EQ_INT(http1_framer_eof(&f), PROTO_ERROR);
	CHECK_EQ_INT(http1_framer_feed(&f, "deGET", 5), 2);
	CHECK(http1_framer_is_done(&f));
	CHECK_EQ_INT(http1_framer_feed(&f, "GET", 3), 0);
	CHECK_EQ_INT(http1_framer_eof(&f), 0);

	b = (struct http1_body){ .kind = HTTP1_BODY_LENGTH, .length = 0 };
	http1_framer_init(&f, &b);
	CHECK(http1_framer_is_done(&f));
	b = (struct http1_body){ .kind = HTTP1_BODY_NONE };
	http1_framer_init(&f, &b);
	CHECK(http1_framer_is_done(&f));
	CHECK_EQ_INT(http1_framer_feed(&f, "x", 1), 0);

	b = (struct http1_body){ .kind = HTTP1_BODY_CLOSE };
	http1_framer_init(&f, &b);
	CHECK_EQ_INT(http1_framer_feed(&f, "xyz", 3), 3);
	CHECK(!http1_framer_is_done(&f));
	CHECK_EQ_INT(http1_framer_eof(&f), 0);
	CHECK(http1_framer_is_done(&f));

	/* chunked, pipelined request after it, split at every offset */
	b = (struct http1_body){ .kind = HTTP1_BODY_CHUNKED };
	for (size_t cut = 0; cut <= strlen(chunked); cut++) {
		int a, c;

		http1_framer_init(&f, &b);
		a = http1_framer_feed(&f, chunked, cut);
		CHECK(a >= 0);
		c = http1_framer_feed(&f, chunked + a, strlen(chunked) - (size_t)a);
		CHECK_EQ_INT(a + c, 13);
		CHECK(http1_framer_is_done(&f));
	}
	http1_framer_init(&f, &b);
	CHECK_EQ_INT(http1_framer_feed(&f, "-1\r\n", 4), PROTO_ERROR);
	CHECK_EQ_INT(http1_framer_feed(&f, "0\r\n\r\n", 5), PROTO_ERROR);	/* sticks */
	CHECK_EQ_INT(http1_framer_eof(&f), PROTO_ERROR);
}

static void test_write_head(void)
{
	static const char in[] =
		"HTTP/1.1 200 Fine\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\n"
		"Content-Length: 2\r\nX-Hop: 1\r\nX-End: 2\r\nTransfer-Encoding: x\r\n"
		"Proxy-Connection: close\r\nUpgrade: h2\r\n\r\n";
	struct http1_header h[MAXH];
	struct http1_response res = { .headers = h, .max_headers = MAXH };
	char out[512];
	int n;

	CHECK_EQ_INT(http1_parse_response(in, sizeof(in) - 1, 0, 0, &res), (int)sizeof(in) - 1);
	n = http1_write_response_head(out, sizeof(out), &res, "Connection: close\r\n", 19);
	CHECK(n > 0 && (size_t)n <= http1_response_head_max(&res, 19));
	if (n > 0) {
		out[n] = 0;
		CHECK_STR(out, "HTTP/1.1 200 Fine\r\nContent-Length: 2\r\nX-End: 2\r\n"
			  "Transfer-Encoding: x\r\nConnection: close\r\n\r\n");
	}
	CHECK_EQ_INT(http1_write_response_head(out, 20, &res, NULL, 0), -1);

	/* 1.0 with chunked: framed by the close, so no Transfer-Encoding as 1.1 */
	static const char in10[] = "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\nX: y\r\n\r\n";

	CHECK_EQ_INT(http1_parse_response(in10, sizeof(in10) - 1, 0, 0, &res), (int)sizeof(in10) - 1);
	n = http1_write_response_head(out, sizeof(out), &res, NULL, 0);
	CHECK(n > 0);
	if (n > 0) {
		out[n] = 0;
		CHECK_STR(out, "HTTP/1.1 200 OK\r\nX: y\r\n\r\n");
	}
}

int main(void)
{
	RUN(test_streams);
	RUN(test_limits);
	RUN(test_framer);
	RUN(test_write_head);
	return unit_done();
}
