/* HTTP/1.x codec: see http1.h for the contract. */
#include <limits.h>

#include "proto/base64.h"
#include "proto/http1.h"

/* ---- characters ---- */

/*
 * Character classes, one table lookup each:
 *   C_TOKEN   tchar (RFC 9110 section 5.6.2): methods, header names
 *   C_FIELD   field-vchar, SP, HTAB: header values, reasons, extensions
 *   C_TARGET  request-target bytes: visible ASCII and obs-text
 */
enum { C_TOKEN = 1, C_FIELD = 2, C_TARGET = 4 };

static const uint8_t char_class[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0,	/* 0x00 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,	/* 0x10 */
	2, 7, 6, 7, 7, 7, 7, 7, 6, 6, 7, 7, 6, 7, 7, 6,	/* 0x20 */
	7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 6, 6, 6,	/* 0x30 */
	6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,	/* 0x40 */
	7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 7, 7,	/* 0x50 */
	7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,	/* 0x60 */
	7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 7, 6, 7, 0,	/* 0x70 */
	6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,	/* 0x80 */
	6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,	/* 0x90 */
	6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,	/* 0xa0 */
	6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,	/* 0xb0 */
	6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,	/* 0xc0 */
	6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,	/* 0xd0 */
	6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,	/* 0xe0 */
	6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,	/* 0xf0 */
};

static bool is_tchar(unsigned char c)
{
	return char_class[c] & C_TOKEN;
}

static bool is_field_char(unsigned char c)
{
	return char_class[c] & C_FIELD;
}

static bool is_target_char(unsigned char c)
{
	return char_class[c] & C_TARGET;
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c | 0x20) : c;
}

/* ASCII case-insensitive equality of a[0..alen) and NUL-terminated b. */
static bool ieq(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);

	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return false;
	return true;
}

/* ---- heads ---- */

/*
 * Each line is parsed as soon as bytes of it are there, so garbage is
 * rejected at once. A line parser gets [p, e) without the line end and
 * complete = whether the LF has arrived; it returns 0 (done), PROTO_PARTIAL
 * (a valid prefix of an incomplete line) or PROTO_ERROR.
 */
typedef int (*line_fn)(const char *p, const char *e, bool complete, void *msg);

/* "HTTP/1.<digit>" at p[0..8), or a prefix of it when incomplete. */
static int parse_version(const char *p, const char *e, bool complete, int *minor)
{
	static const char v[] = "HTTP/1.";
	size_t have = (size_t)(e - p);

	if (memcmp(p, v, have < 7 ? have : 7) != 0)
		return PROTO_ERROR;
	if (have < 8)
		return complete ? PROTO_ERROR : PROTO_PARTIAL;
	if (!is_digit((unsigned char)p[7]))
		return PROTO_ERROR;
	*minor = p[7] - '0';
	return 0;
}

static int parse_request_line(const char *p, const char *e, bool complete, void *msg)
{
	struct http1_request *req = msg;
	const char *s = p;
	int rc;

	while (p < e && is_tchar((unsigned char)*p))
		p++;
	if (p == e)
		return complete ? PROTO_ERROR : PROTO_PARTIAL;
	if (p == s || *p != ' ')
		return PROTO_ERROR;
	req->method = s;
	req->method_len = (size_t)(p - s);

	s = ++p;
	while (p < e && is_target_char((unsigned char)*p))
		p++;
	if (p == e)
		return complete ? PROTO_ERROR : PROTO_PARTIAL;
	if (p == s || *p != ' ')
		return PROTO_ERROR;
	req->target = s;
	req->target_len = (size_t)(p - s);

	p++;
	rc = parse_version(p, e, complete, &req->minor_version);
	if (rc < 0)
		return rc;
	if (e - p > 8)
		return PROTO_ERROR;
	return complete ? 0 : PROTO_PARTIAL;
}

static int parse_status_line(const char *p, const char *e, bool complete, void *msg)
{
	struct http1_response *res = msg;
	int rc, status = 0;

	rc = parse_version(p, e, complete, &res->minor_version);
	if (rc < 0)
		return rc;
	p += 8;
	for (int i = 0; i < 4; i++) {
		if (p + i == e)
			return complete ? PROTO_ERROR : PROTO_PARTIAL;
		if (i == 0 ? p[i] != ' ' : !is_digit((unsigned char)p[i]))
			return PROTO_ERROR;
		if (i)
			status = status * 10 + p[i] - '0';
	}
	if (status < 100)
		return PROTO_ERROR;
	res->status = status;
	p += 4;
	/* "HTTP/1.1 200" without SP and reason is accepted, as most clients do */
	if (p < e && *p++ != ' ')
		return PROTO_ERROR;
	res->reason = p;
	for (; p < e; p++)
		if (!is_field_char((unsigned char)*p))
			return PROTO_ERROR;
	res->reason_len = (size_t)(p - res->reason);
	return complete ? 0 : PROTO_PARTIAL;
}

static int parse_header_line(const char *p, const char *e, bool complete, void *msg)
{
	struct http1_header *h = msg;
	const char *s = p;

	while (p < e && is_tchar((unsigned char)*p))
		p++;
	if (p == e)
		return complete ? PROTO_ERROR : PROTO_PARTIAL;
	/* p == s: obs-fold or junk; otherwise whitespace before the colon */
	if (p == s || *p != ':')
		return PROTO_ERROR;
	h->name = s;
	h->name_len = (size_t)(p - s);
	p++;
	while (p < e && (*p == ' ' || *p == '\t'))
		p++;
	s = p;
	for (; p < e; p++)
		if (!is_field_char((unsigned char)*p))
			return PROTO_ERROR;
	if (!complete)
		return PROTO_PARTIAL;
	while (p > s && (p[-1] == ' ' || p[-1] == '\t'))
		p--;
	h->value = s;
	h->value_len = (size_t)(p - s);
	return 0;
}

/*
 * The line at *pp in [*pp, end): runs fn on its content and moves *pp past
 * its line end. A CR is only allowed right before the LF.
 */
static int take_line(const char **pp, const char *end, line_fn fn, void *msg)
{
	const char *p = *pp, *lf, *e;
	int rc;

	lf = memchr(p, '\n', (size_t)(end - p));
	if (!lf) {
		/* incomplete: a CR at the very end may be the start of CRLF */
		e = end;
		if (e > p && e[-1] == '\r')
			e--;
		rc = fn(p, e, false, msg);
		return rc == 0 ? PROTO_PARTIAL : rc;
	}
	e = lf > p && lf[-1] == '\r' ? lf - 1 : lf;
	rc = fn(p, e, true, msg);
	if (rc == 0)
		*pp = lf + 1;
	return rc;
}

/* Whether [*pp, end) starts with an empty line; if so, moves *pp past it. */
static int take_empty_line(const char **pp, const char *end)
{
	const char *p = *pp;

	if (p == end)
		return PROTO_PARTIAL;
	if (*p == '\n') {
		*pp = p + 1;
		return 1;
	}
	if (*p != '\r')
		return 0;
	if (p + 1 == end)
		return PROTO_PARTIAL;
	if (p[1] != '\n')
		return PROTO_ERROR;
	*pp = p + 2;
	return 1;
}

/*
 * Could buf[0..len) hold the end of a head ("\n\n" or "\n\r\n") ending at
 * or after index from? A cheap test before a full re-parse.
 */
static bool may_have_end(const char *buf, size_t len, size_t from)
{
	size_t i = from >= 2 ? from - 2 : 0;
	const char *p;

	while (i < len && (p = memchr(buf + i, '\n', len - i)) != NULL) {
		i = (size_t)(p - buf) + 1;
		if (i < len && (buf[i] == '\n' ||
				(buf[i] == '\r' && i + 1 < len && buf[i + 1] == '\n')))
			return true;
	}
	return false;
}

static int parse_head(const char *buf, size_t len, size_t last_len, size_t max_head,
		      bool request, void *msg, struct http1_header *headers, size_t max_headers,
		      size_t *num_headers)
{
	size_t n = len;
	const char *p = buf, *end;
	int rc;

	if (max_head && n > max_head)
		n = max_head;
	if (last_len > len)
		last_len = 0;
	end = buf + n;
	if (last_len && !may_have_end(buf, n, last_len)) {
		rc = PROTO_PARTIAL;
		goto out_partial;
	}

	if (request) {
		/* RFC 9112 section 2.2: ignore empty lines before a request-line */
		while ((rc = take_empty_line(&p, end)) == 1)
			;
		if (rc < 0)
			goto out_partial;
	}
	rc = take_line(&p, end, request ? parse_request_line : parse_status_line, msg);
	if (rc < 0)
		goto out_partial;

	*num_headers = 0;
	for (;;) {
		rc = take_empty_line(&p, end);
		if (rc == 1)
			break;
		if (rc < 0)
			goto out_partial;
		if (*num_headers == max_headers)
			return HTTP1_TOO_MANY_HEADERS;
		rc = take_line(&p, end, parse_header_line, &headers[*num_headers]);
		if (rc < 0)
			goto out_partial;
		(*num_headers)++;
	}
	return (int)(p - buf);

out_partial:
	if (rc == PROTO_PARTIAL && max_head && len >= max_head)
		return HTTP1_TOO_LARGE;
	return rc;
}

int http1_parse_request(const char *buf, size_t len, size_t last_len, size_t max_head,
			struct http1_request *req)
{
	if (!max_head || max_head > INT_MAX)
		max_head = INT_MAX;
	return parse_head(buf, len, last_len, max_head, true, req, req->headers,
			  req->max_headers, &req->num_headers);
}

int http1_parse_response(const char *buf, size_t len, size_t last_len, size_t max_head,
			 struct http1_response *res)
{
	if (!max_head || max_head > INT_MAX)
		max_head = INT_MAX;
	return parse_head(buf, len, last_len, max_head, false, res, res->headers,
			  res->max_headers, &res->num_headers);
}

/* ---- headers ---- */

int http1_find_header(const struct http1_header *h, size_t n, size_t from, const char *name)
{
	for (size_t i = from; i < n && i <= INT_MAX; i++)
		if (ieq(h[i].name, h[i].name_len, name))
			return (int)i;
	return -1;
}

bool http1_next_token(const char **p, const char *end, const char **tok, size_t *tok_len)
{
	const char *s = *p, *e;

	while (s < end) {
		const char *comma = memchr(s, ',', (size_t)(end - s));

		e = comma ? comma : end;
		*p = comma ? comma + 1 : end;
		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e > s) {
			*tok = s;
			*tok_len = (size_t)(e - s);
			return true;
		}
		s = *p;
	}
	*p = end;
	return false;
}

/* Whether any header named name lists token. */
static bool list_has(const struct http1_header *h, size_t n, const char *name,
		     const char *token, size_t token_len)
{
	for (int i = http1_find_header(h, n, 0, name); i >= 0;
	     i = http1_find_header(h, n, (size_t)i + 1, name)) {
		const char *p = h[i].value, *end = p + h[i].value_len, *t;
		size_t tl;

		while (http1_next_token(&p, end, &t, &tl)) {
			if (tl != token_len)
				continue;
			size_t k = 0;

			while (k < tl && lower((unsigned char)t[k]) == lower((unsigned char)token[k]))
				k++;
			if (k == tl)
				return true;
		}
	}
	return false;
}

bool http1_connection_has(const struct http1_header *h, size_t n, const char *token)
{
	return list_has(h, n, "Connection", token, strlen(token));
}

bool http1_is_keep_alive(int minor_version, const struct http1_header *h, size_t n)
{
	if (minor_version == 0)
		return http1_connection_has(h, n, "keep-alive");
	return !http1_connection_has(h, n, "close");
}

/* ---- request target ---- */

/* 1..65535 in at most 5 decimal digits. */
static int parse_port(const char *p, size_t n, uint16_t *port)
{
	uint32_t v = 0;

	if (n == 0 || n > 5)
		return PROTO_ERROR;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit((unsigned char)p[i]))
			return PROTO_ERROR;
		v = v * 10 + (uint32_t)(p[i] - '0');
	}
	if (v == 0 || v > 65535)
		return PROTO_ERROR;
	*port = (uint16_t)v;
	return 0;
}

static bool is_host_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
	       c == '-' || c == '.' || c == '_';
}

static bool is_ipv6_char(unsigned char c)
{
	return is_digit(c) || (lower(c) >= 'a' && lower(c) <= 'f') || c == ':' || c == '.';
}

/* host[:port] or [v6][:port]; a missing or empty port is def_port, or an error if 0. */
static int parse_authority(const char *p, size_t n, uint16_t def_port, struct http1_target *t)
{
	const char *end = p + n, *h, *he;

	if (n == 0)
		return PROTO_ERROR;
	if (*p == '[') {
		h = p + 1;
		he = memchr(h, ']', n - 1);
		if (!he || he == h)
			return PROTO_ERROR;
		for (const char *c = h; c < he; c++)
			if (!is_ipv6_char((unsigned char)*c))
				return PROTO_ERROR;
		if (!memchr(h, ':', (size_t)(he - h)))
			return PROTO_ERROR;
		p = he + 1;
		t->host_is_ipv6 = true;
	} else {
		h = p;
		while (p < end && is_host_char((unsigned char)*p))
			p++;
		he = p;
		if (he == h)
			return PROTO_ERROR;
		t->host_is_ipv6 = false;
	}
	if ((size_t)(he - h) > PROTO_DOMAIN_MAX)
		return PROTO_ERROR;
	t->host = h;
	t->host_len = (size_t)(he - h);

	if (p == end || p + 1 == end) {
		/* no port, or "host:" which RFC 3986 allows to mean the default */
		if (p < end && *p != ':')
			return PROTO_ERROR;
		if (!def_port)
			return PROTO_ERROR;
		t->port = def_port;
		return 0;
	}
	if (*p != ':')
		return PROTO_ERROR;
	return parse_port(p + 1, (size_t)(end - p - 1), &t->port);
}

int http1_parse_target(const char *method, size_t method_len, const char *target, size_t len,
		       struct http1_target *out)
{
	static const char scheme[] = "http://";
	const char *p, *end = target + len, *a;

	memset(out, 0, sizeof(*out));
	if (len == 0 || memchr(target, '#', len))
		return PROTO_ERROR;

	if (method_len == 7 && memcmp(method, "CONNECT", 7) == 0) {
		out->form = HTTP1_TARGET_AUTHORITY;
		out->authority = target;
		out->authority_len = len;
		return parse_authority(target, len, 0, out);
	}
	if (target[0] == '/') {
		out->form = HTTP1_TARGET_ORIGIN;
		out->path = target;
		out->path_len = len;
		return 0;
	}
	if (len == 1 && target[0] == '*') {
		out->form = HTTP1_TARGET_ASTERISK;
		out->path = target;
		out->path_len = 1;
		return 0;
	}
	if (len < sizeof(scheme) - 1 || !ieq(target, sizeof(scheme) - 1, scheme))
		return PROTO_ERROR;

	out->form = HTTP1_TARGET_ABSOLUTE;
	a = p = target + sizeof(scheme) - 1;
	while (p < end && *p != '/' && *p != '?')
		p++;
	if (memchr(a, '@', (size_t)(p - a)))
		return PROTO_ERROR;	/* userinfo: deprecated, and a way to mislead */
	out->authority = a;
	out->authority_len = (size_t)(p - a);
	if (parse_authority(a, (size_t)(p - a), 80, out) < 0)
		return PROTO_ERROR;
	if (p == end) {
		out->path = "/";
		out->path_len = 1;
	} else {
		out->path = p;
		out->path_len = (size_t)(end - p);
	}
	return 0;
}

/* ---- body framing ---- */

/*
 * Fold every Content-Length header (each may be a list) into one value.
 * Returns 1 if there is one, 0 if none, PROTO_ERROR if one is not all
 * digits, overflows, is empty, or they disagree.
 */
static int content_length(const struct http1_header *h, size_t n, uint64_t *out)
{
	bool seen = false;
	uint64_t val = 0;

	for (int i = http1_find_header(h, n, 0, "Content-Length"); i >= 0;
	     i = http1_find_header(h, n, (size_t)i + 1, "Content-Length")) {
		const char *p = h[i].value, *end = p + h[i].value_len;

		/* "5, 5" is a list; "5,,5" or "" is not a length */
		for (;;) {
			const char *s = p;
			uint64_t v = 0;

			while (p < end && is_digit((unsigned char)*p)) {
				unsigned d = (unsigned)(*p - '0');

				if (v > (UINT64_MAX - d) / 10)
					return PROTO_ERROR;
				v = v * 10 + d;
				p++;
			}
			if (p == s)
				return PROTO_ERROR;
			if (seen && v != val)
				return PROTO_ERROR;
			seen = true;
			val = v;
			while (p < end && (*p == ' ' || *p == '\t'))
				p++;
			if (p == end)
				break;
			if (*p++ != ',')
				return PROTO_ERROR;
			while (p < end && (*p == ' ' || *p == '\t'))
				p++;
		}
	}
	*out = val;
	return seen;
}

enum te_kind {
	TE_NONE,	/* no Transfer-Encoding */
	TE_CHUNKED,	/* chunked, last and once */
	TE_OTHER,	/* something else last, chunked nowhere */
	TE_BAD,		/* chunked, but not last, or twice */
};

static enum te_kind transfer_encoding(const struct http1_header *h, size_t n)
{
	bool seen = false, chunked_last = false, chunked_before = false;

	for (int i = http1_find_header(h, n, 0, "Transfer-Encoding"); i >= 0;
	     i = http1_find_header(h, n, (size_t)i + 1, "Transfer-Encoding")) {
		const char *p = h[i].value, *end = p + h[i].value_len, *t;
		size_t tl;

		seen = true;
		while (http1_next_token(&p, end, &t, &tl)) {
			if (chunked_last)
				chunked_before = true;
			chunked_last = ieq(t, tl, "chunked");
		}
	}
	if (!seen)
		return TE_NONE;
	if (chunked_before)
		return TE_BAD;
	return chunked_last ? TE_CHUNKED : TE_OTHER;
}

/* Content-Length framing, shared by requests and responses. */
static int length_body(const struct http1_header *h, size_t n, struct http1_body *out,
		       enum http1_body_kind none)
{
	uint64_t len;
	int rc = content_length(h, n, &len);

	if (rc < 0)
		return PROTO_ERROR;
	out->length = rc ? len : 0;
	if (!rc)
		out->kind = none;
	else
		out->kind = len ? HTTP1_BODY_LENGTH : HTTP1_BODY_NONE;
	return 0;
}

int http1_request_body(const struct http1_request *req, struct http1_body *out)
{
	const struct http1_header *h = req->headers;
	size_t n = req->num_headers;
	enum te_kind te = transfer_encoding(h, n);

	out->length = 0;
	if (te == TE_NONE)
		return length_body(h, n, out, HTTP1_BODY_NONE);
	if (te != TE_CHUNKED || req->minor_version == 0 ||
	    http1_find_header(h, n, 0, "Content-Length") >= 0)
		return PROTO_ERROR;
	out->kind = HTTP1_BODY_CHUNKED;
	return 0;
}

int http1_response_body(const struct http1_response *res, const char *method,
			size_t method_len, struct http1_body *out)
{
	const struct http1_header *h = res->headers;
	size_t n = res->num_headers;
	int s = res->status;
	enum te_kind te;

	out->kind = HTTP1_BODY_NONE;
	out->length = 0;
	if ((method_len == 4 && memcmp(method, "HEAD", 4) == 0) || s < 200 || s == 204 ||
	    s == 304)
		return 0;
	if (method_len == 7 && memcmp(method, "CONNECT", 7) == 0 && s < 300)
		return 0;

	te = transfer_encoding(h, n);
	if (te == TE_NONE)
		return length_body(h, n, out, HTTP1_BODY_CLOSE);
	if (te == TE_BAD || http1_find_header(h, n, 0, "Content-Length") >= 0)
		return PROTO_ERROR;
	out->kind = te == TE_CHUNKED && res->minor_version ? HTTP1_BODY_CHUNKED : HTTP1_BODY_CLOSE;
	return 0;
}

/* ---- chunked ---- */

enum {
	CH_SIZE0,	/* first hex digit of a chunk size */
	CH_SIZE,	/* more hex digits, BWS, ';' or CR */
	CH_SIZE_WS,	/* BWS after the size: more of it, or ';' */
	CH_EXT,		/* chunk extensions, up to CR */
	CH_SIZE_LF,	/* LF ending the size line */
	CH_DATA,
	CH_DATA_CR,	/* CRLF after chunk data */
	CH_DATA_LF,
	CH_TRAILER0,	/* start of a trailer line, or the final CRLF */
	CH_TRAILER_NAME,
	CH_TRAILER_VALUE,
	CH_TRAILER_LF,
	CH_END_LF,	/* LF of the final CRLF */
	CH_DONE,
	CH_ERROR,
};

static int hexval(unsigned char c)
{
	if (is_digit(c))
		return c - '0';
	c = lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

void http1_chunked_init(struct http1_chunked *c)
{
	c->remaining = 0;
	c->line_len = 0;
	c->state = CH_SIZE0;
}

bool http1_chunked_is_done(const struct http1_chunked *c)
{
	return c->state == CH_DONE;
}

int http1_chunked_feed(struct http1_chunked *c, const char *buf, size_t len)
{
	size_t i = 0;

	if (c->state == CH_ERROR)
		return PROTO_ERROR;
	if (len > INT_MAX)
		len = INT_MAX;
	while (i < len && c->state != CH_DONE) {
		unsigned char ch = (unsigned char)buf[i];
		int x;

		if (c->state == CH_DATA) {
			size_t take = len - i;

			if (take > c->remaining)
				take = (size_t)c->remaining;
			c->remaining -= take;
			i += take;
			if (!c->remaining)
				c->state = CH_DATA_CR;
			continue;
		}
		i++;
		/* size and trailer lines are bounded; the CRLF counts */
		if (c->state <= CH_SIZE_LF && ++c->line_len > HTTP1_CHUNK_LINE_MAX)
			goto out_error;
		if (c->state >= CH_TRAILER0 && c->state <= CH_TRAILER_LF &&
		    ++c->line_len > HTTP1_TRAILER_LINE_MAX)
			goto out_error;

		switch (c->state) {
		case CH_SIZE0:
		case CH_SIZE:
			x = hexval(ch);
			if (x >= 0) {
				if (c->remaining >> 60)
					goto out_error;
				c->remaining = c->remaining << 4 | (unsigned)x;
				c->state = CH_SIZE;
			} else if (c->state == CH_SIZE0) {
				goto out_error;
			} else if (ch == ';') {
				c->state = CH_EXT;
			} else if (ch == ' ' || ch == '\t') {
				c->state = CH_SIZE_WS;
			} else if (ch == '\r') {
				c->state = CH_SIZE_LF;
			} else {
				goto out_error;
			}
			break;
		case CH_SIZE_WS:
			if (ch == ';')
				c->state = CH_EXT;
			else if (ch != ' ' && ch != '\t')
				goto out_error;
			break;
		case CH_EXT:
			if (ch == '\r')
				c->state = CH_SIZE_LF;
			else if (!is_field_char(ch))
				goto out_error;
			break;
		case CH_SIZE_LF:
			if (ch != '\n')
				goto out_error;
			c->line_len = 0;
			c->state = c->remaining ? CH_DATA : CH_TRAILER0;
			break;
		case CH_DATA_CR:
			if (ch != '\r')
				goto out_error;
			c->state = CH_DATA_LF;
			break;
		case CH_DATA_LF:
			if (ch != '\n')
				goto out_error;
			c->state = CH_SIZE0;
			break;
		case CH_TRAILER0:
			if (ch == '\r')
				c->state = CH_END_LF;
			else if (is_tchar(ch))
				c->state = CH_TRAILER_NAME;
			else
				goto out_error;
			break;
		case CH_TRAILER_NAME:
			if (ch == ':')
				c->state = CH_TRAILER_VALUE;
			else if (!is_tchar(ch))
				goto out_error;
			break;
		case CH_TRAILER_VALUE:
			if (ch == '\r')
				c->state = CH_TRAILER_LF;
			else if (!is_field_char(ch))
				goto out_error;
			break;
		case CH_TRAILER_LF:
			if (ch != '\n')
				goto out_error;
			c->line_len = 0;
			c->state = CH_TRAILER0;
			break;
		case CH_END_LF:
			if (ch != '\n')
				goto out_error;
			c->state = CH_DONE;
			break;
		default:
			goto out_error;
		}
	}
	return (int)i;

out_error:
	c->state = CH_ERROR;
	return PROTO_ERROR;
}

/* ---- message bodies ---- */

void http1_framer_init(struct http1_framer *f, const struct http1_body *b)
{
	memset(f, 0, sizeof(*f));
	f->kind = (uint8_t)b->kind;
	f->remaining = b->kind == HTTP1_BODY_LENGTH ? b->length : 0;
	http1_chunked_init(&f->chunked);
	f->done = b->kind == HTTP1_BODY_NONE || (b->kind == HTTP1_BODY_LENGTH && b->length == 0);
}

int http1_framer_feed(struct http1_framer *f, const char *buf, size_t len)
{
	int r;

	if (f->error)
		return PROTO_ERROR;
	if (f->done)
		return 0;
	if (len > INT_MAX)
		len = INT_MAX;
	switch (f->kind) {
	case HTTP1_BODY_LENGTH:
		if (len > f->remaining)
			len = (size_t)f->remaining;
		f->remaining -= len;
		f->done = f->remaining == 0;
		return (int)len;
	case HTTP1_BODY_CHUNKED:
		r = http1_chunked_feed(&f->chunked, buf, len);
		if (r < 0) {
			f->error = true;
			return PROTO_ERROR;
		}
		f->done = http1_chunked_is_done(&f->chunked);
		return r;
	case HTTP1_BODY_CLOSE:
		return (int)len;
	default:
		f->done = true;
		return 0;
	}
}

int http1_framer_eof(struct http1_framer *f)
{
	if (f->error)
		return PROTO_ERROR;
	if (f->kind == HTTP1_BODY_CLOSE)
		f->done = true;
	return f->done ? 0 : PROTO_ERROR;
}

/* ---- reading a response stream ---- */

enum { RR_HEAD = 0, RR_BODY, RR_END, RR_ERROR };

void http1_resp_init(struct http1_resp_reader *r, bool head_request, size_t max_head)
{
	memset(r, 0, sizeof(*r));
	r->head_request = head_request;
	r->max_head = max_head;
	r->phase = RR_HEAD;
}

static int resp_head(struct http1_resp_reader *r, const char *buf, size_t len,
		     struct http1_response *res, size_t *used)
{
	struct http1_body b;
	int n = http1_parse_response(buf, len, r->last_len, r->max_head, res);

	if (n == PROTO_PARTIAL) {
		r->last_len = len;
		return PROTO_PARTIAL;
	}
	if (n < 0)
		goto out_error;
	r->last_len = 0;
	/*
	 * 101 switches to another protocol; a proxy that drops Upgrade never
	 * asked for one, so it is as broken as a bad head.
	 */
	if (res->status == 101) {
		n = PROTO_ERROR;
		goto out_error;
	}
	*used = (size_t)n;
	if (res->status < 200)
		return HTTP1_RESP_HEAD;		/* interim: still RR_HEAD */
	if (http1_response_body(res, r->head_request ? "HEAD" : "GET",
				r->head_request ? 4 : 3, &b) < 0) {
		*used = 0;
		n = PROTO_ERROR;
		goto out_error;
	}
	http1_framer_init(&r->body, &b);
	r->final_seen = true;
	r->phase = RR_BODY;
	return HTTP1_RESP_HEAD;

out_error:
	r->phase = RR_ERROR;
	return n;
}

int http1_resp_next(struct http1_resp_reader *r, const char *buf, size_t len,
		    struct http1_response *res, size_t *used)
{
	int k;

	*used = 0;
	switch (r->phase) {
	case RR_HEAD:
		if (len == 0)		/* buf may be NULL then */
			return PROTO_PARTIAL;
		return resp_head(r, buf, len, res, used);
	case RR_BODY:
		if (http1_framer_is_done(&r->body)) {
			r->phase = RR_END;
			return HTTP1_RESP_END;
		}
		if (len == 0)
			return PROTO_PARTIAL;
		k = http1_framer_feed(&r->body, buf, len);
		if (k < 0) {
			r->phase = RR_ERROR;
			return PROTO_ERROR;
		}
		if (k == 0) {		/* cannot happen with len > 0, but stay safe */
			if (!http1_framer_is_done(&r->body))
				return PROTO_PARTIAL;
			r->phase = RR_END;
			return HTTP1_RESP_END;
		}
		*used = (size_t)k;
		return HTTP1_RESP_BODY;
	case RR_END:
		return HTTP1_RESP_END;
	default:
		return PROTO_ERROR;
	}
}

int http1_resp_eof(struct http1_resp_reader *r)
{
	if (r->phase == RR_END)
		return 0;
	if (r->phase == RR_BODY && http1_framer_eof(&r->body) == 0) {
		r->phase = RR_END;
		return 0;
	}
	r->phase = RR_ERROR;
	return PROTO_ERROR;
}

bool http1_resp_is_done(const struct http1_resp_reader *r)
{
	return r->phase == RR_END ||
	       (r->phase == RR_BODY && http1_framer_is_done(&r->body));
}

/* ---- writers ---- */

/* An append-only view of a caller buffer; overflow sticks. */
struct out {
	char *buf;
	size_t cap;
	size_t len;
	bool over;
};

static void put(struct out *o, const void *s, size_t n)
{
	if (o->over || o->cap - o->len < n) {
		o->over = true;
		return;
	}
	if (n)
		memcpy(o->buf + o->len, s, n);
	o->len += n;
}

static void put_str(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void put_uint(struct out *o, uint64_t v)
{
	char d[20];
	size_t i = sizeof(d);

	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(o, d + i, sizeof(d) - i);
}

static int out_done(const struct out *o)
{
	return o->over || o->len > INT_MAX ? -1 : (int)o->len;
}

static void put_header(struct out *o, const char *name, size_t name_len, const char *value,
		       size_t value_len)
{
	put(o, name, name_len);
	put(o, ": ", 2);
	put(o, value, value_len);
	put(o, "\r\n", 2);
}

struct name {
	const char *s;
	size_t len;
};
#define NAME(lit)	{ lit, sizeof(lit) - 1 }

static const struct name hop_by_hop[] = {
	NAME("Connection"), NAME("Keep-Alive"), NAME("Proxy-Connection"),
	NAME("Proxy-Authorization"), NAME("TE"), NAME("Trailer"), NAME("Upgrade"),
};

/* Headers a Connection token must not remove: the message framing and Host. */
static const struct name protected[] = {
	NAME("Host"), NAME("Content-Length"), NAME("Transfer-Encoding"),
};

static bool name_in(const struct http1_header *h, const struct name *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (h->name_len == names[i].len && ieq(h->name, h->name_len, names[i].s))
			return true;
	return false;
}

/* conn: index of the first Connection header in hs[0..n), or -1. */
static bool is_hop_by_hop(const struct http1_header *hs, size_t n, int conn,
			  const struct http1_header *h)
{
	if (name_in(h, hop_by_hop, sizeof(hop_by_hop) / sizeof(hop_by_hop[0])))
		return true;
	if (conn < 0 || name_in(h, protected, sizeof(protected) / sizeof(protected[0])))
		return false;
	return list_has(hs + conn, n - (size_t)conn, "Connection", h->name, h->name_len);
}

int http1_write_request_head(char *buf, size_t cap, const struct http1_request *req,
			     const struct http1_target *target, unsigned int flags,
			     const char *extra, size_t extra_len)
{
	struct out o = { .buf = buf, .cap = cap };
	bool set_host = target->form == HTTP1_TARGET_ABSOLUTE ||
			target->form == HTTP1_TARGET_AUTHORITY;
	bool host_done = false;
	int conn = http1_find_header(req->headers, req->num_headers, 0, "Connection");

	if (req->minor_version < 0 || req->minor_version > 9)
		return -1;
	put(&o, req->method, req->method_len);
	put(&o, " ", 1);
	if (target->form == HTTP1_TARGET_ABSOLUTE && !(flags & HTTP1_REWRITE_ABSOLUTE)) {
		if (target->path[0] == '?')
			put(&o, "/", 1);
		put(&o, target->path, target->path_len);
	} else {
		put(&o, req->target, req->target_len);
	}
	put(&o, " HTTP/1.", 8);
	put_uint(&o, (uint64_t)req->minor_version);
	put(&o, "\r\n", 2);

	if (set_host && http1_find_header(req->headers, req->num_headers, 0, "Host") < 0) {
		put_header(&o, "Host", 4, target->authority, target->authority_len);
		host_done = true;
	}
	for (size_t i = 0; i < req->num_headers; i++) {
		const struct http1_header *h = &req->headers[i];

		if (ieq(h->name, h->name_len, "Host")) {
			if (host_done)
				continue;
			host_done = true;
			if (set_host) {
				put_header(&o, h->name, h->name_len, target->authority,
					   target->authority_len);
				continue;
			}
		} else if (is_hop_by_hop(req->headers, req->num_headers, conn, h)) {
			continue;
		}
		put_header(&o, h->name, h->name_len, h->value, h->value_len);
	}
	put(&o, extra, extra_len);
	put(&o, "\r\n", 2);
	return out_done(&o);
}

size_t http1_request_head_max(const struct http1_request *req, size_t extra_len)
{
	/* METHOD SP ["/"] target " HTTP/1.x" CRLF; "Host: " authority CRLF; CRLF */
	size_t n = req->method_len + 1 + 1 + req->target_len + 9 + 2;

	n += 6 + req->target_len + 2;
	for (size_t i = 0; i < req->num_headers; i++)
		n += req->headers[i].name_len + 2 + req->headers[i].value_len + 2;
	return n + extra_len + 2;
}

int http1_write_response_head(char *buf, size_t cap, const struct http1_response *res,
			      const char *extra, size_t extra_len)
{
	struct out o = { .buf = buf, .cap = cap };
	int conn = http1_find_header(res->headers, res->num_headers, 0, "Connection");

	if (res->status < 100 || res->status > 999)
		return -1;
	put_str(&o, "HTTP/1.1 ");
	put_uint(&o, (uint64_t)res->status);
	put(&o, " ", 1);
	put(&o, res->reason, res->reason_len);
	put(&o, "\r\n", 2);
	for (size_t i = 0; i < res->num_headers; i++) {
		const struct http1_header *h = &res->headers[i];

		if (is_hop_by_hop(res->headers, res->num_headers, conn, h))
			continue;
		/*
		 * In HTTP/1.0 Transfer-Encoding means nothing for framing (the
		 * body ends at the close); sent on as 1.1 it would mean chunked.
		 */
		if (res->minor_version == 0 && ieq(h->name, h->name_len, "Transfer-Encoding"))
			continue;
		put_header(&o, h->name, h->name_len, h->value, h->value_len);
	}
	put(&o, extra, extra_len);
	put(&o, "\r\n", 2);
	return out_done(&o);
}

size_t http1_response_head_max(const struct http1_response *res, size_t extra_len)
{
	/* "HTTP/1.1 " 3DIGIT SP reason CRLF ... CRLF */
	size_t n = 9 + 3 + 1 + res->reason_len + 2;

	for (size_t i = 0; i < res->num_headers; i++)
		n += res->headers[i].name_len + 2 + res->headers[i].value_len + 2;
	return n + extra_len + 2;
}

int http1_write_connect(char *buf, size_t cap, const char *host, size_t host_len,
			uint16_t port, const char *extra, size_t extra_len)
{
	struct out o = { .buf = buf, .cap = cap };
	bool v6 = memchr(host, ':', host_len) != NULL;

	if (host_len == 0 || host_len > PROTO_DOMAIN_MAX)
		return -1;
	for (size_t i = 0; i < host_len; i++)
		if (!is_target_char((unsigned char)host[i]) || host[i] == '[' || host[i] == ']' ||
		    host[i] == '/')
			return -1;
	for (int pass = 0; pass < 2; pass++) {
		put_str(&o, pass ? "Host: " : "CONNECT ");
		if (v6)
			put(&o, "[", 1);
		put(&o, host, host_len);
		put(&o, v6 ? "]:" : ":", v6 ? 2 : 1);
		put_uint(&o, port);
		put_str(&o, pass ? "\r\n" : " HTTP/1.1\r\n");
	}
	put(&o, extra, extra_len);
	put(&o, "\r\n", 2);
	return out_done(&o);
}

/* ---- credentials ---- */

int http1_parse_basic(const char *value, size_t len, char *scratch, size_t cap,
		      struct http1_basic *out)
{
	const char *p = value, *end = value + len, *s, *colon;
	int n;

	if (len < 6 || !ieq(p, 5, "Basic") || (p[5] != ' ' && p[5] != '\t'))
		return PROTO_ERROR;
	p += 6;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	s = p;
	while (p < end && *p != ' ' && *p != '\t')
		p++;
	for (const char *q = p; q < end; q++)
		if (*q != ' ' && *q != '\t')
			return PROTO_ERROR;
	n = base64_decode(s, (size_t)(p - s), (uint8_t *)scratch, cap);
	if (n < 0)
		return PROTO_ERROR;
	colon = memchr(scratch, ':', (size_t)n);
	if (!colon)
		return PROTO_ERROR;
	out->user = scratch;
	out->user_len = (size_t)(colon - scratch);
	out->pass = colon + 1;
	out->pass_len = (size_t)n - out->user_len - 1;
	return 0;
}

int http1_write_proxy_auth(char *buf, size_t cap, const char *user, size_t user_len,
			   const char *pass, size_t pass_len)
{
	static const char head[] = "Proxy-Authorization: Basic ";
	size_t raw = user_len + 1 + pass_len, need;
	int n;

	if (user_len > 255 || pass_len > 255 || memchr(user, ':', user_len))
		return -1;
	need = sizeof(head) - 1 + BASE64_ENCODED_LEN(raw) + 2;
	if (cap < need)
		return -1;

	/*
	 * Encode user ":" pass without a scratch buffer: the plain text goes
	 * at the end of buf, where the encoding (longer) overtakes it only
	 * after each group of 3 has been read.
	 */
	char *plain = buf + need - raw;

	memmove(plain, user, user_len);
	plain[user_len] = ':';
	memmove(plain + user_len + 1, pass, pass_len);
	memcpy(buf, head, sizeof(head) - 1);
	n = base64_encode(plain, raw, buf + sizeof(head) - 1, cap - (sizeof(head) - 1));
	if (n < 0)
		return -1;
	memcpy(buf + sizeof(head) - 1 + (size_t)n, "\r\n", 2);
	return (int)need;
}

/* ---- responses ---- */

const char *http1_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 407: return "Proxy Authentication Required";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 417: return "Expectation Failed";
	case 421: return "Misdirected Request";
	case 426: return "Upgrade Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default:  return "Unknown";
	}
}

static void put_status_line(struct out *o, int status, const char *reason)
{
	put_str(o, "HTTP/1.1 ");
	put_uint(o, (uint64_t)status);
	put(o, " ", 1);
	put_str(o, reason ? reason : http1_reason(status));
	put(o, "\r\n", 2);
}

int http1_write_status(char *buf, size_t cap, int status, const char *reason,
		       const char *extra)
{
	struct out o = { .buf = buf, .cap = cap };

	if (status < 100 || status > 999)
		return -1;
	put_status_line(&o, status, reason);
	if (extra)
		put_str(&o, extra);
	put(&o, "\r\n", 2);
	return out_done(&o);
}

int http1_write_error(char *buf, size_t cap, int status, const char *extra)
{
	struct out o = { .buf = buf, .cap = cap };
	const char *reason = http1_reason(status);

	if (status < 100 || status > 999)
		return -1;
	put_status_line(&o, status, reason);
	if (extra)
		put_str(&o, extra);
	put_str(&o, "Content-Type: text/plain\r\nContent-Length: ");
	put_uint(&o, 3 + 1 + strlen(reason) + 1);
	put_str(&o, "\r\nConnection: close\r\n\r\n");
	put_uint(&o, (uint64_t)status);
	put(&o, " ", 1);
	put_str(&o, reason);
	put(&o, "\n", 1);
	return out_done(&o);
}
