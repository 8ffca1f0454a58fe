// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_quarantine.c - mtaguard's held-mail records and the Postfix commands
 * they drive, against stand-in postqueue/postsuper scripts in a temp dir (the
 * real Postfix is exercised end to end in e2e_quarantine). No privileges.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <poll.h>

#include "mg_clock.h"
#include "mg_daemon.h"
#include "mg_eventlog.h"
#include "fullfs.h"
#include "mg_qwork.h"
#include "mg_quarantine.h"

#define SEC 1000000000ull
static char dir[] = "/tmp/mg-quarantine-XXXXXX";
static char records[256];

static void script(const char *name, const char *body)
{
	char path[300];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\n%s\n", body);
	fclose(f);
	chmod(path, 0755);
}

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	snprintf(records, sizeof(records), "%s/quarantine.json", dir);
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", dir);
	return system(cmd);
}

static void test_run(void **state)
{
	char out[64];
	size_t got;
	char *cat[] = { "/bin/cat", NULL };
	char *fail[] = { "/bin/sh", "-c", "exit 3", NULL };
	char *slow[] = { "/bin/sleep", "10", NULL };
	char *none[] = { "/nonexistent/tool", NULL };

	(void)state;
	assert_int_equal(mg_run(cat, "hello", 5, out, sizeof(out), &got, 5), 0);
	assert_string_equal(out, "hello");
	assert_int_equal(got, 5);
	assert_int_equal(mg_run(fail, NULL, 0, NULL, 0, NULL, 5), 3);
	assert_int_equal(mg_run(slow, NULL, 0, NULL, 0, NULL, 1), -ETIMEDOUT); /* killed at its deadline */
	assert_int_equal(mg_run(none, NULL, 0, NULL, 0, NULL, 1), -ENOENT);
	/* More input than a pipe holds, echoed back: no deadlock between the two pipes. */
	static char big[1 << 20], back[(1 << 20) + 1];
	memset(big, 'x', sizeof(big));
	assert_int_equal(mg_run(cat, big, sizeof(big), back, sizeof(back), &got, 10), 0);
	assert_int_equal(got, sizeof(big));
}

static void test_ids(void **state)
{
	(void)state;
	assert_true(mg_q_valid_id("4XbQZ31sPxz9"));
	assert_false(mg_q_valid_id(""));
	assert_false(mg_q_valid_id("ABC;rm -rf /"));
	assert_false(mg_q_valid_id("-d"));
	assert_false(mg_q_valid_id("ABC DEF"));
}

static void test_records_list_release_delete(void **state)
{
	struct mg_quarantine q;
	char err[256], scan[64], log[300], buf[512];

	(void)state;
	/* Postfix stand-ins: postqueue lists two held messages (one not ours) and one active; postsuper logs its args. */
	script("postqueue", "echo '{\"queue_name\":\"hold\",\"queue_id\":\"AAA111\",\"sender\":\"a@x\"}'\n"
			    "echo '{\"queue_name\":\"hold\",\"queue_id\":\"OTHER9\",\"sender\":\"o@x\"}'\n"
			    "echo '{\"queue_name\":\"active\",\"queue_id\":\"CCC333\",\"sender\":\"c@x\"}'");
	snprintf(log, sizeof(log), "%s/postsuper.log", dir);
	snprintf(buf, sizeof(buf), "echo \"$*\" >> '%s'", log);
	script("postsuper", buf);

	assert_int_equal(mg_q_init(&q, records, "", false, ""), 0);
	snprintf(q.sbin, sizeof(q.sbin), "%s", dir);
	mg_q_record(&q, "AAA111", "198.18.1.2", "a@x", "r1@lab.test", "outbreak", "fp:00b07b07", 100 * SEC);
	mg_q_record(&q, "AAA111", "198.18.1.2", "a@x", "r2@lab.test", "outbreak", "fp:00b07b07", 100 * SEC);
	mg_q_record(&q, "BBB222", "198.18.2.2", "b@x", "r@lab.test", "suspect", "", 110 * SEC);
	mg_q_record(&q, "CCC333", "198.18.3.2", "c@x", "r@lab.test", "suspect", "", 120 * SEC);
	mg_q_record(&q, "bad id!", "198.18.3.2", "c@x", "r@lab.test", "suspect", "", 120 * SEC);
	assert_int_equal(q.n, 3);

	/* The records survive a restart. */
	mg_q_free(&q);
	assert_int_equal(mg_q_init(&q, records, "", false, ""), 0);
	snprintf(q.sbin, sizeof(q.sbin), "%s", dir);
	assert_int_equal(q.n, 3);

	/* Only ours that are still on hold: AAA111 (BBB222 is gone, CCC333 was released, OTHER9 is not ours). */
	json_t *l = mg_q_list(&q, 160 * SEC, err, sizeof(err));
	assert_non_null(l);
	assert_int_equal(json_array_size(l), 1);
	json_t *m = json_array_get(l, 0);
	assert_string_equal(json_string_value(json_object_get(m, "queue_id")), "AAA111");
	assert_string_equal(json_string_value(json_object_get(m, "recipients")), "r1@lab.test,r2@lab.test");
	assert_string_equal(json_string_value(json_object_get(m, "reason")), "outbreak");
	assert_string_equal(json_string_value(json_object_get(m, "signature")), "fp:00b07b07");
	assert_int_equal(json_integer_value(json_object_get(m, "age_s")), 60);
	json_decref(l);
	assert_int_equal(q.n, 1); /* the others forgotten */

	/* Not ours, or not an ID: refused without running anything. */
	assert_int_equal(mg_q_release(&q, "OTHER9", scan, sizeof(scan), err, sizeof(err)), -ENOENT);
	assert_int_equal(mg_q_delete(&q, "x;y", err, sizeof(err)), -ENOENT);
	assert_int_equal(access(log, F_OK), -1);

	assert_int_equal(mg_q_release(&q, "AAA111", scan, sizeof(scan), err, sizeof(err)), 0);
	assert_string_equal(scan, "not scanned");
	FILE *f = fopen(log, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_string_equal(buf, "-H AAA111\n");
	assert_int_equal(q.n, 0);

	/* A failing postsuper is reported and the record kept. */
	mg_q_record(&q, "DDD444", "198.18.4.2", "d@x", "r@lab.test", "suspect", "", 130 * SEC);
	script("postsuper", "exit 1");
	assert_int_equal(mg_q_delete(&q, "DDD444", err, sizeof(err)), -EIO);
	assert_non_null(strstr(err, "postsuper -d DDD444 failed"));
	assert_int_equal(q.n, 1);
	mg_q_free(&q);
}

static void assert_file_is(const char *p, const char *want)
{
	char got[64] = "";
	FILE *f = fopen(p, "r");

	assert_non_null(f);
	assert_non_null(fgets(got, sizeof(got), f));
	fclose(f);
	assert_string_equal(got, want);
}

/*
 * Links planted at the names a records writer could be expected to use
 * (<records>.tmp, the fixed name of older versions, and <records>.tmp.<pid>)
 * point to a decoy: recording a held message writes the records file, never
 * the decoy.
 */
static void test_records_not_written_through_links(void **state)
{
	struct mg_quarantine q;
	char decoy[300], link[340], records[300];
	struct stat st;

	(void)state;
	snprintf(records, sizeof(records), "%s/held.json", dir);
	snprintf(decoy, sizeof(decoy), "%s/decoy", dir);
	FILE *f = fopen(decoy, "w");
	assert_non_null(f);
	fputs("decoy\n", f);
	fclose(f);
	snprintf(link, sizeof(link), "%s.tmp", records);
	assert_int_equal(symlink(decoy, link), 0);
	snprintf(link, sizeof(link), "%s.tmp.%d", records, (int)getpid());
	assert_int_equal(symlink(decoy, link), 0);

	assert_int_equal(mg_q_init(&q, records, "", false, ""), 0);
	mg_q_record(&q, "EEE555", "198.18.5.2", "e@x", "r@lab.test", "suspect", "", 140 * SEC);
	mg_q_free(&q);
	assert_file_is(decoy, "decoy\n");
	assert_int_equal(lstat(records, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(mg_q_init(&q, records, "", false, ""), 0);
	assert_int_equal(q.n, 1);
	mg_q_free(&q);
}

/* A FIFO at the records path: the start goes on, with no records (it would wait for a writer forever). */
static void test_records_fifo_refused(void **state)
{
	struct mg_quarantine q;
	char records[300];

	(void)state;
	snprintf(records, sizeof(records), "%s/fifo.json", dir);
	assert_int_equal(mkfifo(records, 0600), 0);
	alarm(10); /* a hang is a failure, not a stuck test run */
	assert_int_equal(mg_q_init(&q, records, "", false, ""), 0);
	alarm(0);
	assert_int_equal(q.n, 0);
	assert_true(q.damaged); /* the daemon keeps it aside (a link) and says so */
	mg_q_free(&q);
	unlink(records);
}

/*
 * A records file that is there but holds no array of records loads nothing
 * and says it is damaged, so that the daemon keeps a copy before its next
 * save replaces it; none at all is the usual first start, not damage.
 */
static void test_records_damaged_flagged(void **state)
{
	static const char *const bad[] = { "not json\n", "{\"queue_id\": \"AAA111\"}\n", "[{\"queue_id\": \"AAA1", "" };
	struct mg_quarantine q;
	char records[300];

	(void)state;
	snprintf(records, sizeof(records), "%s/damaged.json", dir);
	unlink(records);
	assert_int_equal(mg_q_init(&q, records, "", false, ""), 0);
	assert_false(q.damaged);
	assert_int_equal(q.n, 0);
	mg_q_free(&q);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		FILE *f = fopen(records, "w");
		assert_non_null(f);
		fputs(bad[i], f);
		fclose(f);
		assert_int_equal(mg_q_init(&q, records, "", false, ""), 0);
		assert_true(q.damaged);
		assert_int_equal(q.n, 0);
		mg_q_free(&q);
	}
	/* A good one after all: loaded, no damage. */
	FILE *f = fopen(records, "w");
	assert_non_null(f);
	fputs("[{\"queue_id\": \"AAA111\", \"held_ns\": 1}]\n", f);
	fclose(f);
	assert_int_equal(mg_q_init(&q, records, "", false, ""), 0);
	assert_false(q.damaged);
	assert_int_equal(q.n, 1);
	mg_q_free(&q);
	unlink(records);
}

/*
 * ClamAV before a release, with a stand-in clamdscan that answers as the
 * real one does (exit 0 "stream: OK", 1 "stream: NAME FOUND", 2 with the
 * connection error on standard error): only a clean scan releases, the
 * refusal says why, and a conviction outlives a restart and a later clean
 * scan (e2e_clamav runs the real clamd).
 */
static void test_scan_before_release(void **state)
{
	struct mg_quarantine q;
	char err[256], scan[128], what[256], clam[100], records[300];

	(void)state;
	snprintf(records, sizeof(records), "%s/scanned.json", dir);
	script("postqueue", "echo '{\"queue_name\":\"hold\",\"queue_id\":\"VVV111\"}'");
	script("postsuper", "exit 0");
	script("postcat", "echo 'Subject: x'; echo; echo body");
	snprintf(clam, sizeof(clam), "%s/clamdscan", dir);
	assert_int_equal(mg_q_init(&q, records, "", true, "/etc/mg-test/clamd.conf"), 0);
	snprintf(q.sbin, sizeof(q.sbin), "%s", dir);
	q.postcat_user[0] = '\0'; /* the stand-in runs as the test does */
	snprintf(q.clam.clamdscan, sizeof(q.clam.clamdscan), "%s", clam);
	mg_q_record(&q, "VVV111", "198.18.1.2", "a@x", "r@lab.test", "outbreak", "fp:00b07b07", 100 * SEC);

	/* clamd down: refused, and the reason is clamdscan's, not an exit status. */
	script("clamdscan", "echo 'ERROR: Could not connect to clamd on LocalSocket /run/x.ctl: No such file or directory' >&2\n"
			    "exit 2");
	assert_int_equal(mg_q_release(&q, "VVV111", scan, sizeof(scan), err, sizeof(err)), -EIO);
	assert_non_null(strstr(err, "not released: clamd is not running"));
	assert_non_null(strstr(err, "/run/x.ctl"));
	assert_int_equal(q.n, 1);

	/* The configured clamd.conf is passed on. */
	script("clamdscan", "case \"$1\" in --config-file=/etc/mg-test/clamd.conf) ;; *) exit 2;; esac\n"
			    "cat >/dev/null; echo 'stream: MG.EICAR.UNOFFICIAL FOUND'; exit 1");
	assert_int_equal(mg_q_release(&q, "VVV111", scan, sizeof(scan), err, sizeof(err)), -EPERM);
	assert_string_equal(scan, "infected: MG.EICAR.UNOFFICIAL");
	assert_non_null(strstr(err, "ClamAV found MG.EICAR.UNOFFICIAL"));

	/* Convicted: a clean scan later (signatures removed) does not release it, nor does a restart forget it. */
	script("clamdscan", "cat >/dev/null; echo 'stream: OK'; exit 0");
	mg_q_free(&q);
	assert_int_equal(mg_q_init(&q, records, "", true, ""), 0);
	snprintf(q.sbin, sizeof(q.sbin), "%s", dir);
	q.postcat_user[0] = '\0'; /* the stand-in runs as the test does */
	snprintf(q.clam.clamdscan, sizeof(q.clam.clamdscan), "%s", clam);
	assert_int_equal(mg_q_release(&q, "VVV111", scan, sizeof(scan), err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "MG.EICAR.UNOFFICIAL"));

	/* A clean message is released, after the scan. */
	mg_q_record(&q, "WWW222", "198.18.1.3", "b@x", "r@lab.test", "suspect", "", 110 * SEC);
	assert_int_equal(mg_q_rescan(&q, "WWW222", what, sizeof(what)), 0);
	assert_int_equal(mg_q_release(&q, "WWW222", scan, sizeof(scan), err, sizeof(err)), 0);
	assert_string_equal(scan, "clean");
	assert_null(mg_q_find(&q, "WWW222"));
	mg_q_free(&q);
	unlink(records);
}

/* The database stamp changes when a signature file is added or rewritten, not otherwise. */
static void test_clamav_db_stamp(void **state)
{
	char db[300], f[340], conf[300];
	uint64_t a, b, c;
	struct mg_clamav cl;

	(void)state;
	snprintf(db, sizeof(db), "%s/db", dir);
	assert_int_equal(mkdir(db, 0700), 0);
	assert_true(mg_clamav_db_stamp(db, &a));
	assert_true(mg_clamav_db_stamp(db, &b));
	assert_true(a == b);
	snprintf(f, sizeof(f), "%s/local.hdb", db);
	FILE *fp = fopen(f, "w");
	assert_non_null(fp);
	fputs("44d88612fea8a8f36de82e1278abb02f:68:MG.EICAR\n", fp);
	fclose(fp);
	assert_true(mg_clamav_db_stamp(db, &c));
	assert_true(c != a);
	assert_false(mg_clamav_db_stamp("/nonexistent/mg", &a));

	/* DatabaseDirectory from the clamd.conf clamdscan is given. */
	snprintf(conf, sizeof(conf), "%s/clamd.conf", dir);
	fp = fopen(conf, "w");
	assert_non_null(fp);
	fprintf(fp, "# test\nLocalSocket /tmp/x.ctl\nDatabaseDirectory %s\n", db);
	fclose(fp);
	mg_clamav_init(&cl, conf, NULL);
	char got[256];
	mg_clamav_db_dir(&cl, got, sizeof(got));
	assert_string_equal(got, db);
	mg_clamav_init(&cl, "/nonexistent/clamd.conf", NULL);
	mg_clamav_db_dir(&cl, got, sizeof(got));
	assert_string_equal(got, "/var/lib/clamav");
}

struct qop_seen {
	bool done;
	struct mg_qop_result r;
};

static void qop_done(struct mg_qop_result *r, void *arg)
{
	struct qop_seen *o = arg;

	o->done = true;
	o->r = *r;
	r->held = NULL; /* taken */
}

/* The runner's descriptor driven as the daemon's loop does, until the operation ended (a generous bound). */
static void drive(struct mg_qwork *w, struct qop_seen *o)
{
	uint64_t end = mg_mono_ns() + 30 * SEC;

	while (!o->done && mg_mono_ns() < end) {
		struct pollfd p = { .fd = mg_qwork_fd(w), .events = POLLIN };
		poll(&p, 1, 100);
		mg_qwork_work(w, mg_mono_ns());
	}
	assert_true(o->done);
}

/*
 * The same operations without waiting (mg_qwork): list, re-scan, release,
 * delete and clamd's reload through the stand-ins, each begun and then
 * driven to its end; refusals end at once; the records change only as the
 * answers come, and a message released by hand meanwhile is not touched.
 */
static void test_operations_without_waiting(void **state)
{
	struct mg_quarantine q;
	struct mg_qwork w;
	struct qop_seen o;
	struct mg_qop_result now;
	char records[300], log[300], buf[512], clam[300];

	(void)state;
	snprintf(records, sizeof(records), "%s/async.json", dir);
	snprintf(log, sizeof(log), "%s/postsuper-async.log", dir);
	script("postqueue", "echo '{\"queue_name\":\"hold\",\"queue_id\":\"AAA111\"}'\n"
			    "echo '{\"queue_name\":\"hold\",\"queue_id\":\"BBB222\"}'\n"
			    "echo '{\"queue_name\":\"hold\",\"queue_id\":\"CCC333\"}'");
	snprintf(buf, sizeof(buf), "echo \"$*\" >> '%s'", log);
	script("postsuper", buf);
	script("postcat", "echo 'Subject: x'; echo; if [ \"$2\" = BBB222 ]; then echo EVIL; else echo fine; fi");
	script("clamdscan", "case \"$2\" in --reload) exit 0;; esac\n"
			    "if grep -q EVIL; then echo 'stream: MG.EVIL FOUND'; exit 1; fi; echo 'stream: OK'; exit 0");
	snprintf(clam, sizeof(clam), "%s/clamdscan", dir);
	assert_int_equal(mg_q_init(&q, records, "", true, ""), 0);
	snprintf(q.sbin, sizeof(q.sbin), "%s", dir);
	q.postcat_user[0] = '\0';
	mg_clamav_init(&q.clam, "", clam);
	mg_q_record(&q, "AAA111", "198.18.1.2", "a@x", "r@lab.test", "outbreak", "fp:00b07b07", 100 * SEC);
	mg_q_record(&q, "BBB222", "198.18.2.2", "b@x", "r@lab.test", "suspect", "", 110 * SEC);
	mg_q_record(&q, "CCC333", "198.18.3.2", "c@x", "r@lab.test", "suspect", "", 120 * SEC);
	assert_int_equal(mg_qwork_init(&w, &q), 0);

	/*
	 * A message held while the list runs (recorded after it began, not in
	 * its output: Postfix holds it only after the answer) is kept, not
	 * forgotten; one recorded long before and not listed is forgotten.
	 */
	mg_q_record(&q, "OLD999", "198.18.9.2", "o@x", "r@lab.test", "suspect", "", 100 * SEC);
	memset(&o, 0, sizeof(o));
	assert_int_equal(mg_qwork_list(&w, 160 * SEC, qop_done, &o, &now), 0);
	mg_q_record(&q, "NEW999", "198.18.9.3", "n@x", "r@lab.test", "suspect", "", 161 * SEC);
	drive(&w, &o);
	assert_int_equal(o.r.rc, 0);
	assert_int_equal(json_array_size(o.r.held), 3);
	json_decref(o.r.held);
	assert_null(mg_q_find(&q, "OLD999"));
	assert_non_null(mg_q_find(&q, "NEW999"));
	mg_q_forget(&q, "NEW999");

	/* A re-scan convicts BBB222: remembered when the answer is in. */
	memset(&o, 0, sizeof(o));
	assert_int_equal(mg_qwork_rescan(&w, "BBB222", qop_done, &o, &now), 0);
	assert_false(mg_q_find(&q, "BBB222")->infected);
	drive(&w, &o);
	assert_int_equal(o.r.rc, 1);
	assert_string_equal(o.r.text, "MG.EVIL");
	assert_true(mg_q_find(&q, "BBB222")->infected);

	/* Convicted: a release ends at once, refused. Not ours: likewise. */
	assert_int_equal(mg_qwork_release(&w, "BBB222", qop_done, &o, &now), 1);
	assert_int_equal(now.rc, -EPERM);
	assert_non_null(strstr(now.text, "ClamAV found MG.EVIL"));
	assert_int_equal(mg_qwork_delete(&w, "NOSUCH1", qop_done, &o, &now), 1);
	assert_int_equal(now.rc, -ENOENT);

	/* A clean message: scanned, postsuper -H, postqueue -i, forgotten. */
	memset(&o, 0, sizeof(o));
	assert_int_equal(mg_qwork_release(&w, "AAA111", qop_done, &o, &now), 0);
	drive(&w, &o);
	assert_int_equal(o.r.rc, 0);
	assert_string_equal(o.r.scan, "clean");
	assert_null(mg_q_find(&q, "AAA111"));

	memset(&o, 0, sizeof(o));
	assert_int_equal(mg_qwork_delete(&w, "BBB222", qop_done, &o, &now), 0);
	drive(&w, &o);
	assert_int_equal(o.r.rc, 0);
	assert_null(mg_q_find(&q, "BBB222"));
	FILE *f = fopen(log, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	assert_string_equal(buf, "-H AAA111\n");
	assert_non_null(fgets(buf, sizeof(buf), f));
	assert_string_equal(buf, "-d BBB222\n");
	fclose(f);

	/* Released by hand while its scan ran: the verdict finds no record and changes nothing. */
	memset(&o, 0, sizeof(o));
	assert_int_equal(mg_qwork_rescan(&w, "CCC333", qop_done, &o, &now), 0);
	mg_q_forget(&q, "CCC333");
	drive(&w, &o);
	assert_int_equal(o.r.rc, 0);
	assert_int_equal(q.n, 0);

	memset(&o, 0, sizeof(o));
	assert_int_equal(mg_qwork_reload(&w, qop_done, &o, &now), 0);
	drive(&w, &o);
	assert_int_equal(o.r.rc, 0);

	mg_qwork_stop(&w, 0);
	mg_q_free(&q);
	unlink(records);
}

/*
 * The file dated long ago: a rewrite (a new file renamed over it) shows as
 * a new time. The inode number alone cannot tell, a freed one is reused at
 * once, nor can a time the coarse file clock may give twice.
 */
static void date_back(const char *path)
{
	struct timespec t[2] = { { .tv_sec = 1000000000 }, { .tv_sec = 1000000000 } };
	assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);
}

static bool rewritten(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_mtim.tv_sec != 1000000000;
}

/* How many lines of the file hold the text. */
static int lines_with(const char *path, const char *text)
{
	char line[2048];
	int n = 0;
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		n += strstr(line, text) != NULL;
	fclose(f);
	return n;
}

/* The worker's list (mg_qwork_list) at wall time now, waited for: it succeeded; how many messages it listed. */
static size_t worker_list(struct mg_qwork *w, uint64_t now)
{
	struct qop_seen o = { 0 };
	struct mg_qop_result at_once;
	size_t n;

	assert_int_equal(mg_qwork_list(w, now, qop_done, &o, &at_once), 0);
	drive(w, &o);
	assert_int_equal(o.r.rc, 0);
	n = json_array_size(o.r.held);
	json_decref(o.r.held);
	return n;
}

/*
 * postqueue -j lists every queue, the hold queue last: on a relay with a big
 * deferred queue its output passes what is read of it (MG_Q_LIST_MAX). The
 * held messages past the cut are unseen, not gone: their records are kept
 * (the file is not even rewritten), what was read is still listed, the
 * cut is logged (once a minute at most), and that holds waited for
 * (mg_q_list) and without waiting (mg_qwork_list).
 */
static void test_list_cut_forgets_nothing(void **state)
{
	struct mg_quarantine q;
	struct mg_qwork w;
	char records[300], body[600], err[256], logpath[300];
	struct mg_eventlog log;

	(void)state;
	snprintf(records, sizeof(records), "%s/cut.json", dir);
	snprintf(logpath, sizeof(logpath), "%s/cut.log", dir);
	/* AAA111 first (read), then more than the cap of deferred mail, then HHH111 (past the cut). */
	snprintf(body, sizeof(body),
		 "echo '{\"queue_name\":\"hold\",\"queue_id\":\"AAA111\"}'\n"
		 "yes '{\"queue_name\":\"deferred\",\"queue_id\":\"DEF000000001\",\"sender\":\"x@lab.test\"}' | "
		 "head -c %u\n"
		 "echo; echo '{\"queue_name\":\"hold\",\"queue_id\":\"HHH111\"}'",
		 MG_Q_LIST_MAX + (1u << 20));
	script("postqueue", body);
	assert_int_equal(mg_q_init(&q, records, "", false, ""), 0);
	assert_int_equal(mg_eventlog_open(&log, logpath, NULL), 0);
	q.log = &log;
	snprintf(q.sbin, sizeof(q.sbin), "%s", dir);
	mg_q_record(&q, "AAA111", "198.18.1.2", "a@x", "r@lab.test", "suspect", "", 100 * SEC);
	mg_q_record(&q, "HHH111", "198.18.1.3", "h@x", "r@lab.test", "outbreak", "fp:00b07b07", 100 * SEC);
	mg_q_record(&q, "GONE99", "198.18.1.4", "g@x", "r@lab.test", "suspect", "", 100 * SEC);
	date_back(records);

	/* Waited for: AAA111 listed; HHH111 and GONE99 (unseen: past the cut, or gone) both kept. */
	json_t *l = mg_q_list(&q, 1000 * SEC, err, sizeof(err));
	assert_non_null(l);
	assert_int_equal(json_array_size(l), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(l, 0), "queue_id")), "AAA111");
	json_decref(l);
	assert_int_equal(q.n, 3);
	assert_non_null(mg_q_find(&q, "HHH111"));
	assert_non_null(mg_q_find(&q, "GONE99"));

	/* Without waiting: the same. */
	assert_int_equal(mg_qwork_init(&w, &q), 0);
	assert_int_equal(worker_list(&w, 1000 * SEC), 1);
	assert_int_equal(q.n, 3);
	assert_non_null(mg_q_find(&q, "HHH111"));
	assert_non_null(mg_q_find(&q, "GONE99"));
	assert_false(rewritten(records)); /* nothing forgotten: not rewritten */
	assert_int_equal(lines_with(logpath, "postqueue -j wrote more than 64 MiB"), 1); /* two cuts, one line */

	/* A whole list again: GONE99 is forgotten now (HHH111 listed, AAA111 not, both kept or dropped as listed). */
	script("postqueue", "echo '{\"queue_name\":\"hold\",\"queue_id\":\"HHH111\"}'");
	assert_int_equal(worker_list(&w, 1000 * SEC), 1);
	assert_int_equal(q.n, 1);
	assert_non_null(mg_q_find(&q, "HHH111"));
	mg_qwork_stop(&w, 0);
	mg_q_free(&q);
	mg_eventlog_close(&log);
	unlink(records);
}

/* A records file of n messages, as the daemon writes it; idx_bad (< n) gets an invalid queue ID, or none if n. */
static void write_records(const char *path, unsigned n, unsigned idx_bad)
{
	json_t *arr = json_array();
	char id[32], rcpt[64];

	for (unsigned i = 0; i < n; i++) {
		snprintf(id, sizeof(id), i == idx_bad ? "BAD;%u" : "Q%07u", i);
		snprintf(rcpt, sizeof(rcpt), "r%u@lab.test", i);
		json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:s,s:b}", "queue_id", id, "client",
						     "198.18.7.7", "sender", "s@lab.test", "recipients", rcpt, "reason",
						     "outbreak", "signature", "fp:00b07b07", "held_ns",
						     (json_int_t)(100 * SEC + i), "scan", i == 7 ? "infected: MG.X" : "",
						     "infected", i == 7));
	}
	assert_int_equal(json_dump_file(arr, path, JSON_INDENT(1)), 0); /* not as the daemon writes it: a rewrite shows */
	json_decref(arr);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	int c;
	while ((c = getc(f)) != EOF)
		putc(c, m);
	fclose(m);
	fclose(f);
	return buf;
}

/*
 * A start loads the records file without writing it: not once per record
 * (a start was O(N^2), 3000 records near systemd's start timeout), and so a
 * start killed midway cannot leave the file with only the first records.
 * A record with an invalid queue ID is left out and counted.
 */
static void test_load_writes_nothing(void **state)
{
	struct mg_quarantine q;
	char records[300];

	(void)state;
	snprintf(records, sizeof(records), "%s/many.json", dir);
	write_records(records, 500, 3);
	date_back(records);
	assert_int_equal(mg_q_init(&q, records, "", false, ""), 0);
	assert_int_equal(q.n, 499);
	assert_int_equal(q.refused, 1);
	assert_true(mg_q_find(&q, "Q0000007")->infected); /* a conviction outlives the restart */
	assert_string_equal(mg_q_find(&q, "Q0000499")->rcpts, "r499@lab.test");
	assert_false(rewritten(records));
	mg_q_free(&q);

	/*
	 * Killed while it loads (SIGALRM's default action, 2 s in: a load that
	 * wrote per record took longer): the file is as it was, whole.
	 */
	write_records(records, 3000, 3000);
	char *orig = slurp(records);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct itimerval it = { .it_value = { .tv_sec = 2 } };
		setitimer(ITIMER_REAL, &it, NULL);
		mg_q_init(&q, records, "", false, "");
		_exit(0);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	char *now = slurp(records);
	assert_int_equal(strlen(now), strlen(orig));
	assert_true(!strcmp(now, orig));
	free(now);
	free(orig);
	unlink(records);
}

/*
 * quarantine.release_on_outbreak_end with more outbreaks active at once
 * than the set of them once held (64; the outbreak store keeps up to 4096):
 * the mail held for each active one stays held, the ended one's is due.
 */
static void test_release_at_end_many_outbreaks(void **state)
{
	struct mg_ob_config c;
	struct mg_ob_action acts[64];
	struct mg_qauto_active a;
	struct mg_held h = { .reason = "outbreak" };
	const unsigned n = 300;

	(void)state;
	mg_ob_config_default(&c);
	struct mg_outbreaks *ob = mg_ob_new(&c);
	assert_non_null(ob);
	for (unsigned s = 0; s < n; s++) {
		struct mg_signature sig = { MG_SIG_FP, 0x5100 + s, MG_SIGCLASS_RARE_FP };
		for (unsigned k = 0; k < c.min_senders; k++) {
			struct mg_prefix p;
			char ip[48];
			uint8_t mac[6] = { 2, 0, 0, (uint8_t)(s >> 8), (uint8_t)s, (uint8_t)k };
			snprintf(ip, sizeof(ip), "198.18.%u.%u", s / 8, (s % 8) * 16 + k + 1);
			assert_int_equal(mg_prefix_parse(ip, &p), 0);
			mg_ob_observe(ob, &p, mac, 0, 0, &sig, 100 * SEC + k, acts, 64);
		}
	}
	assert_int_equal(mg_ob_active(ob), n);

	assert_int_equal(mg_qauto_active_load(&a, ob), 0);
	for (unsigned s = 0; s < n; s++) {
		struct mg_signature sig = { MG_SIG_FP, 0x5100 + s, MG_SIGCLASS_RARE_FP };
		mg_sig_str(&sig, h.signature, sizeof(h.signature));
		assert_false(mg_qauto_release_due(&a, &h, 200 * SEC));
	}
	snprintf(h.signature, sizeof(h.signature), "fp:0000dead"); /* over: its mail is released */
	assert_true(mg_qauto_release_due(&a, &h, 200 * SEC));
	mg_qauto_active_free(&a);
	mg_ob_free(ob);
}

/*
 * A records file that cannot be written (a full disk): said at warning, once
 * a minute at most, not dropped; the records stay whole in memory, and the
 * next list writes them once there is room again.
 */
static void test_save_failure_told(void **state)
{
	struct mg_quarantine q;
	struct mg_eventlog log;
	char fs[64], records[128], logpath[300], err[256];

	(void)state;
	FULLFS_MOUNT_OR_SKIP(fs, 64 * 1024);
	snprintf(records, sizeof(records), "%s/held.json", fs);
	snprintf(logpath, sizeof(logpath), "%s/save.log", dir); /* not on the full filesystem */
	script("postqueue", "echo '{\"queue_name\":\"hold\",\"queue_id\":\"AAA111\"}'\n"
			    "echo '{\"queue_name\":\"hold\",\"queue_id\":\"BBB222\"}'\n"
			    "echo '{\"queue_name\":\"hold\",\"queue_id\":\"CCC333\"}'");
	assert_int_equal(mg_q_init(&q, records, "", false, ""), 0);
	assert_int_equal(mg_eventlog_open(&log, logpath, NULL), 0);
	q.log = &log;
	snprintf(q.sbin, sizeof(q.sbin), "%s", dir);
	mg_q_record(&q, "AAA111", "198.18.1.2", "a@x", "r@lab.test", "suspect", "", 100 * SEC);
	assert_int_equal(fullfs_fill(fs), 0);
	mg_q_record(&q, "BBB222", "198.18.1.3", "b@x", "r@lab.test", "suspect", "", 100 * SEC);
	mg_q_record(&q, "CCC333", "198.18.1.4", "c@x", "r@lab.test", "suspect", "", 100 * SEC);
	assert_int_equal(q.n, 3);
	assert_int_equal(lines_with(logpath, "could not be written"), 1); /* two failures, one line */
	assert_int_equal(lines_with(logpath, "No space left on device"), 1);

	/* Room again: the next list (nothing forgotten, nothing changed) writes them all. */
	fullfs_drain(fs);
	json_t *l = mg_q_list(&q, 110 * SEC, err, sizeof(err));
	assert_non_null(l);
	assert_int_equal(json_array_size(l), 3);
	json_decref(l);
	mg_q_free(&q);
	assert_int_equal(mg_q_init(&q, records, "", false, ""), 0);
	assert_int_equal(q.n, 3);
	mg_q_free(&q);
	mg_eventlog_close(&log);
	fullfs_unmount(fs);
}

/*
 * Text that is not UTF-8 (a sender in Latin-1, a recipient list cut inside a
 * character): kept as '?', so the record is written with the others and
 * outlives a restart (jansson refuses anything else, and such a record was
 * left out of the file).
 */
static void test_record_not_utf8_kept(void **state)
{
	struct mg_quarantine q;
	char records[300], rcpt[600];

	(void)state;
	snprintf(records, sizeof(records), "%s/latin1.json", dir);
	assert_int_equal(mg_q_init(&q, records, "", false, ""), 0);
	mg_q_record(&q, "LAT111", "198.18.1.2", "j\xe9r\xf4me@lab.test", "r\xfc@lab.test", "suspect", "", 100 * SEC);
	mg_q_record(&q, "LAT111", "198.18.1.2", "j\xe9r\xf4me@lab.test", "r\xfc@lab.test", "suspect", "", 100 * SEC);
	/* After "x@lab.test,", 499 bytes and a two-byte character: it does not fit whole in the 512 (with the NUL). */
	memset(rcpt, 'a', 499);
	memcpy(rcpt + 499, "\xc3\xa9", 3);
	mg_q_record(&q, "UTF222", "198.18.1.3", "\xc3\xa9t\xc3\xa9@lab.test", "x@lab.test", "suspect", "", 100 * SEC);
	mg_q_record(&q, "UTF222", "198.18.1.3", "\xc3\xa9t\xc3\xa9@lab.test", rcpt, "suspect", "", 100 * SEC);
	mg_q_free(&q);

	assert_int_equal(mg_q_init(&q, records, "", false, ""), 0);
	assert_int_equal(q.n, 2);
	assert_string_equal(mg_q_find(&q, "LAT111")->sender, "j?r?me@lab.test");
	assert_string_equal(mg_q_find(&q, "LAT111")->rcpts, "r?@lab.test");
	assert_string_equal(mg_q_find(&q, "UTF222")->sender, "\xc3\xa9t\xc3\xa9@lab.test");
	assert_int_equal(strlen(mg_q_find(&q, "UTF222")->rcpts), strlen("x@lab.test,") + 499);
	mg_q_free(&q);
	unlink(records);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_records_list_release_delete),
		cmocka_unit_test(test_records_not_written_through_links),
		cmocka_unit_test(test_records_fifo_refused),
		cmocka_unit_test(test_records_damaged_flagged),
		cmocka_unit_test(test_scan_before_release),
		cmocka_unit_test(test_clamav_db_stamp),
		cmocka_unit_test(test_operations_without_waiting),
		cmocka_unit_test(test_list_cut_forgets_nothing),
		cmocka_unit_test(test_load_writes_nothing),
		cmocka_unit_test(test_release_at_end_many_outbreaks),
		cmocka_unit_test(test_save_failure_told),
		cmocka_unit_test(test_record_not_utf8_kept),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
