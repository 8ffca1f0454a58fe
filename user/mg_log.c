// SPDX-License-Identifier: GPL-2.0-only
/* mg_log.c - leveled messages on stderr, libbpf's included (see mg_log.h). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <bpf/libbpf.h>

#include "mg_log.h"

static const char *log_prog = "mtaguard";
static enum mg_log_level log_level = MG_LOG_INFO;

void mg_log_init(const char *prog)
{
	log_prog = prog;
}

enum mg_log_level mg_log_get_level(void)
{
	return log_level;
}

void mg_log_verbose(void)
{
	if (log_level < MG_LOG_DEBUG)
		log_level++;
}

bool mg_log_fd_is_journal(int fd)
{
	const char *js = getenv("JOURNAL_STREAM");
	uintmax_t dev, ino;
	struct stat st;

	if (!js || sscanf(js, "%ju:%ju", &dev, &ino) != 2 || fstat(fd, &st))
		return false;
	return (uintmax_t)st.st_dev == dev && (uintmax_t)st.st_ino == ino;
}

/* "<N>" before a line on stderr when it is the journal's (see mg_log_fd_is_journal), else "". */
static const char *journal_prio(enum mg_log_level level)
{
	static const char *const prio[] = {
		[MG_LOG_ERROR] = "<3>", [MG_LOG_WARN] = "<4>", [MG_LOG_INFO] = "<6>", [MG_LOG_DEBUG] = "<7>",
	};
	static int journal = -1; /* asked once: stderr does not change under a running program */

	if (journal < 0)
		journal = mg_log_fd_is_journal(2);
	return journal ? prio[level] : "";
}

void mg_log(enum mg_log_level level, const char *fmt, ...)
{
	static const char *const tag[] = {
		[MG_LOG_ERROR] = "", [MG_LOG_WARN] = "warning: ", [MG_LOG_INFO] = "", [MG_LOG_DEBUG] = "debug: ",
	};
	size_t n = strlen(fmt);
	va_list ap;

	if (level > log_level)
		return;
	fprintf(stderr, "%s%s: %s", journal_prio(level), log_prog, tag[level]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (!n || fmt[n - 1] != '\n')
		fputc('\n', stderr);
}

/* libbpf's lines carry their own "libbpf: " prefix and newline: printed as they are. */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	enum mg_log_level mine = level == LIBBPF_WARN ? MG_LOG_WARN : MG_LOG_DEBUG;

	if (mine > log_level)
		return 0;
	fputs(journal_prio(mine), stderr);
	return vfprintf(stderr, fmt, ap);
}

void mg_log_libbpf(void)
{
	libbpf_set_print(libbpf_print);
}
