/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_quarantine.h - the mail mtaguard put on hold on a Postfix relay.
 *
 * The policy service answers HOLD for suspects and outbreak members; Postfix
 * then keeps the message in its hold queue (stored, not delivered). This
 * module remembers which held messages are mtaguard's and why (queue ID,
 * client, sender, recipients, reason, signature, time), lists those still
 * held, and releases or deletes them through Postfix's own tools (postqueue,
 * postsuper, postcat), scanning each with ClamAV's clamdscan before a release
 * when it is installed. Its records are kept in a JSON file written
 * atomically next to the daemon's state file.
 */
#ifndef MG_QUARANTINE_H
#define MG_QUARANTINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "mg_clamav.h"
#include "mg_jobs.h"
#include "mg_log_gate.h"

struct mg_eventlog;

#define MG_SETPRIV "/usr/bin/setpriv" /* util-linux, essential in Debian */
#define MG_Q_TOOL_TIMEOUT_S 30          /* postqueue, postsuper, postcat: each killed past this */
#define MG_Q_MESSAGE_MAX (64u << 20)    /* what postcat may hand the scanner */
/*
 * What is read of postqueue -j. It lists every queue, the hold queue last,
 * a few hundred bytes a message: 64 MiB is about 100 000 queued messages, so
 * a relay with a big deferred queue still has its held mail read. Beyond it
 * the list is cut (mg_q_list_parse: nothing is forgotten then). The buffer
 * grows only as the output comes.
 */
#define MG_Q_LIST_MAX (64u << 20)
/* A record this young is kept though postqueue did not list it: its message may not be on hold yet (see mg_q_list_parse). */
#define MG_Q_UNLISTED_GRACE_NS (30ull * 1000000000ull)

/* A Postfix tool's command line, with the storage it points into. */
struct mg_q_argv {
	char path[128], reuid[80], regid[80], a1[64], a2[64];
	char *argv[12];
};

struct mg_held {
	char queue_id[32];
	char client[64];
	char sender[256];
	char rcpts[512];      /* comma-separated, as many as fit */
	char reason[16];      /* "suspect" or "outbreak" */
	char signature[48];   /* the outbreak's signature, or "" */
	uint64_t held_wall_ns;
	char scan[96];        /* the last scan's verdict: "", "clean", "infected: NAME" (kept: never released) */
	bool infected;
	bool auto_tried;      /* an automatic release was tried (outbreak over); again from auto_next_ns */
	uint64_t auto_next_ns;
};

struct mg_quarantine {
	struct mg_held *v;
	size_t n, cap;
	char postfix_config[256]; /* "" = Postfix's default */
	char path[320];           /* the records file */
	bool clamav;
	struct mg_clamav clam;    /* the scanner (quarantine.clamd_config) */
	char sbin[64];            /* where postsuper and friends live (/usr/sbin) */
	char postcat_user[32];    /* run as root, postcat runs as this user, the mail owner ("postfix"; "": as is) */
	/*
	 * Where the module's own trouble is told (the daemon's event log, set
	 * after mg_q_init; NULL: nowhere), each kind at most once a minute: a
	 * full queue or a full disk would otherwise say it at every list or
	 * every held message.
	 */
	struct mg_eventlog *log;
	struct mg_log_gate cut_said, save_said, oom_said;
	bool unsaved;             /* the last write failed: the file is behind the records in memory */
	size_t refused;           /* records in the file mg_q_init left out: no valid queue ID */
	bool damaged;             /* the records file is there but no JSON array of records: none loaded */
};

/*
 * Set up; load the records file if there is one, without writing it. 0, or
 * -ENOMEM with no record loaded (a start must not go on with some of them:
 * the next save would forget the rest). Records left out (no valid queue
 * ID) are counted in refused; a file that is there but cannot be read as
 * records sets damaged (nothing is loaded from it). Either way the next save
 * replaces the file: the caller keeps a copy first (mg_state_keep_copy).
 */
int mg_q_init(struct mg_quarantine *q, const char *records_path, const char *postfix_config, bool clamav,
	      const char *clamd_config);
void mg_q_free(struct mg_quarantine *q);
/* A HOLD answered for queue_id (one call per recipient; merged). Saves the records. */
void mg_q_record(struct mg_quarantine *q, const char *queue_id, const char *client, const char *sender,
		 const char *recipient, const char *reason, const char *signature, uint64_t wall_ns);
/* Only letters and digits: a queue ID goes on a command line. */
bool mg_q_valid_id(const char *id);

/* The held messages that are mtaguard's and still in the hold queue; forgets the others. NULL + err on failure. */
json_t *mg_q_list(struct mg_quarantine *q, uint64_t now_wall, char *err, size_t errlen);
/* Release (after a clean scan, if ClamAV is there) or delete one; 0, or -errno with err. *scanned says what the scan did. */
int mg_q_release(struct mg_quarantine *q, const char *queue_id, char *scan, size_t scanlen, char *err, size_t errlen);
int mg_q_delete(struct mg_quarantine *q, const char *queue_id, char *err, size_t errlen);
/*
 * Scan one held message again (new signatures may convict or clear it) and
 * remember the verdict: an infected message is never released. 1 infected,
 * 0 clean, -1 the scan failed or was not made (what says why).
 */
int mg_q_rescan(struct mg_quarantine *q, const char *queue_id, char *what, size_t wlen);
/* The record of a held message, or NULL. */
struct mg_held *mg_q_find(struct mg_quarantine *q, const char *queue_id);


/*
 * The same steps in pieces, for a caller that runs the tools without
 * waiting (mg_qwork.h) and so changes the records only when each answer is
 * in. Each piece is what the functions above do between two commands.
 */
/* postqueue, postsuper or postcat with two arguments (or NULL), as the records' settings say. */
void mg_q_tool_argv(const struct mg_quarantine *q, const char *tool, const char *a1, const char *a2, struct mg_q_argv *a);
/*
 * postqueue -j's status and output (changed: split into lines) made the list,
 * as mg_q_list(). truncated: the output passed MG_Q_LIST_MAX and was cut; the
 * messages read are listed, but a record is not forgotten for being absent
 * (its message may be past the cut), and the cut is logged.
 */
json_t *mg_q_list_parse(struct mg_quarantine *q, int status, char *out, bool truncated, uint64_t now_wall, char *err,
			size_t errlen);
/* 0 if queue_id is a message of ours, else -ENOENT and err says so. */
int mg_q_held_check(struct mg_quarantine *q, const char *queue_id, char *err, size_t errlen);
/* May it be scanned again? 0, or -1 and what says why not (not ours, no scanner). */
int mg_q_rescan_check(struct mg_quarantine *q, const char *queue_id, char *what, size_t wlen);
/* Whether releases scan: quarantine.clamav on and clamdscan installed. */
bool mg_q_scans(const struct mg_quarantine *q);
/* May it be released? 0 (then scan it if mg_q_scans()), -ENOENT not ours, -EPERM convicted before; scan and err say. */
int mg_q_release_check(struct mg_quarantine *q, const char *queue_id, char *scan, size_t scanlen, char *err,
		       size_t errlen);
/* postcat's status for the scan: MG_SCAN_CLEAN (go on to clamdscan) or MG_SCAN_FAILED, what says why. */
enum mg_scan_result mg_q_postcat_verdict(const char *queue_id, int status, char *what, size_t wlen);
/* A scan's verdict remembered with the record, if it still is one of ours and the scan gave a verdict. */
void mg_q_scan_record(struct mg_quarantine *q, const char *queue_id, enum mg_scan_result r, const char *what);
/* mg_q_rescan()'s answer for a scan's result. */
int mg_q_rescan_result(enum mg_scan_result r);
/* After the scan: 0 may be released (scan "clean"), -EPERM infected, -EIO the scan failed. */
int mg_q_release_scanned(const char *queue_id, enum mg_scan_result r, const char *what, char *scan, size_t scanlen,
			 char *err, size_t errlen);
/* postsuper -H or -d ended with status: 0 and the record forgotten, or -EIO and err. what: "postsuper -d". */
int mg_q_tool_done(struct mg_quarantine *q, const char *queue_id, const char *what, int status, char *err, size_t errlen);
/* The record dropped (the message left the hold queue). */
void mg_q_forget(struct mg_quarantine *q, const char *queue_id);

#endif
