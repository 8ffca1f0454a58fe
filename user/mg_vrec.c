// SPDX-License-Identifier: GPL-2.0-only
/* mg_vrec.c - verification records by profile key (see mg_vrec.h). */
#include <stdlib.h>
#include <string.h>

#include "mg_keyhash.h"
#include "mg_vrec.h"

static uint32_t slot_of(const struct mg_vrecs *t, const uint8_t key[16])
{
	return (uint32_t)mg_key_hash(key, 0) & (t->cap - 1);
}

struct mg_vrec *mg_vrec_find(const struct mg_vrecs *t, const uint8_t key[16])
{
	if (!t->cap)
		return NULL;
	for (uint32_t i = slot_of(t, key);; i = (i + 1) & (t->cap - 1)) {
		struct mg_vrec *r = &t->v[i];
		if (!r->used)
			return NULL;
		if (!memcmp(r->key, key, 16))
			return r;
	}
}

static int grow(struct mg_vrecs *t)
{
	struct mg_vrecs n = { .cap = t->cap ? t->cap * 2 : 64 };

	n.v = calloc(n.cap, sizeof(*n.v));
	if (!n.v)
		return -1;
	for (uint32_t i = 0; i < t->cap; i++) {
		if (!t->v[i].used)
			continue;
		uint32_t j = slot_of(&n, t->v[i].key);
		while (n.v[j].used)
			j = (j + 1) & (n.cap - 1);
		n.v[j] = t->v[i];
		n.n++;
	}
	free(t->v);
	*t = n;
	return 0;
}

struct mg_vrec *mg_vrec_get(struct mg_vrecs *t, const uint8_t key[16])
{
	struct mg_vrec *r = mg_vrec_find(t, key);

	if (r)
		return r;
	/* At most half full: probes stay short. */
	if ((t->n + 1) * 2 > t->cap && grow(t))
		return NULL;
	uint32_t i = slot_of(t, key);
	while (t->v[i].used)
		i = (i + 1) & (t->cap - 1);
	r = &t->v[i];
	memset(r, 0, sizeof(*r));
	memcpy(r->key, key, 16);
	r->used = 1;
	t->n++;
	return r;
}

void mg_vrec_del(struct mg_vrecs *t, const uint8_t key[16])
{
	struct mg_vrec *r = mg_vrec_find(t, key);

	if (!r)
		return;
	uint32_t mask = t->cap - 1, i = (uint32_t)(r - t->v);
	r->used = 0;
	t->n--;
	/* Backward shift: later entries of the run move into the hole if their home allows. */
	for (uint32_t j = (i + 1) & mask; t->v[j].used; j = (j + 1) & mask) {
		uint32_t home = slot_of(t, t->v[j].key);
		if (((j - home) & mask) >= ((j - i) & mask)) {
			t->v[i] = t->v[j];
			t->v[j].used = 0;
			i = j;
		}
	}
}

void mg_vrec_clear(struct mg_vrecs *t)
{
	free(t->v);
	t->v = NULL;
	t->cap = t->n = 0;
}
