/*
 * Common ground for the pure protocol codecs in src/proto: return codes and
 * an address type that does not depend on socket headers.
 *
 * Every parser in src/proto follows one contract (picohttpparser's):
 *   > 0            a complete message was parsed; the value is the number of
 *                  bytes it took. Bytes after it (pipelined data) are not
 *                  looked at.
 *   PROTO_PARTIAL  the input is a valid prefix; call again with more bytes
 *                  (same start, longer length). Nothing was consumed.
 *   PROTO_ERROR    the input is malformed; the connection cannot continue.
 * A parser never reads past the length it is given and never keeps a
 * pointer to the input after it returns, except in the output fields that
 * say they point into the caller's buffer.
 *
 * Encoders write into a caller buffer of a given capacity and return the
 * number of bytes written, or -1 if the message does not fit (nothing
 * useful is written then) or the arguments cannot be encoded.
 *
 * Nothing in src/proto allocates, logs, reads clocks or does I/O.
 */
#ifndef SLUICE_PROTO_PROTO_H
#define SLUICE_PROTO_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define PROTO_ERROR	(-1)
#define PROTO_PARTIAL	(-2)

enum proto_addr_type {
	PROTO_ADDR_NONE = 0,	/* not set */
	PROTO_ADDR_IPV4,	/* bytes[0..3], network order */
	PROTO_ADDR_IPV6,	/* bytes[0..15], network order */
	PROTO_ADDR_DOMAIN,	/* bytes[0..len-1] + NUL; 1..255 bytes, no NUL inside */
};

#define PROTO_DOMAIN_MAX	255

/*
 * A destination or bound address as the proxy protocols carry it. The
 * caller converts IPv4/IPv6 to a sockaddr (memcpy of bytes, htons(port))
 * and resolves domains. Domains are always NUL-terminated so they can be
 * handed to a resolver as they are; the parsers reject a NUL inside one.
 */
struct proto_addr {
	uint8_t type;		/* enum proto_addr_type */
	uint8_t len;		/* bytes used in bytes[]: 4, 16 or 1..255 */
	uint16_t port;		/* host byte order */
	uint8_t bytes[PROTO_DOMAIN_MAX + 1];
};

static inline void proto_addr_set_ipv4(struct proto_addr *a, const uint8_t ip[static 4],
				       uint16_t port)
{
	a->type = PROTO_ADDR_IPV4;
	a->len = 4;
	a->port = port;
	memcpy(a->bytes, ip, 4);
}

static inline void proto_addr_set_ipv6(struct proto_addr *a, const uint8_t ip[static 16],
				       uint16_t port)
{
	a->type = PROTO_ADDR_IPV6;
	a->len = 16;
	a->port = port;
	memcpy(a->bytes, ip, 16);
}

/* Set a domain name: 0, or -1 (a left untouched) if len is 0 or > 255 or it holds a NUL. */
static inline int proto_addr_set_domain(struct proto_addr *a, const void *name, size_t len,
					uint16_t port)
{
	if (len == 0 || len > PROTO_DOMAIN_MAX || memchr(name, 0, len))
		return -1;
	a->type = PROTO_ADDR_DOMAIN;
	a->len = (uint8_t)len;
	a->port = port;
	memcpy(a->bytes, name, len);
	a->bytes[len] = 0;
	return 0;
}

#endif
