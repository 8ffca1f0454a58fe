// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_analyzer.c - the analyzer as pure logic on scripted timelines (no privileges needed).
 *
 * Each test plays a script: hosts whose kernel counters grow as the XDP
 * program would count them, the ring-buffer events it would send, and a scan
 * plus tick every few seconds of script time. The analyzer never reads a
 * clock, so a week of learning takes milliseconds here.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mg_analyzer.h"

#define SEC 1000000000ull
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)
#define T0 (1000 * SEC) /* script start: any monotonic time */

/* A host as the kernel sees it: cumulative counters and the events it caused. */
struct host {
	uint8_t addr[16]; /* full address (events) */
	uint8_t key[16];  /* the kernel's profile key (IPv6 masked to /64) */
	struct mg_src_stats s;
};

static struct mg_analyzer *an;
static uint32_t u32_at(const uint8_t *b, size_t off);
static struct mg_analyzer *saved_and_restored(const struct mg_prefix *server, uint64_t t);
static struct mg_an_config cfg;
static struct mg_an_action acts[1024];
static size_t nacts;

static void host_init(struct host *h, const char *ip, uint8_t mac_last)
{
	memset(h, 0, sizeof(*h));
	assert_int_equal(mg_addr_parse(ip, h->addr), 0);
	memcpy(h->key, h->addr, 16);
	if (!mg_addr_is_v4(h->addr))
		mg_addr_mask(h->key, 64);
	uint8_t mac[6] = { 0x02, 0, 0, 0, 0, mac_last };
	memcpy(h->s.mac, mac, 6);
	h->s.vlan_outer = 42;
}

static void event_base(struct mg_event *ev, const struct host *h, uint8_t type)
{
	memset(ev, 0, sizeof(*ev));
	ev->type = type;
	memcpy(ev->src, h->addr, 16);
	memcpy(ev->mac, h->s.mac, 6);
	ev->vlan_outer = h->s.vlan_outer;
	ev->dport = 25;
}

/* A SYN to an MX: counted, and an event when the destination's bit is new (as the kernel does). */
static void syn_mx(struct host *h, const char *dst, uint64_t t)
{
	struct mg_event ev;
	uint32_t w[4];

	event_base(&ev, h, MG_EV_SYN_MX);
	assert_int_equal(mg_addr_parse(dst, ev.dst), 0);
	memcpy(w, ev.dst, 16);
	uint64_t bit = 1ull << mg_dst_bit(w);
	h->s.syn_mx++;
	if (!h->s.first_seen_ns)
		h->s.first_seen_ns = t;
	h->s.last_seen_ns = t;
	if (h->s.mx_dst_bits & bit)
		return;
	h->s.mx_dst_bits |= bit;
	ev.fp_hash = 0xf00d;
	mg_an_on_event(an, &ev, t);
}

/* One complete SMTP session to dst: SYN, EHLO (event), MAIL, RCPT x n, DATA, QUIT, and the replies. */
static void session(struct host *h, const char *dst, const char *helo, unsigned rcpts, uint64_t t)
{
	struct mg_event ev;
	size_t len = strlen(helo);

	syn_mx(h, dst, t);
	event_base(&ev, h, MG_EV_HELO);
	ev.detail = MG_CMD_EHLO;
	memcpy(ev.u.arg, helo, len);
	ev.arg_len = (uint8_t)len;
	ev.helo_hash = mg_helo_hash(helo, (uint32_t)len);
	mg_an_on_event(an, &ev, t);
	h->s.helo_hash = ev.helo_hash;
	h->s.cmd[MG_CMD_EHLO]++;
	h->s.cmd[MG_CMD_MAIL]++;
	h->s.cmd[MG_CMD_RCPT] += rcpts;
	h->s.cmd[MG_CMD_DATA]++;
	h->s.cmd[MG_CMD_QUIT]++;
	h->s.reply[MG_REPLY_2XX] += 4 + rcpts;
	h->s.flags |= MG_SRC_F_PAYLOAD;
}

/* Ordinary use: SYNs to web ports and to the relay's submission port. */
static void browse(struct host *h, unsigned web, unsigned submission, uint64_t t)
{
	h->s.syn_other += web;
	h->s.syn_submission += submission;
	if (!h->s.first_seen_ns)
		h->s.first_seen_ns = t;
	h->s.last_seen_ns = t;
}

/* The daemon's timer: every kernel profile read, then a tick. Actions land in acts[]. */
static size_t scan_n(struct host **hs, size_t n, uint64_t t, size_t max)
{
	for (size_t i = 0; i < n; i++)
		mg_an_on_counters(an, hs[i]->key, &hs[i]->s, t);
	nacts = mg_an_tick(an, t, acts, max);
	return nacts;
}

static size_t scan(struct host **hs, size_t n, uint64_t t)
{
	return scan_n(hs, n, t, 1024);
}

/* The same for one host. */
static size_t scan_one(struct host *h, uint64_t t)
{
	return scan(&h, 1, t);
}

static const struct mg_an_action *find_action(enum mg_an_action_kind kind, const struct host *h)
{
	for (size_t i = 0; i < nacts; i++)
		if (acts[i].kind == kind && !memcmp(acts[i].prefix.addr, h->key, 16))
			return &acts[i];
	return NULL;
}

static size_t count_actions(enum mg_an_action_kind kind)
{
	size_t n = 0;
	for (size_t i = 0; i < nacts; i++)
		n += acts[i].kind == kind;
	return n;
}

static enum mg_role role_of(const struct host *h)
{
	struct mg_an_profile_view v;
	assert_true(mg_an_get(an, h->addr, &v));
	return v.role;
}

static const char *mx(unsigned i)
{
	static char buf[8][32];
	static unsigned k;
	char *b = buf[k++ % 8];
	snprintf(b, 32, "198.19.%u.%u", i / 250, i % 250 + 1);
	return b;
}

static int setup(void **state)
{
	(void)state;
	mg_an_config_default(&cfg);
	an = mg_an_new(&cfg);
	nacts = 0;
	return an ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	mg_an_free(an);
	an = NULL;
	return 0;
}

static void reconfigure(void)
{
	mg_an_set_config(an, &cfg);
}

/* ---- roles --------------------------------------------------------------------------- */

static void test_end_host_learned(void **state)
{
	struct host pc, silent;
	struct host *hs[] = { &pc, &silent };

	(void)state;
	host_init(&pc, "198.18.1.2", 1);
	host_init(&silent, "198.18.1.3", 2);
	browse(&pc, 30, 2, T0);
	silent.s.first_seen_ns = T0;
	assert_int_equal(scan(hs, 2, T0), 0);
	assert_int_equal(role_of(&pc), MG_ROLE_END_HOST);
	assert_int_equal(role_of(&silent), MG_ROLE_UNKNOWN);

	size_t by[MG_ROLE_MAX];
	assert_int_equal(mg_an_count(an, by), 2);
	assert_int_equal(by[MG_ROLE_END_HOST], 1);
	assert_int_equal(by[MG_ROLE_UNKNOWN], 1);

	/* The activity behind the role adds up over scans; serving SMTP is seen too. */
	struct mg_an_profile_view v;
	browse(&pc, 5, 1, T0 + 10 * SEC);
	pc.s.synack_smtp += 3;
	assert_int_equal(scan(hs, 2, T0 + 10 * SEC), 0);
	assert_true(mg_an_get(an, pc.addr, &v));
	assert_int_equal(v.other_syns, 35);
	assert_int_equal(v.submission_syns, 3);
	assert_int_equal(v.serves_smtp, 3);
	assert_true(mg_an_get(an, silent.addr, &v));
	assert_int_equal(v.other_syns + v.submission_syns + v.serves_smtp, 0);
}

/* A PC that browsed and used its relay starts delivering to MX hosts itself. */
static void test_role_change_blocked(void **state)
{
	struct host pc, other;
	struct host *hs[] = { &pc, &other };
	const struct mg_an_action *b = NULL;
	uint64_t t = T0, first = 0, blocked_at = 0;

	(void)state;
	host_init(&pc, "198.18.1.2", 7);
	host_init(&other, "198.18.1.3", 8);
	browse(&pc, 40, 3, t);
	browse(&other, 25, 1, t);
	scan(hs, 2, t);
	assert_int_equal(role_of(&pc), MG_ROLE_END_HOST);

	t += HOUR;
	for (unsigned i = 0; i < 12 && !b; i++, t += SEC) {
		if (!first)
			first = t;
		session(&pc, mx(i), "DESKTOP-4F3K", 5, t);
		browse(&other, 3, 0, t);
		scan(hs, 2, t);
		b = find_action(MG_AN_BLOCK, &pc);
		blocked_at = t;
		assert_null(find_action(MG_AN_BLOCK, &other));
	}
	assert_non_null(b);
	assert_int_equal(count_actions(MG_AN_BLOCK), 1);
	assert_string_equal(b->ev.rule, "role-change:end-host-to-mta");
	assert_int_equal(b->ev.role_before, MG_ROLE_END_HOST);
	assert_int_equal(b->block_action, MG_ACT_DROP_SMTP);
	assert_int_equal(b->offence, 1);
	assert_int_equal(b->expires_ns, blocked_at + HOUR);
	assert_int_equal(b->prefix.prefixlen, 128);
	assert_memory_equal(b->prefix.addr, pc.addr, 16);
	assert_true(b->ev.score >= cfg.block_score);
	assert_true(b->ev.distinct_mx >= 4);
	assert_true(b->ev.sessions >= 4);
	assert_int_equal(b->ev.rcpts, 5 * b->ev.sessions);
	assert_string_equal(b->ev.helo, "DESKTOP-4F3K");
	assert_int_equal(b->ev.helo_shape, MG_HELO_BARE_WORD);
	assert_int_equal(b->ev.first_evidence_ns, first);
	assert_int_equal(b->ev.mac[5], 7);
	assert_int_equal(b->ev.vlan_outer, 42);
	assert_int_equal(role_of(&pc), MG_ROLE_BLOCKED);
	assert_int_not_equal(role_of(&other), MG_ROLE_BLOCKED);

	/* The verdict is explained on request too. */
	struct mg_an_profile_view v;
	assert_true(mg_an_get(an, pc.addr, &v));
	assert_int_equal(v.blocked_until_ns, blocked_at + HOUR);
	assert_int_equal(v.offences, 1);
	assert_string_equal(v.ev.helo, "DESKTOP-4F3K");
	assert_int_equal(v.ev.role_before, MG_ROLE_END_HOST);
	/* The role change is in its history, with its time. */
	assert_true(v.n_history >= 1);
	assert_int_equal(v.history[0].from, MG_ROLE_END_HOST); /* end host, (suspect,) blocked */
	assert_int_equal(v.history[v.n_history - 1].to, MG_ROLE_BLOCKED);
	assert_int_equal(v.history[v.n_history - 1].at_ns, blocked_at);

	/* Blocked: no second verdict while it lasts. */
	session(&pc, mx(50), "DESKTOP-4F3K", 5, t + SEC);
	scan(hs, 2, t + SEC);
	assert_int_equal(count_actions(MG_AN_BLOCK), 0);
}

/* One mail now and then, straight to the recipient's MX, is not an offence. */
static void test_occasional_direct_mail_not_blocked(void **state)
{
	struct host pc;
	uint64_t t = T0;

	(void)state;
	host_init(&pc, "198.18.1.2", 1);
	browse(&pc, 10, 0, t);
	for (unsigned i = 0; i < 20; i++, t += 20 * MIN) {
		session(&pc, mx(i % 3), "pc.example.net", 1, t);
		scan_one(&pc, t);
		assert_int_equal(count_actions(MG_AN_BLOCK), 0);
		assert_int_equal(count_actions(MG_AN_ALERT), 0);
	}
	assert_int_equal(role_of(&pc), MG_ROLE_END_HOST);
}

/* ---- slow bots, home servers, first sessions ----------------------------------------- */

/* A small deterministic generator: the same "random" timeline on every run. */
static uint32_t lcg(uint32_t *s)
{
	*s = *s * 1664525u + 1013904223u;
	return *s >> 8;
}

/*
 * A patient bot: one session every 3 to 5 minutes, each to a new MX, with a
 * HELO spelled from its own address, for two hours from `start`; a scan and
 * a tick every 10 s. Returns when the verdict came (0: never) and the highest
 * score it reached.
 */
static uint64_t slow_bot(uint64_t start, double *peak)
{
	struct host bot;
	struct host *hs[] = { &bot };
	struct mg_an_profile_view v;
	uint32_t rnd = 7;
	uint64_t next = start, blocked_at = 0;
	unsigned n = 0;

	host_init(&bot, "198.18.5.7", 5);
	*peak = 0;
	for (uint64_t t = start; t <= start + 2 * HOUR && !blocked_at; t += 10 * SEC) {
		if (t >= next) {
			session(&bot, mx(100 + n++), "198-18-5-7.example.net", 1, t);
			next = t + 3 * MIN + (lcg(&rnd) % 121) * SEC;
		}
		scan(hs, 1, t);
		if (find_action(MG_AN_BLOCK, &bot))
			blocked_at = t;
		assert_true(mg_an_get(an, bot.addr, &v));
		if (v.score > *peak)
			*peak = v.score;
	}
	return blocked_at ? blocked_at - start : 0;
}

static void test_slow_bot_blocked_within_30_minutes(void **state)
{
	double peak;

	(void)state;
	uint64_t took = slow_bot(T0, &peak);
	print_message("slow bot (a session every 3-5 min, own-octets HELO): verdict after %llu s, score %.1f\n",
		      (unsigned long long)(took / SEC), peak);
	assert_true(took > 0);
	assert_true(took <= 30 * MIN);
	const struct mg_an_action *b = &acts[0];
	assert_int_equal(b->kind, MG_AN_BLOCK);
	assert_true(b->ev.long_mx > cfg.free_long_mx);
	assert_true(b->ev.long_sessions >= b->ev.long_mx - 0.5);
}

/* The same bot a few seconds after boot: times near 0 are times, not "never". */
static void test_slow_bot_blocked_soon_after_boot(void **state)
{
	double peak;

	(void)state;
	uint64_t took = slow_bot(3 * SEC, &peak);
	assert_true(took > 0);
	assert_true(took <= 30 * MIN);
}

/* Without the longer memory the same bot stays a suspect for two hours: what the memory is for. */
static void test_slow_bot_only_suspect_without_memory(void **state)
{
	double peak;

	(void)state;
	cfg.w_long_mx = 0;
	reconfigure();
	assert_int_equal(slow_bot(T0, &peak), 0);
	assert_true(peak >= cfg.alert_score);
	assert_true(peak < cfg.block_score);
}

/*
 * A home server: 3 to 10 mails a day at any waking hour, to its owners'
 * correspondents (40 of them, new ones on the first days), with its proper
 * name, for 10 days, and nothing else on the network (the strictest case:
 * no other activity to vouch for it). Never an alert, never a block.
 */
static void test_home_server_clean_for_10_days(void **state)
{
	struct host srv;
	uint32_t rnd = 11;
	struct mg_an_profile_view v;
	double peak = 0;

	(void)state;
	host_init(&srv, "198.18.6.20", 6);
	for (unsigned day = 0; day < 10; day++) {
		uint64_t day0 = T0 + day * DAY;
		unsigned mails = 3 + lcg(&rnd) % 8;
		uint64_t at[10];
		for (unsigned i = 0; i < mails; i++)
			at[i] = day0 + 8 * HOUR + (lcg(&rnd) % (15 * 3600)) * SEC; /* 08:00 to 23:00 */
		for (unsigned i = 0; i < mails; i++) /* in time order */
			for (unsigned k = i + 1; k < mails; k++)
				if (at[k] < at[i]) {
					uint64_t x = at[i];
					at[i] = at[k];
					at[k] = x;
				}
		for (unsigned i = 0; i < mails; i++) {
			session(&srv, mx(200 + lcg(&rnd) % 40), "mail.home.example.org", 1 + lcg(&rnd) % 3, at[i]);
			/* Scans every 10 s for the next 20 minutes: the score at its highest after each mail. */
			for (uint64_t t = at[i]; t < at[i] + 20 * MIN && (i + 1 == mails || t < at[i + 1]); t += 10 * SEC) {
				scan_one(&srv, t);
				assert_int_equal(count_actions(MG_AN_BLOCK), 0);
				assert_int_equal(count_actions(MG_AN_ALERT), 0);
				assert_true(mg_an_get(an, srv.addr, &v));
				if (v.score > peak)
					peak = v.score;
			}
		}
	}
	print_message("home server, 10 days: highest score %.1f\n", peak);
	assert_true(peak < cfg.alert_score);
	assert_true(mg_an_get(an, srv.addr, &v));
	assert_true(v.role == MG_ROLE_MAIL_SERVER || v.role == MG_ROLE_UNKNOWN);
}

/* A first session with an absurd identity: a suspect at the next evaluation, the reason named, no verdict. */
static void test_first_session_absurd_helo_suspect(void **state)
{
	static const struct {
		const char *src, *helo, *rule;
	} cases[] = {
		{ "198.18.8.1", "[0.0.0.0]", "helo-absurd:unspecified-literal" },
		{ "198.18.8.2", "[203.0.113.9]", "helo-absurd:foreign-literal" },
		{ "198.18.8.3", "c-198-18-5-7.hsd1.example-cable.net", "helo-absurd:dynamic-pool" },
		{ "198.18.8.4", "173-66-46-112.wash.fios.verizon.net", "helo-absurd:dynamic-pool" },
		{ "2001:db8:8::5", "[IPv6:2001:db8:8::6]", "helo-absurd:foreign-literal" },
	};
	struct mg_an_profile_view v;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct host h;
		struct host *hs[] = { &h };
		uint64_t t = T0 + i * HOUR;
		host_init(&h, cases[i].src, (uint8_t)i);
		browse(&h, 20, 1, t); /* an ordinary host until now: nothing else against it */
		scan(hs, 1, t);
		session(&h, mx(1), cases[i].helo, 1, t + SEC);
		scan(hs, 1, t + SEC);
		const struct mg_an_action *x = find_action(MG_AN_ALERT, &h);
		if (!x)
			fail_msg("%s HELO '%s': no alert", cases[i].src, cases[i].helo);
		assert_string_equal(x->ev.rule, cases[i].rule);
		assert_true(x->ev.score < cfg.alert_score); /* the identity alone, not the score */
		assert_false(x->would_block);
		assert_int_equal(role_of(&h), MG_ROLE_SUSPECT);
		assert_true(mg_an_get(an, h.addr, &v));
		assert_string_equal(v.ev.rule, cases[i].rule);
		assert_int_not_equal(v.ev.helo_absurd, MG_ABSURD_NONE);
		/* Never a verdict from the identity alone: the same session again later. */
		session(&h, mx(1), cases[i].helo, 1, t + 5 * MIN);
		scan(hs, 1, t + 5 * MIN);
		assert_null(find_action(MG_AN_BLOCK, &h));
		assert_int_equal(role_of(&h), MG_ROLE_SUSPECT);
	}
}

/* An ordinary name is no reason for suspicion; its own address as a literal is no absurd identity (the score judges it). */
static void test_first_session_sane_helo_not_suspect(void **state)
{
	static const char *const helos[] = { "mail.example.com", "smtp-out-3.example.net", "[198.18.8.9]" };
	struct mg_an_profile_view v;

	(void)state;
	for (size_t i = 0; i < sizeof(helos) / sizeof(helos[0]); i++) {
		struct host h;
		struct host *hs[] = { &h };
		char ip[32];
		snprintf(ip, sizeof(ip), "198.18.8.%zu", 9 + i);
		host_init(&h, ip, 9);
		browse(&h, 20, 1, T0);
		session(&h, mx(1), i == 2 ? "[198.18.8.11]" : helos[i], 1, T0);
		scan(hs, 1, T0);
		assert_true(mg_an_get(an, h.addr, &v));
		assert_int_equal(v.ev.helo_absurd, MG_ABSURD_NONE);
		if (i < 2) {
			assert_int_equal(count_actions(MG_AN_ALERT), 0);
			assert_int_equal(role_of(&h), MG_ROLE_END_HOST);
		} else if (role_of(&h) == MG_ROLE_SUSPECT) {
			assert_string_equal(v.ev.rule, "suspect:score");
		}
	}
}

/* Configured, learned and allowlisted mail servers are never suspects for their name. */
static void test_absurd_helo_spares_mail_servers(void **state)
{
	struct host conf, allowed, learned;
	struct host *hs[] = { &conf, &allowed, &learned };
	struct mg_prefix p;
	uint64_t t = T0;

	(void)state;
	host_init(&conf, "198.18.9.1", 1);
	host_init(&allowed, "198.18.9.2", 2);
	host_init(&learned, "198.18.9.3", 3);
	assert_int_equal(mg_prefix_parse("198.18.9.1", &p), 0);
	mg_an_add_mail_server(an, &p);
	assert_int_equal(mg_prefix_parse("198.18.9.2", &p), 0);
	mg_an_add_allow(an, &p);
	/* Learned: a week of steady sending under a proper name. */
	for (unsigned d = 0; d < 8; d++, t += DAY) {
		session(&learned, mx(d), "mx.example.org", 1, t);
		scan(hs, 3, t);
	}
	assert_int_equal(role_of(&learned), MG_ROLE_MAIL_SERVER);
	session(&conf, mx(1), "[0.0.0.0]", 1, t);
	session(&allowed, mx(1), "dsl-198-18-9-2.pool.example.net", 1, t);
	session(&learned, mx(9), "[203.0.113.9]", 1, t);
	scan(hs, 3, t);
	assert_int_equal(count_actions(MG_AN_ALERT), 0);
	assert_int_equal(role_of(&conf), MG_ROLE_MAIL_SERVER);
	assert_int_equal(role_of(&learned), MG_ROLE_MAIL_SERVER);
	assert_int_not_equal(role_of(&allowed), MG_ROLE_SUSPECT);
}

/* A mail server sending steadily for a week is learned, then survives a volume spike. */
static void test_mail_server_learned_then_spike(void **state)
{
	struct host srv;
	uint64_t t = T0;
	bool promoted = false;
	unsigned i = 0;

	(void)state;
	host_init(&srv, "198.18.3.10", 3);
	for (; t < T0 + 8 * DAY && !promoted; t += 30 * MIN, i++) {
		session(&srv, mx(i % 3), "mail.example.net", 2, t);
		scan_one(&srv, t);
		assert_int_equal(count_actions(MG_AN_BLOCK), 0);
		const struct mg_an_action *p = find_action(MG_AN_PROMOTE, &srv);
		if (p) {
			promoted = true;
			assert_string_equal(p->ev.rule, "learned:mail-server");
			assert_true(t - T0 >= cfg.learning_ns);
		}
	}
	assert_true(promoted);
	assert_int_equal(role_of(&srv), MG_ROLE_MAIL_SERVER);

	/* A newsletter: 300 sessions to 120 MX hosts in ten minutes. Volume alone never blocks it. */
	for (i = 0; i < 300; i++) {
		session(&srv, mx(100 + i % 120), "mail.example.net", 20, t + i * 2 * SEC);
		if (i % 10 == 9) {
			scan_one(&srv, t + i * 2 * SEC);
			assert_int_equal(count_actions(MG_AN_BLOCK), 0);
			assert_int_equal(count_actions(MG_AN_ALERT), 0);
		}
	}
	assert_int_equal(role_of(&srv), MG_ROLE_MAIL_SERVER);
}

/* A learned server whose HELO goes bad cannot be learned again and is watched like anyone. */
static void test_learning_refused_for_bad_helo(void **state)
{
	struct host srv;
	uint64_t t = T0;

	(void)state;
	host_init(&srv, "198.18.3.11", 3);
	for (unsigned i = 0; t < T0 + 9 * DAY; t += 30 * MIN, i++) {
		session(&srv, mx(i % 2), i % 50 ? "mail.example.net" : "localhost", 1, t);
		scan_one(&srv, t);
		assert_null(find_action(MG_AN_PROMOTE, &srv));
	}
	assert_int_not_equal(role_of(&srv), MG_ROLE_MAIL_SERVER);
}

/* Configured mail servers always win, whatever they do. */
static void test_configured_server_never_blocked(void **state)
{
	struct host srv;
	struct mg_prefix p;

	(void)state;
	host_init(&srv, "198.18.3.20", 4);
	assert_int_equal(mg_prefix_parse("198.18.3.0/24", &p), 0);
	mg_an_add_mail_server(an, &p);
	for (unsigned i = 0; i < 200; i++) {
		session(&srv, mx(i), i % 2 ? "[198.18.3.20]" : "x", 50, T0 + i * SEC);
		scan_one(&srv, T0 + i * SEC);
		assert_int_equal(count_actions(MG_AN_BLOCK), 0);
	}
	assert_int_equal(role_of(&srv), MG_ROLE_MAIL_SERVER);
	struct mg_an_profile_view v;
	assert_true(mg_an_get(an, srv.addr, &v));
	assert_true(v.configured_server);
}

/* ---- safety -------------------------------------------------------------------------- */

/* Spoofed SYNs (no handshake completes, no command is ever seen) never get an address blocked. */
static void test_spoofed_syn_only_not_blocked(void **state)
{
	struct host victim;
	size_t alerts = 0;

	(void)state;
	host_init(&victim, "198.18.1.50", 5);
	for (unsigned i = 0; i < 600; i++) {
		syn_mx(&victim, mx(i % 200), T0 + i * 100000000ull);
		if (i % 10 == 9) {
			scan_one(&victim, T0 + i * 100000000ull);
			assert_int_equal(count_actions(MG_AN_BLOCK), 0);
			const struct mg_an_action *x = find_action(MG_AN_ALERT, &victim);
			if (x) {
				alerts++;
				assert_string_equal(x->ev.rule, "suspect:syn-only");
				assert_false(x->would_block);
			}
		}
	}
	struct mg_an_profile_view v;
	assert_true(mg_an_get(an, victim.addr, &v));
	assert_true(v.score >= cfg.block_score); /* it scores, and still is not blocked */
	assert_int_equal(v.role, MG_ROLE_SUSPECT);
	assert_int_equal(alerts, 1); /* reported once, not at every scan */
}

/* A bot: IP-literal HELO of its own address, six MX hosts. */
static void bot_burst(struct host *h, unsigned n, uint64_t t)
{
	char helo[40], ip[20];

	mg_addr_str(h->addr, ip, sizeof(ip));
	snprintf(helo, sizeof(helo), "[%s]", ip);
	for (unsigned i = 0; i < n; i++)
		session(h, mx(i % 6), helo, 3, t + i * 100000000ull);
}

static void test_circuit_breaker(void **state)
{
	struct host bots[15];
	struct host *hs[15];
	char ip[20];

	(void)state;
	for (int i = 0; i < 15; i++) {
		snprintf(ip, sizeof(ip), "198.18.4.%d", i + 1);
		host_init(&bots[i], ip, (uint8_t)i);
		hs[i] = &bots[i];
		bot_burst(&bots[i], 6, T0);
	}
	scan(hs, 15, T0 + SEC);
	assert_int_equal(count_actions(MG_AN_BLOCK), cfg.max_new_blocks_per_min);
	assert_int_equal(count_actions(MG_AN_ALERT), 15 - cfg.max_new_blocks_per_min);
	for (size_t i = 0; i < nacts; i++)
		if (acts[i].kind == MG_AN_ALERT) {
			assert_true(acts[i].would_block);
			assert_string_equal(acts[i].ev.rule, "breaker-open:would-block");
		}

	/* Thirty seconds on, the breaker is still open: the unblocked bots go on, still only alerts (once). */
	for (int i = 0; i < 15; i++)
		bot_burst(&bots[i], 2, T0 + 30 * SEC);
	scan(hs, 15, T0 + 31 * SEC);
	assert_int_equal(count_actions(MG_AN_BLOCK), 0);
	assert_int_equal(count_actions(MG_AN_ALERT), 0);

	/* A minute after the first blocks the breaker closes, and the rest get their verdicts. */
	for (int i = 0; i < 15; i++)
		bot_burst(&bots[i], 1, T0 + 62 * SEC);
	scan(hs, 15, T0 + 62 * SEC);
	assert_int_equal(count_actions(MG_AN_BLOCK), 15 - cfg.max_new_blocks_per_min);
	for (int i = 0; i < 15; i++)
		assert_int_equal(role_of(&bots[i]), MG_ROLE_BLOCKED);
}

static void test_breaker_zero_means_alerts_only(void **state)
{
	struct host bot;

	(void)state;
	cfg.max_new_blocks_per_min = 0;
	reconfigure();
	host_init(&bot, "198.18.4.1", 1);
	bot_burst(&bot, 6, T0);
	scan_one(&bot, T0 + SEC);
	assert_int_equal(count_actions(MG_AN_BLOCK), 0);
	assert_int_equal(count_actions(MG_AN_ALERT), 1);
	assert_true(acts[0].would_block);
}

static void test_monitor_mode(void **state)
{
	struct host bot;

	(void)state;
	cfg.monitor = true;
	reconfigure();
	host_init(&bot, "198.18.4.1", 1);
	bot_burst(&bot, 6, T0);
	scan_one(&bot, T0 + SEC);
	assert_int_equal(count_actions(MG_AN_BLOCK), 0);
	assert_int_equal(nacts, 1);
	assert_int_equal(acts[0].kind, MG_AN_ALERT);
	assert_true(acts[0].would_block);
	assert_string_equal(acts[0].ev.rule, "monitor:would-block");
	assert_int_equal(acts[0].ev.helo_shape, MG_HELO_IP_LITERAL | MG_HELO_OWN_OCTETS);
	bot_burst(&bot, 6, T0 + 2 * SEC);
	scan_one(&bot, T0 + 3 * SEC);
	assert_int_equal(nacts, 0); /* said once */
	assert_int_equal(role_of(&bot), MG_ROLE_SUSPECT);

	/* Monitor off: the same evidence now blocks. */
	cfg.monitor = false;
	reconfigure();
	bot_burst(&bot, 1, T0 + 4 * SEC);
	scan_one(&bot, T0 + 4 * SEC);
	assert_int_equal(count_actions(MG_AN_BLOCK), 1);
}

static void test_allowlist_wins(void **state)
{
	struct host bot, bot2;
	struct host *hs[] = { &bot, &bot2 };
	struct mg_prefix p;

	(void)state;
	host_init(&bot, "198.18.5.1", 1);
	host_init(&bot2, "198.18.6.1", 2);
	assert_int_equal(mg_prefix_parse("198.18.5.0/24", &p), 0);
	mg_an_add_allow(an, &p);
	bot_burst(&bot, 12, T0);
	bot_burst(&bot2, 12, T0);
	scan(hs, 2, T0 + 2 * SEC);
	assert_null(find_action(MG_AN_BLOCK, &bot));
	assert_null(find_action(MG_AN_ALERT, &bot));
	assert_non_null(find_action(MG_AN_BLOCK, &bot2));
	struct mg_an_profile_view v;
	assert_true(mg_an_get(an, bot.addr, &v));
	assert_true(v.allowlisted);

	/* Allowlisting a blocked source ends its verdict at the next tick. */
	assert_int_equal(mg_prefix_parse("198.18.6.1", &p), 0);
	mg_an_add_allow(an, &p);
	scan(hs, 2, T0 + 3 * SEC);
	const struct mg_an_action *u = find_action(MG_AN_UNBLOCK, &bot2);
	assert_non_null(u);
	assert_string_equal(u->ev.rule, "unblocked:allowlisted");
	assert_int_not_equal(role_of(&bot2), MG_ROLE_BLOCKED);

	/* And taking it off the allowlist again makes it an ordinary source. */
	mg_an_remove_allow(an, &p);
	bot_burst(&bot2, 12, T0 + 10 * SEC);
	scan(hs, 2, T0 + 12 * SEC);
	assert_non_null(find_action(MG_AN_BLOCK, &bot2));
}

/* ---- compact storage: history ring, coarse times near boot, shared HELO names ---------- */

/*
 * The role history keeps the last MG_AN_HISTORY changes, oldest first, each
 * with its time to the second (never later than it was), near boot too: a
 * time in the first second after boot reads as 1 ns, not as "never".
 */
static void test_history_ring_near_boot(void **state)
{
	struct host bot, early;
	struct host *hs[] = { &bot, &early };
	uint64_t t = 2 * SEC + SEC / 2, last_change = 0;
	struct mg_an_profile_view v;

	(void)state;
	host_init(&bot, "198.18.4.9", 9);
	host_init(&early, "198.18.1.2", 2);
	browse(&early, 3, 0, SEC / 4);
	scan(&hs[1], 1, SEC / 4);
	assert_true(mg_an_get(an, early.addr, &v));
	assert_int_equal(v.first_seen_ns, 1);
	assert_int_equal(v.last_seen_ns, 1);
	for (unsigned k = 0; k < 3; k++) {
		bot_burst(&bot, 6, t);
		t += SEC;
		scan(hs, 1, t);
		const struct mg_an_action *b = find_action(MG_AN_BLOCK, &bot);
		assert_non_null(b);
		t = b->expires_ns;
		scan(hs, 1, t);
		assert_non_null(find_action(MG_AN_UNBLOCK, &bot));
		last_change = t;
		t += SEC / 3;
	}
	assert_true(mg_an_get(an, bot.addr, &v));
	assert_int_equal(v.n_history, MG_AN_HISTORY);
	assert_int_equal(v.history[MG_AN_HISTORY - 1].to, v.role);
	assert_int_equal(v.history[MG_AN_HISTORY - 2].to, MG_ROLE_BLOCKED);
	for (unsigned i = 0; i < MG_AN_HISTORY; i++) {
		assert_true(v.history[i].at_ns > 0 && v.history[i].at_ns <= last_change);
		if (i) {
			assert_int_equal(v.history[i].from, v.history[i - 1].to);
			assert_true(v.history[i].at_ns >= v.history[i - 1].at_ns);
		}
	}
	/* To the second: the last change (an expiry at a fraction of a second) reads as its second's start. */
	assert_int_equal(v.history[MG_AN_HISTORY - 1].at_ns, last_change / SEC * SEC);
	/* First seen 2.5 s after boot reads as 2 s. */
	assert_int_equal(v.first_seen_ns, 2 * SEC);

	/* A save and restore keep the ring as it was. */
	uint8_t *buf;
	size_t len;
	struct mg_an_profile_view r;
	const uint64_t wall = 1800000000ull * SEC;
	assert_int_equal(mg_an_save(an, t, wall, &buf, &len), 0);
	struct mg_analyzer *b2 = mg_an_new(&cfg);
	assert_int_equal(mg_an_restore(b2, buf, len, t, wall, NULL), 0);
	assert_true(mg_an_get(b2, bot.addr, &r));
	assert_int_equal(r.n_history, MG_AN_HISTORY);
	for (unsigned i = 0; i < MG_AN_HISTORY; i++) {
		assert_int_equal(r.history[i].at_ns, v.history[i].at_ns);
		assert_int_equal(r.history[i].from, v.history[i].from);
		assert_int_equal(r.history[i].to, v.history[i].to);
	}
	assert_true(mg_an_get(b2, early.addr, &r));
	assert_int_equal(r.first_seen_ns, 1);
	mg_an_free(b2);
	free(buf);
}

/*
 * The time of a source's latest role change is in its SMTP record; those of
 * earlier ones move to a side record at the second change, for a source
 * never blocked too: the history reads the same, in order, exact to the
 * second, before and after a save and restore, and the side record reads
 * as no block and no offence.
 */
static void test_history_of_a_source_never_blocked(void **state)
{
	struct host h;
	struct mg_an_profile_view v, r;
	const uint64_t t = 3 * SEC;

	(void)state;
	host_init(&h, "198.18.8.3", 3);
	browse(&h, 20, 1, t);
	scan_one(&h, t);
	session(&h, mx(1), "c-198-18-5-7.hsd1.example-cable.net", 1, t + SEC);
	scan_one(&h, t + SEC);
	assert_true(mg_an_get(an, h.addr, &v));
	assert_int_equal(v.role, MG_ROLE_SUSPECT);
	assert_int_equal(v.n_history, 1);
	assert_int_equal(v.history[0].at_ns, t + SEC);
	assert_int_equal(v.history[0].to, MG_ROLE_SUSPECT);
	/* Two windows later the identity has aged out: back to an end host, a second change. */
	const uint64_t later = t + 25 * MIN + SEC / 2;
	browse(&h, 1, 0, later); /* news, so that it is judged again */
	scan_one(&h, later);
	assert_true(mg_an_get(an, h.addr, &v));
	assert_int_equal(v.role, MG_ROLE_END_HOST);
	assert_int_equal(v.n_history, 2);
	assert_int_equal(v.history[0].at_ns, t + SEC);
	assert_int_equal(v.history[0].to, MG_ROLE_SUSPECT);
	assert_int_equal(v.history[1].at_ns, later / SEC * SEC);
	assert_int_equal(v.history[1].from, MG_ROLE_SUSPECT);
	assert_int_equal(v.history[1].to, MG_ROLE_END_HOST);
	assert_int_equal(v.offences, 0);
	assert_int_equal(v.blocked_until_ns, 0);

	uint8_t *buf;
	size_t len;
	const uint64_t wall = 1800000000ull * SEC;
	assert_int_equal(mg_an_save(an, later, wall, &buf, &len), 0);
	struct mg_analyzer *b2 = mg_an_new(&cfg);
	assert_int_equal(mg_an_restore(b2, buf, len, later, wall, NULL), 0);
	assert_true(mg_an_get(b2, h.addr, &r));
	assert_int_equal(r.n_history, 2);
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(r.history[i].at_ns, v.history[i].at_ns);
		assert_int_equal(r.history[i].from, v.history[i].from);
		assert_int_equal(r.history[i].to, v.history[i].to);
	}
	assert_int_equal(r.offences, 0);
	assert_int_equal(r.blocked_until_ns, 0);
	mg_an_free(b2);
	free(buf);
}

/* Sources that send one HELO name share it; one forgotten, the other keeps the name. */
static void test_shared_helo_names(void **state)
{
	struct host a, b;
	struct host *hs[] = { &a, &b };
	struct mg_an_profile_view v;

	(void)state;
	host_init(&a, "198.18.1.2", 2);
	host_init(&b, "198.18.1.3", 3);
	browse(&a, 20, 1, T0);
	browse(&b, 20, 1, T0);
	session(&a, mx(0), "relay.example.net", 1, T0);
	session(&b, mx(1), "relay.example.net", 1, T0);
	scan(hs, 2, T0 + SEC);
	assert_true(mg_an_get(an, a.addr, &v));
	assert_string_equal(v.ev.helo, "relay.example.net");
	/* A renames itself: B's name stays. */
	session(&a, mx(0), "pc-a.example.net", 1, T0 + 2 * SEC);
	scan(hs, 2, T0 + 3 * SEC);
	assert_true(mg_an_get(an, a.addr, &v));
	assert_string_equal(v.ev.helo, "pc-a.example.net");
	assert_true(mg_an_get(an, b.addr, &v));
	assert_string_equal(v.ev.helo, "relay.example.net");
	/* A month on, only B is active: A is forgotten, B keeps its name. */
	uint64_t later = T0 + 31 * DAY;
	browse(&b, 5, 0, later);
	session(&b, mx(2), "relay.example.net", 1, later);
	scan(&hs[1], 1, later);
	assert_false(mg_an_get(an, a.addr, &v));
	assert_true(mg_an_get(an, b.addr, &v));
	assert_string_equal(v.ev.helo, "relay.example.net");
	/* A back with its old name: its own again, B's untouched. */
	session(&a, mx(0), "pc-a.example.net", 1, later + SEC);
	scan(hs, 2, later + 2 * SEC);
	assert_true(mg_an_get(an, a.addr, &v));
	assert_string_equal(v.ev.helo, "pc-a.example.net");
	assert_true(mg_an_get(an, b.addr, &v));
	assert_string_equal(v.ev.helo, "relay.example.net");
}

/* A MAIL FROM event from h (verification's trigger). */
static void mail_from(struct host *h, const char *arg, uint64_t t)
{
	struct mg_event ev;
	size_t len = strlen(arg);

	event_base(&ev, h, MG_EV_MAIL);
	memcpy(ev.u.arg, arg, len);
	ev.arg_len = (uint8_t)len;
	mg_an_on_event(an, &ev, t);
}

/* The view of h in analyzer x shows HELO text `helo`, or, with helo NULL, says the text was let go. */
static void check_helo_shown(struct mg_analyzer *x, const struct host *h, const char *helo, const char *sent)
{
	struct mg_an_profile_view v;

	assert_true(mg_an_get(x, h->addr, &v));
	assert_int_equal(v.ev.helo_hash, mg_helo_hash(sent, (uint32_t)strlen(sent)));
	assert_int_equal(v.ev.helo_shape, mg_helo_shape(sent, strlen(sent), h->addr));
	if (helo) {
		assert_false(v.ev.helo_text_dropped);
		assert_string_equal(v.ev.helo, helo);
	} else {
		assert_true(v.ev.helo_text_dropped);
		assert_string_equal(v.ev.helo, "");
	}
}

/*
 * HELO texts are kept for the detection.helo_texts sources that took a name
 * most recently, and for suspects whatever their turn: another source's
 * text is let go, its hash and shape kept and shown as such, and its next
 * HELO brings it back. A source without its text is not sent for
 * verification (the check would see no name). A save and restore keeps
 * which texts were let go. t0 near boot and far from it.
 */
static void check_helo_texts(uint64_t t0)
{
	struct host a, b, c, s;
	struct host *hs[] = { &a, &b, &c, &s };
	struct mg_verify_input in;
	const struct mg_prefix none = { .prefixlen = 128 }; /* ::/128 as a "server": covers nobody here */

	cfg.helo_texts = 2;
	reconfigure();
	host_init(&a, "198.18.3.1", 1);
	host_init(&b, "198.18.3.2", 2);
	host_init(&c, "198.18.3.3", 3);
	host_init(&s, "198.18.3.4", 4);
	for (size_t i = 0; i < 4; i++)
		browse(hs[i], 20, 1, t0);
	session(&a, mx(0), "pc-a.example.net", 1, t0);
	session(&b, mx(1), "pc-b.example.net", 1, t0 + SEC);
	scan(hs, 3, t0 + SEC);
	check_helo_shown(an, &a, "pc-a.example.net", "pc-a.example.net");
	check_helo_shown(an, &b, "pc-b.example.net", "pc-b.example.net");
	/* A third name: the oldest (a's) is let go; the same name again takes no new turn. */
	session(&b, mx(1), "pc-b.example.net", 1, t0 + 2 * SEC);
	session(&c, mx(2), "pc-c.example.net", 1, t0 + 2 * SEC);
	scan(hs, 3, t0 + 2 * SEC);
	check_helo_shown(an, &a, NULL, "pc-a.example.net");
	check_helo_shown(an, &b, "pc-b.example.net", "pc-b.example.net");
	check_helo_shown(an, &c, "pc-c.example.net", "pc-c.example.net");
	assert_int_equal(role_of(&a), MG_ROLE_END_HOST); /* judged as before: the text never counted */
	/* No name to verify by: a MAIL from a is not sent for checking. */
	mail_from(&a, "<x@example.org>", t0 + 3 * SEC);
	assert_false(mg_an_verify_wanted(an, a.addr, t0 + 3 * SEC, &in));
	/* a's next HELO brings its text back (b's goes), and verification with it. */
	session(&a, mx(0), "pc-a.example.net", 1, t0 + 4 * SEC);
	mail_from(&a, "<x@example.org>", t0 + 4 * SEC);
	assert_true(mg_an_verify_wanted(an, a.addr, t0 + 4 * SEC, &in));
	assert_string_equal(in.helo, "pc-a.example.net");
	scan(hs, 3, t0 + 4 * SEC);
	check_helo_shown(an, &a, "pc-a.example.net", "pc-a.example.net");
	check_helo_shown(an, &b, NULL, "pc-b.example.net");

	/* A suspect keeps its text past its turn: it is its evidence. */
	const char *absurd = "c-198-18-5-7.hsd1.example-cable.net";
	session(&s, mx(3), absurd, 1, t0 + 5 * SEC);
	scan(hs, 4, t0 + 5 * SEC);
	assert_int_equal(role_of(&s), MG_ROLE_SUSPECT);
	session(&b, mx(1), "pc-b2.example.net", 1, t0 + 6 * SEC);
	session(&c, mx(2), "pc-c2.example.net", 1, t0 + 6 * SEC);
	scan(hs, 4, t0 + 6 * SEC);
	check_helo_shown(an, &s, absurd, absurd);
	check_helo_shown(an, &a, NULL, "pc-a.example.net");

	/* Save and restore: what was let go stays so, what was kept is kept. */
	struct mg_analyzer *r = saved_and_restored(&none, t0 + 6 * SEC);
	check_helo_shown(r, &a, NULL, "pc-a.example.net");
	check_helo_shown(r, &b, "pc-b2.example.net", "pc-b2.example.net");
	check_helo_shown(r, &c, "pc-c2.example.net", "pc-c2.example.net");
	check_helo_shown(r, &s, absurd, absurd);
	mg_an_free(r);
}

static void test_helo_texts(void **state)
{
	(void)state;
	check_helo_texts(T0);
}

static void test_helo_texts_near_boot(void **state)
{
	(void)state;
	check_helo_texts(3 * SEC);
}

/*
 * The longer memory's time is kept to the second; the counts are scaled so
 * they read as they would from the exact time: new MX hosts at times within
 * a second (and across second boundaries) decay from their exact times,
 * before and after a save and restore over a downtime. t0 near boot and
 * far from it.
 */
static void check_long_memory_times(uint64_t t0)
{
	struct host h;
	struct host *hs[] = { &h };
	struct mg_an_profile_view v;
	static const uint64_t at[] = { 300000000, 999999999, 1000000000, 1700000001, 9 * SEC + 1 };
	const double half = (double)cfg.long_half_life_ns;
	const uint64_t wall = 1800000000ull * SEC;
	const struct mg_prefix none = { .prefixlen = 128 };

	host_init(&h, "198.18.6.1", 6);
	browse(&h, 20, 1, t0);
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		syn_mx(&h, mx(200 + (unsigned)i), t0 + at[i]);
		mg_an_on_counters(an, h.key, &h.s, t0 + at[i]);
	}
	for (uint64_t t = t0 + 10 * SEC; t < t0 + 3 * HOUR; t += 37 * MIN + 123456789) {
		double want = 0;
		for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++)
			want += exp2(-(double)(t - t0 - at[i]) / half);
		mg_an_tick(an, t, acts, 1024);
		assert_true(mg_an_get(an, h.addr, &v));
		if (fabs(v.ev.long_mx - want) > 1e-5 * want)
			fail_msg("at %.3f s: long_mx %.7f, want %.7f", (double)(t - t0) / SEC, v.ev.long_mx, want);
	}
	/* Saved at t0 + 20.25 s, restored 1.5 s later by the wall clock, on a timeline 0.4 s further on. */
	uint8_t *buf;
	size_t len;
	uint64_t saved = t0 + 20 * SEC + 250000000;
	mg_an_tick(an, saved, acts, 1024);
	assert_int_equal(mg_an_save(an, saved, wall, &buf, &len), 0);
	struct mg_analyzer *r = mg_an_new(&cfg);
	mg_an_add_mail_server(r, &none);
	uint64_t now = saved + 1900000000;
	assert_int_equal(mg_an_restore(r, buf, len, now, wall + 1500000000, NULL), 0);
	free(buf);
	/* The timeline moved by 0.4 s: the memory is as it was at t - 0.4 s in the old one. */
	for (uint64_t t = now; t < now + 2 * HOUR; t += 29 * MIN + 7654321) {
		double want = 0;
		for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++)
			want += exp2(-(double)(t - 400000000 - t0 - at[i]) / half);
		mg_an_tick(r, t, acts, 1024);
		assert_true(mg_an_get(r, h.addr, &v));
		if (fabs(v.ev.long_mx - want) > 1e-5 * want)
			fail_msg("restored, at %.3f s: long_mx %.7f, want %.7f", (double)(t - t0) / SEC, v.ev.long_mx,
				 want);
	}
	mg_an_free(r);
	(void)hs;
}

static void test_long_memory_times(void **state)
{
	(void)state;
	check_long_memory_times(T0);
}

static void test_long_memory_times_near_boot(void **state)
{
	(void)state;
	check_long_memory_times(1); /* the first new MX 0.3 s after boot */
}

/*
 * The first SMTP time is kept to the second, rounded up: learning is never
 * early (at most a second late), near boot too, and across a save and
 * restore; a new sender stays one at most a second longer.
 */
static void check_first_smtp_coarse(uint64_t t0)
{
	struct host srv;
	const uint64_t first = t0 + 400000000; /* 0.4 s into a second */

	cfg.learning_ns = HOUR;
	cfg.learn_min_active_days = 1;
	reconfigure();
	host_init(&srv, "198.18.3.11", 3);
	session(&srv, mx(0), "mail.example.net", 1, first);
	scan_one(&srv, first);
	assert_true(mg_an_new_sender(an, srv.addr, first + cfg.window_ns - 1));
	assert_false(mg_an_new_sender(an, srv.addr, first + cfg.window_ns + SEC));
	/* A save and restore on the same clocks changes nothing. */
	struct mg_prefix none = { .prefixlen = 128 };
	struct mg_analyzer *r = saved_and_restored(&none, first + MIN);
	mg_an_free(an);
	an = r;
	uint64_t learned = 0;
	session(&srv, mx(1), "mail.example.net", 1, first + 30 * MIN);
	scan_one(&srv, first + 30 * MIN);
	/* News every 0.1 s around the hour (a RCPT counted: judged at each scan). */
	for (uint64_t t = first + HOUR - 2 * SEC; t < first + HOUR + 10 * SEC && !learned; t += 100000000) {
		srv.s.cmd[MG_CMD_RCPT]++;
		scan_one(&srv, t);
		if (find_action(MG_AN_PROMOTE, &srv))
			learned = t;
	}
	if (learned < first + HOUR || learned > first + HOUR + SEC)
		fail_msg("learned at %.3f s after the first SMTP", learned ? (double)(learned - first) / SEC : -1.0);
	assert_true(learned >= first + HOUR);
	assert_true(learned <= first + HOUR + SEC);
}

static void test_first_smtp_coarse(void **state)
{
	(void)state;
	check_first_smtp_coarse(T0);
}

static void test_first_smtp_coarse_near_boot(void **state)
{
	(void)state;
	check_first_smtp_coarse(0);
}

/*
 * Counts past 16 bits (a busy server's kernel counters, a flood within one
 * window) are kept whole: the record widens, and a save and restore keep
 * them whole too (no jump in the next scan's deltas).
 */
static void test_wide_counts(void **state)
{
	struct host srv;
	struct mg_an_profile_view v;
	struct mg_prefix pfx = { .prefixlen = 128 };

	(void)state;
	host_init(&srv, "198.18.2.25", 5);
	memcpy(pfx.addr, srv.addr, 16);
	mg_an_add_mail_server(an, &pfx);
	browse(&srv, 10, 0, T0);
	session(&srv, mx(0), "mx.example.net", 2, T0);
	scan_one(&srv, T0 + SEC);
	srv.s.cmd[MG_CMD_MAIL] += 99999;
	srv.s.cmd[MG_CMD_RCPT] += 150000;
	srv.s.syn_mx += 70000;
	scan_one(&srv, T0 + 2 * SEC);
	assert_true(mg_an_get(an, srv.addr, &v));
	assert_int_equal(v.role, MG_ROLE_MAIL_SERVER);
	assert_int_equal(v.ev.sessions, 100000);
	assert_int_equal(v.ev.rcpts, 150002);
	srv.s.cmd[MG_CMD_MAIL] += 5;
	scan_one(&srv, T0 + 3 * SEC);
	assert_true(mg_an_get(an, srv.addr, &v));
	assert_int_equal(v.ev.sessions, 100005);

	uint8_t *buf;
	size_t len;
	const uint64_t wall = 1800000000ull * SEC;
	assert_int_equal(mg_an_save(an, T0 + 3 * SEC, wall, &buf, &len), 0);
	struct mg_analyzer *b2 = mg_an_new(&cfg);
	mg_an_add_mail_server(b2, &pfx);
	assert_int_equal(mg_an_restore(b2, buf, len, T0 + 3 * SEC, wall, NULL), 0);
	srv.s.cmd[MG_CMD_MAIL] += 1;
	mg_an_on_counters(b2, srv.key, &srv.s, T0 + 4 * SEC);
	assert_true(mg_an_get(b2, srv.addr, &v));
	assert_int_equal(v.ev.sessions, 100006);
	assert_int_equal(v.ev.rcpts, 150002);
	mg_an_free(b2);
	free(buf);
}

/* A state saved at t and restored into a new analyzer at t, on the same wall clock (no shift). */
static struct mg_analyzer *saved_and_restored(const struct mg_prefix *server, uint64_t t)
{
	const uint64_t wall = 1800000000ull * SEC;
	uint8_t *buf;
	size_t len;

	assert_int_equal(mg_an_save(an, t, wall, &buf, &len), 0);
	struct mg_analyzer *b = mg_an_new(&cfg);
	assert_non_null(b);
	mg_an_add_mail_server(b, server);
	assert_int_equal(mg_an_restore(b, buf, len, t, wall, NULL), 0);
	free(buf);
	return b;
}

/*
 * The SMTP record keeps window counts and the kernel's counters in 8 bits
 * while they fit, and all of them in 32 once one does not: every figure
 * exact on both sides of the boundary (255/256; 65535/65536 too, where it
 * was before), with the next scan's delta exact too, and a save and restore
 * of either tier exact. t0 near boot and far from it.
 */
static void check_count_widths(uint64_t t0)
{
	struct host srv, srv2;
	struct host *hs[] = { &srv }, *hs2[] = { &srv2 };
	struct mg_an_profile_view v;
	struct mg_prefix pfx = { .prefixlen = 128 }, pfx2 = { .prefixlen = 128 };

	/* A window count across 255. */
	host_init(&srv, "198.18.2.25", 5);
	memcpy(pfx.addr, srv.addr, 16);
	mg_an_add_mail_server(an, &pfx);
	browse(&srv, 10, 0, t0);
	session(&srv, mx(0), "mx.example.net", 2, t0);
	scan(hs, 1, t0 + SEC);
	srv.s.cmd[MG_CMD_RCPT] += 253;
	scan(hs, 1, t0 + 2 * SEC);
	assert_true(mg_an_get(an, srv.addr, &v));
	assert_int_equal(v.ev.rcpts, 255);
	assert_int_equal(v.ev.sessions, 1);
	struct mg_analyzer *narrow = saved_and_restored(&pfx, t0 + 2 * SEC);
	srv.s.cmd[MG_CMD_RCPT] += 1;
	scan(hs, 1, t0 + 3 * SEC);
	assert_true(mg_an_get(an, srv.addr, &v));
	assert_int_equal(v.ev.rcpts, 256);
	assert_int_equal(v.ev.sessions, 1);
	assert_int_equal(v.ev.replies_2xx, 6);
	/* The restored narrow record widens the same way. */
	mg_an_on_counters(narrow, srv.key, &srv.s, t0 + 3 * SEC);
	assert_true(mg_an_get(narrow, srv.addr, &v));
	assert_int_equal(v.ev.rcpts, 256);
	mg_an_free(narrow);
	/* The wide record saved and restored, then counting on. */
	struct mg_analyzer *wide = saved_and_restored(&pfx, t0 + 3 * SEC);
	srv.s.cmd[MG_CMD_RCPT] += 1;
	mg_an_on_counters(wide, srv.key, &srv.s, t0 + 4 * SEC);
	assert_true(mg_an_get(wide, srv.addr, &v));
	assert_int_equal(v.ev.rcpts, 257);
	mg_an_free(wide);
	/*
	 * Past the window, the counts are back in range: figures stay exact
	 * (four: the one only the restored copy saw, and three more).
	 */
	srv.s.cmd[MG_CMD_RCPT] += 3;
	scan(hs, 1, t0 + 25 * MIN);
	assert_true(mg_an_get(an, srv.addr, &v));
	assert_int_equal(v.ev.rcpts, 4);

	/*
	 * A kernel counter across 255, then across 65535 (SYN-ACKs it served:
	 * no window count grows with them, so the counter alone decides).
	 */
	host_init(&srv2, "198.18.2.26", 6);
	memcpy(pfx2.addr, srv2.addr, 16);
	mg_an_add_mail_server(an, &pfx2);
	browse(&srv2, 10, 0, t0);
	srv2.s.synack_smtp = 254;
	scan(hs2, 1, t0 + SEC);
	srv2.s.synack_smtp = 255;
	scan(hs2, 1, t0 + 2 * SEC);
	assert_true(mg_an_get(an, srv2.addr, &v));
	assert_int_equal(v.serves_smtp, 255);
	narrow = saved_and_restored(&pfx2, t0 + 2 * SEC);
	srv2.s.synack_smtp = 256;
	scan(hs2, 1, t0 + 3 * SEC);
	srv2.s.synack_smtp = 257; /* a saturated or truncated last value would make this delta wrong */
	scan(hs2, 1, t0 + 4 * SEC);
	assert_true(mg_an_get(an, srv2.addr, &v));
	assert_int_equal(v.serves_smtp, 257);
	mg_an_on_counters(narrow, srv2.key, &srv2.s, t0 + 4 * SEC);
	assert_true(mg_an_get(narrow, srv2.addr, &v));
	assert_int_equal(v.serves_smtp, 257);
	mg_an_free(narrow);
	srv2.s.synack_smtp = 65535;
	scan(hs2, 1, t0 + 5 * SEC);
	srv2.s.synack_smtp = 65537;
	scan(hs2, 1, t0 + 6 * SEC);
	assert_true(mg_an_get(an, srv2.addr, &v));
	assert_int_equal(v.serves_smtp, 65537);
	wide = saved_and_restored(&pfx2, t0 + 6 * SEC);
	srv2.s.synack_smtp = 65540;
	mg_an_on_counters(wide, srv2.key, &srv2.s, t0 + 7 * SEC);
	assert_true(mg_an_get(wide, srv2.addr, &v));
	assert_int_equal(v.serves_smtp, 65540);
	mg_an_free(wide);
}

static void test_count_widths(void **state)
{
	(void)state;
	check_count_widths(T0);
}

static void test_count_widths_near_boot(void **state)
{
	(void)state;
	check_count_widths(2 * SEC);
}

/*
 * Hosts lists are pooled by size: a list that grows moves to a larger one
 * with its hosts, and the room it left goes to the next list of that size,
 * which shows its own host only.
 */
/* The list of h's profile in x: n hosts, the first (most recent) h with `sessions` sessions. */
static void check_first_host(struct mg_analyzer *x, const struct host *h, unsigned n, uint32_t sessions,
			     uint64_t first, uint64_t last)
{
	struct mg_an_profile_view v;

	assert_true(mg_an_get(x, h->addr, &v));
	assert_int_equal(v.ev.hosts.n, n);
	assert_int_equal(v.ev.hosts.more, 0);
	assert_memory_equal(v.ev.hosts.host[0].addr, h->addr, 16);
	assert_int_equal(v.ev.hosts.host[0].sessions, sessions);
	assert_int_equal(v.ev.hosts.host[0].first_seen_ns, first);
	assert_int_equal(v.ev.hosts.host[0].last_seen_ns, last);
	assert_memory_equal(v.ev.hosts.host[0].mac, h->s.mac, 6);
	assert_int_equal(v.ev.hosts.host[0].vlan_outer, h->s.vlan_outer);
}

/*
 * A one-host list is kept compact while its host's address shares its key's
 * first 64 bits (the rest of the address and the figures), and at full width
 * otherwise (a host of a /48 outside its ::/64): every figure shown exactly
 * either way, across a save and restore, and when a second host widens the
 * compact one. Near boot.
 */
static void test_hosts_one_host_compact(void **state)
{
	struct host c1, c2, f1, f2;
	const uint64_t t0 = 2 * SEC;
	const struct mg_prefix none = { .prefixlen = 128 };

	(void)state;
	cfg.v6_prefix = 48;
	reconfigure();
	host_init(&c1, "2001:db8:5::7", 1);        /* 2001:db8:5::/48, in its first /64: compact */
	host_init(&c2, "2001:db8:5:0:ffff::9", 2); /* a second host of it */
	host_init(&f1, "2001:db8:6:1::7", 3);      /* 2001:db8:6::/48, outside its first /64: full */
	host_init(&f2, "2001:db8:6:2::8", 4);
	c1.s.vlan_outer = 7;
	session(&c1, mx(0), "c1.example.net", 1, t0);
	session(&c1, mx(0), "c1.example.net", 1, t0 + 3 * SEC);
	session(&f1, mx(1), "f1.example.net", 1, t0 + SEC);
	check_first_host(an, &c1, 1, 2, t0, t0 + 3 * SEC);
	check_first_host(an, &f1, 1, 1, t0 + SEC, t0 + SEC);
	struct mg_analyzer *r = saved_and_restored(&none, t0 + 4 * SEC);
	check_first_host(r, &c1, 1, 2, t0, t0 + 3 * SEC);
	check_first_host(r, &f1, 1, 1, t0 + SEC, t0 + SEC);
	mg_an_free(r);
	/* A second host: the compact list widens with its host's figures whole. */
	session(&c2, mx(2), "c2.example.net", 1, t0 + 5 * SEC);
	session(&f2, mx(3), "f2.example.net", 1, t0 + 5 * SEC);
	check_first_host(an, &c2, 2, 1, t0 + 5 * SEC, t0 + 5 * SEC);
	check_first_host(an, &f2, 2, 1, t0 + 5 * SEC, t0 + 5 * SEC);
	struct mg_an_profile_view v;
	assert_true(mg_an_get(an, c1.addr, &v));
	assert_memory_equal(v.ev.hosts.host[1].addr, c1.addr, 16);
	assert_int_equal(v.ev.hosts.host[1].sessions, 2);
	assert_int_equal(v.ev.hosts.host[1].first_seen_ns, t0);
	assert_int_equal(v.ev.hosts.host[1].last_seen_ns, t0 + 3 * SEC);
	assert_int_equal(v.ev.hosts.host[1].vlan_outer, 7);
	r = saved_and_restored(&none, t0 + 6 * SEC);
	check_first_host(r, &c2, 2, 1, t0 + 5 * SEC, t0 + 5 * SEC);
	check_first_host(r, &f2, 2, 1, t0 + 5 * SEC, t0 + 5 * SEC);
	mg_an_free(r);
}

static void test_hosts_lists_reuse_room(void **state)
{
	struct host a1, a2, a3, b1;
	struct mg_an_profile_view v;

	(void)state;
	host_init(&a1, "2001:db8:1:1::1", 1);
	host_init(&a2, "2001:db8:1:1::2", 2);
	host_init(&a3, "2001:db8:1:1::3", 3);
	host_init(&b1, "2001:db8:2:2::1", 4);
	const uint64_t t0 = 3 * SEC;
	session(&a1, mx(0), "a1.example", 1, t0);
	session(&a2, mx(1), "a2.example", 1, t0 + SEC);     /* one to two: the one-host room is let go */
	session(&b1, mx(2), "b1.example", 1, t0 + 2 * SEC); /* and taken here */
	session(&a3, mx(3), "a3.example", 1, t0 + 3 * SEC); /* two to four */
	assert_true(mg_an_get(an, b1.addr, &v));
	assert_int_equal(v.ev.hosts.n, 1);
	assert_memory_equal(v.ev.hosts.host[0].addr, b1.addr, 16);
	assert_int_equal(v.ev.hosts.host[0].sessions, 1);
	assert_int_equal(v.ev.hosts.host[0].first_seen_ns, t0 + 2 * SEC);
	assert_int_equal(v.ev.hosts.host[0].mac[5], 4);
	assert_true(mg_an_get(an, a1.addr, &v));
	assert_int_equal(v.ev.hosts.n, 3);
	assert_memory_equal(v.ev.hosts.host[0].addr, a3.addr, 16);
	assert_memory_equal(v.ev.hosts.host[1].addr, a2.addr, 16);
	assert_memory_equal(v.ev.hosts.host[2].addr, a1.addr, 16);
	assert_int_equal(v.ev.hosts.host[2].first_seen_ns, t0);
	assert_int_equal(v.ev.hosts.host[1].mac[5], 2);
}

/* ---- expiry and repeat offenders ----------------------------------------------------- */

static void test_expiry_and_escalation(void **state)
{
	struct host bot;
	uint64_t t = T0;
	/* 1 h, 4 h, 16 h, 64 h, then the 7-day cap */
	const uint64_t expect[] = { HOUR, 4 * HOUR, 16 * HOUR, 64 * HOUR, 7 * DAY, 7 * DAY };

	(void)state;
	host_init(&bot, "198.18.4.9", 9);
	for (unsigned k = 0; k < 6; k++) {
		bot_burst(&bot, 6, t);
		t += SEC;
		scan_one(&bot, t);
		const struct mg_an_action *b = find_action(MG_AN_BLOCK, &bot);
		assert_non_null(b);
		assert_int_equal(b->offence, k + 1);
		assert_int_equal(b->expires_ns - t, expect[k]);
		uint64_t until = b->expires_ns;

		/* Nothing happens before the expiry... */
		scan_one(&bot, until - SEC);
		assert_int_equal(nacts, 0);
		/* ...and at it, the rule goes. */
		t = until;
		scan_one(&bot, t);
		const struct mg_an_action *u = find_action(MG_AN_UNBLOCK, &bot);
		assert_non_null(u);
		assert_string_equal(u->ev.rule, "expired");
		assert_int_not_equal(role_of(&bot), MG_ROLE_BLOCKED);
		/* The old evidence does not block it again by itself. */
		scan_one(&bot, t + SEC);
		assert_int_equal(nacts, 0);
		t += 2 * SEC;
	}

	/* A clean week (the longest block) later, the record is forgiven. */
	t += 7 * DAY + HOUR;
	bot_burst(&bot, 6, t);
	scan_one(&bot, t + SEC);
	const struct mg_an_action *b = find_action(MG_AN_BLOCK, &bot);
	assert_non_null(b);
	assert_int_equal(b->offence, 1);
	assert_int_equal(b->expires_ns - (t + SEC), HOUR);
}

/* A block shorter than the window: when it ends, the evidence that caused it is gone with it. */
static void test_short_block_old_evidence_cleared(void **state)
{
	struct host bot;

	(void)state;
	cfg.block_ns = 2 * MIN;
	reconfigure();
	host_init(&bot, "198.18.4.9", 9);
	bot_burst(&bot, 6, T0);
	scan_one(&bot, T0 + SEC);
	const struct mg_an_action *b = find_action(MG_AN_BLOCK, &bot);
	assert_non_null(b);
	uint64_t until = b->expires_ns;
	assert_int_equal(until, T0 + SEC + 2 * MIN);
	scan_one(&bot, until);
	assert_non_null(find_action(MG_AN_UNBLOCK, &bot));
	/* One ordinary session after the block is judged on its own, not with the burst before it. */
	session(&bot, mx(0), "bot.example.net", 1, until + SEC);
	scan_one(&bot, until + SEC);
	assert_int_equal(nacts, 0);
	/* New spam after the block is new evidence: blocked again, as a repeat offender. */
	bot_burst(&bot, 6, until + 2 * SEC);
	scan_one(&bot, until + 3 * SEC);
	b = find_action(MG_AN_BLOCK, &bot);
	assert_non_null(b);
	assert_int_equal(b->offence, 2);
	assert_int_equal(b->expires_ns - (until + 3 * SEC), 8 * MIN);
}

/* A HELO that changes on every connection scores; the same pattern with a steady name does not. */
static void test_helo_varies(void **state)
{
	struct host steady, varies;
	struct host *hs[] = { &steady, &varies };
	char name[32];
	struct mg_an_profile_view vs, vv;

	(void)state;
	host_init(&steady, "198.18.1.2", 1);
	host_init(&varies, "198.18.1.3", 2);
	browse(&steady, 10, 0, T0);
	browse(&varies, 10, 0, T0);
	for (unsigned i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "h%u.example.net", i);
		session(&steady, mx(i % 2), "pc.example.net", 1, T0 + i * 10 * SEC);
		session(&varies, mx(i % 2), name, 1, T0 + i * 10 * SEC);
	}
	scan(hs, 2, T0 + MIN);
	assert_true(mg_an_get(an, steady.addr, &vs));
	assert_true(mg_an_get(an, varies.addr, &vv));
	assert_int_equal(vs.ev.distinct_helos, 1);
	assert_int_equal(vv.ev.distinct_helos, 6);
	assert_true(vv.score - vs.score > cfg.w_helo_varies - 0.001);
	assert_true(vv.score - vs.score < cfg.w_helo_varies + 0.001);
}

/* A raised threat level tightens the thresholds for hosts: what passed at level 0 is blocked at 5. */
static void test_threat_level_tightens(void **state)
{
	struct host pc, srv;
	struct host *hs[] = { &pc, &srv };
	struct mg_prefix p;

	(void)state;
	host_init(&pc, "198.18.1.2", 1);
	host_init(&srv, "198.18.3.20", 4);
	assert_int_equal(mg_prefix_parse("198.18.3.20", &p), 0);
	mg_an_add_mail_server(an, &p);
	browse(&pc, 10, 0, T0);
	/* Bare-word HELO (3) to 4 MX hosts (2): score 5, an alert at level 0, no verdict. */
	for (unsigned i = 0; i < 4; i++) {
		session(&pc, mx(i), "DESKTOP-X", 1, T0 + i * SEC);
		session(&srv, mx(i), "[198.18.3.20]", 1, T0 + i * SEC);
	}
	scan(hs, 2, T0 + 5 * SEC);
	assert_int_equal(count_actions(MG_AN_BLOCK), 0);
	assert_true(mg_an_new_sender(an, pc.addr, T0 + 5 * SEC));
	assert_false(mg_an_new_sender(an, srv.addr, T0 + 5 * SEC)); /* configured: never a new sender */
	assert_false(mg_an_new_sender(an, pc.addr, T0 + 20 * MIN));  /* past the window */

	mg_an_set_threat(an, 5); /* block at 5 instead of 10 */
	scan(hs, 2, T0 + 6 * SEC);
	assert_non_null(find_action(MG_AN_BLOCK, &pc));
	assert_null(find_action(MG_AN_BLOCK, &srv));
	assert_int_equal(role_of(&srv), MG_ROLE_MAIL_SERVER);
}

static void test_pardon(void **state)
{
	struct host bot;
	struct mg_prefix p;

	(void)state;
	host_init(&bot, "198.18.4.9", 9);
	bot_burst(&bot, 6, T0);
	scan_one(&bot, T0 + SEC);
	assert_non_null(find_action(MG_AN_BLOCK, &bot));
	assert_int_equal(mg_prefix_parse("198.18.4.0/24", &p), 0);
	assert_false(mg_an_pardon(an, &p, T0 + 2 * SEC)); /* not that profile */
	assert_int_equal(mg_prefix_parse("198.18.4.9", &p), 0);
	assert_true(mg_an_pardon(an, &p, T0 + 2 * SEC));
	assert_false(mg_an_pardon(an, &p, T0 + 2 * SEC)); /* nothing left to lift */
	assert_int_not_equal(role_of(&bot), MG_ROLE_BLOCKED);
	scan_one(&bot, T0 + 3 * SEC);
	assert_int_equal(count_actions(MG_AN_BLOCK), 0);
	assert_int_equal(count_actions(MG_AN_UNBLOCK), 0); /* the operator already removed the rule */
}

/* ---- IPv6 ---------------------------------------------------------------------------- */

static void test_ipv6_aggregation(void **state)
{
	struct host a1, a2, other;
	struct host *hs[] = { &a1, &a2, &other };
	char helo[] = "DESKTOP-X";

	(void)state;
	host_init(&a1, "2001:db8:1:2::10", 1);
	host_init(&a2, "2001:db8:1:2:ffff::20", 2);
	host_init(&other, "2001:db8:1:3::10", 3);
	/* Two addresses of one /64 share the kernel's profile: their counters are one. */
	for (unsigned i = 0; i < 4; i++) {
		session(&a1, mx(i), helo, 2, T0 + i * SEC);
		session(&a2, mx(i + 4), helo, 2, T0 + i * SEC);
	}
	a2.s.syn_mx += a1.s.syn_mx; /* the kernel counts both in one entry */
	for (int c = 0; c < MG_CMD_MAX; c++)
		a2.s.cmd[c] += a1.s.cmd[c];
	a2.s.mx_dst_bits |= a1.s.mx_dst_bits;
	session(&other, mx(1), "pc.example.net", 1, T0);
	struct host *kernel_view[] = { &a2, &other };
	scan(kernel_view, 2, T0 + 5 * SEC);

	struct mg_an_profile_view v1, v2, v3;
	uint8_t probe[16];
	assert_true(mg_an_get(an, a1.addr, &v1));
	assert_true(mg_an_get(an, a2.addr, &v2));
	assert_int_equal(mg_addr_parse("2001:db8:1:2::77", probe), 0);
	assert_true(mg_an_get(an, probe, &v3));
	assert_memory_equal(v1.prefix.addr, v2.prefix.addr, 16);
	assert_int_equal(v1.prefix.prefixlen, 64);
	assert_int_equal(v3.role, v1.role);
	size_t by[MG_ROLE_MAX];
	assert_int_equal(mg_an_count(an, by), 2);

	const struct mg_an_action *b = find_action(MG_AN_BLOCK, &a1);
	assert_non_null(b);
	assert_int_equal(b->prefix.prefixlen, 64);
	char buf[MG_ADDRSTRLEN];
	assert_string_equal(mg_prefix_str(&b->prefix, buf, sizeof(buf)), "2001:db8:1:2::/64");
	assert_null(find_action(MG_AN_BLOCK, &other));
	/* The verdict on the /64 names the hosts seen in it, the most recent first. */
	assert_int_equal(b->ev.hosts.n, 2);
	assert_memory_equal(b->ev.hosts.host[0].addr, a2.addr, 16);
	assert_memory_equal(b->ev.hosts.host[1].addr, a1.addr, 16);
	assert_int_equal(b->ev.hosts.host[1].sessions, 4);
	assert_int_equal(b->ev.hosts.host[1].mac[5], 1);
	assert_int_equal(b->ev.hosts.more, 0);
	(void)hs;
}

/*
 * The hosts inside a profile keyed by a prefix: most recent first, each with
 * its sessions, MAC and times; past MG_AN_HOSTS the least recent is let go
 * and counted. A profile of one address (IPv4, a LAN keyed per host) lists
 * none: the profile is the host.
 */
static void test_prefix_profile_lists_its_hosts(void **state)
{
	struct host h[MG_AN_HOSTS + 3], v4, lanpc;
	struct mg_an_profile_view v;
	char ip[MG_ADDRSTRLEN];

	(void)state;
	struct mg_v6_net lan = { .prefixlen = 64, .aggregation = 128 };
	assert_int_equal(mg_addr_parse("2001:db8:10::", lan.addr), 0);
	cfg.v6_nets[0] = lan;
	cfg.n_v6_nets = 1;
	reconfigure();
	for (unsigned i = 0; i < MG_AN_HOSTS + 3; i++) {
		snprintf(ip, sizeof(ip), "2001:db8:1:2::%x", i + 1);
		host_init(&h[i], ip, (uint8_t)(i + 1));
	}
	/* Near boot on purpose: times are small and must not read as "never". */
	const uint64_t t0 = 2 * SEC;
	session(&h[0], mx(0), "a.example", 1, t0);
	session(&h[1], mx(1), "b.example", 1, t0 + SEC);
	session(&h[0], mx(2), "a.example", 1, t0 + 2 * SEC);
	session(&h[2], mx(3), "c.example", 1, t0 + 3 * SEC);
	assert_true(mg_an_get(an, h[1].addr, &v));
	assert_int_equal(v.prefix.prefixlen, 64);
	assert_int_equal(v.ev.hosts.n, 3);
	assert_memory_equal(v.ev.hosts.host[0].addr, h[2].addr, 16);
	assert_memory_equal(v.ev.hosts.host[1].addr, h[0].addr, 16);
	assert_memory_equal(v.ev.hosts.host[2].addr, h[1].addr, 16);
	assert_int_equal(v.ev.hosts.host[1].sessions, 2);
	assert_int_equal(v.ev.hosts.host[1].first_seen_ns, t0);
	assert_int_equal(v.ev.hosts.host[1].last_seen_ns, t0 + 2 * SEC);
	assert_int_equal(v.ev.hosts.host[1].mac[5], 1);
	assert_int_equal(v.ev.hosts.host[1].vlan_outer, 42);
	assert_int_equal(v.ev.hosts.more, 0);

	/* Eight more hosts: eleven in all, the eight most recent listed, three let go. */
	for (unsigned i = 3; i < MG_AN_HOSTS + 3; i++)
		session(&h[i], mx(i % 6), "d.example", 1, t0 + (10 + i) * SEC);
	assert_true(mg_an_get(an, h[0].addr, &v));
	assert_int_equal(v.ev.hosts.n, MG_AN_HOSTS);
	assert_int_equal(v.ev.hosts.more, 3);
	assert_memory_equal(v.ev.hosts.host[0].addr, h[MG_AN_HOSTS + 2].addr, 16);
	assert_memory_equal(v.ev.hosts.host[MG_AN_HOSTS - 1].addr, h[3].addr, 16);

	/* A saved state carries the list (since version 4; 5 now); a restore after a reboot moves its times. */
	uint8_t *buf;
	size_t len;
	const uint64_t wall = 1800000000ull * SEC;
	assert_int_equal(mg_an_save(an, t0 + MIN, wall, &buf, &len), 0);
	assert_int_equal(u32_at(buf, 4), 5);
	struct mg_analyzer *b2 = mg_an_new(&cfg);
	assert_int_equal(mg_an_restore(b2, buf, len, 30 * SEC, wall + MIN, NULL), 0);
	struct mg_an_profile_view r;
	assert_true(mg_an_get(b2, h[0].addr, &r));
	assert_int_equal(r.ev.hosts.n, MG_AN_HOSTS);
	assert_int_equal(r.ev.hosts.more, 3);
	assert_memory_equal(r.ev.hosts.host[0].addr, h[MG_AN_HOSTS + 2].addr, 16);
	/* Saved a minute after t0, restored at 30 s after a minute down: two minutes earlier on this clock. */
	uint64_t before = v.ev.hosts.host[0].last_seen_ns, after = r.ev.hosts.host[0].last_seen_ns;
	assert_true(after >= 1 && after < before);
	/* A host outside the profile's prefix is refused with the record, and said so. */
	for (size_t off = 0; off + 16 <= len; off++)
		if (!memcmp(buf + off, h[MG_AN_HOSTS + 2].addr, 16)) {
			buf[off + 5] ^= 0x40; /* 2001:db8:1:2:: becomes 2001:db8:41:2:: */
			break;
		}
	struct mg_an_restore_report rep;
	assert_int_equal(mg_an_restore(b2, buf, len, 30 * SEC, wall + MIN, &rep), 0);
	assert_int_equal(rep.refused, 1);
	assert_non_null(strstr(rep.first_refusal, "outside its profile's prefix"));
	assert_false(mg_an_get(b2, h[0].addr, &r));
	free(buf);
	mg_an_free(b2);

	/* A profile of one address has no list. */
	host_init(&v4, "198.18.4.9", 9);
	host_init(&lanpc, "2001:db8:10::2", 2);
	session(&v4, mx(0), "v4.example", 1, t0);
	session(&lanpc, mx(0), "pc.example", 1, t0);
	assert_true(mg_an_get(an, v4.addr, &v));
	assert_int_equal(v.ev.hosts.n, 0);
	assert_true(mg_an_get(an, lanpc.addr, &v));
	assert_int_equal(v.prefix.prefixlen, 128);
	assert_int_equal(v.ev.hosts.n, 0);
}

/*
 * A bot on an office LAN (a protected /64, keyed per host as the kernel keys
 * it too): its verdict covers the bot, not the PC beside it; a source in an
 * ISP's range (no protected network) is still one /64.
 */
static void test_ipv6_lan_verdict_covers_only_the_host(void **state)
{
	struct host bot, pc, isp;
	struct host *hs[] = { &bot, &pc, &isp };
	struct mg_an_profile_view v;
	char buf[MG_ADDRSTRLEN];

	(void)state;
	struct mg_v6_net lan = { .prefixlen = 64, .aggregation = 128 };
	assert_int_equal(mg_addr_parse("2001:db8:10::", lan.addr), 0);
	cfg.v6_nets[0] = lan;
	cfg.n_v6_nets = 1;
	reconfigure();
	host_init(&bot, "2001:db8:10::3", 3);
	host_init(&pc, "2001:db8:10::2", 2);
	host_init(&isp, "2001:db8:99::7", 7);
	/* The kernel's keys, by the same rule. */
	memcpy(bot.key, bot.addr, 16);
	memcpy(pc.key, pc.addr, 16);
	browse(&pc, 30, 2, T0);
	browse(&bot, 30, 2, T0);
	scan(hs, 3, T0);
	bot_burst(&bot, 8, T0 + MIN);
	bot_burst(&isp, 8, T0 + MIN);
	scan(hs, 3, T0 + MIN + 10 * SEC);
	const struct mg_an_action *b = find_action(MG_AN_BLOCK, &bot);
	assert_non_null(b);
	assert_int_equal(b->prefix.prefixlen, 128);
	assert_string_equal(mg_prefix_str(&b->prefix, buf, sizeof(buf)), "2001:db8:10::3");
	assert_null(find_action(MG_AN_BLOCK, &pc));
	assert_int_equal(role_of(&pc), MG_ROLE_END_HOST);
	assert_true(mg_an_get(an, pc.addr, &v));
	assert_int_equal(v.prefix.prefixlen, 128);
	/* Outside the LAN: per /64, as before. */
	const struct mg_an_action *bi = find_action(MG_AN_BLOCK, &isp);
	assert_non_null(bi);
	assert_string_equal(mg_prefix_str(&bi->prefix, buf, sizeof(buf)), "2001:db8:99::/64");
	/* A pardon names the profile as the verdict printed it. */
	struct mg_prefix pp;
	assert_int_equal(mg_prefix_parse("2001:db8:10::3", &pp), 0);
	assert_true(mg_an_pardon(an, &pp, T0 + 2 * MIN));
}

static void test_ipv6_aggregation_configurable(void **state)
{
	struct host a;
	struct mg_an_profile_view v;
	uint8_t probe[16];

	(void)state;
	cfg.v6_prefix = 56;
	reconfigure();
	host_init(&a, "2001:db8:1:2::10", 1);
	session(&a, mx(1), "pc.example.net", 1, T0);
	assert_int_equal(mg_addr_parse("2001:db8:1:ff::1", probe), 0); /* same /56 */
	assert_true(mg_an_get(an, probe, &v));
	assert_int_equal(v.prefix.prefixlen, 56);
	assert_int_equal(mg_addr_parse("2001:db8:1:100::1", probe), 0); /* next /56 */
	assert_false(mg_an_get(an, probe, &v));
}

/* ---- robustness ---------------------------------------------------------------------- */

/* The kernel's LRU recreated the entry: counters start again from zero, nothing goes negative. */
static void test_counter_reset(void **state)
{
	struct host pc;

	(void)state;
	host_init(&pc, "198.18.1.2", 1);
	browse(&pc, 1000, 0, T0);
	for (unsigned i = 0; i < 2; i++)
		session(&pc, mx(0), "pc.example.net", 1, T0);
	scan_one(&pc, T0);
	memset(pc.s.cmd, 0, sizeof(pc.s.cmd));
	pc.s.syn_mx = 0;
	pc.s.syn_other = 3;
	pc.s.mx_dst_bits = 0;
	session(&pc, mx(0), "pc.example.net", 1, T0 + SEC);
	scan_one(&pc, T0 + SEC);
	assert_int_equal(count_actions(MG_AN_BLOCK), 0);
	struct mg_an_profile_view v;
	assert_true(mg_an_get(an, pc.addr, &v));
	assert_int_equal(v.ev.sessions, 3);
	assert_true(v.score < cfg.alert_score);
}

/* More verdicts than room for actions: the rest come with the next ticks, none lost. */
static void test_action_buffer_small(void **state)
{
	struct host bots[30];
	struct host *hs[30];
	char ip[20];
	size_t total = 0;

	(void)state;
	cfg.max_new_blocks_per_min = 1000;
	reconfigure();
	for (int i = 0; i < 30; i++) {
		snprintf(ip, sizeof(ip), "198.18.8.%d", i + 1);
		host_init(&bots[i], ip, (uint8_t)i);
		hs[i] = &bots[i];
		bot_burst(&bots[i], 6, T0);
	}
	for (int k = 0; k < 5; k++) {
		size_t n = scan_n(hs, k == 0 ? 30 : 0, T0 + (uint64_t)(k + 1) * SEC, 8);
		assert_true(n <= 8);
		total += count_actions(MG_AN_BLOCK);
	}
	assert_int_equal(total, 30);
}

static void test_idle_profiles_forgotten(void **state)
{
	struct host pc;
	struct host *hs[] = { &pc };
	struct mg_an_profile_view v;

	(void)state;
	host_init(&pc, "198.18.1.2", 1);
	browse(&pc, 5, 0, T0);
	scan(hs, 1, T0);
	assert_true(mg_an_get(an, pc.addr, &v));
	for (int i = 1; i <= 20; i++)
		scan(hs, 0, T0 + 31 * DAY + (uint64_t)i * SEC);
	assert_false(mg_an_get(an, pc.addr, &v));
}

/*
 * The daemon ticks every second whether anything happened or not: a tick on
 * an analyzer that never had a profile to evaluate must be clean (the
 * sanitizer build aborts on a memmove from a NULL pointer, even of 0 bytes).
 */
static void test_idle_tick_of_an_empty_analyzer(void **state)
{
	struct mg_an_action out[4];

	(void)state;
	for (int i = 1; i <= 3; i++)
		assert_int_equal(mg_an_tick(an, T0 + (uint64_t)i * SEC, out, 4), 0);
	assert_int_equal(mg_an_count(an, (size_t[MG_ROLE_MAX]){ 0 }), 0);
}

/* ---- persistence --------------------------------------------------------------------- */

/*
 * A save in slices: with nothing changing between steps it is the whole
 * save, byte for byte; a profile changed after the save began is saved as
 * its step found it and restores (every time in a record is at or before
 * finish's time); one created ahead of the cursor is in it; a record saved
 * twice (freed behind the cursor, made again ahead) restores once, the
 * first, and the second is counted as refused. Near boot too.
 */
static void test_save_in_slices(void **state)
{
	const uint64_t wall = 1800000000ull * SEC;
	uint64_t starts[] = { 2 * SEC, T0 };

	(void)state;
	for (size_t k = 0; k < sizeof(starts) / sizeof(starts[0]); k++) {
		uint64_t t = starts[k];
		struct host h[40];
		struct host *hs[40];
		mg_an_free(an);
		an = mg_an_new(&cfg);
		for (int i = 0; i < 40; i++) {
			char ip[32];
			snprintf(ip, sizeof(ip), "198.18.6.%d", i + 1);
			host_init(&h[i], ip, (uint8_t)(i + 1));
			browse(&h[i], 3, 1, t);
			if (i % 4 == 0)
				bot_burst(&h[i], 2, t);
			hs[i] = &h[i];
		}
		scan(hs, 30, t + SEC);

		uint8_t *whole, *sliced;
		size_t wlen, slen;
		struct mg_an_saver sv;
		assert_int_equal(mg_an_save(an, t + 2 * SEC, wall, &whole, &wlen), 0);
		assert_int_equal(mg_an_save_begin(an, &sv, t + 2 * SEC, wall), 0);
		int r, steps = 0;
		while ((r = mg_an_save_step(an, &sv, 7, t + 2 * SEC)) == 0)
			steps++;
		assert_int_equal(r, 1);
		assert_true(steps >= 4);
		assert_int_equal(mg_an_save_finish(&sv, &sliced, &slen), 0);
		assert_int_equal(slen, wlen);
		assert_memory_equal(sliced, whole, wlen);
		free(sliced);

		/* Taken in pieces as it is made (as the engine hands them on): the same bytes, joined. */
		uint8_t *joined = malloc(wlen), *piece;
		size_t have = 0, plen;
		assert_int_equal(mg_an_save_begin(an, &sv, t + 2 * SEC, wall), 0);
		while ((r = mg_an_save_step(an, &sv, 3, t + 2 * SEC)) == 0) {
			mg_an_save_take(&sv, &piece, &plen);
			assert_true(have + plen <= wlen);
			memcpy(joined + have, piece, plen);
			have += plen;
			free(piece);
		}
		assert_int_equal(mg_an_save_finish(&sv, &piece, &plen), 0);
		assert_int_equal(have + plen, wlen);
		memcpy(joined + have, piece, plen);
		assert_memory_equal(joined, whole, wlen);
		free(piece);
		free(joined);
		free(whole);

		/* Changes between steps: a profile ahead of the cursor seen again later, ten new ones created. */
		assert_int_equal(mg_an_save_begin(an, &sv, t + 2 * SEC, wall), 0);
		assert_int_equal(mg_an_save_step(an, &sv, 10, t + 2 * SEC), 0);
		browse(&h[25], 5, 0, t + 3 * SEC);
		scan(hs, 40, t + 3 * SEC);
		while ((r = mg_an_save_step(an, &sv, 10, t + 3 * SEC)) == 0)
			;
		assert_int_equal(r, 1);
		assert_int_equal(mg_an_save_finish(&sv, &sliced, &slen), 0);
		/* The save is as of its begin (t + 2 s, wall); restored a second of wall time later. */
		struct mg_analyzer *b = mg_an_new(&cfg);
		struct mg_an_restore_report rep;
		assert_int_equal(mg_an_restore(b, sliced, slen, t + 3 * SEC, wall + SEC, &rep), 0);
		assert_int_equal(rep.refused, 0);
		assert_int_equal(mg_an_count(b, (size_t[MG_ROLE_MAX]){ 0 }), 40);
		struct mg_an_profile_view v, w;
		assert_true(mg_an_get(b, h[25].addr, &v));
		assert_true(mg_an_get(an, h[25].addr, &w));
		assert_int_equal(v.last_seen_ns, w.last_seen_ns);
		mg_an_free(b);

		/*
		 * Every record twice over (the header is 40 bytes; the end
		 * record, 64, counts them at its byte 16): restored once, the
		 * second refused.
		 */
		uint32_t count;
		const size_t first = 40, end = 64, rec = slen - first - end;
		memcpy(&count, sliced + slen - end + 16, 4);
		assert_int_equal(count, 40);
		uint8_t *twice = malloc(slen + rec);
		memcpy(twice, sliced, first + rec);
		memcpy(twice + first + rec, sliced + first, rec);
		memcpy(twice + first + 2 * rec, sliced + first + rec, end);
		count *= 2;
		memcpy(twice + slen + rec - end + 16, &count, 4);
		b = mg_an_new(&cfg);
		assert_int_equal(mg_an_restore(b, twice, slen + rec, t + 3 * SEC, wall, &rep), 0);
		assert_int_equal(rep.refused, 40);
		if (!strstr(rep.first_refusal, "a second record for one source"))
			fail_msg("first refusal: %s", rep.first_refusal);
		assert_int_equal(mg_an_count(b, (size_t[MG_ROLE_MAX]){ 0 }), 40);
		mg_an_free(b);
		free(twice);
		free(sliced);
	}
}


/* The two sources most save tests start from: a bot blocked at the scan, and an end host that browsed. */
static void bot_and_end_host(struct host *bot, struct host *pc)
{
	struct host *hs[] = { bot, pc };

	host_init(bot, "198.18.4.9", 9);
	host_init(pc, "198.18.1.2", 1);
	browse(pc, 10, 1, T0);
	bot_burst(bot, 6, T0);
	scan(hs, 2, T0 + SEC);
}

static void test_save_restore(void **state)
{
	struct host bot, pc;
	uint8_t *buf;
	size_t len;
	const uint64_t wall = 1800000000ull * SEC;

	(void)state;
	bot_and_end_host(&bot, &pc);
	const struct mg_an_action *b = find_action(MG_AN_BLOCK, &bot);
	assert_non_null(b);
	uint64_t until = b->expires_ns;
	struct mg_an_profile_view before_save;
	assert_true(mg_an_get(an, bot.addr, &before_save));
	assert_true(before_save.ev.long_mx >= 5);
	assert_int_equal(mg_an_save(an, T0 + 2 * SEC, wall, &buf, &len), 0);

	/* A reboot: the monotonic clock starts again near zero; ten minutes of wall time passed. */
	struct mg_analyzer *b2 = mg_an_new(&cfg);
	const uint64_t boot_now = 50 * SEC;
	assert_int_equal(mg_an_restore(b2, buf, len, boot_now, wall + 10 * MIN, NULL), 0);
	struct mg_an_profile_view v;
	assert_true(mg_an_get(b2, bot.addr, &v));
	assert_int_equal(v.role, MG_ROLE_BLOCKED);
	assert_int_equal(v.offences, 1);
	assert_string_equal(v.ev.helo, "[198.18.4.9]");
	/* The longer memory comes back, aged by the ten minutes down (and the second before the save). */
	double aged = before_save.ev.long_mx * exp2(-(double)(10 * MIN + SEC) / (double)cfg.long_half_life_ns);
	assert_true(fabs(v.ev.long_mx - aged) < 0.01);
	assert_true(v.ev.long_sessions > 0);
	/* The block keeps what was left of it, less the ten minutes down. */
	assert_int_equal(v.blocked_until_ns - boot_now, until - (T0 + 2 * SEC) - 10 * MIN);
	assert_true(mg_an_get(b2, pc.addr, &v));
	assert_int_equal(v.role, MG_ROLE_END_HOST);

	/* The restored verdict expires on time. */
	struct mg_an_action out[8];
	size_t n = mg_an_tick(b2, boot_now + HOUR - 10 * MIN - SEC, out, 8);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].kind, MG_AN_UNBLOCK);

	/* A state of the previous version (2: no longer memory) is refused whole, changing nothing. */
	uint32_t version = 2;
	memcpy(buf + 4, &version, 4);
	assert_int_equal(mg_an_restore(b2, buf, len, boot_now, wall + 10 * MIN, NULL), -EINVAL);
	assert_true(mg_an_get(b2, bot.addr, &v));
	version = 5;
	memcpy(buf + 4, &version, 4);

	/* Damaged buffers are refused: one whose header says so changes nothing... */
	size_t before = mg_an_count(b2, (size_t[MG_ROLE_MAX]){ 0 });
	assert_int_equal(mg_an_restore(b2, buf, 10, boot_now, wall, NULL), -EINVAL);
	buf[0] ^= 0xff;
	assert_int_equal(mg_an_restore(b2, buf, len, boot_now, wall, NULL), -EINVAL);
	buf[0] ^= 0xff;
	assert_int_equal(mg_an_count(b2, (size_t[MG_ROLE_MAX]){ 0 }), before);
	assert_true(mg_an_get(b2, pc.addr, &v));
	/* ...one found cut short or too long part-way leaves no profile: what was restored of it goes. */
	assert_int_equal(mg_an_restore(b2, buf, len - 1, boot_now, wall, NULL), -EINVAL);
	assert_int_equal(mg_an_count(b2, (size_t[MG_ROLE_MAX]){ 0 }), 0);
	assert_int_equal(mg_an_restore(b2, buf, len, boot_now, wall, NULL), 0);
	assert_int_equal(mg_an_count(b2, (size_t[MG_ROLE_MAX]){ 0 }), before);
	uint8_t *longer = malloc(len + 4);
	memcpy(longer, buf, len);
	memset(longer + len, 0, 4);
	assert_int_equal(mg_an_restore(b2, longer, len + 4, boot_now, wall, NULL), -EINVAL);
	free(longer);
	assert_int_equal(mg_an_count(b2, (size_t[MG_ROLE_MAX]){ 0 }), 0);
	assert_false(mg_an_get(b2, pc.addr, &v));

	/* And a restored profile keeps counting from the kernel's counters, not from zero. */
	assert_int_equal(mg_an_restore(b2, buf, len, boot_now, wall, NULL), 0);
	mg_an_on_counters(b2, pc.key, &pc.s, boot_now + SEC);
	assert_true(mg_an_get(b2, pc.addr, &v));
	assert_int_equal(v.ev.sessions, 0);
	free(buf);
	mg_an_free(b2);
}

/*
 * The saved format, as far as these tests reach into it (mg_analyzer.c,
 * "persistence"): a 40-byte header (saved_mono at 16), then per source a
 * 64-byte profile (key at 0, first_seen at 16, smtp at 56, role at 60,
 * flags at 62), followed by the SMTP record (smtp_size, at 12 in the
 * header) when smtp is 1, then a 64-byte end record (its kind where a
 * profile has smtp, the count of profiles at 16). In the SMTP record, the HELO text is preceded by
 * its length 15 bytes before it and the role-change count 3 bytes before it.
 */
#define HDR_SIZE 40
#define PROF_SIZE 64
#define END_SIZE 64

static uint32_t u32_at(const uint8_t *b, size_t off)
{
	uint32_t v;
	memcpy(&v, b + off, 4);
	return v;
}

/*
 * The end record of a state saved as it is made (version 5): without it,
 * with a count that does not match, with anything after it, or with a
 * header that counts (only version 4 does), the whole is refused and no
 * profile is left; the same records as version 4 (the count in the header,
 * no end record), as the daemon wrote before, still restore.
 */
static void test_save_end_record(void **state)
{
	struct host bot, pc;
	const uint64_t wall = 1800000000ull * SEC;
	uint8_t *buf;
	size_t len;
	uint32_t v;

	(void)state;
	bot_and_end_host(&bot, &pc);
	assert_int_equal(mg_an_save(an, T0 + 2 * SEC, wall, &buf, &len), 0);
	assert_int_equal(u32_at(buf, 4), 5);
	assert_int_equal(u32_at(buf, 32), 0);
	assert_int_equal(u32_at(buf, len - END_SIZE + 16), 2);
	struct mg_analyzer *b = mg_an_new(&cfg);
	assert_int_equal(mg_an_restore(b, buf, len, T0 + 3 * SEC, wall + SEC, NULL), 0);
	assert_int_equal(mg_an_count(b, (size_t[MG_ROLE_MAX]){ 0 }), 2);

	/* No end record: cut short at a record's end. */
	assert_int_equal(mg_an_restore(b, buf, len - END_SIZE, T0 + 3 * SEC, wall + SEC, NULL), -EINVAL);
	assert_int_equal(mg_an_count(b, (size_t[MG_ROLE_MAX]){ 0 }), 0);
	/* A count that does not match what came before it. */
	v = 3;
	memcpy(buf + len - END_SIZE + 16, &v, 4);
	assert_int_equal(mg_an_restore(b, buf, len, T0 + 3 * SEC, wall + SEC, NULL), -EINVAL);
	v = 2;
	memcpy(buf + len - END_SIZE + 16, &v, 4);
	/* A header that counts. */
	memcpy(buf + 32, &v, 4);
	assert_int_equal(mg_an_restore(b, buf, len, T0 + 3 * SEC, wall + SEC, NULL), -EINVAL);
	v = 0;
	memcpy(buf + 32, &v, 4);
	/* Anything after the end: another record, or a second end. */
	uint8_t *more = malloc(len + END_SIZE);
	memcpy(more, buf, len);
	memcpy(more + len, buf + HDR_SIZE, END_SIZE);
	assert_int_equal(mg_an_restore(b, more, len + END_SIZE, T0 + 3 * SEC, wall + SEC, NULL), -EINVAL);
	memcpy(more + len, buf + len - END_SIZE, END_SIZE);
	assert_int_equal(mg_an_restore(b, more, len + END_SIZE, T0 + 3 * SEC, wall + SEC, NULL), -EINVAL);
	assert_int_equal(mg_an_count(b, (size_t[MG_ROLE_MAX]){ 0 }), 0);
	free(more);

	/* Version 4: the count in the header, no end record. */
	v = 4;
	memcpy(buf + 4, &v, 4);
	v = 2;
	memcpy(buf + 32, &v, 4);
	assert_int_equal(mg_an_restore(b, buf, len, T0 + 3 * SEC, wall + SEC, NULL), -EINVAL); /* the end read as a record */
	assert_int_equal(mg_an_restore(b, buf, len - END_SIZE, T0 + 3 * SEC, wall + SEC, NULL), 0);
	assert_int_equal(mg_an_count(b, (size_t[MG_ROLE_MAX]){ 0 }), 2);
	struct mg_an_profile_view pv;
	assert_true(mg_an_get(b, bot.addr, &pv));
	assert_int_equal(pv.role, MG_ROLE_BLOCKED);
	mg_an_free(b);
	free(buf);
}

/* Offsets of addr's profile and SMTP record (0 if none) in a saved buffer. */
static size_t record_of(const uint8_t *buf, size_t len, const uint8_t key[16], size_t *smtp_off)
{
	size_t off = HDR_SIZE, smtp_size = u32_at(buf, 12);

	for (uint32_t i = 0; i < u32_at(buf, len - END_SIZE + 16); i++) {
		assert_true(off + PROF_SIZE <= len - END_SIZE);
		uint32_t smtp = u32_at(buf, off + 56); /* 2: a hosts list follows the SMTP record */
		if (!memcmp(buf + off, key, 16)) {
			*smtp_off = smtp ? off + PROF_SIZE : 0;
			return off;
		}
		off += PROF_SIZE + (smtp ? smtp_size : 0) + (smtp == 2 ? sizeof(struct mg_an_hosts) : 0);
	}
	fail_msg("no record for that key");
	return 0;
}

/* Where the HELO text of the SMTP record at smtp_off is. */
static size_t helo_of(const uint8_t *buf, size_t smtp_off, size_t smtp_size, const char *helo)
{
	for (size_t i = smtp_off; i + strlen(helo) <= smtp_off + smtp_size; i++)
		if (!memcmp(buf + i, helo, strlen(helo))) {
			assert_int_equal(buf[i - 15], strlen(helo)); /* the layout the comment above describes */
			return i;
		}
	fail_msg("HELO not found");
	return 0;
}

/*
 * A state with a valid checksum can still hold any bytes. Every field of
 * every record is checked before use: a bad record is refused and counted,
 * the others restored, and nothing reads past a buffer (a HELO length over
 * 64 was copied into the 65-byte evidence buffer; a role-change count over 4
 * was stored before it was checked).
 */
static void test_restore_refuses_bad_records(void **state)
{
	struct host bot, pc;
	uint8_t *buf;
	size_t len, so, smtp_size;
	const uint64_t wall = 1800000000ull * SEC;

	(void)state;
	bot_and_end_host(&bot, &pc);
	assert_non_null(find_action(MG_AN_BLOCK, &bot));
	assert_int_equal(mg_an_save(an, T0 + 2 * SEC, wall, &buf, &len), 0);
	smtp_size = u32_at(buf, 12);
	size_t bot_off = record_of(buf, len, bot.key, &so), pc_so;
	size_t pc_off = record_of(buf, len, pc.key, &pc_so);
	assert_true(so != 0);
	size_t helo = helo_of(buf, so, smtp_size, "[198.18.4.9]");
	uint64_t saved_mono;
	memcpy(&saved_mono, buf + 16, 8);

	struct {
		const char *what, *says;
		size_t off;
		uint8_t byte; /* the byte written at off, or (when 0) a time two days after the save */
	} cases[] = {
		{ "HELO length 200", "HELO length", helo - 15, 200 },
		{ "HELO length 65", "HELO length", helo - 15, 65 },
		{ "200 role changes", "role changes", helo - 3, 200 },
		{ "role 9", "role out of range", bot_off + 60, 9 },
		{ "flags without in-use", "not marked in use", bot_off + 62, 0x04 },
		{ "unknown flag bits", "unknown flags", bot_off + 62, 0x81 },
		{ "first seen after the save", "after the save", bot_off + 16, 0 },
		{ "absurd-HELO reason 9", "absurd-HELO reason", helo - 2, 9 },
		/* The top byte of the float long_sessions (8 bytes before the HELO shapes, which precede helo_len). */
		{ "a negative memory count", "memory count", helo - 18 - 1, 0xff },
		/* The last HELO's shape (fp_hash, 128 bytes into the SMTP record): an unknown bit, and "let go" with a text. */
		{ "last HELO shape bit 0x400", "last HELO's shape", so + 129, 0x05 },
		{ "HELO text let go yet saved", "last HELO's shape", so + 128, 0x80 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t *b = malloc(len);
		struct mg_an_restore_report rep;
		struct mg_an_profile_view v;
		memcpy(b, buf, len);
		if (cases[i].byte) {
			b[cases[i].off] = cases[i].byte;
		} else {
			uint64_t t = saved_mono + 2 * DAY;
			memcpy(b + cases[i].off, &t, 8);
		}
		struct mg_analyzer *b2 = mg_an_new(&cfg);
		assert_int_equal(mg_an_restore(b2, b, len, 3 * SEC, wall + MIN, &rep), 0);
		if (rep.refused != 1 || rep.restored != 1 || !strstr(rep.first_refusal, cases[i].says) ||
		    !strstr(rep.first_refusal, "198.18.4.9"))
			fail_msg("%s: refused %zu, restored %zu, said '%s'", cases[i].what, rep.refused, rep.restored,
				 rep.first_refusal);
		assert_false(mg_an_get(b2, bot.addr, &v));
		assert_true(mg_an_get(b2, pc.addr, &v));
		assert_int_equal(v.role, MG_ROLE_END_HOST);
		/* Ticks and views over what was restored are clean. */
		struct mg_an_action out[8];
		mg_an_tick(b2, 4 * SEC, out, 8);
		mg_an_free(b2);
		free(b);
	}

	/*
	 * A HELO hash of the kind before the word-at-a-time one (its fp_hash
	 * without SAVED_HELO_WORDS, 0x200): found again from the saved text.
	 * With the mark, the saved hash is taken as it is.
	 */
	for (int words = 0; words <= 1; words++) {
		uint8_t *b = malloc(len);
		struct mg_an_profile_view v;
		uint32_t old_hash = 0x811c9dc5u;
		memcpy(b, buf, len);
		assert_int_equal(b[so + 129], 0x03); /* SAVED_HELO_LAST | SAVED_HELO_WORDS */
		b[so + 129] = words ? 0x03 : 0x01;
		memcpy(b + so + 124, &old_hash, 4);
		struct mg_analyzer *b2 = mg_an_new(&cfg);
		struct mg_an_restore_report rep;
		assert_int_equal(mg_an_restore(b2, b, len, 3 * SEC, wall + MIN, &rep), 0);
		assert_int_equal(rep.refused, 0);
		assert_true(mg_an_get(b2, bot.addr, &v));
		assert_int_equal(v.ev.helo_hash, words ? old_hash : mg_helo_hash("[198.18.4.9]", 12));
		mg_an_free(b2);
		free(b);
	}

	/* A record for a source already restored, before the end record: the second is refused. */
	uint8_t *dup = malloc(len + PROF_SIZE);
	memcpy(dup, buf, len - END_SIZE);
	memcpy(dup + len - END_SIZE, buf + pc_off, PROF_SIZE);
	memcpy(dup + len - END_SIZE + PROF_SIZE, buf + len - END_SIZE, END_SIZE);
	assert_int_equal(pc_so, 0); /* the end host spoke no SMTP: a profile alone */
	uint32_t count = u32_at(buf, len - END_SIZE + 16) + 1;
	memcpy(dup + len + PROF_SIZE - END_SIZE + 16, &count, 4);
	struct mg_an_restore_report rep;
	struct mg_analyzer *b2 = mg_an_new(&cfg);
	assert_int_equal(mg_an_restore(b2, dup, len + PROF_SIZE, 3 * SEC, wall + MIN, &rep), 0);
	assert_int_equal(rep.refused, 1);
	assert_int_equal(rep.restored, 2);
	assert_non_null(strstr(rep.first_refusal, "second record"));
	mg_an_free(b2);
	free(dup);

	/*
	 * Offences or SMTP service without SMTP figures: such a profile keeps
	 * them in its SMTP record, so a record claiming them without one is
	 * refused (the end host's: offences at 61).
	 */
	uint8_t *odd = malloc(len);
	memcpy(odd, buf, len);
	odd[pc_off + 61] = 2;
	b2 = mg_an_new(&cfg);
	assert_int_equal(mg_an_restore(b2, odd, len, 3 * SEC, wall + MIN, &rep), 0);
	assert_int_equal(rep.refused, 1);
	assert_non_null(strstr(rep.first_refusal, "without SMTP figures"));
	assert_non_null(strstr(rep.first_refusal, "198.18.1.2"));
	mg_an_free(b2);
	free(odd);

	/*
	 * A record whose length cannot be told (smtp 3: no version has it): the
	 * file is refused whole, any record before it restored and dropped again.
	 */
	b2 = mg_an_new(&cfg);
	buf[bot_off + 56] = 3;
	assert_int_equal(mg_an_restore(b2, buf, len, 3 * SEC, wall, &rep), -EINVAL);
	assert_int_equal(rep.restored, 0);
	assert_int_equal(mg_an_count(b2, (size_t[MG_ROLE_MAX]){ 0 }), 0);
	mg_an_free(b2);
	free(buf);
}

/* A restore through begin/feed/end, buf handed over in pieces of `piece` bytes (the last shorter). */
static int restore_pieces(struct mg_analyzer *b, const uint8_t *buf, size_t len, size_t piece, uint64_t now,
			  uint64_t wall, struct mg_an_restore_report *rep)
{
	struct mg_an_restorer *r = mg_an_restore_begin(b, now, wall, rep);

	assert_non_null(r);
	for (size_t off = 0; off < len; off += piece) {
		int err = mg_an_restore_feed(r, buf + off, len - off < piece ? len - off : piece);
		if (err) {
			/* The failure stays: the next piece, and end, give it again. */
			assert_int_equal(mg_an_restore_feed(r, buf, 1), err);
			assert_int_equal(mg_an_restore_end(r), err);
			return err;
		}
	}
	return mg_an_restore_end(r);
}

/*
 * The restore as a stream (the daemon's, from the file as it decompresses):
 * a record may straddle any two pieces, so pieces of every small size give
 * exactly what the whole buffer gives (the same profiles, saved again to
 * the same bytes, and the same report). A stream cut anywhere, one too long,
 * or one whose source fails at its end (abort) leaves no profile at all.
 */
static void test_restore_in_pieces(void **state)
{
	struct host h[4], bot, pc;
	struct host *hs[] = { &h[0], &h[1], &h[2], &h[3], &bot, &pc };
	const uint64_t wall = 1800000000ull * SEC, now = 30 * SEC;
	char ip[MG_ADDRSTRLEN];
	uint8_t *buf, *ref, *again;
	size_t len, rlen, alen, so;

	(void)state;
	/* A /64 whose hosts spoke SMTP (a record with a hosts list), a blocked bot, an end host without SMTP. */
	for (unsigned i = 0; i < 4; i++) {
		snprintf(ip, sizeof(ip), "2001:db8:1:2::%x", i + 1);
		host_init(&h[i], ip, (uint8_t)(i + 1));
		session(&h[i], mx(i), "a.example", 1, T0 + i * SEC);
	}
	host_init(&bot, "198.18.4.9", 9);
	host_init(&pc, "198.18.1.2", 1);
	browse(&pc, 10, 1, T0);
	bot_burst(&bot, 6, T0);
	scan(hs, 6, T0 + 5 * SEC);
	assert_non_null(find_action(MG_AN_BLOCK, &bot));
	assert_int_equal(mg_an_save(an, T0 + 6 * SEC, wall, &buf, &len), 0);
	assert_int_equal(u32_at(buf, record_of(buf, len, h[0].key, &so) + 56), 2); /* the /64's: with hosts */
	/* And one bad record (the end host's role 9), so the report has something to say. */
	buf[record_of(buf, len, pc.key, &so) + 60] = 9;

	struct mg_an_restore_report whole, rep;
	struct mg_analyzer *b = mg_an_new(&cfg);
	assert_int_equal(mg_an_restore(b, buf, len, now, wall + MIN, &whole), 0);
	assert_int_equal(whole.restored, 2);
	assert_int_equal(whole.refused, 1);
	assert_int_equal(mg_an_save(b, now, wall + MIN, &ref, &rlen), 0);
	mg_an_free(b);

	const size_t pieces[] = { 1, 2, 3, 7, 40, 63, 64, 65, 100, 701, 4096 };
	for (size_t k = 0; k < sizeof(pieces) / sizeof(pieces[0]); k++) {
		b = mg_an_new(&cfg);
		assert_int_equal(restore_pieces(b, buf, len, pieces[k], now, wall + MIN, &rep), 0);
		assert_int_equal(rep.restored, whole.restored);
		assert_int_equal(rep.refused, whole.refused);
		assert_string_equal(rep.first_refusal, whole.first_refusal);
		assert_int_equal(mg_an_save(b, now, wall + MIN, &again, &alen), 0);
		assert_int_equal(alen, rlen);
		assert_memory_equal(again, ref, rlen);
		free(again);
		mg_an_free(b);
	}

	/* Cut at every length: refused, nothing restored, whatever the pieces. */
	b = mg_an_new(&cfg);
	for (size_t cut = 0; cut < len; cut++) {
		int err = restore_pieces(b, buf, cut, cut % 2 ? 7 : 64, now, wall + MIN, &rep);
		if (err != -EINVAL || rep.restored || rep.refused || mg_an_count(b, (size_t[MG_ROLE_MAX]){ 0 }))
			fail_msg("cut at %zu of %zu: %d, %zu restored", cut, len, err, rep.restored);
	}
	/* One byte too many, after every record. */
	uint8_t *longer = malloc(len + 1);
	memcpy(longer, buf, len);
	longer[len] = 0;
	assert_int_equal(restore_pieces(b, longer, len + 1, 64, now, wall + MIN, &rep), -EINVAL);
	assert_int_equal(mg_an_count(b, (size_t[MG_ROLE_MAX]){ 0 }), 0);
	free(longer);
	/* All of it fed, then the source fails (a file's checksum at its end): abort drops it all. */
	struct mg_an_restorer *r = mg_an_restore_begin(b, now, wall + MIN, &rep);
	assert_non_null(r);
	assert_int_equal(mg_an_restore_feed(r, buf, len), 0);
	assert_int_equal(mg_an_count(b, (size_t[MG_ROLE_MAX]){ 0 }), 2);
	mg_an_restore_abort(r);
	assert_int_equal(mg_an_count(b, (size_t[MG_ROLE_MAX]){ 0 }), 0);
	assert_int_equal(rep.restored, 0);
	/* An abort before the header was whole changes nothing of what was there. */
	assert_int_equal(mg_an_restore(b, buf, len, now, wall + MIN, NULL), 0);
	r = mg_an_restore_begin(b, now, wall + MIN, NULL);
	assert_int_equal(mg_an_restore_feed(r, buf, 39), 0);
	mg_an_restore_abort(r);
	assert_int_equal(mg_an_count(b, (size_t[MG_ROLE_MAX]){ 0 }), 2);
	mg_an_free(b);
	free(ref);
	free(buf);
}

/* An IPv6 key saved at another aggregation than the one configured now is refused, not half-matched. */
static void test_restore_refuses_other_aggregation(void **state)
{
	struct host h;
	uint8_t *buf;
	size_t len;
	struct mg_an_restore_report rep;

	(void)state;
	cfg.v6_prefix = 128;
	reconfigure();
	host_init(&h, "2001:db8:1:2::77", 7);
	memcpy(h.key, h.addr, 16); /* the kernel keys at /128 too */
	browse(&h, 3, 0, T0);
	scan_one(&h, T0 + SEC);
	assert_int_equal(mg_an_save(an, T0 + 2 * SEC, 1800000000ull * SEC, &buf, &len), 0);
	struct mg_an_config c64 = cfg;
	c64.v6_prefix = 64;
	struct mg_analyzer *b2 = mg_an_new(&c64);
	assert_int_equal(mg_an_restore(b2, buf, len, 3 * SEC, 1800000000ull * SEC, &rep), 0);
	assert_int_equal(rep.refused, 1);
	assert_non_null(strstr(rep.first_refusal, "aggregation"));
	mg_an_free(b2);
	free(buf);
}

/* ---- a few seconds after boot: CLOCK_MONOTONIC is small, 0 is not "long ago" ---------------- */

#define BOOT (3 * SEC)

/* A bot blocked 3 s after boot; the block expires on time; the repeat offence gets the longer block. */
static void test_boot_block_expiry_repeat(void **state)
{
	struct host bot;

	(void)state;
	host_init(&bot, "198.18.4.9", 9);
	bot_burst(&bot, 6, SEC);
	scan_one(&bot, BOOT);
	const struct mg_an_action *b = find_action(MG_AN_BLOCK, &bot);
	assert_non_null(b);
	assert_int_equal(b->offence, 1);
	assert_int_equal(b->expires_ns, BOOT + HOUR);
	scan_one(&bot, BOOT + HOUR - SEC);
	assert_int_equal(nacts, 0);
	scan_one(&bot, BOOT + HOUR);
	assert_non_null(find_action(MG_AN_UNBLOCK, &bot));
	scan_one(&bot, BOOT + HOUR + SEC);
	assert_int_equal(nacts, 0);
	/* Again soon after: a repeat offence (not forgiven: its clean record is seconds long). */
	bot_burst(&bot, 6, BOOT + HOUR + 2 * SEC);
	scan_one(&bot, BOOT + HOUR + 3 * SEC);
	b = find_action(MG_AN_BLOCK, &bot);
	assert_non_null(b);
	assert_int_equal(b->offence, 2);
	assert_int_equal(b->expires_ns - (BOOT + HOUR + 3 * SEC), 4 * HOUR);
}

/* The breaker right after boot: its ring counts blocks, it does not take empty slots for old ones. */
static void test_boot_breaker(void **state)
{
	struct host bots[15];
	struct host *hs[15];
	char ip[20];

	(void)state;
	for (int i = 0; i < 15; i++) {
		snprintf(ip, sizeof(ip), "198.18.4.%d", i + 1);
		host_init(&bots[i], ip, (uint8_t)i);
		hs[i] = &bots[i];
		bot_burst(&bots[i], 6, SEC);
	}
	scan(hs, 15, BOOT);
	assert_int_equal(count_actions(MG_AN_BLOCK), cfg.max_new_blocks_per_min);
	assert_int_equal(count_actions(MG_AN_ALERT), 15 - cfg.max_new_blocks_per_min);
	for (int i = 0; i < 15; i++)
		bot_burst(&bots[i], 2, BOOT + 30 * SEC);
	scan(hs, 15, BOOT + 31 * SEC);
	assert_int_equal(count_actions(MG_AN_BLOCK), 0);
	for (int i = 0; i < 15; i++)
		bot_burst(&bots[i], 1, BOOT + 60 * SEC);
	scan(hs, 15, BOOT + 60 * SEC);
	assert_int_equal(count_actions(MG_AN_BLOCK), 15 - cfg.max_new_blocks_per_min);
}

/* Learning from boot on: no promotion before the learning period, counted from the first session. */
static void test_boot_learning_not_early(void **state)
{
	struct host srv;
	uint64_t promoted = 0;
	unsigned i = 0;

	(void)state;
	host_init(&srv, "198.18.3.10", 3);
	for (uint64_t t = SEC; t < 8 * DAY && !promoted; t += 30 * MIN, i++) {
		session(&srv, mx(i % 3), "mail.example.net", 2, t);
		scan_one(&srv, t + SEC);
		assert_int_equal(count_actions(MG_AN_BLOCK), 0);
		if (find_action(MG_AN_PROMOTE, &srv))
			promoted = t + SEC;
	}
	assert_true(promoted);
	assert_true(promoted - SEC >= cfg.learning_ns);
	assert_int_equal(role_of(&srv), MG_ROLE_MAIL_SERVER);
}

/* New senders right after boot: new within the window of its first session, not after. */
static void test_boot_new_sender(void **state)
{
	struct host h, other;

	(void)state;
	host_init(&h, "198.18.4.20", 20);
	host_init(&other, "198.18.4.21", 21);
	assert_false(mg_an_new_sender(an, h.addr, BOOT));
	session(&h, mx(1), "host.example.net", 1, 2 * SEC);
	scan_one(&h, BOOT);
	assert_true(mg_an_new_sender(an, h.addr, BOOT));
	assert_true(mg_an_new_sender(an, h.addr, 2 * SEC + cfg.window_ns - 1));
	assert_false(mg_an_new_sender(an, h.addr, 2 * SEC + cfg.window_ns));
	assert_false(mg_an_new_sender(an, other.addr, BOOT));
}

/* Saved, then restored into a fresh boot (2 s of uptime) later on the wall clock. */
static void test_boot_save_restore(void **state)
{
	struct host bot, sus;
	struct host *hs[] = { &bot, &sus };
	uint8_t *buf;
	size_t len;
	const uint64_t wall = 1800000000ull * SEC;
	struct mg_an_profile_view v;
	struct mg_an_action out[8];

	(void)state;
	host_init(&bot, "198.18.4.9", 9);
	host_init(&sus, "198.18.4.10", 10);
	bot_burst(&bot, 6, SEC);
	session(&sus, mx(1), "[198.18.4.10]", 1, SEC); /* an IP-literal HELO: suspect, not blocked */
	scan(hs, 2, BOOT);
	assert_non_null(find_action(MG_AN_BLOCK, &bot));
	assert_true(mg_an_get(an, sus.addr, &v));
	assert_int_equal(v.role, MG_ROLE_SUSPECT);
	assert_true(v.score >= cfg.alert_score);
	assert_int_equal(mg_an_save(an, BOOT + SEC, wall, &buf, &len), 0);

	/* Ten minutes down: the block keeps its remaining time. */
	struct mg_analyzer *b2 = mg_an_new(&cfg);
	assert_int_equal(mg_an_restore(b2, buf, len, 2 * SEC, wall + 10 * MIN, NULL), 0);
	assert_true(mg_an_get(b2, bot.addr, &v));
	assert_int_equal(v.role, MG_ROLE_BLOCKED);
	assert_int_equal(v.blocked_until_ns, 2 * SEC + HOUR - SEC - 10 * MIN);
	assert_int_equal(mg_an_tick(b2, 2 * SEC + HOUR - 10 * MIN - 2 * SEC, out, 8), 0);
	size_t n = mg_an_tick(b2, 2 * SEC + HOUR - 10 * MIN - SEC, out, 8);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].kind, MG_AN_UNBLOCK);
	mg_an_free(b2);

	/* Thirty minutes down: the suspect's figures aged out during the downtime, none come back. */
	b2 = mg_an_new(&cfg);
	assert_int_equal(mg_an_restore(b2, buf, len, 2 * SEC, wall + 30 * MIN, NULL), 0);
	assert_true(mg_an_get(b2, sus.addr, &v));
	assert_true(v.score == 0);
	assert_int_equal(v.ev.sessions, 0);
	assert_true(mg_an_get(b2, bot.addr, &v));
	assert_int_equal(v.offences, 1);
	free(buf);
	mg_an_free(b2);
}

/* ---- protected addresses' activity records ------------------------------------------ */

/*
 * The kernel's activity records as the daemon maps them: 198.18.1.0/24 and
 * 2001:db8:5::/60 are protected. A PC that only browses has no kernel
 * profile at all (its SYNs to other ports are never profiled): its record
 * is all there is of it.
 */
static struct mg_activity act_recs[256 + 16];
static struct mg_act_view act_view;
#define ACT_NOW 100000u /* the kernel's clock in record units at the scan */

static void protect_networks(void)
{
	struct mg_prefix nets[2];
	char why[256];
	size_t bad;

	memset(act_recs, 0, sizeof(act_recs));
	memset(&act_view, 0, sizeof(act_view));
	assert_int_equal(mg_prefix_parse("198.18.1.0/24", &nets[0]), 0);
	assert_int_equal(mg_prefix_parse("2001:db8:5::/60", &nets[1]), 0);
	assert_int_equal(mg_act_plan(nets, 2, act_view.ranges, &bad, why, sizeof(why)), 0);
	act_view.rec = act_recs;
	act_view.n = mg_act_records(act_view.ranges);
	assert_int_equal(act_view.n, 256 + 16);
	act_view.now = ACT_NOW;
	mg_an_set_activity(an, &act_view);
}

/* What the XDP program notes for `ip`: flows by class, seen `ago` record units before the scan. */
static void note_activity(const char *ip, unsigned web, unsigned dns, unsigned other, uint32_t ago)
{
	uint8_t a[16];

	assert_int_equal(mg_addr_parse(ip, a), 0);
	int64_t i = mg_act_index(&act_view, a);
	assert_true(i >= 0);
	struct mg_activity *r = &act_recs[i];
	r->flows[MG_ACT_WEB] += (uint16_t)web;
	r->flows[MG_ACT_DNS] += (uint16_t)dns;
	r->flows[MG_ACT_OTHER_TCP] += (uint16_t)other;
	r->classes |= MG_ACT_F_SEEN | (web ? 1u << MG_ACT_WEB : 0) | (dns ? 1u << MG_ACT_DNS : 0) |
		      (other ? 1u << MG_ACT_OTHER_TCP : 0);
	r->last_seen = ACT_NOW - ago;
}

struct listed {
	struct mg_an_profile_view v[8];
	size_t n;
};

static int collect_listed(const struct mg_an_profile_view *v, void *arg)
{
	struct listed *l = arg;

	if (l->n < 8)
		l->v[l->n++] = *v;
	return 0;
}

/*
 * A PC that browsed for hours before its first SMTP session: an end host
 * from its activity alone, and when it starts spamming, a role change
 * without no_other_activity's points. Its twin, whose record shows only DNS
 * (what any spam engine does to find MX hosts), is a new sender and gets them.
 */
static void test_browsed_pc_role_change(void **state)
{
	struct host pc, twin;
	struct host *hs[] = { &pc, &twin };
	struct mg_an_profile_view v, w;
	uint64_t t = T0;

	(void)state;
	protect_networks();
	host_init(&pc, "198.18.1.2", 7);
	host_init(&twin, "198.18.1.3", 8);
	note_activity("198.18.1.2", 400, 120, 6, 0);
	note_activity("198.18.1.3", 0, 40, 0, 0);
	assert_int_equal(scan(hs, 0, t), 0);
	/* No profile yet, listed all the same. */
	assert_false(mg_an_get(an, pc.addr, &v));
	struct listed l = { .n = 0 };
	mg_an_foreach_activity_only(an, collect_listed, &l);
	assert_int_equal(l.n, 2);
	assert_memory_equal(l.v[0].prefix.addr, pc.addr, 16);
	assert_int_equal(l.v[0].prefix.prefixlen, 128);
	assert_int_equal(l.v[0].role, MG_ROLE_END_HOST);
	assert_true(l.v[0].activity_only);
	assert_int_equal(l.v[0].activity.flows[MG_ACT_WEB], 400);
	assert_int_equal(l.v[0].last_seen_ns, T0);
	assert_int_equal(l.v[1].role, MG_ROLE_UNKNOWN);

	/* Three quiet sessions each, alike: the scores differ by no_other_activity alone. */
	t += HOUR;
	for (unsigned i = 0; i < 3; i++, t += SEC) {
		session(&pc, mx(i), "pc.example.net", 1, t);
		session(&twin, mx(i), "pc.example.net", 1, t);
		assert_int_equal(scan(hs, 2, t), 0);
	}
	assert_true(mg_an_get(an, pc.addr, &v));
	assert_true(mg_an_get(an, twin.addr, &w));
	assert_int_equal(v.role, MG_ROLE_END_HOST);
	assert_int_equal(w.role, MG_ROLE_UNKNOWN);
	assert_true(v.has_activity && !v.activity_only);
	assert_true(w.score - v.score > cfg.w_no_other_activity - 1e-9 &&
		    w.score - v.score < cfg.w_no_other_activity + 1e-9);
	/* Profiles now: neither is listed from its record alone. */
	l.n = 0;
	mg_an_foreach_activity_only(an, collect_listed, &l);
	assert_int_equal(l.n, 0);

	/* Then both spam: the PC's verdict is a role change. */
	const struct mg_an_action *b = NULL, *c = NULL;
	for (unsigned i = 3; i < 40 && !(b && c); i++, t += SEC) {
		session(&pc, mx(i), "DESKTOP-4F3K", 5, t);
		session(&twin, mx(i), "DESKTOP-4F3K", 5, t);
		scan(hs, 2, t);
		if (!b && (b = find_action(MG_AN_BLOCK, &pc)))
			assert_string_equal(b->ev.rule, "role-change:end-host-to-mta");
		if (!c && (c = find_action(MG_AN_BLOCK, &twin)))
			assert_string_equal(c->ev.rule, "direct-to-mx:new-sender");
		if (b)
			assert_int_equal(b->ev.role_before, MG_ROLE_END_HOST);
	}
	assert_non_null(b);
	assert_non_null(c);
	assert_true(mg_an_get(an, pc.addr, &v));
	assert_int_equal(v.ev.role_before, MG_ROLE_END_HOST);
}

/* Listed from records alone: active within 30 days (in the kernel clock's units), IPv6 by /64. */
static void test_activity_only_listing(void **state)
{
	(void)state;
	protect_networks();
	note_activity("198.18.1.10", 5, 0, 0, 0);
	note_activity("198.18.1.11", 0, 0, 0, 29u * 24 * 3600); /* seen (a ping) a good 30 days of record units ago */
	note_activity("198.18.1.12", 0, 0, 3, 20u * 24 * 3600);
	note_activity("2001:db8:5:3::99", 7, 2, 0, 1);
	assert_int_equal(mg_an_tick(an, T0 + DAY * 40, acts, 16), 0);
	struct listed l = { .n = 0 };
	mg_an_foreach_activity_only(an, collect_listed, &l);
	/* 29 days of 2^30 ns units is over 30 days: the ping is past the horizon. */
	assert_int_equal(l.n, 3);
	char buf[MG_ADDRSTRLEN];
	assert_string_equal(mg_prefix_str(&l.v[0].prefix, buf, sizeof(buf)), "198.18.1.10");
	assert_string_equal(mg_prefix_str(&l.v[1].prefix, buf, sizeof(buf)), "198.18.1.12");
	assert_int_equal(l.v[1].role, MG_ROLE_END_HOST);
	assert_string_equal(mg_prefix_str(&l.v[2].prefix, buf, sizeof(buf)), "2001:db8:5:3::/64");
	assert_int_equal(l.v[2].role, MG_ROLE_END_HOST);
	size_t by[MG_ROLE_MAX] = { 0 };
	assert_int_equal(mg_an_count_activity_only(an, by), 3);
	assert_int_equal(by[MG_ROLE_END_HOST], 3);
	/* Without the view, nothing. */
	mg_an_set_activity(an, NULL);
	l.n = 0;
	mg_an_foreach_activity_only(an, collect_listed, &l);
	assert_int_equal(l.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_end_host_learned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_role_change_blocked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_occasional_direct_mail_not_blocked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slow_bot_blocked_within_30_minutes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slow_bot_blocked_soon_after_boot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slow_bot_only_suspect_without_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_home_server_clean_for_10_days, setup, teardown),
		cmocka_unit_test_setup_teardown(test_first_session_absurd_helo_suspect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_first_session_sane_helo_not_suspect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_absurd_helo_spares_mail_servers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mail_server_learned_then_spike, setup, teardown),
		cmocka_unit_test_setup_teardown(test_learning_refused_for_bad_helo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_configured_server_never_blocked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spoofed_syn_only_not_blocked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_ring_near_boot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared_helo_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_helo_texts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_helo_texts_near_boot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_memory_times, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_memory_times_near_boot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_first_smtp_coarse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_first_smtp_coarse_near_boot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wide_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_count_widths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_of_a_source_never_blocked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_count_widths_near_boot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hosts_lists_reuse_room, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hosts_one_host_compact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_circuit_breaker, setup, teardown),
		cmocka_unit_test_setup_teardown(test_breaker_zero_means_alerts_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_monitor_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_allowlist_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expiry_and_escalation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_block_old_evidence_cleared, setup, teardown),
		cmocka_unit_test_setup_teardown(test_helo_varies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threat_level_tightens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pardon, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ipv6_aggregation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ipv6_aggregation_configurable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ipv6_lan_verdict_covers_only_the_host, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prefix_profile_lists_its_hosts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_counter_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_action_buffer_small, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_profiles_forgotten, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_tick_of_an_empty_analyzer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_end_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_restore, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_in_slices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_refuses_bad_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_refuses_other_aggregation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_in_pieces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_boot_block_expiry_repeat, setup, teardown),
		cmocka_unit_test_setup_teardown(test_boot_breaker, setup, teardown),
		cmocka_unit_test_setup_teardown(test_boot_learning_not_early, setup, teardown),
		cmocka_unit_test_setup_teardown(test_boot_new_sender, setup, teardown),
		cmocka_unit_test_setup_teardown(test_boot_save_restore, setup, teardown),
		cmocka_unit_test_setup_teardown(test_browsed_pc_role_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_activity_only_listing, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
