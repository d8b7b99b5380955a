/* The address helpers of src/app/udp.c: IPv4-mapped IPv6 and plain IPv4 are one client. */
#include "unit.h"

#include <arpa/inet.h>
#include <string.h>

#include "app/udp.h"

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

int main(void)
{
	RUN(test_map_unmap);
	RUN(test_eq);
	return unit_done();
}
