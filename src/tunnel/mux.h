/*
 * mux: many streams inside one reliable byte stream (the arq's).
 *
 * Sans-I/O: bytes from the arq go in through mux_input(), frames for the
 * arq come out of mux_pull(); time is an argument. Not thread-safe: a mux
 * belongs to one worker.
 *
 * Wire format: a sequence of frames, each a 7-byte header and a payload
 * (integers big-endian):
 *
 *   type u8 | stream id u32 | len u16 | payload[len]
 *
 *   1 OPEN       dest: atyp u8 (1 IPv4 + 4 bytes, 4 IPv6 + 16 bytes,
 *                3 name: len u8 (1..255) + bytes), port u16
 *   2 OPEN_OK    empty
 *   3 OPEN_FAIL  reason u8
 *   4 DATA       stream bytes (0..65535; we emit at most MUX_QUANTUM)
 *   5 WINDOW     credit increment u32 (bytes the sender may send more)
 *   6 FIN        empty: no more DATA from the sender (half-close)
 *   7 RST        reason u8: the stream is aborted both ways
 *   8 PING       8 opaque bytes, stream id 0
 *   9 PONG       the 8 bytes of the PING it answers, stream id 0
 *  10 GOAWAY     reason u8, stream id 0: the sender is closing the whole
 *                session (shutdown); the receiver drops it at once instead
 *                of waiting for the keepalive timeout
 *
 * Stream ids: the client opens odd ids, the server even ones (it never
 * opens any today), each side strictly increasing, never reused. A frame for
 * a stream that is not open is ignored (it raced a close). A malformed frame
 * (unknown type, bad length, a bad OPEN, an OPEN reusing an id) is a
 * protocol error: mux_input() returns -EPROTO and the whole mux is unusable.
 *
 * Flow control: each stream starts with params.window bytes of credit in
 * each direction; a receiver grants more (WINDOW) as the application
 * consumes bytes, so a stream never has more than its window of unread
 * bytes buffered at the receiver and one slow reader never holds up the
 * other streams or the arq. A peer that sends past its credit gets the
 * stream reset (MUX_R_FLOW). Auto-tuning: while the reader keeps up (little
 * is buffered when a grant goes out) the stream's window doubles, up to
 * params.max_window, so one stream can fill a long fat link; a reader that
 * stalls stops the growth, and memory stays bounded by max_window.
 *
 * Fairness: mux_pull() emits control frames first, then DATA round-robin
 * over the streams that have bytes and credit, at most MUX_QUANTUM bytes
 * per stream per turn.
 *
 * Keepalive: when nothing arrived for keepalive_ms, mux_tick() queues a PING
 * (the peer answers PONG); after timeout_ms with nothing at all from the
 * peer, mux_tick() returns -ETIMEDOUT (the peer is dead).
 *
 * Ownership: the mux owns its streams; the application holds borrowed
 * pointers to them until it calls mux_stream_free() (which it must do for
 * every stream it opened or was given in on_open, whatever happened to it).
 * mux_free() frees everything without callbacks.
 *
 * Callbacks run from mux_input() (on_open, on_open_result, on_data,
 * on_reset, on_goaway), mux_pull() (on_sent) and mux_kill() (on_reset). They may call
 * the mux_stream_*() functions, including mux_stream_free() on the stream
 * they are about, but not mux_input(), mux_pull(), mux_kill() or mux_free().
 */
#ifndef SLUICE_TUNNEL_MUX_H
#define SLUICE_TUNNEL_MUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MUX_HDR_LEN		7
#define MUX_QUANTUM		16384	/* largest DATA payload we emit */
#define MUX_WINDOW_DEFAULT	(256 * 1024)
#define MUX_WINDOW_MAX_DEFAULT	(16 * 1024 * 1024)
#define MUX_CTRL_MAX		(1024 * 1024)	/* queued control bytes before PONGs are dropped */
#define MUX_OPEN_MAX		(MUX_HDR_LEN + 1 + 1 + 255 + 2)

enum mux_type {
	MUX_OPEN = 1,
	MUX_OPEN_OK,
	MUX_OPEN_FAIL,
	MUX_DATA,
	MUX_WINDOW,
	MUX_FIN,
	MUX_RST,
	MUX_PING,
	MUX_PONG,
	MUX_GOAWAY,
};

/* Why a stream failed to open or was reset. On the wire as one byte. */
enum mux_reason {
	MUX_R_NONE = 0,
	MUX_R_GENERAL = 1,	/* anything else */
	MUX_R_NOT_ALLOWED = 2,	/* destination policy (SOCKS 2, HTTP 403) */
	MUX_R_NET_UNREACH = 3,
	MUX_R_HOST_UNREACH = 4,
	MUX_R_REFUSED = 5,
	MUX_R_TIMEOUT = 6,
	MUX_R_NO_NAME = 7,	/* the name does not resolve */
	MUX_R_DNS_FAIL = 8,	/* the resolver failed */
	MUX_R_CANCEL = 9,	/* the other side gave up on the stream */
	MUX_R_FLOW = 10,	/* flow-control violation */
	MUX_R_RESOURCE = 11,	/* out of memory / too many streams */
	MUX_R_RESET = 12,	/* the far end's connection was reset */
	MUX_R_DEAD = 13,	/* local only: the tunnel died (mux_kill) */
	MUX_R_PROTO = 14,	/* local only: the peer broke the protocol */
};

/* -errno for a reason (what an ingress turns into its error reply). */
int mux_reason_errno(uint8_t reason);
/* A reason for a dial / relay error (-errno). */
uint8_t mux_reason_from_errno(int err);
const char *mux_reason_str(uint8_t reason);

enum mux_dest_type {
	MUX_DEST_IPV4 = 1,
	MUX_DEST_NAME = 3,
	MUX_DEST_IPV6 = 4,
};

struct mux_dest {
	uint8_t type;		/* enum mux_dest_type */
	uint8_t addr[16];	/* IPv4 (4 bytes) or IPv6, network order */
	char name[256];		/* MUX_DEST_NAME: NUL-terminated, 1..255 bytes, no NUL inside */
	uint16_t port;
};

/*
 * Encode / decode an OPEN payload (atyp ... port). encode: bytes written or
 * -EINVAL; decode: 0 or -EPROTO. Exposed for tests.
 */
int mux_dest_encode(const struct mux_dest *d, uint8_t *out, size_t cap);
int mux_dest_decode(const uint8_t *p, size_t n, struct mux_dest *d);

struct mux_params {
	bool client;		/* opens odd ids */
	uint32_t window;	/* initial per-stream credit, bytes (default MUX_WINDOW_DEFAULT) */
	uint32_t max_window;	/* auto-tuning limit (default MUX_WINDOW_MAX_DEFAULT) */
	uint32_t max_streams;	/* peer OPENs beyond this are refused (default 4096) */
	uint32_t keepalive_ms;	/* PING after this long without input (default 10000) */
	uint32_t timeout_ms;	/* dead after this long without input (default 30000) */
};
void mux_params_default(struct mux_params *p, bool client);

struct mux;
struct mux_stream;

struct mux_ops {
	/*
	 * Server: the peer opened s towards d. Answer with mux_accept() or
	 * mux_refuse(), now or later. NULL: every OPEN is refused.
	 */
	void (*on_open)(void *user, struct mux_stream *s, const struct mux_dest *d);
	/* Client: the answer to mux_open(): MUX_R_NONE = open, else refused. */
	void (*on_open_result)(void *user, struct mux_stream *s, uint8_t reason);
	/* New bytes to mux_stream_peek(), or the peer's FIN (mux_stream_is_eof()). */
	void (*on_data)(void *user, struct mux_stream *s);
	/* The buffer given to mux_stream_write() is framed: it is the caller's again. */
	void (*on_sent)(void *user, struct mux_stream *s);
	/* The stream was reset (by the peer, a flow violation or mux_kill()). */
	void (*on_reset)(void *user, struct mux_stream *s, uint8_t reason);
	/* The peer closes the session (GOAWAY). May be NULL. */
	void (*on_goaway)(void *user, uint8_t reason);
};

struct mux_stats {
	uint64_t frames_in, frames_out;
	uint64_t data_in, data_out;	/* DATA payload bytes */
	uint64_t opened, refused, resets_in, resets_out;
	uint64_t pings, pongs;
};

/* NULL when out of memory. ops and user are borrowed for the mux's life. */
struct mux *mux_new(const struct mux_params *p, const struct mux_ops *ops, void *user,
		    uint64_t now_ms);
/* Frees every stream (pointers the application still holds become invalid). */
void mux_free(struct mux *m);

/*
 * Bytes from the arq, any split. 0, or -EPROTO (the mux is then broken:
 * every further call fails the same way; tear the tunnel down).
 */
int mux_input(struct mux *m, const uint8_t *p, size_t n, uint64_t now_ms);

/*
 * Frames to write into the arq: whole frames only, at most cap bytes.
 * Returns the bytes written (0: nothing to send, or cap too small).
 */
size_t mux_pull(struct mux *m, uint8_t *buf, size_t cap);
bool mux_has_output(const struct mux *m);

/* Keepalive: 0, or -ETIMEDOUT when the peer is dead (nothing for timeout_ms). */
int mux_tick(struct mux *m, uint64_t now_ms);
/* Absolute ms at which mux_tick() has something to do. */
uint64_t mux_next_tick(const struct mux *m);

/* Queue a GOAWAY (the session is closing): send it before tearing down. */
void mux_goaway(struct mux *m, uint8_t reason);
/* Reset every stream with reason (on_reset for each), e.g. the tunnel died. */
void mux_kill(struct mux *m, uint8_t reason);
size_t mux_nstreams(const struct mux *m);
void mux_get_stats(const struct mux *m, struct mux_stats *st);

/* Client: open a stream to d (OPEN is queued). NULL: ENOMEM or bad dest. */
struct mux_stream *mux_open(struct mux *m, const struct mux_dest *d);
/* Server: answer an on_open. 0 or -EINVAL (already answered / reset). */
int mux_accept(struct mux_stream *s);
/* Refuse (OPEN_FAIL reason): the stream is then closed; free it. */
int mux_refuse(struct mux_stream *s, uint8_t reason);

/*
 * Send n bytes: the buffer is borrowed until on_sent (DATA frames are cut
 * from it as credit and mux_pull allow). 0, -EBUSY (a write is pending),
 * -EPIPE (after FIN or reset).
 */
int mux_stream_write(struct mux_stream *s, const uint8_t *p, size_t n);
bool mux_stream_write_pending(const struct mux_stream *s);
/* Half-close: FIN goes after any pending bytes. 0 or -EPIPE. */
int mux_stream_fin(struct mux_stream *s);

/* Received bytes: a contiguous run (0: none now). Stays valid until consumed. */
size_t mux_stream_peek(const struct mux_stream *s, const uint8_t **p);
size_t mux_stream_avail(const struct mux_stream *s);
/* Done with n peeked bytes: frees them and grants the peer credit. */
void mux_stream_consume(struct mux_stream *s, size_t n);
/* The peer sent FIN and every byte before it was consumed. */
bool mux_stream_is_eof(const struct mux_stream *s);
bool mux_stream_is_reset(const struct mux_stream *s);
/* Both FINs went (ours framed, theirs consumed): a clean end. */
bool mux_stream_is_done(const struct mux_stream *s);

/* Abort: RST reason to the peer, buffers dropped (no on_reset for this). */
void mux_stream_reset(struct mux_stream *s, uint8_t reason);
/*
 * The application lets go. A stream not cleanly done is reset (RST
 * MUX_R_CANCEL); when our FIN is still queued behind nothing, it goes.
 */
void mux_stream_free(struct mux_stream *s);

uint32_t mux_stream_id(const struct mux_stream *s);
void mux_stream_set_user(struct mux_stream *s, void *user);
void *mux_stream_user(const struct mux_stream *s);

#endif
