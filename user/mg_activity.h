/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_activity.h - the protected networks' activity records (mg_activity):
 * where each address's record lies, and what a record says.
 *
 * The kernel keeps one 16-byte record per protected IPv4 address and per
 * protected IPv6 /64 (headers/mtaguard.h, bpf/activity.h). Here: the range
 * table built from `protected_networks` (the loader puts it in the program's
 * read-only data, so changing it takes a restart), and a read-only view of
 * the records that the analyzer consults. The view is the daemon's whole
 * cost per protected address: the kernel's pages, mapped, and no copy.
 *
 * Pure: no syscalls. The shell fills the view (mg_kernel_sink), the
 * analyzer and the tests read it.
 */
#ifndef MG_ACTIVITY_H
#define MG_ACTIVITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "mtaguard.h"
#include "mg_addr.h"

const char *mg_act_class_name(enum mg_act_class c); /* "web", "dns", "other_tcp", "mx" */

/*
 * The range table for `nets` (config order; a network inside another listed
 * one shares its records). 0, or -EINVAL with one line in err naming what
 * does not fit (more than MG_ACT_MAX_RANGES networks, or more than
 * MG_ACT_MAX_RECORDS records in all) and *bad the index of the network that
 * broke the bound. IPv6 networks count in /64s; one longer than /64 gets
 * its /64's record.
 */
int mg_act_plan(const struct mg_prefix *nets, size_t n, struct mg_act_range out[MG_ACT_MAX_RANGES], size_t *bad,
		char *err, size_t errlen);
/* Records the table needs (0 for none). */
uint32_t mg_act_records(const struct mg_act_range r[MG_ACT_MAX_RANGES]);
bool mg_act_ranges_eq(const struct mg_act_range a[MG_ACT_MAX_RANGES], const struct mg_act_range b[MG_ACT_MAX_RANGES]);

/* The kernel's records as the shell read (or mapped) them. */
struct mg_act_view {
	const struct mg_activity *rec; /* n records; NULL when there are none */
	uint32_t n;
	struct mg_act_range ranges[MG_ACT_MAX_RANGES];
	uint32_t now; /* the kernel's coarse clock >> MG_ACT_TIME_SHIFT, as of the read */
};

/* Index of the record of addr (IPv4: the address, IPv6: its /64), or -1 outside the protected networks. */
int64_t mg_act_index(const struct mg_act_view *v, const uint8_t addr[16]);
/* The record of addr, or NULL (outside, or never seen). */
const struct mg_activity *mg_act_find(const struct mg_act_view *v, const uint8_t addr[16]);
/* The address (/32) or network (/64) record idx stands for. False if idx lies in no range. */
bool mg_act_prefix_of(const struct mg_act_view *v, uint32_t idx, struct mg_prefix *out);

/* Seen at all, ever. */
static inline bool mg_act_seen(const struct mg_activity *r)
{
	return r && (r->classes & MG_ACT_F_SEEN);
}
/* Ordinary use (web or other TCP) ever seen: what makes an end host. */
static inline bool mg_act_ordinary(const struct mg_activity *r)
{
	return mg_act_seen(r) && (r->classes & MG_ACT_ORDINARY);
}
/* Nanoseconds since the record was last touched, as of the view's read. */
uint64_t mg_act_age_ns(const struct mg_act_view *v, const struct mg_activity *r);
/* Hosts in an IPv6 /64, estimated from the record's 16 hashed bits (linear counting). */
unsigned mg_act_hosts(const struct mg_activity *r);
/*
 * A record as the control socket and the replay report show it: flows
 * started per class, the classes seen, ordinary use, and (IPv6 /64) the
 * estimated number of hosts in it.
 */
json_t *mg_act_json(const struct mg_activity *r, bool v6);

#endif
