/*
 * lossy: a UDP relay that emulates a bad link (this machine has no netem).
 *
 *   lossy -l HOST:PORT -t HOST:PORT [--loss PCT] [--delay MS] [--jitter MS]
 *         [--reorder PCT] [--reorder-gap MS] [--dup PCT] [--rate MBIT]
 *         [--queue KB] [--seed N]
 *
 * Datagrams arriving on the listen address are forwarded to the target, like
 * a NAT: each client address gets its own upstream socket (up to
 * LOSSY_MAX_FLOWS; then the least recently active one is reused), and the
 * target's replies on it go back to that client only. Every flow shares one
 * link: each direction is impaired the same way, independently:
 * loss, duplication, a rate cap with a tail-drop queue (--queue, default
 * 1024 KB), one-way delay plus uniform jitter, and --reorder PCT of packets
 * held back an extra --reorder-gap ms (default 10) so later ones overtake
 * them. One thread, poll() and a timer heap. Deterministic for a given --seed
 * (given the same arrival order).
 *
 * Prints "lossy ready on HOST:PORT" once bound and, on SIGINT/SIGTERM, the
 * per-direction counters, then exits 0.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LOSSY_MAX_DGRAM 65536
#define LOSSY_MAX_PKTS	65536	/* held datagrams, all directions (memory bound) */
#define LOSSY_MAX_FLOWS	64	/* client addresses with an upstream socket */

struct pkt {
	uint64_t at_us;		/* when to send */
	uint64_t seq;		/* FIFO among equal times */
	int dir;		/* 0: client -> target, 1: target -> client */
	unsigned int flow;	/* index in flows[] */
	uint64_t gen;		/* flows[flow].gen when queued: a reused slot drops it */
	size_t len;
	uint8_t *data;		/* owned */
};

struct dir_state {
	uint64_t busy_us;	/* rate-capped wire busy until */
	uint64_t rx, fwd, lost, qdrops, dups, reordered, overflow, bytes;
};

/* One client address and its socket towards the target. */
struct flow {
	struct sockaddr_storage addr;
	socklen_t len;
	int ufd;
	uint64_t gen;		/* bumped when the slot goes to another client */
	uint64_t last_us;	/* last datagram from the client */
};

struct cfg {
	double loss, dup, reorder, rate_mbit;
	uint64_t delay_us, jitter_us, gap_us, queue_bytes, seed;
};

static volatile sig_atomic_t stop;
static uint64_t rng_state;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t rnd(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static bool chance(double pct)
{
	return pct > 0 && (double)(rnd() % 1000000) < pct * 10000.0;
}

/* ---- timer heap ---- */

static struct pkt *heap;
static size_t nheap;

static bool pkt_before(const struct pkt *a, const struct pkt *b)
{
	return a->at_us < b->at_us || (a->at_us == b->at_us && a->seq < b->seq);
}

static void heap_push(struct pkt p)
{
	size_t i = nheap++, up;

	while (i > 0) {
		up = (i - 1) / 2;
		if (!pkt_before(&p, &heap[up]))
			break;
		heap[i] = heap[up];
		i = up;
	}
	heap[i] = p;
}

static struct pkt heap_pop(void)
{
	struct pkt top = heap[0], last = heap[--nheap];
	size_t i = 0, c;

	for (;;) {
		c = 2 * i + 1;
		if (c >= nheap)
			break;
		if (c + 1 < nheap && pkt_before(&heap[c + 1], &heap[c]))
			c++;
		if (!pkt_before(&heap[c], &last))
			break;
		heap[i] = heap[c];
		i = c;
	}
	if (nheap)
		heap[i] = last;
	return top;
}

/* ---- arguments ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: lossy -l HOST:PORT -t HOST:PORT [options]\n"
		"  UDP relay emulating a bad link, both directions (client <-> target).\n"
		"  -l, --listen HOST:PORT   where clients send (each client address gets its own\n"
		"                           socket towards the target, and only its replies)\n"
		"  -t, --target HOST:PORT   where datagrams are forwarded\n"
		"  --loss PCT               drop this %% of datagrams (each direction)\n"
		"  --delay MS               one-way delay\n"
		"  --jitter MS              extra uniform random delay 0..MS\n"
		"  --reorder PCT            hold this %% of datagrams an extra --reorder-gap\n"
		"  --reorder-gap MS         default 10\n"
		"  --dup PCT                duplicate this %% of datagrams\n"
		"  --rate MBIT              rate cap (Mbit/s, each direction), 0 = none\n"
		"  --queue KB               queue in front of the rate cap, tail drop (default 1024)\n"
		"  --seed N                 PRNG seed (default 1)\n"
		"  -h, --help\n"
		"Prints 'lossy ready on HOST:PORT'; counters on SIGINT/SIGTERM.\n");
}

static int parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[256];
	const char *colon = strrchr(s, ':'), *h = s;
	size_t hl;
	struct addrinfo hints, *ai;
	int rc;

	if (!colon || colon == s || !colon[1])
		return -1;
	hl = (size_t)(colon - s);
	if (s[0] == '[' && colon[-1] == ']') {
		h = s + 1;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return -1;
	memcpy(host, h, hl);
	host[hl] = 0;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICSERV;
	rc = getaddrinfo(host, colon + 1, &hints, &ai);
	if (rc)
		return -1;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

static int parse_num(const char *opt, const char *v, double max, double *out)
{
	char *end;
	double d;

	if (!v) {
		fprintf(stderr, "lossy: %s needs a value\n", opt);
		return -1;
	}
	d = strtod(v, &end);
	if (end == v || *end || d < 0 || d > max) {
		fprintf(stderr, "lossy: bad value for %s: '%s'\n", opt, v);
		return -1;
	}
	*out = d;
	return 0;
}

/* ---- relay ---- */

static void enqueue(const struct cfg *c, struct dir_state *d, int dir, unsigned int flow,
		    uint64_t gen, const uint8_t *buf, size_t len, uint64_t now, uint64_t *seq)
{
	uint64_t depart = now, at;
	int copies = 1, i;

	d->rx++;
	if (chance(c->loss)) {
		d->lost++;
		return;
	}
	if (c->rate_mbit > 0) {
		double us = (double)len * 8.0 / c->rate_mbit;	/* Mbit/s = bit/us */

		if (d->busy_us < now)
			d->busy_us = now;
		if ((double)(d->busy_us - now) * c->rate_mbit / 8.0 > (double)c->queue_bytes) {
			d->qdrops++;
			return;
		}
		d->busy_us += (uint64_t)us;
		depart = d->busy_us;
	}
	if (chance(c->dup)) {
		copies = 2;
		d->dups++;
	}
	for (i = 0; i < copies; i++) {
		struct pkt p;

		if (nheap >= LOSSY_MAX_PKTS) {
			d->overflow++;
			return;
		}
		at = depart + c->delay_us;
		if (c->jitter_us)
			at += rnd() % (c->jitter_us + 1);
		if (chance(c->reorder)) {
			at += c->gap_us;
			d->reordered++;
		}
		p.data = malloc(len);
		if (!p.data) {
			d->overflow++;
			return;
		}
		memcpy(p.data, buf, len);
		p.len = len;
		p.dir = dir;
		p.flow = flow;
		p.gen = gen;
		p.at_us = at;
		p.seq = (*seq)++;
		heap_push(p);
	}
}

static void big_buffers(int fd)
{
	int sz = 4 << 20;

	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
}

/* A socket connected to the target, or -errno. */
static int upstream_socket(const struct sockaddr_storage *ta, socklen_t talen)
{
	int fd = socket(ta->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), err;

	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)ta, talen) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	big_buffers(fd);
	return fd;
}

/*
 * The flow of a client address: found, new, or the least recently active
 * one handed over (its queued datagrams are dropped). Index or -errno.
 */
static int flow_for(struct flow *flows, unsigned int *nflows, const struct sockaddr_storage *from,
		    socklen_t flen, const struct sockaddr_storage *ta, socklen_t talen, uint64_t now)
{
	unsigned int f, old = 0;
	int fd;

	for (f = 0; f < *nflows; f++) {
		if (flows[f].len == flen && memcmp(&flows[f].addr, from, flen) == 0) {
			flows[f].last_us = now;
			return (int)f;
		}
		if (flows[f].last_us < flows[old].last_us)
			old = f;
	}
	fd = upstream_socket(ta, talen);
	if (fd < 0)
		return fd;
	if (*nflows < LOSSY_MAX_FLOWS) {
		f = (*nflows)++;
	} else {
		f = old;
		close(flows[f].ufd);
	}
	memcpy(&flows[f].addr, from, flen);
	flows[f].len = flen;
	flows[f].ufd = fd;
	flows[f].gen++;
	flows[f].last_us = now;
	return (int)f;
}

static void print_counters(const struct dir_state *d)
{
	static const char *name[2] = { "client->target", "target->client" };
	int i;

	for (i = 0; i < 2; i++)
		fprintf(stderr,
			"lossy %s: rx %llu fwd %llu bytes %llu lost %llu qdrop %llu dup %llu "
			"reordered %llu overflow %llu\n", name[i],
			(unsigned long long)d[i].rx, (unsigned long long)d[i].fwd,
			(unsigned long long)d[i].bytes, (unsigned long long)d[i].lost,
			(unsigned long long)d[i].qdrops, (unsigned long long)d[i].dups,
			(unsigned long long)d[i].reordered, (unsigned long long)d[i].overflow);
}

int main(int argc, char **argv)
{
	struct sockaddr_storage la, ta, from;
	socklen_t lalen = 0, talen = 0, flen;
	struct cfg c = { .queue_bytes = 1024 * 1024, .gap_us = 10000, .seed = 1 };
	struct dir_state d[2];
	const char *lspec = NULL, *tspec = NULL;
	static uint8_t buf[LOSSY_MAX_DGRAM];
	struct sigaction sa;
	static struct flow flows[LOSSY_MAX_FLOWS];
	struct pollfd pf[1 + LOSSY_MAX_FLOWS];
	unsigned int nflows = 0, npoll, f;
	uint64_t seq = 0;
	int lfd, probe, i;
	double v;

	memset(d, 0, sizeof(d));
	for (i = 1; i < argc; i++) {
		const char *o = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(o, "-l") || !strcmp(o, "--listen")) {
			lspec = val;
		} else if (!strcmp(o, "-t") || !strcmp(o, "--target")) {
			tspec = val;
		} else if (!strcmp(o, "--loss")) {
			if (parse_num(o, val, 100, &c.loss))
				return 2;
		} else if (!strcmp(o, "--dup")) {
			if (parse_num(o, val, 100, &c.dup))
				return 2;
		} else if (!strcmp(o, "--reorder")) {
			if (parse_num(o, val, 100, &c.reorder))
				return 2;
		} else if (!strcmp(o, "--rate")) {
			if (parse_num(o, val, 1e6, &c.rate_mbit))
				return 2;
		} else if (!strcmp(o, "--delay") || !strcmp(o, "--jitter") ||
			   !strcmp(o, "--reorder-gap")) {
			if (parse_num(o, val, 600000, &v))
				return 2;
			*(o[2] == 'd' ? &c.delay_us : o[2] == 'j' ? &c.jitter_us : &c.gap_us) =
				(uint64_t)(v * 1000);
		} else if (!strcmp(o, "--queue")) {
			if (parse_num(o, val, 1 << 22, &v))
				return 2;
			c.queue_bytes = (uint64_t)v * 1024;
		} else if (!strcmp(o, "--seed")) {
			if (parse_num(o, val, 1e18, &v))
				return 2;
			c.seed = (uint64_t)v;
		} else {
			fprintf(stderr, "lossy: unknown option '%s' (see --help)\n", o);
			return 2;
		}
		if (strcmp(o, "-h") && strcmp(o, "--help"))
			i++;
	}
	if (!lspec || parse_addr(lspec, &la, &lalen)) {
		fprintf(stderr, "lossy: bad or missing -l HOST:PORT '%s'\n", lspec ? lspec : "");
		return 2;
	}
	if (!tspec || parse_addr(tspec, &ta, &talen)) {
		fprintf(stderr, "lossy: bad or missing -t HOST:PORT '%s'\n", tspec ? tspec : "");
		return 2;
	}
	rng_state = c.seed;
	heap = calloc(LOSSY_MAX_PKTS, sizeof(*heap));
	if (!heap)
		return 1;

	lfd = socket(la.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&la, lalen) < 0) {
		fprintf(stderr, "lossy: cannot bind %s: %s\n", lspec, strerror(errno));
		return 1;
	}
	big_buffers(lfd);
	/* The target must be usable before we say ready: try one socket now. */
	probe = upstream_socket(&ta, talen);
	if (probe < 0) {
		fprintf(stderr, "lossy: cannot use target %s: %s\n", tspec, strerror(-probe));
		return 1;
	}
	close(probe);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	fprintf(stderr, "lossy ready on %s\n", lspec);
	fflush(stderr);

	while (!stop) {
		uint64_t now = now_us();
		int timeout = -1, k;

		while (nheap && heap[0].at_us <= now) {
			struct pkt p = heap_pop();
			struct flow *fl = &flows[p.flow];
			ssize_t n = -1;

			if (fl->gen != p.gen)
				;	/* its client's slot went to another one */
			else if (p.dir == 0)
				n = send(fl->ufd, p.data, p.len, 0);
			else
				n = sendto(lfd, p.data, p.len, 0, (struct sockaddr *)&fl->addr, fl->len);
			if (n >= 0) {
				d[p.dir].fwd++;
				d[p.dir].bytes += p.len;
			}
			free(p.data);
		}
		if (nheap) {
			uint64_t w = heap[0].at_us - now;

			timeout = (int)((w + 999) / 1000);
		}
		pf[0].fd = lfd;
		pf[0].events = POLLIN;
		for (f = 0; f < nflows; f++) {
			pf[1 + f].fd = flows[f].ufd;
			pf[1 + f].events = POLLIN;
		}
		npoll = 1 + nflows;	/* flows added while draining wait for the next poll */
		k = poll(pf, npoll, timeout);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		now = now_us();
		/* drain the sockets, bounded per round so timers keep going */
		for (i = 0; i < (int)npoll; i++) {
			int burst;

			if (!(pf[i].revents & (POLLIN | POLLERR)))
				continue;
			for (burst = 0; burst < 256; burst++) {
				ssize_t n;

				flen = sizeof(from);
				n = recvfrom(pf[i].fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen);
				if (n < 0) {
					/* An ICMP error from the target: go on to the next datagram. */
					if (errno == ECONNREFUSED || errno == EHOSTUNREACH ||
					    errno == ENETUNREACH)
						continue;
					break;	/* EAGAIN, or a socket gone with its flow */
				}
				if (i == 0) {
					int rc = flow_for(flows, &nflows, &from, flen, &ta, talen, now);

					if (rc < 0) {
						d[0].rx++;
						d[0].overflow++;
						continue;
					}
					f = (unsigned int)rc;
				} else {
					f = (unsigned int)(i - 1);
				}
				enqueue(&c, &d[i ? 1 : 0], i ? 1 : 0, f, flows[f].gen, buf, (size_t)n,
					now, &seq);
			}
		}
	}
	print_counters(d);
	while (nheap) {
		struct pkt p = heap_pop();

		free(p.data);
	}
	free(heap);
	close(lfd);
	for (f = 0; f < nflows; f++)
		close(flows[f].ufd);
	return 0;
}
