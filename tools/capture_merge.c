// SPDX-License-Identifier: GPL-2.0-only
/* capture_merge.c - several capture files read as one, in time order (see capture_merge.h for the policies). */
#define _GNU_SOURCE /* vasprintf */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "capture.h"
#include "capture_merge.h"

struct mfile {
	struct capture *cap;
	char *path;                    /* owned; info.path points here */
	char *error;                   /* owned; info.error points here */
	struct capture_merge_file info;
	bool done;                     /* ended, damaged or skipped: never read again */
	/* The file's next frame, read ahead and waiting in the heap. */
	struct capture_frame next;
	uint64_t key;                  /* its place in the merge: ts plus off */
	bool back;
	uint64_t back_by;
	/* Reading state. */
	uint64_t read;                 /* frames read so far */
	uint64_t prev_ts;              /* capture time of the last frame read */
	uint64_t off;                  /* sum of the file's backward jumps */
};

struct capture_merge {
	struct mfile *f;
	size_t n;
	/* Min-heap of file indexes on (key, index): a file is in it while it has a frame read ahead. */
	size_t *heap;
	size_t nheap;
	bool primed;   /* the first frame of every file has been read */
	bool have_cur; /* cur's frame was handed out; cur is read on at the next call, not before, */
	size_t cur;    /* so that frame's data stays valid until then */
	bool ended;    /* every file is done: the overlaps are known */
	char **warn;
	size_t nwarn, capwarn;
};

/* Sums of jumps cannot wrap on any real file; a crafted one saturates instead. */
static uint64_t sat_add(uint64_t a, uint64_t b)
{
	uint64_t s;

	return __builtin_add_overflow(a, b, &s) ? UINT64_MAX : s;
}

static char *vformat(const char *fmt, va_list ap)
{
	char *s = NULL;

	if (vasprintf(&s, fmt, ap) < 0)
		return NULL;
	return s;
}

static char *format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *format(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = vformat(fmt, ap);
	va_end(ap);
	return s;
}

/* UTC, to the nanosecond: operators compare these with their own logs. */
static void fmt_time(char *buf, size_t len, uint64_t ns)
{
	time_t s = (time_t)(ns / 1000000000u);
	struct tm tm;
	size_t k;

	if (!gmtime_r(&s, &tm) || !(k = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm))) {
		snprintf(buf, len, "%llu ns", (unsigned long long)ns);
		return;
	}
	snprintf(buf + k, len - k, ".%09uZ", (unsigned)(ns % 1000000000u));
}

static void add_warning(struct capture_merge *m, char *text)
{
	if (!text)
		return; /* out of memory: a lost warning must not stop the replay */
	if (m->nwarn == m->capwarn) {
		size_t cap = m->capwarn ? 2 * m->capwarn : 8;
		char **w = realloc(m->warn, cap * sizeof(*w));

		if (!w) {
			free(text);
			return;
		}
		m->warn = w;
		m->capwarn = cap;
	}
	m->warn[m->nwarn++] = text;
}

/* Overlap as the header defines it: neither ends at or before the other begins (touching is how rotated files meet). */
static bool overlap(const struct capture_merge_file *a, const struct capture_merge_file *b)
{
	return a->frames && b->frames && a->max_ns > b->min_ns && b->max_ns > a->min_ns;
}

/* At the end of the merge, when every range is whole: one warning per overlapping pair. */
static void warn_overlaps(struct capture_merge *m)
{
	for (size_t i = 0; i < m->n; i++)
		for (size_t j = i + 1; j < m->n; j++) {
			const struct capture_merge_file *x = &m->f[i].info, *y = &m->f[j].info;
			char t[4][64];

			if (!overlap(x, y))
				continue;
			fmt_time(t[0], sizeof(t[0]), x->min_ns);
			fmt_time(t[1], sizeof(t[1]), x->max_ns);
			fmt_time(t[2], sizeof(t[2]), y->min_ns);
			fmt_time(t[3], sizeof(t[3]), y->max_ns);
			add_warning(m, format("%s and %s overlap in time (%s .. %s and %s .. %s): "
					      "their frames are interleaved by timestamp",
					      x->path, y->path, t[0], t[1], t[2], t[3]));
		}
}

static void stop(struct mfile *f, const char *why)
{
	f->done = true;
	f->error = format("frame %llu: %s", (unsigned long long)(f->read + 1), *why ? why : "unreadable");
	f->info.error = f->error ? f->error : "unreadable (and out of memory)";
}

/* Read file i's next frame into f->next; false if the file has none (ended or damaged). */
static bool read_ahead(struct capture_merge *m, size_t i)
{
	struct mfile *f = &m->f[i];
	char why[512] = "";
	int rc;

	if (f->done)
		return false;
	rc = capture_next(f->cap, &f->next, why, sizeof(why));
	if (rc == 0) {
		f->done = true;
		return false;
	}
	if (rc < 0) {
		stop(f, why);
		return false;
	}
	f->back = f->read && f->next.ts_ns < f->prev_ts;
	f->back_by = f->back ? f->prev_ts - f->next.ts_ns : 0;
	/* Close the jump up: the frame keeps its file's place in the merge (see the header). */
	f->off = sat_add(f->off, f->back_by);
	f->key = sat_add(f->next.ts_ns, f->off);
	f->prev_ts = f->next.ts_ns;
	f->read++;
	return true;
}

/* Heap order: earlier key first; on a tie the file given first, as mergecap does. */
static bool before(const struct capture_merge *m, size_t a, size_t b)
{
	uint64_t ka = m->f[a].key, kb = m->f[b].key;

	return ka < kb || (ka == kb && a < b);
}

static void sift_down(struct capture_merge *m, size_t at)
{
	for (;;) {
		size_t l = 2 * at + 1, r = l + 1, min = at;

		if (l < m->nheap && before(m, m->heap[l], m->heap[min]))
			min = l;
		if (r < m->nheap && before(m, m->heap[r], m->heap[min]))
			min = r;
		if (min == at)
			return;
		size_t t = m->heap[at];
		m->heap[at] = m->heap[min];
		m->heap[min] = t;
		at = min;
	}
}

static void push(struct capture_merge *m, size_t i)
{
	size_t at = m->nheap++;

	m->heap[at] = i;
	while (at && before(m, m->heap[at], m->heap[(at - 1) / 2])) {
		size_t up = (at - 1) / 2, t = m->heap[at];

		m->heap[at] = m->heap[up];
		m->heap[up] = t;
		at = up;
	}
}

static void pop(struct capture_merge *m)
{
	m->heap[0] = m->heap[--m->nheap];
	sift_down(m, 0);
}

/* libpcap often starts its message with the path; ours does already. */
static const char *without_path(const char *why, const char *path)
{
	size_t n = strlen(path);

	if (!strncmp(why, path, n) && why[n] == ':' && why[n + 1] == ' ')
		return why + n + 2;
	return *why ? why : "cannot be read";
}

struct capture_merge *capture_merge_open(const char *const *paths, size_t n, char *err, size_t errlen)
{
	struct capture_merge *m;
	char why[512];

	if (!n) {
		snprintf(err, errlen, "no capture files given");
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m || !(m->f = calloc(n, sizeof(*m->f))) || !(m->heap = calloc(n, sizeof(*m->heap))))
		goto oom;
	m->n = n;
	for (size_t i = 0; i < n; i++) {
		struct mfile *f = &m->f[i];

		if (!(f->path = strdup(paths[i])))
			goto oom;
		f->info.path = f->path;
		why[0] = '\0';
		f->cap = capture_open(paths[i], why, sizeof(why));
		if (!f->cap) {
			snprintf(err, errlen, "%s: %s", paths[i], without_path(why, paths[i]));
			capture_merge_close(m);
			return NULL;
		}
		f->info.dlt = capture_link_type(f->cap);
	}
	return m;
oom:
	snprintf(err, errlen, "out of memory");
	capture_merge_close(m);
	return NULL;
}

size_t capture_merge_files(const struct capture_merge *m)
{
	return m->n;
}

const struct capture_merge_file *capture_merge_file(const struct capture_merge *m, size_t i)
{
	return i < m->n ? &m->f[i].info : NULL;
}

void capture_merge_skip(struct capture_merge *m, size_t i)
{
	if (i >= m->n)
		return;
	/* Left in the heap if it is there: capture_merge_next() drops it when it comes up. */
	m->f[i].info.skipped = true;
	m->f[i].done = true;
}

int capture_merge_next(struct capture_merge *m, struct capture_merge_frame *out)
{
	if (!m->primed) {
		/* Not at open: files the caller skips in between are never read, nor warned about. */
		for (size_t i = 0; i < m->n; i++)
			if (read_ahead(m, i))
				push(m, i);
		m->primed = true;
	} else if (m->have_cur) {
		/* cur is still at the top: nothing touched the heap since it was handed out. */
		if (read_ahead(m, m->cur))
			sift_down(m, 0);
		else
			pop(m);
	}
	m->have_cur = false;
	while (m->nheap && m->f[m->heap[0]].info.skipped)
		pop(m);
	if (!m->nheap) {
		if (!m->ended)
			warn_overlaps(m);
		m->ended = true;
		return 0;
	}

	size_t i = m->heap[0];
	struct mfile *f = &m->f[i];
	struct capture_merge_file *info = &f->info;

	*out = (struct capture_merge_frame){
		.data = f->next.data,
		.caplen = f->next.caplen,
		.len = f->next.len,
		.ts_ns = f->next.ts_ns,
		.mono_ns = f->key,
		.frame_no = f->read,
		.file = i,
		.dlt = info->dlt,
		.time_back = f->back,
		.back_by_ns = f->back_by,
	};
	if (!info->frames++) {
		info->first_ns = info->min_ns = info->max_ns = out->ts_ns;
	} else {
		if (out->ts_ns < info->min_ns)
			info->min_ns = out->ts_ns;
		if (out->ts_ns > info->max_ns)
			info->max_ns = out->ts_ns;
	}
	info->last_ns = out->ts_ns;
	info->time_backs += f->back;
	m->cur = i;
	m->have_cur = true;
	return 1;
}

size_t capture_merge_warnings(const struct capture_merge *m)
{
	return m->nwarn;
}

const char *capture_merge_warning(const struct capture_merge *m, size_t i)
{
	return i < m->nwarn ? m->warn[i] : NULL;
}

void capture_merge_close(struct capture_merge *m)
{
	if (!m)
		return;
	if (m->f) {
		for (size_t i = 0; i < m->n; i++) {
			capture_close(m->f[i].cap);
			free(m->f[i].path);
			free(m->f[i].error);
		}
	}
	for (size_t i = 0; i < m->nwarn; i++)
		free(m->warn[i]);
	free(m->warn);
	free(m->heap);
	free(m->f);
	free(m);
}
