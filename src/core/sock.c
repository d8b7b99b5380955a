#include "core/sock.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <unistd.h>

static int sock_new_type(int family, int type)
{
	int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	return fd < 0 ? -errno : fd;
}

static int sock_new(int family)
{
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);

	return fd < 0 ? -errno : fd;
}

static int set_int(int fd, int level, int opt, int v)
{
	return setsockopt(fd, level, opt, &v, sizeof(v)) < 0 ? -errno : 0;
}

static int bind_type(const union sockaddr_any *a, bool reuseport, int type)
{
	int fd = sock_new_type(a->sa.sa_family, type), err;

	if (fd < 0)
		return fd;
	err = set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
	if (!err && reuseport)
		err = set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1);
	if (!err && a->sa.sa_family == AF_INET6)
		err = set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 0);
	if (!err && bind(fd, &a->sa, addr_len(a)) < 0)
		err = -errno;
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

static int bind_common(const union sockaddr_any *a, bool reuseport)
{
	return bind_type(a, reuseport, SOCK_STREAM);
}

int sock_bind_udp(const union sockaddr_any *a, bool reuseport)
{
	return bind_type(a, reuseport, SOCK_DGRAM);
}

int sock_probe_bind_udp(const union sockaddr_any *a)
{
	int fd = bind_type(a, false, SOCK_DGRAM);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

void sock_set_buffers(int fd, int bytes)
{
	(void)set_int(fd, SOL_SOCKET, SO_RCVBUF, bytes);
	(void)set_int(fd, SOL_SOCKET, SO_SNDBUF, bytes);
}

int sock_listen_tcp(const union sockaddr_any *a, bool reuseport, int backlog)
{
	int fd = bind_common(a, reuseport);

	if (fd < 0)
		return fd;
	/* Accepted sockets inherit it: one setsockopt instead of one per client. */
	sock_set_nodelay(fd);
	if (listen(fd, backlog) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

int sock_probe_bind(const union sockaddr_any *a)
{
	int fd = bind_common(a, false);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

int sock_connect_tcp(const union sockaddr_any *a, bool *in_progress)
{
	int fd = sock_new(a->sa.sa_family);

	if (fd < 0)
		return fd;
	sock_set_nodelay(fd);
	*in_progress = false;
	if (connect(fd, &a->sa, addr_len(a)) < 0) {
		if (errno != EINPROGRESS) {
			int err = -errno;

			close(fd);
			return err;
		}
		*in_progress = true;
	}
	return fd;
}

void sock_set_nodelay(int fd)
{
	(void)set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
}

int sock_local_addr(int fd, union sockaddr_any *a)
{
	socklen_t len = sizeof(*a);

	return getsockname(fd, &a->sa, &len) < 0 ? -errno : 0;
}
