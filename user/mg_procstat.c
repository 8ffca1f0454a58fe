// SPDX-License-Identifier: GPL-2.0-only
/* mg_procstat.c - the daemon's own process figures from /proc (see mg_procstat.h). */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>

#include "mg_procstat.h"

/* Fields of /proc/PID/stat (proc(5)), numbered from 1 (pid) as the manual does. */
enum { F_STATE = 3, F_UTIME = 14, F_STIME = 15, F_STARTTIME = 22, F_VSIZE = 23, F_RSS = 24 };

int mg_procstat_parse(const char *line, long ticks_per_s, long page_size, uint64_t boot_time_s,
		      struct mg_procstat *out)
{
	const char *p = strrchr(line, ')');
	unsigned long long utime = 0, stime = 0, start = 0, vsize = 0;
	long long rss = 0;
	int field = F_STATE;

	if (!p || !strchr(line, '(') || ticks_per_s <= 0 || page_size <= 0)
		return -EINVAL;
	p++;
	/* From the state (field 3) on: space-separated numbers but for the state's letter. */
	while (field <= F_RSS) {
		char *end;
		while (*p == ' ')
			p++;
		if (!*p || *p == '\n')
			return -EINVAL;
		if (field == F_STATE) {
			p++;
		} else {
			errno = 0;
			long long v = strtoll(p, &end, 10);
			if (end == p || errno)
				return -EINVAL;
			p = end;
			switch (field) {
			case F_UTIME: utime = (unsigned long long)v; break;
			case F_STIME: stime = (unsigned long long)v; break;
			case F_STARTTIME: start = (unsigned long long)v; break;
			case F_VSIZE: vsize = (unsigned long long)v; break;
			case F_RSS: rss = v; break;
			default: break;
			}
		}
		field++;
	}
	out->cpu_seconds = (double)(utime + stime) / (double)ticks_per_s;
	/* To the second: btime is whole seconds anyway, and a whole number is written in full (mg_metrics). */
	out->start_time_seconds = (double)(boot_time_s + start / (unsigned long long)ticks_per_s);
	out->virtual_bytes = vsize;
	out->resident_bytes = rss > 0 ? (uint64_t)rss * (uint64_t)page_size : 0;
	return 0;
}

/* /proc/stat's btime: the boot time, in seconds since the epoch. */
static int boot_time(uint64_t *out)
{
	char line[256];
	FILE *f = fopen("/proc/stat", "re");
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "btime %" SCNu64, out) == 1) {
			err = 0;
			break;
		}
	fclose(f);
	return err;
}

static int count_fds(uint64_t *out)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	uint64_t n = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	*out = n > 0 ? n - 1 : 0; /* not the one reading the directory */
	return 0;
}

int mg_procstat_read(struct mg_procstat *out)
{
	char line[1024];
	struct rlimit rl;
	uint64_t btime;
	int err;
	FILE *f = fopen("/proc/self/stat", "re");

	memset(out, 0, sizeof(*out));
	if (!f)
		return -errno;
	char *got = fgets(line, sizeof(line), f);
	fclose(f);
	if (!got)
		return -EIO;
	if ((err = boot_time(&btime)) ||
	    (err = mg_procstat_parse(line, sysconf(_SC_CLK_TCK), sysconf(_SC_PAGESIZE), btime, out)) ||
	    (err = count_fds(&out->open_fds)))
		return err;
	if (!getrlimit(RLIMIT_NOFILE, &rl))
		out->max_fds = rl.rlim_cur == RLIM_INFINITY ? 0 : (uint64_t)rl.rlim_cur;
	return 0;
}
