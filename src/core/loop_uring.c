/*
 * io_uring backend: the same completion contract as loop_epoll.c, with
 * the work batched into one io_uring_enter() per loop turn.
 *
 * Each pending request has at most one SQE in the kernel; its user_data is
 * the struct io_req itself (its op field says what it is) and req->kstate
 * says what that SQE is. Operations that need no buffer of ours until data
 * is there run natively: ACCEPT, RECV into a caller buffer, SEND, and RECV with
 * buf == NULL, which takes a provided buffer (a ring of pool blocks) only
 * once data is there, so idle connections hold none (as on epoll). The
 * rest wait for readiness with a one-shot POLL_ADD and then make the
 * non-blocking call themselves: SPLICE_IN with pipe == NULL takes its pipe
 * only once the poll fired (and goes at once, without the poll, when the
 * last splice filled its pipe: io->ready keeps that, as on epoll); a RECV
 * the buffer ring could not serve falls back the same way; IO_CONNECT
 * (connect() already returned EINPROGRESS) and POLL_IN/POLL_OUT are polls
 * by nature, and splice() on io_uring would run in io-wq threads.
 * (IORING_OP_CONNECT would save the connect() syscall, but on 6.18 it
 * reported success for a connect that an ICMP host-unreachable ended;
 * IORING_OP_SHUTDOWN always runs in io-wq, so shutdown() stays a call.)
 * SPLICE_OUT tries the splice at once, like epoll with the write side
 * known ready.
 *
 * Cancelling (io_cancel, io_close) cannot complete a request while the
 * kernel still holds it: the kernel may yet write into its buffer, and its
 * CQE will point at it. So the request is marked, an ASYNC_CANCEL is
 * queued, and the request completes with -ECANCELED when its own CQE comes
 * back. Owners already wait for req->inflight to clear before freeing, so
 * nothing changes for them. Closes go through the ring too, queued after
 * the cancels: the fd number is only reused once the kernel is done with
 * the SQEs that name it.
 */
#include "core/loop.h"

#include <errno.h>

#ifdef CONFIG_IO_URING

#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define UR_SQ_ENTRIES	1024
#define UR_CQ_ENTRIES	8192
/* Tries to get an SQE from a full ring by submitting what is there. */
#define UR_SQE_TRIES	8
/* loop_drain(): how long to wait for cancelled requests, at most. */
#define UR_FLUSH_ROUNDS	100
#define UR_FLUSH_MS	10

/*
 * Provided buffers for RECV with buf == NULL: the kernel picks one of ours
 * only when data is there, so the read is one SQE (no POLL_ADD, no recv()
 * syscall) and an idle connection still holds no buffer. The ring holds
 * pool blocks; one taken by a completion is replaced from the pool at once.
 * More receives than this in one batch fall back to poll + recv().
 */
#define UR_BUF_ENTRIES	32
#define UR_BUF_GROUP	1

/* A splice this big probably filled its pipe: try the next one at once. */
#define UR_SPLICE_MORE	16384

/* req->kstate */
#define UR_SQE		0x1	/* one SQE queued or in the kernel: one CQE to come */
#define UR_POLL		0x2	/* that SQE is the POLL_ADD before the operation */
#define UR_CANCEL	0x4	/* cancelled: its CQE completes it with -ECANCELED */

struct uring {
	struct io_uring ring;
	pthread_t owner;		/* the thread that runs the loop, once enabled */
	bool disabled;			/* R_DISABLED: enabled by the first ur_wait() */
	struct io_uring_buf_ring *br;	/* NULL: no provided buffers */
	void *br_buf[UR_BUF_ENTRIES];	/* owned pool blocks in the ring, by id */
	unsigned int br_missing;	/* ids without a block (pool was empty) */
	bool br_trimmed;		/* no block was used since ur_trim() */
	unsigned int cancelling;	/* requests with UR_CANCEL set */
	bool cancel_queued;		/* an ASYNC_CANCEL is not submitted yet */
};

static struct uring *ur(struct loop *l)
{
	return l->backend_data;
}

bool loop_uring_usable(void)
{
	static const int ops[] = {
		IORING_OP_ACCEPT, IORING_OP_RECV, IORING_OP_SEND, IORING_OP_POLL_ADD,
		IORING_OP_ASYNC_CANCEL, IORING_OP_CLOSE,
	};
	struct io_uring ring;
	struct io_uring_probe *probe;
	unsigned int feat;
	bool ok = true;

	if (io_uring_queue_init(4, &ring, 0) < 0)
		return false;
	feat = ring.features;
	probe = io_uring_get_probe_ring(&ring);
	if (!probe) {
		ok = false;
		goto out_ring;
	}
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!io_uring_opcode_supported(probe, ops[i]))
			ok = false;
	io_uring_free_probe(probe);
	/* Completions are never dropped; success of a cancel or close posts none. */
	if (!(feat & IORING_FEAT_NODROP) || !(feat & IORING_FEAT_CQE_SKIP) ||
	    !(feat & IORING_FEAT_EXT_ARG))
		ok = false;
out_ring:
	io_uring_queue_exit(&ring);
	if (!ok)
		errno = EOPNOTSUPP;
	return ok;
}

/* Put a pool block into the ring under id (the ring has room: ids are unique). */
static bool br_fill(struct loop *l, struct uring *u, unsigned int id)
{
	void *buf = pool_get(l->bufs);

	if (!buf)
		return false;
	u->br_buf[id] = buf;
	l->bufs_held++;
	io_uring_buf_ring_add(u->br, buf, (unsigned int)l->bufs->size, (unsigned short)id,
			      io_uring_buf_ring_mask(UR_BUF_ENTRIES), 0);
	io_uring_buf_ring_advance(u->br, 1);
	return true;
}

/* Without a pool, or when the kernel has no buffer rings (< 5.19): polls. */
static void br_init(struct loop *l, struct uring *u)
{
	struct io_uring_buf_reg reg = { 0 };
	void *mem;

	if (!l->bufs || l->bufs->size > UINT32_MAX)
		return;
	if (posix_memalign(&mem, 4096, UR_BUF_ENTRIES * sizeof(struct io_uring_buf)))
		return;
	reg.ring_addr = (unsigned long)mem;
	reg.ring_entries = UR_BUF_ENTRIES;
	reg.bgid = UR_BUF_GROUP;
	if (io_uring_register_buf_ring(&u->ring, &reg, 0) < 0) {
		free(mem);
		return;
	}
	u->br = mem;
	io_uring_buf_ring_init(u->br);
	for (unsigned int id = 0; id < UR_BUF_ENTRIES; id++)
		if (!br_fill(l, u, id))
			u->br_missing++;
}

static void br_fini(struct loop *l, struct uring *u)
{
	if (!u->br)
		return;
	(void)io_uring_unregister_buf_ring(&u->ring, UR_BUF_GROUP);
	for (unsigned int id = 0; id < UR_BUF_ENTRIES; id++)
		if (u->br_buf[id]) {
			pool_put(l->bufs, u->br_buf[id]);
			l->bufs_held--;
		}
	free(u->br);
	u->br = NULL;
}

/* A completion took the block with this id out of the ring: hand it over, refill. */
static void *br_take(struct loop *l, struct uring *u, unsigned int id)
{
	void *buf;

	if (!u->br || id >= UR_BUF_ENTRIES)
		return NULL;
	buf = u->br_buf[id];
	u->br_buf[id] = NULL;
	u->br_trimmed = false;
	if (buf)
		l->bufs_held--;
	if (!br_fill(l, u, id))
		u->br_missing++;
	if (u->br_missing)	/* the pool may have blocks again */
		for (unsigned int i = 0; i < UR_BUF_ENTRIES && u->br_missing; i++)
			if (!u->br_buf[i] && br_fill(l, u, i))
				u->br_missing--;
	return buf;
}

static int ur_init(struct loop *l)
{
	struct io_uring_params p = { 0 };
	struct uring *u = calloc(1, sizeof(*u));
	int err;

	if (!u)
		return -ENOMEM;
	/*
	 * DEFER_TASKRUN (6.1+): completion work runs only when the loop asks
	 * for events, in one batch, never by interrupting the thread (costly
	 * on a VM). It needs SINGLE_ISSUER: one thread submits, the one that
	 * runs the loop, but workers are set up by the main thread, so the
	 * ring starts disabled and ur_wait() enables it from the loop's
	 * thread. COOP_TASKRUN is the same idea, weaker, before 6.1; the
	 * TASKRUN flag in the SQ ring tells ur_wait() there is work.
	 */
	p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SINGLE_ISSUER |
		  IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED;
	p.cq_entries = UR_CQ_ENTRIES;
	err = io_uring_queue_init_params(UR_SQ_ENTRIES, &u->ring, &p);
	if (err == 0) {
		u->disabled = true;
	} else if (err == -EINVAL) {	/* before 6.1 */
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_COOP_TASKRUN |
			  IORING_SETUP_TASKRUN_FLAG;
		p.cq_entries = UR_CQ_ENTRIES;
		err = io_uring_queue_init_params(UR_SQ_ENTRIES, &u->ring, &p);
	}
	if (err == -EINVAL) {	/* before 5.19 */
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_CQSIZE;
		p.cq_entries = UR_CQ_ENTRIES;
		err = io_uring_queue_init_params(UR_SQ_ENTRIES, &u->ring, &p);
	}
	if (err < 0) {
		free(u);
		return err;
	}
	l->backend_data = u;
	l->fd = u->ring.ring_fd;
	br_init(l, u);
	return 0;
}

/*
 * Whether this thread may submit: a SINGLE_ISSUER ring refuses every other
 * thread once enabled, and nothing may submit before (it is disabled).
 */
static bool ur_may_submit(const struct uring *u)
{
	return !u->disabled && pthread_equal(u->owner, pthread_self());
}

/* The loop's thread, first time round: it becomes the ring's one submitter. */
static int ur_enable(struct uring *u)
{
	if (!u->disabled)
		return 0;
	if (syscall(__NR_io_uring_register, u->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS,
		    NULL, 0) < 0)
		return -errno;
	u->disabled = false;
	u->owner = pthread_self();
	return 0;
}

/*
 * Teardown on another thread than the loop's (worker_fini after the worker
 * ended): its SQEs can no longer be submitted, so do the closes among them
 * here, whether liburing flushed them to the kernel's ring already or not.
 */
static void ur_orphan_closes(struct uring *u)
{
	struct io_uring_sq *sq = &u->ring.sq;
	unsigned int mask = *sq->kring_mask;

	for (unsigned int i = IO_URING_READ_ONCE(*sq->khead); i != sq->sqe_tail; i++) {
		struct io_uring_sqe *sqe = &sq->sqes[i & mask];

		if (sqe->opcode == IORING_OP_CLOSE)
			close(sqe->fd);
	}
}

static void ur_fini(struct loop *l)
{
	struct uring *u = ur(l);

	if (!u)
		return;
	/* Queued closes must still happen. */
	if (ur_may_submit(u) || (u->disabled && ur_enable(u) == 0))
		(void)io_uring_submit(&u->ring);
	else
		ur_orphan_closes(u);
	br_fini(l, u);
	io_uring_queue_exit(&u->ring);
	free(u);
	l->backend_data = NULL;
	l->fd = -1;
}

static int ur_attach(struct loop *l, struct io *io)
{
	return 0;	/* nothing to register: every SQE names its fd */
}

static void ur_detach(struct loop *l, struct io *io)
{
	struct uring *u = ur(l);

	/*
	 * The caller may close the fd as soon as we return (c-ares does):
	 * get the cancels into the kernel before the number can be reused.
	 */
	if (u->cancel_queued && ur_may_submit(u)) {
		(void)io_uring_submit(&u->ring);
		u->cancel_queued = false;
	}
}

static struct io_uring_sqe *ur_sqe(struct uring *u)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

	for (int i = 0; !sqe && ur_may_submit(u) && i < UR_SQE_TRIES; i++) {
		(void)io_uring_submit(&u->ring);
		sqe = io_uring_get_sqe(&u->ring);
	}
	return sqe;
}

static void track(struct io_req *req, struct io_uring_sqe *sqe, uint8_t poll)
{
	io_uring_sqe_set_data(sqe, req);
	req->kstate = UR_SQE | poll;
}

/* Wait for readiness (events POLLIN or POLLOUT), then do the operation. */
static void ur_poll(struct loop *l, struct io_req *req, unsigned int events)
{
	struct io_uring_sqe *sqe = ur_sqe(ur(l));

	if (!sqe) {
		loop_finish(l, req, -EBUSY);
		return;
	}
	io_uring_prep_poll_add(sqe, req->io->fd, events);
	track(req, sqe, UR_POLL);
}

/* The native operations: ACCEPT, RECV (into a caller or a provided buffer), SEND. */
static void ur_native(struct loop *l, struct io_req *req)
{
	struct io_uring_sqe *sqe = ur_sqe(ur(l));
	int fd = req->io->fd;

	if (!sqe) {
		loop_finish(l, req, -EBUSY);
		return;
	}
	switch (req->op) {
	case IO_ACCEPT:
		req->alen = sizeof(struct sockaddr_storage);
		io_uring_prep_accept(sqe, fd, req->buf, &req->alen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		break;
	case IO_RECV:
		if (!req->buf) {	/* a provided buffer (ur_submit checked there is a ring) */
			size_t want = req->len && req->len < l->bufs->size ? req->len
									   : l->bufs->size;

			io_uring_prep_recv(sqe, fd, NULL, want, 0);
			sqe->flags |= IOSQE_BUFFER_SELECT;
			sqe->buf_group = UR_BUF_GROUP;
			break;
		}
		io_uring_prep_recv(sqe, fd, req->buf, req->len,
				   req->flags & IO_F_PEEK ? MSG_PEEK : 0);
		break;
	default: /* IO_SEND */
		io_uring_prep_send(sqe, fd, req->buf, req->len, MSG_NOSIGNAL);
		break;
	}
	track(req, sqe, 0);
}

/* RECV with buf == NULL, the socket readable: take a buffer and read. */
static void recv_pooled(struct loop *l, struct io_req *req)
{
	void *buf = pool_get(l->bufs);
	size_t want;
	ssize_t n;
	int err;

	if (!buf) {
		loop_finish(l, req, -ENOMEM);
		return;
	}
	want = req->len && req->len < l->bufs->size ? req->len : l->bufs->size;
	do
		n = recv(req->io->fd, buf, want, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		/* A full read: more is likely there, the next RECV tries at once. */
		if ((size_t)n < want)
			req->io->ready &= ~IO_READY_RD;
		else
			req->io->ready |= IO_READY_RD;
		req->buf = buf;
		loop_finish(l, req, n);
		return;
	}
	err = n < 0 ? errno : 0;
	pool_put(l->bufs, buf);
	if (n < 0 && loop_err_is_again(err)) {
		req->io->ready &= ~IO_READY_RD;
		ur_poll(l, req, POLLIN);
	} else {
		loop_finish(l, req, n == 0 ? 0 : -err);
	}
}

/* SPLICE_IN, the socket readable: take a pipe if needed and splice. */
static void splice_in(struct loop *l, struct io_req *req)
{
	bool pooled = req->pipe == NULL;
	struct pipe *pp = req->pipe;
	size_t want;
	ssize_t n;
	int err;

	if (pooled) {
		pp = pipe_pool_get(l->pipes);
		if (!pp) {
			loop_finish(l, req, -errno);
			return;
		}
	}
	want = req->len ? req->len : 1 << 20;
	do
		n = splice(req->io->fd, NULL, pp->wr, NULL, want, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		/*
		 * Unlike epoll, nothing is lost by guessing wrong here (a poll
		 * is level-triggered), so guess for speed: a big splice likely
		 * stopped at a full pipe, try the next at once; a small one
		 * likely drained the socket, poll (no EAGAIN splice).
		 */
		if ((size_t)n == want || n >= UR_SPLICE_MORE)
			req->io->ready |= IO_READY_RD;
		else
			req->io->ready &= ~IO_READY_RD;
		req->pipe = pp;
		loop_finish(l, req, n);
		return;
	}
	err = n < 0 ? errno : 0;
	if (pooled)
		pipe_pool_put(l->pipes, pp);
	if (n < 0 && loop_err_is_again(err)) {
		req->io->ready &= ~IO_READY_RD;
		ur_poll(l, req, POLLIN);
	} else {
		loop_finish(l, req, n == 0 ? 0 : -err);
	}
}

/* SPLICE_OUT: try now; wait for POLLOUT only when the socket is full. */
static void splice_out(struct loop *l, struct io_req *req)
{
	ssize_t n;

	do
		n = splice(req->pipe->rd, NULL, req->io->fd, NULL, req->len,
			   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	while (n < 0 && errno == EINTR);
	if (n >= 0)
		loop_finish(l, req, n);
	else if (loop_err_is_again(errno))
		ur_poll(l, req, POLLOUT);
	else
		loop_finish(l, req, -errno);
}

static void ur_submit(struct loop *l, struct io_req *req)
{
	struct io *io = req->io;

	req->kstate = 0;
	switch (req->op) {
	case IO_ACCEPT:
	case IO_RECV:
	case IO_SPLICE_IN:
	case IO_POLL_IN:
		io->rd = req;
		if (req->op == IO_ACCEPT || (req->op == IO_RECV && (req->buf || ur(l)->br)))
			ur_native(l, req);
		else if (req->op == IO_RECV && (io->ready & IO_READY_RD))
			recv_pooled(l, req);	/* the last read was full: try now */
		else if (req->op == IO_SPLICE_IN && (io->ready & IO_READY_RD))
			splice_in(l, req);
		else
			ur_poll(l, req, POLLIN);
		break;
	case IO_SEND:
		io->wr = req;
		ur_native(l, req);
		break;
	case IO_SPLICE_OUT:
		io->wr = req;
		splice_out(l, req);
		break;
	case IO_CONNECT:
	case IO_POLL_OUT:
		io->wr = req;
		ur_poll(l, req, POLLOUT);
		break;
	default:
		loop_complete(l, req, -EINVAL);
		break;
	}
}

/* A POLL_ADD fired (res: revents or -errno): now do the operation. */
static void after_poll(struct loop *l, struct io_req *req, int res)
{
	if (res < 0) {
		loop_finish(l, req, res);
		return;
	}
	switch (req->op) {
	case IO_CONNECT: {
		socklen_t len = sizeof(int);
		int err = 0;

		/* As on epoll: only a failure needs SO_ERROR. */
		if ((res & (POLLERR | POLLHUP)) &&
		    getsockopt(req->io->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		loop_finish(l, req, -err);
		break;
	}
	case IO_RECV:
		if (req->buf)
			ur_native(l, req);
		else
			recv_pooled(l, req);
		break;
	case IO_SPLICE_IN:
		splice_in(l, req);
		break;
	case IO_SPLICE_OUT:
		splice_out(l, req);
		break;
	case IO_ACCEPT:
	case IO_SEND:
		ur_native(l, req);
		break;
	default: /* POLL_IN, POLL_OUT */
		loop_finish(l, req, 0);
		break;
	}
}

static void ur_complete(struct loop *l, struct io_req *req, int res, unsigned int cflags)
{
	uint8_t ks = req->kstate;

	req->kstate = 0;
	if (cflags & IORING_CQE_F_BUFFER) {
		void *buf = br_take(l, ur(l), cflags >> IORING_CQE_BUFFER_SHIFT);

		if (res > 0 && !(ks & UR_CANCEL)) {
			req->buf = buf;
			loop_finish(l, req, buf ? res : -EIO);	/* no block: cannot be */
			return;
		}
		if (buf)	/* nothing in it for anybody */
			pool_put(l->bufs, buf);
	}
	if (ks & UR_CANCEL) {
		ur(l)->cancelling--;
		/* An accept that won the race with its cancel: nobody wants the fd. */
		if (!(ks & UR_POLL) && req->op == IO_ACCEPT && res >= 0)
			close(res);
		loop_complete(l, req, -ECANCELED);
		return;
	}
	if (ks & UR_POLL) {
		after_poll(l, req, res);
		return;
	}
	if (res == -EINTR || (req->op == IO_ACCEPT && res == -ECONNABORTED)) {
		ur_native(l, req);
		return;
	}
	/* -ENOBUFS: the ring ran dry in this batch; poll, then recv() into a pool block. */
	if (res == -EAGAIN || (res == -ENOBUFS && req->op == IO_RECV && !req->buf)) {
		ur_poll(l, req, req->op == IO_SEND ? POLLOUT : POLLIN);
		return;
	}
	loop_finish(l, req, res);
}

static bool ur_cancel(struct loop *l, struct io_req *req)
{
	struct uring *u = ur(l);
	struct io_uring_sqe *sqe;

	if (!(req->kstate & UR_SQE))
		return false;
	if (req->kstate & UR_CANCEL)
		return true;
	req->kstate |= UR_CANCEL;
	u->cancelling++;
	sqe = ur_sqe(u);
	/*
	 * No SQE even after submitting: the request still completes when its
	 * operation does (a close of its socket ends a poll by hangup).
	 */
	if (!sqe)
		return true;
	io_uring_prep_cancel(sqe, req, 0);
	io_uring_sqe_set_data(sqe, NULL);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	u->cancel_queued = true;
	return true;
}

static void ur_close(struct loop *l, struct io *io, int fd)
{
	struct io_uring_sqe *sqe;

	if (!ur(l)->disabled && !ur_may_submit(ur(l))) {
		close(fd);	/* teardown after the loop's thread ended */
		return;
	}
	sqe = ur_sqe(ur(l));
	if (!sqe) {
		close(fd);
		return;
	}
	io_uring_prep_close(sqe, fd);
	io_uring_sqe_set_data(sqe, NULL);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
}

/*
 * The ring's blocks keep whatever pages a receive once touched: an idle
 * worker gives them back. Safe only with DEFER_TASKRUN: the kernel fills
 * a provided buffer only inside our io_uring_enter() calls then, and this
 * runs between them, after every completion so far was reaped, so each
 * block still listed is one no receive has picked.
 */
static void ur_trim(struct loop *l)
{
	struct uring *u = ur(l);
	uintptr_t page = 4096;

	if (!u->br || u->br_trimmed || !(u->ring.flags & IORING_SETUP_DEFER_TASKRUN))
		return;
	u->br_trimmed = true;
	for (unsigned int id = 0; id < UR_BUF_ENTRIES; id++) {
		uintptr_t a = (uintptr_t)u->br_buf[id], end = a + l->bufs->size;

		if (!a)
			continue;
		a = (a + page - 1) & ~(page - 1);
		end &= ~(page - 1);
		if (end > a)
			(void)madvise((void *)a, end - a, MADV_DONTNEED);
	}
}

static void reap(struct loop *l)
{
	struct io_uring *ring = &ur(l)->ring;
	struct io_uring_cqe *cqe;
	unsigned int head, n = 0;

	io_uring_for_each_cqe(ring, head, cqe) {
		struct io_req *req = io_uring_cqe_get_data(cqe);

		n++;
		/* NULL: a failed cancel or close, nothing to do. */
		if (req && cqe->user_data != LIBURING_UDATA_TIMEOUT)
			ur_complete(l, req, cqe->res, cqe->flags);
	}
	io_uring_cq_advance(ring, n);
}

static int ur_wait(struct loop *l, int timeout_ms)
{
	struct io_uring *ring = &ur(l)->ring;
	struct __kernel_timespec ts;
	struct io_uring_cqe *cqe;
	int ret = ur_enable(ur(l));

	if (ret)
		return ret;
	ur(l)->cancel_queued = false;	/* whatever is queued goes out now */
	if (timeout_ms == 0) {
		/* Nothing to send and nothing held back: just look. */
		if (io_uring_sq_ready(ring) ||
		    (IO_URING_READ_ONCE(*ring->sq.kflags) & (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN)))
			ret = io_uring_submit_and_get_events(ring);
	} else if (!io_uring_cq_ready(ring)) {
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (long long)(timeout_ms % 1000) * 1000000;
		ret = io_uring_submit_and_wait_timeout(ring, &cqe, 1, timeout_ms > 0 ? &ts : NULL,
						       NULL);
	} else if (io_uring_sq_ready(ring)) {
		ret = io_uring_submit(ring);
	}
	reap(l);
	if (ret == -ETIME || ret == -EBUSY || ret == -EAGAIN)
		ret = 0;
	return ret < 0 ? ret : 0;
}

static void ur_flush(struct loop *l)
{
	struct io_uring *ring = &ur(l)->ring;

	if (!ur_may_submit(ur(l)) && !ur(l)->disabled)
		return;		/* not the loop's thread: nothing can be waited for */
	if (ur(l)->disabled && ur_enable(ur(l)))
		return;
	if (io_uring_sq_ready(ring))
		(void)io_uring_submit(ring);
	for (int i = 0; ur(l)->cancelling && i < UR_FLUSH_ROUNDS; i++)
		(void)ur_wait(l, UR_FLUSH_MS);
	/* The cancels' completions are queued now: the caller drains them. */
}

const struct loop_backend loop_backend_uring = {
	.name = "io_uring",
	.init = ur_init,
	.fini = ur_fini,
	.attach = ur_attach,
	.detach = ur_detach,
	.submit = ur_submit,
	.wait = ur_wait,
	.cancel = ur_cancel,
	.close = ur_close,
	.flush = ur_flush,
	.trim = ur_trim,
};

#else /* !CONFIG_IO_URING: built without liburing */

bool loop_uring_usable(void)
{
	errno = ENOSYS;
	return false;
}

static int ur_init(struct loop *l)
{
	return -ENOSYS;
}

static void ur_fini(struct loop *l)
{
}

static int ur_attach(struct loop *l, struct io *io)
{
	return -ENOSYS;
}

static void ur_detach(struct loop *l, struct io *io)
{
}

static void ur_submit(struct loop *l, struct io_req *req)
{
	loop_complete(l, req, -ENOSYS);
}

static int ur_wait(struct loop *l, int timeout_ms)
{
	return -ENOSYS;
}

const struct loop_backend loop_backend_uring = {
	.name = "io_uring",
	.init = ur_init,
	.fini = ur_fini,
	.attach = ur_attach,
	.detach = ur_detach,
	.submit = ur_submit,
	.wait = ur_wait,
};

#endif /* CONFIG_IO_URING */
