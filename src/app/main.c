/*
 * sluice: parse the command line, open every listener (so bad addresses
 * fail fast with exit status 2), start the workers, then wait for signals.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app/authsvc.h"
#include "app/cli.h"
#include "app/config.h"
#include "app/genkey.h"
#include "app/keyfile.h"
#include "app/log.h"
#include "app/passwd.h"
#include "app/pidfile.h"
#include "app/tunnel.h"
#include "app/worker.h"
#include "core/clock.h"
#include "core/sock.h"
#include "dns/dns.h"

#define EXIT_USAGE	2

static void die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("sluice: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EXIT_USAGE);
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Resolve a listener's bind host (blocking is fine: nothing runs yet). */
static void resolve_bind(struct listener_cfg *l)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
	struct addrinfo *res;
	int rc;

	if (l->bind_host[0] == '\0' || strcmp(l->bind_host, "::") == 0) {
		memset(&l->bind, 0, sizeof(l->bind));
		l->bind.sin6.sin6_family = AF_INET6;
		l->bind.sin6.sin6_addr = in6addr_any;
		addr_set_port(&l->bind, l->bind_port);
		return;
	}
	if (addr_from_literal(l->bind_host, l->bind_port, &l->bind))
		return;
	rc = getaddrinfo(l->bind_host, NULL, &hints, &res);
	if (rc != 0)
		die_usage("-L '%s': cannot resolve listen host '%s': %s", l->url,
			  l->bind_host, gai_strerror(rc));
	memcpy(&l->bind, res->ai_addr, res->ai_addrlen);
	addr_set_port(&l->bind, l->bind_port);
	freeaddrinfo(res);
}

/* fds[i * nworkers + k]: listener i, worker k. Exits on failure. */
static int *open_listeners(struct config *cfg, unsigned int nworkers)
{
	int *fds = calloc(cfg->nlisteners * nworkers, sizeof(int));

	if (!fds)
		die_usage("out of memory");
	for (size_t i = 0; i < cfg->nlisteners; i++) {
		struct listener_cfg *l = &cfg->listeners[i];
		char a[ADDR_STRLEN];
		int err;

		resolve_bind(l);
		addr_format(&l->bind, a, sizeof(a));
		for (unsigned int k = 0; k < nworkers; k++)
			fds[i * nworkers + k] = -1;
		if (l->scheme == SCHEME_TUNNEL) {
			/* One UDP socket, on one worker: see app/tunnel_srv.c. */
			int fd = tunnel_listen_udp(&l->bind);

			if (fd < 0) {
				err = fd;
				goto fail;
			}
			fds[i * nworkers + i % nworkers] = fd;
			continue;
		}
		err = l->scheme == SCHEME_UDP ? sock_probe_bind_udp(&l->bind) : sock_probe_bind(&l->bind);
		for (unsigned int k = 0; !err && k < nworkers; k++) {
			int fd = l->scheme == SCHEME_UDP ? sock_bind_udp(&l->bind, true) :
				 sock_listen_tcp(&l->bind, true, cfg->backlog);

			if (fd < 0)
				err = fd;
			else
				fds[i * nworkers + k] = fd;
		}
fail:
		if (err) {
			/* Tidy up first: nothing may leak, even on the way out. */
			for (size_t j = 0; j < cfg->nlisteners * nworkers; j++)
				if (fds[j] > 0)
					close(fds[j]);
			free(fds);
			die_usage("-L '%s': cannot listen on %s: %s", l->url, a, strerror(-err));
		}
	}
	return fds;
}

/*
 * An open proxy on a public address gets abused within hours: refuse to
 * start one unless the user says so. Runs after the bind addresses resolve.
 */
static void check_open_proxies(struct config *cfg)
{
	for (size_t i = 0; i < cfg->nlisteners; i++) {
		struct listener_cfg *l = &cfg->listeners[i];

		/* A tunnel authenticates its peers with the key. */
		if (l->scheme == SCHEME_TCP || l->scheme == SCHEME_UDP || l->scheme == SCHEME_TUNNEL ||
		    l->need_auth || cfg->allow_open)
			continue;
		resolve_bind(l);
		if (!addr_is_loopback(&l->bind))
			die_usage("-L '%s': a proxy without --auth-file on a non-loopback address is "
				  "open to anyone who can reach it; add --auth-file, bind to 127.0.0.1, "
				  "or pass --allow-open", l->url);
	}
}

static unsigned int default_workers(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 256 ? 256 : (unsigned int)n;
}

/* Make a path absolute, since a daemon changes directory to /. */
static char *absolute(const char *path)
{
	char cwd[4096], *out;

	if (!path)
		return NULL;
	if (path[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		return strdup(path);
	if (asprintf(&out, "%s/%s", cwd, path) < 0)
		return NULL;
	return out;
}

static void daemonize(void)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0) {
		fprintf(stderr, "sluice: fork: %s\n", strerror(errno));
		exit(1);
	}
	if (pid > 0)
		_exit(0);
	setsid();
	pid = fork();		/* never reacquire a controlling terminal */
	if (pid < 0)
		exit(1);
	if (pid > 0)
		_exit(0);
	if (chdir("/") < 0) {
		/* "/" always exists; nothing sensible to do otherwise. */
	}
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
}

/* Wait until all workers finished or the deadline passed; a new signal cuts it short. */
static void wait_workers(struct supervisor *sup, const sigset_t *sigs, uint64_t deadline_ms)
{
	for (;;) {
		struct timespec ts = { 0, 100 * 1000000 };
		unsigned int live;
		int sig;

		pthread_mutex_lock(&sup->mu);
		live = sup->live;
		pthread_mutex_unlock(&sup->mu);
		if (live == 0 || clock_ms() >= deadline_ms)
			return;
		sig = sigtimedwait(sigs, NULL, &ts);
		if (sig == SIGINT || sig == SIGTERM || sig == SIGQUIT)
			return;
	}
}

int main(int argc, char **argv)
{
	struct config cfg;
	struct supervisor sup = { .live = 0 };
	struct worker *workers;
	struct log log;
	struct authsvc *auth = NULL;
	unsigned int nworkers;
	char err[512], *pid_path = NULL, *log_path = NULL, *auth_path = NULL;
	sigset_t sigs;
	int *fds, sig, status = 0, rc;

	if (argc >= 2 && strcmp(argv[1], "passwd") == 0)
		return passwd_main(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "genkey") == 0)
		return genkey_main(argc, argv);
	switch (cli_parse(argc, argv, &cfg, err, sizeof(err))) {
	case CLI_HELP:
		cli_usage(stdout);
		return 0;
	case CLI_VERSION:
		printf("sluice %s\n", SLUICE_VERSION);
		return 0;
	case CLI_ERROR:
		die_usage("%s", err);
	case CLI_RUN:
		break;
	}
	nworkers = cfg.workers ? cfg.workers : default_workers();
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();

	pid_path = absolute(cfg.pid_file);
	log_path = absolute(cfg.log_file);
	rc = log_init(&log, log_path, cfg.log_level);
	if (rc < 0)
		die_usage("--log-file '%s': %s", cfg.log_file, strerror(-rc));
	if (pid_path) {
		rc = pidfile_check(pid_path);
		if (rc > 0)
			die_usage("--pid-file '%s': sluice is already running as pid %d",
				  cfg.pid_file, rc);
	}
	if (dns_global_init() < 0)
		die_usage("cannot initialise the resolver library");
	if (sodium_init() < 0)
		die_usage("cannot initialise libsodium");
	if (cfg.tunnel_key_file) {
		bool loose;

		if (keyfile_load(cfg.tunnel_key_file, cfg.tunnel.key, &loose, err, sizeof(err)) < 0)
			die_usage("--tunnel-key '%s': %s", cfg.tunnel_key_file, err);
		cfg.tunnel.has_key = true;
		if (loose)
			log_warn(&log, "--tunnel-key '%s' is readable by group or others; "
				 "chmod 600 it", cfg.tunnel_key_file);
	}
	if (cfg.auth_file) {
		auth_path = absolute(cfg.auth_file);	/* reloads must work after --daemon */
		auth = authsvc_new(auth_path ? auth_path : cfg.auth_file, &log, err, sizeof(err));
		if (!auth)
			die_usage("--auth-file: %s", err);
	}
	check_open_proxies(&cfg);
	fds = open_listeners(&cfg, nworkers);

	if (cfg.daemon)
		daemonize();
	if (pid_path) {
		rc = pidfile_write(pid_path);
		if (rc < 0) {
			log_error(&log, "--pid-file '%s': %s", cfg.pid_file, strerror(-rc));
			return 1;
		}
	}

	/* Workers inherit this mask: only the main thread takes signals. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGQUIT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	pthread_mutex_init(&sup.mu, NULL);
	pthread_cond_init(&sup.cv, NULL);

	if (log_start(&log) < 0)
		log_warn(&log, "log writer thread failed to start: logging synchronously");
	if (auth && authsvc_start(auth, worker_auth_post) < 0) {
		log_error(&log, "cannot start the credentials verifier");
		return 1;
	}

	workers = calloc(nworkers, sizeof(*workers));
	if (!workers) {
		log_error(&log, "out of memory");
		return 1;
	}
	for (unsigned int k = 0; k < nworkers; k++) {
		int wfds[cfg.nlisteners];

		for (size_t i = 0; i < cfg.nlisteners; i++)
			wfds[i] = fds[i * nworkers + k];
		rc = worker_init(&workers[k], k, nworkers, &cfg, &log, &sup, auth, wfds);
		if (rc < 0) {
			log_error(&log, "worker %u: %s", k, strerror(-rc));
			log_fini(&log);	/* the writer thread holds the lines */
			return 1;
		}
	}
	free(fds);
	for (unsigned int k = 0; k < nworkers; k++)
		workers[k].peers = workers;	/* accept balancing (worker.c) */
	for (size_t i = 0; i < cfg.nlisteners; i++) {
		char a[ADDR_STRLEN];

		const struct listener_cfg *l = &cfg.listeners[i];

		addr_format(&l->bind, a, sizeof(a));
		if (l->scheme == SCHEME_TUNNEL)
			log_info(&log, "listening on tunnel://%s (udp)%s%s%s%s%.0u", a,
				 l->target_host[0] ? " -> " : "",
				 strchr(l->target_host, ':') ? "[" : "", l->target_host,
				 strchr(l->target_host, ':') ? "]:" : l->target_host[0] ? ":" : "",
				 l->target_port);
		else if (l->scheme == SCHEME_TCP || l->scheme == SCHEME_UDP)
			log_info(&log, "listening on %s://%s -> %s%s%s:%u", scheme_name(l->scheme), a,
				 strchr(l->target_host, ':') ? "[" : "", l->target_host,
				 strchr(l->target_host, ':') ? "]" : "", l->target_port);
		else
			log_info(&log, "listening on %s://%s%s", scheme_name(l->scheme), a,
				 l->need_auth ? " (auth required)" : "");
	}
	for (unsigned int k = 0; k < nworkers; k++) {
		rc = worker_start(&workers[k]);
		if (rc < 0) {
			log_error(&log, "cannot start worker %u: %s", k, strerror(-rc));
			status = 1;
			break;
		}
	}
	log_info(&log, "sluice %s running: %u workers, %s event loop%s, pid %d", SLUICE_VERSION,
		 nworkers, workers[0].loop.be->name,
		 cfg.io_backend == LOOP_BACKEND_AUTO ? " (auto)" : "", (int)getpid());

	while (status == 0) {
		sig = sigwaitinfo(&sigs, NULL);
		if (sig == SIGHUP) {
			log_info(&log, "SIGHUP: reopening the log file%s",
				 auth ? ", reloading the auth file" : "");
			log_reopen(&log);
			if (auth && authsvc_reload(auth, err, sizeof(err)) < 0)
				log_error(&log, "auth file not reloaded, keeping the old credentials: %s",
					  err);
			continue;
		}
		if (sig == SIGINT || sig == SIGTERM || sig == SIGQUIT) {
			log_info(&log, "%s: stopping; live connections get %u.%03us to finish",
				 strsignal(sig), cfg.grace_ms / 1000, cfg.grace_ms % 1000);
			break;
		}
	}
	for (unsigned int k = 0; k < nworkers; k++)
		worker_command(&workers[k], WORKER_DRAIN);
	wait_workers(&sup, &sigs, clock_ms() + cfg.grace_ms);
	for (unsigned int k = 0; k < nworkers; k++)
		worker_command(&workers[k], WORKER_STOP);
	for (unsigned int k = 0; k < nworkers; k++)
		worker_join(&workers[k]);
	if (auth)
		authsvc_stop(auth);	/* no answer may reach a freed worker */
	for (unsigned int k = 0; k < nworkers; k++)
		worker_fini(&workers[k]);
	free(workers);
	log_info(&log, "stopped");
	if (pid_path)
		pidfile_remove(pid_path);
	log_fini(&log);
	dns_global_fini();
	config_fini(&cfg);
	authsvc_free(auth);
	free(pid_path);
	free(log_path);
	free(auth_path);
	return status;
}
