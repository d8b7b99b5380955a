/*
 * Hierarchical timer wheel (Varghese & Lauck, scheme 7). A timer expiring at
 * tick e sits at the lowest level L where e and now agree on every digit
 * above L (digits are 6 bits), in slot = digit L of e. When now's digit L
 * reaches that slot (lower digits all zero) the slot is cascaded: its timers
 * are re-inserted and land on lower levels. Level 0 slots hold timers due at
 * exactly that tick.
 */
#include "core/timer.h"

#include <string.h>

#define HORIZON	((uint64_t)1 << (TIMER_LEVELS * TIMER_SLOT_BITS))

void timer_wheel_init(struct timer_wheel *w, uint64_t now)
{
	memset(w, 0, sizeof(*w));
	w->now = now;
}

static void slot_link(struct timer_wheel *w, struct timer *t)
{
	uint64_t e = t->expires, diff;
	unsigned int level = 0, idx;

	if (e <= w->now)
		e = w->now + 1;		/* never into an already processed slot */
	if (e - w->now >= HORIZON)
		e = w->now + HORIZON - 1;
	diff = e ^ w->now;
	level = (63 - __builtin_clzll(diff)) / TIMER_SLOT_BITS;
	idx = (e >> (level * TIMER_SLOT_BITS)) & (TIMER_SLOTS - 1);

	t->next = w->slot[level][idx];
	if (t->next)
		t->next->pprev = &t->next;
	t->pprev = &w->slot[level][idx];
	w->slot[level][idx] = t;
	w->pending[level] |= (uint64_t)1 << idx;
}

static void slot_unlink(struct timer_wheel *w, struct timer *t)
{
	struct timer **first = &w->slot[0][0];
	struct timer **last = &w->slot[TIMER_LEVELS - 1][TIMER_SLOTS - 1];

	*t->pprev = t->next;
	if (t->next)
		t->next->pprev = t->pprev;
	/* pprev points into the slot array only for the first timer of a slot. */
	if (t->pprev >= first && t->pprev <= last && !t->next) {
		size_t i = (size_t)(t->pprev - first);

		w->pending[i / TIMER_SLOTS] &= ~((uint64_t)1 << (i % TIMER_SLOTS));
	}
	t->next = NULL;
	t->pprev = NULL;
}

void timer_arm(struct timer_wheel *w, struct timer *t, uint64_t expires)
{
	if (t->pprev)
		timer_cancel(w, t);
	t->expires = expires;
	slot_link(w, t);
	w->count++;
}

void timer_cancel(struct timer_wheel *w, struct timer *t)
{
	if (!t->pprev)
		return;
	slot_unlink(w, t);
	w->count--;
}

/* Detach a whole slot and hand back its chain. */
static struct timer *slot_take(struct timer_wheel *w, unsigned int level,
			       unsigned int idx)
{
	struct timer *head = w->slot[level][idx];

	w->slot[level][idx] = NULL;
	w->pending[level] &= ~((uint64_t)1 << idx);
	for (struct timer *t = head; t; t = t->next)
		t->pprev = NULL;
	return head;
}

static void cascade(struct timer_wheel *w)
{
	for (unsigned int l = 1; l < TIMER_LEVELS; l++) {
		unsigned int idx = (w->now >> (l * TIMER_SLOT_BITS)) & (TIMER_SLOTS - 1);
		struct timer *t = slot_take(w, l, idx), *next;

		for (; t; t = next) {
			next = t->next;
			slot_link(w, t);
		}
		if (idx != 0)
			break;
	}
}

static void expire_slot(struct timer_wheel *w)
{
	unsigned int idx = w->now & (TIMER_SLOTS - 1);
	struct timer *t;

	/*
	 * Take one timer at a time: a callback may cancel or re-arm any
	 * other timer, so a detached chain could go stale under us.
	 */
	while ((t = w->slot[0][idx]) != NULL) {
		slot_unlink(w, t);
		w->count--;
		if (t->expires > w->now) {	/* clamped far timer: not yet */
			slot_link(w, t);
			w->count++;
			continue;
		}
		t->cb(t);
	}
}

void timer_wheel_advance(struct timer_wheel *w, uint64_t now)
{
	while (w->now < now) {
		uint64_t n = w->now + 1;

		if (w->count == 0) {
			w->now = now;
			return;
		}
		if (n & (TIMER_SLOTS - 1)) {
			/* Jump to the next busy level-0 slot or the next cascade point. */
			uint64_t busy = w->pending[0] & (~(uint64_t)0 << (n & (TIMER_SLOTS - 1)));

			if (busy)
				n = (n & ~(uint64_t)(TIMER_SLOTS - 1)) + __builtin_ctzll(busy);
			else
				n = (n | (TIMER_SLOTS - 1)) + 1;
			if (n > now) {
				w->now = now;
				return;
			}
		}
		w->now = n;
		if ((n & (TIMER_SLOTS - 1)) == 0)
			cascade(w);
		expire_slot(w);
	}
}

uint64_t timer_wheel_next(const struct timer_wheel *w)
{
	uint64_t best = UINT64_MAX;

	if (w->count == 0)
		return best;
	for (unsigned int l = 0; l < TIMER_LEVELS; l++) {
		unsigned int shift = l * TIMER_SLOT_BITS;
		unsigned int digit = (w->now >> shift) & (TIMER_SLOTS - 1);
		uint64_t later = w->pending[l] & ~((~(uint64_t)0 >> (63 - digit)));
		uint64_t base, at;

		if (!later)
			continue;
		base = (w->now >> (shift + TIMER_SLOT_BITS)) << (shift + TIMER_SLOT_BITS);
		at = base + ((uint64_t)__builtin_ctzll(later) << shift);
		if (at < best)
			best = at;
		if (l == 0)
			break;	/* a level-0 hit is the exact next expiry */
	}
	return best;
}
