/*
 * Per-worker pools (no locks: one thread owns a pool).
 *
 * struct pool hands out fixed-size blocks (relay buffers, sessions). Freed
 * blocks are cached on a free list up to max_free, beyond that they go back
 * to malloc, so a burst does not pin memory forever.
 *
 * struct pipe_pool hands out kernel pipes for splice(). A pipe must be empty
 * when it is put back. Pipes that fail to be created are reported as NULL:
 * callers fall back to buffered copying.
 */
#ifndef SLUICE_CORE_POOL_H
#define SLUICE_CORE_POOL_H

#include <stddef.h>
#include <stdint.h>

struct pool_free {
	struct pool_free *next;
};

struct pool {
	size_t size;		/* block size in bytes */
	uint64_t gets;		/* pool_get() calls so far (for idle trimming) */
	unsigned int max_free;	/* cap on cached blocks */
	unsigned int nfree;	/* blocks on the free list */
	unsigned int used;	/* blocks handed out now */
	struct pool_free *free;	/* owned: cached blocks */
};

void pool_init(struct pool *p, size_t size, unsigned int max_free);
/* Frees the cached blocks; blocks still handed out are the caller's leak. */
void pool_fini(struct pool *p);
/* Returns an uninitialised block, or NULL when out of memory. */
void *pool_get(struct pool *p);
void pool_put(struct pool *p, void *block);
/* Free every cached block (a pool unused for a while gives memory back). */
void pool_trim(struct pool *p);

struct pipe {
	int rd, wr;		/* owned fds: read and write end */
	unsigned int slots;	/* capacity in pipe buffers (pages); each holds
				 * >= 1 byte, so fewer bytes than slots in an
				 * empty pipe cannot have filled it */
	struct pipe *next;	/* free list link */
};

struct pipe_pool {
	size_t size;		/* requested F_SETPIPE_SZ, 0 = kernel default */
	uint64_t gets;		/* pipe_pool_get() calls so far (for idle trimming) */
	unsigned int max_free;
	unsigned int nfree;
	unsigned int used;
	struct pipe *free;
};

void pipe_pool_init(struct pipe_pool *p, size_t size, unsigned int max_free);
void pipe_pool_fini(struct pipe_pool *p);
/* NULL with errno set when no pipe can be made (EMFILE, ENFILE, ENOMEM). */
struct pipe *pipe_pool_get(struct pipe_pool *p);
/* The pipe must be empty. */
void pipe_pool_put(struct pipe_pool *p, struct pipe *pp);
/* For a pipe that still holds bytes (aborted transfer): close it. */
void pipe_pool_discard(struct pipe_pool *p, struct pipe *pp);
/* Close every cached pipe (an idle worker holds no fds it does not need). */
void pipe_pool_trim(struct pipe_pool *p);

#endif
