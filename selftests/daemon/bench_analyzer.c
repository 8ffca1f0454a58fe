// SPDX-License-Identifier: GPL-2.0-only
/*
 * bench_analyzer.c - the analyzer's cost at scale: feed 1 000 000 kernel
 * profiles (as one scan of the maps would), then time one evaluation pass over
 * all of them, and report the daemon memory each profile costs.
 * Pure userspace: no privileges needed.
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

int main(int argc, char **argv)
{
	unsigned n = argc > 1 ? (unsigned)atoi(argv[1]) : N_SOURCES;
	struct mg_an_config cfg;
	struct mg_src_stats s;
	uint8_t key[16];
	static struct mg_an_action actions[4096];
	uint64_t t = 1000ull * 1000000000ull; /* an arbitrary monotonic time */

	mg_an_config_default(&cfg);
	long rss0 = rss_kb();
	struct mg_analyzer *a = mg_an_new(&cfg);
	if (!a)
		return 1;

	/* Profiles as a busy ISP edge would hold: most hosts never touch port 25. */
	double t0 = now_ms();
	for (unsigned i = 0; i < n; i++) {
		memset(&s, 0, sizeof(s));
		s.first_seen_ns = t - 3600ull * 1000000000ull;
		s.last_seen_ns = t;
		s.syn_other = 10 + i % 50;
		s.syn_mx = (i % 100 == 0) ? 3 : 0;
		s.cmd[MG_CMD_EHLO] = s.syn_mx;
		s.mac[5] = (uint8_t)i;
		/* 198.18.0.0/15 holds 131 072 addresses; go past it in 2001:db8::/32 for the rest. */
		if (i < 131072) {
			mg_addr_from_v4(key, htonl(0xc6120000u + i));
		} else {
			memset(key, 0, 16);
			key[0] = 0x20; key[1] = 0x01; key[2] = 0x0d; key[3] = 0xb8;
			memcpy(key + 4, &i, 4); /* one /64 per profile */
		}
		mg_an_on_counters(a, key, &s, t);
	}
	double feed = now_ms() - t0;
	long rss1 = rss_kb();

	t0 = now_ms();
	size_t na = mg_an_tick(a, t, actions, 4096);
	double tick_all = now_ms() - t0;

	/* A second scan a second later: every profile is read again, a few changed. */
	t += 1000000000ull;
	t0 = now_ms();
	for (unsigned i = 0; i < n; i += 1) {
		if (i < 131072)
			mg_addr_from_v4(key, htonl(0xc6120000u + i));
		else {
			memset(key, 0, 16);
			key[0] = 0x20; key[1] = 0x01; key[2] = 0x0d; key[3] = 0xb8;
			memcpy(key + 4, &i, 4);
		}
		memset(&s, 0, sizeof(s));
		s.syn_other = 10 + i % 50 + (i % 1000 == 0);
		s.syn_mx = (i % 100 == 0) ? 3 : 0;
		s.cmd[MG_CMD_EHLO] = s.syn_mx;
		mg_an_on_counters(a, key, &s, t);
	}
	double feed2 = now_ms() - t0;
	t0 = now_ms();
	mg_an_tick(a, t, actions, 4096);
	double tick2 = now_ms() - t0;

	size_t by_role[MG_ROLE_MAX];
	size_t count = mg_an_count(a, by_role);
	printf("analyzer benchmark: %zu profiles\n", count);
	printf("  feeding one full scan of counters: %8.1f ms  (%.0f ns/profile)\n", feed, feed * 1e6 / n);
	printf("  evaluating all of them (tick):      %8.1f ms  (%zu actions)\n", tick_all, na);
	printf("  one scan later, feed + tick:         %8.1f ms  (feed %.1f, tick %.1f)\n", feed2 + tick2, feed2, tick2);
	printf("  full scan (feed + tick):             %8.1f ms  goal < 250 ms: %s\n", feed2 + tick2,
	       feed2 + tick2 < 250 ? "PASS" : "MISS");
	printf("  daemon memory per profile:           %8.1f bytes  goal < 200: %s\n",
	       (double)(rss1 - rss0) * 1024 / n, (double)(rss1 - rss0) * 1024 / n < 200 ? "PASS" : "MISS");
	mg_an_free(a);
	return 0;
}
