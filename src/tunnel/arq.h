/*
 * arq: a reliable, ordered byte stream over unreliable datagrams.
 *
 * Our own implementation of KCP's segment format and algorithms (written from
 * the published protocol description), in stream mode, plus what KCP lacks so
 * it is fast without hand-tuning: the send window follows the measured
 * bandwidth-delay product, new data is paced at a rate that follows the
 * delivery-rate estimate, the receive window grows on demand, and fast
 * retransmit counts only acks of segments sent *after* the lost one (so a
 * retransmission is not itself re-sent at once by old acks).
 *
 * Sans-I/O and deterministic: no sockets, clocks or randomness. Time (ms, any
 * monotonic origin) is an argument; packets leave through the output callback.
 * Not thread-safe: one engine belongs to one worker.
 *
 * Wire format (all integers little-endian, as in KCP). A packet is one or more
 * segments back to back, each a 24-byte header and len bytes of data:
 *
 *   off size field
 *   0   4    conv  conversation id; a packet with another conv is rejected
 *   4   1    cmd   81 PUSH (data), 82 ACK, 83 WASK (window probe), 84 WINS (window tell)
 *   5   1    frg   0 (stream mode: no message bounds); an ACK sent again (see below) has 1
 *   6   2    wnd   receive window free, in segments, of the sender of this segment
 *   8   4    ts    PUSH: send time (ms, mod 2^32); ACK: ts of the PUSH it acks (RTT echo)
 *   12  4    sn    PUSH: sequence number; ACK: the sn acked; else 0
 *   16  4    una   every sn below this was received (cumulative ack)
 *   20  4    len   bytes of data following (PUSH: 1..65535, else 0)
 *   24  len  data
 *
 * While the receiver has a hole, each ACK is sent twice (in consecutive ack
 * packets, the repeat with frg 1), so one lost ack packet does not make the
 * sender resend segments that arrived.
 *
 * arq_input() validates the whole packet before it changes any state and
 * rejects (-EPROTO): a truncated header, len past the end, an unknown cmd,
 * frg other than 0 (or 1 on an ACK), data on a non-PUSH or an empty PUSH, a PUSH sn further than
 * ARQ_SN_HORIZON ahead of what was delivered, an ACK for an sn never sent,
 * an una beyond what was sent. docs/internals/tunnel-arq.md has the details.
 *
 * Memory per engine is bounded: the send side holds at most params.sndbuf
 * bytes (queued + unacked, arq_send_room() is the backpressure), the receive
 * side at most rcv_wnd segments (out of order + not yet read by arq_recv);
 * the window advertised to the peer shrinks by what the application has not
 * read.
 */
#ifndef SLUICE_TUNNEL_ARQ_H
#define SLUICE_TUNNEL_ARQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARQ_HDR_LEN	24
#define ARQ_CMD_PUSH	81
#define ARQ_CMD_ACK	82
#define ARQ_CMD_WASK	83
#define ARQ_CMD_WINS	84
#define ARQ_FRG_REPEAT	1	/* frg of an ACK sent a second time */
#define ARQ_MTU_MIN	64
#define ARQ_MTU_MAX	65535
#define ARQ_WND_LIMIT	32768	/* largest window either side may use (segments) */
#define ARQ_SN_HORIZON	65536	/* a PUSH further ahead than this is malformed */

struct arq_params {
	uint32_t conv;		/* conversation id, both ends agree (taken from the channel) */
	uint32_t mtu;		/* largest packet the engine emits, default 1400 (chan overhead is extra) */
	uint32_t snd_wnd, rcv_wnd; /* segments; 0 = adaptive (grow to the measured BDP) */
	uint32_t interval_ms;	/* internal flush interval, default 10 */
	bool nodelay;		/* KCP nodelay: min RTO 30 ms, no RTO doubling (x1.5) */
	uint32_t fast_resend;	/* dup-ack count for fast retransmit, 0 = off, default 2 */
	bool no_cwnd;		/* disable congestion window */
	uint32_t dead_link;	/* retransmissions of one segment before the link is dead, default 20 */
	/* Additions to the agreed contract (defaults from arq_params_default): */
	uint32_t max_wnd;	/* cap for adaptive windows (segments), default 8192, <= ARQ_WND_LIMIT */
	uint32_t sndbuf;	/* send-side byte cap (queued + unacked), default 16 MiB */
	bool pacing;		/* pace new data at gain x delivery rate, default true */
	uint32_t min_rto_ms;	/* 0 = 30 with nodelay, else 100 */
};

/*
 * Defaults: mtu 1400, snd_wnd/rcv_wnd 0 (adaptive), interval 10, nodelay
 * true, fast_resend 2, no_cwnd false, dead_link 20, max_wnd 8192, sndbuf
 * 16 MiB, pacing true. conv 0 (set it). The windows are caps: the send ring,
 * the in-flight ring and held receive segments grow only as traffic needs.
 *
 * With no_cwnd false the engine keeps a congestion window that starts at 32
 * segments and follows 2 x the measured BDP (delivery-rate max filter x min
 * RTT), halving on an RTO; with no_cwnd true only snd_wnd (or, if 0, the
 * BDP target without the start-up ramp) and the peer's window limit what is
 * in flight. Random loss does not shrink the window (no Reno halving).
 */
void arq_params_default(struct arq_params *p);

/* Emit one packet (<= mtu bytes). Called only from arq_input, arq_flush, arq_tick. */
typedef void (*arq_output_fn)(void *user, const uint8_t *pkt, size_t len);

/* NULL on bad params (mtu outside [ARQ_MTU_MIN, ARQ_MTU_MAX], windows > ARQ_WND_LIMIT) or ENOMEM. */
struct arq *arq_new(const struct arq_params *p, uint64_t now_ms, arq_output_fn out, void *user);
void arq_free(struct arq *a);

/* Queue stream bytes; returns how many were taken (<= arq_send_room()). */
size_t arq_send(struct arq *a, const uint8_t *data, size_t len);
size_t arq_send_room(const struct arq *a);	/* bounded send queue: backpressure */

/*
 * 0 when the packet was valid (even if its segments were duplicates or
 * outside the window), -EPROTO for a malformed packet (dropped, state
 * unchanged), -EBADMSG wrong conv (dropped, state unchanged). May emit
 * packets (acks when many are pending, data the window now lets out).
 */
int arq_input(struct arq *a, const uint8_t *pkt, size_t len, uint64_t now_ms);

size_t arq_recv(struct arq *a, uint8_t *buf, size_t cap);	/* in-order bytes */
size_t arq_recv_avail(const struct arq *a);

void arq_flush(struct arq *a, uint64_t now_ms);	/* send what can go now (call after arq_send) */
void arq_tick(struct arq *a, uint64_t now_ms);	/* acks, retransmits, window probes */
/*
 * Last words before the engine is freed (a GOAWAY at shutdown): everything
 * queued goes out now, past pacing and the congestion window, since no one
 * will be around to send it later. The peer's receive window still holds.
 */
void arq_flush_final(struct arq *a, uint64_t now_ms);
/*
 * Absolute ms for the next tick: now_ms when acks are pending or data could
 * go at once; otherwise the earliest of a retransmission timeout, the pacing
 * release of queued data, a window probe and now_ms + interval_ms.
 */
uint64_t arq_next_tick(const struct arq *a, uint64_t now_ms);

bool arq_is_dead(const struct arq *a);	/* one segment retransmitted dead_link times */
size_t arq_unacked(const struct arq *a);	/* bytes sent or queued but not yet acked */

struct arq_stats {
	uint64_t sent_pkts, sent_bytes;	/* packets/bytes emitted (all cmds, headers included) */
	uint64_t recv_pkts, bad_pkts;	/* packets input: valid, rejected */
	uint64_t sent_segs;		/* PUSH transmissions, first and again */
	uint64_t retrans;		/* PUSH retransmissions (all causes) */
	uint64_t fast_retrans;		/* ... of which by fast retransmit */
	uint64_t rto_retrans;		/* ... of which by timeout */
	uint64_t dup_segs;		/* PUSH received again or outside the window */
	uint64_t probes;		/* WASK sent */
	uint64_t delivered;		/* bytes acked by the peer */
	uint64_t rto_ms, srtt_ms, rttvar_ms, min_rtt_ms;
	uint64_t cwnd;			/* congestion window (segments) */
	uint64_t snd_wnd;		/* effective send window limit now (segments) */
	uint64_t rmt_wnd;		/* peer's advertised free window (segments) */
	uint64_t rcv_wnd;		/* our receive window (segments) */
	uint64_t inflight;		/* segments sent, not acked */
	uint64_t btl_bw;		/* delivery-rate estimate, bytes/s */
	uint64_t pacing_rate;		/* bytes/s, 0 = not pacing */
};
void arq_get_stats(const struct arq *a, struct arq_stats *st);

#endif
