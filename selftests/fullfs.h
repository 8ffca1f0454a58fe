/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * fullfs.h - a real full filesystem for the tests of what happens when a
 * write fails for want of space: a tmpfs of a few pages, mounted in a mount
 * namespace private to the test process (nothing outside it sees the mount),
 * and a filler file that takes every free byte.
 *
 * Needs root (CAP_SYS_ADMIN). Without it, fullfs_mount() says why and the
 * test skips; with MG_NO_SKIP=1 (CI, which runs as root) it fails instead.
 */
#ifndef MG_FULLFS_H
#define MG_FULLFS_H

#include <stddef.h>

/*
 * A fresh directory (dir: room for 64 bytes) with a tmpfs of `bytes` on it.
 * 0, or -1 with the reason in why: the caller skips (or fails, see above).
 */
int fullfs_mount(char *dir, size_t bytes, char *why, size_t whylen);
/* Take every free byte (dir/filler). 0 or -errno. */
int fullfs_fill(const char *dir);
/* Give the space back (remove dir/filler). */
void fullfs_drain(const char *dir);
/* Unmount and remove the directory. */
void fullfs_unmount(const char *dir);

/* In a cmocka test: the directory, or skip() / fail as described above. */
#define FULLFS_MOUNT_OR_SKIP(dir, bytes)                                                             \
	do {                                                                                         \
		char why_[160];                                                                      \
		if (fullfs_mount(dir, bytes, why_, sizeof(why_))) {                                  \
			const char *ns_ = getenv("MG_NO_SKIP");                                      \
			if (ns_ && !strcmp(ns_, "1"))                                                 \
				fail_msg("no full filesystem to test with, and MG_NO_SKIP=1: %s", why_); \
			print_message("skipped: %s\n", why_);                                         \
			skip();                                                                      \
		}                                                                                    \
	} while (0)

#endif
