// SPDX-License-Identifier: GPL-2.0-only
/* mg_clock.c - CLOCK_BOOTTIME, the kernel side's clock, and its relation to wall time. */
#include <time.h>

#include "mg_clock.h"

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * MG_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

uint64_t mg_boottime_ns(void)
{
	return clock_ns(CLOCK_BOOTTIME);
}

uint64_t mg_boot_to_wall_ns(uint64_t boot_ns)
{
	uint64_t now_boot = clock_ns(CLOCK_BOOTTIME);
	uint64_t now_wall = clock_ns(CLOCK_REALTIME);

	return now_wall - (now_boot - boot_ns);
}
