// SPDX-License-Identifier: GPL-2.0-only
/*
 * mg_daemon_oprules.c - the operator's blocks and allows (mtaguardctl) kept
 * with their comments and expiries in STATE_FILE.rules, written like the state
 * file (compressed, CRC, temp + fsync + rename). The file is what survives a
 * reboot: at start every rule still in force goes back into the kernel (a
 * block with the time it has left) and every allow into the analyzer, which
 * an operator's allow must bind as firmly as a configured one. Temporary
 * allows are ended here (the kernel's allow rules have no expiry: an allow
 * that outlives a stopped daemon errs on the safe side).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg_clock.h"
#include "mg_daemon.h"
#include "mg_policy.h"
#include "mg_statefile.h"

static uint64_t wall_now(void)
{
	return mg_mono_to_wall_ns(mg_mono_ns());
}

/* The config allows exactly this prefix (an allowlist entry or a known mail server). */
static bool configured_allow(const struct mg_daemon *d, const struct mg_prefix *p)
{
	return mg_prefix_list_has(&d->cfg.allowlist, p) || mg_prefix_list_has(&d->cfg.mail_servers, p);
}

static void rules_path(const struct mg_daemon *d, char *buf, size_t len)
{
	snprintf(buf, len, "%s.rules", d->cfg.state_file);
}

int mg_daemon_oprules_save(struct mg_daemon *d)
{
	char path[300];
	json_t *j = mg_oprules_to_json(&d->oprules), *ex = json_array();
	for (size_t i = 0; i < d->n_op_except; i++)
		json_array_append_new(ex, json_string(d->op_except[i]));
	json_object_set_new(j, "outbreak_exceptions", ex);
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	rules_path(d, path, sizeof(path));
	mg_daemon_make_parent_dirs(path);
	int e = text ? mg_state_write(path, text, strlen(text)) : -ENOMEM;

	if (e)
		mg_eventlog_notice(&d->log, "notice", "saving the operator's rules to %s failed: %s", path,
				   strerror(-e));
	free(text);
	json_decref(j);
	return e;
}

/* Into the kernel, as the table says; a block keeps the time it has left. */
static void enforce(struct mg_daemon *d, const struct mg_oprule *r, uint64_t wall)
{
	struct mg_rule k;

	if (r->kind == MG_OPRULE_ALLOW) {
		/* The analyzer hears of it from mg_daemon_oprules_push_allows(). */
		if (mg_policy_get(d->h.allow_fd, &r->prefix, &k))
			mg_policy_allow(d->h.allow_fd, &r->prefix);
		return;
	}
	if (mg_policy_get(d->h.block_fd, &r->prefix, &k) == 0)
		return; /* still pinned: the kernel's own expiry is right */
	uint64_t ttl = r->expires_ns ? (r->expires_ns - wall + MG_NSEC_PER_SEC - 1) / MG_NSEC_PER_SEC : 0;
	mg_policy_block(d->h.block_fd, &r->prefix, r->action, ttl);
}

void mg_daemon_oprules_start(struct mg_daemon *d)
{
	char path[300];
	uint8_t *buf;
	size_t len;

	rules_path(d, path, sizeof(path));
	int e = mg_state_read(path, &buf, &len);
	if (e == -ENOENT)
		return;
	json_t *j = e ? NULL : json_loadb((const char *)buf, len, 0, NULL);
	if (!e)
		free(buf);
	if (!j || mg_oprules_from_json(&d->oprules, j)) {
		mg_eventlog_notice(&d->log, "notice", "%s is damaged; the operator's rules in the kernel stay as they are",
				   path);
		json_decref(j);
		return;
	}
	json_t *ex = json_object_get(j, "outbreak_exceptions"), *x;
	size_t k;
	json_array_foreach(ex, k, x) {
		struct mg_signature sig;
		struct mg_prefix p;
		const char *text = json_string_value(x);
		if (text && (mg_sig_parse(text, &sig) == 0 || mg_prefix_parse(text, &p) == 0) &&
		    d->n_op_except < MG_CONFIG_MAX_EXCEPTIONS && strlen(text) < sizeof(d->op_except[0]))
			snprintf(d->op_except[d->n_op_except++], sizeof(d->op_except[0]), "%s", text);
	}
	json_decref(j);
	uint64_t wall = wall_now();
	for (size_t i = 0; i < d->oprules.n; i++)
		if (!d->oprules.v[i].expires_ns || d->oprules.v[i].expires_ns > wall)
			enforce(d, &d->oprules.v[i], wall);
	/* What expired while the daemon was away ends at the first tick, with a log line. */
}

void mg_daemon_oprules_push_allows(struct mg_daemon *d)
{
	for (size_t i = 0; i < d->oprules.n; i++)
		if (d->oprules.v[i].kind == MG_OPRULE_ALLOW)
			mg_an_add_allow(d->an, &d->oprules.v[i].prefix);
}

bool mg_daemon_oprules_has(const struct mg_daemon *d, const struct mg_prefix *p, uint8_t kind)
{
	return mg_oprules_find(&d->oprules, p, kind) != NULL;
}

void mg_daemon_oprules_tick(struct mg_daemon *d)
{
	struct mg_oprule gone[32];
	char buf[MG_ADDRSTRLEN];
	size_t n = mg_oprules_expire(&d->oprules, wall_now(), gone, 32);

	for (size_t i = 0; i < n; i++) {
		const struct mg_oprule *r = &gone[i];
		mg_prefix_str(&r->prefix, buf, sizeof(buf));
		if (r->kind == MG_OPRULE_ALLOW) {
			/* A configured allow of the same prefix stays, in the analyzer and in the kernel. */
			if (!configured_allow(d, &r->prefix)) {
				mg_an_remove_allow(d->an, &r->prefix);
				mg_policy_remove(d->h.allow_fd, &r->prefix);
			}
			mg_eventlog_notice(&d->log, "operator-expired", "operator allow %s ended%s%s", buf,
					   r->comment[0] ? ": " : "", r->comment);
		} else {
			/* The kernel stopped enforcing it at its expiry; the entry goes now. */
			mg_policy_remove(d->h.block_fd, &r->prefix);
			/* The analyzer may have judged the same source meanwhile: its verdict applies now. */
			mg_daemon_reapply_verdict(d, &r->prefix);
			mg_eventlog_notice(&d->log, "operator-expired", "operator block %s ended%s%s", buf,
					   r->comment[0] ? ": " : "", r->comment);
		}
	}
	if (n)
		mg_daemon_oprules_save(d);
}
