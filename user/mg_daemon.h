/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_daemon.h - mtaguardd's state and main loop, kept out of main() so the
 * pieces (apply an action, answer a control request) read on their own.
 */
#ifndef MG_DAEMON_H
#define MG_DAEMON_H

#include <stdbool.h>
#include <stdio.h>
#include <jansson.h>

#include "mg_analyzer.h"
#include "mg_config.h"
#include "mg_ctlsock.h"
#include "mg_eventlog.h"
#include "mg_loader.h"
#include "mg_oprules.h"
#include "mg_outbreak.h"
#include "mg_policyd.h"
#include "mg_quarantine.h"
#include "mg_scan.h"

struct ring_buffer;
struct mg_metrics_http;

/* Command-line settings that win over the config file, also after a reload. */
struct mg_daemon_overrides {
	const char *pin_dir, *socket, *state, *log;
	bool monitor;
	struct mg_config_iface ifaces[MG_CONFIG_MAX_IFACES];
	size_t n_ifaces;
};

struct mg_daemon {
	const char *config_path;
	struct mg_daemon_overrides over;
	struct mg_config cfg;
	struct mg_handle h;
	struct mg_analyzer *an;
	struct mg_scan scan;
	struct ring_buffer *rb;
	struct mg_ctlsock ctl;
	struct mg_eventlog log;
	int epfd, timerfd, sigfd;
	bool detach_on_exit;
	bool running;
	uint64_t started_ns, last_save_ns, last_scan_ns, scan_duration_ns;
	bool scan_pending; /* news arrived while scans were throttled */
	uint64_t verdicts_issued, alerts_issued;
	struct mg_outbreaks *ob;
	unsigned threat_level;
	int hook_pids[8];                  /* alert hooks still running */
	uint64_t hook_started[8];
	/* the relay's policy service and quarantine (mg_daemon_policy.c) */
	struct mg_policyd policyd;
	bool policyd_on, quarantine_ready;
	struct mg_quarantine quarantine;
	uint64_t policy_requests, policy_rejects, policy_holds, last_expiry_ns;
	struct mg_oprules oprules;         /* the operator's blocks and allows (mg_daemon_oprules.c) */
	char op_except[MG_CONFIG_MAX_EXCEPTIONS][64]; /* mtaguardctl except add: signatures and prefixes */
	size_t n_op_except;
	struct mg_metrics_http *metrics_http;
	uint64_t last_metrics_ns;
	uint64_t watchdog_ns, last_watchdog_ns; /* systemd's watchdog interval, 0 if off */
};

void mg_daemon_init(struct mg_daemon *d);
void mg_daemon_apply_overrides(struct mg_daemon *d, struct mg_config *c);
/* Load/reuse the data plane, attach, restore state, open the socket. 0 or -errno with err set. */
int mg_daemon_start(struct mg_daemon *d, FILE *human, char *err, size_t errlen);
/* Loop until SIGINT/SIGTERM. Returns the exit status. */
int mg_daemon_run(struct mg_daemon *d);
/* Save state; detach if asked; free everything. */
void mg_daemon_stop(struct mg_daemon *d);

/* One scan of the kernel profiles plus an analyzer tick, actions applied (the timer's job). */
void mg_daemon_scan(struct mg_daemon *d, uint64_t now);
/* Write analyzer actions into the kernel and the log. */
void mg_daemon_apply(struct mg_daemon *d, const struct mg_an_action *a, size_t n, uint64_t now);
/* Answer one control request (mg_ctl_handler). */
json_t *mg_daemon_control(json_t *req, void *arg);
int mg_daemon_save_state(struct mg_daemon *d);
/* mkdir -p of the directories above path (mode 0750), for state and socket paths. */
void mg_daemon_make_parent_dirs(const char *path);
/* Outbreak detection (mg_daemon_outbreak.c). */
void mg_daemon_outbreak_start(struct mg_daemon *d);
void mg_daemon_outbreak_reload(struct mg_daemon *d);
void mg_daemon_outbreak_event(struct mg_daemon *d, const struct mg_event *ev, uint64_t now);
void mg_daemon_outbreak_tick(struct mg_daemon *d, uint64_t now);
void mg_daemon_outbreak_stop(struct mg_daemon *d);
json_t *mg_daemon_outbreaks_json(struct mg_daemon *d, uint64_t now);
json_t *mg_daemon_except(struct mg_daemon *d, json_t *req);
/* The Postfix policy service and the quarantine (mg_daemon_policy.c). */
int mg_daemon_policy_start(struct mg_daemon *d, char *err, size_t errlen);
bool mg_daemon_policy_event(struct mg_daemon *d, int fd, uint32_t events);
void mg_daemon_policy_tick(struct mg_daemon *d, uint64_t now);
void mg_daemon_policy_stop(struct mg_daemon *d);
json_t *mg_daemon_quarantine(struct mg_daemon *d, json_t *req);
/* The operator's rules: loaded and enforced at start, expired by the timer, saved on change. */
void mg_daemon_oprules_start(struct mg_daemon *d);
void mg_daemon_oprules_tick(struct mg_daemon *d);
int mg_daemon_oprules_save(struct mg_daemon *d);
void mg_daemon_oprules_push_allows(struct mg_daemon *d); /* into the analyzer, after its configured set was reset */
/* The analyzer's verdict on exactly this prefix, if one is in force, back into the kernel. */
void mg_daemon_reapply_verdict(struct mg_daemon *d, const struct mg_prefix *p);
bool mg_daemon_oprules_has(const struct mg_daemon *d, const struct mg_prefix *p, uint8_t kind);
/* Write the metrics file and publish to the HTTP endpoint (whichever are configured). */
void mg_daemon_metrics(struct mg_daemon *d, uint64_t now);

#endif
