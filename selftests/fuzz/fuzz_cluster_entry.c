// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz_cluster_entry.c - an entry as another node (or anyone with access to
 * the NATS bucket) can write it: a key and a value, through the codec
 * (user/mg_cluster_codec.c) and on into the receiving table
 * (user/mg_cluster_recv.c). The input is KEY, a NUL byte, VALUE. Whatever
 * comes in: a refusal says why in one line, and an entry taken writes back to
 * the same key and a value that reads back the same.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mg_cluster_codec.h"
#include "mg_cluster_recv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	char err[160], key[MG_CL_KEY_MAX], value[MG_CL_VALUE_MAX];
	struct mg_cl_entry e, back;

	if (!nul)
		return 0;
	char *k = strndup((const char *)data, (size_t)(nul - data));
	/* The value in a buffer of exactly its length: reading past it is a finding. */
	size_t vlen = size - (size_t)(nul - data) - 1;
	uint8_t *v = malloc(vlen ? vlen : 1);
	memcpy(v, nul + 1, vlen);
	err[0] = '\0';
	if (mg_cl_parse_key(k, &e, err, sizeof(err))) {
		assert(err[0] && !strchr(err, '\n'));
		goto out;
	}
	assert(mg_cl_key(&e, key, sizeof(key)) == 0 && !strcmp(key, k));
	if (mg_cl_parse_value(v, vlen, &e, err, sizeof(err))) {
		assert(err[0]);
		goto out;
	}
	if (mg_cl_value(&e, value, sizeof(value)) == 0) {
		back = e;
		back.why[0] = '\0';
		assert(mg_cl_parse_value(value, strlen(value), &back, err, sizeof(err)) == 0);
		assert(back.action == e.action && back.expires_wall == e.expires_wall && back.at_wall == e.at_wall);
		assert(!strcmp(back.why, e.why));
	}
	struct mg_clrecv *r = mg_clrecv_new();
	struct mg_cl_want w;
	if (r) {
		mg_clrecv_put(r, &e, e.expires_wall, &w);
		assert(w.origins == 1);
		assert(mg_clrecv_del(r, e.kind, e.node, &e.prefix, &w) && w.origins == 0);
		mg_clrecv_free(r);
	}
out:
	free(v);
	free(k);
	return 0;
}
