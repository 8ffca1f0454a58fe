// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz_feeds_file.c - the imported lists' file (STATE_FILE.feeds, loaded by
 * mg_feeds_restore_json) on any bytes: JSON or not, whatever comes in is
 * restored in part or refused; what is restored is sorted without repeats
 * within each origin, with good names and actions, and saves and restores
 * again to the same lists.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "mtaguard.h"
#include "mg_cidr_list.h"
#include "mg_feeds.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define WALL (1767225600ull * 1000000000ull)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j = json_loadb((const char *)data, size, 0, NULL);
	struct mg_feeds f, g;
	size_t refused;

	if (!j)
		return 0;
	mg_feeds_init(&f);
	if (mg_feeds_restore_json(&f, j, WALL, &refused) == 0) {
		for (size_t i = 0; i < f.n; i++) {
			const struct mg_feed_origin *o = &f.o[i];
			assert(mg_feed_name_ok(o->name));
			assert(o->action == MG_ACT_DROP_SMTP || o->action == MG_ACT_DROP_ALL);
			for (size_t k = 0; k < o->n; k++) {
				assert(o->v[k].expires > WALL);
				assert(!k || mg_prefix_cmp(&o->v[k - 1].prefix, &o->v[k].prefix) < 0);
			}
		}
		json_t *s = mg_feeds_save_json(&f);
		mg_feeds_init(&g);
		assert(mg_feeds_restore_json(&g, s, WALL, &refused) == 0 && refused == 0);
		assert(g.n == f.n);
		for (size_t i = 0; i < f.n; i++) {
			assert(g.o[i].n == f.o[i].n && g.o[i].action == f.o[i].action);
			for (size_t k = 0; k < f.o[i].n; k++) {
				assert(mg_prefix_eq(&g.o[i].v[k].prefix, &f.o[i].v[k].prefix));
				/* Saved in whole seconds. */
				assert(g.o[i].v[k].expires / 1000000000ull == f.o[i].v[k].expires / 1000000000ull);
			}
		}
		json_decref(s);
		mg_feeds_free(&g);
	}
	mg_feeds_free(&f);
	json_decref(j);
	return 0;
}
