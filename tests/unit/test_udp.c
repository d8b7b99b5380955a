/* The address helpers of src/app/udp.c: IPv4-mapped IPv6 and plain IPv4 are one client. */
#include "unit.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "app/udp.h"
#include "core/util.h"

static union sockaddr_any mk(const char *ip, uint16_t port)
{
	union sockaddr_any a;

	memset(&a, 0, sizeof(a));
	CHECK(addr_from_literal(ip, port, &a));
	return a;
}

static void test_map_unmap(void)
{
	union sockaddr_any v4 = mk("127.0.0.1", 53), m, u, v6 = mk("2001:db8::2", 51820);
	char buf[ADDR_STRLEN];

	udp_addr_map(&v4, &m);
	CHECK_EQ_INT(m.sa.sa_family, AF_INET6);
	CHECK(IN6_IS_ADDR_V4MAPPED(&m.sin6.sin6_addr));
	CHECK(memcmp(m.sin6.sin6_addr.s6_addr + 12, "\x7f\0\0\x01", 4) == 0 && addr_port(&m) == 53);
	udp_addr_unmap(&m, &u);
	CHECK_EQ_INT(u.sa.sa_family, AF_INET);
	CHECK_STR(addr_format(&u, buf, sizeof(buf)), "127.0.0.1:53");
	/* IPv6 stays as it is both ways; in place works */
	udp_addr_map(&v6, &m);
	CHECK(memcmp(&m, &v6, sizeof(m)) == 0);
	udp_addr_unmap(&m, &m);
	CHECK(memcmp(&m, &v6, sizeof(m)) == 0);
	udp_addr_map(&v4, &v4);
	CHECK_EQ_INT(v4.sa.sa_family, AF_INET6);
}

static void test_eq(void)
{
	union sockaddr_any a = mk("10.0.0.1", 1000), b = mk("::ffff:10.0.0.1", 1000);
	union sockaddr_any c = mk("10.0.0.1", 1001), d = mk("10.0.0.2", 1000);
	union sockaddr_any e = mk("::1", 1000), f = mk("::1", 1000), g = mk("::2", 1000);

	CHECK(udp_addr_eq(&a, &b, true));
	CHECK(udp_addr_eq(&b, &a, true));
	CHECK(!udp_addr_eq(&a, &c, true));
	CHECK(udp_addr_eq(&a, &c, false));
	CHECK(!udp_addr_eq(&a, &d, false));
	CHECK(udp_addr_eq(&e, &f, true));
	CHECK(!udp_addr_eq(&e, &g, false));
	CHECK(!udp_addr_eq(&a, &e, false));
	memset(&g, 0, sizeof(g));
	CHECK(!udp_addr_eq(&g, &g, false));	/* no family: never a match */
}

/*
 * udp_send_flow() over loopback: whatever it groups into GSO sends, the
 * receiver sees exactly the datagrams given, in order, sizes intact.
 */
static void test_send_flow(void)
{
	static const size_t sizes[] = { 100, 100, 100, 50, 200, 1400, 1400, 1400, 1400, 7,
					0, 1401, 1401, 3000, 64, 64 };
	static struct udp_batch b;
	size_t n = ARRAY_SIZE(sizes);
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	uint8_t *data = malloc(n * 4096), got[4096];
	int rx = socket(AF_INET, SOCK_DGRAM, 0), tx = socket(AF_INET, SOCK_DGRAM, 0);

	CHECK(data && rx >= 0 && tx >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(bind(rx, (struct sockaddr *)&a, sizeof(a)) == 0);
	CHECK(getsockname(rx, (struct sockaddr *)&a, &al) == 0);
	CHECK(connect(tx, (struct sockaddr *)&a, sizeof(a)) == 0);
	for (size_t i = 0; i < n; i++) {
		memset(data + i * 4096, (int)(i + 1), sizes[i]);
		udp_out_set(&b, (unsigned int)i, data + i * 4096, sizes[i], NULL, NULL);
	}
	CHECK_EQ_INT(udp_send_flow(tx, &b, (unsigned int)n), 0);
	for (size_t i = 0; i < n; i++) {
		ssize_t r = recv(rx, got, sizeof(got), MSG_DONTWAIT);

		CHECK_EQ_INT(r, (ssize_t)sizes[i]);
		if (r > 0)
			CHECK(got[0] == (uint8_t)(i + 1) && got[r - 1] == (uint8_t)(i + 1));
	}
	CHECK_EQ_INT(recv(rx, got, sizeof(got), MSG_DONTWAIT), -1);
	close(rx);
	close(tx);
	free(data);
}

/*
 * A wildcard socket learns each datagram's local address (UDP_RX_LOCAL),
 * and replies sent with it (udp_out_set() + udp_send_flow(), GSO runs
 * among them) leave from that address, in order, whatever the route says.
 */
static void test_local(void)
{
	static struct udp_batch b;
	static const char *const to[] = { "127.0.0.2", "127.0.0.2", "127.0.0.2", "127.0.0.3",
					  "127.0.0.3", "127.0.0.1", "127.0.0.2", "127.0.0.2" };
	size_t n = ARRAY_SIZE(to);
	union sockaddr_any any = mk("0.0.0.0", 0), me;
	socklen_t al = sizeof(me);
	int rx = socket(AF_INET, SOCK_DGRAM, 0), tx = socket(AF_INET, SOCK_DGRAM, 0), got;

	b.buf = malloc((size_t)UDP_BATCH * UDP_SLOT);
	CHECK(b.buf && rx >= 0 && tx >= 0);
	CHECK(bind(rx, &any.sa, addr_len(&any)) == 0);
	CHECK(getsockname(rx, &me.sa, &al) == 0);
	CHECK_EQ_INT(udp_local_enable(rx), 1);
	for (size_t i = 0; i < n; i++) {
		union sockaddr_any d = mk(to[i], addr_port(&me));
		uint8_t msg[64];

		memset(msg, (int)(i + 1), sizeof(msg));
		CHECK(sendto(tx, msg, sizeof(msg), 0, &d.sa, addr_len(&d)) == sizeof(msg));
	}
	got = udp_recv_batch(rx, &b, UDP_RX_ADDR | UDP_RX_LOCAL);
	CHECK_EQ_INT(got, (int)n);
	for (int i = 0; i < got && i < (int)n; i++) {
		char s[INET_ADDRSTRLEN];

		CHECK_EQ_INT(b.in_local[i].family, AF_INET);
		CHECK_STR(inet_ntop(AF_INET, &b.in_local[i].v4, s, sizeof(s)), to[i]);
		udp_out_set(&b, (unsigned int)i, udp_slot(&b, (unsigned int)i), b.in[i].msg_len,
			    &b.in_addr[i], &b.in_local[i]);
	}
	CHECK_EQ_INT(udp_send_flow(rx, &b, (unsigned int)got), 0);
	for (size_t i = 0; i < n; i++) {
		union sockaddr_any from, want = mk(to[i], addr_port(&me));
		socklen_t fl = sizeof(from);
		uint8_t buf[128];
		ssize_t r = recvfrom(tx, buf, sizeof(buf), MSG_DONTWAIT, &from.sa, &fl);

		CHECK_EQ_INT(r, 64);
		CHECK(r > 0 && buf[0] == (uint8_t)(i + 1));
		CHECK(udp_addr_eq(&from, &want, true));
	}
	free(b.buf);
	close(rx);
	close(tx);
}

/*
 * A learnt source the kernel refuses (not ours any more: 192.0.2.77 here)
 * costs nothing but the PKTINFO: the datagrams go out from the route's
 * choice, GSO run and single alike, none dropped.
 */
static void test_local_refused(void)
{
	static struct udp_batch b;
	union sockaddr_any lo = mk("127.0.0.1", 0), me, from;
	socklen_t al = sizeof(me), fl;
	struct udp_local gone = { .family = AF_INET };
	uint8_t data[5][32], buf[64];
	int rx = socket(AF_INET, SOCK_DGRAM, 0), tx = socket(AF_INET, SOCK_DGRAM, 0);

	CHECK(rx >= 0 && tx >= 0);
	CHECK(inet_pton(AF_INET, "192.0.2.77", &gone.v4) == 1);
	CHECK(bind(rx, &lo.sa, addr_len(&lo)) == 0);
	CHECK(getsockname(rx, &me.sa, &al) == 0);
	CHECK_EQ_INT(udp_local_enable(rx), 0);	/* one address: nothing to learn */
	for (unsigned int i = 0; i < 5; i++) {
		memset(data[i], (int)(i + 1), sizeof(data[i]));
		/* 4 equal ones (one GSO run), then a shorter one on its own */
		udp_out_set(&b, i, data[i], i < 4 ? 32 : 16, &me, &gone);
	}
	CHECK_EQ_INT(udp_send_flow(tx, &b, 5), 0);
	for (unsigned int i = 0; i < 5; i++) {
		ssize_t r;

		fl = sizeof(from);
		r = recvfrom(rx, buf, sizeof(buf), MSG_DONTWAIT, &from.sa, &fl);
		CHECK_EQ_INT(r, i < 4 ? 32 : 16);
		CHECK(r > 0 && buf[0] == (uint8_t)(i + 1));
	}
	/* and the plain path */
	udp_out_set(&b, 0, data[0], 8, &me, &gone);
	CHECK_EQ_INT(udp_send_out(tx, &b, 1), 0);
	CHECK_EQ_INT(recv(rx, buf, sizeof(buf), MSG_DONTWAIT), 8);
	close(rx);
	close(tx);
}

/*
 * GRO runs in out[] (udp_out_seg): with GSO they go on as one send, with
 * GSO off (a worker that gave up on it) they are cut back into their
 * datagrams; never one glued datagram. Mixed with plain entries, order
 * holds; the count of dropped datagrams is 0.
 */
static void test_runs(void)
{
	static struct udp_batch b;
	static uint8_t run[10 * 300 + 120];
	uint8_t one[77], got[4096];
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	int rx = socket(AF_INET, SOCK_DGRAM, 0), tx = socket(AF_INET, SOCK_DGRAM, 0);

	CHECK(rx >= 0 && tx >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(bind(rx, (struct sockaddr *)&a, sizeof(a)) == 0);
	CHECK(getsockname(rx, (struct sockaddr *)&a, &al) == 0);
	CHECK(connect(tx, (struct sockaddr *)&a, sizeof(a)) == 0);
	for (size_t i = 0; i < sizeof(run); i++)
		run[i] = (uint8_t)(i / 300 + 1);	/* datagram j holds j + 1 */
	memset(one, 0xee, sizeof(one));
	for (unsigned int gso_off = 0; gso_off < 2; gso_off++) {
		b.gso_failures = gso_off ? 1000 : 0;
		udp_out_set(&b, 0, one, sizeof(one), NULL, NULL);
		udp_out_set(&b, 1, run, sizeof(run), NULL, NULL);
		udp_out_seg(&b, 1, 300);
		udp_out_set(&b, 2, one, sizeof(one), NULL, NULL);
		CHECK_EQ_INT(b.out_seg[0], 0);
		CHECK_EQ_INT(b.out_seg[1], 300);
		CHECK_EQ_INT(udp_send_flow(tx, &b, 3), 0);
		CHECK_EQ_INT(recv(rx, got, sizeof(got), MSG_DONTWAIT), (ssize_t)sizeof(one));
		for (unsigned int j = 0; j < 11; j++) {
			ssize_t r = recv(rx, got, sizeof(got), MSG_DONTWAIT);

			CHECK_EQ_INT(r, j < 10 ? 300 : 120);
			CHECK(r > 0 && got[0] == (uint8_t)(j + 1) && got[r - 1] == (uint8_t)(j + 1));
		}
		CHECK_EQ_INT(recv(rx, got, sizeof(got), MSG_DONTWAIT), (ssize_t)sizeof(one));
		CHECK_EQ_INT(recv(rx, got, sizeof(got), MSG_DONTWAIT), -1);
		/* alone, too */
		udp_out_set(&b, 0, run, sizeof(run), NULL, NULL);
		udp_out_seg(&b, 0, 300);
		CHECK_EQ_INT(udp_send_flow(tx, &b, 1), 0);
		for (unsigned int j = 0; j < 11; j++)
			CHECK_EQ_INT(recv(rx, got, sizeof(got), MSG_DONTWAIT), j < 10 ? 300 : 120);
	}
	/* a segment size that is not below the length: one datagram */
	udp_out_set(&b, 0, one, sizeof(one), NULL, NULL);
	udp_out_seg(&b, 0, sizeof(one));
	CHECK_EQ_INT(b.out_seg[0], 0);
	close(rx);
	close(tx);
}

int main(void)
{
	RUN(test_map_unmap);
	RUN(test_eq);
	RUN(test_send_flow);
	RUN(test_local);
	RUN(test_local_refused);
	RUN(test_runs);
	return unit_done();
}
