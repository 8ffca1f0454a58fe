// SPDX-License-Identifier: GPL-2.0-only
/* test_procstat.c - the daemon's own process figures: /proc/PID/stat lines parsed, and this process read. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "mg_procstat.h"

/* A real line's shape (proc(5)): utime 1250, stime 250 ticks, started 360000 ticks after boot, 3 GiB, 4096 pages. */
#define TAIL "S 1 4242 4242 0 -1 4194624 9000 0 12 0 1250 250 0 0 20 0 3 0 360000 3221225472 4096 " \
	     "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"

static void test_parse(void **state)
{
	struct mg_procstat p = { 0 };

	(void)state;
	assert_int_equal(mg_procstat_parse("4242 (mtaguardd) " TAIL, 100, 4096, 1796000000, &p), 0);
	assert_true(p.cpu_seconds == 15.0);
	assert_true(p.start_time_seconds == 1796003600.0);
	assert_int_equal(p.virtual_bytes, 3221225472ull);
	assert_int_equal(p.resident_bytes, 4096ull * 4096);
}

/* The command name is the process's to choose: spaces and parentheses in it do not shift the fields. */
static void test_parse_odd_name(void **state)
{
	struct mg_procstat p = { 0 };

	(void)state;
	assert_int_equal(mg_procstat_parse("4242 (a) b (c) 9 9) " TAIL, 100, 4096, 1796000000, &p), 0);
	assert_true(p.cpu_seconds == 15.0);
	assert_int_equal(p.virtual_bytes, 3221225472ull);
}

static void test_parse_refuses(void **state)
{
	struct mg_procstat p = { 0 };

	(void)state;
	assert_int_equal(mg_procstat_parse("", 100, 4096, 0, &p), -EINVAL);
	assert_int_equal(mg_procstat_parse("4242 mtaguardd S 1", 100, 4096, 0, &p), -EINVAL);
	assert_int_equal(mg_procstat_parse("4242 (mtaguardd) S 1 4242 4242 0\n", 100, 4096, 0, &p), -EINVAL);
	assert_int_equal(mg_procstat_parse("4242 (mtaguardd) S 1 x", 100, 4096, 0, &p), -EINVAL);
	assert_int_equal(mg_procstat_parse("4242 (mtaguardd) " TAIL, 0, 4096, 0, &p), -EINVAL);
}

/* This process: resident memory, descriptors (three more once opened), a start in the past. */
static void test_read_self(void **state)
{
	struct mg_procstat a, b;
	int fds[3];

	(void)state;
	assert_int_equal(mg_procstat_read(&a), 0);
	assert_true(a.resident_bytes > 0 && a.virtual_bytes >= a.resident_bytes);
	assert_true(a.open_fds >= 3); /* stdin, stdout, stderr */
	assert_true(a.max_fds == 0 || a.max_fds >= a.open_fds);
	assert_true(a.start_time_seconds > 1.0e9 && a.start_time_seconds <= (double)time(NULL));
	for (int i = 0; i < 3; i++)
		assert_true((fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0);
	assert_int_equal(mg_procstat_read(&b), 0);
	assert_int_equal(b.open_fds, a.open_fds + 3);
	assert_true(b.start_time_seconds == a.start_time_seconds);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_odd_name),
		cmocka_unit_test(test_parse_refuses),
		cmocka_unit_test(test_read_self),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
