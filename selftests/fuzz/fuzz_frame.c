// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz_frame.c - the replay's frame conversion (tools/mg_frame.c) on any
 * bytes: the first byte picks the link type, the rest is the captured frame.
 * Whatever comes in, the Ethernet frame out fits its buffer and the source
 * lookup reads only within it.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mg_frame.h"

static const int link_types[] = {
	MG_DLT_NULL, MG_DLT_EN10MB, MG_DLT_RAW, MG_DLT_RAW_BSD, MG_DLT_LOOP,
	MG_DLT_LINUX_SLL, MG_DLT_IPV4, MG_DLT_IPV6, MG_DLT_LINUX_SLL2, 9999,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	int dlt = link_types[data[0] % (sizeof(link_types) / sizeof(link_types[0]))];
	/* The wire length: as captured, or (second byte odd) larger, as a snap length would leave it. */
	size_t caplen = size - 2, len = caplen + (data[1] & 1 ? 1500 : 0);
	/* A copy of exactly caplen bytes, so reading past it is a finding. */
	uint8_t *in = malloc(caplen ? caplen : 1);
	memcpy(in, data + 2, caplen);
	size_t outcap = caplen + 64;
	uint8_t *out = malloc(outcap);
	bool repaired = false;
	int n = mg_frame_to_eth(dlt, in, caplen, len, out, outcap, &repaired);
	assert(n <= (int)outcap);
	if (n > 0) {
		uint8_t addr[16];
		/* The frame in a buffer of its own length: the source lookup must stay inside. */
		uint8_t *f = malloc((size_t)n);
		memcpy(f, out, (size_t)n);
		(void)mg_frame_src(f, (size_t)n, addr);
		free(f);
	}
	free(out);
	free(in);
	return 0;
}
