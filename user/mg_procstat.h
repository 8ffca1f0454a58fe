/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_procstat.h - the daemon's own process figures, as Prometheus' client
 * libraries export them (process_resident_memory_bytes and the rest; the
 * metrics say mtaguard_process_*, beside node_exporter's own): the
 * analyzer holds a profile for every source, some 60 to 210 bytes each, so
 * its memory is what an operator of ten million sources watches first.
 */
#ifndef MG_PROCSTAT_H
#define MG_PROCSTAT_H

#include <stdint.h>

struct mg_procstat {
	double cpu_seconds;        /* user and system */
	double start_time_seconds; /* since the Unix epoch, to the second */
	uint64_t resident_bytes, virtual_bytes;
	uint64_t open_fds, max_fds;
};

/*
 * Parse a /proc/PID/stat line (the command name may hold spaces and
 * parentheses: the fields are counted from its last ')'), with the clock's
 * ticks a second, the page size and the boot time (/proc/stat's btime).
 * Fills cpu_seconds, start_time_seconds, resident_bytes and virtual_bytes.
 * Returns 0, or -EINVAL for a line that is not one.
 */
int mg_procstat_parse(const char *line, long ticks_per_s, long page_size, uint64_t boot_time_s,
		      struct mg_procstat *out);

/* This process's figures, from /proc/self and its limits. Returns 0 or -errno. */
int mg_procstat_read(struct mg_procstat *out);

#endif
