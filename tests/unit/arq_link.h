/*
 * A simulated datagram link between two arq engines, in one process, in
 * simulated milliseconds: per direction loss, duplication, delay + jitter
 * (which reorders), a rate cap with a tail-drop queue, and a hook to drop
 * chosen packets. Everything is deterministic for a given seed. Used by
 * tests/unit/test_arq.c and bench/arq_sim.c (header-only on purpose).
 */
#ifndef SLUICE_TESTS_ARQ_LINK_H
#define SLUICE_TESTS_ARQ_LINK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tunnel/arq.h"

struct link_pkt {
	uint64_t at;		/* delivery time */
	uint64_t seq;		/* FIFO among equal times */
	size_t len;
	uint8_t *data;		/* owned */
};

struct link_dir {
	uint32_t loss_pm, dup_pm;	/* per mille */
	uint32_t delay_ms, jitter_ms;
	uint64_t rate_bpms;		/* bytes per ms, 0 = unlimited */
	uint64_t qlimit;		/* bytes queued at the rate cap before tail drop */
	uint64_t busy_ns;		/* the rate-capped wire is busy until */
	/* return true to drop this packet (scripted scenarios) */
	bool (*drop)(void *ctx, int dir, const uint8_t *pkt, size_t len, uint64_t now);
	void *drop_ctx;
	uint64_t sent, lost, dups, qdrops, delivered;
};

struct link {
	uint64_t now;
	uint64_t rng;
	uint64_t seq;
	struct arq *e[2];
	struct link_dir d[2];	/* d[i]: packets engine i emits, towards engine 1-i */
	struct link_pkt *heap;
	size_t n, cap;
	int in_rc_bad;		/* arq_input failures (should stay 0) */
	uint32_t tick_gran;	/* engine timers fire only at multiples of this (coarse timers) */
};

struct link_out {
	struct link *l;
	int dir;
};

static inline uint64_t link_rand(struct link *l)
{
	/* xorshift64* */
	l->rng ^= l->rng >> 12;
	l->rng ^= l->rng << 25;
	l->rng ^= l->rng >> 27;
	return l->rng * 2685821657736338717ull;
}

static inline void link_heap_push(struct link *l, struct link_pkt p)
{
	size_t i, up;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 1024;
		l->heap = realloc(l->heap, l->cap * sizeof(*l->heap));
		if (!l->heap)
			abort();
	}
	i = l->n++;
	while (i > 0) {
		up = (i - 1) / 2;
		if (l->heap[up].at < p.at || (l->heap[up].at == p.at && l->heap[up].seq < p.seq))
			break;
		l->heap[i] = l->heap[up];
		i = up;
	}
	l->heap[i] = p;
}

static inline struct link_pkt link_heap_pop(struct link *l)
{
	struct link_pkt top = l->heap[0], last = l->heap[--l->n];
	size_t i = 0, c;

	for (;;) {
		c = 2 * i + 1;
		if (c >= l->n)
			break;
		if (c + 1 < l->n && (l->heap[c + 1].at < l->heap[c].at ||
				     (l->heap[c + 1].at == l->heap[c].at && l->heap[c + 1].seq < l->heap[c].seq)))
			c++;
		if (last.at < l->heap[c].at || (last.at == l->heap[c].at && last.seq < l->heap[c].seq))
			break;
		l->heap[i] = l->heap[c];
		i = c;
	}
	if (l->n)
		l->heap[i] = last;
	return top;
}

static inline void link_enqueue(struct link *l, int dir, const uint8_t *pkt, size_t len, uint64_t at)
{
	struct link_pkt p;

	p.at = at;
	p.seq = l->seq++ * 2 + (uint64_t)dir;	/* parity = direction */
	p.len = len;
	p.data = malloc(len);
	if (!p.data)
		abort();
	memcpy(p.data, pkt, len);
	link_heap_push(l, p);
}

/* arq_output_fn: user is a struct link_out */
static inline void link_output(void *user, const uint8_t *pkt, size_t len)
{
	struct link_out *o = user;
	struct link *l = o->l;
	struct link_dir *d = &l->d[o->dir];
	uint64_t at, now_ns = l->now * 1000000, jit;
	int copies = 1, i;

	d->sent++;
	if (d->drop && d->drop(d->drop_ctx, o->dir, pkt, len, l->now)) {
		d->lost++;
		return;
	}
	if (d->loss_pm && link_rand(l) % 1000 < d->loss_pm) {
		d->lost++;
		return;
	}
	if (d->rate_bpms) {
		if (d->busy_ns < now_ns)
			d->busy_ns = now_ns;
		if ((d->busy_ns - now_ns) / 1000 * d->rate_bpms / 1000 > d->qlimit) {
			d->qdrops++;
			return;
		}
		d->busy_ns += len * 1000000 / d->rate_bpms;
	}
	if (d->dup_pm && link_rand(l) % 1000 < d->dup_pm) {
		copies = 2;
		d->dups++;
	}
	for (i = 0; i < copies; i++) {
		jit = d->jitter_ms ? link_rand(l) % (d->jitter_ms + 1) : 0;
		at = (d->rate_bpms ? (d->busy_ns + 999999) / 1000000 : l->now) + d->delay_ms + jit;
		link_enqueue(l, o->dir, pkt, len, at);
	}
}

/* Deliver every packet due by l->now. */
static inline void link_deliver(struct link *l)
{
	while (l->n && l->heap[0].at <= l->now) {
		struct link_pkt p = link_heap_pop(l);
		int dir = (int)(p.seq & 1);

		l->d[dir].delivered++;
		if (arq_input(l->e[1 - dir], p.data, p.len, l->now) < 0)
			l->in_rc_bad++;
		free(p.data);
	}
}

/* Earliest time anything happens: a delivery or an engine tick. */
static inline uint64_t link_next(struct link *l)
{
	uint64_t t = arq_next_tick(l->e[0], l->now), t1 = arq_next_tick(l->e[1], l->now);

	if (t1 < t)
		t = t1;
	if (l->tick_gran > 1 && t > l->now)
		t = (t + l->tick_gran - 1) / l->tick_gran * l->tick_gran;
	if (l->n && l->heap[0].at < t)
		t = l->heap[0].at;
	return t;
}

static inline void link_tick(struct link *l)
{
	int i;

	for (i = 0; i < 2; i++)
		if (arq_next_tick(l->e[i], l->now) <= l->now)
			arq_tick(l->e[i], l->now);
}

static inline void link_free(struct link *l)
{
	while (l->n) {
		struct link_pkt p = link_heap_pop(l);

		free(p.data);
	}
	free(l->heap);
	l->heap = NULL;
	l->cap = 0;
}

/*
 * A bulk transfer over the link: engine i sends total[i] bytes of PRNG data
 * in random-sized writes and reads whatever arrives (unless paused[i]).
 * The callbacks see every byte taken by arq_send and returned by arq_recv.
 */
struct xfer {
	uint64_t total[2], sent[2], recvd[2];
	uint64_t rng[2];
	uint32_t max_write;
	bool paused[2];
	void (*on_sent)(void *ctx, int dir, const uint8_t *p, size_t n);
	void (*on_recv)(void *ctx, int dir, const uint8_t *p, size_t n);
	void *ctx;
	uint64_t done_at[2];	/* when dir i's bytes had all arrived */
};

static inline void xfer_gen(uint64_t *st, uint8_t *p, size_t n)
{
	size_t i, k;

	for (i = 0; i < n; i += 8) {
		*st ^= *st << 13;
		*st ^= *st >> 7;
		*st ^= *st << 17;
		k = n - i < 8 ? n - i : 8;
		memcpy(p + i, st, k);	/* one PRNG step per 8 bytes */
	}
}

static inline void xfer_app(struct link *l, struct xfer *x)
{
	static uint8_t buf[65536];
	int i;

	for (i = 0; i < 2; i++) {
		struct arq *e = l->e[i];
		bool wrote = false;

		while (x->sent[i] < x->total[i]) {
			size_t want = 1 + (size_t)(link_rand(l) % x->max_write), room = arq_send_room(e), got;

			if (want > x->total[i] - x->sent[i])
				want = (size_t)(x->total[i] - x->sent[i]);
			if (want > room)
				want = room;
			if (!want)
				break;
			xfer_gen(&x->rng[i], buf, want);
			got = arq_send(e, buf, want);
			if (got != want)
				abort();	/* room said it fits */
			if (x->on_sent)
				x->on_sent(x->ctx, i, buf, got);
			x->sent[i] += got;
			wrote = true;
		}
		if (wrote)
			arq_flush(e, l->now);
		while (!x->paused[i]) {
			size_t got = arq_recv(e, buf, sizeof(buf));

			if (!got)
				break;
			if (x->on_recv)
				x->on_recv(x->ctx, 1 - i, buf, got);
			x->recvd[1 - i] += got;
			if (x->recvd[1 - i] == x->total[1 - i] && !x->done_at[1 - i])
				x->done_at[1 - i] = l->now;
		}
	}
}

/*
 * Run until both directions are complete (returns true) or until_ms
 * (returns false). With stop_when_done false it runs to until_ms.
 */
static inline bool link_run(struct link *l, struct xfer *x, uint64_t until_ms, bool stop_when_done)
{
	uint64_t t;
	int spin = 0;

	for (;;) {
		link_deliver(l);
		if (x)
			xfer_app(l, x);
		link_tick(l);
		if (x && stop_when_done && x->recvd[0] == x->total[0] && x->recvd[1] == x->total[1] &&
		    !arq_unacked(l->e[0]) && !arq_unacked(l->e[1]))
			return true;
		t = link_next(l);
		if (t <= l->now) {
			if (++spin < 8)
				continue;
			t = l->now + 1;
		}
		spin = 0;
		if (t > until_ms)
			return false;
		l->now = t;
	}
}

#endif
