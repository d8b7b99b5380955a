/*
 * arq engine: two engines over a simulated link (tests/unit/arq_link.h) with
 * an injected clock and a seeded PRNG. Bulk integrity under loss, reordering
 * and duplication (BLAKE2b of each byte stream, both ends), scripted
 * scenarios for fast retransmit, RTO backoff, dead link, zero window and
 * send-side backpressure, and the packet decoder against malformed input.
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>

#include "unit.h"
#include "arq_link.h"

#define CONV 0x11223344u

struct hashes {
	crypto_generichash_state sent[2], recv[2];
};

static void h_sent(void *ctx, int dir, const uint8_t *p, size_t n)
{
	crypto_generichash_update(&((struct hashes *)ctx)->sent[dir], p, n);
}

static void h_recv(void *ctx, int dir, const uint8_t *p, size_t n)
{
	crypto_generichash_update(&((struct hashes *)ctx)->recv[dir], p, n);
}

static void setup(struct link *l, struct link_out *o, const struct arq_params *p, uint64_t seed)
{
	int i;

	memset(l, 0, sizeof(*l));
	l->rng = seed * 0x9e3779b97f4a7c15ull + 7;
	for (i = 0; i < 2; i++) {
		o[i].l = l;
		o[i].dir = i;
		l->e[i] = arq_new(p, 0, link_output, &o[i]);
	}
}

static void teardown(struct link *l)
{
	arq_free(l->e[0]);
	arq_free(l->e[1]);
	link_free(l);
}

static void params(struct arq_params *p)
{
	arq_params_default(p);
	p->conv = CONV;
}

/* ---- bulk integrity ---- */

static void integrity(uint32_t loss_pm, uint64_t mib)
{
	struct link l;
	struct link_out o[2];
	struct xfer x;
	struct hashes h;
	struct arq_params p;
	struct arq_stats st;
	uint8_t a[32], b[32];
	bool done;
	int i;

	params(&p);
	setup(&l, o, &p, loss_pm + 1);
	memset(&x, 0, sizeof(x));
	for (i = 0; i < 2; i++) {
		crypto_generichash_init(&h.sent[i], NULL, 0, 32);
		crypto_generichash_init(&h.recv[i], NULL, 0, 32);
		l.d[i].loss_pm = loss_pm;
		l.d[i].dup_pm = 10;
		l.d[i].delay_ms = 20;
		l.d[i].jitter_ms = 6;		/* reorders */
		l.d[i].rate_bpms = 25000;	/* 200 Mbit/s */
		l.d[i].qlimit = 512 * 1024;
		x.rng[i] = 1000 + (uint64_t)i;
	}
	x.total[0] = mib << 20;
	x.total[1] = 1 << 20;		/* some reverse traffic: piggybacked acks */
	x.max_write = 20000;
	x.on_sent = h_sent;
	x.on_recv = h_recv;
	x.ctx = &h;
	done = link_run(&l, &x, 3600 * 1000, true);
	CHECK(done);
	CHECK_EQ_INT(x.recvd[0], x.total[0]);
	CHECK_EQ_INT(x.recvd[1], x.total[1]);
	CHECK_EQ_INT(l.in_rc_bad, 0);
	for (i = 0; i < 2; i++) {
		crypto_generichash_final(&h.sent[i], a, sizeof(a));
		crypto_generichash_final(&h.recv[i], b, sizeof(b));
		CHECK(memcmp(a, b, sizeof(a)) == 0);
		CHECK(!arq_is_dead(l.e[i]));
	}
	arq_get_stats(l.e[0], &st);
	if (loss_pm)
		CHECK(st.retrans > 0);
	/* the receive side must not hold more than its window */
	CHECK(arq_recv_avail(l.e[1]) == 0);
	printf("integrity %llu MiB loss %.1f%%: %.1f Mbit/s simulated, %llu retrans (%llu rto), "
	       "srtt %llu ms\n", (unsigned long long)mib, loss_pm / 10.0,
	       x.done_at[0] ? (double)x.total[0] * 8 / 1000.0 / (double)x.done_at[0] : 0.0,
	       (unsigned long long)st.retrans, (unsigned long long)st.rto_retrans,
	       (unsigned long long)st.srtt_ms);
	teardown(&l);
}

/* SLUICE_ARQ_MIB=N shrinks the transfers (valgrind runs). */
static void test_integrity(void)
{
	const char *env = getenv("SLUICE_ARQ_MIB");
	uint64_t mib = env && atoi(env) > 0 ? (uint64_t)atoi(env) : 64;

	integrity(0, mib);
	integrity(10, mib);
	integrity(50, mib);
	integrity(200, mib);
}

/* ---- scripted scenarios ---- */

static uint32_t pkt_push_sn(const uint8_t *p, size_t len, bool *is_push)
{
	*is_push = len >= ARQ_HDR_LEN && p[4] == ARQ_CMD_PUSH;
	return len >= 16 ? (uint32_t)p[12] | (uint32_t)p[13] << 8 | (uint32_t)p[14] << 16 |
				   (uint32_t)p[15] << 24 : 0;
}

struct dropper {
	uint32_t sn;		/* PUSH sn to act on (first segment of a packet) */
	int times;		/* drop its first `times` transmissions */
	int seen;
	uint64_t at[64];	/* times it was transmitted */
	bool all;		/* drop every packet in this direction */
};

static bool drop_hook(void *ctx, int dir, const uint8_t *pkt, size_t len, uint64_t now)
{
	struct dropper *d = ctx;
	size_t off = 0;
	bool hit = false;

	if (dir != 0)
		return false;
	while (off + ARQ_HDR_LEN <= len) {
		bool push;
		uint32_t sn = pkt_push_sn(pkt + off, len - off, &push);
		uint32_t dl = (uint32_t)pkt[off + 20] | (uint32_t)pkt[off + 21] << 8;

		if (push && sn == d->sn) {
			if (d->seen < 64)
				d->at[d->seen] = now;
			hit = d->seen++ < d->times;
		}
		off += ARQ_HDR_LEN + dl;
	}
	return d->all || hit;
}

static void test_fast_retransmit(void)
{
	struct link l;
	struct link_out o[2];
	struct xfer x;
	struct dropper d = { .sn = 5, .times = 1 };
	struct arq_params p;
	struct arq_stats st;
	int i;

	params(&p);
	p.pacing = false;
	setup(&l, o, &p, 1);
	memset(&x, 0, sizeof(x));
	for (i = 0; i < 2; i++)
		l.d[i].delay_ms = 25;
	l.d[0].drop = drop_hook;
	l.d[0].drop_ctx = &d;
	x.total[0] = 40 * (p.mtu - ARQ_HDR_LEN);	/* 40 full segments, one flight */
	x.max_write = 65536;
	CHECK(link_run(&l, &x, 10000, true));
	arq_get_stats(l.e[0], &st);
	CHECK_EQ_INT(d.seen, 2);		/* sent, dropped, sent once more */
	CHECK_EQ_INT(st.retrans, 1);
	CHECK_EQ_INT(st.fast_retrans, 1);
	CHECK_EQ_INT(st.rto_retrans, 0);
	/* resent about one RTT after the first send, before the 200 ms initial RTO */
	CHECK(d.at[1] - d.at[0] >= 50 && d.at[1] - d.at[0] < 100);
	CHECK(x.done_at[0] < 200);
	teardown(&l);

	/* with fast_resend 0 the same loss waits for the RTO */
	params(&p);
	p.pacing = false;
	p.fast_resend = 0;
	setup(&l, o, &p, 1);
	memset(&x, 0, sizeof(x));
	memset(&d, 0, sizeof(d));
	d.sn = 5;
	d.times = 1;
	for (i = 0; i < 2; i++)
		l.d[i].delay_ms = 25;
	l.d[0].drop = drop_hook;
	l.d[0].drop_ctx = &d;
	x.total[0] = 40 * (p.mtu - ARQ_HDR_LEN);
	x.max_write = 65536;
	CHECK(link_run(&l, &x, 10000, true));
	arq_get_stats(l.e[0], &st);
	CHECK_EQ_INT(st.fast_retrans, 0);
	CHECK_EQ_INT(st.rto_retrans, 1);
	CHECK(d.at[1] - d.at[0] >= 200);	/* the initial RTO */
	teardown(&l);
}

static void rto_backoff(bool nodelay)
{
	struct link l;
	struct link_out o[2];
	struct xfer x;
	struct dropper d = { .sn = 0, .all = true };
	struct arq_params p;
	int i, n;

	params(&p);
	p.nodelay = nodelay;
	p.dead_link = 6;
	setup(&l, o, &p, 2);
	memset(&x, 0, sizeof(x));
	for (i = 0; i < 2; i++)
		l.d[i].delay_ms = 10;
	l.d[0].drop = drop_hook;
	l.d[0].drop_ctx = &d;
	x.total[0] = 100;
	x.max_write = 100;
	CHECK(!link_run(&l, &x, 120000, true));
	n = d.seen;
	CHECK_EQ_INT(n, 7);	/* first send + dead_link retransmissions, then it stops */
	CHECK(arq_is_dead(l.e[0]));
	for (i = 2; i < n; i++) {
		uint64_t prev = d.at[i - 1] - d.at[i - 2], cur = d.at[i] - d.at[i - 1];

		/* x1.5 (nodelay) or x2 per timeout, with ms rounding */
		if (nodelay)
			CHECK(cur * 10 >= prev * 14 && cur * 10 <= prev * 16 + 20);
		else
			CHECK(cur >= prev * 2 - 2 && cur <= prev * 2 + 2);
	}
	CHECK_EQ_INT(d.at[1] - d.at[0], 200);	/* initial RTO */
	teardown(&l);

	/* not dead one retransmission earlier */
	params(&p);
	p.nodelay = nodelay;
	p.dead_link = 6;
	setup(&l, o, &p, 2);
	memset(&x, 0, sizeof(x));
	memset(&d, 0, sizeof(d));
	d.all = true;
	l.d[0].drop = drop_hook;
	l.d[0].drop_ctx = &d;
	x.total[0] = 100;
	x.max_write = 100;
	link_run(&l, &x, 0, true);
	while (d.seen < 6 && l.now < 120000) {
		l.now++;
		link_tick(&l);
	}
	CHECK_EQ_INT(d.seen, 6);
	CHECK(!arq_is_dead(l.e[0]));
	teardown(&l);
}

static void test_rto(void)
{
	rto_backoff(true);
	rto_backoff(false);
}

static void test_zero_window(void)
{
	struct link l;
	struct link_out o[2];
	struct xfer x;
	struct arq_params p;
	struct arq_stats st;
	uint64_t probes;
	size_t mss;
	int i;

	params(&p);
	p.rcv_wnd = 16;
	mss = p.mtu - ARQ_HDR_LEN;
	setup(&l, o, &p, 3);
	memset(&x, 0, sizeof(x));
	for (i = 0; i < 2; i++)
		l.d[i].delay_ms = 15;
	x.total[0] = 2 << 20;
	x.max_write = 8192;
	x.paused[1] = true;		/* B's application reads nothing */
	CHECK(!link_run(&l, &x, 6000, false));
	/* B holds at most its window; A stops sending and probes */
	CHECK(arq_recv_avail(l.e[1]) <= 16 * mss);
	CHECK(arq_recv_avail(l.e[1]) >= 15 * mss);
	arq_get_stats(l.e[0], &st);
	CHECK_EQ_INT(st.rmt_wnd, 0);
	CHECK(st.probes >= 2);
	CHECK(st.rto_retrans < 8);	/* held, not retransmitted toward dead_link */
	CHECK(!arq_is_dead(l.e[0]));
	probes = st.probes;
	/* the reader resumes: the window reopens (WINS) and everything arrives */
	x.paused[1] = false;
	CHECK(link_run(&l, &x, l.now + 60000, true));
	CHECK_EQ_INT(x.recvd[0], x.total[0]);
	arq_get_stats(l.e[0], &st);
	CHECK(st.probes <= probes + 1);
	teardown(&l);
}

static void test_send_backpressure(void)
{
	struct arq_params p;
	struct arq *a;
	static uint8_t buf[100000];
	int n = 0;

	params(&p);
	p.sndbuf = 50000;
	a = arq_new(&p, 0, link_output, NULL);	/* never flushed: no output */
	CHECK(a != NULL);
	CHECK_EQ_INT(arq_send_room(a), 50000);
	CHECK_EQ_INT(arq_send(a, buf, 30000), 30000);
	CHECK_EQ_INT(arq_send_room(a), 20000);
	CHECK_EQ_INT(arq_send(a, buf, 30000), 20000);
	CHECK_EQ_INT(arq_send_room(a), 0);
	CHECK_EQ_INT(arq_send(a, buf, 1), 0);
	CHECK_EQ_INT(arq_unacked(a), 50000);
	CHECK_EQ_INT(arq_recv(a, buf, sizeof(buf)), 0);
	arq_free(a);
	(void)n;

	/* bad params */
	params(&p);
	p.mtu = 10;
	CHECK(arq_new(&p, 0, link_output, NULL) == NULL);
	params(&p);
	p.rcv_wnd = ARQ_WND_LIMIT + 1;
	CHECK(arq_new(&p, 0, link_output, NULL) == NULL);
}

/* Adaptive window: on a long fat pipe the window grows well past the start. */
static void test_adaptive_window(void)
{
	struct link l;
	struct link_out o[2];
	struct xfer x;
	struct arq_params p;
	struct arq_stats st;
	double mbit;
	int i;

	params(&p);
	setup(&l, o, &p, 4);
	memset(&x, 0, sizeof(x));
	for (i = 0; i < 2; i++) {
		l.d[i].delay_ms = 50;
		l.d[i].rate_bpms = 12500;	/* 100 Mbit/s, BDP ~ 900 segments */
		l.d[i].qlimit = 1 << 20;
	}
	x.total[0] = 48 << 20;
	x.max_write = 65536;
	CHECK(link_run(&l, &x, 600000, true));
	arq_get_stats(l.e[0], &st);
	mbit = (double)x.total[0] * 8 / 1000.0 / (double)x.done_at[0];
	CHECK(st.cwnd > 600);
	CHECK(st.btl_bw > 11000000 && st.btl_bw < 13500000);	/* ~12.5 MB/s */
	CHECK(mbit > 70);
	CHECK(st.min_rtt_ms >= 100 && st.min_rtt_ms <= 102);
	printf("adaptive: %.1f Mbit/s simulated, cwnd %llu, bw %.1f Mbit/s\n", mbit,
	       (unsigned long long)st.cwnd, st.btl_bw * 8 / 1e6);
	teardown(&l);
}

/* ---- the packet decoder ---- */

struct capture {
	uint8_t pkt[4][2048];
	size_t len[4];
	int n;
};

static void cap_out(void *user, const uint8_t *pkt, size_t len)
{
	struct capture *c = user;

	if (c->n < 4 && len <= sizeof(c->pkt[0])) {
		memcpy(c->pkt[c->n], pkt, len);
		c->len[c->n] = len;
	}
	c->n++;
}

static void put_seg(uint8_t *h, uint32_t conv, uint8_t cmd, uint8_t frg, uint16_t wnd, uint32_t ts,
		    uint32_t sn, uint32_t una, uint32_t len)
{
	uint32_t v[6] = { conv, 0, ts, sn, una, len };
	int i, k;

	for (i = 0; i < 6; i++)
		for (k = 0; k < 4; k++)
			h[i * 4 + k] = (uint8_t)(v[i] >> (8 * k));
	h[4] = cmd;
	h[5] = frg;
	h[6] = (uint8_t)wnd;
	h[7] = (uint8_t)(wnd >> 8);
}

static void same_state(struct arq *a, const struct arq_stats *before)
{
	struct arq_stats st;

	arq_get_stats(a, &st);
	CHECK_EQ_INT(st.recv_pkts, before->recv_pkts);
	CHECK_EQ_INT(st.rmt_wnd, before->rmt_wnd);
	CHECK_EQ_INT(st.inflight, before->inflight);
	CHECK_EQ_INT(st.delivered, before->delivered);
	CHECK_EQ_INT(arq_recv_avail(a), 0);
}

static void test_wire_format(void)
{
	struct capture c = { .n = 0 };
	struct arq_params p;
	struct arq *a;
	const uint8_t *h;

	params(&p);
	a = arq_new(&p, 1000, cap_out, &c);
	CHECK_EQ_INT(arq_send(a, (const uint8_t *)"hello", 5), 5);
	CHECK_EQ_INT(arq_send(a, (const uint8_t *)" world", 6), 6);	/* coalesced */
	arq_flush(a, 1000);
	CHECK_EQ_INT(c.n, 1);
	CHECK_EQ_INT(c.len[0], ARQ_HDR_LEN + 11);
	h = c.pkt[0];
	CHECK(h[0] == 0x44 && h[1] == 0x33 && h[2] == 0x22 && h[3] == 0x11);	/* conv LE */
	CHECK_EQ_INT(h[4], ARQ_CMD_PUSH);
	CHECK_EQ_INT(h[5], 0);
	CHECK_EQ_INT(h[6] | h[7] << 8, p.max_wnd);			/* wnd */
	CHECK_EQ_INT(h[8] | h[9] << 8, 1000);				/* ts */
	CHECK_EQ_INT(h[12] | h[13] << 8 | h[14] << 16, 0);		/* sn */
	CHECK_EQ_INT(h[16] | h[17] << 8, 0);				/* una */
	CHECK_EQ_INT(h[20] | h[21] << 8, 11);				/* len */
	CHECK(memcmp(h + ARQ_HDR_LEN, "hello world", 11) == 0);
	arq_free(a);
}

static void test_malformed(void)
{
	struct capture c = { .n = 0 };
	struct arq_params p;
	struct arq_stats before;
	struct arq *a;
	uint8_t pkt[256];
	size_t i;

	params(&p);
	a = arq_new(&p, 0, cap_out, &c);
	arq_send(a, (const uint8_t *)"x", 1);	/* snd_nxt = 1 after the flush */
	arq_flush(a, 0);
	arq_get_stats(a, &before);

	/* every truncation of a header */
	put_seg(pkt, CONV, ARQ_CMD_PUSH, 0, 100, 5, 0, 0, 4);
	memcpy(pkt + ARQ_HDR_LEN, "abcd", 4);
	for (i = 0; i < ARQ_HDR_LEN; i++)
		CHECK_EQ_INT(arq_input(a, pkt, i, 1), -EPROTO);
	/* data shorter than len */
	for (i = ARQ_HDR_LEN; i < ARQ_HDR_LEN + 4; i++)
		CHECK_EQ_INT(arq_input(a, pkt, i, 1), -EPROTO);
	/* len past the end, huge */
	put_seg(pkt, CONV, ARQ_CMD_PUSH, 0, 100, 5, 0, 0, 0xffffffffu);
	CHECK_EQ_INT(arq_input(a, pkt, ARQ_HDR_LEN + 4, 1), -EPROTO);
	/* wrong conv */
	put_seg(pkt, CONV + 1, ARQ_CMD_PUSH, 0, 100, 5, 0, 0, 4);
	CHECK_EQ_INT(arq_input(a, pkt, ARQ_HDR_LEN + 4, 1), -EBADMSG);
	/* unknown cmd, frg, empty PUSH, data on an ACK / WASK */
	put_seg(pkt, CONV, 99, 0, 100, 5, 0, 0, 0);
	CHECK_EQ_INT(arq_input(a, pkt, ARQ_HDR_LEN, 1), -EPROTO);
	put_seg(pkt, CONV, ARQ_CMD_PUSH, 1, 100, 5, 0, 0, 4);
	CHECK_EQ_INT(arq_input(a, pkt, ARQ_HDR_LEN + 4, 1), -EPROTO);
	put_seg(pkt, CONV, ARQ_CMD_PUSH, 0, 100, 5, 0, 0, 0);
	CHECK_EQ_INT(arq_input(a, pkt, ARQ_HDR_LEN, 1), -EPROTO);
	put_seg(pkt, CONV, ARQ_CMD_ACK, 0, 100, 5, 0, 0, 4);
	CHECK_EQ_INT(arq_input(a, pkt, ARQ_HDR_LEN + 4, 1), -EPROTO);
	put_seg(pkt, CONV, ARQ_CMD_WASK, 0, 100, 5, 0, 0, 1);
	CHECK_EQ_INT(arq_input(a, pkt, ARQ_HDR_LEN + 1, 1), -EPROTO);
	/* ACK of an sn never sent, una beyond what was sent */
	put_seg(pkt, CONV, ARQ_CMD_ACK, 0, 100, 5, 1, 0, 0);
	CHECK_EQ_INT(arq_input(a, pkt, ARQ_HDR_LEN, 1), -EPROTO);
	put_seg(pkt, CONV, ARQ_CMD_ACK, 0, 100, 5, 0x80000000u, 0, 0);
	CHECK_EQ_INT(arq_input(a, pkt, ARQ_HDR_LEN, 1), -EPROTO);
	put_seg(pkt, CONV, ARQ_CMD_WINS, 0, 100, 5, 0, 2, 0);
	CHECK_EQ_INT(arq_input(a, pkt, ARQ_HDR_LEN, 1), -EPROTO);
	/* a PUSH absurdly far ahead or behind */
	put_seg(pkt, CONV, ARQ_CMD_PUSH, 0, 100, 5, ARQ_SN_HORIZON + 1, 0, 4);
	CHECK_EQ_INT(arq_input(a, pkt, ARQ_HDR_LEN + 4, 1), -EPROTO);
	put_seg(pkt, CONV, ARQ_CMD_PUSH, 0, 100, 5, 0x80000000u, 0, 4);
	CHECK_EQ_INT(arq_input(a, pkt, ARQ_HDR_LEN + 4, 1), -EPROTO);
	/* a good segment followed by a bad one: the whole packet is dropped */
	put_seg(pkt, CONV, ARQ_CMD_PUSH, 0, 100, 5, 0, 0, 4);
	memcpy(pkt + ARQ_HDR_LEN, "abcd", 4);
	put_seg(pkt + 28, CONV, 7, 0, 100, 5, 1, 0, 0);
	CHECK_EQ_INT(arq_input(a, pkt, 28 + ARQ_HDR_LEN, 1), -EPROTO);
	same_state(a, &before);

	/* A valid 3-segment packet split at every offset: only segment boundaries parse. */
	put_seg(pkt, CONV, ARQ_CMD_PUSH, 0, 100, 5, 0, 0, 4);
	memcpy(pkt + ARQ_HDR_LEN, "abcd", 4);
	put_seg(pkt + 28, CONV, ARQ_CMD_ACK, 0, 100, 0, 0, 0, 0);
	put_seg(pkt + 52, CONV, ARQ_CMD_PUSH, 0, 100, 5, 1, 1, 3);
	memcpy(pkt + 76, "efg", 3);
	for (i = 0; i <= 79; i++) {
		struct capture c2 = { .n = 0 };
		struct arq *b = arq_new(&p, 0, cap_out, &c2);
		uint8_t out[16];
		int rc;

		arq_send(b, (const uint8_t *)"x", 1);
		arq_flush(b, 0);
		rc = arq_input(b, pkt, i, 1);
		if (i == 28 || i == 52 || i == 79) {
			CHECK_EQ_INT(rc, 0);
			CHECK_EQ_INT(arq_recv(b, out, sizeof(out)), i == 79 ? 7 : 4);
		} else {
			CHECK_EQ_INT(rc, -EPROTO);
			CHECK_EQ_INT(arq_recv_avail(b), 0);
		}
		arq_free(b);
	}
	arq_free(a);
}

/* ---- an interactive session: small exchanges, then the last words ---- */

/* Run the link until engine `to` has n bytes to read; returns the time taken. */
static uint64_t until_avail(struct link *l, int to, size_t n, uint64_t limit_ms)
{
	uint64_t t0 = l->now;

	while (arq_recv_avail(l->e[to]) < n && l->now - t0 < limit_ms) {
		link_deliver(l);
		link_tick(l);
		if (arq_recv_avail(l->e[to]) >= n)
			break;
		l->now++;
	}
	return l->now - t0;
}

/*
 * A fresh session carrying request/reply traffic (a tunnel's first streams
 * on loopback): the one delivery sample that happened to span a tick of the
 * 1 ms clock (a 40-byte open) must not set the pace of what follows. Each
 * 1,000-byte message arrives at once, not after the ~25 ms that pacing at a
 * few dozen bytes per ms made it wait.
 */
static void test_interactive_start(void)
{
	struct link l;
	struct link_out o[2];
	struct arq_params p;
	struct arq_stats st;
	static uint8_t buf[4096];
	uint64_t worst = 0, t;
	int i, k;

	params(&p);
	setup(&l, o, &p, 9);
	/* the first round trip crosses a tick of the engine's 1 ms clock */
	for (i = 0; i < 2; i++)
		l.d[i].delay_ms = 1;
	/* a stream open and its answer: a few dozen bytes */
	CHECK_EQ_INT(arq_send(l.e[0], buf, 40), 40);
	arq_flush(l.e[0], l.now);
	until_avail(&l, 1, 40, 1000);
	CHECK_EQ_INT(arq_recv(l.e[1], buf, sizeof(buf)), 40);
	CHECK_EQ_INT(arq_send(l.e[1], buf, 20), 20);
	arq_flush(l.e[1], l.now);
	until_avail(&l, 0, 20, 1000);
	CHECK_EQ_INT(arq_recv(l.e[0], buf, sizeof(buf)), 20);
	/* then loopback: a round trip well under 1 ms; echoes, as 0403 does */
	for (i = 0; i < 2; i++)
		l.d[i].delay_ms = 0;
	for (k = 0; k < 6; k++) {
		for (i = 0; i < 2; i++) {
			CHECK_EQ_INT(arq_send(l.e[i], buf, 1000), 1000);
			arq_flush(l.e[i], l.now);
			t = until_avail(&l, 1 - i, 1000, 1000);
			if (t > worst)
				worst = t;
			CHECK_EQ_INT(arq_recv(l.e[1 - i], buf, sizeof(buf)), 1000);
		}
	}
	arq_get_stats(l.e[0], &st);
	printf("interactive start: worst message %llu ms, btl_bw %llu B/s, pacing %llu B/s\n",
	       (unsigned long long)worst, (unsigned long long)st.btl_bw,
	       (unsigned long long)st.pacing_rate);
	CHECK(worst <= 2);
	teardown(&l);
}

/*
 * The last words: an engine in the middle of a paced bulk transfer queues a
 * few more bytes (a GOAWAY) and is freed right after arq_flush_final. On a
 * clean link the peer still gets every byte, with no retransmission; the
 * plain arq_flush would have left the tail queued behind pacing and cwnd.
 */
static void last_words(bool final)
{
	struct link l;
	struct link_out o[2];
	struct xfer x;
	struct arq_params p;
	struct arq *gone;
	static uint8_t buf[65536];
	uint64_t got = 0, t;
	size_t n;
	int i;

	params(&p);
	setup(&l, o, &p, 11);
	memset(&x, 0, sizeof(x));
	for (i = 0; i < 2; i++) {
		l.d[i].delay_ms = 5;
		l.d[i].rate_bpms = 2000;	/* 16 Mbit/s */
		l.d[i].qlimit = 4 << 20;	/* no tail drop */
	}
	x.total[0] = 400000;
	x.max_write = 20000;
	x.paused[1] = true;		/* B's reads are counted below */
	CHECK(!link_run(&l, &x, 60, false));
	CHECK(arq_unacked(l.e[0]) > 100000);	/* mid-transfer: much still queued */
	CHECK_EQ_INT(arq_send(l.e[0], (const uint8_t *)"bye", 3), 3);
	if (final)
		arq_flush_final(l.e[0], l.now);
	else
		arq_flush(l.e[0], l.now);
	/* A is gone: a fresh engine takes its acks and sends nothing */
	gone = l.e[0];
	l.e[0] = arq_new(&p, l.now, link_output, &o[0]);
	CHECK(l.e[0] != NULL);
	for (t = l.now + 5000; l.now < t; l.now++) {
		link_deliver(&l);
		while ((n = arq_recv(l.e[1], buf, sizeof(buf))) > 0)
			got += n;
		link_tick(&l);
	}
	if (final)
		CHECK_EQ_INT(got, x.sent[0] + 3);
	else
		CHECK(got < x.sent[0] + 3);
	arq_free(gone);
	teardown(&l);
}

static void test_last_words(void)
{
	last_words(true);
	last_words(false);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	RUN(test_wire_format);
	RUN(test_malformed);
	RUN(test_send_backpressure);
	RUN(test_fast_retransmit);
	RUN(test_rto);
	RUN(test_zero_window);
	RUN(test_adaptive_window);
	RUN(test_interactive_start);
	RUN(test_last_words);
	RUN(test_integrity);
	return unit_done();
}
