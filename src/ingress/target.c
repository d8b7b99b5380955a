#include "ingress/target.h"

#include <string.h>

int ingress_target_from_proto(struct ingress_ctx *ctx, const struct proto_addr *a)
{
	struct target *t = &ctx->target;

	memset(t, 0, sizeof(*t));
	t->port = a->port;
	switch (a->type) {
	case PROTO_ADDR_IPV4:
		t->addr.sin.sin_family = AF_INET;
		memcpy(&t->addr.sin.sin_addr, a->bytes, 4);
		addr_set_port(&t->addr, a->port);
		return 0;
	case PROTO_ADDR_IPV6:
		t->addr.sin6.sin6_family = AF_INET6;
		memcpy(&t->addr.sin6.sin6_addr, a->bytes, 16);
		addr_set_port(&t->addr, a->port);
		return 0;
	case PROTO_ADDR_DOMAIN:
		memcpy(ctx->hostbuf, a->bytes, a->len);
		ctx->hostbuf[a->len] = '\0';
		if (addr_from_literal(ctx->hostbuf, a->port, &t->addr))
			return 0;
		t->host = ctx->hostbuf;
		return 0;
	default:
		return -1;
	}
}

void ingress_proto_from_sockaddr(const union sockaddr_any *sa, struct proto_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (sa->sa.sa_family == AF_INET6) {
		const uint8_t *b = sa->sin6.sin6_addr.s6_addr;

		if (IN6_IS_ADDR_V4MAPPED(&sa->sin6.sin6_addr))
			proto_addr_set_ipv4(out, b + 12, addr_port(sa));
		else
			proto_addr_set_ipv6(out, b, addr_port(sa));
	} else if (sa->sa.sa_family == AF_INET) {
		proto_addr_set_ipv4(out, (const uint8_t *)&sa->sin.sin_addr, addr_port(sa));
	}
}
