#include "core/addr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

uint16_t addr_port(const union sockaddr_any *a)
{
	return ntohs(a->sa.sa_family == AF_INET6 ? a->sin6.sin6_port : a->sin.sin_port);
}

void addr_set_port(union sockaddr_any *a, uint16_t port)
{
	if (a->sa.sa_family == AF_INET6)
		a->sin6.sin6_port = htons(port);
	else
		a->sin.sin_port = htons(port);
}

bool port_parse(const char *s, size_t len, uint16_t *port)
{
	unsigned long v = 0;

	if (len == 0 || len > 5)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return false;
	*port = (uint16_t)v;
	return true;
}

int addr_split(const char *s, size_t len, char host[static HOST_MAX + 1],
	       uint16_t *port, const char **why)
{
	const char *hs, *he, *colon;

	if (len == 0) {
		*why = "empty address";
		return -1;
	}
	if (s[0] == '[') {
		he = memchr(s, ']', len);
		if (!he) {
			*why = "missing ']' after IPv6 address";
			return -1;
		}
		hs = s + 1;
		colon = he + 1;
		if (colon >= s + len || *colon != ':') {
			*why = "missing port";
			return -1;
		}
		if (he == hs) {
			*why = "empty IPv6 address";
			return -1;
		}
	} else {
		colon = NULL;
		for (const char *p = s; p < s + len; p++)
			if (*p == ':')
				colon = p;
		if (!colon) {
			*why = "missing port";
			return -1;
		}
		if (memchr(s, ':', (size_t)(colon - s))) {
			*why = "IPv6 address must be in brackets";
			return -1;
		}
		hs = s;
		he = colon;
	}
	if ((size_t)(he - hs) > HOST_MAX) {
		*why = "host name too long";
		return -1;
	}
	if (colon + 1 >= s + len) {
		*why = "missing port";
		return -1;
	}
	if (!port_parse(colon + 1, (size_t)(s + len - colon - 1), port)) {
		*why = "port must be a number from 1 to 65535";
		return -1;
	}
	for (const char *p = hs; p < he; p++) {
		if ((unsigned char)*p <= ' ' || *p == '/' || *p == '@') {
			*why = "bad character in host";
			return -1;
		}
	}
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = '\0';
	return 0;
}

bool addr_from_literal(const char *host, uint16_t port, union sockaddr_any *out)
{
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, host, &out->sin.sin_addr) == 1) {
		out->sin.sin_family = AF_INET;
		out->sin.sin_port = htons(port);
		return true;
	}
	if (inet_pton(AF_INET6, host, &out->sin6.sin6_addr) == 1) {
		out->sin6.sin6_family = AF_INET6;
		out->sin6.sin6_port = htons(port);
		return true;
	}
	return false;
}

char *addr_format(const union sockaddr_any *a, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (a->sa.sa_family == AF_INET6) {
		const struct in6_addr *in6 = &a->sin6.sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(in6)) {	/* dual-stack peers read better as IPv4 */
			inet_ntop(AF_INET, &in6->s6_addr[12], ip, sizeof(ip));
			snprintf(buf, len, "%s:%u", ip, ntohs(a->sin6.sin6_port));
		} else {
			inet_ntop(AF_INET6, in6, ip, sizeof(ip));
			snprintf(buf, len, "[%s]:%u", ip, ntohs(a->sin6.sin6_port));
		}
	} else if (a->sa.sa_family == AF_INET) {
		inet_ntop(AF_INET, &a->sin.sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ntohs(a->sin.sin_port));
	} else {
		snprintf(buf, len, "?");
	}
	return buf;
}

static bool v4_is_loopback(uint32_t ip)
{
	return (ip >> 24) == 127;
}

static bool v4_is_private(uint32_t ip)
{
	return (ip >> 24) == 0 ||			/* 0.0.0.0/8 "this network" */
	       (ip >> 24) == 10 ||			/* 10/8 */
	       (ip >> 22) == (100u << 2 | 1) ||	/* 100.64/10 shared */
	       (ip >> 24) == 127 ||			/* loopback */
	       (ip >> 16) == (169u << 8 | 254) ||	/* link-local */
	       (ip >> 20) == (172u << 4 | 1) ||		/* 172.16/12 */
	       (ip >> 16) == (192u << 8 | 168) ||	/* 192.168/16 */
	       (ip >> 8) == (192u << 16 | 0 << 8 | 0) ||	/* 192.0.0/24 protocol assignments */
	       (ip >> 17) == (198u << 7 | 9) ||	/* 198.18/15 benchmarking */
	       (ip >> 28) >= 14;			/* 224/4 multicast, 240/4 reserved */
}

bool addr_is_any(const union sockaddr_any *a)
{
	if (a->sa.sa_family == AF_INET)
		return a->sin.sin_addr.s_addr == htonl(INADDR_ANY);
	return a->sa.sa_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&a->sin6.sin6_addr);
}

bool addr_is_loopback(const union sockaddr_any *a)
{
	if (a->sa.sa_family == AF_INET)
		return v4_is_loopback(ntohl(a->sin.sin_addr.s_addr));
	if (a->sa.sa_family != AF_INET6)
		return false;
	if (IN6_IS_ADDR_V4MAPPED(&a->sin6.sin6_addr)) {
		uint32_t ip;

		memcpy(&ip, &a->sin6.sin6_addr.s6_addr[12], 4);
		return v4_is_loopback(ntohl(ip));
	}
	return IN6_IS_ADDR_LOOPBACK(&a->sin6.sin6_addr);
}

bool addr_is_private(const union sockaddr_any *a)
{
	const struct in6_addr *in6;

	if (a->sa.sa_family == AF_INET)
		return v4_is_private(ntohl(a->sin.sin_addr.s_addr));
	if (a->sa.sa_family != AF_INET6)
		return true;
	in6 = &a->sin6.sin6_addr;
	if (IN6_IS_ADDR_V4MAPPED(in6) || IN6_IS_ADDR_V4COMPAT(in6)) {
		uint32_t ip;

		memcpy(&ip, &in6->s6_addr[12], 4);
		return v4_is_private(ntohl(ip));
	}
	return IN6_IS_ADDR_UNSPECIFIED(in6) || IN6_IS_ADDR_LOOPBACK(in6) ||
	       (in6->s6_addr[0] & 0xfe) == 0xfc ||			/* fc00::/7 ULA */
	       IN6_IS_ADDR_LINKLOCAL(in6) || IN6_IS_ADDR_SITELOCAL(in6) ||
	       IN6_IS_ADDR_MULTICAST(in6);
}
