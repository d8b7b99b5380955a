/*
 * Base64 (RFC 4648 section 4, standard alphabet), for HTTP Basic
 * credentials. Pure functions over caller buffers.
 */
#ifndef SLUICE_PROTO_BASE64_H
#define SLUICE_PROTO_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Characters base64_encode() writes for n input bytes (with padding, no NUL). */
#define BASE64_ENCODED_LEN(n)	(((n) + 2) / 3 * 4)
/* Upper bound on bytes base64_decode() writes for n characters. */
#define BASE64_DECODED_MAX(n)	((n) / 4 * 3 + 3)

/*
 * Encode len bytes with '=' padding into out (no NUL written). Returns the
 * number of characters, or -1 if cap < BASE64_ENCODED_LEN(len) or the
 * result would not fit an int.
 */
int base64_encode(const void *in, size_t len, char *out, size_t cap);

/*
 * Decode len characters into out. Padding is optional ("dXNlcg" and
 * "dXNlcg==" both give "user"), but when present it must be complete and
 * last. Returns bytes written, or -1: a character outside the alphabet
 * (whitespace included), a lone trailing character, bad padding, or no room.
 */
int base64_decode(const char *in, size_t len, uint8_t *out, size_t cap);

#endif
