/*
 * SOCKS4 and SOCKS4a: sans-I/O parser and encoders for both ends.
 *
 *   server (ingress)       client (egress, -F socks4a://)
 *   socks4_parse_request   <- socks4_write_request
 *   socks4_write_reply     -> socks4_parse_reply
 *
 * A request is VN(4) CD DSTPORT(2) DSTIP(4) USERID NUL, and for 4a, when
 * DSTIP is 0.0.0.x with x != 0, DOMAIN NUL after it. There is no greeting
 * and no version in the reply worth checking: one request, one 8-byte reply.
 *
 * Parsers return bytes consumed (> 0), PROTO_PARTIAL or PROTO_ERROR as
 * described in proto.h; encoders return bytes written or -1.
 */
#ifndef SLUICE_PROTO_SOCKS4_H
#define SLUICE_PROTO_SOCKS4_H

#include "proto/proto.h"

#define SOCKS4_VERSION		0x04
#define SOCKS4_REPLY_VERSION	0x00
#define SOCKS4_REPLY_LEN	8

enum socks4_cmd {
	SOCKS4_CMD_CONNECT = 0x01,
	SOCKS4_CMD_BIND = 0x02,
};

enum socks4_rep {
	SOCKS4_REP_GRANTED = 0x5a,
	SOCKS4_REP_REJECTED = 0x5b,		/* rejected or failed */
	SOCKS4_REP_NO_IDENTD = 0x5c,		/* cannot reach the client's identd */
	SOCKS4_REP_IDENTD_MISMATCH = 0x5d,	/* identd and USERID differ */
};

/* Longest USERID and 4a DOMAIN we accept, NUL not counted. */
#define SOCKS4_USERID_MAX	255
#define SOCKS4_DOMAIN_MAX	255
/* Longest request: 8 + USERID + NUL + DOMAIN + NUL. */
#define SOCKS4_REQUEST_MAX	(8 + SOCKS4_USERID_MAX + 1 + SOCKS4_DOMAIN_MAX + 1)

struct socks4_request {
	uint8_t cmd;		/* as received; anything but CONNECT/BIND gets REJECTED */
	bool is_4a;		/* dst is the DOMAIN, not DSTIP */
	const char *userid;	/* points into the caller's buffer, NUL-terminated there */
	size_t userid_len;	/* 0..SOCKS4_USERID_MAX */
	struct proto_addr dst;	/* IPv4, or DOMAIN (1..255 bytes) for 4a; port host order */
};

/*
 * Returns the request length (through the last NUL), PROTO_PARTIAL, or
 * PROTO_ERROR: VN not 4, USERID or DOMAIN longer than 255 bytes without a
 * NUL, empty 4a DOMAIN. An unknown command parses (the caller answers
 * SOCKS4_REP_REJECTED). The caller answers a PROTO_ERROR with
 * SOCKS4_REP_REJECTED too, or just closes.
 */
int socks4_parse_request(const uint8_t *buf, size_t len, struct socks4_request *out);

/*
 * VN(0) CD DSTPORT DSTIP: 8 bytes. bnd may be NULL, or not IPv4: zeros
 * (clients ignore the address except for BIND). Returns 8 or -1.
 */
int socks4_write_reply(uint8_t *buf, size_t cap, uint8_t cd, const struct proto_addr *bnd);

/*
 * A SOCKS4 request for an IPv4 dst, SOCKS4a for a domain (DSTIP 0.0.0.1).
 * userid (0..255 bytes, no NUL; NULL when userid_len is 0) identifies us.
 * Returns bytes written, or -1: no room, IPv6 dst, bad userid.
 */
int socks4_write_request(uint8_t *buf, size_t cap, uint8_t cmd, const struct proto_addr *dst,
			 const char *userid, size_t userid_len);

struct socks4_reply {
	uint8_t cd;		/* SOCKS4_REP_*; 0x5a is success */
	struct proto_addr bnd;	/* IPv4 DSTIP/DSTPORT of the reply */
};

/*
 * 8 bytes: VN CD DSTPORT DSTIP. VN should be 0; 4 is accepted as some
 * servers send it. Returns 8, PROTO_PARTIAL, or PROTO_ERROR (other VN).
 */
int socks4_parse_reply(const uint8_t *buf, size_t len, struct socks4_reply *out);

#endif
