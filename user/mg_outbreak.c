// SPDX-License-Identifier: GPL-2.0-only
/* mg_outbreak.c - outbreak detection by shared characteristics of new senders (see mg_outbreak.h). */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg_analyzer.h"
#include "mg_hash.h"
#include "mg_osfp.h"
#include "mg_outbreak.h"

#define NS_PER_MIN (60ull * 1000000000ull)
/* Candidate groups kept at once: each distinct characteristic among recent new senders is one. */
#define MAX_GROUPS 4096

/*
 * Times of active outbreaks are signed: an outbreak restored from a state
 * file can date from before this boot, i.e. before 0 on the monotonic clock,
 * and its quiet time must still count toward its decay.
 */
struct group {
	struct mg_signature sig;      /* its class resolved (never MG_SIGCLASS_BY_KIND) */
	enum mg_ob_direction dir;     /* grouped apart: our hosts' and outside senders' */
	enum mg_ob_decision told;     /* the decision last announced (DECLARE or DECIDE) */
	bool active;
	bool exempted; /* the operator exempted its signature: it ends at the next tick, whatever the time */
	unsigned level;
	int64_t since, last_join, last_change;
	uint32_t members; /* distinct members counted (the list holds the first MG_OB_MAX_MEMBERS) */
	uint32_t proven;  /* of them, proven to be who they claim (see mg_ob_observe) */
	/*
	 * Proven members first, [0, n_proven); then sources seen only through
	 * what anyone can forge. Only the first part is ever named.
	 */
	struct mg_ob_member *list;
	uint32_t n_list, n_proven;
};

struct mg_outbreaks {
	struct mg_ob_config cfg;
	struct group *g;
	size_t n, cap;
	struct mg_signature *ex_sig;
	size_t n_ex_sig;
	struct mg_prefix *ex_pfx;
	size_t n_ex_pfx;
	struct mg_prefix *protected_nets; /* none: every source is ours */
	size_t n_protected;
};

static const struct {
	const char *name;
	unsigned score;
} sig_class[MG_SIGCLASS_MAX] = {
	[MG_SIGCLASS_BY_KIND] = { "by-kind", 0 },
	[MG_SIGCLASS_STOCK_OS_FP] = { "stock-os-fingerprint", 1 },
	[MG_SIGCLASS_RARE_FP] = { "rare-fingerprint", 3 },
	[MG_SIGCLASS_HELO_SHAPE] = { "helo-shape", 2 },
	[MG_SIGCLASS_SAME_HELO] = { "same-helo", 3 },
	[MG_SIGCLASS_APP_HELO] = { "application-helo", 0 },
};

const char *mg_sig_class_name(enum mg_sig_class c)
{
	return (unsigned)c < MG_SIGCLASS_MAX ? sig_class[c].name : "?";
}

static enum mg_sig_class resolve_class(const struct mg_signature *s)
{
	if (s->spec_class > MG_SIGCLASS_BY_KIND && s->spec_class < MG_SIGCLASS_MAX)
		return (enum mg_sig_class)s->spec_class;
	/* Not told (an older state file, a caller without the event): what the kind says without a layout. */
	return s->kind == MG_SIG_FP ? MG_SIGCLASS_RARE_FP : s->kind == MG_SIG_HELO ? MG_SIGCLASS_SAME_HELO
										   : MG_SIGCLASS_HELO_SHAPE;
}

unsigned mg_sig_class_score(enum mg_sig_class c)
{
	return (unsigned)c < MG_SIGCLASS_MAX ? sig_class[c].score : 0;
}

static const char *const direction_names[MG_OB_DIRECTION_MAX] = {
	[MG_OB_OUTBOUND] = "outbound",
	[MG_OB_INBOUND] = "inbound",
};

const char *mg_ob_direction_name(enum mg_ob_direction d)
{
	return (unsigned)d < MG_OB_DIRECTION_MAX ? direction_names[d] : "?";
}

static const char *const decision_names[MG_OB_DECISION_MAX] = {
	[MG_OB_ALERT_ONLY] = "alert-only",
	[MG_OB_APPLICATION] = "application",
	[MG_OB_COUNTED] = "counted",
	[MG_OB_CONTAINED] = "contained",
	[MG_OB_INBOUND_HOLD] = "inbound-hold",
};

const char *mg_ob_decision_name(enum mg_ob_decision d)
{
	return (unsigned)d < MG_OB_DECISION_MAX ? decision_names[d] : "?";
}

void mg_ob_config_default(struct mg_ob_config *c)
{
	c->min_senders = 5;
	c->window_ns = 10 * NS_PER_MIN;
	c->decay_ns = 30 * NS_PER_MIN;
}

const char *mg_sig_str(const struct mg_signature *s, char *buf, size_t len)
{
	char shape[64];

	switch (s->kind) {
	case MG_SIG_FP:
		snprintf(buf, len, "fp:%08x", s->value);
		break;
	case MG_SIG_HELO:
		snprintf(buf, len, "helo:%08x", s->value);
		break;
	case MG_SIG_SHAPE:
		mg_helo_shape_names(s->value & 0xff, shape, sizeof(shape));
		snprintf(buf, len, "shape:%s/%s", shape, s->value & 0x100 ? "ehlo" : "helo");
		break;
	default:
		snprintf(buf, len, "?");
	}
	return buf;
}

/*
 * "helo:NAME" names a HELO by its text: hashed as the data plane hashes the
 * argument (mg_helo_hash: case-folded, at most MG_HELO_ARG_MAX bytes), so an
 * operator need not know the hash. Exactly 8 hex digits are the hash itself
 * (what mg_sig_str writes); a HELO that looks like one is written in quotes,
 * helo:"deadbeef". -EINVAL when the text is no HELO (empty, control bytes),
 * or is the hash form, which the caller parses.
 */
static int helo_text(const char *t, struct mg_signature *out)
{
	size_t n = strlen(t);

	if (n == 8 && strspn(t, "0123456789abcdefABCDEF") == 8)
		return -EINVAL;
	if (n >= 2 && t[0] == '"' && t[n - 1] == '"') {
		t++;
		n -= 2;
	}
	if (!n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)t[i] < 0x20 || t[i] == 0x7f)
			return -EINVAL;
	out->kind = MG_SIG_HELO;
	out->value = mg_helo_hash(t, (uint32_t)(n < MG_HELO_ARG_MAX ? n : MG_HELO_ARG_MAX));
	out->spec_class = MG_SIGCLASS_BY_KIND;
	return 0;
}

int mg_sig_parse(const char *text, struct mg_signature *out)
{
	char *end;

	if (!strncmp(text, "helo:", 5) && helo_text(text + 5, out) == 0)
		return 0;
	if (!strncmp(text, "fp:", 3) || !strncmp(text, "helo:", 5)) {
		const char *hex = strchr(text, ':') + 1;
		if (!*hex)
			return -EINVAL;
		unsigned long v = strtoul(hex, &end, 16);
		if (*end || v > 0xffffffffUL || strlen(hex) > 8)
			return -EINVAL;
		out->kind = text[0] == 'f' ? MG_SIG_FP : MG_SIG_HELO;
		out->value = (uint32_t)v;
		out->spec_class = MG_SIGCLASS_BY_KIND;
		return 0;
	}
	if (!strncmp(text, "shape:", 6)) {
		const char *slash = strrchr(text, '/');
		char names[64];
		if (!slash || (size_t)(slash - text - 6) >= sizeof(names))
			return -EINVAL;
		memcpy(names, text + 6, (size_t)(slash - text - 6));
		names[slash - text - 6] = '\0';
		int bits = mg_helo_shape_parse(names);
		if (bits < 0 || (strcmp(slash + 1, "ehlo") && strcmp(slash + 1, "helo")))
			return -EINVAL;
		out->kind = MG_SIG_SHAPE;
		out->value = (uint32_t)bits | (!strcmp(slash + 1, "ehlo") ? 0x100u : 0);
		out->spec_class = MG_SIGCLASS_HELO_SHAPE;
		return 0;
	}
	return -EINVAL;
}

size_t mg_ob_event_signatures(const struct mg_event *ev, struct mg_signature out[2])
{
	size_t n = 0;

	if (ev->type == MG_EV_SYN_MX) {
		/* A stock OS layout is what most of the world's hosts send: it says little on its own. */
		bool stock = mg_osfp_classify(&ev->u.fp) != MG_OSFP_NONE;
		out[n++] = (struct mg_signature){ MG_SIG_FP, ev->fp_hash,
						  stock ? MG_SIGCLASS_STOCK_OS_FP : MG_SIGCLASS_RARE_FP };
	} else if (ev->type == MG_EV_HELO) {
		size_t len = ev->arg_len <= MG_HELO_ARG_MAX ? ev->arg_len : MG_HELO_ARG_MAX;
		unsigned shape = mg_helo_shape(ev->u.arg, len, ev->src);
		/*
		 * One proper FQDN, the same from many hosts, is how one application
		 * installed on many hosts greets (a configured name), not how a kit
		 * hides: it makes an alert, not a campaign.
		 */
		out[n++] = (struct mg_signature){ MG_SIG_HELO, ev->helo_hash,
						  shape == MG_HELO_FQDN ? MG_SIGCLASS_APP_HELO : MG_SIGCLASS_SAME_HELO };
		/* Shape with the verb: a plain FQDN greeting is what everyone sends, not a signature. */
		if (shape & ~MG_HELO_FQDN)
			out[n++] = (struct mg_signature){ MG_SIG_SHAPE, shape | (ev->detail == MG_CMD_EHLO ? 0x100u : 0),
							  MG_SIGCLASS_HELO_SHAPE };
	}
	return n;
}

struct mg_outbreaks *mg_ob_new(const struct mg_ob_config *c)
{
	struct mg_outbreaks *o = calloc(1, sizeof(*o));

	if (o)
		mg_ob_set_config(o, c);
	return o;
}

void mg_ob_set_config(struct mg_outbreaks *o, const struct mg_ob_config *c)
{
	o->cfg = *c;
	if (!o->cfg.min_senders)
		o->cfg.min_senders = 1;
	if (!o->cfg.window_ns)
		o->cfg.window_ns = 10 * NS_PER_MIN;
	if (!o->cfg.decay_ns)
		o->cfg.decay_ns = 30 * NS_PER_MIN;
}

static void drop_group(struct mg_outbreaks *o, size_t i)
{
	free(o->g[i].list);
	o->g[i] = o->g[--o->n];
}

void mg_ob_free(struct mg_outbreaks *o)
{
	if (!o)
		return;
	while (o->n)
		drop_group(o, 0);
	free(o->g);
	free(o->ex_sig);
	free(o->ex_pfx);
	free(o->protected_nets);
	free(o);
}

static bool sig_eq(const struct mg_signature *a, const struct mg_signature *b)
{
	return a->kind == b->kind && a->value == b->value;
}

void mg_ob_except_sig(struct mg_outbreaks *o, const struct mg_signature *s, bool on)
{
	for (size_t i = 0; i < o->n_ex_sig; i++)
		if (sig_eq(&o->ex_sig[i], s)) {
			if (!on)
				o->ex_sig[i] = o->ex_sig[--o->n_ex_sig];
			return;
		}
	if (!on)
		return;
	/*
	 * The operator says this signature is legitimate: an active outbreak with
	 * it ends at the next tick. A flag, not old times: "long ago" does not
	 * exist while the monotonic clock is younger than the decay period.
	 * Level 1 until then, so the threat level drops at once.
	 */
	for (size_t i = 0; i < o->n; i++)
		if (o->g[i].active && sig_eq(&o->g[i].sig, s)) {
			o->g[i].level = 1;
			o->g[i].exempted = true;
		}
	struct mg_signature *v = realloc(o->ex_sig, (o->n_ex_sig + 1) * sizeof(*v));
	if (!v)
		return;
	o->ex_sig = v;
	o->ex_sig[o->n_ex_sig++] = *s;
}

int mg_ob_set_protected(struct mg_outbreaks *o, const struct mg_prefix *v, size_t n)
{
	struct mg_prefix *copy = NULL;

	if (n && !(copy = malloc(n * sizeof(*copy))))
		return -ENOMEM;
	if (n)
		memcpy(copy, v, n * sizeof(*copy));
	free(o->protected_nets);
	o->protected_nets = copy;
	o->n_protected = n;
	return 0;
}

static enum mg_ob_direction direction_of(const struct mg_outbreaks *o, const uint8_t addr[16])
{
	if (!o->n_protected)
		return MG_OB_OUTBOUND; /* nothing configured: every source is ours, as before protected networks */
	for (size_t i = 0; i < o->n_protected; i++)
		if (mg_prefix_covers(&o->protected_nets[i], addr))
			return MG_OB_OUTBOUND;
	return MG_OB_INBOUND;
}

void mg_ob_except_prefix(struct mg_outbreaks *o, const struct mg_prefix *p, bool on)
{
	for (size_t i = 0; i < o->n_ex_pfx; i++)
		if (mg_prefix_eq(&o->ex_pfx[i], p)) {
			if (!on)
				o->ex_pfx[i] = o->ex_pfx[--o->n_ex_pfx];
			return;
		}
	if (!on)
		return;
	struct mg_prefix *v = realloc(o->ex_pfx, (o->n_ex_pfx + 1) * sizeof(*v));
	if (!v)
		return;
	o->ex_pfx = v;
	o->ex_pfx[o->n_ex_pfx++] = *p;
}

void mg_ob_clear_exceptions(struct mg_outbreaks *o)
{
	o->n_ex_sig = o->n_ex_pfx = 0;
}

void mg_ob_foreach_exception(const struct mg_outbreaks *o,
			     void (*fn)(const struct mg_signature *sig, const struct mg_prefix *pfx, void *arg), void *arg)
{
	for (size_t i = 0; i < o->n_ex_sig; i++)
		fn(&o->ex_sig[i], NULL, arg);
	for (size_t i = 0; i < o->n_ex_pfx; i++)
		fn(NULL, &o->ex_pfx[i], arg);
}

static bool excepted_sig(const struct mg_outbreaks *o, const struct mg_signature *s)
{
	for (size_t i = 0; i < o->n_ex_sig; i++)
		if (sig_eq(&o->ex_sig[i], s))
			return true;
	return false;
}

static bool excepted_src(const struct mg_outbreaks *o, const uint8_t addr[16])
{
	for (size_t i = 0; i < o->n_ex_pfx; i++)
		if (mg_prefix_covers(&o->ex_pfx[i], addr))
			return true;
	return false;
}

/* Time from t to now; 0 if t is later (a caller's clocks a little apart must not look like ages). */
static uint64_t since_ns(uint64_t now, int64_t t)
{
	int64_t n = (int64_t)now;
	return n > t ? (uint64_t)(n - t) : 0;
}

/* 2 at K members, 3 at 2K, 4 at 4K, 5 at 8K and more. */
static unsigned level_for(uint32_t members, uint32_t k)
{
	unsigned l = 2;

	for (uint64_t t = 2ull * k; members >= t && l < 5; t *= 2)
		l++;
	return l;
}

/*
 * Do two outbreaks have the same hosts behind them? One bot kit on one set
 * of hosts usually shows several signatures at once (its SYN fingerprint, its
 * HELO, the HELO's shape): that is one campaign, not two. They are the same
 * when at least half of the smaller member list is in the other.
 */
static bool same_hosts(const struct group *a, const struct group *b)
{
	const struct group *s = a->n_proven <= b->n_proven ? a : b, *l = s == a ? b : a;
	uint32_t shared = 0;

	for (uint32_t i = 0; i < s->n_proven; i++)
		for (uint32_t j = 0; j < l->n_proven; j++)
			if (!memcmp(&s->list[i].src, &l->list[j].src, sizeof(s->list[i].src))) {
				shared++;
				break;
			}
	return s->n_proven && 2 * shared >= s->n_proven;
}

/*
 * What an outbreak adds to the threat level: its level, as far as its proven
 * members carry it. A spoofed SYN flood can make thousands of "members" of a
 * fingerprint; it cannot make one proven member, so it cannot cut every
 * host's thresholds.
 */
static unsigned threat_of(const struct mg_outbreaks *o, const struct group *g)
{
	if (!g->active || g->proven < o->cfg.min_senders)
		return 0;
	unsigned l = level_for(g->proven, o->cfg.min_senders);
	return l < g->level ? l : g->level;
}

struct decision {
	enum mg_ob_decision d;
	unsigned spec;
	struct mg_signature with;
};

/*
 * What to do about g (active, or a candidate about to be declared): its own
 * score plus the best of the other active outbreaks of its direction among
 * the same hosts; an application HELO among them makes it an application.
 */
static struct decision decide(const struct mg_outbreaks *o, const struct group *g)
{
	struct decision r = { .d = MG_OB_ALERT_ONLY, .spec = mg_sig_class_score(g->sig.spec_class) };
	bool app = g->sig.spec_class == MG_SIGCLASS_APP_HELO;
	unsigned best = 0;

	for (size_t i = 0; i < o->n; i++) {
		const struct group *h = &o->g[i];
		if (h == g || !h->active || h->exempted || h->dir != g->dir || !same_hosts(g, h))
			continue;
		if (h->sig.spec_class == MG_SIGCLASS_APP_HELO) {
			if (!app)
				r.with = h->sig;
			app = true;
		} else if (!app && mg_sig_class_score(h->sig.spec_class) > best) {
			best = mg_sig_class_score(h->sig.spec_class);
			r.with = h->sig;
		}
	}
	r.spec += best;
	if (app)
		r.d = MG_OB_APPLICATION;
	else if (r.spec < MG_OB_SPEC_ACT)
		r.d = MG_OB_ALERT_ONLY;
	else if (g->dir == MG_OB_INBOUND)
		r.d = MG_OB_INBOUND_HOLD;
	else if (g->sig.kind == MG_SIG_FP && r.spec >= MG_OB_SPEC_CONTAIN)
		r.d = MG_OB_CONTAINED;
	else
		r.d = MG_OB_COUNTED;
	return r;
}

/* Only our own hosts' outbreaks specific enough to act on lower thresholds. */
static bool counts_for_threat(const struct mg_outbreaks *o, const struct group *g)
{
	if (!g->active || g->dir != MG_OB_OUTBOUND)
		return false;
	enum mg_ob_decision d = decide(o, g).d;
	return d == MG_OB_COUNTED || d == MG_OB_CONTAINED;
}

unsigned mg_ob_threat_level(const struct mg_outbreaks *o)
{
	unsigned top = 0;
	bool distinct = false;
	size_t counted[64], n_counted = 0;

	/* The active outbreaks that count, each decided once (a decision looks at all the others). */
	for (size_t i = 0; i < o->n; i++) {
		/* Counted when its decision says so, and no higher than its proven members carry it. */
		unsigned t = counts_for_threat(o, &o->g[i]) ? threat_of(o, &o->g[i]) : 0;
		if (!t)
			continue;
		if (t > top)
			top = t;
		if (n_counted < sizeof(counted) / sizeof(counted[0]))
			counted[n_counted++] = i;
		else
			distinct = true; /* more than 64 at once are not one campaign's few signatures */
	}
	for (size_t a = 0; a < n_counted; a++) {
		const struct group *g = &o->g[counted[a]];
		for (size_t b = a + 1; b < n_counted && !distinct; b++)
			if (!same_hosts(g, &o->g[counted[b]]))
				distinct = true;
	}
	if (distinct && top < 5)
		top++; /* two campaigns at once, on different hosts: more than one kit */
	return top;
}

size_t mg_ob_active(const struct mg_outbreaks *o)
{
	size_t n = 0;
	for (size_t i = 0; i < o->n; i++)
		n += o->g[i].active;
	return n;
}

static struct mg_ob_action *emit(struct mg_ob_action *out, size_t max, size_t *n, enum mg_ob_action_kind kind,
				 const struct mg_outbreaks *o, const struct group *g)
{
	if (*n >= max)
		return NULL;
	struct mg_ob_action *a = &out[(*n)++];
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	a->sig = g->sig;
	a->level = g->level;
	a->threat_level = mg_ob_threat_level(o);
	a->members = g->members;
	a->proven = g->proven;
	a->since_ns = g->since > 0 ? (uint64_t)g->since : 0;
	a->direction = g->dir;
	struct decision d = decide(o, g);
	a->decision = d.d;
	a->specificity = d.spec;
	a->with = d.with;
	return a;
}

/* Announce every active outbreak whose decision changed (a co-signature came or went). */
static void redecide(struct mg_outbreaks *o, struct mg_ob_action *out, size_t max, size_t *n)
{
	for (size_t i = 0; i < o->n; i++) {
		struct group *g = &o->g[i];
		if (!g->active || g->exempted)
			continue;
		enum mg_ob_decision d = decide(o, g).d;
		if (d != g->told) {
			g->told = d;
			emit(out, max, n, MG_OB_DECIDE, o, g);
		}
	}
}

/*
 * Put m in g's list as proven: after the proven ones, in the place of an
 * unproven one when the list is full (that one is still counted, no longer
 * listed). False if the list holds only proven members already.
 */
static bool list_proven(struct group *g, const struct mg_ob_member *m)
{
	if (g->n_proven >= MG_OB_MAX_MEMBERS)
		return false;
	if (g->n_list < MG_OB_MAX_MEMBERS)
		g->list[g->n_list++] = g->list[g->n_proven];
	g->list[g->n_proven++] = *m;
	return true;
}

/*
 * A listed unproven source at i has now proven itself: into the named part,
 * with what the proof showed (its MAC and VLANs: a spoofer's SYN carried the
 * spoofer's) and the time it was proven.
 */
static void promote(struct group *g, uint32_t i, const struct mg_ob_member *m)
{
	g->list[i] = g->list[g->n_proven];
	g->list[g->n_proven++] = *m;
}

static size_t observe(struct mg_outbreaks *o, const struct mg_prefix *src, const uint8_t mac[6], uint16_t vlan_outer,
		      uint16_t vlan_inner, const struct mg_signature *sig, bool proven, uint64_t now,
		      struct mg_ob_action *out, size_t max)
{
	size_t n = 0;
	struct group *g = NULL;
	enum mg_ob_direction dir = direction_of(o, src->addr);

	if (!sig->value || excepted_sig(o, sig) || excepted_src(o, src->addr))
		return 0;
	for (size_t i = 0; i < o->n && !g; i++)
		if (sig_eq(&o->g[i].sig, sig) && o->g[i].dir == dir)
			g = &o->g[i];
	if (!g) {
		if (o->n >= MAX_GROUPS)
			return 0; /* a storm of distinct characteristics: none of them is shared */
		if (o->n == o->cap) {
			size_t cap = o->cap ? o->cap * 2 : 64;
			struct group *v = realloc(o->g, cap * sizeof(*v));
			if (!v)
				return 0;
			o->g = v;
			o->cap = cap;
		}
		g = &o->g[o->n++];
		memset(g, 0, sizeof(*g));
		g->sig = *sig;
		g->sig.spec_class = (uint8_t)resolve_class(sig);
		g->dir = dir;
		g->list = calloc(MG_OB_MAX_MEMBERS, sizeof(*g->list));
		if (!g->list) {
			o->n--;
			return 0;
		}
	}
	struct mg_ob_member m = { .src = *src, .vlan_outer = vlan_outer, .vlan_inner = vlan_inner, .joined_ns = now };
	if (mac)
		memcpy(m.mac, mac, 6);
	for (uint32_t i = 0; i < g->n_list; i++)
		if (!memcmp(&g->list[i].src, src, sizeof(*src))) {
			if (!g->active)
				g->list[i].joined_ns = now; /* still a candidate: its latest sign counts */
			if (!proven || i < g->n_proven)
				return 0;
			/* Seen before through a SYN only; now proven: it may be named. */
			promote(g, i, &m);
			if (!g->active)
				return 0;
			g->proven++;
			struct mg_ob_action *a = emit(out, max, &n, MG_OB_JOIN, o, g);
			if (a)
				a->member = &g->list[g->n_proven - 1];
			return n;
		}

	if (g->active) {
		bool listed = proven ? list_proven(g, &m) : g->n_list < MG_OB_MAX_MEMBERS;
		if (listed && !proven)
			g->list[g->n_list++] = m;
		g->members++;
		g->last_join = (int64_t)now;
		/* A source only a SYN vouches for counts toward the signature, but is never named. */
		if (proven) {
			g->proven++;
			struct mg_ob_action *a = emit(out, max, &n, MG_OB_JOIN, o, g);
			if (a)
				a->member = listed ? &g->list[g->n_proven - 1] : NULL;
		}
		unsigned l = level_for(g->members, o->cfg.min_senders);
		if (l > g->level) {
			g->level = l;
			g->last_change = (int64_t)now;
			emit(out, max, &n, MG_OB_LEVEL, o, g);
		}
		redecide(o, out, max, &n);
		return n;
	}

	/* A candidate group: keep the senders of the last window only (proven ones stay first). */
	uint32_t kept = 0, kept_proven = 0;
	for (uint32_t i = 0; i < g->n_list; i++)
		if (since_ns(now, (int64_t)g->list[i].joined_ns) < o->cfg.window_ns) {
			kept_proven += i < g->n_proven;
			g->list[kept++] = g->list[i];
		}
	g->n_list = kept;
	g->n_proven = kept_proven;
	if (proven)
		list_proven(g, &m);
	else if (g->n_list < MG_OB_MAX_MEMBERS)
		g->list[g->n_list++] = m;
	if (g->n_list < o->cfg.min_senders)
		return 0;
	/*
	 * Declared even when no sender is proven: containing a fingerprint that
	 * spoofed SYNs carry harms no one, and the kernel drops them from then on.
	 * Naming a source, or raising the threat level, takes proof.
	 *
	 * Outside senders converging on our relay are what a relay sees all day
	 * (the world's MTAs share a few stock fingerprints): declared only when
	 * specific enough for the relay to hold their mail.
	 */
	if (dir == MG_OB_INBOUND && decide(o, g).d != MG_OB_INBOUND_HOLD)
		return 0;
	g->active = true;
	g->members = g->n_list;
	g->proven = g->n_proven;
	g->since = g->last_join = g->last_change = (int64_t)now;
	g->level = level_for(g->members, o->cfg.min_senders);
	g->told = decide(o, g).d;
	struct mg_ob_action *a = emit(out, max, &n, MG_OB_DECLARE, o, g);
	if (a) {
		a->list = g->list;
		a->n_list = g->n_proven;
	}
	redecide(o, out, max, &n);
	return n;
}

size_t mg_ob_observe(struct mg_outbreaks *o, const struct mg_prefix *src, const uint8_t mac[6], uint16_t vlan_outer,
		     uint16_t vlan_inner, const struct mg_signature *sig, uint64_t now, struct mg_ob_action *out,
		     size_t max)
{
	return observe(o, src, mac, vlan_outer, vlan_inner, sig, true, now, out, max);
}

size_t mg_ob_observe_unproven(struct mg_outbreaks *o, const struct mg_prefix *src, const uint8_t mac[6],
			      uint16_t vlan_outer, uint16_t vlan_inner, const struct mg_signature *sig, uint64_t now,
			      struct mg_ob_action *out, size_t max)
{
	return observe(o, src, mac, vlan_outer, vlan_inner, sig, false, now, out, max);
}

size_t mg_ob_tick(struct mg_outbreaks *o, uint64_t now, struct mg_ob_action *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < o->n && n < max;) {
		struct group *g = &o->g[i];
		if (!g->active) {
			/*
			 * A candidate whose newest sender is older than the window has
			 * nothing left to count; one with no sender at all neither (its
			 * age is not "since 0": at boot, 0 is only seconds ago).
			 */
			bool any = false;
			uint64_t newest = 0;
			for (uint32_t k = 0; k < g->n_list; k++)
				if (!any || g->list[k].joined_ns > newest) {
					newest = g->list[k].joined_ns;
					any = true;
				}
			if (!any || since_ns(now, (int64_t)newest) >= o->cfg.window_ns) {
				drop_group(o, i);
				continue;
			}
			i++;
			continue;
		}
		bool ends = g->exempted;
		/* One level down per quiet decay period. */
		if (!ends && since_ns(now, g->last_join) >= o->cfg.decay_ns &&
		    since_ns(now, g->last_change) >= o->cfg.decay_ns) {
			g->level = g->level ? g->level - 1 : 0;
			g->last_change = (int64_t)now;
			ends = g->level == 0;
			if (!ends)
				emit(out, max, &n, MG_OB_LEVEL, o, g);
		}
		if (ends) {
			g->level = 0;
			g->active = false;
			struct mg_ob_action *a = emit(out, max, &n, MG_OB_END, o, g);
			if (a)
				a->exempted = g->exempted;
			drop_group(o, i);
			continue;
		}
		i++;
	}
	redecide(o, out, max, &n);
	return n;
}

const char *mg_ob_explain(const struct mg_signature *sig, enum mg_ob_direction dir, enum mg_ob_decision d,
			  unsigned specificity, const struct mg_signature *with, char *buf, size_t len)
{
	char wsig[64], parts[160];
	const char *what;

	if (with && with->kind)
		snprintf(parts, sizeof(parts), "%s %u + %s %s %u", mg_sig_class_name((enum mg_sig_class)sig->spec_class),
			 mg_sig_class_score((enum mg_sig_class)sig->spec_class), mg_sig_str(with, wsig, sizeof(wsig)),
			 mg_sig_class_name((enum mg_sig_class)with->spec_class),
			 mg_sig_class_score((enum mg_sig_class)with->spec_class));
	else
		snprintf(parts, sizeof(parts), "%s %u", mg_sig_class_name((enum mg_sig_class)sig->spec_class),
			 mg_sig_class_score((enum mg_sig_class)sig->spec_class));
	switch (d) {
	case MG_OB_APPLICATION:
		what = "one identical proper-FQDN HELO among these hosts: an application, not a campaign; an alert only";
		break;
	case MG_OB_ALERT_ONLY:
		what = "too common a signature to act on (from 2): an alert only";
		break;
	case MG_OB_INBOUND_HOLD:
		what = "outside senders: their mail held at the relay, never contained in the kernel";
		break;
	case MG_OB_CONTAINED:
		what = "counted in the threat level, members held at the relay, contained in the kernel";
		break;
	case MG_OB_COUNTED:
		what = sig->kind == MG_SIG_FP ? "counted in the threat level, members held at the relay; "
						"not contained (a fingerprint needs 3)"
					      : "counted in the threat level, members held at the relay";
		break;
	default:
		what = "?";
	}
	snprintf(buf, len, "%s, specificity %u (%s): %s", mg_ob_direction_name(dir), specificity, parts, what);
	return buf;
}

bool mg_ob_member_of(const struct mg_outbreaks *o, const uint8_t addr[16], struct mg_signature *sig)
{
	for (size_t i = 0; i < o->n; i++) {
		if (!o->g[i].active)
			continue;
		/* Too common a signature, or an application: its members' mail is not held for it. */
		enum mg_ob_decision d = decide(o, &o->g[i]).d;
		if (d != MG_OB_COUNTED && d != MG_OB_CONTAINED && d != MG_OB_INBOUND_HOLD)
			continue;
		for (uint32_t k = 0; k < o->g[i].n_proven; k++)
			if (mg_prefix_covers(&o->g[i].list[k].src, addr)) {
				if (sig)
					*sig = o->g[i].sig;
				return true;
			}
	}
	return false;
}

void mg_ob_foreach(const struct mg_outbreaks *o, void (*fn)(const struct mg_ob_view *v, void *arg), void *arg)
{
	for (size_t i = 0; i < o->n; i++) {
		const struct group *g = &o->g[i];
		if (!g->active)
			continue;
		/* Times from before this boot (restored) show as 0, the earliest the caller's clock can say. */
		struct decision d = decide(o, g);
		struct mg_ob_view v = { .sig = g->sig, .direction = g->dir, .decision = d.d, .specificity = d.spec,
					.with = d.with, .level = g->level, .members = g->members, .proven = g->proven,
					.since_ns = g->since > 0 ? (uint64_t)g->since : 0,
					.last_join_ns = g->last_join > 0 ? (uint64_t)g->last_join : 0,
					.list = g->list, .n_list = g->n_proven };
		fn(&v, arg);
	}
}

/* ---- persistence -------------------------------------------------------------------- */

/*
 * {"version": 1, "outbreaks": [{"sig": "fp:00b07b07", "class": "rare-fingerprint", "direction": "outbound",
 *   "level": 3, "members": 12,
 *   "since": W, "last_join": W, "last_change": W,
 *   "list": [{"src": "198.18.0.1", "mac": "02:00:00:00:00:01", "vlan_outer": 100, "vlan_inner": 0, "joined": W}]}]}
 * W: wall-clock ns. An exempted outbreak is not saved: it is ending. "class" and "direction" came later: a
 * file without them restores each outbreak as its kind says (a fingerprint rare, so contained as before) and
 * outbound.
 */
#define OB_SAVE_VERSION 1

/* A time of the caller's timeline as wall-clock ns (0 if that would be before 1970). */
static json_t *wall_of(int64_t t, uint64_t now, uint64_t wall)
{
	int64_t w = (int64_t)wall - ((int64_t)now - t);
	return json_integer(w > 0 ? w : 0);
}

json_t *mg_ob_save_json(const struct mg_outbreaks *o, uint64_t now, uint64_t wall)
{
	json_t *arr = json_array();
	json_t *root = json_pack("{s:i, s:o}", "version", OB_SAVE_VERSION, "outbreaks", arr);
	char buf[128];

	if (!root)
		return NULL;
	for (size_t i = 0; i < o->n; i++) {
		const struct group *g = &o->g[i];
		if (!g->active || g->exempted)
			continue;
		json_t *list = json_array();
		bool ok = list != NULL;
		for (uint32_t k = 0; ok && k < g->n_proven; k++) {
			const struct mg_ob_member *m = &g->list[k];
			char mac[24];
			ok = !json_array_append_new(list, json_pack("{s:s, s:s, s:i, s:i, s:o}", "src",
							      mg_prefix_str(&m->src, buf, sizeof(buf)), "mac",
							      mg_mac_str(m->mac, mac, sizeof(mac)), "vlan_outer",
							      (int)m->vlan_outer, "vlan_inner", (int)m->vlan_inner,
							      "joined", wall_of((int64_t)m->joined_ns, now, wall)));
		}
		if (!ok) {
			json_decref(list);
			json_decref(root); /* out of memory: no save short of an outbreak */
			return NULL;
		}
		if (json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:i, s:I, s:I, s:o, s:o, s:o, s:o}", "sig",
						     mg_sig_str(&g->sig, buf, sizeof(buf)), "class",
						     mg_sig_class_name((enum mg_sig_class)g->sig.spec_class), "direction",
						     mg_ob_direction_name(g->dir), "level", (int)g->level,
						     "members", (json_int_t)g->members, "proven", (json_int_t)g->proven, "since", wall_of(g->since, now, wall),
						     "last_join", wall_of(g->last_join, now, wall), "last_change",
						     wall_of(g->last_change, now, wall), "list", list))) {
			json_decref(root);
			return NULL;
		}
	}
	return root;
}

static bool get_int(const json_t *obj, const char *key, json_int_t lo, json_int_t hi, json_int_t *out)
{
	const json_t *v = json_object_get(obj, key);

	if (!json_is_integer(v))
		return false;
	*out = json_integer_value(v);
	return *out >= lo && *out <= hi;
}

static bool parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	int used = 0;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%n", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &used) != 6 ||
	    s[used])
		return false;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return true;
}

static void free_groups(struct group *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].list);
	free(v);
}

/*
 * Saved times are wall-clock ns below 2^62 (the year 2116): the decay and
 * re-basing arithmetic on them cannot overflow.
 */
#define OB_TIME_MAX (((json_int_t)1 << 62) - 1)

/*
 * One saved outbreak into g (its list allocated), times still wall-clock.
 * False on anything malformed.
 */
static bool parse_outbreak(const json_t *e, struct group *g)
{
	json_int_t level, members, proven, since, last_join, last_change;
	const json_t *list = json_object_get(e, "list"), *x;
	size_t k;

	memset(g, 0, sizeof(*g));
	if (!json_is_object(e) || !json_is_string(json_object_get(e, "sig")) ||
	    mg_sig_parse(json_string_value(json_object_get(e, "sig")), &g->sig) || !g->sig.value ||
	    !get_int(e, "level", 1, 5, &level) || !get_int(e, "members", 1, UINT32_MAX, &members) ||
	    !get_int(e, "since", 0, OB_TIME_MAX, &since) || !get_int(e, "last_join", 0, OB_TIME_MAX, &last_join) ||
	    !get_int(e, "last_change", 0, OB_TIME_MAX, &last_change) || !json_is_array(list) ||
	    json_array_size(list) > MG_OB_MAX_MEMBERS || json_array_size(list) > (size_t)members)
		return false;
	const json_t *cls = json_object_get(e, "class"), *dir = json_object_get(e, "direction");
	if (cls) {
		int c = -1;
		for (int i = MG_SIGCLASS_BY_KIND + 1; i < MG_SIGCLASS_MAX && json_is_string(cls); i++)
			if (!strcmp(json_string_value(cls), mg_sig_class_name((enum mg_sig_class)i)))
				c = i;
		if (c < 0)
			return false;
		g->sig.spec_class = (uint8_t)c;
	}
	g->sig.spec_class = (uint8_t)resolve_class(&g->sig);
	if (dir) {
		if (!json_is_string(dir))
			return false;
		if (!strcmp(json_string_value(dir), mg_ob_direction_name(MG_OB_INBOUND)))
			g->dir = MG_OB_INBOUND;
		else if (strcmp(json_string_value(dir), mg_ob_direction_name(MG_OB_OUTBOUND)))
			return false;
	}
	/*
	 * The saved list holds the proven members only. A file from before
	 * proof was recorded has no "proven": only what it lists counts as
	 * proven, since its other members may have been no more than SYNs.
	 */
	if (!json_object_get(e, "proven"))
		proven = (json_int_t)json_array_size(list);
	else if (!get_int(e, "proven", 0, members, &proven) || (size_t)proven < json_array_size(list))
		return false;
	g->list = calloc(MG_OB_MAX_MEMBERS, sizeof(*g->list));
	if (!g->list)
		return false;
	json_array_foreach(list, k, x) {
		struct mg_ob_member *m = &g->list[k];
		json_int_t vo, vi, joined;
		const json_t *src = json_object_get(x, "src"), *mac = json_object_get(x, "mac");
		if (!json_is_object(x) || !json_is_string(src) || mg_prefix_parse(json_string_value(src), &m->src) ||
		    (mac && (!json_is_string(mac) || !parse_mac(json_string_value(mac), m->mac))) ||
		    !get_int(x, "vlan_outer", 0, 4095, &vo) || !get_int(x, "vlan_inner", 0, 4095, &vi) ||
		    !get_int(x, "joined", 0, OB_TIME_MAX, &joined)) {
			free(g->list);
			g->list = NULL;
			return false;
		}
		m->vlan_outer = (uint16_t)vo;
		m->vlan_inner = (uint16_t)vi;
		m->joined_ns = (uint64_t)joined;
	}
	g->n_list = g->n_proven = (uint32_t)json_array_size(list);
	g->active = true;
	g->level = (unsigned)level;
	g->members = (uint32_t)members;
	g->proven = (uint32_t)proven;
	g->since = since;
	g->last_join = last_join;
	g->last_change = last_change;
	return true;
}

/*
 * The decay the outbreak would have gone through up to `wall` had the daemon
 * run: the first step once both its last join and its last change are a
 * decay period old, one more per period after. False if it has ended.
 */
static bool decay_to(struct group *g, uint64_t decay, int64_t wall)
{
	int64_t first;

	/* A decay period too long to add to the time: not one has passed. */
	if (decay > INT64_MAX ||
	    __builtin_add_overflow(g->last_join > g->last_change ? g->last_join : g->last_change, (int64_t)decay, &first) ||
	    wall < first)
		return true;
	uint64_t steps = 1 + (uint64_t)(wall - first) / decay;
	if (steps >= g->level)
		return false;
	g->level -= (unsigned)steps;
	g->last_change = first + (int64_t)((steps - 1) * decay);
	return true;
}

/* A wall-clock time onto the caller's timeline; a time after `wall` (the clock went back) is now. */
static int64_t rebase(int64_t t, uint64_t now, uint64_t wall)
{
	return t >= (int64_t)wall ? (int64_t)now : (int64_t)now - ((int64_t)wall - t);
}

int mg_ob_restore_json(struct mg_outbreaks *o, const json_t *j, uint64_t now, uint64_t wall, size_t *refused)
{
	const json_t *arr = json_object_get(j, "outbreaks"), *e;
	const json_t *ver = json_object_get(j, "version");
	struct group *in;
	size_t n_in = 0, k, bad = 0;

	if (refused)
		*refused = 0;
	if (!json_is_object(j) || !json_is_integer(ver) || json_integer_value(ver) != OB_SAVE_VERSION ||
	    !json_is_array(arr) || json_array_size(arr) > MAX_GROUPS || now > INT64_MAX || wall > INT64_MAX)
		return -EINVAL;
	in = calloc(json_array_size(arr) + 1, sizeof(*in));
	if (!in)
		return -ENOMEM;
	/*
	 * Every outbreak parsed and checked before anything changes. A malformed
	 * one, or a second one for a signature, is refused alone: the others
	 * are still contained.
	 */
	json_array_foreach(arr, k, e) {
		struct group g;
		bool dup = false;
		if (!parse_outbreak(e, &g)) {
			bad++;
			continue;
		}
		for (size_t i = 0; i < n_in && !dup; i++)
			dup = sig_eq(&in[i].sig, &g.sig) && in[i].dir == g.dir;
		if (dup) {
			free(g.list);
			bad++;
			continue;
		}
		in[n_in++] = g;
	}
	if (refused)
		*refused = bad;
	/* Room for them all (candidates with the same signature give way, so this is enough). */
	size_t keep = 0;
	for (size_t i = 0; i < o->n; i++)
		keep += !o->g[i].active;
	if (keep + n_in > o->cap) {
		struct group *v = realloc(o->g, (keep + n_in) * sizeof(*v));
		if (!v) {
			free_groups(in, n_in);
			return -ENOMEM;
		}
		o->g = v;
		o->cap = keep + n_in;
	}

	for (size_t i = 0; i < o->n;) {
		bool same = false;
		for (size_t r = 0; r < n_in && !same; r++)
			same = sig_eq(&in[r].sig, &o->g[i].sig);
		if (o->g[i].active || same)
			drop_group(o, i);
		else
			i++;
	}
	for (size_t r = 0; r < n_in; r++) {
		struct group *g = &in[r];
		if (!decay_to(g, o->cfg.decay_ns, (int64_t)wall)) {
			free(g->list);
			continue;
		}
		g->since = rebase(g->since, now, wall);
		g->last_join = rebase(g->last_join, now, wall);
		g->last_change = rebase(g->last_change, now, wall);
		/* Members' join times only inform (active outbreaks do not age by them): before boot reads as 0. */
		for (uint32_t m = 0; m < g->n_list; m++) {
			int64_t t = rebase((int64_t)g->list[m].joined_ns, now, wall);
			g->list[m].joined_ns = t > 0 ? (uint64_t)t : 0;
		}
		/* The operator's exceptions hold across a restart: an excepted one ends at the next tick. */
		if (excepted_sig(o, &g->sig)) {
			g->exempted = true;
			g->level = 1;
		}
		o->g[o->n++] = *g;
	}
	free(in);
	/* What is done about each follows from them all (co-signatures): as it stands now, not announced again. */
	for (size_t i = 0; i < o->n; i++)
		if (o->g[i].active)
			o->g[i].told = decide(o, &o->g[i]).d;
	return 0;
}
