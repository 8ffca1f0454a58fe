/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_eventlog.h - what the daemon tells the operator: one JSON line per
 * verdict, expiry and alert (stdout or a log file, for machines), and a
 * readable line on stderr (for people, and the journal).
 */
#ifndef MG_EVENTLOG_H
#define MG_EVENTLOG_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>
#include <jansson.h>
#include "mg_analyzer.h"

/*
 * Under systemd both streams may be the journal's: then each readable line
 * carries its syslog priority (a block and an outbreak at warning, an alert
 * and a notice at notice, the rest at info), and each JSON line debug, so
 * that `journalctl -p info` shows every event once and `-p warning` what
 * needs a look, while the JSON stays in the journal for log shippers
 * (and in log_file, when set, as ever).
 */
struct mg_eventlog {
	FILE *json;   /* JSON lines */
	FILE *human;  /* readable lines; NULL to keep quiet */
	bool own_json;
	bool json_journal, human_journal; /* the stream is the journal's: priorities go with the lines */
	char *path;   /* the log file's path (own_json), to open again (mg_eventlog_follow) */
	dev_t dev;    /* the file open, to tell when the path names another */
	ino_t ino;
};

/* Syslog priorities of the readable lines (as in <syslog.h>). */
enum { MG_EV_WARNING = 4, MG_EV_NOTICE = 5, MG_EV_INFO = 6 };

/* path "-" = stdout. Returns 0 or -errno. */
int mg_eventlog_open(struct mg_eventlog *l, const char *path, FILE *human);
void mg_eventlog_close(struct mg_eventlog *l);
/*
 * Follow the log file's path: when it no longer names the file open (moved
 * by logrotate, deleted), or always with `force` (a reload), open it again,
 * appending or made anew. Returns 1 when the log moved to a newly opened
 * file, 0 when nothing changed (or the log is stdout), -errno when the path
 * could not be opened: the lines then go on to the file open, none lost.
 */
int mg_eventlog_follow(struct mg_eventlog *l, bool force);

/* The action as the JSON object the log and the control socket share. wall_ns converts kernel times. */
json_t *mg_action_json(const struct mg_an_action *a, uint64_t now_mono, uint64_t now_wall);
json_t *mg_evidence_json(const struct mg_an_evidence *ev, uint64_t now_mono, uint64_t now_wall);
/* Source verification's part of the evidence (ev->verified): each check and its result, and the line below. */
json_t *mg_verify_json(const struct mg_an_evidence *ev);
/* Its readable line: "spf=fail domain=dhl.com, ptr=..., helo=NAME (dynamic, not FCrDNS)". */
void mg_verify_line(const struct mg_an_evidence *ev, char *buf, size_t len);
void mg_eventlog_action(struct mg_eventlog *l, const struct mg_an_action *a, uint64_t now_mono, uint64_t now_wall);
/* A free-form notice ("started", "reloaded", "config refused: ..."). */
struct mg_ob_action;
struct mg_ob_member;
/* An outbreak action as a log line: "outbreak", "outbreak-member", "outbreak-level", "outbreak-end",
 * "outbreak-decision", with what is decided about it (mg_ob_decision_json). */
json_t *mg_ob_action_json(const struct mg_ob_action *a, bool contained, uint64_t now_mono, uint64_t now_wall);
struct mg_signature;
/* Into o: "direction", "specificity", "decision", "with" (a co-signature counted in, if any) and "why". */
void mg_ob_decision_json(json_t *o, const struct mg_signature *sig, int direction, int decision, unsigned specificity,
			 const struct mg_signature *with);
json_t *mg_ob_member_json(const struct mg_ob_member *m, uint64_t now_mono, uint64_t now_wall);
/* One JSON line as is. */
void mg_eventlog_json(struct mg_eventlog *l, json_t *o);
/*
 * A notice: JSON {"event": kind, "message"} and a readable line; kind NULL:
 * the readable line only. Messages carry what operators and peers wrote
 * (comments, HELO names): the readable line escapes it (mg_escape_line), and
 * the JSON line holds it as written, or escaped when it is not UTF-8.
 */
void mg_eventlog_notice(struct mg_eventlog *l, const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A notice whose readable line goes to the journal at priority prio (MG_EV_*); mg_eventlog_notice is MG_EV_NOTICE. */
void mg_eventlog_notice_at(struct mg_eventlog *l, int prio, const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The same at warning level: "level": "warning" in JSON, "warning: " in the readable line. */
void mg_eventlog_warning(struct mg_eventlog *l, const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * s as text that stays on its line: control bytes as \xNN (\n, \r and \t
 * by name) and a backslash doubled, so no comment can forge a line of the
 * log or a table row. Cut short at a whole character to fit len; returns buf.
 */
const char *mg_escape_line(const char *s, char *buf, size_t len);

/* "2026-11-22T23:01:02Z" */
const char *mg_iso_time(uint64_t wall_ns, char *buf, size_t len);

#endif
