#include "egress/chain.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "proto/http1.h"
#include "proto/socks4.h"
#include "proto/socks5.h"

#define CHAIN_IN_MAX	8192	/* largest hop reply head we read */

enum chain_step {
	ST_S5_METHOD = 1,	/* greeting sent, want 2 bytes */
	ST_S5_AUTH,		/* credentials sent, want 2 bytes */
	ST_S5_REPLY,		/* request sent, want the reply */
	ST_S4_REPLY,		/* request sent, want 8 bytes */
	ST_HTTP_PEEK,		/* CONNECT sent, peeking for the end of the head */
	ST_HTTP_TAKE,		/* head found: taking exactly its bytes */
};

struct chain {
	struct dial dial;		/* TCP to the first hop */
	struct loop *loop;		/* borrowed */
	struct io *io;			/* borrowed: the caller's upstream handle */
	struct io_req rd, wr;
	struct timer timer;		/* bounds the negotiation */
	const struct hop *hops;		/* borrowed (config) */
	size_t nhops, cur;		/* talking to hops[cur] */
	struct target dst;		/* host points into dst_host */
	char dst_host[HOST_MAX + 1];
	uint8_t step;
	bool dialing;			/* the first hop's dial has not answered yet */
	bool cancelled;
	int err;
	chain_cb cb;
	chain_udp_cb udp_cb;		/* UDP ASSOCIATE at the last hop (cb unused) */
	void *arg;
	bool udp;			/* the last hop gets UDP ASSOCIATE, not CONNECT */
	uint16_t announce_port;		/* UDP: DST.PORT of that request */
	union sockaddr_any relay;	/* UDP: the last hop's relay, once it answered */
	size_t want, len;		/* reply bytes wanted / read so far */
	size_t out_len, out_off;
	uint8_t out[1024];
	uint8_t in[CHAIN_IN_MAX];
};

/* --- hop URLs --- */

int hop_parse(const char *url, struct hop *h, char *err, size_t errlen)
{
	const char *sep = strstr(url, "://"), *auth, *at, *colon;
	const char *why = NULL;
	size_t slen;

	memset(h, 0, sizeof(*h));
	if (!sep) {
		snprintf(err, errlen, "-F '%s': expected socks5://, socks4a:// or http://", url);
		return -1;
	}
	slen = (size_t)(sep - url);
	if (slen == 6 && strncmp(url, "socks5", 6) == 0)
		h->kind = HOP_SOCKS5;
	else if ((slen == 7 && strncmp(url, "socks4a", 7) == 0) ||
		 (slen == 6 && strncmp(url, "socks4", 6) == 0))
		h->kind = HOP_SOCKS4A;
	else if (slen == 4 && strncmp(url, "http", 4) == 0)
		h->kind = HOP_HTTP;
	else if (slen == 6 && strncmp(url, "tunnel", 6) == 0)
		h->kind = HOP_TUNNEL;
	else {
		snprintf(err, errlen, "-F '%s': unknown scheme '%.*s' (expected socks5, socks4a, http or tunnel)",
			 url, (int)(slen > 32 ? 32 : slen), url);
		return -1;
	}
	auth = sep + 3;
	at = strrchr(auth, '@');
	if (at) {
		colon = memchr(auth, ':', (size_t)(at - auth));
		if (!colon && h->kind == HOP_SOCKS4A)	/* a SOCKS4 user id alone */
			colon = at;
		if (!colon || colon == auth) {
			snprintf(err, errlen, "-F '%s': credentials must be user:password@", url);
			return -1;
		}
		h->user = strndup(auth, (size_t)(colon - auth));
		h->pass = colon == at ? strdup("") : strndup(colon + 1, (size_t)(at - colon - 1));
		if (!h->user || !h->pass || strlen(h->user) > 255 || strlen(h->pass) > 255) {
			hop_fini(h);
			snprintf(err, errlen, "-F '%s': user and password must be 1 to 255 bytes", url);
			return -1;
		}
		auth = at + 1;
	}
	if (addr_split(auth, strlen(auth), h->host, &h->port, &why) < 0 || !h->host[0]) {
		/* why is set only by a failed split; a split may leave host unset. */
		bool split_ok = why == NULL;

		snprintf(err, errlen, "-F '%s': proxy address '%s': %s", url, auth,
			 split_ok ? "empty host" : why);
		hop_fini(h);
		return -1;
	}
	if (h->kind == HOP_TUNNEL && h->user) {
		snprintf(err, errlen, "-F '%s': a tunnel takes no credentials (it uses --tunnel-key)",
			 url);
		hop_fini(h);
		return -1;
	}
	if (h->kind == HOP_SOCKS4A && h->pass && h->pass[0]) {
		snprintf(err, errlen, "-F '%s': SOCKS4 has no passwords (a user id alone is fine: user:@)",
			 url);
		hop_fini(h);
		return -1;
	}
	if (asprintf(&h->url, "%.*s://%s%s%s", (int)slen, url, h->user ? h->user : "",
		     h->user ? "@" : "", auth) < 0) {
		h->url = NULL;
		hop_fini(h);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

void hop_fini(struct hop *h)
{
	free(h->user);
	free(h->pass);
	free(h->url);
	h->user = h->pass = h->url = NULL;
}

/* --- running a chain --- */

static void step_send(struct chain *c);
static void on_read(struct io_req *req);

static void chain_free(struct chain *c)
{
	loop_timer_cancel(c->loop, &c->timer);
	free(c);
}

/* The chain is over: report (unless cancelled) and free once idle. */
static void finish(struct chain *c, int err)
{
	chain_cb cb = c->cb;
	chain_udp_cb udp_cb = c->udp_cb;
	void *arg = c->arg;
	size_t where = c->cur + 1;

	loop_timer_cancel(c->loop, &c->timer);
	c->cb = NULL;
	c->udp_cb = NULL;
	if (!c->cancelled && cb)
		cb(arg, err, where);
	else if (!c->cancelled && udp_cb)
		udp_cb(arg, err, where, err ? NULL : &c->relay);
	/* Requests in flight come back once the caller closes io. */
	if (!c->rd.inflight && !c->wr.inflight && !dial_is_busy(&c->dial))
		chain_free(c);
	else
		c->cancelled = true;
}

/* What hops[cur] must connect to next, as a codec address. */
static int next_addr(struct chain *c, struct proto_addr *a)
{
	union sockaddr_any sa;
	const char *host;
	uint16_t port;

	if (c->udp && c->cur + 1 == c->nhops) {
		/* UDP ASSOCIATE: where our datagrams come from (address unknown: 0s). */
		static const uint8_t any4[4];

		proto_addr_set_ipv4(a, any4, c->announce_port);
		return 0;
	}
	if (c->cur + 1 < c->nhops) {
		host = c->hops[c->cur + 1].host;
		port = c->hops[c->cur + 1].port;
	} else if (c->dst.host) {
		host = c->dst.host;
		port = c->dst.port;
	} else {
		sa = c->dst.addr;
		host = NULL;
		port = c->dst.port;
	}
	if (host && !addr_from_literal(host, port, &sa))
		return proto_addr_set_domain(a, host, strlen(host), port);
	if (sa.sa.sa_family == AF_INET)
		proto_addr_set_ipv4(a, (const uint8_t *)&sa.sin.sin_addr, port);
	else
		proto_addr_set_ipv6(a, sa.sin6.sin6_addr.s6_addr, port);
	return 0;
}

static void expect(struct chain *c, uint8_t step, size_t want)
{
	c->step = step;
	c->want = want;
	c->len = 0;
}

static void recv_more(struct chain *c)
{
	io_submit_op(c->io, &c->rd, IO_RECV, c->in + c->len, c->want - c->len, on_read);
}

static void peek(struct chain *c)
{
	c->rd.op = IO_RECV;
	c->rd.flags = IO_F_PEEK;
	c->rd.buf = c->in;
	c->rd.len = sizeof(c->in);
	c->rd.cb = on_read;
	io_submit(c->io, &c->rd);
}

/* Write hops[cur]'s request (greeting / request / CONNECT) into out. */
static int begin_hop(struct chain *c)
{
	const struct hop *h = &c->hops[c->cur];
	struct proto_addr a;
	char extra[700];
	int n, e = 0;

	c->out_off = 0;
	if (c->udp && c->cur + 1 == c->nhops && h->kind != HOP_SOCKS5)
		return -EOPNOTSUPP;	/* only SOCKS5 relays datagrams */
	switch (h->kind) {
	case HOP_SOCKS5:
		n = socks5_write_greeting(c->out, sizeof(c->out), h->user != NULL);
		expect(c, ST_S5_METHOD, 2);
		break;
	case HOP_SOCKS4A:
		if (next_addr(c, &a) < 0)
			return -EINVAL;
		n = socks4_write_request(c->out, sizeof(c->out), SOCKS4_CMD_CONNECT, &a,
					 h->user, h->user ? strlen(h->user) : 0);
		expect(c, ST_S4_REPLY, SOCKS4_REPLY_LEN);
		break;
	case HOP_HTTP:
		if (next_addr(c, &a) < 0)
			return -EINVAL;
		if (h->user)
			e = http1_write_proxy_auth(extra, sizeof(extra), h->user, strlen(h->user),
						   h->pass, strlen(h->pass));
		if (e < 0)
			return -EINVAL;
		if (a.type == PROTO_ADDR_DOMAIN) {
			n = http1_write_connect((char *)c->out, sizeof(c->out), (const char *)a.bytes,
						a.len, a.port, extra, (size_t)e);
		} else {
			char ip[INET6_ADDRSTRLEN];

			inet_ntop(a.type == PROTO_ADDR_IPV4 ? AF_INET : AF_INET6, a.bytes, ip, sizeof(ip));
			n = http1_write_connect((char *)c->out, sizeof(c->out), ip, strlen(ip),
						a.port, extra, (size_t)e);
		}
		expect(c, ST_HTTP_PEEK, 0);
		break;
	default:
		return -EINVAL;
	}
	if (n < 0)
		return -EINVAL;	/* e.g. an IPv6 destination through SOCKS4a */
	c->out_len = (size_t)n;
	return 0;
}

/* hops[cur] is through: move on to the next hop, or we are done. */
static void hop_done(struct chain *c)
{
	int err;

	if (++c->cur == c->nhops) {
		finish(c, 0);
		return;
	}
	err = begin_hop(c);
	if (err) {
		finish(c, err);
		return;
	}
	step_send(c);
}

static int s5_rep_errno(uint8_t rep)
{
	switch (rep) {
	case SOCKS5_REP_NOT_ALLOWED:
		return -EACCES;
	case SOCKS5_REP_NET_UNREACHABLE:
		return -ENETUNREACH;
	case SOCKS5_REP_HOST_UNREACHABLE:
		return -EHOSTUNREACH;
	case SOCKS5_REP_REFUSED:
		return -ECONNREFUSED;
	case SOCKS5_REP_TTL_EXPIRED:
		return -ETIMEDOUT;
	case SOCKS5_REP_CMD_NOT_SUPPORTED:
		return -EOPNOTSUPP;
	default:
		return -ECONNABORTED;
	}
}

static int http_status_errno(int status)
{
	if (status == 403 || status == 407)
		return -EACCES;
	if (status == 504)
		return -ETIMEDOUT;
	if (status == 404)
		return -EHOSTUNREACH;
	return -ECONNREFUSED;
}

static bool is_wildcard(const union sockaddr_any *a)
{
	static const struct in6_addr any6 = IN6ADDR_ANY_INIT;

	if (a->sa.sa_family == AF_INET)
		return a->sin.sin_addr.s_addr == htonl(INADDR_ANY);
	return memcmp(&a->sin6.sin6_addr, &any6, sizeof(any6)) == 0;
}

/*
 * The last hop's UDP relay from its BND.ADDR:BND.PORT into c->relay. A
 * wildcard address means "where you reached me": the control connection's
 * peer when that hop is the first, else the hop's host if it is a literal.
 * A name is taken only when it is a literal (some servers write IPs so).
 */
static int udp_relay_addr(struct chain *c, const struct proto_addr *bnd)
{
	union sockaddr_any *r = &c->relay;
	const struct hop *last = &c->hops[c->nhops - 1];

	memset(r, 0, sizeof(*r));
	if (bnd->port == 0)
		return -EADDRNOTAVAIL;
	if (bnd->type == PROTO_ADDR_IPV4) {
		r->sin.sin_family = AF_INET;
		memcpy(&r->sin.sin_addr, bnd->bytes, 4);
	} else if (bnd->type == PROTO_ADDR_IPV6) {
		r->sin6.sin6_family = AF_INET6;
		memcpy(&r->sin6.sin6_addr, bnd->bytes, 16);
	} else if (bnd->type != PROTO_ADDR_DOMAIN ||
		   !addr_from_literal((const char *)bnd->bytes, bnd->port, r)) {
		return -EADDRNOTAVAIL;
	}
	if (is_wildcard(r)) {
		if (c->nhops == 1 && c->dial.peer.sa.sa_family)
			*r = c->dial.peer;
		else if (!addr_from_literal(last->host, bnd->port, r))
			return -EADDRNOTAVAIL;
	}
	addr_set_port(r, bnd->port);
	return 0;
}

/* A complete reply for the current step is in in[0..len). */
static void on_reply(struct chain *c)
{
	const struct hop *h = &c->hops[c->cur];
	struct proto_addr a;
	uint8_t method, status;
	int n;

	switch (c->step) {
	case ST_S5_METHOD:
		if (socks5_parse_method_reply(c->in, c->len, &method) < 0)
			goto broken;
		if (method == SOCKS5_METHOD_USERPASS && h->user) {
			n = socks5_write_auth(c->out, sizeof(c->out), h->user, strlen(h->user),
					      h->pass, strlen(h->pass));
			if (n < 0)
				goto broken;
			c->out_len = (size_t)n;
			c->out_off = 0;
			expect(c, ST_S5_AUTH, 2);
			step_send(c);
			return;
		}
		if (method != SOCKS5_METHOD_NO_AUTH) {
			finish(c, -EACCES);	/* no method we can do */
			return;
		}
		goto s5_request;
	case ST_S5_AUTH:
		if (socks5_parse_auth_reply(c->in, c->len, &status) < 0)
			goto broken;
		if (status != SOCKS5_AUTH_OK) {
			finish(c, -EACCES);
			return;
		}
s5_request:
		if (next_addr(c, &a) < 0)
			goto broken;
		n = socks5_write_request(c->out, sizeof(c->out),
					 c->udp && c->cur + 1 == c->nhops ?
					 SOCKS5_CMD_UDP_ASSOCIATE : SOCKS5_CMD_CONNECT, &a);
		if (n < 0)
			goto broken;
		c->out_len = (size_t)n;
		c->out_off = 0;
		expect(c, ST_S5_REPLY, 5);	/* enough to know the full length */
		step_send(c);
		return;
	case ST_S5_REPLY: {
		struct socks5_reply r;

		n = socks5_parse_reply(c->in, c->len, &r);
		if (n == PROTO_PARTIAL) {
			/* Now the length is known from ATYP and (for a name) its length byte. */
			uint8_t atyp = c->in[3];
			size_t total = atyp == SOCKS5_ATYP_IPV4 ? 10 : atyp == SOCKS5_ATYP_IPV6 ? 22 :
				       (size_t)7 + c->in[4];

			if (c->len >= 2 && c->in[1] != SOCKS5_REP_SUCCEEDED) {
				finish(c, s5_rep_errno(c->in[1]));
				return;
			}
			if (total <= c->len || total > sizeof(c->in))
				goto broken;
			c->want = total;
			recv_more(c);
			return;
		}
		if (n < 0 && c->len >= 2 && r.rep != SOCKS5_REP_SUCCEEDED) {
			finish(c, s5_rep_errno(r.rep));	/* a refusal with a garbled address */
			return;
		}
		if (n < 0)
			goto broken;
		if (r.rep != SOCKS5_REP_SUCCEEDED) {
			finish(c, s5_rep_errno(r.rep));
			return;
		}
		if (c->udp && c->cur + 1 == c->nhops) {
			finish(c, udp_relay_addr(c, &r.bnd));
			return;
		}
		hop_done(c);
		return;
	}
	case ST_S4_REPLY: {
		struct socks4_reply r;

		if (socks4_parse_reply(c->in, c->len, &r) < 0)
			goto broken;
		if (r.cd != SOCKS4_REP_GRANTED) {
			finish(c, -ECONNREFUSED);
			return;
		}
		hop_done(c);
		return;
	}
	case ST_HTTP_PEEK:
	case ST_HTTP_TAKE: {
		struct http1_header hdrs[64];
		struct http1_response res = { .headers = hdrs, .max_headers = 64 };

		n = http1_parse_response((const char *)c->in, c->len, 0, sizeof(c->in), &res);
		if (c->step == ST_HTTP_PEEK) {
			if (n == PROTO_PARTIAL && c->len < sizeof(c->in)) {
				peek(c);	/* waits for more: a short peek cleared readiness */
				return;
			}
			if (n < 0)
				goto broken;
			/* Take exactly the head: what follows is the destination's. */
			expect(c, ST_HTTP_TAKE, (size_t)n);
			io_hint_ready(c->io, IO_READY_RD);
			recv_more(c);
			return;
		}
		if (n < 0)
			goto broken;
		if (res.status < 200 || res.status > 299) {
			finish(c, http_status_errno(res.status));
			return;
		}
		hop_done(c);
		return;
	}
	}
broken:
	finish(c, -EPROTO);
}

static void on_read(struct io_req *req)
{
	struct chain *c = container_of(req, struct chain, rd);

	if (c->cancelled) {
		finish(c, -ECANCELED);
		return;
	}
	if (req->res <= 0) {
		finish(c, req->res == 0 ? -ECONNRESET : (int)req->res);
		return;
	}
	if (c->step == ST_HTTP_PEEK) {
		c->len = (size_t)req->res;
		on_reply(c);
		return;
	}
	c->len += (size_t)req->res;
	if (c->len < c->want) {
		recv_more(c);
		return;
	}
	on_reply(c);
}

static void on_write(struct io_req *req)
{
	struct chain *c = container_of(req, struct chain, wr);

	if (c->cancelled) {
		finish(c, -ECANCELED);
		return;
	}
	if (req->res <= 0) {
		finish(c, req->res == 0 ? -EPIPE : (int)req->res);
		return;
	}
	c->out_off += (size_t)req->res;
	if (c->out_off < c->out_len) {
		step_send(c);
		return;
	}
	if (c->step == ST_HTTP_PEEK)
		peek(c);
	else
		recv_more(c);
}

static void step_send(struct chain *c)
{
	io_submit_op(c->io, &c->wr, IO_SEND, c->out + c->out_off, c->out_len - c->out_off,
		     on_write);
}

static void on_timeout(struct timer *t)
{
	struct chain *c = container_of(t, struct chain, timer);

	c->err = -ETIMEDOUT;
	io_cancel(&c->rd);
	io_cancel(&c->wr);
	finish(c, -ETIMEDOUT);
}

static void on_dialed(struct dial *d, int err)
{
	struct chain *c = container_of(d, struct chain, dial);

	c->dialing = false;
	if (c->cancelled) {	/* a cancelled dial letting go */
		if (!c->rd.inflight && !c->wr.inflight && !dial_is_busy(&c->dial))
			chain_free(c);
		return;
	}
	if (err) {
		c->cur = 0;
		finish(c, err);
		return;
	}
	err = begin_hop(c);
	if (err) {
		finish(c, err);
		return;
	}
	loop_timer_arm(c->loop, &c->timer, c->dial.timeout_ms);
	step_send(c);
}

static struct chain *chain_begin(struct loop *l, struct dns *dns, struct io *io,
				 const struct hop *hops, size_t nhops, const struct target *dst,
				 uint32_t timeout_ms, uint32_t stagger_ms, struct chain *c)
{
	struct target first = { 0 };

	c->loop = l;
	c->io = io;
	c->hops = hops;
	c->nhops = nhops;
	c->dst = *dst;
	if (dst->host) {
		snprintf(c->dst_host, sizeof(c->dst_host), "%s", dst->host);
		c->dst.host = c->dst_host;
	}
	timer_init(&c->timer, on_timeout);
	first.port = hops[0].port;
	if (addr_from_literal(hops[0].host, hops[0].port, &first.addr))
		first.host = NULL;
	else
		first.host = hops[0].host;
	c->dialing = true;
	dial_start(&c->dial, l, dns, io, &first, timeout_ms, stagger_ms, on_dialed);
	return c;
}

struct chain *chain_start(struct loop *l, struct dns *dns, struct io *io,
			  const struct hop *hops, size_t nhops, const struct target *dst,
			  uint32_t timeout_ms, uint32_t stagger_ms, chain_cb cb, void *arg)
{
	struct chain *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->cb = cb;
	c->arg = arg;
	return chain_begin(l, dns, io, hops, nhops, dst, timeout_ms, stagger_ms, c);
}

bool chain_can_udp(const struct hop *hops, size_t nhops)
{
	for (size_t i = 0; i < nhops; i++)
		if (hops[i].kind == HOP_TUNNEL)
			return false;
	return nhops > 0 && hops[nhops - 1].kind == HOP_SOCKS5;
}

struct chain *chain_start_udp(struct loop *l, struct dns *dns, struct io *io,
			      const struct hop *hops, size_t nhops, uint16_t announce_port,
			      uint32_t timeout_ms, uint32_t stagger_ms, chain_udp_cb cb, void *arg)
{
	struct chain *c = calloc(1, sizeof(*c));
	struct target none = { 0 };	/* no destination: datagrams name their own */

	if (!c)
		return NULL;
	c->udp = true;
	c->announce_port = announce_port;
	c->udp_cb = cb;
	c->arg = arg;
	return chain_begin(l, dns, io, hops, nhops, &none, timeout_ms, stagger_ms, c);
}

void chain_cancel(struct chain *c)
{
	c->cancelled = true;
	c->cb = NULL;
	c->udp_cb = NULL;
	loop_timer_cancel(c->loop, &c->timer);
	if (c->dialing)
		dial_cancel(&c->dial);	/* a busy dial answers -ECANCELED later */
	if (!c->rd.inflight && !c->wr.inflight && !dial_is_busy(&c->dial))
		chain_free(c);
	/* else: the caller closes io; the last completion frees us */
}
