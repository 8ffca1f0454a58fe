/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_log_gate.h - "one line a minute at most" for a log line a peer can
 * provoke at will (a refused route, an unreadable entry).
 *
 * The gate remembers whether it ever opened, rather than taking a last time
 * of 0 for "long ago": CLOCK_MONOTONIC is time since boot, so on a machine up
 * less than the interval a zero would keep the very first line shut.
 */
#ifndef MG_LOG_GATE_H
#define MG_LOG_GATE_H

#include <stdbool.h>
#include <stdint.h>

struct mg_log_gate {
	bool opened;   /* it has let a line through, at `at` */
	uint64_t at;
};

/* Whether a line may be logged at `now`; if so, the gate shuts for `every` ns. */
static inline bool mg_log_gate_pass(struct mg_log_gate *g, uint64_t now, uint64_t every)
{
	if (g->opened && now - g->at < every)
		return false;
	g->opened = true;
	g->at = now;
	return true;
}

#endif
