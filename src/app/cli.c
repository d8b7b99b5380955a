#include "app/cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "app/log.h"

const char *scheme_name(enum listen_scheme s)
{
	switch (s) {
	case SCHEME_TCP:
		return "tcp";
	case SCHEME_SOCKS5:
		return "socks5";
	case SCHEME_SOCKS4:
		return "socks4";
	case SCHEME_HTTP:
		return "http";
	case SCHEME_PROXY:
		return "proxy";
	case SCHEME_UDP:
		return "udp";
	case SCHEME_TUNNEL:
		return "tunnel";
	}
	return "?";
}

void config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	c->workers = 0;
	c->connect_timeout_ms = 10000;
	c->he_delay_ms = 250;
	c->handshake_timeout_ms = 10000;
	c->bind_timeout_ms = 60000;
	c->idle_timeout_ms = 0;
	c->grace_ms = 5000;
	c->log_level = LOG_INFO;
	c->buffer_size = 256 * 1024;
	c->relay = RELAY_CHOICE_AUTO;
	c->backlog = 4096;
	c->dns_cache_size = 1024;
	c->udp_timeout_ms = 60000;
	c->udp_max_sessions = 16384;
	tunnel_opts_default(&c->tunnel);
}

void config_fini(struct config *c)
{
	for (size_t i = 0; i < c->nlisteners; i++)
		free(c->listeners[i].url);
	free(c->listeners);
	c->listeners = NULL;
	free(c->dns_servers);
	c->dns_servers = NULL;
	for (size_t i = 0; i < c->nhops; i++)
		hop_fini(&c->hops[i]);
	free(c->hops);
	c->hops = NULL;
	c->nhops = 0;
	c->nlisteners = 0;
}

void cli_usage(FILE *out)
{
	fputs(
"Usage: sluice [OPTIONS] [-L URL ...]\n"
"       sluice passwd USER    print a hashed credential line for an auth file\n"
"       sluice genkey         print a new tunnel key (base64, 32 bytes) for --tunnel-key\n"
"\n"
"A fast event-driven network proxy. Each -L adds a listener; one process\n"
"serves them all. Without -L: " CLI_DEFAULT_LISTENER " (SOCKS5, SOCKS4 and\n"
"HTTP proxy on one local port).\n"
"\n"
"Listeners:\n"
"  -L, --listen URL          tcp://BIND_HOST:PORT/TARGET_HOST:PORT\n"
"                            forward every connection to the target.\n"
"                            udp://BIND_HOST:PORT/TARGET_HOST:PORT\n"
"                            forward datagrams: one session (own upstream\n"
"                            socket) per client address.\n"
"                            socks5://BIND_HOST:PORT\n"
"                            a SOCKS5 proxy (CONNECT and UDP ASSOCIATE;\n"
"                            username/password with --auth-file). With -F,\n"
"                            UDP ASSOCIATE goes through a socks5:// last -F hop\n"
"                            (its own UDP ASSOCIATE; its relay must be reachable\n"
"                            from here); 0x07 with http:// or tunnel:// hops.\n"
"                            socks4://BIND_HOST:PORT\n"
"                            a SOCKS4/4a proxy (CONNECT; SOCKS4 has no\n"
"                            passwords, so it is refused with --auth-file).\n"
"                            http://BIND_HOST:PORT\n"
"                            an HTTP/1.1 proxy: CONNECT tunnels and plain\n"
"                            http:// requests, keep-alive and pipelined\n"
"                            (Basic auth with --auth-file).\n"
"                            proxy://BIND_HOST:PORT\n"
"                            SOCKS5, SOCKS4/4a and HTTP on one port.\n"
"                            tunnel://BIND_HOST:PORT[/TARGET_HOST:PORT]\n"
"                            an encrypted reliable-UDP tunnel server (needs\n"
"                            --tunnel-key): dials what each stream asks for,\n"
"                            or always TARGET when given.\n"
"                            IPv6 literals in brackets ([::1]:80); an empty or\n"
"                            [::] bind host listens on all addresses (IPv4 and\n"
"                            IPv6). The target may be a host name: it is\n"
"                            resolved for each connection, every address tried.\n"
"\n"
"Chaining:\n"
"  -F, --forward URL         send every connection through this upstream proxy:\n"
"                            socks5://[USER:PASS@]HOST:PORT (names resolved by\n"
"                            the proxy), socks4a://[USER@]HOST:PORT or\n"
"                            http://[USER:PASS@]HOST:PORT (CONNECT). Repeat to\n"
"                            chain; the last hop dials the destination.\n"
"                            tunnel://HOST:PORT (with --tunnel-key) carries every\n"
"                            connection through a sluice tunnel:// server over\n"
"                            UDP; it must be the only -F."
"\n"
"Options:\n"
"  -w, --workers N           worker threads (default: number of CPUs)\n"
"      --connect-timeout T   time allowed to connect to each target address\n"
"                            (default 10s)\n"
"      --happy-eyeballs-delay T  when a name has several addresses, start the\n"
"                            next attempt after this long while earlier ones\n"
"                            are still pending; first to connect wins (250ms)\n"
"      --idle-timeout T      close connections idle this long (default 0 = never;\n"
"                            idle HTTP keep-alive connections: 30s then)\n"
"      --handshake-timeout T proxy clients must finish their request in this\n"
"                            long (default 10s)\n"
"      --bind-timeout T      SOCKS BIND: how long the proxy waits for the peer\n"
"                            to connect to the port it opened (default 60s)\n"
"      --auth-file PATH      require username/password on proxy listeners; one\n"
"                            user:password or user:$argon2id$... per line\n"
"                            (see sluice passwd)\n"
"      --allow-open          allow proxy listeners without --auth-file on\n"
"                            non-loopback addresses\n"
"      --allow-private       let proxy listeners on non-loopback addresses\n"
"                            reach loopback, private and link-local targets\n"
"                            (off by default: an SSRF guard)\n"
"      --grace T             on SIGINT/SIGTERM, let live connections finish for\n"
"                            this long, then close them (default 5s)\n"
"      --log-level LEVEL     error, warn, info or debug (default info)\n"
"      --log-file PATH       append the log here instead of stderr\n"
"                            (reopened on SIGHUP, for log rotation)\n"
"      --pid-file PATH       write the process id here; removed at exit\n"
"  -d, --daemon              run in the background once listening\n"
"      --buffer-size SIZE    relay buffer size (default 256k)\n"
"      --relay MODE          auto, buffer or splice (default auto: buffers for\n"
"                            the first 64 KiB each way, then splice; see bench/)\n"
"      --io-backend NAME     event loop: auto, epoll or uring (default auto =\n"
"                            io_uring when the kernel has it; see bench/)\n"
"      --dns-server ADDR     resolve names with this server (IP or IP:PORT,\n"
"                            IPv6 as [IP]:PORT; repeatable) instead of the\n"
"                            ones in /etc/resolv.conf\n"
"      --dns-cache-size N    names cached per worker, for their TTL (default 1024)\n"
"      --udp-timeout T       udp:// sessions (one per client address) expire\n"
"                            after this long without a datagram (default 60s)\n"
"      --udp-max-sessions N  udp:// sessions per listener; when full the least\n"
"                            recently active is evicted (default 16384)\n"
"      --udp-advertise ADDR  BND.ADDR sent to SOCKS5 UDP ASSOCIATE clients\n"
"                            (behind NAT); default: the address the client\n"
"                            reached us on\n"
"\n"
"Tunnel (tunnel:// listeners and -F tunnel://):\n"
"      --tunnel-key FILE     the shared key (32 random bytes, base64; make one\n"
"                            with: sluice genkey > FILE; keep it mode 600)\n"
"      --tunnel-mtu N        largest tunnel packet payload, 576..1400 (1400)\n"
"      --tunnel-padding N    add 0..N random bytes (0..255) to each data packet\n"
"                            this end sends, within the mtu: hides the sizes\n"
"                            of small packets (default 0: off)\n"
"      --tunnel-window SIZE  largest per-stream flow-control window; it grows\n"
"                            from 256k while the reader keeps up (default 16m)\n"
"      --tunnel-keepalive T  ping when the tunnel was quiet this long (10s)\n"
"      --tunnel-timeout T    the other end is dead after this long without\n"
"                            a packet (default 30s)\n"
"  -h, --help                show this help\n"
"  -V, --version             show the version\n"
"\n"
"Times take a unit: 500ms, 10s, 2m, 1h (a bare number is seconds).\n"
"Sizes take k or m.\n"
"\n"
"Examples:\n"
"  sluice -L tcp://[::]:8080/127.0.0.1:80\n"
"  sluice -L tcp://127.0.0.1:2222/db.internal:5432 -L tcp://127.0.0.1:2223/[::1]:22\n"
"  sluice -L udp://[::]:5353/127.0.0.1:53 --udp-timeout 120\n"
"  sluice -L tunnel://[::]:4000 --tunnel-key tunnel.key\n"
"  sluice -L socks5://127.0.0.1:1080 -F tunnel://server:4000 --tunnel-key tunnel.key\n"
"\n"
"Signals: SIGINT/SIGTERM stop gracefully (twice: at once), SIGHUP reopens the\n"
"log file. Exit status: 0 after a clean stop, 1 on a runtime failure, 2 on bad\n"
"arguments.\n", out);
}

static void seterr(char *err, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

int duration_parse(const char *s, uint32_t *ms)
{
	char *end;
	double v, mult = 1000;

	if (!*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !isfinite(v) || v < 0)
		return -1;
	if (strcmp(end, "ms") == 0)
		mult = 1;
	else if (strcmp(end, "s") == 0 || *end == '\0')
		mult = 1000;
	else if (strcmp(end, "m") == 0)
		mult = 60000;
	else if (strcmp(end, "h") == 0)
		mult = 3600000;
	else
		return -1;
	v *= mult;
	if (v > 30.0 * 24 * 3600 * 1000)	/* a month is plenty */
		return -1;
	*ms = (uint32_t)(v + 0.5);
	return 0;
}

int size_parse(const char *s, size_t *bytes)
{
	char *end;
	unsigned long long v;
	unsigned long long mult = 1;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	if (*end == 'k' || *end == 'K')
		mult = 1024, end++;
	else if (*end == 'm' || *end == 'M')
		mult = 1024 * 1024, end++;
	if (*end != '\0' || v > (1ULL << 40) / mult)
		return -1;
	*bytes = (size_t)(v * mult);
	return 0;
}

int listen_url_parse(const char *url, struct listener_cfg *l, char *err, size_t errlen)
{
	const char *sep = strstr(url, "://"), *rest, *slash;
	const char *why;
	size_t slen;

	memset(l, 0, sizeof(*l));
	if (!sep) {
		seterr(err, errlen, "-L '%s': expected SCHEME://... (e.g. tcp://127.0.0.1:8080/127.0.0.1:80)", url);
		return -1;
	}
	slen = (size_t)(sep - url);
	if (slen == 3 && strncmp(url, "tcp", 3) == 0) {
		l->scheme = SCHEME_TCP;
	} else if (slen == 6 && strncmp(url, "socks5", 6) == 0) {
		l->scheme = SCHEME_SOCKS5;
	} else if (slen == 6 && strncmp(url, "socks4", 6) == 0) {
		l->scheme = SCHEME_SOCKS4;
	} else if (slen == 4 && strncmp(url, "http", 4) == 0) {
		l->scheme = SCHEME_HTTP;
	} else if (slen == 5 && strncmp(url, "proxy", 5) == 0) {
		l->scheme = SCHEME_PROXY;
	} else if (slen == 3 && strncmp(url, "udp", 3) == 0) {
		l->scheme = SCHEME_UDP;
	} else if (slen == 6 && strncmp(url, "tunnel", 6) == 0) {
		l->scheme = SCHEME_TUNNEL;
	} else {
		seterr(err, errlen, "-L '%s': unknown scheme '%.*s' (expected tcp, udp, socks5, "
		       "socks4, http, proxy or tunnel)", url,
		       (int)(slen > 32 ? 32 : slen), url);
		return -1;
	}
	rest = sep + 3;
	slash = strchr(rest, '/');
	if (l->scheme == SCHEME_TUNNEL && slash && slash[1] != '\0')
		goto with_target;	/* a tunnel server with a forced target */
	if (l->scheme != SCHEME_TCP && l->scheme != SCHEME_UDP) { /* a proxy: clients say where to go */
		size_t n = slash ? (size_t)(slash - rest) : strlen(rest);

		if (slash && slash[1] != '\0') {
			seterr(err, errlen, "-L '%s': a %.*s listener takes no target", url,
			       (int)slen, url);
			return -1;
		}
		if (addr_split(rest, n, l->bind_host, &l->bind_port, &why) < 0) {
			seterr(err, errlen, "-L '%s': listen address '%.*s': %s", url, (int)n,
			       rest, why);
			return -1;
		}
		goto done;
	}
	if (!slash || slash[1] == '\0') {
		seterr(err, errlen, "-L '%s': missing target (%.*s://BIND_HOST:PORT/TARGET_HOST:PORT)",
		       url, (int)slen, url);
		return -1;
	}
with_target:
	if (addr_split(rest, (size_t)(slash - rest), l->bind_host, &l->bind_port, &why) < 0) {
		seterr(err, errlen, "-L '%s': listen address '%.*s': %s", url,
		       (int)(slash - rest), rest, why);
		return -1;
	}
	if (addr_split(slash + 1, strlen(slash + 1), l->target_host, &l->target_port, &why) < 0) {
		seterr(err, errlen, "-L '%s': target '%s': %s", url, slash + 1, why);
		return -1;
	}
	if (l->target_host[0] == '\0') {
		seterr(err, errlen, "-L '%s': target '%s': empty host", url, slash + 1);
		return -1;
	}
	l->target_is_addr = addr_from_literal(l->target_host, l->target_port, &l->target);
done:
	l->url = strdup(url);
	if (!l->url) {
		seterr(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

enum {
	OPT_CONNECT_TIMEOUT = 256,
	OPT_IDLE_TIMEOUT,
	OPT_GRACE,
	OPT_LOG_LEVEL,
	OPT_LOG_FILE,
	OPT_PID_FILE,
	OPT_BUFFER_SIZE,
	OPT_RELAY,
	OPT_IO_BACKEND,
	OPT_DNS_SERVER,
	OPT_HE_DELAY,
	OPT_HANDSHAKE_TIMEOUT,
	OPT_AUTH_FILE,
	OPT_ALLOW_OPEN,
	OPT_ALLOW_PRIVATE,
	OPT_DNS_CACHE_SIZE,
	OPT_BIND_TIMEOUT,
	OPT_UDP_TIMEOUT,
	OPT_UDP_MAX_SESSIONS,
	OPT_UDP_ADVERTISE,
	OPT_TUNNEL_KEY,
	OPT_TUNNEL_MTU,
	OPT_TUNNEL_PADDING,
	OPT_TUNNEL_WINDOW,
	OPT_TUNNEL_KEEPALIVE,
	OPT_TUNNEL_TIMEOUT,
};

static const struct option long_opts[] = {
	{ "listen", required_argument, NULL, 'L' },
	{ "forward", required_argument, NULL, 'F' },
	{ "workers", required_argument, NULL, 'w' },
	{ "connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT },
	{ "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT },
	{ "grace", required_argument, NULL, OPT_GRACE },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "log-file", required_argument, NULL, OPT_LOG_FILE },
	{ "pid-file", required_argument, NULL, OPT_PID_FILE },
	{ "daemon", no_argument, NULL, 'd' },
	{ "buffer-size", required_argument, NULL, OPT_BUFFER_SIZE },
	{ "relay", required_argument, NULL, OPT_RELAY },
	{ "io-backend", required_argument, NULL, OPT_IO_BACKEND },
	{ "dns-server", required_argument, NULL, OPT_DNS_SERVER },
	{ "happy-eyeballs-delay", required_argument, NULL, OPT_HE_DELAY },
	{ "handshake-timeout", required_argument, NULL, OPT_HANDSHAKE_TIMEOUT },
	{ "auth-file", required_argument, NULL, OPT_AUTH_FILE },
	{ "allow-open", no_argument, NULL, OPT_ALLOW_OPEN },
	{ "allow-private", no_argument, NULL, OPT_ALLOW_PRIVATE },
	{ "dns-cache-size", required_argument, NULL, OPT_DNS_CACHE_SIZE },
	{ "bind-timeout", required_argument, NULL, OPT_BIND_TIMEOUT },
	{ "udp-timeout", required_argument, NULL, OPT_UDP_TIMEOUT },
	{ "udp-max-sessions", required_argument, NULL, OPT_UDP_MAX_SESSIONS },
	{ "udp-advertise", required_argument, NULL, OPT_UDP_ADVERTISE },
	{ "tunnel-key", required_argument, NULL, OPT_TUNNEL_KEY },
	{ "tunnel-mtu", required_argument, NULL, OPT_TUNNEL_MTU },
	{ "tunnel-padding", required_argument, NULL, OPT_TUNNEL_PADDING },
	{ "tunnel-window", required_argument, NULL, OPT_TUNNEL_WINDOW },
	{ "tunnel-keepalive", required_argument, NULL, OPT_TUNNEL_KEEPALIVE },
	{ "tunnel-timeout", required_argument, NULL, OPT_TUNNEL_TIMEOUT },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static int add_hop(struct config *c, const char *url, char *err, size_t errlen)
{
	struct hop h, *grown;

	if (c->nhops == 8) {
		seterr(err, errlen, "-F '%s': at most 8 upstream proxies", url);
		return -1;
	}
	if (hop_parse(url, &h, err, errlen) < 0)
		return -1;
	grown = realloc(c->hops, (c->nhops + 1) * sizeof(*grown));
	if (!grown) {
		hop_fini(&h);
		seterr(err, errlen, "out of memory");
		return -1;
	}
	c->hops = grown;
	c->hops[c->nhops++] = h;
	return 0;
}

static int add_listener(struct config *c, const char *url, char *err, size_t errlen)
{
	struct listener_cfg l, *grown;

	if (listen_url_parse(url, &l, err, errlen) < 0)
		return -1;
	grown = realloc(c->listeners, (c->nlisteners + 1) * sizeof(*grown));
	if (!grown) {
		free(l.url);
		seterr(err, errlen, "out of memory");
		return -1;
	}
	c->listeners = grown;
	c->listeners[c->nlisteners++] = l;
	return 0;
}

/* A whole number in [min, max] for --name; 0, or -1 with err set. */
static int parse_number_opt(const char *name, const char *arg, long min, long max, long *out,
			    char *err, size_t errlen)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || *end || end == arg || v < min || v > max) {
		seterr(err, errlen, "--%s '%s': expected a number from %ld to %ld", name, arg, min,
		       max);
		return -1;
	}
	*out = v;
	return 0;
}

/* Append "IP:PORT" (validated, port 53 by default) to the c-ares server list. */
static int add_dns_server(struct config *c, const char *arg, char *err, size_t errlen)
{
	char host[HOST_MAX + 1], item[HOST_MAX + 16], *grown;
	union sockaddr_any a;
	uint16_t port = 53;
	const char *why;
	size_t old;

	if (addr_split(arg, strlen(arg), host, &port, &why) < 0) {
		/* Bare IP literal (no port), IPv6 possibly in brackets. */
		size_t n = strlen(arg);

		if (n > 2 && arg[0] == '[' && arg[n - 1] == ']' && n - 2 <= HOST_MAX) {
			memcpy(host, arg + 1, n - 2);
			host[n - 2] = '\0';
		} else if (n <= HOST_MAX) {
			memcpy(host, arg, n + 1);
		} else {
			host[0] = '\0';
		}
		port = 53;
	}
	if (!addr_from_literal(host, port, &a)) {
		seterr(err, errlen, "--dns-server '%s': expected an IP address, optionally with :PORT", arg);
		return -1;
	}
	addr_format(&a, item, sizeof(item));
	old = c->dns_servers ? strlen(c->dns_servers) : 0;
	grown = realloc(c->dns_servers, old + strlen(item) + 2);
	if (!grown) {
		seterr(err, errlen, "out of memory");
		return -1;
	}
	c->dns_servers = grown;
	if (old)
		grown[old++] = ',';
	strcpy(grown + old, item);
	return 0;
}

static int parse_duration_opt(const char *name, const char *arg, uint32_t *ms,
			      bool allow_zero, char *err, size_t errlen)
{
	if (duration_parse(arg, ms) < 0 || (!allow_zero && *ms == 0)) {
		seterr(err, errlen, "--%s '%s': expected a %stime such as 10s or 500ms",
		       name, arg, allow_zero ? "" : "non-zero ");
		return -1;
	}
	return 0;
}

/* The UDP options, in one place. */
static int udp_opt_parse(struct config *c, int opt, const char *arg, char *err, size_t errlen)
{
	long v;

	switch (opt) {
	case OPT_UDP_TIMEOUT:
		return parse_duration_opt("udp-timeout", arg, &c->udp_timeout_ms, false, err,
					  errlen);
	case OPT_UDP_MAX_SESSIONS:
		if (parse_number_opt("udp-max-sessions", arg, 1, 1000000, &v, err, errlen) < 0)
			return -1;
		c->udp_max_sessions = (uint32_t)v;
		return 0;
	default: {
		char host[HOST_MAX + 1];
		size_t n = strlen(arg);

		if (n > 2 && arg[0] == '[' && arg[n - 1] == ']' && n - 2 <= HOST_MAX) {
			memcpy(host, arg + 1, n - 2);
			host[n - 2] = '\0';
		} else if (n <= HOST_MAX) {
			memcpy(host, arg, n + 1);
		} else {
			host[0] = '\0';
		}
		if (!addr_from_literal(host, 0, &c->udp_advertise)) {
			seterr(err, errlen, "--udp-advertise '%s': expected an IP address", arg);
			return -1;
		}
		return 0;
	}
	}
}

/* -F tunnel:// stands alone; anything tunnel needs --tunnel-key. */
static int tunnel_check(const struct config *c, char *err, size_t errlen)
{
	const char *needs = NULL;

	for (size_t i = 0; i < c->nhops; i++) {
		if (c->hops[i].kind != HOP_TUNNEL)
			continue;
		if (c->nhops > 1) {
			seterr(err, errlen, "-F '%s': a tunnel must be the only -F hop (it carries "
			       "streams over UDP, which a proxy hop cannot relay)", c->hops[i].url);
			return -1;
		}
		needs = c->hops[i].url;
	}
	for (size_t i = 0; i < c->nlisteners && !needs; i++)
		if (c->listeners[i].scheme == SCHEME_TUNNEL)
			needs = c->listeners[i].url;
	if (needs && !c->tunnel_key_file) {
		seterr(err, errlen, "'%s' needs --tunnel-key FILE (make one with: sluice genkey > FILE)",
		       needs);
		return -1;
	}
	if (c->tunnel.keepalive_ms >= c->tunnel.timeout_ms) {
		seterr(err, errlen, "--tunnel-keepalive must be shorter than --tunnel-timeout");
		return -1;
	}
	return 0;
}

enum cli_action cli_parse(int argc, char **argv, struct config *c,
			  char *err, size_t errlen)
{
	int opt;

	config_defaults(c);
	optind = 0;		/* GNU: full reinitialisation, for repeated use */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":L:F:w:dhV", long_opts, NULL)) != -1) {
		switch (opt) {
		case 'L':
			if (add_listener(c, optarg, err, errlen) < 0)
				return CLI_ERROR;
			break;
		case 'F':
			if (add_hop(c, optarg, err, errlen) < 0)
				return CLI_ERROR;
			break;
		case 'w': {
			long v;

			if (parse_number_opt("workers", optarg, 1, 256, &v, err, errlen) < 0)
				return CLI_ERROR;
			c->workers = (unsigned int)v;
			break;
		}
		case OPT_CONNECT_TIMEOUT:
			if (parse_duration_opt("connect-timeout", optarg, &c->connect_timeout_ms,
					       false, err, errlen) < 0)
				return CLI_ERROR;
			break;
		case OPT_HANDSHAKE_TIMEOUT:
			if (parse_duration_opt("handshake-timeout", optarg, &c->handshake_timeout_ms,
					       false, err, errlen) < 0)
				return CLI_ERROR;
			break;
		case OPT_BIND_TIMEOUT:
			if (parse_duration_opt("bind-timeout", optarg, &c->bind_timeout_ms,
					       false, err, errlen) < 0)
				return CLI_ERROR;
			break;
		case OPT_AUTH_FILE:
			c->auth_file = optarg;
			break;
		case OPT_ALLOW_OPEN:
			c->allow_open = true;
			break;
		case OPT_ALLOW_PRIVATE:
			c->allow_private = true;
			break;
		case OPT_HE_DELAY:
			if (parse_duration_opt("happy-eyeballs-delay", optarg, &c->he_delay_ms,
					       false, err, errlen) < 0)
				return CLI_ERROR;
			break;
		case OPT_IDLE_TIMEOUT:
			if (parse_duration_opt("idle-timeout", optarg, &c->idle_timeout_ms,
					       true, err, errlen) < 0)
				return CLI_ERROR;
			break;
		case OPT_GRACE:
			if (parse_duration_opt("grace", optarg, &c->grace_ms, true, err, errlen) < 0)
				return CLI_ERROR;
			break;
		case OPT_LOG_LEVEL:
			c->log_level = log_level_parse(optarg);
			if (c->log_level < 0) {
				seterr(err, errlen, "--log-level '%s': expected error, warn, info or debug", optarg);
				return CLI_ERROR;
			}
			break;
		case OPT_LOG_FILE:
			c->log_file = optarg;
			break;
		case OPT_PID_FILE:
			c->pid_file = optarg;
			break;
		case 'd':
			c->daemon = true;
			break;
		case OPT_BUFFER_SIZE:
			if (size_parse(optarg, &c->buffer_size) < 0 ||
			    c->buffer_size < 4096 || c->buffer_size > 64 * 1024 * 1024) {
				seterr(err, errlen, "--buffer-size '%s': expected a size from 4k to 64m", optarg);
				return CLI_ERROR;
			}
			break;
		case OPT_RELAY:
			if (strcmp(optarg, "auto") == 0)
				c->relay = RELAY_CHOICE_AUTO;
			else if (strcmp(optarg, "buffer") == 0)
				c->relay = RELAY_CHOICE_BUFFER;
			else if (strcmp(optarg, "splice") == 0)
				c->relay = RELAY_CHOICE_SPLICE;
			else {
				seterr(err, errlen, "--relay '%s': expected auto, buffer or splice", optarg);
				return CLI_ERROR;
			}
			break;
		case OPT_IO_BACKEND:
			if (strcmp(optarg, "auto") == 0)
				c->io_backend = LOOP_BACKEND_AUTO;
			else if (strcmp(optarg, "epoll") == 0)
				c->io_backend = LOOP_BACKEND_EPOLL;
			else if (strcmp(optarg, "uring") == 0 || strcmp(optarg, "io_uring") == 0)
				c->io_backend = LOOP_BACKEND_URING;
			else {
				seterr(err, errlen, "--io-backend '%s': expected auto, epoll or uring",
				       optarg);
				return CLI_ERROR;
			}
			break;
		case OPT_DNS_SERVER:
			if (add_dns_server(c, optarg, err, errlen) < 0)
				return CLI_ERROR;
			break;
		case OPT_DNS_CACHE_SIZE: {
			long v;

			if (parse_number_opt("dns-cache-size", optarg, 1, 1000000, &v, err, errlen) < 0)
				return CLI_ERROR;
			c->dns_cache_size = (size_t)v;
			break;
		}
		case OPT_TUNNEL_KEY:
			c->tunnel_key_file = optarg;
			break;
		case OPT_TUNNEL_MTU: {
			long v;

			if (parse_number_opt("tunnel-mtu", optarg, 576, 1400, &v, err, errlen) < 0)
				return CLI_ERROR;
			c->tunnel.mtu = (uint32_t)v;
			break;
		}
		case OPT_TUNNEL_PADDING: {
			long v;

			if (parse_number_opt("tunnel-padding", optarg, 0, 255, &v, err, errlen) < 0)
				return CLI_ERROR;
			c->tunnel.padding = (uint32_t)v;
			break;
		}
		case OPT_TUNNEL_WINDOW: {
			size_t v;

			if (size_parse(optarg, &v) < 0 || v < 16384 || v > 64 * 1024 * 1024) {
				seterr(err, errlen, "--tunnel-window '%s': expected a size from 16k to 64m", optarg);
				return CLI_ERROR;
			}
			c->tunnel.window = (uint32_t)v;
			break;
		}
		case OPT_TUNNEL_KEEPALIVE:
			if (parse_duration_opt("tunnel-keepalive", optarg, &c->tunnel.keepalive_ms,
					       false, err, errlen) < 0)
				return CLI_ERROR;
			break;
		case OPT_TUNNEL_TIMEOUT:
			if (parse_duration_opt("tunnel-timeout", optarg, &c->tunnel.timeout_ms,
					       false, err, errlen) < 0)
				return CLI_ERROR;
			break;
		case OPT_UDP_TIMEOUT:
		case OPT_UDP_MAX_SESSIONS:
		case OPT_UDP_ADVERTISE:
			if (udp_opt_parse(c, opt, optarg, err, errlen) < 0)
				return CLI_ERROR;
			break;
		case 'h':
			return CLI_HELP;
		case 'V':
			return CLI_VERSION;
		case ':':
			if (optopt)
				seterr(err, errlen, "option -%c needs a value", optopt);
			else
				seterr(err, errlen, "option %s needs a value", argv[optind - 1]);
			return CLI_ERROR;
		default:
			if (optopt)
				seterr(err, errlen, "unknown option -%c (see sluice --help)", optopt);
			else
				seterr(err, errlen, "unknown option %s (see sluice --help)", argv[optind - 1]);
			return CLI_ERROR;
		}
	}
	if (optind < argc) {
		seterr(err, errlen, "unexpected argument '%s' (listeners are given with -L)", argv[optind]);
		return CLI_ERROR;
	}
	if (c->nlisteners == 0 && add_listener(c, CLI_DEFAULT_LISTENER, err, errlen) < 0)
		return CLI_ERROR;
	for (size_t i = 0; i < c->nlisteners; i++)
		c->listeners[i].need_auth = c->auth_file && c->listeners[i].scheme != SCHEME_TCP &&
					    c->listeners[i].scheme != SCHEME_UDP &&
					    c->listeners[i].scheme != SCHEME_TUNNEL;
	if (tunnel_check(c, err, errlen) < 0)
		return CLI_ERROR;
	return CLI_RUN;
}
