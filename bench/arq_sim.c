/*
 * arq_sim: goodput of the arq engine over a simulated link, in simulated
 * time (so it measures the algorithms -- windows, pacing, loss recovery --
 * not the CPU). For each RTT x loss case it moves MiB bytes one way and
 * prints Mbit/s of goodput, with the adaptive defaults and with a fixed
 * "kcptun-like" setting (nodelay, no cwnd, snd_wnd 128 / rcv_wnd 512, no
 * pacing) as a reference.
 *
 *   arq_sim [--mib N] [--rate MBIT] [--seed N] [--queue KB] [--cpu]
 *
 * --tick MS: engine timers fire only at multiples of MS (a coarse timer wheel).
 * --cpu: instead, one lossless 2 ms-RTT case at --rate (default 10000 here),
 * reporting the wall-clock CPU cost of both engines plus the link model
 * (one thread) per GiB moved.
 */
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arq_link.h"

struct cfg {
	const char *name;
	bool kcp_like;
};

static uint32_t tick_gran;

static double run(const struct cfg *c, uint32_t rtt, uint32_t loss_pm, uint64_t rate_mbit,
		  uint64_t qkb, uint64_t bytes, uint64_t seed, struct arq_stats *st)
{
	struct link l;
	struct link_out o[2];
	struct xfer x;
	struct arq_params p;
	double mbit = 0;
	int i;

	memset(&l, 0, sizeof(l));
	memset(&x, 0, sizeof(x));
	l.rng = seed * 0x9e3779b97f4a7c15ull + 1;
	l.tick_gran = tick_gran;
	arq_params_default(&p);
	p.conv = 7;
	if (c->kcp_like) {
		p.no_cwnd = true;
		p.snd_wnd = 128;
		p.rcv_wnd = 512;
		p.pacing = false;
	}
	for (i = 0; i < 2; i++) {
		o[i].l = &l;
		o[i].dir = i;
		l.e[i] = arq_new(&p, 0, link_output, &o[i]);
		l.d[i].loss_pm = loss_pm;
		l.d[i].delay_ms = rtt / 2;
		l.d[i].jitter_ms = 0;
		l.d[i].rate_bpms = rate_mbit * 1000000 / 8 / 1000;
		l.d[i].qlimit = qkb * 1024;
		x.rng[i] = seed + (uint64_t)i + 1;
	}
	x.total[0] = bytes;
	x.max_write = 16384;
	if (link_run(&l, &x, 3600 * 1000, true) && x.done_at[0])
		mbit = (double)bytes * 8 / 1000.0 / (double)x.done_at[0];
	arq_get_stats(l.e[0], st);
	for (i = 0; i < 2; i++)
		arq_free(l.e[i]);
	link_free(&l);
	return mbit;
}

int main(int argc, char **argv)
{
	static const uint32_t rtts[] = { 40, 100 };
	static const uint32_t losses[] = { 0, 10, 50, 200 };
	static const struct cfg cfgs[] = { { "sluice-arq", false }, { "kcp-like", true } };
	uint64_t mib = 32, rate = 100, seed = 1, qkb = 256;
	bool cpu = false, rate_set = false;
	struct arq_stats st;
	size_t r, li, ci;
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--mib") && i + 1 < argc)
			mib = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--rate") && i + 1 < argc)
			rate = strtoull(argv[++i], NULL, 10), rate_set = true;
		else if (!strcmp(argv[i], "--tick") && i + 1 < argc)
			tick_gran = (uint32_t)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--cpu"))
			cpu = true;
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--queue") && i + 1 < argc)
			qkb = strtoull(argv[++i], NULL, 10);
		else {
			fprintf(stderr, "usage: arq_sim [--mib N] [--rate MBIT] [--seed N] [--queue KB] [--tick MS] [--cpu]\n");
			return 2;
		}
	}
	if (cpu) {
		struct timespec t0, t1;
		double wall, m;

		if (!rate_set)
			rate = 10000;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		m = run(&cfgs[0], 2, 0, rate, 16384, mib << 20, seed, &st);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		printf("cpu: %llu MiB in %.2f s wall (%.2f s/GiB, %.0f Mbit/s of engine work), "
		       "simulated goodput %.0f Mbit/s\n", (unsigned long long)mib, wall,
		       wall * 1024.0 / (double)mib, (double)(mib << 20) * 8 / wall / 1e6, m);
		return 0;
	}
	printf("# %llu MiB one way, link %llu Mbit/s each way, queue %llu KiB, seed %llu\n",
	       (unsigned long long)mib, (unsigned long long)rate, (unsigned long long)qkb,
	       (unsigned long long)seed);
	printf("%-11s %5s %6s %9s %8s %8s %6s %6s\n", "engine", "rtt", "loss%", "Mbit/s", "retrans",
	       "rto", "cwnd", "srtt");
	for (r = 0; r < sizeof(rtts) / sizeof(rtts[0]); r++)
		for (li = 0; li < sizeof(losses) / sizeof(losses[0]); li++)
			for (ci = 0; ci < sizeof(cfgs) / sizeof(cfgs[0]); ci++) {
				double m = run(&cfgs[ci], rtts[r], losses[li], rate, qkb, mib << 20,
					       seed, &st);

				printf("%-11s %5u %6.1f %9.1f %8llu %8llu %6llu %6llu\n",
				       cfgs[ci].name, rtts[r], losses[li] / 10.0, m,
				       (unsigned long long)st.retrans,
				       (unsigned long long)st.rto_retrans,
				       (unsigned long long)st.cwnd,
				       (unsigned long long)st.srtt_ms);
				fflush(stdout);
			}
	return 0;
}
