// SPDX-License-Identifier: GPL-2.0-only
/* lib_fullfs.c - a small tmpfs in a private mount namespace, filled up (see fullfs.h). */
#define _GNU_SOURCE /* unshare */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "fullfs.h"

/* Once per process: later mounts stay in this process's namespace. */
static int private_namespace(char *why, size_t whylen)
{
	static bool done;

	if (done)
		return 0;
	if (geteuid() != 0) {
		snprintf(why, whylen, "a tmpfs mount needs root (running as uid %u)", (unsigned)geteuid());
		return -1;
	}
	if (unshare(CLONE_NEWNS)) {
		snprintf(why, whylen, "unshare(CLONE_NEWNS): %s", strerror(errno));
		return -1;
	}
	/*
	 * A new namespace keeps the parent's propagation: with / shared (systemd),
	 * the tmpfs would appear in the parent's namespace too. Private first.
	 */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) {
		snprintf(why, whylen, "making / private in the new mount namespace: %s", strerror(errno));
		return -1;
	}
	done = true;
	return 0;
}

int fullfs_mount(char *dir, size_t bytes, char *why, size_t whylen)
{
	char opts[64];

	if (private_namespace(why, whylen))
		return -1;
	snprintf(dir, 64, "/tmp/mg-fullfs.XXXXXX");
	if (!mkdtemp(dir)) {
		snprintf(why, whylen, "mkdtemp: %s", strerror(errno));
		return -1;
	}
	snprintf(opts, sizeof(opts), "size=%zu,mode=0700", bytes);
	if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, opts)) {
		snprintf(why, whylen, "mount -t tmpfs -o %s: %s", opts, strerror(errno));
		rmdir(dir);
		return -1;
	}
	return 0;
}

int fullfs_fill(const char *dir)
{
	static const char block[4096];
	char path[128];
	int fd, err = 0;

	snprintf(path, sizeof(path), "%s/filler", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	/* Pages, and what is left of one, until the filesystem says it is full. */
	for (;;) {
		if (write(fd, block, sizeof(block)) >= 0)
			continue;
		if (errno != ENOSPC)
			err = -errno;
		break;
	}
	close(fd);
	return err;
}

void fullfs_drain(const char *dir)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/filler", dir);
	unlink(path);
}

void fullfs_unmount(const char *dir)
{
	umount2(dir, MNT_DETACH);
	rmdir(dir);
}
