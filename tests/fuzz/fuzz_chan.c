/*
 * tchan over arbitrary datagrams: a server with one established channel and
 * one waiting for its key confirmation, a client that is connected and one
 * still in its handshake. The RNG is deterministic, so tags and keys are the
 * same on every run and the fuzzer can learn them. Each record of the input
 * is one datagram, either raw bytes or a real packet of the session with
 * bytes XORed in, sent to one of the endpoints; time moves on between them.
 * Checks: no crash, nothing emitted larger than TCHAN_MAX_PACKET, a payload
 * is never larger than the output buffer, the server's channel count stays
 * within what real handshakes made.
 *
 * Record: ctl (1 byte) len (1 byte) bytes[len]
 *   ctl & 3:  0 server, 1 connected client, 2 handshaking client, 3 server channel direct
 *   ctl & 4:  XOR bytes into real packet (ctl >> 4) % NREAL instead of sending them raw
 *   ctl & 8:  advance time by len * 100 ms and tick everything first
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

struct sink {
	uint8_t last[TCHAN_MAX_PACKET];
	size_t len;
	unsigned int count;
};

static void emit_fn(void *user, const uint8_t *pkt, size_t len)
{
	struct sink *s = user;

	if (len > TCHAN_MAX_PACKET)
		abort();
	memcpy(s->last, pkt, len);
	s->len = len;
	s->count++;
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
	struct sink to_srv = { 0 }, to_cli = { 0 }, to_hs = { 0 }, to_pend = { 0 };
	struct tchan_server *srv;
	struct tchan *cli, *hs, *sch = NULL, *pend = NULL, *ch;
	uint8_t out[TCHAN_MAX_PAYLOAD], pkt[TCHAN_MAX_PACKET];
	uint64_t now = 1000, wall = 1764547200000ULL;
	size_t plen, made = 0;

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
	tchan_send(cli, (const uint8_t *)"data from the client", 20, now);
	keep(3, &to_srv);
	tchan_send(sch, (const uint8_t *)"data from the server", 20, now);
	keep(4, &to_cli);
	keep(5, &to_hs);	/* the second client's msg1 */
	if (tchan_server_input(srv, to_hs.last, to_hs.len, now, &pend, out, sizeof(out), &plen) !=
	    TCHAN_NEW)
		abort();
	made++;
	tchan_set_emit(pend, emit_fn, &to_pend);
	tchan_flush(pend);
	keep(6, &to_pend);	/* its msg2, not delivered */
	tchan_send(cli, NULL, 0, now);
	keep(7, &to_srv);

	while (size >= 2) {
		uint8_t ctl = data[0];
		size_t len = data[1], n;
		const uint8_t *p = data + 2;
		int rc;

		if (len > size - 2)
			len = size - 2;
		data += 2 + len;
		size -= 2 + len;
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
			break;
		case 1:
			rc = tchan_input(cli, pkt, n, now, out, sizeof(out), &plen);
			if (rc == 1 && plen > sizeof(out))
				abort();
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
			tchan_send(cli, out, 3, now);
		if (tchan_is_ready(sch))
			tchan_send(sch, out, 3, now);
	}
	(void)made;
	tchan_free(cli);
	tchan_free(hs);
	tchan_free(sch);
	tchan_free(pend);
	tchan_server_free(srv);
	return 0;
}
