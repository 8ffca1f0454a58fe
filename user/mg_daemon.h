/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_daemon.h - mtaguardd: the engine (mg_engine.h) in a service. What this
 * adds around it: the data plane loaded and attached, an epoll loop (ring
 * buffer, timer, signals), the control socket, the Postfix policy service,
 * metrics, the event log and alert hooks, and sd_notify.
 */
#ifndef MG_DAEMON_H
#define MG_DAEMON_H

#include <stdbool.h>
#include <stdio.h>
#include <jansson.h>

#include "mg_config.h"
#include "mg_ctlsock.h"
#include "mg_engine.h"
#include "mg_event_slice.h"
#include "mg_eventlog.h"
#include "mg_kernel_sink.h"
#include "mg_loader.h"
#include "mg_log_gate.h"
#include "mg_policyd.h"
#include "mg_quarantine.h"
#include "mg_qwork.h"
#include "mg_state_writer.h"

struct ring_buffer;
struct mg_metrics_http;
struct mg_cluster;
struct mg_ifwatch;

/* Command-line settings that win over the config file, also after a reload. */
struct mg_daemon_overrides {
	const char *pin_dir, *socket, *state, *log;
	bool monitor;
	struct mg_config_iface ifaces[MG_CONFIG_MAX_IFACES];
	size_t n_ifaces;
};

/*
 * What is running: fixed when the program was loaded, attached and the
 * sockets opened. A reload reads the file into mg_daemon.cfg; what differs
 * here is reported as waiting for a restart, never half-applied.
 */
struct mg_daemon_running {
	struct mg_config_iface ifaces[MG_CONFIG_MAX_IFACES];
	size_t n_ifaces;
	char pin_dir[256];
	char control_socket[108];
	char metrics_listen[64];
	char policy_listen[128];
	char log_file[256];
	unsigned control_mode;
	struct mg_tunables tunables;
	uint32_t max_sources, max_servers, max_policy;
	/* the verifier and its resolver are made at start (mg_daemon_verify.c) */
	bool verify_enabled;
	char verify_resolvers[256];
	uint64_t verify_timeout_ns;
	uint32_t verify_qps, verify_cache_entries;
};

#define MG_DAEMON_MAX_HOOKS 8 /* runs at once, per hook */
enum mg_daemon_hook { MG_HOOK_ALERT, MG_HOOK_VERDICT, MG_HOOK_MAX };
struct mg_hook_runs {
	int pids[MG_DAEMON_MAX_HOOKS];      /* still running; 0: a free slot */
	uint64_t started[MG_DAEMON_MAX_HOOKS];
	bool killed[MG_DAEMON_MAX_HOOKS];   /* past the timeout, killed and said so: said nothing more of */
	uint64_t skipped;                   /* lines not passed on since the last reap: every slot busy */
};
#define MG_DAEMON_MAX_ARES_FDS 16 /* c-ares sockets: one UDP socket per server, and TCP ones for truncated answers */
struct mg_verifier;
struct mg_ares;

/* An import in progress over the control socket (mg_daemon_feed.c). */
#define MG_IMPORT_SESSIONS 4
#define MG_IMPORT_IDLE_NS (30ull * 1000000000ull) /* a session nobody touched this long is dropped */
/*
 * Imported prefixes are carried into the ledger and the kernel MG_FEED_STEP
 * at a time, steps following each other within one loop iteration until
 * MG_FEED_SLICE_NS have passed: bounded by time, not by count, since a map
 * write costs what the machine's load makes it cost.
 */
#define MG_FEED_STEP 256
#define MG_FEED_SLICE_NS (3ull * 1000000ull)
/* What the quarantine's automatic work is doing (mg_daemon_qauto.c). */
enum mg_qround { MG_QROUND_NONE, MG_QROUND_RELOAD, MG_QROUND_RESCAN, MG_QROUND_RELEASE_ENDED, MG_QROUND_EXPIRY,
		 MG_QROUND_MAX };

struct mg_import_session {
	uint64_t id; /* 0: free */
	char origin[MG_FEED_NAME_MAX + 1];
	uint8_t action;
	uint64_t ttl_ns;
	bool sync, committed;
	struct mg_prefix *v; /* staged until the commit */
	size_t n, cap;
	uint64_t last_ns;     /* CLOCK_MONOTONIC: the last request */
	uint64_t start, ticket; /* after the commit: the engine's feed queue positions it spans */
};

/*
 * An interface the program is attached to, as the daemon last found it
 * (mg_daemon_ifaces.c): the device it attached to, whether the program is
 * still there, and how often it was attached again to a device of that
 * name made anew.
 */
struct mg_iface_watch {
	unsigned ifindex;          /* the device attached to last; 0: none yet */
	bool attached;             /* at the last look */
	bool gone;                 /* no interface of that name at the last look */
	uint64_t reattached;       /* attachments made again since start */
	int attach_err;            /* the last attempt's failure (said once a minute at most), 0: none */
	struct mg_log_gate attach_gate;
};

struct mg_daemon {
	const char *config_path;
	struct mg_daemon_overrides over;
	struct mg_config cfg;          /* the file's settings (with the overrides), as last loaded */
	struct mg_daemon_running run;  /* what is running */
	char pending_restart[256];     /* what the file changes that waits for a restart ("" = nothing) */
	struct mg_handle h;
	int pin_lock;                  /* the pin directory's writer lock, held while running (mg_pin_lock) */
	struct mg_kernel_sink sink;
	struct mg_engine eng;
	bool engine_ready;
	struct ring_buffer *rb;
	struct mg_event_slice events;  /* the ring consumed a slice per loop iteration */
	bool events_pending;           /* the last slice was cut short: do not sleep */
	struct mg_ctlsock ctl;
	struct mg_eventlog log;
	int epfd, timerfd, sigfd;
	bool detach_on_exit;
	bool running;
	uint64_t started_ns, last_save_ns, scan_duration_ns; /* CLOCK_MONOTONIC */
	struct mg_state_writer saver;  /* the state file compressed and written beside the loop */
	int save_err;                  /* the last written state file's outcome (said once per cause) */
	uint64_t save_ok_wall_ns;      /* when the writer last wrote one whole (wall clock); 0: not since start */
	struct mg_hook_runs hooks[MG_HOOK_MAX]; /* the operator's programs (mg_daemon_hooks.c) */
	/* the relay's policy service and quarantine (mg_daemon_policy.c) */
	struct mg_policyd policyd;
	bool policyd_on, quarantine_ready;
	struct mg_quarantine quarantine;
	uint64_t policy_requests, policy_rejects, policy_holds, last_expiry_ns;
	/* the quarantine's automatic work, its commands run as jobs (mg_daemon_qauto.c) */
	struct mg_qwork qwork;
	bool qwork_on;
	enum mg_qround q_round;        /* the round under way */
	bool q_busy;                   /* an operation waits for a command: the round goes on when it ends */
	bool q_stopping;               /* shutting down: nothing new begins */
	json_t *q_items;               /* the round's queue IDs (or {"id","release"}), q_next the next one */
	size_t q_next;
	char q_sig[48];                /* the outbreak of the message an ended outbreak's round releases */
	/* ClamAV's signature database, watched so held mail is scanned again when it changes */
	uint64_t clam_stamp, clam_next_check_ns, rescan_at_ns;
	bool clam_stamp_known, rescan_due, clam_reload_due;
	json_t *rescan_done;           /* queue IDs scanned again since the signatures changed, so a round goes on from there */
	unsigned rescan_failures;      /* in this re-scan: past RESCAN_MAX_FAILURES it is given up */
	uint64_t auto_release_next_ns;
	struct mg_metrics_http *metrics_http;
	uint64_t last_metrics_ns;
	int log_follow_err;              /* the last failure to open log_file again (-errno), said once; 0 = none */
	uint64_t watchdog_ns, last_watchdog_ns; /* systemd's watchdog interval, 0 if off */
	uint64_t stop_extended_ns;   /* the last save at a stop: when more time was last asked for */
	/* other nodes over NATS (mg_daemon_cluster.c); NULL when no cluster is configured */
	struct mg_cluster *cluster;
	json_t *cluster_published;     /* key -> what this node last wrote there */
	bool cluster_dirty;            /* a verdict came or went: reconcile before the next scan */
	bool cluster_more;             /* received entries wait: do not sleep */
	uint64_t cluster_outcomes[MG_CL_OUTCOME_MAX + 1]; /* per enum mg_cl_outcome, then unreadable ones */
	struct mg_log_gate cluster_complaints; /* one line a minute at most */
	bool cluster_was_up;           /* the link's state at the last look: its changes are logged */
	bool cluster_ever_up, cluster_said_unreachable; /* a first connection failing is logged once */
	bool cluster_down;             /* the link went down after being up, at cluster_down_at (CLOCK_MONOTONIC) */
	uint64_t cluster_down_at;
	uint64_t cluster_gaps, cluster_gap_ns; /* outages since start, and their time in all */
	/* Propagation: from the origin's write to the rule in this node's kernel, for the last entries taken. */
#define MG_DAEMON_PROPAGATION_KEPT 1024
	uint32_t propagation_us[MG_DAEMON_PROPAGATION_KEPT];
	uint32_t n_propagation, propagation_next;
	/* source verification (mg_daemon_verify.c): NULL when verify.enabled is false */
	struct mg_verifier *verifier;
	struct mg_ares *ares;
	int ares_fds[MG_DAEMON_MAX_ARES_FDS];
	unsigned n_ares_fds;
	char verify_resolvers[256];    /* as started, for status */
	struct mg_import_session imports[MG_IMPORT_SESSIONS];
	struct {                       /* the DNSBL datasets (mg_daemon_dnsbl.c) */
		bool written;
		uint64_t gen, ob_gen;      /* the ledger's and the outbreaks' generations written */
		uint64_t next_expiry;      /* the earliest listed block's end (the engine's timeline) */
		uint64_t last_ns, writes;  /* CLOCK_MONOTONIC of the last write; how many */
		int err;
		char cfg[600];             /* the settings written with */
	} dnsbl;
	bool feed_pending;             /* imported prefixes still to carry into the kernel: do not sleep */
	uint64_t feed_slice_max_ns;    /* the longest slice since the last commit: what an import held the loop */
	/* FlowSpec routes from BGP peers, handed over by mtaguard-flowspec --accept (mg_daemon_bgp.c) */
	uint64_t bgp_outcomes[MG_CL_OUTCOME_MAX + 1]; /* per enum mg_cl_outcome (taken: new here), then unusable items */
	uint64_t bgp_refreshed;        /* announcements of routes already held (the helper's refreshes) */
	bool bgp_seen;                  /* a helper spoke (at bgp_last_request) */
	uint64_t bgp_last_request;      /* CLOCK_MONOTONIC, valid once bgp_seen */
	struct mg_log_gate bgp_complaints; /* refusals: one line a minute at most */
	struct mg_log_gate q_oom_said;     /* no memory for the active outbreaks' list (mg_daemon_qauto.c) */
	/* The attached interfaces, watched so that a device made anew gets the program again (mg_daemon_ifaces.c). */
	struct mg_iface_watch ifw[MG_CONFIG_MAX_IFACES]; /* as run.ifaces */
	struct mg_ifwatch *ifwatch;        /* link messages; NULL: the timer's look alone */
};

/* The engine's timeline for a CLOCK_MONOTONIC instant, and back. */
static inline uint64_t mg_daemon_timeline(uint64_t mono)
{
	return mono + MG_TIMELINE_ORIGIN;
}

void mg_daemon_init(struct mg_daemon *d);
/* The command line's settings into c. 0, or -E2BIG with err when -i and the file name more than MG_CONFIG_MAX_IFACES. */
int mg_daemon_apply_overrides(struct mg_daemon *d, struct mg_config *c, char *err, size_t errlen);
/* Load/reuse the data plane, attach, restore state, open the socket. 0 or -errno with err set. */
int mg_daemon_start(struct mg_daemon *d, FILE *human, char *err, size_t errlen);
/* Loop until SIGINT/SIGTERM. Returns the exit status. */
int mg_daemon_run(struct mg_daemon *d);
/* Save state; detach if asked; free everything. */
void mg_daemon_stop(struct mg_daemon *d);
/* One slice of a state save under way (the loop's, at each turn): about 10 ms of it, less while the writer has no room. */
void mg_daemon_save_slice(struct mg_daemon *d);

/* Answer one control request (mg_ctl_handler). */
json_t *mg_daemon_control(json_t *req, void *arg, struct mg_ctl_stream *stream);
/* The engine's observer: the event log, readable lines, alert hooks. */
void mg_daemon_observe(const struct mg_engine_note *n, void *arg);
/* Hooks still running: reaped, or killed after 30 s; lines not passed on said (mg_daemon_hooks.c). */
void mg_daemon_hooks_reap(struct mg_daemon *d, uint64_t mono);
/* At exit: the hooks that ended reaped, the others left to finish by themselves. */
void mg_daemon_hooks_stop(struct mg_daemon *d);
/* The Postfix policy service and the quarantine (mg_daemon_policy.c). */
int mg_daemon_policy_start(struct mg_daemon *d, char *err, size_t errlen);
bool mg_daemon_policy_event(struct mg_daemon *d, int fd, uint32_t events);
void mg_daemon_policy_tick(struct mg_daemon *d, uint64_t mono);
void mg_daemon_policy_stop(struct mg_daemon *d);
/* The operator's quarantine commands (mg_daemon_qctl.c): answered later, through the stream's ticket. */
json_t *mg_daemon_quarantine(struct mg_daemon *d, json_t *req, struct mg_ctl_stream *stream);
/*
 * The quarantine's automatic work (mg_daemon_qauto.c): started with the
 * policy service, a tick from the timer, the runner's descriptor served by
 * the loop (event: true if fd is it), its commands' deadlines enforced and
 * told to the loop's sleep, and at the end a bounded wait for what runs.
 */
int mg_daemon_qauto_start(struct mg_daemon *d);
void mg_daemon_qauto_tick(struct mg_daemon *d, uint64_t mono);
bool mg_daemon_qauto_event(struct mg_daemon *d, int fd);
void mg_daemon_qauto_deadlines(struct mg_daemon *d, uint64_t mono);
uint64_t mg_daemon_qauto_next_deadline(struct mg_daemon *d);
json_t *mg_daemon_qauto_status(struct mg_daemon *d);
void mg_daemon_qauto_stop(struct mg_daemon *d);
/*
 * Its releases at an outbreak's end (quarantine.release_on_outbreak_end),
 * apart so that tests can drive them: the active outbreaks' signatures as
 * held records name them (as many as the outbreak store keeps), and whether
 * a held message is due for release. A load that fails (-ENOMEM) knows none:
 * the caller then releases nothing.
 */
struct mg_qauto_active {
	char (*sig)[64];  /* sorted */
	size_t n, cap;
	bool failed;      /* no memory for all of them: the load fails */
};
int mg_qauto_active_load(struct mg_qauto_active *a, const struct mg_outbreaks *ob);
void mg_qauto_active_free(struct mg_qauto_active *a);
bool mg_qauto_release_due(const struct mg_qauto_active *a, const struct mg_held *h, uint64_t mono);
/* The policy service's clients and counters for status (null when it is off). */
json_t *mg_daemon_policy_status(struct mg_daemon *d);
/*
 * The attached interfaces (mg_daemon_ifaces.c): watched from start (after
 * the first attachments), the watch's descriptor served by the loop (event:
 * true if fd is it), every one looked at again at each timer tick; one
 * whose device was made anew gets the program again, and the operator is
 * told when an interface loses it and when it has it back.
 */
void mg_daemon_ifaces_start(struct mg_daemon *d);
bool mg_daemon_ifaces_event(struct mg_daemon *d, int fd);
void mg_daemon_ifaces_check(struct mg_daemon *d, uint64_t mono);
void mg_daemon_ifaces_stop(struct mg_daemon *d);
/* Other nodes (mg_daemon_cluster.c): start the link, take what it received, write what this node holds. */
int mg_daemon_cluster_start(struct mg_daemon *d, char *err, size_t errlen);
bool mg_daemon_cluster_event(struct mg_daemon *d, int fd);
void mg_daemon_cluster_reconcile(struct mg_daemon *d, uint64_t mono);
void mg_daemon_cluster_stop(struct mg_daemon *d);
json_t *mg_daemon_cluster_status(struct mg_daemon *d);
struct mg_metrics_in;
void mg_daemon_cluster_metrics(struct mg_daemon *d, struct mg_metrics_in *m);
/* Source verification in the loop (mg_daemon_verify.c). start: 0, or -errno with err (a bad resolver list). */
int mg_daemon_verify_start(struct mg_daemon *d, char *err, size_t errlen);
bool mg_daemon_verify_event(struct mg_daemon *d, int fd, uint32_t events);
/* The verifier's counters for the metrics (nothing when it is off). */
struct mg_metrics_in;
void mg_daemon_verify_metrics(struct mg_daemon *d, struct mg_metrics_in *m);
/* How long the loop may sleep for the resolver's retries and the jobs' deadlines (-1: no limit). */
int mg_daemon_verify_timeout_ms(struct mg_daemon *d, uint64_t mono);
void mg_daemon_verify_tick(struct mg_daemon *d);
void mg_daemon_verify_stop(struct mg_daemon *d);
json_t *mg_daemon_verify_status(struct mg_daemon *d);
/*
 * FlowSpec routes received over BGP (mg_daemon_bgp.c): the "bgp" control
 * command, and what status and the metrics say of it.
 */
json_t *mg_daemon_bgp(struct mg_daemon *d, json_t *req);
json_t *mg_daemon_bgp_status(struct mg_daemon *d);
void mg_daemon_bgp_metrics(struct mg_daemon *d, struct mg_metrics_in *m);

/* Imports and exports of prefix lists (mg_daemon_feed.c). */
json_t *mg_daemon_import(struct mg_daemon *d, json_t *req);
json_t *mg_daemon_export(struct mg_daemon *d, json_t *req);
json_t *mg_daemon_export_stream(struct mg_daemon *d, json_t *req, struct mg_ctl_stream *st);
json_t *mg_daemon_feeds_json(struct mg_daemon *d);
/* One bounded slice of an import's work; true while more is left. */
bool mg_daemon_feed_work(struct mg_daemon *d, uint64_t mono);
/* Rewrite the DNSBL datasets if anything listed changed (at most once a second). */
void mg_daemon_dnsbl(struct mg_daemon *d, uint64_t mono);
/* Blocks in force in the kernel (status and metrics). */
size_t mg_daemon_blocks_in_force(struct mg_daemon *d);
/* Write the metrics file and publish to the HTTP endpoint (whichever are configured). */
void mg_daemon_metrics(struct mg_daemon *d, uint64_t mono);

#endif
