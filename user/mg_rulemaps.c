// SPDX-License-Identifier: GPL-2.0-only
/* mg_rulemaps.c - writing and reading block and allow rules in the two LPM tries (see mg_rulemaps.h). */
#include <errno.h>
#include <string.h>
#include <bpf/bpf.h>

#include "mg_clock.h"
#include "mg_rulemaps.h"

void mg_lpm_key_from_prefix(struct mg_lpm_key *k, const struct mg_prefix *p)
{
	memset(k, 0, sizeof(*k));
	k->prefixlen = p->prefixlen;
	memcpy(k->addr, p->addr, 16);
	mg_addr_mask(k->addr, p->prefixlen);
}

static int rule_put(int fd, const struct mg_prefix *p, const struct mg_rule *r)
{
	struct mg_lpm_key k;

	mg_lpm_key_from_prefix(&k, p);
	return bpf_map_update_elem(fd, &k, r, BPF_ANY) ? -errno : 0;
}

int mg_rulemap_block_until(int fd, const struct mg_prefix *p, uint8_t action, uint64_t expires_ns)
{
	struct mg_rule r = {
		.kind = MG_RULE_BLOCK,
		.action = action,
		.prefixlen = p->prefixlen,
		.expires_ns = expires_ns,
	};

	if (action != MG_ACT_DROP_SMTP && action != MG_ACT_DROP_ALL)
		return -EINVAL;
	return rule_put(fd, p, &r);
}

int mg_rulemap_block(int fd, const struct mg_prefix *p, uint8_t action, uint64_t ttl_sec)
{
	return mg_rulemap_block_until(fd, p, action, ttl_sec ? mg_mono_ns() + ttl_sec * MG_NSEC_PER_SEC : 0);
}

int mg_rulemap_allow(int fd, const struct mg_prefix *p)
{
	struct mg_rule r = { .kind = MG_RULE_ALLOW, .prefixlen = p->prefixlen };

	return rule_put(fd, p, &r);
}

int mg_rulemap_remove(int fd, const struct mg_prefix *p)
{
	struct mg_lpm_key k;

	mg_lpm_key_from_prefix(&k, p);
	return bpf_map_delete_elem(fd, &k) ? -errno : 0;
}

int mg_rulemap_get(int fd, const struct mg_prefix *p, struct mg_rule *out)
{
	struct mg_lpm_key k;

	mg_lpm_key_from_prefix(&k, p);
	return bpf_map_lookup_elem(fd, &k, out) ? -errno : 0;
}

int mg_rulemap_foreach(int fd, mg_rulemap_visit_fn fn, void *arg)
{
	struct mg_lpm_key key, next;
	struct mg_rule r;
	void *prev = NULL;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		struct mg_prefix p = { .prefixlen = (uint8_t)next.prefixlen };
		memcpy(p.addr, next.addr, 16);
		if (bpf_map_lookup_elem(fd, &next, &r) == 0) {
			int ret = fn(&p, &r, arg);
			if (ret)
				return ret;
		}
		key = next;
		prev = &key;
	}
	return 0;
}
