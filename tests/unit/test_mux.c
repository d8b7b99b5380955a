/* mux: frames whole and split at every offset, flow control, half-close, RST, keepalive. */
#include "unit.h"

#include <errno.h>
#include <stdlib.h>

#include "tunnel/mux.h"

/* What one side saw, for comparing runs. */
struct side {
	struct mux *m;
	struct mux_stream *last;	/* last stream an event was about */
	int opens, results, datas, sents, resets;
	uint8_t last_reason;
	struct mux_dest dest;
	bool accept;			/* server: accept OPENs at once */
	bool consume;			/* read everything on on_data */
	uint8_t got[1 << 21];
	size_t ngot;
	bool eof;
};

static void on_open(void *u, struct mux_stream *s, const struct mux_dest *d)
{
	struct side *x = u;

	x->opens++;
	x->last = s;
	x->dest = *d;
	if (x->accept)
		mux_accept(s);
}

static void on_open_result(void *u, struct mux_stream *s, uint8_t reason)
{
	struct side *x = u;

	x->results++;
	x->last = s;
	x->last_reason = reason;
}

static void drain(struct side *x, struct mux_stream *s)
{
	const uint8_t *p;
	size_t n;

	while ((n = mux_stream_peek(s, &p)) > 0) {
		if (x->ngot + n <= sizeof(x->got))
			memcpy(x->got + x->ngot, p, n);
		x->ngot += n;
		mux_stream_consume(s, n);
	}
	if (mux_stream_is_eof(s))
		x->eof = true;
}

static void on_data(void *u, struct mux_stream *s)
{
	struct side *x = u;

	x->datas++;
	x->last = s;
	if (x->consume)
		drain(x, s);
	else if (mux_stream_is_eof(s))
		x->eof = true;
}

static void on_sent(void *u, struct mux_stream *s)
{
	struct side *x = u;

	x->sents++;
}

static void on_reset(void *u, struct mux_stream *s, uint8_t reason)
{
	struct side *x = u;

	x->resets++;
	x->last = s;
	x->last_reason = reason;
}

static const struct mux_ops ops = {
	.on_open = on_open,
	.on_open_result = on_open_result,
	.on_data = on_data,
	.on_sent = on_sent,
	.on_reset = on_reset,
};

static void side_init(struct side *x, bool client)
{
	struct mux_params p;

	memset(x, 0, sizeof(*x));
	mux_params_default(&p, client);
	x->m = mux_new(&p, &ops, x, 0);
	x->accept = true;
	x->consume = true;
}

/* Move everything a can send to b (whole). Returns bytes moved. */
static size_t pump(struct side *a, struct side *b)
{
	static uint8_t buf[256 * 1024];
	size_t n, total = 0;

	while ((n = mux_pull(a->m, buf, sizeof(buf))) > 0) {
		CHECK_EQ_INT(mux_input(b->m, buf, n, 0), 0);
		total += n;
	}
	return total;
}

static void pump_both(struct side *a, struct side *b)
{
	while (pump(a, b) + pump(b, a) > 0)
		;
}

static void test_dest(void)
{
	static const struct {
		const char *hex_like;
		uint8_t bytes[32];
		size_t n;
		int rc;
	} cases[] = {
		{ "v4", { 1, 127, 0, 0, 1, 0, 80 }, 7, 0 },
		{ "v4 short", { 1, 127, 0, 0, 1, 0 }, 6, -EPROTO },
		{ "v6", { 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 187 }, 19, 0 },
		{ "name", { 3, 3, 'a', 'b', 'c', 0, 22 }, 7, 0 },
		{ "name empty", { 3, 0, 0, 22 }, 4, -EPROTO },
		{ "name long", { 3, 4, 'a', 'b', 'c', 0, 22 }, 7, -EPROTO },
		{ "name nul", { 3, 3, 'a', 0, 'c', 0, 22 }, 7, -EPROTO },
		{ "atyp", { 2, 1, 2, 3, 4, 0, 1 }, 7, -EPROTO },
		{ "empty", { 0 }, 0, -EPROTO },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mux_dest d;
		uint8_t out[300];
		int rc = mux_dest_decode(cases[i].bytes, cases[i].n, &d);

		CHECK_EQ_INT(rc, cases[i].rc);
		if (rc == 0) {
			CHECK_EQ_INT(mux_dest_encode(&d, out, sizeof(out)), (int)cases[i].n);
			CHECK(memcmp(out, cases[i].bytes, cases[i].n) == 0);
		}
	}
	{
		struct mux_dest d = { .type = MUX_DEST_NAME, .port = 443 };
		uint8_t out[300];

		strcpy(d.name, "example.org");
		CHECK_EQ_INT(mux_dest_encode(&d, out, 10), -EINVAL);
		d.name[0] = '\0';
		CHECK_EQ_INT(mux_dest_encode(&d, out, sizeof(out)), -EINVAL);
	}
}

/* A client's output: OPEN, DATA, FIN, PING. */
static size_t client_bytes(uint8_t *buf, size_t cap)
{
	struct side *c = calloc(1, sizeof(*c));
	struct mux_dest d = { .type = MUX_DEST_NAME, .port = 8080 };
	struct mux_stream *s, *s2;
	static const uint8_t msg[] = "hello, tunnel";
	size_t n;

	side_init(c, true);
	strcpy(d.name, "localhost");
	s = mux_open(c->m, &d);
	CHECK(s != NULL);
	CHECK_EQ_INT(mux_stream_id(s), 1);
	CHECK_EQ_INT(mux_stream_write(s, msg, sizeof(msg) - 1), 0);
	CHECK_EQ_INT(mux_stream_write(s, msg, 1), -EBUSY);
	CHECK_EQ_INT(mux_stream_fin(s), 0);
	d.type = MUX_DEST_IPV4;
	memcpy(d.addr, "\x7f\0\0\x01", 4);
	s2 = mux_open(c->m, &d);
	CHECK_EQ_INT(mux_stream_id(s2), 3);
	mux_tick(c->m, 20000);		/* keepalive due: a PING */
	n = mux_pull(c->m, buf, cap);
	CHECK_EQ_INT(c->sents, 1);
	CHECK_EQ_INT(mux_stream_write(s, msg, 1), -EPIPE);
	mux_free(c->m);
	free(c);
	return n;
}

static void test_split(void)
{
	uint8_t buf[4096], back[4096];
	size_t n = client_bytes(buf, sizeof(buf));
	struct side *ref = calloc(1, sizeof(*ref)), *x = calloc(1, sizeof(*x));

	/* OPEN(23) + OPEN(14) ctrl first, then PING, DATA(7+13), FIN(7). */
	CHECK(n > 0);
	side_init(ref, false);
	CHECK_EQ_INT(mux_input(ref->m, buf, n, 5), 0);
	CHECK_EQ_INT(ref->opens, 2);
	CHECK_EQ_INT(ref->ngot, 13);
	CHECK(memcmp(ref->got, "hello, tunnel", 13) == 0);
	CHECK(ref->eof);
	CHECK_EQ_INT(ref->dest.type, MUX_DEST_IPV4);
	CHECK_EQ_INT(ref->dest.port, 8080);
	/* The PING is answered with a PONG, the two OPENs with OPEN_OK. */
	size_t nb = mux_pull(ref->m, back, sizeof(back));
	CHECK_EQ_INT(nb, 2 * MUX_HDR_LEN + MUX_HDR_LEN + 8);
	mux_free(ref->m);

	for (size_t cut = 0; cut <= n; cut++) {
		side_init(x, false);
		CHECK_EQ_INT(mux_input(x->m, buf, cut, 5), 0);
		CHECK_EQ_INT(mux_input(x->m, buf + cut, n - cut, 5), 0);
		CHECK_EQ_INT(x->opens, 2);
		CHECK_EQ_INT(x->ngot, 13);
		CHECK(x->eof);
		CHECK_EQ_INT(mux_pull(x->m, back, sizeof(back)), nb);
		mux_free(x->m);
	}
	/* Byte by byte. */
	side_init(x, false);
	for (size_t i = 0; i < n; i++)
		CHECK_EQ_INT(mux_input(x->m, buf + i, 1, 5), 0);
	CHECK_EQ_INT(x->opens, 2);
	CHECK_EQ_INT(x->ngot, 13);
	CHECK(x->eof);
	mux_free(x->m);
	free(ref);
	free(x);
}

static void test_bad_frames(void)
{
	static const struct {
		uint8_t b[32];
		size_t n;
	} bad[] = {
		{ { 0, 0, 0, 0, 1, 0, 0 }, 7 },			/* type 0 */
		{ { 10, 0, 0, 0, 1, 0, 0 }, 7 },		/* type 10 */
		{ { MUX_WINDOW, 0, 0, 0, 1, 0, 3, 0, 0, 1 }, 10 },	/* WINDOW len 3 */
		{ { MUX_FIN, 0, 0, 0, 1, 0, 1, 0 }, 8 },	/* FIN with payload */
		{ { MUX_PING, 0, 0, 0, 1, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8 }, 15 }, /* PING on a stream */
		{ { MUX_OPEN, 0, 0, 0, 2, 0, 7, 1, 127, 0, 0, 1, 0, 80 }, 14 }, /* even id from a client */
		{ { MUX_OPEN, 0, 0, 0, 1, 0, 6, 1, 127, 0, 0, 1, 0 }, 13 }, /* bad dest */
		{ { MUX_RST, 0, 0, 0, 0, 0, 1, 1 }, 8 },	/* stream 0 */
		{ { MUX_OPEN, 0, 0, 1, 0, 1, 16 }, 7 },	/* OPEN too long */
	};
	struct side *x = calloc(1, sizeof(*x));

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		side_init(x, false);
		CHECK_EQ_INT(mux_input(x->m, bad[i].b, bad[i].n, 0), -EPROTO);
		CHECK_EQ_INT(mux_input(x->m, bad[i].b, 1, 0), -EPROTO);	/* stays broken */
		CHECK_EQ_INT(mux_pull(x->m, x->got, 100), 0);
		mux_free(x->m);
	}
	/* An OPEN reusing an id. */
	{
		uint8_t b[] = { MUX_OPEN, 0, 0, 0, 1, 0, 7, 1, 127, 0, 0, 1, 0, 80 };

		side_init(x, false);
		CHECK_EQ_INT(mux_input(x->m, b, sizeof(b), 0), 0);
		CHECK_EQ_INT(mux_input(x->m, b, sizeof(b), 0), -EPROTO);
		mux_free(x->m);
	}
	/* Frames for unknown streams are ignored. */
	{
		uint8_t b[] = { MUX_DATA, 0, 0, 0, 9, 0, 2, 'h', 'i', MUX_FIN, 0, 0, 0, 9, 0, 0,
				MUX_WINDOW, 0, 0, 0, 9, 0, 4, 0, 0, 1, 0 };

		side_init(x, false);
		CHECK_EQ_INT(mux_input(x->m, b, sizeof(b), 0), 0);
		CHECK_EQ_INT(x->datas, 0);
		mux_free(x->m);
	}
	free(x);
}

static struct mux_stream *open_one(struct side *c, struct side *s)
{
	struct mux_dest d = { .type = MUX_DEST_IPV6, .port = 22 };
	struct mux_stream *cs;

	d.addr[15] = 1;
	cs = mux_open(c->m, &d);
	pump_both(c, s);
	CHECK(c->results > 0 && c->last_reason == MUX_R_NONE);
	return cs;
}

static void test_flow_control(void)
{
	struct side *c = calloc(1, sizeof(*c)), *s = calloc(1, sizeof(*s));
	size_t big = 1 << 20;
	uint8_t *data = malloc(big);
	struct mux_stream *cs, *ss;

	for (size_t i = 0; i < big; i++)
		data[i] = (uint8_t)(i * 7 + (i >> 9));
	side_init(c, true);
	side_init(s, false);
	s->consume = false;		/* a slow reader */
	cs = open_one(c, s);
	ss = s->last;
	CHECK_EQ_INT(mux_stream_write(cs, data, big), 0);
	pump_both(c, s);
	/* Only the window got through, and the writer still owns its buffer. */
	CHECK_EQ_INT(mux_stream_avail(ss), MUX_WINDOW_DEFAULT);
	CHECK_EQ_INT(c->sents, 0);
	CHECK(mux_stream_write_pending(cs));
	/* A second stream is not blocked by the first. */
	{
		struct mux_stream *cs2 = open_one(c, s);
		struct mux_stream *ss2 = s->last;

		CHECK_EQ_INT(mux_stream_write(cs2, (const uint8_t *)"x", 1), 0);
		pump_both(c, s);
		CHECK_EQ_INT(mux_stream_avail(ss2), 1);
		CHECK_EQ_INT(c->sents, 1);
		mux_stream_free(cs2);
		mux_stream_free(ss2);
		pump_both(c, s);
	}
	/* Reading frees credit; the rest follows. */
	s->consume = true;
	c->sents = 0;
	while (c->sents == 0) {
		drain(s, ss);
		pump_both(c, s);
	}
	drain(s, ss);
	CHECK_EQ_INT(s->ngot, big);
	CHECK(memcmp(s->got, data, big) == 0);
	/* The window grew while the reader kept up. */
	CHECK(mux_stream_avail(ss) == 0);
	mux_stream_free(cs);
	mux_stream_free(ss);
	pump_both(c, s);
	/* Sending past the credit resets the stream. */
	{
		uint8_t f[MUX_HDR_LEN + 100] = { MUX_DATA, 0, 0, 0, 0, 0, 100 };
		int before;

		cs = open_one(c, s);
		ss = s->last;
		f[4] = (uint8_t)mux_stream_id(ss);
		before = s->resets;
		s->consume = false;
		for (int i = 0; i < MUX_WINDOW_DEFAULT / 100 + 2; i++)
			CHECK_EQ_INT(mux_input(s->m, f, sizeof(f), 0), 0);
		CHECK_EQ_INT(s->resets, before + 1);
		CHECK_EQ_INT(s->last_reason, MUX_R_FLOW);
		CHECK(mux_stream_is_reset(ss));
		pump_both(s, c);
		CHECK(mux_stream_is_reset(cs));
	}
	mux_stream_free(cs);
	mux_stream_free(ss);
	CHECK_EQ_INT(mux_nstreams(c->m), 0);
	CHECK_EQ_INT(mux_nstreams(s->m), 0);
	mux_free(c->m);
	mux_free(s->m);
	free(data);
	free(c);
	free(s);
}

/* A fast reader lets the window grow; a stalled one caps what is buffered. */
static void test_autotune(void)
{
	struct side *c = calloc(1, sizeof(*c)), *s = calloc(1, sizeof(*s));
	size_t big = 8 << 20;
	uint8_t *data = calloc(1, big);
	static uint8_t buf[64 * 1024];
	struct mux_stream *cs, *ss;
	size_t n, max_frame_run = 0;

	side_init(c, true);
	side_init(s, false);
	cs = open_one(c, s);
	ss = s->last;
	mux_stream_write(cs, data, big);
	/* One pull per "round trip": how much goes before credit runs out. */
	for (int rtt = 0; rtt < 40 && c->sents == 0; rtt++) {
		size_t run = 0;

		while ((n = mux_pull(c->m, buf, sizeof(buf))) > 0) {
			CHECK_EQ_INT(mux_input(s->m, buf, n, 0), 0);
			run += n;
		}
		if (run > max_frame_run)
			max_frame_run = run;
		pump(s, c);		/* the grants */
	}
	CHECK(c->sents == 1);
	CHECK(max_frame_run > 2 * MUX_WINDOW_DEFAULT);	/* it grew */
	CHECK_EQ_INT(s->ngot, big);
	mux_stream_free(cs);
	mux_stream_free(ss);
	mux_free(c->m);
	mux_free(s->m);
	free(data);
	free(c);
	free(s);
}

static void test_fairness(void)
{
	struct side *c = calloc(1, sizeof(*c)), *s = calloc(1, sizeof(*s));
	static uint8_t a[100000], b[100000], out[40000];
	struct mux_stream *s1, *s2;
	size_t n;
	int ids[8] = { 0 }, k = 0;

	side_init(c, true);
	side_init(s, false);
	s1 = open_one(c, s);
	s2 = open_one(c, s);
	mux_stream_write(s1, a, sizeof(a));
	mux_stream_write(s2, b, sizeof(b));
	n = mux_pull(c->m, out, sizeof(out));
	/* Walk the frames: stream ids alternate. */
	for (size_t off = 0; off < n && k < 8; k++) {
		ids[k] = out[off + 4];
		off += MUX_HDR_LEN + (size_t)(out[off + 5] << 8 | out[off + 6]);
	}
	CHECK(k >= 2);
	CHECK_EQ_INT(ids[0], 1);
	CHECK_EQ_INT(ids[1], 3);
	if (k >= 3)
		CHECK_EQ_INT(ids[2], 1);
	mux_free(c->m);
	mux_free(s->m);
	free(c);
	free(s);
}

static void test_half_close_and_rst(void)
{
	struct side *c = calloc(1, sizeof(*c)), *s = calloc(1, sizeof(*s));
	struct mux_stream *cs, *ss;

	side_init(c, true);
	side_init(s, false);
	cs = open_one(c, s);
	ss = s->last;
	/* Client half-closes; the server still answers, then closes. */
	mux_stream_fin(cs);
	pump_both(c, s);
	CHECK(s->eof);
	CHECK(!c->eof);
	CHECK_EQ_INT(mux_stream_write(ss, (const uint8_t *)"reply", 5), 0);
	mux_stream_fin(ss);
	pump_both(c, s);
	CHECK_EQ_INT(c->ngot, 5);
	CHECK(c->eof);
	CHECK(mux_stream_is_done(cs));
	CHECK(mux_stream_is_done(ss));
	mux_stream_free(cs);
	mux_stream_free(ss);
	CHECK_EQ_INT(pump(c, s) + pump(s, c), 0);	/* a clean end sends nothing more */

	/* RST from the server reaches the client with its reason. */
	cs = open_one(c, s);
	ss = s->last;
	mux_stream_reset(ss, MUX_R_RESET);
	CHECK_EQ_INT(mux_stream_write(ss, (const uint8_t *)"x", 1), -EPIPE);
	pump_both(c, s);
	CHECK_EQ_INT(c->resets, 1);
	CHECK_EQ_INT(c->last_reason, MUX_R_RESET);
	CHECK_EQ_INT(mux_reason_errno(c->last_reason), -ECONNRESET);
	mux_stream_free(cs);
	mux_stream_free(ss);

	/* Refused open. */
	s->accept = false;
	{
		struct mux_dest d = { .type = MUX_DEST_NAME, .port = 1 };

		strcpy(d.name, "nowhere.invalid");
		cs = mux_open(c->m, &d);
		pump_both(c, s);
		CHECK_EQ_INT(s->dest.type, MUX_DEST_NAME);
		CHECK_STR(s->dest.name, "nowhere.invalid");
		mux_refuse(s->last, mux_reason_from_errno(-ENOENT));
		mux_stream_free(s->last);
		pump_both(c, s);
		CHECK_EQ_INT(c->last_reason, MUX_R_NO_NAME);
		CHECK(mux_stream_is_reset(cs));
		mux_stream_free(cs);
	}
	/* Freeing a live stream resets it at the peer. */
	s->accept = true;
	cs = open_one(c, s);
	ss = s->last;
	c->resets = s->resets = 0;
	mux_stream_free(cs);
	pump_both(c, s);
	CHECK_EQ_INT(s->resets, 1);
	CHECK_EQ_INT(s->last_reason, MUX_R_CANCEL);
	mux_stream_free(ss);
	/* mux_kill resets everything locally. */
	cs = open_one(c, s);
	c->resets = 0;
	mux_kill(c->m, MUX_R_DEAD);
	CHECK_EQ_INT(c->resets, 1);
	CHECK_EQ_INT(c->last_reason, MUX_R_DEAD);
	mux_stream_free(cs);
	CHECK_EQ_INT(mux_nstreams(c->m), 0);
	mux_free(c->m);
	mux_free(s->m);
	free(c);
	free(s);
}

static int goaways;
static uint8_t goaway_reason;

static void on_goaway(void *u, uint8_t reason)
{
	goaways++;
	goaway_reason = reason;
}

static void test_goaway(void)
{
	static const struct mux_ops gops = { .on_goaway = on_goaway };
	struct side *c = calloc(1, sizeof(*c));
	struct mux_params p;
	struct mux *srv;
	uint8_t buf[64];
	size_t n;
	uint8_t bad[] = { MUX_GOAWAY, 0, 0, 0, 1, 0, 1, 0 };

	mux_params_default(&p, false);
	srv = mux_new(&p, &gops, NULL, 0);
	side_init(c, true);
	mux_goaway(c->m, MUX_R_CANCEL);
	n = mux_pull(c->m, buf, sizeof(buf));
	CHECK_EQ_INT(n, MUX_HDR_LEN + 1);
	for (size_t cut = 0; cut <= n; cut++) {
		struct mux *x = mux_new(&p, &gops, NULL, 0);

		goaways = 0;
		CHECK_EQ_INT(mux_input(x, buf, cut, 0), 0);
		CHECK_EQ_INT(mux_input(x, buf + cut, n - cut, 0), 0);
		CHECK_EQ_INT(goaways, 1);
		CHECK_EQ_INT(goaway_reason, MUX_R_CANCEL);
		mux_free(x);
	}
	CHECK_EQ_INT(mux_input(srv, bad, sizeof(bad), 0), -EPROTO);	/* on a stream id */
	mux_free(srv);
	mux_free(c->m);
	free(c);
}

static void test_keepalive(void)
{
	struct side *c = calloc(1, sizeof(*c));
	uint8_t buf[64];
	uint8_t pong[] = { MUX_PONG, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0 };

	side_init(c, true);
	CHECK_EQ_INT(mux_next_tick(c->m), 10000);
	CHECK_EQ_INT(mux_tick(c->m, 5000), 0);
	CHECK_EQ_INT(mux_pull(c->m, buf, sizeof(buf)), 0);
	CHECK_EQ_INT(mux_tick(c->m, 10000), 0);
	CHECK_EQ_INT(mux_pull(c->m, buf, sizeof(buf)), MUX_HDR_LEN + 8);
	CHECK_EQ_INT(buf[0], MUX_PING);
	CHECK_EQ_INT(mux_tick(c->m, 12000), 0);
	CHECK_EQ_INT(mux_pull(c->m, buf, sizeof(buf)), 0);	/* one PING per interval */
	CHECK_EQ_INT(mux_input(c->m, pong, sizeof(pong), 15000), 0);
	CHECK_EQ_INT(mux_tick(c->m, 44000), 0);
	CHECK_EQ_INT(mux_tick(c->m, 45000), -ETIMEDOUT);
	mux_free(c->m);
	free(c);
}

int main(void)
{
	RUN(test_dest);
	RUN(test_split);
	RUN(test_bad_frames);
	RUN(test_flow_control);
	RUN(test_autotune);
	RUN(test_fairness);
	RUN(test_half_close_and_rst);
	RUN(test_keepalive);
	RUN(test_goaway);
	return unit_done();
}
