// SPDX-License-Identifier: GPL-2.0-only
/* mg_cluster_codec.c - shared entries to and from NATS key-value keys and values (see the header). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "mtaguard.h"
#include "mg_cluster_codec.h"
#include "mg_names.h"

static const char *const kind_names[MG_CL_KIND_MAX] = {
	[MG_CL_VERDICT] = "verdict",
	[MG_CL_BLOCK] = "block",
	[MG_CL_ALLOW] = "allow",
	[MG_CL_SERVER] = "server",
	[MG_CL_OUTBREAK] = "outbreak",
};

/* Signature kinds as a key spells them (enum mg_sig_kind). */
static const char *const sig_kinds[] = { [MG_SIG_FP] = "fp", [MG_SIG_HELO] = "helo", [MG_SIG_SHAPE] = "shape" };

const char *mg_cl_kind_name(enum mg_cl_kind k)
{
	return (unsigned)k < MG_CL_KIND_MAX ? kind_names[k] : "?";
}

int mg_cl_kind_parse(const char *s, enum mg_cl_kind *k)
{
	for (int i = 0; i < MG_CL_KIND_MAX; i++)
		if (!strcmp(s, kind_names[i])) {
			*k = (enum mg_cl_kind)i;
			return 0;
		}
	return -EINVAL;
}

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
		/* One line whatever it quotes (a parser's text of the input, too): it goes into logs. */
		for (char *c = err; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				*c = '?';
	}
	return -EINVAL;
}

bool mg_cl_node_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= MG_CL_NODE_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return true;
}

int mg_cl_key(const struct mg_cl_entry *e, char *buf, size_t len)
{
	char p[MG_ADDRSTRLEN + 8], a[MG_ADDRSTRLEN];

	if ((unsigned)e->kind >= MG_CL_KIND_MAX || !mg_cl_node_valid(e->node))
		return -EINVAL;
	if (e->kind == MG_CL_OUTBREAK) {
		if (e->sig.kind < MG_SIG_FP || e->sig.kind > MG_SIG_SHAPE)
			return -EINVAL;
		int n = snprintf(buf, len, "outbreak.%s.%s-%08x", e->node, sig_kinds[e->sig.kind], e->sig.value);
		return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
	}
	/* The length always spelled out: a key names exactly one prefix, whatever prints shorter. */
	mg_addr_str(e->prefix.addr, a, sizeof(a));
	snprintf(p, sizeof(p), "%s/%u", a, mg_prefix_family_len(&e->prefix));
	for (char *c = p; *c; c++)
		if (*c == ':')
			*c = '-';
	int n = snprintf(buf, len, "%s.%s.%s", kind_names[e->kind], e->node, p);
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

/* A text cut short at a byte count: drop a last character left incomplete, so it stays UTF-8. */
static void utf8_trim(char *s)
{
	size_t n = strlen(s), k = n;

	while (k && ((unsigned char)s[k - 1] & 0xc0) == 0x80)
		k--;
	if (!k)
		return;
	unsigned char lead = (unsigned char)s[k - 1];
	size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
	if (k - 1 + need > n)
		s[k - 1] = '\0';
}

int mg_cl_value(const struct mg_cl_entry *e, char *buf, size_t len)
{
	if ((unsigned)e->kind >= MG_CL_KIND_MAX || (mg_cl_kind_blocks(e->kind) && e->action != MG_ACT_DROP_SMTP &&
						     e->action != MG_ACT_DROP_ALL))
		return -EINVAL;
	if (e->kind == MG_CL_OUTBREAK && (e->level < 1 || e->level > 5))
		return -EINVAL;
	/*
	 * The caller's "why" is often cut at a byte count (an operator's comment
	 * to fit): a last character left incomplete goes, or jansson refuses the
	 * text and the entry would never be written.
	 */
	char why[MG_CL_WHY_MAX];
	snprintf(why, sizeof(why), "%s", e->why);
	utf8_trim(why);
	json_t *o = json_pack("{s:i,s:s?,s:o,s:I,s:s}", "v", 1, "action",
			      mg_cl_kind_blocks(e->kind) ? mg_action_name(e->action) : NULL, "expires",
			      e->expires_wall == MG_CL_NO_EXPIRY ? json_null() : json_integer((json_int_t)e->expires_wall),
			      "at", (json_int_t)e->at_wall, "why", why);
	if (!o)
		return -EINVAL; /* a "why" that is not UTF-8: the caller's text */
	if (e->kind == MG_CL_OUTBREAK) {
		json_object_set_new(o, "level", json_integer(e->level));
		json_object_set_new(o, "members", json_integer(e->members));
	}
	char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!text)
		return -ENOMEM;
	size_t n = strlen(text);
	int rc = n < len ? 0 : -ENOSPC;
	if (!rc)
		memcpy(buf, text, n + 1);
	free(text);
	return rc;
}

int mg_cl_parse_key(const char *key, struct mg_cl_entry *e, char *err, size_t errlen)
{
	char kind[16], text[MG_CL_KEY_MAX];
	const char *dot1 = strchr(key, '.'), *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;

	/* Quoted in messages as the alphabet keys allow, at most 80 bytes: a key comes from the network. */
	char shown[84];
	size_t n = 0;
	for (const char *c = key; *c && n < 80; c++, n++)
		shown[n] = strchr("-/_=.:", *c) || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
					   (*c >= '0' && *c <= '9') ? *c : '?';
	shown[n] = '\0';

	memset(e, 0, sizeof(*e));
	if (strlen(key) >= MG_CL_KEY_MAX)
		return fail(err, errlen, "key longer than %d bytes", MG_CL_KEY_MAX - 1);
	if (!dot1 || !dot2)
		return fail(err, errlen, "key \"%s\" is not KIND.NODE.PREFIX", shown);
	if ((size_t)(dot1 - key) >= sizeof(kind))
		return fail(err, errlen, "unknown kind in key \"%s\"", shown);
	memcpy(kind, key, (size_t)(dot1 - key));
	kind[dot1 - key] = '\0';
	if (mg_cl_kind_parse(kind, &e->kind))
		return fail(err, errlen, "unknown kind in key \"%s\"", shown);
	size_t nl = (size_t)(dot2 - dot1 - 1);
	if (nl == 0 || nl >= MG_CL_NODE_MAX)
		return fail(err, errlen, "bad node name in key \"%s\"", shown);
	memcpy(e->node, dot1 + 1, nl);
	e->node[nl] = '\0';
	if (!mg_cl_node_valid(e->node))
		return fail(err, errlen, "bad node name in key \"%s\"", shown);
	snprintf(text, sizeof(text), "%s", dot2 + 1);
	if (e->kind == MG_CL_OUTBREAK) {
		char *dash = strchr(text, '-'), *end;
		e->sig.kind = 0;
		for (int k = MG_SIG_FP; dash && k <= MG_SIG_SHAPE; k++)
			if ((size_t)(dash - text) == strlen(sig_kinds[k]) && !strncmp(text, sig_kinds[k], (size_t)(dash - text)))
				e->sig.kind = (uint8_t)k;
		if (!e->sig.kind || !dash[1])
			return fail(err, errlen, "bad signature in key \"%s\"", shown);
		unsigned long v = strtoul(dash + 1, &end, 16);
		if (*end || v > UINT32_MAX)
			return fail(err, errlen, "bad signature in key \"%s\"", shown);
		e->sig.value = (uint32_t)v;
		char canon[MG_CL_KEY_MAX];
		if (mg_cl_key(e, canon, sizeof(canon)) || strcmp(canon, key))
			return fail(err, errlen, "key \"%s\" is not as mtaguard writes it", shown);
		return 0;
	}
	/* An IPv6 prefix was written with '-' for ':'; an IPv4 one holds no '-'. */
	for (char *c = text; *c; c++)
		if (*c == '-')
			*c = ':';
	if (!strchr(text, '/'))
		return fail(err, errlen, "prefix without a length in key \"%s\"", shown);
	if (mg_prefix_parse(text, &e->prefix))
		return fail(err, errlen, "bad prefix in key \"%s\"", shown);
	/* One spelling per entry (no host bits, no other text of the address): else two keys could name one rule. */
	char canon[MG_CL_KEY_MAX];
	if (mg_cl_key(e, canon, sizeof(canon)) || strcmp(canon, key))
		return fail(err, errlen, "key \"%s\" is not as mtaguard writes it (host bits set, or another spelling)",
			    shown);
	return 0;
}

/* A wall-clock time in ns since the epoch: a non-negative integer. */
static int wall_time(json_t *v, uint64_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -EINVAL;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

int mg_cl_parse_value(const void *value, size_t len, struct mg_cl_entry *e, char *err, size_t errlen)
{
	json_error_t je;

	if (!value || !len)
		return fail(err, errlen, "empty value");
	if (len > MG_CL_VALUE_MAX)
		return fail(err, errlen, "value of %zu bytes (at most %d)", len, MG_CL_VALUE_MAX);
	json_t *o = json_loadb(value, len, JSON_REJECT_DUPLICATES, &je);
	if (!o)
		return fail(err, errlen, "value is not JSON: %s", je.text);
	int rc = -EINVAL;
	json_t *v = json_object_get(o, "v"), *act = json_object_get(o, "action"), *exp = json_object_get(o, "expires"),
	       *why = json_object_get(o, "why");
	if (!json_is_object(o) || !json_is_integer(v) || json_integer_value(v) != 1) {
		fail(err, errlen, "value is not a version-1 entry");
		goto out;
	}
	if (!mg_cl_kind_blocks(e->kind)) {
		e->action = 0;
	} else if (!json_is_string(act) || mg_action_parse(json_string_value(act), &e->action)) {
		fail(err, errlen, "action must be \"smtp\" or \"all\"");
		goto out;
	}
	if (json_is_null(exp))
		e->expires_wall = MG_CL_NO_EXPIRY;
	else if (wall_time(exp, &e->expires_wall)) {
		fail(err, errlen, "expires must be null or nanoseconds since the epoch");
		goto out;
	}
	if (wall_time(json_object_get(o, "at"), &e->at_wall)) {
		fail(err, errlen, "at must be nanoseconds since the epoch");
		goto out;
	}
	if (e->kind == MG_CL_OUTBREAK) {
		json_t *lv = json_object_get(o, "level"), *mb = json_object_get(o, "members");
		if (!json_is_integer(lv) || json_integer_value(lv) < 1 || json_integer_value(lv) > 5 ||
		    !json_is_integer(mb) || json_integer_value(mb) < 0 || json_integer_value(mb) > UINT32_MAX) {
			fail(err, errlen, "an outbreak needs a level 1..5 and a member count");
			goto out;
		}
		e->level = (uint8_t)json_integer_value(lv);
		e->members = (uint32_t)json_integer_value(mb);
	}
	if (why && !json_is_string(why)) {
		fail(err, errlen, "why must be a string");
		goto out;
	}
	snprintf(e->why, sizeof(e->why), "%s", why ? json_string_value(why) : "");
	if (strlen(e->why) == sizeof(e->why) - 1)
		utf8_trim(e->why);
	rc = 0;
out:
	json_decref(o);
	return rc;
}
