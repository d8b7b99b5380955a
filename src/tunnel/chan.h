/*
 * tchan: the tunnel's secure datagram channel between two peers that share
 * a 32-byte pre-shared key (PSK). libsodium only; sans-I/O: time and
 * randomness are parameters, packets leave through an emit callback.
 *
 * - Handshake in the spirit of Noise NNpsk0 (ephemeral X25519 on both
 *   sides, mixed with the PSK, BLAKE2b key chain): forward secrecy and
 *   mutual authentication by the PSK, one round trip. msg1 proves knowledge
 *   of the PSK before the server does any X25519 work or keeps any state,
 *   carries a wall-clock timestamp (window +-TCHAN_HS_WINDOW_MS) and is
 *   remembered in a bounded replay cache, so a replayed or spoofed msg1
 *   never opens a second session.
 * - Data: ChaCha20-Poly1305 IETF, header (receiver tag + 64-bit counter) as
 *   associated data, counter masked on the wire, anti-replay window of
 *   TCHAN_REPLAY_WINDOW packets, rekey every TCHAN_REKEY_MS (client-driven)
 *   with the old receive keys kept for TCHAN_OLD_KEYS_MS.
 * - Nothing on the wire is in the clear: handshake messages are uniformly
 *   random bytes of random length; data packets are a random-looking 8-byte
 *   tag followed by random-looking bytes.
 * See docs/internals/tunnel-crypto.md for the wire format and key schedule.
 *
 * The application must call sodium_init() once before any tchan_*_new();
 * the constructors return NULL if it has not.
 *
 * Emission: packets go out through the emit callback, which may be called
 * from tchan_client_new, tchan_input, tchan_server_input, tchan_send,
 * tchan_tick and tchan_flush (a channel with no emit callback set drops
 * what it would emit, except a server's msg2 which waits for tchan_flush).
 *
 * Changes from the brief's contract (docs/internals/tunnel-crypto.md):
 * - tchan_client_new and tchan_server_new take a wall_ms argument (wall
 *   clock, ms since the Unix epoch) because now_ms is monotonic and the msg1
 *   timestamp must be comparable across hosts; tchan_server_set_wall()
 *   re-anchors the server's wall clock (call it now and then, e.g. once a
 *   second, so an NTP step is followed).
 * - tchan_key_parse takes a `const char **why` for a human error message.
 * - tchan_server_input may also return TCHAN_CTRL.
 * - Added: tchan_set_emit, tchan_flush, tchan_is_dead, tchan_server_count,
 *   tchan_server_get_stats, tchan_get_stats, tchan_set_rekey_interval.
 */
#ifndef SLUICE_TUNNEL_CHAN_H
#define SLUICE_TUNNEL_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TCHAN_KEY_LEN		32
#define TCHAN_TAG_LEN		8	/* receiver tag at the start of every data packet */
#define TCHAN_HEADER_LEN	16	/* tag + masked counter */
#define TCHAN_MAC_LEN		16
/* Bytes a data packet adds to its payload: header, 1 inner type byte, MAC. */
#define TCHAN_OVERHEAD		(TCHAN_HEADER_LEN + 1 + TCHAN_MAC_LEN)
#define TCHAN_MAX_PAYLOAD	1400	/* largest payload tchan_send takes */
#define TCHAN_MAX_PACKET	(TCHAN_MAX_PAYLOAD + TCHAN_OVERHEAD) /* largest datagram emitted */
#define TCHAN_PAD_MAX		255	/* tchan_set_padding's largest max */

#define TCHAN_REPLAY_WINDOW	4032	/* packets behind the newest still accepted once */
#define TCHAN_HS_WINDOW_MS	120000	/* msg1 timestamp tolerance, either way */
#define TCHAN_REKEY_MS		120000	/* default rekey interval */
#define TCHAN_OLD_KEYS_MS	10000	/* old receive keys kept after a switch */
#define TCHAN_HS_GIVEUP_MS	90000	/* client: no msg2 for this long -> dead */
#define TCHAN_SRV_PENDING_MS	30000	/* server: no packet after msg2 for this long -> dead */

/* Fill buf with n random bytes (randombytes_buf in production). */
typedef void (*tchan_rng_fn)(void *ctx, uint8_t *buf, size_t n);
/* Send one datagram to the peer (<= TCHAN_MAX_PACKET bytes). */
typedef void (*tchan_emit_fn)(void *user, const uint8_t *pkt, size_t len);

struct tchan;		/* one peer-to-peer session (either side); owned by the app */
struct tchan_server;	/* accepts handshakes, routes packets to channels by tag */

/*
 * Client: starts the handshake at once (emits msg1), retransmits it from
 * tchan_tick with exponential backoff (500 ms doubling, capped at 8 s).
 * wall_ms: wall-clock time (ms since the epoch) for the msg1 timestamp.
 * The PSK is copied. rng/rng_ctx and user are borrowed. NULL on ENOMEM or
 * if sodium_init() has not been called.
 */
struct tchan *tchan_client_new(const uint8_t psk[static TCHAN_KEY_LEN], uint64_t now_ms,
			       uint64_t wall_ms, tchan_rng_fn rng, void *rng_ctx,
			       tchan_emit_fn emit, void *user);

/* Server side. The PSK is copied, rng borrowed. NULL as for the client. */
struct tchan_server *tchan_server_new(const uint8_t psk[static TCHAN_KEY_LEN], uint64_t now_ms,
				      uint64_t wall_ms, tchan_rng_fn rng, void *rng_ctx);
/* Re-anchor the server's wall clock: wall_ms is the wall time at now_ms. */
void tchan_server_set_wall(struct tchan_server *srv, uint64_t now_ms, uint64_t wall_ms);
/* Most channels the server holds at once (default 4096); msg1 beyond it is dropped. */
void tchan_server_set_max(struct tchan_server *srv, size_t max_channels);

enum {
	TCHAN_NONE = 0,	/* handled inside (handshake retransmission answered) or dropped */
	TCHAN_DATA = 1,	/* *ch: its channel; payload (*plen bytes, maybe 0) in out */
	TCHAN_NEW = 2,	/* *ch: a new channel (set emit with tchan_set_emit, then tchan_flush) */
	TCHAN_CTRL = 3,	/* *ch: an authenticated control packet (rekey, key confirmation),
			 * no payload: only update the peer address */
};

/*
 * A datagram from the wire at the server. On TCHAN_DATA, TCHAN_NEW and
 * TCHAN_CTRL the packet was authenticated: the app should record its source
 * address as the channel's peer address (roaming). On TCHAN_NONE, *ch is
 * NULL and nothing changed for the caller. Packets that do not prove the PSK
 * create no state. out must hold cap bytes; a payload larger than cap is
 * dropped (TCHAN_NONE). Never fails otherwise.
 */
int tchan_server_input(struct tchan_server *srv, const uint8_t *pkt, size_t len, uint64_t now_ms,
		       struct tchan **ch, uint8_t *out, size_t cap, size_t *plen);

/*
 * A datagram for a known channel (client side, or a server channel).
 * 1: payload (*plen bytes, maybe 0) in out; 0: authenticated, nothing for
 * the caller (msg2, rekey, confirmation: check tchan_is_ready after it);
 * -errno: dropped (-EBADMSG failed authentication / not ours, -EALREADY
 * replay, -ESTALE too old for the window, -EKEYEXPIRED keys past their
 * lifetime, -ENOBUFS payload larger than cap: the packet is consumed).
 */
int tchan_input(struct tchan *ch, const uint8_t *pkt, size_t len, uint64_t now_ms,
		uint8_t *out, size_t cap, size_t *plen);

/* Set (or change) the emit callback of a channel; user is borrowed. */
void tchan_set_emit(struct tchan *ch, tchan_emit_fn emit, void *user);
/* Emit what waits for an emit callback (a new server channel's msg2). */
void tchan_flush(struct tchan *ch);

/*
 * Keys established and sending allowed. Client: after msg2 arrived.
 * Server: after the first authenticated packet from the client (the client
 * sends a key confirmation right after msg2, so this follows at once).
 */
bool tchan_is_ready(const struct tchan *ch);
/*
 * The channel can no longer work: the handshake did not complete (client:
 * TCHAN_HS_GIVEUP_MS; server: no authenticated packet TCHAN_SRV_PENDING_MS
 * after msg1), or its keys expired without a rekey. The app frees it.
 */
bool tchan_is_dead(const struct tchan *ch);

/*
 * Seal one payload (0..TCHAN_MAX_PAYLOAD bytes) and emit it. 0, -EMSGSIZE,
 * -ENOTCONN (not ready yet), -EKEYEXPIRED (keys too old / too many packets
 * and no rekey succeeded).
 */
int tchan_send(struct tchan *ch, const uint8_t *payload, size_t len, uint64_t now_ms);

void tchan_tick(struct tchan *ch, uint64_t now_ms);	/* handshake retries, rekey, key expiry */
/* Absolute ms of the next tchan_tick that has work; UINT64_MAX if none. */
uint64_t tchan_next_tick(const struct tchan *ch, uint64_t now_ms);
/*
 * Random padding of data packets: each gets 0..max (<= TCHAN_PAD_MAX) extra
 * bytes, uniformly, inside the AEAD, as long as payload + padding + 1 stays
 * within cap (the path's payload limit, <= TCHAN_MAX_PAYLOAD); a payload
 * too close to cap goes unpadded. Hides the sizes of small packets (acks,
 * keystrokes) at some bandwidth. Off (0) by default. A receiver always
 * understands padded packets, whatever its own setting.
 */
void tchan_set_padding(struct tchan *ch, unsigned int max, size_t cap);
/* Rekey interval (default TCHAN_REKEY_MS); keys expire at 3x this. Client-driven. */
void tchan_set_rekey_interval(struct tchan *ch, uint64_t ms);

/* A per-session id both ends know (for the arq conv); 0 until keys exist; stable across rekeys. */
uint32_t tchan_conv(const struct tchan *ch);

/* Wipes keys; also detaches from its server. NULL is fine. */
void tchan_free(struct tchan *ch);
/* Channels still alive are detached (they keep working through tchan_input). */
void tchan_server_free(struct tchan_server *srv);

struct tchan_server_stats {
	uint64_t channels;	/* alive now (== tchan_server_count) */
	uint64_t hs_ok;		/* msg1 accepted: new channels */
	uint64_t hs_bad;	/* msg1-sized datagrams that did not authenticate */
	uint64_t hs_stale;	/* msg1 with a timestamp outside the window */
	uint64_t hs_replay;	/* msg1 seen before (answered if its channel waits for it) */
	uint64_t hs_full;	/* msg1 dropped: too many channels */
	uint64_t data_bad;	/* packets with a known tag that failed authentication */
};
size_t tchan_server_count(const struct tchan_server *srv);
void tchan_server_get_stats(const struct tchan_server *srv, struct tchan_server_stats *st);

struct tchan_stats {
	uint64_t sent_pkts, recv_pkts;	/* data and control packets sealed / opened */
	uint64_t bad_pkts;		/* failed authentication */
	uint64_t replayed_pkts;		/* duplicate or too old */
	uint64_t rekeys;		/* completed key switches */
	uint64_t hs_retrans;		/* msg1 / rekey retransmissions */
};
void tchan_get_stats(const struct tchan *ch, struct tchan_stats *st);

/*
 * Parse a key file's content: standard base64 (44 characters, '=' padded)
 * of 32 bytes, optionally followed by whitespace (a newline). 0, or -EINVAL
 * with *why (if why is not NULL) set to a static message.
 */
int tchan_key_parse(const char *text, uint8_t key[static TCHAN_KEY_LEN], const char **why);

#endif
