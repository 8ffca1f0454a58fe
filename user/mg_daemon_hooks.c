// SPDX-License-Identifier: GPL-2.0-only
/*
 * mg_daemon_hooks.c - what mtaguardd tells the operator of the engine's
 * doings: the JSON event log, readable lines (stderr, the journal), and the
 * operator's hooks: the alert hook, run for every outbreak declared, decided
 * and ended, and the verdict hook, run for every verdict, each with the
 * JSON line the log holds.
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
#include "mg_jobs.h"

#define HOOK_TIMEOUT_NS (30 * MG_NSEC_PER_SEC)

extern char **environ;

static const char *const hook_names[MG_HOOK_MAX] = {
	[MG_HOOK_ALERT] = "alert hook",
	[MG_HOOK_VERDICT] = "verdict hook",
};

static const char *hook_path(const struct mg_daemon *d, enum mg_daemon_hook k)
{
	return k == MG_HOOK_ALERT ? d->cfg.alert_hook : d->cfg.verdict_hook;
}

/*
 * The operator's hook: the JSON line on its stdin. Never waited for here
 * (reaped at ticks, killed past the timeout); at most MG_DAEMON_MAX_HOOKS
 * of each hook at once, past that the line is not passed on (counted, and
 * said once at the next reap). The pipe's write end does not block: a
 * line longer than the pipe holds is cut, and said so. It starts as a
 * job does (mg_spawnattr_init_clean): the daemon's blocked signals and
 * ignored SIGPIPE not inherited, in a process group of its own, which the
 * timeout kills whole.
 */
static void run_hook(struct mg_daemon *d, enum mg_daemon_hook k, json_t *o)
{
	struct mg_hook_runs *h = &d->hooks[k];
	const char *path = hook_path(d, k);
	int slot = -1, pipefd[2];
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;

	if (!path[0] || !o)
		return;
	for (int i = 0; i < MG_DAEMON_MAX_HOOKS && slot < 0; i++)
		if (h->pids[i] <= 0)
			slot = i;
	if (slot < 0) {
		h->skipped++;
		return;
	}
	char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!text || pipe2(pipefd, O_CLOEXEC)) {
		free(text);
		return;
	}
	fcntl(pipefd[1], F_SETFL, O_NONBLOCK); /* the hook's end stays blocking: it reads as any program does */
	char *argv[] = { (char *)path, NULL };
	pid_t pid;
	int e = mg_spawnattr_init_clean(&at);
	if (!e) {
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, pipefd[0], 0);
		e = posix_spawn(&pid, path, &fa, &at, argv, environ);
		posix_spawn_file_actions_destroy(&fa);
		posix_spawnattr_destroy(&at);
	}
	close(pipefd[0]);
	if (e) {
		mg_eventlog_notice(&d->log, "notice", "%s %s: %s", hook_names[k], path, strerror(e));
	} else {
		size_t len = strlen(text);
		text[len] = '\n'; /* json_dumps' terminator becomes the line's end */
		if (write(pipefd[1], text, len + 1) != (ssize_t)len + 1)
			mg_eventlog_notice(&d->log, "notice", "%s %s: could not pass the whole line", hook_names[k], path);
		h->pids[slot] = pid;
		h->started[slot] = mg_mono_ns();
		h->killed[slot] = false;
	}
	close(pipefd[1]);
	free(text);
}

void mg_daemon_hooks_reap(struct mg_daemon *d, uint64_t mono)
{
	for (int k = 0; k < MG_HOOK_MAX; k++) {
		struct mg_hook_runs *h = &d->hooks[k];
		const char *path = hook_path(d, (enum mg_daemon_hook)k);
		for (int i = 0; i < MG_DAEMON_MAX_HOOKS; i++) {
			int status;
			if (h->pids[i] <= 0)
				continue;
			pid_t r = waitpid(h->pids[i], &status, WNOHANG);
			if (r == h->pids[i] || r < 0) {
				if (r > 0 && !h->killed[i] && (!WIFEXITED(status) || WEXITSTATUS(status)))
					mg_eventlog_notice(&d->log, "notice", "%s %s failed (status %d)", hook_names[k], path,
							   WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
				h->pids[i] = 0;
				h->killed[i] = false;
			} else if (mono - h->started[i] > HOOK_TIMEOUT_NS) {
				/*
				 * Its whole group: a shell hook's children would otherwise live on.
				 * Said once: a process in uninterruptible sleep (a hung NFS mount)
				 * outlives SIGKILL for as long as it waits, and its end, a status
				 * of 137, is this kill's, not news.
				 */
				kill(-h->pids[i], SIGKILL);
				if (!h->killed[i])
					mg_eventlog_notice(&d->log, "notice", "%s %s killed after 30 s", hook_names[k], path);
				h->killed[i] = true;
			}
		}
		if (h->skipped) {
			mg_eventlog_notice(&d->log, "notice", "%s %s: %llu line(s) not passed on, %d runs were still going",
					   hook_names[k], path, (unsigned long long)h->skipped, MG_DAEMON_MAX_HOOKS);
			h->skipped = 0;
		}
	}
}

void mg_daemon_hooks_stop(struct mg_daemon *d)
{
	for (int k = 0; k < MG_HOOK_MAX; k++)
		for (int i = 0; i < MG_DAEMON_MAX_HOOKS; i++)
			if (d->hooks[k].pids[i] > 0)
				waitpid(d->hooks[k].pids[i], NULL, WNOHANG);
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
		run_hook(d, MG_HOOK_ALERT, o);
	json_decref(o);
}

void mg_daemon_observe(const struct mg_engine_note *n, void *arg)
{
	struct mg_daemon *d = arg;

	switch (n->kind) {
	case MG_NOTE_ACTION: {
		mg_eventlog_action(&d->log, n->action, n->now, n->wall);
		/* A verdict, enforced or not (monitor mode, the breaker open): the verdict hook hears of it too. */
		bool verdict = n->action->kind == MG_AN_BLOCK || (n->action->kind == MG_AN_ALERT && n->action->would_block);
		bool hook = verdict && d->cfg.verdict_hook[0];
		if (d->cluster || hook) {
			json_t *o = mg_action_json(n->action, n->now, n->wall);
			cluster_event(d, o);
			if (hook)
				run_hook(d, MG_HOOK_VERDICT, o);
			json_decref(o);
		}
		if (n->action->kind == MG_AN_BLOCK || n->action->kind == MG_AN_UNBLOCK)
			d->cluster_dirty = true;
		break;
	}
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
