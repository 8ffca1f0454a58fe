// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_engine.c - the engine (mg_engine) that mtaguardd and mtaguard-replay
 * both run, with a fake kernel: scripted hosts whose counters the fake's
 * scan hands over, events fed as the ring buffer would, and every rule the
 * ledger writes kept in the fake's own tables. What is checked is what ends
 * up in the "kernel": verdicts, their hand-over between owners, allows that
 * win, outbreaks contained, and all of it across a restart and a reboot.
 *
 * The timeline starts 3 s after boot (as on a CI machine that just booted),
 * and once more at the daemon's own origin.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>

#include "fullfs.h"
#include "mg_cidr_list.h"
#include "mg_engine.h"
#include "mg_names.h"
#include "mg_osfp.h"
#include "mg_statefile.h"

#define SEC 1000000000ull
#define BOOT (3 * SEC)                    /* a machine up for three seconds */
#define WALL (1800000000ull * SEC)        /* the wall clock at BOOT */

/* ---- a fake kernel --------------------------------------------------------------------------- */

struct kblock {
	struct mg_prefix p;
	uint8_t action;
	uint64_t expires;
};

struct host {
	uint8_t addr[16];
	struct mg_src_stats s;
};

struct fake {
	struct kblock blocks[64];
	size_t nblocks;
	struct mg_prefix allows[64];
	size_t nallows;
	uint32_t fps[16];
	unsigned fp_level[16];
	size_t nfps;
	uint32_t outbreak_count;
	bool monitor;
	struct host *hosts[16];
	size_t nhosts;
	size_t writes;
	size_t reads; /* single-profile reads (read_one) */
};

static struct kblock *find_block(struct fake *f, const struct mg_prefix *p)
{
	for (size_t i = 0; i < f->nblocks; i++)
		if (mg_prefix_eq(&f->blocks[i].p, p))
			return &f->blocks[i];
	return NULL;
}

static int put_block(void *ctx, const struct mg_prefix *p, uint8_t action, uint64_t expires)
{
	struct fake *f = ctx;
	struct kblock *b = find_block(f, p);

	if (!b)
		b = &f->blocks[f->nblocks++];
	*b = (struct kblock){ *p, action, expires };
	f->writes++;
	return 0;
}

static int del_block(void *ctx, const struct mg_prefix *p)
{
	struct fake *f = ctx;
	struct kblock *b = find_block(f, p);

	if (!b)
		return -ENOENT;
	*b = f->blocks[--f->nblocks];
	f->writes++;
	return 0;
}

static int find_allow(struct fake *f, const struct mg_prefix *p)
{
	for (size_t i = 0; i < f->nallows; i++)
		if (mg_prefix_eq(&f->allows[i], p))
			return (int)i;
	return -1;
}

static int put_allow(void *ctx, const struct mg_prefix *p)
{
	struct fake *f = ctx;
	if (find_allow(f, p) < 0)
		f->allows[f->nallows++] = *p;
	f->writes++;
	return 0;
}

static int del_allow(void *ctx, const struct mg_prefix *p)
{
	struct fake *f = ctx;
	int i = find_allow(f, p);
	if (i < 0)
		return -ENOENT;
	f->allows[i] = f->allows[--f->nallows];
	f->writes++;
	return 0;
}

static int put_server(void *ctx, const uint8_t key[16]) { (void)key; ((struct fake *)ctx)->writes++; return 0; }
static int del_server(void *ctx, const uint8_t key[16]) { (void)key; ((struct fake *)ctx)->writes++; return 0; }

static int put_outbreak(void *ctx, uint32_t fp, unsigned level, uint64_t since)
{
	struct fake *f = ctx;
	size_t i;
	(void)since;
	for (i = 0; i < f->nfps && f->fps[i] != fp; i++)
		;
	if (i == f->nfps)
		f->nfps++;
	f->fps[i] = fp;
	f->fp_level[i] = level;
	f->writes++;
	return 0;
}

static int del_outbreak(void *ctx, uint32_t fp)
{
	struct fake *f = ctx;
	for (size_t i = 0; i < f->nfps; i++)
		if (f->fps[i] == fp) {
			f->fps[i] = f->fps[--f->nfps];
			f->fp_level[i] = f->fp_level[f->nfps];
			f->writes++;
			return 0;
		}
	return -ENOENT;
}

static int scan(void *ctx, void (*fn)(const uint8_t (*keys)[16], const struct mg_src_stats *s, size_t n, void *arg),
		void *arg)
{
	struct fake *f = ctx;
	for (size_t i = 0; i < f->nhosts; i++)
		fn((const uint8_t(*)[16])f->hosts[i]->addr, &f->hosts[i]->s, 1, arg);
	return 0;
}

static int set_monitor(void *ctx, bool on) { ((struct fake *)ctx)->monitor = on; return 0; }
static int set_outbreak_count(void *ctx, uint32_t n) { ((struct fake *)ctx)->outbreak_count = n; return 0; }

static const struct mg_engine_sink fake_sink = {
	.rules = { put_block, del_block, put_allow, del_allow, put_server, del_server, put_outbreak, del_outbreak },
	.scan = scan,
	.set_monitor = set_monitor,
	.set_outbreak_count = set_outbreak_count,
};

/* One host's counters by its key, as the kernel's per-source lookup gives them. */
static int read_one(void *ctx, const uint8_t key[16], struct mg_src_stats *out)
{
	struct fake *f = ctx;
	for (size_t i = 0; i < f->nhosts; i++)
		if (!memcmp(f->hosts[i]->addr, key, 16)) {
			*out = f->hosts[i]->s;
			f->reads++;
			return 0;
		}
	return -ENOENT;
}

static const struct mg_engine_sink fake_sink_read_one = {
	.rules = { put_block, del_block, put_allow, del_allow, put_server, del_server, put_outbreak, del_outbreak },
	.scan = scan,
	.read_one = read_one,
	.set_monitor = set_monitor,
	.set_outbreak_count = set_outbreak_count,
};

/* The same fake with activity records: the protected network 198.18.0.0/24, as the kernel's mapped array. */
static struct mg_activity fake_act_recs[256];
static struct mg_act_view fake_act;

static const struct mg_act_view *activity(void *ctx)
{
	(void)ctx;
	return &fake_act;
}

static const struct mg_engine_sink fake_sink_with_activity = {
	.rules = { put_block, del_block, put_allow, del_allow, put_server, del_server, put_outbreak, del_outbreak },
	.scan = scan,
	.set_monitor = set_monitor,
	.set_outbreak_count = set_outbreak_count,
	.activity = activity,
};

/* ---- what the engine tells ---------------------------------------------------------------------- */

struct seen {
	unsigned blocks, unblocks, alerts, declared, ended, threat;
	unsigned named; /* outbreak members named: in a declaration's list or a join */
	char last_notice[256];
	char last_block_rule[48];
	char notices[8192]; /* every notice, one a line */
};

static void observe(const struct mg_engine_note *n, void *arg)
{
	struct seen *s = arg;

	switch (n->kind) {
	case MG_NOTE_ACTION:
		s->blocks += n->action->kind == MG_AN_BLOCK;
		if (n->action->kind == MG_AN_BLOCK)
			snprintf(s->last_block_rule, sizeof(s->last_block_rule), "%s", n->action->ev.rule);
		s->unblocks += n->action->kind == MG_AN_UNBLOCK;
		s->alerts += n->action->kind == MG_AN_ALERT;
		break;
	case MG_NOTE_OUTBREAK:
		s->declared += n->ob->kind == MG_OB_DECLARE;
		s->ended += n->ob->kind == MG_OB_END;
		s->named += n->ob->kind == MG_OB_DECLARE ? n->ob->n_list : 0;
		s->named += n->ob->kind == MG_OB_JOIN && n->ob->member;
		break;
	case MG_NOTE_THREAT:
		s->threat = n->threat_to;
		break;
	case MG_NOTE_NOTICE:
		snprintf(s->last_notice, sizeof(s->last_notice), "%s", n->text);
		if (strlen(s->notices) + strlen(n->text) + 2 < sizeof(s->notices)) {
			strcat(s->notices, n->text);
			strcat(s->notices, "\n");
		}
		break;
	}
}

/* ---- scripted hosts ------------------------------------------------------------------------------ */

static struct mg_prefix pfx(const char *text)
{
	struct mg_prefix p;
	assert_int_equal(mg_prefix_parse(text, &p), 0);
	return p;
}

/* Hosts .0 to .n-1 of net ("198.18.2") in v, sorted as an import takes them; returns n. */
static size_t net_hosts(struct mg_prefix *v, int n, const char *net)
{
	char text[32];

	for (int i = 0; i < n; i++) {
		snprintf(text, sizeof(text), "%s.%d", net, i);
		v[i] = pfx(text);
	}
	return mg_prefix_sort_unique(v, (size_t)n);
}

static void host_init(struct host *h, const char *ip)
{
	memset(h, 0, sizeof(*h));
	assert_int_equal(mg_addr_parse(ip, h->addr), 0);
	h->s.mac[0] = 0x02;
	h->s.mac[5] = h->addr[15];
}

/* An event as the kernel sends it; a HELO's proof is `proof`, a SYN's always none. */
static void event_proven(struct mg_engine *e, struct host *h, uint8_t type, const char *dst, const char *helo,
			 uint32_t fp, uint8_t proof, uint64_t now, uint64_t wall)
{
	struct mg_event ev = { .type = type, .dport = 25, .fp_hash = fp, .proof = type == MG_EV_HELO ? proof : 0 };

	memcpy(ev.src, h->addr, 16);
	memcpy(ev.mac, h->s.mac, 6);
	assert_int_equal(mg_addr_parse(dst, ev.dst), 0);
	if (helo) {
		size_t len = strlen(helo);
		ev.detail = MG_CMD_EHLO;
		memcpy(ev.u.arg, helo, len);
		ev.arg_len = (uint8_t)len;
		ev.helo_hash = mg_helo_hash(helo, (uint32_t)len);
		h->s.helo_hash = ev.helo_hash;
	}
	mg_engine_event(e, &ev, now, wall);
}

/* The same for a session whose handshake the kernel saw complete. */
static void event(struct mg_engine *e, struct host *h, uint8_t type, const char *dst, const char *helo, uint32_t fp,
		  uint64_t now, uint64_t wall)
{
	event_proven(e, h, type, dst, helo, fp, MG_PROOF_HANDSHAKE, now, wall);
}

/* One SMTP session to dst as the kernel counts it, with its events. */
static void session(struct mg_engine *e, struct host *h, const char *dst, const char *helo, uint64_t now, uint64_t wall)
{
	uint32_t w[4];
	uint8_t d[16];

	assert_int_equal(mg_addr_parse(dst, d), 0);
	memcpy(w, d, 16);
	h->s.syn_mx++;
	if (!h->s.first_seen_ns)
		h->s.first_seen_ns = now;
	h->s.last_seen_ns = now;
	h->s.mx_dst_bits |= 1ull << mg_dst_bit(w);
	event(e, h, MG_EV_SYN_MX, dst, NULL, 0x68812a4c, now, wall);
	event(e, h, MG_EV_HELO, dst, helo, 0x68812a4c, now, wall); /* the kernel adds the source's SYN fingerprint */
	h->s.cmd[MG_CMD_EHLO]++;
	h->s.cmd[MG_CMD_MAIL]++;
	h->s.cmd[MG_CMD_RCPT] += 5;
	h->s.cmd[MG_CMD_DATA]++;
	h->s.cmd[MG_CMD_QUIT]++;
	h->s.reply[MG_REPLY_2XX] += 9;
	h->s.flags |= MG_SRC_F_PAYLOAD;
}

/* A bot: sessions to 12 different MXes within a few seconds, HELO an address literal. */
static void spam(struct mg_engine *e, struct host *bot, uint64_t *now, uint64_t *wall)
{
	for (int i = 0; i < 12; i++) {
		char dst[32];
		snprintf(dst, sizeof(dst), "198.19.%d.25", i + 1);
		session(e, bot, dst, "[198.18.0.66]", *now, *wall);
		*now += SEC / 4;
		*wall += SEC / 4;
	}
}

static void config(struct mg_config *c, const char *state_file)
{
	mg_config_default(c);
	c->ob.min_senders = 5;
	if (state_file)
		snprintf(c->state_file, sizeof(c->state_file), "%s", state_file);
	else
		c->state_file[0] = '\0';
}

static void add_list(struct mg_prefix_list *l, const char *text)
{
	l->v = realloc(l->v, (l->n + 1) * sizeof(*l->v));
	assert_non_null(l->v);
	l->v[l->n++] = pfx(text);
}

/* An engine on the fake kernel, started, with one host the fake's scan reports: the bot to be. */
static void start_with_bot(const struct mg_config *c, struct mg_engine *e, struct fake *f, struct seen *s,
			   struct host *bot, uint64_t now, uint64_t wall)
{
	host_init(bot, "198.18.0.66");
	f->hosts[f->nhosts++] = bot;
	assert_int_equal(mg_engine_init(e, c, &fake_sink, f, observe, s), 0);
	mg_engine_start(e, now, wall);
}

/* The removal of a private directory for state files, and all in it. */
static void remove_dir(const char *dir)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/*
 * What most tests start from: the test configuration (config()), an engine
 * for the fake kernel, the fake, and what the engine tells. rig_setup makes
 * the configuration for the test to add to, saving nowhere;
 * rig_setup_saving has it save to a state file in a private directory. The
 * test starts the engine (rig_start, or mg_engine_init with a sink or an
 * observer of its own); rig_teardown frees both and removes the directory,
 * after a failed assertion too (mg_engine_free takes an engine never
 * started).
 */
struct rig {
	struct mg_config c;
	struct mg_engine e;
	struct fake f;
	struct seen s;
	char dir[32], path[128]; /* with rig_setup_saving: the directory, and the state file in it */
};

static int rig_setup(void **state)
{
	struct rig *r = calloc(1, sizeof(*r));

	if (!r)
		return -1;
	config(&r->c, NULL);
	*state = r;
	return 0;
}

static int rig_teardown(void **state)
{
	struct rig *r = *state;

	mg_engine_free(&r->e);
	mg_config_free(&r->c);
	if (r->dir[0])
		remove_dir(r->dir);
	free(r);
	return 0;
}

static int rig_setup_saving(void **state)
{
	struct rig *r;

	if (rig_setup(state))
		return -1;
	r = *state;
	snprintf(r->dir, sizeof(r->dir), "/tmp/mg-test-engine.XXXXXX");
	if (!mkdtemp(r->dir)) {
		r->dir[0] = '\0';
		rig_teardown(state); /* cmocka runs no teardown after a failed setup */
		return -1;
	}
	snprintf(r->path, sizeof(r->path), "%s/state.gz", r->dir);
	snprintf(r->c.state_file, sizeof(r->c.state_file), "%s", r->path);
	return 0;
}

/* The rig's engine on the plain fake kernel, observed into r->s, started at now. */
static void rig_start(struct rig *r, uint64_t now, uint64_t wall)
{
	assert_int_equal(mg_engine_init(&r->e, &r->c, &fake_sink, &r->f, observe, &r->s), 0);
	mg_engine_start(&r->e, now, wall);
}

/* What forged traffic must never do: name a member, alert, block, or raise the threat level. */
static void assert_spoofer_harmed_no_one(const struct rig *r)
{
	assert_int_equal(r->s.named, 0);
	assert_int_equal(r->s.alerts, 0);
	assert_int_equal(r->s.blocks, 0);
	assert_int_equal(r->s.threat, 0);
	assert_int_equal(r->e.threat_level, 0);
}

/* ---- tests ----------------------------------------------------------------------------------------- */

static void run_bot_blocked(struct rig *r, uint64_t origin)
{
	struct host bot;
	uint64_t now = origin + BOOT, wall = WALL;

	start_with_bot(&r->c, &r->e, &r->f, &r->s, &bot, now, wall);
	assert_true(mg_engine_scan_due(&r->e, now)); /* the first scan is due at once */
	uint64_t spam_start = now;
	spam(&r->e, &bot, &now, &wall);
	assert_true(mg_engine_scan_due(&r->e, now)); /* news, and the gap passed */
	assert_int_equal(r->e.time_to_block.count, 0);
	mg_engine_tick(&r->e, now, wall);
	assert_int_equal(r->s.blocks, 1);
	assert_int_equal(r->e.verdicts_issued, 1);
	/* Metrics: one block in force by the analyzer, its time from the first evidence to the write. */
	assert_int_equal(mg_ruleset_blocks_new(r->e.rules, MG_OWNER_VERDICT), 1);
	assert_int_equal(mg_ruleset_blocks_new(r->e.rules, MG_OWNER_OPERATOR_BLOCK), 0);
	assert_int_equal(r->e.time_to_block.count, 1);
	assert_true(r->e.time_to_block.sum > 0 && r->e.time_to_block.sum <= (double)(now - spam_start) / 1e9);
	assert_int_equal(r->e.n_ttb, 0);
	struct mg_prefix p = pfx("198.18.0.66");
	struct kblock *b = find_block(&r->f, &p);
	assert_non_null(b);
	assert_int_equal(b->action, MG_ACT_DROP_SMTP);
	/* It expires, on the engine's timeline. */
	assert_true(b->expires > now && b->expires <= now + r->c.an.block_ns);
	/* Nothing new: the next ticks write nothing. */
	size_t writes = r->f.writes;
	now += SEC;
	mg_engine_tick(&r->e, now, wall);
	assert_int_equal(r->f.writes, writes);
	/* The verdict ends at its expiry, and the rule with it. */
	now = b->expires + SEC;
	wall += r->c.an.block_ns + SEC;
	mg_engine_tick(&r->e, now, wall);
	assert_int_equal(r->s.unblocks, 1);
	assert_null(find_block(&r->f, &p));
}

/*
 * A verdict lands when the event that decides it arrives: after each batch
 * of events the engine reads those sources' counters and judges them
 * (mg_engine_settle), with no scan in between. The block is in the kernel
 * right after the settle that follows the deciding session, at the same
 * session the scan would have found it; settling without events reads and
 * writes nothing.
 */
static void test_verdict_at_the_deciding_event(void **state)
{
	struct rig *r = *state;
	struct host bot;
	uint64_t now = BOOT, wall = WALL;
	struct mg_prefix p = pfx("198.18.0.66");
	int blocked_at = -1;

	host_init(&bot, "198.18.0.66");
	r->f.hosts[r->f.nhosts++] = &bot;
	assert_int_equal(mg_engine_init(&r->e, &r->c, &fake_sink_read_one, &r->f, observe, &r->s), 0);
	mg_engine_start(&r->e, now, wall);
	mg_engine_tick(&r->e, now, wall); /* the first scan; from here on, no scan */
	size_t reads = r->f.reads, writes = r->f.writes;
	mg_engine_settle(&r->e, now, wall);
	assert_int_equal(r->f.reads, reads);
	assert_int_equal(r->f.writes, writes);
	for (int i = 0; i < 12 && blocked_at < 0; i++) {
		char dst[32];
		snprintf(dst, sizeof(dst), "198.19.%d.25", i + 1);
		now += SEC / 20;
		wall += SEC / 20;
		/* The session's events; its commands are in the kernel's counters by the next one. */
		session(&r->e, &bot, dst, "[198.18.0.66]", now, wall);
		mg_engine_settle(&r->e, now, wall);
		if (find_block(&r->f, &p))
			blocked_at = i;
	}
	assert_true(blocked_at >= 1 && blocked_at <= 3);
	assert_int_equal(r->s.blocks, 1);
	assert_true(r->f.reads > reads);
	assert_true(r->e.settles >= 2);
	assert_false(r->e.last_scan > BOOT); /* no scan ran */

	/* The same bot on an engine that only scans: the scan after the same session finds the same verdict. */
	struct mg_engine e2;
	struct fake f2 = { 0 };
	struct seen s2 = { 0 };
	struct host bot2;
	uint64_t now2 = BOOT, wall2 = WALL;
	host_init(&bot2, "198.18.0.66");
	f2.hosts[f2.nhosts++] = &bot2;
	assert_int_equal(mg_engine_init(&e2, &r->c, &fake_sink, &f2, observe, &s2), 0);
	mg_engine_start(&e2, now2, wall2);
	mg_engine_tick(&e2, now2, wall2);
	int scan_blocked_at = -1;
	for (int i = 0; i < 12 && scan_blocked_at < 0; i++) {
		char dst[32];
		snprintf(dst, sizeof(dst), "198.19.%d.25", i + 1);
		now2 += SEC / 20;
		wall2 += SEC / 20;
		session(&e2, &bot2, dst, "[198.18.0.66]", now2, wall2);
		mg_engine_tick(&e2, now2, wall2);
		if (find_block(&f2, &p))
			scan_blocked_at = i;
	}
	assert_int_equal(scan_blocked_at, blocked_at);
	mg_engine_free(&e2);

	/*
	 * A burst of events from more sources than a settle reads: the first
	 * MG_ENGINE_HOT_MAX are read, the rest are counted and left to the
	 * scan; nobody is judged on counters it does not have.
	 */
	for (unsigned i = 0; i < MG_ENGINE_HOT_MAX + 44; i++) {
		struct host h;
		char ip[32];
		snprintf(ip, sizeof(ip), "198.18.%u.%u", 1 + i / 250, 1 + i % 250);
		host_init(&h, ip);
		event(&r->e, &h, MG_EV_SYN_MX, "198.19.0.25", NULL, 0x68812a4c, now, wall);
	}
	assert_int_equal(r->e.hot_missed, 44);
	reads = r->f.reads;
	mg_engine_settle(&r->e, now, wall);
	assert_int_equal(r->s.blocks, 1);
	assert_int_equal(r->e.nhot, 0);
}

/* ---- other nodes' rules ------------------------------------------------------------------------- */

static struct mg_cl_entry cl_entry(enum mg_cl_kind kind, const char *node, const char *prefix, uint8_t action,
				   uint64_t expires_wall, uint64_t at_wall)
{
	struct mg_cl_entry e = { .kind = kind, .action = action, .expires_wall = expires_wall, .at_wall = at_wall };

	snprintf(e.node, sizeof(e.node), "%s", node);
	e.prefix = pfx(prefix);
	return e;
}

/*
 * Rules received from other nodes go through the ledger as the "cluster"
 * owners: written with their wall-clock expiry moved to this timeline (a
 * machine up three seconds), removed when their origin deletes them or their
 * time is up, never over this node's allowlist or its own verdict, never
 * this node's own entries, never wider than the limits, and fresh verdicts
 * only at the breaker's pace while a resync of older ones is taken whole.
 */
static void test_cluster_receipt_rules(void **state)
{
	struct rig *r = *state;
	uint64_t now = BOOT, wall = WALL;
	struct mg_cl_entry x;

	add_list(&r->c.allowlist, "198.18.9.7");
	add_list(&r->c.protected_nets, "198.19.64.0/24");
	snprintf(r->c.cluster_node, sizeof(r->c.cluster_node), "edge-b");
	r->c.cluster_max_accept_per_min = 3;
	rig_start(r, now, wall);

	/* A verdict from edge-a, an hour left: blocked here, until this timeline's now + 1 h. */
	x = cl_entry(MG_CL_VERDICT, "edge-a", "198.18.2.2", MG_ACT_DROP_SMTP, wall + 3600 * SEC, wall);
	assert_int_equal(mg_engine_cluster_apply(&r->e, &x, false, now, wall), MG_CL_TAKEN);
	struct mg_prefix p = pfx("198.18.2.2");
	struct kblock *b = find_block(&r->f, &p);
	assert_non_null(b);
	assert_int_equal(b->expires, now + 3600 * SEC);
	struct mg_rule_entry re;
	assert_true(mg_ruleset_find(r->e.rules, &p, &re));
	assert_int_equal(re.written->block_by, MG_OWNER_CLUSTER_BLOCK);
	assert_string_equal(mg_owner_name(re.written->block_by), "cluster");

	/* Its own entries, come back from the bucket, are not taken. */
	x = cl_entry(MG_CL_VERDICT, "edge-b", "198.18.3.3", MG_ACT_DROP_SMTP, wall + 3600 * SEC, wall);
	assert_int_equal(mg_engine_cluster_apply(&r->e, &x, false, now, wall), MG_CL_OWN);
	p = pfx("198.18.3.3");
	assert_null(find_block(&r->f, &p));

	/*
	 * This node's allowlist wins over a received block: on the same prefix
	 * nothing is written; under a wider allow (198.18.9.0/24) the kernel's
	 * allowlist lookup wins at every packet (the packet tests show it).
	 */
	x = cl_entry(MG_CL_BLOCK, "edge-a", "198.18.9.7", MG_ACT_DROP_ALL, MG_CL_NO_EXPIRY, wall);
	assert_int_equal(mg_engine_cluster_apply(&r->e, &x, false, now, wall), MG_CL_TAKEN);
	p = pfx("198.18.9.7");
	assert_null(find_block(&r->f, &p));

	/* Too wide for the limits (/8 for IPv4 by default): refused; /0 never. */
	x = cl_entry(MG_CL_BLOCK, "edge-a", "100.0.0.0/7", MG_ACT_DROP_SMTP, MG_CL_NO_EXPIRY, wall);
	assert_int_equal(mg_engine_cluster_apply(&r->e, &x, false, now, wall), MG_CL_TOO_WIDE);
	x = cl_entry(MG_CL_BLOCK, "edge-a", "::/0", MG_ACT_DROP_SMTP, MG_CL_NO_EXPIRY, wall);
	assert_int_equal(mg_engine_cluster_apply(&r->e, &x, false, now, wall), MG_CL_TOO_WIDE);

	/* A block covering this node's protected network whole: refused, whatever it is at its origin; inside it, taken. */
	x = cl_entry(MG_CL_BLOCK, "edge-a", "198.19.0.0/16", MG_ACT_DROP_SMTP, MG_CL_NO_EXPIRY, wall);
	assert_int_equal(mg_engine_cluster_apply(&r->e, &x, false, now, wall), MG_CL_PROTECTED);
	p = pfx("198.19.0.0/16");
	assert_null(find_block(&r->f, &p));
	x = cl_entry(MG_CL_BLOCK, "edge-a", "198.19.64.0/24", MG_ACT_DROP_SMTP, MG_CL_NO_EXPIRY, wall);
	assert_int_equal(mg_engine_cluster_apply(&r->e, &x, false, now, wall), MG_CL_PROTECTED);
	x = cl_entry(MG_CL_BLOCK, "edge-a", "198.19.64.128/25", MG_ACT_DROP_SMTP, MG_CL_NO_EXPIRY, wall);
	assert_int_equal(mg_engine_cluster_apply(&r->e, &x, false, now, wall), MG_CL_TAKEN);
	p = pfx("198.19.64.128/25");
	assert_non_null(find_block(&r->f, &p));
	assert_string_equal(mg_cl_outcome_name(MG_CL_PROTECTED), "protected");

	/* A kind this node does not take. */
	r->e.cl_accept &= ~(1u << MG_CL_ALLOW);
	x = cl_entry(MG_CL_ALLOW, "edge-a", "198.18.2.2", 0, MG_CL_NO_EXPIRY, wall);
	assert_int_equal(mg_engine_cluster_apply(&r->e, &x, false, now, wall), MG_CL_NOT_ACCEPTED);
	p = pfx("198.18.2.2");
	assert_non_null(find_block(&r->f, &p));
	r->e.cl_accept |= 1u << MG_CL_ALLOW;

	/* The breaker: three fresh verdicts this minute (one taken above), the fourth refused... */
	for (int i = 0; i < 2; i++) {
		char a[32];
		snprintf(a, sizeof(a), "198.18.4.%d", i + 1);
		x = cl_entry(MG_CL_VERDICT, "edge-a", a, MG_ACT_DROP_SMTP, wall + 600 * SEC, wall);
		assert_int_equal(mg_engine_cluster_apply(&r->e, &x, false, now, wall), MG_CL_TAKEN);
	}
	x = cl_entry(MG_CL_VERDICT, "edge-c", "198.18.4.9", MG_ACT_DROP_SMTP, wall + 600 * SEC, wall);
	assert_int_equal(mg_engine_cluster_apply(&r->e, &x, false, now, wall), MG_CL_BREAKER);
	/* ... but a resync of verdicts written long ago is taken whole, and so is an update of one kept. */
	x = cl_entry(MG_CL_VERDICT, "edge-c", "198.18.5.1", MG_ACT_DROP_SMTP, wall + 600 * SEC, wall - 300 * SEC);
	assert_int_equal(mg_engine_cluster_apply(&r->e, &x, false, now, wall), MG_CL_TAKEN);
	x = cl_entry(MG_CL_VERDICT, "edge-a", "198.18.4.1", MG_ACT_DROP_ALL, wall + 900 * SEC, wall);
	assert_int_equal(mg_engine_cluster_apply(&r->e, &x, false, now, wall), MG_CL_TAKEN);
	/* A minute on, the breaker takes fresh ones again. */
	x = cl_entry(MG_CL_VERDICT, "edge-c", "198.18.4.9", MG_ACT_DROP_SMTP, wall + 660 * SEC, wall + 60 * SEC);
	assert_int_equal(mg_engine_cluster_apply(&r->e, &x, false, now + 60 * SEC, wall + 60 * SEC), MG_CL_TAKEN);
	/* Too wide twice, a protected network twice, a kind not taken, the breaker. */
	assert_int_equal(r->e.cl_refused, 6);

	/* This node's own verdict stands over the received one, and hands back to it. */
	p = pfx("198.18.2.2");
	mg_ruleset_claim(r->e.rules, &p, MG_OWNER_VERDICT, MG_ACT_DROP_ALL, now + 7200 * SEC);
	mg_engine_tick(&r->e, now + 61 * SEC, wall + 61 * SEC);
	assert_true(mg_ruleset_find(r->e.rules, &p, &re));
	assert_int_equal(re.written->block_by, MG_OWNER_VERDICT);
	mg_ruleset_release(r->e.rules, &p, MG_OWNER_VERDICT);
	mg_engine_tick(&r->e, now + 62 * SEC, wall + 62 * SEC);
	assert_true(mg_ruleset_find(r->e.rules, &p, &re));
	assert_int_equal(re.written->block_by, MG_OWNER_CLUSTER_BLOCK);

	/* A received allow is an allow: the received block on the prefix is lifted while it lasts. */
	x = cl_entry(MG_CL_ALLOW, "edge-c", "198.18.2.2", 0, wall + 62 * SEC + 100 * SEC, wall + 62 * SEC);
	assert_int_equal(mg_engine_cluster_apply(&r->e, &x, false, now + 62 * SEC, wall + 62 * SEC), MG_CL_TAKEN);
	assert_null(find_block(&r->f, &p));
	assert_true(find_allow(&r->f, &p) >= 0);

	/* A mail server another node learned is one here: never blocked, in mg_servers, never judged. */
	x = cl_entry(MG_CL_SERVER, "edge-c", "198.18.4.1", 0, MG_CL_NO_EXPIRY, wall + 62 * SEC);
	assert_int_equal(mg_engine_cluster_apply(&r->e, &x, false, now + 62 * SEC, wall + 62 * SEC), MG_CL_TAKEN);
	struct mg_prefix srv = pfx("198.18.4.1");
	assert_null(find_block(&r->f, &srv)); /* edge-a's verdict on it gives way */
	assert_true(find_allow(&r->f, &srv) >= 0);
	assert_true(mg_ruleset_find(r->e.rules, &srv, &re));
	assert_true(re.written->server && re.written->an_server);
	assert_string_equal(mg_owner_name(re.written->allow_by), "cluster:mail_servers");

	/* Deleted at its origin: gone here, whatever else this node holds. */
	x = cl_entry(MG_CL_ALLOW, "edge-c", "198.18.2.2", 0, 0, 0);
	assert_int_equal(mg_engine_cluster_apply(&r->e, &x, true, now + 63 * SEC, wall + 63 * SEC), MG_CL_REMOVED);
	assert_true(find_allow(&r->f, &p) < 0);
	assert_non_null(find_block(&r->f, &p));
	x = cl_entry(MG_CL_VERDICT, "edge-a", "198.18.2.2", 0, 0, 0);
	assert_int_equal(mg_engine_cluster_apply(&r->e, &x, true, now + 64 * SEC, wall + 64 * SEC), MG_CL_REMOVED);
	assert_null(find_block(&r->f, &p));
	/* An entry whose time is up when it arrives is a removal. */
	x = cl_entry(MG_CL_VERDICT, "edge-c", "198.18.5.1", MG_ACT_DROP_SMTP, wall + 64 * SEC, wall - 300 * SEC);
	assert_int_equal(mg_engine_cluster_apply(&r->e, &x, false, now + 65 * SEC, wall + 65 * SEC), MG_CL_REMOVED);
	p = pfx("198.18.5.1");
	assert_null(find_block(&r->f, &p));

	/*
	 * Other nodes' outbreaks raise the threat level here (capped at
	 * MG_CL_THREAT_MAX: the highest levels need evidence seen here) and go
	 * when deleted or when their time is up.
	 */
	struct mg_cl_entry ob = { .kind = MG_CL_OUTBREAK, .sig = { MG_SIG_FP, 0x68812a4c, 0 }, .level = 2, .members = 7,
				  .expires_wall = wall + 65 * SEC + 3600 * SEC, .at_wall = wall + 65 * SEC };
	snprintf(ob.node, sizeof(ob.node), "edge-a");
	assert_int_equal(r->e.threat_level, 0);
	assert_int_equal(mg_engine_cluster_apply(&r->e, &ob, false, now + 65 * SEC, wall + 65 * SEC), MG_CL_TAKEN);
	assert_int_equal(r->e.threat_level, 2);
	assert_int_equal(r->s.threat, 2);
	ob.level = 5;
	snprintf(ob.node, sizeof(ob.node), "edge-c");
	ob.expires_wall = wall + 65 * SEC + 100 * SEC;
	assert_int_equal(mg_engine_cluster_apply(&r->e, &ob, false, now + 65 * SEC, wall + 65 * SEC), MG_CL_TAKEN);
	assert_int_equal(r->e.threat_level, MG_CL_THREAT_MAX);
	assert_int_equal(r->e.local_threat, 0);
	snprintf(ob.node, sizeof(ob.node), "edge-b"); /* its own, come back */
	assert_int_equal(mg_engine_cluster_apply(&r->e, &ob, false, now + 65 * SEC, wall + 65 * SEC), MG_CL_OWN);
	mg_engine_tick(&r->e, now + 166 * SEC, wall + 166 * SEC); /* edge-c's has run out */
	assert_int_equal(r->e.threat_level, 2);
	snprintf(ob.node, sizeof(ob.node), "edge-a");
	assert_int_equal(mg_engine_cluster_apply(&r->e, &ob, true, now + 167 * SEC, wall + 167 * SEC), MG_CL_REMOVED);
	assert_int_equal(r->e.threat_level, 0);
	assert_int_equal(r->e.n_cl_ob, 0);

	/* With no word from their origin, received blocks end on their own time. */
	p = pfx("198.18.4.2");
	assert_non_null(find_block(&r->f, &p));
	mg_engine_tick(&r->e, now + 601 * SEC, wall + 601 * SEC);
	assert_null(find_block(&r->f, &p));
}

/*
 * FlowSpec routes from BGP peers (mg_engine_bgp_apply), under the cluster's
 * rules of receipt, on a machine up three seconds: a route is the owner
 * "bgp"'s block until its TTL unless refreshed; this node's allowlist and
 * mail servers win; nothing wider than the limits; new routes at the
 * breaker's pace, refreshes always; several peers on one prefix add up and
 * each one's withdrawal leaves the others'; this node's own verdicts and
 * other nodes' entries stand over it; monitor mode is the kernel's, as for
 * every block.
 */
static void test_bgp_receipt_rules(void **state)
{
	struct rig *r = *state;
	uint64_t now = BOOT, wall = WALL, ttl = 30 * SEC;
	struct mg_prefix p;
	struct mg_rule_entry re;
	struct kblock *b;

	add_list(&r->c.allowlist, "198.18.9.7");
	add_list(&r->c.mail_servers, "198.18.9.25");
	add_list(&r->c.protected_nets, "2001:db8:40::/48");
	r->c.bgp_max_accept_per_min = 3;
	rig_start(r, now, wall);

	/* A route from a peer: blocked here until its TTL, the owner "bgp". */
	p = pfx("198.18.2.2");
	assert_int_equal(mg_engine_bgp_apply(&r->e, "198.18.100.2", &p, MG_ACT_DROP_SMTP, ttl, false, now, wall),
			 MG_CL_TAKEN);
	b = find_block(&r->f, &p);
	assert_non_null(b);
	assert_int_equal(b->action, MG_ACT_DROP_SMTP);
	assert_int_equal(b->expires, now + ttl);
	assert_true(mg_ruleset_find(r->e.rules, &p, &re));
	assert_string_equal(mg_owner_name(re.written->block_by), "bgp");

	/* The allowlist and the configured mail servers win: taken into the ledger, nothing written. */
	struct mg_prefix allowed = pfx("198.18.9.7"), server = pfx("198.18.9.25");
	assert_int_equal(mg_engine_bgp_apply(&r->e, "198.18.100.2", &allowed, MG_ACT_DROP_ALL, ttl, false, now, wall),
			 MG_CL_TAKEN);
	assert_null(find_block(&r->f, &allowed));
	assert_int_equal(mg_engine_bgp_apply(&r->e, "198.18.100.2", &server, MG_ACT_DROP_SMTP, ttl, false, now, wall),
			 MG_CL_TAKEN);
	assert_null(find_block(&r->f, &server));

	/* Too wide for the limits: refused, /0 never. */
	struct mg_prefix wide = pfx("100.0.0.0/7"), all = pfx("::/0");
	assert_int_equal(mg_engine_bgp_apply(&r->e, "198.18.100.2", &wide, MG_ACT_DROP_SMTP, ttl, false, now, wall),
			 MG_CL_TOO_WIDE);
	assert_int_equal(mg_engine_bgp_apply(&r->e, "198.18.100.2", &all, MG_ACT_DROP_SMTP, ttl, false, now, wall),
			 MG_CL_TOO_WIDE);
	/* Covering this node's protected network whole: refused (not counted by the breaker below). */
	struct mg_prefix own = pfx("2001:db8::/32");
	assert_int_equal(mg_engine_bgp_apply(&r->e, "198.18.100.2", &own, MG_ACT_DROP_SMTP, ttl, false, now, wall),
			 MG_CL_PROTECTED);
	assert_null(find_block(&r->f, &own));

	/* The breaker: three new routes this minute taken above, the fourth refused; a refresh passes. */
	struct mg_prefix q = pfx("198.18.4.4");
	assert_int_equal(mg_engine_bgp_apply(&r->e, "198.18.100.2", &q, MG_ACT_DROP_SMTP, ttl, false, now, wall),
			 MG_CL_BREAKER);
	assert_null(find_block(&r->f, &q));
	assert_int_equal(mg_engine_bgp_apply(&r->e, "198.18.100.2", &p, MG_ACT_DROP_SMTP, ttl, false, now + 20 * SEC,
					     wall + 20 * SEC), MG_CL_TAKEN);
	assert_int_equal(find_block(&r->f, &p)->expires, now + 20 * SEC + ttl); /* refreshed: the TTL from now */
	assert_int_equal(r->e.bgp_refused, 4);
	/* A minute on, new routes are taken again. */
	assert_int_equal(mg_engine_bgp_apply(&r->e, "198.18.100.2", &q, MG_ACT_DROP_SMTP, ttl, false, now + 61 * SEC,
					     wall + 61 * SEC), MG_CL_TAKEN);
	assert_non_null(find_block(&r->f, &q));

	/* A second peer on the same prefix, all traffic: the strongest; its withdrawal leaves the first's. */
	now += 61 * SEC, wall += 61 * SEC;
	assert_int_equal(mg_engine_bgp_apply(&r->e, "198.18.100.2", &p, MG_ACT_DROP_SMTP, ttl, false, now, wall),
			 MG_CL_TAKEN);
	assert_int_equal(mg_engine_bgp_apply(&r->e, "2001:db8::2", &p, MG_ACT_DROP_ALL, ttl, false, now, wall),
			 MG_CL_TAKEN);
	assert_int_equal(find_block(&r->f, &p)->action, MG_ACT_DROP_ALL);
	char peers[128];
	assert_string_equal(mg_clrecv_nodes(r->e.bgprecv, &p, peers, sizeof(peers)), "198.18.100.2, 2001:db8::2");
	assert_int_equal(mg_engine_bgp_apply(&r->e, "2001:db8::2", &p, 0, 0, true, now, wall), MG_CL_REMOVED);
	assert_int_equal(find_block(&r->f, &p)->action, MG_ACT_DROP_SMTP);

	/* This node's verdict and another node's entry stand over a route, and hand back to it. */
	mg_ruleset_claim(r->e.rules, &p, MG_OWNER_VERDICT, MG_ACT_DROP_ALL, now + 7200 * SEC);
	mg_engine_tick(&r->e, now + SEC, wall + SEC);
	assert_true(mg_ruleset_find(r->e.rules, &p, &re));
	assert_int_equal(re.written->block_by, MG_OWNER_VERDICT);
	mg_ruleset_release(r->e.rules, &p, MG_OWNER_VERDICT);
	struct mg_cl_entry x = cl_entry(MG_CL_BLOCK, "edge-a", "198.18.2.2", MG_ACT_DROP_SMTP, MG_CL_NO_EXPIRY, wall);
	assert_int_equal(mg_engine_cluster_apply(&r->e, &x, false, now + SEC, wall + SEC), MG_CL_TAKEN);
	assert_true(mg_ruleset_find(r->e.rules, &p, &re));
	assert_int_equal(re.written->block_by, MG_OWNER_CLUSTER_BLOCK);
	assert_int_equal(mg_engine_cluster_apply(&r->e, &x, true, now + SEC, wall + SEC), MG_CL_REMOVED);
	assert_true(mg_ruleset_find(r->e.rules, &p, &re));
	assert_int_equal(re.written->block_by, MG_OWNER_BGP_BLOCK);

	/* Monitor mode is the kernel's switch: the block stays written, the kernel only counts. */
	mg_engine_set_monitor(&r->e, true, now + SEC, wall + SEC);
	assert_true(r->f.monitor);
	assert_non_null(find_block(&r->f, &p));
	mg_engine_set_monitor(&r->e, false, now + SEC, wall + SEC);

	/* The peer withdraws: gone. With no word (helper or session gone), a route ends at its TTL. */
	assert_int_equal(mg_engine_bgp_apply(&r->e, "198.18.100.2", &p, 0, 0, true, now + 2 * SEC, wall + 2 * SEC),
			 MG_CL_REMOVED);
	assert_null(find_block(&r->f, &p));
	assert_non_null(find_block(&r->f, &q));
	mg_engine_tick(&r->e, now + ttl, wall + ttl);
	assert_null(find_block(&r->f, &q));
	assert_int_equal(mg_clrecv_count(r->e.bgprecv, NULL), 0);
}

static void test_bot_blocked_near_boot(void **state)
{
	(void)state;
	run_bot_blocked(*state, 0);
}

static void test_bot_blocked_on_the_daemons_timeline(void **state)
{
	(void)state;
	run_bot_blocked(*state, MG_TIMELINE_ORIGIN);
}

/*
 * The engine hands its sink's activity records to the analyzer (the daemon's
 * and the replay's shared path): a bot whose address browsed before it ever
 * spoke SMTP is an end host gone MTA, not a new sender.
 */
static void test_browsed_bot_is_a_role_change(void **state)
{
	struct rig *r = *state;
	struct host bot;
	uint64_t now = MG_TIMELINE_ORIGIN + BOOT, wall = WALL;
	struct mg_prefix net = pfx("198.18.0.0/24");
	char why[256];
	size_t bad;

	memset(fake_act_recs, 0, sizeof(fake_act_recs));
	memset(&fake_act, 0, sizeof(fake_act));
	assert_int_equal(mg_act_plan(&net, 1, fake_act.ranges, &bad, why, sizeof(why)), 0);
	fake_act.rec = fake_act_recs;
	fake_act.n = 256;
	fake_act.now = 5000;
	struct mg_activity *rec = &fake_act_recs[66];
	rec->flows[MG_ACT_WEB] = 250;
	rec->classes = MG_ACT_F_SEEN | 1u << MG_ACT_WEB;
	rec->last_seen = 4990;

	host_init(&bot, "198.18.0.66");
	r->f.hosts[r->f.nhosts++] = &bot;
	assert_int_equal(mg_engine_init(&r->e, &r->c, &fake_sink_with_activity, &r->f, observe, &r->s), 0);
	mg_engine_start(&r->e, now, wall);
	mg_engine_tick(&r->e, now, wall);
	struct mg_an_profile_view v;
	/* The fake reports its (empty) kernel profile from the start: an end host by its record alone. */
	assert_true(mg_an_get(r->e.an, bot.addr, &v));
	assert_int_equal(v.role, MG_ROLE_END_HOST);
	spam(&r->e, &bot, &now, &wall);
	mg_engine_tick(&r->e, now, wall);
	assert_int_equal(r->s.blocks, 1);
	assert_string_equal(r->s.last_block_rule, "role-change:end-host-to-mta");
}

static void test_allowlist_beats_every_verdict(void **state)
{
	struct rig *r = *state;
	struct host bot;
	uint64_t now = BOOT, wall = WALL;
	char err[256];

	add_list(&r->c.allowlist, "198.18.0.0/24");
	start_with_bot(&r->c, &r->e, &r->f, &r->s, &bot, now, wall);
	assert_int_equal(r->f.nallows, 1);
	spam(&r->e, &bot, &now, &wall);
	mg_engine_tick(&r->e, now, wall);
	assert_int_equal(r->s.blocks, 0);
	assert_int_equal(r->f.nblocks, 0);
	/* Even the operator's block of the allowed network waits behind the allow. */
	struct mg_prefix net = pfx("198.18.0.0/24");
	assert_int_equal(mg_engine_block(&r->e, &net, MG_ACT_DROP_ALL, 0, "test", now, wall, err, sizeof(err)), 0);
	assert_int_equal(r->f.nblocks, 0);
	assert_non_null(strstr(r->s.last_notice, "waits until that allow ends"));
	/* The operator cannot disallow what the configuration allows. */
	assert_int_equal(mg_engine_disallow(&r->e, &net, now, wall, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "configuration"));
	assert_int_equal(r->f.nallows, 1);
}

static void test_operator_over_verdict_and_allow(void **state)
{
	struct rig *r = *state;
	struct host bot;
	uint64_t now = BOOT, wall = WALL;
	char err[256];

	start_with_bot(&r->c, &r->e, &r->f, &r->s, &bot, now, wall);
	spam(&r->e, &bot, &now, &wall);
	mg_engine_tick(&r->e, now, wall);
	struct mg_prefix p = pfx("198.18.0.66");
	struct kblock *b = find_block(&r->f, &p);
	assert_non_null(b);
	uint64_t verdict_expires = b->expires;

	/* The operator blocks all of its traffic for 10 s: that rule stands over the verdict... */
	assert_int_equal(mg_engine_block(&r->e, &p, MG_ACT_DROP_ALL, 10 * SEC, "ticket", now, wall, err, sizeof(err)),
			 0);
	b = find_block(&r->f, &p);
	assert_int_equal(b->action, MG_ACT_DROP_ALL);
	assert_true(b->expires == now + 10 * SEC);
	/* ...and hands back to it when it ends. */
	now += 11 * SEC;
	wall += 11 * SEC;
	mg_engine_tick(&r->e, now, wall);
	b = find_block(&r->f, &p);
	assert_non_null(b);
	assert_int_equal(b->action, MG_ACT_DROP_SMTP);
	assert_true(b->expires == verdict_expires);
	assert_string_equal(r->s.last_notice, "operator block 198.18.0.66 ended: ticket");

	/* An operator's allow ends the verdict at once: no block left, allowed in the kernel. */
	assert_int_equal(mg_engine_allow(&r->e, &p, 0, "partner", now, wall, err, sizeof(err)), 0);
	assert_null(find_block(&r->f, &p));
	assert_true(find_allow(&r->f, &p) >= 0);
	assert_int_equal(r->s.unblocks, 1);
	struct mg_an_profile_view v;
	assert_true(mg_an_get(r->e.an, p.addr, &v));
	assert_true(v.allowlisted);
	assert_int_not_equal(v.role, MG_ROLE_BLOCKED);
	/* Disallowed: gone from the kernel and the analyzer; a second disallow has nothing to remove. */
	assert_int_equal(mg_engine_disallow(&r->e, &p, now, wall, err, sizeof(err)), 0);
	assert_true(find_allow(&r->f, &p) < 0);
	assert_true(mg_an_get(r->e.an, p.addr, &v));
	assert_false(v.allowlisted);
	assert_int_equal(mg_engine_disallow(&r->e, &p, now, wall, err, sizeof(err)), -ENOENT);
	/* Unblock with nothing blocked is refused, with a message. */
	assert_int_equal(mg_engine_unblock(&r->e, &p, now, wall, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "no block rule"));
}

/* Five fresh hosts with one fingerprint: an outbreak, contained in the kernel, the threat level up. */
static void outbreak(struct mg_engine *e, struct host *h, size_t n, uint64_t *now, uint64_t *wall)
{
	for (size_t i = 0; i < n; i++) {
		char helo[32];
		snprintf(helo, sizeof(helo), "host%zu.example", i);
		session(e, &h[i], "198.19.0.25", helo, *now, *wall);
		*now += SEC;
		*wall += SEC;
	}
}

/*
 * Issue 13: a flood of SYNs to port 25 from spoofed inside addresses, all with
 * one fingerprint, none completing a handshake. The fingerprint may be
 * contained; no source is named, nothing is held, the threat level stays 0.
 */
static void test_spoofed_syn_flood_names_no_member(void **state)
{
	struct rig *r = *state;
	uint64_t now = BOOT, wall = WALL;
	struct host h;
	char a[32];

	rig_start(r, now, wall);
	srand(13);
	for (int i = 0; i < 3000; i++) {
		snprintf(a, sizeof(a), "198.%d.%d.%d", 18 + rand() % 2, rand() % 256, 1 + rand() % 254);
		host_init(&h, a);
		event(&r->e, &h, MG_EV_SYN_MX, "198.19.200.25", NULL, 0x68812a4c, now, wall);
		now += SEC / 1000;
		wall += SEC / 1000;
		assert_false(mg_ob_member_of(r->e.ob, h.addr, NULL));
		if (i % 500 == 0)
			mg_engine_tick(&r->e, now, wall);
	}
	mg_engine_tick(&r->e, now, wall);
	/* Containing what spoofed SYNs carry harms no one. */
	assert_int_equal(r->s.declared, 1);
	assert_int_equal(r->f.nfps, 1);
	/* Naming innocents, or cutting every host's thresholds, takes proof. */
	assert_spoofer_harmed_no_one(r);

	/* Five real bots with that fingerprint, proven by their sessions: named, and the threat level rises. */
	struct host bots[5];
	for (int i = 0; i < 5; i++) {
		snprintf(a, sizeof(a), "198.18.250.%d", i + 1);
		host_init(&bots[i], a);
	}
	outbreak(&r->e, bots, 5, &now, &wall);
	assert_int_equal(r->s.named, 5);
	assert_true(mg_ob_member_of(r->e.ob, bots[0].addr, NULL));
	assert_true(r->e.threat_level >= 2);
}

/* What the engine asked the verifier: the source, and the address to check. */
struct asked {
	unsigned n;
	uint8_t who[16], addr[16];
	char domain[MG_VERIFY_NAME];
};

static void verify_hook(void *arg, const uint8_t who[16], const struct mg_verify_input *in)
{
	struct asked *a = arg;
	a->n++;
	memcpy(a->who, who, 16);
	memcpy(a->addr, in->addr, 16);
	memcpy(a->domain, in->mail_domain, sizeof(a->domain));
}

static void mail_from(struct mg_engine *e, struct host *h, const char *arg, uint8_t proof, uint64_t now, uint64_t wall)
{
	struct mg_event ev = { .type = MG_EV_MAIL, .dport = 25, .proof = proof };

	memcpy(ev.src, h->addr, 16);
	assert_int_equal(mg_addr_parse("198.19.0.1", ev.dst), 0);
	ev.arg_len = (uint8_t)strlen(arg);
	memcpy(ev.u.arg, arg, ev.arg_len);
	mg_engine_event(e, &ev, now, wall);
}

/*
 * Source verification through the engine: a MAIL event asks the verifier
 * once per identity; a NATed host is checked as its public address; a
 * network turned off, a configured mail server and unproven commands are
 * never checked.
 */
static void test_verify_requests(void **state)
{
	struct rig *r = *state;
	struct asked a = { 0 };
	uint64_t now = BOOT, wall = WALL;
	struct host nat, off, relay, plain;
	uint8_t pub[16];

	r->c.verify_nat[0].inside = pfx("198.18.64.0/18");
	assert_int_equal(mg_addr_parse("198.19.64.1", r->c.verify_nat[0].public_addr), 0);
	r->c.n_verify_nat = 1;
	r->c.verify_off[0] = pfx("198.18.128.0/24");
	r->c.n_verify_off = 1;
	add_list(&r->c.mail_servers, "198.18.1.25/32");
	assert_int_equal(mg_engine_init(&r->e, &r->c, &fake_sink, &r->f, observe, &r->s), 0);
	mg_engine_set_verifier(&r->e, verify_hook, &a);
	mg_engine_start(&r->e, now, wall);

	host_init(&plain, "198.18.2.2");
	session(&r->e, &plain, "198.19.0.1", "pc.example.org", now, wall);
	mail_from(&r->e, &plain, " <jo@Example.ORG> SIZE=1\r\n", MG_PROOF_PAYLOAD, now, wall);
	assert_int_equal(a.n, 1);
	assert_memory_equal(a.addr, plain.addr, 16);
	assert_string_equal(a.domain, "example.org");
	/* The same identity again: not asked again. */
	mail_from(&r->e, &plain, "<jo@example.org>\r\n", MG_PROOF_PAYLOAD, now + 40 * SEC, wall + 40 * SEC);
	assert_int_equal(a.n, 1);

	host_init(&nat, "198.18.70.7");
	session(&r->e, &nat, "198.19.0.1", "pc7.example.org", now, wall);
	mail_from(&r->e, &nat, "<a@example.org>", MG_PROOF_PAYLOAD, now, wall);
	assert_int_equal(a.n, 2);
	assert_memory_equal(a.who, nat.addr, 16);
	assert_int_equal(mg_addr_parse("198.19.64.1", pub), 0);
	assert_memory_equal(a.addr, pub, 16);

	host_init(&off, "198.18.128.9");
	session(&r->e, &off, "198.19.0.1", "x.example.org", now, wall);
	mail_from(&r->e, &off, "<a@example.org>", MG_PROOF_PAYLOAD, now, wall);
	host_init(&relay, "198.18.1.25");
	session(&r->e, &relay, "198.19.0.1", "relay.example.org", now, wall);
	mail_from(&r->e, &relay, "<a@example.org>", MG_PROOF_PAYLOAD, now, wall);
	/* A spoofer's MAIL (no proof) is not even looked at. */
	host_init(&plain, "198.18.3.3");
	mail_from(&r->e, &plain, "<a@other.example>", MG_PROOF_NONE, now, wall);
	assert_int_equal(a.n, 2);
}

/*
 * Commands the kernel did not count (no handshake where one is required):
 * from random spoofed sources, they name no member and make no suspect.
 */
static void test_spoofed_payload_names_no_suspect(void **state)
{
	struct rig *r = *state;
	uint64_t now = BOOT, wall = WALL;
	struct host h;
	char a[32], dst[32];

	rig_start(r, now, wall);
	for (int i = 0; i < 2000; i++) {
		snprintf(a, sizeof(a), "198.19.%d.%d", i / 250, i % 250 + 1);
		snprintf(dst, sizeof(dst), "198.18.%d.25", i % 40);
		host_init(&h, a);
		event_proven(&r->e, &h, MG_EV_HELO, dst, "[198.19.0.1]", 0, MG_PROOF_NONE, now, wall);
		now += SEC / 100;
		wall += SEC / 100;
	}
	mg_engine_tick(&r->e, now, wall);
	assert_int_equal(r->s.declared, 0);
	assert_spoofer_harmed_no_one(r);
	/* Not even a profile: the analyzer never heard of them. */
	struct mg_an_profile_view v;
	assert_int_equal(mg_addr_parse("198.19.0.1", h.addr), 0);
	assert_false(mg_an_get(r->e.an, h.addr, &v));
}

/* The rig's engine started, the five hosts of 198.18.3.0/24 in an outbreak of their fingerprint (68812a4c). */
static void rig_in_outbreak(struct rig *r, uint64_t *now, uint64_t *wall)
{
	struct host h[5];

	for (int i = 0; i < 5; i++) {
		char a[32];
		snprintf(a, sizeof(a), "198.18.3.%d", i + 1);
		host_init(&h[i], a);
	}
	rig_start(r, *now, *wall);
	outbreak(&r->e, h, 5, now, wall);
}

/*
 * What the engine handed over to be written (mg_engine.state_stream): the
 * pieces joined, as a writer would have written them. `room` pieces are
 * taken before the stream says it has none (-EAGAIN), until `room` grows.
 */
struct handed {
	int opens, closes, aborts, puts, refused;
	unsigned room;
	uint8_t *buf;
	size_t len;
	char path[256];
};

static int stream_open(void *ctx, const char *path)
{
	struct handed *h = ctx;

	h->opens++;
	h->len = 0;
	snprintf(h->path, sizeof(h->path), "%s", path);
	return 0;
}

static int stream_put(void *ctx, uint8_t *buf, size_t len)
{
	struct handed *h = ctx;

	if (!h->room) {
		h->refused++;
		return -EAGAIN;
	}
	h->room--;
	h->puts++;
	h->buf = realloc(h->buf, h->len + len);
	assert_non_null(h->buf);
	memcpy(h->buf + h->len, buf, len);
	h->len += len;
	free(buf);
	return 0;
}

static void stream_close(void *ctx)
{
	((struct handed *)ctx)->closes++;
}

static void stream_abort(void *ctx)
{
	((struct handed *)ctx)->aborts++;
}

/* What a save written here said of its progress (mg_engine.save_progress). */
struct progress {
	int calls;
	size_t last;
};

static void save_progress(void *ctx, size_t bytes)
{
	struct progress *pr = ctx;

	assert_true(bytes >= pr->last);
	pr->calls++;
	pr->last = bytes;
}

static const struct mg_state_stream test_stream = {
	.open = stream_open, .put = stream_put, .close = stream_close, .abort = stream_abort,
};

/*
 * The daemon's save in slices: steps until done, the state handed over as
 * it is made and closed once (the rules file written with it); while the
 * stream has no room the engine waits, serializing nothing; what was handed
 * over restores every profile. A whole save meanwhile replaces a sliced one
 * under way (the stream's file given up). Near boot.
 */
static void test_save_in_slices(void **state)
{
	struct rig *r = *state;
	struct handed got = { .room = 0 };
	uint64_t now = BOOT, wall = WALL;

	rig_in_outbreak(r, &now, &wall);
	r->e.state_stream = &test_stream;
	r->e.state_stream_ctx = &got;
	assert_int_equal(mg_engine_save_begin(&r->e, now, wall), 0);
	assert_true(r->e.saving);
	assert_int_equal(mg_engine_save_begin(&r->e, now, wall), 0); /* under way: nothing new */
	assert_int_equal(got.opens, 1);
	int steps = 1;
	while (!mg_engine_save_step(&r->e, 2, now, wall) && !mg_engine_save_waiting(&r->e))
		steps++;
	/* No room: the last piece waits, the analyzer is not read further, and asking again changes nothing. */
	assert_true(mg_engine_save_waiting(&r->e));
	assert_true(r->e.saving);
	assert_int_equal(got.refused, 1);
	assert_false(mg_engine_save_step(&r->e, 2, now, wall));
	assert_int_equal(got.refused, 2);
	assert_int_equal(got.closes, 0);
	got.room = 1000;
	while (!mg_engine_save_step(&r->e, 2, now, wall))
		steps++;
	assert_true(steps >= 3);
	assert_false(r->e.saving);
	assert_false(mg_engine_save_waiting(&r->e));
	assert_int_equal(got.closes, 1);
	assert_int_equal(got.aborts, 0);
	assert_true(got.puts >= 1);
	assert_int_equal(r->e.save_bytes, got.len);
	assert_string_equal(got.path, r->path);
	struct mg_analyzer *b = mg_an_new(&r->e.an_cfg);
	assert_int_equal(mg_an_restore(b, got.buf, got.len, now, wall, NULL), 0);
	assert_int_equal(mg_an_count(b, (size_t[MG_ROLE_MAX]){ 0 }), mg_an_count(r->e.an, (size_t[MG_ROLE_MAX]){ 0 }));
	mg_an_free(b);
	char rules[160];
	snprintf(rules, sizeof(rules), "%s.rules", r->path);
	assert_int_equal(access(rules, F_OK), 0);

	/*
	 * A whole save while a sliced one is under way: it replaces it, written
	 * here, waited for, its progress told as its pieces are written.
	 */
	struct progress pr = { 0 };
	r->e.save_progress = save_progress;
	r->e.save_progress_ctx = &pr;
	assert_int_equal(mg_engine_save_begin(&r->e, now, wall), 0);
	assert_false(mg_engine_save_step(&r->e, 1, now, wall));
	assert_int_equal(pr.calls, 0); /* the stream's pieces are the stream's */
	assert_int_equal(mg_engine_save(&r->e, now, wall), 0);
	assert_true(pr.calls >= 1);
	assert_int_equal(pr.last, r->e.save_bytes);
	assert_int_equal(got.aborts, 1);
	assert_int_equal(got.closes, 1);
	assert_false(r->e.saving);
	assert_true(mg_engine_save_step(&r->e, 1, now, wall));
	assert_int_equal(access(r->path, F_OK), 0);
	uint8_t *file;
	size_t flen;
	assert_int_equal(mg_state_read(r->path, &file, &flen), 0);
	b = mg_an_new(&r->e.an_cfg);
	assert_int_equal(mg_an_restore(b, file, flen, now, wall, NULL), 0);
	assert_int_equal(mg_an_count(b, (size_t[MG_ROLE_MAX]){ 0 }), mg_an_count(r->e.an, (size_t[MG_ROLE_MAX]){ 0 }));
	mg_an_free(b);
	free(file);
	free(got.buf);
}

static void test_restart_keeps_containment_and_threat(void **state)
{
	struct rig *r = *state;
	uint64_t now = BOOT, wall = WALL;

	rig_in_outbreak(r, &now, &wall);
	assert_int_equal(r->s.declared, 1);
	assert_int_equal(r->f.nfps, 1);
	assert_int_equal(r->f.fps[0], 0x68812a4c);
	assert_int_equal(r->f.outbreak_count, 1);
	unsigned level = r->e.threat_level;
	assert_true(level >= 2);
	assert_int_equal(mg_engine_save(&r->e, now, wall), 0);
	mg_engine_free(&r->e);

	/* A restart 5 s later: the pinned map still holds the signature; nothing is removed or lost. */
	struct fake f2 = { 0 };
	struct seen s2 = { 0 };
	now += 5 * SEC;
	wall += 5 * SEC;
	assert_int_equal(mg_engine_init(&r->e, &r->c, &fake_sink, &f2, observe, &s2), 0);
	mg_engine_adopt_outbreak(&r->e, 0x68812a4c, r->f.fp_level[0], now);
	mg_engine_start(&r->e, now, wall);
	assert_int_equal(r->e.threat_level, level);
	assert_int_equal(s2.threat, level);
	assert_int_equal(mg_ob_active(r->e.ob), 1);
	assert_int_equal(f2.outbreak_count, 1);
	mg_engine_free(&r->e);

	/* A reboot 2 minutes later (the timeline starts again near 0, the maps empty): written again. */
	struct fake f3 = { 0 };
	struct seen s3 = { 0 };
	now = BOOT;
	wall += 120 * SEC;
	assert_int_equal(mg_engine_init(&r->e, &r->c, &fake_sink, &f3, observe, &s3), 0);
	mg_engine_start(&r->e, now, wall);
	assert_int_equal(r->e.threat_level, level);
	assert_int_equal(f3.nfps, 1);
	assert_int_equal(f3.fps[0], 0x68812a4c);
	/* The operator excepts the signature: it ends at the next tick, even 3 s after boot. */
	char err[256];
	assert_int_equal(mg_engine_except(&r->e, true, "fp:68812a4c", now, wall, err, sizeof(err)), 0);
	mg_engine_tick(&r->e, now + SEC, wall + SEC);
	assert_int_equal(s3.ended, 1);
	assert_int_equal(f3.nfps, 0);
	assert_int_equal(f3.outbreak_count, 0);
	assert_int_equal(r->e.threat_level, 0);
}

static void test_restart_keeps_operator_rules_and_pins_the_rest(void **state)
{
	struct rig *r = *state;
	uint64_t now = BOOT, wall = WALL;
	char err[256];
	struct mg_prefix blk = pfx("198.18.9.0/24"), alw = pfx("198.18.7.7"), stray = pfx("198.18.8.8"),
			 stale_allow = pfx("198.18.6.0/24");

	rig_start(r, now, wall);
	assert_int_equal(mg_engine_block(&r->e, &blk, MG_ACT_DROP_ALL, 0, "abuse desk ticket 4711", now, wall, err,
					 sizeof(err)), 0);
	assert_int_equal(mg_engine_allow(&r->e, &alw, 0, "partner relay", now, wall, err, sizeof(err)), 0);
	mg_engine_free(&r->e);

	/* A reboot: empty maps but for a block and an allow nobody recorded. */
	struct fake f2 = { 0 };
	now = BOOT;
	wall += 60 * SEC;
	assert_int_equal(mg_engine_init(&r->e, &r->c, &fake_sink, &f2, observe, &r->s), 0);
	put_block(&f2, &stray, MG_ACT_DROP_SMTP, now + 30 * SEC);
	put_allow(&f2, &stale_allow);
	mg_engine_adopt_rule(&r->e, &stray, false, MG_ACT_DROP_SMTP, now + 30 * SEC);
	mg_engine_adopt_rule(&r->e, &stale_allow, true, 0, MG_TIME_NEVER);
	mg_engine_start(&r->e, now, wall);
	struct kblock *b = find_block(&f2, &blk);
	assert_non_null(b);
	assert_int_equal(b->action, MG_ACT_DROP_ALL);
	assert_true(b->expires == MG_TIME_NEVER);
	assert_true(find_allow(&f2, &alw) >= 0);
	const struct mg_oprule *op = mg_engine_oprule(&r->e, &blk, MG_RULE_BLOCK);
	assert_non_null(op);
	assert_string_equal(op->comment, "abuse desk ticket 4711");
	/* The stray block stays until its own expiry, as "pinned"; the stale allow goes (the rules file was fine). */
	assert_non_null(find_block(&f2, &stray));
	assert_true(find_allow(&f2, &stale_allow) < 0);
	struct mg_rule_entry en;
	assert_true(mg_ruleset_find(r->e.rules, &stray, &en));
	assert_int_equal(en.written->block_by, MG_OWNER_PINNED_BLOCK);
	/* The operator can lift a pinned block. */
	assert_int_equal(mg_engine_unblock(&r->e, &stray, now, wall, err, sizeof(err)), 0);
	assert_null(find_block(&f2, &stray));
}

/* Imported lists: owners in the ledger, carried into the kernel in bounded steps; allows win; they survive a restart. */
static void test_feed_import_steps_allow_restart(void **state)
{
	struct rig *r = *state;
	char err[256];
	uint64_t now = BOOT, wall = WALL, ticket = 0;
	struct mg_prefix v[40];
	struct mg_feed_change ch;

	add_list(&r->c.allowlist, "198.18.1.3");
	rig_start(r, now, wall);
	size_t n = net_hosts(v, 40, "198.18.1");
	assert_int_equal(mg_engine_import(&r->e, "drop", MG_ACT_DROP_SMTP, v, n, 60 * SEC, false, now, wall, &ch,
					  &ticket, err, sizeof(err)), 0);
	assert_int_equal(ch.added, 40);
	/* Nothing in the kernel before the steps; each step writes at most its budget. */
	assert_int_equal(r->f.nblocks, 0);
	assert_int_equal(mg_engine_feed_step(&r->e, 16, now, wall), 24);
	assert_int_equal(r->f.nblocks, 15); /* .0 to .15, but the allowlisted .3 */
	assert_true(mg_engine_feed_applied(&r->e) < ticket);
	assert_int_equal(mg_engine_feed_step(&r->e, 16, now, wall), 8);
	assert_int_equal(mg_engine_feed_step(&r->e, 16, now, wall), 0);
	assert_int_equal(mg_engine_feed_applied(&r->e), ticket);
	/* The allowlisted host gets no block: 39. */
	assert_int_equal(r->f.nblocks, 39);
	struct mg_rule_entry en;
	struct mg_prefix one = pfx("198.18.1.7");
	assert_true(mg_ruleset_find(r->e.rules, &one, &en));
	assert_int_equal(en.written->block_by, MG_OWNER_FEED);
	/* An operator's block stands over the feed's and hands back to it. */
	assert_int_equal(mg_engine_block(&r->e, &one, MG_ACT_DROP_ALL, 0, "x", now, wall, err, sizeof(err)), 0);
	assert_true(mg_ruleset_find(r->e.rules, &one, &en));
	assert_int_equal(en.written->block_by, MG_OWNER_OPERATOR_BLOCK);
	assert_int_equal(mg_engine_unblock(&r->e, &one, now, wall, err, sizeof(err)), 0);
	assert_true(mg_ruleset_find(r->e.rules, &one, &en));
	assert_int_equal(en.written->block_by, MG_OWNER_FEED);
	assert_int_equal(find_block(&r->f, &one)->action, MG_ACT_DROP_SMTP);
	mg_engine_free(&r->e);

	/* A reboot: empty maps; the feeds file brings the blocks back, with the time they had left. */
	struct fake f2 = { 0 };
	now = BOOT;
	wall += 10 * SEC;
	assert_int_equal(mg_engine_init(&r->e, &r->c, &fake_sink, &f2, observe, &r->s), 0);
	mg_engine_start(&r->e, now, wall);
	assert_int_equal(f2.nblocks, 39);
	struct kblock *b = find_block(&f2, &one);
	assert_non_null(b);
	assert_true(b->expires == now + 50 * SEC);
	/* The expiry ends them, through the steps. */
	now += 51 * SEC;
	wall += 51 * SEC;
	mg_engine_tick(&r->e, now, wall);
	while (mg_engine_feed_step(&r->e, 16, now, wall))
		;
	assert_int_equal(f2.nblocks, 0);
	assert_int_equal(mg_feeds_total(&r->e.feeds), 0);
}

/* Linked with -Wl,--wrap=malloc (Makefile): malloc_fail_in = k makes the k-th malloc from now fail, once. */
void *__real_malloc(size_t size);
void *__wrap_malloc(size_t size);
static unsigned malloc_fail_in;

void *__wrap_malloc(size_t size)
{
	if (malloc_fail_in && !--malloc_fail_in)
		return NULL;
	return __real_malloc(size);
}

/*
 * An import or a drop that runs out of memory, at whichever allocation:
 * refused with nothing changed (lists, queue), or done whole; the steps
 * then bring the kernel to the lists.
 */
static void test_feed_import_out_of_memory_changes_nothing(void **state)
{
	struct rig *r = *state;
	char err[256];
	uint64_t now = BOOT, wall = WALL, ticket = 0;
	struct mg_prefix v[20], w[10];
	struct mg_feed_change ch;
	int rc = -1;

	rig_start(r, now, wall);
	size_t nv = net_hosts(v, 20, "198.18.2"), nw = net_hosts(w, 10, "198.18.3");
	assert_int_equal(mg_engine_import(&r->e, "a", MG_ACT_DROP_SMTP, v, nv, 0, false, now, wall, &ch, &ticket, err,
					  sizeof(err)), 0);
	/* A queue part carried: the next import adds to it. */
	assert_int_equal(mg_engine_feed_step(&r->e, 4, now, wall), 16);

	for (unsigned k = 1; rc; k++) {
		uint64_t queued = r->e.feed_queued, left = r->e.feedq_n - r->e.feedq_head;
		malloc_fail_in = k;
		rc = mg_engine_import(&r->e, "a", MG_ACT_DROP_ALL, w, nw, 0, true, now, wall, &ch, &ticket, err,
				      sizeof(err));
		malloc_fail_in = 0;
		if (!rc)
			break;
		assert_int_equal(rc, -ENOMEM);
		assert_non_null(strstr(err, "out of memory"));
		const struct mg_feed_origin *o = mg_feeds_find(&r->e.feeds, "a");
		assert_non_null(o);
		assert_int_equal(o->n, 20);
		assert_int_equal(o->action, MG_ACT_DROP_SMTP);
		assert_int_equal(r->e.feed_queued, queued);
		assert_int_equal(r->e.feedq_n - r->e.feedq_head, left);
		assert_true(k < 100);
	}
	assert_int_equal(mg_feeds_find(&r->e.feeds, "a")->n, 10);
	/* The same for a drop, with a queue still waiting. */
	rc = -1;
	for (unsigned k = 1; rc; k++) {
		uint64_t queued = r->e.feed_queued, left = r->e.feedq_n - r->e.feedq_head;
		assert_true(left > 0);
		malloc_fail_in = k;
		rc = mg_engine_feed_drop(&r->e, "a", now, wall, &ticket, err, sizeof(err));
		malloc_fail_in = 0;
		if (!rc)
			break;
		assert_int_equal(rc, -ENOMEM);
		assert_non_null(mg_feeds_find(&r->e.feeds, "a"));
		assert_int_equal(r->e.feed_queued, queued);
		assert_int_equal(r->e.feedq_n - r->e.feedq_head, left);
		assert_true(k < 100);
	}
	assert_null(mg_feeds_find(&r->e.feeds, "a"));
	while (mg_engine_feed_step(&r->e, 16, now, wall))
		;
	assert_int_equal(mg_engine_feed_applied(&r->e), ticket);
	assert_int_equal(r->f.nblocks, 0);
}

/*
 * An expiry that finds no room to queue what it ends (a queue part still
 * waiting, and memory short, at whichever allocation of the tick): put off
 * with the lists as they were, and done at a later tick, so that the origin
 * left listing a prefix takes its claim over. Before, the expired items left
 * the lists unqueued and the kernel kept the expired origin's action.
 */
static void test_feed_expiry_out_of_memory_is_put_off(void **state)
{
	struct rig *r = *state;
	char err[256];
	uint64_t now = BOOT, wall = WALL, ticket = 0;
	struct mg_prefix v[10], w[20];
	struct mg_feed_change ch;

	rig_start(r, now, wall);
	size_t nv = net_hosts(v, 10, "198.18.4"), nw = net_hosts(w, 20, "198.18.5");
	/* "a" drops everything from v for 10 s, "b" their SMTP for good: "all" wins while both list them. */
	assert_int_equal(mg_engine_import(&r->e, "a", MG_ACT_DROP_ALL, v, nv, 10 * SEC, false, now, wall, &ch, &ticket,
					  err, sizeof(err)), 0);
	assert_int_equal(mg_engine_import(&r->e, "b", MG_ACT_DROP_SMTP, v, nv, 0, false, now, wall, &ch, &ticket, err,
					  sizeof(err)), 0);
	while (mg_engine_feed_step(&r->e, 16, now, wall))
		;
	assert_int_equal(find_block(&r->f, &v[3])->action, MG_ACT_DROP_ALL);
	/* A third list, only partly applied: the expiry's prefixes must join a queue that is not empty. */
	assert_int_equal(mg_engine_import(&r->e, "c", MG_ACT_DROP_SMTP, w, nw, 0, false, now, wall, &ch, &ticket, err,
					  sizeof(err)), 0);
	assert_int_equal(mg_engine_feed_step(&r->e, 4, now, wall), 16);

	now += 11 * SEC;
	wall += 11 * SEC;
	for (unsigned k = 1;; k++) {
		uint64_t queued = r->e.feed_queued, left = r->e.feedq_n - r->e.feedq_head;
		malloc_fail_in = k;
		mg_engine_tick(&r->e, now, wall);
		malloc_fail_in = 0;
		if (!mg_feeds_find(&r->e.feeds, "a")->n)
			break; /* done, the room made */
		/* Put off: the lists, the queue and its count as they were. */
		assert_int_equal(mg_feeds_find(&r->e.feeds, "b")->n, nv);
		assert_int_equal(mg_feeds_find(&r->e.feeds, "a")->n, nv);
		assert_int_equal(r->e.feed_queued, queued);
		assert_int_equal(r->e.feedq_n - r->e.feedq_head, left);
		assert_true(k < 100);
	}
	assert_true(r->e.feed_expiry_deferred > 0); /* the loop did reach the reservation failing */
	while (mg_engine_feed_step(&r->e, 16, now, wall))
		;
	for (size_t i = 0; i < nv; i++)
		assert_int_equal(find_block(&r->f, &v[i])->action, MG_ACT_DROP_SMTP);
	assert_int_equal(mg_engine_feed_applied(&r->e), r->e.feed_queued);
}

/* Linked with --wrap for these three (Makefile): json_fail_in = k makes the k-th call from now fail, once. */
json_t *__real_json_string(const char *value);
json_t *__wrap_json_string(const char *value);
int __real_json_array_append_new(json_t *array, json_t *value);
int __wrap_json_array_append_new(json_t *array, json_t *value);
int __real_json_object_set_new(json_t *object, const char *key, json_t *value);
int __wrap_json_object_set_new(json_t *object, const char *key, json_t *value);
static unsigned json_fail_in;
static bool json_failed;

static bool json_fail_now(void)
{
	if (json_fail_in && !--json_fail_in)
		return json_failed = true;
	return false;
}

json_t *__wrap_json_string(const char *value)
{
	return json_fail_now() ? NULL : __real_json_string(value);
}

int __wrap_json_array_append_new(json_t *array, json_t *value)
{
	if (json_fail_now()) {
		json_decref(value); /* as jansson does on failure */
		return -1;
	}
	return __real_json_array_append_new(array, value);
}

int __wrap_json_object_set_new(json_t *object, const char *key, json_t *value)
{
	if (json_fail_now()) {
		json_decref(value);
		return -1;
	}
	return __real_json_object_set_new(object, key, value);
}

/* A file's bytes (at most 64 KiB), their count in *len. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf = malloc(1 << 16);

	assert_non_null(f);
	assert_non_null(buf);
	*len = fread(buf, 1, 1 << 16, f);
	fclose(f);
	return buf;
}

/*
 * The rules file out of memory, at whichever part: not written at all (the
 * file before stays), still to save, said to the operator; the next save
 * writes every part, and a restart has them all.
 */
static void test_rules_save_out_of_memory_writes_nothing(void **state)
{
	struct rig *r = *state;
	char rules[160], err[256];
	uint64_t now = BOOT, wall = WALL;
	struct mg_prefix blk = pfx("198.18.9.0/24");
	int rc = -1;

	snprintf(rules, sizeof(rules), "%s.rules", r->path);
	rig_start(r, now, wall);
	assert_int_equal(mg_engine_block(&r->e, &blk, MG_ACT_DROP_ALL, 0, "ticket 4711", now, wall, err, sizeof(err)),
			 0);
	assert_int_equal(mg_engine_except(&r->e, true, "fp:1a2b3c4d", now, wall, err, sizeof(err)), 0);
	size_t nbefore, nafter;
	char *before = slurp(rules, &nbefore);

	for (unsigned k = 1; rc; k++) {
		json_failed = false;
		json_fail_in = k;
		rc = mg_engine_except(&r->e, true, "fp:22222222", now, wall, err, sizeof(err));
		json_fail_in = 0;
		if (!json_failed)
			break;
		assert_int_equal(rc, -ENOMEM);
		assert_non_null(strstr(err, "NOT saved"));
		assert_true(r->e.rules_dirty);
		char *after = slurp(rules, &nafter); /* not written: the gzip stream of before, byte for byte */
		assert_int_equal(nafter, nbefore);
		assert_memory_equal(after, before, nbefore);
		free(after);
		assert_true(k < 100);
	}
	assert_int_equal(rc, 0);
	assert_false(r->e.rules_dirty);
	free(before);
	mg_engine_free(&r->e);

	struct fake f2 = { 0 };
	struct seen s2 = { 0 };
	assert_int_equal(mg_engine_init(&r->e, &r->c, &fake_sink, &f2, observe, &s2), 0);
	mg_engine_start(&r->e, BOOT, wall + 10 * SEC);
	assert_non_null(find_block(&f2, &blk));
	assert_int_equal(r->e.n_op_except, 2);
}

static void test_reload_reports_what_waits(void **state)
{
	struct rig *r = *state;
	struct mg_config c2;

	add_list(&r->c.mail_servers, "198.18.1.10");
	rig_start(r, BOOT, WALL);
	assert_int_equal(r->f.nallows, 1);
	config(&c2, NULL);
	c2.tunables.v6_src_prefix = 48;
	c2.an.v6_prefix = 48;
	c2.an.monitor = true;
	assert_int_equal(mg_engine_configure(&r->e, &c2, BOOT + SEC, WALL + SEC), MG_RESTART_V6_AGGREGATION);
	/* The analyzer keeps the kernel's aggregation; the rest applies: monitor on, the server's allow gone. */
	assert_int_equal(r->e.an_cfg.v6_prefix, 64);
	assert_true(r->f.monitor);
	assert_int_equal(r->f.nallows, 0);
	mg_config_free(&c2);
}

/* ---- the state files: damage, refusals, leftovers, a full disk -------------------------------------- */

/* How many files in dir start with prefix. */
static int count_files(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		n += !strncmp(de->d_name, prefix, strlen(prefix));
	closedir(d);
	return n;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/*
 * A state file that cannot be restored at all: the daemon starts without it,
 * says so, and keeps the file under another name before its next save
 * overwrites the original; copies are bounded in number.
 */
static void test_unrestorable_state_kept(void **state)
{
	struct rig *r = *state;
	uint64_t now = BOOT, wall = WALL;

	for (int run = 0; run < 8; run++) {
		struct fake f = { 0 };
		struct seen s = { 0 };
		write_file(r->path, "not a state file, whatever it is\n");
		assert_int_equal(mg_engine_init(&r->e, &r->c, &fake_sink, &f, observe, &s), 0);
		mg_engine_start(&r->e, now, wall);
		if (!strstr(s.notices, "is damaged") || !strstr(s.notices, "is kept as"))
			fail_msg("run %d said:\n%s", run, s.notices);
		assert_int_equal(mg_engine_save(&r->e, now, wall), 0);
		mg_engine_free(&r->e);
		wall += SEC; /* one copy a second at most, by name */
	}
	/* The newest copies, no more than the bound; each holds the damaged bytes. */
	assert_int_equal(count_files(r->dir, "state.gz.unreadable-"), MG_STATE_COPIES_MAX);
	/* And the file itself is a good state again: the next start restores it without a word of damage. */
	rig_start(r, now, wall);
	assert_null(strstr(r->s.notices, "damaged"));
	assert_non_null(strstr(r->s.notices, "restored state from"));
}

/*
 * A state saved by the rig's engine: a bot blocked and a second source (an
 * end host, 198.18.1.2) with a profile; the engine freed, the file's
 * payload in *buf (malloc'd), the times moved past the bot's sessions.
 */
static void save_bot_and_end_host(struct rig *r, uint64_t *now, uint64_t *wall, uint8_t **buf, size_t *len)
{
	struct host h, bot;

	host_init(&h, "198.18.1.2");
	h.s.syn_other = 20;
	struct fake f0 = { .hosts = { &h }, .nhosts = 1 };
	struct seen s0 = { 0 };
	start_with_bot(&r->c, &r->e, &f0, &s0, &bot, *now, *wall);
	spam(&r->e, &bot, now, wall);
	mg_engine_tick(&r->e, *now, *wall);
	assert_int_equal(s0.blocks, 1);
	assert_int_equal(mg_engine_save(&r->e, *now, *wall), 0);
	mg_engine_free(&r->e);
	assert_int_equal(mg_state_read(r->path, buf, len), 0);
}

/*
 * A state file found damaged only after its records were handed to the
 * analyzer (it is restored as it decompresses): what was restored goes, the
 * start goes on with no profile, says so, and keeps the file. Two kinds: a
 * payload whose CRC does not match (the file's damage), and a payload with
 * a byte after its last record (the analyzer's refusal).
 */
static void test_state_damaged_at_its_end_restores_nothing(void **state)
{
	struct rig *r = *state;
	const char *path = r->path;
	struct mg_engine *e = &r->e;
	uint64_t now = BOOT, wall = WALL;
	uint8_t *buf;
	size_t len;

	save_bot_and_end_host(r, &now, &wall, &buf, &len);

	for (int kind = 0; kind < 2; kind++) {
		if (kind == 0) {
			/*
			 * The payload's CRC-32 in the file's header (at byte 16)
			 * flipped, the gzip stream made anew: a valid stream whose
			 * every record reaches the analyzer before the check fails.
			 */
			uint8_t head[24];
			assert_int_equal(mg_state_write(path, buf, len), 0);
			gzFile gz = gzopen(path, "rb");
			assert_non_null(gz);
			assert_int_equal(gzread(gz, head, sizeof(head)), (int)sizeof(head));
			gzclose(gz);
			head[16] ^= 1;
			gz = gzopen(path, "wb");
			assert_non_null(gz);
			assert_int_equal(gzwrite(gz, head, sizeof(head)), (int)sizeof(head));
			assert_int_equal(gzwrite(gz, buf, (unsigned)len), (int)len);
			assert_int_equal(gzclose(gz), Z_OK);
		} else {
			uint8_t *longer = malloc(len + 1);
			assert_non_null(longer);
			memcpy(longer, buf, len);
			longer[len] = 0;
			assert_int_equal(mg_state_write(path, longer, len + 1), 0);
			free(longer);
		}
		struct fake f = { 0 };
		struct seen s = { 0 };
		assert_int_equal(mg_engine_init(e, &r->c, &fake_sink, &f, observe, &s), 0);
		mg_engine_start(e, now, wall);
		const char *says = kind == 0 ? "is damaged" : "could not be restored (not a state of this version, or cut up)";
		if (!strstr(s.notices, says) || !strstr(s.notices, "starting without it") || !strstr(s.notices, "is kept as"))
			fail_msg("kind %d said:\n%s", kind, s.notices);
		assert_int_equal(mg_an_count(e->an, (size_t[MG_ROLE_MAX]){ 0 }), 0);
		struct mg_prefix bp = pfx("198.18.0.66");
		assert_null(find_block(&f, &bp));
		mg_engine_free(e);
		wall += SEC; /* a copy of its own name */
	}
	assert_int_equal(count_files(r->dir, "state.gz.unreadable-"), 2);
	free(buf);
}

/*
 * A state with a valid checksum and one bad record: that record is refused,
 * the notice says how many and why, the rest is restored (another source's
 * verdict still in the kernel), and the file as it was is kept.
 */
static void test_bad_record_refused_rest_restored(void **state)
{
	struct rig *r = *state;
	uint64_t now = BOOT, wall = WALL;
	uint8_t *buf;
	size_t len;

	save_bot_and_end_host(r, &now, &wall, &buf, &len);
	/* The end host's record gets role 9: a valid file (the checksum is made anew), one bad record. */
	uint8_t key[16];
	assert_int_equal(mg_addr_parse("198.18.1.2", key), 0);
	size_t off = 0;
	for (size_t i = 40; i + 16 <= len && !off; i++)
		if (!memcmp(buf + i, key, 16))
			off = i;
	assert_true(off > 0);
	buf[off + 60] = 9; /* the role byte of a profile (mg_analyzer.c's layout) */
	assert_int_equal(mg_state_write(r->path, buf, len), 0);
	free(buf);

	now += 5 * SEC;
	wall += 5 * SEC;
	rig_start(r, now, wall);
	if (!strstr(r->s.notices, "1 record(s) refused as invalid (the first: 198.18.1.2: role out of range)") ||
	    !strstr(r->s.notices, "1 restored") || !strstr(r->s.notices, "is kept as"))
		fail_msg("said:\n%s", r->s.notices);
	struct mg_prefix bp = pfx("198.18.0.66");
	assert_non_null(find_block(&r->f, &bp));
	assert_int_equal(count_files(r->dir, "state.gz.unreadable-"), 1);
}

/*
 * A rules file with a malformed rule, a bad exception and a malformed
 * outbreak beside good ones: each is refused alone, the good ones are in
 * force, the notice counts them, and the file is kept.
 */
static void test_bad_rules_refused_rest_restored(void **state)
{
	struct rig *r = *state;
	char rules[160];
	uint64_t now = BOOT, wall = WALL;
	const char *text =
		"{\"version\":1,\"rules\":["
		"{\"prefix\":\"198.18.9.0/24\",\"kind\":\"block\",\"action\":\"all\",\"created\":1,\"expires\":0,"
		"\"comment\":\"good\"},"
		"{\"prefix\":\"198.18.300.0/24\",\"kind\":\"block\",\"action\":\"all\",\"created\":1,\"expires\":0,"
		"\"comment\":\"bad prefix\"}],"
		"\"outbreak_exceptions\":[\"fp:1a2b3c4d\",\"no such thing\",42],"
		"\"outbreaks\":{\"version\":1,\"outbreaks\":[{\"sig\":\"fp:68812a4c\",\"level\":\"high\"}]}}";

	snprintf(rules, sizeof(rules), "%s.rules", r->path);
	assert_int_equal(mg_state_write(rules, text, strlen(text)), 0);
	rig_start(r, now, wall);
	if (!strstr(r->s.notices, "refused as invalid: 1 operator rule(s), 2 exception(s), 1 outbreak(s)") ||
	    !strstr(r->s.notices, "is kept as"))
		fail_msg("said:\n%s", r->s.notices);
	struct mg_prefix good = pfx("198.18.9.0/24");
	assert_non_null(find_block(&r->f, &good));
	assert_int_equal(r->e.n_op_except, 1);
	assert_int_equal(count_files(r->dir, "state.gz.rules.unreadable-"), 1);
}

/* What writers killed half-way (kill -9) left beside the state files is removed at start; nothing else is. */
static void test_stale_temps_removed_at_start(void **state)
{
	struct rig *r = *state;
	char p[200];

	const char *left[] = { "state.gz.tmp.a1B2c3", "state.gz.tmp.Zz9Yy8", "state.gz.rules.tmp.q1w2e3" };
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/%s", r->dir, left[i]);
		write_file(p, "half a file");
	}
	snprintf(p, sizeof(p), "%s/state.gz.unreadable-20260101T000000Z", r->dir);
	write_file(p, "a kept copy stays");
	assert_int_equal(mg_engine_init(&r->e, &r->c, &fake_sink, &r->f, observe, &r->s), 0);
	mg_engine_start(&r->e, BOOT, WALL);
	assert_int_equal(count_files(r->dir, "state.gz.tmp"), 0);
	assert_int_equal(count_files(r->dir, "state.gz.rules.tmp"), 0);
	assert_int_equal(count_files(r->dir, "state.gz.unreadable-"), 1);
}

/* A block map that is full: every block refused (E2BIG, as the kernel says it). */
static int put_block_full(void *ctx, const struct mg_prefix *p, uint8_t action, uint64_t expires)
{
	(void)ctx, (void)p, (void)action, (void)expires;
	return -E2BIG;
}

static const struct mg_engine_sink full_map_sink = {
	.rules = { put_block_full, del_block, put_allow, del_allow, put_server, del_server, put_outbreak, del_outbreak },
	.scan = scan,
	.set_monitor = set_monitor,
	.set_outbreak_count = set_outbreak_count,
};

static size_t count_lines(const char *text, const char *what)
{
	size_t n = 0;

	for (const char *p = text; (p = strstr(p, what)); p++)
		n++;
	return n;
}

/*
 * The kernel's block map is full: every refused block is retried at every
 * sync, and the log says so a line a minute, with how many failed, not a
 * line per rule per sync (ten blocks were 55 lines, and a wave of thousands
 * of verdicts as many lines at every scan).
 */
static void test_full_map_logged_once_a_minute(void **state)
{
	struct rig *r = *state;
	uint64_t now = BOOT, wall = WALL;
	char err[256];

	assert_int_equal(mg_engine_init(&r->e, &r->c, &full_map_sink, &r->f, observe, &r->s), 0);
	mg_engine_start(&r->e, now, wall);
	for (int i = 0; i < 10; i++) {
		char a[32];
		snprintf(a, sizeof(a), "198.18.5.%d", i + 1);
		struct mg_prefix p = pfx(a);
		mg_engine_block(&r->e, &p, MG_ACT_DROP_ALL, 0, "ticket", now, wall, err, sizeof(err));
	}
	mg_engine_tick(&r->e, now + SEC, wall + SEC);
	assert_int_equal(count_lines(r->s.notices, "writing a block rule"), 1);
	assert_non_null(strstr(r->s.notices, "writing a block rule for 198.18.5.1 failed: Argument list too long\n"));
	/* Each block's sync retried the ones before it; the tick's syncs all ten again. */
	assert_true(r->e.write_failures >= 1 + 2 + 3 + 4 + 5 + 6 + 7 + 8 + 9 + 10 + 10);
	uint64_t before = r->e.write_failures;
	/* A minute on: one more line, counting what was not said. */
	mg_engine_tick(&r->e, now + 61 * SEC, wall + 61 * SEC);
	assert_int_equal(count_lines(r->s.notices, "writing a block rule"), 2);
	assert_true(r->e.write_failures > before);
	const char *second = strstr(strstr(r->s.notices, "writing a block rule") + 1, "writing a block rule");
	unsigned long long more = 0;
	assert_non_null(strstr(second, "(and "));
	assert_int_equal(sscanf(strstr(second, "(and "), "(and %llu more rule writes failed since the last", &more), 1);
	assert_true(more >= before - 1);
}

/* The kernel's profiles cannot be read (an EIO from the map, say): every tick tries again. */
static int scan_broken(void *ctx, void (*fn)(const uint8_t (*keys)[16], const struct mg_src_stats *s, size_t n, void *arg),
		       void *arg)
{
	(void)ctx, (void)fn, (void)arg;
	return -EIO;
}

static const struct mg_engine_sink broken_scan_sink = {
	.rules = { put_block, del_block, put_allow, del_allow, put_server, del_server, put_outbreak, del_outbreak },
	.scan = scan_broken,
	.set_monitor = set_monitor,
	.set_outbreak_count = set_outbreak_count,
};

/* A read of the profiles that fails at every tick is said a line a minute, with the count, not a line a tick. */
static void test_scan_failure_logged_once_a_minute(void **state)
{
	struct rig *r = *state;
	uint64_t now = BOOT, wall = WALL;

	assert_int_equal(mg_engine_init(&r->e, &r->c, &broken_scan_sink, &r->f, observe, &r->s), 0);
	mg_engine_start(&r->e, now, wall);
	for (int i = 1; i <= 30; i++)
		mg_engine_tick(&r->e, now + i * SEC, wall + i * SEC);
	assert_int_equal(count_lines(r->s.notices, "reading the kernel's profiles"), 1);
	assert_non_null(strstr(r->s.notices, "reading the kernel's profiles: Input/output error\n"));
	mg_engine_tick(&r->e, now + 62 * SEC, wall + 62 * SEC);
	assert_int_equal(count_lines(r->s.notices, "reading the kernel's profiles"), 2);
	assert_non_null(strstr(r->s.notices, "(and 29 more failed reads since the last such line"));
	assert_int_equal(r->e.scan_failures, 31);
}

/*
 * The disk is full when the operator blocks: the answer is a failure that
 * says the block is in force but not saved, and why (ENOSPC's own words);
 * the kernel has the block. Once there is room, the next tick saves it, and
 * a restart finds it.
 */
static void test_block_on_a_full_disk(void **state)
{
	struct rig *r = *state;
	char fs[64], err[512];
	uint64_t now = BOOT, wall = WALL;
	struct mg_prefix blk = pfx("198.18.9.0/24"), alw = pfx("198.18.7.7");

	FULLFS_MOUNT_OR_SKIP(fs, 64 * 1024);
	snprintf(r->c.state_file, sizeof(r->c.state_file), "%s/state.gz", fs);
	rig_start(r, now, wall);
	assert_int_equal(mg_engine_allow(&r->e, &alw, 0, "saved before the disk filled", now, wall, err, sizeof(err)),
			 0);
	assert_int_equal(fullfs_fill(fs), 0);

	assert_int_equal(mg_engine_block(&r->e, &blk, MG_ACT_DROP_ALL, 0, "ticket 4711", now, wall, err, sizeof(err)),
			 -ENOSPC);
	if (!strstr(err, "block 198.18.9.0/24 is in force now but NOT saved") ||
	    !strstr(err, "No space left on device"))
		fail_msg("said: %s", err);
	assert_non_null(find_block(&r->f, &blk));
	/* The other operator commands say the same. */
	assert_int_equal(mg_engine_except(&r->e, true, "fp:1a2b3c4d", now, wall, err, sizeof(err)), -ENOSPC);
	assert_non_null(strstr(err, "No space left on device"));
	/* Retried every tick, said once in the log. */
	mg_engine_tick(&r->e, now + SEC, wall + SEC);
	mg_engine_tick(&r->e, now + 2 * SEC, wall + 2 * SEC);
	const char *first = strstr(r->s.notices, "failed: No space left on device (retried at every scan)");
	assert_non_null(first);
	assert_null(strstr(first + 1, "failed: No space left on device (retried at every scan)"));

	fullfs_drain(fs);
	mg_engine_tick(&r->e, now + 3 * SEC, wall + 3 * SEC);
	assert_non_null(strstr(r->s.notices, "saved to"));
	mg_engine_free(&r->e);

	struct fake f2 = { 0 };
	struct seen s2 = { 0 };
	assert_int_equal(mg_engine_init(&r->e, &r->c, &fake_sink, &f2, observe, &s2), 0);
	mg_engine_start(&r->e, BOOT, wall + 10 * SEC);
	assert_non_null(find_block(&f2, &blk));
	assert_true(find_allow(&f2, &alw) >= 0);
	assert_int_equal(r->e.n_op_except, 1);
	mg_engine_free(&r->e);
	fullfs_unmount(fs);
}

/* ---- inbound mail, identical office PCs, a campaign: what outbreak detection does about each ---------- */

/* The SYN fingerprint a stock OS sends (window and MSS as on Ethernet), as the XDP program records it. */
static struct mg_syn_fp stock_fp(enum mg_osfp os)
{
	struct mg_syn_fp fp = { .ip_version = 4, .df = 1, .mss = 1460 };
	static const uint8_t linux_opts[] = { 2, 4, 8, 1, 3 }, windows_opts[] = { 2, 1, 3, 1, 1, 4 };
	const uint8_t *o = os == MG_OSFP_WINDOWS ? windows_opts : linux_opts;

	fp.ttl_initial = os == MG_OSFP_WINDOWS ? 128 : 64;
	fp.window = os == MG_OSFP_WINDOWS ? 65535 : 64240;
	fp.wscale = os == MG_OSFP_WINDOWS ? 8 : 7;
	fp.n_opts = os == MG_OSFP_WINDOWS ? sizeof(windows_opts) : sizeof(linux_opts);
	memcpy(fp.opt_kinds, o, fp.n_opts);
	return fp;
}

/* What the run came to: the closing figures. */
struct figures {
	unsigned messages, declared, named, syns_dropped, max_threat, max_contained, held_members, blocks;
};

struct fig_ctx {
	struct seen *s;
	struct figures *fig;
};

static void count_outbreaks(const struct mg_engine_note *n, void *arg)
{
	struct fig_ctx *c = arg;

	observe(n, c->s);
	if (n->kind == MG_NOTE_OUTBREAK && n->ob->kind == MG_OB_DECLARE)
		c->fig->declared++, c->fig->named += n->ob->n_list;
	if (n->kind == MG_NOTE_OUTBREAK && n->ob->kind == MG_OB_JOIN)
		c->fig->named++;
}

static bool contained(const struct fake *f, uint32_t fp)
{
	for (size_t i = 0; i < f->nfps; i++)
		if (f->fps[i] == fp)
			return true;
	return false;
}

/*
 * One message from h to dst: its SYN (dropped, and counted, if the kernel
 * holds its fingerprint: then no event, no session), its EHLO, RCPTs.
 */
static void one_message(struct mg_engine *e, struct fake *f, struct figures *fig, struct host *h, const char *dst,
			enum mg_osfp os, const char *helo, unsigned rcpts, uint64_t now, uint64_t wall)
{
	struct mg_event ev = { .type = MG_EV_SYN_MX, .dport = 25 };
	uint32_t w[4];

	fig->messages++;
	ev.u.fp = stock_fp(os);
	ev.fp_hash = mg_fp_hash(&ev.u.fp);
	if (contained(f, ev.fp_hash)) {
		fig->syns_dropped++;
		return;
	}
	memcpy(ev.src, h->addr, 16);
	memcpy(ev.mac, h->s.mac, 6);
	assert_int_equal(mg_addr_parse(dst, ev.dst), 0);
	memcpy(w, ev.dst, 16);
	h->s.syn_mx++;
	if (!h->s.first_seen_ns)
		h->s.first_seen_ns = now;
	h->s.last_seen_ns = now;
	h->s.mx_dst_bits |= 1ull << mg_dst_bit(w);
	h->s.syn_fp_hash = ev.fp_hash;
	mg_engine_event(e, &ev, now, wall);
	memset(&ev.u, 0, sizeof(ev.u));
	ev.type = MG_EV_HELO;
	ev.proof = MG_PROOF_HANDSHAKE; /* a real session: the kernel saw its handshake */
	ev.detail = MG_CMD_EHLO;
	ev.arg_len = (uint8_t)strlen(helo);
	memcpy(ev.u.arg, helo, ev.arg_len);
	ev.helo_hash = mg_helo_hash(helo, ev.arg_len);
	h->s.helo_hash = ev.helo_hash;
	mg_engine_event(e, &ev, now, wall);
	h->s.cmd[MG_CMD_EHLO]++;
	h->s.cmd[MG_CMD_MAIL]++;
	h->s.cmd[MG_CMD_RCPT] += rcpts;
	h->s.cmd[MG_CMD_DATA]++;
	h->s.cmd[MG_CMD_QUIT]++;
	h->s.reply[MG_REPLY_2XX] += 4 + rcpts;
	h->s.flags |= MG_SRC_F_PAYLOAD;
}

static void track(const struct mg_engine *e, const struct fake *f, struct figures *fig)
{
	if (e->threat_level > fig->max_threat)
		fig->max_threat = e->threat_level;
	if (f->nfps > fig->max_contained)
		fig->max_contained = (unsigned)f->nfps;
}

static void print_figures(const char *what, const struct figures *fig)
{
	printf("# %s: %u messages; %u outbreak(s) declared, %u address(es) named, %u SYN(s) dropped, "
	       "%u fingerprint(s) contained, threat level up to %u, %u member(s) held, %u block(s)\n",
	       what, fig->messages, fig->declared, fig->named, fig->syns_dropped, fig->max_contained, fig->max_threat,
	       fig->held_members, fig->blocks);
}

/* What containment does to innocent mail, and did not here: no SYN dropped, no fingerprint held, no threat level. */
static void assert_nothing_contained(const struct figures *fig)
{
	assert_int_equal(fig->syns_dropped, 0);
	assert_int_equal(fig->max_contained, 0);
	assert_int_equal(fig->max_threat, 0);
}

/*
 * Four hours of inbound mail only, on a router at the uplink: never-seen
 * outside Linux MTAs (198.19.x.y, each with its own FQDN HELO) deliver to
 * our relay 198.18.0.25 (protected network 198.18.0.0/16, the relay a
 * configured mail server), one message each, at `per_hour`.
 */
static void run_inbound(unsigned per_hour, struct figures *fig)
{
	struct mg_config c;
	struct mg_engine e;
	struct fake f = { 0 };
	struct seen s = { 0 };
	struct fig_ctx fc = { &s, fig };
	static struct host mta[240];
	uint64_t now = BOOT, wall = WALL, mean = 3600 * SEC / per_hour;
	uint32_t rnd = 0x2545f491u; /* fixed: the same arrivals every run */

	memset(fig, 0, sizeof(*fig));
	config(&c, NULL);
	add_list(&c.protected_nets, "198.18.0.0/16");
	add_list(&c.mail_servers, "198.18.0.25");
	assert_int_equal(mg_engine_init(&e, &c, &fake_sink, &f, count_outbreaks, &fc), 0);
	mg_engine_start(&e, now, wall);
	for (unsigned i = 0; i < 4 * per_hour; i++) {
		char a[32], helo[64];
		snprintf(a, sizeof(a), "198.19.%u.%u", 1 + i / 200, 1 + i % 200);
		snprintf(helo, sizeof(helo), "mx%u.sender%u.example.net", i % 3, i);
		host_init(&mta[i], a);
		one_message(&e, &f, fig, &mta[i], "198.18.0.25", MG_OSFP_LINUX, helo, 1, now, wall);
		fig->held_members += mg_ob_member_of(e.ob, mta[i].addr, NULL);
		mg_engine_tick(&e, now, wall);
		track(&e, &f, fig);
		/* Mail arrives at random (exponential gaps), so bursts of five within ten minutes happen. */
		rnd ^= rnd << 13, rnd ^= rnd >> 17, rnd ^= rnd << 5;
		uint64_t gap = (uint64_t)(-log(((double)(rnd >> 8) + 1) / 16777217.0) * (double)mean);
		now += gap;
		wall += gap;
	}
	fig->blocks = s.blocks;
	mg_engine_free(&e);
	mg_config_free(&c);
}

static void test_inbound_mail_declares_no_outbreak(void **state)
{
	static const unsigned rates[] = { 6, 20, 60 };
	struct figures fig;
	char what[64];

	(void)state;
	for (size_t r = 0; r < sizeof(rates) / sizeof(rates[0]); r++) {
		run_inbound(rates[r], &fig);
		snprintf(what, sizeof(what), "inbound mail, %u/hour for 4 hours", rates[r]);
		print_figures(what, &fig);
		assert_int_equal(fig.declared, 0);
		assert_nothing_contained(&fig);
		assert_int_equal(fig.held_members, 0); /* a stock fingerprint alone holds nobody's mail either */
	}
}

/*
 * Outside bots converging on our relay with one IP-literal HELO: specific
 * enough for the relay to hold their mail (HOLD), never contained in the
 * kernel, never raising our hosts' threat level.
 */
static void test_inbound_bots_held_at_relay_only(void **state)
{
	struct rig *r = *state;
	struct figures fig = { 0 };
	struct fig_ctx fc = { &r->s, &fig };
	struct host bot[8];
	uint64_t now = BOOT, wall = WALL;

	add_list(&r->c.protected_nets, "198.18.0.0/16");
	add_list(&r->c.mail_servers, "198.18.0.25");
	assert_int_equal(mg_engine_init(&r->e, &r->c, &fake_sink, &r->f, count_outbreaks, &fc), 0);
	mg_engine_start(&r->e, now, wall);
	for (int i = 0; i < 8; i++) {
		char a[32];
		snprintf(a, sizeof(a), "198.19.66.%d", i + 1);
		host_init(&bot[i], a);
		one_message(&r->e, &r->f, &fig, &bot[i], "198.18.0.25", MG_OSFP_LINUX, "[198.19.0.1]", 1, now, wall);
		mg_engine_tick(&r->e, now, wall);
		track(&r->e, &r->f, &fig);
		now += 20 * SEC;
		wall += 20 * SEC;
	}
	for (int i = 0; i < 8; i++)
		fig.held_members += mg_ob_member_of(r->e.ob, bot[i].addr, NULL);
	print_figures("outside bots with one IP-literal HELO, to our relay", &fig);
	assert_true(fig.declared >= 1);
	assert_int_equal(fig.held_members, 8);
	assert_nothing_contained(&fig);
}

/*
 * Five PCs of one Windows image, each sending one well-formed message (one
 * recipient, the same configured FQDN HELO) straight to an outside MX within
 * a minute: a scanner-to-mail application. An alert, nothing more: nothing
 * contained, no threshold lowered, nobody blocked or held.
 */
static void test_identical_office_pcs_are_an_application(void **state)
{
	struct rig *r = *state;
	struct figures fig = { 0 };
	struct fig_ctx fc = { &r->s, &fig };
	struct host pc[6];
	uint64_t now = BOOT, wall = WALL;

	add_list(&r->c.protected_nets, "198.18.0.0/16");
	assert_int_equal(mg_engine_init(&r->e, &r->c, &fake_sink, &r->f, count_outbreaks, &fc), 0);
	for (int i = 0; i < 5; i++) {
		char a[32];
		snprintf(a, sizeof(a), "198.18.7.%d", i + 1);
		host_init(&pc[i], a);
		r->f.hosts[r->f.nhosts++] = &pc[i];
	}
	mg_engine_start(&r->e, now, wall);
	for (int i = 0; i < 5; i++) {
		one_message(&r->e, &r->f, &fig, &pc[i], "198.19.40.25", MG_OSFP_WINDOWS, "scan2mail.office.example", 1,
			    now, wall);
		mg_engine_tick(&r->e, now, wall);
		track(&r->e, &r->f, &fig);
		now += 12 * SEC;
		wall += 12 * SEC;
	}
	/* A sixth PC of the image, later: its SYN is not dropped. */
	host_init(&pc[5], "198.18.7.6");
	one_message(&r->e, &r->f, &fig, &pc[5], "198.19.40.25", MG_OSFP_WINDOWS, "scan2mail.office.example", 1, now,
		    wall);
	for (int k = 0; k < 10; k++) {
		now += SEC;
		wall += SEC;
		mg_engine_tick(&r->e, now, wall);
		track(&r->e, &r->f, &fig);
	}
	for (int i = 0; i < 6; i++)
		fig.held_members += mg_ob_member_of(r->e.ob, pc[i].addr, NULL);
	fig.blocks = r->s.blocks;
	print_figures("five identical office PCs, one message each", &fig);
	assert_true(fig.declared >= 1); /* the operator is told */
	assert_nothing_contained(&fig);
	assert_int_equal(fig.held_members, 0);
	assert_int_equal(fig.blocks, 0);
}

/*
 * A campaign among our own hosts (the e2e_outbreak case): stock Linux SYNs,
 * each greeting with its own address literal. The fingerprint alone is too
 * common; with the HELO shape among the same hosts it is contained, and a
 * latecomer's first SYN is dropped. Fresh Linux hosts with ordinary FQDN
 * HELOs (new servers) are an alert only.
 */
static void test_campaign_contained_bare_fingerprint_not(void **state)
{
	struct rig *r = *state;
	struct figures fig = { 0 };
	struct fig_ctx fc = { &r->s, &fig };
	struct host h[11];
	uint64_t now = BOOT, wall = WALL;
	uint32_t linux_fp;

	{
		struct mg_syn_fp fp = stock_fp(MG_OSFP_LINUX);
		linux_fp = mg_fp_hash(&fp);
	}
	add_list(&r->c.protected_nets, "198.18.0.0/16");
	assert_int_equal(mg_engine_init(&r->e, &r->c, &fake_sink, &r->f, count_outbreaks, &fc), 0);
	mg_engine_start(&r->e, now, wall);
	/* Five new servers: distinct FQDN HELOs. */
	for (int i = 0; i < 5; i++) {
		char a[32], helo[64];
		snprintf(a, sizeof(a), "198.18.8.%d", i + 1);
		snprintf(helo, sizeof(helo), "app%d.lab.example", i + 1);
		host_init(&h[i], a);
		one_message(&r->e, &r->f, &fig, &h[i], "198.19.40.25", MG_OSFP_LINUX, helo, 1, now, wall);
		track(&r->e, &r->f, &fig);
		now += SEC;
		wall += SEC;
	}
	assert_int_equal(fig.declared, 1);
	assert_int_equal(r->f.nfps, 0);
	assert_int_equal(r->e.threat_level, 0);
	/* Ten minutes later, five bots: their own address literals. */
	now += 11 * 60 * SEC;
	wall += 11 * 60 * SEC;
	mg_engine_tick(&r->e, now, wall);
	for (int i = 5; i < 10; i++) {
		char a[32], helo[64];
		snprintf(a, sizeof(a), "198.18.9.%d", i + 1);
		snprintf(helo, sizeof(helo), "[%s]", a);
		host_init(&h[i], a);
		one_message(&r->e, &r->f, &fig, &h[i], "198.19.40.25", MG_OSFP_LINUX, helo, 3, now, wall);
		track(&r->e, &r->f, &fig);
		now += SEC;
		wall += SEC;
	}
	assert_true(contained(&r->f, linux_fp));
	assert_true(r->e.threat_level >= 2);
	assert_true(mg_ob_member_of(r->e.ob, h[5].addr, NULL));
	host_init(&h[10], "198.18.9.99");
	one_message(&r->e, &r->f, &fig, &h[10], "198.19.40.25", MG_OSFP_LINUX, "[198.18.9.99]", 1, now, wall);
	assert_int_equal(fig.syns_dropped, 1);
	print_figures("five new servers, then five bots with address-literal HELOs", &fig);
}

/* A test on a rig (rig_setup), and one on a rig that saves (rig_setup_saving). */
#define rig_test(t) cmocka_unit_test_setup_teardown(t, rig_setup, rig_teardown)
#define saving_rig_test(t) cmocka_unit_test_setup_teardown(t, rig_setup_saving, rig_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		rig_test(test_bot_blocked_near_boot),
		rig_test(test_verdict_at_the_deciding_event),
		rig_test(test_cluster_receipt_rules),
		rig_test(test_bgp_receipt_rules),
		rig_test(test_bot_blocked_on_the_daemons_timeline),
		rig_test(test_browsed_bot_is_a_role_change),
		rig_test(test_allowlist_beats_every_verdict),
		rig_test(test_operator_over_verdict_and_allow),
		rig_test(test_spoofed_syn_flood_names_no_member),
		rig_test(test_spoofed_payload_names_no_suspect),
		rig_test(test_verify_requests),
		saving_rig_test(test_restart_keeps_containment_and_threat),
		saving_rig_test(test_save_in_slices),
		saving_rig_test(test_restart_keeps_operator_rules_and_pins_the_rest),
		saving_rig_test(test_feed_import_steps_allow_restart),
		saving_rig_test(test_feed_import_out_of_memory_changes_nothing),
		rig_test(test_feed_expiry_out_of_memory_is_put_off),
		saving_rig_test(test_rules_save_out_of_memory_writes_nothing),
		rig_test(test_reload_reports_what_waits),
		saving_rig_test(test_unrestorable_state_kept),
		saving_rig_test(test_bad_record_refused_rest_restored),
		saving_rig_test(test_state_damaged_at_its_end_restores_nothing),
		saving_rig_test(test_bad_rules_refused_rest_restored),
		saving_rig_test(test_stale_temps_removed_at_start),
		rig_test(test_block_on_a_full_disk),
		rig_test(test_full_map_logged_once_a_minute),
		rig_test(test_scan_failure_logged_once_a_minute),
		cmocka_unit_test(test_inbound_mail_declares_no_outbreak),
		rig_test(test_inbound_bots_held_at_relay_only),
		rig_test(test_identical_office_pcs_are_an_application),
		rig_test(test_campaign_contained_bare_fingerprint_not),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
