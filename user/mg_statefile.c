// SPDX-License-Identifier: GPL-2.0-only
/* mg_statefile.c - atomic, checksummed, compressed state file (see mg_statefile.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <zlib.h>

#include "mg_atomic_file.h"
#include "mg_statefile.h"

#define STATE_MAGIC   0x5453474du /* "MGST" */
#define STATE_VERSION 1u
#define STATE_MAX     (1u << 30)  /* refuse absurd lengths from a damaged header */

struct state_header {
	uint32_t magic;
	uint32_t version;
	uint64_t len;
	uint32_t crc;
	uint32_t pad;
};

/*
 * The compressed stream goes straight to the temporary file through
 * mg_atomic_append, not through gzwrite: zlib's file layer reports every
 * failed write as a bare error, and the operator must read "No space left on
 * device", not "Input/output error".
 */
struct deflater {
	z_stream z;
	struct mg_atomic_file *f;
	uint8_t out[64 * 1024];
};

/* Feed len bytes (finish: and end the stream); every full output buffer is written. */
static int deflate_feed(struct deflater *d, const void *data, size_t len, bool finish)
{
	const uint8_t *p = data;
	int zr;

	do {
		/* avail_in is 32 bits: a large buffer goes in slices. */
		uInt slice = len > (1u << 30) ? (1u << 30) : (uInt)len;
		d->z.next_in = (Bytef *)(uintptr_t)p;
		d->z.avail_in = slice;
		p += slice;
		len -= slice;
		int flush = finish && !len ? Z_FINISH : Z_NO_FLUSH;
		do {
			d->z.next_out = d->out;
			d->z.avail_out = sizeof(d->out);
			zr = deflate(&d->z, flush);
			if (zr == Z_STREAM_ERROR)
				return -EINVAL;
			size_t have = sizeof(d->out) - d->z.avail_out;
			int err = have ? mg_atomic_append(d->f, d->out, have) : 0;
			if (err)
				return err;
		} while (d->z.avail_out == 0 || (flush == Z_FINISH && zr != Z_STREAM_END));
	} while (len);
	return 0;
}

int mg_state_write(const char *path, const void *data, size_t len)
{
	struct state_header h = {
		.magic = STATE_MAGIC,
		.version = STATE_VERSION,
		.len = len,
		.crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), data, (uInt)len),
	};
	struct mg_atomic_file f;
	struct deflater *d;
	int err;

	if (len > STATE_MAX)
		return -EFBIG;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	/* windowBits 15 + 16: a gzip wrapper, so gzopen (and zcat) read the file. */
	if (deflateInit2(&d->z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		free(d);
		return -ENOMEM;
	}
	/* 0600: profiles name the network's hosts and what they did. */
	err = mg_atomic_open(&f, path, 0600);
	if (!err) {
		d->f = &f;
		err = deflate_feed(d, &h, sizeof(h), false);
		if (!err)
			err = deflate_feed(d, data, len, true);
		if (err)
			mg_atomic_abort(&f);
		else
			err = mg_atomic_commit(&f);
	}
	deflateEnd(&d->z);
	free(d);
	return err;
}

/*
 * Opened without blocking and checked to be a regular file first: a FIFO at
 * the path would otherwise hang the start.
 */
static gzFile open_regular(const char *path, int *err)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0) {
		*err = errno == ENOENT ? -ENOENT : -errno;
		return NULL;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		*err = -EINVAL;
		return NULL;
	}
	gzFile gz = gzdopen(fd, "rb");
	if (!gz) {
		close(fd);
		*err = -ENOMEM;
	}
	return gz;
}

int mg_state_read(const char *path, uint8_t **data, size_t *len)
{
	struct state_header h;
	uint8_t *buf = NULL;
	size_t got = 0, cap = 0;
	int err = 0;
	gzFile gz = open_regular(path, &err);

	if (!gz)
		return err;
	if (gzread(gz, &h, sizeof(h)) != (int)sizeof(h) || h.magic != STATE_MAGIC ||
	    h.version != STATE_VERSION || h.len > STATE_MAX) {
		err = -EINVAL;
		goto out;
	}
	/*
	 * The buffer grows with what actually decompresses, not to the length
	 * the header claims: a damaged header must not cost a gigabyte.
	 */
	while (got < h.len) {
		if (got == cap) {
			size_t ncap = cap ? cap * 2 : 64 * 1024;
			if (ncap > h.len)
				ncap = h.len;
			uint8_t *n = realloc(buf, ncap);
			if (!n) {
				err = -ENOMEM;
				goto out;
			}
			buf = n;
			cap = ncap;
		}
		int r = gzread(gz, buf + got, (unsigned)(cap - got));
		if (r <= 0) {
			err = -EINVAL; /* short or broken */
			goto out;
		}
		got += (size_t)r;
	}
	if (!buf && !(buf = malloc(1))) {
		err = -ENOMEM;
		goto out;
	}
	if ((uint32_t)crc32(crc32(0L, Z_NULL, 0), buf, (uInt)h.len) != h.crc) {
		err = -EINVAL;
		goto out;
	}
	/* Anything after the payload, or a stream that does not end cleanly, is damage. */
	uint8_t extra;
	if (gzread(gz, &extra, 1) != 0) {
		err = -EINVAL;
		goto out;
	}
	int zerr;
	gzerror(gz, &zerr);
	if (zerr != Z_OK && zerr != Z_STREAM_END)
		err = -EINVAL;
out:
	gzclose(gz);
	if (err) {
		free(buf);
		return err;
	}
	*data = buf;
	*len = h.len;
	return 0;
}

/* The names of kept copies: <base>.unreadable-<UTC time>[-N]; they sort oldest first. */
#define KEEP_TAG ".unreadable-"

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Remove the oldest kept copies of path beyond MG_STATE_COPIES_MAX. */
static void prune_copies(const char *dir, const char *base)
{
	char prefix[NAME_MAX + 1];
	char **names = NULL;
	size_t n = 0, cap = 0;
	bool whole = true;
	struct dirent *de;
	DIR *d;

	if (snprintf(prefix, sizeof(prefix), "%s" KEEP_TAG, base) >= (int)sizeof(prefix) || !(d = opendir(dir)))
		return;
	/*
	 * Every copy there is, however many (put there by hand, or by a
	 * version that kept more): a list that stopped at a fixed size would
	 * judge "the oldest" among the ones it happened to read first and
	 * could remove the newest, the one just kept.
	 */
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, prefix, strlen(prefix)))
			continue;
		if (n == cap) {
			size_t c = cap ? cap * 2 : 16;
			char **v = realloc(names, c * sizeof(*v));
			if (!v) {
				whole = false;
				break;
			}
			names = v;
			cap = c;
		}
		if (!(names[n] = strdup(de->d_name))) {
			whole = false;
			break;
		}
		n++;
	}
	/* Without them all, none is judged old: removing nothing loses nothing. */
	if (whole && n)
		qsort(names, n, sizeof(names[0]), name_cmp);
	for (size_t i = 0; i < n; i++) {
		if (whole && i + MG_STATE_COPIES_MAX < n)
			unlinkat(dirfd(d), names[i], 0);
		free(names[i]);
	}
	free(names);
	closedir(d);
}

/* A copy of the bytes, for a filesystem that refuses hard links. */
static int copy_bytes(const char *from, const char *to)
{
	int fd = open(from, O_RDONLY | O_CLOEXEC | O_NONBLOCK), err = 0;
	struct mg_atomic_file f;
	char buf[64 * 1024];
	ssize_t r;

	if (fd < 0)
		return -errno;
	err = mg_atomic_open(&f, to, 0600);
	while (!err && (r = read(fd, buf, sizeof(buf))) != 0)
		err = r < 0 ? (errno == EINTR ? 0 : -errno) : mg_atomic_append(&f, buf, (size_t)r);
	close(fd);
	if (err) {
		mg_atomic_abort(&f);
		return err;
	}
	return mg_atomic_commit(&f);
}

int mg_state_keep_copy(const char *path, uint64_t wall_ns, char *copy, size_t len)
{
	char dir[PATH_MAX], base[PATH_MAX], a[PATH_MAX], b[PATH_MAX], stamp[32];
	time_t secs = (time_t)(wall_ns / 1000000000ull);
	struct tm tm;
	int err = -EEXIST;

	if (!gmtime_r(&secs, &tm) || !strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm))
		snprintf(stamp, sizeof(stamp), "%llu", (unsigned long long)secs);
	/*
	 * A hard link: instant, no space taken, and the next save's rename
	 * gives the file's name to the new content while the link keeps the
	 * old. Two in one second get -2, -3, ...
	 */
	for (int i = 1; i < 10 && err == -EEXIST; i++) {
		if (i == 1)
			snprintf(copy, len, "%s" KEEP_TAG "%s", path, stamp);
		else
			snprintf(copy, len, "%s" KEEP_TAG "%s-%d", path, stamp, i);
		err = link(path, copy) ? -errno : 0;
		if (err && err != -EEXIST && err != -ENOENT)
			err = copy_bytes(path, copy);
	}
	if (err)
		return err;
	snprintf(a, sizeof(a), "%s", path);
	snprintf(b, sizeof(b), "%s", path);
	snprintf(dir, sizeof(dir), "%s", dirname(a));
	snprintf(base, sizeof(base), "%s", basename(b));
	prune_copies(dir, base);
	return 0;
}

void mg_make_parent_dirs(const char *path)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(buf, 0750);
		*p = '/';
	}
}
