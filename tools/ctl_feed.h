/* SPDX-License-Identifier: GPL-2.0-only */
/* ctl_feed.h - mtaguardctl import and export (ctl_feed.c). */
#ifndef CTL_FEED_H
#define CTL_FEED_H

#include <stdbool.h>

struct ctl_import_opts {
	const char *sock, *file, *origin, *action, *ttl;
	bool sync, drop, json;
};
/* Exit status as mtaguardctl's: 0, 1 refused, 2 usage (bad list), 3-5 the socket. */
int ctl_import(const struct ctl_import_opts *o);
int ctl_export(const char *sock, const char *origin, const char *format);

#endif
