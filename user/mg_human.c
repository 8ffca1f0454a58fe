// SPDX-License-Identifier: GPL-2.0-only
/* mg_human.c - times and counts for people (see mg_human.h). */
#define _GNU_SOURCE /* strptime, timegm */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mg_human.h"

const char *mg_human_duration(uint64_t s, char *buf, size_t len)
{
	static const struct {
		const char *suffix;
		uint64_t s;
	} units[] = { { "d", 86400 }, { "h", 3600 }, { "m", 60 }, { "s", 1 } };
	const size_t n = sizeof(units) / sizeof(units[0]);
	size_t i = 0;

	while (i + 1 < n && s < units[i].s)
		i++;
	uint64_t big = s / units[i].s, rest = i + 1 < n ? (s % units[i].s) / units[i + 1].s : 0;
	/* The second unit only when it says something: "2d", not "2d0h". */
	if (rest)
		snprintf(buf, len, "%llu%s%llu%s", (unsigned long long)big, units[i].suffix, (unsigned long long)rest,
			 units[i + 1].suffix);
	else
		snprintf(buf, len, "%llu%s", (unsigned long long)big, units[i].suffix);
	return buf;
}

const char *mg_human_bytes(uint64_t b, char *buf, size_t len)
{
	static const char *const units[] = { "kB", "MB", "GB", "TB", "PB", "EB" };
	uint64_t scale = 1000;
	size_t i = 0;

	if (b < 1000) {
		snprintf(buf, len, "%llu %s", (unsigned long long)b, b == 1 ? "byte" : "bytes");
		return buf;
	}
	while (i + 1 < sizeof(units) / sizeof(units[0]) && b / scale >= 1000) {
		scale *= 1000;
		i++;
	}
	/* Three figures, rounded down: the whole part, and as many decimals as room is left for. */
	uint64_t whole = b / scale, rest = b % scale;
	if (whole >= 100)
		snprintf(buf, len, "%llu %s", (unsigned long long)whole, units[i]);
	else if (whole >= 10)
		snprintf(buf, len, "%llu.%llu %s", (unsigned long long)whole, (unsigned long long)(rest / (scale / 10)),
			 units[i]);
	else
		snprintf(buf, len, "%llu.%02llu %s", (unsigned long long)whole,
			 (unsigned long long)(rest / (scale / 100)), units[i]);
	return buf;
}

const char *mg_human_when(int64_t delta, char *buf, size_t len)
{
	char d[32];

	if (delta == 0)
		snprintf(buf, len, "now");
	else if (delta > 0)
		snprintf(buf, len, "in %s", mg_human_duration((uint64_t)delta, d, sizeof(d)));
	else
		snprintf(buf, len, "%s ago", mg_human_duration(-(uint64_t)delta, d, sizeof(d)));
	return buf;
}

int mg_iso_parse(const char *text, int64_t *epoch_s)
{
	struct tm tm;
	const char *end;

	if (!text)
		return -EINVAL;
	memset(&tm, 0, sizeof(tm));
	end = strptime(text, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (!end || *end)
		return -EINVAL;
	*epoch_s = (int64_t)timegm(&tm);
	return 0;
}

const char *mg_plural(long long n, const char *one, const char *many)
{
	return n == 1 || n == -1 ? one : many;
}
