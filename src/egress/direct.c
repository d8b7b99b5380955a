#include "egress/direct.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/sock.h"
#include "core/util.h"

static void try_next(struct dial *d);

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

static void on_timer(struct timer *t)
{
	struct dial *d = container_of(t, struct dial, timer);

	if (d->report) {
		d->report = false;
		if (!d->cancelled)
			d->cb(d, d->last_err);
		return;
	}
	d->timed_out = true;
	io_cancel(&d->req);	/* on_connect sees it and moves on */
}

static void try_next(struct dial *d)
{
	struct loop *l = d->io->loop;

	while (d->next < d->naddrs) {
		bool in_progress;
		int fd, err;

		d->peer = d->addrs[d->next++];
		d->timed_out = false;
		fd = sock_connect_tcp(&d->peer, &in_progress);
		if (fd < 0) {
			d->last_err = fd;
			continue;
		}
		err = io_open(l, d->io, fd, 0);
		if (err) {
			close(fd);
			d->last_err = err;
			continue;
		}
		/* Connected at once or not, the handle reports writable. */
		d->req.op = IO_CONNECT;
		d->req.cb = on_connect;
		io_submit(d->io, &d->req);
		loop_timer_arm(l, &d->timer, d->timeout_ms);
		return;
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
	try_next(d);
}

void dial_start(struct dial *d, struct loop *l, struct dns *dns, struct io *io,
		const struct target *t, uint32_t timeout_ms, dial_cb cb)
{
	*d = (struct dial){ .io = io, .timeout_ms = timeout_ms, .cb = cb };
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

void dial_cancel(struct dial *d)
{
	d->cancelled = true;
	dns_query_cancel(d->query);
	d->query = NULL;
	if (d->io->loop)
		loop_timer_cancel(d->io->loop, &d->timer);
	release_addrs(d);
	if (d->req.inflight)
		io_cancel(&d->req);
}

bool dial_is_busy(const struct dial *d)
{
	return d->req.inflight;
}
