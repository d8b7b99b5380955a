/* Base64: see base64.h. */
#include <limits.h>

#include "proto/base64.h"

static const char enc[64] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_encode(const void *in, size_t len, char *out, size_t cap)
{
	const uint8_t *s = in;
	size_t need, o = 0;

	if (len > (size_t)INT_MAX / 4 * 3)
		return -1;
	need = BASE64_ENCODED_LEN(len);
	if (cap < need)
		return -1;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16;
		size_t left = len - i;

		if (left > 1)
			v |= (uint32_t)s[i + 1] << 8;
		if (left > 2)
			v |= s[i + 2];
		out[o++] = enc[v >> 18 & 63];
		out[o++] = enc[v >> 12 & 63];
		out[o++] = left > 1 ? enc[v >> 6 & 63] : '=';
		out[o++] = left > 2 ? enc[v & 63] : '=';
	}
	return (int)need;
}

/* 0..63, or -1 for anything else. */
static int dec(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int base64_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
	size_t o = 0, n = len, full;
	uint32_t v;

	if (len > INT_MAX)
		return -1;
	/* Padding: only with a multiple of 4, at most "==", and nothing after it. */
	if (n && in[n - 1] == '=') {
		if (n % 4)
			return -1;
		n--;
		if (in[n - 1] == '=')
			n--;
	}
	if (n % 4 == 1)
		return -1;
	full = n / 4 * 4;
	if (cap < full / 4 * 3 + (n % 4 ? n % 4 - 1 : 0))
		return -1;
	for (size_t i = 0; i < full; i += 4) {
		int a = dec(in[i]), b = dec(in[i + 1]), c = dec(in[i + 2]), d = dec(in[i + 3]);

		if ((a | b | c | d) < 0)
			return -1;
		v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
		out[o++] = (uint8_t)(v >> 16);
		out[o++] = (uint8_t)(v >> 8);
		out[o++] = (uint8_t)v;
	}
	if (n % 4) {
		int a = dec(in[full]), b = dec(in[full + 1]);
		int c = n % 4 == 3 ? dec(in[full + 2]) : 0;

		if ((a | b | c) < 0)
			return -1;
		v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6;
		out[o++] = (uint8_t)(v >> 16);
		if (n % 4 == 3)
			out[o++] = (uint8_t)(v >> 8);
	}
	return (int)o;
}
