// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_capture_merge.c - several capture files merged in time order: order
 * and ties, files refused at open, time going back inside a file, a damaged
 * file stopping alone, overlap warnings, link types and skipping.  The
 * captures are written here with libpcap into a temporary directory.
 */
#include <errno.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <pcap/pcap.h>

#include "capture_merge.h"

#define SEC 1000000000ull
#define MAX_FILES 16
#define MAX_FRAMES 64
#define FRAME_LEN 4 /* bytes per test frame: file tag, frame number, two fillers */
#define PCAP_FILE_HDR 24
#define PCAP_REC_HDR 16

static char dir[64];
static char paths[MAX_FILES][128];
static size_t npaths;

/* Where a file of this test goes; remembered for removal. */
static const char *path_of(const char *name)
{
	assert_true(npaths < MAX_FILES);
	snprintf(paths[npaths], sizeof(paths[npaths]), "%s/%s", dir, name);
	return paths[npaths++];
}

/* A pcap file of n frames at the given times (ns); frame k holds {tag, k, 0xaa, 0xbb}. */
static const char *write_pcap_at(const char *path, int dlt, uint8_t tag, const uint64_t *ts, size_t n)
{
	pcap_t *p = pcap_open_dead_with_tstamp_precision(dlt, 65535, PCAP_TSTAMP_PRECISION_NANO);
	pcap_dumper_t *d;

	assert_non_null(p);
	d = pcap_dump_open(p, path);
	assert_non_null(d);
	for (size_t k = 0; k < n; k++) {
		uint8_t data[FRAME_LEN] = {tag, (uint8_t)k, 0xaa, 0xbb};
		struct pcap_pkthdr h = {.caplen = FRAME_LEN, .len = FRAME_LEN};

		h.ts.tv_sec = (time_t)(ts[k] / SEC);
		h.ts.tv_usec = (suseconds_t)(ts[k] % SEC); /* nanoseconds, in a nano-precision file */
		pcap_dump((u_char *)d, &h, data);
	}
	pcap_dump_close(d);
	pcap_close(p);
	return path;
}

static const char *write_pcap(const char *name, int dlt, uint8_t tag, const uint64_t *ts, size_t n)
{
	return write_pcap_at(path_of(name), dlt, tag, ts, n);
}

static void cut_file(const char *path, off_t size)
{
	assert_int_equal(truncate(path, size), 0);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_capture_merge.XXXXXX");
	npaths = 0;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	for (size_t i = 0; i < npaths; i++)
		unlink(paths[i]);
	return rmdir(dir);
}

/* Everything the merge hands out, in order. */
struct got {
	size_t n;
	struct capture_merge_frame f[MAX_FRAMES];
	uint8_t tag[MAX_FRAMES], k[MAX_FRAMES];
};

static void drain(struct capture_merge *m, struct got *g)
{
	struct capture_merge_frame f;

	g->n = 0;
	while (capture_merge_next(m, &f) == 1) {
		assert_true(g->n < MAX_FRAMES);
		assert_int_equal(f.caplen, FRAME_LEN);
		assert_int_equal(f.len, FRAME_LEN);
		assert_int_equal(f.data[2], 0xaa);
		/* The analyzer's clock: never back, whatever the files do. */
		if (g->n)
			assert_true(f.mono_ns >= g->f[g->n - 1].mono_ns);
		g->tag[g->n] = f.data[0];
		g->k[g->n] = f.data[1];
		g->f[g->n++] = f;
	}
	assert_int_equal(capture_merge_next(m, &f), 0); /* and stays ended */
}

/* Everything the merge hands out (drain): a frame for each letter of order, from the file it tags, in that order. */
static void drain_in_order(struct capture_merge *m, struct got *g, const char *order)
{
	drain(m, g);
	assert_int_equal(g->n, strlen(order));
	assert_memory_equal(g->tag, order, g->n);
}

static struct capture_merge *open_all(const char *const *p, size_t n)
{
	char err[512] = "";
	struct capture_merge *m = capture_merge_open(p, n, err, sizeof(err));

	if (!m)
		fail_msg("capture_merge_open: %s", err);
	return m;
}

static bool warned_about(const struct capture_merge *m, const char *a, const char *b)
{
	for (size_t i = 0; i < capture_merge_warnings(m); i++) {
		const char *w = capture_merge_warning(m, i);

		if (strstr(w, a) && strstr(w, b) && strstr(w, "overlap"))
			return true;
	}
	return false;
}

static void test_interleaved(void **state)
{
	const uint64_t a[] = {1 * SEC + 7, 4 * SEC, 7 * SEC}, b[] = {2 * SEC, 5 * SEC, 8 * SEC},
		       c[] = {3 * SEC, 6 * SEC, 9 * SEC + 999999999};
	const char *p[3];
	struct got g;

	(void)state;
	p[0] = write_pcap("a.pcap", DLT_EN10MB, 'a', a, 3);
	p[1] = write_pcap("b.pcap", DLT_EN10MB, 'b', b, 3);
	p[2] = write_pcap("c.pcap", DLT_EN10MB, 'c', c, 3);
	struct capture_merge *m = open_all(p, 3);

	assert_int_equal(capture_merge_files(m), 3);
	drain(m, &g);
	assert_int_equal(g.n, 9);
	for (size_t i = 0; i < 9; i++) {
		assert_int_equal(g.f[i].file, i % 3);
		assert_int_equal(g.tag[i], "abc"[i % 3]);
		assert_int_equal(g.k[i], i / 3);
		assert_int_equal(g.f[i].frame_no, i / 3 + 1);
		assert_int_equal(g.f[i].dlt, DLT_EN10MB);
		assert_false(g.f[i].time_back);
		assert_int_equal(g.f[i].back_by_ns, 0);
		assert_int_equal(g.f[i].mono_ns, g.f[i].ts_ns);
		if (i)
			assert_true(g.f[i].ts_ns > g.f[i - 1].ts_ns);
	}
	/* Nanoseconds survive the round trip. */
	assert_int_equal(g.f[0].ts_ns, 1 * SEC + 7);
	assert_int_equal(g.f[8].ts_ns, 9 * SEC + 999999999);

	const struct capture_merge_file *fa = capture_merge_file(m, 0);

	assert_string_equal(fa->path, p[0]);
	assert_int_equal(fa->frames, 3);
	assert_int_equal(fa->first_ns, 1 * SEC + 7);
	assert_int_equal(fa->last_ns, 7 * SEC);
	assert_int_equal(fa->min_ns, 1 * SEC + 7);
	assert_int_equal(fa->max_ns, 7 * SEC);
	assert_int_equal(fa->time_backs, 0);
	assert_null(fa->error);
	assert_null(capture_merge_file(m, 3));
	/* Every pair interleaves: one warning each. */
	assert_int_equal(capture_merge_warnings(m), 3);
	assert_true(warned_about(m, p[0], p[1]));
	assert_true(warned_about(m, p[0], p[2]));
	assert_true(warned_about(m, p[1], p[2]));
	assert_null(capture_merge_warning(m, 3));
	capture_merge_close(m);
}

/* Equal times go in the order the files were given. */
static void test_ties(void **state)
{
	const uint64_t a[] = {10 * SEC, 20 * SEC}, b[] = {10 * SEC, 20 * SEC}, c[] = {20 * SEC};
	const char *p[3];
	struct got g;

	(void)state;
	/* c given first: its frame at 20 s comes before a's and b's. */
	p[0] = write_pcap("c.pcap", DLT_EN10MB, 'c', c, 1);
	p[1] = write_pcap("a.pcap", DLT_EN10MB, 'a', a, 2);
	p[2] = write_pcap("b.pcap", DLT_EN10MB, 'b', b, 2);
	struct capture_merge *m = open_all(p, 3);

	drain_in_order(m, &g, "abcab");
	assert_int_equal(g.f[0].ts_ns, 10 * SEC);
	assert_int_equal(g.f[1].ts_ns, 10 * SEC);
	assert_int_equal(g.f[2].ts_ns, 20 * SEC);
	/* a and b cover the same 10 s; c only touches their end. */
	assert_int_equal(capture_merge_warnings(m), 1);
	assert_true(warned_about(m, p[1], p[2]));
	capture_merge_close(m);
}

/* Files that follow each other, even meeting at one instant, draw no warning. */
static void test_no_overlap(void **state)
{
	const uint64_t a[] = {1 * SEC, 2 * SEC, 3 * SEC}, b[] = {3 * SEC, 4 * SEC, 5 * SEC}, c[] = {6 * SEC, 7 * SEC};
	const char *p[3];
	struct got g;

	(void)state;
	/* Given out of order on purpose: the merge, not the argument order, sorts them (b's 3 s is given before a's). */
	p[0] = write_pcap("c.pcap", DLT_EN10MB, 'c', c, 2);
	p[1] = write_pcap("b.pcap", DLT_EN10MB, 'b', b, 3);
	p[2] = write_pcap("a.pcap", DLT_EN10MB, 'a', a, 3);
	struct capture_merge *m = open_all(p, 3);

	drain_in_order(m, &g, "aababbcc");
	assert_int_equal(capture_merge_warnings(m), 0);
	assert_null(capture_merge_warning(m, 0));
	capture_merge_close(m);
}

static void test_refused(void **state)
{
	const uint64_t a[] = {1 * SEC};
	const char *p[3];
	char err[512];
	FILE *txt;

	(void)state;
	p[0] = write_pcap("a.pcap", DLT_EN10MB, 'a', a, 1);
	p[1] = path_of("nope.pcap");
	p[2] = write_pcap("c.pcap", DLT_EN10MB, 'c', a, 1);

	/* A missing file refuses the whole set and is named. */
	err[0] = '\0';
	assert_null(capture_merge_open(p, 3, err, sizeof(err)));
	assert_non_null(strstr(err, p[1]));
	assert_non_null(strstr(err, strerror(ENOENT)));
	assert_null(strstr(err + strlen(p[1]), p[1])); /* named once, though libpcap names it too */

	/* So does a file that is not a capture. */
	txt = fopen(p[1], "w");
	assert_non_null(txt);
	fputs("EHLO this is a text file, not a capture\r\n", txt);
	fclose(txt);
	err[0] = '\0';
	assert_null(capture_merge_open(p, 3, err, sizeof(err)));
	assert_true(!strncmp(err, p[1], strlen(p[1])));
	assert_true(strlen(err) > strlen(p[1]) + 2); /* and why */

	/* And one that cannot be read. */
	if (geteuid() != 0) { /* root reads anything */
		assert_int_equal(chmod(p[2], 0), 0);
		err[0] = '\0';
		assert_null(capture_merge_open(p + 2, 1, err, sizeof(err)));
		assert_non_null(strstr(err, p[2]));
		assert_non_null(strstr(err, strerror(EACCES)));
		assert_int_equal(chmod(p[2], 0644), 0);
	}

	/* No file at all is an error too, not an empty merge. */
	err[0] = '\0';
	assert_null(capture_merge_open(p, 0, err, sizeof(err)));
	assert_true(err[0] != '\0');
}

/*
 * Time back inside a file: a at 10 30 | 5 6 40 (a 25 s jump), b at 20 25 35.
 * a's order is kept and the jump reported; a's later frames keep its place
 * in the merge as if its clock had not jumped (mono = ts + 25 s).
 */
static void test_time_back(void **state)
{
	const uint64_t a[] = {10 * SEC, 30 * SEC, 5 * SEC, 6 * SEC, 40 * SEC}, b[] = {20 * SEC, 25 * SEC, 35 * SEC};
	const char *p[2];
	struct got g;

	(void)state;
	p[0] = write_pcap("a.pcap", DLT_EN10MB, 'a', a, 5);
	p[1] = write_pcap("b.pcap", DLT_EN10MB, 'b', b, 3);
	struct capture_merge *m = open_all(p, 2);

	drain_in_order(m, &g, "abbaaaba");
	const uint64_t ts[] = {10, 20, 25, 30, 5, 6, 35, 40}, mono[] = {10, 20, 25, 30, 30, 31, 35, 65};
	for (size_t i = 0; i < 8; i++) {
		assert_int_equal(g.f[i].ts_ns, ts[i] * SEC);
		assert_int_equal(g.f[i].mono_ns, mono[i] * SEC);
		assert_int_equal(g.f[i].time_back, i == 4);
		assert_int_equal(g.f[i].back_by_ns, i == 4 ? 25 * SEC : 0);
	}
	/* Within a: 0 1 2 3 4, its own order. */
	assert_int_equal(g.k[4], 2);
	assert_int_equal(g.f[4].frame_no, 3);

	const struct capture_merge_file *fa = capture_merge_file(m, 0), *fb = capture_merge_file(m, 1);

	assert_int_equal(fa->time_backs, 1);
	assert_int_equal(fa->frames, 5);
	assert_int_equal(fa->first_ns, 10 * SEC);
	assert_int_equal(fa->last_ns, 40 * SEC);
	assert_int_equal(fa->min_ns, 5 * SEC);
	assert_int_equal(fa->max_ns, 40 * SEC);
	assert_int_equal(fb->time_backs, 0);
	assert_int_equal(capture_merge_warnings(m), 1);
	capture_merge_close(m);
}

/* A file cut inside a record's data, one cut inside a record header: each stops there, b goes on. */
static void test_truncated(void **state)
{
	const uint64_t a[] = {1 * SEC, 3 * SEC, 5 * SEC}, b[] = {2 * SEC, 4 * SEC, 6 * SEC}, c[] = {7 * SEC, 8 * SEC};
	const char *p[3];
	struct got g;

	(void)state;
	p[0] = write_pcap("a.pcap", DLT_EN10MB, 'a', a, 3);
	p[1] = write_pcap("b.pcap", DLT_EN10MB, 'b', b, 3);
	p[2] = write_pcap("c.pcap", DLT_EN10MB, 'c', c, 2);
	cut_file(p[0], PCAP_FILE_HDR + PCAP_REC_HDR + FRAME_LEN + PCAP_REC_HDR + FRAME_LEN / 2);
	cut_file(p[2], PCAP_FILE_HDR + PCAP_REC_HDR + FRAME_LEN + PCAP_REC_HDR / 2);
	struct capture_merge *m = open_all(p, 3);

	drain_in_order(m, &g, "abbbc");

	const struct capture_merge_file *fa = capture_merge_file(m, 0), *fb = capture_merge_file(m, 1),
					*fc = capture_merge_file(m, 2);

	assert_int_equal(fa->frames, 1);
	assert_non_null(fa->error);
	assert_true(!strncmp(fa->error, "frame 2: ", 9));
	assert_int_equal(fb->frames, 3);
	assert_null(fb->error);
	assert_int_equal(fc->frames, 1);
	assert_non_null(fc->error);
	assert_true(!strncmp(fc->error, "frame 2: ", 9));
	capture_merge_close(m);
}

/* Link types are shown, and a file skipped before the merge is neither read nor warned about. */
static void test_link_type_skip(void **state)
{
	const uint64_t a[] = {1 * SEC, 3 * SEC}, b[] = {2 * SEC};
	const char *p[2];
	struct got g;

	(void)state;
	p[0] = write_pcap("a.pcap", DLT_EN10MB, 'a', a, 2);
	p[1] = write_pcap("b.pcap", DLT_RAW, 'b', b, 1);
	struct capture_merge *m = open_all(p, 2);

	assert_int_equal(capture_merge_file(m, 0)->dlt, DLT_EN10MB);
	assert_int_equal(capture_merge_file(m, 1)->dlt, DLT_RAW);
	capture_merge_skip(m, 1);
	capture_merge_skip(m, 2); /* out of range: ignored */
	drain_in_order(m, &g, "aa");
	assert_true(capture_merge_file(m, 1)->skipped);
	assert_int_equal(capture_merge_file(m, 1)->frames, 0);
	assert_false(capture_merge_file(m, 0)->skipped);
	assert_int_equal(capture_merge_warnings(m), 0);
	capture_merge_close(m);

	/* Unskipped, b's frame falls between a's and carries its own link type. */
	m = open_all(p, 2);
	drain_in_order(m, &g, "aba");
	assert_int_equal(g.f[1].dlt, DLT_RAW);
	assert_int_equal(g.f[1].file, 1);
	assert_int_equal(capture_merge_warnings(m), 1);
	capture_merge_close(m);
}

/* Skipping mid-way ends that file there; the frame just handed out stays readable until the next call. */
static void test_skip_midway(void **state)
{
	const uint64_t a[] = {1 * SEC, 3 * SEC, 5 * SEC}, b[] = {2 * SEC, 4 * SEC};
	const char *p[2];
	struct capture_merge_frame f;
	struct got g;

	(void)state;
	p[0] = write_pcap("a.pcap", DLT_EN10MB, 'a', a, 3);
	p[1] = write_pcap("b.pcap", DLT_EN10MB, 'b', b, 2);
	struct capture_merge *m = open_all(p, 2);

	assert_int_equal(capture_merge_next(m, &f), 1);
	assert_int_equal(f.data[0], 'a');
	capture_merge_skip(m, 0);
	assert_int_equal(f.data[0], 'a');
	drain_in_order(m, &g, "bb");
	assert_int_equal(capture_merge_file(m, 0)->frames, 1);
	capture_merge_close(m);
}

/*
 * Many files, one after another but for one that starts inside another late
 * in the run: that one pair, and only it, is warned about.
 */
static void test_many_files(void **state)
{
	enum { N = 12 };
	const char *p[N];
	struct got g;

	(void)state;
	for (size_t i = 0; i < N; i++) {
		uint64_t ts[3] = {(10 * i + 1) * SEC, (10 * i + 5) * SEC, (10 * i + 10) * SEC};
		char name[32];

		if (i == N - 1) { /* the last lies inside file 9 (91..100 s), found when file 9 reaches 100 s */
			ts[0] = 95 * SEC;
			ts[1] = 97 * SEC;
			ts[2] = 99 * SEC;
		}
		snprintf(name, sizeof(name), "f%02zu.pcap", i);
		p[i] = write_pcap(name, DLT_EN10MB, (uint8_t)i, ts, 3);
	}
	struct capture_merge *m = open_all(p, N);

	drain(m, &g);
	assert_int_equal(g.n, 3 * N);
	assert_int_equal(capture_merge_warnings(m), 1);
	assert_true(warned_about(m, p[9], p[N - 1]));
	capture_merge_close(m);
}

/*
 * Random files, time going back now and then: the warnings at the end are
 * exactly the pairs whose whole ranges overlap, and each file keeps its own
 * order.
 */
static void test_overlap_random(void **state)
{
	enum { N = 8, ROUNDS = 300 };
	const char *p[N];
	struct got g;

	(void)state;
	srand(7);
	for (size_t i = 0; i < N; i++) {
		char name[32];

		snprintf(name, sizeof(name), "r%zu.pcap", i);
		p[i] = path_of(name);
	}
	for (int r = 0; r < ROUNDS; r++) {
		size_t expect = 0;

		for (size_t i = 0; i < N; i++) {
			uint64_t ts[6], t = (uint64_t)(rand() % 100) * SEC;
			size_t n = (size_t)(rand() % 7) % 6; /* 0 to 5 frames */

			for (size_t k = 0; k < n; k++) {
				ts[k] = t;
				/* Mostly forward, sometimes back. */
				t = rand() % 5 ? t + (uint64_t)(rand() % 20) * SEC : t / 2;
			}
			write_pcap_at(p[i], DLT_EN10MB, (uint8_t)i, ts, n);
		}
		struct capture_merge *m = open_all(p, N);

		drain(m, &g);
		for (size_t i = 0; i < g.n; i++)
			for (size_t j = i + 1; j < g.n; j++)
				if (g.tag[i] == g.tag[j])
					assert_true(g.k[i] < g.k[j]);
		for (size_t i = 0; i < N; i++) {
			for (size_t j = i + 1; j < N; j++) {
				const struct capture_merge_file *a = capture_merge_file(m, i), *b = capture_merge_file(m, j);
				bool over = a->frames && b->frames && a->max_ns > b->min_ns && b->max_ns > a->min_ns;

				assert_int_equal(warned_about(m, p[i], p[j]), over);
				expect += over;
			}
		}
		assert_int_equal(capture_merge_warnings(m), expect);
		capture_merge_close(m);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_interleaved, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ties, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_overlap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_time_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_type_skip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_skip_midway, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlap_random, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
