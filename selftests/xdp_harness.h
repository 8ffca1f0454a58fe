/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * xdp_harness.h - run frames through the real mtaguard XDP program with
 * BPF_PROG_TEST_RUN and read back what it did (verdict, counters, profiles,
 * events). The program is loaded from the same skeleton the loader uses.
 */
#ifndef XDP_HARNESS_H
#define XDP_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "mtaguard.h"
#include "mg_rulemaps.h"
#include "mg_srcfilter.h"

struct mg_xdp;
struct ring_buffer;

#define XH_MAX_EVENTS 64

struct xh {
	struct mg_xdp *skel;
	int prog_fd;
	int block4_fd, allow4_fd; /* the IPv4 rules (8-byte keys); block_fd and allow_fd hold the rest */
	int block_fd, allow_fd, sources_fd, servers_fd, stats_fd, settings_fd, sketch_fd, budget_fd, outbreaks_fd;
	int activity_fd; /* mg_activity, sized to the tunables' protected ranges */
	int flows_pending_fd, flows_established_fd;   /* IPv6 connections */
	int flows_pending4_fd, flows_established4_fd; /* IPv4 connections */
	struct mg_rulemaps rules; /* rules are written as the daemon writes them, index and all */
	struct mg_srcfilter src_filter; /* profiles moved by the harness get their bit first, as the daemon's */
	struct ring_buffer *rb;
	struct mg_event events[XH_MAX_EVENTS];
	int nevents;
};

/* Exit with 77 (skip) and a reason unless we may load BPF programs. */
void xh_require_privileges(void);

/* Load the program with `tun` (NULL: defaults; a tick_ns of 0 filled as the loader does). Returns 0 or -errno. */
int xh_load(struct xh *h, const struct mg_tunables *tun);
/* The same with `tun` exactly as given: tick_ns 0 is the program's fallback to the coarse clock. */
int xh_load_as_is(struct xh *h, const struct mg_tunables *tun);
void xh_unload(struct xh *h);
/* Empty every map (rules, profiles, counters, settings, buckets, sketch, events). */
void xh_reset(struct xh *h);
/*
 * The same but the rules: what traffic left (profiles, counters, settings,
 * buckets, sketch, events). Rewriting the rule index is most of a reset's
 * cost, and a loop of frames that changes no rule need not pay it each time.
 */
void xh_reset_traffic(struct xh *h);

/* Run one frame; returns the XDP verdict (XDP_PASS, XDP_DROP, ...) or -errno. */
int xh_run(struct xh *h, const void *frame, size_t len);
/*
 * The same, arriving on the interface `ifindex` (ctx->ingress_ifindex; the
 * kernel looks it up in the caller's network namespace, so it must exist
 * there). xh_run's frames arrive on that namespace's loopback, ifindex 1.
 */
int xh_run_on(struct xh *h, const void *frame, size_t len, uint32_t ifindex);

void xh_stats(struct xh *h, struct mg_global_stats *out);
/* Profile of `addr` (text; IPv6 masked to /64 as the kernel does by default). 0 or -ENOENT. */
int xh_source(struct xh *h, const char *addr, struct mg_src_stats *out);
/* Add rules by text prefix. */
void xh_block(struct xh *h, const char *prefix, uint8_t action, uint64_t ttl_sec);
void xh_block_expired(struct xh *h, const char *prefix, uint8_t action);
void xh_allow(struct xh *h, const char *prefix);
uint64_t xh_rule_hits(struct xh *h, const char *prefix);  /* of the block rule */
uint64_t xh_allow_hits(struct xh *h, const char *prefix);
void xh_monitor(struct xh *h, bool on);
/* Add (or remove) an outbreak signature; announce: also count it in mg_settings.outbreaks. */
void xh_outbreak(struct xh *h, uint32_t fp_hash, bool on, bool announce);
/* Drops counted for a signature (UINT64_MAX if absent). */
uint64_t xh_outbreak_drops(struct xh *h, uint32_t fp_hash);
/* Move a profile into mg_servers, as the daemon does for mail servers. */
void xh_make_server(struct xh *h, const char *addr);

/* The activity record of `addr` (its /64 for IPv6). 0, or -ENOENT outside the protected ranges. */
int xh_activity(struct xh *h, const char *addr, struct mg_activity *out);
/* Records in mg_activity, and whether any of them was ever touched. */
uint32_t xh_activity_records(struct xh *h);
bool xh_activity_any(struct xh *h);

/* Drain the ring buffer into h->events; returns how many are there now. */
int xh_events(struct xh *h);

#endif
