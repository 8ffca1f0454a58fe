/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * policy.h - the allow/block decision for a source address.
 *
 * Two LPM tries: mg_blocklist, looked up for every packet (the one lookup an
 * ordinary packet pays), and mg_allowlist, looked up only when a block rule
 * matched. So the allowlist always wins, whatever the prefix lengths, and a
 * large blocklist is walked once per packet, never twice.
 *
 * When the longest matching block has expired, a shorter block that is still
 * active applies: we walk up the covering block rules (a lookup with a shorter
 * prefixlen finds the next one) for up to MG_POLICY_MAX_NEST levels. The
 * daemon removes expired rules promptly, so this walk is rare.
 */
#ifndef MG_BPF_POLICY_H
#define MG_BPF_POLICY_H

#include "mtaguard.h"
#include "parse.h"

enum mg_verdict_kind {
	MG_V_NONE = 0,
	MG_V_ALLOW,  /* a block matched, the allowlist overrode it */
	MG_V_BLOCK,
};

struct mg_policy_verdict {
	int kind;
	struct mg_rule *rule; /* the block rule to enforce */
};

static __always_inline struct mg_policy_verdict
mg_policy_decide(void *blocklist, void *allowlist, struct mg_rule *r, const union mg_addr *src,
		 struct mg_global_stats *st)
{
	struct mg_policy_verdict v = { .kind = MG_V_NONE };
	struct mg_lpm_key key = { .prefixlen = 128 };
	__u64 now = bpf_ktime_get_coarse_ns();
	struct mg_rule *active = NULL;

	__builtin_memcpy(key.addr, src->b, 16);
	for (int i = 0; i < MG_POLICY_MAX_NEST; i++) {
		if (r->expires_ns == 0 || now < r->expires_ns) {
			active = r;
			break;
		}
		st->expired_rules++;
		if (r->prefixlen == 0 || r->prefixlen > 128)
			break;
		key.prefixlen = r->prefixlen - 1;
		r = bpf_map_lookup_elem(blocklist, &key);
		if (!r)
			break;
	}
	if (!active)
		return v;

	key.prefixlen = 128;
	struct mg_rule *allow = bpf_map_lookup_elem(allowlist, &key);
	if (allow) {
		__sync_fetch_and_add(&allow->hits, 1);
		v.kind = MG_V_ALLOW;
		return v;
	}
	v.kind = MG_V_BLOCK;
	v.rule = active;
	return v;
}

#endif
