/* SOCKS4/4a codec: see socks4.h for the contract. */
#include "proto/socks4.h"

/*
 * A NUL-terminated field of at most max bytes starting at buf[off].
 * Returns its length (NUL not counted), PROTO_PARTIAL or PROTO_ERROR (no
 * NUL within max + 1 bytes).
 */
static int field_len(const uint8_t *buf, size_t len, size_t off, size_t max)
{
	size_t avail = len - off;
	const uint8_t *nul;

	if (avail > max + 1)
		avail = max + 1;
	nul = memchr(buf + off, 0, avail);
	if (nul)
		return (int)(nul - (buf + off));
	return avail == max + 1 ? PROTO_ERROR : PROTO_PARTIAL;
}

int socks4_parse_request(const uint8_t *buf, size_t len, struct socks4_request *out)
{
	int ulen, dlen;
	size_t end;
	uint16_t port;

	if (len < 1)
		return PROTO_PARTIAL;
	if (buf[0] != SOCKS4_VERSION)
		return PROTO_ERROR;
	if (len < 8)
		return PROTO_PARTIAL;
	ulen = field_len(buf, len, 8, SOCKS4_USERID_MAX);
	if (ulen < 0)
		return ulen;
	end = 8 + (size_t)ulen + 1;
	port = (uint16_t)(buf[2] << 8 | buf[3]);

	/* 0.0.0.x, x != 0: SOCKS4a, a domain follows the user id */
	bool is_4a = buf[4] == 0 && buf[5] == 0 && buf[6] == 0 && buf[7] != 0;

	if (is_4a) {
		dlen = field_len(buf, len, end, SOCKS4_DOMAIN_MAX);
		if (dlen < 0)
			return dlen;
		if (dlen == 0)
			return PROTO_ERROR;
		/* cannot fail: 1..255 bytes, NUL-free by construction */
		proto_addr_set_domain(&out->dst, buf + end, (size_t)dlen, port);
		end += (size_t)dlen + 1;
	} else {
		proto_addr_set_ipv4(&out->dst, buf + 4, port);
	}
	out->cmd = buf[1];
	out->is_4a = is_4a;
	out->userid = (const char *)buf + 8;
	out->userid_len = (size_t)ulen;
	return (int)end;
}

int socks4_write_reply(uint8_t *buf, size_t cap, uint8_t cd, const struct proto_addr *bnd)
{
	if (cap < SOCKS4_REPLY_LEN)
		return -1;
	memset(buf, 0, SOCKS4_REPLY_LEN);
	buf[0] = SOCKS4_REPLY_VERSION;
	buf[1] = cd;
	if (bnd && bnd->type == PROTO_ADDR_IPV4) {
		buf[2] = (uint8_t)(bnd->port >> 8);
		buf[3] = (uint8_t)bnd->port;
		memcpy(buf + 4, bnd->bytes, 4);
	}
	return SOCKS4_REPLY_LEN;
}

int socks4_write_request(uint8_t *buf, size_t cap, uint8_t cmd, const struct proto_addr *dst,
			 const char *userid, size_t userid_len)
{
	size_t n = 8 + userid_len + 1;

	if (userid_len > SOCKS4_USERID_MAX || (userid_len && memchr(userid, 0, userid_len)))
		return -1;
	if (dst->type == PROTO_ADDR_DOMAIN) {
		if (dst->len == 0 || memchr(dst->bytes, 0, dst->len))
			return -1;
		n += (size_t)dst->len + 1;
	} else if (dst->type != PROTO_ADDR_IPV4) {
		return -1;
	}
	if (cap < n)
		return -1;

	buf[0] = SOCKS4_VERSION;
	buf[1] = cmd;
	buf[2] = (uint8_t)(dst->port >> 8);
	buf[3] = (uint8_t)dst->port;
	if (dst->type == PROTO_ADDR_IPV4)
		memcpy(buf + 4, dst->bytes, 4);
	else
		memcpy(buf + 4, "\0\0\0\1", 4);
	if (userid_len)
		memcpy(buf + 8, userid, userid_len);
	buf[8 + userid_len] = 0;
	if (dst->type == PROTO_ADDR_DOMAIN) {
		memcpy(buf + 9 + userid_len, dst->bytes, dst->len);
		buf[n - 1] = 0;
	}
	return (int)n;
}

int socks4_parse_reply(const uint8_t *buf, size_t len, struct socks4_reply *out)
{
	if (len < 1)
		return PROTO_PARTIAL;
	if (buf[0] != SOCKS4_REPLY_VERSION && buf[0] != SOCKS4_VERSION)
		return PROTO_ERROR;
	if (len < SOCKS4_REPLY_LEN)
		return PROTO_PARTIAL;
	out->cd = buf[1];
	proto_addr_set_ipv4(&out->bnd, buf + 4, (uint16_t)(buf[2] << 8 | buf[3]));
	return SOCKS4_REPLY_LEN;
}
