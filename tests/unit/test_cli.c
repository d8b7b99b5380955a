/* Address, URL and option parsing: the table of what users type. */
#include <stdarg.h>
#include <stdlib.h>

#include "app/cli.h"
#include "core/addr.h"
#include "core/util.h"
#include "unit.h"

static void test_addr_split(void)
{
	static const struct {
		const char *in, *host;
		int port;	/* -1: must fail */
	} cases[] = {
		{ "127.0.0.1:80", "127.0.0.1", 80 },
		{ "[::1]:8080", "::1", 8080 },
		{ "[::]:1", "::", 1 },
		{ ":8080", "", 8080 },
		{ "example.com:65535", "example.com", 65535 },
		{ "host:0", NULL, -1 },
		{ "host:65536", NULL, -1 },
		{ "host:70000", NULL, -1 },
		{ "host:", NULL, -1 },
		{ "host", NULL, -1 },
		{ "::1:80", NULL, -1 },
		{ "[::1]80", NULL, -1 },
		{ "[::1", NULL, -1 },
		{ "[]:80", NULL, -1 },
		{ "host:8x", NULL, -1 },
		{ "host:-1", NULL, -1 },
		{ "host:+80", NULL, -1 },
		{ "ho st:80", NULL, -1 },
		{ "", NULL, -1 },
	};
	char host[HOST_MAX + 1];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *why = NULL;
		uint16_t port = 0;
		int rc = addr_split(cases[i].in, strlen(cases[i].in), host, &port, &why);

		if (cases[i].port < 0) {
			CHECK(rc < 0 && why != NULL);
		} else {
			CHECK_EQ_INT(rc, 0);
			CHECK_STR(host, cases[i].host);
			CHECK_EQ_INT(port, cases[i].port);
		}
	}
}

static void test_addr_format(void)
{
	union sockaddr_any a;
	char buf[ADDR_STRLEN];

	CHECK(addr_from_literal("10.1.2.3", 443, &a));
	CHECK_STR(addr_format(&a, buf, sizeof(buf)), "10.1.2.3:443");
	CHECK(addr_from_literal("2001:db8::1", 80, &a));
	CHECK_STR(addr_format(&a, buf, sizeof(buf)), "[2001:db8::1]:80");
	CHECK(addr_from_literal("::ffff:127.0.0.1", 22, &a));
	CHECK_STR(addr_format(&a, buf, sizeof(buf)), "127.0.0.1:22");
	CHECK(!addr_from_literal("localhost", 1, &a));
	CHECK(!addr_from_literal("1.2.3", 1, &a));
}

static void test_private(void)
{
	static const struct {
		const char *ip;
		bool private, loopback;
	} cases[] = {
		{ "127.0.0.1", true, true }, { "127.255.0.9", true, true },
		{ "10.1.2.3", true, false }, { "172.16.0.1", true, false },
		{ "172.31.255.255", true, false }, { "172.32.0.1", false, false },
		{ "192.168.1.1", true, false }, { "169.254.169.254", true, false },
		{ "100.64.0.1", true, false }, { "100.128.0.1", false, false },
		{ "198.18.0.1", true, false }, { "198.20.0.1", false, false },
		{ "0.0.0.0", true, false }, { "224.0.0.1", true, false },
		{ "255.255.255.255", true, false }, { "8.8.8.8", false, false },
		{ "1.1.1.1", false, false }, { "::1", true, true }, { "::", true, false },
		{ "fd00::1", true, false }, { "fe80::1", true, false }, { "ff02::1", true, false },
		{ "::ffff:127.0.0.1", true, true }, { "::ffff:10.0.0.1", true, false },
		{ "::ffff:8.8.8.8", false, false }, { "2001:4860:4860::8888", false, false },
	};
	union sockaddr_any a;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		CHECK(addr_from_literal(cases[i].ip, 80, &a));
		if (addr_is_private(&a) != cases[i].private)
			fprintf(stderr, "private(%s) wrong\n", cases[i].ip);
		CHECK(addr_is_private(&a) == cases[i].private);
		CHECK(addr_is_loopback(&a) == cases[i].loopback);
	}
}

static void test_url(void)
{
	struct listener_cfg l;
	char err[256];

	CHECK_EQ_INT(listen_url_parse("tcp://[::]:8080/127.0.0.1:80", &l, err, sizeof(err)), 0);
	CHECK_STR(l.bind_host, "::");
	CHECK_EQ_INT(l.bind_port, 8080);
	CHECK_STR(l.target_host, "127.0.0.1");
	CHECK(l.target_is_addr);
	free(l.url);

	CHECK_EQ_INT(listen_url_parse("tcp://127.0.0.1:2222/db.internal:5432", &l, err, sizeof(err)), 0);
	CHECK(!l.target_is_addr);
	CHECK_STR(l.target_host, "db.internal");
	free(l.url);

	CHECK_EQ_INT(listen_url_parse("tcp://:1/[::1]:22", &l, err, sizeof(err)), 0);
	CHECK_STR(l.bind_host, "");
	CHECK(l.target_is_addr);
	free(l.url);

	CHECK(listen_url_parse("udp2://x:1/y:2", &l, err, sizeof(err)) < 0);
	CHECK(strstr(err, "unknown scheme 'udp2'") != NULL);
	CHECK(listen_url_parse("127.0.0.1:80", &l, err, sizeof(err)) < 0);
	CHECK(strstr(err, "SCHEME://") != NULL);
	CHECK(listen_url_parse("tcp://127.0.0.1:80", &l, err, sizeof(err)) < 0);
	CHECK(strstr(err, "missing target") != NULL);
	CHECK(listen_url_parse("tcp://127.0.0.1/1.2.3.4:80", &l, err, sizeof(err)) < 0);
	CHECK(strstr(err, "missing port") != NULL);
	CHECK(listen_url_parse("tcp://127.0.0.1:0/1.2.3.4:80", &l, err, sizeof(err)) < 0);
	CHECK(strstr(err, "1 to 65535") != NULL);
	CHECK(listen_url_parse("tcp://127.0.0.1:80/1.2.3.4:99999", &l, err, sizeof(err)) < 0);
	CHECK(strstr(err, "target") != NULL);
	CHECK(listen_url_parse("tcp://127.0.0.1:80/:80", &l, err, sizeof(err)) < 0);
	CHECK(strstr(err, "empty host") != NULL);
}

static void test_durations_sizes(void)
{
	uint32_t ms;
	size_t b;

	CHECK(duration_parse("10", &ms) == 0 && ms == 10000);
	CHECK(duration_parse("0.5", &ms) == 0 && ms == 500);
	CHECK(duration_parse("250ms", &ms) == 0 && ms == 250);
	CHECK(duration_parse("2m", &ms) == 0 && ms == 120000);
	CHECK(duration_parse("1h", &ms) == 0 && ms == 3600000);
	CHECK(duration_parse("0", &ms) == 0 && ms == 0);
	CHECK(duration_parse("-1", &ms) < 0);
	CHECK(duration_parse("abc", &ms) < 0);
	CHECK(duration_parse("10x", &ms) < 0);
	CHECK(duration_parse("", &ms) < 0);
	CHECK(duration_parse("nan", &ms) < 0);
	CHECK(duration_parse("1e12", &ms) < 0);
	CHECK(size_parse("65536", &b) == 0 && b == 65536);
	CHECK(size_parse("64k", &b) == 0 && b == 65536);
	CHECK(size_parse("1m", &b) == 0 && b == 1048576);
	CHECK(size_parse("1g", &b) < 0);
	CHECK(size_parse("-5", &b) < 0);
	CHECK(size_parse("", &b) < 0);
}

static enum cli_action parse(struct config *c, char *err, size_t len, int argc, ...)
{
	char *argv[16];
	va_list ap;

	va_start(ap, argc);
	for (int i = 0; i < argc; i++)
		argv[i] = va_arg(ap, char *);
	va_end(ap);
	argv[argc] = NULL;
	return cli_parse(argc, argv, c, err, len);
}

static void test_cli(void)
{
	struct config c;
	char err[512];

	CHECK_EQ_INT(parse(&c, err, sizeof(err), 7, "sluice", "-L", "tcp://:1/h:2", "-w", "3",
			   "--idle-timeout", "30s"), CLI_RUN);
	CHECK_EQ_INT(c.nlisteners, 1);
	CHECK_EQ_INT(c.workers, 3);
	CHECK_EQ_INT(c.idle_timeout_ms, 30000);
	CHECK_EQ_INT(c.connect_timeout_ms, 10000);
	CHECK_EQ_INT(c.grace_ms, 5000);
	config_fini(&c);

	CHECK_EQ_INT(parse(&c, err, sizeof(err), 5, "sluice", "-L", "tcp://:1/h:2", "-L",
			   "tcp://:3/[::1]:4"), CLI_RUN);
	CHECK_EQ_INT(c.nlisteners, 2);
	config_fini(&c);

	CHECK_EQ_INT(parse(&c, err, sizeof(err), 1, "sluice"), CLI_RUN);
	CHECK_EQ_INT(c.nlisteners, 1);
	CHECK_STR(c.listeners[0].url, "proxy://127.0.0.1:1080");
	CHECK_EQ_INT(c.listeners[0].scheme, SCHEME_PROXY);
	config_fini(&c);
	CHECK_EQ_INT(parse(&c, err, sizeof(err), 2, "sluice", "--bogus"), CLI_ERROR);
	CHECK(strstr(err, "unknown option --bogus") != NULL);
	config_fini(&c);
	CHECK_EQ_INT(parse(&c, err, sizeof(err), 4, "sluice", "-L", "tcp://:1/h:2", "-w"), CLI_ERROR);
	CHECK(strstr(err, "needs a value") != NULL);
	config_fini(&c);
	CHECK_EQ_INT(parse(&c, err, sizeof(err), 5, "sluice", "-L", "tcp://:1/h:2", "-w", "0"), CLI_ERROR);
	CHECK(strstr(err, "--workers '0'") != NULL);
	config_fini(&c);
	CHECK_EQ_INT(parse(&c, err, sizeof(err), 5, "sluice", "-L", "tcp://:1/h:2", "--log-level", "loud"), CLI_ERROR);
	CHECK(strstr(err, "--log-level 'loud'") != NULL);
	config_fini(&c);
	CHECK_EQ_INT(parse(&c, err, sizeof(err), 5, "sluice", "-L", "tcp://:1/h:2", "--connect-timeout", "0"), CLI_ERROR);
	config_fini(&c);
	CHECK_EQ_INT(parse(&c, err, sizeof(err), 4, "sluice", "-L", "tcp://:1/h:2", "extra"), CLI_ERROR);
	CHECK(strstr(err, "unexpected argument 'extra'") != NULL);
	config_fini(&c);
	CHECK_EQ_INT(parse(&c, err, sizeof(err), 9, "sluice", "-L", "tcp://:1/h:2", "--dns-server",
			   "127.0.0.1:5353", "--dns-server", "[::1]", "--dns-server", "10.0.0.1"), CLI_RUN);
	CHECK_STR(c.dns_servers, "127.0.0.1:5353,[::1]:53,10.0.0.1:53");
	config_fini(&c);
	CHECK_EQ_INT(parse(&c, err, sizeof(err), 5, "sluice", "-L", "tcp://:1/h:2", "--dns-server",
			   "dns.example"), CLI_ERROR);
	CHECK(strstr(err, "--dns-server 'dns.example'") != NULL);
	config_fini(&c);
	CHECK_EQ_INT(parse(&c, err, sizeof(err), 5, "sluice", "-L", "tcp://:1/h:2", "--dns-cache-size",
			   "0"), CLI_ERROR);
	config_fini(&c);
	CHECK_EQ_INT(parse(&c, err, sizeof(err), 2, "sluice", "--help"), CLI_HELP);
	config_fini(&c);
	CHECK_EQ_INT(parse(&c, err, sizeof(err), 2, "sluice", "-V"), CLI_VERSION);
	config_fini(&c);
}

/* udp:// and the --udp-* options, in one block. */
static void test_udp_cli(void)
{
	struct listener_cfg l;
	struct config c;
	char err[512];

	CHECK_EQ_INT(listen_url_parse("udp://[::]:5353/127.0.0.1:53", &l, err, sizeof(err)), 0);
	CHECK_EQ_INT(l.scheme, SCHEME_UDP);
	CHECK_EQ_INT(l.bind_port, 5353);
	CHECK(l.target_is_addr && l.target_port == 53);
	free(l.url);
	CHECK_EQ_INT(listen_url_parse("udp://0.0.0.0:51820/[2001:db8::2]:51820", &l, err,
				      sizeof(err)), 0);
	CHECK(l.target_is_addr && l.target.sa.sa_family == AF_INET6);
	free(l.url);
	CHECK_EQ_INT(listen_url_parse("udp://:53/dns.example:53", &l, err, sizeof(err)), 0);
	CHECK(!l.target_is_addr);
	CHECK_STR(l.target_host, "dns.example");
	free(l.url);
	CHECK(listen_url_parse("udp://127.0.0.1:53", &l, err, sizeof(err)) < 0);
	CHECK(strstr(err, "udp://BIND_HOST:PORT/TARGET_HOST:PORT") != NULL);
	CHECK(listen_url_parse("udp://127.0.0.1:53/:53", &l, err, sizeof(err)) < 0);

	CHECK_EQ_INT(parse(&c, err, sizeof(err), 3, "sluice", "-L", "udp://:1/h:2"), CLI_RUN);
	CHECK_EQ_INT(c.udp_timeout_ms, 60000);
	CHECK_EQ_INT(c.udp_max_sessions, 16384);
	CHECK_EQ_INT(c.udp_advertise.sa.sa_family, 0);
	CHECK(!c.listeners[0].need_auth);
	config_fini(&c);
	CHECK_EQ_INT(parse(&c, err, sizeof(err), 9, "sluice", "-L", "udp://:1/h:2", "--udp-timeout",
			   "120", "--udp-max-sessions", "3", "--udp-advertise", "[2001:db8::1]"),
		     CLI_RUN);
	CHECK_EQ_INT(c.udp_timeout_ms, 120000);
	CHECK_EQ_INT(c.udp_max_sessions, 3);
	CHECK_EQ_INT(c.udp_advertise.sa.sa_family, AF_INET6);
	config_fini(&c);
	CHECK_EQ_INT(parse(&c, err, sizeof(err), 5, "sluice", "-L", "udp://:1/h:2", "--udp-advertise",
			   "203.0.113.7"), CLI_RUN);
	CHECK_EQ_INT(c.udp_advertise.sa.sa_family, AF_INET);
	config_fini(&c);
	CHECK_EQ_INT(parse(&c, err, sizeof(err), 5, "sluice", "-L", "udp://:1/h:2", "--udp-timeout",
			   "0"), CLI_ERROR);
	CHECK(strstr(err, "--udp-timeout '0'") != NULL);
	config_fini(&c);
	CHECK_EQ_INT(parse(&c, err, sizeof(err), 5, "sluice", "-L", "udp://:1/h:2",
			   "--udp-max-sessions", "0"), CLI_ERROR);
	CHECK(strstr(err, "--udp-max-sessions '0'") != NULL);
	config_fini(&c);
	CHECK_EQ_INT(parse(&c, err, sizeof(err), 5, "sluice", "-L", "udp://:1/h:2",
			   "--udp-advertise", "nat.example"), CLI_ERROR);
	CHECK(strstr(err, "--udp-advertise 'nat.example'") != NULL);
	config_fini(&c);
}

/* tunnel:// listeners and -F tunnel:// (the key file itself is read by main). */
static void test_tunnel_cli(void)
{
	struct config c;
	char err[512];

	CHECK_EQ_INT(parse(&c, err, sizeof(err), 5, "sluice", "-L", "tunnel://[::]:4000",
			   "--tunnel-key", "k"), CLI_RUN);
	CHECK_EQ_INT(c.listeners[0].scheme, SCHEME_TUNNEL);
	CHECK_EQ_INT(c.listeners[0].bind_port, 4000);
	CHECK_STR(c.listeners[0].target_host, "");
	CHECK_STR(c.tunnel_key_file, "k");
	CHECK(!c.listeners[0].need_auth);
	config_fini(&c);
	CHECK_EQ_INT(parse(&c, err, sizeof(err), 5, "sluice", "-L", "tunnel://:4000/127.0.0.1:22",
			   "--tunnel-key", "k"), CLI_RUN);
	CHECK_STR(c.listeners[0].target_host, "127.0.0.1");
	CHECK_EQ_INT(c.listeners[0].target_port, 22);
	CHECK(c.listeners[0].target_is_addr);
	config_fini(&c);
	CHECK_EQ_INT(parse(&c, err, sizeof(err), 3, "sluice", "-L", "tunnel://:4000"), CLI_ERROR);
	CHECK(strstr(err, "needs --tunnel-key") != NULL);
	config_fini(&c);
	CHECK_EQ_INT(parse(&c, err, sizeof(err), 7, "sluice", "-L", "socks5://127.0.0.1:1080", "-F",
			   "tunnel://server:4000", "--tunnel-key", "k"), CLI_RUN);
	CHECK_EQ_INT(c.nhops, 1);
	CHECK_EQ_INT(c.hops[0].kind, HOP_TUNNEL);
	CHECK_STR(c.hops[0].host, "server");
	CHECK_EQ_INT(c.hops[0].port, 4000);
	config_fini(&c);
	CHECK_EQ_INT(parse(&c, err, sizeof(err), 5, "sluice", "-L", "socks5://127.0.0.1:1080", "-F",
			   "tunnel://server:4000"), CLI_ERROR);
	CHECK(strstr(err, "'tunnel://server:4000' needs --tunnel-key") != NULL);
	config_fini(&c);
	CHECK_EQ_INT(parse(&c, err, sizeof(err), 9, "sluice", "-L", "socks5://127.0.0.1:1080", "-F",
			   "socks5://a:1", "-F", "tunnel://server:4000", "--tunnel-key", "k"), CLI_ERROR);
	CHECK(strstr(err, "must be the only -F hop") != NULL);
	config_fini(&c);
	CHECK_EQ_INT(parse(&c, err, sizeof(err), 7, "sluice", "-L", "socks5://127.0.0.1:1080", "-F",
			   "tunnel://u:p@server:4000", "--tunnel-key", "k"), CLI_ERROR);
	CHECK(strstr(err, "takes no credentials") != NULL);
	config_fini(&c);
	CHECK_EQ_INT(parse(&c, err, sizeof(err), 5, "sluice", "-L", "tunnel://:1", "--tunnel-key", "k"),
		     CLI_RUN);
	CHECK_EQ_INT(c.tunnel.padding, 0);	/* off by default */
	config_fini(&c);
	CHECK_EQ_INT(parse(&c, err, sizeof(err), 15, "sluice", "-L", "tunnel://:1", "--tunnel-key", "k",
			   "--tunnel-mtu", "1200", "--tunnel-window", "1m", "--tunnel-keepalive", "2s",
			   "--tunnel-timeout", "5s", "--tunnel-padding", "255"), CLI_RUN);
	CHECK_EQ_INT(c.tunnel.padding, 255);
	CHECK_EQ_INT(c.tunnel.mtu, 1200);
	CHECK_EQ_INT(c.tunnel.window, 1048576);
	CHECK_EQ_INT(c.tunnel.keepalive_ms, 2000);
	CHECK_EQ_INT(c.tunnel.timeout_ms, 5000);
	config_fini(&c);
	CHECK_EQ_INT(parse(&c, err, sizeof(err), 7, "sluice", "-L", "tunnel://:1", "--tunnel-key", "k",
			   "--tunnel-mtu", "9000"), CLI_ERROR);
	CHECK(strstr(err, "--tunnel-mtu '9000'") != NULL);
	config_fini(&c);
	CHECK_EQ_INT(parse(&c, err, sizeof(err), 7, "sluice", "-L", "tunnel://:1", "--tunnel-key", "k",
			   "--tunnel-padding", "256"), CLI_ERROR);
	CHECK(strstr(err, "--tunnel-padding '256'") != NULL);
	config_fini(&c);
	CHECK_EQ_INT(parse(&c, err, sizeof(err), 7, "sluice", "-L", "tunnel://:1", "--tunnel-key", "k",
			   "--tunnel-keepalive", "40s"), CLI_ERROR);
	CHECK(strstr(err, "shorter than --tunnel-timeout") != NULL);
	config_fini(&c);
}

int main(void)
{
	RUN(test_addr_split);
	RUN(test_addr_format);
	RUN(test_private);
	RUN(test_url);
	RUN(test_durations_sizes);
	RUN(test_cli);
	RUN(test_udp_cli);
	RUN(test_tunnel_cli);
	return unit_done();
}
