#include "app/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOG_RING	(1u << 20)	/* 1 MiB of queued lines */
#define LOG_LINE	1024

static const char *const level_names[] = { "error", "warn", "info", "debug" };

int log_level_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(s, level_names[i]) == 0)
			return (int)i;
	return -1;
}

static int open_path(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

	return fd < 0 ? -errno : fd;
}

int log_init(struct log *lg, const char *path, int level)
{
	memset(lg, 0, sizeof(*lg));
	lg->level = level;
	lg->fd = 2;
	if (path) {
		lg->path = strdup(path);
		if (!lg->path)
			return -ENOMEM;
		lg->fd = open_path(path);
		if (lg->fd < 0) {
			int err = lg->fd;

			free(lg->path);
			lg->path = NULL;
			lg->fd = 2;
			return err;
		}
	}
	pthread_mutex_init(&lg->mu, NULL);
	pthread_cond_init(&lg->cv, NULL);
	return 0;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return;		/* nowhere left to report it */
		}
		p += w;
		n -= (size_t)w;
	}
}

static void *writer_main(void *arg)
{
	struct log *lg = arg;
	char *chunk = malloc(LOG_RING);

	pthread_mutex_lock(&lg->mu);
	for (;;) {
		while (lg->head == lg->tail && !lg->quit && !lg->dropped && !lg->reopen)
			pthread_cond_wait(&lg->cv, &lg->mu);
		if (lg->reopen) {
			int fd = open_path(lg->path);

			lg->reopen = false;
			if (fd >= 0) {
				close(lg->fd);
				lg->fd = fd;
			}
		}
		size_t n = lg->head - lg->tail, off = lg->tail % LOG_RING;
		uint64_t dropped = lg->dropped;

		if (n == 0 && !dropped && lg->quit)
			break;
		/* Copy out so the writers are not held up by write(2). */
		if (chunk) {
			size_t first = n < LOG_RING - off ? n : LOG_RING - off;

			memcpy(chunk, lg->ring + off, first);
			memcpy(chunk + first, lg->ring, n - first);
		}
		lg->tail += n;
		lg->dropped = 0;
		int fd = lg->fd;

		pthread_mutex_unlock(&lg->mu);
		if (chunk)
			write_all(fd, chunk, n);
		if (dropped) {
			char line[96];
			int len = snprintf(line, sizeof(line),
					   "log: %llu lines dropped (writer too slow)\n",
					   (unsigned long long)dropped);

			write_all(fd, line, (size_t)len);
		}
		pthread_mutex_lock(&lg->mu);
	}
	pthread_mutex_unlock(&lg->mu);
	free(chunk);
	return NULL;
}

int log_start(struct log *lg)
{
	int err;

	lg->ring = malloc(LOG_RING);
	if (!lg->ring)
		return -ENOMEM;
	err = pthread_create(&lg->thread, NULL, writer_main, lg);
	if (err) {
		free(lg->ring);
		lg->ring = NULL;
		return -err;
	}
	lg->running = true;
	return 0;
}

void log_fini(struct log *lg)
{
	if (lg->running) {
		pthread_mutex_lock(&lg->mu);
		lg->quit = true;
		pthread_cond_signal(&lg->cv);
		pthread_mutex_unlock(&lg->mu);
		pthread_join(lg->thread, NULL);
		lg->running = false;
	}
	free(lg->ring);
	lg->ring = NULL;
	if (lg->fd != 2)
		close(lg->fd);
	lg->fd = 2;
	free(lg->path);
	lg->path = NULL;
	pthread_mutex_destroy(&lg->mu);
	pthread_cond_destroy(&lg->cv);
}

int log_reopen(struct log *lg)
{
	int fd, old;

	if (!lg->path)
		return 0;
	if (lg->running) {	/* the writer swaps the fd between two writes */
		pthread_mutex_lock(&lg->mu);
		lg->reopen = true;
		pthread_cond_signal(&lg->cv);
		pthread_mutex_unlock(&lg->mu);
		return 0;
	}
	fd = open_path(lg->path);
	if (fd < 0)
		return fd;
	old = lg->fd;
	lg->fd = fd;
	close(old);
	return 0;
}

void log_msg(struct log *lg, int level, const char *fmt, ...)
{
	char line[LOG_LINE];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	size_t n;
	int len;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	len = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ",
		       tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		       tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, level_names[level]);
	va_start(ap, fmt);
	len += vsnprintf(line + len, sizeof(line) - (size_t)len, fmt, ap);
	va_end(ap);
	n = (size_t)len < sizeof(line) - 1 ? (size_t)len : sizeof(line) - 2;
	line[n++] = '\n';

	if (!lg->running) {
		write_all(lg->fd, line, n);
		return;
	}
	pthread_mutex_lock(&lg->mu);
	if (LOG_RING - (lg->head - lg->tail) < n) {
		lg->dropped++;
	} else {
		size_t off = lg->head % LOG_RING, first = n < LOG_RING - off ? n : LOG_RING - off;

		memcpy(lg->ring + off, line, first);
		memcpy(lg->ring, line + first, n - first);
		lg->head += n;
	}
	pthread_cond_signal(&lg->cv);
	pthread_mutex_unlock(&lg->mu);
}
