/*
 * The event loop: one per worker thread, completion-shaped.
 *
 * Callers submit requests ("recv into a buffer, call me with the result")
 * on an io handle; the loop completes each request exactly once, by calling
 * req->cb with req->res set. That shape is native to io_uring and emulated
 * on epoll (edge-triggered readiness + non-blocking syscalls), so protocol
 * and relay code exist once whatever the backend.
 *
 * Rules:
 * - An io handle has at most one pending read-side request (ACCEPT, RECV,
 *   SPLICE_IN, POLL_IN) and one write-side request (CONNECT, SEND,
 *   SPLICE_OUT, POLL_OUT) at a time.
 * - Callbacks never run inside loop_submit(): a request that can complete
 *   at once is queued and its callback runs from loop_run(). So a callback
 *   may submit again without recursion, and event batches never see a
 *   freed object.
 * - io_close() completes every pending request on that handle with
 *   -ECANCELED (asynchronously, like any completion). The owner frees its
 *   requests' memory only once none is in flight (req->inflight).
 * - Buffers: RECV with req->buf == NULL takes a buffer from the loop's
 *   buffer pool when data is there (io_uring "provided buffers"); on res > 0
 *   the callback owns req->buf and must pool_put() it. SPLICE_IN with
 *   req->pipe == NULL likewise takes a pipe from the pipe pool; on res > 0
 *   the callback owns it. So an idle connection holds neither.
 */
#ifndef SLUICE_CORE_LOOP_H
#define SLUICE_CORE_LOOP_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>

#include "core/pool.h"
#include "core/timer.h"

struct loop;
struct io;
struct io_req;

typedef void (*io_cb)(struct io_req *req);

enum io_op {
	IO_NONE = 0,
	IO_ACCEPT,	/* res: new fd (O_NONBLOCK|O_CLOEXEC) or -errno;
			 * peer address into buf (struct sockaddr_storage) */
	IO_CONNECT,	/* connect() already returned EINPROGRESS on io->fd;
			 * res: 0 or -errno once it settles */
	IO_RECV,	/* res: bytes, 0 = EOF, -errno */
	IO_SEND,	/* res: bytes sent (maybe fewer than len), -errno */
	IO_SPLICE_IN,	/* socket -> pipe: res bytes moved, 0 = EOF, -errno */
	IO_SPLICE_OUT,	/* pipe -> socket: res bytes moved, -errno */
	IO_POLL_IN,	/* res: 0 when readable (or error/hangup) */
	IO_POLL_OUT,	/* res: 0 when writable */
};

struct io_req {
	io_cb cb;
	struct io *io;		/* borrowed: the handle it was submitted on */
	struct io_req *next;	/* completion queue link */
	union {
		void *buf;	/* RECV/SEND data, ACCEPT sockaddr_storage */
		struct pipe *pipe; /* SPLICE_IN/OUT */
	};
	union {
		size_t len;	/* bytes to move */
		socklen_t alen;	/* ACCEPT, backend use: the kernel's address
				 * length while the request is pending */
	};
	ssize_t res;
	uint8_t op;		/* enum io_op */
	uint8_t flags;		/* IO_F_*: set by the caller before each submit */
	bool inflight;		/* submitted, callback not yet run */
	bool queued;		/* on the completion queue */
	uint8_t kstate;		/* backend use (io_uring: SQE state) */
};

/*
 * RECV only: look without taking (MSG_PEEK); needs a caller buffer. To take
 * the peeked bytes next, io_hint_ready(io, IO_READY_RD) first: a short peek,
 * like a short read, waits for the next edge otherwise.
 */
#define IO_F_PEEK	0x1

/*
 * POLL_IN only: the caller has just drained the fd itself (a non-blocking
 * call said EAGAIN, or a recvmmsg() came back short), so wait for the next
 * readiness edge instead of asking the kernel to report the level again:
 * saves an epoll_ctl() per wait. Backends that poll levels ignore it.
 */
#define IO_F_EDGE	0x2

/* Readiness bits the epoll backend keeps per handle. */
#define IO_READY_RD	0x1
#define IO_READY_WR	0x2

struct io {
	int fd;			/* owned; -1 once closed */
	uint8_t ready;		/* IO_READY_* known to be set (epoll) */
	uint8_t registered;	/* backend knows the fd */
	struct io_req *rd;	/* pending read-side request, borrowed */
	struct io_req *wr;	/* pending write-side request, borrowed */
	struct loop *loop;	/* borrowed */
};

/* A backend: a handful of ops behind which epoll or io_uring sit. */
struct loop_backend {
	const char *name;
	int (*init)(struct loop *l);
	void (*fini)(struct loop *l);
	int (*attach)(struct loop *l, struct io *io);
	void (*detach)(struct loop *l, struct io *io);
	void (*submit)(struct loop *l, struct io_req *req);
	/* Wait up to timeout_ms (-1: forever) and process what is ready. */
	int (*wait)(struct loop *l, int timeout_ms);
	/*
	 * Optional (NULL: the request completes with -ECANCELED at once).
	 * true when the backend completes req later, once the kernel has let
	 * go of it (io_uring: its buffer may be written until then).
	 */
	bool (*cancel)(struct loop *l, struct io_req *req);
	/* Optional (NULL: close(fd)): close fd after its requests' cancels. */
	void (*close)(struct loop *l, struct io *io, int fd);
	/*
	 * Optional: hand queued work (closes) to the kernel and wait, bounded,
	 * until every cancelled request is completed.
	 */
	void (*flush)(struct loop *l);
	/* Optional: give back the memory of buffers held for the kernel (idle). */
	void (*trim)(struct loop *l);
};

struct loop {
	const struct loop_backend *be;
	int fd;				/* backend fd (epoll) */
	bool stop;
	uint64_t now;			/* cached monotonic ms */
	struct timer_wheel timers;
	struct io_req *cq_head, *cq_tail; /* completions to deliver */
	struct pool *bufs;		/* borrowed: RECV buffer pool */
	unsigned int bufs_held;		/* of its blocks, held by the backend for the
					 * kernel (io_uring provided buffers) */
	struct pipe_pool *pipes;	/* borrowed: SPLICE_IN pipe pool */
	void *backend_data;		/* owned by the backend */
};

/* 0 or -errno. bufs and pipes are borrowed for the loop's lifetime. */
int loop_init(struct loop *l, struct pool *bufs, struct pipe_pool *pipes);
/* Same with a chosen backend (loop_init() is the epoll one). */
int loop_init_be(struct loop *l, const struct loop_backend *be, struct pool *bufs,
		 struct pipe_pool *pipes);

/* --io-backend: which backend the workers' loops use. */
enum loop_backend_id {
	LOOP_BACKEND_AUTO = 0,	/* see loop_backend_get() */
	LOOP_BACKEND_EPOLL,
	LOOP_BACKEND_URING,
};

/*
 * The backend for a choice. AUTO is io_uring when this build has it and
 * the kernel supports every operation the backend uses, else epoll. NULL
 * when an explicit choice cannot be had (io_uring not built in, disabled
 * or too old); errno says why.
 */
const struct loop_backend *loop_backend_get(enum loop_backend_id id);
/* true when loop_backend_uring can run here (builds and probes a ring). */
bool loop_uring_usable(void);
void loop_fini(struct loop *l);

/*
 * An idle worker's housekeeping: the backend gives the pages of the pool
 * blocks it holds for the kernel back to the system (they stay its).
 */
void loop_trim(struct loop *l);

/*
 * Deliver every completion already queued, without waiting (teardown: lets
 * cancelled requests reach their owners so they can free themselves).
 */
void loop_drain(struct loop *l);

/* Run until loop_stop(). Returns 0 or -errno from the backend. */
int loop_run(struct loop *l);
static inline void loop_stop(struct loop *l)
{
	l->stop = true;
}
static inline uint64_t loop_now(const struct loop *l)
{
	return l->now;
}

/*
 * Attach fd to a handle (the handle takes ownership of fd). ready is a hint
 * of IO_READY_* bits already known (e.g. a fresh connection is writable).
 * 0 or -errno (the fd is not closed on failure).
 */
int io_open(struct loop *l, struct io *io, int fd, uint8_t ready);
/* Cancel pending requests (they complete with -ECANCELED), close the fd. */
void io_close(struct io *io);
/* Like io_close but with SO_LINGER 0 so the peer sees a reset. */
void io_abort(struct io *io);
/* Cancel pending requests and forget the fd without closing it. */
void io_detach(struct io *io);
static inline bool io_is_open(const struct io *io)
{
	return io->fd >= 0;
}
static inline void io_init(struct io *io)
{
	io->fd = -1;
	io->ready = 0;
	io->registered = 0;
	io->rd = io->wr = NULL;
	io->loop = NULL;
}

/*
 * Tell the backend the fd may be ready although no event said so (e.g.
 * after pausing accepts): the next request is tried at once. Harmless when
 * wrong: the attempt just waits again.
 */
static inline void io_hint_ready(struct io *io, uint8_t ready)
{
	io->ready |= ready;
}

/* Submit req (op, buf/pipe, len, cb set by the caller) on io. */
void io_submit(struct io *io, struct io_req *req);

/* Fill req (no flags) and submit it: the common case, in one call. */
static inline void io_submit_op(struct io *io, struct io_req *req, uint8_t op, void *buf,
				size_t len, io_cb cb)
{
	req->op = op;
	req->flags = 0;
	req->buf = buf;
	req->len = len;
	req->cb = cb;
	io_submit(io, req);
}

/* Cancel one pending request: it completes with -ECANCELED. */
void io_cancel(struct io_req *req);

/* Timers on the loop's wheel, in ms from now. */
static inline void loop_timer_arm(struct loop *l, struct timer *t, uint64_t ms)
{
	timer_arm(&l->timers, t, l->now + ms);
}
static inline void loop_timer_cancel(struct loop *l, struct timer *t)
{
	timer_cancel(&l->timers, t);
}

/*
 * Run req->cb (req->res 0) after the completions already queued, in this
 * loop turn: work gathered over several callbacks (a batch of sends) goes
 * out once at their end. req needs no io; it is inflight until then, and
 * deferring it again meanwhile does nothing.
 */
void loop_defer(struct loop *l, struct io_req *req);

/* For backends: queue a finished request for its callback. */
void loop_complete(struct loop *l, struct io_req *req, ssize_t res);

/* For backends: detach req from its handle's slot, then loop_complete(). */
void loop_finish(struct loop *l, struct io_req *req, ssize_t res);

/* For backends: the errno of a non-blocking call that would have blocked. */
static inline bool loop_err_is_again(int err)
{
	return err == EAGAIN || err == EWOULDBLOCK;
}

extern const struct loop_backend loop_backend_epoll;
/* io_uring; without CONFIG_IO_URING a stub whose init fails with -ENOSYS. */
extern const struct loop_backend loop_backend_uring;

#endif
