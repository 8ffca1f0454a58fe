// SPDX-License-Identifier: GPL-2.0-only
/* mg_statefile.c - atomic, checksummed, compressed state file (see mg_statefile.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <zlib.h>

#include "mg_atomic_file.h"
#include "mg_statefile.h"

#define STATE_MAGIC   0x5453474du /* "MGST" */
#define STATE_VERSION 1u
#define STATE_MAX     (1u << 30)  /* refuse absurd lengths from a damaged header */

struct state_header {
	uint32_t magic;
	uint32_t version;
	uint64_t len;
	uint32_t crc;
	uint32_t pad;
};

/* gzwrite takes an unsigned length: write in chunks. */
static int gz_write_all(gzFile gz, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len) {
		unsigned chunk = len > (1u << 30) ? (1u << 30) : (unsigned)len;
		if (gzwrite(gz, p, chunk) != (int)chunk)
			return -EIO;
		p += chunk;
		len -= chunk;
	}
	return 0;
}

int mg_state_write(const char *path, const void *data, size_t len)
{
	struct state_header h = {
		.magic = STATE_MAGIC,
		.version = STATE_VERSION,
		.len = len,
		.crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), data, (uInt)len),
	};
	struct mg_atomic_file f;
	int err;
	gzFile gz;

	if (len > STATE_MAX)
		return -EFBIG;
	/* 0600: profiles name the network's hosts and what they did. */
	err = mg_atomic_open(&f, path, 0600);
	if (err)
		return err;
	/* gzclose closes its descriptor; the commit still needs one to fsync. */
	gz = gzdopen(dup(f.fd), "wb6");
	if (!gz) {
		mg_atomic_abort(&f);
		return -ENOMEM;
	}
	err = gz_write_all(gz, &h, sizeof(h));
	if (!err)
		err = gz_write_all(gz, data, len);
	if (gzclose(gz) != Z_OK && !err)
		err = -EIO;
	if (err) {
		mg_atomic_abort(&f);
		return err;
	}
	return mg_atomic_commit(&f);
}

int mg_state_read(const char *path, uint8_t **data, size_t *len)
{
	struct state_header h;
	uint8_t *buf = NULL;
	gzFile gz;
	int err = 0;

	gz = gzopen(path, "rb");
	if (!gz)
		return errno == ENOENT ? -ENOENT : -EIO;
	if (gzread(gz, &h, sizeof(h)) != (int)sizeof(h) || h.magic != STATE_MAGIC ||
	    h.version != STATE_VERSION || h.len > STATE_MAX) {
		err = -EINVAL;
		goto out;
	}
	buf = malloc(h.len ? h.len : 1);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	if (gzread(gz, buf, (unsigned)h.len) != (int)h.len ||
	    (uint32_t)crc32(crc32(0L, Z_NULL, 0), buf, (uInt)h.len) != h.crc) {
		err = -EINVAL;
		goto out;
	}
	/* Anything after the payload, or a stream that does not end cleanly, is damage. */
	uint8_t extra;
	if (gzread(gz, &extra, 1) != 0) {
		err = -EINVAL;
		goto out;
	}
	int zerr;
	gzerror(gz, &zerr);
	if (zerr != Z_OK && zerr != Z_STREAM_END)
		err = -EINVAL;
out:
	gzclose(gz);
	if (err) {
		free(buf);
		return err;
	}
	*data = buf;
	*len = h.len;
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
