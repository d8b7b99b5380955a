/*
 * Chained egress (-F): connect to the first upstream proxy, then ask each
 * hop in turn to connect to the next, and the last to the destination.
 * Hops speak SOCKS5 (names resolved by the proxy, like socks5h), SOCKS4a
 * or HTTP CONNECT, with credentials when the hop has them.
 *
 * Nothing the destination sends early is lost: SOCKS replies are read to
 * their exact length, an HTTP reply head is peeked to find its end first.
 */
#ifndef SLUICE_EGRESS_CHAIN_H
#define SLUICE_EGRESS_CHAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/loop.h"
#include "dns/dns.h"
#include "egress/direct.h"
#include "egress/egress.h"

enum hop_kind {
	HOP_SOCKS5 = 1,
	HOP_SOCKS4A,
	HOP_HTTP,
	HOP_TUNNEL,		/* tunnel://HOST:PORT: handled by app/tunnel_client.c */
};

struct hop {
	enum hop_kind kind;
	char host[HOST_MAX + 1];
	uint16_t port;
	char *user;		/* owned, or NULL */
	char *pass;		/* owned, or NULL */
	char *url;		/* owned: as given, without the password, for logs */
};

/* Parse "socks5://[user:pass@]host:port" etc. 0, or -1 with err. */
int hop_parse(const char *url, struct hop *h, char *err, size_t errlen);
void hop_fini(struct hop *h);

struct chain;
/*
 * err 0: io is a tunnel to the destination. Else -errno: the first hop's
 * connect error, or the refusal of a hop mapped to an errno (-ECONNREFUSED,
 * -EHOSTUNREACH, -ENETUNREACH, -ETIMEDOUT, -EACCES, -EPROTO for a broken
 * reply); *where says which hop failed (1-based).
 */
typedef void (*chain_cb)(void *arg, int err, size_t where);

/*
 * Start. The chain owns its state (heap) until the callback has run; the
 * callback never runs inside chain_start(). NULL when out of memory.
 */
struct chain *chain_start(struct loop *l, struct dns *dns, struct io *io,
			  const struct hop *hops, size_t nhops, const struct target *dst,
			  uint32_t timeout_ms, uint32_t stagger_ms, chain_cb cb, void *arg);

/*
 * Give up: no callback with a result follows. The chain frees itself once
 * its requests (cancelled by closing io, which the caller does) are back.
 */
void chain_cancel(struct chain *c);

/*
 * UDP ASSOCIATE through the chain (SOCKS5 UDP ASSOCIATE with -F): the hops
 * before the last carry only the control connection (CONNECT to the next
 * hop, as above); the last hop, which must be socks5://, gets UDP ASSOCIATE
 * with DST.ADDR 0.0.0.0 and DST.PORT announce_port (where our datagrams will
 * come from; 0: unknown). io stays the control connection: the association
 * at the last hop lives as long as it does.
 *
 * On success relay is the last hop's UDP relay: its BND.ADDR:BND.PORT, or,
 * when BND.ADDR is the wildcard (0.0.0.0 or ::), the address we reached that
 * hop on: the control connection's peer for one hop, the hop's host when it
 * is an IP literal for more. Errors as chain_cb, plus -EOPNOTSUPP (the last
 * hop is not socks5://, or it answered 0x07), -EADDRNOTAVAIL (a wildcard or
 * domain BND.ADDR we cannot place). relay is NULL on errors.
 */
typedef void (*chain_udp_cb)(void *arg, int err, size_t where, const union sockaddr_any *relay);

/* Can UDP ASSOCIATE go through these hops? (The last must be socks5://.) */
bool chain_can_udp(const struct hop *hops, size_t nhops);

/* Start UDP ASSOCIATE through hops, as chain_start(). NULL when out of memory. */
struct chain *chain_start_udp(struct loop *l, struct dns *dns, struct io *io,
			      const struct hop *hops, size_t nhops, uint16_t announce_port,
			      uint32_t timeout_ms, uint32_t stagger_ms, chain_udp_cb cb, void *arg);

#endif
