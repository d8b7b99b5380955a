/*
 * Internals shared by tunnel_peer.c (a tunnel session and its UDP I/O,
 * tstream bridging), tunnel_client.c (-F tunnel://) and tunnel_srv.c
 * (-L tunnel://). See tunnel.h for the picture.
 */
#ifndef SLUICE_APP_TUNNEL_INT_H
#define SLUICE_APP_TUNNEL_INT_H

#include <sys/socket.h>

#include "app/tunnel.h"
#include "app/udp.h"
#include "core/addr.h"
#include "core/list.h"
#include "core/loop.h"
#include "core/timer.h"
#include "tunnel/arq.h"
#include "tunnel/chan.h"
#include "tunnel/mux.h"

#define TEP_BATCH	8		/* messages per recvmmsg (each up to a GRO 64 KiB) */
#define TEP_TX_SLOTS	64		/* datagrams queued before a sendmmsg */
#define TEP_GSO_SEGS	44		/* datagrams per GSO message (44 x 1433 < 64 KiB) */
#define TEP_RX_MAX	65536		/* largest (GRO-coalesced) read */
#define TEP_TOUCH_MAX	64
#define TEP_READ_ROUNDS	16		/* recvmmsg rounds before yielding to the loop */

struct tpeer;
struct tsrv;

/* A UDP socket and its batch buffers (client: one per peer; server: the listener's). */
struct tep {
	struct io io;
	struct io_req rd;		/* IO_POLL_IN */
	struct worker *w;		/* borrowed */
	struct tpeer *peer;		/* client: the one peer; server: NULL */
	struct tsrv *srv;		/* server: the listener; client: NULL */
	bool connected;			/* client: connect()ed, no msg_name */
	bool in_rx;			/* inside the receive callback: do not free */
	bool gso;			/* UDP_SEGMENT works: one sendmsg per run of datagrams */
	bool want_local;		/* server on a wildcard address: IP_PKTINFO on */
	unsigned int ntx;
	unsigned int ntouched;
	struct tpeer *touched[TEP_TOUCH_MAX]; /* peers with input in this batch */
	uint8_t pt[TCHAN_MAX_PACKET];	/* an opened payload */
	bool scratch_busy;		/* a peer is using scratch */
	uint8_t scratch[65536];		/* arq <-> mux bytes, shared by this endpoint's peers */
	/* Send queue: one slot per datagram; runs to one address go out as GSO. */
	struct iovec txv[TEP_TX_SLOTS];
	union sockaddr_any txa[TEP_TX_SLOTS];
	struct udp_local txl[TEP_TX_SLOTS];	/* source to send from (want_local) */
	struct mmsghdr txm[TEP_TX_SLOTS];
	unsigned int txfirst[TEP_TX_SLOTS];	/* message -> its first slot */
	_Alignas(struct cmsghdr) uint8_t txc[TEP_TX_SLOTS][UDP_CTL_GSO];	/* GSO, PKTINFO */
	uint8_t txb[TEP_TX_SLOTS][TCHAN_MAX_PACKET];
	struct mmsghdr rxm[TEP_BATCH];
	struct iovec rxv[TEP_BATCH];
	struct sockaddr_storage rxa[TEP_BATCH];
	_Alignas(struct cmsghdr) uint8_t rxc[TEP_BATCH][CMSG_SPACE(sizeof(int)) + UDP_CTL_IN];
	uint8_t rxb[TEP_BATCH][TEP_RX_MAX];
};

enum tpeer_state {
	TPEER_RESOLVING = 0,	/* client: looking the server up */
	TPEER_HANDSHAKE,	/* tchan not ready */
	TPEER_UP,
	TPEER_DEAD,
};

/* One tunnel session: a tchan, its arq and mux. Owned by the client or the listener. */
struct tpeer {
	struct worker *w;		/* borrowed */
	struct tep *ep;			/* client: owned; server: borrowed (the listener's) */
	struct tsrv *srv;		/* server side: the listener, else NULL */
	struct list link;		/* server: on srv->peers */
	struct tchan *ch;		/* owned */
	struct arq *arq;		/* owned, made once the channel is ready */
	struct mux *mux;		/* owned; outlives death while streams hold it */
	struct dns_query *query;	/* client: resolving the server name */
	struct timer timer;
	union sockaddr_any addr;	/* where to send: latest authenticated source */
	struct udp_local local;		/* server: where it sent to, to answer from */
	uint64_t id;
	uint64_t start_ms;
	uint64_t rx_bytes, tx_bytes;	/* UDP payload bytes */
	uint64_t last_rx_ms;		/* loop time of the latest authenticated payload */
	unsigned int nstreams;		/* tstreams holding a mux stream */
	int dead_err;			/* why it died (-errno), for opening streams */
	uint8_t state;			/* enum tpeer_state */
	bool busy;			/* inside mux_input/mux_pull/mux_kill: defer output */
	bool kicked;			/* output asked for while busy */
	bool goaway;			/* the other end said GOAWAY */
	const char *why;		/* close reason for the log */
};

enum tstream_state {
	TS_OPENING = 0,		/* client: OPEN sent, no answer yet */
	TS_OPEN,		/* open, not bridged yet (server: dialling) */
	TS_RELAYING,
	TS_IO,			/* client: http_fwd's upstream (tunnel_stream_io.c) */
	TS_DONE,		/* done() called */
};

/* A tunnel stream bridged to a socket. */
struct tstream {
	struct tpeer *p;		/* borrowed, counted in p->nstreams until tstream_fini */
	struct mux_stream *ms;		/* owned */
	struct io *sock;		/* borrowed */
	struct io_req rd, wr;
	void *buf;			/* pooled: lent to the mux until on_sent */
	size_t blen;
	uint8_t *early;			/* owned: bytes for the tunnel before the socket's */
	size_t early_len;
	struct relay_framer fr;
	uint64_t up, down, last_active;
	struct timer open_timer;	/* client: bounds the wait for OPEN_OK */
	uint64_t open_ms;
	tstream_open_cb open_cb;
	tstream_cb done, released;
	void *arg;
	int err;
	uint8_t state;			/* enum tstream_state */
	uint8_t reason;			/* mux reason that ended it, or 0 */
	bool sock_eof;			/* socket EOF (or message end): FIN asked */
	bool peer_eof;			/* tunnel FIN passed on as shutdown(SHUT_WR) */
	bool released_called;
	bool heap;			/* allocated by tunnel_open (client) */
	char target[HOST_MAX + 8];	/* client: "host:port" asked for, for the log */
	struct io_req *io_rd, *io_wr;	/* TS_IO: the owner's pending requests, borrowed */
	size_t io_wlen;			/* TS_IO: bytes of io_wr lent to the mux */
	bool io_linger;			/* TS_IO, let go: our FIN sent, waiting for theirs */
};

/* Peer core (tunnel_peer.c). */
struct tpeer *tpeer_new(struct worker *w, bool client, uint64_t id);
/* The peer is done for: streams reset, sockets closed; freed once no stream holds it. */
void tpeer_die(struct tpeer *p, int err, const char *why);
/* Tell the other end (GOAWAY, best effort), then tpeer_die(). */
void tpeer_close(struct tpeer *p, const char *why);
/* Send what the mux has (now, or after the current mux call). */
void tpeer_kick(struct tpeer *p);
/* A datagram's payload (tchan already opened it). */
void tpeer_input(struct tpeer *p, const uint8_t *pay, size_t n);
/* After a batch of input: arq -> mux, output, timers. */
void tpeer_service(struct tpeer *p);
void tpeer_schedule(struct tpeer *p);
void tpeer_maybe_free(struct tpeer *p);
/* tchan emit callback: queue a datagram to p->addr. */
void tpeer_emit(void *user, const uint8_t *pkt, size_t len);
void tpeer_log_up(struct tpeer *p);

/* UDP endpoint. */
void tep_init(struct tep *ep, struct worker *w);
int tep_open(struct tep *ep, int fd);
void tep_flush(struct tep *ep);
void tep_close(struct tep *ep);
/* Remember p for tpeer_service() after this batch / forget it. */
void tep_touch(struct tep *ep, struct tpeer *p);
void tep_untouch(struct tep *ep, struct tpeer *p);
/* Receive rounds: calls back per datagram; resubmits POLL_IN. */
typedef void (*tep_rx_fn)(struct tep *ep, const uint8_t *pkt, size_t len,
			  const union sockaddr_any *from);
void tep_arm(struct tep *ep);

/* Streams. */
void tstream_init(struct tstream *ts, struct tpeer *p, struct mux_stream *ms);
/* Client: give the OPEN ms to be answered. */
void tstream_arm_open(struct tstream *ts, uint32_t ms);
/* Undo tstream_init: free the mux stream, drop the peer reference. */
void tstream_fini(struct tstream *ts);

/* The -errno a stream reset for reason reports to its owner. */
int tstream_reset_errno(const struct tstream *ts, uint8_t reason);

/* TS_IO streams (tunnel_stream_io.c): the mux events of a stream used as an upstream. */
void tsio_on_data(struct tstream *ts);
void tsio_on_sent(struct tstream *ts);
void tsio_on_reset(struct tstream *ts);

/* Hooks from the peer core into the sides. */
void tsrv_on_open(struct tpeer *p, struct mux_stream *ms, const struct mux_dest *d);
void tsrv_peer_gone(struct tpeer *p);
void tclient_peer_gone(struct tpeer *p);
void tclient_on_datagram(struct tep *ep, const uint8_t *pkt, size_t len,
			 const union sockaddr_any *from);
void tsrv_on_datagram(struct tep *ep, const uint8_t *pkt, size_t len,
		      const union sockaddr_any *from, const struct udp_local *local);
/* The client's socket saw an error (ICMP port unreachable: ECONNREFUSED). */
void tclient_on_error(struct tep *ep, int err);

void tclient_stop(struct worker *w);
void tclient_fini(struct worker *w);

void tunnel_rng(void *ctx, uint8_t *buf, size_t n);
uint64_t tunnel_wall_ms(void);

#endif
