/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_log.h - the programs' own messages for people, on standard error, by
 * level; and libbpf's messages routed through the same levels.
 *
 * Errors and warnings always show; info is the default level; -v (each one
 * raises the level) adds debug messages, the program's and libbpf's. libbpf
 * prints its warnings, among them the kernel verifier's log when a program
 * is rejected, at its warning level, so a failed load explains itself
 * without -v; its info and debug messages (the object it opened, every
 * relocation) are for -v.
 *
 * This is not mtaguardd's event log (mg_eventlog.h): that one is the record
 * of what the analyzer did, in JSON, for machines and the journal.
 */
#ifndef MG_LOG_H
#define MG_LOG_H

#include <stdbool.h>

enum mg_log_level {
	MG_LOG_ERROR,
	MG_LOG_WARN,
	MG_LOG_INFO,  /* the default */
	MG_LOG_DEBUG, /* -v */
};

/* The name every message starts with ("mtaguard-loader"); until set, "mtaguard". */
void mg_log_init(const char *prog);
enum mg_log_level mg_log_get_level(void);
/* One -v: one level up, to MG_LOG_DEBUG at most. */
void mg_log_verbose(void);

/* "prog: text", or "prog: warning: text"; a newline is added if fmt has none. */
void mg_log(enum mg_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define mg_err(...)  mg_log(MG_LOG_ERROR, __VA_ARGS__)
#define mg_warn(...) mg_log(MG_LOG_WARN, __VA_ARGS__)
#define mg_info(...) mg_log(MG_LOG_INFO, __VA_ARGS__)
#define mg_dbg(...)  mg_log(MG_LOG_DEBUG, __VA_ARGS__)

/*
 * Whether fd is a stream into the systemd journal (systemd says which in
 * $JOURNAL_STREAM, "DEVICE:INODE"). Lines written there may start with a
 * syslog priority, "<4>" for a warning, which the journal takes as the
 * line's priority and strips: `journalctl -p warning` then shows what
 * matters. mg_log() does it for stderr, mg_eventlog for its lines.
 */
bool mg_log_fd_is_journal(int fd);

/* Route libbpf's messages here (libbpf_set_print); call before opening any BPF object. */
void mg_log_libbpf(void);

#endif
