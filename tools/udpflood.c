/*
 * udpflood: UDP load for the benchmarks (bench/run.sh, udp section).
 *
 *   udpflood echo -p PORT [-H HOST]
 *       an echo server: every datagram goes back to its sender, in batches
 *       (recvmmsg/sendmmsg), single-threaded; until SIGINT/SIGTERM. Prints
 *       "udpflood echo on HOST:PORT" once ready.
 *
 *   udpflood send -p PORT [-H HOST] [-n FLOWS] [-s SIZE] [-t SECONDS]
 *                 [-w WINDOW | -r RATE] [-g]
 *       FLOWS client sockets (one flow each) send SIZE-byte datagrams to
 *       HOST:PORT for SECONDS and count what comes back.
 *       -w WINDOW (default 64): closed loop, at most WINDOW datagrams in
 *       flight per flow (a flow that hears nothing for 20 ms forgets its
 *       in-flight ones): the highest rate the path carries.
 *       -r RATE: open loop, RATE datagrams/s over all flows, paced in 1 ms
 *       steps: for loss at a given rate.
 *       -g: each flow's datagrams of a round go as one UDP GSO send
 *       (UDP_SEGMENT), as QUIC and WireGuard stacks send: the datagrams
 *       on the wire are the same, the sender's cost per datagram falls.
 *       Prints one line:
 *       "sent N recv N lost N loss_pct X rx_pps X rx_mbps X" (mbps: payload
 *       bits of received datagrams), after a 300 ms grace for stragglers.
 */
#include <arpa/inet.h>
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

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

#define BATCH	32
#define MAXDG	65536
#define FLOWS_MAX 1024

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void usage(void)
{
	fprintf(stderr, "usage: udpflood echo -p PORT [-H HOST]\n"
			"       udpflood send -p PORT [-H HOST] [-n FLOWS] [-s SIZE] [-t SECONDS]"
			" [-w WINDOW | -r RATE] [-g]\n");
	exit(2);
}

static int resolve(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *res;
	char p[16];

	snprintf(p, sizeof(p), "%d", port);
	if (getaddrinfo(host, p, &hints, &res) != 0)
		return -1;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static void bufs(int fd)
{
	int v = 4 << 20;

	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
}

static int echo_main(const char *host, int port)
{
	static uint8_t data[BATCH][MAXDG];
	struct mmsghdr m[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_storage from[BATCH], ss;
	socklen_t sl;
	int fd;

	if (resolve(host, port, &ss, &sl) < 0) {
		fprintf(stderr, "udpflood: cannot resolve %s\n", host);
		return 1;
	}
	fd = socket(ss.ss_family, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&ss, sl) < 0) {
		perror("udpflood: bind");
		return 1;
	}
	bufs(fd);
	printf("udpflood echo on %s:%d\n", host, port);
	fflush(stdout);
	while (!stop) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int n;

		for (int i = 0; i < BATCH; i++) {
			iov[i].iov_base = data[i];
			iov[i].iov_len = MAXDG;
			memset(&m[i].msg_hdr, 0, sizeof(m[i].msg_hdr));
			m[i].msg_hdr.msg_iov = &iov[i];
			m[i].msg_hdr.msg_iovlen = 1;
			m[i].msg_hdr.msg_name = &from[i];
			m[i].msg_hdr.msg_namelen = sizeof(from[i]);
		}
		n = recvmmsg(fd, m, BATCH, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR || errno == ECONNREFUSED) {
				poll(&pfd, 1, 200);
				continue;
			}
			perror("udpflood: recvmmsg");
			return 1;
		}
		for (int i = 0; i < n; i++)
			iov[i].iov_len = m[i].msg_len;
		for (int done = 0; done < n;) {
			int r = sendmmsg(fd, m + done, (unsigned int)(n - done), 0);

			if (r < 0) {
				if (errno == EINTR)
					continue;
				done++;		/* drop that one */
				continue;
			}
			done += r;
		}
	}
	return 0;
}

struct flow {
	int fd;
	uint32_t inflight;
	uint64_t last_rx;	/* us */
};

/* want datagrams of siov[0]'s size as one GSO send; returns how many went (or -1). */
static int send_gso(int fd, struct iovec *siov, int want)
{
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} ctl;
	struct msghdr h;
	struct cmsghdr *c;
	uint16_t seg = (uint16_t)siov[0].iov_len;

	memset(&h, 0, sizeof(h));
	memset(&ctl, 0, sizeof(ctl));
	h.msg_iov = siov;
	h.msg_iovlen = (size_t)want;
	h.msg_control = ctl.buf;
	h.msg_controllen = sizeof(ctl.buf);
	c = CMSG_FIRSTHDR(&h);
	c->cmsg_level = IPPROTO_UDP;
	c->cmsg_type = UDP_SEGMENT;
	c->cmsg_len = CMSG_LEN(sizeof(seg));
	memcpy(CMSG_DATA(c), &seg, sizeof(seg));
	return sendmsg(fd, &h, MSG_DONTWAIT) < 0 ? -1 : want;
}

static int send_main(const char *host, int port, int nflows, int size, double secs, int window,
		     long rate, bool gso)
{
	static uint8_t rbuf[BATCH][MAXDG];
	static struct flow fl[FLOWS_MAX];
	static struct pollfd pfd[FLOWS_MAX];
	uint8_t *payload = calloc(1, (size_t)size + 1);
	struct mmsghdr sm[BATCH], rm[BATCH];
	struct iovec siov[BATCH], riov[BATCH];
	struct sockaddr_storage ss;
	socklen_t sl;
	uint64_t sent = 0, recvd = 0, rbytes = 0, t0, t_end, t_stop, credit_t;
	double credit = 0;

	if (!payload || resolve(host, port, &ss, &sl) < 0) {
		fprintf(stderr, "udpflood: cannot resolve %s\n", host);
		return 1;
	}
	for (int i = 0; i < size; i++)
		payload[i] = (uint8_t)(i * 31 + 7);
	for (int f = 0; f < nflows; f++) {
		fl[f].fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
		if (fl[f].fd < 0 || connect(fl[f].fd, (struct sockaddr *)&ss, sl) < 0) {
			perror("udpflood: socket");
			return 1;
		}
		bufs(fl[f].fd);
		pfd[f].fd = fl[f].fd;
		pfd[f].events = POLLIN;
	}
	for (int i = 0; i < BATCH; i++) {
		siov[i].iov_base = payload;
		siov[i].iov_len = (size_t)size;
		memset(&sm[i].msg_hdr, 0, sizeof(sm[i].msg_hdr));
		sm[i].msg_hdr.msg_iov = &siov[i];
		sm[i].msg_hdr.msg_iovlen = 1;
	}
	t0 = credit_t = now_us();
	t_end = t0 + (uint64_t)(secs * 1e6);
	t_stop = t_end + 300000;
	for (int f = 0; f < nflows; f++)
		fl[f].last_rx = t0;
	while (!stop) {
		uint64_t t = now_us();
		bool sending = t < t_end;
		int any = 0;

		if (t >= t_stop)
			break;
		/* send */
		if (sending && rate > 0) {
			credit += (double)(t - credit_t) * (double)rate / 1e6;
			credit_t = t;
			if (credit > rate / 100.0 + BATCH)	/* no bursts after a stall */
				credit = rate / 100.0 + BATCH;
		}
		for (int f = 0; sending && f < nflows; f++) {
			int want;

			if (rate > 0) {
				want = (int)(credit / (nflows - f));
				if (want > BATCH)
					want = BATCH;
			} else {
				if (t - fl[f].last_rx > 20000 && fl[f].inflight) {
					fl[f].inflight = 0;	/* lost: stop waiting */
					fl[f].last_rx = t;
				}
				want = window - (int)fl[f].inflight;
				if (want > BATCH)
					want = BATCH;
			}
			if (want <= 0)
				continue;
			int r = gso && want > 1 ? send_gso(fl[f].fd, siov, want) :
				sendmmsg(fl[f].fd, sm, (unsigned int)want, MSG_DONTWAIT);

			if (r > 0) {
				sent += (uint64_t)r;
				fl[f].inflight += (uint32_t)r;
				if (rate > 0)
					credit -= r;
				any = 1;
			}
		}
		/* receive */
		for (int f = 0; f < nflows; f++) {
			for (;;) {
				int n;

				for (int i = 0; i < BATCH; i++) {
					riov[i].iov_base = rbuf[i];
					riov[i].iov_len = MAXDG;
					memset(&rm[i].msg_hdr, 0, sizeof(rm[i].msg_hdr));
					rm[i].msg_hdr.msg_iov = &riov[i];
					rm[i].msg_hdr.msg_iovlen = 1;
				}
				n = recvmmsg(fl[f].fd, rm, BATCH, MSG_DONTWAIT, NULL);
				if (n <= 0)
					break;
				any = 1;
				recvd += (uint64_t)n;
				for (int i = 0; i < n; i++)
					rbytes += rm[i].msg_len;
				fl[f].inflight = fl[f].inflight > (uint32_t)n ?
						 fl[f].inflight - (uint32_t)n : 0;
				fl[f].last_rx = t;
				if (n < BATCH)
					break;
			}
		}
		if (!any)
			poll(pfd, (nfds_t)nflows, 1);
	}
	{
		double dt = (double)(t_end - t0) / 1e6;
		uint64_t lost = sent > recvd ? sent - recvd : 0;

		printf("sent %llu recv %llu lost %llu loss_pct %.3f rx_pps %.0f rx_mbps %.1f\n",
		       (unsigned long long)sent, (unsigned long long)recvd,
		       (unsigned long long)lost, sent ? 100.0 * (double)lost / (double)sent : 0.0,
		       (double)recvd / dt, (double)rbytes * 8 / dt / 1e6);
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1";
	int port = 0, nflows = 1, size = 64, window = 64, opt;
	long rate = 0;
	double secs = 3;
	bool echo, gso = false;

	if (argc < 2)
		usage();
	echo = strcmp(argv[1], "echo") == 0;
	if (!echo && strcmp(argv[1], "send") != 0)
		usage();
	optind = 2;
	while ((opt = getopt(argc, argv, "H:p:n:s:t:w:r:g")) != -1) {
		switch (opt) {
		case 'H': host = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'n': nflows = atoi(optarg); break;
		case 's': size = atoi(optarg); break;
		case 't': secs = atof(optarg); break;
		case 'w': window = atoi(optarg); break;
		case 'r': rate = atol(optarg); break;
		case 'g': gso = true; break;
		default: usage();
		}
	}
	if (port <= 0 || port > 65535 || nflows < 1 || nflows > FLOWS_MAX || size < 0 ||
	    size > 65507 || secs <= 0 || window < 1 || rate < 0)
		usage();
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	return echo ? echo_main(host, port) : send_main(host, port, nflows, size, secs, window, rate, gso);
}
