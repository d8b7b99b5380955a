/*
 * Socket addresses: one union big enough for IPv4 and IPv6, and pure
 * helpers to parse "host:port" / "[v6]:port" and to format addresses.
 */
#ifndef SLUICE_CORE_ADDR_H
#define SLUICE_CORE_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

union sockaddr_any {
	struct sockaddr sa;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
};

/* Longest formatted address: "[" v6 "%" scope "]:" port, NUL. */
#define ADDR_STRLEN	(INET6_ADDRSTRLEN + 16)
#define HOST_MAX	255

static inline socklen_t addr_len(const union sockaddr_any *a)
{
	return a->sa.sa_family == AF_INET6 ? sizeof(a->sin6) : sizeof(a->sin);
}

uint16_t addr_port(const union sockaddr_any *a);
void addr_set_port(union sockaddr_any *a, uint16_t port);

/*
 * Split "host:port", "[v6]:port" or ":port" (empty host) into host (no
 * brackets, NUL-terminated, at most HOST_MAX bytes) and port. Returns 0, or
 * -1 with *why set to a static description of what is wrong.
 * A port must be 1..65535 in decimal.
 */
int addr_split(const char *s, size_t len, char host[static HOST_MAX + 1],
	       uint16_t *port, const char **why);

/* Parse a numeric IPv4/IPv6 literal (no brackets). true on success. */
bool addr_from_literal(const char *host, uint16_t port, union sockaddr_any *out);

/* "1.2.3.4:80" or "[::1]:80"; always NUL-terminates. Returns buf. */
char *addr_format(const union sockaddr_any *a, char *buf, size_t len);

/* 0.0.0.0 or :: (a wildcard bind). */
bool addr_is_any(const union sockaddr_any *a);

/* 127.0.0.0/8, ::1, or IPv4-mapped loopback. */
bool addr_is_loopback(const union sockaddr_any *a);

/*
 * Not a public unicast address: loopback, unspecified, RFC 1918 private,
 * shared (100.64/10), link-local, multicast, reserved, IPv6 ULA, or an
 * IPv4-mapped one of these. What a proxy should not reach for strangers.
 */
bool addr_is_private(const union sockaddr_any *a);

/* Parse a port: decimal 1..65535. true on success. */
bool port_parse(const char *s, size_t len, uint16_t *port);

#endif
