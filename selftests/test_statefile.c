// SPDX-License-Identifier: GPL-2.0-only
/* test_statefile.c - the state file survives round trips and refuses damage (no privileges needed). */
#include <errno.h>
#include <dirent.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "fullfs.h"
#include "mg_statefile.h"

static char dir[] = "/tmp/mg-statefile-XXXXXX";
static char path[256];

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/state.gz", dir);
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", dir);
	return system(cmd);
}

static int files_in_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void test_round_trip(void **state)
{
	uint8_t data[100000], *back;
	size_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + i / 300);
	assert_int_equal(mg_state_write(path, data, sizeof(data)), 0);
	assert_int_equal(mg_state_read(path, &back, &len), 0);
	assert_int_equal(len, sizeof(data));
	assert_memory_equal(back, data, len);
	free(back);
	/* No temporary file is left behind. */
	assert_int_equal(files_in_dir(), 1);
	/* Empty state is valid state. */
	assert_int_equal(mg_state_write(path, "", 0), 0);
	assert_int_equal(mg_state_read(path, &back, &len), 0);
	assert_int_equal(len, 0);
	free(back);
}

static void test_missing(void **state)
{
	uint8_t *back;
	size_t len;
	char other[300];

	(void)state;
	snprintf(other, sizeof(other), "%s/none.gz", dir);
	assert_int_equal(mg_state_read(other, &back, &len), -ENOENT);
}

static void test_damage_refused(void **state)
{
	uint8_t data[5000], *back, *raw;
	size_t len;
	FILE *f;
	long size;

	(void)state;
	memset(data, 'x', sizeof(data));
	assert_int_equal(mg_state_write(path, data, sizeof(data)), 0);
	f = fopen(path, "rb");
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	rewind(f);
	raw = malloc((size_t)size);
	assert_int_equal(fread(raw, 1, (size_t)size, f), (size_t)size);
	fclose(f);

	/* Truncated at every length: always refused, never half-read. */
	for (long cut = 0; cut < size; cut++) {
		f = fopen(path, "wb");
		fwrite(raw, 1, (size_t)cut, f);
		fclose(f);
		int err = mg_state_read(path, &back, &len);
		if (err != -EINVAL)
			fail_msg("cut at %ld of %ld: got %d", cut, size, err);
	}
	/* Garbage that is not gzip at all. */
	f = fopen(path, "wb");
	fputs("this is not a state file\n", f);
	fclose(f);
	assert_int_equal(mg_state_read(path, &back, &len), -EINVAL);
	free(raw);
}

static void test_failed_write_keeps_old(void **state)
{
	uint8_t old[10] = "old state", *back;
	size_t len;

	(void)state;
	assert_int_equal(mg_state_write(path, old, sizeof(old)), 0);
	if (geteuid() != 0) {
		/* A directory we cannot write to: the write fails, the old file stays. */
		chmod(dir, 0500);
		assert_true(mg_state_write(path, "new", 3) < 0);
		chmod(dir, 0700);
	}
	/* A path whose directory does not exist fails cleanly, too. */
	char bad[300];
	snprintf(bad, sizeof(bad), "%s/no/such/dir/state.gz", dir);
	assert_int_equal(mg_state_write(bad, "new", 3), -ENOENT);
	assert_int_equal(mg_state_read(path, &back, &len), 0);
	assert_memory_equal(back, old, sizeof(old));
	free(back);
}

/*
 * A full disk fails the write with ENOSPC, as the kernel reported it (zlib's
 * file layer would have turned it into a bare error, shown as "Input/output
 * error"), and the old state file is still whole.
 */
static void test_full_disk_says_enospc(void **state)
{
	char fs[64], file[128];
	uint8_t *back, *big = malloc(256 * 1024);
	size_t len;

	(void)state;
	assert_non_null(big);
	FULLFS_MOUNT_OR_SKIP(fs, 64 * 1024);
	/* Incompressible, so the stream is as large as the payload. */
	for (size_t i = 0; i < 256 * 1024; i++)
		big[i] = (uint8_t)(rand() >> 7);
	snprintf(file, sizeof(file), "%s/state.gz", fs);
	assert_int_equal(mg_state_write(file, "old state", 9), 0);
	assert_int_equal(fullfs_fill(fs), 0);
	assert_int_equal(mg_state_write(file, big, 256 * 1024), -ENOSPC);
	assert_int_equal(mg_state_read(file, &back, &len), 0);
	assert_int_equal(len, 9);
	assert_memory_equal(back, "old state", 9);
	free(back);
	fullfs_unmount(fs);
	free(big);
}

/* A FIFO where the state file should be: refused at once, not waited on. */
static void test_fifo_refused(void **state)
{
	char fifo[300];
	uint8_t *back;
	size_t len;

	(void)state;
	snprintf(fifo, sizeof(fifo), "%s/fifo.gz", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	alarm(10); /* a hang is a failure, not a stuck test run */
	assert_int_equal(mg_state_read(fifo, &back, &len), -EINVAL);
	alarm(0);
	unlink(fifo);
}

/*
 * A kept copy prunes the oldest down to MG_STATE_COPIES_MAX, judged among
 * all there are: with a hundred old ones there, the one just kept and the
 * newest before it stay, whatever order the directory lists them in.
 */
static void test_keep_copy_prunes_the_oldest(void **state)
{
	static const uint8_t data[] = "state";
	char name[400], copy[400];
	struct stat st;

	(void)state;
	assert_int_equal(mg_state_write(path, data, sizeof(data)), 0);
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "%s.unreadable-202001%02dT%02d0000Z", path, 1 + i / 24, i % 24);
		FILE *f = fopen(name, "w");
		assert_non_null(f);
		fclose(f);
	}
	/* 2026-12-03T08:00:00Z */
	assert_int_equal(mg_state_keep_copy(path, 1796284800ull * 1000000000ull, copy, sizeof(copy)), 0);
	struct stat orig;
	assert_int_equal(stat(copy, &st), 0);
	assert_int_equal(stat(path, &orig), 0);
	assert_true(st.st_ino == orig.st_ino); /* a hard link to the file as it was */
	assert_non_null(strstr(copy, ".unreadable-20261203T080000Z"));
	/* The state file and five copies: the new one and the four newest of the hundred (i = 96..99). */
	assert_int_equal(files_in_dir(), 1 + MG_STATE_COPIES_MAX);
	for (int i = 96; i < 100; i++) {
		snprintf(name, sizeof(name), "%s.unreadable-202001%02dT%02d0000Z", path, 1 + i / 24, i % 24);
		assert_int_equal(stat(name, &st), 0);
	}
	for (int i = 0; i < 96; i++) {
		snprintf(name, sizeof(name), "%s.unreadable-202001%02dT%02d0000Z", path, 1 + i / 24, i % 24);
		unlink(name);
	}
	for (int i = 96; i < 100; i++) {
		snprintf(name, sizeof(name), "%s.unreadable-202001%02dT%02d0000Z", path, 1 + i / 24, i % 24);
		unlink(name);
	}
	unlink(copy);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_damage_refused),
		cmocka_unit_test(test_failed_write_keeps_old),
		cmocka_unit_test(test_full_disk_says_enospc),
		cmocka_unit_test(test_fifo_refused),
		cmocka_unit_test(test_keep_copy_prunes_the_oldest),
	};
	return cmocka_run_group_tests_name("statefile", tests, setup, teardown);
}
