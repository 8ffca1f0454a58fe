/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_intern.h - a shared table of short strings, counted by reference.
 *
 * The analyzer keeps the last HELO name of the sources that spoke SMTP to
 * an MX whose text it holds (mg_an_config.helo_texts). Names repeat (a botnet's hosts share a handful, a mail server keeps
 * its own for years), so a source holds a 4-byte id and the text is stored
 * once, with a count of the sources holding it; the last one to let go of a
 * name frees it. Ids are never 0 (0: no name). The texts are kept in one
 * arena (mg_intern.c): 5 bytes and the text, rounded up to 8, and about 8
 * more for its hash slot.
 */
#ifndef MG_INTERN_H
#define MG_INTERN_H

#include <stddef.h>
#include <stdint.h>

#define MG_INTERN_LEN_MAX 255 /* longer strings are refused */

struct mg_intern;

struct mg_intern *mg_intern_new(void);
void mg_intern_free(struct mg_intern *t);
/* The id of this text, with one more reference to it; 0 when out of memory, len is 0 or over the maximum. */
uint32_t mg_intern_get(struct mg_intern *t, const char *s, size_t len);
/* One reference less (id 0: nothing); the text is freed with the last one. */
void mg_intern_put(struct mg_intern *t, uint32_t id);
/*
 * The text of a live id (not NUL-terminated) and its length; NULL for 0 or an
 * id not in use. The pointer holds until the next mg_intern_get().
 */
const char *mg_intern_str(const struct mg_intern *t, uint32_t id, size_t *len);
/* References to a live id (0 if not in use), and texts held: for tests and memory figures. */
uint32_t mg_intern_refs(const struct mg_intern *t, uint32_t id);
size_t mg_intern_count(const struct mg_intern *t);

#endif
