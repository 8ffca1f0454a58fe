/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * capture_merge.h - several pcap/pcapng files read as one stream of frames in
 * timestamp order, as mergecap merges them: a k-way merge on each file's next
 * frame, ties going to the file given first.  No libpcap type appears here
 * (see capture.h for why), so BPF code may include this header.
 *
 * Policies:
 *
 * Opening is all or nothing.  If any file is missing, unreadable, or not a
 * pcap/pcapng capture, capture_merge_open() fails and err names that file
 * and why: a replay missing one of its inputs would report on a part of the
 * traffic as if it were all of it.
 *
 * Link types are the caller's business.  Each file's DLT is known once open
 * (capture_merge_file()->dlt); a file the caller cannot decode is dropped
 * with capture_merge_skip() before the first capture_merge_next().  This
 * module cannot know which link types the caller handles, and refusing a
 * whole run for one odd file is the caller's choice to make, not ours.
 *
 * Time going backwards inside a file (a frame older than the one before it
 * in the same file, e.g. flows of different years put together with
 * `mergecap -a`, or a clock stepped back during capture): frames of one file
 * are never reordered.  Each such frame comes with time_back set and
 * back_by_ns = the previous frame's time minus its own, and the file's
 * time_backs count goes up.  The jump is then "closed up": from that frame
 * on, the file's frames take their place in the merge as if its clock had
 * not jumped (capture time plus the sum of the file's backward jumps so
 * far), and that time is handed out as mono_ns.  So mono_ns never decreases
 * over the whole merged stream - an analyzer clock - and the gaps between a
 * file's frames are kept, where clamping to the latest time would squeeze a
 * whole jumped-back stretch into one instant and fake a burst.  ts_ns stays
 * the capture time as written in the file, for reports.  For files whose
 * time never goes back mono_ns == ts_ns and the order is mergecap's exactly.
 * (mergecap itself merges on the raw times, which hands the older stretch
 * out at once, ahead of the other files' frames.)
 *
 * Overlap: two files overlap when their time ranges (earliest to latest
 * frame handed out, capture times) share more than an edge - neither file
 * ends at or before the other one begins.  The ranges are whole only when
 * the merge ends, so the warnings (one per overlapping pair) are made then,
 * when capture_merge_next() first returns 0: one pass reads each file once
 * (large captures, pipes), and a damaged file needs handling once.
 *
 * A damaged file (libpcap cannot read a record) stops there: its error
 * ("frame N: why", N counting from 1 in that file) is kept in its
 * capture_merge_file, and the other files go on.  Frames before the damage
 * have all been handed out.
 */
#ifndef MG_CAPTURE_MERGE_H
#define MG_CAPTURE_MERGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct capture_merge;

struct capture_merge_frame {
	const uint8_t *data;  /* valid until the next capture_merge_next() or close */
	uint32_t caplen, len; /* bytes captured, bytes on the wire */
	uint64_t ts_ns;       /* capture time, as in the file */
	uint64_t mono_ns;     /* merged clock: never decreases (see "Time going backwards") */
	uint64_t frame_no;    /* 1 for the first frame of its file */
	size_t file;          /* index into the paths given to capture_merge_open() */
	int dlt;              /* the file's link type (DLT_ number) */
	bool time_back;       /* older than the previous frame of the same file */
	uint64_t back_by_ns;  /* by how much, if time_back; else 0 */
};

/* What is known about one input file; counts grow as frames are handed out. */
struct capture_merge_file {
	const char *path;
	int dlt;                    /* link type (DLT_ number) */
	bool skipped;               /* by capture_merge_skip() */
	uint64_t frames;            /* frames handed out */
	uint64_t time_backs;        /* of them, frames older than the frame before */
	uint64_t first_ns, last_ns; /* capture time of the first and last frame handed out (file order) */
	uint64_t min_ns, max_ns;    /* earliest and latest capture time handed out */
	const char *error;          /* why the file stopped before its end, or NULL */
};

/*
 * Open n files (n >= 1) for merging.  NULL with err set ("PATH: why") if any
 * cannot be read as a capture; then none stays open.  The paths are copied.
 */
struct capture_merge *capture_merge_open(const char *const *paths, size_t n, char *err, size_t errlen);

size_t capture_merge_files(const struct capture_merge *m);
/* Information on file i (< capture_merge_files()), valid until close. */
const struct capture_merge_file *capture_merge_file(const struct capture_merge *m, size_t i);

/*
 * Leave file i out: no more of its frames are handed out.  Meant for before
 * the first capture_merge_next() (unsupported link type); later it simply
 * ends the file there.
 */
void capture_merge_skip(struct capture_merge *m, size_t i);

/* 1: *f holds the next frame in time order; 0: every file is done. */
int capture_merge_next(struct capture_merge *m, struct capture_merge_frame *f);

/* Warnings (overlapping files), known once capture_merge_next() has returned 0. Valid until close. */
size_t capture_merge_warnings(const struct capture_merge *m);
const char *capture_merge_warning(const struct capture_merge *m, size_t i);

void capture_merge_close(struct capture_merge *m);

#endif
