/* SPDX-License-Identifier: GPL-2.0-only */
/* mg_stats.h - reading the kernel's counters: global per-CPU stats, per-source profiles, the SYN sketch. */
#ifndef MG_STATS_H
#define MG_STATS_H

#include <stdint.h>
#include <jansson.h>
#include "mtaguard.h"

/* Sum mg_stats over all CPUs and interface slots. */
int mg_stats_read(int stats_fd, struct mg_global_stats *out);
/* One interface slot's counts (MG_IFACE_SLOTS: an ifindex modulo it), summed over the CPUs. */
int mg_stats_read_slot(int stats_fd, uint32_t slot, struct mg_global_stats *out);
/* Look up a source (per-source key, i.e. IPv6 masked to the aggregation prefix) in mg_servers then mg_sources.
 * *table is set to "servers" or "sources". Returns 0 or -ENOENT. */
int mg_source_read(int servers_fd, int sources_fd, const uint8_t key[16], struct mg_src_stats *out, const char **table);
/* Estimated SYNs from `addr` in the sketch (min over rows, summed over CPUs); klass 1 = SMTP ports, 0 = other. */
uint64_t mg_sketch_estimate(int sketch_fd, const uint8_t addr[16], uint8_t klass);
/* Linear-counting estimate of distinct MX destinations from mg_src_stats.mx_dst_bits. */
unsigned mg_distinct_estimate(uint64_t bits);

const char *mg_cmd_name(unsigned cmd);     /* "helo", "ehlo", ... */
json_t *mg_stats_json(const struct mg_global_stats *s);
json_t *mg_source_json(const uint8_t key[16], const struct mg_src_stats *s, const char *table);

#endif
