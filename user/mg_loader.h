/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_loader.h - load the XDP program, pin its maps, attach it to interfaces.
 *
 * Maps are pinned under a pin directory (default /sys/fs/bpf/mtaguard) and
 * reused when already pinned, so a restart keeps counters and rules. Each
 * attachment is a bpf_link pinned as PIN_DIR/link_IFNAME: enforcement goes on
 * after the loader exits, and ends only when that link is removed.
 */
#ifndef MG_LOADER_H
#define MG_LOADER_H

#include <stdbool.h>
#include <errno.h>
#include <stdint.h>
#include "mtaguard.h"
#include "mg_rulemaps.h"
#include "mg_srcfilter.h"

#define MG_DEFAULT_PIN_DIR "/sys/fs/bpf/mtaguard"

enum mg_xdp_mode { MG_MODE_AUTO = 0, MG_MODE_NATIVE, MG_MODE_GENERIC };

struct mg_load_opts {
	const char *pin_dir;          /* NULL: MG_DEFAULT_PIN_DIR */
	struct mg_tunables tunables;  /* start from MG_TUNABLES_DEFAULT */
	/* The uplinks' ifindexes, tunables.n_uplinks of them (mg_load_opts_uplink): written into mg_uplinks at load. */
	uint32_t uplink_ifindex[MG_UPLINKS_MAX];
	uint32_t max_sources, max_servers, max_policy, max_allow, ringbuf_size; /* 0: defaults */
};
void mg_load_opts_default(struct mg_load_opts *o);
/*
 * Declare ifname an uplink: once any is, the program takes servers'
 * SYN-ACKs and replies as such only from uplinks. Slot i of mg_uplinks is
 * the i-th uplink declared (a name declared again keeps its slot): the
 * daemon declares its uplinks in the order of its interface list, and
 * names a slot by that order to mg_set_uplink. Before mg_load; the
 * interface must exist. 0, -ENODEV, or -E2BIG past MG_UPLINKS_MAX.
 */
int mg_load_opts_uplink(struct mg_load_opts *o, const char *ifname);
/*
 * An uplink whose interface does not exist yet (the daemon attaches to it
 * when it appears): its slot, in declaration order, holds no interface
 * (ifindex 0 matches no packet) until mg_set_uplink names the device. 0, or
 * -E2BIG past MG_UPLINKS_MAX.
 */
int mg_load_opts_uplink_absent(struct mg_load_opts *o);

struct mg_xdp;
struct mg_handle {
	struct mg_xdp *skel;  /* loaded skeleton; maps pinned under pin_dir */
	char pin_dir[256];
	int prog_fd;
	/* map fds, valid while the handle lives */
	int block4_fd, allow4_fd; /* the IPv4 rules (8-byte keys); block_fd and allow_fd hold the rest */
	int block_fd, allow_fd, sources_fd, servers_fd, stats_fd, settings_fd, sketch_fd, budget_fd, events_fd, outbreaks_fd;
	int index4_fd, index6_fd, lens_fd; /* the rule index: written through `rules` only */
	int short_fd;                      /* mg_rule_short, the same (the program's own map); -1 under a program from before it */
	/* The rule maps with their index mapped: the one way to write rules (mg_rulemaps.h). */
	struct mg_rulemaps rules;
	int src_filter_fd;
	/* The profile filter, mapped: whoever writes a profile map sets its bit first (mg_srcfilter.h). */
	struct mg_srcfilter src_filter;
	/*
	 * mg_activity mapped read-only, activity_n records laid out as
	 * act_ranges says (loaded handles only; NULL from mg_open_pinned). It is
	 * not pinned: its layout is the protected networks', fixed at load.
	 */
	const struct mg_activity *activity;
	uint32_t activity_n;
	struct mg_act_range act_ranges[MG_ACT_MAX_RANGES];
	/*
	 * mg_uplinks and the loaded n_uplinks (loaded handles only: -1 and 0
	 * from mg_open_pinned, as the map is not pinned: it belongs to one load).
	 */
	int uplinks_fd;
	uint32_t uplinks_n;
};

/*
 * The pin directory's writer lock (flock on the directory, created if
 * missing). While mtaguardd runs it holds the lock: its engine is then the
 * only writer of the rule maps and settings there, and a second daemon or a
 * loader command that loads, attaches or edits rules is refused instead of
 * racing it (two writers of the rule index could leave it disagreeing with
 * the rules). Waits up to wait_ns for a holder to let go (a restart's old
 * process still exiting). Returns the descriptor to hold (close-on-exec, so
 * hooks do not inherit it; closing it releases the lock), -EWOULDBLOCK if
 * another process still holds it, or -errno.
 */
int mg_pin_lock(const char *pin_dir, uint64_t wait_ns);

/*
 * A pin dir from before the IPv4 rules had maps of their own (it has
 * mg_blocklist, not mg_blocklist4): its IPv4 rules sit in maps this program
 * does not probe for them, so mg_load and mg_open_pinned refuse it with
 * MG_ERR_OLD_PINS (unload first; the daemon writes its rules again).
 */
#define MG_ERR_OLD_PINS (-EPROTO)
#define MG_OLD_PINS_HINT "pinned maps from an older mtaguard (IPv4 rules now have maps of their own): " \
			 "run `mtaguard-loader unload` first"

/* Load the program (reusing pinned maps if present) and pin maps and program. */
int mg_load(const struct mg_load_opts *o, struct mg_handle *h);
/*
 * Load a private instance: nothing pinned, nothing shared, gone with the
 * handle (mtaguard-replay runs captures through one). pin_dir is ignored.
 */
int mg_load_private(const struct mg_load_opts *o, struct mg_handle *h);
/* Open an already-loaded instance from its pins only (no new program). */
int mg_open_pinned(const char *pin_dir, struct mg_handle *h);
void mg_close(struct mg_handle *h);

/* Attach the pinned program to ifname in mode; pins the link. Returns 0 or -errno. */
int mg_attach(struct mg_handle *h, const char *ifname, enum mg_xdp_mode mode);
/*
 * How the program of prog_fd (any XDP program when prog_fd <= 0) is attached
 * to ifname as the kernel reports it: MG_MODE_NATIVE or MG_MODE_GENERIC
 * (what "auto" became). 0, -ENOENT if it is not attached there, -ENODEV, -errno.
 */
int mg_xdp_attached(const char *ifname, int prog_fd, enum mg_xdp_mode *mode);
/* Remove the attachment made by mg_attach (unpins and detaches). */
int mg_detach(const char *pin_dir, const char *ifname);
/* Remove every pin under pin_dir (detaching links) and the directory. */
int mg_unload(const char *pin_dir);

/*
 * Point uplink slot `slot` (mg_load_opts_uplink's order) at `ifindex` in the
 * running program: an uplink deleted and made again comes back with a new
 * ifindex, and the program trusts only the ones in mg_uplinks. 0, -EINVAL
 * if slot is not below the loaded n_uplinks, -ENOENT for a handle without
 * the map (mg_open_pinned), or -errno.
 */
int mg_set_uplink(struct mg_handle *h, unsigned slot, uint32_t ifindex);
/* The uplinks' ifindexes as the program reads them. 0, -ENOENT (no map, as above), or -errno. */
int mg_get_uplinks(const struct mg_handle *h, struct mg_uplinks *out);

int mg_set_monitor(int settings_fd, bool on);
int mg_get_monitor(int settings_fd, bool *on);
/* How many signatures mg_outbreaks holds: 0 spares every SYN the fingerprint lookup. */
int mg_set_outbreaks(int settings_fd, uint32_t n);

int mg_parse_mode(const char *s, enum mg_xdp_mode *mode);

#endif
