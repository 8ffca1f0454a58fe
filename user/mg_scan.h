/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_scan.h - read every per-source profile the kernel holds, in batches.
 *
 * bpf_map_lookup_batch reads thousands of entries per syscall; walking with
 * get_next_key costs a syscall per entry and measured about 7x slower.
 */
#ifndef MG_SCAN_H
#define MG_SCAN_H

#include <stddef.h>
#include <stdint.h>
#include "mtaguard.h"

/* Called once per batch read: n keys (16-byte addresses) and their counters. */
typedef void (*mg_scan_fn)(const uint8_t (*keys)[16], const struct mg_src_stats *vals, size_t n, void *arg);

struct mg_scan {
	size_t batch;                 /* entries per syscall */
	struct mg_src_key *keys;
	struct mg_src_stats *vals;
};

int mg_scan_init(struct mg_scan *sc, size_t batch);
void mg_scan_free(struct mg_scan *sc);
/* Call fn for every batch of entries of a profile map (mg_sources or mg_servers). Returns entries read or -errno. */
long mg_scan_map(struct mg_scan *sc, int map_fd, mg_scan_fn fn, void *arg);

#endif
