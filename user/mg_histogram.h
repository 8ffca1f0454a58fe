/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_histogram.h - a distribution counted into fixed buckets, as a
 * Prometheus histogram exposes it (mg_metrics.c): a count per upper bound,
 * plus the sum and the number of observations. Pure: no allocation.
 */
#ifndef MG_HISTOGRAM_H
#define MG_HISTOGRAM_H

#include <stddef.h>
#include <stdint.h>

#define MG_HISTOGRAM_MAX_BOUNDS 16

struct mg_histogram {
	const double *bounds;                       /* ascending upper bounds; +Inf is implied */
	size_t n_bounds;                            /* at most MG_HISTOGRAM_MAX_BOUNDS */
	uint64_t in_bucket[MG_HISTOGRAM_MAX_BOUNDS + 1]; /* observations <= bounds[i] and > bounds[i-1]; last: above all */
	uint64_t count;
	double sum;
};

/* bounds must outlive h (a static table). */
void mg_histogram_init(struct mg_histogram *h, const double *bounds, size_t n_bounds);
void mg_histogram_observe(struct mg_histogram *h, double v);
/* Observations <= bounds[i] (Prometheus' cumulative bucket); i == n_bounds: every one (le="+Inf"). */
uint64_t mg_histogram_cumulative(const struct mg_histogram *h, size_t i);

#endif
