/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_event_slice.h - the data plane's ring buffer consumed in bounded slices.
 *
 * libbpf's ring_buffer__consume() drains the ring, and keeps draining while
 * the producer keeps adding: under a flood of events it does not return, and
 * the loop that called it serves neither the policy service nor the control
 * socket nor the watchdog. A slice stops after max_records records or
 * max_ns, whichever comes first; the loop serves its sockets, then takes the
 * next slice at once.
 *
 * How it stops: a sample callback that returns a negative value makes libbpf
 * (1.1's ringbuf_process_ring(), and later ones) advance the consumer
 * position past that record and return at once. The records left keep the
 * ring's epoll fd readable; the loop also knows from `more` not to sleep.
 */
#ifndef MG_EVENT_SLICE_H
#define MG_EVENT_SLICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ring_buffer;

/* What a daemon loop iteration takes at most before it looks at its sockets again. */
#define MG_EVENT_SLICE_RECORDS 1024
#define MG_EVENT_SLICE_NS      (5 * 1000000ull)

struct mg_event_slice {
	/* The consumer of each record (as libbpf's ring_buffer_sample_fn); returns 0. */
	int (*fn)(void *ctx, void *data, size_t len);
	void *ctx;
	unsigned max_records;
	uint64_t max_ns;
	uint64_t (*clock)(void);      /* CLOCK_MONOTONIC ns */
	/* the slice under way */
	unsigned taken;
	uint64_t until;
	bool cut;
};

/* The sample callback to give ring_buffer__new(), with the slice as its ctx. */
int mg_event_slice_sample(void *slice, void *data, size_t len);

/*
 * Consume one slice from rb (created with mg_event_slice_sample and s).
 * Returns the records consumed, or -errno from libbpf; *more: the slice was
 * cut short, so records may be waiting.
 */
int mg_event_slice_consume(struct mg_event_slice *s, struct ring_buffer *rb, bool *more);

#endif
