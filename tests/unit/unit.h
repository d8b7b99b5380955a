/*
 * A minimal unit-test harness: CHECK() records a failure with its location
 * and carries on; main() runs TEST functions and prints "N passed, N failed"
 * (counting checks) as its last line, exiting 1 on any failure.
 */
#ifndef SLUICE_TESTS_UNIT_H
#define SLUICE_TESTS_UNIT_H

#include <stdio.h>
#include <string.h>

static unsigned int unit_pass, unit_fail;

#define CHECK(cond) do { \
	if (cond) { \
		unit_pass++; \
	} else { \
		unit_fail++; \
		fprintf(stderr, "%s:%d: %s: CHECK(%s) failed\n", __FILE__, __LINE__, __func__, #cond); \
	} \
} while (0)

#define CHECK_EQ_INT(a, b) do { \
	long long _a = (long long)(a), _b = (long long)(b); \
	if (_a == _b) { \
		unit_pass++; \
	} else { \
		unit_fail++; \
		fprintf(stderr, "%s:%d: %s: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__, \
			__func__, #a, _a, #b, _b); \
	} \
} while (0)

#define CHECK_STR(a, b) do { \
	const char *_a = (a), *_b = (b); \
	if (_a && _b && strcmp(_a, _b) == 0) { \
		unit_pass++; \
	} else { \
		unit_fail++; \
		fprintf(stderr, "%s:%d: %s: \"%s\" != \"%s\"\n", __FILE__, __LINE__, __func__, \
			_a ? _a : "(null)", _b ? _b : "(null)"); \
	} \
} while (0)

#define RUN(fn) do { fn(); } while (0)

static inline int unit_done(void)
{
	printf("%u passed, %u failed\n", unit_pass, unit_fail);
	return unit_fail ? 1 : 0;
}

#endif
