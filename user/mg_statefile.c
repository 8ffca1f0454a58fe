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
/*
 * 1: the header carries the payload's length and CRC-32, so the whole
 * payload must exist before a byte is written: mg_state_write, whose caller
 * has it (the rules and the lists: a daemon from before version 2 still
 * reads them, so a downgrade keeps the operator's rules).
 * 2: the header carries neither, so a state is written as it is made
 * (mg_state_out): the gzip trailer's CRC-32 and length check the payload,
 * and it ends where the stream ends.
 */
#define STATE_V1      1u
#define STATE_VERSION 2u
/* zlib counts in 32 bits (uInt): a larger buffer goes to it in slices of this size. */
#define STATE_SLICE   ((size_t)1 << 30)

_Static_assert(MG_STATE_CHUNK <= STATE_SLICE, "a chunk goes to zlib in one call");

struct state_header {
	uint32_t magic;
	uint32_t version;
	uint64_t len;  /* version 1: the payload's length; 0 from version 2 */
	uint32_t crc;  /* version 1: its CRC-32; 0 from version 2 */
	uint32_t pad;
};

/*
 * The compressed stream goes straight to the temporary file through
 * mg_atomic_append, not through gzwrite: zlib's file layer reports every
 * failed write as a bare error, and the operator must read "No space left on
 * device", not "Input/output error".
 */
struct mg_state_out {
	struct mg_atomic_file f;
	char path[PATH_MAX];   /* f.path points here */
	z_stream z;
	uint64_t len;          /* payload so far */
	int err;               /* the first failure: every later call gives it */
	uint8_t out[64 * 1024];
};

/* Feed len bytes (finish: and end the stream); every full output buffer is written. */
static int deflate_feed(struct mg_state_out *o, const void *data, size_t len, bool finish)
{
	const uint8_t *p = data;
	int zr;

	do {
		uInt slice = (uInt)(len > STATE_SLICE ? STATE_SLICE : len);
		o->z.next_in = (Bytef *)(uintptr_t)p;
		o->z.avail_in = slice;
		if (slice) /* data may be NULL for nothing (the stream's end alone) */
			p += slice;
		len -= slice;
		int flush = finish && !len ? Z_FINISH : Z_NO_FLUSH;
		do {
			o->z.next_out = o->out;
			o->z.avail_out = sizeof(o->out);
			zr = deflate(&o->z, flush);
			if (zr == Z_STREAM_ERROR)
				return -EINVAL;
			size_t have = sizeof(o->out) - o->z.avail_out;
			int err = have ? mg_atomic_append(&o->f, o->out, have) : 0;
			if (err)
				return err;
		} while (o->z.avail_out == 0 || (flush == Z_FINISH && zr != Z_STREAM_END));
	} while (len);
	return 0;
}

uint32_t mg_state_crc32(uint32_t crc, const void *data, size_t len, size_t slice)
{
	const uint8_t *p = data;

	while (len) {
		size_t n = len < slice ? len : slice;
		crc = (uint32_t)crc32(crc, p, (uInt)n);
		p += n;
		len -= n;
	}
	return crc;
}

static int out_open(struct mg_state_out **out, const char *path, const struct state_header *h)
{
	struct mg_state_out *o;
	int err;

	*out = NULL;
	if (strlen(path) >= sizeof(o->path))
		return -ENAMETOOLONG;
	if (!(o = calloc(1, sizeof(*o))))
		return -ENOMEM;
	snprintf(o->path, sizeof(o->path), "%s", path);
	/* windowBits 15 + 16: a gzip wrapper, so gzopen (and zcat) read the file. */
	if (deflateInit2(&o->z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		free(o);
		return -ENOMEM;
	}
	/* 0600: profiles name the network's hosts and what they did. */
	if ((err = mg_atomic_open(&o->f, o->path, 0600))) {
		deflateEnd(&o->z);
		free(o);
		return err;
	}
	if ((err = deflate_feed(o, h, sizeof(*h), false))) {
		mg_state_out_abort(o);
		return err;
	}
	*out = o;
	return 0;
}

int mg_state_out_open(struct mg_state_out **out, const char *path)
{
	const struct state_header h = { .magic = STATE_MAGIC, .version = STATE_VERSION };

	return out_open(out, path, &h);
}

int mg_state_out_put(struct mg_state_out *o, const void *data, size_t len)
{
	if (!o->err && len > MG_STATE_LEN_MAX - o->len)
		o->err = -EFBIG;
	if (!o->err && len && !(o->err = deflate_feed(o, data, len, false)))
		o->len += len;
	return o->err;
}

int mg_state_out_commit(struct mg_state_out *o)
{
	int err = o->err ? o->err : deflate_feed(o, NULL, 0, true);

	if (err) {
		mg_state_out_abort(o);
		return err;
	}
	err = mg_atomic_commit(&o->f);
	deflateEnd(&o->z);
	free(o);
	return err;
}

void mg_state_out_abort(struct mg_state_out *o)
{
	if (!o)
		return;
	mg_atomic_abort(&o->f);
	deflateEnd(&o->z);
	free(o);
}

int mg_state_write(const char *path, const void *data, size_t len)
{
	struct mg_state_out *o;
	int err;

	if (len > MG_STATE_LEN_MAX)
		return -EFBIG;
	const struct state_header h = {
		.magic = STATE_MAGIC,
		.version = STATE_V1,
		.len = len,
		.crc = mg_state_crc32((uint32_t)crc32(0L, Z_NULL, 0), data, len, STATE_SLICE),
	};
	if ((err = out_open(&o, path, &h)))
		return err;
	if ((err = mg_state_out_put(o, data, len))) {
		mg_state_out_abort(o);
		return err;
	}
	return mg_state_out_commit(o);
}

/*
 * Opened without blocking and checked to be a regular file first: a FIFO at
 * the path would otherwise hang the start.
 */
static int open_regular(const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	return fd;
}

/*
 * The reading side of the stream, by hand rather than through gzread for
 * the same reason as the writing side (a read error is reported as itself),
 * and so that anything after the gzip stream's end can be seen and refused.
 */
struct inflater {
	z_stream z;
	int fd;
	bool ended; /* the gzip trailer was read and matched (its CRC and length) */
	uint8_t in[64 * 1024];
	uint8_t out[MG_STATE_CHUNK];
};

/*
 * Decompress into out until want bytes are there or the stream ends; returns
 * how many (fewer than want only at the end), -EINVAL for a stream that is
 * broken or cut short, or -errno of a failed read.
 */
static ssize_t inflate_some(struct inflater *d, uint8_t *out, size_t want)
{
	d->z.next_out = out;
	d->z.avail_out = (uInt)want;
	while (d->z.avail_out && !d->ended) {
		if (!d->z.avail_in) {
			ssize_t r = read(d->fd, d->in, sizeof(d->in));
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				return -errno;
			if (r == 0)
				return -EINVAL; /* cut short: the file ends inside the stream */
			d->z.next_in = d->in;
			d->z.avail_in = (uInt)r;
		}
		int zr = inflate(&d->z, Z_NO_FLUSH);
		if (zr == Z_STREAM_END)
			d->ended = true;
		else if (zr == Z_MEM_ERROR)
			return -ENOMEM;
		else if (zr != Z_OK)
			return -EINVAL; /* not gzip, a damaged block, or a trailer that does not match */
	}
	return (ssize_t)(want - d->z.avail_out);
}

/* After the stream's end: nothing may follow it in the file. */
static int at_file_end(struct inflater *d)
{
	uint8_t extra;
	ssize_t r;

	if (d->z.avail_in)
		return -EINVAL;
	while ((r = read(d->fd, &extra, 1)) < 0 && errno == EINTR)
		;
	return r < 0 ? -errno : r ? -EINVAL : 0;
}

/* Version 1: exactly the length the header claims, checked against its CRC-32 too. */
static int read_v1(struct inflater *d, const struct state_header *h, mg_state_chunk_fn fn, void *ctx)
{
	uint32_t crc = (uint32_t)crc32(0L, Z_NULL, 0);
	ssize_t got;

	/* The claimed length bounds nothing allocated here: it is only counted down. */
	if (h->len > MG_STATE_LEN_MAX)
		return -EINVAL;
	for (uint64_t left = h->len; left;) {
		size_t want = left < sizeof(d->out) ? (size_t)left : sizeof(d->out);
		if ((got = inflate_some(d, d->out, want)) < 0)
			return (int)got;
		if ((size_t)got < want)
			return -EINVAL; /* the stream ended before the length the header claims */
		crc = (uint32_t)crc32(crc, d->out, (uInt)got);
		left -= (size_t)got;
		int err = fn(ctx, d->out, (size_t)got);
		if (err)
			return err;
	}
	if (crc != h->crc)
		return -EINVAL;
	/* More payload than the header claims, a stream that does not end cleanly: damage. */
	uint8_t extra;
	if ((got = inflate_some(d, &extra, 1)) != 0)
		return got < 0 ? (int)got : -EINVAL;
	return 0;
}

/*
 * Version 2: everything up to the stream's end, which inflate reaches only
 * once the gzip trailer's CRC-32 and length matched what it gave.
 */
static int read_v2(struct inflater *d, const struct state_header *h, mg_state_chunk_fn fn, void *ctx)
{
	uint64_t total = 0;
	ssize_t got;

	if (h->len || h->crc || h->pad)
		return -EINVAL;
	do {
		if ((got = inflate_some(d, d->out, sizeof(d->out))) < 0)
			return (int)got;
		if ((uint64_t)got > MG_STATE_LEN_MAX - total)
			return -EINVAL; /* more than any writer makes */
		total += (uint64_t)got;
		int err = got ? fn(ctx, d->out, (size_t)got) : 0;
		if (err)
			return err;
	} while (!d->ended);
	return 0;
}

static int read_stream(struct inflater *d, mg_state_chunk_fn fn, void *ctx)
{
	struct state_header h;
	ssize_t got = inflate_some(d, (uint8_t *)&h, sizeof(h));
	int err;

	if (got < 0)
		return (int)got;
	if (got != (ssize_t)sizeof(h) || h.magic != STATE_MAGIC)
		return -EINVAL;
	if (h.version == STATE_V1)
		err = read_v1(d, &h, fn, ctx);
	else if (h.version == STATE_VERSION)
		err = read_v2(d, &h, fn, ctx);
	else
		err = -EINVAL;
	/* Bytes after the gzip stream: damage, or another file's tail. */
	return err ? err : at_file_end(d);
}

int mg_state_read_stream(const char *path, mg_state_chunk_fn fn, void *ctx)
{
	int fd = open_regular(path), err;
	struct inflater *d;

	if (fd < 0)
		return fd;
	if (!(d = malloc(sizeof(*d)))) {
		close(fd);
		return -ENOMEM;
	}
	memset(&d->z, 0, sizeof(d->z));
	d->fd = fd;
	d->ended = false;
	/* windowBits 15 + 16: gzip only, the wrapper mg_state_write puts on. */
	if (inflateInit2(&d->z, 15 + 16) != Z_OK) {
		err = -ENOMEM;
	} else {
		err = read_stream(d, fn, ctx);
		inflateEnd(&d->z);
	}
	free(d);
	close(fd);
	return err;
}

/* mg_state_read's buffer, grown with what actually decompresses, never to the length a header claims. */
struct whole {
	uint8_t *buf;
	size_t len, cap;
};

static int whole_append(void *ctx, const uint8_t *data, size_t len)
{
	struct whole *w = ctx;

	if (w->cap - w->len < len) {
		size_t cap = w->cap ? w->cap : 64 * 1024;
		while (cap - w->len < len)
			cap *= 2;
		uint8_t *n = realloc(w->buf, cap);
		if (!n)
			return -ENOMEM;
		w->buf = n;
		w->cap = cap;
	}
	memcpy(w->buf + w->len, data, len);
	w->len += len;
	return 0;
}

int mg_state_read(const char *path, uint8_t **data, size_t *len)
{
	struct whole w = { 0 };
	int err = mg_state_read_stream(path, whole_append, &w);

	if (!err && !w.buf && !(w.buf = malloc(1))) /* an empty payload still gives a buffer to free */
		err = -ENOMEM;
	if (err) {
		free(w.buf);
		return err;
	}
	*data = w.buf;
	*len = w.len;
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
