/*
 * Hierarchical timer wheel, one per worker (not thread-safe).
 *
 * Time is in integer milliseconds ("ticks") supplied by the caller, so the
 * wheel is deterministic and unit-testable. Six levels of 64 slots cover
 * 2^36 ms (~795 days); later expiries are clamped to that horizon.
 * Arm and cancel are O(1). timer_wheel_advance() fires every timer whose
 * expiry is <= now, in no particular order within one tick.
 *
 * A timer is embedded in its owner; it must be cancelled (or have fired)
 * before its memory is freed.
 */
#ifndef SLUICE_CORE_TIMER_H
#define SLUICE_CORE_TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TIMER_LEVELS	6
#define TIMER_SLOT_BITS	6
#define TIMER_SLOTS	(1u << TIMER_SLOT_BITS)

struct timer;
typedef void (*timer_cb)(struct timer *t);

struct timer {
	struct timer *next;	/* slot chain */
	struct timer **pprev;	/* NULL when not armed */
	uint64_t expires;	/* absolute tick */
	timer_cb cb;
};

struct timer_wheel {
	uint64_t now;				/* last tick processed */
	uint64_t pending[TIMER_LEVELS];		/* bit i: slot i non-empty */
	struct timer *slot[TIMER_LEVELS][TIMER_SLOTS];
	unsigned int count;			/* armed timers */
};

void timer_wheel_init(struct timer_wheel *w, uint64_t now);

static inline void timer_init(struct timer *t, timer_cb cb)
{
	t->next = NULL;
	t->pprev = NULL;
	t->expires = 0;
	t->cb = cb;
}

static inline bool timer_is_armed(const struct timer *t)
{
	return t->pprev != NULL;
}

/* (Re)arm t to fire at absolute tick 'expires' (past ticks fire next advance). */
void timer_arm(struct timer_wheel *w, struct timer *t, uint64_t expires);

/* Disarm t; harmless if it is not armed. */
void timer_cancel(struct timer_wheel *w, struct timer *t);

/*
 * Move the wheel to 'now', calling the callback of every expired timer.
 * A callback may arm or cancel any timer, including its own.
 */
void timer_wheel_advance(struct timer_wheel *w, uint64_t now);

/*
 * Earliest tick at which advance() may have work: exact for timers due
 * within 64 ticks, a lower bound (a cascade point) for later ones.
 * Returns UINT64_MAX when no timer is armed.
 */
uint64_t timer_wheel_next(const struct timer_wheel *w);

#endif
