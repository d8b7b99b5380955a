/*
 * The credential service shared by all workers:
 * - the current auth store, swapped atomically on reload (inotify on the
 *   file's directory, and SIGHUP) and reference-counted so a worker can
 *   finish a check against the store it started with;
 * - one verifier thread for argon2id hashes, which take tens of ms and
 *   64 MiB each on purpose: workers never run them on their event loop.
 *
 * A worker asks with authsvc_check(): plaintext entries and credentials
 * already verified (a per-worker cache keyed by a keyed BLAKE2b of
 * user+password, tied to the store's generation) answer at once; others
 * are queued and answered later through the worker's completion callback.
 */
#ifndef SLUICE_APP_AUTHSVC_H
#define SLUICE_APP_AUTHSVC_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/auth.h"

struct authsvc;
struct auth_job;

/* Result delivery: called on the verifier thread; must only enqueue and wake. */
typedef void (*auth_post_fn)(void *owner, struct auth_job *job);

struct auth_job {
	struct auth_job *next;		/* queue links */
	void *owner;			/* the worker that asked */
	void *cookie;			/* the asker's (session) token */
	_Atomic bool cancelled;		/* the asker went away: result unused */
	bool ok;			/* result */
	uint64_t generation;		/* store generation it was checked against */
	uint8_t digest[16];		/* cache key of the credentials */
	size_t user_len, pass_len;
	char user[256];
	char pass[256];
};

struct log;

/* Load path. NULL with err set when it cannot be read or parsed. */
struct authsvc *authsvc_new(const char *path, struct log *log, char *err, size_t errlen);
void authsvc_free(struct authsvc *a);

/* Start the verifier thread and the file watcher. 0 or -errno. */
int authsvc_start(struct authsvc *a, auth_post_fn post);
/* Stop both threads (queued jobs are dropped). */
void authsvc_stop(struct authsvc *a);

/*
 * Reload the file now (SIGHUP). On a bad file the old credentials stay and
 * err says which line is wrong. Returns 0, or -1 with err set.
 */
int authsvc_reload(struct authsvc *a, char *err, size_t errlen);

enum authsvc_answer {
	AUTHSVC_OK,
	AUTHSVC_DENIED,
	AUTHSVC_PENDING,	/* *job queued; the answer comes through post() */
};

/* Per-worker cache of credentials that verified. */
#define AUTH_CACHE_SLOTS	1024
struct auth_cache {
	uint64_t generation[AUTH_CACHE_SLOTS];
	uint8_t digest[AUTH_CACHE_SLOTS][16];
};

enum authsvc_answer authsvc_check(struct authsvc *a, struct auth_cache *cache, void *owner,
				  void *cookie, const uint8_t *user, size_t ulen,
				  const uint8_t *pass, size_t plen, struct auth_job **job);

/* On the worker, when a job comes back: records a success in the cache, frees the job. */
void authsvc_job_done(struct authsvc *a, struct auth_cache *cache, struct auth_job *job);

#endif
