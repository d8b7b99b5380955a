/*
 * A session is one client connection through its whole life: the ingress
 * learns where it wants to go, the egress dials, the relay moves bytes, and
 * the session closes both sides and logs one line. It is owned by its
 * worker (on w->sessions) and freed only when no request of its dial or
 * relay is in flight.
 */
#ifndef SLUICE_APP_SESSION_H
#define SLUICE_APP_SESSION_H

#include <stdint.h>

#include "app/worker.h"
#include "egress/direct.h"
#include "ingress/ingress.h"
#include "relay/relay.h"

enum session_state {
	SESSION_HANDSHAKE = 0,	/* ingress at work */
	SESSION_DIALING,
	SESSION_RELAYING,
	SESSION_CLOSING,
};

struct session {
	struct list link;		/* on w->sessions */
	struct worker *w;		/* borrowed */
	uint64_t id;
	uint64_t start_ms;
	struct io client;
	struct io upstream;
	struct ingress_ctx ingress;
	struct dial dial;
	struct relay relay;
	struct timer timer;		/* idle timeout */
	union sockaddr_any peer;	/* client address */
	const char *why;		/* close reason for the log, or NULL */
	uint8_t state;			/* enum session_state */
};

/* Take over an accepted fd. On failure the fd is closed. */
void session_start(struct wlistener *wl, int fd);
/* Close now (shutdown, grace over). */
void session_kill(struct session *s, const char *why);

#endif
