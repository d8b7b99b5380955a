/*
 * The HTTP/1.1 forward proxy loop: absolute-form requests ("GET
 * http://host/path") on a client connection, one after the other, each
 * sent on in origin form to its origin, and the responses sent back.
 *
 * The HTTP ingress parses the first head; when it is not CONNECT the
 * session hands the connection here (http_fwd_start) with the client bytes
 * read so far, and this loop owns it to the end:
 *
 *   read a request head -> check it (target, framing, credentials)
 *   -> reuse the upstream (same host:port, both sides keep-alive) or dial
 *   -> send the rewritten head, then exactly the body (Content-Length or
 *      chunked, via struct http1_framer) while reading the response
 *      (struct http1_resp_reader: 1xx heads, the final head, its body)
 *   -> when both are complete, the next request (pipelined bytes first).
 *
 * One request at a time: the next head is read only once the previous
 * response is complete. Errors are HTTP responses (400, 403, 407, 431, 502,
 * 504) followed by a close; once a response has started, a failure resets
 * the client connection instead. A CONNECT as the first request stays with
 * the ingress and the fast relay; a CONNECT after plain requests is dialled
 * here and then handed to the relay too (session_fwd_tunnel()).
 *
 * The session keeps owning the sockets (s->client, s->upstream), the dial
 * (s->dial, s->chain) and the close log line; this module owns the rest.
 */
#ifndef SLUICE_APP_HTTP_FWD_H
#define SLUICE_APP_HTTP_FWD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct session;
struct http_fwd;

/*
 * Take over s's client connection. buf (malloc'd, cap bytes, owned from
 * here on whatever the result) holds len client bytes, starting with a
 * complete request head. Sets s->fwd. 0, or -ENOMEM (buf freed; the caller
 * closes the session).
 */
int http_fwd_start(struct session *s, uint8_t *buf, size_t len, size_t cap);

/* Something of it is still in flight: the session may not be freed yet. */
bool http_fwd_is_busy(const struct http_fwd *f);

/* Free it (the session does, once nothing is busy). */
void http_fwd_free(struct http_fwd *f);

/* Close the connection now (shutdown). */
void http_fwd_kill(struct http_fwd *f, const char *why);

/*
 * The worker is draining: close now if idle between requests; otherwise
 * the response under way is the last (it carries Connection: close).
 */
void http_fwd_drain(struct http_fwd *f);

/* The credential check of the current request came back. */
void http_fwd_auth_done(struct http_fwd *f, bool ok);

/* Bytes sent upstream and to the client so far, for the close log line. */
void http_fwd_bytes(const struct http_fwd *f, uint64_t *up, uint64_t *down);

/* "host:port" of the latest request into buf ("-" if none); true. */
bool http_fwd_target(const struct http_fwd *f, char *buf, size_t len);

#endif
