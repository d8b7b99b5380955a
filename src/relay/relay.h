/*
 * The relay moves bytes both ways between two connected streams until both
 * directions are done. It knows nothing of protocols.
 *
 * Each direction is a loop of two requests: read from src (RECV into a
 * pooled buffer, or SPLICE_IN into a pooled pipe), then write all of it to
 * dst, then read again. Reading waits while a write is pending, which is
 * the backpressure. EOF on src becomes shutdown(SHUT_WR) on dst; the relay
 * is finished when both directions reached EOF, or at the first error.
 *
 * Ownership: the relay borrows both io handles; the owner closes them.
 * done() is called once when the relay finishes (err 0 = both EOF, else
 * -errno); the owner then closes the handles, which cancels what is still
 * pending. released() is called once nothing is in flight any more and
 * every buffer and pipe is back in its pool: only then may the owner free
 * the relay's memory. released() may be called from within relay_start's
 * caller's done() when nothing was pending.
 */
#ifndef SLUICE_RELAY_RELAY_H
#define SLUICE_RELAY_RELAY_H

#include <stdbool.h>
#include <stdint.h>

#include "core/loop.h"

enum relay_mode {
	RELAY_BUFFER = 0,	/* recv/send through pooled buffers */
	RELAY_SPLICE,		/* splice through pooled pipes (plain TCP both ends) */
	RELAY_AUTO,		/* buffers, then splice once RELAY_SPLICE_AFTER bytes went one way */
};

/*
 * RELAY_AUTO: a direction switches from buffers to splice after this many
 * bytes. A short exchange (a request and its reply) then never takes a
 * pipe and pays one recv per chunk instead of two splices, while bulk
 * transfers still get splice's lower CPU per byte.
 */
#define RELAY_SPLICE_AFTER	(64 * 1024)

struct relay;
typedef void (*relay_cb)(struct relay *r);

/*
 * An optional framer limits a direction to one message (e.g. an HTTP
 * request body) without the relay knowing the protocol: given the bytes
 * just read, it says how many belong to the message (*take <= n) and
 * returns 1 when the message ends there, 0 to go on, -1 on a framing
 * error (the relay finishes with -EPROTO). Once the message has ended the
 * direction stops reading (no shutdown is sent) and the rest is dropped.
 * A framed direction always uses buffers: splice cannot look at bytes.
 */
typedef int (*relay_frame_fn)(void *state, const uint8_t *p, size_t n, size_t *take);

struct relay_framer {
	relay_frame_fn fn;	/* NULL: no framing */
	void *state;		/* borrowed: the framer's, outlives the relay */
	bool done;		/* the message already ended before the relay */
};

struct relay_dir {
	struct io_req rd;	/* read from src */
	struct io_req wr;	/* write to dst */
	struct io *src, *dst;	/* borrowed */
	struct relay *r;	/* back pointer */
	union {
		void *buf;	/* owned (from the loop's pool) while data is pending */
		struct pipe *pipe; /* owned (from the pipe pool) while data is pending */
	};
	size_t off, len;	/* buffer: bytes [off, len) still to send; pipe: len bytes in it */
	uint64_t bytes;		/* delivered to dst */
	uint8_t mode;		/* enum relay_mode for this direction: BUFFER or SPLICE */
	bool upgrade;		/* AUTO: switch to SPLICE after RELAY_SPLICE_AFTER bytes */
	bool eof;		/* src hit EOF and dst was shut down, or the message ended */
	bool last;		/* the buffer being written ends the message */
	struct relay_framer framer;
};

struct relay {
	struct relay_dir dir[2];	/* [0]: a -> b, [1]: b -> a */
	relay_cb done;
	relay_cb released;
	uint64_t last_active;		/* loop ms of the last progress */
	int err;			/* 0 or -errno that finished it */
	bool finished;
};

/* up: framer for the a -> b direction, or NULL. */
void relay_start(struct relay *r, struct io *a, struct io *b, enum relay_mode mode,
		 relay_cb done, relay_cb released, const struct relay_framer *up);

/* Finish now (e.g. idle timeout): done() is called with err. */
void relay_finish(struct relay *r, int err);

bool relay_is_busy(const struct relay *r);

#endif
