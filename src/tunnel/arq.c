/*
 * arq: KCP-style reliable byte stream (see arq.h for the contract and wire
 * format, docs/internals/tunnel-arq.md for the algorithms).
 *
 * Send side: one byte ring holds every byte the application gave us and the
 * peer has not acked (stream offsets [snd_off_una, snd_off_end)); bytes are cut
 * into segments only when they may leave, so small writes coalesce. Segments in
 * flight live in a ring indexed by sn; the unacked ones are also on a list in
 * transmission order (a retransmission moves to the tail), which makes the
 * "acked something sent later" test of fast retransmit a walk over the holes
 * only.
 *
 * Receive side: a ring of slots indexed by sn holds segments from read_sn (the
 * oldest the application has not fully read) up to read_sn + rcv_wnd; those
 * below rcv_nxt are in order and readable, the rest arrived out of order.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tunnel/arq.h"

#define ARQ_RTO_DEF		200
#define ARQ_RTO_MAX		60000
#define ARQ_CWND_INIT		32
#define ARQ_CWND_MIN		4
#define ARQ_RMT_WND_INIT	32	/* assumed until the peer tells us its window */
#define ARQ_PROBE_INIT		1000
#define ARQ_PROBE_MAX		10000
#define ARQ_MIN_RTT_WIN		10000	/* ms a min-RTT sample stays valid */
#define ARQ_BW_ROUNDS		10	/* rounds the delivery-rate max filter spans */
#define ARQ_IDLE_TICK		1000

enum arq_mode { ARQ_STARTUP, ARQ_DRAIN, ARQ_PROBE_BW };

/* Pacing gains in percent; PROBE_BW cycles through arq_cycle, one min RTT each. */
#define ARQ_GAIN_HIGH		289	/* 2/ln 2: doubles the delivery rate per round */
#define ARQ_GAIN_DRAIN		35
#define ARQ_CWND_GAIN		200
static const uint16_t arq_cycle[8] = { 125, 75, 100, 100, 100, 100, 100, 100 };

struct arq_seg {
	struct arq_seg *prev, *next;	/* unacked list, oldest transmission first */
	uint64_t off;		/* stream offset of the first byte */
	uint64_t xseq;		/* transmission order of the last send (0 = not on list) */
	uint64_t xmit_ts;	/* last transmission */
	uint64_t resend_ts;	/* retransmit at this time unless acked */
	uint64_t del_at_send;	/* a->delivered at the last send (rate sample) */
	uint64_t del_ts_at_send; /* a->delivered_ts at the last send */
	uint64_t first_ts_at_send; /* a->first_sent_ts at the last send */
	uint32_t sn, len;
	uint32_t rto;		/* this segment's current (backed-off) RTO */
	uint32_t xmit;		/* transmissions so far */
	uint32_t fastack;	/* acks of segments sent after this one */
	bool acked;		/* selectively acked (still below snd_una's hole) */
	bool fast;		/* due for fast retransmit */
	bool app_limited;	/* sent while the application had nothing more */
};

struct arq_rslot {
	uint8_t *data;		/* owned; NULL = empty */
	uint32_t len;
};

struct arq_ack {
	uint32_t sn, ts;
};

struct arq {
	struct arq_params p;
	uint32_t mss;
	arq_output_fn out;
	void *user;		/* borrowed */
	uint64_t now;

	/* send bytes: ring of snd_cap bytes (power of two, grows to sndbuf) */
	uint8_t *sbuf;
	size_t scap;
	uint64_t snd_off_una, snd_off_next, snd_off_end;

	/* segments in flight: sn in [snd_una, snd_nxt), ring of seg_cap */
	struct arq_seg *segs;
	uint32_t seg_cap;	/* grows by doubling up to seg_cap_max */
	uint32_t seg_cap_max;
	uint32_t snd_una, snd_nxt;
	uint32_t sacked;	/* segments in flight already selectively acked */
	struct arq_seg *head, *tail;	/* unacked, transmission order */
	uint64_t xseq;
	uint64_t max_acked_xseq;
	bool reo_seen;		/* the path reorders: use a reordering window */
	uint64_t reo_round;
	uint32_t fast_pending;
	uint64_t rto_scan_ts;	/* no RTO can fire before this */
	uint32_t rmt_limit;	/* peer accepts sn below this */
	uint32_t rmt_wnd;	/* last window field seen */
	bool rmt_known;		/* rmt_limit came from the peer, not our guess */

	/* RTT (RFC 6298 in KCP's integer form) */
	uint32_t srtt, rttvar, rto, min_rto;
	bool have_rtt;
	uint32_t min_rtt, last_rtt;
	uint32_t inflated_cnt;	/* start-up: consecutive RTT samples well above min */
	uint64_t min_rtt_ts;

	/* delivery rate model */
	uint64_t delivered, delivered_ts, first_sent_ts;
	uint64_t app_limited_until;	/* delivered mark, 0 = not app-limited */
	uint64_t bw_slot[ARQ_BW_ROUNDS];	/* bytes/s max per round */
	uint64_t bw_round[ARQ_BW_ROUNDS];	/* the round each slot is for */
	uint64_t btl_bw;
	uint64_t round_count, next_round_delivered;
	bool round_start;
	uint64_t full_bw;
	uint32_t full_bw_cnt;
	enum arq_mode mode;
	uint32_t cycle_idx;
	uint64_t cycle_ts;
	uint32_t pacing_gain;
	uint32_t cwnd;
	int64_t tokens;
	uint64_t tokens_ts;

	/* receive */
	struct arq_rslot *rslots;
	uint32_t rcap;
	uint32_t read_sn, rcv_nxt, rcv_wnd;
	uint32_t read_off;	/* bytes of slot read_sn already read */
	size_t rcv_ready;	/* readable bytes */
	uint32_t last_adv;	/* window we last advertised */
	bool tell;		/* send WINS */

	struct arq_ack *acks, *prev_acks;	/* pending; last batch sent */
	uint32_t nacks, nprev, acks_cap;

	/* zero-window probing */
	uint64_t probe_ts;
	uint32_t probe_wait;

	bool dead;
	bool last_words;	/* arq_flush_final: past pacing and cwnd */
	uint8_t *pkt;		/* mtu bytes being assembled */
	size_t pkt_len;
	struct arq_stats st;
};

static inline void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline int32_t sndiff(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b);
}

static uint32_t pow2_at_least(uint32_t v)
{
	uint32_t r = 1;

	while (r < v)
		r <<= 1;
	return r;
}

void arq_params_default(struct arq_params *p)
{
	memset(p, 0, sizeof(*p));
	p->mtu = 1400;
	p->interval_ms = 10;
	p->nodelay = true;
	p->fast_resend = 2;
	p->dead_link = 20;
	p->max_wnd = 8192;
	p->sndbuf = 16u << 20;
	p->pacing = true;
}

struct arq *arq_new(const struct arq_params *p, uint64_t now_ms, arq_output_fn out, void *user)
{
	struct arq *a;
	uint32_t cap;

	if (!out || p->mtu < ARQ_MTU_MIN || p->mtu > ARQ_MTU_MAX || p->snd_wnd > ARQ_WND_LIMIT ||
	    p->rcv_wnd > ARQ_WND_LIMIT || p->max_wnd > ARQ_WND_LIMIT || p->sndbuf == 0)
		return NULL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->p = *p;
	if (!a->p.max_wnd)
		a->p.max_wnd = 8192;
	if (!a->p.interval_ms)
		a->p.interval_ms = 10;
	if (a->p.interval_ms > 5000)
		a->p.interval_ms = 5000;
	if (!a->p.dead_link)
		a->p.dead_link = 20;
	a->mss = p->mtu - ARQ_HDR_LEN;
	a->out = out;
	a->user = user;
	a->now = now_ms;

	cap = a->p.snd_wnd ? a->p.snd_wnd : a->p.max_wnd;
	a->seg_cap_max = pow2_at_least(cap < 16 ? 16 : cap);
	a->seg_cap = a->seg_cap_max < 256 ? a->seg_cap_max : 256;
	cap = a->p.rcv_wnd ? a->p.rcv_wnd : a->p.max_wnd;
	a->rcap = pow2_at_least(cap < 16 ? 16 : cap);
	/*
	 * Adaptive receive window = the cap: memory is committed only for
	 * segments held out of order or unread, the sender's BDP model keeps
	 * what is in flight near 2 x BDP, and the cap bounds the worst case.
	 */
	a->rcv_wnd = a->p.rcv_wnd ? a->p.rcv_wnd : a->p.max_wnd;
	a->acks_cap = a->p.mtu / ARQ_HDR_LEN;	/* one full packet of acks */
	a->segs = calloc(a->seg_cap, sizeof(*a->segs));
	a->rslots = calloc(a->rcap, sizeof(*a->rslots));
	a->acks = calloc(a->acks_cap, sizeof(*a->acks));
	a->prev_acks = calloc(a->acks_cap, sizeof(*a->prev_acks));
	a->pkt = malloc(a->p.mtu);
	if (!a->segs || !a->rslots || !a->acks || !a->prev_acks || !a->pkt)
		goto out_free;

	a->rto = ARQ_RTO_DEF;
	a->min_rto = a->p.min_rto_ms ? a->p.min_rto_ms : (a->p.nodelay ? 30 : 100);
	a->rmt_limit = ARQ_RMT_WND_INIT;
	a->rmt_wnd = ARQ_RMT_WND_INIT;
	a->cwnd = ARQ_CWND_INIT;
	a->mode = ARQ_STARTUP;
	a->pacing_gain = ARQ_GAIN_HIGH;
	a->last_adv = a->rcv_wnd;
	a->tokens_ts = now_ms;
	a->delivered_ts = now_ms;
	a->first_sent_ts = now_ms;
	return a;

out_free:
	arq_free(a);
	return NULL;
}

void arq_free(struct arq *a)
{
	uint32_t i;

	if (!a)
		return;
	if (a->rslots)
		for (i = 0; i < a->rcap; i++)
			free(a->rslots[i].data);
	free(a->rslots);
	free(a->segs);
	free(a->acks);
	free(a->prev_acks);
	free(a->pkt);
	free(a->sbuf);
	free(a);
}

/* ---- send byte ring ---- */

size_t arq_unacked(const struct arq *a)
{
	return (size_t)(a->snd_off_end - a->snd_off_una);
}

size_t arq_send_room(const struct arq *a)
{
	size_t used = arq_unacked(a);

	return used >= a->p.sndbuf ? 0 : a->p.sndbuf - used;
}

static int sbuf_grow(struct arq *a, size_t need)
{
	size_t ncap = a->scap ? a->scap : 16384, used = arq_unacked(a), i;
	uint8_t *nb;

	while (ncap < need)
		ncap <<= 1;
	nb = malloc(ncap);
	if (!nb)
		return -ENOMEM;
	for (i = 0; i < used; i++)
		nb[(a->snd_off_una + i) & (ncap - 1)] = a->sbuf[(a->snd_off_una + i) & (a->scap - 1)];
	free(a->sbuf);
	a->sbuf = nb;
	a->scap = ncap;
	return 0;
}

size_t arq_send(struct arq *a, const uint8_t *data, size_t len)
{
	size_t room = arq_send_room(a), pos, n;

	if (len > room)
		len = room;
	if (!len)
		return 0;
	if (arq_unacked(a) + len > a->scap && sbuf_grow(a, arq_unacked(a) + len) < 0)
		return 0;
	pos = a->snd_off_end & (a->scap - 1);
	n = a->scap - pos < len ? a->scap - pos : len;
	memcpy(a->sbuf + pos, data, n);
	memcpy(a->sbuf, data + n, len - n);
	a->snd_off_end += len;
	return len;
}

static void sbuf_copy(const struct arq *a, uint8_t *dst, uint64_t off, size_t len)
{
	size_t pos = off & (a->scap - 1), n = a->scap - pos < len ? a->scap - pos : len;

	memcpy(dst, a->sbuf + pos, n);
	memcpy(dst + n, a->sbuf, len - n);
}

/* ---- packet assembly ---- */

static void pkt_emit(struct arq *a)
{
	if (!a->pkt_len)
		return;
	a->st.sent_pkts++;
	a->st.sent_bytes += a->pkt_len;
	a->out(a->user, a->pkt, a->pkt_len);
	a->pkt_len = 0;
}

static uint32_t rcv_free(const struct arq *a)
{
	uint32_t used = a->rcv_nxt - a->read_sn;

	return used >= a->rcv_wnd ? 0 : a->rcv_wnd - used;
}

/* Append a segment header (and room for len data bytes); returns the data pointer. */
static uint8_t *pkt_seg(struct arq *a, uint8_t cmd, uint32_t ts, uint32_t sn, uint32_t len)
{
	uint32_t wnd = rcv_free(a);
	uint8_t *h;

	if (a->pkt_len + ARQ_HDR_LEN + len > a->p.mtu)
		pkt_emit(a);
	if (wnd > 0xffff)
		wnd = 0xffff;
	a->last_adv = wnd;
	h = a->pkt + a->pkt_len;
	put32(h, a->p.conv);
	h[4] = cmd;
	h[5] = 0;
	h[6] = (uint8_t)wnd;
	h[7] = (uint8_t)(wnd >> 8);
	put32(h + 8, ts);
	put32(h + 12, sn);
	put32(h + 16, a->rcv_nxt);
	put32(h + 20, len);
	a->pkt_len += ARQ_HDR_LEN + len;
	return h + ARQ_HDR_LEN;
}

/*
 * Acks go out once, and while the receive side has a hole, the previous
 * batch's acks beyond the hole go once more: a lost ack packet would
 * otherwise make the sender resend every segment it acked (una does not
 * cover them until the hole fills). Costs ~2 % more ack bytes on lossy paths.
 */
static void flush_acks(struct arq *a)
{
	struct arq_ack *t;
	uint32_t i;

	if (!a->nacks)
		return;
	for (i = 0; i < a->nacks; i++)
		pkt_seg(a, ARQ_CMD_ACK, a->acks[i].ts, a->acks[i].sn, 0);
	for (i = 0; i < a->nprev; i++)
		if (sndiff(a->prev_acks[i].sn, a->rcv_nxt) > 0)
			pkt_seg(a, ARQ_CMD_ACK, a->prev_acks[i].ts, a->prev_acks[i].sn, 0)[-ARQ_HDR_LEN + 5] =
				ARQ_FRG_REPEAT;
	t = a->prev_acks;
	a->prev_acks = a->acks;
	a->acks = t;
	a->nprev = a->nacks;
	a->nacks = 0;
}

/* ---- RTT and the delivery-rate model ---- */

static void rtt_sample(struct arq *a, uint32_t rtt)
{
	uint32_t delta, var4, floor;

	if (!a->have_rtt) {
		a->srtt = rtt;
		a->rttvar = rtt / 2;
		a->have_rtt = true;
	} else {
		delta = rtt > a->srtt ? rtt - a->srtt : a->srtt - rtt;
		a->rttvar = (3 * a->rttvar + delta) / 4;
		a->srtt = (7 * a->srtt + rtt) / 8;
		if (a->srtt < 1)
			a->srtt = 1;
	}
	var4 = 4 * a->rttvar;
	if (var4 < a->p.interval_ms)
		var4 = a->p.interval_ms;
	a->rto = a->srtt + var4;
	/*
	 * RTT-inflation guard (not in KCP): a queue can grow faster than
	 * rttvar follows -- in start-up it may double the RTT per round, in
	 * PROBE_BW the 1.25 gain adds a quarter -- and a spurious RTO resends
	 * a whole flight. Fast retransmit does the real loss detection.
	 */
	floor = (a->mode == ARQ_STARTUP ? 2 * a->srtt : a->srtt + a->srtt / 4) + a->p.interval_ms;
	if (a->rto < floor)
		a->rto = floor;
	a->last_rtt = rtt;
	if (a->rto < a->min_rto)
		a->rto = a->min_rto;
	if (a->rto > ARQ_RTO_MAX)
		a->rto = ARQ_RTO_MAX;
	if (rtt <= a->min_rtt || !a->min_rtt_ts || a->now - a->min_rtt_ts > ARQ_MIN_RTT_WIN) {
		a->min_rtt = rtt;
		a->min_rtt_ts = a->now ? a->now : 1;
	}
}

static uint64_t bdp_bytes(const struct arq *a)
{
	uint32_t rtt = a->min_rtt ? a->min_rtt : 1;

	return a->btl_bw * rtt / 1000;
}

/* Window (segments) the model wants in flight: gain x BDP plus ack-batching slack. */
static uint32_t cwnd_target(const struct arq *a)
{
	uint64_t t, slack;
	uint32_t gain = a->mode == ARQ_PROBE_BW ? ARQ_CWND_GAIN : ARQ_GAIN_HIGH;

	if (!a->btl_bw)
		return ARQ_CWND_INIT;
	t = bdp_bytes(a) * gain / 100 / a->mss;
	slack = a->btl_bw * a->p.interval_ms / 1000 / a->mss + ARQ_CWND_MIN;
	t += slack;
	if (t < ARQ_CWND_MIN * 4)
		t = ARQ_CWND_MIN * 4;
	if (t > a->p.max_wnd)
		t = a->p.max_wnd;
	return (uint32_t)t;
}

static void bw_update(struct arq *a, const struct arq_seg *s, uint32_t acked_segs)
{
	uint64_t send_el, ack_el, iv, rate, best = 0;
	uint32_t i, target;

	/* A round ends when a segment sent after the previous round's end is acked. */
	a->round_start = false;
	if (s->del_at_send >= a->next_round_delivered) {
		a->next_round_delivered = a->delivered;
		a->round_count++;
		a->round_start = true;
	}
	if (a->app_limited_until && a->delivered > a->app_limited_until)
		a->app_limited_until = 0;

	send_el = s->xmit_ts - s->first_ts_at_send;
	ack_el = a->delivered_ts - s->del_ts_at_send;
	iv = send_el > ack_el ? send_el : ack_el;
	/*
	 * Sent and acked inside one tick of the ms clock (loopback, a LAN):
	 * the true interval is under 1 ms, so bytes per ms is a lower bound
	 * of the rate -- safe for a max filter. Dropping such samples left
	 * the estimate to the rare one that spanned a tick, often a 14-byte
	 * stream open, which then paced 1,000-byte messages 25 ms apart.
	 */
	if (iv == 0)
		iv = 1;
	rate = (a->delivered - s->del_at_send) * 1000 / iv;
	/*
	 * Max filter over the last ARQ_BW_ROUNDS rounds. Old rounds
	 * expire only when a sample is taken, and app-limited samples
	 * count only when they raise the estimate: a quiet spell (an
	 * interactive session) keeps the estimate, so the next bulk
	 * transfer starts at full rate instead of probing up again.
	 */
	if (!s->app_limited || rate > a->btl_bw) {
		uint32_t k = (uint32_t)(a->round_count % ARQ_BW_ROUNDS);

		if (a->bw_round[k] != a->round_count) {
			a->bw_round[k] = a->round_count;
			a->bw_slot[k] = 0;
		}
		if (rate > a->bw_slot[k])
			a->bw_slot[k] = rate;
		for (i = 0; i < ARQ_BW_ROUNDS; i++)
			if (a->round_count - a->bw_round[i] < ARQ_BW_ROUNDS && a->bw_slot[i] > best)
				best = a->bw_slot[i];
		a->btl_bw = best;
	}
	a->first_sent_ts = s->xmit_ts;

	/*
	 * Start-up ends when three rounds in a row grew the rate by less than
	 * 25 %, or when 16 RTT samples in a row were a quarter above the
	 * minimum (a queue is building: we are past the bottleneck; random
	 * loss does not do that, and jitter spikes do not last).
	 */
	if (a->mode == ARQ_STARTUP) {
		uint32_t inflated = a->min_rtt + (a->min_rtt / 4 > a->p.interval_ms ?
						  a->min_rtt / 4 : a->p.interval_ms);

		a->inflated_cnt = a->last_rtt > inflated ? a->inflated_cnt + 1 : 0;
	}
	if (a->mode == ARQ_STARTUP && (a->inflated_cnt >= 16 || (a->round_start && !s->app_limited))) {
		if (a->inflated_cnt < 16 && a->btl_bw >= a->full_bw * 5 / 4) {
			a->full_bw = a->btl_bw;
			a->full_bw_cnt = 0;
		} else if (a->inflated_cnt >= 16 || ++a->full_bw_cnt >= 3) {
			a->mode = ARQ_DRAIN;
			a->pacing_gain = ARQ_GAIN_DRAIN;
		}
	}
	if (a->mode == ARQ_DRAIN &&
	    (uint64_t)(a->snd_nxt - a->snd_una - a->sacked) * a->mss <= bdp_bytes(a)) {
		a->mode = ARQ_PROBE_BW;
		a->cycle_idx = 0;
		a->cycle_ts = a->now;
		a->pacing_gain = arq_cycle[0];
	}
	if (a->mode == ARQ_PROBE_BW && a->now - a->cycle_ts > (a->min_rtt ? a->min_rtt : 1)) {
		a->cycle_idx = (a->cycle_idx + 1) % 8;
		a->cycle_ts = a->now;
		a->pacing_gain = arq_cycle[a->cycle_idx];
	}

	target = cwnd_target(a);
	if (a->cwnd < target)
		a->cwnd = a->cwnd + acked_segs < target ? a->cwnd + acked_segs : target;
	else if (a->mode != ARQ_STARTUP)
		a->cwnd = target;
}

/* ---- acks on the send side ---- */

static void list_del(struct arq *a, struct arq_seg *s)
{
	if (!s->xseq)
		return;
	if (s->prev)
		s->prev->next = s->next;
	else
		a->head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		a->tail = s->prev;
	s->prev = s->next = NULL;
	s->xseq = 0;
}

static void list_add_tail(struct arq *a, struct arq_seg *s)
{
	s->prev = a->tail;
	s->next = NULL;
	if (a->tail)
		a->tail->next = s;
	else
		a->head = s;
	a->tail = s;
	s->xseq = ++a->xseq;
}

static inline struct arq_seg *seg_of(const struct arq *a, uint32_t sn)
{
	return &a->segs[sn & (a->seg_cap - 1)];
}

/* Mark one in-flight segment acked; returns it if this was news. */
static struct arq_seg *seg_ack(struct arq *a, uint32_t sn)
{
	struct arq_seg *s;

	if (sndiff(sn, a->snd_una) < 0 || sndiff(sn, a->snd_nxt) >= 0)
		return NULL;
	s = seg_of(a, sn);
	if (s->acked)
		return NULL;
	s->acked = true;
	if (s->fast) {
		s->fast = false;
		a->fast_pending--;
	}
	a->sacked++;
	a->delivered += s->len;
	a->st.delivered += s->len;
	a->delivered_ts = a->now;
	return s;
}

static void snd_advance(struct arq *a)
{
	while (a->snd_una != a->snd_nxt && seg_of(a, a->snd_una)->acked) {
		struct arq_seg *s = seg_of(a, a->snd_una);

		a->snd_off_una = s->off + s->len;
		s->acked = false;
		a->sacked--;
		a->snd_una++;
	}
	if (a->snd_una == a->snd_nxt)
		a->snd_off_una = a->snd_off_next;
}

/* ---- receive side ---- */

static void rcv_push(struct arq *a, uint32_t sn, uint32_t ts, const uint8_t *data, uint32_t len)
{
	struct arq_rslot *r;

	if (sndiff(sn, a->rcv_nxt) < 0) {
		a->st.dup_segs++;
		goto ack;	/* our ack was lost: say it again */
	}
	if (sn - a->read_sn >= a->rcv_wnd) {
		a->st.dup_segs++;
		return;		/* beyond the window: the sender will retry */
	}
	r = &a->rslots[sn & (a->rcap - 1)];
	if (r->data) {
		a->st.dup_segs++;
		goto ack;
	}
	r->data = malloc(len);
	if (!r->data)
		return;		/* not acked: it comes again */
	memcpy(r->data, data, len);
	r->len = len;
ack:
	if (a->nacks == a->acks_cap)
		flush_acks(a);
	a->acks[a->nacks].sn = sn;
	a->acks[a->nacks].ts = ts;
	a->nacks++;
}

static void rcv_advance(struct arq *a)
{
	struct arq_rslot *r;

	while (sndiff(a->rcv_nxt, a->read_sn + a->rcv_wnd) < 0) {
		r = &a->rslots[a->rcv_nxt & (a->rcap - 1)];
		if (!r->data)
			break;
		a->rcv_ready += r->len;
		a->rcv_nxt++;
	}
}

size_t arq_recv_avail(const struct arq *a)
{
	return a->rcv_ready;
}

size_t arq_recv(struct arq *a, uint8_t *buf, size_t cap)
{
	size_t done = 0, n;
	struct arq_rslot *r;
	uint32_t before = a->last_adv;

	while (done < cap && a->read_sn != a->rcv_nxt) {
		r = &a->rslots[a->read_sn & (a->rcap - 1)];
		n = r->len - a->read_off;
		if (n > cap - done)
			n = cap - done;
		memcpy(buf + done, r->data + a->read_off, n);
		done += n;
		a->read_off += (uint32_t)n;
		if (a->read_off == r->len) {
			free(r->data);
			r->data = NULL;
			r->len = 0;
			a->read_off = 0;
			a->read_sn++;
		}
	}
	a->rcv_ready -= done;
	/* The peer may be waiting on a closed window: tell it as soon as it reopens. */
	if (before < a->rcv_wnd / 4 && rcv_free(a) >= a->rcv_wnd / 2)
		a->tell = true;
	if (done)
		rcv_advance(a);	/* the window moved: held segments may now be in order */
	return done;
}

/* ---- input ---- */

/* sn further than ARQ_SN_HORIZON from ref, either way */
static bool sn_absurd(uint32_t sn, uint32_t ref)
{
	uint32_t d = sn - ref;

	return d > ARQ_SN_HORIZON && d < 0u - (uint32_t)ARQ_SN_HORIZON;
}

static int validate(const struct arq *a, const uint8_t *pkt, size_t len)
{
	size_t off = 0;

	if (len < ARQ_HDR_LEN)
		return -EPROTO;
	if (get32(pkt) != a->p.conv)
		return -EBADMSG;
	while (off < len) {
		const uint8_t *h = pkt + off;
		uint32_t sn, una, dlen;
		uint8_t cmd;

		if (len - off < ARQ_HDR_LEN)
			return -EPROTO;
		if (get32(h) != a->p.conv)
			return -EBADMSG;
		cmd = h[4];
		sn = get32(h + 12);
		una = get32(h + 16);
		dlen = get32(h + 20);
		if ((h[5] != 0 && !(cmd == ARQ_CMD_ACK && h[5] == ARQ_FRG_REPEAT)) ||
		    dlen > len - off - ARQ_HDR_LEN)
			return -EPROTO;
		if (sndiff(una, a->snd_nxt) > 0 || sn_absurd(una, a->snd_una))
			return -EPROTO;
		switch (cmd) {
		case ARQ_CMD_PUSH:
			if (dlen == 0 || sn_absurd(sn, a->rcv_nxt))
				return -EPROTO;
			break;
		case ARQ_CMD_ACK:
			if (dlen || sndiff(sn, a->snd_nxt) >= 0 || sn_absurd(sn, a->snd_una))
				return -EPROTO;
			break;
		case ARQ_CMD_WASK:
		case ARQ_CMD_WINS:
			if (dlen)
				return -EPROTO;
			break;
		default:
			return -EPROTO;
		}
		off += ARQ_HDR_LEN + dlen;
	}
	return 0;
}

struct ack_x {
	uint64_t xseq, ts;	/* transmission order and time of an acked segment */
};

static int cmp_x(const void *x, const void *y)
{
	uint64_t a = ((const struct ack_x *)x)->xseq, b = ((const struct ack_x *)y)->xseq;

	return a < b ? -1 : a > b;
}

/*
 * Fast retransmit: every unacked segment transmitted before a segment this
 * packet acked gets one dup-ack per such later segment. Once the path has
 * been seen to reorder, a later segment counts only if it was sent at least
 * reo_wnd (min RTT / 4) after (RACK's reordering window).
 */
static void fastack_update(struct arq *a, struct ack_x *xs, uint32_t n)
{
	struct arq_seg *s;
	uint64_t reo = 0;
	uint32_t j = 0;

	if (!a->p.fast_resend || !n)
		return;
	if (a->reo_seen && a->round_count - a->reo_round < 16)
		reo = a->min_rtt / 4;
	qsort(xs, n, sizeof(*xs), cmp_x);	/* xseq order = time order */
	for (s = a->head; s && s->xseq < xs[n - 1].xseq; s = s->next) {
		while (j < n && (xs[j].xseq <= s->xseq || xs[j].ts < s->xmit_ts + reo))
			j++;
		if (j == n)
			break;
		if (s->fast)
			continue;
		s->fastack += n - j;
		if (s->fastack >= a->p.fast_resend) {
			s->fast = true;
			a->fast_pending++;
		}
	}
}

struct ack_batch {
	struct ack_x xs[1024];	/* what this packet acked (first 1024) */
	uint32_t nx, acked;
	struct arq_seg *newest;		/* most recently transmitted of them */
	uint64_t newest_x;
};

/*
 * latest: the ack is known to be for the segment's latest transmission (an
 * ACK echoing its ts, or una covering a segment sent once). Only those say
 * "something sent at xseq arrived"; an ack for an earlier copy of a
 * retransmitted segment would wrongly condemn everything sent before the
 * retransmission.
 */
static void batch_note(struct arq *a, struct ack_batch *b, struct arq_seg *s, bool latest)
{
	if (latest && s->xseq) {
		if (b->nx < sizeof(b->xs) / sizeof(b->xs[0])) {
			b->xs[b->nx].xseq = s->xseq;
			b->xs[b->nx].ts = s->xmit_ts;
			b->nx++;
		}
		if (s->xseq > b->newest_x) {
			b->newest_x = s->xseq;
			b->newest = s;
		}
	}
	list_del(a, s);
	b->acked++;
}

int arq_input(struct arq *a, const uint8_t *pkt, size_t len, uint64_t now_ms)
{
	struct ack_batch b;
	struct arq_seg *s;
	size_t off = 0;
	int rc;

	rc = validate(a, pkt, len);
	if (rc < 0) {
		a->st.bad_pkts++;
		return rc;
	}
	if (now_ms > a->now)
		a->now = now_ms;
	a->st.recv_pkts++;
	b.nx = b.acked = 0;
	b.newest = NULL;
	b.newest_x = 0;
	while (off < len) {
		const uint8_t *h = pkt + off;
		uint32_t ts = get32(h + 8), sn = get32(h + 12), una = get32(h + 16);
		uint32_t dlen = get32(h + 20), wnd = (uint32_t)h[6] | (uint32_t)h[7] << 8;

		off += ARQ_HDR_LEN + dlen;
		/* the ACK's own sn first: its RTT echo is lost once una covers it */
		if (h[4] == ARQ_CMD_ACK && (s = seg_ack(a, sn)) != NULL) {
			bool latest = ts == (uint32_t)s->xmit_ts;

			if (latest && (uint32_t)a->now - ts < ARQ_RTO_MAX)
				rtt_sample(a, (uint32_t)a->now - ts);
			/* a repeated ack arrives late by design: not reordering */
			if (latest && h[5] != ARQ_FRG_REPEAT && s->xseq < a->max_acked_xseq) {
				a->reo_seen = true;	/* acked out of transmission order */
				a->reo_round = a->round_count;
			}
			if (latest && s->xseq > a->max_acked_xseq)
				a->max_acked_xseq = s->xseq;
			batch_note(a, &b, s, latest);
		}
		/* cumulative ack */
		while (sndiff(una, a->snd_una) > 0) {
			s = seg_ack(a, a->snd_una);
			if (s)
				batch_note(a, &b, s, s->xmit == 1);
			snd_advance(a);
		}
		snd_advance(a);
		/*
		 * The peer's limit (read point + window) only grows, so the
		 * largest seen wins over reordered older packets; the first
		 * one replaces our initial guess.
		 */
		if (!a->rmt_known || sndiff(una + wnd, a->rmt_limit) > 0) {
			a->rmt_known = true;
			a->rmt_limit = una + wnd;
			a->rto_scan_ts = 0;	/* held segments may go now */
		}
		a->rmt_wnd = wnd;
		if (h[4] == ARQ_CMD_PUSH)
			rcv_push(a, sn, ts, h + ARQ_HDR_LEN, dlen);
		else if (h[4] == ARQ_CMD_WASK)
			a->tell = true;
		/* WINS: the window field was all it said */
	}
	rcv_advance(a);
	if (b.newest)
		bw_update(a, b.newest, b.acked);
	fastack_update(a, b.xs, b.nx);
	if (sndiff(a->rmt_limit, a->snd_nxt) > 0)
		a->probe_ts = 0;
	if (a->nacks == a->acks_cap) {
		flush_acks(a);
		pkt_emit(a);
	}
	return 0;
}

/* ---- output ---- */

static void seg_transmit(struct arq *a, struct arq_seg *s)
{
	uint8_t *d = pkt_seg(a, ARQ_CMD_PUSH, (uint32_t)a->now, s->sn, s->len);

	sbuf_copy(a, d, s->off, s->len);
	list_del(a, s);
	if (!a->head) {
		/* nothing else unacked in flight: a new flight starts now */
		a->first_sent_ts = a->now;
		a->delivered_ts = a->now;
	}
	list_add_tail(a, s);
	s->xmit++;
	s->xmit_ts = a->now;
	s->resend_ts = a->now + s->rto;
	s->fastack = 0;
	s->del_at_send = a->delivered;
	s->del_ts_at_send = a->delivered_ts;
	s->first_ts_at_send = a->first_sent_ts;
	s->app_limited = a->app_limited_until != 0;
	a->st.sent_segs++;
	/*
	 * Only new data spends pacing tokens. The rate follows what is
	 * delivered; charging retransmissions too would shrink it by the loss
	 * rate every round on a randomly lossy link.
	 */
	if (s->xmit == 1)
		a->tokens -= (int64_t)s->len + ARQ_HDR_LEN;
	if (s->xmit > a->p.dead_link)
		a->dead = true;
}

static uint64_t pacing_rate(const struct arq *a)
{
	uint64_t rate, floor;

	if (!a->p.pacing || !a->btl_bw)
		return 0;
	rate = a->btl_bw * a->pacing_gain / 100;
	/*
	 * In start-up, never slower than the initial window per round trip
	 * at start-up gain (BBR's initial pacing rate): until a sample that
	 * is not app-limited arrives, the estimate comes from whatever small
	 * messages the application sent, and is no measure of the link.
	 */
	if (a->mode == ARQ_STARTUP) {
		floor = (uint64_t)ARQ_CWND_INIT * a->mss * 1000 / (a->srtt ? a->srtt : 1) *
			ARQ_GAIN_HIGH / 100;
		if (rate < floor)
			rate = floor;
	}
	return rate;
}

static void tokens_refill(struct arq *a)
{
	uint64_t rate = pacing_rate(a), burst;

	if (!rate) {
		a->tokens = 0;
		a->tokens_ts = a->now;
		return;
	}
	burst = rate * 2 / 1000;	/* 2 ms worth */
	if (burst < 8 * (uint64_t)a->p.mtu)
		burst = 8 * (uint64_t)a->p.mtu;
	if (a->now > a->tokens_ts) {
		a->tokens += (int64_t)(rate * (a->now - a->tokens_ts) / 1000);
		a->tokens_ts = a->now;
	}
	if (a->tokens > (int64_t)burst)
		a->tokens = (int64_t)burst;
}

/* Segments the window lets us have in flight (sequence space and pipe). */
static bool window_open(const struct arq *a)
{
	uint32_t lim = a->p.snd_wnd ? a->p.snd_wnd : a->p.max_wnd;
	uint32_t pipe = a->snd_nxt - a->snd_una - a->sacked;

	if (lim > a->seg_cap_max)
		lim = a->seg_cap_max;
	if (a->snd_nxt - a->snd_una >= lim)
		return false;
	if (sndiff(a->rmt_limit, a->snd_nxt) <= 0)
		return false;
	if (a->last_words)
		return true;
	if (!a->p.no_cwnd)
		return pipe < a->cwnd;
	if (!a->p.snd_wnd)
		return pipe < cwnd_target(a);
	return true;
}

static bool pacing_allows(const struct arq *a)
{
	return a->last_words || !pacing_rate(a) || a->tokens > 0;
}

static void send_retransmits(struct arq *a)
{
	struct arq_seg *s, *next = NULL, *stop = a->tail;
	uint64_t min_ts = UINT64_MAX;

	if (!a->fast_pending && a->now < a->rto_scan_ts)
		return;
	for (s = a->head; s; s = next) {
		next = s->next;
		if (sndiff(s->sn, a->rmt_limit) >= 0) {
			/*
			 * Sent before the peer said its window is smaller: it
			 * waits (without counting toward dead_link) until the
			 * window opens, which rescans.
			 */
			if (s->fast) {
				s->fast = false;
				a->fast_pending--;
			}
			if (s->resend_ts > a->now)
				s->resend_ts = a->now;
			if (s == stop)
				break;
			continue;
		}
		if (s->fast) {
			s->fast = false;
			a->fast_pending--;
			a->st.retrans++;
			a->st.fast_retrans++;
			seg_transmit(a, s);
		} else if (a->now >= s->resend_ts) {
			/* KCP's backoff: x2 normally, x1.5 with nodelay */
			if (a->p.nodelay)
				s->rto += s->rto / 2;
			else
				s->rto += s->rto > a->rto ? s->rto : a->rto;
			if (s->rto > ARQ_RTO_MAX)
				s->rto = ARQ_RTO_MAX;
			a->st.retrans++;
			a->st.rto_retrans++;
			seg_transmit(a, s);
		}
		if (s->resend_ts < min_ts)
			min_ts = s->resend_ts;
		if (s == stop)
			break;
	}
	for (s = next; s; s = s->next)	/* the ones moved to the tail */
		if (s->resend_ts < min_ts)
			min_ts = s->resend_ts;
	a->rto_scan_ts = min_ts;
}

/*
 * Double the in-flight ring (it starts small so a quiet tunnel holds little).
 * Segments move to their new slots; list links are translated by sn.
 */
static int segs_grow(struct arq *a)
{
	uint32_t ncap = a->seg_cap * 2, sn;
	struct arq_seg *ns, *s;

	if (ncap > a->seg_cap_max)
		return -ENOBUFS;
	ns = calloc(ncap, sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	for (sn = a->snd_una; sn != a->snd_nxt; sn++)
		ns[sn & (ncap - 1)] = a->segs[sn & (a->seg_cap - 1)];
	for (sn = a->snd_una; sn != a->snd_nxt; sn++) {
		s = &ns[sn & (ncap - 1)];
		if (s->prev)
			s->prev = &ns[s->prev->sn & (ncap - 1)];
		if (s->next)
			s->next = &ns[s->next->sn & (ncap - 1)];
	}
	if (a->head)
		a->head = &ns[a->head->sn & (ncap - 1)];
	if (a->tail)
		a->tail = &ns[a->tail->sn & (ncap - 1)];
	free(a->segs);
	a->segs = ns;
	a->seg_cap = ncap;
	return 0;
}

static void send_new(struct arq *a)
{
	struct arq_seg *s;
	uint64_t left;

	while (a->snd_off_next < a->snd_off_end && window_open(a) && pacing_allows(a)) {
		if (a->snd_nxt - a->snd_una >= a->seg_cap && segs_grow(a) < 0)
			break;
		left = a->snd_off_end - a->snd_off_next;
		s = seg_of(a, a->snd_nxt);
		memset(s, 0, sizeof(*s));
		s->sn = a->snd_nxt++;
		s->off = a->snd_off_next;
		s->len = left < a->mss ? (uint32_t)left : a->mss;
		s->rto = a->rto;
		a->snd_off_next += s->len;
		seg_transmit(a, s);
		if (s->resend_ts < a->rto_scan_ts)
			a->rto_scan_ts = s->resend_ts;
	}
	/* Nothing more to send while the window is open: samples are app-limited. */
	if (a->snd_off_next == a->snd_off_end && window_open(a))
		a->app_limited_until = (a->delivered + (uint64_t)(a->snd_nxt - a->snd_una) * a->mss) ?: 1;
}

static void send_probe(struct arq *a)
{
	bool blocked = (a->snd_off_next < a->snd_off_end || a->snd_una != a->snd_nxt) &&
		       sndiff(a->rmt_limit, a->snd_nxt) <= 0;

	/* Probe only when no unacked segment inside the window will bring news. */
	if (!blocked || sndiff(a->rmt_limit, a->snd_una) > 0) {
		a->probe_ts = 0;	/* not blocked, or acks will bring the window */
		return;
	}
	if (!a->probe_ts) {
		a->probe_wait = ARQ_PROBE_INIT;
		a->probe_ts = a->now + a->probe_wait;
	} else if (a->now >= a->probe_ts) {
		pkt_seg(a, ARQ_CMD_WASK, (uint32_t)a->now, 0, 0);
		a->st.probes++;
		a->probe_wait = a->probe_wait * 2 > ARQ_PROBE_MAX ? ARQ_PROBE_MAX : a->probe_wait * 2;
		a->probe_ts = a->now + a->probe_wait;
	}
}

/* Give memory back once everything is acked, so an idle tunnel holds little. */
static void trim_idle(struct arq *a)
{
	struct arq_seg *ns;

	if (a->snd_una != a->snd_nxt)
		return;
	if (a->seg_cap > 256 && (ns = calloc(256, sizeof(*ns))) != NULL) {
		free(a->segs);
		a->segs = ns;
		a->seg_cap = 256;
		a->head = a->tail = NULL;	/* nothing in flight: the list is empty */
	}
	if (!arq_unacked(a) && a->scap > 65536) {
		free(a->sbuf);
		a->sbuf = NULL;
		a->scap = 0;
	}
}

void arq_flush(struct arq *a, uint64_t now_ms)
{
	if (now_ms > a->now)
		a->now = now_ms;
	if (a->dead)
		return;		/* the application tears down; send nothing more */
	trim_idle(a);
	flush_acks(a);
	if (a->tell) {
		pkt_seg(a, ARQ_CMD_WINS, (uint32_t)a->now, 0, 0);
		a->tell = false;
	}
	send_probe(a);
	tokens_refill(a);
	send_retransmits(a);
	send_new(a);
	pkt_emit(a);
}

void arq_flush_final(struct arq *a, uint64_t now_ms)
{
	a->last_words = true;
	arq_flush(a, now_ms);
	a->last_words = false;
}

void arq_tick(struct arq *a, uint64_t now_ms)
{
	arq_flush(a, now_ms);
}

uint64_t arq_next_tick(const struct arq *a, uint64_t now_ms)
{
	uint64_t t = UINT64_MAX, rate;
	bool queued = a->snd_off_next < a->snd_off_end;

	if (a->dead)
		return now_ms + ARQ_IDLE_TICK;
	if (a->nacks || a->tell || a->fast_pending)
		return now_ms;
	if (queued && window_open(a)) {
		if (pacing_allows(a))
			return now_ms;
		rate = pacing_rate(a);
		t = a->tokens_ts + 1 + (uint64_t)(-a->tokens) * 1000 / rate;
	}
	if (a->snd_una != a->snd_nxt && a->rto_scan_ts < t)
		t = a->rto_scan_ts;
	if (a->probe_ts && a->probe_ts < t)
		t = a->probe_ts;
	if (t == UINT64_MAX)
		t = now_ms + ARQ_IDLE_TICK;
	if (t > now_ms + a->p.interval_ms && (queued || a->snd_una != a->snd_nxt))
		t = now_ms + a->p.interval_ms;
	return t < now_ms ? now_ms : t;
}

bool arq_is_dead(const struct arq *a)
{
	return a->dead;
}

void arq_get_stats(const struct arq *a, struct arq_stats *st)
{
	uint32_t lim = a->p.snd_wnd ? a->p.snd_wnd : a->p.max_wnd;

	*st = a->st;
	st->rto_ms = a->rto;
	st->srtt_ms = a->srtt;
	st->rttvar_ms = a->rttvar;
	st->min_rtt_ms = a->min_rtt;
	st->cwnd = a->p.no_cwnd ? (a->p.snd_wnd ? lim : cwnd_target(a)) : a->cwnd;
	st->snd_wnd = st->cwnd < lim ? st->cwnd : lim;
	st->rmt_wnd = a->rmt_wnd;
	st->rcv_wnd = a->rcv_wnd;
	st->inflight = a->snd_nxt - a->snd_una - a->sacked;
	st->btl_bw = a->btl_bw;
	st->pacing_rate = pacing_rate(a);
}
