// SPDX-License-Identifier: GPL-2.0-only
/*
 * mg_daemon_hooks.c - what mtaguardd tells the operator of the engine's
 * doings: the JSON event log, readable lines (stderr, the journal), and the
 * operator's alert hook, run for every outbreak declared and ended.
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

#include "mg_clock.h"
#include "mg_cluster.h"
#include "mg_daemon.h"

#define HOOK_TIMEOUT_NS (30 * MG_NSEC_PER_SEC)

extern char **environ;

/* The operator's hook: the alert as JSON on its stdin; never waited for here (reaped at ticks). */
static void run_hook(struct mg_daemon *d, json_t *alert)
{
	int slot = -1, pipefd[2];
	posix_spawn_file_actions_t fa;

	if (!d->cfg.alert_hook[0])
		return;
	for (int i = 0; i < MG_DAEMON_MAX_HOOKS && slot < 0; i++)
		if (d->hook_pids[i] <= 0)
			slot = i;
	if (slot < 0) {
		mg_eventlog_notice(&d->log, "notice", "alert hook %s: %d still running, this alert not passed on",
				   d->cfg.alert_hook, MG_DAEMON_MAX_HOOKS);
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
		d->hook_started[slot] = mg_mono_ns();
	}
	close(pipefd[1]);
	free(text);
}

void mg_daemon_hooks_reap(struct mg_daemon *d, uint64_t mono)
{
	for (int i = 0; i < MG_DAEMON_MAX_HOOKS; i++) {
		int status;
		if (d->hook_pids[i] <= 0)
			continue;
		pid_t r = waitpid(d->hook_pids[i], &status, WNOHANG);
		if (r == d->hook_pids[i] || r < 0) {
			if (r > 0 && (!WIFEXITED(status) || WEXITSTATUS(status)))
				mg_eventlog_notice(&d->log, "notice", "alert hook %s failed (status %d)", d->cfg.alert_hook,
						   WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
			d->hook_pids[i] = 0;
		} else if (mono - d->hook_started[i] > HOOK_TIMEOUT_NS) {
			kill(d->hook_pids[i], SIGKILL);
			mg_eventlog_notice(&d->log, "notice", "alert hook %s killed after 30 s", d->cfg.alert_hook);
		}
	}
}

/* The same JSON line into the cluster's events stream, when there is one. */
static void cluster_event(struct mg_daemon *d, json_t *o)
{
	if (!d->cluster || !o)
		return;
	char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	const char *kind = json_string_value(json_object_get(o, "event"));
	if (text && kind)
		mg_cluster_event(d->cluster, kind, text);
	free(text);
}

static void outbreak(struct mg_daemon *d, const struct mg_engine_note *n)
{
	const struct mg_ob_action *a = n->ob;
	char sig[64];
	json_t *o = mg_ob_action_json(a, n->contained, n->now, n->wall);

	mg_sig_str(&a->sig, sig, sizeof(sig));
	mg_eventlog_json(&d->log, o);
	cluster_event(d, o);
	if (a->kind == MG_OB_DECLARE || a->kind == MG_OB_DECIDE) {
		char why[400];
		mg_ob_explain(&a->sig, a->direction, a->decision, a->specificity, &a->with, why, sizeof(why));
		if (a->kind == MG_OB_DECLARE)
			mg_eventlog_notice_at(&d->log, MG_EV_WARNING, NULL, "OUTBREAK %s: %u new senders within %llus (%u proven by their commands), "
					   "level %u, threat level %u; %s%s",
					   sig, a->members, (unsigned long long)(d->eng.ob_cfg.window_ns / MG_NSEC_PER_SEC),
					   a->proven, a->level, a->threat_level, why,
					   n->contained ? "; matching SYNs to port 25 are dropped in the kernel" : "");
		else
			mg_eventlog_notice(&d->log, NULL, "outbreak %s now %s: %s; threat level %u%s", sig,
					   mg_ob_decision_name(a->decision), why, a->threat_level,
					   n->contained ? "; matching SYNs to port 25 are dropped in the kernel" : "");
	}
	else if (a->kind == MG_OB_END)
		mg_eventlog_notice(&d->log, NULL, "outbreak %s ended %s; threat level %u", sig,
				   a->exempted ? "(its signature exempted)" : "after quiet", a->threat_level);
	/* The operator's hook hears when something is done or undone: declared, contained or released, ended. */
	if (a->kind == MG_OB_DECLARE || a->kind == MG_OB_DECIDE || a->kind == MG_OB_END)
		run_hook(d, o);
	json_decref(o);
}

void mg_daemon_observe(const struct mg_engine_note *n, void *arg)
{
	struct mg_daemon *d = arg;

	switch (n->kind) {
	case MG_NOTE_ACTION:
		mg_eventlog_action(&d->log, n->action, n->now, n->wall);
		if (d->cluster) {
			json_t *o = mg_action_json(n->action, n->now, n->wall);
			cluster_event(d, o);
			json_decref(o);
		}
		if (n->action->kind == MG_AN_BLOCK || n->action->kind == MG_AN_UNBLOCK)
			d->cluster_dirty = true;
		break;
	case MG_NOTE_OUTBREAK:
		outbreak(d, n);
		break;
	case MG_NOTE_THREAT:
		mg_eventlog_notice(&d->log, "threat-level", "threat level %u -> %u", n->threat_from, n->threat_to);
		break;
	case MG_NOTE_NOTICE:
		if (n->event)
			mg_eventlog_notice(&d->log, n->event, "%s", n->text);
		else
			mg_eventlog_notice(&d->log, NULL, "%s", n->text);
		break;
	}
}
