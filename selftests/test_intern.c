// SPDX-License-Identifier: GPL-2.0-only
/* test_intern.c - the shared table of HELO names: one copy a text, counted by reference (no privileges needed). */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "mg_intern.h"

static void assert_text(const struct mg_intern *t, uint32_t id, const char *want)
{
	size_t len;
	const char *s = mg_intern_str(t, id, &len);

	assert_non_null(s);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(s, want, len);
}

/* The same text twice is one entry with two references; the last reference let go frees it. */
static void test_refcounts(void **state)
{
	struct mg_intern *t = mg_intern_new();

	(void)state;
	assert_non_null(t);
	uint32_t a = mg_intern_get(t, "bot.example", 11);
	uint32_t b = mg_intern_get(t, "bot.example", 11);
	uint32_t c = mg_intern_get(t, "BOT.example", 11); /* another text: case counts (the HELO as sent) */
	assert_int_not_equal(a, 0);
	assert_int_equal(a, b);
	assert_int_not_equal(a, c);
	assert_int_equal(mg_intern_refs(t, a), 2);
	assert_int_equal(mg_intern_refs(t, c), 1);
	assert_int_equal(mg_intern_count(t), 2);
	assert_text(t, a, "bot.example");
	assert_text(t, c, "BOT.example");

	mg_intern_put(t, a);
	assert_int_equal(mg_intern_refs(t, a), 1);
	assert_text(t, b, "bot.example");
	mg_intern_put(t, b);
	assert_int_equal(mg_intern_refs(t, a), 0);
	assert_int_equal(mg_intern_count(t), 1);
	size_t len = 7;
	assert_null(mg_intern_str(t, a, &len));
	assert_int_equal(len, 0);
	/* Freed ids and 0 are ignored, never double-freed. */
	mg_intern_put(t, a);
	mg_intern_put(t, 0);
	assert_int_equal(mg_intern_refs(t, c), 1);

	/*
	 * A freed id (its room in the arena) is handed out again, to the next
	 * text of its size; a text of another size gets room of its own.
	 */
	uint32_t e = mg_intern_get(t, "mx1.example.net", 15);
	assert_int_not_equal(e, 0);
	assert_int_not_equal(e, a);
	uint32_t d = mg_intern_get(t, "mx.example", 10);
	assert_int_equal(d, a);
	assert_text(t, d, "mx.example");
	assert_text(t, e, "mx1.example.net");
	assert_text(t, c, "BOT.example");

	/* No text, or too long a one: no id. */
	char big[MG_INTERN_LEN_MAX + 1];
	memset(big, 'a', sizeof(big));
	assert_int_equal(mg_intern_get(t, "", 0), 0);
	assert_int_equal(mg_intern_get(t, big, sizeof(big)), 0);
	assert_int_not_equal(mg_intern_get(t, big, sizeof(big) - 1), 0);
	mg_intern_free(t);
}

/*
 * Many names, taken and let go out of order: every live one still found by
 * its text (the hash's deletions keep probing intact), counts exact.
 */
static void test_many_in_and_out(void **state)
{
	enum { N = 5000 };
	static uint32_t id[N];
	struct mg_intern *t = mg_intern_new();
	char name[32];

	(void)state;
	for (unsigned i = 0; i < N; i++) {
		int len = snprintf(name, sizeof(name), "host-%u.example", i);
		id[i] = mg_intern_get(t, name, (size_t)len);
		assert_int_not_equal(id[i], 0);
	}
	for (unsigned i = 0; i < N; i += 3)
		mg_intern_put(t, id[i]);
	assert_int_equal(mg_intern_count(t), N - (N + 2) / 3);
	for (unsigned i = 0; i < N; i++) {
		int len = snprintf(name, sizeof(name), "host-%u.example", i);
		uint32_t again = mg_intern_get(t, name, (size_t)len);
		if (i % 3) {
			assert_int_equal(again, id[i]);
			assert_int_equal(mg_intern_refs(t, again), 2);
			mg_intern_put(t, again);
		} else {
			assert_int_equal(mg_intern_refs(t, again), 1);
			id[i] = again;
		}
		assert_text(t, id[i], name);
	}
	assert_int_equal(mg_intern_count(t), N);
	for (unsigned i = 0; i < N; i++)
		mg_intern_put(t, id[i]);
	assert_int_equal(mg_intern_count(t), 0);
	mg_intern_free(t);
}

/*
 * The table grows (rehashing walks the arena) while freed records of other
 * sizes lie between live ones: every live text is still found by its text,
 * and the free records are still reused by texts of their size.
 */
static void test_grow_over_free_records(void **state)
{
	enum { N = 3000 };
	static uint32_t shorter[N], longer[N];
	struct mg_intern *t = mg_intern_new();
	char name[64];

	(void)state;
	for (unsigned i = 0; i < N; i++) {
		int len = snprintf(name, sizeof(name), "s%u", i); /* 2 to 5 bytes: one 8-byte record */
		shorter[i] = mg_intern_get(t, name, (size_t)len);
		assert_int_not_equal(shorter[i], 0);
	}
	for (unsigned i = 0; i < N; i += 2)
		mg_intern_put(t, shorter[i]);
	for (unsigned i = 0; i < N; i++) {
		int len = snprintf(name, sizeof(name), "a-longer-name-%u.example.net", i);
		longer[i] = mg_intern_get(t, name, (size_t)len);
		assert_int_not_equal(longer[i], 0);
	}
	assert_int_equal(mg_intern_count(t), N / 2 + N);
	for (unsigned i = 0; i < N; i++) {
		int len = snprintf(name, sizeof(name), "a-longer-name-%u.example.net", i);
		assert_int_equal(mg_intern_get(t, name, (size_t)len), longer[i]);
		mg_intern_put(t, longer[i]);
		assert_text(t, longer[i], name);
		len = snprintf(name, sizeof(name), "s%u", i);
		if (i % 2) {
			assert_int_equal(mg_intern_refs(t, shorter[i]), 1);
			assert_text(t, shorter[i], name);
		} else {
			assert_int_equal(mg_intern_refs(t, shorter[i]), 0);
		}
	}
	/* A freed short record goes to the next short text. */
	uint32_t again = mg_intern_get(t, "new", 3);
	bool reused = false;
	for (unsigned i = 0; i < N; i += 2)
		reused |= again == shorter[i];
	assert_true(reused);
	mg_intern_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refcounts),
		cmocka_unit_test(test_many_in_and_out),
		cmocka_unit_test(test_grow_over_free_records),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
