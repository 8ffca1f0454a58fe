/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_feeds.h - imported prefix lists (feeds), by origin.
 *
 * An origin is a name the operator gives a list (`mtaguardctl import FILE
 * --origin spamhaus-drop`): its prefixes, each with an expiry, and the
 * action its blocks take. In the engine's ledger every imported prefix is
 * one claim of the owner MG_OWNER_FEED, the aggregate of the origins that
 * list it (mg_feeds_want): so two feeds listing one prefix are one rule,
 * which stays until the last of them lets it go, and an allow beats it as
 * it beats every block.
 *
 * Each origin's prefixes are one sorted array: an import replaces it whole
 * (with --sync) or merges into it, and the sync diff is a walk of two
 * sorted arrays. Pure: no syscalls; times are wall-clock ns (they are
 * saved, and must mean the same after a reboot), MG_TIME_NEVER for none.
 */
#ifndef MG_FEEDS_H
#define MG_FEEDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "mg_addr.h"
#include "mg_ruleset.h"

#define MG_FEED_ORIGINS_MAX 32
#define MG_FEED_NAME_MAX 32 /* letters, digits, '.', '_', '-'; starting with a letter or digit */

struct mg_feed_item {
	struct mg_prefix prefix;
	uint64_t expires; /* wall ns, MG_TIME_NEVER: until removed */
};

struct mg_feed_origin {
	char name[MG_FEED_NAME_MAX + 1];
	uint8_t action;          /* MG_ACT_* */
	uint64_t updated;        /* wall ns of the last import */
	struct mg_feed_item *v;  /* sorted by prefix (mg_prefix_cmp), no repeats */
	size_t n;
	uint64_t next_expiry;    /* the earliest item expiry, MG_TIME_NEVER if none */
};

struct mg_feeds {
	struct mg_feed_origin o[MG_FEED_ORIGINS_MAX];
	size_t n;
};

/* Is s a good origin name? */
bool mg_feed_name_ok(const char *s);

void mg_feeds_init(struct mg_feeds *f);
void mg_feeds_free(struct mg_feeds *f);
/* The origin of that name, or NULL. */
struct mg_feed_origin *mg_feeds_find(struct mg_feeds *f, const char *name);
size_t mg_feeds_total(const struct mg_feeds *f);

/*
 * The sync diff of two sorted lists without repeats: which of `old` are not
 * in `new` (their indices into old, in order, into gone[]; gone has room for
 * nold) and how many of `new` were not in `old`. Returns the count in gone.
 */
size_t mg_feed_diff(const struct mg_prefix *old, size_t nold, const struct mg_prefix *new, size_t nnew,
		    size_t *gone, size_t *added);

/* What an import did (mg_feeds_import). */
struct mg_feed_change {
	size_t added, kept, removed, total; /* total: the origin's prefixes afterwards */
	struct mg_prefix *touched;          /* malloc'd, sorted: every prefix whose claim may change */
	size_t ntouched;
};

/*
 * Take a list into an origin (created if new; at most MG_FEED_ORIGINS_MAX):
 * `v` sorted without repeats (mg_prefix_sort_unique), each given `expires`.
 * sync: the origin becomes exactly v; otherwise v is merged in (prefixes
 * already there take the new expiry). The origin's action becomes `action`.
 * Returns 0 with *ch filled, -ENOSPC (too many origins) or -ENOMEM; on
 * failure nothing changed.
 */
int mg_feeds_import(struct mg_feeds *f, const char *origin, uint8_t action, const struct mg_prefix *v, size_t n,
		    uint64_t expires, bool sync, uint64_t wall, struct mg_feed_change *ch);
/* Remove an origin and all its prefixes; *touched as above. -ENOENT if there is none. */
int mg_feeds_drop(struct mg_feeds *f, const char *origin, struct mg_prefix **touched, size_t *ntouched);
/*
 * Take out the items expired at `wall` (only origins whose next_expiry has
 * come are walked). Returns how many; *touched (malloc'd) lists them.
 */
size_t mg_feeds_expire(struct mg_feeds *f, uint64_t wall, struct mg_prefix **touched);
/*
 * How many items mg_feeds_expire would take out at `wall`, changing
 * nothing: so that the caller can make room for them before the lists change.
 */
size_t mg_feeds_expiring(const struct mg_feeds *f, uint64_t wall);

/* The claim every origin listing p adds up to at `wall`: any "all" wins over "smtp", the latest expiry. */
bool mg_feeds_want(const struct mg_feeds *f, const struct mg_prefix *p, uint64_t wall, uint8_t *action,
		   uint64_t *expires);
/* The names of the origins that list p (comma-separated), for listings. */
void mg_feeds_origins_of(const struct mg_feeds *f, const struct mg_prefix *p, char *buf, size_t len);

/*
 * The feeds file: {"version":1,"origins":[{"name","action","updated","prefixes":["P" or "P@EXPIRES_S",…]}]}.
 * Restore checks every field; a bad item or origin is refused alone and counted in *refused.
 */
json_t *mg_feeds_save_json(const struct mg_feeds *f);
/*
 * The same document as text, rendered directly (malloc'd, NUL-ended, *len
 * without the NUL; NULL when out of memory): for 100 000 prefixes a tenth
 * of the time of building it in jansson, and the daemon's loop waits for it.
 */
char *mg_feeds_save_text(const struct mg_feeds *f, size_t *len);
int mg_feeds_restore_json(struct mg_feeds *f, const json_t *j, uint64_t wall, size_t *refused);

#endif
