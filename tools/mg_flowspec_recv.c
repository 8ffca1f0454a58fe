// SPDX-License-Identifier: GPL-2.0-only
/* mg_flowspec_recv.c - FlowSpec routes from ExaBGP's JSON (see mg_flowspec_recv.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "mtaguard.h"
#include "mg_cidr_list.h"
#include "mg_flowspec_recv.h"

static const char *const status_names[MG_FSR_STATUS_MAX] = {
	[MG_FSR_USABLE] = "usable",
	[MG_FSR_NOT_DISCARD] = "not-discard",
	[MG_FSR_UNSUPPORTED] = "unsupported",
	[MG_FSR_OWN] = "own",
	[MG_FSR_MALFORMED] = "malformed",
};

const char *mg_fsr_status_name(enum mg_fsr_status s)
{
	return (unsigned)s < MG_FSR_STATUS_MAX ? status_names[s] : "?";
}

int mg_fsr_parse_community(const char *s, struct mg_fsr_opts *o)
{
	char *end;
	unsigned long a, v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	a = strtoul(s, &end, 10);
	if (errno || *end != ':' || a > 65535 || end[1] < '0' || end[1] > '9')
		return -EINVAL;
	v = strtoul(end + 1, &end, 10);
	if (errno || *end || v > 65535)
		return -EINVAL;
	o->own_set = true;
	o->own_asn = (uint32_t)a;
	o->own_value = (uint32_t)v;
	return 0;
}

/* Every item of a match component is one of `ok`: e.g. ["=tcp"], ["=25","=465"]. */
static bool all_of(const json_t *arr, const char *const *ok)
{
	size_t i;
	json_t *x;

	if (!json_is_array(arr) || !json_array_size(arr))
		return false;
	json_array_foreach(arr, i, x) {
		const char *s = json_string_value(x);
		bool found = false;
		for (const char *const *k = ok; s && *k && !found; k++)
			found = !strcmp(s, *k);
		if (!found)
			return false;
	}
	return true;
}

/* "198.18.7.7/32", or IPv6 with ExaBGP's offset: "2001:db8:7::/64/0" (only offset 0 is a plain prefix). */
static bool source_prefix(const json_t *arr, bool v6, struct mg_prefix *p)
{
	char buf[96], msg[160];
	unsigned col;
	const char *s = json_array_size(arr) == 1 ? json_string_value(json_array_get(arr, 0)) : NULL;

	if (!s || strlen(s) >= sizeof(buf))
		return false;
	snprintf(buf, sizeof(buf), "%s", s);
	if (v6) {
		char *first = strchr(buf, '/'), *last = strrchr(buf, '/');
		if (first && last != first) {
			if (strcmp(last, "/0"))
				return false;
			*last = '\0';
		}
	}
	if (mg_cidr_parse_line(buf, strlen(buf), p, &col, msg, sizeof(msg)) != 1)
		return false;
	return mg_prefix_is_v4(p) != v6;
}

/* One flow route's match: what mtaguard can enforce of it. */
static enum mg_fsr_status read_match(const json_t *r, struct mg_fsr_route *out)
{
	static const char *const tcp[] = { "=tcp", "=6", NULL };
	static const char *const smtp_ports[] = { "=25", "=465", "=587", NULL };
	const char *k;
	json_t *v;
	bool have_src = false, proto = false, ports = false, bad = false;

	if (!json_is_object(r))
		return MG_FSR_MALFORMED;
	const char *text = json_string_value(json_object_get(r, "string"));
	if (text)
		snprintf(out->match, sizeof(out->match), "%s", text);
	json_object_foreach((json_t *)r, k, v) {
		if (!strcmp(k, "string"))
			continue;
		if (!strcmp(k, "source-ipv4") || !strcmp(k, "source-ipv6")) {
			if (!source_prefix(v, !strcmp(k, "source-ipv6"), &out->prefix))
				return MG_FSR_MALFORMED;
			have_src = true;
		} else if (!strcmp(k, "protocol") || !strcmp(k, "next-header")) {
			proto = true;
			bad |= !all_of(v, tcp);
		} else if (!strcmp(k, "destination-port")) {
			ports = true;
			bad |= !all_of(v, smtp_ports);
		} else {
			bad = true; /* a destination, source ports, lengths, flags, ...: narrower than a source block */
		}
	}
	if (!have_src)
		return MG_FSR_UNSUPPORTED;
	if (!text) {
		/* No text of ExaBGP's: the source and the shape name the route. */
		char a[MG_ADDRSTRLEN];
		snprintf(out->match, sizeof(out->match), "source %s/%u%s%s", mg_addr_str(out->prefix.addr, a, sizeof(a)),
			 mg_prefix_family_len(&out->prefix), proto ? " tcp" : "", ports ? " smtp" : "");
	}
	/* Only TCP to the SMTP ports, or TCP alone: the smtp action (drops SYNs to this node's SMTP ports). */
	out->action = proto || ports ? MG_ACT_DROP_SMTP : MG_ACT_DROP_ALL;
	return bad ? MG_FSR_UNSUPPORTED : MG_FSR_USABLE;
}

static void add(struct mg_fsr_msg *m, struct mg_fsr_route *v, size_t cap, const struct mg_fsr_route *r)
{
	if (m->n < cap)
		v[m->n++] = *r;
	else
		m->dropped++;
}

/* Does the UPDATE discard: an extended community rate-limit:0 (RFC 8955's traffic-rate 0)? */
static bool discards(const json_t *attr)
{
	size_t i;
	json_t *x;

	json_array_foreach(json_object_get(attr, "extended-community"), i, x) {
		const char *s = json_string_value(json_object_get(x, "string"));
		if (s && (!strcmp(s, "rate-limit:0") || !strcmp(s, "discard")))
			return true;
	}
	return false;
}

static bool tagged_own(const json_t *attr, const struct mg_fsr_opts *o)
{
	size_t i;
	json_t *x;

	if (!o || !o->own_set)
		return false;
	json_array_foreach(json_object_get(attr, "community"), i, x)
		if (json_array_size(x) == 2 && json_number_value(json_array_get(x, 0)) == (double)o->own_asn &&
		    json_number_value(json_array_get(x, 1)) == (double)o->own_value)
			return true;
	return false;
}

static bool flow_family(const char *family)
{
	return !strcmp(family, "ipv4 flow") || !strcmp(family, "ipv6 flow");
}

static void read_update(const json_t *u, const struct mg_fsr_opts *o, struct mg_fsr_msg *m, struct mg_fsr_route *v,
			size_t cap)
{
	const json_t *attr = json_object_get(u, "attribute");
	bool discard = discards(attr), own = tagged_own(attr, o);
	const char *family;
	json_t *fam, *hop, *r;
	size_t i;

	/* Announced: {"ipv4 flow": {"no-nexthop": [route, ...]}} (or a next hop's address for redirect-to-IP). */
	json_object_foreach(json_object_get(u, "announce"), family, fam) {
		const char *nh;
		if (!flow_family(family))
			continue;
		m->kind = MG_FSR_ROUTES;
		if (!json_is_object(fam)) {
			add(m, v, cap, &(struct mg_fsr_route){ .status = MG_FSR_MALFORMED });
			continue;
		}
		json_object_foreach(fam, nh, hop) {
			if (!json_is_array(hop)) {
				add(m, v, cap, &(struct mg_fsr_route){ .status = MG_FSR_MALFORMED });
				continue;
			}
			json_array_foreach(hop, i, r) {
				struct mg_fsr_route x = { 0 };
				x.status = read_match(r, &x);
				if (x.status == MG_FSR_USABLE && own)
					x.status = MG_FSR_OWN;
				else if (x.status == MG_FSR_USABLE && !discard)
					x.status = MG_FSR_NOT_DISCARD;
				add(m, v, cap, &x);
			}
		}
	}
	/* Withdrawn: {"ipv4 flow": [route, ...]}; no attributes, so no action: whatever it was goes. */
	json_object_foreach(json_object_get(u, "withdraw"), family, fam) {
		if (!flow_family(family))
			continue;
		m->kind = MG_FSR_ROUTES;
		if (!json_is_array(fam)) {
			add(m, v, cap, &(struct mg_fsr_route){ .withdraw = true, .status = MG_FSR_MALFORMED });
			continue;
		}
		json_array_foreach(fam, i, r) {
			struct mg_fsr_route x = { .withdraw = true };
			x.status = read_match(r, &x);
			add(m, v, cap, &x);
		}
	}
}

void mg_fsr_parse(const char *line, size_t len, const struct mg_fsr_opts *o, struct mg_fsr_msg *out,
		  struct mg_fsr_route *v, size_t cap)
{
	json_error_t jerr;
	/* Numbers as reals: ExaBGP writes an extended community's value as an unsigned 64-bit integer, too big for jansson's. */
	json_t *root = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &jerr);

	memset(out, 0, sizeof(*out));
	if (!json_is_object(root)) {
		out->kind = MG_FSR_BAD;
		json_decref(root);
		return;
	}
	const char *type = json_string_value(json_object_get(root, "type"));
	json_t *nb = json_object_get(root, "neighbor");
	const char *peer = json_string_value(json_object_get(json_object_get(nb, "address"), "peer"));
	if (!type) {
		out->kind = MG_FSR_BAD;
	} else if (!strcmp(type, "shutdown")) {
		out->kind = MG_FSR_SHUTDOWN;
	} else if (!strcmp(type, "state") || !strcmp(type, "update")) {
		if (!peer || !*peer || strlen(peer) >= sizeof(out->peer)) {
			out->kind = MG_FSR_BAD;
		} else {
			snprintf(out->peer, sizeof(out->peer), "%s", peer);
			const char *state = json_string_value(json_object_get(nb, "state"));
			json_t *u = json_object_get(json_object_get(nb, "message"), "update");
			if (!strcmp(type, "state") && state && !strcmp(state, "down"))
				out->kind = MG_FSR_PEER_DOWN;
			else if (!strcmp(type, "update") && json_is_object(u))
				read_update(u, o, out, v, cap);
		}
	}
	json_decref(root);
}

int mg_fsr_parse_all(const char *line, size_t len, const struct mg_fsr_opts *o, struct mg_fsr_msg *out,
		     struct mg_fsr_route **v, size_t *cap)
{
	mg_fsr_parse(line, len, o, out, *v, *cap);
	if (!out->dropped)
		return 0;
	/* More routes than room: room for all of them, and the line read again. */
	size_t want = out->n + out->dropped;
	struct mg_fsr_route *w = want <= SIZE_MAX / sizeof(*w) ? realloc(*v, want * sizeof(*w)) : NULL;
	if (!w)
		return -ENOMEM;
	*v = w;
	*cap = want;
	mg_fsr_parse(line, len, o, out, *v, *cap);
	return out->dropped ? -ENOMEM : 0;
}
