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
#include <sys/un.h>
#include <jansson.h>

#include "mg_activity.h"
#include "mg_config.h"
#include "mg_cluster_codec.h"
#include "mg_names.h"
#include "mg_metrics_http.h"
#include "mg_policyd.h"

#define MAX_FILE (1u << 20)
#define MAX_DEPTH 8
#define NS_PER_SEC 1000000000ull
#define MS (NS_PER_SEC / 1000)
#define MINUTE (60 * NS_PER_SEC)
#define HOUR (3600 * NS_PER_SEC)
#define DAY (86400 * NS_PER_SEC)
#define IFNAME_LEN sizeof(((struct mg_config_iface *)0)->name) /* IFNAMSIZ */

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

/* ---- typed readers: one JSON value into one C type ----------------------------------- */

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

static int read_u32(struct ctx *c, const json_t *v, long long lo, long long hi, uint32_t *out)
{
	if (!json_is_integer(v))
		return fail_at(c, "must be an integer, not %s", type_name(v));
	long long x = json_integer_value(v);
	if (x < lo || x > hi)
		return fail_at(c, "must be %lld..%lld, not %lld", lo, hi, x);
	*out = (uint32_t)x;
	return 0;
}

/* Integers are numbers too: "block_score": 12 is as good as 12.0. */
static int read_number(struct ctx *c, const json_t *v, long long lo, long long hi, double *out)
{
	if (!json_is_number(v))
		return fail_at(c, "must be a number, not %s", type_name(v));
	double x = json_number_value(v);
	if (!isfinite(x) || x < lo || x > hi)
		return fail_at(c, "must be a number from %lld to %lld", lo, hi);
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

/*
 * Seconds, or a string for mg_parse_duration(), from lo to hi. Never zero:
 * no period of the daemon can be, and no key means "forever" by 0.
 */
static int read_duration(struct ctx *c, const json_t *v, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char a[32], b[32];
	uint64_t ns;

	if (json_is_integer(v)) {
		long long x = json_integer_value(v);
		if (x < 0)
			return fail_at(c, "not a duration: %lld", x);
		/* Past the maximum anyway; saturate rather than wrap. */
		ns = (unsigned long long)x > UINT64_MAX / NS_PER_SEC ? UINT64_MAX : (uint64_t)x * NS_PER_SEC;
	} else if (json_is_string(v)) {
		int e = mg_parse_duration(json_string_value(v), &ns);
		if (e == -ERANGE)
			ns = UINT64_MAX;
		else if (e)
			return fail_at(c, "not a duration: \"%s\" (e.g. 90s, 10m, 1h, 7d)", json_string_value(v));
	} else {
		return fail_at(c, "must be a duration (seconds, or a string like \"10m\"), not %s", type_name(v));
	}
	if (ns < lo || ns > hi)
		return fail_at(c, "must be from %s to %s", mg_duration_str(lo, a, sizeof(a)),
			       mg_duration_str(hi, b, sizeof(b)));
	*out = ns;
	return 0;
}

/* A list of any length (allocated): protected networks, mail servers, the allowlist. */
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

/* A fixed-size array of at most max strings of at most len-1 bytes, without spaces. */
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

/* ---- sections as tables ---------------------------------------------------------------- */

/*
 * Every object of the file is a section: a table of the keys it takes, each
 * with the kind of value, where it goes in struct mg_config and its limits.
 * One walker (read_section) reads any section with its table, so a key is
 * added with one line, and every key gets the same errors: unknown keys
 * placed at the key, bad values at the value, with the path to it.
 *
 * Offsets are all into struct mg_config, also for nested structs
 * (an.window_ns), so a table never needs to know which struct it fills.
 */
struct field;
struct section;

/* K_CUSTOM: reads v itself; f gives its offset and limits, if it uses them. */
typedef int field_reader(struct ctx *c, const json_t *v, struct mg_config *cfg, const struct field *f);
/* After a typed read: what the type does not say ("an absolute path"); dst is the value read. */
typedef int field_check(struct ctx *c, const void *dst);

enum field_kind {
	K_U32,          /* uint32_t, lo..hi */
	K_NUMBER,       /* double, lo..hi */
	K_DURATION,     /* uint64_t nanoseconds, lo..hi (both 0: 1s..MG_DURATION_MAX_NS) */
	K_BOOL,         /* bool */
	K_STRING,       /* char[size], not empty */
	K_PREFIXES,     /* struct mg_prefix_list, any length */
	K_PREFIX_ARRAY, /* struct mg_prefix[hi], count at n_off */
	K_STRING_ARRAY, /* char[hi][size], count at n_off; `what` names the entries */
	K_PORTS,        /* uint16_t[MG_PORTS_PER_CLASS]; lo 1: at least one */
	K_SECTION,      /* an object read with table `sub` */
	K_CUSTOM,       /* read with `read` */
};

struct field {
	const char *key;
	enum field_kind kind;
	size_t off;                 /* of the value in struct mg_config */
	size_t n_off;               /* K_*_ARRAY: of the count */
	size_t size;                /* K_STRING, K_STRING_ARRAY: bytes per string, NUL included */
	long long lo, hi;           /* see the kinds */
	const char *what;
	const struct section *sub;
	field_reader *read;
	field_check *check;         /* optional, after a successful typed read */
};

struct section {
	const struct field *fields;
	size_t n;
	/*
	 * Optional, after all keys: checks across keys (a maximum not below a
	 * minimum). v is the section's object, to place the message at a key
	 * the file set rather than at one it left to its default.
	 */
	int (*finish)(struct ctx *c, const json_t *v, struct mg_config *cfg);
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))
#define SECTION_OF(t, ...) { .fields = t, .n = N_OF(t), __VA_ARGS__ }

/*
 * offsetof(struct mg_config, m), refused at build time unless m is a T (a
 * negative array size): a table line cannot write a double into a uint32_t.
 */
#define MEMBER(m) (((struct mg_config *)0)->m)
#define AT(m, T) \
	(offsetof(struct mg_config, m) + 0 * sizeof(char[__builtin_types_compatible_p(__typeof__(MEMBER(m)), T) ? 1 : -1]))

/* Table lines; more designated initializers may follow (.check = ...). */
#define U32(k, m, min, max, ...) { .key = k, .kind = K_U32, .off = AT(m, uint32_t), .lo = min, .hi = max, __VA_ARGS__ }
#define NUMBER(k, m, min, max) { .key = k, .kind = K_NUMBER, .off = AT(m, double), .lo = min, .hi = max }
#define DURATION(k, m, ...) { .key = k, .kind = K_DURATION, .off = AT(m, uint64_t), __VA_ARGS__ }
/* A duration's bounds, in nanoseconds. */
#define BOUNDS(min, max) .lo = (long long)(min), .hi = (long long)(max)
#define BOOL(k, m) { .key = k, .kind = K_BOOL, .off = AT(m, bool) }
#define STRING(k, m, ...) \
	{ .key = k, .kind = K_STRING, .off = AT(m[0], char), .size = sizeof(MEMBER(m)), __VA_ARGS__ }
#define PREFIXES(k, m) { .key = k, .kind = K_PREFIXES, .off = AT(m, struct mg_prefix_list) }
#define PREFIX_ARRAY(k, m, n) \
	{ .key = k, .kind = K_PREFIX_ARRAY, .off = AT(m[0], struct mg_prefix), .n_off = AT(n, size_t), \
	  .hi = N_OF(MEMBER(m)) }
#define STRING_ARRAY(k, m, n, w) \
	{ .key = k, .kind = K_STRING_ARRAY, .off = AT(m[0][0], char), .n_off = AT(n, size_t), \
	  .size = sizeof(MEMBER(m)[0]), .hi = N_OF(MEMBER(m)), .what = w }
#define PORTS(k, m, min) { .key = k, .kind = K_PORTS, .off = AT(m, uint16_t[MG_PORTS_PER_CLASS]), .lo = min }
#define SUB(k, s) { .key = k, .kind = K_SECTION, .sub = &s }
#define CUSTOM(k, fn, ...) { .key = k, .kind = K_CUSTOM, .read = fn, __VA_ARGS__ }

static int read_section(struct ctx *c, const json_t *v, const struct section *s, struct mg_config *cfg);

static int read_field(struct ctx *c, const json_t *v, const struct field *f, struct mg_config *cfg)
{
	void *dst = (char *)cfg + f->off;
	size_t *n = (size_t *)((char *)cfg + f->n_off);
	int e = -EINVAL;

	switch (f->kind) {
	case K_U32: e = read_u32(c, v, f->lo, f->hi, dst); break;
	case K_NUMBER: e = read_number(c, v, f->lo, f->hi, dst); break;
	case K_DURATION:
		e = f->hi ? read_duration(c, v, (uint64_t)f->lo, (uint64_t)f->hi, dst)
			  : read_duration(c, v, NS_PER_SEC, MG_DURATION_MAX_NS, dst);
		break;
	case K_BOOL: e = read_bool(c, v, dst); break;
	case K_STRING: e = read_string(c, v, dst, f->size); break;
	case K_PREFIXES: e = read_prefixes(c, v, dst); break;
	case K_PREFIX_ARRAY: e = read_prefix_array(c, v, dst, (size_t)f->hi, n); break;
	case K_STRING_ARRAY: e = read_string_array(c, v, dst, f->size, (size_t)f->hi, n, f->what); break;
	case K_PORTS: e = read_ports(c, v, dst, f->lo > 0); break;
	case K_SECTION: e = read_section(c, v, f->sub, cfg); break;
	case K_CUSTOM: e = f->read(c, v, cfg, f); break;
	}
	if (!e && f->check)
		e = f->check(c, dst);
	return e;
}

/* Read object v with table s: each key with its line, an unknown key refused. */
static int read_section(struct ctx *c, const json_t *v, const struct section *s, struct mg_config *cfg)
{
	const char *key;
	json_t *x;

	if (want_object(c, v))
		return -EINVAL;
	json_object_foreach((json_t *)v, key, x) {
		const struct field *f = NULL;
		for (size_t i = 0; i < s->n && !f; i++)
			if (!strcmp(s->fields[i].key, key))
				f = &s->fields[i];
		if (!f)
			return unknown_key(c, key);
		push_key(c, key);
		int e = read_field(c, x, f, cfg);
		if (e)
			return e;
		pop(c);
	}
	return s->finish ? s->finish(c, v, cfg) : 0;
}

/* ---- custom readers and checks ----------------------------------------------------------- */

/*
 * Would the kernel take [s, s+n) as an interface name (dev_valid_name)? Not
 * empty, at most 15 bytes, not "." or "..", no '/', ':' or white space.
 * Refusing here gives a placed message instead of a failed attach at start-up.
 */
static bool iface_name_ok(const char *s, size_t n)
{
	bool bad = n == 0 || n >= IFNAME_LEN || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.');

	for (size_t i = 0; i < n && !bad; i++)
		bad = s[i] == '/' || s[i] == ':' || (unsigned char)s[i] <= ' ' || s[i] == 0x7f;
	return !bad;
}

static int bad_iface_name(struct ctx *c, const char *s, size_t n)
{
	return fail_at(c, "not an interface name: \"%.*s\" (1 to 15 characters, no '/', ':' or spaces)",
		       (int)(n > 40 ? 40 : n), s);
}

/* One interface object: { "name": "eth1", "mode": "generic", "uplink": true }, the name required. */
static int read_iface_object(struct ctx *c, const json_t *v, struct mg_config_iface *ifc)
{
	const char *key;
	json_t *x;
	bool have_name = false;

	json_object_foreach((json_t *)v, key, x) {
		if (!strcmp(key, "name")) {
			push_key(c, key);
			if (!json_is_string(x))
				return fail_at(c, "must be a string, not %s", type_name(x));
			const char *s = json_string_value(x);
			if (!iface_name_ok(s, strlen(s)))
				return bad_iface_name(c, s, strlen(s));
			memcpy(ifc->name, s, strlen(s) + 1);
			have_name = true;
			pop(c);
		} else if (!strcmp(key, "mode")) {
			push_key(c, key);
			if (!json_is_string(x) || mg_xdp_mode_parse(json_string_value(x), &ifc->mode))
				return fail_at(c, "mode is \"native\", \"generic\" or \"auto\"");
			pop(c);
		} else if (!strcmp(key, "uplink")) {
			push_key(c, key);
			if (read_bool(c, x, &ifc->uplink))
				return -EINVAL;
			pop(c);
		} else {
			return unknown_key(c, key);
		}
	}
	return have_name ? 0 : fail_at(c, "an interface object needs a \"name\"");
}

/* Interfaces: "eth1", "eth1:generic" (as mtaguardd -i) or { "name": "eth1", "mode": "generic" }. */
static int read_interfaces(struct ctx *c, const json_t *v, struct mg_config *cfg, const struct field *f)
{
	size_t i, n_uplinks = 0;
	json_t *e;

	(void)f;
	if (!json_is_array(v))
		return fail_at(c, "must be an array of interfaces, not %s", type_name(v));
	if (json_array_size(v) > MG_CONFIG_MAX_IFACES)
		return fail_at(c, "at most %d interfaces", MG_CONFIG_MAX_IFACES);
	cfg->n_ifaces = 0;
	json_array_foreach(v, i, e) {
		struct mg_config_iface *ifc = &cfg->ifaces[cfg->n_ifaces];

		push_index(c, i);
		ifc->mode = MG_MODE_AUTO;
		ifc->uplink = false;
		if (json_is_string(e)) {
			const char *s = json_string_value(e), *colon = strchr(s, ':');
			int r = mg_config_parse_iface(s, ifc);
			if (r == -EINVAL)
				return bad_iface_name(c, s, colon ? (size_t)(colon - s) : strlen(s));
			if (r)
				return fail_at(c, "mode is \"native\", \"generic\" or \"auto\", not \"%.40s\"", colon + 1);
		} else if (json_is_object(e)) {
			if (read_iface_object(c, e, ifc))
				return -EINVAL;
		} else {
			return fail_at(c, "must be an interface name or {\"name\", \"mode\"}, not %s", type_name(e));
		}
		for (size_t k = 0; k < cfg->n_ifaces; k++)
			if (!strcmp(cfg->ifaces[k].name, ifc->name))
				return fail_at(c, "interface %s listed twice", ifc->name);
		/* The program holds the uplinks' ifindexes in its read-only data: a fixed number of them. */
		if (ifc->uplink && ++n_uplinks > MG_UPLINKS_MAX)
			return fail_at(c, "at most %d uplinks", MG_UPLINKS_MAX);
		cfg->n_ifaces++;
		pop(c);
	}
	return 0;
}

/*
 * Protected networks: "198.18.0.0/15", or { "prefix": "2001:db8:10::/64",
 * "ipv6_aggregation": 128 } for an IPv6 network keyed otherwise than the
 * global ipv6_aggregation (finish_top resolves the defaults and builds the
 * kernel's table, once the global value is known).
 */
static int read_protected(struct ctx *c, const json_t *v, struct mg_config *cfg, const struct field *f)
{
	size_t i;
	json_t *e;

	(void)f;
	if (!json_is_array(v))
		return fail_at(c, "must be an array of prefixes or {\"prefix\", \"ipv6_aggregation\"} objects, not %s",
			       type_name(v));
	size_t n = json_array_size(v) ? json_array_size(v) : 1;
	cfg->protected_nets.v = calloc(n, sizeof(*cfg->protected_nets.v));
	cfg->protected_agg = calloc(n, 1);
	cfg->protected_nets.n = 0;
	if (!cfg->protected_nets.v || !cfg->protected_agg)
		return fail_at(c, "out of memory");
	json_array_foreach(v, i, e) {
		struct mg_prefix *p = &cfg->protected_nets.v[i];
		const json_t *pfx = e, *agg = NULL;
		push_index(c, i);
		if (json_is_object(e)) {
			const char *key;
			json_t *x;
			pfx = NULL;
			json_object_foreach((json_t *)e, key, x) {
				if (!strcmp(key, "prefix"))
					pfx = x;
				else if (!strcmp(key, "ipv6_aggregation"))
					agg = x;
				else
					return unknown_key(c, key);
			}
			if (!pfx)
				return fail_at(c, "a protected network object needs a \"prefix\"");
			push_key(c, "prefix");
		}
		if (!json_is_string(pfx))
			return fail_at(c, "must be an address or prefix string, not %s", type_name(pfx));
		if (mg_prefix_parse(json_string_value(pfx), p))
			return fail_at(c, "not an address or prefix: \"%s\"", json_string_value(pfx));
		if (pfx != e)
			pop(c);
		if (agg) {
			uint32_t a = 0;
			push_key(c, "ipv6_aggregation");
			if (mg_prefix_is_v4(p))
				return fail_at(c, "IPv4 sources are always keyed per address: only an IPv6 network takes "
					       "an aggregation");
			if (read_u32(c, agg, 48, 128, &a))
				return -EINVAL;
			if (a < p->prefixlen)
				return fail_at(c, "/%u is shorter than the network's own /%u: its keys would reach beyond it",
					       a, p->prefixlen);
			cfg->protected_agg[i] = (uint8_t)a;
			pop(c);
		}
		cfg->protected_nets.n++;
		pop(c);
	}
	return 0;
}

/*
 * The aggregation inside each protected IPv6 network, into the kernel's table
 * (tunables.v6_nets) and the analyzer's copy. Default: per host (128) in a
 * /64 or longer, a LAN where SLAAC neighbours are different machines; the
 * global ipv6_aggregation in anything wider (an ISP's customer prefixes).
 */
static int build_v6_nets(struct ctx *c, struct mg_config *cfg)
{
	const struct mg_prefix_list *l = &cfg->protected_nets;
	unsigned global = cfg->tunables.v6_src_prefix, n = 0;

	for (size_t i = 0; i < l->n; i++) {
		const struct mg_prefix *p = &l->v[i];
		if (mg_prefix_is_v4(p))
			continue;
		unsigned agg = cfg->protected_agg && cfg->protected_agg[i] ? cfg->protected_agg[i]
									 : (p->prefixlen >= 64 ? 128 : global);
		/* What applies around it: the longest other listed network covering it, or the global value. */
		unsigned outer = global, best = 0;
		bool nested = false;
		for (size_t k = 0; k < l->n; k++) {
			const struct mg_prefix *q = &l->v[k];
			if (k == i || mg_prefix_is_v4(q) || q->prefixlen > p->prefixlen || !mg_prefix_covers(q, p->addr))
				continue;
			if (q->prefixlen == p->prefixlen) {
				if (k < i) {
					push_key(c, "protected_networks");
					push_index(c, i);
					return fail_at(c, "listed twice");
				}
				continue;
			}
			if (q->prefixlen >= best) {
				best = q->prefixlen;
				outer = cfg->protected_agg && cfg->protected_agg[k] ? cfg->protected_agg[k]
										   : (q->prefixlen >= 64 ? 128 : global);
				nested = true;
			}
		}
		char buf[MG_ADDRSTRLEN];
		if (p->prefixlen > outer) {
			push_key(c, "protected_networks");
			push_index(c, i);
			return fail_at(c, "%s lies inside per-/%u keys (%s): sources around it would share a key with "
				       "hosts inside it; list a /%u or wider, or key its surroundings finer",
				       mg_prefix_str(p, buf, sizeof(buf)), outer,
				       nested ? "an enclosing protected network" : "ipv6_aggregation", outer);
		}
		if (agg < cfg->min_prefix_v6) {
			push_key(c, "protected_networks");
			push_index(c, i);
			return fail_at(c, "per-/%u keys in %s are wider than limits.min_prefix_v6 (/%u): the operator could "
				       "not block or allow what the analyzer blocks", agg, mg_prefix_str(p, buf, sizeof(buf)),
				       cfg->min_prefix_v6);
		}
		if (agg == outer)
			continue; /* keyed as its surroundings: no entry needed */
		if (n == MG_V6_NETS_MAX) {
			push_key(c, "protected_networks");
			push_index(c, i);
			return fail_at(c, "more than %d IPv6 protected networks with an aggregation of their own",
				       MG_V6_NETS_MAX);
		}
		struct mg_v6_net *t = &cfg->tunables.v6_nets[n++];
		memcpy(t->addr, p->addr, 16);
		t->prefixlen = p->prefixlen;
		t->aggregation = (uint8_t)agg;
	}
	cfg->tunables.n_v6_nets = (uint8_t)n;
	cfg->an.n_v6_nets = (uint8_t)n;
	memcpy(cfg->an.v6_nets, cfg->tunables.v6_nets, sizeof(cfg->an.v6_nets));
	return 0;
}

/* The kernel's and the analyzer's copy of the IPv6 aggregation must agree. */
static int read_v6_aggregation(struct ctx *c, const json_t *v, struct mg_config *cfg, const struct field *f)
{
	uint32_t p = 0;

	if (read_u32(c, v, f->lo, f->hi, &p))
		return -EINVAL;
	cfg->tunables.v6_src_prefix = (uint8_t)p;
	cfg->an.v6_prefix = (uint8_t)p;
	return 0;
}

/* An octal string: a JSON number 600 would be decimal, a mode nobody meant. */
static int read_file_mode(struct ctx *c, const json_t *v, struct mg_config *cfg, const struct field *f)
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
	*(unsigned *)((char *)cfg + f->off) = (unsigned)m;
	return 0;
}

/* What a block drops, in mg_names' words. */
static int read_action(struct ctx *c, const json_t *v, struct mg_config *cfg, const struct field *f)
{
	const char *s = json_is_string(v) ? json_string_value(v) : "";

	if (mg_action_parse(s, (uint8_t *)((char *)cfg + f->off)))
		return fail_at(c, "action is \"smtp\" or \"all\"");
	return 0;
}

/* When commands count as evidence: a word of enum mg_handshake, into the program's tunables. */
static int read_handshake(struct ctx *c, const json_t *v, struct mg_config *cfg, const struct field *f)
{
	const char *s = json_is_string(v) ? json_string_value(v) : "";

	(void)f;
	if (mg_handshake_parse(s, &cfg->tunables.handshake))
		return fail_at(c, "is \"when-seen\", \"required\" or \"off\"");
	return 0;
}

/* What quarantine does with held mail at expiry: "release" (true) or "delete". */
static int read_expiry_choice(struct ctx *c, const json_t *v, struct mg_config *cfg, const struct field *f)
{
	const char *s = json_is_string(v) ? json_string_value(v) : "";
	bool *release = (bool *)((char *)cfg + f->off);

	if (!strcmp(s, "release"))
		*release = true;
	else if (!strcmp(s, "delete"))
		*release = false;
	else
		return fail_at(c, "is \"release\" or \"delete\"");
	return 0;
}

static int read_signatures(struct ctx *c, const json_t *v, struct mg_config *cfg, const struct field *f)
{
	size_t i;
	json_t *e;

	(void)f;
	if (!json_is_array(v))
		return fail_at(c, "must be an array of signatures, not %s", type_name(v));
	if (json_array_size(v) > MG_CONFIG_MAX_EXCEPTIONS)
		return fail_at(c, "at most %d entries", MG_CONFIG_MAX_EXCEPTIONS);
	cfg->n_ob_except_sig = 0;
	json_array_foreach(v, i, e) {
		push_index(c, i);
		if (!json_is_string(e) || mg_sig_parse(json_string_value(e), &cfg->ob_except_sig[cfg->n_ob_except_sig]))
			return fail_at(c, "not a signature (\"fp:1a2b3c4d\", \"helo:...\", \"shape:bare-word/ehlo\")");
		cfg->n_ob_except_sig++;
		pop(c);
	}
	return 0;
}

/*
 * The daemon's working directory is "/" under systemd and whatever the shell
 * had otherwise: a relative path would name another file in each. Existence
 * is left to the start and to the use: a file may be created by then, and a
 * reload must not depend on what a hook's deployment has got to yet.
 */
static int check_absolute_path(struct ctx *c, const void *dst)
{
	return ((const char *)dst)[0] == '/' ? 0 : fail_at(c, "must be an absolute path");
}

/* Does the path name a directory by its spelling alone: "/", "/x/", "/x/." or "/x/.."? */
static bool dir_shaped(const char *s)
{
	const char *last = strrchr(s, '/');
	const char *base = last ? last + 1 : s;

	return !*base || !strcmp(base, ".") || !strcmp(base, "..");
}

/* An absolute path to a file (a hook, a log, a socket), not to a directory like "/". */
static int check_file_path(struct ctx *c, const void *dst)
{
	if (check_absolute_path(c, dst))
		return -EINVAL;
	if (dir_shaped(dst))
		return fail_at(c, "must name a file, not a directory: \"%s\"", (const char *)dst);
	return 0;
}

/* "-" (standard output) or a file path. */
static int check_log_file(struct ctx *c, const void *dst)
{
	if (!strcmp(dst, "-"))
		return 0;
	if (((const char *)dst)[0] != '/')
		return fail_at(c, "must be \"-\" (standard output) or an absolute path");
	return check_file_path(c, dst);
}

/* Checked here, not at bind time, so a reload with a typo is refused with its place. */
static int check_listen(struct ctx *c, const void *dst)
{
	struct sockaddr_storage ss;

	if (mg_parse_listen(dst, &ss))
		return fail_at(c, "not ADDRESS:PORT (e.g. \"127.0.0.1:9477\", \"[::1]:9477\")");
	return 0;
}

/*
 * Postfix's own spelling of a policy service's address, checked as far as
 * binding it would: a typo found at start comes after the program is pinned.
 */
static int check_policy_listen(struct ctx *c, const void *dst)
{
	const char *s = dst;
	struct sockaddr_storage ss;

	if (!strncmp(s, "unix:", 5)) {
		if (s[5] != '/' || dir_shaped(s + 5))
			return fail_at(c, "is \"unix:/PATH\" or \"inet:ADDRESS:PORT\", PATH absolute");
		if (strlen(s + 5) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return fail_at(c, "socket path too long (at most %zu bytes)",
				       sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		return 0;
	}
	if (!strncmp(s, "inet:", 5)) {
		if (mg_parse_listen(s + 5, &ss))
			return fail_at(c, "\"inet:\" takes ADDRESS:PORT with a port 1..65535 (e.g. \"inet:127.0.0.1:10040\", "
				       "\"inet:[::1]:10040\")");
		return 0;
	}
	return fail_at(c, "is \"unix:/PATH\" or \"inet:ADDRESS:PORT\"");
}

/* ---- checks across the keys of a section ------------------------------------------------- */

static int finish_smtp_ports(struct ctx *c, const json_t *v, struct mg_config *cfg)
{
	const struct mg_tunables *t = &cfg->tunables;

	for (int i = 0; i < MG_PORTS_PER_CLASS; i++)
		for (int k = 0; k < MG_PORTS_PER_CLASS; k++)
			if (t->mx_ports[i] && t->mx_ports[i] == t->submission_ports[k]) {
				/* Point at whichever class the file set (it set at least one). */
				push_key(c, json_object_get(v, "submission") ? "submission" : "mx");
				return fail_at(c, "port %u is both an MX and a submission port", t->mx_ports[i]);
			}
	return 0;
}

static int finish_detection(struct ctx *c, const json_t *v, struct mg_config *cfg)
{
	const struct mg_an_config *an = &cfg->an;

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

static int finish_block(struct ctx *c, const json_t *v, struct mg_config *cfg)
{
	if (cfg->an.max_block_ns < cfg->an.block_ns) {
		push_key(c, json_object_get(v, "max_duration") ? "max_duration" : "duration");
		return fail_at(c, "max_duration must not be shorter than duration");
	}
	return 0;
}

/*
 * The lists that exempt sources from blocking, holding or outbreak handling:
 * each entry no wider than the limits, and never everything (checked when
 * the whole file is read: "limits" may come after the lists).
 */
static const struct {
	const char *key, *sub, *list; /* the path: key[.sub.list][i] */
	size_t off, n_off;            /* a K_PREFIXES list (n_off 0) or a K_PREFIX_ARRAY */
} allowing_lists[] = {
	{ "allowlist", NULL, NULL, AT(allowlist, struct mg_prefix_list), 0 },
	{ "mail_servers", NULL, NULL, AT(mail_servers, struct mg_prefix_list), 0 },
	{ "outbreak", "exceptions", "prefixes", AT(ob_except_pfx[0], struct mg_prefix), AT(n_ob_except_pfx, size_t) },
	{ "quarantine", "exceptions", "clients", AT(q_except_client[0], struct mg_prefix), AT(n_q_except_client, size_t) },
};

static int check_allowing_entry(struct ctx *c, const struct mg_config *cfg, const struct mg_prefix *p)
{
	char buf[MG_ADDRSTRLEN];
	unsigned min;

	mg_prefix_str(p, buf, sizeof(buf));
	if (mg_prefix_family_len(p) == 0)
		return fail_at(c, "%s is every %ssource: nothing would be enforced against any of them; to stop "
			       "enforcing, set \"monitor\": true", buf, mg_prefix_is_v4(p) ? "IPv4 " : "");
	if (mg_config_prefix_too_wide(cfg, p, &min))
		return fail_at(c, "%s is wider than limits.min_prefix_%s (/%u); lower the limit if you mean it", buf,
			       mg_prefix_is_v4(p) ? "v4" : "v6", min);
	return 0;
}

static int finish_top(struct ctx *c, const json_t *v, struct mg_config *cfg)
{
	if (build_v6_nets(c, cfg))
		return -EINVAL;
	/* The protected networks' activity records, laid out for the kernel (its read-only data: a restart applies them). */
	char why[320];
	size_t bad;
	if (mg_act_plan(cfg->protected_nets.v, cfg->protected_nets.n, cfg->tunables.act, &bad, why, sizeof(why))) {
		push_key(c, "protected_networks");
		push_index(c, bad);
		return fail_at(c, "%s", why);
	}
	/* The operator must be able to block and allow what the analyzer blocks: an IPv6 source at its aggregation. */
	if (cfg->min_prefix_v6 > cfg->tunables.v6_src_prefix) {
		/* At the limit when the file sets it: the limit is the newer idea of the two. */
		const json_t *l = json_object_get(v, "limits");
		if (l && json_object_get(l, "min_prefix_v6")) {
			push_key(c, "limits");
			push_key(c, "min_prefix_v6");
		} else {
			push_key(c, "ipv6_aggregation");
		}
		return fail_at(c, "limits.min_prefix_v6 (/%u) must not be longer than ipv6_aggregation (/%u), the prefix "
			       "the analyzer blocks IPv6 sources at", cfg->min_prefix_v6, cfg->tunables.v6_src_prefix);
	}
	for (size_t k = 0; k < N_OF(allowing_lists); k++) {
		const char *base = (const char *)cfg + allowing_lists[k].off;
		const struct mg_prefix *p;
		size_t n;
		if (allowing_lists[k].n_off) {
			p = (const struct mg_prefix *)base;
			n = *(const size_t *)((const char *)cfg + allowing_lists[k].n_off);
		} else {
			p = ((const struct mg_prefix_list *)base)->v;
			n = ((const struct mg_prefix_list *)base)->n;
		}
		for (size_t i = 0; i < n; i++) {
			size_t depth = c->depth;
			push_key(c, allowing_lists[k].key);
			if (allowing_lists[k].sub) {
				push_key(c, allowing_lists[k].sub);
				push_key(c, allowing_lists[k].list);
			}
			push_index(c, i);
			if (check_allowing_entry(c, cfg, &p[i]))
				return -EINVAL;
			c->depth = depth;
		}
	}
	return 0;
}

/* verify.nat: [ { "inside": PREFIX, "public": ADDRESS } ]: the longest inside prefix wins. */
static int read_nat(struct ctx *c, const json_t *v, struct mg_config *cfg, const struct field *f)
{
	size_t i;
	json_t *e;

	(void)f;
	if (!json_is_array(v))
		return fail_at(c, "must be an array of {\"inside\": PREFIX, \"public\": ADDRESS}, not %s", type_name(v));
	if (json_array_size(v) > MG_CONFIG_MAX_EXCEPTIONS)
		return fail_at(c, "at most %d entries", MG_CONFIG_MAX_EXCEPTIONS);
	cfg->n_verify_nat = 0;
	json_array_foreach(v, i, e) {
		struct mg_config_nat *n = &cfg->verify_nat[cfg->n_verify_nat];
		const char *key;
		json_t *x;
		bool in = false, pub = false;

		push_index(c, i);
		if (!json_is_object(e))
			return fail_at(c, "must be {\"inside\": PREFIX, \"public\": ADDRESS}, not %s", type_name(e));
		json_object_foreach(e, key, x) {
			push_key(c, key);
			if (!strcmp(key, "inside")) {
				if (!json_is_string(x) || mg_prefix_parse(json_string_value(x), &n->inside))
					return fail_at(c, "not an address or prefix");
				in = true;
			} else if (!strcmp(key, "public")) {
				if (!json_is_string(x) || mg_addr_parse(json_string_value(x), n->public_addr))
					return fail_at(c, "not an address");
				pub = true;
			} else {
				return fail_at(c, "unknown key \"%s\" (\"inside\", \"public\")", key);
			}
			pop(c);
		}
		if (!in || !pub)
			return fail_at(c, "needs both \"inside\" and \"public\"");
		if (mg_addr_is_v4(n->public_addr) != mg_prefix_is_v4(&n->inside))
			return fail_at(c, "\"inside\" and \"public\" must be of one family (SPF checks the address mail comes from)");
		cfg->n_verify_nat++;
		pop(c);
	}
	return 0;
}

/* verify.resolvers: "ADDR[:PORT],...", as c-ares takes them; checked for shape here, by c-ares at start. */
static int check_resolvers(struct ctx *c, const void *dst)
{
	const char *s = dst;

	for (const char *p = s; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F') || strchr(".:[],", *p)))
			return fail_at(c, "is a list of numeric addresses with optional ports "
				       "(\"198.18.0.53\", \"198.18.0.53:5353,[2001:db8::53]:53\")");
	return 0;
}

/* ---- the tables: the schema of mg_config.h, key by key ----------------------------------- */

/* Scores and weights: 0 turns a signal off; above a million is a typo. */
#define MAX_WEIGHT 1000000

static const struct field smtp_ports_keys[] = {
	PORTS("mx", tunables.mx_ports, 1),
	PORTS("submission", tunables.submission_ports, 0),
};
static const struct section smtp_ports = SECTION_OF(smtp_ports_keys, .finish = finish_smtp_ports);

/* Below 1024 entries a map is useless; above 2^26 it takes gigabytes of kernel memory. */
static const struct field map_sizes_keys[] = {
	U32("sources", max_sources, 1024, 1 << 26),
	U32("servers", max_servers, 1024, 1 << 26),
	U32("policy", max_policy, 1024, 1 << 26),
};
static const struct section map_sizes = SECTION_OF(map_sizes_keys);

static const struct field weights_keys[] = {
	NUMBER("distinct_mx", an.w_distinct_mx, 0, MAX_WEIGHT),
	NUMBER("syn_rate", an.w_syn_rate, 0, MAX_WEIGHT),
	NUMBER("helo_ip_literal", an.w_helo_ip_literal, 0, MAX_WEIGHT),
	NUMBER("helo_bare_word", an.w_helo_bare_word, 0, MAX_WEIGHT),
	NUMBER("helo_own_octets", an.w_helo_own_octets, 0, MAX_WEIGHT),
	NUMBER("helo_varies", an.w_helo_varies, 0, MAX_WEIGHT),
	NUMBER("rcpt_per_session", an.w_rcpt_per_session, 0, MAX_WEIGHT),
	NUMBER("reject_ratio", an.w_reject_ratio, 0, MAX_WEIGHT),
	NUMBER("no_other_activity", an.w_no_other_activity, 0, MAX_WEIGHT),
	NUMBER("long_mx", an.w_long_mx, 0, MAX_WEIGHT),
};
static const struct section weights = SECTION_OF(weights_keys);

static const struct field detection_keys[] = {
	/* Rates are per minute; a day is the longest a bot's burst should be remembered as one. */
	DURATION("window", an.window_ns, BOUNDS(MINUTE, DAY)),
	DURATION("learning_period", an.learning_ns, BOUNDS(HOUR, MG_DURATION_MAX_NS)),
	U32("learning_active_days", an.learn_min_active_days, 1, 365),
	NUMBER("block_score", an.block_score, 0, MAX_WEIGHT),
	NUMBER("alert_score", an.alert_score, 0, MAX_WEIGHT),
	U32("free_distinct_mx", an.free_distinct_mx, 0, 1000),
	U32("free_syn_per_min", an.free_syn_per_min, 0, 100000),
	/* The longer memory: past a month it would outlive the profile itself (idle hosts go after 30 days). */
	DURATION("long_half_life", an.long_half_life_ns, BOUNDS(MINUTE, 30 * DAY)),
	NUMBER("free_long_mx", an.free_long_mx, 0, 100000),
	/* HELO names kept as text beyond the suspects' and blocked sources' (each about 56 bytes). */
	U32("helo_texts", an.helo_texts, 1024, 100000000),
	SUB("weights", weights),
};
static const struct section detection = SECTION_OF(detection_keys, .finish = finish_detection);

static const struct field block_keys[] = {
	CUSTOM("action", read_action, .off = AT(an.block_action, uint8_t)),
	DURATION("duration", an.block_ns, BOUNDS(NS_PER_SEC, MG_DURATION_MAX_NS)),
	U32("repeat_factor", an.repeat_factor, 1, 100),
	DURATION("max_duration", an.max_block_ns, BOUNDS(NS_PER_SEC, MG_DURATION_MAX_NS)),
	U32("max_new_per_minute", an.max_new_blocks_per_min, 0, 100000),
};
static const struct section block = SECTION_OF(block_keys, .finish = finish_block);

/* In the family's bits; the IPv6 one is also held to ipv6_aggregation (finish_top). */
static const struct field limits_keys[] = {
	U32("min_prefix_v4", min_prefix_v4, 1, 32),
	U32("min_prefix_v6", min_prefix_v6, 1, 128),
};
static const struct section limits = SECTION_OF(limits_keys);

static const struct field metrics_keys[] = {
	STRING("textfile", metrics_textfile, .check = check_file_path),
	STRING("listen", metrics_listen, .check = check_listen),
	DURATION("interval", metrics_interval_ns, BOUNDS(NS_PER_SEC, HOUR)),
};
static const struct section metrics = SECTION_OF(metrics_keys);

/* A DNS TTL: under a second is no cache at all; past a day a lifted block stays listed too long. */
static const struct field dnsbl_keys[] = {
	STRING("ip4trie", dnsbl_ip4, .check = check_file_path),
	STRING("ip6trie", dnsbl_ip6, .check = check_file_path),
	DURATION("ttl", dnsbl_ttl_ns, BOUNDS(NS_PER_SEC, DAY)),
	BOOL("feeds", dnsbl_feeds),
};
static const struct section dnsbl = SECTION_OF(dnsbl_keys);

static const struct field outbreak_exceptions_keys[] = {
	CUSTOM("signatures", read_signatures),
	PREFIX_ARRAY("prefixes", ob_except_pfx, n_ob_except_pfx),
};
static const struct section outbreak_exceptions = SECTION_OF(outbreak_exceptions_keys);

static const struct field outbreak_keys[] = {
	U32("min_senders", ob.min_senders, 2, 100000),
	DURATION("window", ob.window_ns, BOUNDS(MINUTE, DAY)),
	DURATION("decay", ob.decay_ns, BOUNDS(MINUTE, 7 * DAY)),
	BOOL("contain", contain),
	STRING("alert_hook", alert_hook, .check = check_file_path),
	SUB("exceptions", outbreak_exceptions),
};
static const struct section outbreak = SECTION_OF(outbreak_keys);

/* The operator's programs run on the daemon's doings (mg_daemon_hooks.c); outbreak.alert_hook is the outbreaks' own. */
static const struct field hooks_keys[] = {
	STRING("verdict", verdict_hook, .check = check_file_path),
};
static const struct section hooks = SECTION_OF(hooks_keys);

static const struct field retention_keys[] = {
	DURATION("suspect", hold_suspect_ns, BOUNDS(NS_PER_SEC, MG_DURATION_MAX_NS)),
	DURATION("outbreak", hold_outbreak_ns, BOUNDS(NS_PER_SEC, MG_DURATION_MAX_NS)),
};
static const struct section retention = SECTION_OF(retention_keys);

static const struct field on_expiry_keys[] = {
	CUSTOM("suspect", read_expiry_choice, .off = AT(expire_release_suspect, bool)),
	CUSTOM("outbreak", read_expiry_choice, .off = AT(expire_release_outbreak, bool)),
};
static const struct section on_expiry = SECTION_OF(on_expiry_keys);

static const struct field quarantine_exceptions_keys[] = {
	PREFIX_ARRAY("clients", q_except_client, n_q_except_client),
	STRING_ARRAY("sender_domains", q_except_domain, n_q_except_domain, "domains"),
	STRING_ARRAY("recipients", q_except_rcpt, n_q_except_rcpt, "addresses"),
};
static const struct section quarantine_exceptions = SECTION_OF(quarantine_exceptions_keys);

static const struct field quarantine_keys[] = {
	STRING("policy_listen", policy_listen, .check = check_policy_listen),
	/* Fewer than 16 and a handful of smtpd processes would keep closing each other's connections. */
	U32("policy_max_clients", policy_max_clients, 16, 65536),
	/* Below a second, a busy Postfix host's smtpd could be cut off between two writes of its own. */
	DURATION("policy_idle_timeout", policy_idle_timeout_ns, BOUNDS(NS_PER_SEC, DAY)),
	DURATION("policy_io_timeout", policy_io_timeout_ns, BOUNDS(NS_PER_SEC, HOUR)),
	CUSTOM("policy_socket_mode", read_file_mode, .off = AT(policy_socket_mode, unsigned)),
	STRING("policy_socket_group", policy_socket_group),
	U32("threshold", quarantine_level, 0, 5),
	STRING("postfix_config", postfix_config, .check = check_absolute_path),
	BOOL("clamav", clamav),
	STRING("clamd_config", clamd_config, .check = check_absolute_path),
	STRING("clamdscan", clamdscan, .check = check_absolute_path),
	BOOL("release_on_outbreak_end", release_on_outbreak_end),
	SUB("retention", retention),
	SUB("on_expiry", on_expiry),
	SUB("exceptions", quarantine_exceptions),
};
static const struct section quarantine = SECTION_OF(quarantine_keys);

/* The cluster section: servers as URLs, names in NATS's alphabets, the kinds shared both ways. */
static int kinds_of(struct ctx *c, const char (*names)[16], size_t n, const char *key, unsigned *out)
{
	*out = 0;
	for (size_t i = 0; i < n; i++) {
		enum mg_cl_kind k;
		const char *name = names[i];
		if (!strcmp(name, "verdicts"))
			k = MG_CL_VERDICT;
		else if (!strcmp(name, "blocks"))
			k = MG_CL_BLOCK;
		else if (!strcmp(name, "allows"))
			k = MG_CL_ALLOW;
		else if (!strcmp(name, "mail_servers"))
			k = MG_CL_SERVER;
		else if (!strcmp(name, "outbreaks"))
			k = MG_CL_OUTBREAK;
		else {
			push_key(c, key);
			return fail_at(c, "unknown kind \"%s\": \"verdicts\", \"blocks\", \"allows\", \"mail_servers\" or "
				       "\"outbreaks\"", name);
		}
		*out |= 1u << k;
	}
	return 0;
}

static int finish_cluster(struct ctx *c, const json_t *v, struct mg_config *cfg)
{
	for (size_t i = 0; i < cfg->n_cluster_servers; i++) {
		const char *s = cfg->cluster_servers[i];
		if (strncmp(s, "nats://", 7) && strncmp(s, "tls://", 6)) {
			push_key(c, "servers");
			return fail_at(c, "server \"%s\" must be a nats:// or tls:// URL", s);
		}
	}
	if (!cfg->cluster_node[0]) {
		/* The host name, in the alphabet keys allow: one name per edge without configuring it. */
		char host[256] = "";
		gethostname(host, sizeof(host) - 1);
		size_t o = 0;
		for (const char *h = host; *h && *h != '.' && o < sizeof(cfg->cluster_node) - 1; h++)
			cfg->cluster_node[o++] = mg_cl_node_valid((char[]){ *h, 0 }) ? *h : '-';
		cfg->cluster_node[o] = '\0';
		if (!o)
			snprintf(cfg->cluster_node, sizeof(cfg->cluster_node), "node");
	} else if (!mg_cl_node_valid(cfg->cluster_node)) {
		push_key(c, "node");
		return fail_at(c, "node name \"%s\": letters, digits, '-' and '_' only, at most %d", cfg->cluster_node,
			       MG_CL_NODE_MAX - 1);
	}
	if (cfg->cluster_events_stream[0] && !mg_cl_node_valid(cfg->cluster_events_stream)) {
		push_key(c, "events_stream");
		return fail_at(c, "stream name \"%s\": letters, digits, '-' and '_' only", cfg->cluster_events_stream);
	}
	if (!mg_cl_node_valid(cfg->cluster_bucket)) {
		push_key(c, "bucket");
		return fail_at(c, "bucket name \"%s\": letters, digits, '-' and '_' only", cfg->cluster_bucket);
	}
	if (json_object_get(v, "publish") &&
	    kinds_of(c, (const char(*)[16])cfg->cluster_publish_names, cfg->n_cluster_publish_names, "publish",
		     &cfg->cluster_publish))
		return -EINVAL;
	if (json_object_get(v, "accept") &&
	    kinds_of(c, (const char(*)[16])cfg->cluster_accept_names, cfg->n_cluster_accept_names, "accept",
		     &cfg->cluster_accept))
		return -EINVAL;
	return 0;
}

static const struct field cluster_keys[] = {
	STRING_ARRAY("servers", cluster_servers, n_cluster_servers, "servers"),
	STRING("node", cluster_node),
	STRING("bucket", cluster_bucket),
	STRING("credentials", cluster_credentials, .check = check_absolute_path),
	STRING("tls_ca", cluster_tls_ca, .check = check_absolute_path),
	STRING_ARRAY("publish", cluster_publish_names, n_cluster_publish_names, "kinds"),
	STRING_ARRAY("accept", cluster_accept_names, n_cluster_accept_names, "kinds"),
	/* Received verdicts per minute: a resync of a big bucket comes in at this pace, never as a wave. */
	U32("max_accept_per_minute", cluster_max_accept_per_min, 1, 1000000),
	STRING("events_stream", cluster_events_stream),
	DURATION("events_max_age", cluster_events_max_age_ns, BOUNDS(MINUTE, 366 * DAY)),
};
static const struct section cluster = SECTION_OF(cluster_keys, .finish = finish_cluster);
static const struct field bgp_keys[] = {
	/* Routes new here per minute: a peer announcing the world's address space is refused past this. */
	U32("max_accept_per_minute", bgp_max_accept_per_min, 1, 1000000),
};
static const struct section bgp = SECTION_OF(bgp_keys);
static const struct field verify_weights_keys[] = {
	NUMBER("spf_fail", an.vw.spf_fail, 0, MAX_WEIGHT),
	NUMBER("spf_softfail", an.vw.spf_softfail, 0, MAX_WEIGHT),
	NUMBER("sender_unknown", an.vw.sender_unknown, 0, MAX_WEIGHT),
	NUMBER("helo_forged", an.vw.helo_forged, 0, MAX_WEIGHT),
	NUMBER("no_ptr", an.vw.no_ptr, 0, MAX_WEIGHT),
	NUMBER("not_fcrdns", an.vw.not_fcrdns, 0, MAX_WEIGHT),
	NUMBER("ptr_dynamic", an.vw.ptr_dynamic, 0, MAX_WEIGHT),
	NUMBER("helo_unresolved", an.vw.helo_unresolved, 0, MAX_WEIGHT),
	NUMBER("helo_not_source", an.vw.helo_not_source, 0, MAX_WEIGHT),
	NUMBER("max_total", an.vw.max_total, 0, MAX_WEIGHT),
};
static const struct section verify_weights = SECTION_OF(verify_weights_keys);

static const struct field verify_keys[] = {
	BOOL("enabled", verify_enabled),
	STRING("resolvers", verify_resolvers, .check = check_resolvers),
	/* Per try, two tries: a resolver slower than a minute is down. */
	DURATION("timeout", verify_timeout_ns, BOUNDS(100 * MS, MINUTE)),
	U32("queries_per_second", verify_qps, 1, 100000),
	U32("cache_entries", verify_cache_entries, 16, 10000000),
	U32("forgery_verdict_sessions", an.forgery_verdict_sessions, 0, 1000),
	DURATION("reverify", an.reverify_ns, BOUNDS(MINUTE, 7 * DAY)),
	CUSTOM("nat", read_nat),
	PREFIX_ARRAY("off", verify_off, n_verify_off),
	SUB("weights", verify_weights),
};
static const struct section verify = SECTION_OF(verify_keys);

static const struct field top_keys[] = {
	CUSTOM("interfaces", read_interfaces),
	STRING("pin_dir", pin_dir, .check = check_absolute_path),
	SUB("limits", limits),
	SUB("smtp_ports", smtp_ports),
	CUSTOM("protected_networks", read_protected),
	PREFIXES("mail_servers", mail_servers),
	PREFIXES("allowlist", allowlist),
	CUSTOM("ipv6_aggregation", read_v6_aggregation, .lo = 48, .hi = 128),
	BOOL("monitor", an.monitor),
	CUSTOM("handshake", read_handshake),
	SUB("map_sizes", map_sizes),
	SUB("detection", detection),
	SUB("block", block),
	STRING("state_file", state_file, .check = check_file_path),
	DURATION("state_interval", state_interval_ns, BOUNDS(NS_PER_SEC, DAY)),
	STRING("log_file", log_file, .check = check_log_file),
	STRING("control_socket", control_socket, .check = check_file_path),
	CUSTOM("control_mode", read_file_mode, .off = AT(control_mode, unsigned)),
	/* Faster wastes CPU on kernel map walks; slower blocks a bot too late. */
	DURATION("scan_interval", scan_interval_ns, BOUNDS(100 * MS, MINUTE)),
	SUB("metrics", metrics),
	SUB("dnsbl", dnsbl),
	SUB("outbreak", outbreak),
	SUB("hooks", hooks),
	SUB("quarantine", quarantine),
	SUB("cluster", cluster),
	SUB("bgp", bgp),
	SUB("verify", verify),
};
static const struct section top = SECTION_OF(top_keys, .finish = finish_top);

static int read_top(struct ctx *c, const json_t *root, struct mg_config *cfg)
{
	/* The whole file is no key's value: it gets a message of its own. */
	if (!json_is_object(root))
		return fail_at(c, "the configuration must be a JSON object, not %s", type_name(root));
	return read_section(c, root, &top, cfg);
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
	c->min_prefix_v4 = MG_MIN_PREFIX_V4_DEFAULT;
	c->min_prefix_v6 = MG_MIN_PREFIX_V6_DEFAULT;
	mg_an_config_default(&c->an);
	c->an.v6_prefix = c->tunables.v6_src_prefix;
	snprintf(c->state_file, sizeof(c->state_file), "/var/lib/mtaguard/state.gz");
	c->state_interval_ns = 60 * NS_PER_SEC;
	snprintf(c->log_file, sizeof(c->log_file), "-");
	snprintf(c->control_socket, sizeof(c->control_socket), "/run/mtaguard/control.sock");
	c->control_mode = 0600;
	c->scan_interval_ns = NS_PER_SEC;
	c->metrics_interval_ns = 15 * NS_PER_SEC;
	c->dnsbl_ttl_ns = 300 * NS_PER_SEC; /* Spamhaus' zones use minutes too: a lifted block is out of caches soon */
	c->dnsbl_feeds = true;
	mg_ob_config_default(&c->ob);
	c->contain = true;
	c->quarantine_level = 3;
	c->policy_max_clients = MG_POLICYD_DEFAULT_MAX_CLIENTS;
	c->policy_idle_timeout_ns = MG_POLICYD_DEFAULT_IDLE_S * NS_PER_SEC;
	c->policy_io_timeout_ns = MG_POLICYD_DEFAULT_IO_S * NS_PER_SEC;
	c->policy_socket_mode = 0660; /* smtpd (user postfix) connects; no other user may */
	snprintf(c->policy_socket_group, sizeof(c->policy_socket_group), "postfix");
	snprintf(c->cluster_bucket, sizeof(c->cluster_bucket), "mtaguard");
	c->cluster_publish = c->cluster_accept =
		(1u << MG_CL_VERDICT) | (1u << MG_CL_BLOCK) | (1u << MG_CL_ALLOW) | (1u << MG_CL_SERVER) |
		(1u << MG_CL_OUTBREAK);
	c->cluster_max_accept_per_min = 600;
	c->bgp_max_accept_per_min = 600;
	snprintf(c->cluster_events_stream, sizeof(c->cluster_events_stream), "MTAGUARD_EVENTS");
	c->cluster_events_max_age_ns = 7 * 86400 * NS_PER_SEC;
	c->hold_suspect_ns = 2 * 86400 * NS_PER_SEC;
	c->hold_outbreak_ns = 5 * 86400 * NS_PER_SEC;
	c->expire_release_suspect = true;  /* a suspect is not a verdict: its mail goes out after a fresh scan */
	c->expire_release_outbreak = false; /* an outbreak member's mail is the outbreak: deleted */
	c->clamav = true;
	c->verify_enabled = true;
	c->verify_timeout_ns = 2 * NS_PER_SEC;
	c->verify_qps = 20;
	c->verify_cache_entries = 10000;
}

static void free_lists(struct mg_config *c)
{
	free(c->protected_nets.v);
	free(c->protected_agg);
	free(c->mail_servers.v);
	free(c->allowlist.v);
	c->protected_nets = c->mail_servers = c->allowlist = (struct mg_prefix_list){ 0 };
	c->protected_agg = NULL;
}

void mg_config_free(struct mg_config *c)
{
	free_lists(c);
}

bool mg_config_prefix_too_wide(const struct mg_config *c, const struct mg_prefix *p, unsigned *min)
{
	*min = mg_prefix_is_v4(p) ? c->min_prefix_v4 : c->min_prefix_v6;
	return mg_prefix_family_len(p) < *min;
}

bool mg_prefix_list_has(const struct mg_prefix_list *l, const struct mg_prefix *p)
{
	for (size_t i = 0; i < l->n; i++)
		if (mg_prefix_eq(&l->v[i], p))
			return true;
	return false;
}

/* Deep copy of the lists, so a parse can work on its own copy of *c. */
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

	work.protected_agg = NULL;
	if (c->protected_nets.n && (work.protected_agg = calloc(c->protected_nets.n, 1)) && c->protected_agg)
		memcpy(work.protected_agg, c->protected_agg, c->protected_nets.n);
	if (copy_list(&work.protected_nets, &c->protected_nets) || copy_list(&work.mail_servers, &c->mail_servers) ||
	    copy_list(&work.allowlist, &c->allowlist) || (c->protected_nets.n && !work.protected_agg)) {
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
			free(work.protected_agg);
			work.protected_nets = (struct mg_prefix_list){ 0 };
			work.protected_agg = NULL;
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
	/*
	 * O_NONBLOCK: opening a FIFO for reading waits for a writer, and would
	 * hang the start or a reload (SIGHUP) right here. A symlink is followed:
	 * configuration management links configuration files on purpose.
	 */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

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
	/* A FIFO, a socket or a device is no configuration file: refused rather than read (or waited on). */
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file (%s): refusing to read it", path,
			 S_ISFIFO(st.st_mode) ? "a FIFO" : S_ISCHR(st.st_mode) ? "a character device"
			 : S_ISBLK(st.st_mode) ? "a block device" : S_ISSOCK(st.st_mode) ? "a socket" : "not a file");
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

/* The units of a duration, largest first (the order mg_duration_str() tries them in). */
static const struct {
	const char *suffix;
	uint64_t ns;
} duration_units[] = {
	{ "d", DAY }, { "h", HOUR }, { "m", MINUTE }, { "s", NS_PER_SEC }, { "ms", MS },
};

int mg_parse_duration(const char *s, uint64_t *ns)
{
	uint64_t unit = 0;
	char *end;

	/* A digit first: strtoull alone would take " 5", "+5" and "-5" (as 2^64 - 5). */
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (!*end)
		unit = NS_PER_SEC;
	for (size_t i = 0; i < N_OF(duration_units) && !unit; i++)
		if (!strcmp(end, duration_units[i].suffix))
			unit = duration_units[i].ns;
	if (!unit)
		return -EINVAL;
	if (errno == ERANGE || v > UINT64_MAX / unit)
		return -ERANGE;
	*ns = v * unit;
	return 0;
}

int mg_parse_rule_duration(const char *s, uint64_t *ns)
{
	uint64_t v;
	int e = mg_parse_duration(s, &v);

	if (e)
		return e;
	if (v && (v < NS_PER_SEC || v > MG_DURATION_MAX_NS))
		return -ERANGE;
	*ns = v;
	return 0;
}

const char *mg_duration_str(uint64_t ns, char *buf, size_t len)
{
	for (size_t i = 0; i < N_OF(duration_units); i++)
		if (ns && ns % duration_units[i].ns == 0) {
			snprintf(buf, len, "%llu%s", (unsigned long long)(ns / duration_units[i].ns),
				 duration_units[i].suffix);
			return buf;
		}
	/* 0, or finer than a millisecond (never from the parser). */
	snprintf(buf, len, ns ? "%lluns" : "%llu", (unsigned long long)ns);
	return buf;
}

int mg_config_parse_iface(const char *text, struct mg_config_iface *out)
{
	const char *colon = strchr(text, ':');
	size_t n = colon ? (size_t)(colon - text) : strlen(text);
	struct mg_config_iface ifc = { .mode = MG_MODE_AUTO };

	if (!iface_name_ok(text, n))
		return -EINVAL;
	memcpy(ifc.name, text, n);
	if (colon && mg_xdp_mode_parse(colon + 1, &ifc.mode))
		return -ENOTSUP;
	*out = ifc;
	return 0;
}
