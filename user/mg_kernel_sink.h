/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_kernel_sink.h - the engine's sink over a loaded data plane (struct
 * mg_handle): the ledger's writes into the BPF maps, profile scans, and the
 * runtime settings. mtaguardd uses it on the pinned maps, mtaguard-replay on
 * its private instance; the difference is only how times translate.
 */
#ifndef MG_KERNEL_SINK_H
#define MG_KERNEL_SINK_H

#include <stdbool.h>
#include <stdint.h>

#include "mg_engine.h"
#include "mg_loader.h"
#include "mg_scan.h"

struct mg_kernel_sink {
	struct mg_handle *h;
	struct mg_scan scan;
	/*
	 * kernel_clock: the engine's timeline minus origin is the kernel's clock
	 * (mtaguardd: MG_TIMELINE_ORIGIN). Without it (mtaguard-replay, whose
	 * timeline is the capture's), blocks are written without an expiry and
	 * the analyzer ends them on the capture's time.
	 */
	uint64_t origin;
	bool kernel_clock;
	struct mg_act_view act; /* the handle's mapped activity records, for the analyzer */
	/* The profile filter's last refresh (coarse CLOCK_MONOTONIC); none yet at the first scan. */
	uint64_t filter_refreshed_ns;
	bool filter_refreshed;
	uint64_t adopt_failed; /* rule map reads that failed at mg_kernel_sink_adopt */
};

extern const struct mg_engine_sink mg_kernel_sink_ops;

/* 0 or -ENOMEM. */
int mg_kernel_sink_init(struct mg_kernel_sink *k, struct mg_handle *h, uint64_t origin, bool kernel_clock);
void mg_kernel_sink_free(struct mg_kernel_sink *k);
/*
 * Tell the engine what the kernel holds already (rules and outbreak
 * signatures a previous run left pinned). 0, or the first -errno of a rule
 * map that could not be read (the rules it holds stay unknown to the
 * ledger), with *what (if not NULL) saying which rules: "block", "allow" or
 * "block and allow"; each failed read counts in adopt_failed.
 */
int mg_kernel_sink_adopt(struct mg_kernel_sink *k, struct mg_engine *e, const char **what);

#endif
