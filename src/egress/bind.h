/*
 * BIND egress (SOCKS5 cmd 0x02, SOCKS4 cmd 2): instead of dialling out, the
 * proxy listens for exactly one connection from the destination and hands
 * it over as the upstream stream.
 *
 *   bind_start()      resolve the wanted peer (a name), apply the policy,
 *                     open the listening socket        -> ready(0, listen addr)
 *   bind_wait_peer()  the first reply is out: accept   -> done(0, peer)
 *
 * The listening socket is bound to the local address the proxy would use to
 * reach the wanted peer (a route lookup: a connected UDP socket, no packet
 * sent), port 0. With no wanted address (0.0.0.0 or ::) it is the address
 * the client reached us on. Only a peer whose IP is one of the wanted
 * addresses is accepted (any IP when the wanted address is unspecified),
 * and, when the wanted port is not 0, only from that port; others are
 * reset and the wait goes on. With deny_private, a private wanted address
 * is refused (-EACCES) and, for an unspecified one, private peers are
 * reset. The whole wait is bounded by timeout_ms (-ETIMEDOUT).
 *
 * While waiting for the peer the client connection is watched (a POLL_IN
 * on it): when the client closes or fails the bind ends with
 * -ECONNABORTED. Bytes the client sends early are left in its socket for
 * the relay.
 *
 * Callbacks never run inside bind_start()/bind_wait_peer(). After ready()
 * with an error, or after done(), no callback follows. The bind frees its
 * own memory once its requests are back; bind_cancel() gives up at any
 * time (no callback follows) and closes the listening socket.
 */
#ifndef SLUICE_EGRESS_BIND_H
#define SLUICE_EGRESS_BIND_H

#include <stdbool.h>
#include <stdint.h>

#include "core/loop.h"
#include "dns/dns.h"
#include "egress/egress.h"

struct bind_wait;

/* err 0: listening on *addr (reply 1). Else -errno; the bind is over. */
typedef void (*bind_ready_fn)(void *arg, int err, const union sockaddr_any *addr);
/* err 0: out (see bind_start) holds the connection from *peer. Else -errno. */
typedef void (*bind_done_fn)(void *arg, int err, const union sockaddr_any *peer);
/* Optional: a connection from *peer was reset (not the wanted peer). */
typedef void (*bind_reject_fn)(void *arg, const union sockaddr_any *peer);

struct bind_params {
	const struct target *want;	/* DST: a literal, unspecified, or a name */
	const union sockaddr_any *local; /* where the client reached us */
	bool deny_private;
	uint32_t timeout_ms;		/* from bind_start() to the accepted peer */
	bind_ready_fn ready;
	bind_done_fn done;
	bind_reject_fn reject;		/* may be NULL */
	void *arg;
};

/*
 * Start. client is watched while waiting for the peer (borrowed: the
 * caller keeps it open until done() or bind_cancel()); out (borrowed, not
 * open) receives the accepted connection. dns may be NULL when want is a
 * literal. NULL when out of memory.
 */
struct bind_wait *bind_start(struct loop *l, struct dns *dns, struct io *client, struct io *out,
			     const struct bind_params *p);

/* After ready(0): start accepting (the first reply has been sent). */
void bind_wait_peer(struct bind_wait *b);

/* Give up: no callback follows; the bind frees itself when drained. */
void bind_cancel(struct bind_wait *b);

/*
 * Pure helpers, exported for unit tests. Whether peer is acceptable for
 * the wanted addresses (n == 0: any address) and port (0: any).
 */
bool bind_peer_matches(const union sockaddr_any *peer, const union sockaddr_any *want,
		       size_t n, uint16_t port, bool deny_private);

#endif
