// SPDX-License-Identifier: GPL-2.0-only
/* mg_clamav.c - ClamAV's clamd as the quarantine's scanner (see mg_clamav.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mg_clamav.h"
#include "mg_jobs.h"

#define DB_FILES_MAX 4096 /* a database directory holds a handful; a bound, not a limit anyone meets */

void mg_clamav_init(struct mg_clamav *c, const char *clamd_config, const char *clamdscan)
{
	snprintf(c->clamdscan, sizeof(c->clamdscan), "%s", clamdscan && *clamdscan ? clamdscan : MG_CLAMDSCAN);
	snprintf(c->config, sizeof(c->config), "%s", clamd_config ? clamd_config : "");
}

bool mg_clamav_present(const struct mg_clamav *c)
{
	return access(c->clamdscan, X_OK) == 0;
}

static const char *config_path(const struct mg_clamav *c)
{
	return c->config[0] ? c->config : MG_CLAMD_CONF;
}

/* The first line of clamdscan's output, for a failure it explains. */
static void first_line(const char *out, char *buf, size_t len)
{
	size_t n = strcspn(out, "\n");

	snprintf(buf, len, "%.*s", (int)(n < 200 ? n : 200), out);
}

void mg_clamav_scan_argv(const struct mg_clamav *c, struct mg_clamav_argv *a)
{
	snprintf(a->opt, sizeof(a->opt), "--config-file=%s", config_path(c));
	a->argv[0] = (char *)c->clamdscan;
	a->argv[1] = a->opt;
	a->argv[2] = "--no-summary";
	a->argv[3] = "-";
	a->argv[4] = NULL;
}

enum mg_scan_result mg_clamav_scan_verdict(const struct mg_clamav *c, int rc, const char *out, size_t got,
					   char *what, size_t wlen)
{
	char line[256];

	/* clamdscan: 0 clean, 1 infected ("stream: NAME FOUND"), 2 an error. */
	if (rc == 0) {
		snprintf(what, wlen, "clean");
		return MG_SCAN_CLEAN;
	}
	if (rc == 1) {
		const char *p = strstr(out, "stream: "), *e = p ? strstr(p, " FOUND") : NULL;
		if (p && e)
			snprintf(what, wlen, "%.*s", (int)(e - p - 8), p + 8);
		else
			snprintf(what, wlen, "malware");
		return MG_SCAN_INFECTED;
	}
	first_line(out, line, sizeof(line));
	if (rc == -ETIMEDOUT)
		snprintf(what, wlen, "clamd did not answer within %d s (clamdscan killed)", MG_CLAMAV_SCAN_TIMEOUT_S);
	else if (rc < 0)
		snprintf(what, wlen, "%s cannot be run: %s", c->clamdscan, strerror(-rc));
	else if (strstr(out, "Could not connect") || strstr(out, "Can't connect"))
		/* No clamd at the socket its config names: the one failure an operator meets most. */
		snprintf(what, wlen, "clamd is not running (%s)", line);
	else
		snprintf(what, wlen, "the scan failed: %s", got ? line : "clamdscan exited with status 2");
	return MG_SCAN_FAILED;
}

enum mg_scan_result mg_clamav_scan(const struct mg_clamav *c, const void *msg, size_t len, char *what, size_t wlen)
{
	struct mg_clamav_argv a;
	char out[MG_CLAMAV_OUT_MAX + 1];
	size_t got = 0;

	mg_clamav_scan_argv(c, &a);
	/* Its errors come on standard error: taken with the rest, to say why a scan failed. */
	int rc = mg_run_ex(a.argv, msg, len, out, sizeof(out), &got, MG_CLAMAV_SCAN_TIMEOUT_S, true);
	return mg_clamav_scan_verdict(c, rc, out, got, what, wlen);
}

void mg_clamav_reload_argv(const struct mg_clamav *c, struct mg_clamav_argv *a)
{
	snprintf(a->opt, sizeof(a->opt), "--config-file=%s", config_path(c));
	a->argv[0] = (char *)c->clamdscan;
	a->argv[1] = a->opt;
	a->argv[2] = "--reload";
	a->argv[3] = NULL;
}

int mg_clamav_reload_verdict(int rc, const char *out, size_t got, char *err, size_t errlen)
{
	char line[256];

	if (rc == 0)
		return 0;
	first_line(out, line, sizeof(line));
	if (rc == -ETIMEDOUT)
		snprintf(err, errlen, "clamd did not answer within %d s (clamdscan --reload killed)", MG_CLAMAV_RELOAD_TIMEOUT_S);
	else
		snprintf(err, errlen, "clamdscan --reload failed (%d)%s%s", rc, got ? ": " : "", got ? line : "");
	return -1;
}

int mg_clamav_reload(const struct mg_clamav *c, char *err, size_t errlen)
{
	struct mg_clamav_argv a;
	char out[MG_CLAMAV_OUT_MAX + 1];
	size_t got = 0;

	mg_clamav_reload_argv(c, &a);
	int rc = mg_run_ex(a.argv, NULL, 0, out, sizeof(out), &got, MG_CLAMAV_RELOAD_TIMEOUT_S, true);
	return mg_clamav_reload_verdict(rc, out, got, err, errlen);
}

void mg_clamav_db_dir(const struct mg_clamav *c, char *dir, size_t len)
{
	FILE *f = fopen(config_path(c), "re");
	char line[512];

	snprintf(dir, len, "/var/lib/clamav");
	if (!f)
		return;
	/* clamd.conf: "Option value" per line, '#' comments; the last one given counts, as for clamd. */
	while (fgets(line, sizeof(line), f)) {
		char key[64], val[400];
		if (sscanf(line, " %63s %399s", key, val) == 2 && !strcmp(key, "DatabaseDirectory") && val[0] == '/')
			snprintf(dir, len, "%s", val);
	}
	fclose(f);
}

/* FNV-1a, 64 bits: a change detector, not a defence against anyone. */
static uint64_t fnv64(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
	return h;
}

bool mg_clamav_db_stamp(const char *dir, uint64_t *stamp)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	uint64_t h = 0;
	unsigned n = 0;

	if (!d)
		return false;
	/* Order-independent (a sum of per-file hashes): readdir's order is the file system's. */
	while ((e = readdir(d)) && n < DB_FILES_MAX) {
		struct stat st;
		char rec[512];
		if (e->d_name[0] == '.' || fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISREG(st.st_mode))
			continue;
		int l = snprintf(rec, sizeof(rec), "%s/%lld/%lld.%09ld", e->d_name, (long long)st.st_size,
				 (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
		h += fnv64(rec, (size_t)l);
		n++;
	}
	closedir(d);
	*stamp = h ^ n;
	return true;
}
