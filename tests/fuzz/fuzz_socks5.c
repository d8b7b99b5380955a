/*
 * SOCKS5 parsers over arbitrary bytes. The first byte picks the parser;
 * whatever parses is encoded again and must parse back to the same thing.
 */
#include <stdlib.h>

#include "proto/socks5.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_addr(const struct proto_addr *a, const struct proto_addr *b)
{
	if (a->type != b->type || a->len != b->len || a->port != b->port ||
	    memcmp(a->bytes, b->bytes, a->len) != 0)
		abort();
}

/* A result is > 0 and within the input, or one of the two codes. */
static void check_rc(int rc, size_t size)
{
	if (rc == PROTO_PARTIAL || rc == PROTO_ERROR)
		return;
	if (rc <= 0 || (size_t)rc > size)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t out[SOCKS5_REQUEST_MAX + SOCKS5_AUTH_MAX];
	int rc, n;

	if (size < 1)
		return 0;
	uint8_t which = data[0];

	data++;
	size--;
	switch (which % 6) {
	case 0: {
		struct socks5_greeting g;

		rc = socks5_parse_greeting(data, size, &g);
		check_rc(rc, size);
		if (rc > 0) {
			if (g.nmethods + 2 != rc || g.methods != data + 2)
				abort();
			(void)socks5_choose_method(&g, which & 0x80);
		}
		break;
	}
	case 1: {
		struct socks5_auth a, b;

		rc = socks5_parse_auth(data, size, &a);
		check_rc(rc, size);
		if (rc > 0) {
			n = socks5_write_auth(out, sizeof(out), a.user, a.user_len, a.pass,
					      a.pass_len);
			if (n != rc || memcmp(out, data, (size_t)n) != 0)
				abort();
			if (socks5_parse_auth(out, (size_t)n, &b) != n)
				abort();
		}
		break;
	}
	case 2: {
		struct socks5_request r, r2;

		r.reply = 0xee;
		rc = socks5_parse_request(data, size, &r);
		check_rc(rc, size);
		if (rc == PROTO_ERROR && r.reply != SOCKS5_REP_GENERAL_FAILURE &&
		    r.reply != SOCKS5_REP_ATYP_NOT_SUPPORTED)
			abort();
		if (rc > 0) {
			n = socks5_write_request(out, sizeof(out), r.cmd, &r.dst);
			if (n != rc)
				abort();
			if (socks5_parse_request(out, (size_t)n, &r2) != n || r2.cmd != r.cmd ||
			    r2.reply != r.reply)
				abort();
			same_addr(&r.dst, &r2.dst);
			/* the prefix just before the end is always partial */
			if (socks5_parse_request(data, (size_t)rc - 1, &r2) != PROTO_PARTIAL)
				abort();
		}
		break;
	}
	case 3: {
		struct socks5_reply r, r2;

		rc = socks5_parse_reply(data, size, &r);
		check_rc(rc, size);
		if (rc > 0) {
			n = socks5_write_reply(out, sizeof(out), r.rep, &r.bnd);
			if (n != rc || socks5_parse_reply(out, (size_t)n, &r2) != n ||
			    r2.rep != r.rep)
				abort();
			same_addr(&r.bnd, &r2.bnd);
		}
		break;
	}
	case 4: {
		uint8_t m;

		check_rc(socks5_parse_method_reply(data, size, &m), size);
		check_rc(socks5_parse_auth_reply(data, size, &m), size);
		break;
	}
	default:
		(void)socks5_rep_str(size ? data[0] : -1);
		break;
	}
	return 0;
}
