/*
 * SOCKS5 (RFC 1928) and its username/password sub-negotiation (RFC 1929):
 * sans-I/O parsers and encoders for both ends of the conversation.
 *
 *   server (ingress)                      client (egress, -F socks5://)
 *   socks5_parse_greeting   <- greeting <- socks5_write_greeting
 *   socks5_write_method     -> method   -> socks5_parse_method_reply
 *   socks5_parse_auth       <- auth     <- socks5_write_auth
 *   socks5_write_auth_reply -> status   -> socks5_parse_auth_reply
 *   socks5_parse_request    <- request  <- socks5_write_request
 *   socks5_write_reply      -> reply    -> socks5_parse_reply
 *
 * UDP ASSOCIATE datagrams carry a header (RFC 1928 section 7):
 * socks5_parse_udp() and socks5_write_udp_header().
 *
 * Parsers return bytes consumed (> 0), PROTO_PARTIAL or PROTO_ERROR as
 * described in proto.h; encoders return bytes written or -1.
 */
#ifndef SLUICE_PROTO_SOCKS5_H
#define SLUICE_PROTO_SOCKS5_H

#include "proto/proto.h"

#define SOCKS5_VERSION		0x05
#define SOCKS5_AUTH_VERSION	0x01	/* RFC 1929 sub-negotiation */

enum socks5_method {
	SOCKS5_METHOD_NO_AUTH = 0x00,
	SOCKS5_METHOD_GSSAPI = 0x01,
	SOCKS5_METHOD_USERPASS = 0x02,
	SOCKS5_METHOD_NONE = 0xff,	/* no acceptable methods */
};

enum socks5_cmd {
	SOCKS5_CMD_CONNECT = 0x01,
	SOCKS5_CMD_BIND = 0x02,
	SOCKS5_CMD_UDP_ASSOCIATE = 0x03,
};

enum socks5_atyp {
	SOCKS5_ATYP_IPV4 = 0x01,
	SOCKS5_ATYP_DOMAIN = 0x03,
	SOCKS5_ATYP_IPV6 = 0x04,
};

enum socks5_rep {
	SOCKS5_REP_SUCCEEDED = 0x00,
	SOCKS5_REP_GENERAL_FAILURE = 0x01,
	SOCKS5_REP_NOT_ALLOWED = 0x02,		/* connection not allowed by ruleset */
	SOCKS5_REP_NET_UNREACHABLE = 0x03,
	SOCKS5_REP_HOST_UNREACHABLE = 0x04,
	SOCKS5_REP_REFUSED = 0x05,
	SOCKS5_REP_TTL_EXPIRED = 0x06,
	SOCKS5_REP_CMD_NOT_SUPPORTED = 0x07,
	SOCKS5_REP_ATYP_NOT_SUPPORTED = 0x08,
};

/* RFC 1929 status: 0 is success, anything else failure (the connection closes). */
#define SOCKS5_AUTH_OK		0x00
#define SOCKS5_AUTH_FAILURE	0x01

/* Longest request or reply: VER CMD RSV ATYP LEN DOMAIN(255) PORT. */
#define SOCKS5_REQUEST_MAX	(4 + 1 + 255 + 2)
/* Longest RFC 1929 request: VER ULEN UNAME(255) PLEN PASSWD(255). */
#define SOCKS5_AUTH_MAX		(1 + 1 + 255 + 1 + 255)
/* Longest UDP header: RSV(2) FRAG ATYP LEN DOMAIN(255) PORT. */
#define SOCKS5_UDP_HEADER_MAX	(3 + 1 + 1 + 255 + 2)

/* "succeeded", "connection refused", ...; "unknown reply" for other codes. Static strings. */
const char *socks5_rep_str(int rep);

/*
 * Bytes ATYP + ADDR + PORT take on the wire for a: 7 (IPv4), 19 (IPv6),
 * 4 + len (domain); -1 if a cannot be encoded (type NONE, bad length).
 */
int socks5_addr_len(const struct proto_addr *a);

/* ---- server side ---- */

struct socks5_greeting {
	const uint8_t *methods;	/* points into the caller's buffer; nmethods bytes */
	uint8_t nmethods;	/* 0 is accepted: the answer is SOCKS5_METHOD_NONE */
	bool has_no_auth;	/* 0x00 offered */
	bool has_userpass;	/* 0x02 offered */
};

/*
 * VER NMETHODS METHODS. Returns 2 + NMETHODS, PROTO_PARTIAL, or PROTO_ERROR
 * when VER is not 5 (the caller just closes: there is no reply for that).
 */
int socks5_parse_greeting(const uint8_t *buf, size_t len, struct socks5_greeting *out);

/*
 * The method to answer with: with need_auth, USERPASS if offered else NONE;
 * without, NO_AUTH if offered, else USERPASS if offered (the caller then
 * accepts or checks what it gets), else NONE.
 */
uint8_t socks5_choose_method(const struct socks5_greeting *g, bool need_auth);

struct socks5_auth {
	const uint8_t *user;	/* points into the caller's buffer, not NUL-terminated */
	const uint8_t *pass;	/* likewise; may be empty */
	uint8_t user_len;	/* 1..255 */
	uint8_t pass_len;	/* 0..255 */
};

/*
 * VER(1) ULEN UNAME PLEN PASSWD. Returns 3 + ULEN + PLEN, PROTO_PARTIAL, or
 * PROTO_ERROR when VER is not 1 or ULEN is 0; the caller then answers
 * socks5_write_auth_reply(SOCKS5_AUTH_FAILURE) and closes.
 */
int socks5_parse_auth(const uint8_t *buf, size_t len, struct socks5_auth *out);

struct socks5_request {
	uint8_t cmd;		/* as received, even when unknown */
	/*
	 * The reply the caller must send if it is not SOCKS5_REP_SUCCEEDED:
	 * set on every return but PROTO_PARTIAL.
	 *   > 0, 0x00        parsed; go ahead with cmd and dst
	 *   > 0, 0x07        parsed, but cmd is not CONNECT/BIND/UDP ASSOCIATE
	 *   ERROR, 0x08      unknown ATYP: the length is unknowable, so this is
	 *                    terminal; reply 0x08 and close
	 *   ERROR, 0x01      bad VER, empty domain, NUL in domain; reply and close
	 */
	uint8_t reply;
	struct proto_addr dst;	/* copied out; port in host order */
};

/*
 * VER CMD RSV ATYP DST.ADDR DST.PORT. RSV is not checked (RFC 1928 says
 * 0x00; some clients send garbage). Returns the request length (10, 22 or
 * 7 + domain length), PROTO_PARTIAL, or PROTO_ERROR; see out->reply.
 * Decides as early as it can: a bad VER or ATYP is an error even before
 * the rest has arrived.
 */
int socks5_parse_request(const uint8_t *buf, size_t len, struct socks5_request *out);

/* VER METHOD: 2 bytes (method may be SOCKS5_METHOD_NONE), or -1. */
int socks5_write_method(uint8_t *buf, size_t cap, uint8_t method);

/* VER(1) STATUS: 2 bytes, or -1. */
int socks5_write_auth_reply(uint8_t *buf, size_t cap, uint8_t status);

/*
 * VER REP RSV ATYP BND.ADDR BND.PORT. bnd may be NULL (or type NONE):
 * 0.0.0.0:0, what error replies carry. Any address type is encoded.
 * Returns bytes written, or -1 (no room, or bnd cannot be encoded).
 */
int socks5_write_reply(uint8_t *buf, size_t cap, uint8_t rep, const struct proto_addr *bnd);

/* ---- client side ---- */

/* VER NMETHODS METHODS: NO_AUTH, plus USERPASS when with_userpass. Returns 3 or 4, or -1. */
int socks5_write_greeting(uint8_t *buf, size_t cap, bool with_userpass);

/* VER METHOD. Returns 2, PROTO_PARTIAL, or PROTO_ERROR (VER not 5). */
int socks5_parse_method_reply(const uint8_t *buf, size_t len, uint8_t *method);

/* RFC 1929 request. user 1..255 bytes, pass 0..255. Returns bytes written or -1. */
int socks5_write_auth(uint8_t *buf, size_t cap, const void *user, size_t user_len,
		      const void *pass, size_t pass_len);

/*
 * VER STATUS. Returns 2, PROTO_PARTIAL, or PROTO_ERROR. VER 1 is RFC 1929;
 * VER 5 is accepted too, as some servers send it. *status 0 means success.
 */
int socks5_parse_auth_reply(const uint8_t *buf, size_t len, uint8_t *status);

/* VER CMD RSV(0) ATYP DST.ADDR DST.PORT for any address type. Returns bytes written or -1. */
int socks5_write_request(uint8_t *buf, size_t cap, uint8_t cmd, const struct proto_addr *dst);

struct socks5_reply {
	uint8_t rep;		/* enum socks5_rep, or whatever the server sent */
	struct proto_addr bnd;	/* BND.ADDR, BND.PORT */
};

/*
 * VER REP RSV ATYP BND.ADDR BND.PORT with any ATYP. Returns the reply
 * length, PROTO_PARTIAL, or PROTO_ERROR (VER not 5, unknown ATYP, empty
 * domain). out->rep is set as soon as 2 bytes are there, even on
 * PROTO_ERROR, so a failure code can be logged when the rest is garbage.
 */
int socks5_parse_reply(const uint8_t *buf, size_t len, struct socks5_reply *out);

/* ---- UDP ASSOCIATE datagrams ---- */

struct socks5_udp {
	uint8_t frag;		/* 0 for a standalone datagram; callers drop others */
	struct proto_addr addr;	/* DST.ADDR/DST.PORT */
	size_t data_off;	/* DATA starts at buf + data_off (== return value) */
};

/*
 * RSV(2) FRAG ATYP DST.ADDR DST.PORT DATA, one whole datagram. RSV is not
 * checked. Returns the header length (DATA may be empty), or PROTO_ERROR
 * (truncated header, unknown ATYP, empty domain). A datagram is never
 * PROTO_PARTIAL: what is missing will not come.
 */
int socks5_parse_udp(const uint8_t *buf, size_t len, struct socks5_udp *out);

/*
 * RSV(0,0) FRAG(0) ATYP ADDR PORT for a datagram from addr; the caller puts
 * the payload after it (socks5_addr_len(addr) + 3 bytes, at most
 * SOCKS5_UDP_HEADER_MAX, so a buffer with that much headroom can have the
 * header written in front of data received into it). Returns bytes or -1.
 */
int socks5_write_udp_header(uint8_t *buf, size_t cap, const struct proto_addr *addr);

#endif
