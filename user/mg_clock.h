/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_clock.h - the clock the kernel side stamps with, and conversion to wall time.
 *
 * The XDP program reads CLOCK_MONOTONIC coarsely (bpf_ktime_get_coarse_ns():
 * jiffy resolution, a fraction of the cost of a precise read). Userspace
 * reads the same coarse clock, so an expiry it writes is compared against the
 * same time base the kernel sees.
 */
#ifndef MG_CLOCK_H
#define MG_CLOCK_H

#include <stdint.h>

#define MG_NSEC_PER_SEC 1000000000ULL

/* Now on CLOCK_MONOTONIC_COARSE, in ns: the clock of bpf_ktime_get_coarse_ns(). */
uint64_t mg_mono_ns(void);
/*
 * The kernel's tick in ns (1e9 / HZ): the coarse clock's resolution, which
 * is one tick. The program's token buckets run on the tick count times this
 * (mg_tunables.tick_ns); 0 if the kernel does not say.
 */
uint32_t mg_tick_ns(void);
/* Wall-clock (CLOCK_REALTIME) ns for a kernel time stamp. */
uint64_t mg_mono_to_wall_ns(uint64_t mono_ns);

#endif
