/*
 * Primitives under tchan (src/tunnel/chan.c): a BLAKE2b key chain in the
 * shape of HKDF, header masking with ChaCha20, an RFC 6479 style sliding
 * anti-replay window, little-endian loads and stores. Pure and internal to
 * src/tunnel; libsodium only.
 */
#ifndef SLUICE_TUNNEL_CRYPTO_H
#define SLUICE_TUNNEL_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TC_KEY_LEN	32
#define TC_HASH_LEN	32
#define TC_MASK_SAMPLE	12	/* bytes of ciphertext that seed a mask */

/* out = BLAKE2b-256(a || b); out may alias a or b. */
void tc_hash2(uint8_t out[static TC_HASH_LEN], const void *a, size_t alen, const void *b, size_t blen);

/*
 * HKDF with keyed BLAKE2b in place of HMAC: t = BLAKE2b(key ck, in),
 * o1 = BLAKE2b(key t, 0x01), o2 = BLAKE2b(key t, o1 || 0x02),
 * o3 = BLAKE2b(key t, o2 || 0x03). Outputs may alias ck; o2/o3 may be NULL.
 */
void tc_kdf(const uint8_t ck[static TC_KEY_LEN], const uint8_t *in, size_t inlen,
	    uint8_t *o1, uint8_t *o2, uint8_t *o3);

/* out = BLAKE2b-256(key key, label): an independent key for another purpose. */
void tc_subkey(uint8_t out[static TC_KEY_LEN], const uint8_t key[static TC_KEY_LEN],
	       const char *label);

/* buf ^= ChaCha20(key, nonce = sample[0..12], counter 0)[0..n]; n <= 64. */
void tc_mask(const uint8_t key[static TC_KEY_LEN], const uint8_t *sample, uint8_t *buf, size_t n);

/*
 * Sliding anti-replay window over 64-bit counters (RFC 6479): a ring of
 * TC_REPLAY_WORDS 64-bit words; counters up to TC_REPLAY_SPAN behind the
 * newest are remembered exactly, older ones are refused.
 */
#define TC_REPLAY_WORDS	64
#define TC_REPLAY_SPAN	((TC_REPLAY_WORDS - 1) * 64)
struct tc_replay {
	uint64_t top;			/* newest counter accepted */
	uint64_t bits[TC_REPLAY_WORDS];
};
void tc_replay_init(struct tc_replay *r);
/* 0 if ctr may be accepted, -EALREADY seen, -ESTALE older than the window. */
int tc_replay_check(const struct tc_replay *r, uint64_t ctr);
/* Record ctr (only after the packet authenticated). */
void tc_replay_update(struct tc_replay *r, uint64_t ctr);

static inline uint64_t tc_load64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static inline void tc_store64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

#endif
