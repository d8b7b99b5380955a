/*
 * Logging that never blocks the hot path: callers format a line and copy it
 * into a ring under a mutex (a memcpy); a writer thread does the write(2).
 * When the ring is full the line is dropped and counted, and the writer
 * reports how many were lost.
 *
 * Line format: "2026-11-22T07:40:01.123Z LEVEL message\n".
 */
#ifndef SLUICE_APP_LOG_H
#define SLUICE_APP_LOG_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level {
	LOG_ERROR = 0,
	LOG_WARN,
	LOG_INFO,
	LOG_DEBUG,
};

struct log {
	int level;		/* lines above this level are skipped */
	int fd;			/* owned unless it is 2 */
	char *path;		/* owned; NULL = stderr */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	bool running;		/* writer thread started */
	bool quit;
	bool reopen;		/* writer reopens path before next write */
	char *ring;		/* owned: LOG_RING bytes */
	size_t head, tail;	/* bytes written into / taken out of the ring */
	uint64_t dropped;	/* lines lost since last report */
};

/* Parse "error|warn|info|debug". Returns the level or -1. */
int log_level_parse(const char *s);

/*
 * Set up a log writing to path (appending) or stderr when path is NULL.
 * Lines are written synchronously until log_start(). 0 or -errno.
 */
int log_init(struct log *lg, const char *path, int level);
/* Start the writer thread. 0 or -errno. */
int log_start(struct log *lg);
/* Flush what is queued, stop the writer, close the file. */
void log_fini(struct log *lg);
/* Reopen the file (log rotation). 0 or -errno. */
int log_reopen(struct log *lg);

void log_msg(struct log *lg, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static inline bool log_on(const struct log *lg, int level)
{
	return lg && level <= lg->level;
}

#define log_error(lg, ...) do { if (log_on(lg, LOG_ERROR)) log_msg(lg, LOG_ERROR, __VA_ARGS__); } while (0)
#define log_warn(lg, ...)  do { if (log_on(lg, LOG_WARN))  log_msg(lg, LOG_WARN, __VA_ARGS__); } while (0)
#define log_info(lg, ...)  do { if (log_on(lg, LOG_INFO))  log_msg(lg, LOG_INFO, __VA_ARGS__); } while (0)
#define log_debug(lg, ...) do { if (log_on(lg, LOG_DEBUG)) log_msg(lg, LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
