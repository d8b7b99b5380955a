/*
 * Asynchronous name resolution with c-ares, one resolver per worker, driven
 * by the worker's loop (c-ares sockets become POLL requests, its timeouts a
 * wheel timer). Honours /etc/hosts and /etc/resolv.conf.
 *
 * A query is a heap object owned by the resolver until its callback has
 * run; the caller can detach from it with dns_query_cancel() (the callback
 * is then never called) so its own memory can go at any time.
 */
#ifndef SLUICE_DNS_DNS_H
#define SLUICE_DNS_DNS_H

#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/loop.h"

struct dns;
struct dns_query;

/*
 * Called once with err 0 and n >= 1 addresses (the array is the callee's to
 * keep: free() it), or a negative error: -ENOENT (no such name),
 * -ETIMEDOUT, -EAGAIN (server failure), -ENOMEM.
 */
typedef void (*dns_cb)(void *arg, int err, union sockaddr_any *addrs, size_t n);

/* Process-wide c-ares setup, before any thread starts. 0 or -1. */
int dns_global_init(void);
void dns_global_fini(void);

/*
 * NULL on failure. servers: "ip[:port],..." or NULL for resolv.conf.
 * Answers are cached per resolver (per worker) for their TTL (1 s to 1 h),
 * "no such name" for 2 s; at most cache_size names, least recently used
 * dropped first. Concurrent lookups of one name share one query.
 */
struct dns *dns_new(struct loop *l, const char *servers, size_t cache_size);
/* Pending queries are dropped without their callbacks. */
void dns_free(struct dns *d);

/*
 * Resolve host (A and AAAA). The callback always runs from the loop, never
 * inside this call. NULL when the query could not be started.
 */
struct dns_query *dns_resolve(struct dns *d, const char *host, uint16_t port,
			      dns_cb cb, void *arg);
void dns_query_cancel(struct dns_query *q);

/* Human-readable text for a dns_cb error. */
const char *dns_strerror(int err);

#endif
