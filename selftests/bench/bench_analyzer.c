// SPDX-License-Identifier: GPL-2.0-only
/*
 * bench_analyzer.c - the analyzer's cost at scale: N kernel profiles fed as
 * the daemon's scan feeds them (batches of 8192, in the kernel map's hash
 * order, i.e. shuffled), a tick over all of them, and the daemon memory each
 * profile costs. Pure userspace: no privileges needed.
 *
 *   bench-analyzer                     the table: 1M and 10M profiles, 1 % and 100 % SMTP
 *   bench-analyzer N PERCENT [-c] [-s] one row
 *
 * PERCENT is the share of sources that speak SMTP to MX hosts: those carry
 * the analyzer's SMTP record, and each sends one HELO event with a name of
 * its own (the worst case for the HELO table: no two share a name; an IPv6
 * one also starts the hosts list of its /64). 100 is the worst case. With
 * -c (and in the table's last row) no HELO events, counters only: the case
 * this benchmark measured before the HELO events were added (420 bytes).
 * With -s the state is saved and restored whatever N (by default only up
 * to SAVE_ROWS_MAX profiles: beyond, it takes minutes).
 *
 * Each row runs in a child process of its own, so the memory figure (growth
 * of the resident set from before the analyzer exists to after the steady
 * scan: every allocation the analyzer made, allocator overhead included) is
 * not blurred by a previous row's freed pages.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include <arpa/inet.h>

#include "mg_addr.h"
#include "mg_analyzer.h"
#include "mg_engine.h"
#include "mg_hash.h"
#include "mg_statefile.h"

#define BATCH 8192 /* what the daemon reads per bpf_map_lookup_batch */
#define SEC 1000000000ull
#define GOAL_SCAN_NS 250.0   /* per profile: 250 ms for a million */
#define GOAL_BYTES_WORST 128 /* every source an MX sender */
#define GOAL_BYTES_TYPICAL 64
#define ROUTER_BYTES (24ull << 30) /* the router the issue names: 24 GiB */

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

/* VmHWM, the resident set's peak, in kB (0 if unknown). */
static long hwm_kb(void)
{
	char line[128];
	long kb = 0;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

/* The peak brought down to the resident set now (clear_refs 5), so the next peak is one phase's own. */
static bool hwm_reset(void)
{
	FILE *f = fopen("/proc/self/clear_refs", "w");
	bool ok = f && fputs("5", f) >= 0;

	if (f && fclose(f))
		ok = false;
	return ok;
}

struct row {
	unsigned n, pct;
	bool counters_only;
	size_t count, end_hosts;
	double helo_ms, feed1_ms, tick1_ms, feed2_ms, tick2_ms, single_ms;
	double bytes;
	/* The state save (rows of up to SAVE_ROWS_MAX profiles): serialization whole, its longest step, the file. */
	bool saved;
	double save_ms, save_step_ms, write_ms, raw_mb, file_mb;
	double save_peak_mb; /* the resident set's peak growth during the save (negative: unknown) */
	/* The restore at the daemon's start: the file read, decompressed and restored as it comes. */
	double restore_ms;
	size_t restored;
	/*
	 * The resident set during the restore, from just before it: its peak
	 * growth (what a start needs on top of what was there) and the growth
	 * left after it (the restored analyzer itself). The peak is unknown
	 * (negative) where /proc/self/clear_refs cannot be written.
	 */
	double restore_peak_mb, restore_kept_mb;
};

/* Saves are measured up to this many profiles: ten million worst-case ones take minutes to compress. */
#define SAVE_ROWS_MAX 1000000
#define SAVE_STEP 1024 /* the daemon's step (mg_daemon.c) */

/* The file's chunks to the analyzer, as mg_engine.c's restore_analyzer hands them. */
static int restore_chunk(void *restorer, const uint8_t *data, size_t len)
{
	return mg_an_restore_feed(restorer, data, len);
}

/* A piece of the save handed on as the engine does (MG_ENGINE_SAVE_PIECE), its writing timed apart. */
static bool save_put(struct mg_state_out *o, uint8_t *buf, size_t len, struct row *r)
{
	double t0 = now_ms();
	int err = buf ? mg_state_out_put(o, buf, len) : 0;

	free(buf);
	r->write_ms += now_ms() - t0;
	r->raw_mb += (double)len / 1e6;
	return !err;
}

/*
 * The state save as the daemon makes it: serialized in steps, each piece
 * compressed and written as it is made (the daemon does that in a thread;
 * here it is timed apart), then committed.
 */
static void measure_save(const struct mg_analyzer *a, uint64_t t, struct row *r)
{
	struct mg_an_saver sv;
	struct mg_state_out *o;
	char dir[] = "/tmp/mg-bench-state.XXXXXX", path[sizeof(dir) + 16];
	uint8_t *buf;
	size_t len;

	if (!mkdtemp(dir))
		return;
	snprintf(path, sizeof(path), "%s/state.gz", dir);
	bool peak = hwm_reset();
	long rss0 = rss_kb();
	if (mg_state_out_open(&o, path)) {
		rmdir(dir);
		return;
	}
	if (mg_an_save_begin(a, &sv, t, 1800000000ull * 1000000000ull)) {
		mg_state_out_abort(o);
		rmdir(dir);
		return;
	}
	bool ok = true;
	for (int done = 0; ok && !done;) {
		double s0 = now_ms();
		done = mg_an_save_step(a, &sv, SAVE_STEP, t);
		if (done == 1 && mg_an_save_finish(&sv, &buf, &len))
			done = -1;
		else if (!done && sv.len >= MG_ENGINE_SAVE_PIECE)
			mg_an_save_take(&sv, &buf, &len);
		else if (!done)
			buf = NULL, len = 0;
		double took = now_ms() - s0;
		r->save_ms += took;
		if (took > r->save_step_ms)
			r->save_step_ms = took;
		ok = done >= 0 && save_put(o, buf, len, r);
	}
	double t0 = now_ms();
	int err = ok ? mg_state_out_commit(o) : (mg_state_out_abort(o), -1);
	r->write_ms += now_ms() - t0;
	r->save_peak_mb = peak ? (double)(hwm_kb() - rss0) / 1024 : -1;
	FILE *f = err ? NULL : fopen(path, "rb");
	if (f && !fseek(f, 0, SEEK_END)) {
		r->file_mb = (double)ftell(f) / 1e6;
		r->saved = true;
	}
	if (f)
		fclose(f);
	/* And back, as a daemon starting with this file restores it (before it tells systemd it is ready). */
	if (r->saved) {
		struct mg_an_config cfg;
		struct mg_an_restore_report rep;
		mg_an_config_default(&cfg);
		bool peak = hwm_reset();
		long rss0 = rss_kb();
		struct mg_analyzer *b = mg_an_new(&cfg);
		struct mg_an_restorer *rs = b ? mg_an_restore_begin(b, t + SEC, 1800000000ull * 1000000000ull + SEC, &rep)
					      : NULL;
		t0 = now_ms();
		if (rs && mg_state_read_stream(path, restore_chunk, rs))
			mg_an_restore_abort(rs);
		else if (rs && !mg_an_restore_end(rs))
			r->restored = rep.restored;
		r->restore_ms = now_ms() - t0;
		r->restore_kept_mb = (double)(rss_kb() - rss0) / 1024;
		r->restore_peak_mb = peak ? (double)(hwm_kb() - rss0) / 1024 : -1;
		mg_an_free(b);
	}
	unlink(path);
	rmdir(dir);
}

static bool speaks_smtp(unsigned i, unsigned pct)
{
	return i % 100 < pct;
}

/* Source i's address: 198.18.0.0/15 holds 131 072; past it, one 2001:db8::/32 /64 each. */
static void addr_of(unsigned i, uint8_t key[16])
{
	if (i < 131072) {
		mg_addr_from_v4(key, htonl(0xc6120000u + i));
	} else {
		memset(key, 0, 16);
		key[0] = 0x20;
		key[1] = 0x01;
		key[2] = 0x0d;
		key[3] = 0xb8;
		memcpy(key + 4, &i, 4);
		key[15] = 1; /* a host inside the /64 */
	}
}

/* Profiles as a busy ISP edge would hold: most hosts never touch port 25. */
static void make_profile(unsigned i, uint64_t t, unsigned pct, uint8_t key[16], struct mg_src_stats *s,
			 unsigned round)
{
	memset(s, 0, sizeof(*s));
	s->first_seen_ns = t - 3600 * SEC;
	s->last_seen_ns = t;
	s->syn_other = 10 + i % 50 + (round && i % 1000 == 0); /* a scan later, a few have moved */
	if (speaks_smtp(i, pct)) {
		s->syn_mx = 3;
		s->cmd[MG_CMD_EHLO] = 3;
		s->cmd[MG_CMD_MAIL] = 3;
		s->cmd[MG_CMD_RCPT] = 3;
		s->reply[MG_REPLY_2XX] = 12;
		s->mx_dst_bits = 1ull << (i % 64) | 1ull << ((i / 64) % 64);
	}
	s->mac[5] = (uint8_t)i;
	addr_of(i, key);
	if (key[0] == 0x20)
		memset(key + 8, 0, 8); /* the kernel keys IPv6 by /64 */
}

/* One full scan: every profile in batches, as mg_daemon_scan does; only the analyzer's part is timed. */
static double feed(struct mg_analyzer *a, const unsigned *order, unsigned n, unsigned pct, uint64_t t,
		   unsigned round)
{
	static uint8_t keys[BATCH][16];
	static struct mg_src_stats vals[BATCH];
	double spent = 0;

	for (unsigned b = 0; b < n; b += BATCH) {
		unsigned m = n - b < BATCH ? n - b : BATCH;
		for (unsigned k = 0; k < m; k++)
			make_profile(order[b + k], t, pct, keys[k], &vals[k], round);
		double t0 = now_ms();
		mg_an_on_counters_batch(a, (const uint8_t(*)[16])keys, vals, m, t);
		spent += now_ms() - t0;
	}
	return spent;
}

/* The HELO event each SMTP source's first session sends, with a name no other source uses. */
static double helos(struct mg_analyzer *a, const unsigned *order, unsigned n, unsigned pct, uint64_t t)
{
	struct mg_event ev;
	double t0 = now_ms();

	for (unsigned k = 0; k < n; k++) {
		unsigned i = order[k];
		if (!speaks_smtp(i, pct))
			continue;
		memset(&ev, 0, sizeof(ev));
		ev.type = MG_EV_HELO;
		ev.detail = MG_CMD_EHLO;
		ev.dport = 25;
		addr_of(i, ev.src);
		ev.mac[5] = (uint8_t)i;
		int len = snprintf(ev.u.arg, sizeof(ev.u.arg), "host-%u.customers.example.net", i);
		ev.arg_len = (uint8_t)len;
		ev.helo_hash = mg_helo_hash(ev.u.arg, (uint32_t)len);
		mg_an_on_event(a, &ev, t);
	}
	return now_ms() - t0;
}

static int run_row(unsigned n, unsigned pct, bool counters_only, bool save_any, struct row *r)
{
	static struct mg_an_action actions[4096];
	struct mg_an_config cfg;
	uint64_t t = 1000 * SEC; /* an arbitrary monotonic time */
	unsigned *order = malloc((size_t)n * sizeof(*order));

	if (!order)
		return 1;
	memset(r, 0, sizeof(*r));
	r->n = n;
	r->pct = pct;
	r->counters_only = counters_only;
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
	mg_an_config_default(&cfg);
	long rss0 = rss_kb();
	struct mg_analyzer *a = mg_an_new(&cfg);
	if (!a)
		return 1;
	r->helo_ms = counters_only ? 0 : helos(a, order, n, pct, t);
	r->feed1_ms = feed(a, order, n, pct, t, 0);
	double t0 = now_ms();
	mg_an_tick(a, t, actions, 4096);
	r->tick1_ms = now_ms() - t0;

	/* The steady state: a second later every profile is read again; a few changed. */
	t += SEC;
	r->feed2_ms = feed(a, order, n, pct, t, 1);
	t0 = now_ms();
	mg_an_tick(a, t, actions, 4096);
	r->tick2_ms = now_ms() - t0;
	long rss1 = rss_kb();
	r->bytes = (double)(rss1 - rss0) * 1024 / n;

	/* The same scan through the one-at-a-time entry point, for comparison. */
	t += SEC;
	uint8_t key[16];
	struct mg_src_stats s;
	double single = 0;
	for (unsigned k = 0; k < n; k++) {
		make_profile(order[k], t, pct, key, &s, 1);
		t0 = now_ms();
		mg_an_on_counters(a, key, &s, t);
		single += now_ms() - t0;
	}
	r->single_ms = single;

	if (n <= SAVE_ROWS_MAX || save_any)
		measure_save(a, t, r);
	size_t by_role[MG_ROLE_MAX];
	r->count = mg_an_count(a, by_role);
	r->end_hosts = by_role[MG_ROLE_END_HOST];
	mg_an_free(a);
	free(order);
	return 0;
}

/* A row in a child of its own (see the top of the file). */
static int run_child(unsigned n, unsigned pct, bool counters_only, bool save_any, struct row *r)
{
	int fd[2];
	pid_t pid;

	fflush(stdout);
	if (pipe(fd) || (pid = fork()) < 0)
		return 1;
	if (pid == 0) {
		close(fd[0]);
		int err = run_row(n, pct, counters_only, save_any, r);
		if (!err && write(fd[1], r, sizeof(*r)) != (ssize_t)sizeof(*r))
			err = 1;
		_exit(err);
	}
	close(fd[1]);
	ssize_t got = read(fd[0], r, sizeof(*r));
	close(fd[0]);
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) || got != (ssize_t)sizeof(*r))
		return 1;
	return 0;
}

static void print_row(const struct row *r)
{
	double scan = r->feed2_ms + r->tick2_ms, per = scan * 1e6 / r->n;
	unsigned goal = r->pct >= 100 ? GOAL_BYTES_WORST : GOAL_BYTES_TYPICAL;

	printf("| %10u | %3u %%%s | %9.0f | %8.0f | %7.1f | %5.0f %-4s | %6.0f | %7.1f %-4s (goal %3u) |\n", r->n, r->pct,
	       r->counters_only ? " c" : "  ", r->helo_ms + r->feed1_ms + r->tick1_ms, scan, r->tick2_ms, per, per < GOAL_SCAN_NS ? "PASS" : "MISS",
	       r->single_ms, r->bytes, r->bytes <= goal ? "PASS" : "MISS", goal);
}

static void print_save(const struct row *r)
{
	char peak[32] = "an unknown amount";
	if (r->save_peak_mb >= 0)
		snprintf(peak, sizeof(peak), "%.0f MB", r->save_peak_mb);
	if (r->saved)
		printf("state save, %u profiles, %u %%%s: serialized in %.0f ms (its longest %u-profile step %.1f ms), "
		       "%.0f MB; compressed and written as it came, fsynced, in %.0f ms, %.1f MB; "
		       "resident set grew by %s at its peak\n",
		       r->n, r->pct, r->counters_only ? " c" : "", r->save_ms, SAVE_STEP, r->save_step_ms, r->raw_mb,
		       r->write_ms, r->file_mb, peak);
	snprintf(peak, sizeof(peak), "an unknown amount");
	if (r->restore_peak_mb >= 0)
		snprintf(peak, sizeof(peak), "%.0f MB", r->restore_peak_mb);
	if (r->restored)
		printf("state restore, %u profiles, %u %%%s: %zu profiles read, decompressed and restored in %.0f ms; "
		       "resident set grew by %s at its peak, %.0f MB kept (the restored analyzer)\n",
		       r->n, r->pct, r->counters_only ? " c" : "", r->restored, r->restore_ms, peak, r->restore_kept_mb);
}

int main(int argc, char **argv)
{
	static const struct {
		unsigned n, pct;
		bool counters_only;
	} table[] = { { 1000000, 1, false }, { 1000000, 100, false }, { 10000000, 1, false }, { 10000000, 100, false },
		      { 1000000, 100, true } };
	struct row r, worst = { 0 }, saves[sizeof(table) / sizeof(table[0])] = { 0 };

	bool c = false, save_any = false, bad = argc == 2;
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "-c") && !c)
			c = true;
		else if (!strcmp(argv[i], "-s") && !save_any)
			save_any = true;
		else
			bad = true;
	}
	if (bad) {
		fprintf(stderr, "usage: bench-analyzer [N PERCENT [-c] [-s]]\n");
		return 2;
	}
	printf("analyzer benchmark: a full scan (feed + tick) of N profiles and the daemon memory each costs;\n"
	       "PERCENT of them speak SMTP to MX hosts, each with a HELO name of its own (100 %%: the worst case)\n");
	printf("| profiles   | SMTP    | first, ms | scan, ms | tick ms | ns/profile | single | bytes/profile                |\n");
	printf("|-----------:|--------:|----------:|---------:|--------:|-----------:|-------:|:-----------------------------|\n");
	if (argc >= 3) {
		unsigned n = (unsigned)atoi(argv[1]), pct = (unsigned)atoi(argv[2]);
		if (!n || pct > 100 || run_child(n, pct, c, save_any, &r))
			return 1;
		print_row(&r);
		print_save(&r);
		return 0;
	}
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (run_child(table[i].n, table[i].pct, table[i].counters_only, false, &r))
			return 1;
		print_row(&r);
		saves[i] = r;
		if (r.pct == 100 && !r.counters_only && r.bytes > worst.bytes)
			worst = r;
	}
	printf("first: the first scan, creating every profile (HELO events included); scan: a steady full scan;\n"
	       "single: the same scan one profile at a time (ms); scan goal < %.0f ns a profile;\n"
	       "c: counters only, no HELO events (as this benchmark measured 420 bytes before).\n", GOAL_SCAN_NS);
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		print_save(&saves[i]);
	printf("A 24 GiB router holds %.1f million profiles in the worst case (%.0f bytes each), with nothing else in it.\n",
	       (double)ROUTER_BYTES / worst.bytes / 1e6, worst.bytes);
	return 0;
}
