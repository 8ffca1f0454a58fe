// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_atomic_file.c - atomic file replacement (mg_atomic_file): the content
 * and mode written, no temporary left after success or failure, the old file
 * kept when a write fails, and the cleaning of temporaries a killed writer
 * left behind. No privileges needed.
 */
#include <errno.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "dir_entries.h"

#include "fullfs.h"
#include "mg_atomic_file.h"

static char dir[64];
static char path[256];

/* A fresh directory for every test, so counts of files mean something. */
static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/mg-atomic-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/state.gz", dir);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	chmod(dir, 0700);
	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", dir);
	return system(cmd);
}

static bool exists(const char *name)
{
	char p[320];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return access(p, F_OK) == 0;
}

static void touch(const char *name)
{
	char p[320];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs("x", f);
	fclose(f);
}

static void assert_content(const char *want, size_t len)
{
	char got[256];
	FILE *f = fopen(path, "rb");

	assert_non_null(f);
	assert_int_equal(fread(got, 1, sizeof(got), f), len);
	fclose(f);
	assert_memory_equal(got, want, len);
}

static mode_t mode_of(const char *p)
{
	struct stat st;

	assert_int_equal(stat(p, &st), 0);
	return st.st_mode & 07777;
}

static void test_content_and_mode(void **state)
{
	(void)state;
	/* The mode is the caller's, whatever the umask: the metrics file must be readable by others. */
	mode_t old = umask(077);
	assert_int_equal(mg_atomic_write(path, "first", 5, 0644), 0);
	umask(old);
	assert_content("first", 5);
	assert_int_equal(mode_of(path), 0644);

	/* Replacing: the new content and the new mode, and still one file. */
	assert_int_equal(mg_atomic_write(path, "second\0bytes", 12, 0600), 0);
	assert_content("second\0bytes", 12);
	assert_int_equal(mode_of(path), 0600);
	assert_int_equal(dir_entries(dir), 1);

	/* Empty is a content too. */
	assert_int_equal(mg_atomic_write(path, "", 0, 0600), 0);
	assert_content("", 0);
	assert_int_equal(dir_entries(dir), 1);
}

static void test_large(void **state)
{
	static char big[4 << 20];
	struct stat st;

	(void)state;
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7);
	assert_int_equal(mg_atomic_write(path, big, sizeof(big), 0600), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, sizeof(big));
	assert_int_equal(dir_entries(dir), 1);
}

static void test_missing_dir_leaves_nothing(void **state)
{
	char bad[320];

	(void)state;
	snprintf(bad, sizeof(bad), "%s/no/such/dir/state.gz", dir);
	assert_int_equal(mg_atomic_write(bad, "x", 1, 0600), -ENOENT);
	assert_int_equal(dir_entries(dir), 0);
}

static void test_failure_keeps_old(void **state)
{
	struct mg_atomic_file f;

	(void)state;
	assert_int_equal(mg_atomic_write(path, "old", 3, 0600), 0);

	/* A writer that gives up half-way: the old file, and nothing else. */
	assert_int_equal(mg_atomic_open(&f, path, 0600), 0);
	assert_int_equal(write(f.fd, "new, half", 9), 9);
	assert_true(exists(strrchr(f.tmp, '/') + 1));
	mg_atomic_abort(&f);
	assert_content("old", 3);
	assert_int_equal(dir_entries(dir), 1);

	/* A directory it may not write to (root may anyway: only as a user). */
	if (geteuid() != 0) {
		assert_int_equal(chmod(dir, 0500), 0);
		assert_int_equal(mg_atomic_write(path, "new", 3, 0600), -EACCES);
		assert_int_equal(chmod(dir, 0700), 0);
		assert_content("old", 3);
		assert_int_equal(dir_entries(dir), 1);
	}

	/* The rename fails (the target is a non-empty directory): the temporary goes. */
	char sub[320];
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	touch("sub/keep");
	assert_true(mg_atomic_write(sub, "x", 1, 0600) < 0);
	assert_true(exists("sub/keep"));
	assert_int_equal(dir_entries(dir), 2); /* state.gz and sub */
}

static void test_temp_name(void **state)
{
	struct mg_atomic_file f;
	char want[300];

	(void)state;
	/* Next to the file, named after it: what mg_atomic_clean_stale() looks for. */
	assert_int_equal(mg_atomic_open(&f, path, 0600), 0);
	snprintf(want, sizeof(want), "%s.tmp.", path);
	assert_int_equal(strncmp(f.tmp, want, strlen(want)), 0);
	assert_int_equal(strlen(f.tmp), strlen(want) + 6);
	assert_int_equal(mg_atomic_commit(&f), 0);
	assert_false(exists(strrchr(f.tmp, '/') + 1));
	assert_int_equal(dir_entries(dir), 1);
}

static void test_clean_stale(void **state)
{
	char rules[300];

	(void)state;
	/* What kill -9 during writes leaves, beside what must stay. */
	touch("state.gz");
	touch("state.gz.tmp.a1B2c3");
	touch("state.gz.tmp.Zz9Yy8");
	touch("state.gz.tmp.");
	touch("state.gz.tmp");          /* the fixed name of older versions */
	touch("state.gz.rules");
	touch("state.gz.rules.tmp.q1w2e3");
	touch("state.gz.tmpfile");      /* not a temporary of ours */
	touch("other.gz.tmp.a1B2c3");
	touch("xstate.gz.tmp.a1B2c3");

	assert_int_equal(mg_atomic_clean_stale(path), 4);
	assert_false(exists("state.gz.tmp.a1B2c3"));
	assert_false(exists("state.gz.tmp.Zz9Yy8"));
	assert_false(exists("state.gz.tmp."));
	assert_false(exists("state.gz.tmp"));
	assert_true(exists("state.gz"));
	assert_true(exists("state.gz.rules"));
	assert_true(exists("state.gz.rules.tmp.q1w2e3")); /* the rules file's, cleaned with it */
	assert_true(exists("state.gz.tmpfile"));
	assert_true(exists("other.gz.tmp.a1B2c3"));
	assert_true(exists("xstate.gz.tmp.a1B2c3"));

	snprintf(rules, sizeof(rules), "%s.rules", path);
	assert_int_equal(mg_atomic_clean_stale(rules), 1);
	assert_false(exists("state.gz.rules.tmp.q1w2e3"));
	assert_true(exists("state.gz.rules"));
	assert_int_equal(dir_entries(dir), 5);

	/* Nothing left to do, twice over; a file that does not exist yet is fine. */
	assert_int_equal(mg_atomic_clean_stale(path), 0);
	snprintf(rules, sizeof(rules), "%s/never-written", dir);
	assert_int_equal(mg_atomic_clean_stale(rules), 0);
	/* Nor is a directory that does not exist yet (the first start). */
	snprintf(rules, sizeof(rules), "%s/no/such/dir/state.gz", dir);
	assert_int_equal(mg_atomic_clean_stale(rules), 0);
}

static void make_decoy(char decoy[320])
{
	snprintf(decoy, 320, "%s/decoy", dir);
	FILE *f = fopen(decoy, "w");
	assert_non_null(f);
	fputs("decoy", f);
	fclose(f);
}

static void assert_decoy_untouched(const char *decoy)
{
	char got[16] = "";
	FILE *f = fopen(decoy, "r");

	assert_non_null(f);
	assert_int_equal(fread(got, 1, sizeof(got) - 1, f), 5);
	fclose(f);
	assert_string_equal(got, "decoy");
}

/*
 * Links planted where a writer might put its temporary (the fixed names
 * older versions used: <file>.tmp, <file>.tmp.<pid>) and at the file itself
 * are never written through: the decoy they point to keeps its content, and
 * the file becomes a regular file of its own.
 */
static void test_planted_links_not_followed(void **state)
{
	char decoy[320], link[340];
	struct stat st;

	(void)state;
	make_decoy(decoy);
	snprintf(link, sizeof(link), "%s.tmp", path);
	assert_int_equal(symlink(decoy, link), 0);
	snprintf(link, sizeof(link), "%s.tmp.%d", path, (int)getpid());
	assert_int_equal(symlink(decoy, link), 0);
	for (int i = 0; i < 20; i++)
		assert_int_equal(mg_atomic_write(path, "mine", 4, 0600), 0);
	assert_decoy_untouched(decoy);
	assert_content("mine", 4);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));

	/* A link at the file's own name: replaced, not written through. */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink(decoy, path), 0);
	assert_int_equal(mg_atomic_write(path, "mine", 4, 0600), 0);
	assert_decoy_untouched(decoy);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_content("mine", 4);
}

/* No name to plant a link at in advance: two temporaries of one file never share a name. */
static void test_temp_names_unpredictable(void **state)
{
	struct mg_atomic_file a, b;

	(void)state;
	assert_int_equal(mg_atomic_open(&a, path, 0600), 0);
	assert_int_equal(mg_atomic_open(&b, path, 0600), 0);
	assert_string_not_equal(a.tmp, b.tmp);
	mg_atomic_abort(&a);
	mg_atomic_abort(&b);
	assert_int_equal(dir_entries(dir), 0);
}

/*
 * A full disk: the error is ENOSPC as the kernel said it (the operator reads
 * "No space left on device", not "Input/output error"), the old file stays,
 * and no temporary is left taking what little room there is.
 */
static void test_full_disk_is_enospc(void **state)
{
	char fs[64], file[128];
	static char big[64 * 1024];

	(void)state;
	FULLFS_MOUNT_OR_SKIP(fs, 64 * 1024);
	snprintf(file, sizeof(file), "%s/state.gz", fs);
	assert_int_equal(mg_atomic_write(file, "old", 3, 0600), 0);
	assert_int_equal(fullfs_fill(fs), 0);
	assert_int_equal(mg_atomic_write(file, big, sizeof(big), 0600), -ENOSPC);

	struct mg_atomic_file f;
	assert_int_equal(mg_atomic_open(&f, file, 0600), 0);
	assert_int_equal(mg_atomic_append(&f, big, sizeof(big)), -ENOSPC);
	mg_atomic_abort(&f);

	FILE *in = fopen(file, "r");
	char got[8] = "";
	assert_non_null(in);
	assert_int_equal(fread(got, 1, sizeof(got), in), 3);
	fclose(in);
	assert_memory_equal(got, "old", 3);
	assert_int_equal(mg_atomic_clean_stale(file), 0); /* nothing left behind */
	fullfs_drain(fs);
	assert_int_equal(mg_atomic_write(file, big, sizeof(big) / 2, 0600), 0);
	fullfs_unmount(fs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_content_and_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_dir_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failure_keeps_old, setup, teardown),
		cmocka_unit_test_setup_teardown(test_temp_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clean_stale, setup, teardown),
		cmocka_unit_test_setup_teardown(test_planted_links_not_followed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_temp_names_unpredictable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_disk_is_enospc, setup, teardown),
	};
	return cmocka_run_group_tests_name("atomic_file", tests, NULL, NULL);
}
