#include "tunnel/mux.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_DATA	16384
#define HASH_MIN	64
#define WINDOW_MAX	(1u << 30)

/* Received stream bytes: a list of chunks, consumed from the head. */
struct chunk {
	struct chunk *next;
	uint32_t off, len;		/* bytes [off, len) unread */
	uint8_t data[CHUNK_DATA];
};

struct dlink {
	struct dlink *prev, *next;
};

struct mux_stream {
	struct mux *m;			/* back pointer */
	struct mux_stream *hnext;	/* hash chain */
	struct dlink active;		/* on m->active: wants to send (data with credit, or FIN) */
	struct dlink sent;		/* on m->sent: on_sent to deliver */
	void *user;			/* borrowed: the application's */
	uint32_t id;
	/* send side */
	const uint8_t *wbuf;		/* borrowed until on_sent */
	size_t wlen, woff;
	uint64_t credit;		/* bytes the peer still lets us send */
	/* receive side */
	struct chunk *head, *tail;	/* owned */
	size_t avail;			/* unread bytes */
	uint64_t rwin;			/* bytes the peer may still send */
	uint32_t win;			/* our receive window now (auto-tuned) */
	uint64_t ungranted;		/* consumed, not yet granted back */
	bool opening;			/* client: waiting for OPEN_OK/FAIL */
	bool answered;			/* server: OPEN_OK/FAIL queued */
	bool fin_req;			/* FIN asked for */
	bool fin_sent;			/* FIN framed */
	bool peer_fin;			/* FIN received */
	bool reset;			/* closed by RST / OPEN_FAIL either way */
};

struct mux {
	struct mux_params p;
	const struct mux_ops *ops;	/* borrowed */
	void *user;			/* borrowed */
	struct mux_stream **hash;	/* owned array of chains */
	size_t nbuckets, nstreams;
	uint32_t next_id;		/* our next stream id */
	uint32_t peer_last;		/* highest id the peer opened */
	struct dlink active, sent;	/* list heads */
	/* control frames, whole, waiting for mux_pull */
	uint8_t *ctrl;			/* owned */
	size_t ctrl_off, ctrl_len, ctrl_cap;
	/* input parser */
	uint8_t hdr[MUX_HDR_LEN];
	size_t hdr_len;
	uint8_t pay[MUX_OPEN_MAX];	/* a control payload being gathered */
	size_t pay_len;
	size_t data_left;		/* DATA payload bytes still to come */
	bool broken;
	/* keepalive */
	uint64_t last_rx, last_ping;
	struct mux_stats st;
};

/* --- small helpers --- */

static void dl_init(struct dlink *l)
{
	l->prev = l->next = l;
}

static bool dl_linked(const struct dlink *l)
{
	return l->next != l;
}

static void dl_del(struct dlink *l)
{
	l->prev->next = l->next;
	l->next->prev = l->prev;
	dl_init(l);
}

static void dl_add_tail(struct dlink *head, struct dlink *l)
{
	l->prev = head->prev;
	l->next = head;
	head->prev->next = l;
	head->prev = l;
}

#define stream_of(ptr, member) \
	((struct mux_stream *)((char *)(ptr) - offsetof(struct mux_stream, member)))

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* --- reasons --- */

int mux_reason_errno(uint8_t reason)
{
	switch (reason) {
	case MUX_R_NONE:
		return 0;
	case MUX_R_NOT_ALLOWED:
		return -EACCES;
	case MUX_R_NET_UNREACH:
		return -ENETUNREACH;
	case MUX_R_HOST_UNREACH:
		return -EHOSTUNREACH;
	case MUX_R_REFUSED:
		return -ECONNREFUSED;
	case MUX_R_TIMEOUT:
		return -ETIMEDOUT;
	case MUX_R_NO_NAME:
		return -ENOENT;
	case MUX_R_DNS_FAIL:
		return -EAGAIN;
	case MUX_R_CANCEL:
		return -ECANCELED;
	case MUX_R_RESOURCE:
		return -ENOMEM;
	case MUX_R_RESET:
		return -ECONNRESET;
	case MUX_R_DEAD:
		return -ENOTCONN;
	case MUX_R_FLOW:
	case MUX_R_PROTO:
		return -EPROTO;
	default:
		return -EIO;
	}
}

uint8_t mux_reason_from_errno(int err)
{
	switch (err) {
	case 0:
		return MUX_R_NONE;
	case -EACCES:
	case -EPERM:
		return MUX_R_NOT_ALLOWED;
	case -ENETUNREACH:
		return MUX_R_NET_UNREACH;
	case -EHOSTUNREACH:
		return MUX_R_HOST_UNREACH;
	case -ECONNREFUSED:
		return MUX_R_REFUSED;
	case -ETIMEDOUT:
		return MUX_R_TIMEOUT;
	case -ENOENT:
		return MUX_R_NO_NAME;
	case -EAGAIN:
		return MUX_R_DNS_FAIL;
	case -ECANCELED:
		return MUX_R_CANCEL;
	case -ENOMEM:
	case -EMFILE:
	case -ENFILE:
	case -ENOBUFS:
		return MUX_R_RESOURCE;
	case -ECONNRESET:
	case -EPIPE:
		return MUX_R_RESET;
	default:
		return MUX_R_GENERAL;
	}
}

const char *mux_reason_str(uint8_t reason)
{
	static const char *const names[] = {
		"ok", "general failure", "not allowed", "network unreachable",
		"host unreachable", "connection refused", "timed out", "no such name",
		"resolver failure", "cancelled", "flow-control violation", "out of resources",
		"connection reset", "tunnel down", "protocol error",
	};

	return reason < sizeof(names) / sizeof(names[0]) ? names[reason] : "unknown reason";
}

/* --- destinations --- */

int mux_dest_encode(const struct mux_dest *d, uint8_t *out, size_t cap)
{
	size_t n;

	switch (d->type) {
	case MUX_DEST_IPV4:
		if (cap < 1 + 4 + 2)
			return -EINVAL;
		out[0] = MUX_DEST_IPV4;
		memcpy(out + 1, d->addr, 4);
		n = 5;
		break;
	case MUX_DEST_IPV6:
		if (cap < 1 + 16 + 2)
			return -EINVAL;
		out[0] = MUX_DEST_IPV6;
		memcpy(out + 1, d->addr, 16);
		n = 17;
		break;
	case MUX_DEST_NAME: {
		size_t len = strnlen(d->name, sizeof(d->name));

		if (len == 0 || len > 255 || cap < 2 + len + 2)
			return -EINVAL;
		out[0] = MUX_DEST_NAME;
		out[1] = (uint8_t)len;
		memcpy(out + 2, d->name, len);
		n = 2 + len;
		break;
	}
	default:
		return -EINVAL;
	}
	put16(out + n, d->port);
	return (int)(n + 2);
}

int mux_dest_decode(const uint8_t *p, size_t n, struct mux_dest *d)
{
	memset(d, 0, sizeof(*d));
	if (n < 1)
		return -EPROTO;
	switch (p[0]) {
	case MUX_DEST_IPV4:
		if (n != 1 + 4 + 2)
			return -EPROTO;
		memcpy(d->addr, p + 1, 4);
		break;
	case MUX_DEST_IPV6:
		if (n != 1 + 16 + 2)
			return -EPROTO;
		memcpy(d->addr, p + 1, 16);
		break;
	case MUX_DEST_NAME:
		if (n < 2 || p[1] == 0 || n != 2u + p[1] + 2u)
			return -EPROTO;
		if (memchr(p + 2, 0, p[1]))
			return -EPROTO;
		memcpy(d->name, p + 2, p[1]);
		d->name[p[1]] = '\0';
		break;
	default:
		return -EPROTO;
	}
	d->type = p[0];
	d->port = get16(p + n - 2);
	return 0;
}

/* --- setup --- */

void mux_params_default(struct mux_params *p, bool client)
{
	p->client = client;
	p->window = MUX_WINDOW_DEFAULT;
	p->max_window = MUX_WINDOW_MAX_DEFAULT;
	p->max_streams = 4096;
	p->keepalive_ms = 10000;
	p->timeout_ms = 30000;
}

struct mux *mux_new(const struct mux_params *p, const struct mux_ops *ops, void *user,
		    uint64_t now_ms)
{
	struct mux *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->p = *p;
	if (m->p.window < 1024)
		m->p.window = 1024;
	if (m->p.window > WINDOW_MAX)
		m->p.window = WINDOW_MAX;
	if (m->p.max_window < m->p.window)
		m->p.max_window = m->p.window;
	if (m->p.max_window > WINDOW_MAX)
		m->p.max_window = WINDOW_MAX;
	m->ops = ops;
	m->user = user;
	m->nbuckets = HASH_MIN;
	m->hash = calloc(m->nbuckets, sizeof(*m->hash));
	if (!m->hash) {
		free(m);
		return NULL;
	}
	m->next_id = p->client ? 1 : 2;
	dl_init(&m->active);
	dl_init(&m->sent);
	m->last_rx = m->last_ping = now_ms;
	return m;
}

static void stream_drop_chunks(struct mux_stream *s)
{
	struct chunk *c, *next;

	for (c = s->head; c; c = next) {
		next = c->next;
		free(c);
	}
	s->head = s->tail = NULL;
	s->avail = 0;
}

void mux_free(struct mux *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct mux_stream *s, *next;

		for (s = m->hash[i]; s; s = next) {
			next = s->hnext;
			stream_drop_chunks(s);
			free(s);
		}
	}
	free(m->hash);
	free(m->ctrl);
	free(m);
}

/* --- the stream table --- */

static size_t bucket(const struct mux *m, uint32_t id)
{
	return (id * 2654435761u) & (m->nbuckets - 1);
}

static struct mux_stream *lookup(const struct mux *m, uint32_t id)
{
	struct mux_stream *s;

	for (s = m->hash[bucket(m, id)]; s; s = s->hnext)
		if (s->id == id)
			return s;
	return NULL;
}

static void grow(struct mux *m)
{
	size_t nb = m->nbuckets * 2;
	struct mux_stream **h = calloc(nb, sizeof(*h));

	if (!h)
		return;		/* longer chains, still correct */
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct mux_stream *s, *next;

		for (s = m->hash[i]; s; s = next) {
			size_t b = (s->id * 2654435761u) & (nb - 1);

			next = s->hnext;
			s->hnext = h[b];
			h[b] = s;
		}
	}
	free(m->hash);
	m->hash = h;
	m->nbuckets = nb;
}

static struct mux_stream *stream_new(struct mux *m, uint32_t id)
{
	struct mux_stream *s = calloc(1, sizeof(*s));
	size_t b;

	if (!s)
		return NULL;
	if (m->nstreams >= m->nbuckets * 2)
		grow(m);
	s->m = m;
	s->id = id;
	s->credit = m->p.window;
	s->rwin = m->p.window;
	s->win = m->p.window;
	dl_init(&s->active);
	dl_init(&s->sent);
	b = bucket(m, id);
	s->hnext = m->hash[b];
	m->hash[b] = s;
	m->nstreams++;
	return s;
}

static void stream_unhash(struct mux_stream *s)
{
	struct mux *m = s->m;
	struct mux_stream **pp;

	for (pp = &m->hash[bucket(m, s->id)]; *pp; pp = &(*pp)->hnext) {
		if (*pp == s) {
			*pp = s->hnext;
			m->nstreams--;
			return;
		}
	}
}

size_t mux_nstreams(const struct mux *m)
{
	return m->nstreams;
}

void mux_get_stats(const struct mux *m, struct mux_stats *st)
{
	*st = m->st;
}

/* --- control output --- */

/* Queue one whole frame. 0 or -ENOMEM (or -ENOBUFS past MUX_CTRL_MAX when !must). */
static int ctrl_frame(struct mux *m, uint8_t type, uint32_t id, const uint8_t *pay,
		      size_t len, bool must)
{
	size_t need = MUX_HDR_LEN + len;
	uint8_t *p;

	if (m->ctrl_off == m->ctrl_len)
		m->ctrl_off = m->ctrl_len = 0;
	if (!must && m->ctrl_len - m->ctrl_off + need > MUX_CTRL_MAX)
		return -ENOBUFS;
	if (m->ctrl_len + need > m->ctrl_cap) {
		size_t live = m->ctrl_len - m->ctrl_off;

		if (m->ctrl_off && live + need <= m->ctrl_cap) {
			memmove(m->ctrl, m->ctrl + m->ctrl_off, live);
		} else {
			size_t ncap = m->ctrl_cap ? m->ctrl_cap : 1024;
			uint8_t *nb;

			while (ncap < live + need)
				ncap *= 2;
			nb = malloc(ncap);
			if (!nb)
				return -ENOMEM;
			if (live)
				memcpy(nb, m->ctrl + m->ctrl_off, live);
			free(m->ctrl);
			m->ctrl = nb;
			m->ctrl_cap = ncap;
		}
		m->ctrl_off = 0;
		m->ctrl_len = live;
	}
	p = m->ctrl + m->ctrl_len;
	p[0] = type;
	put32(p + 1, id);
	put16(p + 5, (uint16_t)len);
	if (len)
		memcpy(p + MUX_HDR_LEN, pay, len);
	m->ctrl_len += need;
	return 0;
}

static int ctrl_reason(struct mux *m, uint8_t type, uint32_t id, uint8_t reason)
{
	return ctrl_frame(m, type, id, &reason, 1, true);
}

bool mux_has_output(const struct mux *m)
{
	return m->ctrl_off < m->ctrl_len || dl_linked(&m->active);
}

/* Put s on the send rotation if it has something it may send. */
static void stream_activate(struct mux_stream *s)
{
	bool want;

	if (s->reset || s->fin_sent)
		want = false;
	else
		want = (s->wbuf && s->woff < s->wlen && s->credit > 0) ||
		       (s->fin_req && !(s->wbuf && s->woff < s->wlen));
	if (want && !dl_linked(&s->active))
		dl_add_tail(&s->m->active, &s->active);
	else if (!want && dl_linked(&s->active))
		dl_del(&s->active);
}

/* Stop sending on s: its borrowed buffer is forgotten. */
static void stream_close_send(struct mux_stream *s)
{
	if (dl_linked(&s->active))
		dl_del(&s->active);
	if (dl_linked(&s->sent))
		dl_del(&s->sent);
	s->wbuf = NULL;
	s->wlen = s->woff = 0;
}

static void stream_mark_reset(struct mux_stream *s)
{
	s->reset = true;
	s->opening = false;
	stream_close_send(s);
	stream_drop_chunks(s);
}

/* --- output --- */

size_t mux_pull(struct mux *m, uint8_t *buf, size_t cap)
{
	size_t out = 0;

	if (m->broken)
		return 0;
	/* Control frames first, whole frames only. */
	while (m->ctrl_off < m->ctrl_len) {
		const uint8_t *f = m->ctrl + m->ctrl_off;
		size_t flen = MUX_HDR_LEN + get16(f + 5);

		if (flen > cap - out)
			break;
		memcpy(buf + out, f, flen);
		out += flen;
		m->ctrl_off += flen;
		m->st.frames_out++;
	}
	if (m->ctrl_off < m->ctrl_len)
		return out;	/* keep control frames ahead of data */
	/* Then DATA (and FINs), one quantum per stream per turn. */
	while (dl_linked(&m->active) && cap - out > MUX_HDR_LEN) {
		struct mux_stream *s = stream_of(m->active.next, active);
		size_t room = cap - out - MUX_HDR_LEN;

		dl_del(&s->active);
		if (s->wbuf && s->woff < s->wlen) {
			size_t n = s->wlen - s->woff;

			if (n > MUX_QUANTUM)
				n = MUX_QUANTUM;
			if (n > s->credit)
				n = (size_t)s->credit;
			if (n > room) {
				/* Not worth a tiny frame: wait for room. */
				if (room < 1024) {
					dl_add_tail(&m->active, &s->active);
					break;
				}
				n = room;
			}
			buf[out] = MUX_DATA;
			put32(buf + out + 1, s->id);
			put16(buf + out + 5, (uint16_t)n);
			memcpy(buf + out + MUX_HDR_LEN, s->wbuf + s->woff, n);
			out += MUX_HDR_LEN + n;
			s->woff += n;
			s->credit -= n;
			m->st.frames_out++;
			m->st.data_out += n;
			if (s->woff == s->wlen) {
				s->wbuf = NULL;
				s->wlen = s->woff = 0;
				dl_add_tail(&m->sent, &s->sent);
			}
		} else if (s->fin_req && !s->fin_sent) {
			buf[out] = MUX_FIN;
			put32(buf + out + 1, s->id);
			put16(buf + out + 5, 0);
			out += MUX_HDR_LEN;
			s->fin_sent = true;
			m->st.frames_out++;
		}
		stream_activate(s);	/* back at the tail if it has more */
	}
	/* Tell writers their buffers are free (callbacks last: they may free s). */
	while (dl_linked(&m->sent)) {
		struct mux_stream *s = stream_of(m->sent.next, sent);

		dl_del(&s->sent);
		if (m->ops->on_sent)
			m->ops->on_sent(m->user, s);
	}
	return out;
}

/* --- keepalive --- */

int mux_tick(struct mux *m, uint64_t now_ms)
{
	uint8_t pay[8];

	if (m->broken)
		return -EPROTO;
	if (now_ms - m->last_rx >= m->p.timeout_ms)
		return -ETIMEDOUT;
	if (now_ms - m->last_rx >= m->p.keepalive_ms &&
	    now_ms - m->last_ping >= m->p.keepalive_ms) {
		for (int i = 0; i < 8; i++)
			pay[i] = (uint8_t)(now_ms >> (56 - 8 * i));
		if (ctrl_frame(m, MUX_PING, 0, pay, sizeof(pay), false) == 0) {
			m->last_ping = now_ms;
			m->st.pings++;
		}
	}
	return 0;
}

uint64_t mux_next_tick(const struct mux *m)
{
	uint64_t dead = m->last_rx + m->p.timeout_ms;
	uint64_t ping = m->last_rx + m->p.keepalive_ms;

	if (ping < m->last_ping + m->p.keepalive_ms)
		ping = m->last_ping + m->p.keepalive_ms;
	return ping < dead ? ping : dead;
}

void mux_goaway(struct mux *m, uint8_t reason)
{
	if (!m->broken)
		ctrl_reason(m, MUX_GOAWAY, 0, reason);
}

void mux_kill(struct mux *m, uint8_t reason)
{
	/* Callbacks may free streams: restart the scan after each. */
	for (;;) {
		struct mux_stream *victim = NULL;

		for (size_t i = 0; i < m->nbuckets && !victim; i++)
			for (struct mux_stream *s = m->hash[i]; s; s = s->hnext)
				if (!s->reset) {
					victim = s;
					break;
				}
		if (!victim)
			break;
		stream_mark_reset(victim);
		if (m->ops->on_reset)
			m->ops->on_reset(m->user, victim, reason);
	}
	m->ctrl_off = m->ctrl_len = 0;
}

/* --- input --- */

/* Reset s because of something the peer did; tells both sides. */
static void reset_by_us(struct mux *m, struct mux_stream *s, uint8_t reason)
{
	stream_mark_reset(s);
	ctrl_reason(m, MUX_RST, s->id, reason);
	m->st.resets_out++;
	if (m->ops->on_reset)
		m->ops->on_reset(m->user, s, reason);
}

static int append(struct mux_stream *s, const uint8_t *p, size_t n)
{
	while (n) {
		struct chunk *c = s->tail;
		size_t k;

		if (!c || c->len == CHUNK_DATA) {
			c = malloc(sizeof(*c));
			if (!c)
				return -ENOMEM;
			c->next = NULL;
			c->off = c->len = 0;
			if (s->tail)
				s->tail->next = c;
			else
				s->head = c;
			s->tail = c;
		}
		k = CHUNK_DATA - c->len;
		if (k > n)
			k = n;
		memcpy(c->data + c->len, p, k);
		c->len += (uint32_t)k;
		s->avail += k;
		p += k;
		n -= k;
	}
	return 0;
}

/* DATA payload bytes for stream id (any piece of a frame). */
static void data_piece(struct mux *m, uint32_t id, const uint8_t *p, size_t n, bool first)
{
	struct mux_stream *s = lookup(m, id);

	if (!s || s->reset)
		return;		/* raced a close: drop */
	if (s->peer_fin) {
		if (first)
			reset_by_us(m, s, MUX_R_PROTO);
		return;
	}
	if (n > s->rwin) {
		reset_by_us(m, s, MUX_R_FLOW);
		return;
	}
	if (n == 0)
		return;
	s->rwin -= n;
	if (append(s, p, n) < 0) {
		reset_by_us(m, s, MUX_R_RESOURCE);
		return;
	}
	m->st.data_in += n;
	if (m->ops->on_data)
		m->ops->on_data(m->user, s);
}

static int on_open_frame(struct mux *m, uint32_t id, const uint8_t *p, size_t n)
{
	struct mux_dest d;
	struct mux_stream *s;
	bool peer_odd = !m->p.client;	/* the client opens odd ids */

	if (mux_dest_decode(p, n, &d) < 0)
		return -EPROTO;
	if ((id & 1) != (peer_odd ? 1u : 0u) || id <= m->peer_last)
		return -EPROTO;
	m->peer_last = id;
	if (!m->ops->on_open || m->nstreams >= m->p.max_streams) {
		m->st.refused++;
		ctrl_reason(m, MUX_OPEN_FAIL, id, MUX_R_RESOURCE);
		return 0;
	}
	s = stream_new(m, id);
	if (!s) {
		ctrl_reason(m, MUX_OPEN_FAIL, id, MUX_R_RESOURCE);
		return 0;
	}
	m->st.opened++;
	m->ops->on_open(m->user, s, &d);
	return 0;
}

/* A whole control frame (everything but DATA). */
static int control(struct mux *m, uint8_t type, uint32_t id, const uint8_t *p, size_t n)
{
	struct mux_stream *s;

	switch (type) {
	case MUX_OPEN:
		return on_open_frame(m, id, p, n);
	case MUX_PING:
		if (n != 8 || id != 0)
			return -EPROTO;
		if (ctrl_frame(m, MUX_PONG, 0, p, n, false) == 0)
			m->st.pongs++;
		return 0;
	case MUX_PONG:
		return n == 8 && id == 0 ? 0 : -EPROTO;
	case MUX_GOAWAY:
		if (n != 1 || id != 0)
			return -EPROTO;
		if (m->ops->on_goaway)
			m->ops->on_goaway(m->user, p[0]);
		return 0;
	default:
		break;
	}
	if (id == 0)
		return -EPROTO;
	s = lookup(m, id);
	switch (type) {
	case MUX_OPEN_OK:
		if (n != 0)
			return -EPROTO;
		if (s && s->opening) {
			s->opening = false;
			if (m->ops->on_open_result)
				m->ops->on_open_result(m->user, s, MUX_R_NONE);
		}
		return 0;
	case MUX_OPEN_FAIL:
		if (n != 1)
			return -EPROTO;
		if (s && s->opening) {
			uint8_t r = p[0] ? p[0] : MUX_R_GENERAL;

			stream_mark_reset(s);
			if (m->ops->on_open_result)
				m->ops->on_open_result(m->user, s, r);
		}
		return 0;
	case MUX_WINDOW: {
		uint32_t inc;

		if (n != 4)
			return -EPROTO;
		inc = get32(p);
		if (!s || s->reset)
			return 0;
		if (s->credit + inc > (uint64_t)WINDOW_MAX * 2) {
			reset_by_us(m, s, MUX_R_FLOW);
			return 0;
		}
		s->credit += inc;
		stream_activate(s);
		return 0;
	}
	case MUX_FIN:
		if (n != 0)
			return -EPROTO;
		if (!s || s->reset || s->peer_fin)
			return 0;
		s->peer_fin = true;
		if (m->ops->on_data)
			m->ops->on_data(m->user, s);
		return 0;
	case MUX_RST:
		if (n != 1)
			return -EPROTO;
		if (!s || s->reset)
			return 0;
		stream_mark_reset(s);
		m->st.resets_in++;
		if (m->ops->on_reset)
			m->ops->on_reset(m->user, s, p[0] ? p[0] : MUX_R_GENERAL);
		return 0;
	default:
		return -EPROTO;
	}
}

static bool type_is_known(uint8_t t)
{
	return t >= MUX_OPEN && t <= MUX_GOAWAY;
}

/* Largest payload a control frame of this type may carry. */
static size_t ctrl_max(uint8_t t)
{
	switch (t) {
	case MUX_OPEN:
		return MUX_OPEN_MAX - MUX_HDR_LEN;
	case MUX_PING:
	case MUX_PONG:
		return 8;
	case MUX_WINDOW:
		return 4;
	case MUX_OPEN_FAIL:
	case MUX_RST:
	case MUX_GOAWAY:
		return 1;
	default:
		return 0;
	}
}

int mux_input(struct mux *m, const uint8_t *p, size_t n, uint64_t now_ms)
{
	if (m->broken)
		return -EPROTO;
	if (n)
		m->last_rx = now_ms;
	while (n) {
		uint8_t type;
		uint32_t id;
		size_t len, k;

		if (m->hdr_len < MUX_HDR_LEN) {
			k = MUX_HDR_LEN - m->hdr_len;
			if (k > n)
				k = n;
			memcpy(m->hdr + m->hdr_len, p, k);
			m->hdr_len += k;
			p += k;
			n -= k;
			if (m->hdr_len < MUX_HDR_LEN)
				break;
			type = m->hdr[0];
			len = get16(m->hdr + 5);
			if (!type_is_known(type) || (type != MUX_DATA && len > ctrl_max(type)))
				goto broken;
			m->pay_len = 0;
			m->data_left = type == MUX_DATA ? len : 0;
			m->st.frames_in++;
			if (type == MUX_DATA) {
				data_piece(m, get32(m->hdr + 1), p, 0, true);
				if (len == 0) {
					m->hdr_len = 0;
					continue;
				}
			}
		}
		type = m->hdr[0];
		id = get32(m->hdr + 1);
		len = get16(m->hdr + 5);
		if (type == MUX_DATA) {
			k = m->data_left < n ? m->data_left : n;
			data_piece(m, id, p, k, false);
			m->data_left -= k;
			p += k;
			n -= k;
			if (m->data_left == 0)
				m->hdr_len = 0;
			continue;
		}
		k = len - m->pay_len;
		if (k > n)
			k = n;
		memcpy(m->pay + m->pay_len, p, k);
		m->pay_len += k;
		p += k;
		n -= k;
		if (m->pay_len < len)
			break;
		m->hdr_len = 0;
		if (control(m, type, id, m->pay, len) < 0)
			goto broken;
	}
	return 0;
broken:
	m->broken = true;
	return -EPROTO;
}

/* --- streams --- */

struct mux_stream *mux_open(struct mux *m, const struct mux_dest *d)
{
	uint8_t pay[MUX_OPEN_MAX];
	struct mux_stream *s;
	int n;

	if (m->broken || m->next_id > UINT32_MAX - 2)
		return NULL;
	n = mux_dest_encode(d, pay, sizeof(pay));
	if (n < 0)
		return NULL;
	s = stream_new(m, m->next_id);
	if (!s)
		return NULL;
	if (ctrl_frame(m, MUX_OPEN, s->id, pay, (size_t)n, true) < 0) {
		stream_unhash(s);
		free(s);
		return NULL;
	}
	m->next_id += 2;
	s->opening = true;
	m->st.opened++;
	return s;
}

int mux_accept(struct mux_stream *s)
{
	if (s->answered || s->reset || s->m->p.client)
		return -EINVAL;
	s->answered = true;
	return ctrl_frame(s->m, MUX_OPEN_OK, s->id, NULL, 0, true);
}

int mux_refuse(struct mux_stream *s, uint8_t reason)
{
	if (s->answered || s->reset || s->m->p.client)
		return -EINVAL;
	s->answered = true;
	stream_mark_reset(s);
	s->m->st.refused++;
	return ctrl_reason(s->m, MUX_OPEN_FAIL, s->id, reason ? reason : MUX_R_GENERAL);
}

int mux_stream_write(struct mux_stream *s, const uint8_t *p, size_t n)
{
	if (s->reset || s->fin_req)
		return -EPIPE;
	if (s->wbuf)
		return -EBUSY;
	if (n == 0)
		return 0;
	s->wbuf = p;
	s->wlen = n;
	s->woff = 0;
	stream_activate(s);
	return 0;
}

bool mux_stream_write_pending(const struct mux_stream *s)
{
	return s->wbuf != NULL;
}

int mux_stream_fin(struct mux_stream *s)
{
	if (s->reset)
		return -EPIPE;
	s->fin_req = true;
	stream_activate(s);
	return 0;
}

size_t mux_stream_peek(const struct mux_stream *s, const uint8_t **p)
{
	const struct chunk *c = s->head;

	if (!c || c->off == c->len) {
		*p = NULL;
		return 0;
	}
	*p = c->data + c->off;
	return c->len - c->off;
}

size_t mux_stream_avail(const struct mux_stream *s)
{
	return s->avail;
}

void mux_stream_consume(struct mux_stream *s, size_t n)
{
	struct mux *m = s->m;

	if (n > s->avail)
		n = s->avail;
	s->avail -= n;
	while (n && s->head) {
		struct chunk *c = s->head;
		size_t k = c->len - c->off;

		if (k > n)
			k = n;
		c->off += (uint32_t)k;
		n -= k;
		s->ungranted += k;
		if (c->off == c->len && (c->next || c->len == CHUNK_DATA)) {
			s->head = c->next;
			if (!s->head)
				s->tail = NULL;
			free(c);
		} else if (c->off == c->len) {
			c->off = c->len = 0;	/* reuse the last chunk */
		}
	}
	/* Grant credit in batches: a WINDOW per quarter window consumed. */
	if (!s->reset && !s->peer_fin && s->ungranted >= s->win / 4) {
		uint8_t pay[4];

		/* The reader keeps up: the window, not the reader, limits it. */
		if (s->avail < s->win / 8 && s->win < m->p.max_window) {
			uint32_t grow = s->win;

			if (grow > m->p.max_window - s->win)
				grow = m->p.max_window - s->win;
			s->win += grow;
			s->ungranted += grow;
		}
		put32(pay, (uint32_t)s->ungranted);
		if (ctrl_frame(m, MUX_WINDOW, s->id, pay, sizeof(pay), true) == 0) {
			s->rwin += s->ungranted;
			s->ungranted = 0;
		}
	}
}

bool mux_stream_is_eof(const struct mux_stream *s)
{
	return s->peer_fin && s->avail == 0;
}

bool mux_stream_is_reset(const struct mux_stream *s)
{
	return s->reset;
}

bool mux_stream_is_done(const struct mux_stream *s)
{
	return !s->reset && s->fin_sent && mux_stream_is_eof(s);
}

void mux_stream_reset(struct mux_stream *s, uint8_t reason)
{
	if (s->reset)
		return;
	stream_mark_reset(s);
	ctrl_reason(s->m, MUX_RST, s->id, reason ? reason : MUX_R_GENERAL);
	s->m->st.resets_out++;
}

void mux_stream_free(struct mux_stream *s)
{
	struct mux *m = s->m;

	if (!s->reset) {
		if (s->wbuf || !s->peer_fin || (s->opening && m->p.client)) {
			mux_stream_reset(s, MUX_R_CANCEL);
		} else if (!s->fin_sent) {
			/* Our FIN was asked for or is implied: let it go now. */
			ctrl_frame(m, MUX_FIN, s->id, NULL, 0, true);
		}
	}
	stream_close_send(s);
	stream_drop_chunks(s);
	stream_unhash(s);
	free(s);
}

uint32_t mux_stream_id(const struct mux_stream *s)
{
	return s->id;
}

void mux_stream_set_user(struct mux_stream *s, void *user)
{
	s->user = user;
}

void *mux_stream_user(const struct mux_stream *s)
{
	return s->user;
}
