/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_statefile.h - the daemon's state file: a gzip stream holding a small
 * header (magic, version) and a payload (the analyzer's saved state, the
 * rules, the imported lists), checked by the gzip trailer's CRC-32 and
 * length. A payload written whole (mg_state_write) keeps version 1, whose
 * header also carries its length and CRC-32 (what daemons before version 2
 * read); one written as it is made (mg_state_out) is version 2, without
 * them: they are known only at its end.
 *
 * Written atomically (mg_atomic_file.h), mode 0600: a crash at any point
 * leaves either the old file or the new one, never a mix; a damaged file is
 * refused as a whole rather than half-restored.
 */
#ifndef MG_STATEFILE_H
#define MG_STATEFILE_H

#include <stddef.h>
#include <stdint.h>

/*
 * The longest payload taken, either way: 64 GiB, eight times the worst case
 * the daemon is sized for (ten million profiles speaking SMTP, 7.5 GB), yet
 * a bound on what a damaged header can claim.
 */
#define MG_STATE_LEN_MAX ((uint64_t)64 << 30)
/* Version 1. Returns 0, -EFBIG for a payload over MG_STATE_LEN_MAX, or another -errno. */
int mg_state_write(const char *path, const void *data, size_t len);
/*
 * The same file written as its payload is made, piece by piece, so that no
 * writer needs the whole of it in memory (7.5 GB for ten million profiles
 * speaking SMTP), version 2: open, put as often as needed, then commit (the file
 * replaces the old one atomically) or abort (the old one stays). A failed
 * put (-EFBIG past MG_STATE_LEN_MAX, a full disk's -ENOSPC) is given again
 * by every later call, commit included. Commit and abort free the handle.
 */
struct mg_state_out;
int mg_state_out_open(struct mg_state_out **out, const char *path);
int mg_state_out_put(struct mg_state_out *o, const void *data, size_t len);
int mg_state_out_commit(struct mg_state_out *o);
void mg_state_out_abort(struct mg_state_out *o); /* NULL: nothing */
/*
 * The payload handed to fn as it is decompressed, in pieces of at most
 * MG_STATE_CHUNK bytes (their bounds fall anywhere, not on the caller's
 * records), so no reader needs the whole of it in memory. fn returns 0 to go
 * on or a -errno to stop, returned as it is. The file is checked as it goes
 * and at its end (the gzip trailer's CRC-32 and length; for version 1 the
 * header's length and CRC-32 too; nothing after the stream): 0 means all of
 * it passed. Any other outcome after fn
 * was called means what fn was given must be thrown away, since its end
 * could not be vouched for: -ENOENT if there is no file, -EINVAL if it is
 * damaged or not a regular file, or another -errno.
 */
#define MG_STATE_CHUNK ((size_t)1 << 20)
typedef int (*mg_state_chunk_fn)(void *ctx, const uint8_t *data, size_t len);
int mg_state_read_stream(const char *path, mg_state_chunk_fn fn, void *ctx);
/*
 * The whole payload at once (for the small files: the rules, the imported
 * lists). Returns 0 (with *data from malloc), or as mg_state_read_stream.
 */
int mg_state_read(const char *path, uint8_t **data, size_t *len);
/*
 * crc32() over len bytes, slice bytes per call to zlib, whose length argument
 * is 32 bits: a payload of 4 GiB or more would otherwise be checksummed short.
 * The slice is a parameter so that a test can check the slicing on a small
 * buffer.
 */
uint32_t mg_state_crc32(uint32_t crc, const void *data, size_t len, size_t slice);
/*
 * Keep the file at path as it is, under <path>.unreadable-<UTC time>, before
 * the next save replaces it: for a file that could not be restored, or only
 * in part, the copy is all that is left of what was refused. At most
 * MG_STATE_COPIES_MAX copies of one file are kept (the oldest go). Returns 0
 * with the copy's name in copy, or -errno.
 */
#define MG_STATE_COPIES_MAX 5
int mg_state_keep_copy(const char *path, uint64_t wall_ns, char *copy, size_t len);
/* mkdir -p (mode 0750) of the directories above path: state, rules and socket files. */
void mg_make_parent_dirs(const char *path);

#endif
