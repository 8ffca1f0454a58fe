/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_statefile.h - the daemon's state file: a gzip stream holding a small
 * header (magic, version, length, CRC-32) and the analyzer's saved state.
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
/* Returns 0, -EFBIG for a payload over MG_STATE_LEN_MAX, or another -errno. */
int mg_state_write(const char *path, const void *data, size_t len);
/*
 * The payload handed to fn as it is decompressed, in pieces of at most
 * MG_STATE_CHUNK bytes (their bounds fall anywhere, not on the caller's
 * records), so no reader needs the whole of it in memory. fn returns 0 to go
 * on or a -errno to stop, returned as it is. The file is checked as it goes
 * and at its end (length, CRC-32 of the payload, the gzip trailer, nothing
 * after the stream): 0 means all of it passed. Any other outcome after fn
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
