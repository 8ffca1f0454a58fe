// SPDX-License-Identifier: GPL-2.0-only
/* mg_intern.c - a shared table of short strings, counted by reference (see mg_intern.h). */
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "mg_intern.h"

/*
 * One text, allocated to its length: 5 bytes and the text, so a 33-byte
 * name takes a 48-byte chunk of malloc's. The hash is not kept: it is
 * computed again when the table grows or a text leaves it.
 */
struct entry {
	uint32_t refs;
	uint8_t len;
	char s[];
};
#define ENTRY_SIZE(len) (offsetof(struct entry, s) + (len))

struct mg_intern {
	struct entry **e;   /* by id - 1; NULL: free */
	uint32_t n, cap;    /* ids handed out (free ones included), allocated */
	uint32_t *free_ids;
	uint32_t nfree, capfree;
	uint32_t *slots;    /* open addressing by text: id, 0 = empty */
	uint32_t nslots, live;
};

static uint32_t text_hash(const char *s, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)s[i]) * 16777619u;
	return h ^ (h >> 15);
}

static bool grow_u32(uint32_t **v, uint32_t *cap, uint32_t need)
{
	if (need <= *cap)
		return true;
	uint32_t c = *cap ? *cap * 2 : 64;
	while (c < need)
		c *= 2;
	uint32_t *n = realloc(*v, (size_t)c * sizeof(*n));
	if (!n)
		return false;
	*v = n;
	*cap = c;
	return true;
}

struct mg_intern *mg_intern_new(void)
{
	return calloc(1, sizeof(struct mg_intern));
}

void mg_intern_free(struct mg_intern *t)
{
	if (!t)
		return;
	for (uint32_t i = 0; i < t->n; i++)
		free(t->e[i]);
	free(t->e);
	free(t->free_ids);
	free(t->slots);
	free(t);
}

static int rehash(struct mg_intern *t, uint32_t nslots)
{
	uint32_t *slots = calloc(nslots, sizeof(*slots));

	if (!slots)
		return -1;
	for (uint32_t i = 0; i < t->n; i++) {
		if (!t->e[i])
			continue;
		uint32_t j = text_hash(t->e[i]->s, t->e[i]->len) & (nslots - 1);
		while (slots[j])
			j = (j + 1) & (nslots - 1);
		slots[j] = i + 1;
	}
	free(t->slots);
	t->slots = slots;
	t->nslots = nslots;
	return 0;
}

/* The slot holding this text, or the empty one where it would go. */
static uint32_t slot_of(const struct mg_intern *t, const char *s, size_t len, uint32_t hash)
{
	uint32_t j = hash & (t->nslots - 1);

	for (; t->slots[j]; j = (j + 1) & (t->nslots - 1)) {
		const struct entry *x = t->e[t->slots[j] - 1];
		if (x->len == len && !memcmp(x->s, s, len))
			break;
	}
	return j;
}

uint32_t mg_intern_get(struct mg_intern *t, const char *s, size_t len)
{
	if (!len || len > MG_INTERN_LEN_MAX)
		return 0;
	uint32_t hash = text_hash(s, len);
	if (t->nslots) {
		uint32_t id = t->slots[slot_of(t, s, len, hash)];
		if (id) {
			t->e[id - 1]->refs++;
			return id;
		}
	}
	if ((t->live + 1) * 2 > t->nslots && rehash(t, t->nslots ? t->nslots * 2 : 256))
		return 0;
	uint32_t id;
	bool reused = t->nfree > 0;
	if (reused) {
		id = t->free_ids[--t->nfree];
	} else {
		if (t->n == t->cap) {
			uint32_t c = t->cap ? t->cap * 2 : 64;
			struct entry **e = realloc(t->e, (size_t)c * sizeof(*e));
			if (!e)
				return 0;
			t->e = e;
			t->cap = c;
		}
		id = ++t->n;
		t->e[id - 1] = NULL;
	}
	struct entry *x = malloc(ENTRY_SIZE(len));
	if (!x) {
		if (reused)
			t->nfree++; /* still in the list, where it was */
		else
			t->n--;
		return 0;
	}
	x->refs = 1;
	x->len = (uint8_t)len;
	memcpy(x->s, s, len);
	t->e[id - 1] = x;
	t->slots[slot_of(t, s, len, hash)] = id;
	t->live++;
	return id;
}

static bool live_id(const struct mg_intern *t, uint32_t id)
{
	return id && id <= t->n && t->e[id - 1];
}

void mg_intern_put(struct mg_intern *t, uint32_t id)
{
	if (!live_id(t, id))
		return;
	struct entry *x = t->e[id - 1];
	if (--x->refs)
		return;
	/* Out of the hash: backward-shift deletion keeps linear probing correct without tombstones. */
	uint32_t mask = t->nslots - 1, i = slot_of(t, x->s, x->len, text_hash(x->s, x->len));
	t->slots[i] = 0;
	for (uint32_t j = (i + 1) & mask; t->slots[j]; j = (j + 1) & mask) {
		const struct entry *y = t->e[t->slots[j] - 1];
		uint32_t home = text_hash(y->s, y->len) & mask;
		if (((j - home) & mask) >= ((j - i) & mask)) {
			t->slots[i] = t->slots[j];
			t->slots[j] = 0;
			i = j;
		}
	}
	free(x);
	t->e[id - 1] = NULL;
	t->live--;
	/* The id is reused; if the list cannot grow, it is merely never handed out again. */
	if (grow_u32(&t->free_ids, &t->capfree, t->nfree + 1))
		t->free_ids[t->nfree++] = id;
}

const char *mg_intern_str(const struct mg_intern *t, uint32_t id, size_t *len)
{
	if (!live_id(t, id)) {
		*len = 0;
		return NULL;
	}
	*len = t->e[id - 1]->len;
	return t->e[id - 1]->s;
}

uint32_t mg_intern_refs(const struct mg_intern *t, uint32_t id)
{
	return live_id(t, id) ? t->e[id - 1]->refs : 0;
}

size_t mg_intern_count(const struct mg_intern *t)
{
	return t->live;
}
