/*
 * The chained egress's UDP ASSOCIATE (chain_start_udp) against a scripted
 * SOCKS5 server in a thread, on loopback: the exact bytes sent (greeting,
 * credentials, CONNECT to the next hop, UDP ASSOCIATE with our port), the
 * relay address taken from BND (literal, wildcard -> the hop's address,
 * literal in a domain), refusals mapped to errnos, replies dribbled a byte
 * at a time; and chain_can_udp() over hop kinds.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/pool.h"
#include "core/sock.h"
#include "dns/dns.h"
#include "egress/chain.h"
#include "unit.h"

/* One exchange: read exactly `in` bytes, then send `out` one byte at a time. */
struct step {
	size_t in;
	const char *out;
	size_t out_len;
};

struct server {
	int lfd;
	uint16_t port;
	const struct step *steps;
	size_t nsteps;
	uint8_t rx[1024];	/* all bytes the client sent */
	size_t rx_len;
	pthread_t th;
};

static void *serve(void *arg)
{
	struct server *sv = arg;
	struct timeval tv = { .tv_sec = 3 };
	int fd = accept(sv->lfd, NULL, NULL);

	if (fd < 0)
		return NULL;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (size_t i = 0; i < sv->nsteps; i++) {
		size_t want = sv->rx_len + sv->steps[i].in;

		while (sv->rx_len < want && sv->rx_len < sizeof(sv->rx)) {
			ssize_t n = recv(fd, sv->rx + sv->rx_len, want - sv->rx_len, 0);

			if (n <= 0)
				goto out;
			sv->rx_len += (size_t)n;
		}
		for (size_t k = 0; k < sv->steps[i].out_len; k++) {
			if (send(fd, sv->steps[i].out + k, 1, MSG_NOSIGNAL) != 1)
				goto out;
			usleep(200);
		}
	}
	/* Hold the control connection until the client closes it. */
	for (;;) {
		uint8_t b[64];
		ssize_t n = recv(fd, b, sizeof(b), 0);

		if (n <= 0)
			break;
		if (sv->rx_len + (size_t)n <= sizeof(sv->rx)) {
			memcpy(sv->rx + sv->rx_len, b, (size_t)n);
			sv->rx_len += (size_t)n;
		}
	}
out:
	close(fd);
	return NULL;
}

static void server_start(struct server *sv, const struct step *steps, size_t n)
{
	union sockaddr_any a;

	memset(sv, 0, sizeof(*sv));
	addr_from_literal("127.0.0.1", 0, &a);
	sv->lfd = sock_listen_tcp(&a, false, 4);
	CHECK(sv->lfd >= 0);
	CHECK_EQ_INT(sock_local_addr(sv->lfd, &a), 0);
	sv->port = addr_port(&a);
	sv->steps = steps;
	sv->nsteps = n;
	/* The listener is non-blocking: the thread wants to wait in accept(). */
	fcntl(sv->lfd, F_SETFL, fcntl(sv->lfd, F_GETFL) & ~O_NONBLOCK);
	CHECK_EQ_INT(pthread_create(&sv->th, NULL, serve, sv), 0);
}

static void server_join(struct server *sv)
{
	pthread_join(sv->th, NULL);
	close(sv->lfd);
}

struct run {
	struct loop loop;
	struct pool bufs;
	struct pipe_pool pipes;
	struct dns *dns;
	struct io io;
	int calls, err;
	size_t where;
	union sockaddr_any relay;
};

static void on_udp(void *arg, int err, size_t where, const union sockaddr_any *relay)
{
	struct run *r = arg;

	r->calls++;
	r->err = err;
	r->where = where;
	memset(&r->relay, 0, sizeof(r->relay));
	if (relay)
		r->relay = *relay;
	CHECK((err == 0) == (relay != NULL));
	loop_stop(&r->loop);
}

static void run_init(struct run *r)
{
	memset(r, 0, sizeof(*r));
	pool_init(&r->bufs, 4096, 1);
	pipe_pool_init(&r->pipes, 0, 1);
	CHECK_EQ_INT(loop_init(&r->loop, &r->bufs, &r->pipes), 0);
	r->dns = dns_new(&r->loop, NULL, 16);
	CHECK(r->dns != NULL);
	io_init(&r->io);
	r->io.loop = &r->loop;
}

static void run_fini(struct run *r)
{
	io_close(&r->io);
	loop_drain(&r->loop);
	dns_free(r->dns);
	loop_fini(&r->loop);
	pool_fini(&r->bufs);
	pipe_pool_fini(&r->pipes);
}

static void make_hop(struct hop *h, const char *url)
{
	char err[256];

	CHECK_EQ_INT(hop_parse(url, h, err, sizeof(err)), 0);
}

/* Bad -F URLs: each error names the part that is wrong. */
static void test_hop_errors(void)
{
	static const struct {
		const char *url, *msg;
	} cases[] = {
		{ "http://x", "-F 'http://x': proxy address 'x': missing port" },
		{ "http://x:", "-F 'http://x:': proxy address 'x:': missing port" },
		{ "http://:80", "-F 'http://:80': proxy address ':80': empty host" },
		{ "socks5://[::1]", "-F 'socks5://[::1]': proxy address '[::1]': missing port" },
		{ "socks5://h:0", "-F 'socks5://h:0': proxy address 'h:0': port must be a number from 1 to 65535" },
		{ "socks5://u:p@", "-F 'socks5://u:p@': proxy address '': empty address" },
		{ "socks5://:p@h:1", "-F 'socks5://:p@h:1': credentials must be user:password@" },
		{ "ftp://h:1", "-F 'ftp://h:1': unknown scheme 'ftp' (expected socks5, socks4a, http or tunnel)" },
	};
	char err[256];
	struct hop h;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		CHECK_EQ_INT(hop_parse(cases[i].url, &h, err, sizeof(err)), -1);
		CHECK_STR(err, cases[i].msg);
	}
}

/* Run one UDP ASSOCIATE through hops (hop 0 is rewritten to the server's port). */
static void run_case(struct run *r, struct server *sv, struct hop *hops, size_t nhops,
		     uint16_t announce)
{
	struct chain *c;

	hops[0].port = sv->port;
	run_init(r);
	c = chain_start_udp(&r->loop, r->dns, &r->io, hops, nhops, announce, 2000, 250,
			    on_udp, r);
	CHECK(c != NULL);
	CHECK_EQ_INT(r->calls, 0);	/* never from inside chain_start_udp */
	loop_run(&r->loop);
	CHECK_EQ_INT(r->calls, 1);
	run_fini(r);			/* closes the control connection: the server ends */
	server_join(sv);
}

#define S(x) x, sizeof(x) - 1

static const char udp_req_1234[] = "\x05\x03\x00\x01\x00\x00\x00\x00\x12\x34";

static void check_relay(const struct run *r, const char *want)
{
	char buf[ADDR_STRLEN];

	CHECK_EQ_INT(r->err, 0);
	CHECK_STR(addr_format(&r->relay, buf, sizeof(buf)), want);
}

/* No auth; BND 0.0.0.0: the relay is where we reached the hop. */
static void test_wildcard_one_hop(void)
{
	static const struct step st[] = {
		{ 3, S("\x05\x00") },
		{ 10, S("\x05\x00\x00\x01\x00\x00\x00\x00\x15\xb3") },	/* 0.0.0.0:5555 */
	};
	struct server sv;
	struct run r;
	struct hop h;

	make_hop(&h, "socks5://127.0.0.1:1");
	server_start(&sv, st, 2);
	run_case(&r, &sv, &h, 1, 0x1234);
	check_relay(&r, "127.0.0.1:5555");
	CHECK_EQ_INT(sv.rx_len, 13);
	CHECK(memcmp(sv.rx, "\x05\x01\x00", 3) == 0);
	CHECK(memcmp(sv.rx + 3, udp_req_1234, 10) == 0);
	hop_fini(&h);
}

/* A literal BND; and credentials (RFC 1929) first. */
static void test_literal_with_auth(void)
{
	static const struct step st[] = {
		{ 4, S("\x05\x02") },
		{ 6, S("\x01\x00") },
		{ 10, S("\x05\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1b\x58") },
	};
	struct server sv;
	struct run r;
	struct hop h;

	make_hop(&h, "socks5://u:pw@127.0.0.1:1");
	server_start(&sv, st, 3);
	run_case(&r, &sv, &h, 1, 0x1234);
	check_relay(&r, "[::1]:7000");
	CHECK_EQ_INT(sv.rx_len, 20);
	CHECK(memcmp(sv.rx, "\x05\x02\x00\x02", 4) == 0);
	CHECK(memcmp(sv.rx + 4, "\x01\x01u\x02pw", 6) == 0);
	CHECK(memcmp(sv.rx + 10, udp_req_1234, 10) == 0);
	hop_fini(&h);
}

/* BND as a domain: a literal in it is taken; a real name is not. */
static void test_domain_bnd(void)
{
	static const struct step lit[] = {
		{ 3, S("\x05\x00") },
		{ 10, S("\x05\x00\x00\x03\x08" "10.1.2.3" "\x00\x50") },
	};
	static const struct step name[] = {
		{ 3, S("\x05\x00") },
		{ 10, S("\x05\x00\x00\x03\x0d" "relay.example" "\x00\x50") },
	};
	struct server sv;
	struct run r;
	struct hop h;

	make_hop(&h, "socks5://127.0.0.1:1");
	server_start(&sv, lit, 2);
	run_case(&r, &sv, &h, 1, 0);
	check_relay(&r, "10.1.2.3:80");
	server_start(&sv, name, 2);
	run_case(&r, &sv, &h, 1, 0);
	CHECK_EQ_INT(r.err, -EADDRNOTAVAIL);
	hop_fini(&h);
}

/* Refusals: 0x07, bad credentials, port 0, not SOCKS5 at all. */
static void test_refusals(void)
{
	static const struct step notsup[] = {
		{ 3, S("\x05\x00") },
		{ 10, S("\x05\x07\x00\x01\x00\x00\x00\x00\x00\x00") },
	};
	static const struct step badauth[] = {
		{ 4, S("\x05\x02") },
		{ 6, S("\x01\x01") },
	};
	static const struct step port0[] = {
		{ 3, S("\x05\x00") },
		{ 10, S("\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x00") },
	};
	static const struct step garbage[] = {
		{ 3, S("HTTP/1.1 400 Bad\r\n\r\n") },
	};
	struct server sv;
	struct run r;
	struct hop h, ha;

	make_hop(&h, "socks5://127.0.0.1:1");
	make_hop(&ha, "socks5://u:pw@127.0.0.1:1");
	server_start(&sv, notsup, 2);
	run_case(&r, &sv, &h, 1, 0);
	CHECK_EQ_INT(r.err, -EOPNOTSUPP);
	CHECK_EQ_INT(r.where, 1);
	server_start(&sv, badauth, 2);
	run_case(&r, &sv, &ha, 1, 0);
	CHECK_EQ_INT(r.err, -EACCES);
	server_start(&sv, port0, 2);
	run_case(&r, &sv, &h, 1, 0);
	CHECK_EQ_INT(r.err, -EADDRNOTAVAIL);
	server_start(&sv, garbage, 1);
	run_case(&r, &sv, &h, 1, 0);
	CHECK_EQ_INT(r.err, -EPROTO);
	hop_fini(&h);
	hop_fini(&ha);
}

/*
 * Two hops, one server playing both: CONNECT to the second hop, then the
 * second's UDP ASSOCIATE. A wildcard BND is the second hop's literal host;
 * a second hop known by name cannot be placed.
 */
static void test_two_hops(void)
{
	static const struct step lit[] = {
		{ 3, S("\x05\x00") },
		{ 10, S("\x05\x00\x00\x01\x7f\x00\x00\x01\x30\x39") },	/* CONNECT ok */
		{ 3, S("\x05\x00") },
		{ 10, S("\x05\x00\x00\x01\x00\x00\x00\x00\x23\x28") },	/* 0.0.0.0:9000 */
	};
	static const struct step name[] = {
		{ 3, S("\x05\x00") },
		{ 17, S("\x05\x00\x00\x01\x7f\x00\x00\x01\x30\x39") },
		{ 3, S("\x05\x00") },
		{ 10, S("\x05\x00\x00\x01\x00\x00\x00\x00\x23\x28") },
	};
	struct server sv;
	struct run r;
	struct hop h[2];

	make_hop(&h[0], "socks5://127.0.0.1:1");
	make_hop(&h[1], "socks5://127.0.0.5:1080");
	server_start(&sv, lit, 4);
	run_case(&r, &sv, h, 2, 0x1234);
	check_relay(&r, "127.0.0.5:9000");
	CHECK_EQ_INT(sv.rx_len, 26);
	CHECK(memcmp(sv.rx + 3, "\x05\x01\x00\x01\x7f\x00\x00\x05\x04\x38", 10) == 0);
	CHECK(memcmp(sv.rx + 16, udp_req_1234, 10) == 0);
	hop_fini(&h[1]);

	make_hop(&h[1], "socks5://relay.host:1080");
	server_start(&sv, name, 4);
	run_case(&r, &sv, h, 2, 0x1234);
	CHECK_EQ_INT(r.err, -EADDRNOTAVAIL);
	CHECK_EQ_INT(r.where, 2);
	CHECK(memcmp(sv.rx + 3, "\x05\x01\x00\x03\x0arelay.host\x04\x38", 17) == 0);
	hop_fini(&h[0]);
	hop_fini(&h[1]);
}

/* A last hop that is not SOCKS5: refused after the dial, nothing sent. */
static void test_http_last_hop(void)
{
	struct server sv;
	struct run r;
	struct hop h;

	make_hop(&h, "http://127.0.0.1:1");
	server_start(&sv, NULL, 0);
	run_case(&r, &sv, &h, 1, 0);
	CHECK_EQ_INT(r.err, -EOPNOTSUPP);
	CHECK_EQ_INT(sv.rx_len, 0);
	hop_fini(&h);
}

static void test_can_udp(void)
{
	static const struct {
		const char *urls[3];
		size_t n;
		bool want;
	} cases[] = {
		{ { "socks5://a:1" }, 1, true },
		{ { "socks5://u:p@a:1" }, 1, true },
		{ { "http://a:1" }, 1, false },
		{ { "socks4a://a:1" }, 1, false },
		{ { "tunnel://a:1" }, 1, false },
		{ { "http://a:1", "socks5://b:1" }, 2, true },
		{ { "socks4a://a:1", "http://b:1", "socks5://c:1" }, 3, true },
		{ { "socks5://a:1", "http://b:1" }, 2, false },
		{ { "socks5://a:1", "socks4a://b:1" }, 2, false },
		{ { NULL }, 0, false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct hop h[3];

		for (size_t k = 0; k < cases[i].n; k++)
			make_hop(&h[k], cases[i].urls[k]);
		CHECK_EQ_INT(chain_can_udp(h, cases[i].n), cases[i].want);
		for (size_t k = 0; k < cases[i].n; k++)
			hop_fini(&h[k]);
	}
}

int main(void)
{
	if (dns_global_init() < 0)
		return 1;
	RUN(test_can_udp);
	RUN(test_hop_errors);
	RUN(test_wildcard_one_hop);
	RUN(test_literal_with_auth);
	RUN(test_domain_bnd);
	RUN(test_refusals);
	RUN(test_two_hops);
	RUN(test_http_last_hop);
	dns_global_fini();
	return unit_done();
}
