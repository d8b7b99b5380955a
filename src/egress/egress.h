/*
 * An egress turns a request ("connect me to HOST:PORT") into a connected
 * stream. The direct egress resolves the name and dials it; later hops
 * (-F upstream proxies, the tunnel) are egresses too. Ingress code never
 * knows which egress it got.
 */
#ifndef SLUICE_EGRESS_EGRESS_H
#define SLUICE_EGRESS_EGRESS_H

#include <stdint.h>

#include "core/addr.h"

/* Where a request wants to go: a literal address or a name to resolve. */
struct target {
	const char *host;	/* borrowed; NUL-terminated; NULL when addr is set */
	union sockaddr_any addr; /* valid when host is NULL */
	uint16_t port;
};

#endif
