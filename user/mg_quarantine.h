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

#define MG_SETPRIV "/usr/bin/setpriv" /* util-linux, essential in Debian */

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
};

/* Set up; load the records file if there is one. */
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

/* Run a program (argv[0] an absolute path) with optional stdin; capture stdout. Exit status, or -errno. */
int mg_run(char *const argv[], const void *in, size_t inlen, char *out, size_t outlen, size_t *outgot, int timeout_s);
/* The same; with_stderr: its standard error captured too (a tool that explains a failure only there). */
int mg_run_ex(char *const argv[], const void *in, size_t inlen, char *out, size_t outlen, size_t *outgot, int timeout_s,
	      bool with_stderr);

#endif
