/*
 * tchan over arbitrary datagrams: a server with one established channel and
 * one waiting for its key confirmation, a client that is connected and one
 * still in its handshake. The RNG is deterministic, so tags and keys are the
 * same on every run and the fuzzer can learn them. Each record of the input
 * is one datagram, either raw bytes or a real packet of the session with
 * bytes XORed in, sent to one of the endpoints; time moves on between them.
 * The client pads its data packets (--tunnel-padding), the server does not.
 * Checks: no crash, nothing emitted larger than TCHAN_MAX_PACKET, a payload
 * is never larger than the output buffer, the server's channel count stays
 * within what real handshakes made.
 *
 * Record: ctl (1 byte) len (1 byte) bytes[len]
 *   ctl & 3:  0 server, 1 connected client, 2 handshaking client, 3 server channel direct
 *   ctl & 4:  XOR bytes into real packet (ctl >> 4) % NREAL instead of sending them raw
 *   ctl & 8:  advance time by len * 100 ms and tick everything first
 * except ctl >= 0xf0, which drives the connected pair instead (its packets
 * wait in two queues; the client rekeys every 2 s, so the fuzzer reorders,
 * drops and duplicates across rekeys), low nibble:
 *   0 client sends bytes, 1 server sends bytes, 2/3 deliver queued packet
 *   bytes[0] to the server/client (bytes[1] & 1: keep a copy), 4/5 drop
 *   one, 6.. advance time by len ms and tick.
 * Every payload the pair accepts must be one its peer sent: forged or
 * mutated datagrams never authenticate.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "tunnel/chan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NREAL 8

struct rng {
	uint64_t n;
};

static void rng_fn(void *ctx, uint8_t *buf, size_t len)
{
	struct rng *r = ctx;
	uint8_t seed[32] = { 0 };

	memcpy(seed, &r->n, sizeof(r->n));
	r->n++;
	randombytes_buf_deterministic(buf, len, seed);
}

#define QN 16
#define NSENT 8192	/* more than an input can send: -max_len 4096 */

struct sink {
	uint8_t last[TCHAN_MAX_PACKET];
	size_t len;
	unsigned int count;
	uint8_t q[QN][TCHAN_MAX_PACKET];	/* the newest QN packets */
	size_t qlen[QN];
	unsigned int qn;
};

static void emit_fn(void *user, const uint8_t *pkt, size_t len)
{
	struct sink *s = user;

	if (len > TCHAN_MAX_PACKET)
		abort();
	memcpy(s->last, pkt, len);
	s->len = len;
	s->count++;
	if (s->qn == QN) {
		memmove(s->q[0], s->q[1], (QN - 1) * sizeof(s->q[0]));
		memmove(s->qlen, s->qlen + 1, (QN - 1) * sizeof(s->qlen[0]));
		s->qn--;
	}
	memcpy(s->q[s->qn], pkt, len);
	s->qlen[s->qn++] = len;
}

static void q_take(struct sink *s, unsigned int i, bool keep_copy, uint8_t *pkt, size_t *len)
{
	*len = s->qlen[i];
	memcpy(pkt, s->q[i], *len);
	if (keep_copy)
		return;
	memmove(s->q[i], s->q[i + 1], (s->qn - i - 1) * sizeof(s->q[0]));
	memmove(s->qlen + i, s->qlen + i + 1, (s->qn - i - 1) * sizeof(s->qlen[0]));
	s->qn--;
}

/* Hashes of the payloads one side sent, to check what the other accepts. */
struct sent {
	uint8_t h[NSENT][16];
	unsigned int n;
};

static void sent_add(struct sent *st, const uint8_t *p, size_t len)
{
	crypto_generichash(st->h[st->n % NSENT], 16, p, len, NULL, 0);
	st->n++;
}

static void sent_check(const struct sent *st, const uint8_t *p, size_t len)
{
	uint8_t h[16];

	crypto_generichash(h, sizeof(h), p, len, NULL, 0);
	for (unsigned int i = 0; i < NSENT && i < st->n; i++)
		if (memcmp(st->h[i], h, 16) == 0)
			return;
	abort();	/* accepted a payload nobody sent */
}

static void send_rec(struct tchan *ch, struct sent *st, const uint8_t *p, size_t len,
		     uint64_t now)
{
	if (tchan_send(ch, p, len, now) == 0)
		sent_add(st, p, len);
}

static uint8_t real[NREAL][TCHAN_MAX_PACKET];
static size_t real_len[NREAL];

static void keep(int i, const struct sink *s)
{
	memcpy(real[i], s->last, s->len);
	real_len[i] = s->len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t psk[32] = "fuzz-psk-fuzz-psk-fuzz-psk-fuzz!";
	static bool init;
	struct rng r = { 0 };
	struct tchan_server *srv;
	struct tchan *cli, *hs, *sch = NULL, *pend = NULL, *ch;
	static struct sink to_srv, to_cli, to_hs, to_pend;
	static struct sent by_cli, by_srv;
	uint8_t out[TCHAN_MAX_PAYLOAD] = { 0 }, pkt[TCHAN_MAX_PACKET];
	uint64_t now = 1000, wall = 1764547200000ULL;
	size_t plen, made = 0;

	memset(&to_srv, 0, sizeof(to_srv));
	memset(&to_cli, 0, sizeof(to_cli));
	memset(&to_hs, 0, sizeof(to_hs));
	memset(&to_pend, 0, sizeof(to_pend));
	by_cli.n = by_srv.n = 0;
	if (!init) {
		if (sodium_init() < 0)
			abort();
		init = true;
	}
	srv = tchan_server_new(psk, now, wall, rng_fn, &r);
	cli = tchan_client_new(psk, now, wall, rng_fn, &r, emit_fn, &to_srv);
	hs = tchan_client_new(psk, now, wall, rng_fn, &r, emit_fn, &to_hs);
	if (!srv || !cli || !hs)
		abort();
	keep(0, &to_srv);	/* msg1 */
	if (tchan_server_input(srv, to_srv.last, to_srv.len, now, &sch, out, sizeof(out), &plen) !=
	    TCHAN_NEW)
		abort();
	made++;
	tchan_set_emit(sch, emit_fn, &to_cli);
	tchan_flush(sch);
	keep(1, &to_cli);	/* msg2 */
	tchan_input(cli, to_cli.last, to_cli.len, now, out, sizeof(out), &plen);
	keep(2, &to_srv);	/* confirmation */
	tchan_server_input(srv, to_srv.last, to_srv.len, now, &ch, out, sizeof(out), &plen);
	if (!tchan_is_ready(cli) || !tchan_is_ready(sch))
		abort();
	tchan_set_rekey_interval(cli, 2000);
	tchan_set_padding(cli, 64, TCHAN_MAX_PAYLOAD);	/* PT_DATA_PAD one way, plain the other */
	send_rec(cli, &by_cli, (const uint8_t *)"data from the client", 20, now);
	keep(3, &to_srv);
	send_rec(sch, &by_srv, (const uint8_t *)"data from the server", 20, now);
	keep(4, &to_cli);
	keep(5, &to_hs);	/* the second client's msg1 */
	if (tchan_server_input(srv, to_hs.last, to_hs.len, now, &pend, out, sizeof(out), &plen) !=
	    TCHAN_NEW)
		abort();
	made++;
	tchan_set_emit(pend, emit_fn, &to_pend);
	tchan_flush(pend);
	keep(6, &to_pend);	/* its msg2, not delivered */
	send_rec(cli, &by_cli, NULL, 0, now);
	keep(7, &to_srv);
	to_srv.qn = to_cli.qn = 0;

	while (size >= 2) {
		uint8_t ctl = data[0];
		size_t len = data[1], n;
		const uint8_t *p = data + 2;
		int rc;

		if (len > size - 2)
			len = size - 2;
		data += 2 + len;
		size -= 2 + len;
		if (ctl >= 0xf0) {
			unsigned int op = ctl & 0x0f;
			struct sink *q = op == 2 || op == 4 ? &to_srv : &to_cli;

			if (op == 0)
				send_rec(cli, &by_cli, p, len, now);
			else if (op == 1)
				send_rec(sch, &by_srv, p, len, now);
			else if (op <= 5 && q->qn) {
				unsigned int i = len ? p[0] % q->qn : 0;

				q_take(q, i, op <= 3 && len > 1 && (p[1] & 1), pkt, &n);
				if (op == 2) {
					rc = tchan_server_input(srv, pkt, n, now, &ch, out, sizeof(out),
								&plen);
					if (rc == TCHAN_DATA)
						sent_check(&by_cli, out, plen);
					if (rc == TCHAN_NEW)
						abort();	/* queued packets are not msg1 */
				} else if (op == 3) {
					if (tchan_input(cli, pkt, n, now, out, sizeof(out), &plen) == 1)
						sent_check(&by_srv, out, plen);
				}
			} else if (op >= 6) {
				now += len;
				tchan_tick(cli, now);
				tchan_tick(sch, now);
			}
			if (tchan_is_ready(cli) && tchan_is_ready(sch) &&
			    tchan_conv(cli) != tchan_conv(sch))
				abort();
			continue;
		}
		if (ctl & 8) {
			now += (uint64_t)len * 100;
			tchan_tick(cli, now);
			tchan_tick(hs, now);
			tchan_tick(sch, now);
			if (pend)
				tchan_tick(pend, now);
		}
		if (ctl & 4) {
			int k = (ctl >> 4) % NREAL;

			n = real_len[k];
			memcpy(pkt, real[k], n);
			for (size_t i = 0; i < len && i < n; i++)
				pkt[i] ^= p[i];
			if (len > n && n + (len - n) <= sizeof(pkt)) {
				memcpy(pkt + n, p + n, len - n);	/* grow it */
				n = len;
			}
		} else {
			n = len;
			memcpy(pkt, p, n);
		}
		switch (ctl & 3) {
		case 0:
			rc = tchan_server_input(srv, pkt, n, now, &ch, out, sizeof(out), &plen);
			if (rc == TCHAN_NEW) {
				made++;
				tchan_free(ch);	/* a fuzzer-made channel: drop it at once */
			}
			if ((rc == TCHAN_DATA || rc == TCHAN_CTRL) && ch != sch && ch != pend)
				abort();
			if (rc == TCHAN_DATA && plen > sizeof(out))
				abort();
			if (rc == TCHAN_DATA && ch == sch)
				sent_check(&by_cli, out, plen);
			break;
		case 1:
			rc = tchan_input(cli, pkt, n, now, out, sizeof(out), &plen);
			if (rc == 1 && plen > sizeof(out))
				abort();
			if (rc == 1)
				sent_check(&by_srv, out, plen);
			break;
		case 2:
			rc = tchan_input(hs, pkt, n, now, out, 16, &plen);
			if (rc == 1 && plen > 16)
				abort();
			break;
		default:
			rc = tchan_input(sch, pkt, n, now, out, 7, &plen);
			if (rc == 1 && plen > 7)
				abort();
			break;
		}
		if (tchan_server_count(srv) > 2)
			abort();
		if (tchan_is_ready(cli) && tchan_conv(cli) != tchan_conv(sch))
			abort();
		if (tchan_is_ready(cli))
			send_rec(cli, &by_cli, out, 3, now);
		if (tchan_is_ready(sch))
			send_rec(sch, &by_srv, out, 3, now);
	}
	(void)made;
	tchan_free(cli);
	tchan_free(hs);
	tchan_free(sch);
	tchan_free(pend);
	tchan_server_free(srv);
	return 0;
}
