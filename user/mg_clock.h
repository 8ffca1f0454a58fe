/* SPDX-License-Identifier: GPL-2.0-only */
/* mg_clock.h - the clock the kernel side stamps with (CLOCK_BOOTTIME) and conversions to wall time. */
#ifndef MG_CLOCK_H
#define MG_CLOCK_H

#include <stdint.h>

#define MG_NSEC_PER_SEC 1000000000ULL

/* Now on CLOCK_BOOTTIME, in ns: the clock of bpf_ktime_get_boot_ns(). */
uint64_t mg_boottime_ns(void);
/* Wall-clock (CLOCK_REALTIME) ns for a CLOCK_BOOTTIME stamp. */
uint64_t mg_boot_to_wall_ns(uint64_t boot_ns);

#endif
