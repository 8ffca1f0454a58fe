// SPDX-License-Identifier: GPL-2.0-only
/* mg_activity.c - the protected networks' activity records: ranges and reading (see mg_activity.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "mg_activity.h"

const char *mg_act_class_name(enum mg_act_class c)
{
	static const char *const names[MG_ACT_CLASS_MAX] = {
		[MG_ACT_WEB] = "web",
		[MG_ACT_DNS] = "dns",
		[MG_ACT_OTHER_TCP] = "other_tcp",
		[MG_ACT_MX] = "mx",
	};
	return (unsigned)c < MG_ACT_CLASS_MAX ? names[c] : "?";
}

static uint64_t be_bytes(const uint8_t *b, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | b[i];
	return v;
}

/* The prefix as the records see it: an IPv6 network longer than /64 is its /64. */
static struct mg_prefix effective(const struct mg_prefix *p)
{
	struct mg_prefix e = *p;

	if (!mg_prefix_is_v4(&e) && e.prefixlen > 64) {
		e.prefixlen = 64;
		mg_addr_mask(e.addr, 64);
	}
	return e;
}

/* Does `outer` hold every record of `inner` (same family)? */
static bool holds(const struct mg_prefix *outer, const struct mg_prefix *inner)
{
	return mg_prefix_is_v4(outer) == mg_prefix_is_v4(inner) && outer->prefixlen <= inner->prefixlen &&
	       mg_prefix_covers(outer, inner->addr);
}

int mg_act_plan(const struct mg_prefix *nets, size_t n, struct mg_act_range out[MG_ACT_MAX_RANGES], size_t *bad,
		char *err, size_t errlen)
{
	uint64_t total = 0;
	size_t used = 0;
	char buf[MG_ADDRSTRLEN];

	memset(out, 0, MG_ACT_MAX_RANGES * sizeof(*out));
	*bad = n;
	for (size_t i = 0; i < n; i++) {
		struct mg_prefix e = effective(&nets[i]);
		bool v4 = mg_prefix_is_v4(&e);
		bool inside = false;

		/* A network inside another listed one (before or after it) has its records there. */
		for (size_t j = 0; j < n && !inside; j++) {
			struct mg_prefix o = effective(&nets[j]);
			if (j != i && holds(&o, &e) && (o.prefixlen < e.prefixlen || j < i))
				inside = true;
		}
		if (inside)
			continue;
		unsigned host_bits = v4 ? 32 - mg_prefix_family_len(&e) : 64u - e.prefixlen;
		uint64_t size = host_bits >= 63 ? UINT64_MAX : 1ull << host_bits;
		if (used == MG_ACT_MAX_RANGES) {
			*bad = i;
			snprintf(err, errlen,
				 "%s: more than %d protected networks (every packet checks each one): list fewer, wider "
				 "networks",
				 mg_prefix_str(&nets[i], buf, sizeof(buf)), MG_ACT_MAX_RANGES);
			return -EINVAL;
		}
		if (size > MG_ACT_MAX_RECORDS || total + size > MG_ACT_MAX_RECORDS) {
			*bad = i;
			snprintf(err, errlen,
				 "%s needs %s%llu activity records (one per IPv4 address, one per IPv6 /64), and the protected "
				 "networks may have %u in all (an IPv4 /12, an IPv6 /44): list the networks in use",
				 mg_prefix_str(&nets[i], buf, sizeof(buf)), size == UINT64_MAX ? "over " : "",
				 (unsigned long long)size, MG_ACT_MAX_RECORDS);
			return -EINVAL;
		}
		out[used].family = v4 ? 4 : 6;
		out[used].base = v4 ? be_bytes(e.addr + 12, 4) : be_bytes(e.addr, 8);
		out[used].size = (uint32_t)size;
		out[used].offset = (uint32_t)total;
		total += size;
		used++;
	}
	return 0;
}

uint32_t mg_act_records(const struct mg_act_range r[MG_ACT_MAX_RANGES])
{
	uint32_t n = 0;

	for (int i = 0; i < MG_ACT_MAX_RANGES && r[i].size; i++)
		n += r[i].size;
	return n;
}

bool mg_act_ranges_eq(const struct mg_act_range a[MG_ACT_MAX_RANGES], const struct mg_act_range b[MG_ACT_MAX_RANGES])
{
	return !memcmp(a, b, MG_ACT_MAX_RANGES * sizeof(*a));
}

int64_t mg_act_index(const struct mg_act_view *v, const uint8_t addr[16])
{
	bool v4 = mg_addr_is_v4(addr);
	uint64_t n = v4 ? be_bytes(addr + 12, 4) : be_bytes(addr, 8);

	for (int i = 0; i < MG_ACT_MAX_RANGES && v->ranges[i].size; i++) {
		const struct mg_act_range *r = &v->ranges[i];
		if (r->family != (v4 ? 4 : 6))
			continue;
		uint64_t d = n - r->base;
		if (d < r->size)
			return (int64_t)r->offset + (int64_t)d;
	}
	return -1;
}

const struct mg_activity *mg_act_find(const struct mg_act_view *v, const uint8_t addr[16])
{
	if (!v || !v->rec)
		return NULL;
	int64_t i = mg_act_index(v, addr);
	if (i < 0 || (uint64_t)i >= v->n || !mg_act_seen(&v->rec[i]))
		return NULL;
	return &v->rec[i];
}

bool mg_act_prefix_of(const struct mg_act_view *v, uint32_t idx, struct mg_prefix *out)
{
	for (int i = 0; i < MG_ACT_MAX_RANGES && v->ranges[i].size; i++) {
		const struct mg_act_range *r = &v->ranges[i];
		if (idx < r->offset || idx - r->offset >= r->size)
			continue;
		uint64_t n = r->base + (idx - r->offset);
		memset(out, 0, sizeof(*out));
		if (r->family == 4) {
			uint8_t b[4] = { (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n };
			uint32_t be;
			memcpy(&be, b, 4);
			mg_addr_from_v4(out->addr, be);
			out->prefixlen = 128;
		} else {
			for (int k = 0; k < 8; k++)
				out->addr[k] = (uint8_t)(n >> (56 - 8 * k));
			out->prefixlen = 64;
		}
		return true;
	}
	return false;
}

uint64_t mg_act_age_ns(const struct mg_act_view *v, const struct mg_activity *r)
{
	/* The clock's low 32 bits of about-seconds wrap after 146 years: a plain difference, never negative. */
	uint32_t d = v->now - r->last_seen;
	return d > (1u << 31) ? 0 : (uint64_t)d << MG_ACT_TIME_SHIFT;
}

unsigned mg_act_hosts(const struct mg_activity *r)
{
	int ones = __builtin_popcount(r->hosts);

	if (ones == 0)
		return 0;
	if (ones >= 16)
		return 44; /* 16 ln 16: the most 16 bits can tell */
	return (unsigned)lround(-16.0 * log((16.0 - ones) / 16.0));
}

json_t *mg_act_json(const struct mg_activity *r, bool v6)
{
	json_t *o = json_object(), *flows = json_object(), *seen = json_array();

	for (int c = 0; c < MG_ACT_CLASS_MAX; c++) {
		json_object_set_new(flows, mg_act_class_name(c), json_integer(r->flows[c]));
		if (r->classes & (1u << c))
			json_array_append_new(seen, json_string(mg_act_class_name(c)));
	}
	json_object_set_new(o, "flows", flows);
	json_object_set_new(o, "seen", seen);
	json_object_set_new(o, "ordinary_use", json_boolean(mg_act_ordinary(r)));
	if (v6)
		json_object_set_new(o, "hosts_estimate", json_integer(mg_act_hosts(r)));
	return o;
}
