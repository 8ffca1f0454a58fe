// SPDX-License-Identifier: GPL-2.0-only
/* mg_rulemaps.c - block and allow rules in the kernel's maps and their index (see mg_rulemaps.h). */
#include <errno.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
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

/* A rule's key in either of its kind's two maps. */
union rule_key {
	struct mg_lpm_key k;
	struct mg_rule_key4 k4;
};

/*
 * The map `p` lives in and its key there: fd4 (8-byte keys) for an IPv4
 * rule, fd for any other; the program probes the same way (bpf/policy.h).
 */
static int rule_key(int fd4, int fd, const struct mg_prefix *p, union rule_key *k)
{
	memset(k, 0, sizeof(*k));
	if (mg_prefix_is_v4(p)) {
		uint32_t v4;
		memcpy(&v4, &p->addr[12], 4);
		k->k4.prefixlen = p->prefixlen;
		k->k4.addr = v4 & htonl(mg_rule_mask4(p->prefixlen));
		return fd4;
	}
	mg_lpm_key_from_prefix(&k->k, p);
	return fd;
}

/* The same for a rule of one kind (allow or block) in the maps of m. */
static int kind_key(const struct mg_rulemaps *m, bool allow, const struct mg_prefix *p, union rule_key *k)
{
	return allow ? rule_key(m->fds.allow4, m->fds.allow, p, k) : rule_key(m->fds.block4, m->fds.block, p, k);
}

static size_t page_round(size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	return (len + page - 1) & ~(page - 1);
}

/* Map an mmapable array; *entries: how many it holds (8 bytes apart, whatever the value size). */
static void *map_array(int fd, size_t *len, uint32_t *entries)
{
	struct bpf_map_info info = { 0 };
	uint32_t info_len = sizeof(info);
	void *p;

	if (bpf_obj_get_info_by_fd(fd, &info, &info_len))
		return NULL;
	*entries = info.max_entries;
	*len = page_round((size_t)info.max_entries * ((info.value_size + 7) & ~7u));
	p = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	return p == MAP_FAILED ? NULL : p;
}

static uint32_t log2_exact(uint32_t n)
{
	uint32_t b = 0;

	while (b < 31 && (1u << b) < n)
		b++;
	return (1u << b) == n ? b : 0;
}

int mg_rulemaps_open(struct mg_rulemaps *m, const struct mg_rulemap_fds *fds)
{
	uint32_t n4 = 0, n6 = 0, nl = 0, ns = 0;

	memset(m, 0, sizeof(*m));
	m->fds = *fds;
	m->ix.v4 = map_array(fds->index4, &m->len4, &n4);
	m->ix.v6 = map_array(fds->index6, &m->len6, &n6);
	m->ix.lens = map_array(fds->lens, &m->lens_len, &nl);
	if (fds->shorts >= 0)
		m->ix.shorts = map_array(fds->shorts, &m->shorts_len, &ns);
	/* The geometry is the maps' own: the program was loaded with the same bits (mg_rule_bits4/6). */
	m->ix.v4_bits = log2_exact(n4);
	m->ix.v6_bits = log2_exact(n6 * 2);
	if (!m->ix.v4 || !m->ix.v6 || !m->ix.lens || (fds->shorts >= 0 && !m->ix.shorts) || m->ix.v4_bits < 8 ||
	    m->ix.v4_bits > 24 || m->ix.v6_bits < 8 || m->ix.v6_bits > 24) {
		int err = errno ? -errno : -EINVAL;
		mg_rulemaps_close(m);
		return err;
	}
	/* A map new beside rules already pinned (the first load of a release that has it) starts at 0. */
	mg_ruleindex_sync_short(&m->ix);
	return 0;
}

void mg_rulemaps_close(struct mg_rulemaps *m)
{
	if (m->ix.v4)
		munmap(m->ix.v4, m->len4);
	if (m->ix.v6)
		munmap(m->ix.v6, m->len6);
	if (m->ix.lens)
		munmap(m->ix.lens, m->lens_len);
	if (m->ix.shorts)
		munmap(m->ix.shorts, m->shorts_len);
	memset(&m->ix, 0, sizeof(m->ix));
}

/* Write a rule; a new one enters the index after its entry exists, so a probe the index allows finds it. */
static int rule_put(struct mg_rulemaps *m, bool allow, const struct mg_prefix *p, const struct mg_rule *r)
{
	struct mg_prefix q = *p;
	union rule_key k;

	if (!m->ix.lens)
		return -EBADF;
	int fd = kind_key(m, allow, p, &k);
	mg_addr_mask(q.addr, q.prefixlen);
	if (bpf_map_update_elem(fd, &k, r, BPF_NOEXIST) == 0) {
		mg_ruleindex_add(&m->ix, &q, allow);
		return 0;
	}
	if (errno != EEXIST)
		return -errno;
	return bpf_map_update_elem(fd, &k, r, BPF_EXIST) ? -errno : 0;
}

int mg_rulemap_block_until(struct mg_rulemaps *m, const struct mg_prefix *p, uint8_t action, uint64_t expires_ns)
{
	struct mg_rule r = {
		.kind = MG_RULE_BLOCK,
		.action = action,
		.prefixlen = p->prefixlen,
		.expires_ns = expires_ns,
	};

	if (action != MG_ACT_DROP_SMTP && action != MG_ACT_DROP_ALL)
		return -EINVAL;
	return rule_put(m, false, p, &r);
}

int mg_rulemap_block(struct mg_rulemaps *m, const struct mg_prefix *p, uint8_t action, uint64_t ttl_sec)
{
	return mg_rulemap_block_until(m, p, action, ttl_sec ? mg_mono_ns() + ttl_sec * MG_NSEC_PER_SEC : 0);
}

int mg_rulemap_allow(struct mg_rulemaps *m, const struct mg_prefix *p)
{
	struct mg_rule r = { .kind = MG_RULE_ALLOW, .prefixlen = p->prefixlen };

	return rule_put(m, true, p, &r);
}

static int rule_del(struct mg_rulemaps *m, bool allow, const struct mg_prefix *p)
{
	struct mg_prefix q = *p;
	union rule_key k;

	if (!m->ix.lens)
		return -EBADF;
	int fd = kind_key(m, allow, p, &k);
	mg_addr_mask(q.addr, q.prefixlen);
	if (bpf_map_delete_elem(fd, &k))
		return -errno;
	mg_ruleindex_del(&m->ix, &q, allow);
	return 0;
}

int mg_rulemap_unblock(struct mg_rulemaps *m, const struct mg_prefix *p)
{
	int err = rule_del(m, false, p);

	/*
	 * Bits left over deleted rules only cost probes that miss; rebuild once
	 * they are a quarter of the rules (and more than a few), so the cost of
	 * a rebuild is shared among many deletions.
	 */
	if (!err) {
		uint32_t stale = __atomic_load_n(&m->ix.lens->stale, __ATOMIC_RELAXED);
		if (stale > 1024 && stale > mg_ruleindex_blocks(&m->ix) / 4)
			mg_rulemaps_rebuild(m);
	}
	return err;
}

int mg_rulemap_unallow(struct mg_rulemaps *m, const struct mg_prefix *p)
{
	return rule_del(m, true, p);
}

int mg_rulemap_get(int fd4, int fd, const struct mg_prefix *p, struct mg_rule *out)
{
	union rule_key k;

	return bpf_map_lookup_elem(rule_key(fd4, fd, p, &k), &k, out) ? -errno : 0;
}

int mg_rulemap_find(const struct mg_rulemaps *m, bool allow, const uint8_t addr[16], uint64_t now,
		    struct mg_prefix *pfx, struct mg_rule *out)
{
	uint8_t lens[MG_RULE_LENS];
	unsigned n;

	if (!m->ix.lens)
		return -ENOENT;
	n = mg_ruleindex_lens(&m->ix, addr, allow, lens);
	for (unsigned i = 0; i < n; i++) {
		struct mg_prefix p = { .prefixlen = lens[i] };
		memcpy(p.addr, addr, 16);
		mg_addr_mask(p.addr, p.prefixlen);
		union rule_key k;
		if (bpf_map_lookup_elem(kind_key(m, allow, &p, &k), &k, out))
			continue;
		if (!allow && out->expires_ns && now >= out->expires_ns)
			continue; /* expired: a shorter block in force applies, as in the kernel */
		if (pfx)
			*pfx = p;
		return 0;
	}
	return -ENOENT;
}

/* The prefix a key of an 8-byte (v4) or 20-byte map stands for. */
static void prefix_of_key(const void *key, bool v4, struct mg_prefix *p)
{
	memset(p, 0, sizeof(*p));
	if (v4) {
		const struct mg_rule_key4 *k = key;
		p->prefixlen = (uint8_t)k->prefixlen;
		mg_addr_from_v4(p->addr, k->addr);
		return;
	}
	const struct mg_lpm_key *k = key;
	p->prefixlen = (uint8_t)k->prefixlen;
	memcpy(p->addr, k->addr, 16);
}

/*
 * Every rule of one map (v4: an 8-byte-keyed one), in batches
 * (get_next_key is several times slower on a million rules); stops at the
 * first nonzero return of fn, which it returns.
 */
static int for_each_rule(int fd, bool v4, mg_rulemap_visit_fn fn, void *arg)
{
	enum { BATCH = 4096 };
	size_t ksize = v4 ? sizeof(struct mg_rule_key4) : sizeof(struct mg_lpm_key);
	uint8_t *keys = calloc(BATCH, ksize);
	struct mg_rule *vals = calloc(BATCH, sizeof(*vals));
	uint32_t in = 0, out = 0; /* a hash's batch position is a bucket number, whatever its key */
	bool first = true;
	int err = 0;

	if (!keys || !vals) {
		free(keys);
		free(vals);
		return -ENOMEM;
	}
	for (;;) {
		uint32_t count = BATCH;
		int r = bpf_map_lookup_batch(fd, first ? NULL : &in, &out, keys, vals, &count, NULL);
		if (r && errno != ENOENT) {
			err = -errno;
			break;
		}
		for (uint32_t i = 0; i < count && !err; i++) {
			struct mg_prefix p;
			prefix_of_key(keys + i * ksize, v4, &p);
			err = fn(&p, &vals[i], arg);
		}
		if (r || err)
			break; /* ENOENT: that was the last batch */
		in = out;
		first = false;
	}
	free(keys);
	free(vals);
	return err;
}

struct rebuild_ctx {
	struct mg_ruleindex *x;
	bool allow;
};

static int rebuild_one(const struct mg_prefix *p, const struct mg_rule *r, void *arg)
{
	struct rebuild_ctx *c = arg;

	(void)r;
	mg_ruleindex_add(c->x, p, c->allow);
	return 0;
}

int mg_rulemaps_rebuild(struct mg_rulemaps *m)
{
	struct mg_ruleindex fresh = { .v4_bits = m->ix.v4_bits, .v6_bits = m->ix.v6_bits };
	size_t n4 = (size_t)1 << m->ix.v4_bits, n6 = (size_t)1 << m->ix.v6_bits;
	int err = -ENOMEM;

	if (!m->ix.lens)
		return -EBADF;
	fresh.v4 = calloc(n4, sizeof(uint64_t));
	fresh.v6 = calloc(n6, sizeof(uint32_t));
	fresh.lens = calloc(1, sizeof(*fresh.lens));
	if (!fresh.v4 || !fresh.v6 || !fresh.lens)
		goto out;
	struct rebuild_ctx c = { .x = &fresh, .allow = false };
	err = mg_rulemap_foreach(m->fds.block4, m->fds.block, rebuild_one, &c);
	c.allow = true;
	if (!err)
		err = mg_rulemap_foreach(m->fds.allow4, m->fds.allow, rebuild_one, &c);
	if (err)
		goto out;
	/*
	 * Word by word, only where it changed: the fresh index holds every bit
	 * a rule needs (rules are written by this process alone), so the program
	 * never sees a needed bit missing, only stale ones going.
	 */
	for (size_t i = 0; i < n4; i++)
		if (m->ix.v4[i] != fresh.v4[i])
			__atomic_store_n(&m->ix.v4[i], fresh.v4[i], __ATOMIC_RELAXED);
	for (size_t i = 0; i < n6; i++)
		if (m->ix.v6[i] != fresh.v6[i])
			__atomic_store_n(&m->ix.v6[i], fresh.v6[i], __ATOMIC_RELAXED);
	for (int w = 0; w < MG_LENS_MAX; w++) {
		for (int l = 0; l < MG_RULE_LENS; l++)
			__atomic_store_n(&m->ix.lens->count[w][l], fresh.lens->count[w][l], __ATOMIC_RELAXED);
		for (int j = 0; j < 3; j++)
			__atomic_store_n(&m->ix.lens->mask[w][j], fresh.lens->mask[w][j], __ATOMIC_RELAXED);
	}
	__atomic_store_n(&m->ix.lens->stale, 0, __ATOMIC_RELAXED);
	mg_ruleindex_sync_short(&m->ix);
out:
	free(fresh.v4);
	free(fresh.v6);
	free(fresh.lens);
	return err;
}

int mg_rulemap_foreach(int fd4, int fd, mg_rulemap_visit_fn fn, void *arg)
{
	int ret = for_each_rule(fd4, true, fn, arg);

	return ret ? ret : for_each_rule(fd, false, fn, arg);
}
