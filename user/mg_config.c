// SPDX-License-Identifier: GPL-2.0-only
/*
 * mg_config.c - mtaguardd's JSON configuration file (see mg_config.h).
 *
 * jansson parses and reports syntax errors with a line and column, but keeps
 * no positions for the values it returns. To point at the offending key or
 * value of a file that parsed, a small scanner walks the original text to the
 * same path (find_path below). The text is known to be valid JSON by then,
 * so the scanner can be simple.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <jansson.h>

#include "mg_config.h"
#include "mg_names.h"
#include "mg_metrics_http.h"

#define MAX_FILE (1u << 20)
#define MAX_DEPTH 8
#define NS_PER_SEC 1000000000ull

/* ---- where a path stands in the text ----------------------------------------------- */

/* One step of a path: an object key, or an array index (key == NULL). */
struct step {
	const char *key;
	size_t index;
};

struct scanner {
	const char *p, *end;
};

static void skip_ws(struct scanner *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

/* Step over a string token, quotes included. */
static void skip_string(struct scanner *s)
{
	s->p++; /* opening quote */
	while (s->p < s->end && *s->p != '"')
		s->p += *s->p == '\\' && s->p + 1 < s->end ? 2 : 1;
	if (s->p < s->end)
		s->p++;
}

/*
 * Does the key token [tok, tok_end) (quotes included) spell `key`? jansson
 * hands us keys with escapes decoded, so a key written "\u0074reshold" must
 * still be found; such keys are rare, so jansson itself decodes them.
 */
static bool key_is(const char *tok, const char *tok_end, const char *key)
{
	size_t n = (size_t)(tok_end - tok);

	if (n < 2)
		return false;
	if (!memchr(tok, '\\', n))
		return n - 2 == strlen(key) && !memcmp(tok + 1, key, n - 2);
	json_t *j = json_loadb(tok, n, JSON_DECODE_ANY, NULL);
	bool same = j && json_is_string(j) && !strcmp(json_string_value(j), key);
	json_decref(j);
	return same;
}

static void skip_value(struct scanner *s)
{
	skip_ws(s);
	if (s->p >= s->end)
		return;
	if (*s->p == '"') {
		skip_string(s);
	} else if (*s->p == '{' || *s->p == '[') {
		int depth = 0;
		while (s->p < s->end) {
			char c = *s->p;
			if (c == '"') {
				skip_string(s);
				continue;
			}
			s->p++;
			if (c == '{' || c == '[')
				depth++;
			else if ((c == '}' || c == ']') && --depth == 0)
				return;
		}
	} else {
		while (s->p < s->end && !strchr(",}] \t\r\n", *s->p))
			s->p++;
	}
}

/*
 * Where the value at path starts (or its key, if want_key and the last step
 * is a key); NULL if the path is not in the text. The first of duplicate keys
 * would win, but the parser refuses duplicates before we get here.
 */
static const char *find_path(struct scanner *s, const struct step *path, size_t n, bool want_key)
{
	skip_ws(s);
	if (n == 0)
		return s->p;
	if (path[0].key && s->p < s->end && *s->p == '{') {
		s->p++;
		for (;;) {
			skip_ws(s);
			if (s->p >= s->end || *s->p != '"')
				return NULL;
			const char *kpos = s->p;
			skip_string(s);
			bool hit = key_is(kpos, s->p, path[0].key);
			skip_ws(s);
			if (s->p < s->end && *s->p == ':')
				s->p++;
			if (hit) {
				if (n == 1 && want_key)
					return kpos;
				return find_path(s, path + 1, n - 1, want_key);
			}
			skip_value(s);
			skip_ws(s);
			if (s->p < s->end && *s->p == ',')
				s->p++;
			else
				return NULL;
		}
	}
	if (!path[0].key && s->p < s->end && *s->p == '[') {
		s->p++;
		for (size_t i = 0;; i++) {
			skip_ws(s);
			if (s->p < s->end && *s->p == ']')
				return NULL;
			if (i == path[0].index)
				return find_path(s, path + 1, n - 1, want_key);
			skip_value(s);
			skip_ws(s);
			if (s->p < s->end && *s->p == ',')
				s->p++;
			else
				return NULL;
		}
	}
	return NULL;
}

/*
 * 1-based line and column of `at`. Columns count characters, not bytes, as
 * jansson counts them for syntax errors: UTF-8 continuation bytes do not
 * advance the column, so both kinds of message agree on a line with "é".
 */
static void line_col(const char *text, const char *at, int *line, int *col)
{
	*line = 1;
	*col = 1;
	for (const char *p = text; p < at; p++) {
		if (*p == '\n') {
			(*line)++;
			*col = 1;
		} else if (((unsigned char)*p & 0xc0) != 0x80) {
			(*col)++;
		}
	}
}

/*
 * Keep an error message on one line: values decoded from the file can hold
 * control characters ("\n" escapes), and the caller logs err as one line.
 */
static void one_line(char *err)
{
	for (; err && *err; err++)
		if ((unsigned char)*err < 0x20 || *err == 0x7f)
			*err = '?';
}

/* ---- the parse context ------------------------------------------------------------- */

struct ctx {
	const char *text;
	size_t len;
	const char *name;
	char *err;
	size_t errlen;
	struct step path[MAX_DEPTH];
	size_t depth;
};

static void path_str(const struct ctx *c, size_t n, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && o < len; i++) {
		int w;
		if (c->path[i].key)
			w = snprintf(buf + o, len - o, "%s%s", i ? "." : "", c->path[i].key);
		else
			w = snprintf(buf + o, len - o, "[%zu]", c->path[i].index);
		if (w < 0)
			break;
		o += (size_t)w;
	}
}

/*
 * Where the current path stands in the text. A path the scanner cannot find
 * (it should not happen with valid JSON) falls back to its nearest ancestor,
 * down to the top-level value, so every message still has a line and column.
 */
static const char *locate(const struct ctx *c, bool want_key)
{
	for (size_t n = c->depth;; n--) {
		struct scanner s = { c->text, c->text + c->len };
		const char *at = find_path(&s, c->path, n, want_key && n == c->depth);
		if (at || n == 0)
			return at;
	}
}

/* Write "NAME:LINE:COL: msg" for position `at`. Always returns -EINVAL. */
static int report(struct ctx *c, const char *at, const char *msg)
{
	int line, col;

	line_col(c->text, at, &line, &col);
	snprintf(c->err, c->errlen, "%s:%d:%d: %s", c->name, line, col, msg);
	one_line(c->err);
	return -EINVAL;
}

/* Report an error at the current path's value, naming the path. Always returns -EINVAL. */
static int __attribute__((format(printf, 2, 3))) fail_at(struct ctx *c, const char *fmt, ...)
{
	char msg[512], where[256], line[800];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	path_str(c, c->depth, where, sizeof(where));
	if (where[0])
		snprintf(line, sizeof(line), "\"%s\": %s", where, msg);
	else
		snprintf(line, sizeof(line), "%s", msg);
	return report(c, locate(c, false), line);
}

static void push_key(struct ctx *c, const char *key)
{
	if (c->depth < MAX_DEPTH)
		c->path[c->depth++] = (struct step){ .key = key };
}

static void push_index(struct ctx *c, size_t i)
{
	if (c->depth < MAX_DEPTH)
		c->path[c->depth++] = (struct step){ .key = NULL, .index = i };
}

static void pop(struct ctx *c)
{
	if (c->depth)
		c->depth--;
}

/* An unknown key: reported at the key itself, naming the object it stands in. */
static int unknown_key(struct ctx *c, const char *key)
{
	char in[256], msg[600];

	path_str(c, c->depth, in, sizeof(in));
	if (in[0])
		snprintf(msg, sizeof(msg), "unknown key \"%s\" in \"%s\"", key, in);
	else
		snprintf(msg, sizeof(msg), "unknown key \"%s\"", key);
	push_key(c, key);
	const char *at = locate(c, true);
	pop(c);
	return report(c, at, msg);
}

/* ---- typed readers ----------------------------------------------------------------- */

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "?";
}

static int want_object(struct ctx *c, const json_t *v)
{
	return json_is_object(v) ? 0 : fail_at(c, "must be an object, not %s", type_name(v));
}

static int read_uint(struct ctx *c, const json_t *v, long long lo, long long hi, uint64_t *out)
{
	if (!json_is_integer(v))
		return fail_at(c, "must be an integer, not %s", type_name(v));
	long long x = json_integer_value(v);
	if (x < lo || x > hi)
		return fail_at(c, "must be %lld..%lld, not %lld", lo, hi, x);
	*out = (uint64_t)x;
	return 0;
}

static int read_u32(struct ctx *c, const json_t *v, long long lo, long long hi, uint32_t *out)
{
	uint64_t x = 0;
	int e = read_uint(c, v, lo, hi, &x);
	if (!e)
		*out = (uint32_t)x;
	return e;
}

static int read_weight(struct ctx *c, const json_t *v, double *out)
{
	if (!json_is_number(v))
		return fail_at(c, "must be a number, not %s", type_name(v));
	double x = json_number_value(v);
	if (!isfinite(x) || x < 0 || x > 1e6)
		return fail_at(c, "must be a number from 0 to 1000000");
	*out = x;
	return 0;
}

static int read_bool(struct ctx *c, const json_t *v, bool *out)
{
	if (!json_is_boolean(v))
		return fail_at(c, "must be true or false, not %s", type_name(v));
	*out = json_is_true(v);
	return 0;
}

static int read_string(struct ctx *c, const json_t *v, char *out, size_t outlen)
{
	if (!json_is_string(v))
		return fail_at(c, "must be a string, not %s", type_name(v));
	const char *s = json_string_value(v);
	if (!*s)
		return fail_at(c, "must not be empty");
	if (strlen(s) >= outlen)
		return fail_at(c, "too long (at most %zu bytes)", outlen - 1);
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

static int read_duration(struct ctx *c, const json_t *v, bool zero_ok, uint64_t *ns)
{
	if (json_is_integer(v)) {
		long long x = json_integer_value(v);
		if (x < 0 || (unsigned long long)x > UINT64_MAX / NS_PER_SEC)
			return fail_at(c, "not a duration: %lld", x);
		*ns = (uint64_t)x * NS_PER_SEC;
	} else if (json_is_string(v)) {
		if (mg_parse_duration(json_string_value(v), ns))
			return fail_at(c, "not a duration: \"%s\" (e.g. 90s, 10m, 1h, 7d)", json_string_value(v));
	} else {
		return fail_at(c, "must be a duration (seconds, or a string like \"10m\"), not %s", type_name(v));
	}
	if (!zero_ok && *ns == 0)
		return fail_at(c, "must be longer than zero");
	return 0;
}

static int read_prefixes(struct ctx *c, const json_t *v, struct mg_prefix_list *out)
{
	size_t i;
	json_t *e;

	if (!json_is_array(v))
		return fail_at(c, "must be an array of addresses or prefixes, not %s", type_name(v));
	out->v = calloc(json_array_size(v) ? json_array_size(v) : 1, sizeof(*out->v));
	out->n = 0;
	if (!out->v)
		return fail_at(c, "out of memory");
	json_array_foreach(v, i, e) {
		push_index(c, i);
		if (!json_is_string(e))
			return fail_at(c, "must be an address or prefix string, not %s", type_name(e));
		if (mg_prefix_parse(json_string_value(e), &out->v[out->n]))
			return fail_at(c, "not an address or prefix: \"%s\"", json_string_value(e));
		out->n++;
		pop(c);
	}
	return 0;
}

static int read_ports(struct ctx *c, const json_t *v, uint16_t ports[MG_PORTS_PER_CLASS], bool need_one)
{
	size_t i;
	json_t *e;

	if (!json_is_array(v))
		return fail_at(c, "must be an array of ports, not %s", type_name(v));
	if (json_array_size(v) > MG_PORTS_PER_CLASS)
		return fail_at(c, "at most %d ports", MG_PORTS_PER_CLASS);
	if (need_one && json_array_size(v) == 0)
		return fail_at(c, "needs at least one port");
	memset(ports, 0, MG_PORTS_PER_CLASS * sizeof(*ports));
	json_array_foreach(v, i, e) {
		uint32_t p;
		push_index(c, i);
		if (read_u32(c, e, 1, 65535, &p))
			return -EINVAL;
		for (size_t k = 0; k < i; k++)
			if (ports[k] == p)
				return fail_at(c, "port %u listed twice", p);
		ports[i] = (uint16_t)p;
		pop(c);
	}
	return 0;
}

/* ---- sections ------------------------------------------------------------------------ */

/*
 * Copy an interface name of n bytes into out, refusing what the kernel would
 * (dev_valid_name): empty, over 15 bytes, ".", "..", or holding '/', ':' or
 * white space. Refusing here gives a placed message instead of a failed
 * attach at start-up.
 */
static int set_ifname(struct ctx *c, const char *s, size_t n, char out[16])
{
	bool bad = n == 0 || n >= 16 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.');

	for (size_t i = 0; i < n && !bad; i++)
		bad = s[i] == '/' || s[i] == ':' || (unsigned char)s[i] <= ' ' || s[i] == 0x7f;
	if (bad)
		return fail_at(c, "not an interface name: \"%.*s\" (1 to 15 characters, no '/', ':' or spaces)",
			       (int)(n > 40 ? 40 : n), s);
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

/* Interfaces: "eth1", "eth1:generic" or { "name": "eth1", "mode": "generic" }. */
static int read_interfaces(struct ctx *c, const json_t *v, struct mg_config *cfg)
{
	size_t i;
	json_t *e;

	if (!json_is_array(v))
		return fail_at(c, "must be an array of interfaces, not %s", type_name(v));
	if (json_array_size(v) > MG_CONFIG_MAX_IFACES)
		return fail_at(c, "at most %d interfaces", MG_CONFIG_MAX_IFACES);
	cfg->n_ifaces = 0;
	json_array_foreach(v, i, e) {
		struct mg_config_iface *ifc = &cfg->ifaces[cfg->n_ifaces];

		push_index(c, i);
		ifc->mode = MG_MODE_AUTO;
		if (json_is_string(e)) {
			const char *s = json_string_value(e), *colon = strchr(s, ':');
			if (set_ifname(c, s, colon ? (size_t)(colon - s) : strlen(s), ifc->name))
				return -EINVAL;
			if (colon && mg_parse_mode(colon + 1, &ifc->mode))
				return fail_at(c, "mode is \"native\", \"generic\" or \"auto\", not \"%.40s\"", colon + 1);
		} else if (json_is_object(e)) {
			const char *key;
			json_t *x;
			bool have_name = false;
			json_object_foreach((json_t *)e, key, x) {
				if (!strcmp(key, "name")) {
					push_key(c, key);
					if (!json_is_string(x))
						return fail_at(c, "must be a string, not %s", type_name(x));
					if (set_ifname(c, json_string_value(x), strlen(json_string_value(x)), ifc->name))
						return -EINVAL;
					have_name = true;
					pop(c);
				} else if (!strcmp(key, "mode")) {
					push_key(c, key);
					if (!json_is_string(x) || mg_parse_mode(json_string_value(x), &ifc->mode))
						return fail_at(c, "mode is \"native\", \"generic\" or \"auto\"");
					pop(c);
				} else {
					return unknown_key(c, key);
				}
			}
			if (!have_name)
				return fail_at(c, "an interface object needs a \"name\"");
		} else {
			return fail_at(c, "must be an interface name or {\"name\", \"mode\"}, not %s", type_name(e));
		}
		for (size_t k = 0; k < cfg->n_ifaces; k++)
			if (!strcmp(cfg->ifaces[k].name, ifc->name))
				return fail_at(c, "interface %s listed twice", ifc->name);
		cfg->n_ifaces++;
		pop(c);
	}
	return 0;
}

static int read_smtp_ports(struct ctx *c, const json_t *v, struct mg_config *cfg)
{
	const char *key;
	json_t *x;

	if (want_object(c, v))
		return -EINVAL;
	json_object_foreach((json_t *)v, key, x) {
		push_key(c, key);
		if (!strcmp(key, "mx")) {
			if (read_ports(c, x, cfg->tunables.mx_ports, true))
				return -EINVAL;
		} else if (!strcmp(key, "submission")) {
			if (read_ports(c, x, cfg->tunables.submission_ports, false))
				return -EINVAL;
		} else {
			pop(c);
			return unknown_key(c, key);
		}
		pop(c);
	}
	for (int i = 0; i < MG_PORTS_PER_CLASS; i++)
		for (int k = 0; k < MG_PORTS_PER_CLASS; k++)
			if (cfg->tunables.mx_ports[i] && cfg->tunables.mx_ports[i] == cfg->tunables.submission_ports[k]) {
				/* Point at whichever class the file set (it set at least one). */
				push_key(c, json_object_get(v, "submission") ? "submission" : "mx");
				return fail_at(c, "port %u is both an MX and a submission port", cfg->tunables.mx_ports[i]);
			}
	return 0;
}

static int read_map_sizes(struct ctx *c, const json_t *v, struct mg_config *cfg)
{
	const char *key;
	json_t *x;

	if (want_object(c, v))
		return -EINVAL;
	json_object_foreach((json_t *)v, key, x) {
		uint32_t *dst = !strcmp(key, "sources") ? &cfg->max_sources
				: !strcmp(key, "servers") ? &cfg->max_servers
				: !strcmp(key, "policy") ? &cfg->max_policy : NULL;
		if (!dst)
			return unknown_key(c, key);
		push_key(c, key);
		if (read_u32(c, x, 1024, 1 << 26, dst))
			return -EINVAL;
		pop(c);
	}
	return 0;
}

static int read_weights(struct ctx *c, const json_t *v, struct mg_an_config *an)
{
	static const struct {
		const char *key;
		size_t off;
	} w[] = {
		{ "distinct_mx", offsetof(struct mg_an_config, w_distinct_mx) },
		{ "syn_rate", offsetof(struct mg_an_config, w_syn_rate) },
		{ "helo_ip_literal", offsetof(struct mg_an_config, w_helo_ip_literal) },
		{ "helo_bare_word", offsetof(struct mg_an_config, w_helo_bare_word) },
		{ "helo_own_octets", offsetof(struct mg_an_config, w_helo_own_octets) },
		{ "helo_varies", offsetof(struct mg_an_config, w_helo_varies) },
		{ "rcpt_per_session", offsetof(struct mg_an_config, w_rcpt_per_session) },
		{ "reject_ratio", offsetof(struct mg_an_config, w_reject_ratio) },
		{ "no_other_activity", offsetof(struct mg_an_config, w_no_other_activity) },
	};
	const char *key;
	json_t *x;

	if (want_object(c, v))
		return -EINVAL;
	json_object_foreach((json_t *)v, key, x) {
		size_t i;
		for (i = 0; i < sizeof(w) / sizeof(w[0]) && strcmp(w[i].key, key); i++)
			;
		if (i == sizeof(w) / sizeof(w[0]))
			return unknown_key(c, key);
		push_key(c, key);
		if (read_weight(c, x, (double *)((char *)an + w[i].off)))
			return -EINVAL;
		pop(c);
	}
	return 0;
}

static int read_detection(struct ctx *c, const json_t *v, struct mg_an_config *an)
{
	const char *key;
	json_t *x;

	if (want_object(c, v))
		return -EINVAL;
	json_object_foreach((json_t *)v, key, x) {
		int e;
		push_key(c, key);
		if (!strcmp(key, "window"))
			e = read_duration(c, x, false, &an->window_ns);
		else if (!strcmp(key, "learning_period"))
			e = read_duration(c, x, false, &an->learning_ns);
		else if (!strcmp(key, "learning_active_days"))
			e = read_u32(c, x, 1, 365, &an->learn_min_active_days);
		else if (!strcmp(key, "block_score"))
			e = read_weight(c, x, &an->block_score);
		else if (!strcmp(key, "alert_score"))
			e = read_weight(c, x, &an->alert_score);
		else if (!strcmp(key, "free_distinct_mx"))
			e = read_u32(c, x, 0, 1000, &an->free_distinct_mx);
		else if (!strcmp(key, "free_syn_per_min"))
			e = read_u32(c, x, 0, 100000, &an->free_syn_per_min);
		else if (!strcmp(key, "weights"))
			e = read_weights(c, x, an);
		else {
			pop(c);
			return unknown_key(c, key);
		}
		if (e)
			return e;
		pop(c);
	}
	if (an->block_score <= 0) {
		push_key(c, "block_score");
		return fail_at(c, "must be above zero");
	}
	if (an->alert_score > an->block_score) {
		/* At block_score when the file sets it: raising it is the usual fix. */
		push_key(c, json_object_get(v, "block_score") ? "block_score" : "alert_score");
		return fail_at(c, "alert_score (%g) must not be above block_score (%g)", an->alert_score,
			       an->block_score);
	}
	/* A period of 36 h touches at most 2 calendar days of activity: round up. */
	uint64_t day = 24 * 3600 * NS_PER_SEC, days = an->learning_ns / day + (an->learning_ns % day != 0);
	if (an->learn_min_active_days > days) {
		push_key(c, json_object_get(v, "learning_active_days") ? "learning_active_days" : "learning_period");
		return fail_at(c, "%u active days do not fit in a learning period of %llu days",
			       an->learn_min_active_days, (unsigned long long)days);
	}
	return 0;
}

static int read_block(struct ctx *c, const json_t *v, struct mg_an_config *an)
{
	const char *key;
	json_t *x;

	if (want_object(c, v))
		return -EINVAL;
	json_object_foreach((json_t *)v, key, x) {
		int e = 0;
		push_key(c, key);
		if (!strcmp(key, "action")) {
			const char *s = json_is_string(x) ? json_string_value(x) : "";
			if (mg_action_parse(s, &an->block_action))
				e = fail_at(c, "action is \"smtp\" or \"all\"");
		} else if (!strcmp(key, "duration")) {
			e = read_duration(c, x, false, &an->block_ns);
		} else if (!strcmp(key, "repeat_factor")) {
			e = read_u32(c, x, 1, 100, &an->repeat_factor);
		} else if (!strcmp(key, "max_duration")) {
			e = read_duration(c, x, false, &an->max_block_ns);
		} else if (!strcmp(key, "max_new_per_minute")) {
			e = read_u32(c, x, 0, 100000, &an->max_new_blocks_per_min);
		} else {
			pop(c);
			return unknown_key(c, key);
		}
		if (e)
			return e;
		pop(c);
	}
	if (an->max_block_ns < an->block_ns) {
		push_key(c, json_object_get(v, "max_duration") ? "max_duration" : "duration");
		return fail_at(c, "max_duration must not be shorter than duration");
	}
	return 0;
}

static int read_metrics(struct ctx *c, const json_t *v, struct mg_config *cfg)
{
	const char *key;
	json_t *x;

	if (want_object(c, v))
		return -EINVAL;
	json_object_foreach((json_t *)v, key, x) {
		int e;
		push_key(c, key);
		if (!strcmp(key, "textfile")) {
			e = read_string(c, x, cfg->metrics_textfile, sizeof(cfg->metrics_textfile));
		} else if (!strcmp(key, "listen")) {
			struct sockaddr_storage ss;
			e = read_string(c, x, cfg->metrics_listen, sizeof(cfg->metrics_listen));
			if (!e && mg_parse_listen(cfg->metrics_listen, &ss))
				e = fail_at(c, "not ADDRESS:PORT (e.g. \"127.0.0.1:9477\", \"[::1]:9477\")");
		} else if (!strcmp(key, "interval")) {
			e = read_duration(c, x, false, &cfg->metrics_interval_ns);
		} else {
			pop(c);
			return unknown_key(c, key);
		}
		if (e)
			return e;
		pop(c);
	}
	return 0;
}

/* A fixed-size array of prefixes (exceptions): at most max. */
static int read_prefix_array(struct ctx *c, const json_t *v, struct mg_prefix *arr, size_t max, size_t *n)
{
	size_t i;
	json_t *e;

	if (!json_is_array(v))
		return fail_at(c, "must be an array of addresses or prefixes, not %s", type_name(v));
	if (json_array_size(v) > max)
		return fail_at(c, "at most %zu entries", max);
	*n = 0;
	json_array_foreach(v, i, e) {
		push_index(c, i);
		if (!json_is_string(e) || mg_prefix_parse(json_string_value(e), &arr[*n]))
			return fail_at(c, "not an address or prefix");
		(*n)++;
		pop(c);
	}
	return 0;
}

/* A fixed-size array of strings of at most len-1 bytes, each checked by ok() when given. */
static int read_string_array(struct ctx *c, const json_t *v, char *arr, size_t len, size_t max, size_t *n,
			     const char *what)
{
	size_t i;
	json_t *e;

	if (!json_is_array(v))
		return fail_at(c, "must be an array of %s, not %s", what, type_name(v));
	if (json_array_size(v) > max)
		return fail_at(c, "at most %zu entries", max);
	*n = 0;
	json_array_foreach(v, i, e) {
		push_index(c, i);
		if (read_string(c, e, arr + *n * len, len))
			return -EINVAL;
		if (strchr(arr + *n * len, ' '))
			return fail_at(c, "not %s", what);
		(*n)++;
		pop(c);
	}
	return 0;
}

static int read_outbreak_exceptions(struct ctx *c, const json_t *v, struct mg_config *cfg)
{
	const char *key;
	json_t *x;

	if (want_object(c, v))
		return -EINVAL;
	json_object_foreach((json_t *)v, key, x) {
		push_key(c, key);
		if (!strcmp(key, "signatures")) {
			size_t i;
			json_t *e;
			if (!json_is_array(x))
				return fail_at(c, "must be an array of signatures, not %s", type_name(x));
			if (json_array_size(x) > MG_CONFIG_MAX_EXCEPTIONS)
				return fail_at(c, "at most %d entries", MG_CONFIG_MAX_EXCEPTIONS);
			cfg->n_ob_except_sig = 0;
			json_array_foreach(x, i, e) {
				push_index(c, i);
				if (!json_is_string(e) ||
				    mg_sig_parse(json_string_value(e), &cfg->ob_except_sig[cfg->n_ob_except_sig]))
					return fail_at(c, "not a signature (\"fp:1a2b3c4d\", \"helo:...\", \"shape:bare-word/ehlo\")");
				cfg->n_ob_except_sig++;
				pop(c);
			}
		} else if (!strcmp(key, "prefixes")) {
			if (read_prefix_array(c, x, cfg->ob_except_pfx, MG_CONFIG_MAX_EXCEPTIONS, &cfg->n_ob_except_pfx))
				return -EINVAL;
		} else {
			pop(c);
			return unknown_key(c, key);
		}
		pop(c);
	}
	return 0;
}

static int read_outbreak(struct ctx *c, const json_t *v, struct mg_config *cfg)
{
	const char *key;
	json_t *x;

	if (want_object(c, v))
		return -EINVAL;
	json_object_foreach((json_t *)v, key, x) {
		int e;
		push_key(c, key);
		if (!strcmp(key, "min_senders"))
			e = read_u32(c, x, 2, 100000, &cfg->ob.min_senders);
		else if (!strcmp(key, "window"))
			e = read_duration(c, x, false, &cfg->ob.window_ns);
		else if (!strcmp(key, "decay"))
			e = read_duration(c, x, false, &cfg->ob.decay_ns);
		else if (!strcmp(key, "contain"))
			e = read_bool(c, x, &cfg->contain);
		else if (!strcmp(key, "alert_hook")) {
			e = read_string(c, x, cfg->alert_hook, sizeof(cfg->alert_hook));
			if (!e && cfg->alert_hook[0] != '/')
				e = fail_at(c, "must be an absolute path");
		} else if (!strcmp(key, "exceptions"))
			e = read_outbreak_exceptions(c, x, cfg);
		else {
			pop(c);
			return unknown_key(c, key);
		}
		if (e)
			return e;
		pop(c);
	}
	return 0;
}

static int read_expiry_choice(struct ctx *c, const json_t *v, bool *release)
{
	const char *s = json_is_string(v) ? json_string_value(v) : "";

	if (!strcmp(s, "release"))
		*release = true;
	else if (!strcmp(s, "delete"))
		*release = false;
	else
		return fail_at(c, "is \"release\" or \"delete\"");
	return 0;
}

static int read_quarantine(struct ctx *c, const json_t *v, struct mg_config *cfg)
{
	const char *key, *k2;
	json_t *x, *y;

	if (want_object(c, v))
		return -EINVAL;
	json_object_foreach((json_t *)v, key, x) {
		int e = 0;
		push_key(c, key);
		if (!strcmp(key, "policy_listen")) {
			e = read_string(c, x, cfg->policy_listen, sizeof(cfg->policy_listen));
			if (!e && strncmp(cfg->policy_listen, "unix:/", 6) && strncmp(cfg->policy_listen, "inet:", 5))
				e = fail_at(c, "is \"unix:/PATH\" or \"inet:ADDRESS:PORT\"");
		} else if (!strcmp(key, "threshold")) {
			e = read_u32(c, x, 0, 5, &cfg->quarantine_level);
		} else if (!strcmp(key, "postfix_config")) {
			e = read_string(c, x, cfg->postfix_config, sizeof(cfg->postfix_config));
		} else if (!strcmp(key, "clamav")) {
			e = read_bool(c, x, &cfg->clamav);
		} else if (!strcmp(key, "retention") || !strcmp(key, "on_expiry")) {
			bool ret = key[0] == 'r';
			if (want_object(c, x))
				return -EINVAL;
			json_object_foreach(x, k2, y) {
				push_key(c, k2);
				if (strcmp(k2, "suspect") && strcmp(k2, "outbreak")) {
					pop(c);
					return unknown_key(c, k2);
				}
				bool sus = k2[0] == 's';
				if (ret)
					e = read_duration(c, y, false, sus ? &cfg->hold_suspect_ns : &cfg->hold_outbreak_ns);
				else
					e = read_expiry_choice(c, y, sus ? &cfg->expire_release_suspect
									: &cfg->expire_release_outbreak);
				if (e)
					return e;
				pop(c);
			}
		} else if (!strcmp(key, "exceptions")) {
			if (want_object(c, x))
				return -EINVAL;
			json_object_foreach(x, k2, y) {
				push_key(c, k2);
				if (!strcmp(k2, "clients"))
					e = read_prefix_array(c, y, cfg->q_except_client, MG_CONFIG_MAX_EXCEPTIONS,
							      &cfg->n_q_except_client);
				else if (!strcmp(k2, "sender_domains"))
					e = read_string_array(c, y, &cfg->q_except_domain[0][0], sizeof(cfg->q_except_domain[0]),
							      MG_CONFIG_MAX_EXCEPTIONS, &cfg->n_q_except_domain, "domains");
				else if (!strcmp(k2, "recipients"))
					e = read_string_array(c, y, &cfg->q_except_rcpt[0][0], sizeof(cfg->q_except_rcpt[0]),
							      MG_CONFIG_MAX_EXCEPTIONS, &cfg->n_q_except_rcpt, "addresses");
				else {
					pop(c);
					return unknown_key(c, k2);
				}
				if (e)
					return e;
				pop(c);
			}
		} else {
			pop(c);
			return unknown_key(c, key);
		}
		if (e)
			return e;
		pop(c);
	}
	return 0;
}

static int read_mode(struct ctx *c, const json_t *v, unsigned *mode)
{
	const char *s;
	char *end;

	if (!json_is_string(v))
		return fail_at(c, "must be an octal string like \"0600\", not %s", type_name(v));
	s = json_string_value(v);
	/* Digits only: strtoul alone would also take " 600", "+600" or "-0". */
	size_t n = strspn(s, "01234567");
	errno = 0;
	unsigned long m = strtoul(s, &end, 8);
	if (!*s || n > 4 || s[n] || *end || errno || m > 0777)
		return fail_at(c, "must be an octal permission like \"0600\", not \"%s\"", s);
	*mode = (unsigned)m;
	return 0;
}

static int read_top(struct ctx *c, const json_t *root, struct mg_config *cfg)
{
	const char *key;
	json_t *x;

	if (!json_is_object(root))
		return fail_at(c, "the configuration must be a JSON object, not %s", type_name(root));
	json_object_foreach((json_t *)root, key, x) {
		int e;
		push_key(c, key);
		if (!strcmp(key, "interfaces"))
			e = read_interfaces(c, x, cfg);
		else if (!strcmp(key, "pin_dir"))
			e = read_string(c, x, cfg->pin_dir, sizeof(cfg->pin_dir));
		else if (!strcmp(key, "smtp_ports"))
			e = read_smtp_ports(c, x, cfg);
		else if (!strcmp(key, "protected_networks"))
			e = read_prefixes(c, x, &cfg->protected_nets);
		else if (!strcmp(key, "mail_servers"))
			e = read_prefixes(c, x, &cfg->mail_servers);
		else if (!strcmp(key, "allowlist"))
			e = read_prefixes(c, x, &cfg->allowlist);
		else if (!strcmp(key, "ipv6_aggregation")) {
			uint32_t p = cfg->tunables.v6_src_prefix;
			e = read_u32(c, x, 48, 128, &p);
			cfg->tunables.v6_src_prefix = (uint8_t)p;
			cfg->an.v6_prefix = (uint8_t)p;
		} else if (!strcmp(key, "monitor"))
			e = read_bool(c, x, &cfg->an.monitor);
		else if (!strcmp(key, "map_sizes"))
			e = read_map_sizes(c, x, cfg);
		else if (!strcmp(key, "detection"))
			e = read_detection(c, x, &cfg->an);
		else if (!strcmp(key, "block"))
			e = read_block(c, x, &cfg->an);
		else if (!strcmp(key, "state_file"))
			e = read_string(c, x, cfg->state_file, sizeof(cfg->state_file));
		else if (!strcmp(key, "state_interval"))
			e = read_duration(c, x, false, &cfg->state_interval_ns);
		else if (!strcmp(key, "log_file"))
			e = read_string(c, x, cfg->log_file, sizeof(cfg->log_file));
		else if (!strcmp(key, "control_socket"))
			e = read_string(c, x, cfg->control_socket, sizeof(cfg->control_socket));
		else if (!strcmp(key, "metrics"))
			e = read_metrics(c, x, cfg);
		else if (!strcmp(key, "outbreak"))
			e = read_outbreak(c, x, cfg);
		else if (!strcmp(key, "quarantine"))
			e = read_quarantine(c, x, cfg);
		else if (!strcmp(key, "control_mode"))
			e = read_mode(c, x, &cfg->control_mode);
		else if (!strcmp(key, "scan_interval")) {
			e = read_duration(c, x, false, &cfg->scan_interval_ns);
			if (!e && (cfg->scan_interval_ns < NS_PER_SEC / 10 || cfg->scan_interval_ns > 60 * NS_PER_SEC))
				e = fail_at(c, "must be from 100ms to 60s");
		} else {
			pop(c);
			return unknown_key(c, key);
		}
		if (e)
			return e;
		pop(c);
	}
	return 0;
}

/* ---- public ------------------------------------------------------------------------ */

void mg_config_default(struct mg_config *c)
{
	static const struct mg_tunables tun = MG_TUNABLES_DEFAULT;

	memset(c, 0, sizeof(*c));
	snprintf(c->pin_dir, sizeof(c->pin_dir), "%s", MG_DEFAULT_PIN_DIR);
	c->tunables = tun;
	c->max_sources = MG_DEFAULT_MAX_SOURCES;
	c->max_servers = MG_DEFAULT_MAX_SERVERS;
	c->max_policy = MG_DEFAULT_MAX_POLICY;
	mg_an_config_default(&c->an);
	c->an.v6_prefix = c->tunables.v6_src_prefix;
	snprintf(c->state_file, sizeof(c->state_file), "/var/lib/mtaguard/state.gz");
	c->state_interval_ns = 60 * NS_PER_SEC;
	snprintf(c->log_file, sizeof(c->log_file), "-");
	snprintf(c->control_socket, sizeof(c->control_socket), "/run/mtaguard/control.sock");
	c->control_mode = 0600;
	c->scan_interval_ns = NS_PER_SEC;
	c->metrics_interval_ns = 15 * NS_PER_SEC;
	mg_ob_config_default(&c->ob);
	c->contain = true;
	c->quarantine_level = 3;
	c->hold_suspect_ns = 2 * 86400 * NS_PER_SEC;
	c->hold_outbreak_ns = 5 * 86400 * NS_PER_SEC;
	c->expire_release_suspect = true;  /* a suspect is not a verdict: its mail goes out after a fresh scan */
	c->expire_release_outbreak = false; /* an outbreak member's mail is the outbreak: deleted */
	c->clamav = true;
}

static void free_lists(struct mg_config *c)
{
	free(c->protected_nets.v);
	free(c->mail_servers.v);
	free(c->allowlist.v);
	c->protected_nets = c->mail_servers = c->allowlist = (struct mg_prefix_list){ 0 };
}

void mg_config_free(struct mg_config *c)
{
	free_lists(c);
}

/* Deep copy of the lists, so a parse can work on its own copy of *c. */
bool mg_prefix_list_has(const struct mg_prefix_list *l, const struct mg_prefix *p)
{
	for (size_t i = 0; i < l->n; i++)
		if (mg_prefix_eq(&l->v[i], p))
			return true;
	return false;
}

static int copy_list(struct mg_prefix_list *dst, const struct mg_prefix_list *src)
{
	dst->v = NULL;
	dst->n = src->n;
	if (!src->n)
		return 0;
	dst->v = malloc(src->n * sizeof(*dst->v));
	if (!dst->v)
		return -ENOMEM;
	memcpy(dst->v, src->v, src->n * sizeof(*dst->v));
	return 0;
}

int mg_config_parse(const char *text, const char *name, struct mg_config *c, char *err, size_t errlen)
{
	struct ctx x = { .text = text, .len = strlen(text), .name = name, .err = err, .errlen = errlen };
	struct mg_config work = *c;
	json_error_t jerr;

	if (copy_list(&work.protected_nets, &c->protected_nets) || copy_list(&work.mail_servers, &c->mail_servers) ||
	    copy_list(&work.allowlist, &c->allowlist)) {
		free_lists(&work);
		snprintf(err, errlen, "%s: out of memory", name);
		return -ENOMEM;
	}
	/*
	 * JSON_DECODE_ANY: a top-level "42" then gets our plainer "must be a JSON
	 * object" message. jansson reports column 0 at the very start of a line
	 * (an empty file); say 1 so every message has a real column.
	 */
	json_t *root = json_loadb(text, x.len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!root) {
		snprintf(err, errlen, "%s:%d:%d: %s", name, jerr.line > 0 ? jerr.line : 1, jerr.column > 0 ? jerr.column : 1,
			 jerr.text);
		one_line(err);
		free_lists(&work);
		return -EINVAL;
	}
	/* Lists named in the file replace the old ones, they do not add to them. */
	if (json_is_object(root)) {
		if (json_object_get(root, "protected_networks")) {
			free(work.protected_nets.v);
			work.protected_nets = (struct mg_prefix_list){ 0 };
		}
		if (json_object_get(root, "mail_servers")) {
			free(work.mail_servers.v);
			work.mail_servers = (struct mg_prefix_list){ 0 };
		}
		if (json_object_get(root, "allowlist")) {
			free(work.allowlist.v);
			work.allowlist = (struct mg_prefix_list){ 0 };
		}
	}
	int e = read_top(&x, root, &work);
	json_decref(root);
	if (e) {
		free_lists(&work);
		return e;
	}
	free_lists(c);
	*c = work;
	return 0;
}

int mg_config_load(const char *path, struct mg_config *c, char *err, size_t errlen)
{
	struct stat st;
	char *buf;
	size_t n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st)) {
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -EINVAL;
	}
	/* read() of a directory fails with EISDIR, but say so before allocating. */
	if (S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(EISDIR));
		close(fd);
		return -EINVAL;
	}
	buf = malloc(MAX_FILE + 1);
	if (!buf) {
		close(fd);
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(ENOMEM));
		return -ENOMEM;
	}
	/* Read up to one byte past the limit: st_size is 0 for pipes and /proc. */
	while (n <= MAX_FILE) {
		ssize_t r = read(fd, buf + n, MAX_FILE + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
			close(fd);
			free(buf);
			return -EINVAL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (n > MAX_FILE) {
		snprintf(err, errlen, "%s: larger than %u bytes: not a configuration file?", path, MAX_FILE);
		free(buf);
		return -EINVAL;
	}
	buf[n] = '\0';
	/* mg_config_parse() takes a C string: a NUL would silently cut the file. */
	if (memchr(buf, '\0', n)) {
		snprintf(err, errlen, "%s: contains a NUL byte: not a configuration file?", path);
		free(buf);
		return -EINVAL;
	}
	int e = mg_config_parse(buf, path, c, err, errlen);
	free(buf);
	return e;
}

int mg_parse_duration(const char *s, uint64_t *ns)
{
	char *end;
	uint64_t unit;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	if (!strcmp(end, "") || !strcmp(end, "s"))
		unit = NS_PER_SEC;
	else if (!strcmp(end, "ms"))
		unit = 1000000ull;
	else if (!strcmp(end, "m"))
		unit = 60 * NS_PER_SEC;
	else if (!strcmp(end, "h"))
		unit = 3600 * NS_PER_SEC;
	else if (!strcmp(end, "d"))
		unit = 86400 * NS_PER_SEC;
	else
		return -EINVAL;
	if (v > UINT64_MAX / unit)
		return -EINVAL;
	*ns = v * unit;
	return 0;
}
