// SPDX-License-Identifier: GPL-2.0-only
/*
 * bench_analyzer.c - the analyzer's cost at scale: 1 000 000 kernel profiles
 * fed as the daemon's scan feeds them (batches of 8192, in the kernel map's
 * hash order, i.e. shuffled), one tick over all of them, and the daemon
 * memory each profile costs. Pure userspace: no privileges needed.
 *
 *   bench-analyzer [N [MX_PERCENT]]
 *
 * MX_PERCENT (default 1) is the share of sources that speak SMTP to MX hosts
 * (and so carry the analyzer's per-sender SMTP state); 100 is the worst case.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "mg_addr.h"
#include "mg_analyzer.h"

#define N_SOURCES 1000000
#define BATCH 8192 /* what the daemon reads per bpf_map_lookup_batch */
#define SEC 1000000000ull

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static long rss_kb(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f && fscanf(f, "%ld %ld", &pages, &rss) != 2)
		rss = 0;
	if (f)
		fclose(f);
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static unsigned mx_percent = 1;

/* Profiles as a busy ISP edge would hold: most hosts never touch port 25. */
static void make_profile(unsigned i, uint64_t t, uint8_t key[16], struct mg_src_stats *s, unsigned round)
{
	memset(s, 0, sizeof(*s));
	s->first_seen_ns = t - 3600 * SEC;
	s->last_seen_ns = t;
	s->syn_other = 10 + i % 50 + (round && i % 1000 == 0); /* a scan later, a few have moved */
	s->syn_mx = (i % 100 < mx_percent) ? 3 : 0;
	s->cmd[MG_CMD_EHLO] = s->syn_mx;
	s->mac[5] = (uint8_t)i;
	/* 198.18.0.0/15 holds 131 072 addresses; go past it in 2001:db8::/32 for the rest. */
	if (i < 131072) {
		mg_addr_from_v4(key, htonl(0xc6120000u + i));
	} else {
		memset(key, 0, 16);
		key[0] = 0x20;
		key[1] = 0x01;
		key[2] = 0x0d;
		key[3] = 0xb8;
		memcpy(key + 4, &i, 4); /* one /64 per profile */
	}
}

/* One full scan: feed every profile in batches, as mg_daemon_scan does. */
static double feed(struct mg_analyzer *a, uint8_t (*keys)[16], struct mg_src_stats *vals, unsigned n, uint64_t t)
{
	double t0 = now_ms();
	for (unsigned b = 0; b < n; b += BATCH)
		mg_an_on_counters_batch(a, (const uint8_t(*)[16])&keys[b], &vals[b], n - b < BATCH ? n - b : BATCH, t);
	return now_ms() - t0;
}

int main(int argc, char **argv)
{
	unsigned n = argc > 1 ? (unsigned)atoi(argv[1]) : N_SOURCES;
	if (argc > 2)
		mx_percent = (unsigned)atoi(argv[2]);
	if (mx_percent > 100)
		return 2;
	struct mg_an_config cfg;
	static struct mg_an_action actions[4096];
	uint64_t t = 1000 * SEC; /* an arbitrary monotonic time */
	uint8_t (*keys)[16] = malloc((size_t)n * 16);
	struct mg_src_stats *vals = malloc((size_t)n * sizeof(*vals));
	unsigned *order = malloc((size_t)n * sizeof(*order));

	if (!keys || !vals || !order || n == 0)
		return 1;
	/* The kernel's hash map hands entries back in bucket order: random with respect to the address. */
	srand(1);
	for (unsigned i = 0; i < n; i++)
		order[i] = i;
	for (unsigned i = n - 1; i > 0; i--) {
		unsigned j = (unsigned)(((uint64_t)rand() * RAND_MAX + (uint64_t)rand()) % (i + 1));
		unsigned x = order[i];
		order[i] = order[j];
		order[j] = x;
	}
	for (unsigned i = 0; i < n; i++)
		make_profile(order[i], t, keys[i], &vals[i], 0);

	mg_an_config_default(&cfg);
	long rss0 = rss_kb();
	struct mg_analyzer *a = mg_an_new(&cfg);
	if (!a)
		return 1;
	double feed1 = feed(a, keys, vals, n, t);
	long rss1 = rss_kb();
	double t0 = now_ms();
	size_t na = mg_an_tick(a, t, actions, 4096);
	double tick1 = now_ms() - t0;

	/* The steady state: a second later every profile is read again; a few changed. */
	t += SEC;
	for (unsigned i = 0; i < n; i++)
		make_profile(order[i], t, keys[i], &vals[i], 1);
	double feed2 = feed(a, keys, vals, n, t);
	t0 = now_ms();
	mg_an_tick(a, t, actions, 4096);
	double tick2 = now_ms() - t0;

	/* The same scan through the one-at-a-time entry point, for comparison. */
	t += SEC;
	t0 = now_ms();
	for (unsigned i = 0; i < n; i++)
		mg_an_on_counters(a, keys[i], &vals[i], t);
	double single = now_ms() - t0;

	size_t by_role[MG_ROLE_MAX];
	size_t count = mg_an_count(a, by_role);
	double per = (double)(rss1 - rss0) * 1024 / n;
	printf("analyzer benchmark: %zu profiles (%zu end hosts, %zu unknown; %u%% speak SMTP to MX hosts)\n", count,
	       by_role[MG_ROLE_END_HOST], by_role[MG_ROLE_UNKNOWN], mx_percent);
	printf("  first scan, creating every profile: feed %7.1f ms, tick %6.1f ms (%zu actions)\n", feed1, tick1, na);
	printf("  full scan (feed + tick), steady:    %7.1f ms  (%.0f ns/profile; tick %.1f ms)  goal < 250 ms: %s\n",
	       feed2 + tick2, (feed2 + tick2) * 1e6 / n, tick2, feed2 + tick2 < 250 ? "PASS" : "MISS");
	printf("  same scan one profile at a time:    %7.1f ms  (batched is %.1fx faster)\n", single,
	       single / feed2);
	printf("  daemon memory per profile:          %7.1f bytes  goal < 200: %s\n", per, per < 200 ? "PASS" : "MISS");
	mg_an_free(a);
	free(keys);
	free(vals);
	free(order);
	return 0;
}
