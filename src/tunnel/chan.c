/*
 * tchan: handshake, data packets, replay protection and rekey for the
 * tunnel's secure channel. See chan.h for the contract and
 * docs/internals/tunnel-crypto.md for the wire format and key schedule.
 */
#include "tunnel/chan.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "tunnel/crypto.h"

#define PROTOCOL_NAME	"sluice-tunnel-v1 Noise_NNpsk0_25519_ChaChaPoly_BLAKE2b"
#define REKEY_LABEL	"sluice-tunnel-v1 rekey"

/* Handshake layouts (before the masks): see docs/internals/tunnel-crypto.md. */
#define MSG1_CT_LEN	(16 + TCHAN_MAC_LEN)		/* timestamp, client tag */
#define MSG1_LEN	(32 + MSG1_CT_LEN)		/* 64 */
#define MSG2_CT_LEN	(8 + TCHAN_MAC_LEN)		/* server tag */
#define MSG2_LEN	(32 + MSG2_CT_LEN)		/* 56 */
#define HS_PAD_MASK	127				/* random padding 0..127 bytes */
#define HS_MAX_LEN	(MSG1_LEN + HS_PAD_MASK)
#define REKEY_BODY_LEN	(32 + 8)			/* ephemeral + new receiver tag */

/* Inner packet types: the last plaintext byte of a data packet. */
enum { PT_DATA = 0, PT_CONFIRM = 1, PT_REKEY1 = 2, PT_REKEY2 = 3, PT_DATA_PAD = 4 };
/* PT_DATA_PAD plaintext: payload || zero(pad) || pad(1) || type: --tunnel-padding. */

#define HS_RETX_FIRST_MS	500
#define HS_RETX_MAX_MS		8000
#define REKEY_RETX_FIRST_MS	500
#define REKEY_RETX_MAX_MS	4000
#define CONFIRM_GAP_MS		1000
#define REKEY_AFTER_PKTS	(1ULL << 31)
#define REJECT_AFTER_PKTS	(1ULL << 32)
#define HS_CACHE_BUCKETS	256
#define HS_CACHE_WAYS		8
#define DEFAULT_MAX_CHANNELS	4096

/* Noise symmetric state while a handshake runs. */
struct hs_sym {
	uint8_t ck[TC_KEY_LEN];		/* chaining key */
	uint8_t h[TC_HASH_LEN];		/* transcript hash */
	uint8_t k[TC_KEY_LEN];		/* current message key */
};

/* One direction pair of session keys, identified on the wire by recv_tag. */
struct keyset {
	bool valid;
	uint8_t send_key[TC_KEY_LEN], recv_key[TC_KEY_LEN];
	uint8_t send_hp[TC_KEY_LEN], recv_hp[TC_KEY_LEN];	/* counter masks */
	uint8_t rk[TC_KEY_LEN];		/* chaining secret for the next rekey */
	uint64_t send_tag;		/* the peer's receive tag: starts what we send */
	uint64_t recv_tag;		/* ours: starts what we accept */
	uint64_t send_ctr;
	uint64_t born_ms;
	uint64_t expire_ms;		/* prev only: dropped after this */
	struct tc_replay rw;
};

enum chan_state {
	ST_CLIENT_HS,		/* client: msg1 sent, waiting for msg2 */
	ST_SERVER_PENDING,	/* server: msg2 made, waiting for the first packet */
	ST_READY,
	ST_DEAD,
};

enum { KS_NONE = -1 };

struct tchan {
	bool is_client;
	enum chan_state state;
	struct tchan_server *srv;	/* borrowed; NULL for a client or after tchan_server_free */
	tchan_rng_fn rng;
	void *rng_ctx;			/* borrowed */
	tchan_emit_fn emit;
	void *user;			/* borrowed */
	uint8_t psk[TCHAN_KEY_LEN];
	uint32_t conv;
	uint64_t rekey_ms;
	unsigned int pad_max;		/* tchan_set_padding; 0: data packets unpadded */
	size_t pad_cap;			/* padded payload + pad section stays within this */

	struct keyset ks[3];
	int cur, prev, next;		/* indexes into ks or KS_NONE; next: server only */
	bool peer_switched;		/* client: the server sent under cur */
	uint64_t last_confirm_ms;

	/* Client handshake. */
	struct hs_sym hs;		/* state after msg1 */
	uint8_t e_priv[32];
	uint8_t msg1[HS_MAX_LEN];
	size_t msg1_len;
	uint64_t recv_tag0;		/* client tag sent in msg1 */
	uint64_t hs_start_ms, hs_next_ms, hs_gap_ms;

	/* Server: msg2 kept for flush and for answering a retransmitted msg1. */
	uint8_t msg2[HS_MAX_LEN];
	size_t msg2_len;
	bool msg2_unsent;
	int cache_slot;			/* its msg1 in srv->cache, or -1 */
	uint64_t created_ms;

	/* Rekey, client side (initiator). */
	bool rk_pending;
	uint8_t rk_priv[32];
	uint8_t rk_body[REKEY_BODY_LEN];	/* REKEY1 as sent */
	uint64_t rk_next_ms, rk_gap_ms;
	/* Rekey, server side: the REKEY1 that made ks[next], and our answer. */
	uint8_t rk_peer_e[32];
	uint8_t rk_reply[REKEY_BODY_LEN];

	struct tchan_stats st;
};

struct hs_cache_entry {
	uint8_t e[32];			/* the client's ephemeral key from msg1 */
	uint64_t ts;			/* its timestamp */
	bool used;
	struct tchan *ch;		/* borrowed: the channel it made, or NULL */
};

struct tag_slot {
	uint64_t tag;			/* 0 = empty */
	struct tchan *ch;		/* borrowed */
};

struct tchan_server {
	uint8_t psk[TCHAN_KEY_LEN];
	uint8_t mask1[TC_KEY_LEN], mask2[TC_KEY_LEN];	/* handshake masks */
	struct hs_sym base;		/* symmetric state after the psk token */
	tchan_rng_fn rng;
	void *rng_ctx;			/* borrowed */
	int64_t wall_off;		/* wall ms = now ms + wall_off */
	size_t max_channels;

	struct tag_slot *tags;		/* owned; open addressing, linear probing */
	size_t tag_cap, tag_used;	/* cap: power of two */

	/* Recently accepted msg1, for replay refusal (timestamps <= floor refused too). */
	struct hs_cache_entry cache[HS_CACHE_BUCKETS * HS_CACHE_WAYS];
	uint64_t floor_ts;

	size_t nchan;
	struct tchan_server_stats st;
};

/* ---- handshake symmetric state ---- */

static void hs_base(struct hs_sym *s, const uint8_t psk[static TCHAN_KEY_LEN])
{
	uint8_t th[TC_HASH_LEN];

	crypto_generichash(s->ck, TC_KEY_LEN, (const uint8_t *)PROTOCOL_NAME,
			   strlen(PROTOCOL_NAME), NULL, 0);
	memcpy(s->h, s->ck, TC_HASH_LEN);
	/* psk token: MixKeyAndHash(psk). */
	tc_kdf(s->ck, psk, TCHAN_KEY_LEN, s->ck, th, s->k);
	tc_hash2(s->h, s->h, TC_HASH_LEN, th, sizeof(th));
	sodium_memzero(th, sizeof(th));
}

static void hs_mix_hash(struct hs_sym *s, const uint8_t *d, size_t n)
{
	tc_hash2(s->h, s->h, TC_HASH_LEN, d, n);
}

static void hs_mix_key(struct hs_sym *s, const uint8_t *in, size_t n)
{
	tc_kdf(s->ck, in, n, s->ck, s->k, NULL);
}

/* EncryptAndHash with nonce 0 (every message key is used once). */
static void hs_seal(struct hs_sym *s, uint8_t *c, const uint8_t *m, size_t n)
{
	static const uint8_t zero[12];

	crypto_aead_chacha20poly1305_ietf_encrypt(c, NULL, m, n, s->h, TC_HASH_LEN, NULL, zero, s->k);
	hs_mix_hash(s, c, n + TCHAN_MAC_LEN);
}

static int hs_open(struct hs_sym *s, uint8_t *m, const uint8_t *c, size_t clen)
{
	static const uint8_t zero[12];

	if (crypto_aead_chacha20poly1305_ietf_decrypt(m, NULL, NULL, c, clen, s->h, TC_HASH_LEN,
						      zero, s->k) != 0)
		return -EBADMSG;
	hs_mix_hash(s, c, clen);
	return 0;
}

/* Split into session keys; initiator = the side that sent the first message. */
static void hs_split(const struct hs_sym *s, struct keyset *k, bool initiator, uint64_t now_ms)
{
	uint8_t i2r[TC_KEY_LEN], r2i[TC_KEY_LEN];

	tc_kdf(s->ck, NULL, 0, i2r, r2i, k->rk);
	memcpy(k->send_key, initiator ? i2r : r2i, TC_KEY_LEN);
	memcpy(k->recv_key, initiator ? r2i : i2r, TC_KEY_LEN);
	tc_subkey(k->send_hp, k->send_key, "hp");
	tc_subkey(k->recv_hp, k->recv_key, "hp");
	k->send_ctr = 0;
	k->born_ms = now_ms;
	k->expire_ms = UINT64_MAX;
	tc_replay_init(&k->rw);
	k->valid = true;
	sodium_memzero(i2r, sizeof(i2r));
	sodium_memzero(r2i, sizeof(r2i));
}

static void ks_wipe(struct keyset *k)
{
	sodium_memzero(k, sizeof(*k));
}

static uint64_t rand_tag(tchan_rng_fn rng, void *ctx)
{
	uint8_t b[8];
	uint64_t t;

	do {
		rng(ctx, b, sizeof(b));
		t = tc_load64(b);
	} while (t == 0);
	return t;
}

static size_t rand_pad(tchan_rng_fn rng, void *ctx, uint8_t *p)
{
	uint8_t b;
	size_t n;

	rng(ctx, &b, 1);
	n = b & HS_PAD_MASK;
	if (n)
		rng(ctx, p, n);
	return n;
}

/* A fresh X25519 key pair from the injected RNG. */
static void gen_ephemeral(tchan_rng_fn rng, void *ctx, uint8_t priv[32], uint8_t pub[32])
{
	rng(ctx, priv, 32);
	crypto_scalarmult_base(pub, priv);
}

/* ---- server tag table ---- */

static size_t tag_home(const struct tchan_server *srv, uint64_t tag)
{
	return (size_t)((tag * 0x9E3779B97F4A7C15ULL) >> 32) & (srv->tag_cap - 1);
}

static struct tag_slot *tag_find(const struct tchan_server *srv, uint64_t tag)
{
	if (!tag)
		return NULL;
	for (size_t i = tag_home(srv, tag);; i = (i + 1) & (srv->tag_cap - 1)) {
		if (srv->tags[i].tag == tag)
			return &srv->tags[i];
		if (srv->tags[i].tag == 0)
			return NULL;
	}
}

static void tag_put(struct tchan_server *srv, uint64_t tag, struct tchan *ch)
{
	size_t i = tag_home(srv, tag);

	while (srv->tags[i].tag)
		i = (i + 1) & (srv->tag_cap - 1);
	srv->tags[i].tag = tag;
	srv->tags[i].ch = ch;
	srv->tag_used++;
}

static int tag_grow(struct tchan_server *srv)
{
	struct tag_slot *old = srv->tags;
	size_t oldcap = srv->tag_cap, cap = oldcap * 2;
	struct tag_slot *t = calloc(cap, sizeof(*t));

	if (!t)
		return -ENOMEM;
	srv->tags = t;
	srv->tag_cap = cap;
	srv->tag_used = 0;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].tag)
			tag_put(srv, old[i].tag, old[i].ch);
	free(old);
	return 0;
}

/* Insert (growing at half load). 0 or -ENOMEM. */
static int tag_insert(struct tchan_server *srv, uint64_t tag, struct tchan *ch)
{
	if ((srv->tag_used + 1) * 2 > srv->tag_cap && tag_grow(srv) < 0)
		return -ENOMEM;
	tag_put(srv, tag, ch);
	return 0;
}

/* Remove with backward shifting, so lookups never need tombstones. */
static void tag_remove(struct tchan_server *srv, uint64_t tag)
{
	struct tag_slot *s = tag_find(srv, tag);
	size_t mask = srv->tag_cap - 1, i, j;

	if (!s)
		return;
	i = (size_t)(s - srv->tags);
	srv->tags[i].tag = 0;
	srv->tags[i].ch = NULL;
	srv->tag_used--;
	for (j = (i + 1) & mask; srv->tags[j].tag; j = (j + 1) & mask) {
		size_t k = tag_home(srv, srv->tags[j].tag);

		/* Move j back to i unless its home lies cyclically in (i, j]. */
		if ((j > i && (k <= i || k > j)) || (j < i && k <= i && k > j)) {
			srv->tags[i] = srv->tags[j];
			srv->tags[j].tag = 0;
			srv->tags[j].ch = NULL;
			i = j;
		}
	}
}

/* A receive tag no channel of this server uses. */
static uint64_t srv_new_tag(struct tchan_server *srv)
{
	uint64_t t;

	do
		t = rand_tag(srv->rng, srv->rng_ctx);
	while (tag_find(srv, t));
	return t;
}

/* ---- channel helpers ---- */

static uint64_t reject_after_ms(const struct tchan *ch)
{
	return ch->rekey_ms * 3;
}

static void do_emit(struct tchan *ch, const uint8_t *pkt, size_t len)
{
	if (ch->emit)
		ch->emit(ch->user, pkt, len);
}

/* Seal one packet of type type under ks[slot] and emit it. */
/*
 * Seal and emit one packet: payload, then (pad >= 0: PT_DATA_PAD) pad zero
 * bytes and the pad count, then the type. len + 1 + pad + 1 <= TCHAN_MAX_PAYLOAD + 1.
 */
static int seal_emit_pad(struct tchan *ch, int slot, uint8_t type, const uint8_t *p, size_t len,
			 int pad)
{
	struct keyset *k = &ch->ks[slot];
	uint8_t pkt[TCHAN_MAX_PACKET];
	uint8_t nonce[12] = { 0 };
	size_t ptlen = len + 1 + (pad >= 0 ? (size_t)pad + 1 : 0);
	uint64_t ctr;

	if (k->send_ctr >= REJECT_AFTER_PKTS)
		return -EKEYEXPIRED;
	ctr = k->send_ctr++;
	tc_store64(pkt, k->send_tag);
	tc_store64(pkt + TCHAN_TAG_LEN, ctr);
	tc_store64(nonce + 4, ctr);
	if (len)
		memcpy(pkt + TCHAN_HEADER_LEN, p, len);
	if (pad >= 0) {
		memset(pkt + TCHAN_HEADER_LEN + len, 0, (size_t)pad);
		pkt[TCHAN_HEADER_LEN + len + (size_t)pad] = (uint8_t)pad;
	}
	pkt[TCHAN_HEADER_LEN + ptlen - 1] = type;
	crypto_aead_chacha20poly1305_ietf_encrypt_detached(
		pkt + TCHAN_HEADER_LEN, pkt + TCHAN_HEADER_LEN + ptlen, NULL,
		pkt + TCHAN_HEADER_LEN, ptlen, pkt, TCHAN_HEADER_LEN, NULL, nonce, k->send_key);
	/* Mask the counter with a stream seeded by the MAC (header protection). */
	tc_mask(k->send_hp, pkt + TCHAN_HEADER_LEN + ptlen, pkt + TCHAN_TAG_LEN, 8);
	ch->st.sent_pkts++;
	do_emit(ch, pkt, TCHAN_HEADER_LEN + ptlen + TCHAN_MAC_LEN);
	return 0;
}

static int seal_emit(struct tchan *ch, int slot, uint8_t type, const uint8_t *p, size_t len)
{
	return seal_emit_pad(ch, slot, type, p, len, -1);
}

/* Which key slot a tag belongs to, or KS_NONE. */
static int slot_for_tag(const struct tchan *ch, uint64_t tag, uint64_t now_ms)
{
	const int order[3] = { ch->cur, ch->prev, ch->next };

	for (int i = 0; i < 3; i++) {
		int s = order[i];

		if (s == KS_NONE || !ch->ks[s].valid || ch->ks[s].recv_tag != tag)
			continue;
		if (s == ch->prev && now_ms > ch->ks[s].expire_ms)
			return KS_NONE;
		return s;
	}
	return KS_NONE;
}

/*
 * Authenticate and decrypt pkt under ks[slot]. On success returns the
 * plaintext length (type byte last) written to dst (which holds at least
 * len - TCHAN_HEADER_LEN - TCHAN_MAC_LEN bytes).
 */
static int open_pkt(struct tchan *ch, int slot, const uint8_t *pkt, size_t len, uint64_t now_ms,
		    uint8_t *dst)
{
	struct keyset *k = &ch->ks[slot];
	uint8_t hdr[TCHAN_HEADER_LEN], nonce[12] = { 0 };
	size_t ptlen = len - TCHAN_HEADER_LEN - TCHAN_MAC_LEN;
	const uint8_t *mac = pkt + len - TCHAN_MAC_LEN;
	uint64_t ctr;
	int rc;

	if (now_ms >= k->born_ms + reject_after_ms(ch)) {
		ch->st.bad_pkts++;
		return -EKEYEXPIRED;
	}
	memcpy(hdr, pkt, sizeof(hdr));
	tc_mask(k->recv_hp, mac, hdr + TCHAN_TAG_LEN, 8);
	ctr = tc_load64(hdr + TCHAN_TAG_LEN);
	if (ctr >= REJECT_AFTER_PKTS) {
		ch->st.bad_pkts++;
		return -EBADMSG;
	}
	rc = tc_replay_check(&k->rw, ctr);
	if (rc < 0) {
		ch->st.replayed_pkts++;
		return rc;
	}
	tc_store64(nonce + 4, ctr);
	if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(dst, NULL, pkt + TCHAN_HEADER_LEN,
							      ptlen, mac, hdr, sizeof(hdr), nonce,
							      k->recv_key) != 0) {
		ch->st.bad_pkts++;
		if (ch->srv)
			ch->srv->st.data_bad++;
		return -EBADMSG;
	}
	tc_replay_update(&k->rw, ctr);
	ch->st.recv_pkts++;
	return (int)ptlen;
}

static void srv_detach_slot(struct tchan *ch, int slot)
{
	if (slot == KS_NONE)
		return;
	if (ch->srv && ch->ks[slot].valid)
		tag_remove(ch->srv, ch->ks[slot].recv_tag);
	ks_wipe(&ch->ks[slot]);
}

static int free_slot(const struct tchan *ch)
{
	for (int i = 0; i < 3; i++)
		if (i != ch->cur && i != ch->prev && i != ch->next)
			return i;
	return KS_NONE;	/* not reached: at most three slots are in use */
}

/* cur becomes prev (dropped after expire_ms), slot becomes cur. */
static void switch_to(struct tchan *ch, int slot, uint64_t expire_ms)
{
	if (ch->prev != KS_NONE)
		srv_detach_slot(ch, ch->prev);
	ch->prev = ch->cur;
	if (ch->prev != KS_NONE)
		ch->ks[ch->prev].expire_ms = expire_ms;
	ch->cur = slot;
}

static void send_confirm(struct tchan *ch, uint64_t now_ms)
{
	ch->last_confirm_ms = now_ms;
	seal_emit(ch, ch->cur, PT_CONFIRM, NULL, 0);
}

/* Both sides derive a rekey from the old chaining secret, the PSK and two fresh ephemerals. */
static int rekey_derive(struct tchan *ch, const uint8_t rk[static TC_KEY_LEN],
			const uint8_t e_init[32], const uint8_t e_resp[32], const uint8_t *priv,
			const uint8_t *peer_pub, struct keyset *out, uint64_t now_ms)
{
	struct hs_sym s;
	uint8_t th[TC_HASH_LEN], dh[32];
	int rc = 0;

	tc_hash2(s.ck, REKEY_LABEL, strlen(REKEY_LABEL), rk, TC_KEY_LEN);
	memcpy(s.h, s.ck, TC_HASH_LEN);
	tc_kdf(s.ck, ch->psk, TCHAN_KEY_LEN, s.ck, th, s.k);
	hs_mix_hash(&s, th, sizeof(th));
	hs_mix_hash(&s, e_init, 32);
	hs_mix_key(&s, e_init, 32);
	hs_mix_hash(&s, e_resp, 32);
	hs_mix_key(&s, e_resp, 32);
	if (crypto_scalarmult(dh, priv, peer_pub) != 0) {
		rc = -EBADMSG;
		goto out_wipe;
	}
	hs_mix_key(&s, dh, sizeof(dh));
	hs_split(&s, out, ch->is_client, now_ms);
out_wipe:
	sodium_memzero(&s, sizeof(s));
	sodium_memzero(th, sizeof(th));
	sodium_memzero(dh, sizeof(dh));
	return rc;
}

/* Client: start a rekey (REKEY1 under cur). */
static void rekey_start(struct tchan *ch, uint64_t now_ms)
{
	uint8_t pub[32];

	gen_ephemeral(ch->rng, ch->rng_ctx, ch->rk_priv, pub);
	memcpy(ch->rk_body, pub, 32);
	tc_store64(ch->rk_body + 32, rand_tag(ch->rng, ch->rng_ctx));
	ch->rk_pending = true;
	ch->rk_gap_ms = REKEY_RETX_FIRST_MS;
	ch->rk_next_ms = now_ms + ch->rk_gap_ms;
	seal_emit(ch, ch->cur, PT_REKEY1, ch->rk_body, sizeof(ch->rk_body));
}

/* Client got REKEY2 under cur: derive, switch sending at once, confirm. */
static void rekey_finish(struct tchan *ch, const uint8_t *body, uint64_t now_ms)
{
	int slot = free_slot(ch);
	struct keyset *k = &ch->ks[slot];

	if (rekey_derive(ch, ch->ks[ch->cur].rk, ch->rk_body, body, ch->rk_priv, body, k,
			 now_ms) < 0) {
		ks_wipe(k);
		return;
	}
	k->send_tag = tc_load64(body + 32);
	k->recv_tag = tc_load64(ch->rk_body + 32);
	/* Old receive keys live until the server has moved too (see input). */
	switch_to(ch, slot, UINT64_MAX);
	ch->peer_switched = false;
	ch->rk_pending = false;
	sodium_memzero(ch->rk_priv, sizeof(ch->rk_priv));
	ch->st.rekeys++;
	send_confirm(ch, now_ms);
}

/* Server got REKEY1 under cur: install the next keys, answer with REKEY2 under cur. */
static void rekey_answer(struct tchan *ch, const uint8_t *body, uint64_t now_ms)
{
	uint8_t priv[32], pub[32];
	int slot;

	if (ch->next != KS_NONE && sodium_memcmp(ch->rk_peer_e, body, 32) == 0) {
		/* A retransmission: our REKEY2 got lost. */
		seal_emit(ch, ch->cur, PT_REKEY2, ch->rk_reply, sizeof(ch->rk_reply));
		return;
	}
	if (ch->next != KS_NONE) {
		srv_detach_slot(ch, ch->next);
		ch->next = KS_NONE;
	}
	slot = free_slot(ch);
	gen_ephemeral(ch->rng, ch->rng_ctx, priv, pub);
	if (rekey_derive(ch, ch->ks[ch->cur].rk, body, pub, priv, body, &ch->ks[slot],
			 now_ms) < 0)
		goto out_wipe;
	ch->ks[slot].send_tag = tc_load64(body + 32);
	ch->ks[slot].recv_tag = srv_new_tag(ch->srv);
	if (tag_insert(ch->srv, ch->ks[slot].recv_tag, ch) < 0) {
		ks_wipe(&ch->ks[slot]);
		goto out_wipe;
	}
	ch->next = slot;
	memcpy(ch->rk_peer_e, body, 32);
	memcpy(ch->rk_reply, pub, 32);
	tc_store64(ch->rk_reply + 32, ch->ks[slot].recv_tag);
	seal_emit(ch, ch->cur, PT_REKEY2, ch->rk_reply, sizeof(ch->rk_reply));
out_wipe:
	sodium_memzero(priv, sizeof(priv));
}

/*
 * A data-shaped packet for this channel. 1 payload, 0 control handled,
 * -errno dropped.
 */
static int chan_data_input(struct tchan *ch, const uint8_t *pkt, size_t len, uint64_t now_ms,
			   uint8_t *out, size_t cap, size_t *plen)
{
	uint8_t tmp[TCHAN_MAX_PAYLOAD + 1];
	size_t ptlen;
	uint8_t *dst, type;
	int slot, n;

	if (len < TCHAN_OVERHEAD || len > TCHAN_MAX_PACKET || ch->state == ST_DEAD)
		return -EBADMSG;
	slot = slot_for_tag(ch, tc_load64(pkt), now_ms);
	if (slot == KS_NONE)
		return -EBADMSG;
	ptlen = len - TCHAN_HEADER_LEN - TCHAN_MAC_LEN;
	dst = cap >= ptlen ? out : tmp;
	n = open_pkt(ch, slot, pkt, len, now_ms, dst);
	if (n < 0)
		return n;
	type = dst[ptlen - 1];

	if (!ch->is_client && slot == ch->next) {
		/* The client uses the new keys: they are confirmed, switch sending. */
		ch->next = KS_NONE;
		switch_to(ch, slot, now_ms + TCHAN_OLD_KEYS_MS);
		if (ch->state == ST_SERVER_PENDING) {
			ch->state = ST_READY;
			sodium_memzero(ch->msg2, sizeof(ch->msg2));
			ch->msg2_len = 0;
			ch->msg2_unsent = false;
		} else {
			ch->st.rekeys++;
		}
	} else if (ch->is_client && slot == ch->cur && !ch->peer_switched) {
		ch->peer_switched = true;
		if (ch->prev != KS_NONE)
			ch->ks[ch->prev].expire_ms = now_ms + TCHAN_OLD_KEYS_MS;
	} else if (ch->is_client && slot == ch->prev && !ch->peer_switched &&
		   now_ms >= ch->last_confirm_ms + CONFIRM_GAP_MS) {
		/* The server still sends under the old keys: our confirmation was lost. */
		send_confirm(ch, now_ms);
	}

	switch (type) {
	case PT_DATA_PAD:
		/* An authenticated but malformed pad count: a broken peer. */
		if (ptlen < 2 || (size_t)dst[ptlen - 2] + 2 > ptlen) {
			ch->st.bad_pkts++;
			return -EBADMSG;
		}
		ptlen -= (size_t)dst[ptlen - 2] + 1;	/* now as PT_DATA's */
		/* fall through */
	case PT_DATA:
		if (ptlen - 1 > cap)
			return -ENOBUFS;
		if (dst != out && ptlen > 1)
			memcpy(out, dst, ptlen - 1);
		*plen = ptlen - 1;
		return 1;
	case PT_REKEY1:
		if (!ch->is_client && slot == ch->cur && ptlen - 1 == REKEY_BODY_LEN && ch->srv)
			rekey_answer(ch, dst, now_ms);
		return 0;
	case PT_REKEY2:
		if (ch->is_client && slot == ch->cur && ch->rk_pending &&
		    ptlen - 1 == REKEY_BODY_LEN)
			rekey_finish(ch, dst, now_ms);
		return 0;
	default:	/* PT_CONFIRM, or a type from a later version: authenticated, ignored */
		return 0;
	}
}

static struct tchan *chan_alloc(const uint8_t psk[static TCHAN_KEY_LEN], tchan_rng_fn rng,
				void *rng_ctx)
{
	struct tchan *ch = calloc(1, sizeof(*ch));

	if (!ch)
		return NULL;
	memcpy(ch->psk, psk, TCHAN_KEY_LEN);
	ch->rng = rng;
	ch->rng_ctx = rng_ctx;
	ch->cur = ch->prev = ch->next = KS_NONE;
	ch->cache_slot = -1;
	ch->rekey_ms = TCHAN_REKEY_MS;
	return ch;
}

static uint32_t conv_from(const uint8_t h[static TC_HASH_LEN])
{
	uint32_t c = (uint32_t)tc_load64(h);

	return c ? c : 1;
}

/* ---- client ---- */

/* Build msg1 into ch->msg1, leaving ch->hs after it. */
static void client_make_msg1(struct tchan *ch, uint64_t wall_ms)
{
	uint8_t pub[32], pt[16], mask[TC_KEY_LEN];
	uint8_t *m = ch->msg1;

	hs_base(&ch->hs, ch->psk);
	gen_ephemeral(ch->rng, ch->rng_ctx, ch->e_priv, pub);
	ch->recv_tag0 = rand_tag(ch->rng, ch->rng_ctx);
	hs_mix_hash(&ch->hs, pub, 32);
	hs_mix_key(&ch->hs, pub, 32);
	tc_store64(pt, wall_ms);
	tc_store64(pt + 8, ch->recv_tag0);
	hs_seal(&ch->hs, m + 32, pt, sizeof(pt));
	memcpy(m, pub, 32);
	tc_subkey(mask, ch->psk, "sluice-tunnel-v1 mask1");
	tc_mask(mask, m + MSG1_LEN - TCHAN_MAC_LEN, m, 32);
	ch->msg1_len = MSG1_LEN + rand_pad(ch->rng, ch->rng_ctx, m + MSG1_LEN);
	sodium_memzero(mask, sizeof(mask));
	sodium_memzero(pt, sizeof(pt));
}

struct tchan *tchan_client_new(const uint8_t psk[static TCHAN_KEY_LEN], uint64_t now_ms,
			       uint64_t wall_ms, tchan_rng_fn rng, void *rng_ctx,
			       tchan_emit_fn emit, void *user)
{
	struct tchan *ch;

	if (sodium_init() != 1 || !rng)
		return NULL;
	ch = chan_alloc(psk, rng, rng_ctx);
	if (!ch)
		return NULL;
	ch->is_client = true;
	ch->state = ST_CLIENT_HS;
	ch->emit = emit;
	ch->user = user;
	client_make_msg1(ch, wall_ms);
	ch->hs_start_ms = now_ms;
	ch->hs_gap_ms = HS_RETX_FIRST_MS;
	ch->hs_next_ms = now_ms + ch->hs_gap_ms;
	do_emit(ch, ch->msg1, ch->msg1_len);
	return ch;
}

/* msg2 while the client waits for it. 0 accepted, -EBADMSG not it. */
static int client_msg2(struct tchan *ch, const uint8_t *pkt, size_t len, uint64_t now_ms)
{
	struct hs_sym s = ch->hs;
	uint8_t e[32], dh[32], mask[TC_KEY_LEN], pt[8];
	int rc = -EBADMSG;

	if (len < MSG2_LEN || len > HS_MAX_LEN)
		return -EBADMSG;
	memcpy(e, pkt, 32);
	tc_subkey(mask, ch->psk, "sluice-tunnel-v1 mask2");
	tc_mask(mask, pkt + MSG2_LEN - TCHAN_MAC_LEN, e, 32);
	hs_mix_hash(&s, e, 32);
	hs_mix_key(&s, e, 32);
	if (crypto_scalarmult(dh, ch->e_priv, e) != 0)
		goto out_wipe;
	hs_mix_key(&s, dh, sizeof(dh));
	if (hs_open(&s, pt, pkt + 32, MSG2_CT_LEN) < 0)
		goto out_wipe;
	ch->cur = 0;
	hs_split(&s, &ch->ks[0], true, now_ms);
	ch->ks[0].send_tag = tc_load64(pt);
	ch->ks[0].recv_tag = ch->recv_tag0;
	ch->conv = conv_from(s.h);
	ch->state = ST_READY;
	ch->peer_switched = false;
	sodium_memzero(ch->e_priv, sizeof(ch->e_priv));
	sodium_memzero(&ch->hs, sizeof(ch->hs));
	send_confirm(ch, now_ms);
	rc = 0;
out_wipe:
	sodium_memzero(&s, sizeof(s));
	sodium_memzero(dh, sizeof(dh));
	sodium_memzero(mask, sizeof(mask));
	return rc;
}

int tchan_input(struct tchan *ch, const uint8_t *pkt, size_t len, uint64_t now_ms,
		uint8_t *out, size_t cap, size_t *plen)
{
	*plen = 0;
	if (ch->state == ST_CLIENT_HS) {
		if (client_msg2(ch, pkt, len, now_ms) < 0) {
			ch->st.bad_pkts++;
			return -EBADMSG;
		}
		return 0;
	}
	return chan_data_input(ch, pkt, len, now_ms, out, cap, plen);
}

/* ---- server ---- */

struct tchan_server *tchan_server_new(const uint8_t psk[static TCHAN_KEY_LEN], uint64_t now_ms,
				      uint64_t wall_ms, tchan_rng_fn rng, void *rng_ctx)
{
	struct tchan_server *srv;

	if (sodium_init() != 1 || !rng)
		return NULL;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return NULL;
	srv->tag_cap = 64;
	srv->tags = calloc(srv->tag_cap, sizeof(*srv->tags));
	if (!srv->tags) {
		free(srv);
		return NULL;
	}
	memcpy(srv->psk, psk, TCHAN_KEY_LEN);
	tc_subkey(srv->mask1, psk, "sluice-tunnel-v1 mask1");
	tc_subkey(srv->mask2, psk, "sluice-tunnel-v1 mask2");
	hs_base(&srv->base, psk);
	srv->rng = rng;
	srv->rng_ctx = rng_ctx;
	srv->max_channels = DEFAULT_MAX_CHANNELS;
	tchan_server_set_wall(srv, now_ms, wall_ms);
	return srv;
}

void tchan_server_set_wall(struct tchan_server *srv, uint64_t now_ms, uint64_t wall_ms)
{
	srv->wall_off = (int64_t)(wall_ms - now_ms);
}

void tchan_server_set_max(struct tchan_server *srv, size_t max_channels)
{
	srv->max_channels = max_channels;
}

static size_t cache_bucket(const uint8_t e[32])
{
	return (size_t)(e[0] | e[1] << 8) % HS_CACHE_BUCKETS * HS_CACHE_WAYS;
}

static struct hs_cache_entry *cache_find(struct tchan_server *srv, const uint8_t e[32])
{
	struct hs_cache_entry *b = &srv->cache[cache_bucket(e)];

	for (int i = 0; i < HS_CACHE_WAYS; i++)
		if (b[i].used && memcmp(b[i].e, e, 32) == 0)
			return &b[i];
	return NULL;
}

/*
 * Remember an accepted msg1. A full bucket evicts its oldest entry and
 * raises the floor to its timestamp: msg1 at or below the floor is refused,
 * so an evicted msg1 can never be replayed. Entries whose timestamp left the
 * window are free without raising it.
 */
static int cache_add(struct tchan_server *srv, const uint8_t e[32], uint64_t ts, uint64_t wall,
		     struct tchan *ch)
{
	size_t base = cache_bucket(e);
	struct hs_cache_entry *b = &srv->cache[base];
	int victim = 0;

	for (int i = 0; i < HS_CACHE_WAYS; i++) {
		if (!b[i].used || b[i].ts + TCHAN_HS_WINDOW_MS < wall) {
			victim = i;
			goto put;
		}
		if (b[i].ts < b[victim].ts)
			victim = i;
	}
	if (b[victim].ts > srv->floor_ts)
		srv->floor_ts = b[victim].ts;
put:
	if (b[victim].used && b[victim].ch)
		b[victim].ch->cache_slot = -1;
	memcpy(b[victim].e, e, 32);
	b[victim].ts = ts;
	b[victim].used = true;
	b[victim].ch = ch;
	return (int)(base + (size_t)victim);
}

/* Answer msg1 (already authenticated and fresh): make a channel and its msg2. */
static struct tchan *server_accept(struct tchan_server *srv, struct hs_sym *s, const uint8_t e[32],
				   uint64_t ctag, uint64_t now_ms)
{
	uint8_t priv[32], pub[32], dh[32], pt[8];
	struct tchan *ch;
	uint8_t *m;

	ch = chan_alloc(srv->psk, srv->rng, srv->rng_ctx);
	if (!ch)
		return NULL;
	gen_ephemeral(srv->rng, srv->rng_ctx, priv, pub);
	hs_mix_hash(s, pub, 32);
	hs_mix_key(s, pub, 32);
	if (crypto_scalarmult(dh, priv, e) != 0)
		goto out_free;
	hs_mix_key(s, dh, sizeof(dh));
	ch->next = 0;
	ch->ks[0].recv_tag = srv_new_tag(srv);
	tc_store64(pt, ch->ks[0].recv_tag);
	m = ch->msg2;
	hs_seal(s, m + 32, pt, sizeof(pt));
	memcpy(m, pub, 32);
	tc_mask(srv->mask2, m + MSG2_LEN - TCHAN_MAC_LEN, m, 32);
	ch->msg2_len = MSG2_LEN + rand_pad(srv->rng, srv->rng_ctx, m + MSG2_LEN);
	ch->msg2_unsent = true;
	hs_split(s, &ch->ks[0], false, now_ms);
	ch->ks[0].recv_tag = tc_load64(pt);
	ch->ks[0].send_tag = ctag;
	if (tag_insert(srv, ch->ks[0].recv_tag, ch) < 0)
		goto out_free;
	ch->conv = conv_from(s->h);
	ch->srv = srv;
	ch->state = ST_SERVER_PENDING;
	ch->created_ms = now_ms;
	sodium_memzero(priv, sizeof(priv));
	sodium_memzero(dh, sizeof(dh));
	return ch;
out_free:
	sodium_memzero(priv, sizeof(priv));
	sodium_memzero(dh, sizeof(dh));
	sodium_memzero(ch, sizeof(*ch));
	free(ch);
	return NULL;
}

/* A datagram that is no known channel's: msg1 or noise. */
static int server_msg1(struct tchan_server *srv, const uint8_t *pkt, size_t len, uint64_t now_ms,
		       struct tchan **chp)
{
	struct hs_sym s = srv->base;
	struct hs_cache_entry *ce;
	uint8_t e[32], pt[16];
	uint64_t ts, wall = now_ms + (uint64_t)srv->wall_off;
	struct tchan *ch;
	int rc = TCHAN_NONE;

	if (len < MSG1_LEN || len > HS_MAX_LEN)
		return TCHAN_NONE;
	memcpy(e, pkt, 32);
	tc_mask(srv->mask1, pkt + MSG1_LEN - TCHAN_MAC_LEN, e, 32);
	hs_mix_hash(&s, e, 32);
	hs_mix_key(&s, e, 32);
	if (hs_open(&s, pt, pkt + 32, MSG1_CT_LEN) < 0) {
		srv->st.hs_bad++;
		goto out_wipe;
	}
	ts = tc_load64(pt);
	if (ts + TCHAN_HS_WINDOW_MS < wall || ts > wall + TCHAN_HS_WINDOW_MS) {
		srv->st.hs_stale++;
		goto out_wipe;
	}
	ce = cache_find(srv, e);
	if (ce || ts <= srv->floor_ts) {
		srv->st.hs_replay++;
		/* The client did not get our msg2: send it again, same bytes. */
		if (ce && ce->ch && ce->ch->state == ST_SERVER_PENDING) {
			ce->ch->st.hs_retrans++;
			do_emit(ce->ch, ce->ch->msg2, ce->ch->msg2_len);
		}
		goto out_wipe;
	}
	if (srv->nchan >= srv->max_channels) {
		srv->st.hs_full++;
		goto out_wipe;
	}
	ch = server_accept(srv, &s, e, tc_load64(pt + 8), now_ms);
	if (!ch)
		goto out_wipe;
	ch->cache_slot = cache_add(srv, e, ts, wall, ch);
	srv->nchan++;
	srv->st.hs_ok++;
	*chp = ch;
	rc = TCHAN_NEW;
out_wipe:
	sodium_memzero(&s, sizeof(s));
	sodium_memzero(pt, sizeof(pt));
	return rc;
}

int tchan_server_input(struct tchan_server *srv, const uint8_t *pkt, size_t len, uint64_t now_ms,
		       struct tchan **chp, uint8_t *out, size_t cap, size_t *plen)
{
	struct tag_slot *t;

	*chp = NULL;
	*plen = 0;
	if (len >= TCHAN_OVERHEAD && (t = tag_find(srv, tc_load64(pkt))) != NULL) {
		struct tchan *ch = t->ch;
		int rc = chan_data_input(ch, pkt, len, now_ms, out, cap, plen);

		if (rc < 0)
			return TCHAN_NONE;
		*chp = ch;
		return rc == 1 ? TCHAN_DATA : TCHAN_CTRL;
	}
	return server_msg1(srv, pkt, len, now_ms, chp);
}

/* ---- common ---- */

void tchan_set_emit(struct tchan *ch, tchan_emit_fn emit, void *user)
{
	ch->emit = emit;
	ch->user = user;
}

void tchan_flush(struct tchan *ch)
{
	if (ch->msg2_unsent && ch->emit) {
		ch->msg2_unsent = false;
		do_emit(ch, ch->msg2, ch->msg2_len);
	}
}

bool tchan_is_ready(const struct tchan *ch)
{
	return ch->state == ST_READY;
}

bool tchan_is_dead(const struct tchan *ch)
{
	return ch->state == ST_DEAD;
}

int tchan_send(struct tchan *ch, const uint8_t *payload, size_t len, uint64_t now_ms)
{
	int rc;

	if (len > TCHAN_MAX_PAYLOAD)
		return -EMSGSIZE;
	if (ch->state != ST_READY)
		return ch->state == ST_DEAD ? -EKEYEXPIRED : -ENOTCONN;
	if (now_ms >= ch->ks[ch->cur].born_ms + reject_after_ms(ch))
		return -EKEYEXPIRED;
	if (ch->pad_max && len < ch->pad_cap) {
		uint8_t r[2];
		size_t pad;

		ch->rng(ch->rng_ctx, r, sizeof(r));
		pad = ((size_t)r[0] << 8 | r[1]) % (ch->pad_max + 1u);
		if (pad > ch->pad_cap - len - 1)
			pad = ch->pad_cap - len - 1;
		rc = seal_emit_pad(ch, ch->cur, PT_DATA_PAD, payload, len, (int)pad);
	} else {
		rc = seal_emit(ch, ch->cur, PT_DATA, payload, len);
	}
	if (ch->is_client && !ch->rk_pending && ch->ks[ch->cur].send_ctr >= REKEY_AFTER_PKTS)
		rekey_start(ch, now_ms);
	return rc;
}

static void chan_kill(struct tchan *ch)
{
	ch->state = ST_DEAD;
	sodium_memzero(ch->e_priv, sizeof(ch->e_priv));
	sodium_memzero(ch->rk_priv, sizeof(ch->rk_priv));
}

void tchan_tick(struct tchan *ch, uint64_t now_ms)
{
	struct keyset *cur;

	switch (ch->state) {
	case ST_DEAD:
		return;
	case ST_CLIENT_HS:
		if (now_ms >= ch->hs_start_ms + TCHAN_HS_GIVEUP_MS) {
			chan_kill(ch);
			return;
		}
		if (now_ms >= ch->hs_next_ms) {
			ch->st.hs_retrans++;
			do_emit(ch, ch->msg1, ch->msg1_len);
			ch->hs_gap_ms = ch->hs_gap_ms * 2 > HS_RETX_MAX_MS ? HS_RETX_MAX_MS
									: ch->hs_gap_ms * 2;
			ch->hs_next_ms = now_ms + ch->hs_gap_ms;
		}
		return;
	case ST_SERVER_PENDING:
		if (now_ms >= ch->created_ms + TCHAN_SRV_PENDING_MS)
			chan_kill(ch);
		return;
	case ST_READY:
		break;
	}
	if (ch->prev != KS_NONE && now_ms > ch->ks[ch->prev].expire_ms) {
		srv_detach_slot(ch, ch->prev);
		ch->prev = KS_NONE;
	}
	cur = &ch->ks[ch->cur];
	if (now_ms >= cur->born_ms + reject_after_ms(ch)) {
		chan_kill(ch);
		return;
	}
	if (!ch->is_client)
		return;
	if (!ch->rk_pending) {
		if (now_ms >= cur->born_ms + ch->rekey_ms || cur->send_ctr >= REKEY_AFTER_PKTS ||
		    cur->rw.top >= REKEY_AFTER_PKTS)
			rekey_start(ch, now_ms);
	} else if (now_ms >= ch->rk_next_ms) {
		ch->st.hs_retrans++;
		seal_emit(ch, ch->cur, PT_REKEY1, ch->rk_body, sizeof(ch->rk_body));
		ch->rk_gap_ms = ch->rk_gap_ms * 2 > REKEY_RETX_MAX_MS ? REKEY_RETX_MAX_MS
								      : ch->rk_gap_ms * 2;
		ch->rk_next_ms = now_ms + ch->rk_gap_ms;
	}
}

static uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

uint64_t tchan_next_tick(const struct tchan *ch, uint64_t now_ms)
{
	const struct keyset *cur;
	uint64_t t = UINT64_MAX;

	switch (ch->state) {
	case ST_DEAD:
		return UINT64_MAX;
	case ST_CLIENT_HS:
		return min64(ch->hs_next_ms, ch->hs_start_ms + TCHAN_HS_GIVEUP_MS);
	case ST_SERVER_PENDING:
		return ch->created_ms + TCHAN_SRV_PENDING_MS;
	case ST_READY:
		break;
	}
	cur = &ch->ks[ch->cur];
	t = cur->born_ms + reject_after_ms(ch);
	if (ch->prev != KS_NONE && ch->ks[ch->prev].expire_ms != UINT64_MAX)
		t = min64(t, ch->ks[ch->prev].expire_ms + 1);
	if (ch->is_client)
		t = min64(t, ch->rk_pending ? ch->rk_next_ms : cur->born_ms + ch->rekey_ms);
	return t;
}

void tchan_set_padding(struct tchan *ch, unsigned int max, size_t cap)
{
	ch->pad_max = max > TCHAN_PAD_MAX ? TCHAN_PAD_MAX : max;
	ch->pad_cap = cap > TCHAN_MAX_PAYLOAD ? TCHAN_MAX_PAYLOAD : cap;
}

void tchan_set_rekey_interval(struct tchan *ch, uint64_t ms)
{
	ch->rekey_ms = ms ? ms : TCHAN_REKEY_MS;
}

uint32_t tchan_conv(const struct tchan *ch)
{
	return ch->conv;
}

void tchan_get_stats(const struct tchan *ch, struct tchan_stats *st)
{
	*st = ch->st;
}

void tchan_free(struct tchan *ch)
{
	if (!ch)
		return;
	if (ch->srv) {
		for (int i = 0; i < 3; i++)
			if (ch->ks[i].valid && (i == ch->cur || i == ch->prev || i == ch->next))
				tag_remove(ch->srv, ch->ks[i].recv_tag);
		if (ch->cache_slot >= 0 && ch->srv->cache[ch->cache_slot].ch == ch)
			ch->srv->cache[ch->cache_slot].ch = NULL;
		ch->srv->nchan--;
	}
	sodium_memzero(ch, sizeof(*ch));
	free(ch);
}

void tchan_server_free(struct tchan_server *srv)
{
	if (!srv)
		return;
	for (size_t i = 0; i < srv->tag_cap; i++)
		if (srv->tags[i].tag)
			srv->tags[i].ch->srv = NULL;
	free(srv->tags);
	sodium_memzero(srv, sizeof(*srv));
	free(srv);
}

size_t tchan_server_count(const struct tchan_server *srv)
{
	return srv->nchan;
}

void tchan_server_get_stats(const struct tchan_server *srv, struct tchan_server_stats *st)
{
	*st = srv->st;
	st->channels = srv->nchan;
}

int tchan_key_parse(const char *text, uint8_t key[static TCHAN_KEY_LEN], const char **why)
{
	const char *msg = NULL;
	size_t n = strlen(text), binlen = 0;
	const char *end = NULL;

	while (n && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' ' ||
		     text[n - 1] == '\t'))
		n--;
	if (n == 0) {
		msg = "the key is empty (make one with `sluice genkey`)";
	} else if (n != 44) {
		msg = "the key must be 44 base64 characters (32 bytes; make one with `sluice genkey`)";
	} else if (sodium_base642bin(key, TCHAN_KEY_LEN, text, n, NULL, &binlen, &end,
				     sodium_base64_VARIANT_ORIGINAL) != 0 ||
		   binlen != TCHAN_KEY_LEN || end != text + n) {
		msg = "the key is not valid base64 of 32 bytes";
	}
	if (msg) {
		sodium_memzero(key, TCHAN_KEY_LEN);
		if (why)
			*why = msg;
		return -EINVAL;
	}
	return 0;
}
