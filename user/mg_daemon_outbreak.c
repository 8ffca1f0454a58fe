// SPDX-License-Identifier: GPL-2.0-only
/*
 * mg_daemon_outbreak.c - mtaguardd's side of outbreak detection: new
 * senders' characteristics into mg_outbreak, its actions into the kernel
 * (fingerprint signatures in mg_outbreaks: containment at the first SYN),
 * the log, the operator's alert hook and the analyzer's threat level.
 */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "mg_clock.h"
#include "mg_daemon.h"
#include "mg_loader.h"

#define HOOK_TIMEOUT_NS (30 * MG_NSEC_PER_SEC)

extern char **environ;

static void push_exceptions(struct mg_daemon *d)
{
	mg_ob_clear_exceptions(d->ob);
	for (size_t i = 0; i < d->cfg.n_ob_except_sig; i++)
		mg_ob_except_sig(d->ob, &d->cfg.ob_except_sig[i], true);
	for (size_t i = 0; i < d->cfg.n_ob_except_pfx; i++)
		mg_ob_except_prefix(d->ob, &d->cfg.ob_except_pfx[i], true);
	/* The operator's own (mtaguardctl except add) outlive a reload, as the file's do. */
	for (size_t i = 0; i < d->n_op_except; i++) {
		struct mg_signature sig;
		struct mg_prefix p;
		if (mg_sig_parse(d->op_except[i], &sig) == 0)
			mg_ob_except_sig(d->ob, &sig, true);
		else if (mg_prefix_parse(d->op_except[i], &p) == 0)
			mg_ob_except_prefix(d->ob, &p, true);
	}
}

/* Keep the operator's exception list (canonical text) in step with an add or remove. */
static int remember_exception(struct mg_daemon *d, const char *text, bool on)
{
	size_t i;

	for (i = 0; i < d->n_op_except && strcmp(d->op_except[i], text); i++)
		;
	if (on && i == d->n_op_except) {
		if (d->n_op_except == MG_CONFIG_MAX_EXCEPTIONS)
			return -ENOSPC;
		snprintf(d->op_except[d->n_op_except++], sizeof(d->op_except[0]), "%s", text);
	} else if (!on && i < d->n_op_except) {
		memmove(d->op_except[i], d->op_except[i + 1], (d->n_op_except - i - 1) * sizeof(d->op_except[0]));
		d->n_op_except--;
	}
	return 0;
}

/* Fingerprint signatures in the kernel, and their count in mg_settings (the program's cheap gate). */
static void kernel_sync(struct mg_daemon *d)
{
	uint32_t key, next, n = 0;
	void *prev = NULL;

	while (bpf_map_get_next_key(d->h.outbreaks_fd, prev, &next) == 0) {
		n++;
		key = next;
		prev = &key;
	}
	mg_set_outbreaks(d->h.settings_fd, n);
}

void mg_daemon_outbreak_start(struct mg_daemon *d)
{
	uint32_t key;

	d->ob = mg_ob_new(&d->cfg.ob);
	if (d->ob)
		push_exceptions(d);
	/* Signatures of a previous run have nobody left to end them: start clean. */
	while (bpf_map_get_next_key(d->h.outbreaks_fd, NULL, &key) == 0)
		bpf_map_delete_elem(d->h.outbreaks_fd, &key);
	kernel_sync(d);
}

void mg_daemon_outbreak_reload(struct mg_daemon *d)
{
	if (!d->ob)
		return;
	mg_ob_set_config(d->ob, &d->cfg.ob);
	push_exceptions(d);
}

void mg_daemon_outbreak_stop(struct mg_daemon *d)
{
	mg_ob_free(d->ob);
	d->ob = NULL;
	for (int i = 0; i < 8; i++)
		if (d->hook_pids[i] > 0)
			waitpid(d->hook_pids[i], NULL, WNOHANG);
}

/* The operator's hook: the alert as JSON on its stdin; never waited for here (reaped at ticks). */
static void run_hook(struct mg_daemon *d, json_t *alert, uint64_t now)
{
	int slot = -1, pipefd[2];
	posix_spawn_file_actions_t fa;

	if (!d->cfg.alert_hook[0])
		return;
	for (int i = 0; i < 8 && slot < 0; i++)
		if (d->hook_pids[i] <= 0)
			slot = i;
	if (slot < 0) {
		mg_eventlog_notice(&d->log, "notice", "alert hook %s: 8 still running, this alert not passed on",
				   d->cfg.alert_hook);
		return;
	}
	char *text = json_dumps(alert, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!text || pipe2(pipefd, O_CLOEXEC)) {
		free(text);
		return;
	}
	char *argv[] = { d->cfg.alert_hook, NULL };
	pid_t pid;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[0], 0);
	int e = posix_spawn(&pid, d->cfg.alert_hook, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[0]);
	if (e) {
		mg_eventlog_notice(&d->log, "notice", "alert hook %s: %s", d->cfg.alert_hook, strerror(e));
	} else {
		/* Alerts are small (well under a pipe's buffer): this write does not block. */
		size_t len = strlen(text);
		if (write(pipefd[1], text, len) != (ssize_t)len || write(pipefd[1], "\n", 1) != 1)
			mg_eventlog_notice(&d->log, "notice", "alert hook %s: could not pass the alert", d->cfg.alert_hook);
		d->hook_pids[slot] = pid;
		d->hook_started[slot] = now;
	}
	close(pipefd[1]);
	free(text);
}

static void reap_hooks(struct mg_daemon *d, uint64_t now)
{
	for (int i = 0; i < 8; i++) {
		int status;
		if (d->hook_pids[i] <= 0)
			continue;
		pid_t r = waitpid(d->hook_pids[i], &status, WNOHANG);
		if (r == d->hook_pids[i] || r < 0) {
			if (r > 0 && (!WIFEXITED(status) || WEXITSTATUS(status)))
				mg_eventlog_notice(&d->log, "notice", "alert hook %s failed (status %d)", d->cfg.alert_hook,
						   WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
			d->hook_pids[i] = 0;
		} else if (now - d->hook_started[i] > HOOK_TIMEOUT_NS) {
			kill(d->hook_pids[i], SIGKILL);
			mg_eventlog_notice(&d->log, "notice", "alert hook %s killed after 30 s", d->cfg.alert_hook);
		}
	}
}

static void apply(struct mg_daemon *d, const struct mg_ob_action *a, size_t n, uint64_t now)
{
	char sig[64];

	for (size_t i = 0; i < n; i++) {
		mg_sig_str(&a[i].sig, sig, sizeof(sig));
		bool kernel = a[i].sig.kind == MG_SIG_FP && d->cfg.contain;
		json_t *o = mg_ob_action_json(&a[i], kernel, now, mg_mono_to_wall_ns(now));
		if (kernel) {
			struct mg_outbreak_sig ks = { .since_ns = now, .level = a[i].level };
			if (a[i].kind == MG_OB_END) {
				bpf_map_delete_elem(d->h.outbreaks_fd, &a[i].sig.value);
			} else if (a[i].kind == MG_OB_DECLARE) {
				bpf_map_update_elem(d->h.outbreaks_fd, &a[i].sig.value, &ks, BPF_ANY);
			} else if (a[i].kind == MG_OB_LEVEL &&
				   bpf_map_lookup_elem(d->h.outbreaks_fd, &a[i].sig.value, &ks) == 0) {
				ks.level = a[i].level;
				bpf_map_update_elem(d->h.outbreaks_fd, &a[i].sig.value, &ks, BPF_EXIST);
			}
			kernel_sync(d);
		}
		mg_eventlog_json(&d->log, o);
		if (a[i].kind == MG_OB_DECLARE)
			mg_eventlog_notice(&d->log, NULL, "OUTBREAK %s: %u new senders within %llus, level %u, threat level %u%s",
					   sig, a[i].members, (unsigned long long)(d->cfg.ob.window_ns / MG_NSEC_PER_SEC),
					   a[i].level, a[i].threat_level,
					   kernel ? "; matching SYNs to port 25 are dropped in the kernel" : "");
		else if (a[i].kind == MG_OB_END)
			mg_eventlog_notice(&d->log, NULL, "outbreak %s ended %s; threat level %u", sig,
					   a[i].exempted ? "(its signature exempted)" : "after quiet", a[i].threat_level);
		if (a[i].kind == MG_OB_DECLARE || a[i].kind == MG_OB_END)
			run_hook(d, o, now);
		json_decref(o);
	}
	unsigned level = mg_ob_threat_level(d->ob);
	if (level != d->threat_level) {
		mg_eventlog_notice(&d->log, "threat-level", "threat level %u -> %u", d->threat_level, level);
		d->threat_level = level;
		mg_an_set_threat(d->an, level);
	}
}

void mg_daemon_outbreak_event(struct mg_daemon *d, const struct mg_event *ev, uint64_t now)
{
	struct mg_ob_action acts[32];
	struct mg_signature sigs[2];
	struct mg_prefix src;

	if (!d->ob || (ev->type != MG_EV_SYN_MX && ev->type != MG_EV_HELO))
		return;
	if (!mg_an_new_sender(d->an, ev->src, now))
		return;
	memcpy(src.addr, ev->src, 16);
	src.prefixlen = mg_addr_is_v4(ev->src) ? 128 : d->cfg.an.v6_prefix;
	mg_addr_mask(src.addr, src.prefixlen);
	size_t nsig = mg_ob_event_signatures(ev, sigs);
	for (size_t i = 0; i < nsig; i++) {
		size_t n = mg_ob_observe(d->ob, &src, ev->mac, ev->vlan_outer, ev->vlan_inner, &sigs[i], now, acts, 32);
		apply(d, acts, n, now);
	}
}

void mg_daemon_outbreak_tick(struct mg_daemon *d, uint64_t now)
{
	struct mg_ob_action acts[32];

	reap_hooks(d, now);
	if (!d->ob)
		return;
	size_t n = mg_ob_tick(d->ob, now, acts, 32);
	apply(d, acts, n, now);
}

struct ob_json_ctx {
	struct mg_daemon *d;
	json_t *arr;
	uint64_t now;
};

static void one_outbreak(const struct mg_ob_view *v, void *arg)
{
	struct ob_json_ctx *c = arg;
	struct mg_outbreak_sig ks;
	char sig[64], t[40];
	json_t *members = json_array();

	for (uint32_t i = 0; i < v->n_list; i++)
		json_array_append_new(members, mg_ob_member_json(&v->list[i], c->now, mg_mono_to_wall_ns(c->now)));
	json_t *o = json_pack("{s:s,s:i,s:I,s:s,s:o}", "signature", mg_sig_str(&v->sig, sig, sizeof(sig)), "level",
			      (int)v->level, "members", (json_int_t)v->members, "since",
			      mg_iso_time(mg_mono_to_wall_ns(v->since_ns), t, sizeof(t)), "member_list", members);
	if (v->sig.kind == MG_SIG_FP && bpf_map_lookup_elem(c->d->h.outbreaks_fd, &v->sig.value, &ks) == 0)
		json_object_set_new(o, "syns_dropped", json_integer((json_int_t)ks.drops));
	json_array_append_new(c->arr, o);
}

json_t *mg_daemon_outbreaks_json(struct mg_daemon *d, uint64_t now)
{
	struct ob_json_ctx c = { .d = d, .arr = json_array(), .now = now };

	if (d->ob)
		mg_ob_foreach(d->ob, one_outbreak, &c);
	return c.arr;
}

static void one_exception(const struct mg_signature *sig, const struct mg_prefix *pfx, void *arg)
{
	char buf[64];
	json_array_append_new(arg, json_string(sig ? mg_sig_str(sig, buf, sizeof(buf)) : mg_prefix_str(pfx, buf, sizeof(buf))));
}

/* {"cmd":"except","op":"add|remove|list","what":"fp:1a2b3c4d" or a prefix} */
json_t *mg_daemon_except(struct mg_daemon *d, json_t *req)
{
	const char *op = json_string_value(json_object_get(req, "op"));
	const char *what = json_string_value(json_object_get(req, "what"));
	struct mg_signature sig;
	struct mg_prefix p;

	if (!d->ob)
		return mg_ctl_error("outbreak detection is not running");
	if (op && !strcmp(op, "list")) {
		json_t *arr = json_array();
		mg_ob_foreach_exception(d->ob, one_exception, arr);
		return json_pack("{s:b,s:o}", "ok", 1, "exceptions", arr);
	}
	if (!op || (strcmp(op, "add") && strcmp(op, "remove")) || !what)
		return mg_ctl_error("except add|remove SIGNATURE|PREFIX, or except list");
	bool on = !strcmp(op, "add");
	char canon[64];
	bool is_sig = mg_sig_parse(what, &sig) == 0;
	if (is_sig)
		mg_sig_str(&sig, canon, sizeof(canon));
	else if (mg_prefix_parse(what, &p) == 0)
		mg_prefix_str(&p, canon, sizeof(canon));
	else
		return mg_ctl_error("'%s' is neither a signature (fp:1a2b3c4d, helo:…, shape:…/ehlo) nor a prefix", what);
	if (remember_exception(d, canon, on))
		return mg_ctl_error("too many exceptions (%d): put some in the config file", MG_CONFIG_MAX_EXCEPTIONS);
	if (is_sig)
		mg_ob_except_sig(d->ob, &sig, on);
	else
		mg_ob_except_prefix(d->ob, &p, on);
	mg_daemon_oprules_save(d);
	mg_eventlog_notice(&d->log, "operator", "operator except %s %s", op, what);
	return json_pack("{s:b}", "ok", 1);
}
