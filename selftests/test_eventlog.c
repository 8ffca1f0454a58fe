// SPDX-License-Identifier: GPL-2.0-only
/* test_eventlog.c - the event log: what operators and peers wrote stays on its line, in both logs. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>

#include "mg_clock.h"
#include "mg_eventlog.h"

struct logs {
	struct mg_eventlog log;
	char json_path[64];
	char *human;
	size_t human_len;
	FILE *human_f;
};

static int setup(void **state)
{
	struct logs *t = calloc(1, sizeof(*t));

	snprintf(t->json_path, sizeof(t->json_path), "/tmp/mg-eventlog-XXXXXX");
	int fd = mkstemp(t->json_path);
	if (fd < 0)
		return -1;
	close(fd);
	t->human_f = open_memstream(&t->human, &t->human_len);
	if (!t->human_f || mg_eventlog_open(&t->log, t->json_path, t->human_f))
		return -1;
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct logs *t = *state;

	mg_eventlog_close(&t->log);
	fclose(t->human_f);
	free(t->human);
	unlink(t->json_path);
	free(t);
	return 0;
}

/* The readable log so far. */
static const char *human(struct logs *t)
{
	fflush(t->human_f);
	return t->human;
}

static size_t lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* The JSON log's lines, each parsed; NULL past the last. */
static json_t *json_line(struct logs *t, size_t i)
{
	FILE *f = fopen(t->json_path, "r");
	char line[8192];
	json_t *j = NULL;

	assert_non_null(f);
	for (size_t k = 0; k <= i && fgets(line, sizeof(line), f); k++)
		if (k == i)
			j = json_loads(line, 0, NULL);
	fclose(f);
	return j;
}

static void test_escape_line(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "abuse desk ticket 4711", "abuse desk ticket 4711" },
		{ "x\nmtaguardd: BLOCK 6.6.6.6", "x\\nmtaguardd: BLOCK 6.6.6.6" },
		{ "a\rb\tc", "a\\rb\\tc" },
		{ "esc \x1b[2J bel \x07 del \x7f", "esc \\x1b[2J bel \\x07 del \\x7f" },
		{ "back\\slash", "back\\\\slash" },
		{ "caf\xc3\xa9", "caf\xc3\xa9" }, /* UTF-8 stays readable */
		{ "", "" },
	};
	char buf[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(mg_escape_line(cases[i].in, buf, sizeof(buf)), cases[i].out);
	/* Cut short at a whole escape, never half of one. */
	assert_string_equal(mg_escape_line("ab\ncd", buf, 4), "ab");
	assert_string_equal(mg_escape_line("ab\ncd", buf, 5), "ab\\n");
	assert_string_equal(mg_escape_line("\x01\x02", buf, 6), "\\x01");
}

/* A comment with a newline: one readable line with the newline escaped; the JSON holds it as written. */
static void test_notice_escaped(void **state)
{
	struct logs *t = *state;
	const char *comment = "ticket 1\nmtaguardd: operator allow ::/0: forged";

	mg_eventlog_notice(&t->log, "operator", "operator block 198.18.9.0/24 for 3600s: %s", comment);
	assert_int_equal(lines(human(t)), 1);
	assert_string_equal(human(t), "mtaguardd: operator block 198.18.9.0/24 for 3600s: ticket 1\\nmtaguardd: "
				      "operator allow ::/0: forged\n");
	json_t *j = json_line(t, 0);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "event")), "operator");
	assert_non_null(strstr(json_string_value(json_object_get(j, "message")), comment));
	assert_null(json_object_get(j, "level"));
	json_decref(j);
	assert_null(json_line(t, 1));
}

/* A warning says so in both logs. */
static void test_warning(void **state)
{
	struct logs *t = *state;

	mg_eventlog_warning(&t->log, "operator-forced", "forced: allow %s by %s", "::/0", "root\r");
	assert_string_equal(human(t), "mtaguardd: warning: forced: allow ::/0 by root\\r\n");
	json_t *j = json_line(t, 0);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "level")), "warning");
	assert_string_equal(json_string_value(json_object_get(j, "message")), "forced: allow ::/0 by root\r");
	json_decref(j);
}

/* Not UTF-8: jansson refuses the string; the line is kept, escaped, rather than lost. */
static void test_not_utf8_kept(void **state)
{
	struct logs *t = *state;

	mg_eventlog_notice(&t->log, "notice", "helo \xff\xfe\n");
	json_t *j = json_line(t, 0);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "message")), "helo \\xff\\xfe\\n");
	json_decref(j);
	assert_int_equal(lines(human(t)), 1);
}

/* A bot's HELO with control bytes does not break the verdict's readable lines. */
static void test_action_helo_escaped(void **state)
{
	struct logs *t = *state;
	struct mg_an_action a = { .kind = MG_AN_ALERT };

	assert_int_equal(mg_prefix_parse("198.18.2.2", &a.prefix), 0);
	snprintf(a.ev.rule, sizeof(a.ev.rule), "volume");
	snprintf(a.ev.helo, sizeof(a.ev.helo), "x\r\nmtaguardd: forged\x1b[2J");
	mg_eventlog_action(&t->log, &a, 1000, 1000);
	assert_int_equal(lines(human(t)), 1);
	assert_non_null(strstr(human(t), "HELO \"x\\r\\nmtaguardd: forged\\x1b[2J\""));
}

/* A verdict whose HELO text was let go says so, with the name's hash and shape, in both logs. */
static void test_action_helo_text_not_kept(void **state)
{
	struct logs *t = *state;
	struct mg_an_action a = { .kind = MG_AN_ALERT };

	assert_int_equal(mg_prefix_parse("198.18.2.3", &a.prefix), 0);
	snprintf(a.ev.rule, sizeof(a.ev.rule), "suspect:score");
	a.ev.helo_text_dropped = true;
	a.ev.helo_hash = 0x1a2b3c4d;
	a.ev.helo_shape = MG_HELO_FQDN;
	mg_eventlog_action(&t->log, &a, 1000, 1000);
	assert_non_null(strstr(human(t), "HELO text not kept (hash 1a2b3c4d) (fqdn)"));
	json_t *j = json_line(t, 0);
	assert_non_null(j);
	json_t *ev = json_object_get(j, "evidence");
	assert_true(json_is_false(json_object_get(ev, "helo_text_kept")));
	assert_string_equal(json_string_value(json_object_get(ev, "helo_hash")), "1a2b3c4d");
	assert_string_equal(json_string_value(json_object_get(ev, "helo_shape")), "fqdn");
	json_decref(j);
}

/* The log file is the daemon's alone: closed on exec, not held open by every hook and job it runs. */
static void test_log_file_closed_on_exec(void **state)
{
	struct logs *t = *state;

	assert_true(t->log.own_json);
	int flags = fcntl(fileno(t->log.json), F_GETFD);
	assert_true(flags >= 0);
	assert_true(flags & FD_CLOEXEC);
}

/* A verdict on a prefix names the hosts seen in it, in the JSON log and the readable one. */
static void test_action_names_hosts_in_prefix(void **state)
{
	struct logs *t = *state;
	struct mg_an_action a = { .kind = MG_AN_BLOCK, .block_action = MG_ACT_DROP_SMTP, .offence = 1 };
	const uint64_t now = 5 * MG_NSEC_PER_SEC; /* near boot */

	assert_int_equal(mg_prefix_parse("2001:db8:1:2::/64", &a.prefix), 0);
	a.expires_ns = now + 3600 * MG_NSEC_PER_SEC;
	snprintf(a.ev.rule, sizeof(a.ev.rule), "volume");
	a.ev.hosts.n = 2;
	a.ev.hosts.more = 5;
	assert_int_equal(mg_addr_parse("2001:db8:1:2::3", a.ev.hosts.host[0].addr), 0);
	assert_int_equal(mg_addr_parse("2001:db8:1:2::7", a.ev.hosts.host[1].addr), 0);
	for (int i = 0; i < 2; i++) {
		a.ev.hosts.host[i].first_seen_ns = now - 2 * MG_NSEC_PER_SEC;
		a.ev.hosts.host[i].last_seen_ns = now - MG_NSEC_PER_SEC;
		a.ev.hosts.host[i].sessions = (uint32_t)(3 + i);
		a.ev.hosts.host[i].mac[5] = (uint8_t)(0x10 + i);
		a.ev.hosts.host[i].vlan_outer = 7;
	}
	mg_eventlog_action(&t->log, &a, now, 1800000000ull * MG_NSEC_PER_SEC);
	assert_non_null(strstr(human(t), "hosts seen in 2001:db8:1:2::/64: 2001:db8:1:2::3 (MAC 00:00:00:00:00:10, VLAN 7, 3 sessions)"));
	assert_non_null(strstr(human(t), "2001:db8:1:2::7"));
	assert_non_null(strstr(human(t), "and 5 more"));
	json_t *j = json_line(t, 0);
	assert_non_null(j);
	json_t *hosts = json_object_get(json_object_get(j, "evidence"), "hosts");
	assert_int_equal(json_array_size(hosts), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(hosts, 1), "addr")), "2001:db8:1:2::7");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(hosts, 1), "sessions")), 4);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(hosts, 0), "vlan")), 7);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "evidence"), "hosts_more")), 5);
	json_decref(j);

	/* A profile of one address: no list at all. */
	struct mg_an_action b = { .kind = MG_AN_ALERT };
	assert_int_equal(mg_prefix_parse("198.18.2.2", &b.prefix), 0);
	mg_eventlog_action(&t->log, &b, now, 1800000000ull * MG_NSEC_PER_SEC);
	j = json_line(t, 1);
	assert_non_null(j);
	assert_null(json_object_get(json_object_get(j, "evidence"), "hosts"));
	json_decref(j);
}

/* The lines of the file at path, in one string (empty when there is no file). */
static char *file_text(const char *path)
{
	static char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n = 0;

	if (f) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = 0;
	return buf;
}

/* logrotate renames the file (or deletes it): the log follows its path to a file made anew, nothing lost. */
static void test_follow_rotation(void **state)
{
	struct logs *t = *state;
	char moved[80], *text;

	snprintf(moved, sizeof(moved), "%s.1", t->json_path);
	mg_eventlog_notice(&t->log, "notice", "before");
	assert_int_equal(mg_eventlog_follow(&t->log, false), 0); /* nothing changed */
	mg_eventlog_notice(&t->log, "notice", "still");
	assert_int_equal(rename(t->json_path, moved), 0);
	mg_eventlog_notice(&t->log, "notice", "moved, not yet followed"); /* to the file open: the rotated one */
	assert_int_equal(mg_eventlog_follow(&t->log, false), 1);
	mg_eventlog_notice(&t->log, "notice", "after");
	text = file_text(moved);
	assert_non_null(strstr(text, "before"));
	assert_non_null(strstr(text, "still"));
	assert_non_null(strstr(text, "moved, not yet followed"));
	assert_null(strstr(text, "after"));
	assert_int_equal(lines(file_text(t->json_path)), 1);
	assert_non_null(strstr(file_text(t->json_path), "after"));
	assert_int_equal(mg_eventlog_follow(&t->log, false), 0); /* followed once */

	/* Deleted: made anew at the next look. */
	assert_int_equal(unlink(t->json_path), 0);
	assert_int_equal(mg_eventlog_follow(&t->log, false), 1);
	mg_eventlog_notice(&t->log, "notice", "anew");
	assert_non_null(strstr(file_text(t->json_path), "anew"));

	/* A reload opens it again whatever: the same file, appended to. */
	assert_int_equal(mg_eventlog_follow(&t->log, true), 0);
	mg_eventlog_notice(&t->log, "notice", "reloaded");
	text = file_text(t->json_path);
	assert_non_null(strstr(text, "anew"));
	assert_non_null(strstr(text, "reloaded"));
	unlink(moved);
}

/* A path that cannot be opened again (its directory gone): an error, and the lines go on to the file open. */
static void test_follow_path_unopenable(void **state)
{
	char dir[] = "/tmp/mg-eventlog-dir-XXXXXX", path[64], kept[64];
	struct mg_eventlog log;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/events.jsonl", dir);
	snprintf(kept, sizeof(kept), "%s.kept", dir);
	assert_int_equal(mg_eventlog_open(&log, path, NULL), 0);
	mg_eventlog_notice(&log, "notice", "first");
	assert_int_equal(rename(path, kept), 0);
	assert_int_equal(rmdir(dir), 0);
	assert_int_equal(mg_eventlog_follow(&log, false), -ENOENT);
	assert_int_equal(mg_eventlog_follow(&log, true), -ENOENT);
	mg_eventlog_notice(&log, "notice", "second");
	char *text = file_text(kept);
	assert_non_null(strstr(text, "first"));
	assert_non_null(strstr(text, "second"));
	mg_eventlog_close(&log);
	unlink(kept);

	/* stdout has no path to follow. */
	assert_int_equal(mg_eventlog_open(&log, "-", NULL), 0);
	assert_int_equal(mg_eventlog_follow(&log, true), 0);
	mg_eventlog_close(&log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_line),
		cmocka_unit_test_setup_teardown(test_notice_escaped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_warning, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_utf8_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_action_helo_escaped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_action_helo_text_not_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_action_names_hosts_in_prefix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_file_closed_on_exec, setup, teardown),
		cmocka_unit_test_setup_teardown(test_follow_rotation, setup, teardown),
		cmocka_unit_test(test_follow_path_unopenable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
