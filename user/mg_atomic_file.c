// SPDX-License-Identifier: GPL-2.0-only
/* mg_atomic_file.c - replace a file atomically and durably (see mg_atomic_file.h). */
#define _GNU_SOURCE /* mkostemp */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mg_atomic_file.h"

/* dirname() and basename() may modify their argument: work on copies. */
static int split_path(const char *path, char dir[PATH_MAX], char base[PATH_MAX])
{
	char a[PATH_MAX], b[PATH_MAX];

	if (snprintf(a, sizeof(a), "%s", path) >= (int)sizeof(a))
		return -ENAMETOOLONG;
	memcpy(b, a, sizeof(b));
	snprintf(dir, PATH_MAX, "%s", dirname(a));
	snprintf(base, PATH_MAX, "%s", basename(b));
	return 0;
}

static int fsync_dir_of(const char *path)
{
	char dir[PATH_MAX], base[PATH_MAX];
	int fd, err = split_path(path, dir, base);

	if (err)
		return err;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd))
		err = -errno;
	close(fd);
	return err;
}

int mg_atomic_open(struct mg_atomic_file *f, const char *path, mode_t mode)
{
	f->fd = -1;
	f->path = path;
	if (snprintf(f->tmp, sizeof(f->tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(f->tmp))
		return -ENAMETOOLONG;
	/*
	 * mkostemp: O_CREAT|O_EXCL on a random name, so nothing planted in the
	 * directory (a symlink to a decoy, a file of ours from a killed run) is
	 * ever opened or followed; O_NOFOLLOW says so once more.
	 */
	f->fd = mkostemp(f->tmp, O_CLOEXEC | O_NOFOLLOW);
	if (f->fd < 0)
		return -errno;
	/* mkostemp makes it 0600; the final file's readers may be others. */
	if (fchmod(f->fd, mode)) {
		int err = -errno;
		mg_atomic_abort(f);
		return err;
	}
	return 0;
}

void mg_atomic_abort(struct mg_atomic_file *f)
{
	if (f->fd < 0)
		return;
	close(f->fd);
	f->fd = -1;
	unlink(f->tmp);
}

int mg_atomic_commit(struct mg_atomic_file *f)
{
	int err = 0;

	if (f->fd < 0)
		return -EBADF;
	/* Data on disk before the rename, or a crash could leave an empty file under the real name. */
	if (fsync(f->fd))
		err = -errno;
	/* close() reports delayed write errors on some filesystems (NFS). */
	if (close(f->fd) && !err)
		err = -errno;
	f->fd = -1;
	if (!err && rename(f->tmp, f->path))
		err = -errno;
	if (err) {
		unlink(f->tmp);
		return err;
	}
	return fsync_dir_of(f->path);
}

int mg_atomic_append(struct mg_atomic_file *f, const void *data, size_t len)
{
	const char *p = data;

	if (f->fd < 0)
		return -EBADF;
	while (len) {
		ssize_t w = write(f->fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int mg_atomic_write(const char *path, const void *data, size_t len, mode_t mode)
{
	struct mg_atomic_file f;
	int err = mg_atomic_open(&f, path, mode);

	if (err)
		return err;
	err = mg_atomic_append(&f, data, len);
	if (err) {
		mg_atomic_abort(&f);
		return err;
	}
	return mg_atomic_commit(&f);
}

int mg_atomic_clean_stale(const char *path)
{
	char dir[PATH_MAX], base[PATH_MAX], prefix[PATH_MAX];
	int err = split_path(path, dir, base), removed = 0;
	struct dirent *e;
	DIR *d;

	if (err)
		return err;
	if (snprintf(prefix, sizeof(prefix), "%s.tmp", base) >= (int)sizeof(prefix))
		return -ENAMETOOLONG;
	size_t plen = strlen(prefix);
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d))) {
		/* <base>.tmp exactly, or <base>.tmp.<anything>; not <base>.tmpfoo. */
		if (strncmp(e->d_name, prefix, plen) || (e->d_name[plen] && e->d_name[plen] != '.'))
			continue;
		/* unlinkat without AT_REMOVEDIR leaves a directory of that name alone (EISDIR). */
		if (unlinkat(dirfd(d), e->d_name, 0) == 0)
			removed++;
		else if (errno != ENOENT && !err)
			err = -errno;
	}
	closedir(d);
	return err ? err : removed;
}
