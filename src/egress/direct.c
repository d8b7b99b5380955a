#include "egress/direct.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/sock.h"
#include "core/util.h"

static void try_next(struct dial *d);
static void race_start(struct dial *d);
static void race_orphan(struct dial *d);

/* One racing connection attempt. */
struct dial_attempt {
	struct io io;
	struct io_req req;		/* IO_CONNECT */
	struct timer timer;		/* its connect timeout */
	union sockaddr_any peer;
	struct dial_race *race;		/* back pointer */
	bool active;			/* socket open, request maybe in flight */
	bool timed_out;
};

/*
 * Heap state of a race. It outlives the dial when the dial is done (won or
 * cancelled) while losing attempts are still being cancelled: then d is
 * NULL and the race frees itself once nothing of it is in flight.
 */
struct dial_race {
	struct dial *d;			/* NULL once orphaned */
	struct loop *loop;		/* borrowed */
	struct timer stagger;
	struct dial_attempt a[DIAL_RACE_MAX];
};

static void release_addrs(struct dial *d)
{
	if (d->addrs != &d->one)
		free(d->addrs);
	d->addrs = NULL;
	d->naddrs = d->next = 0;
}

static void finish(struct dial *d, int err)
{
	struct loop *l = d->io->loop;

	loop_timer_cancel(l, &d->timer);
	race_orphan(d);
	release_addrs(d);
	if (d->starting) {
		/* Never call back from inside dial_start(): report next round. */
		d->last_err = err;
		d->report = true;
		loop_timer_arm(l, &d->timer, 0);
		return;
	}
	if (!d->cancelled)
		d->cb(d, err);
}

static void on_connect(struct io_req *req)
{
	struct dial *d = container_of(req, struct dial, req);

	if (d->cancelled) {	/* the owner waits for this to free us */
		d->cb(d, -ECANCELED);
		return;
	}
	loop_timer_cancel(d->io->loop, &d->timer);
	if (req->res == 0) {
		finish(d, 0);
		return;
	}
	d->last_err = d->timed_out ? -ETIMEDOUT : (int)req->res;
	io_close(d->io);
	try_next(d);
}

/*
 * err is the failure to open an attempt's socket. true: out of fds with
 * wait budget left, so the caller steps back and retries after
 * DIAL_FD_WAIT_MS instead of counting the address as failed.
 */
static bool fd_wait_due(struct dial *d, int err)
{
	uint32_t budget = d->timeout_ms / DIAL_FD_WAIT_MS;

	if ((err != -EMFILE && err != -ENFILE) || d->cancelled)
		return false;
	if (d->fd_waits >= (budget ? budget : 1))
		return false;
	d->fd_waits++;
	return true;
}

static void on_timer(struct timer *t)
{
	struct dial *d = container_of(t, struct dial, timer);

	if (d->fd_wait) {
		d->fd_wait = false;
		try_next(d);
		return;
	}
	if (d->report) {
		d->report = false;
		if (!d->cancelled)
			d->cb(d, d->last_err);
		return;
	}
	d->timed_out = true;
	io_cancel(&d->req);	/* on_connect sees it and moves on */
}

/*
 * Connect to peer on io, submitting req (IO_CONNECT, cb) and arming the
 * attempt's timeout t. 0, or -errno (the policy's -EACCES included) with
 * nothing left open.
 */
static int start_attempt(struct dial *d, const union sockaddr_any *peer, struct io *io,
			 struct io_req *req, io_cb cb, struct timer *t)
{
	struct loop *l = d->io->loop;
	bool in_progress;
	int fd, err;

	if (d->deny_private && addr_is_private(peer))
		return -EACCES;
	fd = sock_connect_tcp(peer, &in_progress);
	if (fd < 0)
		return fd;
	err = io_open(l, io, fd, 0);
	if (err) {
		close(fd);
		return err;
	}
	/* Connected at once or not, the handle reports writable. */
	io_submit_op(io, req, IO_CONNECT, NULL, 0, cb);
	loop_timer_arm(l, t, d->timeout_ms);
	return 0;
}

static void try_next(struct dial *d)
{
	while (d->next < d->naddrs) {
		int err;

		d->peer = d->addrs[d->next++];
		d->timed_out = false;
		err = start_attempt(d, &d->peer, d->io, &d->req, on_connect, &d->timer);
		if (!err)
			return;
		if (fd_wait_due(d, err)) {
			d->next--;
			d->fd_wait = true;
			loop_timer_arm(d->io->loop, &d->timer, DIAL_FD_WAIT_MS);
			return;
		}
		d->last_err = err;
	}
	finish(d, d->last_err ? d->last_err : -EHOSTUNREACH);
}

static void on_resolved(void *arg, int err, union sockaddr_any *addrs, size_t n)
{
	struct dial *d = arg;

	d->query = NULL;
	if (err) {
		finish(d, err);
		return;
	}
	d->addrs = addrs;
	d->naddrs = n;
	d->next = 0;
	if (n > 1)
		race_start(d);
	else
		try_next(d);
}

static void dial_start_flags(struct dial *d, struct loop *l, struct dns *dns, struct io *io,
			     const struct target *t, uint32_t timeout_ms, uint32_t stagger_ms,
			     dial_cb cb, bool deny_private)
{
	*d = (struct dial){ .io = io, .timeout_ms = timeout_ms, .stagger_ms = stagger_ms,
			    .cb = cb, .deny_private = deny_private };
	io->loop = l;
	timer_init(&d->timer, on_timer);
	d->starting = true;
	if (t->host) {
		d->peer = (union sockaddr_any){ 0 };
		d->query = dns ? dns_resolve(dns, t->host, t->port, on_resolved, d) : NULL;
		if (!d->query)
			finish(d, -ENOMEM);
	} else {
		d->one = t->addr;
		d->addrs = &d->one;
		d->naddrs = 1;
		try_next(d);
	}
	d->starting = false;
}

void dial_start(struct dial *d, struct loop *l, struct dns *dns, struct io *io,
		const struct target *t, uint32_t timeout_ms, uint32_t stagger_ms, dial_cb cb)
{
	dial_start_flags(d, l, dns, io, t, timeout_ms, stagger_ms, cb, false);
}

void dial_start_public(struct dial *d, struct loop *l, struct dns *dns, struct io *io,
		       const struct target *t, uint32_t timeout_ms, uint32_t stagger_ms,
		       dial_cb cb)
{
	dial_start_flags(d, l, dns, io, t, timeout_ms, stagger_ms, cb, true);
}

void dial_cancel(struct dial *d)
{
	d->cancelled = true;
	dns_query_cancel(d->query);
	d->query = NULL;
	if (d->io->loop)
		loop_timer_cancel(d->io->loop, &d->timer);
	release_addrs(d);
	race_orphan(d);
	if (d->req.inflight)
		io_cancel(&d->req);
}

bool dial_is_busy(const struct dial *d)
{
	return d->req.inflight;
}

void dial_interleave(union sockaddr_any *addrs, size_t n)
{
	union sockaddr_any tmp;

	if (n < 3 && !(n == 2 && addrs[0].sa.sa_family == addrs[1].sa.sa_family))
		return;
	/* Stable: take the next address of the family due, else whatever is left. */
	for (size_t i = 1; i < n; i++) {
		int want = addrs[i - 1].sa.sa_family == AF_INET6 ? AF_INET : AF_INET6;
		size_t j = i;

		while (j < n && addrs[j].sa.sa_family != want)
			j++;
		if (j == n || j == i)
			continue;
		tmp = addrs[j];
		memmove(&addrs[i + 1], &addrs[i], (j - i) * sizeof(*addrs));
		addrs[i] = tmp;
	}
}

/* --- happy eyeballs --- */

static bool race_idle(const struct dial_race *r)
{
	for (int i = 0; i < DIAL_RACE_MAX; i++)
		if (r->a[i].active || r->a[i].req.inflight)
			return false;
	return true;
}

static unsigned int race_active(const struct dial_race *r)
{
	unsigned int n = 0;

	for (int i = 0; i < DIAL_RACE_MAX; i++)
		n += r->a[i].active;
	return n;
}

static void attempt_close(struct dial_race *r, struct dial_attempt *a)
{
	loop_timer_cancel(r->loop, &a->timer);
	io_close(&a->io);		/* its request comes back -ECANCELED */
	a->active = false;
}

/* Detach the race from its dial: close every attempt, free when drained. */
static void race_orphan(struct dial *d)
{
	struct dial_race *r = d->race;

	if (!r)
		return;
	d->race = NULL;
	r->d = NULL;
	loop_timer_cancel(r->loop, &r->stagger);
	for (int i = 0; i < DIAL_RACE_MAX; i++)
		if (r->a[i].active)
			attempt_close(r, &r->a[i]);
	if (race_idle(r))
		free(r);
}

static void on_attempt(struct io_req *req);

/*
 * Start the next address in a free slot. true: one started, or one waits
 * for an fd (the stagger timer tries it again); false when none could.
 */
static bool race_launch(struct dial *d)
{
	struct dial_race *r = d->race;

	while (d->next < d->naddrs) {
		struct dial_attempt *a = NULL;
		int err;

		for (int i = 0; i < DIAL_RACE_MAX; i++)
			if (!r->a[i].active && !r->a[i].req.inflight)
				a = &r->a[i];
		if (!a)
			return false;
		a->peer = d->addrs[d->next++];
		a->timed_out = false;
		io_init(&a->io);
		err = start_attempt(d, &a->peer, &a->io, &a->req, on_attempt, &a->timer);
		if (err && fd_wait_due(d, err)) {
			/* The stagger timer (or a failing attempt) launches it again. */
			d->next--;
			loop_timer_arm(r->loop, &r->stagger, DIAL_FD_WAIT_MS);
			return true;
		}
		if (err) {
			d->last_err = err;
			continue;
		}
		a->active = true;
		if (d->next < d->naddrs)
			loop_timer_arm(r->loop, &r->stagger, d->stagger_ms);
		return true;
	}
	return false;
}

/*
 * Start the next address: at once after a failure (RFC 8305 section 5), or
 * when the stagger (or an fd wait) is up. With nothing left to start and
 * nothing pending, the dial ends with the last error.
 */
static void race_next(struct dial *d)
{
	struct dial_race *r = d->race;

	if (!race_launch(d) && race_active(r) == 0)
		finish(d, d->last_err ? d->last_err : -EHOSTUNREACH);
}

static void on_attempt(struct io_req *req)
{
	struct dial_attempt *a = container_of(req, struct dial_attempt, req);
	struct dial_race *r = a->race;
	struct dial *d = r->d;
	int fd, err;

	if (!d) {		/* orphaned: just drain */
		if (a->active)
			attempt_close(r, a);
		if (race_idle(r))
			free(r);
		return;
	}
	loop_timer_cancel(r->loop, &a->timer);
	if (req->res != 0) {
		d->last_err = a->timed_out ? -ETIMEDOUT : (int)req->res;
		attempt_close(r, a);
		race_next(d);
		return;
	}
	/* Winner: move its socket to the dial's handle. */
	fd = a->io.fd;
	io_detach(&a->io);
	a->active = false;
	d->peer = a->peer;
	err = io_open(r->loop, d->io, fd, IO_READY_WR);
	if (err) {
		close(fd);
		d->last_err = err;
		race_next(d);
		return;
	}
	finish(d, 0);		/* orphans the race: the losers are closed */
}

static void on_attempt_timeout(struct timer *t)
{
	struct dial_attempt *a = container_of(t, struct dial_attempt, timer);

	a->timed_out = true;
	io_cancel(&a->req);
}

static void on_stagger(struct timer *t)
{
	struct dial_race *r = container_of(t, struct dial_race, stagger);

	/*
	 * Launch the next address; when none can start and none is pending
	 * (the last fd wait ran out), the dial is over.
	 */
	if (r->d)
		race_next(r->d);
}

static void race_start(struct dial *d)
{
	struct loop *l = d->io->loop;
	struct dial_race *r = calloc(1, sizeof(*r));

	if (!r) {		/* no memory for a race: one address at a time */
		try_next(d);
		return;
	}
	r->d = d;
	r->loop = l;
	timer_init(&r->stagger, on_stagger);
	for (int i = 0; i < DIAL_RACE_MAX; i++) {
		r->a[i].race = r;
		io_init(&r->a[i].io);
		timer_init(&r->a[i].timer, on_attempt_timeout);
	}
	d->race = r;
	dial_interleave(d->addrs, d->naddrs);
	if (!race_launch(d))
		finish(d, d->last_err ? d->last_err : -EHOSTUNREACH);
}
