#include "app/pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int pidfile_read(const char *path)
{
	char buf[32];
	ssize_t n;
	long pid;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	pid = strtol(buf, NULL, 10);
	return pid > 0 && pid < (1L << 30) ? (int)pid : 0;
}

int pidfile_check(const char *path)
{
	int pid = pidfile_read(path);

	if (pid <= 0 || pid == getpid())
		return 0;
	if (kill(pid, 0) == 0 || errno == EPERM)
		return pid;
	return 0;	/* stale: the process is gone */
}

int pidfile_write(const char *path)
{
	char tmp[4096], buf[32];
	int fd, len, err = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	len = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (write(fd, buf, (size_t)len) != len)
		err = errno ? -errno : -EIO;
	if (close(fd) < 0 && !err)
		err = -errno;
	if (!err && rename(tmp, path) < 0)
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

void pidfile_remove(const char *path)
{
	if (pidfile_read(path) == getpid())
		unlink(path);
}
