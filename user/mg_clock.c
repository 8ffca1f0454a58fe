// SPDX-License-Identifier: GPL-2.0-only
/* mg_clock.c - the kernel side's clock (coarse CLOCK_MONOTONIC) and its relation to wall time. */
#include <time.h>

#include "mg_clock.h"

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * MG_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

uint64_t mg_mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC_COARSE);
}

uint32_t mg_tick_ns(void)
{
	struct timespec res;

	if (clock_getres(CLOCK_MONOTONIC_COARSE, &res) || res.tv_sec != 0 || res.tv_nsec <= 0)
		return 0;
	return (uint32_t)res.tv_nsec;
}

uint64_t mg_mono_to_wall_ns(uint64_t mono_ns)
{
	uint64_t now_mono = clock_ns(CLOCK_MONOTONIC_COARSE);
	uint64_t now_wall = clock_ns(CLOCK_REALTIME_COARSE);

	return now_wall - (now_mono - mono_ns);
}
