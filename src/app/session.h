/*
 * A session is one client connection through its whole life: the ingress
 * learns where it wants to go, the egress dials, the relay moves bytes, and
 * the session closes both sides and logs one line. It is owned by its
 * worker (on w->sessions) and freed only when none of its requests is in
 * flight.
 *
 * Memory: what only the handshake needs (buffers, the ingress state, the
 * deadline) is in a heap struct handshake freed when relaying starts, so
 * an established idle session is just this struct.
 */
#ifndef SLUICE_APP_SESSION_H
#define SLUICE_APP_SESSION_H

#include <stdint.h>

#include "app/worker.h"
#include "egress/bind.h"
#include "egress/direct.h"
#include "ingress/ingress.h"
#include "relay/relay.h"

enum session_state {
	SESSION_HANDSHAKE = 0,	/* ingress at work */
	SESSION_DIALING,
	SESSION_REPLYING,	/* egress answered: flushing the ingress's reply */
	SESSION_RELAYING,
	SESSION_UDP,		/* holding a SOCKS5 UDP association (src/app/udp_assoc.c) */
	SESSION_FORWARDING,	/* HTTP requests one by one (app/http_fwd.c) */
	SESSION_CLOSING,
};

struct handshake;
struct http_fwd;

struct session {
	struct list link;		/* on w->sessions */
	struct worker *w;		/* borrowed */
	const struct wlistener *wl;	/* borrowed */
	struct handshake *hs;		/* owned until relaying */
	uint64_t id;
	uint64_t start_ms;
	struct io client;
	struct io upstream;
	struct dial dial;		/* direct egress */
	struct chain *chain;		/* -F egress while negotiating, or NULL */
	struct bind_wait *bind;		/* BIND waiting for its peer, or NULL */
	struct udp_assoc *assoc;	/* owned: UDP ASSOCIATE relay, or NULL */
	struct tstream *tun;		/* owned: -F tunnel:// stream, or NULL */
	struct relay relay;
	struct http_fwd *fwd;		/* owned: the HTTP forwarding loop, or NULL */
	char *chain_target;		/* owned: -F chain: "host:port" asked for, kept for
					 * the close line once the handshake is freed */
	struct timer timer;		/* handshake deadline, then idle timeout */
	union sockaddr_any peer;	/* client address */
	const char *why;		/* close reason for the log, or NULL */
	uint8_t state;			/* enum session_state */
	bool is_bind;			/* BIND: the reply names the peer (dial.peer) */
};

/* Take over an accepted fd. On failure the fd is closed. */
void session_start(struct wlistener *wl, int fd, const struct sockaddr_storage *peer);
/* Close now (shutdown, grace over). */
void session_kill(struct session *s, const char *why);
/* A drain began: close now if idle between requests (HTTP keep-alive). */
void session_drain(struct session *s);
/* The verifier's answer to a pending credentials check. */
void session_auth_done(struct session *s, bool ok);

/*
 * For app/http_fwd.c: log the close line, close both sockets (reset them
 * when err != 0) and free the session once nothing is in flight (s may be
 * gone on return); and, for each completion that comes back after that,
 * free it once the last is back.
 */
void session_fwd_close(struct session *s, int err, const char *why);
void session_fwd_release(struct session *s);
/*
 * For app/http_fwd.c, after a CONNECT that followed plain requests: free
 * s->fwd (nothing of it in flight) and relay both sockets from now on.
 */
void session_fwd_tunnel(struct session *s);

#endif
