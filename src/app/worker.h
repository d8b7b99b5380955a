/*
 * A worker: one thread, one loop, its own SO_REUSEPORT socket per listener,
 * its own pools, resolver and sessions. Nothing on the hot path is shared.
 * The main thread talks to a worker only through worker_command().
 */
#ifndef SLUICE_APP_WORKER_H
#define SLUICE_APP_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "app/auth.h"
#include "app/authsvc.h"
#include "app/config.h"
#include "app/log.h"
#include "core/list.h"
#include "core/loop.h"
#include "core/pool.h"
#include "dns/dns.h"
#include "egress/egress.h"
#include "ingress/ingress.h"
#include "relay/relay.h"

struct worker;

/* One listener as this worker sees it. */
struct wlistener {
	struct io io;			/* this worker's listening socket */
	struct io_req req;		/* IO_ACCEPT */
	struct sockaddr_storage peer;	/* filled by each accept */
	struct timer backoff;		/* accepts paused (EMFILE...) */
	const struct listener_cfg *cfg;	/* borrowed */
	struct target target;		/* the fixed target of tcp:// */
	const struct ingress_ops *ingress; /* by scheme */
	struct worker *w;		/* back pointer */
	bool paused;			/* waiting for fds to free up */
	bool pause_logged;		/* this pause was warned about */
	uint32_t pauses_quiet;		/* pauses not logged since the last warning */
	uint64_t warn_after;		/* loop ms: the next pause may be logged */
	bool deny_private;		/* proxy on a public address: no private targets */
	struct udp_fwd *udp;		/* owned: udp:// sessions, or NULL (src/app/udp.h) */
};

enum worker_cmd {
	WORKER_RUN = 0,
	WORKER_DRAIN,		/* stop accepting, finish live connections */
	WORKER_STOP,		/* close everything now */
};

/* Shared with the main thread: counts workers still running. */
struct supervisor {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned int live;
};

struct worker {
	unsigned int id;
	unsigned int nworkers;
	pthread_t thread;
	bool started;
	struct loop loop;
	struct pool bufs;		/* relay buffers */
	struct pipe_pool pipes;		/* splice pipes */
	struct pool session_pool;	/* struct session blocks */
	struct dns *dns;		/* owned */
	const struct config *cfg;	/* borrowed */
	struct log *log;		/* borrowed */
	struct supervisor *sup;		/* borrowed */
	struct authsvc *authsvc;	/* borrowed: credentials, or NULL */
	struct auth_cache *auth_cache;	/* owned: credentials verified lately */
	pthread_mutex_t auth_mu;	/* guards auth_done (the verifier posts) */
	struct auth_job *auth_done;	/* answered checks to hand to sessions */
	struct wlistener *listeners;	/* owned array, one per cfg listener */
	size_t nlisteners;
	struct list sessions;		/* live sessions */
	unsigned int nsessions;
	uint64_t seq;			/* session ids: id = seq * nworkers + worker id */
	enum relay_mode relay_mode;
	int state;			/* enum worker_cmd already acted on */
	_Atomic int cmd;		/* enum worker_cmd requested by main */
	struct timer housekeeping;	/* trims idle pools every second */
	uint64_t bufs_gets, pipes_gets;	/* pool use seen at the last tick */
	struct udp_batch *udp;		/* owned: datagram scratch, made on first use */
	struct tclient *tun_client;	/* owned: -F tunnel:// session (app/tunnel_client.c) */
	struct list tun_srvs;		/* owned: tunnel:// listeners on this worker */
	struct io evio;			/* eventfd: main -> worker wake-ups */
	struct io_req evreq;
	/*
	 * Accept balancing (worker.c, hand_off): the one cross-worker path.
	 * load is this worker's sessions plus connections handed to it and
	 * not taken yet, read by the other workers' accepts.
	 */
	struct worker *peers;		/* borrowed: all workers (main's array), or NULL */
	_Atomic bool running;		/* its loop runs (set by its own thread) */
	_Atomic unsigned int load;
	pthread_mutex_t ho_mu;		/* guards ho_head/ho_tail */
	struct handoff *ho_head, *ho_tail; /* owned: accepted by another worker for us */
};

/*
 * Set up w with the already bound listening fds (one per listener; the
 * worker owns them from here). 0 or -errno.
 */
int worker_init(struct worker *w, unsigned int id, unsigned int nworkers,
		const struct config *cfg, struct log *log, struct supervisor *sup,
		struct authsvc *authsvc, const int *listen_fds);
int worker_start(struct worker *w);
/* From any thread. */
void worker_command(struct worker *w, enum worker_cmd cmd);
void worker_join(struct worker *w);
/* Free what worker_init allocated (after join, or if never started). */
void worker_fini(struct worker *w);

/* Called by sessions. */
void worker_session_added(struct worker *w);
void worker_session_gone(struct worker *w);

/* The verifier thread's answer (auth_post_fn): queue it and wake the worker. */
void worker_auth_post(void *owner, struct auth_job *job);

/* Log a failed login with the client's address (never the password). */
void worker_log_auth_failure(struct worker *w, const uint8_t *user, size_t ulen,
			     const union sockaddr_any *peer);

const struct ingress_ops *worker_ingress_for(enum listen_scheme scheme);

#endif
