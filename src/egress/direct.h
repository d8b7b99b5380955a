/*
 * Direct egress: resolve (if a name), then connect, each attempt bounded by
 * the connect timeout. One address: a single attempt. Several (a name):
 * happy eyeballs (RFC 8305): families interleaved, a new attempt starts
 * every stagger interval (or at once when one fails) while earlier ones
 * are still pending, up to DIAL_RACE_MAX at a time; the first to connect
 * wins and the others are closed.
 *
 * The dial fills a caller-owned io handle with the connected socket. The
 * callback runs exactly once with the result. After dial_cancel() it is not
 * called with a result; but if dial_is_busy() is then still true, it is
 * called once more with -ECANCELED when the dial lets go of its request:
 * only after that may the dial's memory be freed.
 */
#ifndef SLUICE_EGRESS_DIRECT_H
#define SLUICE_EGRESS_DIRECT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/loop.h"
#include "dns/dns.h"
#include "egress/egress.h"

#define DIAL_RACE_MAX		4
#define DIAL_STAGGER_MS		250
/*
 * Out of fds (EMFILE, ENFILE) for the upstream socket: wait this long and
 * try the same address again, for up to the connect timeout in all, rather
 * than fail a client we have already accepted. Under fd exhaustion the
 * fds come back as other connections close, usually within milliseconds.
 */
#define DIAL_FD_WAIT_MS		20

struct dial;
struct dial_race;
/* err 0: d->io is connected to d->peer. Else -errno (last failure). */
typedef void (*dial_cb)(struct dial *d, int err);

struct dial {
	struct io *io;			/* borrowed: filled on success */
	struct io_req req;		/* IO_CONNECT */
	struct timer timer;		/* per-attempt connect timeout */
	struct dns_query *query;	/* pending resolution, or NULL */
	struct dial_race *race;		/* owned while racing several addresses */
	union sockaddr_any *addrs;	/* owned when naddrs > 1 or resolved */
	union sockaddr_any one;		/* storage for a single literal */
	union sockaddr_any peer;	/* the address being tried / connected */
	size_t naddrs, next;
	uint32_t timeout_ms;
	uint32_t stagger_ms;		/* happy eyeballs delay */
	uint32_t fd_waits;		/* DIAL_FD_WAIT_MS waits used so far */
	int last_err;
	bool timed_out;		/* the pending attempt hit its timeout */
	bool cancelled;		/* the owner gave up: never call back */
	bool starting;		/* inside dial_start() */
	bool report;		/* timer delivers a result found while starting */
	bool fd_wait;		/* timer retries d->next - 1 after EMFILE */
	bool deny_private;	/* refuse non-public addresses (-EACCES) */
	dial_cb cb;
};

/*
 * Start dialling t. dns may be NULL when t is a literal address.
 * The callback is never called from within dial_start().
 */
void dial_start(struct dial *d, struct loop *l, struct dns *dns, struct io *io,
		const struct target *t, uint32_t timeout_ms, uint32_t stagger_ms, dial_cb cb);

/*
 * Like dial_start, but addresses that are not public unicast (see
 * addr_is_private) are skipped; if none is left the result is -EACCES.
 * Checked after resolution, so a name cannot smuggle in a private address.
 */
void dial_start_public(struct dial *d, struct loop *l, struct dns *dns, struct io *io,
		       const struct target *t, uint32_t timeout_ms, uint32_t stagger_ms,
		       dial_cb cb);

/* Order addresses for happy eyeballs: alternate families, first family first. */
void dial_interleave(union sockaddr_any *addrs, size_t n);
void dial_cancel(struct dial *d);
bool dial_is_busy(const struct dial *d);

#endif
