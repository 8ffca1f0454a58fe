// SPDX-License-Identifier: GPL-2.0-only
/* mg_intern.c - a shared table of short strings, counted by reference (see mg_intern.h). */
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "mg_intern.h"

/*
 * The texts live in one arena, each in a record of its reference count,
 * its length and the text, rounded up to 8 bytes: a 33-byte name takes 40
 * bytes, with no allocator header and no pointer to it (a malloc'ed entry
 * cost 48 and an 8-byte pointer). A text's id is where its record starts,
 * in 8-byte units, plus one, so no table of ids is needed either.
 *
 * A freed record goes on the free list of its size (length 0 marks it free;
 * its count field holds the next free record of that size), and the next
 * text of that size takes it, so ids are reused. The hash is not kept: it
 * is computed again when the table grows or a text leaves it.
 */
struct rec {
	uint32_t refs;  /* free: the next free record of this size (id), 0 = none */
	uint8_t len;    /* 0: free */
	char s[];
};
#define UNIT 8
#define REC_UNITS(len) ((offsetof(struct rec, s) + (len) + UNIT - 1) / UNIT)
#define CLASSES (REC_UNITS(MG_INTERN_LEN_MAX) + 1)
#define ARENA_MIN_UNITS 512
#define ARENA_MAX_UNITS (UINT32_MAX - 1) /* ids stay below UINT32_MAX: 32 GiB of texts */

struct mg_intern {
	uint64_t *arena;             /* in UNITs, 8-byte aligned records */
	uint32_t used, cap;          /* units handed out (free records included), allocated */
	uint32_t free_head[CLASSES]; /* per record size in units: a free record's id, 0 = none */
	uint32_t *slots;             /* open addressing by text: id, 0 = empty */
	uint32_t nslots, live;
};

static struct rec *rec_of(const struct mg_intern *t, uint32_t id)
{
	return (struct rec *)(void *)&t->arena[id - 1];
}

static uint32_t text_hash(const char *s, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)s[i]) * 16777619u;
	return h ^ (h >> 15);
}

struct mg_intern *mg_intern_new(void)
{
	return calloc(1, sizeof(struct mg_intern));
}

void mg_intern_free(struct mg_intern *t)
{
	if (!t)
		return;
	free(t->arena);
	free(t->slots);
	free(t);
}

/*
 * The ids of live texts, in arena order: a record's size is known from its
 * length, a free one's from the free list it is on, so walking needs the
 * free records marked with their size: a free record keeps its length in
 * the text's first byte (every record has room for one).
 */
static uint32_t next_id(const struct mg_intern *t, uint32_t id)
{
	const struct rec *r = rec_of(t, id);
	size_t len = r->len ? r->len : (uint8_t)r->s[0];

	return id + (uint32_t)REC_UNITS(len);
}

static int rehash(struct mg_intern *t, uint32_t nslots)
{
	uint32_t *slots = calloc(nslots, sizeof(*slots));

	if (!slots)
		return -1;
	for (uint32_t id = 1; id <= t->used; id = next_id(t, id)) {
		const struct rec *r = rec_of(t, id);
		if (!r->len)
			continue;
		uint32_t j = text_hash(r->s, r->len) & (nslots - 1);
		while (slots[j])
			j = (j + 1) & (nslots - 1);
		slots[j] = id;
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
		const struct rec *x = rec_of(t, t->slots[j]);
		if (x->len == len && !memcmp(x->s, s, len))
			break;
	}
	return j;
}

/* Room for a record of `units`: a free one of that size, else the arena's end (grown); 0 without memory. */
static uint32_t take_room(struct mg_intern *t, uint32_t units)
{
	uint32_t id = t->free_head[units];

	if (id) {
		t->free_head[units] = rec_of(t, id)->refs;
		return id;
	}
	if (t->used + units > t->cap) {
		if (t->used + units > ARENA_MAX_UNITS)
			return 0;
		uint64_t c = t->cap ? (uint64_t)t->cap * 2 : ARENA_MIN_UNITS;
		while (c < (uint64_t)t->used + units)
			c *= 2;
		if (c > ARENA_MAX_UNITS)
			c = ARENA_MAX_UNITS;
		uint64_t *n = realloc(t->arena, (size_t)c * UNIT);
		if (!n)
			return 0;
		t->arena = n;
		t->cap = (uint32_t)c;
	}
	id = t->used + 1;
	t->used += units;
	return id;
}

uint32_t mg_intern_get(struct mg_intern *t, const char *s, size_t len)
{
	if (!len || len > MG_INTERN_LEN_MAX)
		return 0;
	uint32_t hash = text_hash(s, len);
	if (t->nslots) {
		uint32_t id = t->slots[slot_of(t, s, len, hash)];
		if (id) {
			rec_of(t, id)->refs++;
			return id;
		}
	}
	/* Up to 3/4 full: 4 bytes a slot, so 5 to 11 bytes a text. */
	if ((uint64_t)(t->live + 1) * 4 > (uint64_t)t->nslots * 3 && rehash(t, t->nslots ? t->nslots * 2 : 256))
		return 0;
	uint32_t id = take_room(t, (uint32_t)REC_UNITS(len));
	if (!id)
		return 0;
	struct rec *x = rec_of(t, id);
	x->refs = 1;
	x->len = (uint8_t)len;
	memcpy(x->s, s, len);
	t->slots[slot_of(t, s, len, hash)] = id;
	t->live++;
	return id;
}

/* A live id: one where a record starts (ids come only from mg_intern_get) that is not free. */
static bool live_id(const struct mg_intern *t, uint32_t id)
{
	return id && id <= t->used && rec_of(t, id)->len;
}

void mg_intern_put(struct mg_intern *t, uint32_t id)
{
	if (!live_id(t, id))
		return;
	struct rec *x = rec_of(t, id);
	if (--x->refs)
		return;
	/* Out of the hash: backward-shift deletion keeps linear probing correct without tombstones. */
	uint32_t mask = t->nslots - 1, i = slot_of(t, x->s, x->len, text_hash(x->s, x->len));
	t->slots[i] = 0;
	for (uint32_t j = (i + 1) & mask; t->slots[j]; j = (j + 1) & mask) {
		const struct rec *y = rec_of(t, t->slots[j]);
		uint32_t home = text_hash(y->s, y->len) & mask;
		if (((j - home) & mask) >= ((j - i) & mask)) {
			t->slots[i] = t->slots[j];
			t->slots[j] = 0;
			i = j;
		}
	}
	uint32_t units = (uint32_t)REC_UNITS(x->len);
	x->s[0] = (char)x->len; /* the size, for next_id() */
	x->len = 0;
	x->refs = t->free_head[units];
	t->free_head[units] = id;
	t->live--;
}

const char *mg_intern_str(const struct mg_intern *t, uint32_t id, size_t *len)
{
	if (!live_id(t, id)) {
		*len = 0;
		return NULL;
	}
	*len = rec_of(t, id)->len;
	return rec_of(t, id)->s;
}

uint32_t mg_intern_refs(const struct mg_intern *t, uint32_t id)
{
	return live_id(t, id) ? rec_of(t, id)->refs : 0;
}

size_t mg_intern_count(const struct mg_intern *t)
{
	return t->live;
}
