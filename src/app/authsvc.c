#include "app/authsvc.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "app/log.h"

/* A store and the workers still using it. */
struct store_ref {
	struct auth_store *store;	/* owned */
	uint64_t generation;
	_Atomic int refs;
};

struct authsvc {
	char *path;			/* owned */
	char *dir;			/* owned: the directory to watch */
	char *base;			/* owned: the file name in it */
	struct log *log;		/* borrowed */
	pthread_mutex_t mu;		/* guards cur and generation */
	struct store_ref *cur;
	uint64_t generation;
	uint8_t key[crypto_generichash_KEYBYTES];	/* cache digests: secret */

	pthread_mutex_t qmu;		/* the verifier queue */
	pthread_cond_t qcv;
	struct auth_job *qhead, *qtail;
	bool quit;
	auth_post_fn post;
	pthread_t verifier, watcher;
	bool verifier_on, watcher_on;
	int inotify_fd;
	int stop_fd;			/* eventfd: wakes the watcher to quit */
};

static void ref_put(struct store_ref *r)
{
	if (r && atomic_fetch_sub(&r->refs, 1) == 1) {
		auth_free(r->store);
		free(r);
	}
}

static struct store_ref *ref_get(struct authsvc *a)
{
	struct store_ref *r;

	pthread_mutex_lock(&a->mu);
	r = a->cur;
	atomic_fetch_add(&r->refs, 1);
	pthread_mutex_unlock(&a->mu);
	return r;
}

static int install(struct authsvc *a, struct auth_store *s)
{
	struct store_ref *r = calloc(1, sizeof(*r)), *old;

	if (!r) {
		auth_free(s);
		return -1;
	}
	r->store = s;
	atomic_init(&r->refs, 1);
	pthread_mutex_lock(&a->mu);
	r->generation = ++a->generation;
	old = a->cur;
	a->cur = r;
	pthread_mutex_unlock(&a->mu);
	ref_put(old);
	return 0;
}

struct authsvc *authsvc_new(const char *path, struct log *log, char *err, size_t errlen)
{
	struct authsvc *a = calloc(1, sizeof(*a));
	struct auth_store *s;
	char *slash;

	if (!a) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s = auth_load(path, err, errlen);
	if (!s) {
		free(a);
		return NULL;
	}
	a->log = log;
	a->inotify_fd = a->stop_fd = -1;
	a->path = strdup(path);
	slash = strrchr(path, '/');
	if (!slash) {
		a->dir = strdup(".");
		a->base = strdup(path);
	} else {
		a->dir = slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
		a->base = strdup(slash + 1);
	}
	pthread_mutex_init(&a->mu, NULL);
	pthread_mutex_init(&a->qmu, NULL);
	pthread_cond_init(&a->qcv, NULL);
	randombytes_buf(a->key, sizeof(a->key));
	if (!a->path || !a->dir || !a->base || install(a, s) < 0) {
		snprintf(err, errlen, "out of memory");
		authsvc_free(a);
		return NULL;
	}
	return a;
}

void authsvc_free(struct authsvc *a)
{
	if (!a)
		return;
	authsvc_stop(a);
	ref_put(a->cur);
	sodium_memzero(a->key, sizeof(a->key));
	free(a->base);
	free(a->dir);
	free(a->path);
	pthread_mutex_destroy(&a->mu);
	pthread_mutex_destroy(&a->qmu);
	pthread_cond_destroy(&a->qcv);
	free(a);
}

int authsvc_reload(struct authsvc *a, char *err, size_t errlen)
{
	struct auth_store *s = auth_load(a->path, err, errlen);

	if (!s)
		return -1;
	if (install(a, s) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static void digest_of(const struct authsvc *a, const uint8_t *user, size_t ulen,
		      const uint8_t *pass, size_t plen, uint8_t out[16])
{
	crypto_generichash_state st;
	const uint8_t sep = 0;
	uint8_t ul = (uint8_t)ulen;

	crypto_generichash_init(&st, a->key, sizeof(a->key), 16);
	crypto_generichash_update(&st, &ul, 1);	/* no ambiguity between user and pass */
	crypto_generichash_update(&st, user, ulen);
	crypto_generichash_update(&st, &sep, 1);
	crypto_generichash_update(&st, pass, plen);
	crypto_generichash_final(&st, out, 16);
}

static size_t slot_of(const uint8_t d[16])
{
	return ((size_t)d[0] | (size_t)d[1] << 8) % AUTH_CACHE_SLOTS;
}

enum authsvc_answer authsvc_check(struct authsvc *a, struct auth_cache *cache, void *owner,
				  void *cookie, const uint8_t *user, size_t ulen,
				  const uint8_t *pass, size_t plen, struct auth_job **jobp)
{
	struct store_ref *r;
	const struct auth_entry *e;
	struct auth_job *job;
	uint8_t d[16];
	size_t slot;
	enum authsvc_answer ans;

	*jobp = NULL;
	if (ulen == 0 || ulen > 255 || plen > 255)
		return AUTHSVC_DENIED;
	r = ref_get(a);
	e = auth_find(r->store, (const char *)user, ulen);
	if (!e) {
		ans = AUTHSVC_DENIED;
		goto out;
	}
	if (!auth_needs_slow_verify(e)) {
		ans = auth_verify(e, (const char *)pass, plen) == AUTH_OK ? AUTHSVC_OK : AUTHSVC_DENIED;
		goto out;
	}
	digest_of(a, user, ulen, pass, plen, d);
	slot = slot_of(d);
	if (cache->generation[slot] == r->generation &&
	    sodium_memcmp(cache->digest[slot], d, 16) == 0) {
		ans = AUTHSVC_OK;
		goto out;
	}
	job = calloc(1, sizeof(*job));
	if (!job) {
		ans = AUTHSVC_DENIED;
		goto out;
	}
	job->owner = owner;
	job->cookie = cookie;
	memcpy(job->digest, d, 16);
	memcpy(job->user, user, ulen);
	memcpy(job->pass, pass, plen);
	job->user_len = ulen;
	job->pass_len = plen;
	pthread_mutex_lock(&a->qmu);
	if (a->qtail)
		a->qtail->next = job;
	else
		a->qhead = job;
	a->qtail = job;
	pthread_cond_signal(&a->qcv);
	pthread_mutex_unlock(&a->qmu);
	*jobp = job;
	ans = AUTHSVC_PENDING;
out:
	ref_put(r);
	return ans;
}

void authsvc_job_done(struct authsvc *a, struct auth_cache *cache, struct auth_job *job)
{
	(void)a;
	if (job->ok) {
		size_t slot = slot_of(job->digest);

		cache->generation[slot] = job->generation;
		memcpy(cache->digest[slot], job->digest, 16);
	}
	free(job);
}

static void *verifier_main(void *arg)
{
	struct authsvc *a = arg;

	pthread_mutex_lock(&a->qmu);
	for (;;) {
		struct auth_job *job;

		while (!a->qhead && !a->quit)
			pthread_cond_wait(&a->qcv, &a->qmu);
		if (a->quit)
			break;
		job = a->qhead;
		a->qhead = job->next;
		if (!a->qhead)
			a->qtail = NULL;
		job->next = NULL;
		pthread_mutex_unlock(&a->qmu);

		if (!atomic_load(&job->cancelled)) {
			struct store_ref *r = ref_get(a);
			const struct auth_entry *e = auth_find(r->store, job->user, job->user_len);

			job->ok = e && auth_verify(e, job->pass, job->pass_len) == AUTH_OK;
			job->generation = r->generation;
			ref_put(r);
		}
		sodium_memzero(job->pass, sizeof(job->pass));
		a->post(job->owner, job);	/* the worker frees it */
		pthread_mutex_lock(&a->qmu);
	}
	pthread_mutex_unlock(&a->qmu);
	return NULL;
}

/* Watch the file's directory: editors and config tools replace files. */
static void *watcher_main(void *arg)
{
	struct authsvc *a = arg;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	for (;;) {
		struct pollfd p[2] = { { a->inotify_fd, POLLIN, 0 }, { a->stop_fd, POLLIN, 0 } };
		bool changed = false;
		ssize_t n;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		while ((n = read(a->inotify_fd, buf, sizeof(buf))) > 0) {
			for (char *q = buf; q < buf + n;) {
				struct inotify_event *ev = (struct inotify_event *)q;

				if (ev->len && strcmp(ev->name, a->base) == 0)
					changed = true;
				q += sizeof(*ev) + ev->len;
			}
		}
		if (changed) {
			char err[512];

			if (authsvc_reload(a, err, sizeof(err)) < 0)
				log_error(a->log, "auth file changed but is not valid, keeping the old "
					  "credentials: %s", err);
			else
				log_info(a->log, "auth file %s reloaded", a->path);
		}
	}
	return NULL;
}

int authsvc_start(struct authsvc *a, auth_post_fn post)
{
	int err;

	a->post = post;
	err = pthread_create(&a->verifier, NULL, verifier_main, a);
	if (err)
		return -err;
	a->verifier_on = true;
	a->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	a->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (a->inotify_fd < 0 || a->stop_fd < 0 ||
	    inotify_add_watch(a->inotify_fd, a->dir,
			      IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_ATTRIB) < 0) {
		log_warn(a->log, "cannot watch %s for changes (%s): reload with SIGHUP",
			 a->path, strerror(errno));
		return 0;
	}
	err = pthread_create(&a->watcher, NULL, watcher_main, a);
	if (err)
		log_warn(a->log, "cannot start the auth file watcher: reload with SIGHUP");
	else
		a->watcher_on = true;
	return 0;
}

void authsvc_stop(struct authsvc *a)
{
	if (a->verifier_on) {
		pthread_mutex_lock(&a->qmu);
		a->quit = true;
		pthread_cond_signal(&a->qcv);
		pthread_mutex_unlock(&a->qmu);
		pthread_join(a->verifier, NULL);
		a->verifier_on = false;
	}
	while (a->qhead) {		/* never answered: the workers are gone */
		struct auth_job *job = a->qhead;

		a->qhead = job->next;
		sodium_memzero(job->pass, sizeof(job->pass));
		free(job);
	}
	a->qtail = NULL;
	if (a->watcher_on) {
		uint64_t one = 1;

		if (write(a->stop_fd, &one, sizeof(one)) < 0) {
			/* cannot fail on an eventfd far from overflow */
		}
		pthread_join(a->watcher, NULL);
		a->watcher_on = false;
	}
	if (a->inotify_fd >= 0)
		close(a->inotify_fd);
	if (a->stop_fd >= 0)
		close(a->stop_fd);
	a->inotify_fd = a->stop_fd = -1;
}
