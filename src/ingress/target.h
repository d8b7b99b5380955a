/* Conversions between the protocol codecs' addresses and sockets'. */
#ifndef SLUICE_INGRESS_TARGET_H
#define SLUICE_INGRESS_TARGET_H

#include "core/addr.h"
#include "ingress/ingress.h"
#include "proto/proto.h"

/*
 * Fill ctx->target from a parsed destination: IPv4/IPv6 become an address,
 * a domain is copied to ctx->hostbuf (a literal IP written as a domain is
 * taken as the address). 0, or -1 for an address type we cannot dial.
 */
int ingress_target_from_proto(struct ingress_ctx *ctx, const struct proto_addr *a);

/* The bound address for a reply (IPv4-mapped IPv6 is shown as IPv4). */
void ingress_proto_from_sockaddr(const union sockaddr_any *sa, struct proto_addr *out);

/* SOCKS5 reply code for an egress error (0 = succeeded). */
uint8_t socks5_rep_for_error(int err);

#endif
