/* Socket helpers (cf. redis anet.c): every function returns an fd or -errno. */
#ifndef SLUICE_CORE_SOCK_H
#define SLUICE_CORE_SOCK_H

#include <stdbool.h>
#include "core/addr.h"

/*
 * Listening TCP socket, non-blocking, close-on-exec, SO_REUSEADDR, and
 * SO_REUSEPORT when reuseport (one socket per worker). An IPv6 wildcard
 * is dual-stack (IPV6_V6ONLY off). TCP_NODELAY is set on it, and accepted
 * sockets inherit it.
 */
int sock_listen_tcp(const union sockaddr_any *a, bool reuseport, int backlog);

/*
 * Check that a is free for us: bind (SO_REUSEADDR, no SO_REUSEPORT) and
 * close. Catches a port held by any other listener, including another
 * SO_REUSEPORT group, which the real bind would silently join.
 * 0 or -errno.
 */
int sock_probe_bind(const union sockaddr_any *a);

/*
 * Non-blocking TCP socket with connect() to a already issued.
 * *in_progress is true when the connection is still being set up.
 */
int sock_connect_tcp(const union sockaddr_any *a, bool *in_progress);

void sock_set_nodelay(int fd);

/*
 * Bound UDP socket, non-blocking, close-on-exec, SO_REUSEADDR, and
 * SO_REUSEPORT when reuseport (the kernel then spreads flows over the
 * sockets by 4-tuple hash). An IPv6 wildcard is dual-stack.
 */
int sock_bind_udp(const union sockaddr_any *a, bool reuseport);
/* sock_probe_bind() for UDP. 0 or -errno. */
int sock_probe_bind_udp(const union sockaddr_any *a);
/* SO_RCVBUF and SO_SNDBUF (capped by the kernel's rmem_max/wmem_max). */
void sock_set_buffers(int fd, int bytes);
/* Local address of a connected socket. 0 or -errno. */
int sock_local_addr(int fd, union sockaddr_any *a);

#endif
