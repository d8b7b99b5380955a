/*
 * Shared checks for the sans-I/O codec tests: a message is fed whole, cut at
 * every offset (each prefix in its own exact-size allocation, so ASan sees
 * any read past the end) and followed by pipelined bytes. Include after
 * unit.h and the codec's header (PROTO_PARTIAL, PROTO_ERROR).
 */
#ifndef SLUICE_TESTS_PROTO_CHECK_H
#define SLUICE_TESTS_PROTO_CHECK_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef int (*parse_fn)(const uint8_t *buf, size_t len, void *out);

/* Parse msg[0..len) from a copy of exactly len bytes. */
static inline int parse_exact(parse_fn fn, const uint8_t *msg, size_t len, void *out)
{
	uint8_t *p = malloc(len ? len : 1);
	int rc;

	memcpy(p, msg, len);
	rc = fn(p, len, out);
	free(p);
	return rc;
}

/*
 * A valid message of n bytes: every shorter prefix is PARTIAL; the whole
 * gives n; with a copy of itself and garbage after, still n and the same
 * output. out (out_size bytes) is left holding the result, from a buffer
 * that stays alive until the next call (pointers in it stay valid).
 */
static inline void check_valid(const char *name, parse_fn fn, const uint8_t *msg, size_t n,
			void *out, size_t out_size)
{
	static uint8_t big[4096];
	unsigned int before = unit_fail;
	void *o2 = malloc(out_size);

	for (size_t k = 0; k < n; k++) {
		memset(o2, 0, out_size);
		CHECK_EQ_INT(parse_exact(fn, msg, k, o2), PROTO_PARTIAL);
	}
	memcpy(big, msg, n);
	memset(out, 0, out_size);
	CHECK_EQ_INT(parse_exact(fn, big, n, out), (int)n);
	CHECK_EQ_INT(fn(big, n, out), (int)n);
	/* pipelined: the same message again, then garbage */
	memcpy(big + n, msg, n);
	memset(big + 2 * n, 0xa5, 16);
	memset(o2, 0, out_size);
	CHECK_EQ_INT(fn(big, 2 * n + 16, o2), (int)n);
	CHECK(memcmp(out, o2, out_size) == 0);
	free(o2);
	if (unit_fail != before)
		fprintf(stderr, "  ^ in case '%s'\n", name);
}

/*
 * A malformed message: whole it is PROTO_ERROR; no prefix parses as a
 * message. Returns the shortest prefix length that already gives an error.
 */
static inline size_t check_invalid(const char *name, parse_fn fn, const uint8_t *msg, size_t n,
			    void *out)
{
	unsigned int before = unit_fail;
	size_t first = n + 1;

	CHECK_EQ_INT(parse_exact(fn, msg, n, out), PROTO_ERROR);
	for (size_t k = 0; k < n; k++) {
		int rc = parse_exact(fn, msg, k, out);

		CHECK(rc == PROTO_PARTIAL || rc == PROTO_ERROR);
		if (rc == PROTO_ERROR && first > n)
			first = k;
	}
	if (unit_fail != before)
		fprintf(stderr, "  ^ in case '%s'\n", name);
	return first <= n ? first : n;
}

#endif
