// SPDX-License-Identifier: GPL-2.0-only
/* mg_analyzer.c - role profiles, role-change detection and verdicts (see mg_analyzer.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg_analyzer.h"
#include "mg_keyhash.h"
#include "mg_intern.h"
#include "mg_vrec.h"

#define MG_STR_(x) #x
#define MG_STR(x) MG_STR_(x)

#define NS_PER_SEC 1000000000ull
#define NS_PER_MIN (60 * NS_PER_SEC)
#define NS_PER_HOUR (60 * NS_PER_MIN)
#define NS_PER_DAY (24 * NS_PER_HOUR)

/* HELO texts kept for the sources that took a name most recently (mg_an_config.helo_texts): about 3.5 MiB. */
#define HELO_TEXTS_DEFAULT 65536

/*
 * Time from t to now, 0 if t is not earlier: inputs stamped a little apart
 * (an event, then a tick) must not wrap around into an age of centuries.
 */
static uint64_t age(uint64_t now, uint64_t t)
{
	return now > t ? now - t : 0;
}

const char *mg_role_name(enum mg_role r)
{
	static const char *const names[MG_ROLE_MAX] = {
		[MG_ROLE_UNKNOWN] = "unknown",
		[MG_ROLE_END_HOST] = "end_host",
		[MG_ROLE_MAIL_SERVER] = "mail_server",
		[MG_ROLE_SUSPECT] = "suspect",
		[MG_ROLE_BLOCKED] = "blocked",
	};
	return (unsigned)r < MG_ROLE_MAX ? names[r] : "?";
}

void mg_an_config_default(struct mg_an_config *c)
{
	memset(c, 0, sizeof(*c));
	c->v6_prefix = 64;
	c->window_ns = 10 * NS_PER_MIN;
	c->learning_ns = 7 * NS_PER_DAY;
	c->learn_min_active_days = 3;
	c->block_score = 10;
	c->alert_score = 5;
	c->w_distinct_mx = 1.0;
	c->free_distinct_mx = 2;
	c->w_syn_rate = 0.5;
	c->free_syn_per_min = 3;
	c->w_helo_ip_literal = 4;
	c->w_helo_bare_word = 3;
	c->w_helo_own_octets = 3;
	c->w_helo_varies = 3;
	c->w_rcpt_per_session = 0.2;
	c->w_reject_ratio = 4;
	c->w_no_other_activity = 2;
	c->long_half_life_ns = 2 * NS_PER_HOUR;
	c->free_long_mx = 3;
	c->w_long_mx = 1.5;
	c->block_action = MG_ACT_DROP_SMTP;
	c->block_ns = NS_PER_HOUR;
	c->repeat_factor = 4;
	c->max_block_ns = 7 * NS_PER_DAY;
	c->max_new_blocks_per_min = 10;
	c->monitor = false;
	mg_verify_weights_default(&c->vw);
	c->forgery_verdict_sessions = 2;
	c->reverify_ns = NS_PER_HOUR;
	c->helo_texts = HELO_TEXTS_DEFAULT;
}

/* ---- configured prefixes: a hash set per prefix length in use ---------------------- */

/*
 * Allowlisted prefixes and configured mail servers can number in the tens of
 * thousands; each profile evaluation asks "is this address covered?". One
 * exact-match probe per prefix length in use answers that in a few lookups.
 */
struct pset {
	struct mg_prefix *v;
	uint32_t n, cap;
	uint32_t *slots; /* 1-based index into v, 0 = empty */
	uint32_t nslots; /* power of two */
	bool len_used[129];
};

static uint64_t key_hash(const uint8_t *k, unsigned plen)
{
	return mg_key_hash(k, plen);
}

static int pset_rehash(struct pset *s, uint32_t nslots)
{
	uint32_t *slots = calloc(nslots, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (uint32_t i = 0; i < s->n; i++) {
		uint32_t j = (uint32_t)key_hash(s->v[i].addr, s->v[i].prefixlen) & (nslots - 1);
		while (slots[j])
			j = (j + 1) & (nslots - 1);
		slots[j] = i + 1;
	}
	free(s->slots);
	s->slots = slots;
	s->nslots = nslots;
	return 0;
}

static bool pset_find(const struct pset *s, const uint8_t *addr, unsigned plen)
{
	if (!s->nslots)
		return false;
	uint32_t j = (uint32_t)key_hash(addr, plen) & (s->nslots - 1);
	while (s->slots[j]) {
		const struct mg_prefix *p = &s->v[s->slots[j] - 1];
		if (p->prefixlen == plen && !memcmp(p->addr, addr, 16))
			return true;
		j = (j + 1) & (s->nslots - 1);
	}
	return false;
}

static void pset_add(struct pset *s, const struct mg_prefix *in)
{
	struct mg_prefix p = *in;

	mg_addr_mask(p.addr, p.prefixlen);
	if (pset_find(s, p.addr, p.prefixlen))
		return;
	if (s->n == s->cap) {
		uint32_t cap = s->cap ? s->cap * 2 : 16;
		struct mg_prefix *v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return;
		s->v = v;
		s->cap = cap;
	}
	if ((s->n + 1) * 2 > s->nslots && pset_rehash(s, s->nslots ? s->nslots * 2 : 32))
		return; /* out of memory: leave the set as it was */
	s->v[s->n++] = p;
	s->len_used[p.prefixlen] = true;
	uint32_t j = (uint32_t)key_hash(p.addr, p.prefixlen) & (s->nslots - 1);
	while (s->slots[j])
		j = (j + 1) & (s->nslots - 1);
	s->slots[j] = s->n;
}

static void pset_remove(struct pset *s, const struct mg_prefix *in)
{
	struct mg_prefix p = *in;

	mg_addr_mask(p.addr, p.prefixlen);
	for (uint32_t i = 0; i < s->n; i++) {
		if (mg_prefix_eq(&s->v[i], &p)) {
			s->v[i] = s->v[--s->n];
			memset(s->len_used, 0, sizeof(s->len_used));
			for (uint32_t k = 0; k < s->n; k++)
				s->len_used[s->v[k].prefixlen] = true;
			pset_rehash(s, s->nslots);
			return;
		}
	}
}

static bool pset_covers(const struct pset *s, const uint8_t addr[16])
{
	uint8_t m[16];

	if (!s->n)
		return false;
	for (int plen = 128; plen >= 0; plen--) {
		if (!s->len_used[plen])
			continue;
		memcpy(m, addr, 16);
		mg_addr_mask(m, (unsigned)plen);
		if (pset_find(s, m, (unsigned)plen))
			return true;
	}
	return false;
}

static void pset_clear(struct pset *s)
{
	free(s->v);
	free(s->slots);
	memset(s, 0, sizeof(*s));
}

/* ---- profiles ---------------------------------------------------------------------- */

/* Windowed figures: two buckets of one window each, the older one weighted down as it ages. */
enum { W_SYN = 0, W_MAIL, W_RCPT, W_HELO, W_HELO_CHG, W_R2, W_R4, W_R5, W_MAX };
/* The kernel's SMTP counters, as seen at the last scan (replies: K_REPLY + enum mg_reply_class). */
enum { K_SYN_MX = 0, K_HELO, K_MAIL, K_RCPT, K_SYNACK, K_REPLY, K_MAX = K_REPLY + MG_REPLY_MAX };

/* The counts of an SMTP record at full width, as worked on (and as a wide record keeps them). */
struct counts {
	uint32_t cur[W_MAX], prev[W_MAX];
	uint32_t k[K_MAX];
	uint32_t serve_total;          /* SYN-ACKs from its own SMTP ports: it serves mail */
};

/*
 * Coarse times: whole seconds in a uint32_t, for the times that are shown to
 * the second or judged in hours and days (first and last seen, role
 * changes). 0 stays "never"; any other time keeps a nonzero value (a time in
 * the timeline's first second reads back as 1 ns, not as "never"), so this
 * works for a timeline that starts at boot. Read back, a time is the start
 * of its second: never later than it was. Saturates 136 years into the
 * timeline (the daemon's starts 36.5 years in: mg_clock.h).
 */
static uint32_t ct_of(uint64_t t)
{
	if (!t)
		return 0;
	uint64_t s = t / NS_PER_SEC + 1;
	return s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

static uint64_t ns_of(uint32_t c)
{
	return c <= 1 ? c : (uint64_t)(c - 1) * NS_PER_SEC;
}

/*
 * A coarse time read back never earlier than it was (the end of its second,
 * exact for a whole second): for a start that a span is measured from when
 * a span too long would act early (learning a mail server).
 */
static uint32_t ct_up(uint64_t t)
{
	if (!t)
		return 0;
	uint64_t s = t / NS_PER_SEC + (t % NS_PER_SEC != 0) + 1;
	return s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

/*
 * What every source costs: 48 bytes. Most sources an edge router sees never
 * speak SMTP to an MX; the SMTP figures live in a separate record (struct
 * smtp) that only those which do get, and what only those need (serving
 * SMTP, offences) lives there too.
 */
struct prof {
	uint8_t key[16];
	uint32_t first_seen, last_seen; /* coarse (ct_of) */
	uint32_t k_syn_sub, k_syn_other; /* the kernel's counters at the last scan */
	uint32_t sub_total, other_total;
	uint32_t smtp;  /* 1-based index into analyzer.smtp, 0 = none yet */
	uint8_t role;   /* enum mg_role */
	uint8_t flags;  /* PF_* */
	uint16_t pad;
};
_Static_assert(sizeof(struct prof) == 48, "profile size");

enum {
	PF_USED = 1 << 0,
	PF_DIRTY = 1 << 1,    /* news since the last tick: evaluate */
	PF_LEARNED = 1 << 2,  /* learned mail server */
	PF_ALERTED = 1 << 3,  /* this episode has been reported; do not repeat */
	PF_BLOCKLIST = 1 << 4, /* on the blocked list */
};

/*
 * Role changes, the last MG_AN_HISTORY: the roles packed 3 bits each (from,
 * to per change) with the count in the top bits, and the coarse time of the
 * latest. Most sources change role once (unknown to end host, say); the
 * times of the earlier changes of one that changed more often are in its
 * verdict record (struct verdict.hist_at), made at the second change.
 * Read and written through hist_get() and hist_push() only.
 */
#define HIST_COUNT_SHIFT 24
struct hist {
	uint32_t at_last;
	uint32_t roles;
};
_Static_assert(MG_AN_HISTORY * 6 <= HIST_COUNT_SHIFT && MG_ROLE_MAX <= 8, "history packing");

static unsigned hist_n(const struct hist *h)
{
	return h->roles >> HIST_COUNT_SHIFT;
}

/*
 * 64-bit fields of struct smtp at 4-byte alignment, so that the record
 * needs no padding to a multiple of 8 (x86-64 and arm64 read them at any
 * alignment; the compiler knows the alignment it gets).
 */
typedef uint64_t u64_a4 __attribute__((aligned(4)));

/*
 * A source that spoke SMTP to an MX: its windows, the kernel's SMTP counters
 * at the last scan, its episode and verdict: 136 bytes. The HELO text is in
 * the shared table (a.helos), by id; its hosts list (a profile keyed by a
 * prefix), its verdict figures and counts past 8 bits are side records.
 */
struct smtp {
	/* What every scan reads first (counters_apply), together. */
	u64_a4 win_start;
	u64_a4 k_mx_bits;
	u64_a4 bits_cur, bits_prev;    /* MX destinations, one bit each (mg_dst_bit) */
	/*
	 * The window counts, the kernel's counters at the last scan and the
	 * SYN-ACKs it served (struct counts), 8 bits each while they fit (they
	 * nearly always do: a window is minutes, the kernel's counters start
	 * again with its profile, and a host that is not a mail server sends a
	 * few messages and serves none); a record where one does not moves all
	 * of them, for good, to a wide record of 32 bits each (wide, 1-based,
	 * 0 = none). Read and written through wide_load() and wide_store() only.
	 */
	uint8_t cur[W_MAX], prev[W_MAX];
	uint8_t k[K_MAX];
	uint32_t wide;
	uint32_t helo_hash;
	uint16_t vlan_outer, vlan_inner;
	uint8_t mac[6];
	uint8_t serve_total;
	uint8_t shape_cur, shape_prev; /* HELO shapes seen in each bucket */
	/* enum mg_helo_absurd of the last absurd HELO in each bucket */
	uint8_t absurd_cur : 4, absurd_prev : 4;
	uint8_t helo_bad_ever;         /* an anomalous HELO was ever seen: never learned */
	/*
	 * The last HELO's shape (enum mg_helo_shape, of the name as sent, from
	 * its source's own address), and HELO_DROPPED once its text was let go
	 * (helo is then 0): the hash and the shape stay when the text goes.
	 */
	uint8_t helo_last;
	uint16_t active_days;          /* saturates (learning asks for a few) */
	/* The day of its last activity, modulo 2^16 (compared for equality only: see shift_day()). */
	uint16_t active_day;
	u64_a4 first_evidence;         /* first port-25 activity of the current episode */
	/*
	 * First SMTP activity ever, coarse and rounded up (ct_up): learning
	 * (days) is never early by it, a new sender (minutes) may stay one
	 * second longer.
	 */
	uint32_t first_smtp;
	/*
	 * Longer memory than the window: new MX destinations and sessions,
	 * decayed with cfg.long_half_life_ns as of long_at. A patient bot that
	 * stays under the window's free allowance adds up here. long_at is
	 * coarse (ct_of): the counts are kept as of the start of its second,
	 * scaled up by the decay over the rest of it (long_store()), so that
	 * they read as they would from the exact time.
	 */
	uint32_t long_at;
	float long_mx, long_sessions;
	uint32_t verdict;              /* its verdicts (struct verdict), 1-based, 0 = never blocked */
	uint32_t helo;                 /* id in a.helos, 0 = none (or empty) */
	uint32_t hosts;                /* its hosts list in a.hosts (hosts_read()), 0 = none */
	struct hist hist;
};
_Static_assert(sizeof(struct smtp) == 128 && _Alignof(struct smtp) == 4, "SMTP record size");
_Static_assert(MG_ABSURD_MAX <= 16, "absurd HELO reasons in 4 bits");
#define HELO_DROPPED 0x80
_Static_assert(!(MG_HELO_SHAPES_ALL & ~0x7f), "HELO shapes in 7 bits beside HELO_DROPPED");

/* What only a source ever blocked (or whose role changed more than once) needs, beside its SMTP record. */
struct verdict {
	uint64_t blocked_until, last_block_end;
	uint32_t hist_at[MG_AN_HISTORY - 1]; /* the times of its role changes before the latest (struct hist) */
	uint8_t offences;
	uint8_t role_before;           /* enum mg_role + 1 before the block in force, 0 = none */
};

/*
 * The hosts seen inside a profile keyed by a prefix (struct mg_an_hosts as
 * kept): room for the hosts it holds, one at first, doubled up to
 * MG_AN_HOSTS, times coarse. Most prefixes only ever show one host. The
 * lists live in one pool per size (struct hosts_pool), not each in a
 * malloc chunk of its own.
 */
struct host_rec {
	uint8_t addr[16];
	uint32_t first_seen, last_seen; /* coarse (ct_of) */
	uint32_t sessions;
	uint8_t mac[6];
	uint16_t vlan_outer;
};

struct hosts {
	uint32_t n_more;        /* hosts listed in the top 4 bits; below, hosts seen beyond them (saturates) */
	struct host_rec host[]; /* hosts_cap(n) of them, n in use, most recent first */
};
/* A list of one host is 40 bytes (a malloc chunk of its own cost 48, and an 8-byte pointer). */
_Static_assert(sizeof(struct hosts) + sizeof(struct host_rec) == 40, "hosts list of one");

/* A list as worked on (hosts_read(), hosts_write()): room for every host it may hold. */
struct hosts_full {
	uint32_t n_more;
	struct host_rec host[MG_AN_HOSTS];
};

/*
 * The usual list, kept in 28 bytes: one host, none seen beyond it, whose
 * address's first 64 bits are its profile key's (always so at an
 * aggregation of /64 or longer): the rest of its address and its figures.
 * Its first field doubles as the free-list link (struct hosts_pool).
 */
struct host1 {
	uint32_t first_seen, last_seen; /* coarse (ct_of) */
	uint32_t sessions;
	uint8_t iid[8];                 /* the address's last 64 bits */
	uint8_t mac[6];
	uint16_t vlan_outer;
};
_Static_assert(sizeof(struct host1) == 28, "compact list of one host");
#define HOSTS_N_SHIFT 28
#define HOSTS_MORE_MAX ((1u << HOSTS_N_SHIFT) - 1)
_Static_assert(MG_AN_HOSTS < 16, "hosts count in 4 bits");

/* A list's n_more: the hosts listed, those seen beyond them. */
static unsigned hosts_n(uint32_t n_more)
{
	return n_more >> HOSTS_N_SHIFT;
}

static uint32_t hosts_more(uint32_t n_more)
{
	return n_more & HOSTS_MORE_MAX;
}

static uint32_t hosts_nm(unsigned n, uint32_t more)
{
	return (uint32_t)n << HOSTS_N_SHIFT | (more < HOSTS_MORE_MAX ? more : HOSTS_MORE_MAX);
}

/* Room a list of n hosts has: 1, 2, 4, then MG_AN_HOSTS. */
static unsigned hosts_cap(unsigned n)
{
	unsigned cap = 1;

	while (cap < n)
		cap *= 2;
	return cap < MG_AN_HOSTS ? cap : MG_AN_HOSTS;
}

/*
 * The lists of one size (hosts_cap() of 1, 2, 4 and MG_AN_HOSTS, and the
 * compact one, HOSTS_C1): an array of them, a freed one on a free list (its
 * first 4 bytes hold the next free one, 1-based, 0 = none) for the next
 * list of its size. A record names its list by size class (the bits from
 * HOSTS_CLASS_SHIFT up) and 1-based index.
 */
#define HOSTS_FULL_CLASSES 4
#define HOSTS_C1 HOSTS_FULL_CLASSES
#define HOSTS_CLASSES (HOSTS_C1 + 1)
#define HOSTS_CLASS_SHIFT 29
#define HOSTS_IDX_MASK ((1u << HOSTS_CLASS_SHIFT) - 1)
_Static_assert(MG_AN_HOSTS > 4 && MG_AN_HOSTS <= 8, "hosts list sizes 1, 2, 4, MG_AN_HOSTS");

struct hosts_pool {
	uint8_t *v;
	uint32_t n, cap;  /* lists handed out (freed ones included), allocated */
	uint32_t free_head;
};

static unsigned class_cap(unsigned k)
{
	return k == HOSTS_C1 ? 1 : k + 1 < HOSTS_FULL_CLASSES ? 1u << k : MG_AN_HOSTS;
}

static size_t class_size(unsigned k)
{
	return k == HOSTS_C1 ? sizeof(struct host1) : sizeof(struct hosts) + class_cap(k) * sizeof(struct host_rec);
}

static unsigned class_of_cap(unsigned cap)
{
	unsigned k = 0;

	while (class_cap(k) < cap)
		k++;
	return k;
}

/*
 * The saved records (state format 3 and 4, mg_an_save()): the layout the
 * profile and its SMTP record had before they were packed, kept as the
 * file's format. Save and restore convert; every field is checked before a
 * restored one is used.
 */
struct prof_rec {
	uint8_t key[16];
	uint64_t first_seen, last_seen;
	uint32_t k_syn_sub, k_syn_other, k_synack;
	uint32_t sub_total, other_total, serve_total;
	uint32_t smtp;  /* 0: no SMTP record follows, 1: one does, 2: one and a hosts list (version 4) */
	uint8_t role;
	uint8_t offences;
	uint8_t flags;
	uint8_t pad;
};
_Static_assert(sizeof(struct prof_rec) == 64, "saved profile size");

struct smtp_rec {
	uint64_t win_start;
	uint32_t cur[W_MAX], prev[W_MAX];
	uint64_t bits_cur, bits_prev;
	uint64_t k_mx_bits;
	uint32_t k_syn_mx, k_helo, k_mail, k_rcpt, k_reply[MG_REPLY_MAX];
	/*
	 * fp_hash once held a SYN fingerprint and was written as 0; now it
	 * carries SAVED_HELO_LAST | SAVED_HELO_WORDS | struct smtp.helo_last
	 * (a file from before has 0 there: the shape is then found again from
	 * the text).
	 */
	uint32_t helo_hash, fp_hash;
	uint64_t first_evidence;
	uint64_t first_smtp;
	uint64_t blocked_until, last_block_end;
	uint32_t active_day, active_days;
	uint64_t long_at;
	float long_mx, long_sessions;
	uint8_t shape_cur, shape_prev;
	uint8_t helo_bad_ever;
	uint8_t helo_len;
	uint8_t mac[6];
	uint16_t vlan_outer, vlan_inner;
	uint8_t role_before;
	uint8_t nhist;
	uint8_t absurd_cur, absurd_prev;
	char helo[MG_HELO_ARG_MAX];
	struct {
		uint64_t at;
		uint8_t from, to, pad[6];
	} hist[MG_AN_HISTORY];
};

#define SAVED_HELO_LAST 0x100
/*
 * Set beside SAVED_HELO_LAST when helo_hash is the word-at-a-time hash
 * (mg_helo_hash since it replaced byte-wise FNV-1a); a file from before has
 * the old hash there, found again from the text when the text was kept.
 */
#define SAVED_HELO_WORDS 0x200

/*
 * A source that took a HELO name whose text is kept (mg_an_config.helo_texts):
 * its profile and the name's id then. An entry whose source has since taken
 * another name (or whose profile was forgotten) is stale and lets go of
 * nothing when it leaves.
 */
struct text_ent {
	uint32_t prof, helo;
};

struct mg_analyzer {
	struct mg_an_config cfg;
	struct prof *prof;
	uint32_t nprof, capprof;   /* slots used (including freed), allocated */
	uint32_t *free_prof;
	uint32_t nfree_prof, capfree_prof;
	uint32_t *slots;           /* open addressing: slot_tag | 1-based profile index, 0 = empty */
	uint32_t nslots, live;
	struct smtp *smtp;
	uint32_t nsmtp, capsmtp;
	struct verdict *verdicts;  /* SMTP records' verdicts (struct smtp.verdict) */
	uint32_t nverdicts, capverdicts;
	struct counts *wide;       /* SMTP records' counts that outgrew 8 bits (struct smtp.wide) */
	uint32_t nwide, capwide;
	uint32_t *free_wide;
	uint32_t nfree_wide, capfree_wide;
	uint32_t *free_smtp;
	uint32_t nfree_smtp, capfree_smtp;
	/*
	 * The hosts seen inside profiles keyed by a prefix (struct smtp.hosts;
	 * none for the others, and until one speaks), pooled by size: a profile
	 * of one address pays nothing for them.
	 */
	struct hosts_pool hosts[HOSTS_CLASSES];
	/*
	 * Profiles with news, one bit each by index (PF_DIRTY says the same per
	 * profile): a bit, not a list entry, since a full scan can make every
	 * profile dirty at once. Judged in index order from dirty_pos, where
	 * the last round stopped for want of room.
	 */
	uint64_t *dirty;
	uint32_t ndirty, capdirty;  /* bits set, words allocated */
	uint32_t dirty_pos;
	uint32_t *blocked;
	uint32_t nblocked, capblocked;
	struct pset servers, allow;
	uint64_t *brk;             /* times of the last max_new_blocks_per_min blocks (ring) */
	uint32_t brk_cap, brk_head, brk_count;
	uint64_t now;              /* latest time seen */
	unsigned threat;           /* global threat level 0..5 (outbreaks) */
	uint32_t sweep_pos;
	const struct mg_act_view *act; /* protected addresses' activity records, the shell's; NULL: none */
	struct mg_vrecs vrecs;     /* source verification, by profile key (mg_vrec.h) */
	struct mg_intern *helos;   /* the HELO names the SMTP records hold, by id */
	/* The sources holding a HELO text, in the order they took it (a ring, oldest at texts_head). */
	struct text_ent *texts;
	uint32_t ntexts, captexts, texts_head;
};

static int grow(void **v, uint32_t *cap, uint32_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	uint32_t c = *cap ? *cap : 1024;
	while (c < need)
		c *= 2;
	void *n = realloc(*v, (size_t)c * elem);
	if (!n)
		return -ENOMEM;
	*v = n;
	*cap = c;
	return 0;
}

static int push_u32(uint32_t **v, uint32_t *n, uint32_t *cap, uint32_t x)
{
	if (grow((void **)v, cap, *n + 1, sizeof(**v)))
		return -ENOMEM;
	(*v)[(*n)++] = x;
	return 0;
}

unsigned mg_an_key_len(const struct mg_an_config *c, const uint8_t addr[16])
{
	return mg_addr_is_v4(addr) ? 128 : mg_v6_key_len(c->v6_prefix, c->v6_nets, c->n_v6_nets, addr);
}

/* The profile key of an address: IPv4 as is, IPv6 aggregated as mg_an_key_len() says. */
static void profile_key(const struct mg_analyzer *a, const uint8_t addr[16], uint8_t key[16])
{
	memcpy(key, addr, 16);
	if (!mg_addr_is_v4(addr))
		mg_addr_mask(key, mg_an_key_len(&a->cfg, addr));
}

/*
 * A key's own length. A network's aggregation is never shorter than its
 * prefix (the config sees to it), so the key stays inside the network that
 * chose its length and gets the same answer as the address it came from.
 */
static unsigned key_plen(const struct mg_analyzer *a, const uint8_t key[16])
{
	return mg_an_key_len(&a->cfg, key);
}

/*
 * The table's slots hold a profile's index and, above it, a few bits of its
 * key's hash: a probe that meets another key's slot moves on without reading
 * that profile (a cache miss), so the table may be fuller (up to 3/4) and
 * cost fewer bytes a profile.
 */
#define SLOT_IDX_BITS 27
#define SLOT_IDX_MASK ((1u << SLOT_IDX_BITS) - 1)
#define PROF_MAX (SLOT_IDX_MASK - 1) /* profiles at most: 134 million */

static uint32_t slot_tag(uint64_t h)
{
	return (uint32_t)(h >> (64 - (32 - SLOT_IDX_BITS))) << SLOT_IDX_BITS;
}

static bool table_full(const struct mg_analyzer *a, uint32_t live)
{
	return (uint64_t)live * 4 > (uint64_t)a->nslots * 3;
}

static int table_resize(struct mg_analyzer *a, uint32_t nslots)
{
	uint32_t *slots = calloc(nslots, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (uint32_t i = 0; i < a->nprof; i++) {
		if (!(a->prof[i].flags & PF_USED))
			continue;
		uint64_t h = key_hash(a->prof[i].key, 0);
		uint32_t j = (uint32_t)h & (nslots - 1);
		while (slots[j])
			j = (j + 1) & (nslots - 1);
		slots[j] = slot_tag(h) | (i + 1);
	}
	free(a->slots);
	a->slots = slots;
	a->nslots = nslots;
	return 0;
}

/* Slot holding key (its hash h), or the empty slot where it would go. */
static uint32_t table_slot_h(const struct mg_analyzer *a, const uint8_t key[16], uint64_t h)
{
	uint32_t j = (uint32_t)h & (a->nslots - 1), tag = slot_tag(h), s;

	while ((s = a->slots[j]) &&
	       ((s & ~SLOT_IDX_MASK) != tag || memcmp(a->prof[(s & SLOT_IDX_MASK) - 1].key, key, 16)))
		j = (j + 1) & (a->nslots - 1);
	return j;
}

static uint32_t table_slot(const struct mg_analyzer *a, const uint8_t key[16])
{
	return table_slot_h(a, key, key_hash(key, 0));
}

static struct prof *find_prof(const struct mg_analyzer *a, const uint8_t key[16])
{
	if (!a->nslots)
		return NULL;
	uint32_t s = a->slots[table_slot(a, key)] & SLOT_IDX_MASK;
	return s ? &a->prof[s - 1] : NULL;
}

static struct prof *get_prof(struct mg_analyzer *a, const uint8_t key[16], uint64_t now)
{
	struct prof *p = find_prof(a, key);

	if (p)
		return p;
	if (table_full(a, a->live + 1) && table_resize(a, a->nslots ? a->nslots * 2 : 2048))
		return NULL;
	uint32_t idx;
	if (a->nfree_prof) {
		idx = a->free_prof[--a->nfree_prof];
	} else {
		if (a->nprof >= PROF_MAX ||
		    grow((void **)&a->prof, &a->capprof, a->nprof + 1, sizeof(*a->prof)))
			return NULL;
		idx = a->nprof++;
	}
	p = &a->prof[idx];
	memset(p, 0, sizeof(*p));
	memcpy(p->key, key, 16);
	p->flags = PF_USED;
	p->first_seen = p->last_seen = ct_of(now);
	uint64_t h = key_hash(key, 0);
	a->slots[table_slot_h(a, key, h)] = slot_tag(h) | (idx + 1);
	a->live++;
	return p;
}

static uint32_t prof_idx(const struct mg_analyzer *a, const struct prof *p)
{
	return (uint32_t)(p - a->prof);
}

static struct smtp *smtp_of(const struct mg_analyzer *a, const struct prof *p)
{
	return p->smtp ? &a->smtp[p->smtp - 1] : NULL;
}

static struct smtp *get_smtp(struct mg_analyzer *a, struct prof *p, uint64_t now)
{
	if (p->smtp)
		return &a->smtp[p->smtp - 1];
	uint32_t idx, vd = 0;
	if (a->nfree_smtp) {
		idx = a->free_smtp[--a->nfree_smtp];
		vd = a->smtp[idx].verdict; /* a freed record's verdict record comes with it, emptied */
	} else {
		if (grow((void **)&a->smtp, &a->capsmtp, a->nsmtp + 1, sizeof(*a->smtp)))
			return NULL;
		idx = a->nsmtp++;
	}
	struct smtp *m = &a->smtp[idx];
	memset(m, 0, sizeof(*m));
	if (vd) {
		memset(&a->verdicts[vd - 1], 0, sizeof(a->verdicts[0]));
		m->verdict = vd;
	}
	m->win_start = now;
	p->smtp = idx + 1;
	return m;
}

static void wide_load(const struct mg_analyzer *a, const struct smtp *m, struct counts *c)
{
	if (m->wide) {
		*c = a->wide[m->wide - 1];
		return;
	}
	for (int i = 0; i < W_MAX; i++) {
		c->cur[i] = m->cur[i];
		c->prev[i] = m->prev[i];
	}
	for (int i = 0; i < K_MAX; i++)
		c->k[i] = m->k[i];
	c->serve_total = m->serve_total;
}

static uint8_t sat8(uint32_t v)
{
	return v > UINT8_MAX ? UINT8_MAX : (uint8_t)v;
}

/*
 * The counts back into the record: 8 bits each while all fit, else all into
 * its wide record (made now if need be; it stays), so a count is exact at
 * either width. Only without memory for one do counts saturate at 255; a
 * kernel counter held at 255 then counts its growth from 255 at each scan:
 * figures too high, never too low (the daemon is out of memory).
 */
static void wide_store(struct mg_analyzer *a, struct smtp *m, const struct counts *c)
{
	bool fits = !m->wide;

	for (int i = 0; fits && i < W_MAX; i++)
		fits = c->cur[i] <= UINT8_MAX && c->prev[i] <= UINT8_MAX;
	for (int i = 0; fits && i < K_MAX; i++)
		fits = c->k[i] <= UINT8_MAX;
	fits = fits && c->serve_total <= UINT8_MAX;
	if (!fits && !m->wide) {
		uint32_t idx;
		if (a->nfree_wide) {
			idx = a->free_wide[--a->nfree_wide];
			m->wide = idx + 1;
		} else if (!grow((void **)&a->wide, &a->capwide, a->nwide + 1, sizeof(*a->wide))) {
			idx = a->nwide++;
			m->wide = idx + 1;
		}
	}
	if (m->wide) {
		a->wide[m->wide - 1] = *c;
		return;
	}
	for (int i = 0; i < W_MAX; i++) {
		m->cur[i] = sat8(c->cur[i]);
		m->prev[i] = sat8(c->prev[i]);
	}
	for (int i = 0; i < K_MAX; i++)
		m->k[i] = sat8(c->k[i]);
	m->serve_total = sat8(c->serve_total);
}

static const struct verdict no_verdict;

/* The verdicts of m: its record, or one of zeros if it was never blocked. */
static const struct verdict *verdict_of(const struct mg_analyzer *a, const struct smtp *m)
{
	return m && m->verdict ? &a->verdicts[m->verdict - 1] : &no_verdict;
}

/*
 * The verdict record of m, made at its first block; NULL without memory. It
 * is kept with the record (repeat offenders), so none is ever freed but
 * with the profile; a freed one goes with its SMTP record to the next.
 */
static struct verdict *get_verdict(struct mg_analyzer *a, struct smtp *m)
{
	if (!m->verdict) {
		if (grow((void **)&a->verdicts, &a->capverdicts, a->nverdicts + 1, sizeof(*a->verdicts)))
			return NULL;
		memset(&a->verdicts[a->nverdicts], 0, sizeof(a->verdicts[0]));
		m->verdict = ++a->nverdicts;
	}
	return &a->verdicts[m->verdict - 1];
}

static void hist_get(const struct mg_analyzer *a, const struct smtp *m, unsigned k, uint64_t *at,
		     enum mg_role *from, enum mg_role *to)
{
	const struct hist *h = &m->hist;

	*at = ns_of(k + 1 == hist_n(h) ? h->at_last : verdict_of(a, m)->hist_at[k]);
	*from = (enum mg_role)((h->roles >> (6 * k)) & 7);
	*to = (enum mg_role)((h->roles >> (6 * k + 3)) & 7);
}

/*
 * Append a change; the oldest makes room when all MG_AN_HISTORY are taken.
 * Without memory for a verdict record, only the latest change is kept.
 */
static void hist_push(struct mg_analyzer *a, struct smtp *m, uint64_t at, unsigned from, unsigned to)
{
	struct hist *h = &m->hist;
	unsigned n = hist_n(h);
	uint32_t bits = h->roles & ((1u << HIST_COUNT_SHIFT) - 1);
	struct verdict *vd = n ? get_verdict(a, m) : NULL;

	if (n && !vd) {
		bits = 0;
		n = 0;
	} else if (n == MG_AN_HISTORY) {
		memmove(&vd->hist_at[0], &vd->hist_at[1], sizeof(vd->hist_at[0]) * (MG_AN_HISTORY - 2));
		vd->hist_at[MG_AN_HISTORY - 2] = h->at_last;
		bits >>= 6;
		n--;
	} else if (n) {
		vd->hist_at[n - 1] = h->at_last;
	}
	h->at_last = ct_of(at);
	bits |= (uint32_t)((from & 7) | (to & 7) << 3) << (6 * n);
	h->roles = bits | (uint32_t)(n + 1) << HIST_COUNT_SHIFT;
}

static void drop_wide(struct mg_analyzer *a, struct smtp *m)
{
	if (m->wide && !push_u32(&a->free_wide, &a->nfree_wide, &a->capfree_wide, m->wide - 1))
		m->wide = 0;
}

/* A list's record, of whichever class. */
static void *pool_at(const struct mg_analyzer *a, uint32_t ref)
{
	unsigned k = ref >> HOSTS_CLASS_SHIFT;

	return a->hosts[k].v + (size_t)((ref & HOSTS_IDX_MASK) - 1) * class_size(k);
}

/* A free list's link: the record's first 4 bytes, of any class (n_more, first_seen). */
static uint32_t *pool_link(const struct mg_analyzer *a, uint32_t ref)
{
	return pool_at(a, ref);
}

/* A list of size class k, its contents undefined: a freed one, else the pool grown; 0 without memory. */
static uint32_t pool_take(struct mg_analyzer *a, unsigned k)
{
	struct hosts_pool *pl = &a->hosts[k];
	uint32_t idx = pl->free_head;

	if (idx) {
		uint32_t ref = (uint32_t)k << HOSTS_CLASS_SHIFT | idx;
		pl->free_head = *pool_link(a, ref);
		return ref;
	}
	if (pl->n >= HOSTS_IDX_MASK || grow((void **)&pl->v, &pl->cap, pl->n + 1, class_size(k)))
		return 0;
	return (uint32_t)k << HOSTS_CLASS_SHIFT | ++pl->n;
}

static void pool_give(struct mg_analyzer *a, uint32_t ref)
{
	struct hosts_pool *pl = &a->hosts[ref >> HOSTS_CLASS_SHIFT];

	*pool_link(a, ref) = pl->free_head;
	pl->free_head = ref & HOSTS_IDX_MASK;
}

static void drop_hosts(struct mg_analyzer *a, struct smtp *m)
{
	if (m->hosts)
		pool_give(a, m->hosts);
	m->hosts = 0;
}

/* The hosts list of m (whose profile key is key) at full width; false if it has none. */
static bool hosts_read(const struct mg_analyzer *a, const struct smtp *m, const uint8_t key[16],
		       struct hosts_full *out)
{
	if (!m || !m->hosts)
		return false;
	if (m->hosts >> HOSTS_CLASS_SHIFT != HOSTS_C1) {
		const struct hosts *h = pool_at(a, m->hosts);
		out->n_more = h->n_more;
		memcpy(out->host, h->host, hosts_n(h->n_more) * sizeof(h->host[0]));
		return true;
	}
	const struct host1 *c = pool_at(a, m->hosts);
	struct host_rec *x = &out->host[0];
	out->n_more = hosts_nm(1, 0);
	memcpy(x->addr, key, 8);
	memcpy(x->addr + 8, c->iid, 8);
	x->first_seen = c->first_seen;
	x->last_seen = c->last_seen;
	x->sessions = c->sessions;
	memcpy(x->mac, c->mac, 6);
	x->vlan_outer = c->vlan_outer;
	return true;
}

/*
 * The list back into m: compact while it is one host with none beyond and
 * its address in its key's /64, else in a list with room for its hosts
 * (the one it had if that has room, a larger one or a first one else: a
 * list never shrinks). Without memory for a new one the list stays as it
 * was (false).
 */
static bool hosts_write(struct mg_analyzer *a, struct smtp *m, const uint8_t key[16], const struct hosts_full *in)
{
	unsigned n = hosts_n(in->n_more);
	bool compact = n == 1 && !hosts_more(in->n_more) && !memcmp(in->host[0].addr, key, 8);
	unsigned k = compact ? HOSTS_C1 : class_of_cap(hosts_cap(n));
	unsigned have = m->hosts ? m->hosts >> HOSTS_CLASS_SHIFT : 0;

	if (!m->hosts || (have == HOSTS_C1 ? k != HOSTS_C1 : k != HOSTS_C1 && have < k)) {
		uint32_t ref = pool_take(a, k);
		if (!ref)
			return false;
		drop_hosts(a, m);
		m->hosts = ref;
	} else {
		k = have;
	}
	if (k != HOSTS_C1) {
		struct hosts *h = pool_at(a, m->hosts);
		h->n_more = in->n_more;
		memcpy(h->host, in->host, n * sizeof(in->host[0]));
		return true;
	}
	struct host1 *c = pool_at(a, m->hosts);
	const struct host_rec *x = &in->host[0];
	c->first_seen = x->first_seen;
	c->last_seen = x->last_seen;
	c->sessions = x->sessions;
	memcpy(c->iid, x->addr + 8, 8);
	memcpy(c->mac, x->mac, 6);
	c->vlan_outer = x->vlan_outer;
	return true;
}

/* The list as the API shows it. */
static void hosts_export(const struct hosts_full *hf, struct mg_an_hosts *out)
{
	memset(out, 0, sizeof(*out));
	out->more = hosts_more(hf->n_more);
	out->n = (uint8_t)hosts_n(hf->n_more);
	for (unsigned i = 0; i < out->n; i++) {
		const struct host_rec *x = &hf->host[i];
		struct mg_an_host *y = &out->host[i];
		memcpy(y->addr, x->addr, 16);
		y->first_seen_ns = ns_of(x->first_seen);
		y->last_seen_ns = ns_of(x->last_seen);
		y->sessions = x->sessions;
		memcpy(y->mac, x->mac, 6);
		y->vlan_outer = x->vlan_outer;
	}
}

/*
 * A session (HELO) from host addr inside a profile keyed by a prefix (key).
 * The list keeps the MG_AN_HOSTS most recent hosts, most recent first; a
 * host pushed out is counted in `more`, and counted again if it comes back
 * (the figure is "at least this many others", never fewer).
 */
static void note_host(struct mg_analyzer *a, struct smtp *m, const uint8_t key[16], const uint8_t addr[16],
		      const uint8_t mac[6], uint16_t vlan, uint64_t now)
{
	struct hosts_full hf;

	if (!hosts_read(a, m, key, &hf))
		hf.n_more = 0;
	unsigned n = hosts_n(hf.n_more), i = 0;
	for (; i < n; i++)
		if (!memcmp(hf.host[i].addr, addr, 16))
			break;
	struct host_rec cur = { 0 };
	if (i < n) {
		cur = hf.host[i];
	} else {
		memcpy(cur.addr, addr, 16);
		cur.first_seen = ct_of(now);
		if (n < MG_AN_HOSTS)
			hf.n_more = hosts_nm(++n, hosts_more(hf.n_more));
		else
			hf.n_more = hosts_nm(n, hosts_more(hf.n_more) + 1);
		i = n - 1; /* the least recent (or the new slot) makes room */
	}
	memmove(&hf.host[1], &hf.host[0], i * sizeof(hf.host[0]));
	cur.last_seen = ct_of(now);
	cur.sessions++;
	memcpy(cur.mac, mac, 6);
	cur.vlan_outer = vlan;
	hf.host[0] = cur;
	hosts_write(a, m, key, &hf);
}

static void mark_dirty(struct mg_analyzer *a, struct prof *p)
{
	uint32_t i = prof_idx(a, p), old = a->capdirty;

	if (p->flags & PF_DIRTY)
		return;
	if (grow((void **)&a->dirty, &a->capdirty, i / 64 + 1, sizeof(*a->dirty)))
		return;
	memset(a->dirty + old, 0, (size_t)(a->capdirty - old) * sizeof(*a->dirty));
	a->dirty[i / 64] |= 1ull << (i % 64);
	a->ndirty++;
	p->flags |= PF_DIRTY;
}

static void clear_dirty(struct mg_analyzer *a, struct prof *p)
{
	uint32_t i = prof_idx(a, p);

	if (!(p->flags & PF_DIRTY))
		return;
	a->dirty[i / 64] &= ~(1ull << (i % 64));
	a->ndirty--;
	p->flags &= (uint8_t)~PF_DIRTY;
}

/* Remove a profile: backward-shift deletion keeps linear probing correct without tombstones. */
static void del_prof(struct mg_analyzer *a, struct prof *p)
{
	uint32_t mask = a->nslots - 1, i = table_slot(a, p->key);

	a->slots[i] = 0;
	for (uint32_t j = (i + 1) & mask; a->slots[j]; j = (j + 1) & mask) {
		uint32_t home = (uint32_t)key_hash(a->prof[(a->slots[j] & SLOT_IDX_MASK) - 1].key, 0) & mask;
		/* Move slot j back to the hole at i if its home is not in (i, j]. */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			a->slots[i] = a->slots[j];
			a->slots[j] = 0;
			i = j;
		}
	}
	if (p->smtp) {
		drop_hosts(a, &a->smtp[p->smtp - 1]);
		mg_intern_put(a->helos, a->smtp[p->smtp - 1].helo);
		drop_wide(a, &a->smtp[p->smtp - 1]);
		push_u32(&a->free_smtp, &a->nfree_smtp, &a->capfree_smtp, p->smtp - 1);
	}
	mg_vrec_del(&a->vrecs, p->key);
	clear_dirty(a, p);
	push_u32(&a->free_prof, &a->nfree_prof, &a->capfree_prof, prof_idx(a, p));
	memset(p, 0, sizeof(*p));
	a->live--;
}

/* ---- sliding windows --------------------------------------------------------------- */

/* Move the buckets on to `now` before adding to them. */
static void win_roll(struct mg_analyzer *a, struct smtp *m, uint64_t now)
{
	uint64_t w = a->cfg.window_ns;

	struct counts c;

	if (now < m->win_start + w)
		return;
	wide_load(a, m, &c);
	if (now < m->win_start + 2 * w) {
		memcpy(c.prev, c.cur, sizeof(c.prev));
		m->bits_prev = m->bits_cur;
		m->shape_prev = m->shape_cur;
		m->absurd_prev = m->absurd_cur;
		m->win_start += w;
	} else {
		memset(c.prev, 0, sizeof(c.prev));
		m->bits_prev = 0;
		m->shape_prev = 0;
		m->absurd_prev = 0;
		m->win_start = now;
	}
	memset(c.cur, 0, sizeof(c.cur));
	wide_store(a, m, &c);
	m->bits_cur = 0;
	m->shape_cur = 0;
	m->absurd_cur = 0;
}

static void win_clear(struct mg_analyzer *a, struct smtp *m, uint64_t now)
{
	struct counts c;

	wide_load(a, m, &c);
	memset(c.cur, 0, sizeof(c.cur));
	memset(c.prev, 0, sizeof(c.prev));
	wide_store(a, m, &c);
	m->bits_cur = m->bits_prev = 0;
	m->shape_cur = m->shape_prev = 0;
	m->absurd_cur = m->absurd_prev = 0;
	m->win_start = now;
	m->first_evidence = 0;
	m->long_mx = m->long_sessions = 0;
}

static bool win_empty(const struct mg_analyzer *a, const struct smtp *m)
{
	struct counts c;

	wide_load(a, m, &c);
	for (int i = 0; i < W_MAX; i++)
		if (c.cur[i] || c.prev[i])
			return false;
	return !m->bits_cur && !m->bits_prev;
}

/* ---- the longer memory: exponentially decayed counts ---------------------------------- */

static double long_decay(const struct mg_analyzer *a, const struct smtp *m, uint64_t now)
{
	uint64_t h = a->cfg.long_half_life_ns, at = ns_of(m->long_at);

	if (!h || !m->long_at || now <= at)
		return 1;
	return exp2(-(double)(now - at) / (double)h);
}

/*
 * The memory's counts as of t: anchored at the start of t's second (or
 * left at a later anchor, where nothing has decayed yet) and scaled up by
 * the decay from there to t, so that read at any time from t on they are
 * what they were at t, decayed from t (to a float's rounding).
 */
static void long_store(const struct mg_analyzer *a, struct smtp *m, uint64_t t, double mx, double sessions)
{
	uint64_t h = a->cfg.long_half_life_ns;

	if (t > ns_of(m->long_at))
		m->long_at = ct_of(t);
	uint64_t at = ns_of(m->long_at);
	double up = h && t > at ? exp2((double)(t - at) / (double)h) : 1;
	m->long_mx = (float)(mx * up);
	m->long_sessions = (float)(sessions * up);
}

static void long_read(const struct mg_analyzer *a, const struct smtp *m, uint64_t now, double *mx, double *sessions)
{
	double d = long_decay(a, m, now);

	*mx = m->long_mx * d;
	*sessions = m->long_sessions * d;
}

/* New MX destinations and sessions into the memory, everything in it decayed to now first. */
static void long_add(const struct mg_analyzer *a, struct smtp *m, uint64_t now, uint32_t new_mx, uint32_t sessions)
{
	double mx, ses;

	if (!new_mx && !sessions)
		return;
	long_read(a, m, now, &mx, &ses);
	long_store(a, m, now, mx + new_mx, ses + sessions);
}


/* Figures over the last window as of `now`, read without moving the buckets. */
struct figures {
	double v[W_MAX];
	uint64_t bits;
	unsigned shapes;
	enum mg_helo_absurd absurd; /* the latest absurd HELO identity in the window, if any */
	double long_mx, long_sessions; /* the longer memory, decayed to now */
};

static void win_read(const struct mg_analyzer *a, const struct smtp *m, uint64_t now, struct figures *f)
{
	uint64_t w = a->cfg.window_ns, start = m->win_start;
	struct counts c;
	wide_load(a, m, &c);
	const uint32_t *cur = c.cur, *prev = c.prev;
	static const uint32_t zero[W_MAX];
	uint64_t bcur = m->bits_cur, bprev = m->bits_prev;
	unsigned scur = m->shape_cur, sprev = m->shape_prev;
	unsigned acur = m->absurd_cur, aprev = m->absurd_prev;

	memset(f, 0, sizeof(*f));
	long_read(a, m, now, &f->long_mx, &f->long_sessions);
	if (now >= start + 2 * w)
		return;
	if (now >= start + w) { /* cur has become prev */
		prev = cur;
		cur = zero;
		bprev = bcur;
		bcur = 0;
		sprev = scur;
		scur = 0;
		aprev = acur;
		acur = 0;
		start += w;
	}
	double age = now > start ? (double)(now - start) / (double)w : 0;
	double weight = age >= 1 ? 0 : 1 - age;
	for (int i = 0; i < W_MAX; i++)
		f->v[i] = cur[i] + prev[i] * weight;
	/* Destinations and HELO shapes: the older bucket counts whole while it lasts. */
	f->bits = bcur | bprev;
	f->shapes = scur | sprev;
	f->absurd = (enum mg_helo_absurd)(acur ? acur : aprev);
}

/* Linear counting: distinct destinations from the share of zero bits in 64. */
static uint32_t distinct_from_bits(uint64_t bits)
{
	int ones = __builtin_popcountll(bits);

	if (ones == 0)
		return 0;
	if (ones >= 64)
		return 266; /* 64 ln 64: the most 64 bits can tell */
	return (uint32_t)lround(-64.0 * log((64.0 - ones) / 64.0));
}

/* ---- lifecycle ---------------------------------------------------------------------- */

static void breaker_setup(struct mg_analyzer *a)
{
	free(a->brk);
	a->brk_cap = a->cfg.max_new_blocks_per_min;
	a->brk = a->brk_cap ? calloc(a->brk_cap, sizeof(*a->brk)) : NULL;
	if (!a->brk)
		a->brk_cap = 0;
	a->brk_head = a->brk_count = 0;
}

struct mg_analyzer *mg_an_new(const struct mg_an_config *c)
{
	struct mg_analyzer *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->cfg = *c;
	if (!a->cfg.window_ns)
		a->cfg.window_ns = 10 * NS_PER_MIN;
	breaker_setup(a);
	a->helos = mg_intern_new();
	if (!a->helos || table_resize(a, 2048)) {
		mg_an_free(a);
		return NULL;
	}
	return a;
}

void mg_an_free(struct mg_analyzer *a)
{
	if (!a)
		return;
	free(a->prof);
	free(a->free_prof);
	free(a->slots);
	free(a->smtp);
	free(a->free_smtp);
	free(a->wide);
	free(a->free_wide);
	free(a->verdicts);
	for (unsigned k = 0; k < HOSTS_CLASSES; k++)
		free(a->hosts[k].v);
	free(a->dirty);
	free(a->blocked);
	free(a->brk);
	pset_clear(&a->servers);
	pset_clear(&a->allow);
	mg_vrec_clear(&a->vrecs);
	mg_intern_free(a->helos);
	free(a->texts);
	free(a);
}

void mg_an_set_config(struct mg_analyzer *a, const struct mg_an_config *c)
{
	bool brk_changed = c->max_new_blocks_per_min != a->cfg.max_new_blocks_per_min;

	a->cfg = *c;
	if (!a->cfg.window_ns)
		a->cfg.window_ns = 10 * NS_PER_MIN;
	if (brk_changed)
		breaker_setup(a);
	/* New thresholds apply to everyone: look at every profile again at the next tick. */
	for (uint32_t i = 0; i < a->nprof; i++)
		if (a->prof[i].flags & PF_USED)
			mark_dirty(a, &a->prof[i]);
}

void mg_an_add_mail_server(struct mg_analyzer *a, const struct mg_prefix *p)
{
	pset_add(&a->servers, p);
}

void mg_an_add_allow(struct mg_analyzer *a, const struct mg_prefix *p)
{
	pset_add(&a->allow, p);
}

void mg_an_remove_allow(struct mg_analyzer *a, const struct mg_prefix *p)
{
	pset_remove(&a->allow, p);
}

void mg_an_clear_configured(struct mg_analyzer *a)
{
	pset_clear(&a->servers);
	pset_clear(&a->allow);
}

/* ---- inputs ------------------------------------------------------------------------- */

/* Port-25 activity: opens an episode, counts toward the learning period's active days. */
static void smtp_activity(const struct mg_analyzer *a, struct smtp *m, uint64_t now)
{
	if (!m->first_evidence || win_empty(a, m))
		m->first_evidence = now;
	if (!m->first_smtp)
		m->first_smtp = ct_up(now);
	uint16_t day = (uint16_t)(now / NS_PER_DAY);
	if (day != m->active_day || !m->active_days) {
		m->active_day = day;
		if (m->active_days < UINT16_MAX)
			m->active_days++;
	}
}

/*
 * HELO texts: a source keeps its last name's text while it is among the
 * cfg.helo_texts sources that took a name most recently, and for as long
 * as it is a suspect or blocked (the text is their evidence); the hash and
 * the shape it always keeps. The ring (struct text_ent) is that order; a
 * source leaving it lets go of its text unless protected. Its next HELO
 * brings the text back.
 */
static uint32_t helo_texts_max(const struct mg_analyzer *a)
{
	return a->cfg.helo_texts ? a->cfg.helo_texts : HELO_TEXTS_DEFAULT;
}

static bool text_protected(const struct prof *p)
{
	return p->role == MG_ROLE_SUSPECT || p->role == MG_ROLE_BLOCKED;
}

static void text_drop(struct mg_analyzer *a, struct smtp *m)
{
	mg_intern_put(a->helos, m->helo);
	m->helo = 0;
	m->helo_last |= HELO_DROPPED;
}

/* The oldest entry leaves the ring, and its source's text with it if the entry is not stale. */
static void texts_pop(struct mg_analyzer *a)
{
	struct text_ent e = a->texts[a->texts_head];

	a->texts_head = (a->texts_head + 1) % a->captexts;
	a->ntexts--;
	if (e.prof >= a->nprof || !(a->prof[e.prof].flags & PF_USED))
		return;
	struct prof *p = &a->prof[e.prof];
	struct smtp *m = smtp_of(a, p);
	if (m && m->helo == e.helo && !text_protected(p))
		text_drop(a, m);
}

/* Room for one more entry: a full ring grows (oldest first at 0) up to the most it may hold. */
static bool texts_room(struct mg_analyzer *a, uint32_t max)
{
	if (a->ntexts < a->captexts)
		return true;
	uint32_t cap = a->captexts ? a->captexts * 2 : 1024;
	if (cap > max)
		cap = max;
	struct text_ent *n = malloc((size_t)cap * sizeof(*n));
	if (!n)
		return false;
	for (uint32_t i = 0; i < a->ntexts; i++)
		n[i] = a->texts[(a->texts_head + i) % a->captexts];
	free(a->texts);
	a->texts = n;
	a->captexts = cap;
	a->texts_head = 0;
	return true;
}

/*
 * m (of p) holds a text now: it goes in as the newest, the oldest making
 * room (which may be m's own older entry: then its text is gone and there
 * is nothing to add). Without memory for the ring the text goes at once.
 * A suspect's or blocked source's text takes no turn: it stays while they
 * are, and joins the ring when they are no longer (set_role()).
 */
static void texts_push(struct mg_analyzer *a, const struct prof *p, struct smtp *m)
{
	uint32_t max = helo_texts_max(a);

	if (text_protected(p))
		return;
	while (a->ntexts && a->ntexts >= max)
		texts_pop(a);
	if (!m->helo)
		return;
	if (!texts_room(a, max)) {
		text_drop(a, m);
		return;
	}
	a->texts[(a->texts_head + a->ntexts) % a->captexts] = (struct text_ent){ prof_idx(a, p), m->helo };
	a->ntexts++;
}

/*
 * The last HELO name and its shape: the new one taken before the old one is
 * let go (they may be the same); a name new to the record joins the ring.
 */
static void set_helo(struct mg_analyzer *a, const struct prof *p, struct smtp *m, const char *s, size_t len,
		     unsigned shape)
{
	uint32_t id = mg_intern_get(a->helos, s, len), old = m->helo;

	mg_intern_put(a->helos, old);
	m->helo = id;
	m->helo_last = (uint8_t)(shape & MG_HELO_SHAPES_ALL);
	if (id && id != old)
		texts_push(a, p, m);
}

/* The last HELO name of m ("" if none), its length in *len. */
static const char *helo_of(const struct mg_analyzer *a, const struct smtp *m, size_t *len)
{
	const char *s = m ? mg_intern_str(a->helos, m->helo, len) : NULL;

	if (!s)
		*len = 0;
	return s ? s : "";
}

static void take_l2(struct smtp *m, const uint8_t mac[6], uint16_t outer, uint16_t inner)
{
	static const uint8_t zero[6];

	if (memcmp(mac, zero, 6))
		memcpy(m->mac, mac, 6);
	m->vlan_outer = outer;
	m->vlan_inner = inner;
}

/* A MAIL FROM: its domain is what SPF checks; a forged identity used again adds a session. */
static void on_mail(struct mg_analyzer *a, const struct mg_event *ev, uint64_t now)
{
	char dom[MG_VERIFY_NAME];
	uint8_t key[16];

	profile_key(a, ev->src, key);
	struct prof *p = get_prof(a, key, now);
	if (!p)
		return;
	struct mg_vrec *r = mg_vrec_get(&a->vrecs, key);
	if (!r)
		return;
	size_t len = ev->arg_len <= MG_HELO_ARG_MAX ? ev->arg_len : MG_HELO_ARG_MAX;
	if (mg_mail_from_domain(ev->u.arg, len, dom, sizeof(dom)) < 0)
		dom[0] = '\0'; /* cut off or unreadable: nothing to check */
	memcpy(r->mail_domain, dom, sizeof(dom));
	/* The same forged identity again (the same domain for SPF; any session for a forged HELO). */
	if (r->has_result && r->s.forged && age(now, r->at) < a->cfg.window_ns &&
	    ((r->s.forged & ~MG_FORGED_SPF) || !strcmp(dom, r->s.mail_domain))) {
		if (r->forged_sessions < UINT16_MAX)
			r->forged_sessions++;
		r->at = now;
	}
	mark_dirty(a, p);
}

void mg_an_on_event(struct mg_analyzer *a, const struct mg_event *ev, uint64_t now)
{
	uint8_t key[16];

	if (ev->type == MG_EV_MAIL) {
		if (now > a->now)
			a->now = now;
		on_mail(a, ev, now);
		return;
	}
	if (ev->type != MG_EV_SYN_MX && ev->type != MG_EV_HELO)
		return; /* drops are the kernel's own report; nothing to learn */
	if (now > a->now)
		a->now = now;
	profile_key(a, ev->src, key);
	struct prof *p = get_prof(a, key, now);
	if (!p)
		return;
	struct smtp *m = get_smtp(a, p, now);
	if (!m)
		return;
	p->last_seen = ct_of(now);
	win_roll(a, m, now);
	take_l2(m, ev->mac, ev->vlan_outer, ev->vlan_inner);

	if (ev->type == MG_EV_SYN_MX) {
		uint32_t w[4];
		memcpy(w, ev->dst, 16);
		smtp_activity(a, m, now);
		m->bits_cur |= 1ull << mg_dst_bit(w);
	} else {
		size_t len = ev->arg_len <= MG_HELO_ARG_MAX ? ev->arg_len : MG_HELO_ARG_MAX;
		unsigned shape = mg_helo_shape(ev->u.arg, len, ev->src);
		if (m->helo_hash && ev->helo_hash != m->helo_hash) {
			struct counts c;
			wide_load(a, m, &c);
			c.cur[W_HELO_CHG]++;
			wide_store(a, m, &c);
		}
		m->helo_hash = ev->helo_hash;
		set_helo(a, p, m, ev->u.arg, len, shape);
		m->shape_cur |= (uint8_t)shape;
		if (key_plen(a, key) < 128) {
			note_host(a, m, key, ev->src, ev->mac, ev->vlan_outer, now);
		}
		if (shape & ~MG_HELO_FQDN)
			m->helo_bad_ever = 1;
		/* Judged on the full address: a key aggregated to a prefix is no host's own. */
		enum mg_helo_absurd absurd = mg_helo_absurd(ev->u.arg, len, ev->src);
		if (absurd != MG_ABSURD_NONE) {
			m->absurd_cur = (uint8_t)absurd & 15;
			m->helo_bad_ever = 1;
		}
		smtp_activity(a, m, now);
	}
	mark_dirty(a, p);
}

/* Growth of a kernel counter since the last scan; a smaller value means the entry was recreated. */
static uint32_t delta(uint32_t *last, uint32_t now_val)
{
	uint32_t d = now_val >= *last ? now_val - *last : now_val;
	*last = now_val;
	return d;
}

static void counters_apply(struct mg_analyzer *a, struct prof *p, bool fresh, const struct mg_src_stats *s,
			   uint64_t now)
{
	bool news;

	uint32_t d_sub = delta(&p->k_syn_sub, s->syn_submission);
	uint32_t d_other = delta(&p->k_syn_other, s->syn_other);
	uint32_t d_serve = 0;
	p->sub_total += d_sub;
	p->other_total += d_other;
	news = d_sub || d_other || fresh;

	uint32_t helo = s->cmd[MG_CMD_HELO] + s->cmd[MG_CMD_EHLO];
	bool smtp_seen = s->syn_mx || helo || s->cmd[MG_CMD_MAIL] || s->synack_smtp || s->mx_dst_bits;
	struct smtp *m = smtp_of(a, p);
	if (!m && smtp_seen)
		m = get_smtp(a, p, now);
	if (m) {
		struct counts c;
		win_roll(a, m, now);
		wide_load(a, m, &c);
		/* Its SYN-ACKs make the record (smtp_seen): a source without one has sent none. */
		d_serve = delta(&c.k[K_SYNACK], s->synack_smtp);
		c.serve_total += d_serve;
		news |= d_serve != 0;
		uint32_t d_syn = delta(&c.k[K_SYN_MX], s->syn_mx);
		uint32_t d_helo = delta(&c.k[K_HELO], helo);
		uint32_t d_mail = delta(&c.k[K_MAIL], s->cmd[MG_CMD_MAIL]);
		uint32_t d_rcpt = delta(&c.k[K_RCPT], s->cmd[MG_CMD_RCPT]);
		uint32_t d_r[MG_REPLY_MAX];
		for (int i = 0; i < MG_REPLY_MAX; i++)
			d_r[i] = delta(&c.k[K_REPLY + i], s->reply[i]);
		/* Destinations the kernel marked since the last scan (all of them if it started over). */
		uint64_t new_bits = (s->mx_dst_bits & m->k_mx_bits) == m->k_mx_bits ? s->mx_dst_bits & ~m->k_mx_bits
										     : s->mx_dst_bits;
		m->k_mx_bits = s->mx_dst_bits;
		c.cur[W_SYN] += d_syn;
		c.cur[W_HELO] += d_helo;
		c.cur[W_MAIL] += d_mail;
		c.cur[W_RCPT] += d_rcpt;
		c.cur[W_R2] += d_r[MG_REPLY_2XX];
		c.cur[W_R4] += d_r[MG_REPLY_4XX];
		c.cur[W_R5] += d_r[MG_REPLY_5XX];
		m->bits_cur |= new_bits;
		/*
		 * The memory counts a destination when the kernel first marks its
		 * bit (so a reconnection to the same MX adds nothing), and every
		 * MAIL command as a session.
		 */
		long_add(a, m, now, (uint32_t)__builtin_popcountll(new_bits), d_mail);
		/* A HELO whose event was lost still shows as a changed hash. */
		if (s->helo_hash && s->helo_hash != m->helo_hash) {
			if (m->helo_hash)
				c.cur[W_HELO_CHG]++;
			m->helo_hash = s->helo_hash;
		}
		wide_store(a, m, &c);
		if (d_syn || d_helo || d_mail || new_bits || d_serve)
			smtp_activity(a, m, now);
		take_l2(m, s->mac, s->vlan_outer, s->vlan_inner);
		news |= d_syn || d_helo || d_mail || d_rcpt || d_r[0] || d_r[1] || d_r[2] || new_bits;
	}
	if (news) {
		p->last_seen = ct_of(now);
		mark_dirty(a, p);
	}
}

void mg_an_on_counters(struct mg_analyzer *a, const uint8_t kkey[16], const struct mg_src_stats *s, uint64_t now)
{
	uint8_t key[16];

	if (now > a->now)
		a->now = now;
	profile_key(a, kkey, key);
	struct prof *p = find_prof(a, key);
	bool fresh = !p;
	if (!p && !(p = get_prof(a, key, now)))
		return;
	counters_apply(a, p, fresh, s, now);
}

/*
 * A full scan reads every kernel profile; on a large table nearly every
 * lookup misses the cache twice (hash slot, then profile), and a third time
 * for a profile with an SMTP record. Working in chunks and prefetching each
 * stage for the whole chunk lets those misses overlap. (bench-analyzer, ten
 * million profiles: the third stage took a full scan from about 204 to 168
 * ns a profile when all have an SMTP record, and cost nothing measurable at
 * 1 %; also prefetching the second line a profile may straddle did not pay.)
 */
#define CHUNK 32

/*
 * What counters_apply() reads and writes of an SMTP record in a scan without
 * news: the fields before active_days, on up to three cache lines (records
 * are not line-aligned).
 */
static void prefetch_smtp(const struct smtp *m)
{
	const char *b = (const char *)m;

	__builtin_prefetch(b, 1);
	__builtin_prefetch(b + 64, 1);
	__builtin_prefetch(b + offsetof(struct smtp, active_days) - 1, 1);
}

void mg_an_on_counters_batch(struct mg_analyzer *a, const uint8_t (*keys)[16], const struct mg_src_stats *s,
			     size_t n, uint64_t now)
{
	uint8_t key[CHUNK][16];
	uint32_t slot[CHUNK], idx[CHUNK], tag[CHUNK];

	if (now > a->now)
		a->now = now;
	for (size_t base = 0; base < n; base += CHUNK) {
		size_t m = n - base < CHUNK ? n - base : CHUNK;
		uint32_t mask = a->nslots - 1;
		for (size_t i = 0; i < m; i++) {
			profile_key(a, keys[base + i], key[i]);
			uint64_t h = key_hash(key[i], 0);
			slot[i] = (uint32_t)h & mask;
			tag[i] = slot_tag(h);
			__builtin_prefetch(&a->slots[slot[i]]);
		}
		for (size_t i = 0; i < m; i++) {
			uint32_t sv = a->slots[slot[i]];
			idx[i] = (sv & ~SLOT_IDX_MASK) == tag[i] ? sv & SLOT_IDX_MASK : 0;
			if (idx[i])
				__builtin_prefetch(&a->prof[idx[i] - 1]);
		}
		for (size_t i = 0; i < m; i++) {
			const struct prof *p = idx[i] ? &a->prof[idx[i] - 1] : NULL;
			if (p && p->smtp)
				prefetch_smtp(&a->smtp[p->smtp - 1]);
		}
		for (size_t i = 0; i < m; i++) {
			/* The first probe usually hits; anything else takes the ordinary path. */
			struct prof *p = idx[i] ? &a->prof[idx[i] - 1] : NULL;
			bool fresh = false;
			if (!p || memcmp(p->key, key[i], 16)) {
				p = find_prof(a, key[i]);
				if (!p) {
					fresh = true;
					if (!(p = get_prof(a, key[i], now)))
						continue;
				}
			}
			counters_apply(a, p, fresh, &s[base + i], now);
		}
	}
}

/* ---- source verification ------------------------------------------------------------ */

#define VERIFY_MIN_GAP_NS (30 * NS_PER_SEC) /* one verification per source at most this often */

static uint32_t ident_hash(const char *helo, size_t hlen, const char *dom)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < hlen; i++)
		h = (h ^ (uint8_t)(helo[i] | 0x20)) * 16777619u;
	h = (h ^ 0xff) * 16777619u;
	for (const char *d = dom; *d; d++)
		h = (h ^ (uint8_t)*d) * 16777619u;
	return h | 1;
}

static enum mg_role base_role(const struct mg_analyzer *a, const struct prof *p);

bool mg_an_verify_wanted(struct mg_analyzer *a, const uint8_t addr[16], uint64_t now, struct mg_verify_input *in)
{
	uint8_t key[16];

	profile_key(a, addr, key);
	struct prof *p = find_prof(a, key);
	if (!p || p->role == MG_ROLE_BLOCKED || base_role(a, p) == MG_ROLE_MAIL_SERVER ||
	    pset_covers(&a->allow, key))
		return false;
	struct mg_vrec *r = mg_vrec_find(&a->vrecs, key);
	struct smtp *m = smtp_of(a, p);
	if (!r)
		return false;
	/* Its HELO's text was let go: nothing to check it by; its next HELO brings the text back. */
	if (m && (m->helo_last & HELO_DROPPED))
		return false;
	size_t hl;
	const char *helo = helo_of(a, m, &hl);
	uint32_t ident = ident_hash(helo, hl, r->mail_domain);
	if (r->ident && age(now, r->requested) < VERIFY_MIN_GAP_NS)
		return false;
	if (r->ident == ident && age(now, r->requested) < a->cfg.reverify_ns)
		return false;
	r->ident = ident;
	r->requested = now;
	memset(in, 0, sizeof(*in));
	memcpy(in->addr, addr, 16);
	memcpy(in->helo, helo, hl);
	memcpy(in->mail_domain, r->mail_domain, sizeof(in->mail_domain));
	in->mail_domain[sizeof(in->mail_domain) - 1] = '\0';
	in->dns = true;
	return true;
}

void mg_an_on_verify(struct mg_analyzer *a, const uint8_t addr[16], const struct mg_verify_summary *s, uint64_t now)
{
	uint8_t key[16];

	profile_key(a, addr, key);
	struct prof *p = find_prof(a, key);
	if (!p)
		return;
	struct mg_vrec *r = mg_vrec_get(&a->vrecs, key);
	if (!r)
		return;
	bool recent = r->has_result && age(now, r->at) < a->cfg.window_ns;
	if (s->forged) {
		/* A forgery is news for the operator even if the source was reported already (for its HELO, say). */
		if (!(recent && r->s.forged))
			p->flags &= (uint8_t)~PF_ALERTED;
		r->forged_sessions = (uint16_t)(recent && r->s.forged && r->forged_sessions < UINT16_MAX ? r->forged_sessions + 1 : 1);
	} else if (recent && r->s.forged) {
		/* A clean identity after a forged one in the window: the forgery stays the evidence. */
		mark_dirty(a, p);
		return;
	} else {
		r->forged_sessions = 0;
	}
	r->s = *s;
	r->at = now;
	r->has_result = 1;
	mark_dirty(a, p);
}

size_t mg_an_verify_records(const struct mg_analyzer *a)
{
	return a->vrecs.n;
}

/* ---- scoring ------------------------------------------------------------------------ */

struct verdict_in {
	struct figures f;
	double score;
	uint32_t distinct_mx, syn_per_min, distinct_helos;
	bool sessions_seen; /* SMTP commands from completed handshakes in the window */
	const struct mg_vrec *vr; /* source verification in the window, if any */
	double vscore;            /* its part of score */
	unsigned forged;          /* enum mg_forgery bits (not for mail servers) */
};

/*
 * Does the source use the network for anything but SMTP: SYNs to other ports
 * or to submission in its profile, or ordinary use in its protected
 * address's activity record (which also saw what it did before its profile).
 */
static bool other_activity(const struct mg_analyzer *a, const struct prof *p)
{
	return p->other_total || p->sub_total || mg_act_ordinary(mg_act_find(a->act, p->key));
}

static enum mg_role base_role(const struct mg_analyzer *a, const struct prof *p)
{
	if ((p->flags & PF_LEARNED) || pset_covers(&a->servers, p->key))
		return MG_ROLE_MAIL_SERVER;
	if (other_activity(a, p))
		return MG_ROLE_END_HOST;
	return MG_ROLE_UNKNOWN;
}

/*
 * The score: a weighted sum of how far the source's behaviour in the window
 * goes past what an ordinary host does. For a mail server (configured or
 * learned) the volume features do not count: busy is its job. Only the
 * anomalies (a HELO no mail server would send, most of its mail refused)
 * can add up to a verdict for one.
 */
static void score(const struct mg_analyzer *a, const struct prof *p, const struct smtp *m, uint64_t now,
		  struct verdict_in *in)
{
	const struct mg_an_config *c = &a->cfg;
	struct figures *f = &in->f;
	bool server = base_role(a, p) == MG_ROLE_MAIL_SERVER;
	double s = 0;

	memset(in, 0, sizeof(*in));
	if (!m)
		return;
	win_read(a, m, now, f);
	in->distinct_mx = distinct_from_bits(f->bits);
	/* Rate over the episode so far (at least a minute, at most the window): a burst shows at once. */
	uint64_t span = m->first_evidence && now > m->first_evidence ? now - m->first_evidence : 0;
	if (span > c->window_ns)
		span = c->window_ns;
	if (span < NS_PER_MIN)
		span = NS_PER_MIN;
	double syn_per_min = f->v[W_SYN] * (double)NS_PER_MIN / (double)span;
	in->syn_per_min = (uint32_t)lround(syn_per_min);
	double helos = f->v[W_HELO], changes = f->v[W_HELO_CHG];
	in->distinct_helos = helos > 0 ? (uint32_t)lround(fmin(helos, 1 + changes)) : 0;
	in->sessions_seen = f->v[W_HELO] + f->v[W_MAIL] >= 0.5;

	if (!server) {
		if (in->distinct_mx > c->free_distinct_mx)
			s += c->w_distinct_mx * (in->distinct_mx - c->free_distinct_mx);
		if (syn_per_min > c->free_syn_per_min)
			s += c->w_syn_rate * (syn_per_min - c->free_syn_per_min);
		double mails = f->v[W_MAIL];
		if (mails >= 1 && f->v[W_RCPT] / mails > 10)
			s += c->w_rcpt_per_session * (f->v[W_RCPT] / mails - 10);
		if (!other_activity(a, p) && (f->v[W_SYN] >= 1 || helos >= 1))
			s += c->w_no_other_activity;
		/* A patient sender: a new MX every few minutes adds up over hours, not within one window. */
		if (f->long_mx > c->free_long_mx)
			s += c->w_long_mx * (f->long_mx - c->free_long_mx);
	}
	if (f->shapes & MG_HELO_IP_LITERAL)
		s += c->w_helo_ip_literal;
	if (f->shapes & (MG_HELO_BARE_WORD | MG_HELO_EMPTY))
		s += c->w_helo_bare_word;
	if (f->shapes & MG_HELO_OWN_OCTETS)
		s += c->w_helo_own_octets;
	/* A different name on (nearly) every connection: no real host renames itself per message. */
	if (helos >= 3 && changes >= 0.8 * (helos - 1))
		s += c->w_helo_varies;
	double replies = f->v[W_R2] + f->v[W_R4] + f->v[W_R5];
	if (replies >= 4)
		s += c->w_reject_ratio * (f->v[W_R4] + f->v[W_R5]) / replies;
	/*
	 * Source verification: what the checks found within the window. A
	 * mail server's is shown but weighs nothing: forwarding breaks SPF, and
	 * servers are judged on anomalies of their own.
	 */
	const struct mg_vrec *vr = mg_vrec_find(&a->vrecs, p->key);
	if (vr && vr->has_result && age(now, vr->at) < c->window_ns) {
		in->vr = vr;
		in->vscore = server ? 0 : mg_verify_score(&vr->s, &c->vw);
		in->forged = server ? 0 : vr->s.forged;
		s += in->vscore;
	}
	in->score = s;
}

static void fill_evidence(const struct mg_analyzer *a, const struct prof *p, const struct smtp *m,
			  const struct verdict_in *in, const char *rule, struct mg_an_evidence *ev)
{
	memset(ev, 0, sizeof(*ev));
	snprintf(ev->rule, sizeof(ev->rule), "%s", rule);
	ev->score = in->score;
	ev->distinct_mx = in->distinct_mx;
	ev->syn_mx_per_min = in->syn_per_min;
	ev->sessions = (uint32_t)lround(in->f.v[W_MAIL]);
	ev->rcpts = (uint32_t)lround(in->f.v[W_RCPT]);
	ev->replies_2xx = (uint32_t)lround(in->f.v[W_R2]);
	ev->replies_4xx = (uint32_t)lround(in->f.v[W_R4]);
	ev->replies_5xx = (uint32_t)lround(in->f.v[W_R5]);
	ev->distinct_helos = in->distinct_helos;
	ev->helo_absurd = in->f.absurd;
	ev->long_mx = in->f.long_mx;
	ev->long_sessions = in->f.long_sessions;
	ev->role_before = (enum mg_role)p->role;
	if (!m)
		return;
	size_t hl;
	const char *helo = helo_of(a, m, &hl);
	ev->helo_shape = hl ? mg_helo_shape(helo, hl, p->key) : in->f.shapes;
	memcpy(ev->helo, helo, hl);
	ev->helo[hl] = '\0';
	ev->helo_hash = m->helo_hash;
	if (m->helo_last & HELO_DROPPED) {
		ev->helo_text_dropped = true;
		ev->helo_shape = m->helo_last & MG_HELO_SHAPES_ALL;
	}
	ev->first_evidence_ns = m->first_evidence;
	memcpy(ev->mac, m->mac, 6);
	ev->vlan_outer = m->vlan_outer;
	ev->vlan_inner = m->vlan_inner;
	const struct verdict *vd = verdict_of(a, m);
	if (vd->role_before && p->role == MG_ROLE_BLOCKED)
		ev->role_before = (enum mg_role)(vd->role_before - 1);
	struct hosts_full hf;
	if (hosts_read(a, m, p->key, &hf))
		hosts_export(&hf, &ev->hosts);
	if (in->vr) {
		ev->verified = true;
		ev->verify = in->vr->s;
		ev->verify_score = in->vscore;
		ev->forged_sessions = in->vr->forged_sessions;
	}
}

/*
 * Why a source is a suspect short of a verdict: an absurd HELO identity
 * names itself (one session is enough), else the score.
 */
static const char *suspect_rule(const struct verdict_in *in, char *buf, size_t len)
{
	if (in->forged) {
		snprintf(buf, len, "forgery:%s", mg_forgery_name(in->forged));
		return buf;
	}
	if (in->f.absurd != MG_ABSURD_NONE) {
		snprintf(buf, len, "helo-absurd:%s", mg_helo_absurd_name(in->f.absurd));
		return buf;
	}
	return in->sessions_seen ? "suspect:score" : "suspect:syn-only";
}

static const char *verdict_rule(enum mg_role before)
{
	switch (before) {
	case MG_ROLE_END_HOST:
		return "role-change:end-host-to-mta";
	case MG_ROLE_MAIL_SERVER:
		return "mail-server:anomalous-smtp";
	default:
		return "direct-to-mx:new-sender";
	}
}

/* ---- decisions ---------------------------------------------------------------------- */

struct out {
	struct mg_an_action *v;
	size_t n, max;
};

static struct mg_an_action *emit(struct out *o, enum mg_an_action_kind kind, const struct mg_analyzer *a,
				 const struct prof *p)
{
	if (o->n >= o->max)
		return NULL;
	struct mg_an_action *x = &o->v[o->n++];
	memset(x, 0, sizeof(*x));
	x->kind = kind;
	memcpy(x->prefix.addr, p->key, 16);
	x->prefix.prefixlen = (uint8_t)key_plen(a, p->key);
	return x;
}

/* Change a role, and keep the change in the profile's history (sources that spoke SMTP). */
static void set_role(struct mg_analyzer *a, struct prof *p, enum mg_role r, uint64_t now)
{
	struct smtp *m = smtp_of(a, p);

	if (p->role == r)
		return;
	if (m)
		hist_push(a, m, now, p->role, r);
	bool was_protected = text_protected(p);
	p->role = (uint8_t)r;
	/* Its text may have outstayed its turn in the ring while protected: it takes a new one. */
	if (m && m->helo && was_protected && !text_protected(p))
		texts_push(a, p, m);
}

/* Circuit breaker: may one more block go out now? */
static bool breaker_allows(const struct mg_analyzer *a, uint64_t now)
{
	if (!a->brk_cap)
		return false;
	if (a->brk_count < a->brk_cap)
		return true;
	uint64_t oldest = a->brk[a->brk_head]; /* the ring is full: head is the oldest */
	return age(now, oldest) >= NS_PER_MIN;
}

static void breaker_record(struct mg_analyzer *a, uint64_t now)
{
	if (!a->brk_cap)
		return;
	a->brk[a->brk_head] = now;
	a->brk_head = (a->brk_head + 1) % a->brk_cap;
	if (a->brk_count < a->brk_cap)
		a->brk_count++;
}

static uint64_t block_duration(const struct mg_an_config *c, unsigned offence)
{
	uint64_t d = c->block_ns ? c->block_ns : NS_PER_HOUR;

	for (unsigned i = 1; i < offence && d < c->max_block_ns; i++)
		d = c->repeat_factor > 1 ? d * c->repeat_factor : d;
	return c->max_block_ns && d > c->max_block_ns ? c->max_block_ns : d;
}

/* Returns false when out of room for actions (try again next tick). */
static bool evaluate(struct mg_analyzer *a, struct prof *p, uint64_t now, struct out *o)
{
	const struct mg_an_config *c = &a->cfg;
	struct smtp *m = smtp_of(a, p);
	struct verdict_in in;
	struct mg_an_action *x;

	if (p->role == MG_ROLE_BLOCKED)
		return true; /* the blocked list handles it */
	if (o->n >= o->max)
		return false;
	if (m)
		win_roll(a, m, now);
	score(a, p, m, now, &in);
	enum mg_role base = base_role(a, p);
	bool configured = pset_covers(&a->servers, p->key), allowed = pset_covers(&a->allow, p->key);

	/* Learning: steady SMTP over the learning period with a well-formed, stable HELO. */
	if (m && !(p->flags & PF_LEARNED) && !configured && m->first_smtp &&
	    age(now, ns_of(m->first_smtp)) >= c->learning_ns && m->active_days >= c->learn_min_active_days &&
	    !m->helo_bad_ever && in.score < c->alert_score) {
		p->flags |= PF_LEARNED;
		if ((x = emit(o, MG_AN_PROMOTE, a, p)))
			fill_evidence(a, p, m, &in, "learned:mail-server", &x->ev);
		set_role(a, p, MG_ROLE_MAIL_SERVER, now);
		return true;
	}
	if (configured || allowed) {
		set_role(a, p, base, now);
		p->flags &= (uint8_t)~PF_ALERTED;
		return true;
	}

	/*
	 * A raised threat level tightens the thresholds for hosts (10 % per
	 * level, half at level 5); mail servers keep theirs.
	 */
	double tighten = base == MG_ROLE_MAIL_SERVER ? 1.0 : 1.0 - 0.1 * a->threat;
	double block_at = c->block_score * tighten, alert_at = c->alert_score * tighten;

	/*
	 * A forged identity used again and again, by a host that delivers
	 * straight to MX hosts: a verdict of its own (verify.forgery_verdict_sessions),
	 * never for a mail server (in.forged is 0 for one).
	 */
	bool forgery_verdict = in.forged && c->forgery_verdict_sessions && in.sessions_seen &&
			       in.vr->forged_sessions >= c->forgery_verdict_sessions;
	/*
	 * Verification's points may tip a source over block_score only from its
	 * second session in the window on: one message is never a verdict by
	 * what DNS says of it (SPF breaks on forwarding, records are badly kept).
	 */
	bool tipped_by_checks = in.score >= block_at && in.score - in.vscore < block_at && in.f.v[W_MAIL] < 1.5;
	if ((in.score >= block_at && in.sessions_seen && !tipped_by_checks) || forgery_verdict) {
		char frule[48];
		const char *rule = verdict_rule(base);
		if (in.score < block_at) {
			snprintf(frule, sizeof(frule), "forgery:%s", mg_forgery_name(in.forged));
			rule = frule;
			/* Remembered for show and the policy service while the verdict lasts. */
			struct mg_vrec *vr = mg_vrec_find(&a->vrecs, p->key);
			if (vr)
				vr->verdict_forgery = (uint8_t)in.forged;
		}
		bool may_block = !c->monitor && breaker_allows(a, now);
		if (!may_block) {
			/* Monitor mode or breaker open: tell the operator once per episode. */
			if (!(p->flags & PF_ALERTED)) {
				x = emit(o, MG_AN_ALERT, a, p);
				fill_evidence(a, p, m, &in, c->monitor ? "monitor:would-block" : "breaker-open:would-block",
					      &x->ev);
				x->would_block = true;
				x->block_action = c->block_action;
				p->flags |= PF_ALERTED;
			}
			set_role(a, p, MG_ROLE_SUSPECT, now);
			return true;
		}
		struct verdict *vd = get_verdict(a, m);
		if (!vd)
			return true; /* no memory to keep it: judged again with the next news */
		/* offences > 0: there was a block, so last_block_end is a time, not "never". */
		if (vd->offences && vd->last_block_end && age(now, vd->last_block_end) > c->max_block_ns)
			vd->offences = 0; /* a clean record for as long as the longest block: forgiven */
		if (vd->offences < 255)
			vd->offences++;
		vd->role_before = (uint8_t)(base + 1);
		x = emit(o, MG_AN_BLOCK, a, p);
		fill_evidence(a, p, m, &in, rule, &x->ev);
		x->ev.role_before = base;
		x->block_action = c->block_action ? c->block_action : MG_ACT_DROP_SMTP;
		x->offence = vd->offences;
		vd->blocked_until = x->expires_ns = now + block_duration(c, vd->offences);
		set_role(a, p, MG_ROLE_BLOCKED, now);
		p->flags &= (uint8_t)~PF_ALERTED;
		breaker_record(a, now);
		if (!(p->flags & PF_BLOCKLIST) &&
		    push_u32(&a->blocked, &a->nblocked, &a->capblocked, prof_idx(a, p)) == 0)
			p->flags |= PF_BLOCKLIST;
		return true;
	}
	/*
	 * An absurd identity makes a suspect at once, from one session, but
	 * never a verdict by itself; a mail server's own name is no bot's.
	 */
	bool absurd = (in.f.absurd != MG_ABSURD_NONE || in.forged) && base != MG_ROLE_MAIL_SERVER;
	if (in.score >= alert_at || absurd) {
		if (!(p->flags & PF_ALERTED)) {
			char rule[sizeof(x->ev.rule)];
			x = emit(o, MG_AN_ALERT, a, p);
			fill_evidence(a, p, m, &in, suspect_rule(&in, rule, sizeof(rule)), &x->ev);
			p->flags |= PF_ALERTED;
		}
		set_role(a, p, MG_ROLE_SUSPECT, now);
		return true;
	}
	set_role(a, p, base, now);
	p->flags &= (uint8_t)~PF_ALERTED;
	return true;
}

/* A verdict ends: expired, or the address is now allowlisted or a configured server. */
static void end_block(struct mg_analyzer *a, struct prof *p, uint64_t now, struct out *o, const char *rule)
{
	struct smtp *m = smtp_of(a, p);
	struct verdict_in in;

	score(a, p, m, now, &in);
	struct mg_an_action *x = emit(o, MG_AN_UNBLOCK, a, p);
	if (x)
		fill_evidence(a, p, m, &in, rule, &x->ev);
	struct mg_vrec *vr = mg_vrec_find(&a->vrecs, p->key);
	if (vr)
		vr->verdict_forgery = 0;
	if (m) {
		struct verdict *vd = get_verdict(a, m); /* it has one: it was blocked */
		if (vd) {
			vd->blocked_until = 0;
			vd->last_block_end = now;
		}
		/* Evidence from before the block must not block it again by itself. */
		win_clear(a, m, now);
	}
	set_role(a, p, base_role(a, p), now);
	p->flags &= (uint8_t)~(PF_ALERTED | PF_BLOCKLIST);
	if (x)
		x->ev.role_before = MG_ROLE_BLOCKED;
}

static void check_blocked(struct mg_analyzer *a, uint64_t now, struct out *o)
{
	for (uint32_t i = 0; i < a->nblocked;) {
		struct prof *p = &a->prof[a->blocked[i]];
		struct smtp *m = smtp_of(a, p);
		const char *why = NULL;

		if (o->n >= o->max)
			return;
		if (p->role != MG_ROLE_BLOCKED || !m)
			why = "";
		else if (pset_covers(&a->allow, p->key))
			why = "unblocked:allowlisted";
		else if (pset_covers(&a->servers, p->key))
			why = "unblocked:configured-mail-server";
		else if (now >= verdict_of(a, m)->blocked_until)
			why = "expired";
		if (!why) {
			i++;
			continue;
		}
		if (*why)
			end_block(a, p, now, o, why);
		else
			p->flags &= (uint8_t)~PF_BLOCKLIST;
		a->blocked[i] = a->blocked[--a->nblocked];
	}
}

/*
 * Forget sources idle for long: 30 days for hosts, 90 for mail servers
 * (a server that sends monthly should not have to be learned again).
 * A slice of the table per tick keeps every tick short.
 */
#define IDLE_HOST_NS (30 * NS_PER_DAY)
#define IDLE_SERVER_NS (90 * NS_PER_DAY)

static void sweep(struct mg_analyzer *a, uint64_t now)
{
	uint32_t n = a->nprof / 512 + 256;

	for (uint32_t k = 0; k < n && a->nprof; k++) {
		if (a->sweep_pos >= a->nprof)
			a->sweep_pos = 0;
		struct prof *p = &a->prof[a->sweep_pos++];
		if (!(p->flags & PF_USED) || (p->flags & (PF_DIRTY | PF_BLOCKLIST)) || p->role == MG_ROLE_BLOCKED)
			continue;
		uint64_t idle = p->flags & PF_LEARNED ? IDLE_SERVER_NS : IDLE_HOST_NS;
		uint64_t last = ns_of(p->last_seen);
		if (now > last && now - last > idle)
			del_prof(a, p);
	}
}

/* Judge the profiles with news since they were last judged, into o. */
static void evaluate_dirty(struct mg_analyzer *a, uint64_t now, struct out *o)
{
	uint32_t nwords = (a->nprof + 63) / 64;

	if (!a->ndirty || !nwords)
		return;
	/* One round over the bitmap from where the last stopped; the word at the start is seen twice at most. */
	uint32_t w0 = a->dirty_pos / 64 < nwords ? a->dirty_pos / 64 : 0;
	for (uint32_t k = 0; k <= nwords && a->ndirty; k++) {
		uint32_t w = (w0 + k) % nwords;
		uint64_t bits = a->dirty[w];
		while (bits) {
			uint32_t i = w * 64 + (uint32_t)__builtin_ctzll(bits);
			bits &= bits - 1;
			struct prof *p = &a->prof[i];
			if (!evaluate(a, p, now, o)) {
				a->dirty_pos = i;
				return;
			}
			clear_dirty(a, p);
		}
	}
	a->dirty_pos = 0;
}

size_t mg_an_evaluate(struct mg_analyzer *a, uint64_t now, struct mg_an_action *out, size_t max)
{
	struct out o = { .v = out, .max = max };

	if (now > a->now)
		a->now = now;
	evaluate_dirty(a, now, &o);
	return o.n;
}

size_t mg_an_tick(struct mg_analyzer *a, uint64_t now, struct mg_an_action *out, size_t max)
{
	struct out o = { .v = out, .max = max };

	if (now > a->now)
		a->now = now;
	check_blocked(a, now, &o);
	evaluate_dirty(a, now, &o);
	sweep(a, now);
	return o.n;
}

void mg_an_set_threat(struct mg_analyzer *a, unsigned level)
{
	if (level > 5)
		level = 5;
	if (level == a->threat)
		return;
	a->threat = level;
	/* Everyone is judged again against the new thresholds at the next tick. */
	for (uint32_t i = 0; i < a->nprof; i++)
		if ((a->prof[i].flags & PF_USED) && a->prof[i].smtp)
			mark_dirty(a, &a->prof[i]);
}

bool mg_an_new_sender(const struct mg_analyzer *a, const uint8_t addr[16], uint64_t now)
{
	uint8_t key[16];

	profile_key(a, addr, key);
	const struct prof *p = find_prof(a, key);
	const struct smtp *m = p ? smtp_of(a, p) : NULL;
	if (!m || !m->first_smtp || (p->flags & PF_LEARNED))
		return false;
	if (pset_covers(&a->servers, key) || pset_covers(&a->allow, key))
		return false;
	return age(now, ns_of(m->first_smtp)) < a->cfg.window_ns;
}

/* The operator lifted a block (mtaguardctl unblock): the verdict ends, the old evidence with it. */
bool mg_an_pardon(struct mg_analyzer *a, const struct mg_prefix *pfx, uint64_t now)
{
	uint8_t key[16];
	struct mg_an_action scratch[1];
	struct out o = { .v = scratch, .max = 1 };

	profile_key(a, pfx->addr, key);
	struct prof *p = find_prof(a, key);
	if (!p || p->role != MG_ROLE_BLOCKED || key_plen(a, key) != pfx->prefixlen)
		return false;
	end_block(a, p, now, &o, "pardoned");
	return true;
}

/* ---- persistence -------------------------------------------------------------------- */

/*
 * Layout (little-endian host order; the state file is local to one machine):
 *   "MGAN" u32 version, u32 sizeof(prof_rec), u32 sizeof(smtp_rec), u64 saved_mono, u64 saved_wall, u32 count
 *   count x { struct prof_rec, then struct smtp_rec if prof_rec.smtp != 0,
 *             then struct mg_an_hosts if prof_rec.smtp == 2 (version 4) }
 * The records are the wide layout the profiles had before they were packed
 * in memory: save widens, restore checks and packs, so the format did not
 * change with the packing (a state of version 3 or 4 restores as before).
 * Times are monotonic and the clock starts again at boot, so restore moves
 * every time by (now - saved_mono) - (wall time passed since the save): a
 * block keeps its remaining time across a reboot, less the downtime.
 */
#define AN_MAGIC "MGAN"
/*
 * 3: struct smtp carries the longer memory (long_at, long_mx, long_sessions)
 * and the absurd HELO identities of the window (absurd_cur, absurd_prev).
 * A version-2 state is refused whole: the daemon says so, keeps the file and
 * starts fresh (what it forgets, the hours of memory and the windows, is
 * relearned in hours; learned mail servers are relearned over the learning
 * period, configured ones are not affected).
 */
#define AN_VERSION 3
/* 4: version 3 plus, after a record's smtp, the hosts seen in a prefix (prof.smtp == 2). 3 is still read. */
#define AN_VERSION_HOSTS 4
/*
 * 5: version 4 written as it is made (mg_an_save_take): the header comes
 * first, before the count is known, so it counts nothing (0), and the
 * records end with an end record (struct end_rec) that counts them. 3 and 4
 * are still read.
 */
#define AN_VERSION_STREAM 5

/*
 * Version 5's end record: the size of a profile's record, told apart from
 * one by the field where a profile has its smtp (0, 1 or 2).
 */
#define REC_END 0x454e44u /* "END" */
struct end_rec {
	uint8_t zero[16];  /* where a profile has its key */
	uint32_t count;    /* the profiles' records before it */
	uint32_t pad[9];
	uint32_t kind;     /* REC_END, at prof_rec.smtp's place */
	uint32_t pad2;
};
_Static_assert(sizeof(struct end_rec) == sizeof(struct prof_rec) &&
	       offsetof(struct end_rec, kind) == offsetof(struct prof_rec, smtp), "end record laid out as a profile's");

struct an_hdr {
	char magic[4];
	uint32_t version, prof_size, smtp_size;
	uint64_t saved_mono, saved_wall;
	uint32_t count, pad;
};

/*
 * The full day number of a day kept modulo 2^16 (struct smtp.active_day): the
 * latest one not after today, as the file has always carried it.
 */
static uint32_t full_day(uint16_t day, uint64_t now)
{
	uint32_t today = (uint32_t)(now / NS_PER_DAY);

	return today - (uint16_t)(today - day);
}

/* A profile and its SMTP record (m may be NULL) as the saved records have them, at `now`. */
static void to_rec(const struct mg_analyzer *a, const struct prof *p, const struct smtp *m, uint64_t now,
		   struct prof_rec *pr, struct smtp_rec *mr)
{
	memset(pr, 0, sizeof(*pr));
	memcpy(pr->key, p->key, 16);
	pr->first_seen = ns_of(p->first_seen);
	pr->last_seen = ns_of(p->last_seen);
	pr->k_syn_sub = p->k_syn_sub;
	pr->k_syn_other = p->k_syn_other;
	pr->sub_total = p->sub_total;
	pr->other_total = p->other_total;
	pr->role = p->role;
	pr->flags = p->flags;
	if (!m)
		return;
	struct counts c;
	wide_load(a, m, &c);
	pr->k_synack = c.k[K_SYNACK];
	pr->serve_total = c.serve_total;
	const struct verdict *vd = verdict_of(a, m);
	pr->offences = vd->offences;
	memset(mr, 0, sizeof(*mr));
	mr->win_start = m->win_start;
	memcpy(mr->cur, c.cur, sizeof(mr->cur));
	memcpy(mr->prev, c.prev, sizeof(mr->prev));
	mr->bits_cur = m->bits_cur;
	mr->bits_prev = m->bits_prev;
	mr->k_mx_bits = m->k_mx_bits;
	mr->k_syn_mx = c.k[K_SYN_MX];
	mr->k_helo = c.k[K_HELO];
	mr->k_mail = c.k[K_MAIL];
	mr->k_rcpt = c.k[K_RCPT];
	memcpy(mr->k_reply, &c.k[K_REPLY], sizeof(mr->k_reply));
	mr->helo_hash = m->helo_hash;
	mr->fp_hash = SAVED_HELO_LAST | SAVED_HELO_WORDS | m->helo_last;
	mr->first_evidence = m->first_evidence;
	mr->first_smtp = ns_of(m->first_smtp);
	mr->blocked_until = vd->blocked_until;
	mr->last_block_end = vd->last_block_end;
	mr->active_day = full_day(m->active_day, now);
	mr->active_days = m->active_days;
	mr->long_at = ns_of(m->long_at);
	mr->long_mx = m->long_mx;
	mr->long_sessions = m->long_sessions;
	mr->shape_cur = m->shape_cur;
	mr->shape_prev = m->shape_prev;
	mr->helo_bad_ever = m->helo_bad_ever;
	size_t hl;
	const char *helo = helo_of(a, m, &hl);
	mr->helo_len = (uint8_t)hl;
	memcpy(mr->helo, helo, hl);
	memcpy(mr->mac, m->mac, 6);
	mr->vlan_outer = m->vlan_outer;
	mr->vlan_inner = m->vlan_inner;
	mr->role_before = vd->role_before;
	mr->absurd_cur = m->absurd_cur;
	mr->absurd_prev = m->absurd_prev;
	mr->nhist = (uint8_t)hist_n(&m->hist);
	for (unsigned k = 0; k < mr->nhist; k++) {
		enum mg_role from, to;
		hist_get(a, m, k, &mr->hist[k].at, &from, &to);
		mr->hist[k].from = (uint8_t)from;
		mr->hist[k].to = (uint8_t)to;
	}
}

/* Room for `more` bytes past s->len; false (nothing changed) without memory. */
static bool saver_room(struct mg_an_saver *s, size_t more)
{
	if (s->cap - s->len >= more)
		return true;
	size_t cap = s->cap ? s->cap : 1u << 16;
	while (cap - s->len < more)
		cap *= 2;
	uint8_t *b = realloc(s->b, cap);
	if (!b)
		return false;
	s->b = b;
	s->cap = cap;
	return true;
}

/* A caller that takes what is done (mg_an_save_take) holds about this much at a time: reserved at once. */
#define SAVE_RESERVE_MAX ((size_t)32 << 20)

int mg_an_save_begin(const struct mg_analyzer *a, struct mg_an_saver *s, uint64_t now, uint64_t wall)
{
	/*
	 * Room for what there is now, up to SAVE_RESERVE_MAX, taken at once:
	 * growing by doubling would copy tens of MB inside a step.
	 */
	size_t want = sizeof(struct an_hdr) + (size_t)a->live * sizeof(struct prof_rec) +
		      (size_t)(a->nsmtp - a->nfree_smtp) * (sizeof(struct smtp_rec) + sizeof(struct mg_an_hosts));
	struct an_hdr h = { .version = AN_VERSION_STREAM, .prof_size = sizeof(struct prof_rec),
			    .smtp_size = sizeof(struct smtp_rec), .saved_mono = now, .saved_wall = wall };

	memset(s, 0, sizeof(*s));
	if (!saver_room(s, want < SAVE_RESERVE_MAX ? want : SAVE_RESERVE_MAX))
		return -ENOMEM;
	memcpy(h.magic, AN_MAGIC, 4);
	memcpy(s->b, &h, sizeof(h));
	s->len = sizeof(h);
	return 0;
}

int mg_an_save_step(const struct mg_analyzer *a, struct mg_an_saver *s, uint32_t max, uint64_t now)
{
	uint32_t stop = a->nprof - s->next > max ? s->next + max : a->nprof;

	for (; s->next < stop; s->next++) {
		const struct prof *p = &a->prof[s->next];
		struct prof_rec pr;
		struct smtp_rec mr;
		if (!(p->flags & PF_USED))
			continue;
		const struct smtp *m = smtp_of(a, p);
		struct hosts_full hf;
		bool hs = hosts_read(a, m, p->key, &hf);
		if (!saver_room(s, sizeof(pr) + sizeof(mr) + sizeof(struct mg_an_hosts))) {
			mg_an_saver_free(s);
			return -ENOMEM;
		}
		to_rec(a, p, m, now, &pr, &mr);
		pr.smtp = hs ? 2 : m ? 1 : 0;
		pr.flags &= (uint8_t)~(PF_DIRTY | PF_BLOCKLIST);
		memcpy(s->b + s->len, &pr, sizeof(pr));
		s->len += sizeof(pr);
		if (m) {
			memcpy(s->b + s->len, &mr, sizeof(mr));
			s->len += sizeof(mr);
		}
		if (hs) {
			struct mg_an_hosts out;
			hosts_export(&hf, &out);
			memcpy(s->b + s->len, &out, sizeof(out));
			s->len += sizeof(out);
		}
		s->count++;
	}
	return s->next >= a->nprof;
}

void mg_an_save_take(struct mg_an_saver *s, uint8_t **buf, size_t *len)
{
	*buf = s->len ? s->b : NULL;
	*len = s->len;
	if (s->len) {
		s->b = NULL;
		s->len = s->cap = 0;
	}
}

int mg_an_save_finish(struct mg_an_saver *s, uint8_t **buf, size_t *len)
{
	struct end_rec end = { .count = s->count, .kind = REC_END };

	if (!saver_room(s, sizeof(end))) {
		mg_an_saver_free(s);
		return -ENOMEM;
	}
	memcpy(s->b + s->len, &end, sizeof(end));
	s->len += sizeof(end);
	mg_an_save_take(s, buf, len);
	mg_an_saver_free(s);
	return 0;
}

void mg_an_saver_free(struct mg_an_saver *s)
{
	free(s->b);
	memset(s, 0, sizeof(*s));
}

int mg_an_save(const struct mg_analyzer *a, uint64_t now, uint64_t wall, uint8_t **buf, size_t *len)
{
	struct mg_an_saver s;
	int e = mg_an_save_begin(a, &s, now, wall);

	if (!e)
		e = mg_an_save_step(a, &s, UINT32_MAX, now);
	return e < 0 ? e : mg_an_save_finish(&s, buf, len);
}

/*
 * 0 stays 0 ("never"); a time that would fall at or before this timeline's 0
 * becomes 1, the earliest time there is (see the degradation described in
 * mg_analyzer.h). Saturating: a shift never wraps a time around.
 */
static uint64_t shift_time(uint64_t t, int64_t by)
{
	int64_t v;

	if (!t)
		return 0;
	if (t > INT64_MAX || __builtin_add_overflow((int64_t)t, by, &v))
		return by > 0 ? INT64_MAX : 1;
	return v > 0 ? (uint64_t)v : 1;
}

/*
 * A day number of the saved timeline onto this one: the day of this timeline
 * nearest to where the saved day began (nearest, so that a restart without a
 * reboot, which shifts times by a few ms either way, keeps the day). A day
 * that began more than half a day before this timeline's 0 gets a negative
 * number (kept modulo 2^32, compared for equality only): it equals no day to
 * come, so the next activity counts as a new active day. Whole days move by
 * whole days, so this is the day plus the shift rounded to days, in modulo
 * arithmetic: any saved number is fine, none can overflow.
 */
static uint32_t shift_day(uint32_t day, int64_t by)
{
	const int64_t d = (int64_t)NS_PER_DAY;
	int64_t t = by / d, rem = by % d;

	/* floor((by + d/2) / d), without computing by + d/2. */
	if (rem < 0) {
		rem += d;
		t--;
	}
	if (rem >= d / 2)
		t++;
	return day + (uint32_t)t;
}

/*
 * A saved longer memory: aged over the downtime in the saved timeline (to
 * `until`, where every time is representable), then anchored in this one
 * (its time moved by `by`). Its time stays exact until then: the counts of
 * a memory that never had a time (0) are taken as they are.
 */
static void long_restore(const struct mg_analyzer *a, struct smtp *m, const struct smtp_rec *r, uint64_t until,
			 int64_t by)
{
	uint64_t h = a->cfg.long_half_life_ns, at = r->long_at;
	double mx = r->long_mx, ses = r->long_sessions;

	if (at && until > at) {
		double d = h ? exp2(-(double)(until - at) / (double)h) : 1;
		mx *= d;
		ses *= d;
		at = until;
	}
	m->long_at = 0;
	if (at) {
		long_store(a, m, shift_time(at, by), mx, ses);
	} else {
		m->long_mx = (float)mx;
		m->long_sessions = (float)ses;
	}
}

static void drop_profiles(struct mg_analyzer *a)
{
	for (unsigned k = 0; k < HOSTS_CLASSES; k++)
		a->hosts[k].n = a->hosts[k].free_head = 0;
	for (uint32_t i = 0; i < a->nprof; i++)
		if ((a->prof[i].flags & PF_USED) && a->prof[i].smtp)
			mg_intern_put(a->helos, a->smtp[a->prof[i].smtp - 1].helo);
	a->nprof = a->live = a->nsmtp = a->nfree_prof = a->nfree_smtp = a->ndirty = a->nblocked = 0;
	a->nwide = a->nfree_wide = a->nverdicts = 0;
	a->ntexts = a->texts_head = 0;
	if (a->dirty)
		memset(a->dirty, 0, (size_t)a->capdirty * sizeof(*a->dirty));
	a->dirty_pos = 0;
	memset(a->slots, 0, a->nslots * sizeof(*a->slots));
	mg_vrec_clear(&a->vrecs);
}

/*
 * Bounds for the saved times. Past times (first seen, a window's start, a
 * role change) are at most the save's own moment, with a day's slack for
 * inputs stamped a little after it; a block's end lies ahead, at most a
 * century. The save's moment itself is below 2^62 ns (the daemon's timeline
 * starts at 2^60): with these, no shift can overflow.
 */
#define SAVED_MONO_MAX (1ull << 62)
#define PAST_SLACK_NS NS_PER_DAY
#define AHEAD_MAX_NS (100 * 365 * NS_PER_DAY)
#define PF_KNOWN (PF_USED | PF_DIRTY | PF_LEARNED | PF_ALERTED | PF_BLOCKLIST)
#define VLAN_ID_MAX 4095
/* More than any source can reach: a new MX or a session per millisecond for a half-life of a year. */
#define LONG_COUNT_MAX 4e10

/*
 * Every field of one saved record checked before any of it is used; NULL if
 * it may be restored, else what is wrong with it, for the operator. A record
 * refused here is skipped: one bad record costs that source's history, not
 * the daemon or everyone else's.
 */
/* Why a saved hosts list cannot be taken for the profile p, or NULL. */
static const char *hosts_fault(const struct mg_analyzer *a, const struct prof_rec *p, const struct mg_an_hosts *h,
			       uint64_t saved_mono)
{
	const uint64_t past = saved_mono + PAST_SLACK_NS;
	unsigned plen = key_plen(a, p->key);
	uint8_t key[16];

	if (plen >= 128)
		return "a hosts list for a profile of one address";
	if (h->n > MG_AN_HOSTS)
		return "more hosts than kept (" MG_STR(MG_AN_HOSTS) ")";
	for (unsigned i = 0; i < h->n; i++) {
		const struct mg_an_host *x = &h->host[i];
		memcpy(key, x->addr, 16);
		mg_addr_mask(key, plen);
		if (memcmp(key, p->key, 16))
			return "a host outside its profile's prefix";
		if (!x->first_seen_ns || x->first_seen_ns > x->last_seen_ns || x->last_seen_ns > past)
			return "a host's times out of order or after the save";
		if (x->vlan_outer > VLAN_ID_MAX)
			return "a host's VLAN ID over 4095";
	}
	return NULL;
}

static const char *record_fault(const struct mg_analyzer *a, const struct prof_rec *p, const struct smtp_rec *m,
				uint64_t saved_mono)
{
	const uint64_t past = saved_mono + PAST_SLACK_NS, ahead = saved_mono + AHEAD_MAX_NS;
	uint8_t key[16];

	if (!(p->flags & PF_USED))
		return "a record not marked in use";
	if (p->flags & ~PF_KNOWN)
		return "unknown flags";
	if (p->role >= MG_ROLE_MAX)
		return "role out of range";
	profile_key(a, p->key, key);
	if (memcmp(key, p->key, 16))
		return "an IPv6 key not at the configured aggregation (sources.ipv6_prefix)";
	if (find_prof(a, p->key))
		return "a second record for one source";
	if (p->first_seen > past || p->last_seen > past)
		return "a time after the save";
	if (!m && (p->k_synack || p->serve_total || p->offences))
		return "SMTP service or offences without SMTP figures";
	if (!m)
		return p->role == MG_ROLE_BLOCKED ? "blocked without SMTP figures" : NULL;
	if (m->helo_len > MG_HELO_ARG_MAX)
		return "HELO length over " MG_STR(MG_HELO_ARG_MAX);
	if (m->nhist > MG_AN_HISTORY)
		return "more role changes than kept (" MG_STR(MG_AN_HISTORY) ")";
	for (unsigned k = 0; k < m->nhist; k++)
		if (m->hist[k].from >= MG_ROLE_MAX || m->hist[k].to >= MG_ROLE_MAX || m->hist[k].at > past)
			return "a role change out of range";
	if (m->role_before > MG_ROLE_MAX)
		return "role before the block out of range";
	if ((m->shape_cur | m->shape_prev) & ~MG_HELO_SHAPES_ALL)
		return "unknown HELO shapes";
	if (m->absurd_cur >= MG_ABSURD_MAX || m->absurd_prev >= MG_ABSURD_MAX)
		return "absurd-HELO reason out of range";
	/* Written as "!(x >= 0 && x <= max)" so that a NaN fails too. */
	if (!(m->long_mx >= 0 && m->long_mx <= LONG_COUNT_MAX) ||
	    !(m->long_sessions >= 0 && m->long_sessions <= LONG_COUNT_MAX))
		return "a memory count negative, too large or not a number";
	if (m->helo_bad_ever > 1)
		return "anomalous-HELO mark neither 0 nor 1";
	if (m->fp_hash && ((m->fp_hash & ~(SAVED_HELO_LAST | SAVED_HELO_WORDS | HELO_DROPPED | MG_HELO_SHAPES_ALL)) ||
			   !(m->fp_hash & SAVED_HELO_LAST) || ((m->fp_hash & HELO_DROPPED) && m->helo_len)))
		return "the last HELO's shape out of range";
	if (m->vlan_outer > VLAN_ID_MAX || m->vlan_inner > VLAN_ID_MAX)
		return "VLAN ID over 4095";
	if (m->win_start > past || m->first_evidence > past || m->first_smtp > past || m->last_block_end > past ||
	    m->long_at > past)
		return "a time after the save";
	if (m->blocked_until > ahead)
		return "a block ending more than a century after the save";
	if (p->role == MG_ROLE_BLOCKED && !m->blocked_until)
		return "blocked with no end";
	return NULL;
}

/*
 * A restore under way (mg_an_restore_begin): the saved state arrives in
 * pieces of any size, as a file is decompressed. Each part of a record (the
 * profile, its SMTP record, its hosts list) is gathered here until it is
 * whole, so a record that straddles two pieces costs a copy of itself, never
 * a buffer of the file: the restore needs the analyzer it fills and this.
 */
struct mg_an_restorer {
	struct mg_analyzer *a;
	struct mg_an_restore_report *rep, scratch;
	uint64_t now, wall, wall_passed;
	int64_t by;                /* how far every saved time moves */
	struct an_hdr h;
	struct prof_rec in;
	struct smtp_rec min;
	struct mg_an_hosts hin;
	enum { RS_HDR, RS_PROF, RS_SMTP, RS_HOSTS } part; /* the part being gathered */
	size_t have;               /* its bytes so far */
	uint32_t done;             /* records read whole */
	bool started;              /* the header passed: the analyzer's profiles were dropped for the saved ones */
	bool ended;                /* version 5: its end record was read */
	int err;                   /* the first failure: every later call gives it */
};

struct mg_an_restorer *mg_an_restore_begin(struct mg_analyzer *a, uint64_t now, uint64_t wall,
					   struct mg_an_restore_report *rep)
{
	struct mg_an_restorer *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->a = a;
	r->rep = rep ? rep : &r->scratch;
	r->now = now;
	r->wall = wall;
	memset(r->rep, 0, sizeof(*r->rep));
	return r;
}

/*
 * The restore refused as a whole: once profiles were taken from it, all of
 * them go, so that a stream found damaged part-way (or a file whose checksum
 * fails at its end) leaves what a refusal before any record would have.
 */
static int restore_fail(struct mg_an_restorer *r, int err)
{
	if (!r->err) {
		r->err = err;
		if (r->started)
			drop_profiles(r->a);
		memset(r->rep, 0, sizeof(*r->rep));
	}
	return r->err;
}

static int restore_header(struct mg_an_restorer *r)
{
	const struct an_hdr *h = &r->h;

	if (memcmp(h->magic, AN_MAGIC, 4) ||
	    (h->version != AN_VERSION && h->version != AN_VERSION_HOSTS && h->version != AN_VERSION_STREAM) ||
	    (h->version == AN_VERSION_STREAM && h->count) || h->prof_size != sizeof(struct prof_rec) || h->smtp_size != sizeof(struct smtp_rec) ||
	    h->saved_mono > SAVED_MONO_MAX)
		return -EINVAL;
	/* How far every saved time moves: this moment less the wall time passed, from the save's. */
	r->wall_passed = r->wall > h->saved_wall ? r->wall - h->saved_wall : 0;
	int64_t base = (int64_t)(r->now - r->wall_passed);
	if (r->now > INT64_MAX || __builtin_sub_overflow(base, (int64_t)h->saved_mono, &r->by))
		return -EINVAL;
	drop_profiles(r->a);
	r->started = true;
	return 0;
}

/* One record, read whole: checked, then taken (0), skipped and reported (0), or -ENOMEM. */
static int restore_record(struct mg_an_restorer *r)
{
	struct mg_analyzer *a = r->a;
	const struct prof_rec *in = &r->in;
	const struct smtp_rec *min = &r->min;
	const struct mg_an_hosts *hin = &r->hin;
	const bool had_smtp = in->smtp, had_hosts = in->smtp == 2;
	const int64_t by = r->by;

	const char *fault = record_fault(a, in, had_smtp ? min : NULL, r->h.saved_mono);
	if (!fault && had_hosts)
		fault = hosts_fault(a, in, hin, r->h.saved_mono);
	if (fault) {
		if (!r->rep->refused++) {
			char addr[MG_ADDRSTRLEN];
			snprintf(r->rep->first_refusal, sizeof(r->rep->first_refusal), "%s: %s",
				 mg_addr_str(in->key, addr, sizeof(addr)), fault);
		}
		return 0;
	}
	struct prof *p = get_prof(a, in->key, r->now);
	if (!p)
		return -ENOMEM;
	p->first_seen = ct_of(shift_time(in->first_seen, by));
	p->last_seen = ct_of(shift_time(in->last_seen, by));
	p->k_syn_sub = in->k_syn_sub;
	p->k_syn_other = in->k_syn_other;
	p->sub_total = in->sub_total;
	p->other_total = in->other_total;
	p->role = in->role;
	p->flags = in->flags & (uint8_t)~(PF_DIRTY | PF_BLOCKLIST);
	if (had_smtp) {
		struct smtp *m = get_smtp(a, p, r->now);
		if (!m)
			return -ENOMEM;
		m->win_start = min->win_start;
		struct counts c;
		memcpy(c.cur, min->cur, sizeof(c.cur));
		memcpy(c.prev, min->prev, sizeof(c.prev));
		c.k[K_SYN_MX] = min->k_syn_mx;
		c.k[K_HELO] = min->k_helo;
		c.k[K_MAIL] = min->k_mail;
		c.k[K_RCPT] = min->k_rcpt;
		memcpy(&c.k[K_REPLY], min->k_reply, sizeof(min->k_reply));
		c.k[K_SYNACK] = in->k_synack;
		c.serve_total = in->serve_total;
		wide_store(a, m, &c);
		m->bits_cur = min->bits_cur;
		m->bits_prev = min->bits_prev;
		m->k_mx_bits = min->k_mx_bits;

		m->helo_hash = min->helo_hash;
		/*
		 * A hash of the old kind, from before SAVED_HELO_WORDS: the
		 * new one from the text where it was kept. Where it was not,
		 * the old hash stays, and the source's next HELO reads as a
		 * change of name once (distinct_helos, evidence only).
		 */
		if (min->helo_hash && !(min->fp_hash & SAVED_HELO_WORDS) && min->helo_len)
			m->helo_hash = mg_helo_hash(min->helo, min->helo_len);
		m->first_evidence = min->first_evidence;

		m->active_day = (uint16_t)min->active_day;
		m->active_days = (uint16_t)(min->active_days < UINT16_MAX ? min->active_days : UINT16_MAX);
		m->shape_cur = min->shape_cur;
		m->shape_prev = min->shape_prev;
		m->helo_bad_ever = min->helo_bad_ever;
		/* A file from before helo_last: the shape found again from the text (from the key: no address is kept). */
		unsigned shape = min->fp_hash ? min->fp_hash & 0xff
			       : min->helo_hash ? mg_helo_shape(min->helo, min->helo_len, in->key) : 0;
		set_helo(a, p, m, min->helo, min->helo_len, shape);
		m->helo_last |= (uint8_t)(shape & HELO_DROPPED);
		memcpy(m->mac, min->mac, 6);
		m->vlan_outer = min->vlan_outer;
		m->vlan_inner = min->vlan_inner;
		if (in->offences || min->blocked_until || min->last_block_end || min->role_before) {
			struct verdict *vd = get_verdict(a, m);
			if (!vd)
				return -ENOMEM;
			vd->offences = in->offences;
			vd->role_before = min->role_before;
			vd->blocked_until = shift_time(min->blocked_until, by);
			vd->last_block_end = shift_time(min->last_block_end, by);
		}
		m->absurd_cur = min->absurd_cur & 15;
		m->absurd_prev = min->absurd_prev & 15; /* below MG_ABSURD_MAX: record_fault() */
		/*
		 * Move the windows on to this moment while still in the saved
		 * timeline, where every time is representable: figures that
		 * aged out during the downtime are gone before the shift, even
		 * if shift_time then has to clamp their times.
		 */
		win_roll(a, m, r->h.saved_mono + r->wall_passed);
		long_restore(a, m, min, r->h.saved_mono + r->wall_passed, by);
		m->win_start = shift_time(m->win_start, by);
		m->first_evidence = shift_time(m->first_evidence, by);
		m->first_smtp = ct_up(shift_time(min->first_smtp, by));
		m->active_day = (uint16_t)shift_day(min->active_day, by);
		for (unsigned k = 0; k < min->nhist; k++)
			hist_push(a, m, shift_time(min->hist[k].at, by), min->hist[k].from, min->hist[k].to);
		if (had_hosts && hin->n) {
			struct hosts_full hf;
			/* Only the n listed: slots past n carry nothing from the file. */
			hf.n_more = hosts_nm(hin->n, hin->more);
			for (unsigned k = 0; k < hin->n; k++) {
				const struct mg_an_host *x = &hin->host[k];
				struct host_rec *y = &hf.host[k];
				memcpy(y->addr, x->addr, 16);
				y->first_seen = ct_of(shift_time(x->first_seen_ns, by));
				y->last_seen = ct_of(shift_time(x->last_seen_ns, by));
				y->sessions = x->sessions;
				memcpy(y->mac, x->mac, 6);
				y->vlan_outer = x->vlan_outer;
			}
			if (!hosts_write(a, m, p->key, &hf))
				return -ENOMEM;
		}
	}
	if (p->role == MG_ROLE_BLOCKED &&
	    push_u32(&a->blocked, &a->nblocked, &a->capblocked, prof_idx(a, p)) == 0)
		p->flags |= PF_BLOCKLIST;
	r->rep->restored++;
	return 0;
}

/* Where the part being gathered goes, and how long it is. */
static uint8_t *restore_part(struct mg_an_restorer *r, size_t *size)
{
	switch (r->part) {
	case RS_HDR:
		*size = sizeof(r->h);
		return (uint8_t *)&r->h;
	case RS_PROF:
		*size = sizeof(r->in);
		return (uint8_t *)&r->in;
	case RS_SMTP:
		*size = sizeof(r->min);
		return (uint8_t *)&r->min;
	case RS_HOSTS:
		break;
	}
	*size = sizeof(r->hin);
	return (uint8_t *)&r->hin;
}

/* Version 5's end: it counts what came before it, and nothing may follow it. */
static int restore_end_rec(struct mg_an_restorer *r)
{
	struct end_rec end;
	static const struct end_rec zero;

	memcpy(&end, &r->in, sizeof(end));
	if (end.count != r->done || memcmp(end.zero, zero.zero, sizeof(end.zero)) ||
	    memcmp(end.pad, zero.pad, sizeof(end.pad)) || end.pad2)
		return -EINVAL;
	r->ended = true;
	return 0;
}

/*
 * The part just gathered: on to the next, or the record is whole and
 * restored. Where a record ends depends on its profile's smtp field: a value
 * that does not say makes the rest of the stream unreadable, and the whole
 * is refused (field checks come per record, in restore_record).
 */
static int restore_part_done(struct mg_an_restorer *r)
{
	switch (r->part) {
	case RS_HDR:
		r->part = RS_PROF;
		return restore_header(r);
	case RS_PROF:
		if (r->h.version == AN_VERSION_STREAM && r->in.smtp == REC_END)
			return restore_end_rec(r);
		if (r->in.smtp > (r->h.version == AN_VERSION ? 1 : 2))
			return -EINVAL;
		if (r->in.smtp) {
			r->part = RS_SMTP;
			return 0;
		}
		break;
	case RS_SMTP:
		if (r->in.smtp == 2) {
			r->part = RS_HOSTS;
			return 0;
		}
		break;
	case RS_HOSTS:
		break;
	}
	r->part = RS_PROF;
	r->done++;
	return restore_record(r);
}

int mg_an_restore_feed(struct mg_an_restorer *r, const uint8_t *buf, size_t len)
{
	while (len && !r->err) {
		/* More than the header's count of records, or anything after the end record: refused. */
		if (r->part == RS_PROF && !r->have &&
		    (r->h.version == AN_VERSION_STREAM ? r->ended : r->done == r->h.count))
			return restore_fail(r, -EINVAL);
		size_t size;
		uint8_t *part = restore_part(r, &size);
		size_t n = size - r->have < len ? size - r->have : len;
		memcpy(part + r->have, buf, n);
		r->have += n;
		buf += n;
		len -= n;
		if (r->have < size)
			break;
		r->have = 0;
		int err = restore_part_done(r);
		if (err)
			restore_fail(r, err);
	}
	return r->err;
}

int mg_an_restore_end(struct mg_an_restorer *r)
{
	/* Cut short: inside the header, inside a record, fewer records than the header counts, no end record. */
	if (r->part != RS_PROF || r->have ||
	    (r->h.version == AN_VERSION_STREAM ? !r->ended : r->done != r->h.count))
		restore_fail(r, -EINVAL);
	int err = r->err;
	if (!err && r->now > r->a->now)
		r->a->now = r->now;
	free(r);
	return err;
}

void mg_an_restore_abort(struct mg_an_restorer *r)
{
	restore_fail(r, -ECANCELED);
	free(r);
}

int mg_an_restore(struct mg_analyzer *a, const uint8_t *buf, size_t len, uint64_t now, uint64_t wall,
		  struct mg_an_restore_report *rep)
{
	struct mg_an_restorer *r = mg_an_restore_begin(a, now, wall, rep);

	if (!r)
		return -ENOMEM;
	mg_an_restore_feed(r, buf, len); /* a failure is kept, and given again by end */
	return mg_an_restore_end(r);
}

/* ---- read access -------------------------------------------------------------------- */

static void view_of(const struct mg_analyzer *a, const struct prof *p, struct mg_an_profile_view *v)
{
	const struct smtp *m = smtp_of(a, p);
	struct verdict_in in;

	memset(v, 0, sizeof(*v));
	memcpy(v->prefix.addr, p->key, 16);
	v->prefix.prefixlen = (uint8_t)key_plen(a, p->key);
	v->role = (enum mg_role)p->role;
	score(a, p, m, a->now, &in);
	v->score = in.score;
	v->first_seen_ns = ns_of(p->first_seen);
	v->last_seen_ns = ns_of(p->last_seen);
	const struct verdict *vd = verdict_of(a, m);
	v->offences = vd->offences;
	v->blocked_until_ns = m && p->role == MG_ROLE_BLOCKED ? vd->blocked_until : 0;
	char rule[sizeof(v->ev.rule)];
	const char *why = "";
	const struct mg_vrec *vr = mg_vrec_find(&a->vrecs, p->key);
	if (m && p->role == MG_ROLE_BLOCKED && vr && vr->verdict_forgery) {
		snprintf(rule, sizeof(rule), "forgery:%s", mg_forgery_name(vr->verdict_forgery));
		why = rule;
	} else if (m && p->role == MG_ROLE_BLOCKED)
		why = verdict_rule((enum mg_role)(vd->role_before - 1));
	else if (p->role == MG_ROLE_SUSPECT)
		why = suspect_rule(&in, rule, sizeof(rule));
	fill_evidence(a, p, m, &in, why, &v->ev);
	if (m) {
		v->n_history = hist_n(&m->hist);
		for (unsigned i = 0; i < v->n_history; i++)
			hist_get(a, m, i, &v->history[i].at_ns, &v->history[i].from, &v->history[i].to);
	}
	v->configured_server = pset_covers(&a->servers, p->key);
	v->learned = (p->flags & PF_LEARNED) != 0;
	v->allowlisted = pset_covers(&a->allow, p->key);
	v->submission_syns = p->sub_total;
	v->other_syns = p->other_total;
	if (m) {
		struct counts c;
		wide_load(a, m, &c);
		v->serves_smtp = c.serve_total;
	}
	const struct mg_activity *r = mg_act_find(a->act, p->key);
	if (r) {
		v->has_activity = true;
		v->activity = *r;
	}
}

bool mg_an_get(const struct mg_analyzer *a, const uint8_t addr[16], struct mg_an_profile_view *out)
{
	uint8_t key[16];

	profile_key(a, addr, key);
	const struct prof *p = find_prof(a, key);
	if (!p)
		return false;
	view_of(a, p, out);
	return true;
}

size_t mg_an_count(const struct mg_analyzer *a, size_t by_role[MG_ROLE_MAX])
{
	memset(by_role, 0, MG_ROLE_MAX * sizeof(*by_role));
	for (uint32_t i = 0; i < a->nprof; i++)
		if (a->prof[i].flags & PF_USED)
			by_role[a->prof[i].role < MG_ROLE_MAX ? a->prof[i].role : 0]++;
	return a->live;
}

void mg_an_foreach(const struct mg_analyzer *a, int (*fn)(const struct mg_an_profile_view *v, void *arg), void *arg)
{
	struct mg_an_profile_view v;

	for (uint32_t i = 0; i < a->nprof; i++) {
		if (!(a->prof[i].flags & PF_USED))
			continue;
		view_of(a, &a->prof[i], &v);
		if (fn(&v, arg))
			return;
	}
}

/* ---- protected addresses known from their activity alone ------------------------------ */

void mg_an_set_activity(struct mg_analyzer *a, const struct mg_act_view *v)
{
	a->act = v;
}

/* Record i as a view, if it stands for an address active within the horizon and without a profile. */
static bool activity_only_view(const struct mg_analyzer *a, uint32_t i, struct mg_an_profile_view *v)
{
	const struct mg_activity *r = &a->act->rec[i];
	uint8_t key[16];

	if (!mg_act_seen(r))
		return false;
	uint64_t idle = mg_act_age_ns(a->act, r);
	if (idle > IDLE_HOST_NS)
		return false;
	memset(v, 0, sizeof(*v));
	if (!mg_act_prefix_of(a->act, i, &v->prefix))
		return false;
	profile_key(a, v->prefix.addr, key);
	if (find_prof(a, key))
		return false;
	v->role = mg_act_ordinary(r) ? MG_ROLE_END_HOST : MG_ROLE_UNKNOWN;
	/* The record keeps the kernel's clock: its age carried over to the analyzer's. */
	v->last_seen_ns = a->now > idle ? a->now - idle : 0;
	v->ev.role_before = v->role;
	v->has_activity = v->activity_only = true;
	v->activity = *r;
	return true;
}

void mg_an_foreach_activity_only(const struct mg_analyzer *a,
				 int (*fn)(const struct mg_an_profile_view *v, void *arg), void *arg)
{
	struct mg_an_profile_view v;

	if (!a->act || !a->act->rec)
		return;
	for (uint32_t i = 0; i < a->act->n; i++)
		if (activity_only_view(a, i, &v) && fn(&v, arg))
			return;
}

bool mg_an_get_activity_only(const struct mg_analyzer *a, const uint8_t addr[16], struct mg_an_profile_view *out)
{
	if (!a->act || !a->act->rec)
		return false;
	int64_t i = mg_act_index(a->act, addr);
	return i >= 0 && (uint64_t)i < a->act->n && activity_only_view(a, (uint32_t)i, out);
}

size_t mg_an_count_activity_only(const struct mg_analyzer *a, size_t by_role[MG_ROLE_MAX])
{
	struct mg_an_profile_view v;
	size_t n = 0;

	if (!a->act || !a->act->rec)
		return 0;
	for (uint32_t i = 0; i < a->act->n; i++)
		if (activity_only_view(a, i, &v)) {
			by_role[v.role]++;
			n++;
		}
	return n;
}
