/*
 * UDP in sluice: udp:// forwarding (udp_fwd.c) and SOCKS5 UDP ASSOCIATE
 * relays (udp_assoc.c), both on the worker's loop.
 *
 * Datagram sockets do not fit the loop's one-request-one-buffer shape, so
 * both wait for IO_POLL_IN readiness and then move datagrams themselves in
 * batches with non-blocking recvmmsg()/sendmmsg(), through one scratch
 * batch per worker (struct udp_batch). A batch is received and sent on
 * before the handler returns, so one scratch serves every UDP socket of a
 * worker; the one exception, replies held for one send per loop turn
 * (udp_hold_*), is flushed before anyone else gets the scratch. See
 * docs/internals/udp.md.
 */
#ifndef SLUICE_APP_UDP_H
#define SLUICE_APP_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/addr.h"
#include "core/loop.h"

struct worker;
struct wlistener;
struct io;

/*
 * Datagrams per recvmmsg()/sendmmsg() call, and slots in the scratch: 64
 * so that replies of several sessions fit in one send (udp_fwd.c).
 */
#define UDP_BATCH	64
/* recvmmsg() calls per readiness event before other sockets get a turn. */
#define UDP_ROUNDS	8
/* Room in front of each received datagram for a SOCKS5 UDP header (IP sources). */
#define UDP_HEADROOM	32
/* Largest UDP payload (IPv6 without jumbograms; IPv4 carries at most 65,507). */
#define UDP_PAYLOAD_MAX	65535
#define UDP_SLOT	(UDP_HEADROOM + UDP_PAYLOAD_MAX + 1)
/* Socket buffers we ask for (the kernel caps them at rmem_max/wmem_max). */
#define UDP_LISTEN_BUF	(4 << 20)
#define UDP_SESSION_BUF	(1 << 20)

/*
 * The local address a datagram was sent to (IP_PKTINFO / IPV6_PKTINFO). A
 * socket bound to a wildcard address must send its replies from it: the
 * kernel would pick the source by route, and a client that sent to our
 * second address drops a reply from our first (a connected UDP socket, as
 * resolvers use, never even sees it). family 0: not known, let the kernel
 * pick.
 */
struct udp_local {
	sa_family_t family;		/* AF_INET, AF_INET6 or 0 */
	uint32_t ifindex;		/* AF_INET6 link-local only, else 0 */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	};
};

/* Room for the control messages of one datagram. */
#define UDP_CTL_IN	128	/* UDP_GRO, IP_PKTINFO and IPV6_PKTINFO (dual-stack gets both) */
#define UDP_CTL_OUT	48	/* one PKTINFO */
#define UDP_CTL_GSO	80	/* UDP_SEGMENT and one PKTINFO */

/* One worker's scratch: received into in[], sent from out[]. */
struct udp_batch {
	struct mmsghdr in[UDP_BATCH];
	struct iovec in_iov[UDP_BATCH];
	union sockaddr_any in_addr[UDP_BATCH];
	struct udp_local in_local[UDP_BATCH];	/* with UDP_RX_LOCAL */
	uint16_t in_seg[UDP_BATCH];	/* UDP_RX_GRO: a run of datagrams of this size; 0: one */
	_Alignas(struct cmsghdr) uint8_t in_ctl[UDP_BATCH][UDP_CTL_IN];
	struct mmsghdr out[UDP_BATCH];
	struct iovec out_iov[UDP_BATCH];
	union sockaddr_any out_addr[UDP_BATCH];
	struct udp_local out_local[UDP_BATCH];	/* source to send from; family 0: any */
	uint16_t out_seg[UDP_BATCH];	/* a GRO run to send as it came (udp_out_seg); 0: one */
	_Alignas(struct cmsghdr) uint8_t out_ctl[UDP_BATCH][UDP_CTL_OUT];
	struct mmsghdr gso[UDP_BATCH];	/* udp_send_flow(): one entry per group */
	_Alignas(struct cmsghdr) uint8_t gso_ctl[UDP_BATCH][UDP_CTL_GSO]; /* their cmsgs */
	unsigned int gso_failures;	/* GSO refused (MTU, device): off after a few */
	uint8_t *buf;			/* owned: UDP_BATCH slots of UDP_SLOT bytes */
	/*
	 * Held sends (udp_hold_*): out[0..nheld) wait in slots [0, held_slot)
	 * to go out on held_fd in one sendmmsg() when the loop's current
	 * completions have run (flush_req), or before anyone else uses the
	 * scratch (udp_batch_get()).
	 */
	unsigned int nheld, held_slot;
	int held_fd;
	uint64_t *held_drops;		/* borrowed: where drops are counted */
	struct loop *loop;		/* borrowed: the worker's */
	struct io_req flush_req;	/* deferred on loop while nheld > 0 */
};

/*
 * The worker's scratch, made on first use; NULL when out of memory. Held
 * sends go out first, so the caller has every slot.
 */
struct udp_batch *udp_batch_get(struct worker *w);
void udp_batch_free(struct worker *w);

/*
 * Held sends: datagrams for one socket gathered over several handlers of a
 * loop turn (replies of many sessions to one listener) and sent with one
 * sendmmsg(). udp_hold_batch() is udp_batch_get() without the flush, for
 * adding to the held run: receive into slots from b->held_slot
 * (udp_recv_batch_at()), then udp_hold_add() each datagram. It is NULL
 * when out of memory.
 */
struct udp_batch *udp_hold_batch(struct worker *w);
/*
 * Hold slot's msg_len bytes for fd, to addr, from local when not NULL
 * (both copied). drops (borrowed, must outlive the hold: udp_hold_drop()
 * before it goes) counts datagrams the send drops. Flushes first when fd
 * or drops differ from what is held.
 */
void udp_hold_add(struct udp_batch *b, int fd, uint64_t *drops, unsigned int slot,
		  const union sockaddr_any *addr, const struct udp_local *local);
/* Send what is held now. */
void udp_hold_flush(struct udp_batch *b);
/* fd is closing: forget what is held for it, unsent. */
void udp_hold_drop(struct udp_batch *b, int fd);

/* Start of datagram slot i's payload (after the headroom). */
static inline uint8_t *udp_slot(struct udp_batch *b, unsigned int i)
{
	return b->buf + (size_t)i * UDP_SLOT + UDP_HEADROOM;
}

/* udp_recv_batch() flags: what to learn besides the payload. */
#define UDP_RX_ADDR	0x1	/* source addresses, into in_addr[] */
#define UDP_RX_LOCAL	0x2	/* local addresses, into in_local[] (udp_local_enable() first) */
#define UDP_RX_GRO	0x4	/* GRO runs, segment sizes into in_seg[] (udp_gro_enable() first) */

/*
 * recvmmsg() up to UDP_BATCH datagrams into the slots, with what flags
 * ask for. Returns the count (> 0), 0 when nothing is waiting, or -errno
 * (ICMP errors on connected sockets, ...). Truncated datagrams (MSG_TRUNC)
 * have msg_len set to 0 and are the caller's to drop.
 */
int udp_recv_batch(int fd, struct udp_batch *b, unsigned int flags);
/* The same into slots [first, UDP_BATCH): in[first..first+count) (first < UDP_BATCH). */
int udp_recv_batch_at(int fd, struct udp_batch *b, unsigned int first, unsigned int flags);

/*
 * If fd is bound to a wildcard address, have it report each datagram's
 * local address (for UDP_RX_LOCAL) and accept it as a source: 1. Bound to
 * one address, which the kernel sends from anyway: 0, nothing done. Or
 * -errno.
 */
int udp_local_enable(int fd);
/*
 * A received datagram's local address from its IP_PKTINFO / IPV6_PKTINFO
 * control message (family 0 when there is none we could send from:
 * multicast, broadcast, truncated control data).
 */
void udp_local_parse(struct msghdr *h, struct udp_local *l);
/*
 * Write l's PKTINFO control message at p (cmsghdr-aligned, room for
 * UDP_CTL_OUT bytes); returns its CMSG_SPACE, 0 when l->family is 0.
 */
size_t udp_local_put(uint8_t *p, const struct udp_local *l);
bool udp_local_eq(const struct udp_local *a, const struct udp_local *b);
/*
 * A send carrying a PKTINFO source failed with err: when err says the
 * source cannot be used (EINVAL, EADDRNOTAVAIL, ENETUNREACH, EHOSTUNREACH:
 * the address went away, or is only routed to us, like IPv4 AnyIP without
 * an address), drop the PKTINFO from h so a resend lets the kernel pick
 * the source as before. true when h changed.
 */
bool udp_local_strip(struct msghdr *h, int err);

/*
 * Fill out[k] with len bytes at data, to addr (NULL: a connected socket),
 * sent from local when it is not NULL and known (both copied).
 */
void udp_out_set(struct udp_batch *b, unsigned int k, void *data, size_t len,
		 const union sockaddr_any *addr, const struct udp_local *local);

/*
 * UDP GRO: the kernel may hand a run of one flow's equal-sized datagrams
 * (the last maybe shorter) to fd as one buffer, with its segment size
 * (UDP_RX_GRO). Where a NIC coalesces, that is one receive per run
 * instead of one per datagram. 0 or -errno (kernels without it).
 */
int udp_gro_enable(int fd);
/* The segment size of a received GRO run (its UDP_GRO cmsg), 0 when h is one datagram. */
size_t udp_cmsg_gro(struct msghdr *h);
/*
 * Write one control message of len bytes of data at p (cmsghdr-aligned,
 * room for CMSG_SPACE(len)); returns that CMSG_SPACE.
 */
size_t udp_cmsg_put(uint8_t *p, int level, int type, const void *data, size_t len);
/* Datagrams in received slot i (1 unless it is a GRO run). */
unsigned int udp_in_count(const struct udp_batch *b, unsigned int i);
/*
 * out[k] (after udp_out_set()) is a run of datagrams of seg bytes, as
 * received (in_seg): sent as one GSO send, or datagram by datagram where
 * GSO is refused, never as one datagram. seg 0 or >= its length: one.
 */
static inline void udp_out_seg(struct udp_batch *b, unsigned int k, uint16_t seg)
{
	b->out_seg[k] = seg && seg < b->out_iov[k].iov_len ? seg : 0;
}

/*
 * sendmmsg() b->out[0..n): each entry is tried; an entry that fails is
 * dropped (counted in the return value), and after a full socket buffer
 * (EAGAIN) the rest is. GRO runs (out_seg) go datagram by datagram.
 * Returns the number of datagrams dropped.
 */
unsigned int udp_send_out(int fd, struct udp_batch *b, unsigned int n);

/*
 * Wait for the fd to be readable. drained: the last receive came back
 * short or empty, so the next arrival raises a fresh edge (IO_F_EDGE);
 * otherwise (a handler stopped early to be fair) the level is re-read.
 */
static inline void udp_poll(struct io *io, struct io_req *req, bool drained, io_cb cb)
{
	req->op = IO_POLL_IN;
	req->flags = drained ? IO_F_EDGE : 0;
	req->buf = NULL;
	req->len = 0;
	req->cb = cb;
	io_submit(io, req);
}

/*
 * Like udp_send_out(), with runs of equal-sized datagrams to one
 * destination (a connected socket, or equal msg_names) sent as one UDP GSO
 * send (UDP_SEGMENT), which the kernel cuts back into the same datagrams:
 * far less per-datagram work on the way down. Falls back to plain sends
 * where GSO is refused. Returns datagrams dropped.
 */
unsigned int udp_send_flow(int fd, struct udp_batch *b, unsigned int n);

/* IPv4-mapped IPv6 becomes plain IPv4; everything else is copied. */
void udp_addr_unmap(const union sockaddr_any *in, union sockaddr_any *out);
/* For an AF_INET6 socket: IPv4 becomes IPv4-mapped IPv6. */
void udp_addr_map(const union sockaddr_any *in, union sockaddr_any *out);
/* Same address (IPv4-mapped and plain IPv4 compare equal), and port when with_port. */
bool udp_addr_eq(const union sockaddr_any *a, const union sockaddr_any *b, bool with_port);

/* ---- udp:// forwarding (udp_fwd.c) ---- */

struct udp_fwd;

/* Set up the forwarder of a udp:// listener whose socket is in wl->io. 0 or -errno. */
int udp_fwd_new(struct wlistener *wl);
/* Start reading datagrams. */
void udp_fwd_start(struct wlistener *wl);
/* End every session (the listener socket is closed by the caller). */
void udp_fwd_close(struct wlistener *wl);
/* After the loop drained: free what is left. */
void udp_fwd_free(struct wlistener *wl);

/* ---- SOCKS5 UDP ASSOCIATE (udp_assoc.c) ---- */

struct udp_assoc;

/*
 * The association ended by itself (control connection EOF or error, relay
 * socket failure): err 0 or -errno. The owner then calls udp_assoc_close().
 */
typedef void (*udp_assoc_done_fn)(void *arg, int err);

struct udp_assoc_stats {
	uint64_t up_dgrams, up_bytes;		/* client -> targets */
	uint64_t down_dgrams, down_bytes;	/* targets -> client */
	uint64_t dropped;			/* malformed, FRAG, policy, strangers, ... */
};

/*
 * Open the relay socket of an association for client (its TCP address;
 * announced_port, when not 0, pins the UDP source port at once). bound gets
 * the BND.ADDR/BND.PORT to reply with: --udp-advertise or local (the
 * address the client reached us on), with the relay socket's port.
 * deny_private: targets must be public addresses. NULL on failure, with
 * *err set (-errno).
 */
struct udp_assoc *udp_assoc_new(struct worker *w, const union sockaddr_any *client,
				uint16_t announced_port, const union sockaddr_any *local,
				bool deny_private, union sockaddr_any *bound, int *err);
/*
 * Start relaying and watching ctl (the TCP control connection, borrowed;
 * bytes on it are read and dropped). done is called at most once. After
 * udp_assoc_close(), released is called once the last request in flight
 * has come back (only if one was in flight), so the owner can free it.
 */
void udp_assoc_start(struct udp_assoc *a, struct io *ctl, udp_assoc_done_fn done,
		     void (*released)(void *arg), void *arg);
/*
 * -F (before udp_assoc_start()): relay through the last hop's UDP
 * association instead of to targets. up_ctl (borrowed) is that hop's
 * control connection, watched like ctl: its end (even EOF: a SOCKS5 server
 * never closes a live association) is the association's, done gets
 * -ECONNRESET for it. relay is the hop's relay address: client datagrams
 * go there unchanged, its datagrams go to the client unchanged, datagrams
 * from anyone else are dropped. IP-literal targets in client headers are
 * still checked against deny_private; names are the upstream's business.
 */
void udp_assoc_via(struct udp_assoc *a, struct io *up_ctl, const union sockaddr_any *relay);
/* Stop: close the relay socket, cancel lookups. Idempotent; done is not called after it. */
void udp_assoc_close(struct udp_assoc *a);
/*
 * The worker is shutting down: end (done with -ECANCELED) as soon as no
 * datagram moved for a second, instead of waiting out the grace period.
 */
void udp_assoc_drain(struct udp_assoc *a);
/* Requests still in flight: free only once this is false. */
bool udp_assoc_is_busy(const struct udp_assoc *a);
void udp_assoc_free(struct udp_assoc *a);
const struct udp_assoc_stats *udp_assoc_stats(const struct udp_assoc *a);
/* The BND.ADDR:BND.PORT udp_assoc_new() gave. */
const union sockaddr_any *udp_assoc_bound(const struct udp_assoc *a);

#endif
