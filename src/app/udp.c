/* The per-worker datagram scratch and address helpers shared by udp_fwd.c and udp_assoc.c. */
#include "app/udp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>

#include "app/worker.h"

static void on_flush(struct io_req *req)
{
	udp_hold_flush(container_of(req, struct udp_batch, flush_req));
}

struct udp_batch *udp_hold_batch(struct worker *w)
{
	struct udp_batch *b = w->udp;

	if (b)
		return b;
	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	/* Pages are touched only as datagrams fill them: small ones cost little. */
	b->buf = malloc((size_t)UDP_BATCH * UDP_SLOT);
	if (!b->buf) {
		free(b);
		return NULL;
	}
	b->held_fd = -1;
	b->loop = &w->loop;
	b->flush_req.cb = on_flush;
	w->udp = b;
	return b;
}

struct udp_batch *udp_batch_get(struct worker *w)
{
	struct udp_batch *b = udp_hold_batch(w);

	if (b && b->nheld)
		udp_hold_flush(b);
	return b;
}

void udp_batch_free(struct worker *w)
{
	if (!w->udp)
		return;
	/* Normally run already: the worker drains its loop before it ends. */
	if (w->udp->flush_req.inflight)
		loop_drain(&w->loop);
	free(w->udp->buf);
	free(w->udp);
	w->udp = NULL;
}

void udp_hold_flush(struct udp_batch *b)
{
	unsigned int n = b->nheld, dropped;

	if (!n)
		return;
	b->nheld = 0;
	b->held_slot = 0;
	dropped = udp_send_flow(b->held_fd, b, n);
	if (b->held_drops)
		*b->held_drops += dropped;
}

void udp_hold_add(struct udp_batch *b, int fd, uint64_t *drops, unsigned int slot,
		  const union sockaddr_any *addr, const struct udp_local *local)
{
	unsigned int k;

	if (b->nheld && (b->held_fd != fd || b->held_drops != drops))
		udp_hold_flush(b);
	k = b->nheld++;
	b->held_fd = fd;
	b->held_drops = drops;
	if (slot + 1 > b->held_slot)
		b->held_slot = slot + 1;
	udp_out_set(b, k, udp_slot(b, slot), b->in[slot].msg_len, addr, local);
	udp_out_seg(b, k, b->in_seg[slot]);
	/* After the completions already queued: the rest of this loop turn. */
	if (!b->flush_req.inflight)
		loop_defer(b->loop, &b->flush_req);
}

void udp_hold_drop(struct udp_batch *b, int fd)
{
	if (b && b->nheld && b->held_fd == fd) {
		b->nheld = 0;
		b->held_slot = 0;
	}
}

int udp_recv_batch(int fd, struct udp_batch *b, unsigned int flags)
{
	return udp_recv_batch_at(fd, b, 0, flags);
}

int udp_local_enable(int fd)
{
	union sockaddr_any me;
	socklen_t len = sizeof(me);
	int on = 1;

	if (getsockname(fd, &me.sa, &len) < 0)
		return -errno;
	if (!addr_is_any(&me))
		return 0;	/* one address: the kernel sends from it anyway */
	/* IPv4 (and IPv4 on a dual-stack socket) gives ipi_spec_dst: a usable source. */
	if (setsockopt(fd, SOL_IP, IP_PKTINFO, &on, sizeof(on)) < 0)
		return -errno;
	if (me.sa.sa_family == AF_INET6 &&
	    setsockopt(fd, SOL_IPV6, IPV6_RECVPKTINFO, &on, sizeof(on)) < 0)
		return -errno;
	/*
	 * IPv6 only takes a PKTINFO source that is a configured address; with
	 * AnyIP (a local route: ip -6 route add local PREFIX dev lo) the
	 * datagram's address is ours but not configured. FREEBIND lifts that
	 * check, and we only ever send from addresses datagrams came to.
	 * Best effort: without it, udp_local_strip() falls back.
	 */
	(void)setsockopt(fd, SOL_IP, IP_FREEBIND, &on, sizeof(on));
	return 1;
}

/* A destination address we may send from: not multicast or broadcast. */
static bool local_usable_v4(struct in_addr a)
{
	uint32_t h = ntohl(a.s_addr);

	return h != INADDR_ANY && h != INADDR_BROADCAST && !IN_MULTICAST(h);
}

void udp_local_parse(struct msghdr *h, struct udp_local *l)
{
	bool have4 = false;

	memset(l, 0, sizeof(*l));
	if (h->msg_flags & MSG_CTRUNC)
		return;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
		if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_PKTINFO &&
		    c->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
			struct in_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			if (local_usable_v4(pi.ipi_spec_dst)) {
				l->family = AF_INET;
				l->v4 = pi.ipi_spec_dst;
				have4 = true;
			}
		} else if (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_PKTINFO &&
			   c->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo)) && !have4) {
			struct in6_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			if (IN6_IS_ADDR_V4MAPPED(&pi.ipi6_addr)) {
				struct in_addr a;

				memcpy(&a, pi.ipi6_addr.s6_addr + 12, 4);
				if (local_usable_v4(a)) {
					l->family = AF_INET;
					l->v4 = a;
				}
			} else if (!IN6_IS_ADDR_MULTICAST(&pi.ipi6_addr) &&
				   !IN6_IS_ADDR_UNSPECIFIED(&pi.ipi6_addr)) {
				l->family = AF_INET6;
				l->v6 = pi.ipi6_addr;
				l->ifindex = IN6_IS_ADDR_LINKLOCAL(&pi.ipi6_addr) ? pi.ipi6_ifindex : 0;
			}
		}
	}
}

int udp_recv_batch_at(int fd, struct udp_batch *b, unsigned int first, unsigned int flags)
{
	struct mmsghdr *in = b->in + first;
	bool want_addr = flags & UDP_RX_ADDR, want_local = flags & UDP_RX_LOCAL;
	bool want_ctl = flags & (UDP_RX_LOCAL | UDP_RX_GRO);
	int n;

	for (unsigned int i = first; i < UDP_BATCH; i++) {
		struct msghdr *h = &b->in[i].msg_hdr;

		b->in_iov[i].iov_base = udp_slot(b, i);
		b->in_iov[i].iov_len = UDP_PAYLOAD_MAX;
		h->msg_iov = &b->in_iov[i];
		h->msg_iovlen = 1;
		h->msg_name = want_addr ? &b->in_addr[i] : NULL;
		h->msg_namelen = want_addr ? sizeof(b->in_addr[i]) : 0;
		h->msg_control = want_ctl ? b->in_ctl[i] : NULL;
		h->msg_controllen = want_ctl ? sizeof(b->in_ctl[i]) : 0;
		h->msg_flags = 0;
		b->in[i].msg_len = 0;
	}
	do
		n = recvmmsg(fd, in, UDP_BATCH - first, MSG_DONTWAIT, NULL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		struct msghdr *h = &in[i].msg_hdr;
		unsigned int slot = first + (unsigned int)i;

		b->in_seg[slot] = 0;
		if ((flags & UDP_RX_GRO) && (h->msg_flags & MSG_CTRUNC))
			h->msg_flags |= MSG_TRUNC;	/* a run we could not cut: drop it */
		if (h->msg_flags & MSG_TRUNC)
			in[i].msg_len = 0;
		if (want_local)
			udp_local_parse(h, &b->in_local[slot]);
		if (!(flags & UDP_RX_GRO) || !in[i].msg_len)
			continue;
		{
			size_t seg = udp_cmsg_gro(h);

			if (seg && seg < in[i].msg_len)
				b->in_seg[slot] = (uint16_t)seg;
		}
	}
	return n;
}

size_t udp_cmsg_put(uint8_t *p, int level, int type, const void *data, size_t len)
{
	struct cmsghdr *c = (struct cmsghdr *)(void *)p;

	memset(c, 0, CMSG_SPACE(len));
	c->cmsg_level = level;
	c->cmsg_type = type;
	c->cmsg_len = CMSG_LEN(len);
	memcpy(CMSG_DATA(c), data, len);
	return CMSG_SPACE(len);
}

size_t udp_local_put(uint8_t *p, const struct udp_local *l)
{
	if (l->family == AF_INET) {
		struct in_pktinfo pi = { .ipi_spec_dst = l->v4 };

		return udp_cmsg_put(p, SOL_IP, IP_PKTINFO, &pi, sizeof(pi));
	}
	if (l->family == AF_INET6) {
		struct in6_pktinfo pi = { .ipi6_addr = l->v6, .ipi6_ifindex = l->ifindex };

		return udp_cmsg_put(p, SOL_IPV6, IPV6_PKTINFO, &pi, sizeof(pi));
	}
	return 0;
}

void udp_out_set(struct udp_batch *b, unsigned int k, void *data, size_t len,
		 const union sockaddr_any *addr, const struct udp_local *local)
{
	struct msghdr *h = &b->out[k].msg_hdr;

	memset(h, 0, sizeof(*h));
	b->out_iov[k].iov_base = data;
	b->out_iov[k].iov_len = len;
	h->msg_iov = &b->out_iov[k];
	h->msg_iovlen = 1;
	if (addr) {
		if (addr != &b->out_addr[k])
			b->out_addr[k] = *addr;
		h->msg_name = &b->out_addr[k];
		h->msg_namelen = addr_len(addr);
	}
	if (local && local->family) {
		b->out_local[k] = *local;
		h->msg_control = b->out_ctl[k];
		h->msg_controllen = udp_local_put(b->out_ctl[k], local);
	} else {
		b->out_local[k].family = 0;
	}
	b->out_seg[k] = 0;
}

size_t udp_cmsg_gro(struct msghdr *h)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
		if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO &&
		    c->cmsg_len >= CMSG_LEN(sizeof(int))) {
			int seg;

			memcpy(&seg, CMSG_DATA(c), sizeof(seg));
			return seg > 0 ? (size_t)seg : 0;
		}
	}
	return 0;
}

int udp_gro_enable(int fd)
{
	int on = 1;

	return setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof(on)) < 0 ? -errno : 0;
}

unsigned int udp_in_count(const struct udp_batch *b, unsigned int i)
{
	size_t seg = b->in_seg[i];

	return seg ? (unsigned int)((b->in[i].msg_len + seg - 1) / seg) : 1;
}

/* Datagrams in out[k]: a GRO run counts each. */
static unsigned int out_count(const struct udp_batch *b, unsigned int k)
{
	size_t seg = b->out_seg[k];

	return seg ? (unsigned int)((b->out_iov[k].iov_len + seg - 1) / seg) : 1;
}

bool udp_local_strip(struct msghdr *h, int err)
{
	if (err != EINVAL && err != ENETUNREACH && err != EADDRNOTAVAIL && err != EHOSTUNREACH)
		return false;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
		if ((c->cmsg_level == SOL_IP && c->cmsg_type == IP_PKTINFO) ||
		    (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_PKTINFO)) {
			/* Ours is always the last one: cut it off. */
			h->msg_controllen = (size_t)((uint8_t *)c - (uint8_t *)h->msg_control);
			if (!h->msg_controllen)
				h->msg_control = NULL;
			return true;
		}
	}
	return false;
}

enum { SEND_ALL, SEND_FULL, SEND_BAD };

/*
 * sendmmsg() m[*done, n) until all went (SEND_ALL), the socket has no room
 * (SEND_FULL: UDP drops the rest, we do too) or message *done cannot go
 * (SEND_BAD: EMSGSIZE..., the caller skips or resends it). EINTR is tried
 * again, and so is one ECONNREFUSED in a row: an ICMP error queued on a
 * connected socket fails the next send without sending it.
 */
static int send_run(int fd, struct mmsghdr *m, unsigned int n, unsigned int *done)
{
	bool retried = false;

	while (*done < n) {
		int r = sendmmsg(fd, m + *done, n - *done, MSG_DONTWAIT);

		if (r > 0) {
			*done += (unsigned int)r;
			retried = false;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS))
			return SEND_FULL;
		if (r < 0 && errno == ECONNREFUSED && !retried) {
			retried = true;
			continue;
		}
		/* The source we learnt is refused (gone, or not ours to send from): let the route pick. */
		if (r < 0 && udp_local_strip(&m[*done].msg_hdr, errno))
			continue;
		return SEND_BAD;
	}
	return SEND_ALL;
}

/* GSO segments: at most 64 per send, and a super-datagram must fit in one IP packet. */
#define GSO_SEGS_MAX	64
#define GSO_BYTES_MAX	(65507 - 64)
/* Larger segments risk the path MTU (GSO never fragments): plain sends then. */
#define GSO_SEG_MAX	1400
#define GSO_FAILURES_MAX 16

/* sendmmsg() m[0..n) as far as it goes, counting drops; false after a full socket. */
static bool send_all(int fd, struct mmsghdr *m, unsigned int n, unsigned int *dropped)
{
	unsigned int done = 0;

	while (done < n) {
		int st = send_run(fd, m, n, &done);

		if (st == SEND_FULL) {
			*dropped += n - done;
			return false;
		}
		if (st == SEND_BAD) {
			done++;
			(*dropped)++;
		}
	}
	return true;
}

/* GRO run out[k], datagram by datagram (same name and PKTINFO); false after a full socket. */
static bool send_split(int fd, struct udp_batch *b, unsigned int k, unsigned int *dropped)
{
	struct mmsghdr pm[GSO_SEGS_MAX];
	struct iovec pv[GSO_SEGS_MAX];
	uint8_t *p = b->out_iov[k].iov_base;
	size_t len = b->out_iov[k].iov_len, seg = b->out_seg[k], off = 0;

	while (off < len) {
		unsigned int n = 0;

		for (; n < GSO_SEGS_MAX && off < len; n++, off += seg) {
			pv[n].iov_base = p + off;
			pv[n].iov_len = len - off < seg ? len - off : seg;
			pm[n].msg_hdr = b->out[k].msg_hdr;
			pm[n].msg_hdr.msg_iov = &pv[n];
			pm[n].msg_hdr.msg_iovlen = 1;
		}
		if (!send_all(fd, pm, n, dropped)) {
			*dropped += (unsigned int)((len - off + seg - 1) / seg);
			return false;
		}
	}
	return true;
}

/* out[first, first + n) without GSO: GRO runs cut back into their datagrams. Returns drops. */
static unsigned int send_plain(int fd, struct udp_batch *b, unsigned int first, unsigned int n)
{
	unsigned int dropped = 0, i = first, end = first + n;

	while (i < end) {
		unsigned int j = i;
		bool ok = true;

		while (j < end && !b->out_seg[j])
			j++;
		if (j > i)
			ok = send_all(fd, b->out + i, j - i, &dropped);
		if (ok && j < end)
			ok = send_split(fd, b, j++, &dropped);
		if (!ok) {		/* full: the rest is lost like on the wire */
			for (; j < end; j++)
				dropped += out_count(b, j);
			break;
		}
		i = j;
	}
	return dropped;
}

unsigned int udp_send_out(int fd, struct udp_batch *b, unsigned int n)
{
	return send_plain(fd, b, 0, n);
}

bool udp_local_eq(const struct udp_local *a, const struct udp_local *b)
{
	if (a->family != b->family)
		return false;
	if (a->family == AF_INET)
		return a->v4.s_addr == b->v4.s_addr;
	if (a->family == AF_INET6)
		return a->ifindex == b->ifindex && memcmp(&a->v6, &b->v6, sizeof(a->v6)) == 0;
	return true;
}

/*
 * One GSO send has one destination (the same msg_name, or none: connected)
 * and one source.
 */
static bool same_dest(const struct udp_batch *b, unsigned int i, unsigned int j)
{
	const struct msghdr *x = &b->out[i].msg_hdr, *y = &b->out[j].msg_hdr;

	if (!udp_local_eq(&b->out_local[i], &b->out_local[j]))
		return false;
	return x->msg_name == y->msg_name ||
	       (x->msg_name && y->msg_name && x->msg_namelen == y->msg_namelen &&
		memcmp(x->msg_name, y->msg_name, x->msg_namelen) == 0);
}

unsigned int udp_send_flow(int fd, struct udp_batch *b, unsigned int n)
{
	unsigned int first[UDP_BATCH], count[UDP_BATCH], ndg[UDP_BATCH], segs[UDP_BATCH];
	unsigned int ng = 0, dropped = 0, done = 0;

	if (b->gso_failures >= GSO_FAILURES_MAX || (n < 2 && !(n == 1 && b->out_seg[0])))
		return send_plain(fd, b, 0, n);
	/*
	 * Group: equal sizes, the last of a group may be shorter. A GRO run
	 * (out_seg) goes alone, as it came: its segment size is already set.
	 */
	for (unsigned int i = 0; i < n;) {
		size_t sz = b->out_iov[i].iov_len, total = sz;
		unsigned int k = 1;
		uint16_t seg = b->out_seg[i];

		if (!seg && sz > 0 && sz <= GSO_SEG_MAX) {
			while (i + k < n && k < GSO_SEGS_MAX && !b->out_seg[i + k] &&
			       b->out_iov[i + k].iov_len <= sz &&
			       total + b->out_iov[i + k].iov_len <= GSO_BYTES_MAX &&
			       same_dest(b, i, i + k)) {
				total += b->out_iov[i + k].iov_len;
				k++;
				if (b->out_iov[i + k - 1].iov_len < sz)
					break;
			}
			if (k > 1)
				seg = (uint16_t)sz;
		}
		first[ng] = i;
		count[ng] = k;
		ndg[ng] = seg && k == 1 ? out_count(b, i) : k;
		segs[ng] = seg;
		{
			struct msghdr *h = &b->gso[ng].msg_hdr;

			*h = b->out[i].msg_hdr;		/* name and PKTINFO of the flow */
			h->msg_iov = &b->out_iov[i];
			h->msg_iovlen = k;
			if (seg) {
				size_t cl = udp_cmsg_put(b->gso_ctl[ng], SOL_UDP, UDP_SEGMENT, &seg, sizeof(seg));

				h->msg_control = b->gso_ctl[ng];
				h->msg_controllen = cl + udp_local_put(b->gso_ctl[ng] + cl, &b->out_local[i]);
			}
		}
		ng++;
		i += k;
	}
	while (done < ng) {
		int st = send_run(fd, b->gso, ng, &done);

		if (st == SEND_FULL) {
			for (; done < ng; done++)
				dropped += ndg[done];
			break;
		}
		if (st != SEND_BAD)
			continue;
		if (ndg[done] > 1) {
			/*
			 * GSO refused here (MTU, no offload): this group the plain
			 * way. A GRO run of big segments (jumbo frames in, a smaller
			 * MTU out) is refused by the MTU alone: that says nothing
			 * about GSO on this worker.
			 */
			if (segs[done] <= GSO_SEG_MAX)
				b->gso_failures++;
			dropped += send_plain(fd, b, first[done], count[done]);
		} else {
			dropped++;	/* this one cannot go (EMSGSIZE...) */
		}
		done++;
	}
	return dropped;
}

void udp_addr_unmap(const union sockaddr_any *in, union sockaddr_any *out)
{
	if (in->sa.sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&in->sin6.sin6_addr)) {
		memset(out, 0, sizeof(*out));
		out->sin.sin_family = AF_INET;
		out->sin.sin_port = in->sin6.sin6_port;
		memcpy(&out->sin.sin_addr, in->sin6.sin6_addr.s6_addr + 12, 4);
		return;
	}
	if (out != in)
		memcpy(out, in, sizeof(*out));
}

void udp_addr_map(const union sockaddr_any *in, union sockaddr_any *out)
{
	if (in->sa.sa_family == AF_INET) {
		union sockaddr_any m;

		memset(&m, 0, sizeof(m));
		m.sin6.sin6_family = AF_INET6;
		m.sin6.sin6_port = in->sin.sin_port;
		m.sin6.sin6_addr.s6_addr[10] = 0xff;
		m.sin6.sin6_addr.s6_addr[11] = 0xff;
		memcpy(m.sin6.sin6_addr.s6_addr + 12, &in->sin.sin_addr, 4);
		*out = m;
		return;
	}
	if (out != in)
		memcpy(out, in, sizeof(*out));
}

bool udp_addr_eq(const union sockaddr_any *a, const union sockaddr_any *b, bool with_port)
{
	union sockaddr_any x, y;

	udp_addr_unmap(a, &x);
	udp_addr_unmap(b, &y);
	if (x.sa.sa_family != y.sa.sa_family)
		return false;
	if (x.sa.sa_family == AF_INET)
		return x.sin.sin_addr.s_addr == y.sin.sin_addr.s_addr &&
		       (!with_port || x.sin.sin_port == y.sin.sin_port);
	if (x.sa.sa_family == AF_INET6)
		return memcmp(&x.sin6.sin6_addr, &y.sin6.sin6_addr, 16) == 0 &&
		       (!with_port || x.sin6.sin6_port == y.sin6.sin6_port);
	return false;
}
