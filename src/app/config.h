/*
 * The run-time configuration, built once from the command line and then
 * only read (passed as const to every worker).
 */
#ifndef SLUICE_APP_CONFIG_H
#define SLUICE_APP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "app/tunnel.h"
#include "egress/chain.h"
#include "relay/relay.h"

enum listen_scheme {
	SCHEME_TCP = 1,		/* tcp://BIND/TARGET: forward to a fixed target */
	SCHEME_SOCKS5,		/* socks5://BIND: SOCKS5 proxy */
	SCHEME_SOCKS4,		/* socks4://BIND: SOCKS4/4a proxy */
	SCHEME_HTTP,		/* http://BIND: HTTP proxy (CONNECT and absolute-form) */
	SCHEME_PROXY,		/* proxy://BIND: all three, detected per connection */
	SCHEME_UDP,		/* udp://BIND/TARGET: forward datagrams (src/app/udp_fwd.c) */
	SCHEME_TUNNEL,		/* tunnel://BIND[/TARGET]: encrypted reliable-UDP tunnel server */
};

/* "tcp", "socks5", ... */
const char *scheme_name(enum listen_scheme s);

struct listener_cfg {
	char *url;			/* owned: as given, for messages */
	enum listen_scheme scheme;
	char bind_host[HOST_MAX + 1];	/* empty: all addresses (dual-stack) */
	uint16_t bind_port;
	char target_host[HOST_MAX + 1];
	uint16_t target_port;
	union sockaddr_any bind;	/* resolved bind address */
	union sockaddr_any target;	/* valid when target_is_addr */
	bool target_is_addr;		/* target_host is a literal */
	bool need_auth;			/* a proxy listener with --auth-file */
};

enum relay_choice {
	RELAY_CHOICE_AUTO = 0,
	RELAY_CHOICE_BUFFER,
	RELAY_CHOICE_SPLICE,
};

struct config {
	struct listener_cfg *listeners;	/* owned array */
	size_t nlisteners;
	unsigned int workers;		/* 0 = number of CPUs */
	uint32_t connect_timeout_ms;
	uint32_t he_delay_ms;		/* happy eyeballs stagger */
	uint32_t handshake_timeout_ms;	/* proxy handshakes must finish in this */
	uint32_t bind_timeout_ms;	/* SOCKS BIND: wait this long for the peer */
	uint32_t idle_timeout_ms;	/* 0 = off */
	uint32_t grace_ms;
	int log_level;
	const char *log_file;		/* borrowed from argv */
	const char *pid_file;		/* borrowed from argv */
	bool daemon;
	size_t buffer_size;
	enum relay_choice relay;
	enum loop_backend_id io_backend;	/* --io-backend */
	int backlog;
	char *dns_servers;		/* owned: "ip:port,..." for c-ares, or NULL */
	size_t dns_cache_size;		/* names cached per worker */
	const char *auth_file;		/* borrowed from argv, or NULL */
	struct hop *hops;		/* owned: -F upstream proxies, in order */
	size_t nhops;
	bool allow_open;		/* unauthenticated proxies on public addresses */
	bool allow_private;		/* public proxies may reach private addresses */
	/* UDP (udp:// and SOCKS5 UDP ASSOCIATE, src/app/udp*.c) */
	uint32_t udp_timeout_ms;	/* udp:// sessions expire idle this long */
	uint32_t udp_max_sessions;	/* udp:// sessions per listener (all workers) */
	union sockaddr_any udp_advertise; /* BND.ADDR for UDP ASSOCIATE, or family 0 */
	const char *tunnel_key_file;	/* borrowed from argv: --tunnel-key */
	struct tunnel_opts tunnel;	/* key (loaded by main) and tunables */
};

void config_defaults(struct config *c);
void config_fini(struct config *c);

#endif
