// SPDX-License-Identifier: GPL-2.0-only
/* mg_kernel_sink.c - the engine's writes into the BPF maps (see mg_kernel_sink.h). */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>

#include "mg_kernel_sink.h"
#include "mg_stats.h"
#include "mg_rulemaps.h"

/* An instant of the engine's as the kernel's clock reads it (on another timeline: as it is, for show). */
static uint64_t kernel_time(const struct mg_kernel_sink *k, uint64_t t)
{
	if (!k->kernel_clock)
		return t;
	/* Never 0 (an expiry of 0 means "never"), and no wrap-around. */
	return t > k->origin + 1 ? t - k->origin : 1;
}

/* A rule's expiry for the kernel: 0 is the map's "no expiry". */
static uint64_t kernel_expiry(const struct mg_kernel_sink *k, uint64_t t)
{
	return t == MG_TIME_NEVER || !k->kernel_clock ? 0 : kernel_time(k, t);
}

/* A kernel rule's expiry on the engine's timeline (0 is "no expiry"). */
static uint64_t from_kernel_expiry(const struct mg_kernel_sink *k, uint64_t t)
{
	return t ? t + k->origin : MG_TIME_NEVER;
}

static int put_block(void *ctx, const struct mg_prefix *p, uint8_t action, uint64_t expires)
{
	struct mg_kernel_sink *k = ctx;
	return mg_rulemap_block_until(&k->h->rules, p, action, kernel_expiry(k, expires));
}

static int del_block(void *ctx, const struct mg_prefix *p)
{
	struct mg_kernel_sink *k = ctx;
	return mg_rulemap_unblock(&k->h->rules, p);
}

static int put_allow(void *ctx, const struct mg_prefix *p)
{
	struct mg_kernel_sink *k = ctx;
	return mg_rulemap_allow(&k->h->rules, p);
}

static int del_allow(void *ctx, const struct mg_prefix *p)
{
	struct mg_kernel_sink *k = ctx;
	return mg_rulemap_unallow(&k->h->rules, p);
}

/* Move one profile between the two profile maps, counters and all; an absent one starts at zero. */
static int move_profile(struct mg_srcfilter *f, int from_fd, int to_fd, const uint8_t key[16])
{
	struct mg_src_stats s;

	if (bpf_map_lookup_elem(to_fd, key, &s) == 0) {
		bpf_map_delete_elem(from_fd, key);
		return 0; /* already there */
	}
	if (bpf_map_lookup_elem(from_fd, key, &s))
		memset(&s, 0, sizeof(s));
	mg_srcfilter_note(f, key); /* before the profile is there: the program must never miss it */
	if (bpf_map_update_elem(to_fd, key, &s, BPF_NOEXIST) && errno != EEXIST)
		return -errno;
	bpf_map_delete_elem(from_fd, key);
	return 0;
}

static int put_server(void *ctx, const uint8_t key[16])
{
	struct mg_kernel_sink *k = ctx;
	return move_profile(&k->h->src_filter, k->h->sources_fd, k->h->servers_fd, key);
}

static int del_server(void *ctx, const uint8_t key[16])
{
	struct mg_kernel_sink *k = ctx;
	struct mg_src_stats s;

	if (bpf_map_lookup_elem(k->h->servers_fd, key, &s))
		return -ENOENT;
	return move_profile(&k->h->src_filter, k->h->servers_fd, k->h->sources_fd, key);
}

static int put_outbreak(void *ctx, uint32_t fp, unsigned level, uint64_t since)
{
	struct mg_kernel_sink *k = ctx;
	struct mg_outbreak_sig ks = { 0 };

	/* Keep the kernel's drop count across level changes. */
	bpf_map_lookup_elem(k->h->outbreaks_fd, &fp, &ks);
	ks.level = level;
	ks.since_ns = kernel_time(k, since);
	return bpf_map_update_elem(k->h->outbreaks_fd, &fp, &ks, BPF_ANY) ? -errno : 0;
}

static int del_outbreak(void *ctx, uint32_t fp)
{
	struct mg_kernel_sink *k = ctx;
	return bpf_map_delete_elem(k->h->outbreaks_fd, &fp) ? -errno : 0;
}

static uint64_t coarse_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The profile filter is refreshed once a minute: a flood's evicted profiles leave bits for that long at most. */
#define FILTER_REFRESH_NS (60ull * 1000000000ull)

struct scan_wrap {
	void (*fn)(const uint8_t (*keys)[16], const struct mg_src_stats *s, size_t n, void *arg);
	void *arg;
	struct mg_srcfilter *f;
};

/* Every profile the scan reads gets its bit in the generation being refreshed. */
static void scan_and_mark(const uint8_t (*keys)[16], const struct mg_src_stats *s, size_t n, void *arg)
{
	struct scan_wrap *w = arg;

	for (size_t i = 0; i < n; i++)
		mg_srcfilter_note(w->f, keys[i]);
	w->fn(keys, s, n, w->arg);
}

static int scan(void *ctx, void (*fn)(const uint8_t (*keys)[16], const struct mg_src_stats *s, size_t n, void *arg),
		void *arg)
{
	struct mg_kernel_sink *k = ctx;
	uint64_t now = coarse_now();
	bool refresh = k->h->src_filter.w &&
		       (!k->filter_refreshed || now - k->filter_refreshed_ns >= FILTER_REFRESH_NS);
	struct scan_wrap w = { .fn = fn, .arg = arg, .f = &k->h->src_filter };

	/* The scan reads every profile anyway: refreshing the filter costs it a bit per profile. */
	if (refresh)
		mg_srcfilter_refresh_begin(&k->h->src_filter);
	long a = mg_scan_map(&k->scan, k->h->sources_fd, refresh ? scan_and_mark : fn, refresh ? (void *)&w : arg);
	long b = mg_scan_map(&k->scan, k->h->servers_fd, refresh ? scan_and_mark : fn, refresh ? (void *)&w : arg);
	if (refresh && a >= 0 && b >= 0) {
		mg_srcfilter_refresh_end(&k->h->src_filter);
		k->filter_refreshed = true;
		k->filter_refreshed_ns = now;
	}
	return a < 0 ? (int)a : b < 0 ? (int)b : 0;
}

static int read_one(void *ctx, const uint8_t key[16], struct mg_src_stats *out)
{
	struct mg_kernel_sink *k = ctx;
	const char *table;
	return mg_source_read(k->h->servers_fd, k->h->sources_fd, key, out, &table);
}

static int set_monitor(void *ctx, bool on)
{
	struct mg_kernel_sink *k = ctx;
	return mg_set_monitor(k->h->settings_fd, on);
}

static int set_outbreak_count(void *ctx, uint32_t n)
{
	struct mg_kernel_sink *k = ctx;
	return mg_set_outbreaks(k->h->settings_fd, n);
}

/*
 * The records are the kernel's pages, mapped: only the clock to judge their
 * age by is read here. It is the kernel's own (the records' time), on the
 * replay's capture timeline as well as on the daemon's.
 */
static const struct mg_act_view *activity(void *ctx)
{
	struct mg_kernel_sink *k = ctx;
	struct timespec ts;

	if (!k->act.rec)
		return NULL;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	k->act.now = (uint32_t)(((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec) >> MG_ACT_TIME_SHIFT);
	return &k->act;
}

const struct mg_engine_sink mg_kernel_sink_ops = {
	.rules = {
		.put_block = put_block,
		.del_block = del_block,
		.put_allow = put_allow,
		.del_allow = del_allow,
		.put_server = put_server,
		.del_server = del_server,
		.put_outbreak = put_outbreak,
		.del_outbreak = del_outbreak,
	},
	.scan = scan,
	.read_one = read_one,
	.set_monitor = set_monitor,
	.set_outbreak_count = set_outbreak_count,
	.activity = activity,
};

int mg_kernel_sink_init(struct mg_kernel_sink *k, struct mg_handle *h, uint64_t origin, bool kernel_clock)
{
	memset(k, 0, sizeof(*k));
	k->h = h;
	k->origin = origin;
	k->kernel_clock = kernel_clock;
	if (h->activity && mg_act_records(h->act_ranges)) {
		k->act.rec = h->activity;
		k->act.n = h->activity_n;
		memcpy(k->act.ranges, h->act_ranges, sizeof(k->act.ranges));
	}
	return mg_scan_init(&k->scan, 8192);
}

void mg_kernel_sink_free(struct mg_kernel_sink *k)
{
	mg_scan_free(&k->scan);
}

struct adopt_ctx {
	struct mg_kernel_sink *k;
	struct mg_engine *e;
	bool allow;
};

static int adopt_rule(const struct mg_prefix *p, const struct mg_rule *r, void *arg)
{
	struct adopt_ctx *c = arg;

	mg_engine_adopt_rule(c->e, p, c->allow, r->action, from_kernel_expiry(c->k, r->expires_ns));
	return 0;
}

int mg_kernel_sink_adopt(struct mg_kernel_sink *k, struct mg_engine *e, const char **what)
{
	struct adopt_ctx c = { .k = k, .e = e, .allow = false };
	uint32_t key, next, *prev = NULL;
	struct mg_outbreak_sig ks;
	int err = mg_rulemap_foreach(k->h->block4_fd, k->h->block_fd, adopt_rule, &c), err2;

	/* A failed read: counted and said; the allows are read all the same. */
	if (err) {
		k->adopt_failed++;
		if (what)
			*what = "block";
	}
	c.allow = true;
	err2 = mg_rulemap_foreach(k->h->allow4_fd, k->h->allow_fd, adopt_rule, &c);
	if (err2) {
		k->adopt_failed++;
		if (what)
			*what = err ? "block and allow" : "allow";
		if (!err)
			err = err2;
	}
	while (bpf_map_get_next_key(k->h->outbreaks_fd, prev, &next) == 0) {
		if (bpf_map_lookup_elem(k->h->outbreaks_fd, &next, &ks) == 0)
			mg_engine_adopt_outbreak(e, next, ks.level, ks.since_ns + k->origin);
		key = next;
		prev = &key;
	}
	return err;
}
