/*
 * SOCKS4/4a parsers over arbitrary bytes: a parsed request is encoded again
 * and must come out byte for byte the same (for 4a: with DSTIP 0.0.0.1).
 */
#include <stdlib.h>

#include "proto/socks4.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t out[SOCKS4_REQUEST_MAX];
	struct socks4_request r, r2;
	struct socks4_reply rp;
	int rc, n;

	rc = socks4_parse_request(data, size, &r);
	if (rc != PROTO_PARTIAL && rc != PROTO_ERROR) {
		if (rc < 9 || (size_t)rc > size || rc > SOCKS4_REQUEST_MAX)
			abort();
		if (r.userid != (const char *)data + 8 || r.userid[r.userid_len] != 0)
			abort();
		n = socks4_write_request(out, sizeof(out), r.cmd, &r.dst, r.userid, r.userid_len);
		if (n != rc)
			abort();
		if (!r.is_4a && memcmp(out, data, (size_t)n) != 0)
			abort();
		if (r.is_4a && (memcmp(out, data, 7) != 0 || memcmp(out + 8, data + 8, (size_t)n - 8)))
			abort();
		if (socks4_parse_request(out, (size_t)n, &r2) != n || r2.is_4a != r.is_4a ||
		    r2.dst.len != r.dst.len || memcmp(r2.dst.bytes, r.dst.bytes, r.dst.len))
			abort();
		if (socks4_parse_request(data, (size_t)rc - 1, &r2) != PROTO_PARTIAL)
			abort();
	}
	rc = socks4_parse_reply(data, size, &rp);
	if (rc != PROTO_PARTIAL && rc != PROTO_ERROR) {
		if (rc != SOCKS4_REPLY_LEN || socks4_write_reply(out, sizeof(out), rp.cd, &rp.bnd) != 8 ||
		    memcmp(out + 1, data + 1, 7) != 0)
			abort();
	}
	return 0;
}
