/*
 * A tunnel session on a worker's loop: UDP batches in and out, tchan ->
 * arq -> mux, timers from the worker's wheel, and tstreams bridging mux
 * streams to sockets. tunnel.h has the picture.
 *
 * UDP sends are immediate (sendmmsg, non-blocking) rather than loop
 * requests: a datagram socket does not block meaningfully, and one that is
 * full drops the batch, which the arq repairs like any loss.
 */
#include "app/tunnel_int.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/udp.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app/worker.h"
#include "core/util.h"

/* --- options and keys --- */

void tunnel_opts_default(struct tunnel_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->mtu = 1400;
	o->keepalive_ms = 10000;
	o->timeout_ms = 30000;
	o->window = MUX_WINDOW_MAX_DEFAULT;
}

void tunnel_rng(void *ctx, uint8_t *buf, size_t n)
{
	randombytes_buf(buf, n);
}

uint64_t tunnel_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t now_of(const struct tpeer *p)
{
	return loop_now(&p->w->loop);
}

/* --- UDP endpoint --- */

void tep_init(struct tep *ep, struct worker *w)
{
	io_init(&ep->io);
	ep->w = w;
	ep->ntx = 0;
	ep->ntouched = 0;
	ep->in_rx = false;
	ep->scratch_busy = false;
	ep->want_local = false;
}

int tep_open(struct tep *ep, int fd)
{
	int big = 4 << 20;

	/* Room for bursts: a full window arrives faster than one loop turn. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	/*
	 * GSO out, GRO in: a run of datagrams crosses the kernel as one
	 * (fewer syscalls and skbs; on loopback it even stays whole).
	 * Kernels without them just say no and we send one by one.
	 */
	{
		int seg = 0;
		socklen_t len = sizeof(seg);

		ep->gso = !getenv("SLUICE_NO_GSO") &&
			  getsockopt(fd, IPPROTO_UDP, UDP_SEGMENT, &seg, &len) == 0;
		if (!getenv("SLUICE_NO_GRO"))
			(void)udp_gro_enable(fd);
	}
	return io_open(&ep->w->loop, &ep->io, fd, IO_READY_WR);
}

static bool same_dest(const struct tep *ep, unsigned int a, unsigned int b)
{
	return ep->connected ||
	       (ep->txa[a].sa.sa_family == ep->txa[b].sa.sa_family &&
		memcmp(&ep->txa[a], &ep->txa[b], addr_len(&ep->txa[a])) == 0 &&
		udp_local_eq(&ep->txl[a], &ep->txl[b]));
}

/* Group slots [from, ntx) into messages: runs of equal-size datagrams to one address. */
static unsigned int tx_build(struct tep *ep, unsigned int from)
{
	unsigned int nm = 0, i = from;

	while (i < ep->ntx) {
		struct msghdr *h = &ep->txm[nm].msg_hdr;
		size_t seg = ep->txv[i].iov_len;
		unsigned int j = i + 1;

		if (ep->gso)
			while (j < ep->ntx && j - i < TEP_GSO_SEGS && ep->txv[j - 1].iov_len == seg &&
			       ep->txv[j].iov_len <= seg && same_dest(ep, i, j))
				j++;
		memset(h, 0, sizeof(*h));
		if (!ep->connected) {
			h->msg_name = &ep->txa[i];
			h->msg_namelen = addr_len(&ep->txa[i]);
		}
		h->msg_iov = &ep->txv[i];
		h->msg_iovlen = j - i;
		if (j - i > 1) {
			uint16_t s16 = (uint16_t)seg;

			h->msg_controllen = udp_cmsg_put(ep->txc[nm], SOL_UDP, UDP_SEGMENT, &s16,
							 sizeof(s16));
		}
		if (!ep->connected)	/* a server on a wildcard address: answer from the address used */
			h->msg_controllen += udp_local_put(ep->txc[nm] + h->msg_controllen,
							   &ep->txl[i]);
		if (h->msg_controllen)
			h->msg_control = ep->txc[nm];
		ep->txfirst[nm] = i;
		nm++;
		i = j;
	}
	return nm;
}

void tep_flush(struct tep *ep)
{
	unsigned int off = 0, nm;

	if (!ep->ntx)
		return;
	nm = tx_build(ep, 0);
	while (off < nm && io_is_open(&ep->io)) {
		int n = sendmmsg(ep->io.fd, ep->txm + off, nm - off, MSG_DONTWAIT);

		if (n < 0) {
			int err = errno;

			if (err == EINTR)
				continue;
			/* The source we learnt is refused: send it the way we used to. */
			if (!ep->connected && udp_local_strip(&ep->txm[off].msg_hdr, err))
				continue;
			if (ep->gso && (err == EIO || err == EINVAL || err == EOPNOTSUPP) &&
			    ep->txm[off].msg_hdr.msg_iovlen > 1) {
				/* No GSO on this path after all: one by one from here. */
				ep->gso = false;
				nm = tx_build(ep, ep->txfirst[off]);
				off = 0;
				continue;
			}
			/*
			 * EAGAIN: the socket is full, the rest is lost like on
			 * the wire. Anything else is about this message (an
			 * ICMP error from an earlier send on a connected
			 * client, one peer's route, its size): the messages
			 * of other peers behind it still go.
			 */
			if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS)
				break;
			off++;
			continue;
		}
		off += (unsigned int)n;
	}
	ep->ntx = 0;
}

void tep_close(struct tep *ep)
{
	ep->ntx = 0;
	io_close(&ep->io);
}

void tep_touch(struct tep *ep, struct tpeer *p)
{
	for (unsigned int i = 0; i < ep->ntouched; i++)
		if (ep->touched[i] == p)
			return;
	if (ep->ntouched < TEP_TOUCH_MAX)
		ep->touched[ep->ntouched++] = p;
}

/* Forget p in the touched set (it is going away). */
void tep_untouch(struct tep *ep, struct tpeer *p)
{
	for (unsigned int i = 0; i < ep->ntouched; i++)
		if (ep->touched[i] == p)
			ep->touched[i] = NULL;
}

static void tep_on_readable(struct io_req *req);

void tep_arm(struct tep *ep)
{
	if (io_is_open(&ep->io))
		io_submit_op(&ep->io, &ep->rd, IO_POLL_IN, NULL, 0, tep_on_readable);
}

static void tep_service_touched(struct tep *ep)
{
	for (unsigned int i = 0; i < ep->ntouched; i++) {
		struct tpeer *p = ep->touched[i];

		ep->touched[i] = NULL;
		if (p)
			tpeer_service(p);
	}
	ep->ntouched = 0;
}

static void tep_on_readable(struct io_req *req)
{
	struct tep *ep = container_of(req, struct tep, rd);

	if (req->res < 0 || !io_is_open(&ep->io)) {
		if (ep->peer)		/* a client peer may be waiting for this */
			tpeer_maybe_free(ep->peer);
		return;
	}
	ep->in_rx = true;
	for (int round = 0; round < TEP_READ_ROUNDS && io_is_open(&ep->io); round++) {
		int n;

		for (int i = 0; i < TEP_BATCH; i++) {
			ep->rxv[i].iov_base = ep->rxb[i];
			ep->rxv[i].iov_len = TEP_RX_MAX;
			memset(&ep->rxm[i].msg_hdr, 0, sizeof(ep->rxm[i].msg_hdr));
			ep->rxm[i].msg_hdr.msg_name = &ep->rxa[i];
			ep->rxm[i].msg_hdr.msg_namelen = sizeof(ep->rxa[i]);
			ep->rxm[i].msg_hdr.msg_iov = &ep->rxv[i];
			ep->rxm[i].msg_hdr.msg_iovlen = 1;
			ep->rxm[i].msg_hdr.msg_control = ep->rxc[i];
			ep->rxm[i].msg_hdr.msg_controllen = sizeof(ep->rxc[i]);
		}
		n = recvmmsg(ep->io.fd, ep->rxm, TEP_BATCH, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (ep->peer)
				tclient_on_error(ep, -errno);
			break;
		}
		for (int i = 0; i < n && io_is_open(&ep->io); i++) {
			const union sockaddr_any *from = (const void *)&ep->rxa[i];
			struct msghdr *h = &ep->rxm[i].msg_hdr;
			size_t len = ep->rxm[i].msg_len, seg = udp_cmsg_gro(h);
			struct udp_local local = { 0 };

			if (h->msg_flags & MSG_TRUNC)
				continue;
			if (ep->want_local)
				udp_local_parse(h, &local);
			/* GRO: several datagrams of seg bytes (the last maybe shorter). */
			if (!seg)
				seg = len;
			for (size_t off = 0; off < len && io_is_open(&ep->io); off += seg) {
				size_t k = len - off < seg ? len - off : seg;

				if (ep->srv)
					tsrv_on_datagram(ep, ep->rxb[i] + off, k, from, &local);
				else
					tclient_on_datagram(ep, ep->rxb[i] + off, k, from);
			}
		}
		tep_service_touched(ep);
		if (n < TEP_BATCH)
			break;
	}
	tep_flush(ep);
	ep->in_rx = false;
	if (io_is_open(&ep->io))
		tep_arm(ep);
	else if (ep->peer)
		tpeer_maybe_free(ep->peer);
}

/* --- peer core --- */

static bool peer_pull(struct tpeer *p);
static void peer_output(struct tpeer *p);
static void ts_on_open_result(struct tstream *ts, uint8_t reason);
static void ts_on_data(struct tstream *ts);
static void ts_on_sent(struct tstream *ts);
static void ts_on_reset(struct tstream *ts, uint8_t reason);

static void m_on_open(void *user, struct mux_stream *ms, const struct mux_dest *d)
{
	struct tpeer *p = user;

	if (!p->srv) {		/* the server opens nothing towards clients */
		mux_refuse(ms, MUX_R_NOT_ALLOWED);
		mux_stream_free(ms);
		return;
	}
	tsrv_on_open(p, ms, d);
}

static void m_on_open_result(void *user, struct mux_stream *ms, uint8_t reason)
{
	struct tstream *ts = mux_stream_user(ms);

	if (ts)
		ts_on_open_result(ts, reason);
}

static void m_on_data(void *user, struct mux_stream *ms)
{
	struct tstream *ts = mux_stream_user(ms);

	if (ts)
		ts_on_data(ts);
}

static void m_on_sent(void *user, struct mux_stream *ms)
{
	struct tstream *ts = mux_stream_user(ms);

	if (ts)
		ts_on_sent(ts);
}

static void m_on_reset(void *user, struct mux_stream *ms, uint8_t reason)
{
	struct tstream *ts = mux_stream_user(ms);

	if (ts)
		ts_on_reset(ts, reason);
	else
		mux_stream_free(ms);	/* nobody holds it */
}

static void m_on_goaway(void *user, uint8_t reason)
{
	struct tpeer *p = user;

	p->goaway = true;	/* tpeer_service ends it once out of the mux */
}

static const struct mux_ops peer_mux_ops = {
	.on_goaway = m_on_goaway,
	.on_open = m_on_open,
	.on_open_result = m_on_open_result,
	.on_data = m_on_data,
	.on_sent = m_on_sent,
	.on_reset = m_on_reset,
};

static void on_peer_timer(struct timer *t);

struct tpeer *tpeer_new(struct worker *w, bool client, uint64_t id)
{
	const struct tunnel_opts *o = &w->cfg->tunnel;
	struct tpeer *p = calloc(1, sizeof(*p));
	struct mux_params mp;

	if (!p)
		return NULL;
	p->w = w;
	p->id = id;
	p->start_ms = loop_now(&w->loop);
	list_init(&p->link);
	timer_init(&p->timer, on_peer_timer);
	mux_params_default(&mp, client);
	mp.window = o->window < MUX_WINDOW_DEFAULT ? o->window : MUX_WINDOW_DEFAULT;
	mp.max_window = o->window;
	mp.keepalive_ms = o->keepalive_ms;
	mp.timeout_ms = o->timeout_ms;
	p->mux = mux_new(&mp, &peer_mux_ops, p, p->start_ms);
	if (!p->mux) {
		free(p);
		return NULL;
	}
	return p;
}

static void arq_out(void *user, const uint8_t *pkt, size_t len)
{
	struct tpeer *p = user;

	if (p->ch && tchan_send(p->ch, pkt, len, now_of(p)) == 0)
		p->tx_bytes += len;
}

void tpeer_emit(void *user, const uint8_t *pkt, size_t len)
{
	struct tpeer *p = user;
	struct tep *ep = p->ep;
	unsigned int i;

	if (!ep || !io_is_open(&ep->io) || len > TCHAN_MAX_PACKET)
		return;
	if (ep->ntx == TEP_TX_SLOTS)
		tep_flush(ep);
	i = ep->ntx++;
	memcpy(ep->txb[i], pkt, len);
	ep->txv[i].iov_base = ep->txb[i];
	ep->txv[i].iov_len = len;
	if (!ep->connected) {
		ep->txa[i] = p->addr;
		ep->txl[i] = p->local;
	}
}

static void fmt_ms(uint64_t ms, char *buf, size_t len)
{
	snprintf(buf, len, "%llu.%03llus", (unsigned long long)(ms / 1000),
		 (unsigned long long)(ms % 1000));
}

void tpeer_log_up(struct tpeer *p)
{
	char a[ADDR_STRLEN];

	log_info(p->w->log, "tunnel %llu up: %s %s (worker %u)", (unsigned long long)p->id,
		 p->srv ? "client" : "server", addr_format(&p->addr, a, sizeof(a)), p->w->id);
}

/* The channel is ready: make the arq on its conversation id. */
static int peer_go_up(struct tpeer *p)
{
	struct arq_params ap;

	arq_params_default(&ap);
	ap.conv = tchan_conv(p->ch);
	ap.mtu = p->w->cfg->tunnel.mtu;
	p->arq = arq_new(&ap, now_of(p), arq_out, p);
	if (!p->arq)
		return -ENOMEM;
	p->state = TPEER_UP;
	tpeer_log_up(p);
	return 0;
}

void tpeer_input(struct tpeer *p, const uint8_t *pay, size_t n)
{
	p->rx_bytes += n;
	p->last_rx_ms = now_of(p);
	if (p->state == TPEER_DEAD || n == 0)
		return;
	if (!p->arq && tchan_is_ready(p->ch) && peer_go_up(p) < 0) {
		tpeer_die(p, -ENOMEM, "out of memory");
		return;
	}
	if (p->arq)
		(void)arq_input(p->arq, pay, n, now_of(p));	/* bad packets are just dropped */
}

void tpeer_service(struct tpeer *p)
{
	size_t n;
	int err = 0;

	if (p->state == TPEER_DEAD)
		return;
	if (!p->arq && p->ch && tchan_is_ready(p->ch) && peer_go_up(p) < 0) {
		tpeer_die(p, -ENOMEM, "out of memory");
		return;
	}
	if (p->arq) {
		struct tep *ep = p->ep;

		if (ep->scratch_busy) {		/* another peer's turn: come back soon */
			timer_arm(&p->w->loop.timers, &p->timer, now_of(p));
			return;
		}
		p->busy = ep->scratch_busy = true;
		while (!err && (n = arq_recv(p->arq, ep->scratch, sizeof(ep->scratch))) > 0)
			err = mux_input(p->mux, ep->scratch, n, now_of(p));
		p->busy = ep->scratch_busy = false;
		if (err) {
			tpeer_die(p, -EPROTO, "protocol error");
			return;
		}
		if (p->goaway) {
			tpeer_die(p, -ECONNRESET, p->srv ? "client closed the tunnel" :
				  "server closed the tunnel");
			return;
		}
	}
	peer_output(p);
}

void tpeer_close(struct tpeer *p, const char *why)
{
	if (p->state == TPEER_UP && !p->busy) {
		/*
		 * Best effort, but not held back by pacing or the window: the
		 * arq goes now, and a GOAWAY left queued behind a paced message
		 * leaves the peer to find out by its keepalive timeout.
		 */
		mux_goaway(p->mux, MUX_R_CANCEL);
		if (peer_pull(p)) {
			arq_flush_final(p->arq, now_of(p));
			tep_flush(p->ep);
		}
	}
	tpeer_die(p, -ECANCELED, why);
}

void tpeer_schedule(struct tpeer *p)
{
	uint64_t now = now_of(p), next;
	const struct config *cfg = p->w->cfg;

	if (p->state == TPEER_DEAD)
		return;
	if (p->state != TPEER_UP) {
		next = p->start_ms + cfg->connect_timeout_ms;
		if (p->ch) {
			uint64_t t = tchan_next_tick(p->ch, now);

			if (t < next)
				next = t;
		}
	} else {
		uint64_t t;

		next = mux_next_tick(p->mux);
		t = arq_next_tick(p->arq, now);
		if (t < next)
			next = t;
		t = tchan_next_tick(p->ch, now);
		if (t < next)
			next = t;
	}
	if (next < now)
		next = now;
	timer_arm(&p->w->loop.timers, &p->timer, next);
}

/*
 * Mux output into the arq while it has room (an UP peer, not busy). false:
 * another peer of the endpoint holds the scratch buffer; nothing moved.
 */
static bool peer_pull(struct tpeer *p)
{
	struct tep *ep = p->ep;

	if (ep->scratch_busy)
		return false;
	p->busy = ep->scratch_busy = true;
	do {
		p->kicked = false;
		while (mux_has_output(p->mux)) {
			size_t room = arq_send_room(p->arq), n;

			if (room > sizeof(ep->scratch))
				room = sizeof(ep->scratch);
			n = mux_pull(p->mux, ep->scratch, room);
			if (n == 0)
				break;
			(void)arq_send(p->arq, ep->scratch, n);
		}
	} while (p->kicked);
	p->busy = ep->scratch_busy = false;
	return true;
}

static void peer_output(struct tpeer *p)
{
	uint64_t now = now_of(p);

	if (p->busy) {
		p->kicked = true;
		return;
	}
	if (p->state == TPEER_UP) {
		if (!peer_pull(p)) {
			timer_arm(&p->w->loop.timers, &p->timer, now);	/* come back soon */
			return;
		}
		arq_flush(p->arq, now);
	}
	if (p->ep)
		tep_flush(p->ep);
	tpeer_schedule(p);
}

void tpeer_kick(struct tpeer *p)
{
	if (p->state == TPEER_DEAD)
		return;
	peer_output(p);
}

static void on_peer_timer(struct timer *t)
{
	struct tpeer *p = container_of(t, struct tpeer, timer);
	uint64_t now = now_of(p);

	if (p->state == TPEER_DEAD)
		return;
	if (p->ch)
		tchan_tick(p->ch, now);
	if (p->ch && tchan_is_dead(p->ch)) {
		tpeer_die(p, -ETIMEDOUT, p->state == TPEER_UP ? "channel expired" : "handshake failed");
		return;
	}
	if (p->state != TPEER_UP) {
		if (p->ch && tchan_is_ready(p->ch)) {
			tpeer_service(p);
			return;
		}
		if (now - p->start_ms >= p->w->cfg->connect_timeout_ms) {
			tpeer_die(p, -ETIMEDOUT, "handshake timeout");
			return;
		}
		if (p->ep)
			tep_flush(p->ep);
		tpeer_schedule(p);
		return;
	}
	arq_tick(p->arq, now);
	if (arq_is_dead(p->arq)) {
		tpeer_die(p, -ETIMEDOUT, "link dead (retransmissions exhausted)");
		return;
	}
	if (mux_tick(p->mux, now) < 0) {
		tpeer_die(p, -ETIMEDOUT, "keepalive timeout");
		return;
	}
	tpeer_service(p);	/* also what a deferred turn left in the arq */
}

void tpeer_die(struct tpeer *p, int err, const char *why)
{
	char a[ADDR_STRLEN], t[32];

	if (p->state == TPEER_DEAD)
		return;
	if (p->state == TPEER_UP || p->srv) {
		fmt_ms(now_of(p) - p->start_ms, t, sizeof(t));
		log_info(p->w->log, "tunnel %llu down: %s %s streams %u time %s rx %llu tx %llu (%s)",
			 (unsigned long long)p->id, p->srv ? "client" : "server",
			 addr_format(&p->addr, a, sizeof(a)), (unsigned int)mux_nstreams(p->mux), t,
			 (unsigned long long)p->rx_bytes, (unsigned long long)p->tx_bytes, why);
	} else {
		log_warn(p->w->log, "tunnel %llu to %s failed: %s", (unsigned long long)p->id,
			 p->addr.sa.sa_family ? addr_format(&p->addr, a, sizeof(a)) : "(unresolved)",
			 why);
	}
	p->state = TPEER_DEAD;
	p->dead_err = err;
	p->why = why;
	loop_timer_cancel(&p->w->loop, &p->timer);
	if (p->query) {
		dns_query_cancel(p->query);
		p->query = NULL;
	}
	if (p->ep)
		tep_untouch(p->ep, p);
	if (p->srv)
		tsrv_peer_gone(p);
	else
		tclient_peer_gone(p);
	arq_free(p->arq);
	p->arq = NULL;
	tchan_free(p->ch);
	p->ch = NULL;
	p->busy = true;
	mux_kill(p->mux, MUX_R_DEAD);
	p->busy = false;
	tpeer_maybe_free(p);
}

void tpeer_maybe_free(struct tpeer *p)
{
	if (p->state != TPEER_DEAD || p->nstreams || p->busy)
		return;
	if (!p->srv && p->ep) {
		/* The client's own socket: wait for its cancelled read. */
		if (p->ep->rd.inflight || p->ep->in_rx)
			return;
		free(p->ep);
		p->ep = NULL;
	}
	mux_free(p->mux);
	free(p);
}

/* --- streams bridged to sockets --- */

static void ts_start_read(struct tstream *ts);
static void ts_start_write(struct tstream *ts);
static void ts_maybe_released(struct tstream *ts);

void tstream_init(struct tstream *ts, struct tpeer *p, struct mux_stream *ms)
{
	memset(ts, 0, sizeof(*ts));
	ts->p = p;
	ts->ms = ms;
	ts->last_active = now_of(p);
	timer_init(&ts->open_timer, NULL);
	p->nstreams++;
	mux_stream_set_user(ms, ts);
}

void tstream_fini(struct tstream *ts)
{
	struct tpeer *p = ts->p;

	if (p)
		loop_timer_cancel(&p->w->loop, &ts->open_timer);
	if (ts->ms) {
		mux_stream_set_user(ts->ms, NULL);
		mux_stream_free(ts->ms);
		ts->ms = NULL;
	}
	if (ts->buf) {
		pool_put(p->w->loop.bufs, ts->buf);
		ts->buf = NULL;
	}
	free(ts->early);
	ts->early = NULL;
	if (!p)
		return;
	ts->p = NULL;
	p->nstreams--;
	tpeer_kick(p);		/* the RST or FIN mux_stream_free queued */
	tpeer_maybe_free(p);
}

void tstream_free(struct tstream *ts)
{
	bool heap = ts->heap;

	tstream_fini(ts);
	if (heap)
		free(ts);
}

bool tstream_is_busy(const struct tstream *ts)
{
	return ts->rd.inflight || ts->wr.inflight;
}

uint64_t tstream_bytes(const struct tstream *ts, bool up)
{
	return up ? ts->up : ts->down;
}

uint64_t tstream_last_active(const struct tstream *ts)
{
	return ts->last_active;
}

const char *tstream_target(const struct tstream *ts)
{
	return ts->target;
}

const char *tstream_why(const struct tstream *ts)
{
	if (!ts->reason)
		return NULL;
	if (ts->reason == MUX_R_DEAD && ts->p && ts->p->why)
		return ts->p->why;
	return mux_reason_str(ts->reason);
}

/* The error a stream reset by the tunnel reports to its socket side. */
int tstream_reset_errno(const struct tstream *ts, uint8_t reason)
{
	if (reason == MUX_R_DEAD && ts->p && ts->p->dead_err)
		return ts->p->dead_err;
	if (reason == MUX_R_CANCEL)
		return -ECONNRESET;
	return mux_reason_errno(reason);
}

void tstream_finish(struct tstream *ts, int err)
{
	if (ts->state == TS_DONE)
		return;
	ts->state = TS_DONE;
	ts->err = err;
	if (ts->ms && !mux_stream_is_reset(ts->ms) && err) {
		mux_stream_reset(ts->ms, mux_reason_from_errno(err));
		tpeer_kick(ts->p);
	}
	if (ts->done)
		ts->done(ts->arg, err);		/* the owner closes the socket */
	ts_maybe_released(ts);
}

static void ts_maybe_released(struct tstream *ts)
{
	if (ts->state != TS_DONE || tstream_is_busy(ts) || ts->released_called)
		return;
	if (ts->buf && !(ts->ms && mux_stream_write_pending(ts->ms))) {
		pool_put(ts->p->w->loop.bufs, ts->buf);
		ts->buf = NULL;
	}
	ts->released_called = true;
	if (ts->released)
		ts->released(ts->arg, 0);
}

static void ts_check_done(struct tstream *ts)
{
	if (ts->state == TS_RELAYING && ts->sock_eof && ts->peer_eof && !ts->early && !ts->buf)
		tstream_finish(ts, 0);
}

static void ts_on_open_result(struct tstream *ts, uint8_t reason)
{
	tstream_open_cb cb = ts->open_cb;

	if (ts->state != TS_OPENING)
		return;
	loop_timer_cancel(&ts->p->w->loop, &ts->open_timer);
	ts->open_cb = NULL;
	if (reason == MUX_R_NONE) {
		ts->state = TS_OPEN;
		if (cb)
			cb(ts->arg, 0);
		return;
	}
	ts->reason = reason;
	ts->state = TS_DONE;
	ts->released_called = true;	/* nothing of ours is in flight */
	if (cb)
		cb(ts->arg, tstream_reset_errno(ts, reason));
}

/*
 * No OPEN_OK/OPEN_FAIL within the connect timeout. If the server sent
 * nothing at all since the OPEN went out, the session is dead (a restarted
 * server drops its packets): end it, so the next stream starts afresh.
 */
static void ts_on_open_timeout(struct timer *t)
{
	struct tstream *ts = container_of(t, struct tstream, open_timer);
	struct tpeer *p = ts->p;

	if (ts->state != TS_OPENING)
		return;
	if (p->state == TPEER_UP && p->last_rx_ms <= ts->open_ms) {
		tpeer_die(p, -ETIMEDOUT, "no answer from the server");
		return;		/* the stream learnt it through on_reset */
	}
	mux_stream_reset(ts->ms, MUX_R_CANCEL);
	tpeer_kick(p);
	ts->reason = MUX_R_TIMEOUT;
	ts_on_open_result(ts, MUX_R_TIMEOUT);
}

void tstream_arm_open(struct tstream *ts, uint32_t ms)
{
	ts->open_ms = now_of(ts->p);
	ts->open_timer.cb = ts_on_open_timeout;
	loop_timer_arm(&ts->p->w->loop, &ts->open_timer, ms);
}

static void ts_on_reset(struct tstream *ts, uint8_t reason)
{
	ts->reason = reason;
	switch (ts->state) {
	case TS_OPENING:
		ts_on_open_result(ts, reason);
		return;
	case TS_OPEN:
		/* Not bridged yet: a server stream still dialling ends now. */
		if (ts->done)
			tstream_finish(ts, tstream_reset_errno(ts, reason));
		return;
	case TS_RELAYING:
		tstream_finish(ts, tstream_reset_errno(ts, reason));
		return;
	case TS_IO:
		tsio_on_reset(ts);
		return;
	default:
		return;
	}
}

static void ts_on_data(struct tstream *ts)
{
	if (ts->state == TS_IO)
		tsio_on_data(ts);
	else if (ts->state == TS_RELAYING && !ts->wr.inflight)
		ts_start_write(ts);
}

static void ts_on_sent(struct tstream *ts)
{
	if (ts->state == TS_IO) {
		tsio_on_sent(ts);
		return;
	}
	if (ts->early) {
		free(ts->early);
		ts->early = NULL;
	} else if (ts->buf) {
		pool_put(ts->p->w->loop.bufs, ts->buf);
		ts->buf = NULL;
	}
	if (ts->state != TS_RELAYING)
		return;
	if (!ts->sock_eof)
		ts_start_read(ts);
	else
		ts_check_done(ts);
}

static void ts_on_read(struct io_req *req);
static void ts_on_write(struct io_req *req);

static void ts_start_read(struct tstream *ts)
{
	if (!ts->rd.inflight && io_is_open(ts->sock))
		io_submit_op(ts->sock, &ts->rd, IO_RECV, NULL, 0, ts_on_read);
}

static void ts_start_write(struct tstream *ts)
{
	const uint8_t *p;
	size_t n = mux_stream_peek(ts->ms, &p);

	if (n) {
		io_submit_op(ts->sock, &ts->wr, IO_SEND, (void *)p, n, ts_on_write);
		return;
	}
	if (mux_stream_is_eof(ts->ms) && !ts->peer_eof) {
		ts->peer_eof = true;
		if (io_is_open(ts->sock))
			(void)shutdown(ts->sock->fd, SHUT_WR);
		ts_check_done(ts);
	}
}

/* The message the framer let through has ended: this way is done, no FIN. */
static void ts_message_done(struct tstream *ts)
{
	ts->sock_eof = true;
	ts_check_done(ts);
}

static void ts_on_read(struct io_req *req)
{
	struct tstream *ts = container_of(req, struct tstream, rd);
	struct loop *l = &ts->p->w->loop;
	ssize_t res = req->res;
	bool last = false;

	if (ts->state != TS_RELAYING) {
		if (res > 0)
			pool_put(l->bufs, req->buf);
		ts_maybe_released(ts);
		return;
	}
	if (res > 0 && ts->fr.fn) {
		size_t take = 0;
		int end = ts->fr.fn(ts->fr.state, req->buf, (size_t)res, &take);

		if (end < 0 || take > (size_t)res) {
			pool_put(l->bufs, req->buf);
			tstream_finish(ts, -EPROTO);
			return;
		}
		last = end == 1;
		if (take == 0) {
			pool_put(l->bufs, req->buf);
			if (last)
				ts_message_done(ts);
			else
				ts_start_read(ts);
			return;
		}
		res = (ssize_t)take;
	}
	if (res > 0) {
		ts->buf = req->buf;
		ts->blen = (size_t)res;
		ts->up += (uint64_t)res;
		ts->last_active = loop_now(l);
		if (mux_stream_write(ts->ms, ts->buf, ts->blen) < 0) {
			tstream_finish(ts, tstream_reset_errno(ts, ts->reason ? ts->reason : MUX_R_RESET));
			return;
		}
		if (last)
			ts->sock_eof = true;	/* message over: no more reads, no FIN */
		tpeer_kick(ts->p);
		return;
	}
	if (res == 0) {
		ts->sock_eof = true;
		mux_stream_fin(ts->ms);
		tpeer_kick(ts->p);
		ts_check_done(ts);
		return;
	}
	tstream_finish(ts, (int)res);
}

static void ts_on_write(struct io_req *req)
{
	struct tstream *ts = container_of(req, struct tstream, wr);
	ssize_t res = req->res;

	if (ts->state != TS_RELAYING) {
		ts_maybe_released(ts);
		return;
	}
	if (req->op == IO_POLL_OUT) {	/* the deferred end of a stream reset early */
		tstream_finish(ts, tstream_reset_errno(ts, ts->reason ? ts->reason : MUX_R_RESET));
		return;
	}
	if (res <= 0) {
		tstream_finish(ts, res == 0 ? -EPIPE : (int)res);
		return;
	}
	mux_stream_consume(ts->ms, (size_t)res);
	ts->down += (uint64_t)res;
	ts->last_active = loop_now(&ts->p->w->loop);
	tpeer_kick(ts->p);		/* credit may have gone back */
	ts_start_write(ts);
}

void tstream_relay(struct tstream *ts, struct io *sock, const uint8_t *early, size_t n,
		   const uint8_t *early2, size_t n2, const struct relay_framer *fr,
		   tstream_cb done, tstream_cb released, void *arg)
{
	ts->sock = sock;
	ts->done = done;
	ts->released = released;
	ts->arg = arg;
	ts->state = TS_RELAYING;
	ts->last_active = now_of(ts->p);
	if (fr && fr->fn)
		ts->fr = *fr;
	if (mux_stream_is_reset(ts->ms)) {
		/* Ended while the ingress replied: finish from the loop, not in here. */
		io_submit_op(sock, &ts->wr, IO_POLL_OUT, NULL, 0, ts_on_write);
		return;
	}
	if (n + n2) {
		ts->early = malloc(n + n2);
		if (!ts->early) {
			io_submit_op(sock, &ts->wr, IO_POLL_OUT, NULL, 0, ts_on_write);
			ts->reason = MUX_R_RESOURCE;
			return;
		}
		if (n)
			memcpy(ts->early, early, n);
		if (n2)
			memcpy(ts->early + n, early2, n2);
		ts->early_len = n + n2;
		ts->up += ts->early_len;
		mux_stream_write(ts->ms, ts->early, ts->early_len);
	}
	if (fr && fr->done) {
		ts->sock_eof = true;	/* the whole message went before */
	} else if (!ts->early) {
		ts_start_read(ts);
	}
	ts_start_write(ts);		/* bytes that came while opening */
	tpeer_kick(ts->p);
}
