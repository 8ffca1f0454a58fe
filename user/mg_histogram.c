// SPDX-License-Identifier: GPL-2.0-only
/* mg_histogram.c - fixed-bucket distributions (see mg_histogram.h). */
#include <string.h>

#include "mg_histogram.h"

void mg_histogram_init(struct mg_histogram *h, const double *bounds, size_t n_bounds)
{
	memset(h, 0, sizeof(*h));
	h->bounds = bounds;
	h->n_bounds = n_bounds > MG_HISTOGRAM_MAX_BOUNDS ? MG_HISTOGRAM_MAX_BOUNDS : n_bounds;
}

void mg_histogram_observe(struct mg_histogram *h, double v)
{
	size_t i = 0;

	while (i < h->n_bounds && v > h->bounds[i])
		i++;
	h->in_bucket[i]++;
	h->count++;
	h->sum += v;
}

uint64_t mg_histogram_cumulative(const struct mg_histogram *h, size_t i)
{
	uint64_t n = 0;

	for (size_t j = 0; j <= i && j <= h->n_bounds; j++)
		n += h->in_bucket[j];
	return n;
}
