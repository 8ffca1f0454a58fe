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

/* Returns 0 or -errno. */
int mg_state_write(const char *path, const void *data, size_t len);
/*
 * Returns 0 (with *data from malloc), -ENOENT if there is no file, -EINVAL if
 * it is damaged or not a regular file, or another -errno it could not be opened with.
 */
int mg_state_read(const char *path, uint8_t **data, size_t *len);
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
