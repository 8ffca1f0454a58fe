// SPDX-License-Identifier: GPL-2.0-only
/* mg_daemon.c - mtaguardd's start-up, main loop and shutdown (see mg_daemon.h). */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <systemd/sd-daemon.h>

#include "mg_clock.h"
#include "mg_daemon.h"
#include "mg_metrics.h"
#include "mg_metrics_http.h"
#include "mg_stats.h"
#include "mg_policy.h"
#include "mg_statefile.h"

#define MAX_ACTIONS 4096

void mg_daemon_init(struct mg_daemon *d)
{
	memset(d, 0, sizeof(*d));
	d->epfd = d->timerfd = d->sigfd = -1;
	d->ctl.fd = -1;
}

void mg_daemon_apply_overrides(struct mg_daemon *d, struct mg_config *c)
{
	const struct mg_daemon_overrides *o = &d->over;

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
	for (size_t i = 0; i < o->n_ifaces && c->n_ifaces < MG_CONFIG_MAX_IFACES; i++) {
		bool dup = false;
		for (size_t j = 0; j < c->n_ifaces; j++)
			dup |= !strcmp(c->ifaces[j].name, o->ifaces[i].name);
		if (!dup)
			c->ifaces[c->n_ifaces++] = o->ifaces[i];
	}
}

/* mkdir -p for the directory part of path (state file, socket). */
void mg_daemon_make_parent_dirs(const char *path)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(buf, 0750);
		*p = '/';
	}
}

/* Configured knowledge into the analyzer and the kernel: allowlist and known mail servers always win. */
static void push_configured(struct mg_daemon *d)
{
	mg_an_clear_configured(d->an);
	for (size_t i = 0; i < d->cfg.allowlist.n; i++) {
		mg_an_add_allow(d->an, &d->cfg.allowlist.v[i]);
		mg_policy_allow(d->h.allow_fd, &d->cfg.allowlist.v[i]);
	}
	for (size_t i = 0; i < d->cfg.mail_servers.n; i++) {
		const struct mg_prefix *p = &d->cfg.mail_servers.v[i];
		mg_an_add_mail_server(d->an, p);
		/* In the kernel too: a block can never drop a known mail server... */
		mg_policy_allow(d->h.allow_fd, p);
		/* ...and a host server's profile lives where no flood can evict it. */
		if (p->prefixlen == 128) {
			struct mg_src_stats s = {};
			if (bpf_map_lookup_elem(d->h.sources_fd, p->addr, &s) == 0)
				bpf_map_delete_elem(d->h.sources_fd, p->addr);
			bpf_map_update_elem(d->h.servers_fd, p->addr, &s, BPF_NOEXIST);
		}
	}
	/* The operator's allows bind the analyzer as firmly as configured ones. */
	mg_daemon_oprules_push_allows(d);
	mg_set_monitor(d->h.settings_fd, d->cfg.an.monitor);
}

static int on_event(void *ctx, void *data, size_t len)
{
	struct mg_daemon *d = ctx;

	if (len >= sizeof(struct mg_event)) {
		uint64_t now = mg_mono_ns();
		mg_an_on_event(d->an, data, now);
		mg_daemon_outbreak_event(d, data, now);
	}
	return 0;
}

static int restore_state(struct mg_daemon *d)
{
	uint8_t *buf;
	size_t len;
	int err = mg_state_read(d->cfg.state_file, &buf, &len);

	if (err == -ENOENT)
		return 0;
	if (err) {
		mg_eventlog_notice(&d->log, "notice", "state file %s is damaged; starting without it",
				   d->cfg.state_file);
		return 0;
	}
	uint64_t now = mg_mono_ns();
	err = mg_an_restore(d->an, buf, len, now, mg_mono_to_wall_ns(now));
	free(buf);
	if (err)
		mg_eventlog_notice(&d->log, "notice", "state file %s could not be restored; starting without it",
				   d->cfg.state_file);
	else
		mg_eventlog_notice(&d->log, "notice", "restored state from %s", d->cfg.state_file);
	return 0;
}

int mg_daemon_save_state(struct mg_daemon *d)
{
	uint8_t *buf;
	size_t len;
	uint64_t now = mg_mono_ns();
	int err = mg_an_save(d->an, now, mg_mono_to_wall_ns(now), &buf, &len);

	if (err)
		return err;
	mg_daemon_make_parent_dirs(d->cfg.state_file);
	err = mg_state_write(d->cfg.state_file, buf, len);
	free(buf);
	if (err)
		mg_eventlog_notice(&d->log, "notice", "saving state to %s failed: %s", d->cfg.state_file,
				   strerror(-err));
	d->last_save_ns = mg_mono_ns();
	return err;
}

static int reapply_one(const struct mg_an_profile_view *v, void *arg)
{
	struct mg_daemon *d = arg;
	uint64_t now = mg_mono_ns();

	if (v->role != MG_ROLE_BLOCKED || v->blocked_until_ns <= now)
		return 0;
	/* An operator's block of the same prefix is the one in the kernel. */
	if (mg_daemon_oprules_has(d, &v->prefix, MG_OPRULE_BLOCK))
		return 0;
	mg_policy_block(d->h.block_fd, &v->prefix, d->cfg.an.block_action,
			(v->blocked_until_ns - now + MG_NSEC_PER_SEC - 1) / MG_NSEC_PER_SEC);
	return 0;
}

/*
 * Verdicts restored from the state file go back into the kernel: after a
 * restart the pinned rules are still there (rewriting them is harmless), but
 * after a reboot the blocklist starts empty.
 */
static void reapply_verdicts(struct mg_daemon *d)
{
	mg_an_foreach(d->an, reapply_one, d);
}

void mg_daemon_reapply_verdict(struct mg_daemon *d, const struct mg_prefix *p)
{
	struct mg_an_profile_view v;

	if (mg_an_get(d->an, p->addr, &v) && mg_prefix_eq(&v.prefix, p))
		reapply_one(&v, d);
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
	d->an = mg_an_new(&d->cfg.an);
	if (!d->an || mg_scan_init(&d->scan, 8192)) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	restore_state(d);

	mg_load_opts_default(&lo);
	lo.pin_dir = d->cfg.pin_dir;
	lo.tunables = d->cfg.tunables;
	lo.max_sources = d->cfg.max_sources;
	lo.max_servers = d->cfg.max_servers;
	lo.max_policy = d->cfg.max_policy;
	e = mg_load(&lo, &d->h);
	if (e) {
		snprintf(err, errlen, "loading the XDP program (pin dir %s): %s%s", d->cfg.pin_dir, strerror(-e),
			 e == -EINVAL ? " (pinned maps from an incompatible version or size? see --pin-dir)" : "");
		return e;
	}
	for (size_t i = 0; i < d->cfg.n_ifaces; i++) {
		e = mg_attach(&d->h, d->cfg.ifaces[i].name, d->cfg.ifaces[i].mode);
		if (e) {
			snprintf(err, errlen, "attaching to %s: %s", d->cfg.ifaces[i].name, strerror(-e));
			return e;
		}
	}
	mg_daemon_oprules_start(d);
	push_configured(d);
	reapply_verdicts(d);
	mg_daemon_outbreak_start(d);

	d->rb = ring_buffer__new(d->h.events_fd, on_event, d, NULL);
	if (!d->rb) {
		snprintf(err, errlen, "ring buffer: %s", strerror(errno));
		return -errno;
	}
	mg_daemon_make_parent_dirs(d->cfg.control_socket);
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
	uint64_t iv = d->cfg.scan_interval_ns;
	struct itimerspec its = {
		.it_interval = { .tv_sec = (time_t)(iv / MG_NSEC_PER_SEC), .tv_nsec = (long)(iv % MG_NSEC_PER_SEC) },
		.it_value = { .tv_sec = 0, .tv_nsec = 1000000 },
	};
	timerfd_settime(d->timerfd, 0, &its, NULL);
	if (epoll_add(d->epfd, d->sigfd) || epoll_add(d->epfd, d->timerfd) ||
	    epoll_add(d->epfd, ring_buffer__epoll_fd(d->rb)) || epoll_add(d->epfd, d->ctl.fd)) {
		snprintf(err, errlen, "epoll: %s", strerror(errno));
		return -errno;
	}

	e = mg_daemon_policy_start(d, err, errlen);
	if (e)
		return e;
	if (d->cfg.metrics_listen[0]) {
		d->metrics_http = mg_metrics_http_start(d->cfg.metrics_listen, err, errlen);
		if (!d->metrics_http)
			return -EADDRINUSE;
	}
	d->started_ns = d->last_save_ns = mg_mono_ns();
	uint64_t wd_usec = 0;
	if (sd_watchdog_enabled(0, &wd_usec) > 0)
		d->watchdog_ns = wd_usec * 1000;
	char ifs[256] = "";
	for (size_t i = 0; i < d->cfg.n_ifaces; i++) {
		strncat(ifs, i ? ", " : "", sizeof(ifs) - strlen(ifs) - 1);
		strncat(ifs, d->cfg.ifaces[i].name, sizeof(ifs) - strlen(ifs) - 1);
	}
	mg_eventlog_notice(&d->log, "started", "started on %s%s; pins in %s; control socket %s", ifs,
			   d->cfg.an.monitor ? " in monitor mode" : "", d->cfg.pin_dir, d->cfg.control_socket);
	mg_daemon_metrics(d, d->started_ns);
	/* Under systemd (Type=notify): ready only now, with the program attached and the maps pinned. */
	sd_notifyf(0, "READY=1\nSTATUS=enforcing on %s%s", ifs, d->cfg.an.monitor ? " (monitor mode)" : "");
	return 0;
}

struct active_ctx {
	uint64_t now, n;
};

static int count_active(const struct mg_prefix *p, const struct mg_rule *r, void *arg)
{
	struct active_ctx *c = arg;
	(void)p;
	c->n += !r->expires_ns || r->expires_ns > c->now;
	return 0;
}

void mg_daemon_metrics(struct mg_daemon *d, uint64_t now)
{
	struct mg_metrics_in m = { 0 };
	struct active_ctx ac = { .now = now };

	d->last_metrics_ns = now;
	if (!d->cfg.metrics_textfile[0] && !d->metrics_http)
		return;
	m.have_kernel = mg_stats_read(d->h.stats_fd, &m.kernel) == 0;
	mg_an_count(d->an, m.sources_by_role);
	mg_policy_foreach(d->h.block_fd, count_active, &ac);
	m.verdicts_active = ac.n;
	m.verdicts_issued = d->verdicts_issued;
	m.alerts_issued = d->alerts_issued;
	m.scan_seconds = (double)d->scan_duration_ns / 1e9;
	m.uptime_seconds = (double)(now - d->started_ns) / 1e9;
	m.monitor = d->cfg.an.monitor;
	m.threat_level = d->threat_level;
	m.outbreaks_active = d->ob ? mg_ob_active(d->ob) : 0;
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

struct scan_ctx {
	struct mg_daemon *d;
	uint64_t now;
};

static void feed_profiles(const uint8_t (*keys)[16], const struct mg_src_stats *s, size_t n, void *arg)
{
	struct scan_ctx *c = arg;
	mg_an_on_counters_batch(c->d->an, keys, s, n, c->now);
}

void mg_daemon_scan(struct mg_daemon *d, uint64_t now)
{
	static struct mg_an_action actions[MAX_ACTIONS];
	struct scan_ctx c = { .d = d, .now = now };

	mg_scan_map(&d->scan, d->h.sources_fd, feed_profiles, &c);
	mg_scan_map(&d->scan, d->h.servers_fd, feed_profiles, &c);
	size_t n = mg_an_tick(d->an, now, actions, MAX_ACTIONS);
	mg_daemon_apply(d, actions, n, now);
	d->last_scan_ns = now;
	d->scan_pending = false;
	d->scan_duration_ns = mg_mono_ns() - now;
}

/* A learned mail server's kernel profile moves to mg_servers, where no flood can evict it. */
static void promote(struct mg_daemon *d, const struct mg_prefix *p)
{
	struct mg_src_stats s;

	if (bpf_map_lookup_elem(d->h.sources_fd, p->addr, &s))
		memset(&s, 0, sizeof(s));
	if (bpf_map_update_elem(d->h.servers_fd, p->addr, &s, BPF_ANY) == 0)
		bpf_map_delete_elem(d->h.sources_fd, p->addr);
}

void mg_daemon_apply(struct mg_daemon *d, const struct mg_an_action *a, size_t n, uint64_t now)
{
	uint64_t wall = mg_mono_to_wall_ns(now);

	for (size_t i = 0; i < n; i++) {
		switch (a[i].kind) {
		case MG_AN_BLOCK: {
			/* An operator's block of the same prefix stays as the operator set it. */
			if (mg_daemon_oprules_has(d, &a[i].prefix, MG_OPRULE_BLOCK)) {
				d->verdicts_issued++;
				break;
			}
			uint64_t ttl = a[i].expires_ns > now ? (a[i].expires_ns - now + MG_NSEC_PER_SEC - 1) / MG_NSEC_PER_SEC : 1;
			int e = mg_policy_block(d->h.block_fd, &a[i].prefix, a[i].block_action, ttl);
			if (e)
				mg_eventlog_notice(&d->log, "notice", "writing a block rule failed: %s", strerror(-e));
			d->verdicts_issued++;
			break;
		}
		case MG_AN_UNBLOCK:
			if (!mg_daemon_oprules_has(d, &a[i].prefix, MG_OPRULE_BLOCK))
				mg_policy_remove(d->h.block_fd, &a[i].prefix);
			break;
		case MG_AN_ALERT:
			d->alerts_issued++;
			break;
		case MG_AN_PROMOTE:
			promote(d, &a[i].prefix);
			break;
		}
		mg_eventlog_action(&d->log, &a[i], now, wall);
	}
}

static void reload(struct mg_daemon *d)
{
	struct mg_config c;
	char err[512];

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
	mg_daemon_apply_overrides(d, &c);
	/* What needs a new program (ports, map sizes, pin dir, interfaces) waits for a restart. */
	if (memcmp(&c.tunables, &d->cfg.tunables, sizeof(c.tunables)) || strcmp(c.pin_dir, d->cfg.pin_dir))
		mg_eventlog_notice(&d->log, "notice", "ports, IPv6 aggregation and the pin dir change on restart");
	/* Keep the running data-plane settings; take everything the analyzer and policy use. */
	c.tunables = d->cfg.tunables;
	snprintf(c.pin_dir, sizeof(c.pin_dir), "%s", d->cfg.pin_dir);
	snprintf(c.control_socket, sizeof(c.control_socket), "%s", d->cfg.control_socket);
	if (strcmp(c.metrics_listen, d->cfg.metrics_listen))
		mg_eventlog_notice(&d->log, "notice", "the metrics listen address changes on restart");
	snprintf(c.metrics_listen, sizeof(c.metrics_listen), "%s", d->cfg.metrics_listen);
	/* The old file's allows leave the kernel, but not those the operator also allowed by hand. */
	for (size_t i = 0; i < d->cfg.allowlist.n; i++)
		if (!mg_daemon_oprules_has(d, &d->cfg.allowlist.v[i], MG_OPRULE_ALLOW))
			mg_policy_remove(d->h.allow_fd, &d->cfg.allowlist.v[i]);
	for (size_t i = 0; i < d->cfg.mail_servers.n; i++)
		if (!mg_daemon_oprules_has(d, &d->cfg.mail_servers.v[i], MG_OPRULE_ALLOW))
			mg_policy_remove(d->h.allow_fd, &d->cfg.mail_servers.v[i]);
	mg_config_free(&d->cfg);
	d->cfg = c;
	mg_an_set_config(d->an, &d->cfg.an);
	push_configured(d);
	mg_daemon_outbreak_reload(d);
	mg_eventlog_notice(&d->log, "reloaded", "reloaded %s", d->config_path);
}

/*
 * News (ring-buffer events) triggers a scan at once, but at most one per
 * gap: an event storm must not turn into back-to-back full scans. News that
 * arrives inside the gap is scanned at its end.
 */
#define NEWS_SCAN_GAP_NS (100 * 1000000ull)

int mg_daemon_run(struct mg_daemon *d)
{
	struct epoll_event evs[8];

	d->running = true;
	while (d->running) {
		int timeout = -1;
		if (d->scan_pending) {
			uint64_t since = mg_mono_ns() - d->last_scan_ns;
			timeout = since >= NEWS_SCAN_GAP_NS ? 0 : (int)((NEWS_SCAN_GAP_NS - since) / 1000000 + 1);
		}
		int n = epoll_wait(d->epfd, evs, 8, timeout);
		if (n == 0 && d->scan_pending) {
			/* The news that came during the gap is judged now, not at the next tick. */
			uint64_t now = mg_mono_ns();
			ring_buffer__consume(d->rb);
			if (now - d->last_scan_ns >= NEWS_SCAN_GAP_NS)
				mg_daemon_scan(d, now);
			continue;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			mg_eventlog_notice(&d->log, "notice", "epoll_wait: %s", strerror(errno));
			return 1;
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == d->timerfd) {
				uint64_t ticks;
				if (read(fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
					continue;
				uint64_t now = mg_mono_ns();
				ring_buffer__consume(d->rb); /* events first: they are older than the counters */
				mg_daemon_outbreak_tick(d, now);
				mg_daemon_policy_tick(d, now);
				mg_daemon_oprules_tick(d);
				mg_daemon_scan(d, now);
				if (now - d->last_save_ns >= d->cfg.state_interval_ns)
					mg_daemon_save_state(d);
				if (now - d->last_metrics_ns >= d->cfg.metrics_interval_ns)
					mg_daemon_metrics(d, now);
				/* The watchdog hears from the loop itself: a wedged loop gets restarted. */
				if (d->watchdog_ns && now - d->last_watchdog_ns >= d->watchdog_ns / 2) {
					sd_notify(0, "WATCHDOG=1");
					d->last_watchdog_ns = now;
				}
			} else if (fd == d->sigfd) {
				struct signalfd_siginfo si;
				if (read(fd, &si, sizeof(si)) != sizeof(si))
					continue;
				if (si.ssi_signo == SIGHUP) {
					sd_notify(0, "RELOADING=1");
					reload(d);
					sd_notify(0, "READY=1");
				}
				else
					d->running = false;
			} else if (fd == d->ctl.fd) {
				mg_ctlsock_serve(&d->ctl, mg_daemon_control, d);
			} else if (mg_daemon_policy_event(d, fd, evs[i].events)) {
				/* a Postfix policy request answered */
			} else {
				ring_buffer__consume(d->rb);
				/*
				 * React to news at once rather than at the next timer
				 * tick: this is what keeps time-to-block short.
				 */
				uint64_t now = mg_mono_ns();
				if (now - d->last_scan_ns >= NEWS_SCAN_GAP_NS)
					mg_daemon_scan(d, now);
				else
					d->scan_pending = true;
			}
		}
	}
	return 0;
}

void mg_daemon_stop(struct mg_daemon *d)
{
	sd_notify(0, "STOPPING=1");
	mg_metrics_http_stop(d->metrics_http);
	d->metrics_http = NULL;
	if (d->an && d->h.prog_fd > 0) {
		mg_daemon_save_state(d);
		mg_eventlog_notice(&d->log, "stopped", "stopping; %s", d->detach_on_exit ?
				   "detaching and removing the pins" : "the data plane keeps enforcing");
	}
	mg_daemon_policy_stop(d);
	mg_ctlsock_close(&d->ctl);
	ring_buffer__free(d->rb);
	d->rb = NULL;
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
	mg_scan_free(&d->scan);
	mg_daemon_outbreak_stop(d);
	mg_oprules_free(&d->oprules);
	if (d->an)
		mg_an_free(d->an);
	d->an = NULL;
	mg_eventlog_close(&d->log);
	mg_config_free(&d->cfg);
}
