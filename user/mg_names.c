// SPDX-License-Identifier: GPL-2.0-only
/* mg_names.c - one name table per vocabulary (see mg_names.h). */
#include <errno.h>
#include <string.h>

#include "mg_dnsbl.h"
#include "mg_names.h"

struct name {
	unsigned value;
	const char *name;
};

static const struct name actions[] = {
	{ MG_ACT_DROP_SMTP, "smtp" },
	{ MG_ACT_DROP_ALL, "all" },
};
static const struct name verdict_actions[] = {
	{ MG_ACT_DROP_SMTP, "block-smtp" },
	{ MG_ACT_DROP_ALL, "block-all" },
};
static const struct name rule_kinds[] = {
	{ MG_RULE_ALLOW, "allow" },
	{ MG_RULE_BLOCK, "block" },
};
static const struct name xdp_modes[] = {
	{ MG_MODE_AUTO, "auto" },
	{ MG_MODE_NATIVE, "native" },
	{ MG_MODE_GENERIC, "generic" },
	/* iproute2's and xdp-tools' words for the same */
	{ MG_MODE_NATIVE, "drv" },
	{ MG_MODE_GENERIC, "skb" },
};
static const struct name proofs[] = {
	{ MG_PROOF_NONE, "none" },
	{ MG_PROOF_PAYLOAD, "payload" },
	{ MG_PROOF_HANDSHAKE, "handshake" },
};
static const struct name handshakes[] = {
	{ MG_HS_WHEN_SEEN, "when-seen" },
	{ MG_HS_REQUIRED, "required" },
	{ MG_HS_OFF, "off" },
};

static const struct name dnsbl_codes[] = {
	{ MG_DNSBL_EXCLUDED, "allowed" },
	{ MG_DNSBL_VERDICT, "verdict" },
	{ MG_DNSBL_OUTBREAK, "outbreak member" },
	{ MG_DNSBL_OPERATOR, "operator block" },
	{ MG_DNSBL_FEED, "imported list" },
};

#define N(t) (sizeof(t) / sizeof((t)[0]))

static const char *lookup(const struct name *t, size_t n, unsigned v)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].value == v)
			return t[i].name;
	return "?";
}

static int parse(const struct name *t, size_t n, const char *s, unsigned *v)
{
	for (size_t i = 0; s && i < n; i++)
		if (!strcmp(t[i].name, s)) {
			*v = t[i].value;
			return 0;
		}
	return -EINVAL;
}

const char *mg_action_name(uint8_t action)
{
	return lookup(actions, N(actions), action);
}

const char *mg_action_verdict_name(uint8_t action)
{
	return lookup(verdict_actions, N(verdict_actions), action);
}

int mg_action_parse(const char *s, uint8_t *action)
{
	unsigned v;
	int e = parse(actions, N(actions), s, &v);

	if (!e)
		*action = (uint8_t)v;
	return e;
}

const char *mg_rule_kind_name(uint8_t kind)
{
	return lookup(rule_kinds, N(rule_kinds), kind);
}

int mg_rule_kind_parse(const char *s, uint8_t *kind)
{
	unsigned v;
	int e = parse(rule_kinds, N(rule_kinds), s, &v);

	if (!e)
		*kind = (uint8_t)v;
	return e;
}

const char *mg_xdp_mode_name(enum mg_xdp_mode m)
{
	return lookup(xdp_modes, N(xdp_modes), m);
}

int mg_xdp_mode_parse(const char *s, enum mg_xdp_mode *m)
{
	unsigned v;
	int e = parse(xdp_modes, N(xdp_modes), s, &v);

	if (!e)
		*m = (enum mg_xdp_mode)v;
	return e;
}

const char *mg_proof_name(uint8_t proof)
{
	return lookup(proofs, N(proofs), proof);
}

const char *mg_handshake_name(uint8_t mode)
{
	return lookup(handshakes, N(handshakes), mode);
}

int mg_handshake_parse(const char *s, uint8_t *mode)
{
	unsigned v;
	int e = parse(handshakes, N(handshakes), s, &v);

	if (!e)
		*mode = (uint8_t)v;
	return e;
}

const char *mg_dnsbl_code_name(uint8_t code)
{
	return lookup(dnsbl_codes, N(dnsbl_codes), code);
}
