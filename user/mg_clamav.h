/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_clamav.h - ClamAV as the quarantine's scanner: a message scanned by
 * clamd through clamdscan (streamed on its standard input, so clamd needs
 * no access to Postfix's queue), clamd told to reload its signatures, and
 * a stamp of clamd's signature database, so that held mail can be scanned
 * again when the signatures change.
 *
 * clamdscan finds clamd through a clamd.conf (LocalSocket or TCPSocket):
 * Debian's /etc/clamav/clamd.conf unless quarantine.clamd_config names
 * another. The same file says where the database is (DatabaseDirectory).
 */
#ifndef MG_CLAMAV_H
#define MG_CLAMAV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MG_CLAMDSCAN "/usr/bin/clamdscan"
#define MG_CLAMD_CONF "/etc/clamav/clamd.conf"

struct mg_clamav {
	char clamdscan[128]; /* the client; MG_CLAMDSCAN unless quarantine.clamdscan names another (a test's stand-in) */
	char config[256];    /* clamd.conf for clamdscan --config-file; "" = MG_CLAMD_CONF */
};

/*
 * Each scan and reload must end whatever clamd does: a message scans in
 * milliseconds, so 15 s is plenty; past it, clamdscan is killed.
 */
#define MG_CLAMAV_SCAN_TIMEOUT_S 15
#define MG_CLAMAV_RELOAD_TIMEOUT_S 15
#define MG_CLAMAV_OUT_MAX 2047 /* what is kept of clamdscan's answer: a verdict line, or an error */

/* A clamdscan command line (for a scan of its standard input, or a reload), with the storage it points into. */
struct mg_clamav_argv {
	char opt[300];
	char *argv[5];
};

enum mg_scan_result {
	MG_SCAN_CLEAN,
	MG_SCAN_INFECTED, /* what: the signature's name */
	MG_SCAN_FAILED,   /* what: why, e.g. "clamd is not running" */
};

/* clamdscan: the client's path, NULL or "" for MG_CLAMDSCAN. */
void mg_clamav_init(struct mg_clamav *c, const char *clamd_config, const char *clamdscan);
/* Whether the client is installed. */
bool mg_clamav_present(const struct mg_clamav *c);
/* Scan len bytes (a whole message) with clamd; what (a name, or the reason for a failure) into what. */
enum mg_scan_result mg_clamav_scan(const struct mg_clamav *c, const void *msg, size_t len, char *what, size_t wlen);
/* Ask clamd to load its signatures again (clamdscan --reload). 0, or -1 with err. */
int mg_clamav_reload(const struct mg_clamav *c, char *err, size_t errlen);
/*
 * The same in two halves, for a caller that runs clamdscan without waiting
 * (mg_jobs.h): the command line, then what its status and output (standard
 * error with it) mean.
 */
void mg_clamav_scan_argv(const struct mg_clamav *c, struct mg_clamav_argv *a);
enum mg_scan_result mg_clamav_scan_verdict(const struct mg_clamav *c, int status, const char *out, size_t got,
					   char *what, size_t wlen);
void mg_clamav_reload_argv(const struct mg_clamav *c, struct mg_clamav_argv *a);
int mg_clamav_reload_verdict(int status, const char *out, size_t got, char *err, size_t errlen);
/* The database directory clamd.conf names (DatabaseDirectory), or ClamAV's default /var/lib/clamav. */
void mg_clamav_db_dir(const struct mg_clamav *c, char *dir, size_t len);
/*
 * A stamp of the database directory: names, sizes and modification times of
 * its files (the first 4096), hashed. Equal stamps: the same signatures.
 * false when the directory cannot be read.
 */
bool mg_clamav_db_stamp(const char *dir, uint64_t *stamp);

#endif
