// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_event_slice.c - the daemon's loop takes the data plane's events in
 * bounded slices (mg_event_slice): on the real ring buffer, filled by the
 * real XDP program with a burst of HELO events, one slice takes at most its
 * budget of records, leaves the rest readable (the loop's epoll wakes for
 * them at once), and the next slices take the rest, none lost, none twice.
 * Needs root (exit 77 otherwise).
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <linux/bpf.h>
#include <bpf/libbpf.h>

#include "mg_event_slice.h"
#include "pktbuild.h"
#include "xdp_harness.h"
#include "mg_xdp.skel.h" /* after mtaguard.h (through xdp_harness.h), whose types it uses */

#define MS 1000000ull

static struct xh H;
static struct ring_buffer *RB;
static struct mg_event_slice SLICE;
static uint32_t seen_sport[65536]; /* each record counted by its source port: none lost, none twice */
static unsigned consumed;
static uint64_t fake_now;

static int count_event(void *ctx, void *data, size_t len)
{
	const struct mg_event *ev = data;

	(void)ctx;
	assert_true(len >= sizeof(*ev));
	seen_sport[ev->sport]++;
	consumed++;
	return 0;
}

static uint64_t clock_still(void)
{
	return fake_now;
}

/* A clock that moves 1 ms at every read: the slice's time bound, not its count, ends it. */
static uint64_t clock_busy(void)
{
	return fake_now += MS;
}

/* n HELO commands from one client, each from its own source port 1..n: n events in the ring. */
static void helo_burst(unsigned n)
{
	static const uint8_t mac[6] = { 0x02, 0, 0, 0, 0xaa, 0x01 };
	struct pb p;
	char ehlo[64];

	for (unsigned i = 1; i <= n; i++) {
		pb_init(&p);
		pb_eth(&p, mac, NULL);
		pb_ipv4(&p, "198.18.0.2", "198.18.1.1", NULL);
		pb_tcp(&p, (uint16_t)i, 25, PB_TCP_ACK | PB_TCP_PSH, NULL);
		/* A new name each time: the program sends no event for a repeat within the second. */
		snprintf(ehlo, sizeof(ehlo), "EHLO bot%u.example\r\n", i);
		pb_payload_str(&p, ehlo);
		assert_int_equal(xh_run(&H, p.buf, pb_finish(&p)), XDP_PASS);
	}
}

static bool ring_readable(void)
{
	struct pollfd pfd = { .fd = ring_buffer__epoll_fd(RB), .events = POLLIN };

	return poll(&pfd, 1, 0) == 1;
}

static int setup(void **state)
{
	(void)state;
	xh_reset(&H); /* the harness drains what earlier tests left, through its own ring consumer */
	memset(seen_sport, 0, sizeof(seen_sport));
	consumed = 0;
	fake_now = 3 * 1000000000ull;
	SLICE = (struct mg_event_slice){ .fn = count_event, .clock = clock_still, .max_records = 1000, .max_ns = 5 * MS };
	RB = ring_buffer__new(bpf_map__fd(H.skel->maps.mg_events), mg_event_slice_sample, &SLICE, NULL);
	return RB ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	ring_buffer__free(RB);
	return 0;
}

static void test_burst_taken_in_slices(void **state)
{
	bool more;

	(void)state;
	helo_burst(2500);
	assert_true(ring_readable());
	assert_int_equal(mg_event_slice_consume(&SLICE, RB, &more), 1000);
	assert_true(more);
	assert_int_equal(consumed, 1000);
	/* The rest waits, and says so to the loop's epoll. */
	assert_true(ring_readable());
	assert_int_equal(mg_event_slice_consume(&SLICE, RB, &more), 1000);
	assert_true(more);
	assert_true(ring_readable());
	assert_int_equal(mg_event_slice_consume(&SLICE, RB, &more), 500);
	assert_false(more);
	assert_false(ring_readable());
	assert_int_equal(mg_event_slice_consume(&SLICE, RB, &more), 0);
	assert_false(more);
	/* Every event once, in order of arrival across the slices. */
	for (unsigned port = 1; port <= 2500; port++)
		assert_int_equal(seen_sport[port], 1);
	assert_int_equal(consumed, 2500);
	struct mg_global_stats st;
	xh_stats(&H, &st);
	assert_int_equal(st.events_lost, 0);
}

/* However cheap the count, a slice that has run its time ends: 5 ms at 1 ms a record is 5 records. */
static void test_slice_ends_on_time(void **state)
{
	bool more;

	(void)state;
	SLICE.clock = clock_busy;
	helo_burst(50);
	int n = mg_event_slice_consume(&SLICE, RB, &more);
	assert_int_equal(n, 5);
	assert_true(more);
	assert_true(ring_readable());
	unsigned total = (unsigned)n;
	while (more)
		total += (unsigned)mg_event_slice_consume(&SLICE, RB, &more);
	assert_int_equal(total, 50);
	assert_false(ring_readable());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_burst_taken_in_slices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slice_ends_on_time, setup, teardown),
	};
	int err, failed;

	xh_require_privileges();
	err = xh_load(&H, NULL);
	if (err) {
		fprintf(stderr, "loading the XDP program failed: %s\n", strerror(-err));
		return 1;
	}
	failed = cmocka_run_group_tests_name("event_slice", tests, NULL, NULL);
	xh_unload(&H);
	return failed ? 1 : 0;
}
