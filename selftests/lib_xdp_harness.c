// SPDX-License-Identifier: GPL-2.0-only
/* lib_xdp_harness.c - BPF_PROG_TEST_RUN harness for packet tests (see xdp_harness.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "mg_activity.h"
#include "mg_addr.h"
#include "mg_clock.h"
#include "mg_rulemaps.h"
#include "mg_stats.h"
#include "mg_xdp.skel.h"
#include "xdp_harness.h"

void xh_require_privileges(void)
{
	if (geteuid() != 0) {
		printf("SKIP: packet tests load BPF programs and use BPF_PROG_TEST_RUN: run as root\n");
		exit(77);
	}
}

static int on_event(void *ctx, void *data, size_t len)
{
	struct xh *h = ctx;

	if (len >= sizeof(struct mg_event) && h->nevents < XH_MAX_EVENTS)
		memcpy(&h->events[h->nevents++], data, sizeof(struct mg_event));
	return 0;
}

static int load(struct xh *h, const struct mg_tunables *tun, bool as_is)
{
	static const struct mg_tunables def = MG_TUNABLES_DEFAULT;
	int err;

	memset(h, 0, sizeof(*h));
	libbpf_set_print(NULL);
	h->skel = mg_xdp__open();
	if (!h->skel)
		return -errno;
	h->skel->rodata->mg_cfg = tun ? *tun : def;
	if (!h->skel->rodata->mg_cfg.tick_ns && !as_is)
		h->skel->rodata->mg_cfg.tick_ns = mg_tick_ns(); /* as the loader does */
	/* Small maps: the tests need few entries, and loads stay quick. */
	bpf_map__set_max_entries(h->skel->maps.mg_sources, 4096);
	bpf_map__set_max_entries(h->skel->maps.mg_servers, 256);
	bpf_map__set_max_entries(h->skel->maps.mg_blocklist, 4096);
	bpf_map__set_max_entries(h->skel->maps.mg_allowlist, 256);
	bpf_map__set_max_entries(h->skel->maps.mg_blocklist4, 4096);
	bpf_map__set_max_entries(h->skel->maps.mg_allowlist4, 256);
	bpf_map__set_max_entries(h->skel->maps.mg_rule_index4, mg_rule_entries4(mg_rule_bits4(h->skel->rodata->mg_cfg.rule_v4_bits)));
	bpf_map__set_max_entries(h->skel->maps.mg_rule_index6, mg_rule_entries6(mg_rule_bits6(h->skel->rodata->mg_cfg.rule_v6_bits)));
	bpf_map__set_max_entries(h->skel->maps.mg_src_filter,
				 mg_src_filter_entries(mg_src_filter_bits(h->skel->rodata->mg_cfg.src_filter_bits)));
	uint32_t records = mg_act_records(h->skel->rodata->mg_cfg.act);
	bpf_map__set_max_entries(h->skel->maps.mg_activity, records ? records : 1);
	err = mg_xdp__load(h->skel);
	if (err) {
		mg_xdp__destroy(h->skel);
		h->skel = NULL;
		return err;
	}
	h->prog_fd = bpf_program__fd(h->skel->progs.mtaguard_xdp);
	h->block_fd = bpf_map__fd(h->skel->maps.mg_blocklist);
	h->allow_fd = bpf_map__fd(h->skel->maps.mg_allowlist);
	h->block4_fd = bpf_map__fd(h->skel->maps.mg_blocklist4);
	h->allow4_fd = bpf_map__fd(h->skel->maps.mg_allowlist4);
	h->sources_fd = bpf_map__fd(h->skel->maps.mg_sources);
	h->servers_fd = bpf_map__fd(h->skel->maps.mg_servers);
	h->stats_fd = bpf_map__fd(h->skel->maps.mg_stats);
	h->settings_fd = bpf_map__fd(h->skel->maps.mg_settings);
	h->sketch_fd = bpf_map__fd(h->skel->maps.mg_syn_sketch);
	h->budget_fd = bpf_map__fd(h->skel->maps.mg_budget);
	h->flows_pending_fd = bpf_map__fd(h->skel->maps.mg_flows_pending);
	h->flows_established_fd = bpf_map__fd(h->skel->maps.mg_flows_established);
	h->flows_pending4_fd = bpf_map__fd(h->skel->maps.mg_flows_pending4);
	h->flows_established4_fd = bpf_map__fd(h->skel->maps.mg_flows_established4);
	h->outbreaks_fd = bpf_map__fd(h->skel->maps.mg_outbreaks);
	h->activity_fd = bpf_map__fd(h->skel->maps.mg_activity);
	struct mg_rulemap_fds fds = { .block4 = h->block4_fd, .block = h->block_fd, .allow4 = h->allow4_fd,
				      .allow = h->allow_fd, .index4 = bpf_map__fd(h->skel->maps.mg_rule_index4),
				      .index6 = bpf_map__fd(h->skel->maps.mg_rule_index6),
				      .lens = bpf_map__fd(h->skel->maps.mg_rule_lens),
				      .shorts = bpf_map__fd(h->skel->maps.data) };
	err = mg_rulemaps_open(&h->rules, &fds);
	if (!err)
		err = mg_srcfilter_open(&h->src_filter, bpf_map__fd(h->skel->maps.mg_src_filter));
	if (err) {
		xh_unload(h);
		return err;
	}
	h->rb = ring_buffer__new(bpf_map__fd(h->skel->maps.mg_events), on_event, h, NULL);
	if (!h->rb) {
		err = -errno;
		xh_unload(h);
		return err;
	}
	return 0;
}

int xh_load(struct xh *h, const struct mg_tunables *tun)
{
	return load(h, tun, false);
}

int xh_load_as_is(struct xh *h, const struct mg_tunables *tun)
{
	return load(h, tun, true);
}

void xh_unload(struct xh *h)
{
	mg_rulemaps_close(&h->rules);
	mg_srcfilter_close(&h->src_filter);
	ring_buffer__free(h->rb);
	if (h->skel)
		mg_xdp__destroy(h->skel);
	memset(h, 0, sizeof(*h));
}

static void clear_hash(int fd, size_t key_size)
{
	uint8_t key[64], next[64];

	/* Always restart from the first key: deleting while walking skips entries. */
	while (bpf_map_get_next_key(fd, NULL, next) == 0) {
		memcpy(key, next, key_size);
		if (bpf_map_delete_elem(fd, key))
			break;
	}
}

/* Every entry of a per-CPU array zeroed (mg_stats has one per interface slot). */
static void zero_percpu(int fd, size_t value_size, uint32_t entries)
{
	int n = libbpf_num_possible_cpus();
	size_t stride = (value_size + 7) & ~(size_t)7;
	void *buf = calloc((size_t)n, stride);

	for (uint32_t k = 0; buf && k < entries; k++)
		bpf_map_update_elem(fd, &k, buf, BPF_ANY);
	free(buf);
}

void xh_reset(struct xh *h)
{
	clear_hash(h->block_fd, sizeof(struct mg_lpm_key));
	clear_hash(h->allow_fd, sizeof(struct mg_lpm_key));
	clear_hash(h->block4_fd, sizeof(struct mg_rule_key4));
	clear_hash(h->allow4_fd, sizeof(struct mg_rule_key4));
	mg_rulemaps_rebuild(&h->rules); /* an index of no rules */
	xh_reset_traffic(h);
}

void xh_reset_traffic(struct xh *h)
{
	struct mg_settings s = {};
	uint32_t zero = 0;

	clear_hash(h->sources_fd, sizeof(struct mg_src_key));
	clear_hash(h->servers_fd, sizeof(struct mg_src_key));
	clear_hash(h->outbreaks_fd, sizeof(uint32_t));
	clear_hash(h->flows_pending_fd, sizeof(struct mg_flow_key));
	clear_hash(h->flows_established_fd, sizeof(struct mg_flow_key));
	clear_hash(h->flows_pending4_fd, sizeof(struct mg_flow_key4));
	clear_hash(h->flows_established4_fd, sizeof(struct mg_flow_key4));
	/* Never a SYN-ACK seen again: a test can tell whether its SYN-ACK set the flag. */
	uint32_t unseen = 0;
	bpf_map_update_elem(bpf_map__fd(h->skel->maps.mg_flows_seen), &zero, &unseen, BPF_ANY);
	zero_percpu(h->stats_fd, sizeof(struct mg_global_stats), MG_IFACE_SLOTS);
	zero_percpu(h->sketch_fd, sizeof(struct mg_sketch), 1);
	zero_percpu(h->budget_fd, sizeof(struct mg_budget), 1);
	bpf_map_update_elem(h->settings_fd, &zero, &s, BPF_ANY);
	struct mg_activity blank = {};
	for (uint32_t i = 0; i < xh_activity_records(h); i++)
		bpf_map_update_elem(h->activity_fd, &i, &blank, BPF_ANY);
	xh_events(h);
	h->nevents = 0;
}

uint32_t xh_activity_records(struct xh *h)
{
	return bpf_map__max_entries(h->skel->maps.mg_activity);
}

int xh_activity(struct xh *h, const char *addr, struct mg_activity *out)
{
	struct mg_act_view v = { 0 };
	uint8_t a[16];

	if (mg_addr_parse(addr, a))
		return -EINVAL;
	memcpy(v.ranges, (const void *)h->skel->rodata->mg_cfg.act, sizeof(v.ranges));
	int64_t i = mg_act_index(&v, a);
	if (i < 0)
		return -ENOENT;
	uint32_t key = (uint32_t)i;
	return bpf_map_lookup_elem(h->activity_fd, &key, out) ? -errno : 0;
}

bool xh_activity_any(struct xh *h)
{
	struct mg_activity r, blank = {};

	for (uint32_t i = 0; i < xh_activity_records(h); i++)
		if (bpf_map_lookup_elem(h->activity_fd, &i, &r) || memcmp(&r, &blank, sizeof(r)))
			return true;
	return false;
}

static int run_with(struct xh *h, const void *frame, size_t len, struct xdp_md *ctx)
{
	uint8_t out[4096];
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		    .data_in = frame,
		    .data_size_in = (uint32_t)len,
		    .data_out = out,
		    .data_size_out = sizeof(out),
		    .ctx_in = ctx,
		    .ctx_size_in = ctx ? sizeof(*ctx) : 0,
		    .repeat = 1);

	if (bpf_prog_test_run_opts(h->prog_fd, &opts))
		return -errno;
	return (int)opts.retval;
}

int xh_run(struct xh *h, const void *frame, size_t len)
{
	return run_with(h, frame, len, NULL);
}

int xh_run_on(struct xh *h, const void *frame, size_t len, uint32_t ifindex)
{
	/* The kernel wants the context to describe the frame: no metadata, data_end its length. */
	struct xdp_md ctx = { .data_end = (uint32_t)len, .ingress_ifindex = ifindex };

	return run_with(h, frame, len, &ctx);
}

void xh_stats(struct xh *h, struct mg_global_stats *out)
{
	if (mg_stats_read(h->stats_fd, out))
		memset(out, 0xff, sizeof(*out)); /* makes any equality assertion fail loudly */
}

int xh_source(struct xh *h, const char *addr, struct mg_src_stats *out)
{
	uint8_t key[16];

	if (mg_addr_parse(addr, key))
		return -EINVAL;
	if (!mg_addr_is_v4(key)) {
		const struct mg_tunables *t = (const struct mg_tunables *)&h->skel->rodata->mg_cfg;
		mg_addr_mask(key, mg_v6_key_len(t->v6_src_prefix, t->v6_nets, t->n_v6_nets, key));
	}
	return mg_source_read(h->servers_fd, h->sources_fd, key, out, NULL);
}

static struct mg_prefix prefix_or_die(const char *text)
{
	struct mg_prefix p;

	if (mg_prefix_parse(text, &p)) {
		fprintf(stderr, "bad prefix in test: %s\n", text);
		abort();
	}
	return p;
}

void xh_block(struct xh *h, const char *prefix, uint8_t action, uint64_t ttl_sec)
{
	struct mg_prefix p = prefix_or_die(prefix);

	if (mg_rulemap_block(&h->rules, &p, action, ttl_sec))
		abort();
}

void xh_block_expired(struct xh *h, const char *prefix, uint8_t action)
{
	struct mg_prefix p = prefix_or_die(prefix);

	/* Expired a nanosecond ago, as a rule the daemon has not yet removed. */
	if (mg_rulemap_block_until(&h->rules, &p, action, mg_mono_ns() - 1))
		abort();
}

void xh_allow(struct xh *h, const char *prefix)
{
	struct mg_prefix p = prefix_or_die(prefix);

	if (mg_rulemap_allow(&h->rules, &p))
		abort();
}

uint64_t xh_rule_hits(struct xh *h, const char *prefix)
{
	struct mg_prefix p = prefix_or_die(prefix);
	struct mg_rule r;

	return mg_rulemap_get(h->block4_fd, h->block_fd, &p, &r) ? UINT64_MAX : r.hits;
}

uint64_t xh_allow_hits(struct xh *h, const char *prefix)
{
	struct mg_prefix p = prefix_or_die(prefix);
	struct mg_rule r;

	return mg_rulemap_get(h->allow4_fd, h->allow_fd, &p, &r) ? UINT64_MAX : r.hits;
}

void xh_monitor(struct xh *h, bool on)
{
	struct mg_settings s = {};
	uint32_t zero = 0;

	bpf_map_lookup_elem(h->settings_fd, &zero, &s);
	s.monitor = on;
	bpf_map_update_elem(h->settings_fd, &zero, &s, BPF_ANY);
}

void xh_outbreak(struct xh *h, uint32_t fp_hash, bool on, bool announce)
{
	struct mg_outbreak_sig sig = { .level = 3 };
	struct mg_settings s = {};
	uint32_t zero = 0;

	if (on)
		bpf_map_update_elem(h->outbreaks_fd, &fp_hash, &sig, BPF_ANY);
	else
		bpf_map_delete_elem(h->outbreaks_fd, &fp_hash);
	/* The daemon keeps mg_settings.outbreaks equal to the entries; `announce` false tests the gate. */
	bpf_map_lookup_elem(h->settings_fd, &zero, &s);
	s.outbreaks = on && announce ? s.outbreaks + 1 : (on ? s.outbreaks : (s.outbreaks ? s.outbreaks - 1 : 0));
	bpf_map_update_elem(h->settings_fd, &zero, &s, BPF_ANY);
}

uint64_t xh_outbreak_drops(struct xh *h, uint32_t fp_hash)
{
	struct mg_outbreak_sig sig = {};

	if (bpf_map_lookup_elem(h->outbreaks_fd, &fp_hash, &sig))
		return UINT64_MAX;
	return sig.drops;
}

void xh_make_server(struct xh *h, const char *addr)
{
	struct mg_src_stats s = {};
	uint8_t key[16];

	if (mg_addr_parse(addr, key))
		abort();
	if (bpf_map_lookup_elem(h->sources_fd, key, &s) == 0)
		bpf_map_delete_elem(h->sources_fd, key);
	mg_srcfilter_note(&h->src_filter, key);
	if (bpf_map_update_elem(h->servers_fd, key, &s, BPF_ANY))
		abort();
}

int xh_events(struct xh *h)
{
	ring_buffer__consume(h->rb);
	return h->nevents;
}
