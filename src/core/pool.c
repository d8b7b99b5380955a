#include "core/pool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

void pool_init(struct pool *p, size_t size, unsigned int max_free)
{
	p->size = size < sizeof(struct pool_free) ? sizeof(struct pool_free) : size;
	p->max_free = max_free;
	p->nfree = 0;
	p->used = 0;
	p->free = NULL;
}

void pool_trim(struct pool *p)
{
	pool_fini(p);
}

void pool_fini(struct pool *p)
{
	struct pool_free *f = p->free, *next;

	for (; f; f = next) {
		next = f->next;
		free(f);
	}
	p->free = NULL;
	p->nfree = 0;
}

void *pool_get(struct pool *p)
{
	struct pool_free *f = p->free;

	p->gets++;
	if (f) {
		p->free = f->next;
		p->nfree--;
	} else {
		f = malloc(p->size);
		if (!f)
			return NULL;
	}
	p->used++;
	return f;
}

void pool_put(struct pool *p, void *block)
{
	struct pool_free *f = block;

	p->used--;
	if (p->nfree >= p->max_free) {
		free(f);
		return;
	}
	f->next = p->free;
	p->free = f;
	p->nfree++;
}

void pipe_pool_init(struct pipe_pool *p, size_t size, unsigned int max_free)
{
	p->size = size;
	p->max_free = max_free;
	p->nfree = 0;
	p->used = 0;
	p->free = NULL;
}

static void pipe_close(struct pipe *pp)
{
	close(pp->rd);
	close(pp->wr);
	free(pp);
}

void pipe_pool_trim(struct pipe_pool *p)
{
	pipe_pool_fini(p);
}

void pipe_pool_fini(struct pipe_pool *p)
{
	struct pipe *pp = p->free, *next;

	for (; pp; pp = next) {
		next = pp->next;
		pipe_close(pp);
	}
	p->free = NULL;
	p->nfree = 0;
}

struct pipe *pipe_pool_get(struct pipe_pool *p)
{
	struct pipe *pp = p->free;
	int fds[2], cap;

	p->gets++;
	if (pp) {
		p->free = pp->next;
		p->nfree--;
		p->used++;
		return pp;
	}
	pp = malloc(sizeof(*pp));
	if (!pp)
		return NULL;
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) {
		int err = errno;

		free(pp);
		errno = err;
		return NULL;
	}
	/*
	 * A larger pipe means fewer splice calls; failure just keeps what the
	 * kernel gave (64 KiB, or 2 pages once the user's pipe quota is used).
	 * F_SETPIPE_SZ returns the capacity, so knowing it is free then.
	 */
	cap = p->size ? fcntl(fds[1], F_SETPIPE_SZ, (int)p->size) : -1;
	if (cap < 0)
		cap = fcntl(fds[1], F_GETPIPE_SZ);
	pp->slots = cap > 0 ? (unsigned int)(cap / sysconf(_SC_PAGESIZE)) : 1;
	pp->rd = fds[0];
	pp->wr = fds[1];
	pp->next = NULL;
	p->used++;
	return pp;
}

void pipe_pool_put(struct pipe_pool *p, struct pipe *pp)
{
	p->used--;
	if (p->nfree >= p->max_free) {
		pipe_close(pp);
		return;
	}
	pp->next = p->free;
	p->free = pp;
	p->nfree++;
}

void pipe_pool_discard(struct pipe_pool *p, struct pipe *pp)
{
	p->used--;
	pipe_close(pp);
}
