// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz_config.c - the configuration parser (user/mg_config.c) on any bytes,
 * as a file would hand them to it: a NUL-terminated copy (mg_config_load
 * refuses a NUL inside, so the text is cut at the first one). Whatever comes
 * in, the parse succeeds or refuses with one "NAME:LINE:COL: ..." line,
 * leaves the config it refused as it was, and frees what it took.
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), err[512];
	struct mg_config c, before;

	memcpy(text, data, size);
	text[size] = '\0';
	mg_config_default(&c);
	/* Over a config that owns lists, as a reload's would: a refusal must keep them. */
	assert(mg_config_parse("{\"allowlist\": [\"198.18.5.0/24\"], \"mail_servers\": [\"198.18.1.10\"]}", "base.json",
			       &c, err, sizeof(err)) == 0);
	before = c;
	err[0] = '\0';
	int e = mg_config_parse(text, "fuzz.json", &c, err, sizeof(err));
	if (e) {
		assert(!strncmp(err, "fuzz.json:", 10) || !strcmp(err, "fuzz.json: out of memory"));
		assert(!strchr(err, '\n'));
		assert(!memcmp(&c, &before, sizeof(c)));
	} else {
		/* What a successful parse promises the daemon. */
		assert(c.pin_dir[0] == '/' && c.state_file[0] == '/' && c.control_socket[0] == '/');
		assert(c.an.block_ns >= 1000000000ull && c.an.block_ns <= MG_DURATION_MAX_NS);
		assert(c.an.max_block_ns <= MG_DURATION_MAX_NS && c.an.max_block_ns >= c.an.block_ns);
		assert(c.scan_interval_ns && c.state_interval_ns && c.hold_suspect_ns && c.hold_outbreak_ns);
		assert(c.min_prefix_v6 <= c.tunables.v6_src_prefix);
		for (size_t i = 0; i < c.allowlist.n; i++)
			assert(mg_prefix_family_len(&c.allowlist.v[i]) > 0);
	}
	mg_config_free(&c);
	free(text);
	return 0;
}
