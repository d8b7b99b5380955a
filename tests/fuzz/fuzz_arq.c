/*
 * arq engine under arbitrary packets: two engines A and B exchange their own
 * packets through small queues while the input script injects forged or
 * corrupted packets, drops, reorders, advances time, sends and reads. Never a
 * crash or UB; memory stays bounded (receive side <= window, send side <=
 * sndbuf); without forged packets accepted, B reads exactly A's byte stream.
 *
 * Script: a sequence of ops, one byte each, some followed by arguments.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tunnel/arq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CONV 0x0a0b0c0du
#define QCAP 32

struct q {
	uint8_t pkt[QCAP][1500];
	size_t len[QCAP];
	unsigned head, n;
};

static struct q qs[2];	/* qs[0]: A -> B, qs[1]: B -> A */

static void out(void *user, const uint8_t *pkt, size_t len)
{
	struct q *q = user;
	unsigned i;

	if (len > sizeof(q->pkt[0]))
		abort();	/* the engine exceeded its mtu */
	if (q->n == QCAP)
		return;		/* the link is full: dropped */
	i = (q->head + q->n++) % QCAP;
	memcpy(q->pkt[i], pkt, len);
	q->len[i] = len;
}

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)(off * 131 + (off >> 8));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arq_params p;
	struct arq *e[2];
	uint8_t buf[4096];
	uint64_t now = 0, sent = 0, rcvd = 0;
	bool forged = false;
	size_t i = 0, k;
	uint32_t mss;

	memset(qs, 0, sizeof(qs));
	arq_params_default(&p);
	p.conv = CONV;
	if (size && (data[0] & 1)) {
		p.mtu = 200;
		p.snd_wnd = 8;
		p.rcv_wnd = 8;
	}
	if (size && (data[0] & 2))
		p.no_cwnd = true;
	if (size && (data[0] & 4))
		p.nodelay = false;
	p.dead_link = 5 + (size ? data[0] >> 4 : 0);
	p.sndbuf = 64 * 1024;
	p.max_wnd = 64;
	if (size && (data[0] & 8)) {
		/* small segments, big window: the in-flight ring grows past 256 */
		p.mtu = 100;
		p.snd_wnd = p.rcv_wnd = 0;
		p.max_wnd = 1024;
	}
	mss = p.mtu - ARQ_HDR_LEN;
	e[0] = arq_new(&p, 0, out, &qs[0]);
	e[1] = arq_new(&p, 0, out, &qs[1]);
	if (!e[0] || !e[1])
		abort();
	if (size)
		i = 1;
	while (i < size) {
		uint8_t op = data[i++], arg = i < size ? data[i] : 0;
		struct q *q;

		switch (op % 8) {
		case 0: {	/* forged packet to B: [len][bytes], conv patched if op & 8 */
			size_t len = arg;
			uint8_t pkt[256];

			i++;
			if (len > size - i)
				len = size - i;
			memcpy(pkt, data + i, len);
			i += len;
			if ((op & 8) && len >= 4)
				memcpy(pkt, "\x0d\x0c\x0b\x0a", 4);
			if (arq_input(e[1], pkt, len, now) == 0)
				forged = true;
			break;
		}
		case 1:		/* deliver A->B or B->A; op & 8: flip a byte first */
		case 2:
			q = &qs[op % 8 == 1 ? 0 : 1];
			if (!q->n)
				break;
			if (op & 8) {
				uint8_t *pk = q->pkt[q->head];

				pk[arg % q->len[q->head]] ^= (uint8_t)(1u << (op >> 5));
				i++;
				if (op % 8 == 1 && arq_input(e[1], pk, q->len[q->head], now) == 0)
					forged = true;	/* may now carry other bytes */
				else if (op % 8 == 2)
					arq_input(e[0], pk, q->len[q->head], now);
			} else {
				arq_input(e[op % 8 == 1 ? 1 : 0], q->pkt[q->head], q->len[q->head], now);
			}
			q->head = (q->head + 1) % QCAP;
			q->n--;
			break;
		case 3: {	/* A sends up to arg * 64 bytes */
			size_t want = (size_t)arg * 64 + 1, got;

			i++;
			if (want > sizeof(buf))
				want = sizeof(buf);
			for (k = 0; k < want; k++)
				buf[k] = pattern(sent + k);
			got = arq_send(e[0], buf, want);
			if (got > want)
				abort();
			sent += got;
			arq_flush(e[0], now);
			break;
		}
		case 4: {	/* B reads up to arg * 16 + 1 bytes */
			size_t got = arq_recv(e[1], buf, (size_t)arg * 16 + 1);

			i++;
			if (!forged)
				for (k = 0; k < got; k++)
					if (buf[k] != pattern(rcvd + k))
						abort();	/* reordered, lost or duplicated bytes */
			rcvd += got;
			break;
		}
		case 5:		/* time passes; both tick */
			now += (uint64_t)arg * (op & 8 ? 97 : 3);
			i++;
			arq_tick(e[0], now);
			arq_tick(e[1], now);
			break;
		case 6:		/* drop the next packet of one direction */
			q = &qs[(op >> 3) & 1];
			if (q->n) {
				q->head = (q->head + 1) % QCAP;
				q->n--;
			}
			break;
		default: {	/* reorder: move one queued packet to the tail */
			q = &qs[(op >> 3) & 1];
			if (q->n > 1) {
				uint8_t tmp[1500];
				size_t tl = q->len[q->head];

				memcpy(tmp, q->pkt[q->head], tl);
				q->head = (q->head + 1) % QCAP;
				q->n--;
				out(q, tmp, tl);
			}
			break;
		}
		}
		/* bounded memory, whatever arrives */
		if (arq_recv_avail(e[1]) > (size_t)(p.rcv_wnd ? p.rcv_wnd : p.max_wnd) * 65536)
			abort();
		if (!forged && arq_recv_avail(e[1]) > (size_t)(p.rcv_wnd ? p.rcv_wnd : p.max_wnd) * mss)
			abort();
		if (arq_unacked(e[0]) > p.sndbuf)
			abort();
		(void)arq_next_tick(e[0], now);
		(void)arq_next_tick(e[1], now);
	}
	arq_free(e[0]);
	arq_free(e[1]);
	return 0;
}
