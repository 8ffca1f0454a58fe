// SPDX-License-Identifier: GPL-2.0-only
/*
 * mg_relay_decision.c - what the relay's policy service tells Postfix about one
 * request, decided from gathered facts (see mg_relay_decision.h). The action texts
 * are an interface: operators grep their mail logs for them and
 * selftests/e2e_quarantine.sh checks them, so they change only on purpose.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mg_relay_decision.h"

bool mg_relay_excepted(const struct mg_relay_exceptions *x, const uint8_t addr[16], const char *sender,
		       const char *recipient)
{
	for (size_t i = 0; i < x->n_client; i++)
		if (mg_prefix_covers(&x->client[i], addr))
			return true;
	/* The last '@': a quoted local part may contain one of its own. */
	const char *at = sender ? strrchr(sender, '@') : NULL;
	for (size_t i = 0; at && i < x->n_domain; i++)
		if (!strcasecmp(at + 1, x->domain[i]))
			return true;
	/* An empty recipient (a request before RCPT) must not match an empty entry. */
	for (size_t i = 0; recipient && recipient[0] && i < x->n_rcpt; i++)
		if (!strcasecmp(recipient, x->rcpt[i]))
			return true;
	return false;
}

bool mg_relay_block_in_force(bool found, uint64_t expires_ns, uint64_t now_ns)
{
	return found && (!expires_ns || expires_ns > now_ns);
}

enum mg_relay_action mg_relay_decide(const struct mg_relay_facts *f, char *action, size_t len, const char **reason)
{
	bool verdict = f->known && f->role == MG_ROLE_BLOCKED;
	const char *why = NULL;

	if (reason)
		*reason = NULL;
	/* Fail open: what cannot be judged, or is exempt, lets Postfix's list go on. */
	if (!f->parsed || f->excepted || f->allowlisted) {
		snprintf(action, len, "DUNNO");
		return MG_RELAY_DUNNO;
	}
	/* As for packets: a block in force is enforced whoever set it. The
	 * analyzer's verdict rejects on its own too, so the answer does not
	 * depend on whether its rule has reached the kernel. Only a verdict
	 * names a rule; a kernel rule alone was the operator's. */
	if (f->kernel_block || verdict) {
		snprintf(action, len, "REJECT 5.7.1 mtaguard: %s is blocked (%s)%s%s", f->client,
			 verdict ? f->verdict_rule : "by the operator", verdict && f->checks ? " checks: " : "",
			 verdict && f->checks ? f->checks : "");
		return MG_RELAY_REJECT;
	}
	/* An outbreak member is held whatever the level: the outbreak is the evidence. */
	if (f->outbreak_member)
		why = "outbreak";
	else if (f->known && f->role == MG_ROLE_SUSPECT && f->threat_level >= f->quarantine_level)
		why = "suspect";
	if (!why) {
		snprintf(action, len, "DUNNO");
		return MG_RELAY_DUNNO;
	}
	const char *sig = f->outbreak_member && f->signature ? f->signature : "";
	snprintf(action, len, "HOLD mtaguard: %s%s%s%s%s", why, sig[0] ? " " : "", sig,
		 f->checks && !f->outbreak_member ? " checks: " : "", f->checks && !f->outbreak_member ? f->checks : "");
	if (reason)
		*reason = why;
	return MG_RELAY_HOLD;
}
