/* SOCKS5 codec: see socks5.h for the contract. */
#include "proto/socks5.h"

const char *socks5_rep_str(int rep)
{
	switch (rep) {
	case SOCKS5_REP_SUCCEEDED:		return "succeeded";
	case SOCKS5_REP_GENERAL_FAILURE:	return "general SOCKS server failure";
	case SOCKS5_REP_NOT_ALLOWED:		return "connection not allowed by ruleset";
	case SOCKS5_REP_NET_UNREACHABLE:	return "network unreachable";
	case SOCKS5_REP_HOST_UNREACHABLE:	return "host unreachable";
	case SOCKS5_REP_REFUSED:		return "connection refused";
	case SOCKS5_REP_TTL_EXPIRED:		return "TTL expired";
	case SOCKS5_REP_CMD_NOT_SUPPORTED:	return "command not supported";
	case SOCKS5_REP_ATYP_NOT_SUPPORTED:	return "address type not supported";
	default:				return "unknown reply";
	}
}

int socks5_addr_len(const struct proto_addr *a)
{
	switch (a->type) {
	case PROTO_ADDR_IPV4:
		return 1 + 4 + 2;
	case PROTO_ADDR_IPV6:
		return 1 + 16 + 2;
	case PROTO_ADDR_DOMAIN:
		return a->len ? 1 + 1 + a->len + 2 : -1;
	default:
		return -1;
	}
}

/*
 * ATYP ADDR PORT at p[0..len). Returns its length, PROTO_PARTIAL, or
 * PROTO_ERROR with *rep saying which reply fits. The shared piece of
 * requests, replies and UDP headers.
 */
static int parse_addr(const uint8_t *p, size_t len, struct proto_addr *a, uint8_t *rep)
{
	size_t alen, off;

	if (len < 1)
		return PROTO_PARTIAL;
	switch (p[0]) {
	case SOCKS5_ATYP_IPV4:
		alen = 4;
		off = 1;
		break;
	case SOCKS5_ATYP_IPV6:
		alen = 16;
		off = 1;
		break;
	case SOCKS5_ATYP_DOMAIN:
		if (len < 2)
			return PROTO_PARTIAL;
		alen = p[1];
		off = 2;
		if (alen == 0) {
			*rep = SOCKS5_REP_GENERAL_FAILURE;
			return PROTO_ERROR;
		}
		break;
	default:
		*rep = SOCKS5_REP_ATYP_NOT_SUPPORTED;
		return PROTO_ERROR;
	}
	if (len < off + alen + 2)
		return PROTO_PARTIAL;

	uint16_t port = (uint16_t)(p[off + alen] << 8 | p[off + alen + 1]);

	if (p[0] == SOCKS5_ATYP_IPV4) {
		proto_addr_set_ipv4(a, p + off, port);
	} else if (p[0] == SOCKS5_ATYP_IPV6) {
		proto_addr_set_ipv6(a, p + off, port);
	} else if (proto_addr_set_domain(a, p + off, alen, port) < 0) {
		*rep = SOCKS5_REP_GENERAL_FAILURE;	/* NUL inside the name */
		return PROTO_ERROR;
	}
	return (int)(off + alen + 2);
}

/* ATYP ADDR PORT into buf, which has room for socks5_addr_len(a) bytes. */
static void write_addr(uint8_t *buf, const struct proto_addr *a)
{
	size_t off, alen;

	switch (a->type) {
	case PROTO_ADDR_IPV4:
		buf[0] = SOCKS5_ATYP_IPV4;
		off = 1;
		alen = 4;
		break;
	case PROTO_ADDR_IPV6:
		buf[0] = SOCKS5_ATYP_IPV6;
		off = 1;
		alen = 16;
		break;
	default:
		buf[0] = SOCKS5_ATYP_DOMAIN;
		buf[1] = a->len;
		off = 2;
		alen = a->len;
		break;
	}
	memcpy(buf + off, a->bytes, alen);
	off += alen;
	buf[off] = (uint8_t)(a->port >> 8);
	buf[off + 1] = (uint8_t)a->port;
}

/* 0.0.0.0:0, for replies without a meaningful bound address. */
static const struct proto_addr zero_addr = { .type = PROTO_ADDR_IPV4, .len = 4 };

/* ---- server side ---- */

int socks5_parse_greeting(const uint8_t *buf, size_t len, struct socks5_greeting *out)
{
	if (len < 1)
		return PROTO_PARTIAL;
	if (buf[0] != SOCKS5_VERSION)
		return PROTO_ERROR;
	if (len < 2 || len < 2 + (size_t)buf[1])
		return PROTO_PARTIAL;

	out->nmethods = buf[1];
	out->methods = buf + 2;
	out->has_no_auth = memchr(buf + 2, SOCKS5_METHOD_NO_AUTH, buf[1]) != NULL;
	out->has_userpass = memchr(buf + 2, SOCKS5_METHOD_USERPASS, buf[1]) != NULL;
	return 2 + buf[1];
}

uint8_t socks5_choose_method(const struct socks5_greeting *g, bool need_auth)
{
	if (!need_auth && g->has_no_auth)
		return SOCKS5_METHOD_NO_AUTH;
	if (g->has_userpass)
		return SOCKS5_METHOD_USERPASS;
	return SOCKS5_METHOD_NONE;
}

int socks5_parse_auth(const uint8_t *buf, size_t len, struct socks5_auth *out)
{
	size_t ulen, plen;

	if (len < 1)
		return PROTO_PARTIAL;
	if (buf[0] != SOCKS5_AUTH_VERSION)
		return PROTO_ERROR;
	if (len < 2)
		return PROTO_PARTIAL;
	ulen = buf[1];
	if (ulen == 0)
		return PROTO_ERROR;
	if (len < 2 + ulen + 1)
		return PROTO_PARTIAL;
	plen = buf[2 + ulen];
	if (len < 3 + ulen + plen)
		return PROTO_PARTIAL;

	out->user = buf + 2;
	out->user_len = (uint8_t)ulen;
	out->pass = buf + 3 + ulen;
	out->pass_len = (uint8_t)plen;
	return (int)(3 + ulen + plen);
}

int socks5_parse_request(const uint8_t *buf, size_t len, struct socks5_request *out)
{
	int n;

	if (len < 1)
		return PROTO_PARTIAL;
	if (buf[0] != SOCKS5_VERSION) {
		out->reply = SOCKS5_REP_GENERAL_FAILURE;
		return PROTO_ERROR;
	}
	if (len < 4)
		return PROTO_PARTIAL;
	n = parse_addr(buf + 3, len - 3, &out->dst, &out->reply);
	if (n < 0)
		return n;

	out->cmd = buf[1];
	switch (buf[1]) {
	case SOCKS5_CMD_CONNECT:
	case SOCKS5_CMD_BIND:
	case SOCKS5_CMD_UDP_ASSOCIATE:
		out->reply = SOCKS5_REP_SUCCEEDED;
		break;
	default:
		out->reply = SOCKS5_REP_CMD_NOT_SUPPORTED;
		break;
	}
	return 3 + n;
}

int socks5_write_method(uint8_t *buf, size_t cap, uint8_t method)
{
	if (cap < 2)
		return -1;
	buf[0] = SOCKS5_VERSION;
	buf[1] = method;
	return 2;
}

int socks5_write_auth_reply(uint8_t *buf, size_t cap, uint8_t status)
{
	if (cap < 2)
		return -1;
	buf[0] = SOCKS5_AUTH_VERSION;
	buf[1] = status;
	return 2;
}

/* VER CODE RSV ATYP ADDR PORT: requests and replies have the same shape. */
static int write_msg(uint8_t *buf, size_t cap, uint8_t code, const struct proto_addr *a)
{
	int alen = socks5_addr_len(a);

	if (alen < 0 || cap < 3 + (size_t)alen)
		return -1;
	buf[0] = SOCKS5_VERSION;
	buf[1] = code;
	buf[2] = 0;
	write_addr(buf + 3, a);
	return 3 + alen;
}

int socks5_write_reply(uint8_t *buf, size_t cap, uint8_t rep, const struct proto_addr *bnd)
{
	if (!bnd || bnd->type == PROTO_ADDR_NONE)
		bnd = &zero_addr;
	return write_msg(buf, cap, rep, bnd);
}

/* ---- client side ---- */

int socks5_write_greeting(uint8_t *buf, size_t cap, bool with_userpass)
{
	size_t n = with_userpass ? 4 : 3;

	if (cap < n)
		return -1;
	buf[0] = SOCKS5_VERSION;
	buf[1] = (uint8_t)(n - 2);
	buf[2] = SOCKS5_METHOD_NO_AUTH;
	if (with_userpass)
		buf[3] = SOCKS5_METHOD_USERPASS;
	return (int)n;
}

int socks5_parse_method_reply(const uint8_t *buf, size_t len, uint8_t *method)
{
	if (len < 1)
		return PROTO_PARTIAL;
	if (buf[0] != SOCKS5_VERSION)
		return PROTO_ERROR;
	if (len < 2)
		return PROTO_PARTIAL;
	*method = buf[1];
	return 2;
}

int socks5_write_auth(uint8_t *buf, size_t cap, const void *user, size_t user_len,
		      const void *pass, size_t pass_len)
{
	if (user_len == 0 || user_len > 255 || pass_len > 255)
		return -1;
	if (cap < 3 + user_len + pass_len)
		return -1;
	buf[0] = SOCKS5_AUTH_VERSION;
	buf[1] = (uint8_t)user_len;
	memcpy(buf + 2, user, user_len);
	buf[2 + user_len] = (uint8_t)pass_len;
	if (pass_len)
		memcpy(buf + 3 + user_len, pass, pass_len);
	return (int)(3 + user_len + pass_len);
}

int socks5_parse_auth_reply(const uint8_t *buf, size_t len, uint8_t *status)
{
	if (len < 1)
		return PROTO_PARTIAL;
	if (buf[0] != SOCKS5_AUTH_VERSION && buf[0] != SOCKS5_VERSION)
		return PROTO_ERROR;
	if (len < 2)
		return PROTO_PARTIAL;
	*status = buf[1];
	return 2;
}

int socks5_write_request(uint8_t *buf, size_t cap, uint8_t cmd, const struct proto_addr *dst)
{
	return write_msg(buf, cap, cmd, dst);
}

int socks5_parse_reply(const uint8_t *buf, size_t len, struct socks5_reply *out)
{
	uint8_t unused;
	int n;

	if (len < 1)
		return PROTO_PARTIAL;
	if (buf[0] != SOCKS5_VERSION)
		return PROTO_ERROR;
	if (len < 2)
		return PROTO_PARTIAL;
	out->rep = buf[1];
	if (len < 4)
		return PROTO_PARTIAL;
	n = parse_addr(buf + 3, len - 3, &out->bnd, &unused);
	return n < 0 ? n : 3 + n;
}

/* ---- UDP ---- */

int socks5_parse_udp(const uint8_t *buf, size_t len, struct socks5_udp *out)
{
	uint8_t unused;
	int n;

	if (len < 4)
		return PROTO_ERROR;
	n = parse_addr(buf + 3, len - 3, &out->addr, &unused);
	if (n < 0)
		return PROTO_ERROR;
	out->frag = buf[2];
	out->data_off = 3 + (size_t)n;
	return 3 + n;
}

int socks5_write_udp_header(uint8_t *buf, size_t cap, const struct proto_addr *addr)
{
	int alen = socks5_addr_len(addr);

	if (alen < 0 || cap < 3 + (size_t)alen)
		return -1;
	buf[0] = 0;
	buf[1] = 0;
	buf[2] = 0;
	write_addr(buf + 3, addr);
	return 3 + alen;
}
