// SPDX-License-Identifier: GPL-2.0-only
/* mg_event_slice.c - the ring buffer consumed in bounded slices (see mg_event_slice.h). */
#include <errno.h>
#include <bpf/libbpf.h>

#include "mg_event_slice.h"

/* What the sample callback returns to stop libbpf: any negative value would do; this one is ours alone. */
#define SLICE_CUT (-ECANCELED)

int mg_event_slice_sample(void *slice, void *data, size_t len)
{
	struct mg_event_slice *s = slice;
	int r = s->fn(s->ctx, data, len);

	if (r < 0)
		return r;
	if (++s->taken >= s->max_records || s->clock() >= s->until) {
		s->cut = true;
		return SLICE_CUT; /* this record is consumed; libbpf returns before the next */
	}
	return 0;
}

int mg_event_slice_consume(struct mg_event_slice *s, struct ring_buffer *rb, bool *more)
{
	s->taken = 0;
	s->cut = false;
	s->until = s->clock() + s->max_ns;
	int r = ring_buffer__consume(rb);
	*more = s->cut;
	if (s->cut)
		return (int)s->taken;
	return r;
}
