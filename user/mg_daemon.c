// SPDX-License-Identifier: GPL-2.0-only
/* mg_daemon.c - mtaguardd's start-up, main loop, reload and shutdown (see mg_daemon.h). */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <net/if.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include <systemd/sd-daemon.h>

#include "mg_atomic_file.h"
#include "mg_clock.h"
#include "mg_cluster.h"
#include "mg_daemon.h"
#include "mg_metrics.h"
#include "mg_metrics_http.h"
#include "mg_rulemaps.h"
#include "mg_statefile.h"
#include "mg_stats.h"

void mg_daemon_init(struct mg_daemon *d)
{
	memset(d, 0, sizeof(*d));
	d->epfd = d->timerfd = d->sigfd = d->pin_lock = -1;
	d->ctl.fd = d->ctl.epfd = -1;
}

int mg_daemon_apply_overrides(struct mg_daemon *d, struct mg_config *c, char *err, size_t errlen)
{
	const struct mg_daemon_overrides *o = &d->over;
	size_t in_file = c->n_ifaces;

	if (o->pin_dir)
		snprintf(c->pin_dir, sizeof(c->pin_dir), "%s", o->pin_dir);
	if (o->socket)
		snprintf(c->control_socket, sizeof(c->control_socket), "%s", o->socket);
	if (o->state)
		snprintf(c->state_file, sizeof(c->state_file), "%s", o->state);
	if (o->log)
		snprintf(c->log_file, sizeof(c->log_file), "%s", o->log);
	if (o->monitor)
		c->an.monitor = true;
	for (size_t i = 0; i < o->n_ifaces; i++) {
		bool dup = false;
		for (size_t j = 0; j < c->n_ifaces; j++) {
			if (strcmp(c->ifaces[j].name, o->ifaces[i].name))
				continue;
			dup = true;
			c->ifaces[j].uplink |= o->ifaces[i].uplink; /* -u marks one the file lists */
		}
		if (dup)
			continue;
		/* Not dropped without a word: the daemon would run, unattached to what it was told to guard. */
		if (c->n_ifaces == MG_CONFIG_MAX_IFACES) {
			snprintf(err, errlen, "interface %s (-i): at most %d interfaces, the config file's %zu included",
				 o->ifaces[i].name, MG_CONFIG_MAX_IFACES, in_file);
			return -E2BIG;
		}
		c->ifaces[c->n_ifaces++] = o->ifaces[i];
	}
	size_t n_uplinks = 0;
	for (size_t j = 0; j < c->n_ifaces; j++)
		n_uplinks += c->ifaces[j].uplink;
	if (n_uplinks > MG_UPLINKS_MAX) {
		snprintf(err, errlen, "at most %d uplinks (-u and the config file's together), not %zu", MG_UPLINKS_MAX,
			 n_uplinks);
		return -E2BIG;
	}
	return 0;
}

/* A restart's old process may still be saving its state: wait this long for it to let go of the pins. */
#define PIN_LOCK_WAIT_NS (10 * MG_NSEC_PER_SEC)
/* A start with saved state may take this long, and a microsecond more a byte of it (see mg_daemon_start). */
#define MG_START_EXTEND_BASE_US ((uint64_t)60 * 1000000)
/* The housekeeping's period at most (arm_timer), and how early a scan or a chore may run on its tick. */
#define MG_HOUSEKEEPING_NS (1 * MG_NSEC_PER_SEC)
#define MG_TICK_SLACK_NS (20 * 1000000ull)

/* The last save at a stop asks for this much more time, again every MG_STOP_EXTEND_EVERY_NS while it goes on. */
#define MG_STOP_EXTEND_US ((uint64_t)30 * 1000000)
#define MG_STOP_EXTEND_EVERY_NS (5 * MG_NSEC_PER_SEC)

/* What is running is what the configuration said at start. */
static void take_running(struct mg_daemon *d)
{
	struct mg_daemon_running *r = &d->run;

	memcpy(r->ifaces, d->cfg.ifaces, sizeof(r->ifaces));
	r->n_ifaces = d->cfg.n_ifaces;
	snprintf(r->pin_dir, sizeof(r->pin_dir), "%s", d->cfg.pin_dir);
	snprintf(r->control_socket, sizeof(r->control_socket), "%s", d->cfg.control_socket);
	snprintf(r->metrics_listen, sizeof(r->metrics_listen), "%s", d->cfg.metrics_listen);
	snprintf(r->policy_listen, sizeof(r->policy_listen), "%s", d->cfg.policy_listen);
	snprintf(r->log_file, sizeof(r->log_file), "%s", d->cfg.log_file);
	r->control_mode = d->cfg.control_mode;
	r->tunables = d->cfg.tunables;
	r->max_sources = d->cfg.max_sources;
	r->max_servers = d->cfg.max_servers;
	r->max_policy = d->cfg.max_policy;
	r->verify_enabled = d->cfg.verify_enabled;
	snprintf(r->verify_resolvers, sizeof(r->verify_resolvers), "%s", d->cfg.verify_resolvers);
	r->verify_timeout_ns = d->cfg.verify_timeout_ns;
	r->verify_qps = d->cfg.verify_qps;
	r->verify_cache_entries = d->cfg.verify_cache_entries;
}

static bool same_ifaces(const struct mg_daemon_running *r, const struct mg_config *c)
{
	if (r->n_ifaces != c->n_ifaces)
		return false;
	for (size_t i = 0; i < c->n_ifaces; i++)
		if (strcmp(r->ifaces[i].name, c->ifaces[i].name) || r->ifaces[i].mode != c->ifaces[i].mode ||
		    r->ifaces[i].uplink != c->ifaces[i].uplink) /* how many uplinks there are is in the program's read-only data */
			return false;
	return true;
}

/* The SMTP ports the program was built with (the other tunables are not the file's). */
static bool ports_differ(const struct mg_tunables *a, const struct mg_tunables *b)
{
	return memcmp(a->mx_ports, b->mx_ports, sizeof(a->mx_ports)) ||
	       memcmp(a->submission_ports, b->submission_ports, sizeof(a->submission_ports));
}

/* What the file asks for and only a restart can give, as a list of words ("" = nothing). */
static void what_waits(const struct mg_daemon *d, const struct mg_config *c, unsigned engine_restart, char *buf,
		       size_t len)
{
	const struct mg_daemon_running *r = &d->run;
	const struct {
		bool differs;
		const char *what;
	} items[] = {
		{ !same_ifaces(r, c), "interfaces" },
		{ strcmp(r->pin_dir, c->pin_dir) != 0, "pin_dir" },
		{ strcmp(r->control_socket, c->control_socket) != 0, "control_socket" },
		{ r->control_mode != c->control_mode, "control_mode" },
		{ strcmp(r->log_file, c->log_file) != 0, "log_file" },
		{ strcmp(r->metrics_listen, c->metrics_listen) != 0, "metrics.listen" },
		{ strcmp(r->policy_listen, c->policy_listen) != 0, "quarantine.policy_listen" },
		{ (engine_restart & MG_RESTART_V6_AGGREGATION) != 0, "ipv6_aggregation" },
		{ r->max_sources != c->max_sources || r->max_servers != c->max_servers || r->max_policy != c->max_policy,
		  "map_sizes" },
		{ ports_differ(&r->tunables, &c->tunables), "smtp_ports" },
		/* The activity records' layout is in the program's read-only data. */
		{ !mg_act_ranges_eq(r->tunables.act, c->tunables.act), "protected_networks" },
		{ r->tunables.handshake != c->tunables.handshake, "handshake" }, /* a load-time tunable too */
		/* The verifier and its resolver are made at start; turning it off applies at once (nothing is asked). */
		{ (c->verify_enabled && !r->verify_enabled) || strcmp(r->verify_resolvers, c->verify_resolvers) ||
			  r->verify_timeout_ns != c->verify_timeout_ns || r->verify_qps != c->verify_qps ||
			  r->verify_cache_entries != c->verify_cache_entries,
		  "verify" },
	};

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++)
		if (items[i].differs) {
			strncat(buf, buf[0] ? ", " : "", len - strlen(buf) - 1);
			strncat(buf, items[i].what, len - strlen(buf) - 1);
		}
}

static int on_event(void *ctx, void *data, size_t len)
{
	struct mg_daemon *d = ctx;

	if (len >= sizeof(struct mg_event)) {
		uint64_t mono = mg_mono_ns();
		mg_engine_event(&d->eng, data, mg_daemon_timeline(mono), mg_mono_to_wall_ns(mono));
	}
	return 0;
}

/* The engine's tick (the timer's and the news' job), timed for status and metrics. */
static void tick(struct mg_daemon *d)
{
	uint64_t mono = mg_mono_ns();

	mg_engine_tick(&d->eng, mg_daemon_timeline(mono), mg_mono_to_wall_ns(mono));
	d->scan_duration_ns = mg_mono_ns() - mono;
}

/* The engine's state file, handed to the writer thread as it is serialized (mg_engine.state_stream). */
static int saver_open(void *ctx, const char *path)
{
	struct mg_daemon *d = ctx;
	return mg_state_writer_open(&d->saver, path);
}

static int saver_put(void *ctx, uint8_t *buf, size_t len)
{
	struct mg_daemon *d = ctx;
	return mg_state_writer_put(&d->saver, buf, len);
}

static void saver_close(void *ctx)
{
	struct mg_daemon *d = ctx;
	mg_state_writer_close(&d->saver);
}

static void saver_abort(void *ctx)
{
	struct mg_daemon *d = ctx;
	mg_state_writer_abort(&d->saver);
}

static const struct mg_state_stream saver_stream = {
	.open = saver_open, .put = saver_put, .close = saver_close, .abort = saver_abort,
};

/* Written state files: a failure said once per cause, and once when it works again. */
static void saver_outcomes(struct mg_daemon *d)
{
	struct mg_state_outcome o[4];
	unsigned n = mg_state_writer_take(&d->saver, o, 4);

	for (unsigned i = 0; i < n; i++) {
		if (o[i].err && o[i].err != d->save_err)
			mg_eventlog_notice(&d->log, "notice", "saving state to %s failed: %s (tried again in %llu s)",
					   o[i].path, strerror(-o[i].err),
					   (unsigned long long)(d->cfg.state_interval_ns / MG_NSEC_PER_SEC));
		else if (!o[i].err && d->save_err)
			mg_eventlog_notice(&d->log, "notice", "state saved to %s again", o[i].path);
		d->save_err = o[i].err;
		if (!o[i].err)
			d->save_ok_wall_ns = mg_mono_to_wall_ns(mg_mono_ns());
	}
}

/*
 * One slice of a state save under way: profiles serialized for about
 * SAVE_SLICE_NS, in steps of SAVE_STEP profiles, after this turn's sockets
 * and events. A million ordinary profiles are a few dozen slices. The
 * first step of a slice hands over the piece the writer thread had no room
 * for, if one waits; while there is still none, the slice ends there, and
 * the thread's eventfd wakes the loop when it made some (the loop does not
 * spin meanwhile: loop_timeout_ms).
 */
#define SAVE_SLICE_NS (MG_NSEC_PER_SEC / 100)
#define SAVE_STEP 1024
void mg_daemon_save_slice(struct mg_daemon *d)
{
	uint64_t t0 = mg_mono_ns(), mono = t0;

	while (d->eng.saving && mono - t0 < SAVE_SLICE_NS) {
		mg_engine_save_step(&d->eng, SAVE_STEP, mg_daemon_timeline(mono), mg_mono_to_wall_ns(mono));
		if (mg_engine_save_waiting(&d->eng))
			break;
		mono = mg_mono_ns();
	}
}

/* The writer goes first: a save it has under way ends before the caller writes a newer one itself. */
static void saver_stop(struct mg_daemon *d)
{
	if (d->engine_ready)
		d->eng.state_stream = NULL;
	if (d->saver.running && d->epfd >= 0)
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, mg_state_writer_fd(&d->saver), NULL);
	mg_state_writer_stop(&d->saver);
	saver_outcomes(d);
}

static int save_state(struct mg_daemon *d)
{
	uint64_t mono = mg_mono_ns();

	d->last_save_ns = mono;
	return mg_engine_save(&d->eng, mg_daemon_timeline(mono), mg_mono_to_wall_ns(mono));
}

/*
 * The timer drives the housekeeping (on_timer): hooks past their deadline,
 * metrics, state saves, the log file's path. It ticks at the scan interval
 * or every second, whichever is shorter, so that a scan interval of a minute
 * (ten million profiles) leaves metrics.interval and the hooks' 30 s kill as
 * configured; the scans themselves come when the engine wants them
 * (loop_timeout_ms). Armed at start and again when a reload changes it.
 */
static void arm_timer(struct mg_daemon *d)
{
	uint64_t iv = d->eng.scan_interval < MG_HOUSEKEEPING_NS ? d->eng.scan_interval : MG_HOUSEKEEPING_NS;
	struct itimerspec its = {
		.it_interval = { .tv_sec = (time_t)(iv / MG_NSEC_PER_SEC), .tv_nsec = (long)(iv % MG_NSEC_PER_SEC) },
		.it_value = { .tv_sec = 0, .tv_nsec = 1000000 },
	};

	timerfd_settime(d->timerfd, 0, &its, NULL);
}

static int epoll_add(int epfd, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

int mg_daemon_start(struct mg_daemon *d, FILE *human, char *err, size_t errlen)
{
	struct mg_load_opts lo;
	int e;

	e = mg_eventlog_open(&d->log, d->cfg.log_file, human);
	if (e) {
		snprintf(err, errlen, "cannot open log %s: %s", d->cfg.log_file, strerror(-e));
		return e;
	}
	take_running(d);
	/* Before loading: a second daemon must not replace the first one's program or write its rules. */
	e = mg_pin_lock(d->cfg.pin_dir, PIN_LOCK_WAIT_NS);
	if (e == -EWOULDBLOCK) {
		snprintf(err, errlen, "another mtaguardd runs with the pin dir %s (it holds the dir's lock); stop it first",
			 d->cfg.pin_dir);
		return e;
	}
	if (e < 0) {
		snprintf(err, errlen, "cannot lock the pin dir %s: %s", d->cfg.pin_dir, strerror(-e));
		return e;
	}
	d->pin_lock = e;
	mg_load_opts_default(&lo);
	lo.pin_dir = d->cfg.pin_dir;
	lo.tunables = d->cfg.tunables;
	lo.max_sources = d->cfg.max_sources;
	lo.max_servers = d->cfg.max_servers;
	lo.max_policy = d->cfg.max_policy;
	for (size_t i = 0; i < d->cfg.n_ifaces; i++) {
		if (!d->cfg.ifaces[i].uplink)
			continue;
		e = mg_load_opts_uplink(&lo, d->cfg.ifaces[i].name);
		if (e == -ENODEV)
			e = mg_load_opts_uplink_absent(&lo); /* trusted once it appears (mg_daemon_ifaces.c) */
		if (e) {
			snprintf(err, errlen, "uplink %s: %s", d->cfg.ifaces[i].name,
				 e == -E2BIG ? "too many uplinks" : strerror(-e));
			return e;
		}
	}
	e = mg_load(&lo, &d->h);
	if (e) {
		snprintf(err, errlen, "loading the XDP program (pin dir %s): %s", d->cfg.pin_dir,
			 e == MG_ERR_OLD_PINS ? MG_OLD_PINS_HINT
			 : e == -EINVAL	      ? "invalid argument (pinned maps from an incompatible version or size? see --pin-dir)"
					      : strerror(-e));
		return e;
	}
	/*
	 * An interface that does not exist yet (a VLAN, a bond or a tunnel the
	 * network's own service makes later, a hotplugged NIC) does not keep
	 * the others unguarded: it is attached to when it appears
	 * (mg_daemon_ifaces.c), and said until then (below, status, metrics).
	 */
	for (size_t i = 0; i < d->cfg.n_ifaces; i++) {
		e = mg_attach(&d->h, d->cfg.ifaces[i].name, d->cfg.ifaces[i].mode);
		if (e && e != -ENODEV) {
			snprintf(err, errlen, "attaching to %s: %s", d->cfg.ifaces[i].name, strerror(-e));
			return e;
		}
	}

	/* The engine: its sink on the pinned maps, what they hold already, then the saved state. */
	if (mg_kernel_sink_init(&d->sink, &d->h, MG_TIMELINE_ORIGIN, true) ||
	    mg_engine_init(&d->eng, &d->cfg, &mg_kernel_sink_ops, &d->sink, mg_daemon_observe, d)) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	d->engine_ready = true;
	const char *what = "";
	e = mg_kernel_sink_adopt(&d->sink, &d->eng, &what);
	if (e)
		mg_eventlog_notice(&d->log, "notice",
				   "reading the %s rules a previous run left in the kernel failed: %s; those it holds stay "
				   "unknown to the ledger until a restart reads them",
				   what, strerror(-e));
	/*
	 * Restoring the saved state takes time in proportion to its files (a
	 * million profiles that all speak SMTP: a 40 MB state file, read and
	 * restored in about 4 s on a 2-core machine; ten million, ten times
	 * that), and all of it comes before READY=1. A slow box with a big state
	 * would pass the unit's start timeout (TimeoutStartSec, 60 s), be killed
	 * and restarted into the same fate, its state never restored: so ask the
	 * service manager for MG_START_EXTEND_BASE_US plus a microsecond a byte
	 * (1 MB/s, a tenth of this machine's pace) first. It only ever extends
	 * the timeout, and without a service manager it is no message at all.
	 */
	uint64_t state_bytes = mg_engine_state_bytes(&d->eng);
	if (state_bytes)
		sd_notifyf(0, "EXTEND_TIMEOUT_USEC=%" PRIu64 "\nSTATUS=restoring %" PRIu64 " bytes of saved state",
			   MG_START_EXTEND_BASE_US + state_bytes, state_bytes);
	uint64_t mono = mg_mono_ns();
	mg_engine_start(&d->eng, mg_daemon_timeline(mono), mg_mono_to_wall_ns(mono));

	d->events = (struct mg_event_slice){
		.fn = on_event, .ctx = d, .clock = mg_mono_ns,
		.max_records = MG_EVENT_SLICE_RECORDS, .max_ns = MG_EVENT_SLICE_NS,
	};
	d->rb = ring_buffer__new(d->h.events_fd, mg_event_slice_sample, &d->events, NULL);
	if (!d->rb) {
		snprintf(err, errlen, "ring buffer: %s", strerror(errno));
		return -errno;
	}
	mg_make_parent_dirs(d->cfg.control_socket);
	e = mg_ctlsock_listen(&d->ctl, d->cfg.control_socket, d->cfg.control_mode);
	if (e) {
		snprintf(err, errlen, "control socket %s: %s", d->cfg.control_socket, strerror(-e));
		return e;
	}

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	d->sigfd = signalfd(-1, &mask, SFD_CLOEXEC);
	d->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->sigfd < 0 || d->timerfd < 0 || d->epfd < 0) {
		snprintf(err, errlen, "setting up the event loop: %s", strerror(errno));
		return -errno;
	}
	arm_timer(d);
	if (epoll_add(d->epfd, d->sigfd) || epoll_add(d->epfd, d->timerfd) ||
	    epoll_add(d->epfd, ring_buffer__epoll_fd(d->rb)) ||
	    mg_ctlsock_epoll_add(&d->ctl, d->epfd, mg_daemon_control, d)) {
		snprintf(err, errlen, "epoll: %s", strerror(errno));
		return -errno;
	}

	/* Without the writer thread the state is written in the loop, as before: slower, not wrong. */
	if (mg_state_writer_start(&d->saver) == 0 && epoll_add(d->epfd, mg_state_writer_fd(&d->saver)) == 0) {
		d->eng.state_stream = &saver_stream;
		d->eng.state_stream_ctx = d;
	} else {
		mg_state_writer_stop(&d->saver);
	}

	mg_daemon_ifaces_start(d);
	e = mg_daemon_policy_start(d, err, errlen);
	if (e)
		return e;
	e = mg_daemon_cluster_start(d, err, errlen);
	if (e)
		return e;
	e = mg_daemon_verify_start(d, err, errlen);
	if (e)
		return e;
	if (d->cfg.metrics_textfile[0])
		mg_atomic_clean_stale(d->cfg.metrics_textfile);
	if (d->cfg.metrics_listen[0]) {
		d->metrics_http = mg_metrics_http_start(d->cfg.metrics_listen, err, errlen);
		if (!d->metrics_http)
			return -EADDRINUSE;
	}
	d->started_ns = d->last_save_ns = d->last_watchdog_ns = mg_mono_ns();
	uint64_t wd_usec = 0;
	if (sd_watchdog_enabled(0, &wd_usec) > 0)
		d->watchdog_ns = wd_usec * 1000;
	char ifs[256] = "";
	for (size_t i = 0; i < d->run.n_ifaces; i++) {
		strncat(ifs, i ? ", " : "", sizeof(ifs) - strlen(ifs) - 1);
		strncat(ifs, d->run.ifaces[i].name, sizeof(ifs) - strlen(ifs) - 1);
		if (d->run.ifaces[i].uplink)
			strncat(ifs, " (uplink)", sizeof(ifs) - strlen(ifs) - 1);
		if (!d->ifw[i].ifindex) {
			strncat(ifs, " (not there yet)", sizeof(ifs) - strlen(ifs) - 1);
			mg_eventlog_warning(&d->log, "interface", "%s does not exist: nothing is filtered there until it does, "
					    "and the program is attached as soon as it appears (if it never should, the name "
					    "is wrong)", d->run.ifaces[i].name);
		}
	}
	mg_eventlog_notice(&d->log, "started", "started on %s%s; pins in %s; control socket %s", ifs,
			   d->eng.an_cfg.monitor ? " in monitor mode" : "", d->run.pin_dir, d->run.control_socket);
	mg_daemon_metrics(d, d->started_ns);
	/* Under systemd (Type=notify): ready only now, with the program attached and the maps pinned. */
	sd_notifyf(0, "READY=1\nWATCHDOG=1\nSTATUS=enforcing on %s%s", ifs, d->eng.an_cfg.monitor ? " (monitor mode)" : "");
	return 0;
}

/*
 * The attached interfaces' slots of mg_stats (ifindex modulo
 * MG_IFACE_SLOTS, looked up now: an interface made again has a new one),
 * interfaces that share a slot under one label.
 */
static void iface_metrics(struct mg_daemon *d, struct mg_metrics_in *m)
{
	uint32_t slots[MG_METRICS_MAX_IFACES];

	for (size_t i = 0; i < d->run.n_ifaces; i++) {
		unsigned idx = if_nametoindex(d->run.ifaces[i].name);
		if (!idx)
			continue; /* gone: its counts show under "other" */
		uint32_t slot = idx % MG_IFACE_SLOTS;
		size_t j = 0;
		while (j < m->n_ifaces && slots[j] != slot)
			j++;
		struct mg_metrics_iface *f = &m->ifaces[j];
		if (j < m->n_ifaces) {
			size_t len = strlen(f->name);
			snprintf(f->name + len, sizeof(f->name) - len, "+%s", d->run.ifaces[i].name);
			continue;
		}
		if (j == MG_METRICS_MAX_IFACES || mg_stats_read_slot(d->h.stats_fd, slot, &f->s))
			continue;
		snprintf(f->name, sizeof(f->name), "%s", d->run.ifaces[i].name);
		slots[m->n_ifaces++] = slot;
	}
}

void mg_daemon_metrics(struct mg_daemon *d, uint64_t mono)
{
	struct mg_metrics_in m = { 0 };

	d->last_metrics_ns = mono;
	if (!d->cfg.metrics_textfile[0] && !d->metrics_http)
		return;
	m.have_kernel = mg_stats_read(d->h.stats_fd, &m.kernel) == 0;
	if (m.have_kernel)
		iface_metrics(d, &m);
	for (size_t i = 0; i < d->run.n_ifaces && i < MG_METRICS_MAX_IFACES; i++) {
		snprintf(m.attach[i].name, sizeof(m.attach[i].name), "%s", d->run.ifaces[i].name);
		m.attach[i].attached = d->ifw[i].attached;
		m.attach[i].reattached = d->ifw[i].reattached;
		m.n_attach = i + 1;
	}
	mg_an_count(d->eng.an, m.sources_by_role);
	mg_an_count_activity_only(d->eng.an, m.sources_by_role); /* protected hosts known by their activity alone */
	m.verdicts_active = mg_daemon_blocks_in_force(d);
	m.verdicts_issued = d->eng.verdicts_issued;
	m.alerts_issued = d->eng.alerts_issued;
	for (int o = 0; o < MG_OWNER_MAX; o++)
		m.verdicts_by[o] = mg_ruleset_blocks_new(d->eng.rules, (enum mg_owner)o);
	m.verdicts_contained = mg_ruleset_contained_new(d->eng.rules);
	m.time_to_block = &d->eng.time_to_block;
	mg_daemon_cluster_metrics(d, &m);
	mg_daemon_bgp_metrics(d, &m);
	mg_daemon_verify_metrics(d, &m);
	m.settles = d->eng.settles;
	m.settle_missed = d->eng.hot_missed;
	m.feed_prefixes = mg_feeds_total(&d->eng.feeds);
	m.rule_write_failures = d->eng.write_failures;
	m.rule_read_failures = d->sink.adopt_failed;
	m.feed_expiries_deferred = d->eng.feed_expiry_deferred;
	m.state_save_on = d->eng.state_file[0] && d->saver.running;
	if (m.state_save_on) {
		struct mg_state_writer_stats ss = mg_state_writer_stats(&d->saver);
		m.state_saves_written = ss.written;
		m.state_saves_failed = ss.failed;
		m.state_saves_replaced = ss.replaced;
		m.state_save_seconds = (double)ss.last_ns / 1e9;
		m.state_save_last_success = (double)(d->save_ok_wall_ns / MG_NSEC_PER_SEC); /* whole seconds: printed in full */
		m.state_save_interval = (double)d->cfg.state_interval_ns / 1e9;
	}
	m.dnsbl_on = d->cfg.dnsbl_ip4[0] || d->cfg.dnsbl_ip6[0];
	m.dnsbl_writes = d->dnsbl.writes;
	m.scan_seconds = (double)d->scan_duration_ns / 1e9;
	m.uptime_seconds = (double)(mono - d->started_ns) / 1e9;
	m.have_proc = !mg_procstat_read(&m.proc);
	m.monitor = d->eng.an_cfg.monitor;
	m.threat_level = d->eng.threat_level;
	m.outbreaks_active = mg_ob_active(d->eng.ob);
	char *text = mg_metrics_text(&m);
	if (!text)
		return;
	if (d->cfg.metrics_textfile[0]) {
		int e = mg_metrics_write_file(d->cfg.metrics_textfile, text);
		if (e)
			mg_eventlog_notice(&d->log, "notice", "writing metrics to %s: %s", d->cfg.metrics_textfile,
					   strerror(-e));
	}
	if (d->metrics_http)
		mg_metrics_http_publish(d->metrics_http, text);
	free(text);
}

/*
 * log_file moved away (logrotate's rename) or deleted: the lines go to its
 * path again, a file made anew, whose first line says so; checked at every
 * housekeeping tick, so that rotation needs no signal, and at a reload
 * (force), for a rotation's postrotate that asks for one. A path that cannot
 * be opened is said once, and the lines go on to the file open.
 */
static void follow_log(struct mg_daemon *d, bool force)
{
	int r = mg_eventlog_follow(&d->log, force);

	if (r > 0)
		mg_eventlog_notice(&d->log, "notice", "log file %s opened again: the file it named was moved or deleted",
				   d->log.path);
	else if (r < 0 && r != d->log_follow_err)
		mg_eventlog_notice(&d->log, "notice", "cannot open the log file %s again (%s): writing on to the file it named",
				   d->log.path, strerror(-r));
	d->log_follow_err = r < 0 ? r : 0;
}

static void reload(struct mg_daemon *d)
{
	struct mg_config c;
	char err[512];

	follow_log(d, true);
	if (!d->config_path) {
		mg_eventlog_notice(&d->log, "notice", "SIGHUP: no config file to reload");
		return;
	}
	mg_config_default(&c);
	if (mg_config_load(d->config_path, &c, err, sizeof(err))) {
		mg_eventlog_notice(&d->log, "config-refused", "reload refused, keeping the running config: %s", err);
		mg_config_free(&c);
		return;
	}
	if (mg_daemon_apply_overrides(d, &c, err, sizeof(err))) {
		mg_eventlog_notice(&d->log, "config-refused", "reload refused, keeping the running config: %s", err);
		mg_config_free(&c);
		return;
	}
	mg_config_free(&d->cfg);
	d->cfg = c;
	uint64_t mono = mg_mono_ns(), interval = d->eng.scan_interval;
	unsigned restart = mg_engine_configure(&d->eng, &d->cfg, mg_daemon_timeline(mono), mg_mono_to_wall_ns(mono));
	if (d->eng.scan_interval != interval)
		arm_timer(d);
	what_waits(d, &d->cfg, restart, d->pending_restart, sizeof(d->pending_restart));
	/* One line saying both: what took effect, and what did not. */
	if (d->pending_restart[0])
		mg_eventlog_notice(&d->log, "reloaded", "reloaded %s; not applied, running as before until a restart: %s",
				   d->config_path, d->pending_restart);
	else
		mg_eventlog_notice(&d->log, "reloaded", "reloaded %s", d->config_path);
}

/*
 * Whether a chore done at `last` is due again at a tick at mono: up to
 * MG_TICK_SLACK_NS early counts, since the ticks come a period apart, late
 * by however long the loop took to wake: a metrics.interval equal to the
 * timer's period would otherwise be kept every other tick.
 */
static bool tick_due(uint64_t mono, uint64_t last, uint64_t interval)
{
	return mono + MG_TICK_SLACK_NS - last >= interval;
}

/* Housekeeping at every timer tick, beside the engine's own. */
static void on_timer(struct mg_daemon *d)
{
	uint64_t mono = mg_mono_ns();

	mg_daemon_hooks_reap(d, mono);
	follow_log(d, false);
	mg_daemon_policy_tick(d, mono);
	if (tick_due(mono, d->last_save_ns, d->cfg.state_interval_ns)) {
		/* In slices (mg_daemon_save_slice), so that ten million profiles do not hold the loop for seconds. */
		d->last_save_ns = mono;
		mg_engine_save_begin(&d->eng, mg_daemon_timeline(mono), mg_mono_to_wall_ns(mono));
	}
	if (tick_due(mono, d->last_metrics_ns, d->cfg.metrics_interval_ns))
		mg_daemon_metrics(d, mono);
}

/*
 * The watchdog hears from the loop itself, at every turn once half its
 * interval has passed (not from the timer, which ticks whether or not the
 * loop gets round to it): a wedged loop gets restarted, a busy one does not.
 */
static void beat_watchdog(struct mg_daemon *d, uint64_t mono)
{
	if (d->watchdog_ns && mono - d->last_watchdog_ns >= d->watchdog_ns / 2) {
		sd_notify(0, "WATCHDOG=1");
		d->last_watchdog_ns = mono;
	}
}

/* Milliseconds from mono until `when` (CLOCK_MONOTONIC ns), rounded up: waking early only spins. */
static int ms_until(uint64_t when, uint64_t mono)
{
	if (when <= mono)
		return 0;
	uint64_t ms = (when - mono) / 1000000 + 1;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

static int earliest(int a, int b)
{
	return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

/*
 * How long the loop may sleep (-1: until something happens): not at all
 * while events wait, else until the engine wants a scan (its interval, or
 * sooner after news), a control connection's deadline, or the watchdog's
 * next beat. The timer covers the housekeeping.
 */
static int loop_timeout_ms(struct mg_daemon *d, uint64_t mono)
{
	if (d->events_pending || d->cluster_more || d->feed_pending || (d->eng.saving && !mg_engine_save_waiting(&d->eng)))
		return 0;
	uint64_t now = mg_daemon_timeline(mono), next = mg_engine_next_scan(&d->eng);
	int t = next <= now ? 0 : ms_until(next - now + mono, mono);
	uint64_t ctl = mg_ctlsock_next_deadline(&d->ctl);
	if (ctl != MG_CTL_NO_DEADLINE)
		t = earliest(t, ms_until(ctl, mono));
	if (d->watchdog_ns)
		t = earliest(t, ms_until(d->last_watchdog_ns + d->watchdog_ns / 2, mono));
	int v = mg_daemon_verify_timeout_ms(d, mono);
	if (v >= 0)
		t = earliest(t, v);
	uint64_t job = mg_daemon_qauto_next_deadline(d); /* a quarantine command to kill at its deadline */
	if (job != MG_JOBS_NO_DEADLINE)
		t = earliest(t, ms_until(job, mono));
	return t;
}

/* One slice of ring-buffer events: a flood waits for the sockets served between slices. */
static void consume_events(struct mg_daemon *d)
{
	bool more = false;
	int r = mg_event_slice_consume(&d->events, d->rb, &more);

	d->events_pending = more;
	if (r < 0)
		mg_eventlog_notice(&d->log, "notice", "ring buffer: %s", strerror(-r));
	/* The sources those events concern are judged now, not at the next scan. */
	uint64_t mono = mg_mono_ns();
	mg_engine_settle(&d->eng, mg_daemon_timeline(mono), mg_mono_to_wall_ns(mono));
}

int mg_daemon_run(struct mg_daemon *d)
{
	struct epoll_event evs[32];

	d->running = true;
	while (d->running) {
		int n = epoll_wait(d->epfd, evs, 32, loop_timeout_ms(d, mg_mono_ns()));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			mg_eventlog_notice(&d->log, "notice", "epoll_wait: %s", strerror(errno));
			return 1;
		}
		bool timer = false;
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == d->timerfd) {
				uint64_t ticks;
				if (read(fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
					continue;
				timer = true;
			} else if (fd == d->sigfd) {
				struct signalfd_siginfo si;
				if (read(fd, &si, sizeof(si)) != sizeof(si))
					continue;
				if (si.ssi_signo == SIGHUP) {
					sd_notify(0, "RELOADING=1");
					reload(d);
					sd_notify(0, "READY=1");
				} else {
					d->running = false;
				}
			} else if (d->saver.running && fd == mg_state_writer_fd(&d->saver)) {
				saver_outcomes(d);
			} else if (mg_ctlsock_owns(&d->ctl, fd)) {
				mg_ctlsock_handle(&d->ctl, fd, evs[i].events, mg_mono_ns());
			} else if (mg_daemon_verify_event(d, fd, evs[i].events)) {
				/* a resolver's answer: the jobs waiting for it moved on */
			} else if (mg_daemon_policy_event(d, fd, evs[i].events)) {
				/* a Postfix policy request answered */
			} else if (mg_daemon_cluster_event(d, fd)) {
				/* other nodes' entries taken */
			} else if (mg_daemon_ifaces_event(d, fd)) {
				/* an interface came, went or changed: a guarded one made anew has its program again */
			}
			/* the ring buffer: consumed below, whoever woke us */
		}
		mg_ctlsock_expire(&d->ctl, mg_mono_ns());
		mg_daemon_verify_tick(d);
		mg_daemon_qauto_deadlines(d, mg_mono_ns());
		/* Events first: they are older than the counters a scan reads. */
		consume_events(d);
		if (d->cluster_more)
			mg_daemon_cluster_event(d, mg_cluster_fd(d->cluster));
		/*
		 * A scan due within MG_TICK_SLACK_NS of a timer tick runs in the
		 * tick's turn: with the two intervals equal (the default 1 s)
		 * the loop then wakes once a second, not twice.
		 */
		uint64_t scan_at = mg_daemon_timeline(mg_mono_ns()) + (timer ? MG_TICK_SLACK_NS : 0);
		bool scanned = mg_engine_scan_due(&d->eng, scan_at);
		if (scanned) {
			tick(d);
			/* A link message lost, or none heard: a device made anew gets its program here. */
			mg_daemon_ifaces_check(d, mg_mono_ns());
		}
		/* What this node decided goes to the others right after a verdict, and at every scan. */
		if (scanned || d->cluster_dirty)
			mg_daemon_cluster_reconcile(d, mg_mono_ns());
		if (timer)
			on_timer(d);
		/* An import's next slice, after the sockets and the events of this turn. */
		d->feed_pending = mg_daemon_feed_work(d, mg_mono_ns());
		mg_daemon_save_slice(d);
		mg_daemon_dnsbl(d, mg_mono_ns());
		beat_watchdog(d, mg_mono_ns());
	}
	return 0;
}

/*
 * The last save, at a stop, is compressed and written in the loop's thread
 * before the process exits: seconds for a million profiles that speak SMTP,
 * minutes for ten million, past the unit's stop timeout (TimeoutStopSec,
 * 90 s by default), whose SIGKILL would leave the save of one
 * state_interval before. So the service manager is told it goes on: more
 * time when it begins and every few seconds of progress after, never a
 * shorter timeout than the unit's (EXTEND_TIMEOUT_USEC only ever extends).
 */
static void stop_save_progress(void *ctx, size_t bytes)
{
	struct mg_daemon *d = ctx;
	uint64_t mono = mg_mono_ns();

	if (mono - d->stop_extended_ns < MG_STOP_EXTEND_EVERY_NS)
		return;
	d->stop_extended_ns = mono;
	sd_notifyf(0, "EXTEND_TIMEOUT_USEC=%" PRIu64 "\nSTATUS=stopping: saving state, %zu MB serialized",
		   MG_STOP_EXTEND_US, bytes >> 20);
}

void mg_daemon_stop(struct mg_daemon *d)
{
	sd_notify(0, "STOPPING=1");
	mg_metrics_http_stop(d->metrics_http);
	d->metrics_http = NULL;
	saver_stop(d); /* the last save is written here, waited for */
	if (d->engine_ready && d->h.prog_fd > 0) {
		d->stop_extended_ns = mg_mono_ns();
		sd_notifyf(0, "EXTEND_TIMEOUT_USEC=%" PRIu64 "\nSTATUS=stopping: saving state", MG_STOP_EXTEND_US);
		d->eng.save_progress = stop_save_progress;
		d->eng.save_progress_ctx = d;
		save_state(d);
		d->eng.save_progress = NULL;
		mg_eventlog_notice(&d->log, "stopped", "stopping; %s", d->detach_on_exit ?
				   "detaching and removing the pins" : "the data plane keeps enforcing");
	}
	mg_daemon_policy_stop(d);
	mg_daemon_cluster_stop(d);
	mg_daemon_ifaces_stop(d);
	if (d->engine_ready)
		mg_daemon_verify_stop(d);
	mg_ctlsock_close(&d->ctl);
	ring_buffer__free(d->rb);
	d->rb = NULL;
	if (d->engine_ready)
		mg_engine_free(&d->eng);
	d->engine_ready = false;
	mg_kernel_sink_free(&d->sink);
	if (d->h.prog_fd > 0) {
		char pin_dir[256];
		snprintf(pin_dir, sizeof(pin_dir), "%s", d->h.pin_dir);
		mg_close(&d->h);
		if (d->detach_on_exit)
			mg_unload(pin_dir);
	}
	if (d->epfd >= 0)
		close(d->epfd);
	if (d->timerfd >= 0)
		close(d->timerfd);
	if (d->sigfd >= 0)
		close(d->sigfd);
	if (d->pin_lock >= 0)
		close(d->pin_lock);
	d->pin_lock = -1;
	mg_daemon_hooks_stop(d);
	mg_eventlog_close(&d->log);
	mg_config_free(&d->cfg);
}
