/*
 * Direct egress: resolve (if a name), then connect to each address in turn
 * until one succeeds, each attempt bounded by the connect timeout.
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

struct dial;
/* err 0: d->io is connected to d->peer. Else -errno (last failure). */
typedef void (*dial_cb)(struct dial *d, int err);

struct dial {
	struct io *io;			/* borrowed: filled on success */
	struct io_req req;		/* IO_CONNECT */
	struct timer timer;		/* per-attempt connect timeout */
	struct dns_query *query;	/* pending resolution, or NULL */
	union sockaddr_any *addrs;	/* owned when naddrs > 1 or resolved */
	union sockaddr_any one;		/* storage for a single literal */
	union sockaddr_any peer;	/* the address being tried / connected */
	size_t naddrs, next;
	uint32_t timeout_ms;
	int last_err;
	bool timed_out;		/* the pending attempt hit its timeout */
	bool cancelled;		/* the owner gave up: never call back */
	bool starting;		/* inside dial_start() */
	bool report;		/* timer delivers a result found while starting */
	dial_cb cb;
};

/*
 * Start dialling t. dns may be NULL when t is a literal address.
 * The callback is never called from within dial_start().
 */
void dial_start(struct dial *d, struct loop *l, struct dns *dns, struct io *io,
		const struct target *t, uint32_t timeout_ms, dial_cb cb);
void dial_cancel(struct dial *d);
bool dial_is_busy(const struct dial *d);

#endif
