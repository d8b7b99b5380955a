/* Primitives under tchan: see crypto.h. */
#include "tunnel/crypto.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

void tc_hash2(uint8_t out[static TC_HASH_LEN], const void *a, size_t alen, const void *b, size_t blen)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, TC_HASH_LEN);
	crypto_generichash_update(&st, a, alen);
	crypto_generichash_update(&st, b, blen);
	crypto_generichash_final(&st, out, TC_HASH_LEN);
	sodium_memzero(&st, sizeof(st));
}

void tc_kdf(const uint8_t ck[static TC_KEY_LEN], const uint8_t *in, size_t inlen,
	    uint8_t *o1, uint8_t *o2, uint8_t *o3)
{
	uint8_t t[TC_KEY_LEN], prev[TC_KEY_LEN + 1];

	/* t first: o1 may be ck itself. */
	crypto_generichash(t, sizeof(t), in, inlen, ck, TC_KEY_LEN);
	prev[0] = 1;
	crypto_generichash(prev, TC_KEY_LEN, prev, 1, t, sizeof(t));
	if (o2 || o3) {
		uint8_t next[TC_KEY_LEN];

		prev[TC_KEY_LEN] = 2;
		crypto_generichash(next, sizeof(next), prev, sizeof(prev), t, sizeof(t));
		if (o3) {
			uint8_t tmp[TC_KEY_LEN + 1];

			memcpy(tmp, next, TC_KEY_LEN);
			tmp[TC_KEY_LEN] = 3;
			crypto_generichash(o3, TC_KEY_LEN, tmp, sizeof(tmp), t, sizeof(t));
			sodium_memzero(tmp, sizeof(tmp));
		}
		if (o2)
			memcpy(o2, next, TC_KEY_LEN);
		sodium_memzero(next, sizeof(next));
	}
	memcpy(o1, prev, TC_KEY_LEN);
	sodium_memzero(t, sizeof(t));
	sodium_memzero(prev, sizeof(prev));
}

void tc_subkey(uint8_t out[static TC_KEY_LEN], const uint8_t key[static TC_KEY_LEN],
	       const char *label)
{
	crypto_generichash(out, TC_KEY_LEN, (const uint8_t *)label, strlen(label), key, TC_KEY_LEN);
}

void tc_mask(const uint8_t key[static TC_KEY_LEN], const uint8_t *sample, uint8_t *buf, size_t n)
{
	uint8_t ks[64];

	crypto_stream_chacha20_ietf(ks, n, sample, key);
	for (size_t i = 0; i < n; i++)
		buf[i] ^= ks[i];
}

void tc_replay_init(struct tc_replay *r)
{
	memset(r, 0, sizeof(*r));
}

int tc_replay_check(const struct tc_replay *r, uint64_t ctr)
{
	if (ctr > r->top)
		return 0;
	if (r->top - ctr > TC_REPLAY_SPAN)
		return -ESTALE;
	if (r->bits[(ctr / 64) % TC_REPLAY_WORDS] & (1ULL << (ctr % 64)))
		return -EALREADY;
	return 0;
}

void tc_replay_update(struct tc_replay *r, uint64_t ctr)
{
	if (ctr > r->top) {
		uint64_t cur = r->top / 64, next = ctr / 64, diff = next - cur;

		if (diff > TC_REPLAY_WORDS)
			diff = TC_REPLAY_WORDS;
		for (uint64_t i = 1; i <= diff; i++)
			r->bits[(cur + i) % TC_REPLAY_WORDS] = 0;
		r->top = ctr;
	}
	r->bits[(ctr / 64) % TC_REPLAY_WORDS] |= 1ULL << (ctr % 64);
}
