/*
 * HTTP/1.x for a proxy (RFC 9110, RFC 9112): sans-I/O head parsers, request
 * target classification, body framing, a streaming chunked-body scanner,
 * a head rewriter and encoders for the few messages a proxy writes itself.
 *
 * Heads are parsed in place, like picohttpparser: every pointer in the
 * output points into the caller's buffer, which must stay unchanged for as
 * long as those are used. Nothing is copied or NUL-terminated.
 *
 * Parsers return bytes consumed (> 0), PROTO_PARTIAL or PROTO_ERROR (see
 * proto.h) plus the HTTP-specific codes below; encoders return bytes
 * written or -1.
 */
#ifndef SLUICE_PROTO_HTTP1_H
#define SLUICE_PROTO_HTTP1_H

#include "proto/proto.h"

/* No complete head within max_head bytes: answer 431 (request) or 502 (response). */
#define HTTP1_TOO_LARGE		(-3)
/* More header lines than the caller has room for: answer 431 (request) or 502. */
#define HTTP1_TOO_MANY_HEADERS	(-4)

/* Longest chunk-size line (size + extensions) and trailer line we accept. */
#define HTTP1_CHUNK_LINE_MAX	4096
#define HTTP1_TRAILER_LINE_MAX	8192

struct http1_header {
	const char *name;	/* a token; case as received */
	const char *value;	/* leading and trailing SP/HTAB removed; may be empty */
	size_t name_len;
	size_t value_len;
};

struct http1_request {
	/* in: where the headers go */
	struct http1_header *headers;
	size_t max_headers;
	/* out */
	const char *method;	/* a token, e.g. "GET", "CONNECT" (case-sensitive) */
	const char *target;	/* request-target as sent; see http1_parse_target() */
	size_t method_len;
	size_t target_len;
	int minor_version;	/* HTTP/1.<minor>: 0 or 1 (any digit is accepted) */
	size_t num_headers;
};

struct http1_response {
	/* in: where the headers go */
	struct http1_header *headers;
	size_t max_headers;
	/* out */
	int minor_version;
	int status;		/* 100..999 */
	const char *reason;	/* may be empty */
	size_t reason_len;
	size_t num_headers;
};

/*
 * Parse a request head: [empty lines] request-line, header lines, empty
 * line. Lines end in CRLF or a bare LF. Before the call, set req->headers
 * and req->max_headers.
 *
 * last_len: 0 on the first call for a message; after PROTO_PARTIAL, the len
 * of that call. Then the head is only re-parsed once its end (an empty
 * line) has arrived, so feeding a head one byte at a time costs O(n), not
 * O(n^2). Errors are found on the first call and at the end of the head.
 *
 * max_head: the most bytes a head may take (0: no limit).
 *
 * Returns:
 *   > 0                     length of the head, empty line included; the
 *                           body or the next request starts there
 *   PROTO_PARTIAL           need more bytes
 *   PROTO_ERROR             malformed: answer 400. Rejected: a method that
 *                           is not a token, anything but one SP between the
 *                           parts, a version other than HTTP/1.<digit>,
 *                           control characters (a CR not followed by LF,
 *                           NUL, DEL) anywhere, a header line that starts
 *                           with SP/HTAB (obs-fold), a header name that is
 *                           not a token or has whitespace before the colon
 *   HTTP1_TOO_LARGE         no complete head within max_head bytes: 431
 *   HTTP1_TOO_MANY_HEADERS  more than max_headers header lines: 431
 * Host, and every other header policy, is left to the caller.
 */
int http1_parse_request(const char *buf, size_t len, size_t last_len, size_t max_head,
			struct http1_request *req);

/*
 * Parse a response head: "HTTP/1.<digit> SP 3DIGIT [SP reason]", header
 * lines, empty line, with the same rules, arguments and returns as
 * http1_parse_request() (no empty lines are skipped before a response).
 * A 1xx response is interim: the real one follows it.
 * After the head of a 2xx reply to CONNECT, the bytes are tunnel data.
 */
int http1_parse_response(const char *buf, size_t len, size_t last_len, size_t max_head,
			 struct http1_response *res);

/* ---- headers ---- */

/*
 * Index of the first header at or after from whose name equals name
 * (ASCII case-insensitive, NUL-terminated), or -1. Loop over duplicates
 * with from = last index + 1.
 */
int http1_find_header(const struct http1_header *h, size_t n, size_t from, const char *name);

/*
 * Next element of a comma-separated list value (RFC 9110 section 5.6.1):
 * *p walks from the value's start to end. Sets *tok and *tok_len to the element
 * with surrounding SP/HTAB removed, skipping empty elements. Returns false
 * when the list is exhausted.
 */
bool http1_next_token(const char **p, const char *end, const char **tok, size_t *tok_len);

/* Whether any Connection header lists token (case-insensitive), e.g. "close". */
bool http1_connection_has(const struct http1_header *h, size_t n, const char *token);

/*
 * Whether the connection stays open after this message: HTTP/1.1 unless
 * "Connection: close"; HTTP/1.0 only with "Connection: keep-alive".
 */
bool http1_is_keep_alive(int minor_version, const struct http1_header *h, size_t n);

/* ---- request target ---- */

enum http1_target_form {
	HTTP1_TARGET_ORIGIN,	/* "/path?query": a request for us, not for a proxy */
	HTTP1_TARGET_ABSOLUTE,	/* "http://host[:port]/path?query" */
	HTTP1_TARGET_AUTHORITY,	/* "host:port", CONNECT only */
	HTTP1_TARGET_ASTERISK,	/* "*", OPTIONS */
};

struct http1_target {
	enum http1_target_form form;
	bool host_is_ipv6;	/* host was "[...]"; host excludes the brackets */
	uint16_t port;		/* absolute: default 80; authority: required */
	const char *host;	/* absolute and authority forms; not NUL-terminated */
	size_t host_len;	/* 1..255 */
	const char *authority;	/* "host[:port]" as sent, brackets included: the Host value */
	size_t authority_len;
	/*
	 * Origin-form path and query. For absolute-form, what follows the
	 * authority: a static "/" when that is empty; if it starts with '?'
	 * ("http://h?q"), the origin form is "/" followed by it.
	 */
	const char *path;
	size_t path_len;
};

/*
 * Classify a request-target (pointers into target). For method CONNECT it
 * must be authority-form with a port 1..65535; otherwise origin-form,
 * "*", or absolute-form with scheme "http" (any case), no userinfo, a
 * host of letters, digits, '-', '.', '_' (or a bracketed IPv6 literal of
 * hex digits, ':' and '.'), an optional port 1..65535. A '#' anywhere is
 * rejected. Returns 0, or PROTO_ERROR (answer 400).
 */
int http1_parse_target(const char *method, size_t method_len, const char *target, size_t len,
		       struct http1_target *out);

/* ---- body framing (RFC 9112 section 6) ---- */

enum http1_body_kind {
	HTTP1_BODY_NONE,	/* no body (or Content-Length: 0) */
	HTTP1_BODY_LENGTH,	/* exactly length bytes */
	HTTP1_BODY_CHUNKED,	/* chunked: use struct http1_chunked */
	HTTP1_BODY_CLOSE,	/* responses only: until the server closes */
};

struct http1_body {
	enum http1_body_kind kind;
	uint64_t length;	/* HTTP1_BODY_LENGTH only */
};

/*
 * How the body of a request is framed. Transfer-Encoding must end in
 * "chunked" (once, last); Content-Length must be digits, fit 64 bits, and
 * agree across duplicates and lists ("5, 5"). Returns 0, or PROTO_ERROR
 * (answer 400) for: Transfer-Encoding not ending in chunked, chunked twice,
 * Transfer-Encoding in HTTP/1.0, Transfer-Encoding together with
 * Content-Length (a smuggling attempt, RFC 9112 section 6.3), or a bad or
 * conflicting Content-Length.
 */
int http1_request_body(const struct http1_request *req, struct http1_body *out);

/*
 * How the body of a response to a method_len-byte request method is
 * framed: none for HEAD, 1xx, 204, 304, and 2xx to CONNECT (a tunnel
 * follows); chunked if Transfer-Encoding ends in chunked; until close for
 * any other Transfer-Encoding, for one in HTTP/1.0, or without either
 * header. Returns 0, or PROTO_ERROR (answer 502) for a bad or conflicting
 * Content-Length, chunked not last, or both headers present.
 */
int http1_response_body(const struct http1_response *res, const char *method,
			size_t method_len, struct http1_body *out);

/* ---- chunked bodies ---- */

/*
 * Finds where a chunked body ends without copying it: feed it the bytes
 * that follow the head, split anyhow, and forward what it says belongs to
 * the message. Chunk extensions are accepted and skipped, trailers are
 * checked for shape (name ":" value) and included in the message.
 *
 * Lines must end in CRLF here, not a bare LF: where two parsers disagree
 * about chunk framing, a request can be smuggled past one of them.
 */
struct http1_chunked {
	uint64_t remaining;	/* chunk-data bytes still to come */
	uint32_t line_len;	/* bytes so far in the current size or trailer line */
	uint8_t state;		/* private */
};

void http1_chunked_init(struct http1_chunked *c);

/*
 * Scan up to len bytes (at most INT_MAX per call). Returns how many belong
 * to the message (0..len; fewer than len only when the message ended, the
 * rest is the next message), or PROTO_ERROR: bad hex, a size over 2^60,
 * bad extension or trailer bytes, a line longer than its limit, a missing
 * CRLF. Errors stick. After the end, returns 0.
 */
int http1_chunked_feed(struct http1_chunked *c, const char *buf, size_t len);

/* True once the last chunk, the trailers and the final CRLF have been seen. */
bool http1_chunked_is_done(const struct http1_chunked *c);

/* ---- message bodies: one framer for requests and responses ---- */

/*
 * Tells which bytes after a head belong to its body, whatever the framing
 * (struct http1_body): none, a length, chunked (through struct
 * http1_chunked) or until the peer closes. Bytes are not copied: the
 * caller forwards what feed() says is body and keeps the rest (a
 * pipelined next message).
 */
struct http1_framer {
	uint64_t remaining;		/* HTTP1_BODY_LENGTH: bytes still to come */
	struct http1_chunked chunked;	/* HTTP1_BODY_CHUNKED */
	uint8_t kind;			/* enum http1_body_kind */
	bool done;			/* the body has ended */
	bool error;			/* a framing error; sticks */
};

void http1_framer_init(struct http1_framer *f, const struct http1_body *b);

/*
 * Scan up to len bytes (at most INT_MAX). Returns how many belong to the
 * body (0..len; fewer than len only once it ended), or PROTO_ERROR (bad
 * chunked framing; sticks). HTTP1_BODY_CLOSE takes everything. After the
 * end, returns 0.
 */
int http1_framer_feed(struct http1_framer *f, const char *buf, size_t len);

static inline bool http1_framer_is_done(const struct http1_framer *f)
{
	return f->done;
}

/*
 * The peer closed. Returns 0 when that is a proper end of the body (it
 * had ended, or it is HTTP1_BODY_CLOSE, which ends now), PROTO_ERROR when
 * the body is cut short.
 */
int http1_framer_eof(struct http1_framer *f);

/* ---- reading a response stream ---- */

/*
 * What a proxy needs to follow a server's reply to one request: any number
 * of interim (1xx) heads, the final head, then its body framed as
 * http1_response_body() says (so none after HEAD, 204, 304).
 */
struct http1_resp_reader {
	struct http1_framer body;
	size_t last_len;	/* private: http1_parse_response's last_len */
	size_t max_head;
	uint8_t phase;		/* private */
	bool head_request;	/* the request was HEAD: no body whatever the head says */
	bool final_seen;	/* a final (>= 200) head has been returned */
};

enum http1_resp_event {
	HTTP1_RESP_HEAD = 1,	/* a head of *used bytes, parsed into *res */
	HTTP1_RESP_BODY,	/* *used (> 0) bytes of body */
	HTTP1_RESP_END,		/* the response is complete (*used = 0) */
};

/* head_request: the request method was HEAD. max_head: 0 = no limit. */
void http1_resp_init(struct http1_resp_reader *r, bool head_request, size_t max_head);

/*
 * Take the next step over buf[0..len), the server's bytes not consumed yet.
 * The caller consumes *used bytes before calling again (and must not call
 * again with the same bytes). Before the call set res->headers and
 * res->max_headers; after HTTP1_RESP_HEAD they point into buf. A head with
 * status < 200 is interim: another head follows.
 *
 * Returns an enum http1_resp_event, or:
 *   PROTO_PARTIAL           need more bytes (*used = 0)
 *   PROTO_ERROR             malformed head or body framing (sticks)
 *   HTTP1_TOO_LARGE, HTTP1_TOO_MANY_HEADERS  (see http1_parse_response)
 * After HTTP1_RESP_END it returns HTTP1_RESP_END again: the bytes that
 * follow are not part of this response.
 */
int http1_resp_next(struct http1_resp_reader *r, const char *buf, size_t len,
		    struct http1_response *res, size_t *used);

/*
 * The server closed with nothing unconsumed: 0 when that ends the response
 * (after HTTP1_RESP_END, or a body delimited by close, which is then
 * complete), PROTO_ERROR when the response is cut short (also when no
 * final head arrived).
 */
int http1_resp_eof(struct http1_resp_reader *r);

/* True once the response is complete. */
bool http1_resp_is_done(const struct http1_resp_reader *r);

/* ---- writing a response head ---- */

/*
 * Write the head of res as a proxy forwards it: "HTTP/1.1 <status>
 * <reason>" (a proxy sends its own version), the headers in their order
 * except the hop-by-hop ones (as in http1_write_request_head(), with
 * Content-Length and Transfer-Encoding kept, except Transfer-Encoding in
 * an HTTP/1.0 response: there the body ends at the close, which it must
 * still do as 1.1), extra (extra_len bytes of
 * header lines ending in CRLF, e.g. "Connection: close\r\n"), the empty
 * line. Returns bytes written, or -1 if it does not fit.
 */
int http1_write_response_head(char *buf, size_t cap, const struct http1_response *res,
			      const char *extra, size_t extra_len);

/* An upper bound on what http1_write_response_head() writes. */
size_t http1_response_head_max(const struct http1_response *res, size_t extra_len);

/* ---- writing requests ---- */

/* Keep absolute-form in the request line (for an upstream HTTP proxy). */
#define HTTP1_REWRITE_ABSOLUTE	0x1

/*
 * Write the head of req as a proxy forwards it:
 *  - request line: method, target (absolute-form becomes origin-form unless
 *    HTTP1_REWRITE_ABSOLUTE), the client's HTTP/1.<minor>;
 *  - headers in their order, "Name: value" with CRLF, except hop-by-hop
 *    ones: Connection, Keep-Alive, Proxy-Connection, Proxy-Authorization,
 *    TE, Trailer, Upgrade, and any named in a Connection header, except
 *    Host, Content-Length and Transfer-Encoding: the framing decided by
 *    http1_request_body() must hold downstream (chunked bodies are
 *    forwarded verbatim);
 *  - exactly one Host: for absolute- and authority-form, target->authority
 *    (RFC 9112 section 3.2.2), in place of the first Host header received
 *    or right after the request line if there was none; for origin-form,
 *    the first Host received (none is added);
 *  - extra (extra_len bytes, may be 0), header lines that end in CRLF,
 *    e.g. "Via: 1.1 sluice\r\nConnection: close\r\n";
 *  - the empty line.
 * target comes from http1_parse_target() on the same request.
 * Returns bytes written, or -1 if it does not fit.
 */
int http1_write_request_head(char *buf, size_t cap, const struct http1_request *req,
			     const struct http1_target *target, unsigned int flags,
			     const char *extra, size_t extra_len);

/*
 * An upper bound on what http1_write_request_head() writes for req with
 * extra_len bytes of extra headers, whatever the target and flags: the head
 * can grow (a bare-LF "a:b" line is written "a: b" CRLF, a Host line may be
 * added), so the parsed length is not enough.
 */
size_t http1_request_head_max(const struct http1_request *req, size_t extra_len);

/*
 * "CONNECT host:port HTTP/1.1", Host with the same authority, extra header
 * lines (may be NULL/0; e.g. from http1_write_proxy_auth()), empty line. A
 * host containing ':' is put in brackets. Returns bytes written or -1 (no
 * room, empty host, a host with characters that would break the line).
 */
int http1_write_connect(char *buf, size_t cap, const char *host, size_t host_len,
			uint16_t port, const char *extra, size_t extra_len);

/* ---- credentials ---- */

struct http1_basic {
	const char *user;	/* point into the caller's scratch buffer */
	const char *pass;
	size_t user_len;	/* may be 0 */
	size_t pass_len;	/* may be 0 */
};

/*
 * Parse a Proxy-Authorization (or Authorization) value "Basic <base64>":
 * scheme case-insensitive, base64 decoded into scratch (cap bytes; 3/4 of
 * the value's length is always enough), split at the first ':'. Returns 0,
 * or PROTO_ERROR: another scheme, bad base64, no ':', no room.
 */
int http1_parse_basic(const char *value, size_t len, char *scratch, size_t cap,
		      struct http1_basic *out);

/*
 * "Proxy-Authorization: Basic <base64(user:pass)>\r\n", for the extra
 * headers of a request to an upstream proxy. Returns bytes written or -1.
 */
int http1_write_proxy_auth(char *buf, size_t cap, const char *user, size_t user_len,
			   const char *pass, size_t pass_len);

/* ---- writing responses ---- */

/* Standard reason phrase ("Proxy Authentication Required"), "Unknown" if none. Static. */
const char *http1_reason(int status);

/*
 * "HTTP/1.1 <status> <reason>\r\n" extra "\r\n": a head with no framing
 * headers, as a 2xx to CONNECT must be. reason NULL: http1_reason(status).
 * extra: NUL-terminated header lines ending in CRLF, or NULL. Returns
 * bytes written, or -1 (no room, status outside 100..999).
 */
int http1_write_status(char *buf, size_t cap, int status, const char *reason,
		       const char *extra);

/*
 * A complete error response the proxy sends before closing:
 * "HTTP/1.1 <status> <reason>", extra (as above, e.g. a Proxy-Authenticate
 * line for 407), Content-Type: text/plain, Content-Length, Connection:
 * close, and the body "<status> <reason>\n". Returns bytes written or -1.
 */
int http1_write_error(char *buf, size_t cap, int status, const char *extra);

#endif
