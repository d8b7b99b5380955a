/*
 * SOCKS5 UDP request headers over arbitrary datagrams: a parsed header is
 * encoded again (FRAG 0, RSV 0) and must parse back to the same address;
 * and the relay's reply shape (a header for the source written in front of
 * the payload, as src/app/udp_assoc.c does) must parse back to the same
 * address and the same payload.
 */
#include <stdlib.h>
#include <string.h>

#include "proto/socks5.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t hdr[SOCKS5_UDP_HEADER_MAX];
	struct socks5_udp u, v;
	int rc, n;

	rc = socks5_parse_udp(data, size, &u);
	if (rc == PROTO_ERROR)
		return 0;
	if (rc < 4 || (size_t)rc > size || u.data_off != (size_t)rc ||
	    (size_t)rc > SOCKS5_UDP_HEADER_MAX)
		abort();
	n = socks5_write_udp_header(hdr, sizeof(hdr), &u.addr);
	if (n != rc)
		abort();
	if (socks5_parse_udp(hdr, (size_t)n, &v) != n || v.frag != 0)
		abort();
	if (v.addr.type != u.addr.type || v.addr.len != u.addr.len ||
	    v.addr.port != u.addr.port || memcmp(v.addr.bytes, u.addr.bytes, u.addr.len))
		abort();
	/* the same bytes with the RSV/FRAG rewritten must match */
	if (memcmp(hdr + 3, data + 3, (size_t)n - 3) != 0)
		abort();

	/* a reply: header in front of the payload */
	{
		size_t plen = size - (size_t)rc;
		uint8_t *dg = malloc(SOCKS5_UDP_HEADER_MAX + plen + 1);
		int h;

		if (!dg)
			return 0;
		h = socks5_write_udp_header(dg, SOCKS5_UDP_HEADER_MAX, &u.addr);
		if (h != n)
			abort();
		memcpy(dg + h, data + rc, plen);
		if (socks5_parse_udp(dg, (size_t)h + plen, &v) != h || v.data_off != (size_t)h ||
		    memcmp(dg + v.data_off, data + rc, plen) != 0)
			abort();
		free(dg);
	}
	return 0;
}
