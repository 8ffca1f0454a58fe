// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz_state_file.c - the state file's loader on any analyzer payload.
 *
 * The input is the payload: the harness writes it as a real state file (the
 * compressed stream with a valid header and checksum, mg_state_write), so
 * every input gets past the checksum to the record checks, and starts an
 * engine on a fake kernel from it, as the daemon does at start: the restore,
 * the verdicts claimed from it, a tick that judges and views every profile,
 * and a save. Nothing it holds may crash, overflow or leak.
 *
 * The first byte chooses: bit 0, the header's fixed fields (magic, version,
 * record sizes) are set right, so mutations reach the records rather than
 * dying at the header; bit 1, the timeline is the daemon's (2^60 ns) rather
 * than 3 s after boot. The rest is the payload.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_engine *fe = fuzz_engine_dir();

	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	size_t len = size - 1;
	uint8_t *payload = malloc(len ? len : 1);
	memcpy(payload, data + 1, len);
	if ((mode & 1) && len >= 16) {
		/* "MGAN", the version, sizeof(struct prof), sizeof(struct smtp): what mg_an_save writes. */
		uint32_t v[3] = { fe->version, fe->prof_size, fe->smtp_size };
		memcpy(payload, "MGAN", 4);
		memcpy(payload + 4, v, sizeof(v));
	}
	fuzz_engine_run(fe, payload, len, NULL, 0, mode & 2);
	free(payload);
	return 0;
}
