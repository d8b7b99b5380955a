/*
 * Fuzz the mux frame decoder: the input is fed to a server-side and a
 * client-side mux in pieces whose sizes come from the input's first byte;
 * the callbacks accept, read, answer and close streams so that every path
 * the peer can drive gets exercised. Anything but a clean return is a bug.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tunnel/mux.h"

static uint8_t sink[1 << 17];
static const uint8_t reply[] = "pong";

static void on_open(void *u, struct mux_stream *s, const struct mux_dest *d)
{
	if (d->port & 1)
		mux_refuse(s, (uint8_t)d->port);
	else
		mux_accept(s);
	if (d->port & 2)
		mux_stream_free(s);
}

static void on_open_result(void *u, struct mux_stream *s, uint8_t reason)
{
	if (reason)
		mux_stream_free(s);
}

static void on_data(void *u, struct mux_stream *s)
{
	const uint8_t *p;
	size_t n = mux_stream_peek(s, &p);

	if (n)
		mux_stream_consume(s, n > 3 ? n - 3 : n);
	if (!mux_stream_write_pending(s))
		mux_stream_write(s, reply, sizeof(reply));
	if (mux_stream_is_eof(s)) {
		mux_stream_fin(s);
		if (n & 1)
			mux_stream_free(s);
	}
}

static void on_sent(void *u, struct mux_stream *s)
{
}

static void on_reset(void *u, struct mux_stream *s, uint8_t reason)
{
	mux_stream_free(s);
}

static const struct mux_ops ops = {
	.on_open = on_open,
	.on_open_result = on_open_result,
	.on_data = on_data,
	.on_sent = on_sent,
	.on_reset = on_reset,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (int role = 0; role < 2; role++) {
		struct mux_params p;
		struct mux *m;
		size_t step, off = 1;
		uint64_t now = 0;

		if (size < 1)
			return 0;
		mux_params_default(&p, role == 1);
		p.window = 4096;
		m = mux_new(&p, &ops, NULL, 0);
		if (!m)
			return 0;
		if (role == 1) {
			struct mux_dest d = { .type = MUX_DEST_IPV4, .port = 80 };

			mux_open(m, &d);
			mux_open(m, &d);
		}
		step = (size_t)(data[0] & 0x3f) + 1;
		while (off < size) {
			size_t n = size - off < step ? size - off : step;

			if (mux_input(m, data + off, n, now) < 0)
				break;
			off += n;
			now += 1000;
			mux_tick(m, now);
			mux_pull(m, sink, (data[0] & 0x40) ? 64 : sizeof(sink));
		}
		mux_pull(m, sink, sizeof(sink));
		if (data[0] & 0x80)
			mux_kill(m, MUX_R_DEAD);
		mux_free(m);
	}
	return 0;
}
