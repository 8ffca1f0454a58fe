/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_atomic_file.h - replace a file so that a reader, or a crash, only ever
 * sees the old content or the new one, never a mix or a truncated file.
 *
 * The new content goes to a temporary file in the same directory (a rename
 * is atomic only within one filesystem), named <basename>.tmp.XXXXXX with a
 * random suffix and created with O_EXCL, so no name can be predicted and a
 * link planted in the directory is never followed; the rename replaces a
 * link at path itself rather than writing through it. The temporary is
 * written in full, fsync'ed, renamed over the old file, and the directory is
 * fsync'ed so the rename itself survives a power cut. On any failure the
 * temporary file is removed, the old file stays as it was, and the error is
 * the system's own (-ENOSPC for a full disk, never a generic -EIO).
 *
 * A process killed between creating the temporary file and renaming it
 * leaves the temporary behind; mg_atomic_clean_stale() removes those at the
 * next start.
 */
#ifndef MG_ATOMIC_FILE_H
#define MG_ATOMIC_FILE_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

/* For writers that stream (a compressed stream, say) rather than hand over a buffer. */
struct mg_atomic_file {
	int fd;             /* the temporary file, open for writing; -1 when closed */
	const char *path;   /* the file to replace; must live until commit or abort */
	char tmp[PATH_MAX]; /* the temporary file's name */
};

/*
 * Create the temporary file for path, with exactly mode (the umask does not
 * apply: the caller knows who must read the file). Returns 0 or -errno
 * (-ENOENT if the directory does not exist); on failure nothing is left.
 */
int mg_atomic_open(struct mg_atomic_file *f, const char *path, mode_t mode);
/*
 * Write all of data to the temporary file. Returns 0 or -errno as write()
 * gave it (a full disk is -ENOSPC); the caller then aborts.
 */
int mg_atomic_append(struct mg_atomic_file *f, const void *data, size_t len);
/*
 * fsync, close, rename over path, fsync the directory. Returns 0 or -errno;
 * the temporary file is gone either way. An error from the directory's fsync
 * comes after the rename: the new content is in place but might not survive
 * a crash.
 */
int mg_atomic_commit(struct mg_atomic_file *f);
/* Give up: close and remove the temporary file; path is untouched. */
void mg_atomic_abort(struct mg_atomic_file *f);

/* All of the above for data in memory. Returns 0 or -errno. */
int mg_atomic_write(const char *path, const void *data, size_t len, mode_t mode);

/*
 * Remove the temporaries a killed writer left next to path: <basename>.tmp.*
 * and <basename>.tmp (the fixed name older versions used for some files).
 * Other files are kept. Call it at start, before anything writes path: a
 * writer's temporary removed under it makes its commit fail.
 * Returns how many were removed, 0 if the directory does not exist, or
 * -errno (the first failure; the others are still tried).
 */
int mg_atomic_clean_stale(const char *path);

#endif
