/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * policy.h - the allow/block decision for a source address.
 *
 * One LPM trie (mg_policy) holds allow and block rules, so a packet from an
 * unlisted source costs exactly one lookup. Longest prefix wins, with one
 * exception that safety demands: an allow rule anywhere above a block rule
 * wins over it. On a block hit we therefore walk up the covering rules (a
 * lookup with a shorter prefixlen finds the next one) for up to
 * MG_POLICY_MAX_NEST levels. The walk also finds a shorter block that is still
 * active when the longest one has expired. Only the blocked path pays for it.
 */
#ifndef MG_BPF_POLICY_H
#define MG_BPF_POLICY_H

#include "mtaguard.h"
#include "parse.h"

enum mg_verdict_kind {
	MG_V_NONE = 0,
	MG_V_ALLOW,
	MG_V_BLOCK,
};

struct mg_policy_verdict {
	int kind;
	struct mg_rule *rule; /* the block rule to enforce */
};

static __always_inline struct mg_policy_verdict
mg_policy_lookup(void *policy_map, const union mg_addr *src, struct mg_global_stats *st)
{
	struct mg_policy_verdict v = { .kind = MG_V_NONE };
	struct mg_lpm_key key = { .prefixlen = 128 };
	struct mg_rule *r;

	__builtin_memcpy(key.addr, src->b, 16);
	r = bpf_map_lookup_elem(policy_map, &key);
	if (!r)
		return v;
	if (r->kind == MG_RULE_ALLOW) {
		v.kind = MG_V_ALLOW;
		return v;
	}

	__u64 now = bpf_ktime_get_coarse_ns();
	struct mg_rule *active = NULL;

#pragma unroll
	for (int i = 0; i < MG_POLICY_MAX_NEST; i++) {
		if (r->kind == MG_RULE_ALLOW) {
			v.kind = MG_V_ALLOW;
			return v;
		}
		if (r->kind == MG_RULE_BLOCK && !active) {
			if (r->expires_ns == 0 || now < r->expires_ns)
				active = r;
			else if (st)
				st->expired_rules++;
		}
		if (r->prefixlen == 0 || r->prefixlen > 128)
			break;
		key.prefixlen = r->prefixlen - 1;
		r = bpf_map_lookup_elem(policy_map, &key);
		if (!r)
			break;
	}
	if (active) {
		v.kind = MG_V_BLOCK;
		v.rule = active;
	}
	return v;
}

#endif
