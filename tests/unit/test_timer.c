/* Timer wheel: ordering, cascades across levels, cancel, re-arm, next(). */
#include <stdlib.h>

#include "core/timer.h"
#include "core/util.h"
#include "unit.h"

struct probe {
	struct timer t;
	uint64_t fired_at;
	int fired;
};

static uint64_t g_now;	/* test-only: what the wheel was advanced to */

static void on_fire(struct timer *t)
{
	struct probe *p = container_of(t, struct probe, t);

	p->fired++;
	p->fired_at = g_now;
}

static void advance(struct timer_wheel *w, uint64_t to)
{
	/* Step in uneven strides, as a real loop would. */
	while (g_now < to) {
		uint64_t step = 1 + (g_now * 7919) % 97;

		g_now = g_now + step > to ? to : g_now + step;
		timer_wheel_advance(w, g_now);
	}
}

static void test_fires_on_time(void)
{
	static const uint64_t delays[] = { 0, 2, 63, 64, 65, 100, 4095, 4096, 4097,
					   262143, 262144, 300000, 16777216 + 5 };
	struct timer_wheel w;
	struct probe p[ARRAY_SIZE(delays)];

	g_now = 1000;
	timer_wheel_init(&w, g_now);
	for (size_t i = 0; i < ARRAY_SIZE(delays); i++) {
		timer_init(&p[i].t, on_fire);
		p[i].fired = 0;
		timer_arm(&w, &p[i].t, g_now + delays[i]);
	}
	CHECK_EQ_INT(w.count, ARRAY_SIZE(delays));
	for (size_t i = 0; i < ARRAY_SIZE(delays); i++) {
		uint64_t due = 1000 + (delays[i] ? delays[i] : 1);

		advance(&w, due - 1);
		CHECK_EQ_INT(p[i].fired, 0);
		advance(&w, due);
		CHECK_EQ_INT(p[i].fired, 1);
		/* Fired no later than the step that passed its expiry. */
		CHECK(p[i].fired_at >= due && p[i].fired_at <= due);
	}
	CHECK_EQ_INT(w.count, 0);
	CHECK(timer_wheel_next(&w) == UINT64_MAX);
}

static void test_cancel_and_rearm(void)
{
	struct timer_wheel w;
	struct probe a, b;

	g_now = 0;
	timer_wheel_init(&w, 0);
	timer_init(&a.t, on_fire);
	timer_init(&b.t, on_fire);
	a.fired = b.fired = 0;
	timer_arm(&w, &a.t, 500);
	timer_arm(&w, &b.t, 500);
	timer_cancel(&w, &a.t);
	CHECK(!timer_is_armed(&a.t));
	timer_cancel(&w, &a.t);		/* twice is harmless */
	timer_arm(&w, &b.t, 70000);	/* re-arm moves it */
	advance(&w, 1000);
	CHECK_EQ_INT(a.fired, 0);
	CHECK_EQ_INT(b.fired, 0);
	advance(&w, 70000);
	CHECK_EQ_INT(b.fired, 1);
	CHECK_EQ_INT(w.count, 0);
}

static void test_next(void)
{
	struct timer_wheel w;
	struct probe a, b;

	timer_wheel_init(&w, 10);
	timer_init(&a.t, on_fire);
	timer_init(&b.t, on_fire);
	CHECK(timer_wheel_next(&w) == UINT64_MAX);
	timer_arm(&w, &a.t, 30);
	CHECK_EQ_INT(timer_wheel_next(&w), 30);	/* exact within level 0 */
	timer_arm(&w, &b.t, 20);
	CHECK_EQ_INT(timer_wheel_next(&w), 20);
	timer_cancel(&w, &b.t);
	timer_cancel(&w, &a.t);
	timer_arm(&w, &a.t, 100000);
	/* A far timer gives a lower bound, never later than its expiry. */
	CHECK(timer_wheel_next(&w) <= 100000 && timer_wheel_next(&w) > 10);
}

/* Callbacks that re-arm themselves and cancel others mid-advance. */
static struct timer_wheel *g_w;
static struct probe g_victim;
static int g_rearms;

static void on_rearm(struct timer *t)
{
	if (++g_rearms < 5)
		timer_arm(g_w, t, g_now + 10);
	timer_cancel(g_w, &g_victim.t);
}

static void test_callbacks_modify(void)
{
	struct timer_wheel w;
	struct timer r;

	g_now = 0;
	g_w = &w;
	g_rearms = 0;
	timer_wheel_init(&w, 0);
	timer_init(&r, on_rearm);
	timer_init(&g_victim.t, on_fire);
	g_victim.fired = 0;
	timer_arm(&w, &r, 5);
	timer_arm(&w, &g_victim.t, 5);
	advance(&w, 2000);	/* strides reach 97 ms: one re-arm per stride at most */
	CHECK_EQ_INT(g_rearms, 5);
	CHECK(g_victim.fired <= 1);
	CHECK_EQ_INT(w.count, 0);
}

/* Many random timers: each fires once, never early. */
static void test_random(void)
{
	enum { N = 5000 };
	struct timer_wheel w;
	struct probe *p = calloc(N, sizeof(*p));
	uint64_t *due = calloc(N, sizeof(*due));
	unsigned int seed = 12345, early = 0, missed = 0;

	g_now = 77;
	timer_wheel_init(&w, g_now);
	for (int i = 0; i < N; i++) {
		seed = seed * 1103515245 + 12345;
		due[i] = g_now + 1 + (seed >> 8) % 500000;
		timer_init(&p[i].t, on_fire);
		timer_arm(&w, &p[i].t, due[i]);
	}
	for (int i = 0; i < N; i += 3)
		timer_cancel(&w, &p[i].t);
	advance(&w, g_now + 600000);
	for (int i = 0; i < N; i++) {
		if (i % 3 == 0) {
			if (p[i].fired)
				early++;
			continue;
		}
		if (p[i].fired != 1)
			missed++;
		else if (p[i].fired_at < due[i])
			early++;
	}
	CHECK_EQ_INT(missed, 0);
	CHECK_EQ_INT(early, 0);
	CHECK_EQ_INT(w.count, 0);
	free(p);
	free(due);
}

int main(void)
{
	RUN(test_fires_on_time);
	RUN(test_cancel_and_rearm);
	RUN(test_next);
	RUN(test_callbacks_modify);
	RUN(test_random);
	return unit_done();
}
