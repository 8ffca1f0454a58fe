/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dir_entries.h - how many entries a directory holds, "." and ".." aside:
 * for the tests of writers that must leave no temporary file behind.
 */
#ifndef MG_DIR_ENTRIES_H
#define MG_DIR_ENTRIES_H

/* The count, or -1 if the directory cannot be read. */
int dir_entries(const char *dir);

#endif
