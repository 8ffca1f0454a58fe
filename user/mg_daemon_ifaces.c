// SPDX-License-Identifier: GPL-2.0-only
/*
 * mg_daemon_ifaces.c - the interfaces mtaguardd guards, kept guarded.
 *
 * An XDP attachment belongs to a device, not to a name: a device deleted
 * and made again (ifdown/ifup of a VLAN, a bond rebuilt, a driver
 * reloaded) comes back without the program, and its link in the pin
 * directory goes defunct. The daemon hears of it from rtnetlink
 * (mg_ifwatch.h), and looks at every interface again at each scan
 * besides; a device of a guarded name without the program gets it again
 * (mg_attach makes a new link where the pinned one is defunct), an uplink's
 * new index is told to the running program (mg_set_uplink), and the
 * operator reads when an interface lost the program and when it has it back
 * (the log, `mtaguardctl status`, mtaguard_interface_attached).
 */
#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <sys/epoll.h>

#include "mg_clock.h"
#include "mg_daemon.h"
#include "mg_ifwatch.h"
#include "mg_loader.h"
#include "mg_names.h"

/* Attaching again failed: said once a minute at most while it goes on failing. */
#define ATTACH_FAIL_LOG_EVERY_NS (60ull * 1000000000ull)

/*
 * The slot of the i-th interface among the uplinks: the loader numbers them
 * in the order they were declared, which is the order of run.ifaces
 * (mg_daemon_start); -1 for an interface that is no uplink.
 */
static int uplink_slot(const struct mg_daemon *d, size_t i)
{
	int slot = 0;

	if (!d->run.ifaces[i].uplink)
		return -1;
	for (size_t j = 0; j < i; j++)
		slot += d->run.ifaces[j].uplink;
	return slot;
}

/* The device of this name changed (made anew, or it is an uplink's first look): the program trusts its index. */
static void take_device(struct mg_daemon *d, size_t i, unsigned ifindex)
{
	int slot = uplink_slot(d, i);

	d->ifw[i].ifindex = ifindex;
	if (slot < 0)
		return;
	int e = mg_set_uplink(&d->h, (unsigned)slot, ifindex);
	if (e)
		mg_eventlog_warning(&d->log, "interface", "uplink %s (ifindex %u): telling the program its new index failed: "
				    "%s; servers' SYN-ACKs and replies arriving there are not trusted until a restart",
				    d->run.ifaces[i].name, ifindex, strerror(-e));
}

/* Look at the i-th interface, attach where it lacks the program; true if it has it now and had not, or lost it. */
static bool look_at(struct mg_daemon *d, size_t i, uint64_t mono)
{
	const char *name = d->run.ifaces[i].name;
	struct mg_iface_watch *w = &d->ifw[i];
	unsigned ifindex = if_nametoindex(name);
	enum mg_xdp_mode mode;
	bool had = w->attached;

	if (!ifindex) {
		if (!w->gone)
			mg_eventlog_warning(&d->log, "interface", "%s is gone: nothing is filtered there; the program is "
					    "attached again as soon as an interface of that name is back", name);
		w->gone = true;
		w->attached = false;
		return had;
	}
	int e = mg_xdp_attached(name, d->h.prog_fd, &mode);
	if (e == 0) {
		if (ifindex != w->ifindex)
			take_device(d, i, ifindex);
		w->attached = true;
		w->gone = false;
		w->attach_err = 0;
		return !had;
	}
	unsigned before = w->ifindex;
	bool was_gone = w->gone;
	w->attached = false;
	w->gone = false;
	e = e == -ENOENT ? mg_attach(&d->h, name, d->run.ifaces[i].mode) : e;
	if (!e)
		e = mg_xdp_attached(name, d->h.prog_fd, &mode);
	if (e) {
		if (e != w->attach_err)
			w->attach_gate = (struct mg_log_gate){ 0 }; /* a new cause is said at once */
		if (mg_log_gate_pass(&w->attach_gate, mono, ATTACH_FAIL_LOG_EVERY_NS))
			mg_eventlog_warning(&d->log, "interface", "%s (ifindex %u) has not the program, and attaching it again "
					    "failed: %s; tried again at every scan (said once a minute at most)", name, ifindex,
					    strerror(-e));
		w->attach_err = e;
		return had;
	}
	take_device(d, i, ifindex);
	w->attached = true;
	w->attach_err = 0;
	const char *how = mg_xdp_mode_name(mode), *up = d->run.ifaces[i].uplink ? ", as an uplink" : "";
	if (!before) {
		mg_eventlog_notice(&d->log, "interface", "%s appeared (ifindex %u): the program is attached (%s)%s", name,
				   ifindex, how, up);
		return true;
	}
	w->reattached++;
	mg_eventlog_notice(&d->log, "interface", "%s %s (ifindex %u, was %u): the program is attached again (%s)%s", name,
			   was_gone ? "is back" : "had lost the program", ifindex, before, how, up);
	return true;
}

/* An interface gained or lost the program: the metrics say it now, not a scan interval later (an alert waits on them). */
static void publish_change(struct mg_daemon *d, bool changed)
{
	if (changed)
		mg_daemon_metrics(d, mg_mono_ns());
}

/* Every interface looked at; true if one gained or lost the program. */
static bool look_at_all(struct mg_daemon *d, uint64_t mono)
{
	bool changed = false;

	for (size_t i = 0; i < d->run.n_ifaces; i++)
		changed |= look_at(d, i, mono);
	return changed;
}

void mg_daemon_ifaces_check(struct mg_daemon *d, uint64_t mono)
{
	publish_change(d, look_at_all(d, mono));
}

/* What the link messages of one read touched. */
struct link_read {
	struct mg_daemon *d;
	bool changed;
};

/* A link message: look at the interface it names, or at the one attached on its index (renamed away). */
static void on_link(unsigned ifindex, const char *name, void *arg)
{
	struct link_read *lr = arg;
	struct mg_daemon *d = lr->d;

	for (size_t i = 0; i < d->run.n_ifaces; i++)
		if (!strcmp(d->run.ifaces[i].name, name) || (ifindex && d->ifw[i].ifindex == ifindex))
			lr->changed |= look_at(d, i, mg_mono_ns());
}

void mg_daemon_ifaces_start(struct mg_daemon *d)
{
	int err = 0;

	/*
	 * Just attached by mg_daemon_start: the devices the names mean now, the
	 * uplinks' as loaded. One not there yet (index 0) is attached to when it
	 * appears; mg_daemon_start says so.
	 */
	for (size_t i = 0; i < d->run.n_ifaces; i++) {
		unsigned ifindex = if_nametoindex(d->run.ifaces[i].name);
		d->ifw[i] = (struct mg_iface_watch){ .ifindex = ifindex, .attached = ifindex != 0, .gone = !ifindex };
	}
	d->ifwatch = mg_ifwatch_open(&err);
	if (d->ifwatch) {
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = mg_ifwatch_fd(d->ifwatch) };
		if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, ev.data.fd, &ev) == 0)
			return;
		err = -errno;
		mg_ifwatch_close(d->ifwatch);
		d->ifwatch = NULL;
	}
	mg_eventlog_notice(&d->log, "notice", "watching for interfaces made anew: %s; each is looked at every scan instead",
			   strerror(-err));
}

bool mg_daemon_ifaces_event(struct mg_daemon *d, int fd)
{
	if (!d->ifwatch || fd != mg_ifwatch_fd(d->ifwatch))
		return false;
	struct link_read lr = { .d = d };
	int r = mg_ifwatch_read(d->ifwatch, on_link, &lr);
	if (r < 0) {
		/* A socket that fails would wake the loop for good: the timer's look goes on alone. */
		mg_eventlog_notice(&d->log, "notice", "reading link messages: %s; interfaces are looked at every scan instead",
				   strerror(-r));
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, fd, NULL);
		mg_daemon_ifaces_stop(d);
	}
	if (r != 0)
		lr.changed |= look_at_all(d, mg_mono_ns()); /* some were lost: every interface, at once */
	publish_change(d, lr.changed);
	return true;
}

void mg_daemon_ifaces_stop(struct mg_daemon *d)
{
	mg_ifwatch_close(d->ifwatch);
	d->ifwatch = NULL;
}
