// SPDX-License-Identifier: GPL-2.0-only
/* mg_scan.c - batched reads of the kernel's per-source profiles (see mg_scan.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "mg_scan.h"

int mg_scan_init(struct mg_scan *sc, size_t batch)
{
	sc->batch = batch ? batch : 4096;
	sc->keys = calloc(sc->batch, sizeof(*sc->keys));
	sc->vals = calloc(sc->batch, sizeof(*sc->vals));
	if (!sc->keys || !sc->vals) {
		mg_scan_free(sc);
		return -ENOMEM;
	}
	return 0;
}

void mg_scan_free(struct mg_scan *sc)
{
	free(sc->keys);
	free(sc->vals);
	memset(sc, 0, sizeof(*sc));
}

long mg_scan_map(struct mg_scan *sc, int map_fd, mg_scan_fn fn, void *arg)
{
	struct mg_src_key out_batch;
	void *in = NULL;
	long total = 0;

	for (;;) {
		__u32 count = (__u32)sc->batch;
		int err = bpf_map_lookup_batch(map_fd, in, &out_batch, sc->keys, sc->vals, &count, NULL);
		int e = err ? errno : 0;

		_Static_assert(sizeof(struct mg_src_key) == 16, "keys are read as an array of 16-byte addresses");
		if (count)
			fn((const uint8_t(*)[16])sc->keys, sc->vals, count, arg);
		total += count;
		if (err) {
			/* ENOENT: the walk reached the end of the map. */
			return e == ENOENT ? total : -e;
		}
		in = &out_batch;
	}
}
