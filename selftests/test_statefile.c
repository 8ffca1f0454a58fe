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
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>

#include "dir_entries.h"

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
	assert_int_equal(dir_entries(dir), 1);
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

/* The file's header as mg_statefile.c lays it out, for files made by hand below. */
struct hdr {
	uint32_t magic, version;
	uint64_t len;
	uint32_t crc, pad;
};
#define MAGIC 0x5453474du

/*
 * A state file written through zlib's file layer, as the writer did before
 * it streamed into the atomic file (and as any gzip tool would): header,
 * then payload, then extra bytes inside the stream, then raw bytes after it.
 * The header's length and CRC are taken as given.
 */
static void write_by_hand(const char *file, struct hdr h, const void *payload, size_t len, const void *inside,
			  size_t inside_len, const char *after)
{
	gzFile gz = gzopen(file, "wb6");

	assert_non_null(gz);
	assert_int_equal(gzwrite(gz, &h, sizeof(h)), (int)sizeof(h));
	if (len)
		assert_int_equal(gzwrite(gz, payload, (unsigned)len), (int)len);
	if (inside_len)
		assert_int_equal(gzwrite(gz, inside, (unsigned)inside_len), (int)inside_len);
	assert_int_equal(gzclose(gz), Z_OK);
	if (after) {
		FILE *f = fopen(file, "ab");
		assert_non_null(f);
		fputs(after, f);
		fclose(f);
	}
}

static struct hdr hdr_of(const void *payload, size_t len)
{
	return (struct hdr){ .magic = MAGIC, .version = 1, .len = len,
			     .crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), payload, (uInt)len) };
}

/* What the stream's callback was given, and when it is told to stop. */
struct seen {
	uint8_t *buf;
	size_t len, calls, largest;
	size_t stop_after; /* 0: never */
};

static int take(void *ctx, const uint8_t *data, size_t len)
{
	struct seen *s = ctx;

	assert_true(len > 0);
	s->buf = realloc(s->buf, s->len + len);
	assert_non_null(s->buf);
	memcpy(s->buf + s->len, data, len);
	s->len += len;
	if (len > s->largest)
		s->largest = len;
	return ++s->calls == s->stop_after ? -ECANCELED : 0;
}

/* The stream's outcome alone, what it handed over let go. */
static int stream_outcome(void)
{
	struct seen s = { 0 };
	int err = mg_state_read_stream(path, take, &s);

	free(s.buf);
	return err;
}

/*
 * The file at path as it is (returned, from malloc, with its size), then
 * written again with a second copy after it: a second gzip stream after the
 * first.
 */
static uint8_t *read_then_doubled(long *size)
{
	FILE *f = fopen(path, "rb");
	uint8_t *raw;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	*size = ftell(f);
	rewind(f);
	raw = malloc((size_t)*size);
	assert_int_equal(fread(raw, 1, (size_t)*size, f), (size_t)*size);
	fclose(f);
	f = fopen(path, "ab");
	fwrite(raw, 1, (size_t)*size, f);
	fclose(f);
	return raw;
}

/*
 * The file raw (size bytes, whose payload is data) with each of its bytes
 * flipped in turn: refused, or else (bits nothing reads: gzip's time and OS,
 * a stored block's padding) the same payload, never another one.
 */
static void assert_flips_refused(uint8_t *raw, long size, const uint8_t *data, size_t len)
{
	long refused = 0;

	for (long i = 0; i < size; i++) {
		struct seen s = { 0 };
		raw[i] ^= 0x10;
		FILE *f = fopen(path, "wb");
		fwrite(raw, 1, (size_t)size, f);
		fclose(f);
		int err = mg_state_read_stream(path, take, &s);
		if (err == -EINVAL)
			refused++;
		else if (err || s.len != len || memcmp(s.buf, data, len))
			fail_msg("byte %ld of %ld flipped: got %d and %zu bytes", i, size, err, s.len);
		free(s.buf);
		raw[i] ^= 0x10;
	}
	if (refused < size - 12)
		fail_msg("%ld of %ld flipped bytes refused", refused, size);
}

/*
 * The payload arrives in pieces of at most MG_STATE_CHUNK, in order, all of
 * it; the callback's own error stops the read and comes back as it is.
 */
static void test_stream_in_chunks(void **state)
{
	const size_t n = 3 * MG_STATE_CHUNK + 12345;
	uint8_t *data = malloc(n);
	struct seen s = { 0 };

	(void)state;
	assert_non_null(data);
	for (size_t i = 0; i < n; i++)
		data[i] = (uint8_t)(i * 131 + i / 4096);
	assert_int_equal(mg_state_write(path, data, n), 0);
	assert_int_equal(mg_state_read_stream(path, take, &s), 0);
	assert_int_equal(s.len, n);
	assert_memory_equal(s.buf, data, n);
	assert_int_equal(s.largest, MG_STATE_CHUNK);
	assert_int_equal(s.calls, 4);
	free(s.buf);

	s = (struct seen){ .stop_after = 2 };
	assert_int_equal(mg_state_read_stream(path, take, &s), -ECANCELED);
	assert_int_equal(s.calls, 2);
	free(s.buf);
	free(data);
}

/*
 * A file whose damage shows only at the end (a payload CRC that does not
 * match, a flipped byte caught by gzip's trailer, bytes after the payload or
 * after the stream): refused, though its payload was handed over first.
 * A byte of the stream flipped, any of them, is refused, or else falls in
 * bits nothing reads and gives the payload unchanged: never another one.
 */
static void test_stream_damage_refused(void **state)
{
	uint8_t data[3000], *raw;
	struct seen s = { 0 };
	struct hdr h = hdr_of(data, 0);

	(void)state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(rand() >> 5);
	h = hdr_of(data, sizeof(data));

	/* As written before, through gzwrite: read back the same. */
	write_by_hand(path, h, data, sizeof(data), NULL, 0, NULL);
	assert_int_equal(mg_state_read_stream(path, take, &s), 0);
	assert_int_equal(s.len, sizeof(data));
	assert_memory_equal(s.buf, data, sizeof(data));
	free(s.buf);

	struct hdr bad = h;
	bad.crc ^= 1;
	write_by_hand(path, bad, data, sizeof(data), NULL, 0, NULL);
	s = (struct seen){ 0 };
	assert_int_equal(mg_state_read_stream(path, take, &s), -EINVAL);
	assert_int_equal(s.len, sizeof(data)); /* all of it given, then refused */
	free(s.buf);

	write_by_hand(path, h, data, sizeof(data), "x", 1, NULL);
	assert_int_equal(stream_outcome(), -EINVAL);
	write_by_hand(path, h, data, sizeof(data), NULL, 0, "trailing garbage");
	assert_int_equal(stream_outcome(), -EINVAL);
	/* A second gzip stream after the first: its payload is more than the header claims. */
	write_by_hand(path, h, data, sizeof(data), NULL, 0, NULL);
	long size;
	raw = read_then_doubled(&size);
	assert_int_equal(stream_outcome(), -EINVAL);

	assert_flips_refused(raw, size, data, sizeof(data));
	free(raw);
}

/*
 * The length cap: a header over MG_STATE_LEN_MAX is refused at once; one
 * over the old 1 GiB cap but under the new one is taken at its word, yet
 * nothing is allocated by it (a file that then holds a few bytes is refused
 * as cut short). A payload over the cap is
 * refused by the writer before it reads a byte of it: a mapping that cannot
 * be read stands for it.
 */
static void test_length_cap(void **state)
{
	uint8_t data[100] = { 1, 2, 3 }, *back;
	struct seen s = { 0 };
	size_t len;

	(void)state;
	struct hdr h = hdr_of(data, sizeof(data));
	h.len = MG_STATE_LEN_MAX + 1;
	write_by_hand(path, h, data, sizeof(data), NULL, 0, NULL);
	assert_int_equal(mg_state_read_stream(path, take, &s), -EINVAL);
	assert_int_equal(s.calls, 0);
	h.len = 3ull << 30;
	write_by_hand(path, h, data, sizeof(data), NULL, 0, NULL);
	assert_int_equal(mg_state_read_stream(path, take, &s), -EINVAL);
	assert_int_equal(s.calls, 0); /* a chunk cut short is not handed over */
	assert_int_equal(mg_state_read(path, &back, &len), -EINVAL);

	void *huge = mmap(NULL, MG_STATE_LEN_MAX + 1, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (huge == MAP_FAILED) {
		skip(); /* an address-space limit: the read side above is tested all the same */
		return;
	}
	assert_int_equal(mg_state_write(path, huge, MG_STATE_LEN_MAX + 1), -EFBIG);
	munmap(huge, MG_STATE_LEN_MAX + 1);
}

/*
 * The CRC-32 in slices (zlib takes 32-bit lengths; a payload of 4 GiB or
 * more is checksummed a gigabyte at a time): any slice gives what one call
 * over the whole gives, and what zlib's crc32_combine makes of two halves.
 */
static void test_crc_in_slices(void **state)
{
	uint8_t data[5000];
	const uint32_t z = (uint32_t)crc32(0L, Z_NULL, 0);

	(void)state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 37 + (i >> 3));
	const uint32_t whole = (uint32_t)crc32(z, data, sizeof(data));
	const size_t slices[] = { 1, 2, 7, 64, 1000, 4999, 5000, 5001, (size_t)1 << 30 };
	for (size_t k = 0; k < sizeof(slices) / sizeof(slices[0]); k++)
		assert_int_equal(mg_state_crc32(z, data, sizeof(data), slices[k]), whole);
	uint32_t a = mg_state_crc32(z, data, 1234, 7), b = mg_state_crc32(z, data + 1234, sizeof(data) - 1234, 64);
	assert_int_equal((uint32_t)crc32_combine(a, b, (z_off_t)(sizeof(data) - 1234)), whole);
	assert_int_equal(mg_state_crc32(z, data, 0, 7), z);
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
 * error"), whole or as it is made, and the old state file is still whole.
 */
static void test_full_disk_says_enospc(void **state)
{
	char fs[64], file[128];
	uint8_t *back, *big = malloc(256 * 1024);
	struct mg_state_out *o;
	size_t len;
	int err = 0;

	(void)state;
	assert_non_null(big);
	FULLFS_MOUNT_OR_SKIP(fs, 64 * 1024);
	/* Incompressible, so the stream is as large as the payload. */
	for (size_t i = 0; i < 256 * 1024; i++)
		big[i] = (uint8_t)(rand() >> 7);
	snprintf(file, sizeof(file), "%s/state.gz", fs);
	assert_int_equal(mg_state_write(file, "old state", 9), 0);
	assert_int_equal(mg_state_out_open(&o, file), 0);
	assert_int_equal(fullfs_fill(fs), 0);
	assert_int_equal(mg_state_write(file, big, 256 * 1024), -ENOSPC);
	/* Written as it is made: -ENOSPC from the put that meets the full disk, and again from every later call. */
	for (size_t off = 0; !err && off < 256 * 1024; off += 16 * 1024)
		err = mg_state_out_put(o, big + off, 16 * 1024);
	assert_int_equal(err, -ENOSPC);
	assert_int_equal(mg_state_out_put(o, "x", 1), -ENOSPC);
	assert_int_equal(mg_state_out_commit(o), -ENOSPC);
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
	assert_int_equal(dir_entries(dir), 1 + MG_STATE_COPIES_MAX);
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

/* The version in a state file's header, read with zlib's own reader. */
static uint32_t version_of(const char *file)
{
	struct hdr h;
	gzFile gz = gzopen(file, "rb");

	assert_non_null(gz);
	assert_int_equal(gzread(gz, &h, sizeof(h)), (int)sizeof(h));
	gzclose(gz);
	assert_int_equal(h.magic, MAGIC);
	return h.version;
}

/* A file written as the daemon writes its state, as it is made (version 2), in one piece. */
static void write_v2(const char *file, const void *data, size_t len)
{
	struct mg_state_out *o;

	assert_int_equal(mg_state_out_open(&o, file), 0);
	assert_int_equal(mg_state_out_put(o, data, len), 0);
	assert_int_equal(mg_state_out_commit(o), 0);
}

/*
 * A file written as its payload is made (version 2): pieces of any size
 * read back as the payload joined; an abort leaves the old file and nothing
 * else in the directory; a failure is given again by every later call, the
 * commit included, and the old file stays.
 */
static void test_written_in_pieces(void **state)
{
	const size_t n = 2 * MG_STATE_CHUNK + 777;
	uint8_t *data = malloc(n), *back;
	struct mg_state_out *o;
	size_t len;

	(void)state;
	assert_non_null(data);
	for (size_t i = 0; i < n; i++)
		data[i] = (uint8_t)(i * 7 + i / 1000);
	assert_int_equal(mg_state_out_open(&o, path), 0);
	for (size_t off = 0, piece = 1; off < n; off += piece, piece = piece * 3 + 1) {
		size_t k = piece < n - off ? piece : n - off;
		assert_int_equal(mg_state_out_put(o, data + off, k), 0);
		assert_int_equal(mg_state_out_put(o, data, 0), 0); /* an empty piece is nothing */
	}
	assert_int_equal(mg_state_out_commit(o), 0);
	assert_int_equal(version_of(path), 2);
	assert_int_equal(mg_state_read(path, &back, &len), 0);
	assert_int_equal(len, n);
	assert_memory_equal(back, data, n);
	free(back);
	/* A payload written whole keeps version 1, which daemons from before version 2 read. */
	assert_int_equal(mg_state_write(path, data, 100), 0);
	assert_int_equal(version_of(path), 1);
	assert_int_equal(mg_state_out_open(&o, path), 0);
	assert_int_equal(mg_state_out_put(o, data, n), 0);
	assert_int_equal(mg_state_out_commit(o), 0);

	assert_int_equal(mg_state_out_open(&o, path), 0);
	assert_int_equal(mg_state_out_put(o, "other", 5), 0);
	assert_int_equal(dir_entries(dir), 2); /* the old file and the temporary */
	mg_state_out_abort(o);
	assert_int_equal(dir_entries(dir), 1);
	assert_int_equal(mg_state_read(path, &back, &len), 0);
	assert_int_equal(len, n);
	free(back);
	mg_state_out_abort(NULL);
	free(data);
}

/*
 * Version 2's checks: a header that carries a length or a CRC (only version
 * 1 does), an unknown version, a second gzip stream after the first, and
 * any byte of the file flipped: refused, or (bits nothing reads) the same
 * payload, never another one.
 */
static void test_v2_damage_refused(void **state)
{
	uint8_t data[3000], *raw;
	struct seen s = { 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(rand() >> 5);
	struct hdr h = { .magic = MAGIC, .version = 2 };
	write_by_hand(path, h, data, sizeof(data), NULL, 0, NULL);
	assert_int_equal(mg_state_read_stream(path, take, &s), 0);
	assert_int_equal(s.len, sizeof(data));
	free(s.buf);
	h.len = sizeof(data);
	write_by_hand(path, h, data, sizeof(data), NULL, 0, NULL);
	assert_int_equal(stream_outcome(), -EINVAL);
	h = (struct hdr){ .magic = MAGIC, .version = 2, .crc = 1 };
	write_by_hand(path, h, data, sizeof(data), NULL, 0, NULL);
	assert_int_equal(stream_outcome(), -EINVAL);
	h = (struct hdr){ .magic = MAGIC, .version = 3 };
	write_by_hand(path, h, data, sizeof(data), NULL, 0, NULL);
	assert_int_equal(stream_outcome(), -EINVAL);

	write_v2(path, data, sizeof(data));
	assert_int_equal(version_of(path), 2);
	long size;
	raw = read_then_doubled(&size);
	assert_int_equal(stream_outcome(), -EINVAL);

	assert_flips_refused(raw, size, data, sizeof(data));
	free(raw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_damage_refused),
		cmocka_unit_test(test_stream_in_chunks),
		cmocka_unit_test(test_stream_damage_refused),
		cmocka_unit_test(test_length_cap),
		cmocka_unit_test(test_crc_in_slices),
		cmocka_unit_test(test_written_in_pieces),
		cmocka_unit_test(test_v2_damage_refused),
		cmocka_unit_test(test_failed_write_keeps_old),
		cmocka_unit_test(test_full_disk_says_enospc),
		cmocka_unit_test(test_fifo_refused),
		cmocka_unit_test(test_keep_copy_prunes_the_oldest),
	};
	return cmocka_run_group_tests_name("statefile", tests, setup, teardown);
}
