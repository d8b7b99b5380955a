/*
 * The tunnel in the app: UDP sockets on a worker's loop carrying
 * tchan (crypto) -> arq (reliability) -> mux (streams), and tunnel streams
 * bridged to sockets.
 *
 *   client: -F tunnel://HOST:PORT. One tunnel session (a "peer") per worker,
 *           opened on the first stream, replaced by a fresh handshake when it
 *           dies (server restarted, link dead). Each proxied connection is a
 *           mux stream: the session's ingress gets the OPEN_OK / OPEN_FAIL
 *           answer as its egress result, then the client socket is bridged
 *           to the stream (tstream_relay).
 *   server: -L tunnel://BIND[/TARGET]. One UDP socket, on one worker (see
 *           tunnel_srv.c for why), a tchan_server, a peer per channel; each
 *           OPEN is dialled with the direct egress under the proxies'
 *           destination policy and bridged the same way.
 *
 * Stream bridging (tstream) is a small relay of its own rather than a
 * generalised relay/: socket RECV into a pooled buffer that the mux borrows
 * until it is framed (on_sent), so the stream's credit and the arq's send
 * room are the backpressure; mux bytes are SENT straight from the mux's
 * receive chunks and consumed (granting credit) as the socket takes them.
 * No socketpairs, no extra copy, and relay/relay.c stays fd-only and fast.
 */
#ifndef SLUICE_APP_TUNNEL_H
#define SLUICE_APP_TUNNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/loop.h"
#include "egress/egress.h"
#include "relay/relay.h"

struct worker;
struct wlistener;
struct tstream;

#define TUNNEL_KEY_LEN	32

/* Tunables (struct config holds one, from the command line). */
struct tunnel_opts {
	uint8_t key[TUNNEL_KEY_LEN];	/* the PSK (loaded by main from --tunnel-key) */
	bool has_key;
	uint32_t mtu;			/* arq packet size = tchan payload (<= 1400) */
	uint32_t keepalive_ms;		/* mux PING after this long quiet */
	uint32_t timeout_ms;		/* peer dead after this long with nothing */
	uint32_t window;		/* largest per-stream window (auto-tuned up to it) */
	uint32_t padding;		/* data packets get 0..padding random bytes (0: off) */
};
void tunnel_opts_default(struct tunnel_opts *o);

/* --- worker hooks --- */

/* A bound UDP socket for a tunnel:// listener (IPv6 wildcard: dual-stack). fd or -errno. */
int tunnel_listen_udp(const union sockaddr_any *a);

/* A tunnel:// listener on this worker with its bound UDP fd (taken over). 0 or -errno. */
int tunnel_srv_start(struct wlistener *wl, int fd);
/* Drain: no new tunnel sessions or streams; live streams go on. */
void tunnel_worker_drain(struct worker *w);
/* Stop: reset every tunnel stream (their owners close them). */
void tunnel_worker_kill(struct worker *w);
/* After the loop ended: close sockets and timers (before loop_drain). */
void tunnel_worker_stop(struct worker *w);
/* Free everything (worker_fini, before loop_fini). */
void tunnel_worker_fini(struct worker *w);

/* --- client egress (session.c) --- */

/* err 0: the stream is open (relay it); else -errno for the ingress's reply. */
typedef void (*tstream_open_cb)(void *arg, int err);
typedef void (*tstream_cb)(void *arg, int err);

/*
 * Open a stream to t through this worker's tunnel session (made on demand).
 * cb runs once, never inside this call. NULL when out of memory.
 */
struct tstream *tunnel_open(struct worker *w, const struct target *t, tstream_open_cb cb,
			    void *arg);

/*
 * Bridge an open stream with sock (borrowed). early/early2 (copied) go to
 * the tunnel first; fr (may be NULL) limits sock -> tunnel to one message,
 * as for relay_start. done(arg, err) runs once when both ways are finished
 * (err 0) or at the first error; the owner then closes sock. released(arg,
 * 0) runs once nothing is in flight any more: then tstream_free().
 */
void tstream_relay(struct tstream *ts, struct io *sock, const uint8_t *early, size_t n,
		   const uint8_t *early2, size_t n2, const struct relay_framer *fr,
		   tstream_cb done, tstream_cb released, void *arg);
/* Finish now (idle timeout, shutdown): done() follows with err. */
void tstream_finish(struct tstream *ts, int err);
/* Let go (before relaying: no callback follows; after released()). */
void tstream_free(struct tstream *ts);
bool tstream_is_busy(const struct tstream *ts);
/* Bytes sock -> tunnel (up) and tunnel -> sock (down) so far; last progress. */
uint64_t tstream_bytes(const struct tstream *ts, bool up);
uint64_t tstream_last_active(const struct tstream *ts);
/* Client: the destination asked for, "host:port", for the log. */
const char *tstream_target(const struct tstream *ts);
/* A short reason for the log when the tunnel side ended the stream, or NULL. */
const char *tstream_why(const struct tstream *ts);
/* Why tunnel_open's cb said err, for the client's warn line ("no such name", ...). */
const char *tunnel_open_strerror(int err);

/*
 * An open stream as the HTTP forwarding loop's upstream (app/upstream.h,
 * tunnel_stream_io.c): u (ops upstream_tstream_ops) takes ts over, and
 * upstream_close(u) frees it. detach gives it back (no request pending,
 * else NULL), open and not bridged, for tstream_relay() (a CONNECT).
 */
struct upstream;
void tstream_upstream_attach(struct upstream *u, struct tstream *ts);
struct tstream *tstream_upstream_detach(struct upstream *u);

#endif
