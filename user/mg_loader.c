// SPDX-License-Identifier: GPL-2.0-only
/*
 * mg_loader.c - load the XDP program, pin its maps and program, attach it.
 *
 * Pins make the data plane independent of any process: maps keep their
 * counters and rules, and pinned links keep the program attached, while the
 * loader or daemon is not running.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "mg_activity.h"
#include "mg_clock.h"
#include "mg_loader.h"
#include "mg_names.h"
#include "mg_xdp.skel.h"

#define PROG_PIN_NAME "mtaguard_xdp"
#define SHORT_PIN_NAME "mg_rule_short" /* the program's .data map (mtaguard.h: mg_rule_short), pinned so a reload keeps it */
#define SHORT_MAP_NAME "mg_xdp.data"   /* the same map's name in the kernel (libbpf: object name, section) */
#define LINK_PIN_PREFIX "link_"

void mg_load_opts_default(struct mg_load_opts *o)
{
	static const struct mg_tunables def = MG_TUNABLES_DEFAULT;

	memset(o, 0, sizeof(*o));
	o->tunables = def;
}

int mg_load_opts_uplink(struct mg_load_opts *o, const char *ifname)
{
	struct mg_tunables *t = &o->tunables;
	unsigned ifindex = if_nametoindex(ifname);

	if (!ifindex)
		return -ENODEV;
	for (unsigned i = 0; i < t->n_uplinks; i++)
		if (o->uplink_ifindex[i] == ifindex)
			return 0;
	if (t->n_uplinks >= MG_UPLINKS_MAX)
		return -E2BIG;
	o->uplink_ifindex[t->n_uplinks++] = ifindex;
	return 0;
}

int mg_load_opts_uplink_absent(struct mg_load_opts *o)
{
	struct mg_tunables *t = &o->tunables;

	if (t->n_uplinks >= MG_UPLINKS_MAX)
		return -E2BIG;
	o->uplink_ifindex[t->n_uplinks++] = 0;
	return 0;
}

int mg_set_uplink(struct mg_handle *h, unsigned slot, uint32_t ifindex)
{
	struct mg_uplinks up;
	uint32_t zero = 0;

	if (h->uplinks_fd < 0)
		return -ENOENT;
	if (slot >= h->uplinks_n)
		return -EINVAL;
	/* The one value holds every slot: the others are written back as they are. */
	if (bpf_map_lookup_elem(h->uplinks_fd, &zero, &up))
		return -errno;
	up.ifindex[slot] = ifindex;
	return bpf_map_update_elem(h->uplinks_fd, &zero, &up, BPF_ANY) ? -errno : 0;
}

int mg_get_uplinks(const struct mg_handle *h, struct mg_uplinks *out)
{
	uint32_t zero = 0;

	if (h->uplinks_fd < 0)
		return -ENOENT;
	return bpf_map_lookup_elem(h->uplinks_fd, &zero, out) ? -errno : 0;
}

static const char *pin_dir_or_default(const char *d)
{
	return d && *d ? d : MG_DEFAULT_PIN_DIR;
}

static int mkdir_p(const char *path)
{
	char buf[256];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

static int pin_path(char *buf, size_t len, const char *dir, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static void fill_fds(struct mg_handle *h)
{
	struct mg_xdp *s = h->skel;

	h->prog_fd = bpf_program__fd(s->progs.mtaguard_xdp);
	h->block_fd = bpf_map__fd(s->maps.mg_blocklist);
	h->allow_fd = bpf_map__fd(s->maps.mg_allowlist);
	h->block4_fd = bpf_map__fd(s->maps.mg_blocklist4);
	h->allow4_fd = bpf_map__fd(s->maps.mg_allowlist4);
	h->sources_fd = bpf_map__fd(s->maps.mg_sources);
	h->servers_fd = bpf_map__fd(s->maps.mg_servers);
	h->stats_fd = bpf_map__fd(s->maps.mg_stats);
	h->settings_fd = bpf_map__fd(s->maps.mg_settings);
	h->sketch_fd = bpf_map__fd(s->maps.mg_syn_sketch);
	h->budget_fd = bpf_map__fd(s->maps.mg_budget);
	h->events_fd = bpf_map__fd(s->maps.mg_events);
	h->outbreaks_fd = bpf_map__fd(s->maps.mg_outbreaks);
	h->index4_fd = bpf_map__fd(s->maps.mg_rule_index4);
	h->index6_fd = bpf_map__fd(s->maps.mg_rule_index6);
	h->lens_fd = bpf_map__fd(s->maps.mg_rule_lens);
	h->short_fd = bpf_map__fd(s->maps.data);
	h->src_filter_fd = bpf_map__fd(s->maps.mg_src_filter);
	h->uplinks_fd = bpf_map__fd(s->maps.mg_uplinks);
}

/* The rule index holds 2^bits words per family, the geometry the program computes buckets with. */
static void size_rule_index(struct mg_xdp *skel, const struct mg_load_opts *o)
{
	bpf_map__set_max_entries(skel->maps.mg_rule_index4, mg_rule_entries4(mg_rule_bits4(o->tunables.rule_v4_bits)));
	bpf_map__set_max_entries(skel->maps.mg_rule_index6, mg_rule_entries6(mg_rule_bits6(o->tunables.rule_v6_bits)));
	bpf_map__set_max_entries(skel->maps.mg_src_filter,
				 mg_src_filter_entries(mg_src_filter_bits(o->tunables.src_filter_bits)));
}

static int open_rules(struct mg_handle *h)
{
	struct mg_rulemap_fds fds = { .block = h->block_fd, .allow = h->allow_fd, .block4 = h->block4_fd,
				      .allow4 = h->allow4_fd, .index4 = h->index4_fd, .index6 = h->index6_fd,
				      .lens = h->lens_fd, .shorts = h->short_fd };
	int err = mg_rulemaps_open(&h->rules, &fds);

	return err ? err : mg_srcfilter_open(&h->src_filter, h->src_filter_fd);
}

/* mg_activity holds a record per protected address: as many as the range table asks, at least one (an array's minimum). */
static void size_activity(struct mg_xdp *skel, const struct mg_load_opts *o)
{
	uint32_t n = mg_act_records(o->tunables.act);

	bpf_map__set_max_entries(skel->maps.mg_activity, n ? n : 1);
}

/* Map the records read-only: the daemon reads every one each scan, without a syscall. */
static int map_activity(struct mg_handle *h, const struct mg_load_opts *o)
{
	uint32_t n = bpf_map__max_entries(h->skel->maps.mg_activity);
	size_t len = (size_t)n * sizeof(struct mg_activity);
	long page = sysconf(_SC_PAGESIZE);
	void *m;

	len = (len + (size_t)page - 1) & ~((size_t)page - 1);
	m = mmap(NULL, len, PROT_READ, MAP_SHARED, bpf_map__fd(h->skel->maps.mg_activity), 0);
	if (m == MAP_FAILED)
		return -errno;
	h->activity = m;
	h->activity_n = n;
	memcpy(h->act_ranges, o->tunables.act, sizeof(h->act_ranges));
	return 0;
}

int mg_pin_lock(const char *pin_dir, uint64_t wait_ns)
{
	const char *dir = pin_dir_or_default(pin_dir);
	const struct timespec pause = { .tv_nsec = 50 * 1000 * 1000 };
	uint64_t waited = 0;
	int fd, err = mkdir_p(dir);

	if (err)
		return err;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (flock(fd, LOCK_EX | LOCK_NB)) {
		err = errno;
		if (err != EWOULDBLOCK || waited >= wait_ns) {
			close(fd);
			return -err;
		}
		nanosleep(&pause, NULL);
		waited += (uint64_t)pause.tv_nsec;
	}
	return fd;
}

/* Open the object with the options' tunables and map sizes, not loaded yet; NULL with errno. */
static struct mg_xdp *open_sized(const struct mg_load_opts *o)
{
	struct mg_xdp *skel = mg_xdp__open();

	if (!skel)
		return NULL;
	skel->rodata->mg_cfg = o->tunables;
	if (!skel->rodata->mg_cfg.tick_ns)
		skel->rodata->mg_cfg.tick_ns = mg_tick_ns(); /* this kernel's: the token buckets' clock */
	if (o->max_sources)
		bpf_map__set_max_entries(skel->maps.mg_sources, o->max_sources);
	if (o->max_servers)
		bpf_map__set_max_entries(skel->maps.mg_servers, o->max_servers);
	/* Each family's map may have to hold every rule (a list may be all IPv4 or all IPv6); unused entries cost nothing. */
	if (o->max_policy) {
		bpf_map__set_max_entries(skel->maps.mg_blocklist, o->max_policy);
		bpf_map__set_max_entries(skel->maps.mg_blocklist4, o->max_policy);
	}
	if (o->max_allow) {
		bpf_map__set_max_entries(skel->maps.mg_allowlist, o->max_allow);
		bpf_map__set_max_entries(skel->maps.mg_allowlist4, o->max_allow);
	}
	if (o->ringbuf_size)
		bpf_map__set_max_entries(skel->maps.mg_events, o->ringbuf_size);
	size_activity(skel, o);
	size_rule_index(skel, o);
	return skel;
}

/* The uplinks' ifindexes the options name, in their slots: the program reads them from the first packet. */
static int write_uplinks(struct mg_handle *h, const struct mg_load_opts *o)
{
	struct mg_uplinks up = { 0 };
	uint32_t zero = 0;

	if (o->tunables.n_uplinks > MG_UPLINKS_MAX) /* set by hand past the slots the map has */
		return -EINVAL;
	h->uplinks_n = o->tunables.n_uplinks;
	memcpy(up.ifindex, o->uplink_ifindex, h->uplinks_n * sizeof(up.ifindex[0]));
	return bpf_map_update_elem(h->uplinks_fd, &zero, &up, BPF_ANY) ? -errno : 0;
}

/* The handle takes the loaded object: its descriptors, the uplinks, the activity records and the rule maps. */
static int take_loaded(const struct mg_load_opts *o, struct mg_handle *h, struct mg_xdp *skel)
{
	int err;

	h->skel = skel;
	fill_fds(h);
	err = write_uplinks(h, o);
	if (!err)
		err = map_activity(h, o);
	if (!err)
		err = open_rules(h);
	if (err) {
		mg_close(h);
		return err;
	}
	return 0;
}

/*
 * Pinned maps that hold counts and nothing else (the program's statistics,
 * its token buckets, the SYN sketch): a release that changes one's layout
 * starts it over here, rather than have libbpf refuse the pin and the
 * operator unload (enforcement off for a moment) for a counter. The running
 * program keeps counting into the old map until its link moves to this
 * load's program. Every other pinned map holds state (rules, profiles,
 * flows): a layout change there still asks for an unload.
 */
static const char *const counts_only[] = { "mg_stats", "mg_budget", "mg_syn_sketch" };

static int start_outgrown_counts_over(struct mg_xdp *skel, const char *dir)
{
	for (size_t i = 0; i < sizeof(counts_only) / sizeof(counts_only[0]); i++) {
		struct bpf_map *map = bpf_object__find_map_by_name(skel->obj, counts_only[i]);
		struct bpf_map_info info = { 0 };
		__u32 len = sizeof(info);
		char path[512];

		if (!map || pin_path(path, sizeof(path), dir, counts_only[i]))
			return -EINVAL;
		int fd = bpf_obj_get(path);
		if (fd < 0)
			continue; /* none pinned yet */
		int err = bpf_obj_get_info_by_fd(fd, &info, &len) ? -errno : 0;
		close(fd);
		if (err)
			return err;
		if (info.type == bpf_map__type(map) && info.key_size == bpf_map__key_size(map) &&
		    info.value_size == bpf_map__value_size(map) && info.max_entries == bpf_map__max_entries(map))
			continue;
		if (unlink(path))
			return -errno;
	}
	return 0;
}

/* Pins of an older layout: a 20-byte rule map without its IPv4 companion (MG_ERR_OLD_PINS). */
static bool pins_outdated(const char *dir)
{
	char old[512], new[512];

	if (pin_path(old, sizeof(old), dir, "mg_blocklist") || pin_path(new, sizeof(new), dir, "mg_blocklist4"))
		return false;
	return access(old, F_OK) == 0 && access(new, F_OK) != 0;
}

/*
 * Pin the handle's program in dir, replacing the one pinned there in one
 * step: pinned beside it under a temporary name, then renamed over it, so
 * that a failure (or a crash) in between leaves the old pin in place, never
 * none. Links already attached keep their program until they are updated.
 */
static int pin_program(struct mg_handle *h, const char *dir)
{
	char path[512], tmp[520];
	int err = pin_path(path, sizeof(path), dir, PROG_PIN_NAME);

	if (err)
		return err;
	snprintf(tmp, sizeof(tmp), "%s_new", path); /* bpffs takes no '.' in a name */
	unlink(tmp); /* left by a load that died between the two steps */
	err = bpf_program__pin(h->skel->progs.mtaguard_xdp, tmp);
	if (err)
		return err < 0 ? err : -err;
	if (rename(tmp, path)) {
		err = -errno;
		unlink(tmp);
		return err;
	}
	return 0;
}

int mg_load(const struct mg_load_opts *o, struct mg_handle *h)
{
	const char *dir = pin_dir_or_default(o->pin_dir);
	struct mg_xdp *skel;
	struct bpf_map *map;
	char path[512];
	int err;

	memset(h, 0, sizeof(*h));
	snprintf(h->pin_dir, sizeof(h->pin_dir), "%s", dir);
	err = mkdir_p(dir);
	if (err)
		return err;

	if (pins_outdated(dir))
		return MG_ERR_OLD_PINS;
	skel = open_sized(o);
	if (!skel)
		return -errno ? -errno : -EINVAL;
	err = start_outgrown_counts_over(skel, dir);
	if (err)
		goto fail;

	/*
	 * Named maps are pinned, and reused if already pinned: a reload keeps
	 * state. Not mg_activity: its layout is this load's protected networks,
	 * and a start after they changed must not read another layout's records.
	 * Nor mg_uplinks: this load writes it from its options, and the daemon
	 * keeps it current while it runs.
	 */
	bpf_object__for_each_map(map, skel->obj) {
		if (bpf_map__is_internal(map) || map == skel->maps.mg_activity || map == skel->maps.mg_uplinks)
			continue;
		err = pin_path(path, sizeof(path), dir, bpf_map__name(map));
		if (!err)
			err = bpf_map__set_pin_path(map, path);
		if (err)
			goto fail;
	}
	/* The program's .data, mg_rule_short alone: under that name (bpffs takes no '.'). */
	err = pin_path(path, sizeof(path), dir, SHORT_PIN_NAME);
	if (!err)
		err = bpf_map__set_pin_path(skel->maps.data, path);
	if (err)
		goto fail;
	err = mg_xdp__load(skel);
	if (err)
		goto fail;
	/*
	 * The handle's setup (uplinks, activity records, rule maps) before the
	 * program's pin: a load that fails leaves the pinned program as it was.
	 */
	err = take_loaded(o, h, skel);
	if (err)
		return err; /* take_loaded closed skel */
	err = pin_program(h, dir);
	if (err)
		mg_close(h);
	return err;
fail:
	mg_xdp__destroy(skel);
	return err < 0 ? err : -err;
}

int mg_load_private(const struct mg_load_opts *o, struct mg_handle *h)
{
	struct mg_xdp *skel;
	int err;

	memset(h, 0, sizeof(*h));
	skel = open_sized(o);
	if (!skel)
		return -errno ? -errno : -EINVAL;
	err = mg_xdp__load(skel);
	if (err) {
		mg_xdp__destroy(skel);
		return err < 0 ? err : -err;
	}
	return take_loaded(o, h, skel);
}

static int obj_get(const char *dir, const char *name)
{
	char path[512];

	if (pin_path(path, sizeof(path), dir, name))
		return -1;
	return bpf_obj_get(path);
}

/*
 * The pinned program's own .data map (mg_rule_short), found among the maps
 * the program holds, not by its pin: a pin deleted by hand under a current
 * program must not read as "a release from before it", or rules written
 * through this handle would leave the flag behind and a short block would
 * fail open on the fast path. Its fd; -1 when the program has none (a
 * release from before it, whose program does not read it); -errno.
 */
static int prog_data_map(int prog_fd)
{
	__u32 ids[64], n;
	struct bpf_prog_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	info.nr_map_ids = sizeof(ids) / sizeof(ids[0]);
	info.map_ids = (__u64)(unsigned long)ids;
	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len))
		return -errno;
	/* More maps than room to list them (the program has about thirty): an error, not "none". */
	if (info.nr_map_ids > sizeof(ids) / sizeof(ids[0]))
		return -E2BIG;
	n = info.nr_map_ids;
	for (__u32 i = 0; i < n; i++) {
		struct bpf_map_info mi;
		__u32 mlen = sizeof(mi);
		int fd = bpf_map_get_fd_by_id(ids[i]);

		if (fd < 0)
			return -errno;
		memset(&mi, 0, sizeof(mi));
		if (bpf_obj_get_info_by_fd(fd, &mi, &mlen)) {
			int err = -errno;
			close(fd);
			return err;
		}
		if (strcmp(mi.name, SHORT_MAP_NAME) == 0 && mi.value_size >= sizeof(__u32))
			return fd;
		close(fd);
	}
	return -1;
}

int mg_open_pinned(const char *pin_dir, struct mg_handle *h)
{
	const char *dir = pin_dir_or_default(pin_dir);

	memset(h, 0, sizeof(*h));
	snprintf(h->pin_dir, sizeof(h->pin_dir), "%s", dir);
	h->prog_fd = obj_get(dir, PROG_PIN_NAME);
	h->block_fd = obj_get(dir, "mg_blocklist");
	h->allow_fd = obj_get(dir, "mg_allowlist");
	h->block4_fd = obj_get(dir, "mg_blocklist4");
	h->allow4_fd = obj_get(dir, "mg_allowlist4");
	h->sources_fd = obj_get(dir, "mg_sources");
	h->servers_fd = obj_get(dir, "mg_servers");
	h->stats_fd = obj_get(dir, "mg_stats");
	h->settings_fd = obj_get(dir, "mg_settings");
	h->sketch_fd = obj_get(dir, "mg_syn_sketch");
	h->budget_fd = obj_get(dir, "mg_budget");
	h->events_fd = obj_get(dir, "mg_events");
	h->outbreaks_fd = obj_get(dir, "mg_outbreaks");
	h->index4_fd = obj_get(dir, "mg_rule_index4");
	h->index6_fd = obj_get(dir, "mg_rule_index6");
	h->lens_fd = obj_get(dir, "mg_rule_lens");
	h->src_filter_fd = obj_get(dir, "mg_src_filter");
	h->uplinks_fd = -1; /* not pinned: only the loading process writes it */
	if (pins_outdated(dir)) {
		mg_close(h);
		return MG_ERR_OLD_PINS;
	}
	if (h->prog_fd < 0 || h->block_fd < 0 || h->allow_fd < 0 || h->block4_fd < 0 || h->allow4_fd < 0 || h->sources_fd < 0 || h->servers_fd < 0 || h->stats_fd < 0 ||
	    h->settings_fd < 0 || h->sketch_fd < 0 || h->budget_fd < 0 || h->events_fd < 0 || h->outbreaks_fd < 0 ||
	    h->index4_fd < 0 || h->index6_fd < 0 || h->lens_fd < 0 || h->src_filter_fd < 0) {
		int err = -errno;
		mg_close(h);
		return err ? err : -ENOENT;
	}
	h->short_fd = prog_data_map(h->prog_fd);
	if (h->short_fd < -1) {
		int err = h->short_fd;
		h->short_fd = -1;
		mg_close(h);
		return err;
	}
	int err = open_rules(h);
	if (err)
		mg_close(h);
	return err;
}

void mg_close(struct mg_handle *h)
{
	mg_rulemaps_close(&h->rules);
	mg_srcfilter_close(&h->src_filter);
	if (h->activity) {
		size_t len = (size_t)h->activity_n * sizeof(struct mg_activity);
		long page = sysconf(_SC_PAGESIZE);
		munmap((void *)h->activity, (len + (size_t)page - 1) & ~((size_t)page - 1));
	}
	if (h->skel) {
		mg_xdp__destroy(h->skel); /* closes the fds it owns */
	} else {
		int *fds[] = { &h->prog_fd, &h->block_fd, &h->allow_fd, &h->block4_fd, &h->allow4_fd, &h->sources_fd, &h->servers_fd, &h->stats_fd,
			       &h->settings_fd, &h->sketch_fd, &h->budget_fd, &h->events_fd, &h->outbreaks_fd,
			       &h->index4_fd, &h->index6_fd, &h->lens_fd, &h->short_fd, &h->src_filter_fd, &h->uplinks_fd };
		for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
			if (*fds[i] > 0)
				close(*fds[i]);
	}
	memset(h, 0, sizeof(*h));
}

int mg_parse_mode(const char *s, enum mg_xdp_mode *mode)
{
	return mg_xdp_mode_parse(s, mode);
}

static int link_create(int prog_fd, int ifindex, __u32 flags)
{
	LIBBPF_OPTS(bpf_link_create_opts, lo, .flags = flags);
	int fd = bpf_link_create(prog_fd, ifindex, BPF_XDP, &lo);

	return fd < 0 ? -errno : fd;
}

int mg_attach(struct mg_handle *h, const char *ifname, enum mg_xdp_mode mode)
{
	char name[64], path[512];
	unsigned ifindex = if_nametoindex(ifname);
	int fd, err;

	if (!ifindex)
		return -ENODEV;
	snprintf(name, sizeof(name), LINK_PIN_PREFIX "%s", ifname);
	if (pin_path(path, sizeof(path), h->pin_dir, name))
		return -ENAMETOOLONG;

	/*
	 * Already attached by us: swap the program in place, so enforcement
	 * never stops. Unless the pinned link is no longer on this interface:
	 * the device it was made on was deleted (the link is defunct) or
	 * renamed, and the interface of this name is a new one. That pin is
	 * let go (detaching a renamed device, which is no longer the one named
	 * here) and a link made for the device the name means now.
	 */
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		struct bpf_link_info info = { 0 };
		__u32 len = sizeof(info);
		if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && info.type == BPF_LINK_TYPE_XDP &&
		    info.xdp.ifindex != ifindex) {
			close(fd);
			if (unlink(path) && errno != ENOENT)
				return -errno;
		} else {
			err = bpf_link_update(fd, h->prog_fd, NULL) ? -errno : 0;
			close(fd);
			return err;
		}
	}

	if (mode == MG_MODE_NATIVE)
		fd = link_create(h->prog_fd, (int)ifindex, XDP_FLAGS_DRV_MODE);
	else if (mode == MG_MODE_GENERIC)
		fd = link_create(h->prog_fd, (int)ifindex, XDP_FLAGS_SKB_MODE);
	else {
		fd = link_create(h->prog_fd, (int)ifindex, XDP_FLAGS_DRV_MODE);
		if (fd < 0 && fd != -EBUSY && fd != -EEXIST)
			fd = link_create(h->prog_fd, (int)ifindex, XDP_FLAGS_SKB_MODE);
	}
	if (fd < 0)
		return fd;
	err = bpf_obj_pin(fd, path) ? -errno : 0;
	if (err)
		bpf_link_detach(fd);
	close(fd);
	return err;
}

int mg_xdp_attached(const char *ifname, int prog_fd, enum mg_xdp_mode *mode)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	struct bpf_prog_info info = { 0 };
	__u32 len = sizeof(info);
	unsigned ifindex = if_nametoindex(ifname);

	if (!ifindex)
		return -ENODEV;
	if (bpf_xdp_query((int)ifindex, 0, &q))
		return -errno;
	/* Ours, when we know which program is ours: another one there is not what enforces. */
	__u32 id = prog_fd > 0 && bpf_obj_get_info_by_fd(prog_fd, &info, &len) == 0 ? info.id : 0;
	if (q.drv_prog_id && (!id || q.drv_prog_id == id))
		*mode = MG_MODE_NATIVE;
	else if (q.skb_prog_id && (!id || q.skb_prog_id == id))
		*mode = MG_MODE_GENERIC;
	else
		return -ENOENT;
	return 0;
}

static int detach_path(const char *path)
{
	int fd = bpf_obj_get(path);
	int err = 0;

	if (fd < 0)
		return -errno;
	if (bpf_link_detach(fd))
		err = -errno;
	close(fd);
	if (unlink(path) && !err)
		err = -errno;
	return err;
}

int mg_detach(const char *pin_dir, const char *ifname)
{
	char name[64], path[512];

	snprintf(name, sizeof(name), LINK_PIN_PREFIX "%s", ifname);
	if (pin_path(path, sizeof(path), pin_dir_or_default(pin_dir), name))
		return -ENAMETOOLONG;
	return detach_path(path);
}

int mg_unload(const char *pin_dir)
{
	const char *dir = pin_dir_or_default(pin_dir);
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[512];
	int err = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (pin_path(path, sizeof(path), dir, de->d_name))
			continue;
		if (!strncmp(de->d_name, LINK_PIN_PREFIX, strlen(LINK_PIN_PREFIX))) {
			int e = detach_path(path);
			if (e && !err)
				err = e;
		} else if (unlink(path) && !err) {
			err = -errno;
		}
	}
	closedir(d);
	if (rmdir(dir) && !err)
		err = -errno;
	return err;
}

int mg_set_monitor(int settings_fd, bool on)
{
	uint32_t zero = 0;
	struct mg_settings s;

	if (bpf_map_lookup_elem(settings_fd, &zero, &s))
		return -errno;
	s.monitor = on;
	return bpf_map_update_elem(settings_fd, &zero, &s, BPF_ANY) ? -errno : 0;
}

int mg_set_outbreaks(int settings_fd, uint32_t n)
{
	uint32_t zero = 0;
	struct mg_settings s;

	if (bpf_map_lookup_elem(settings_fd, &zero, &s))
		return -errno;
	s.outbreaks = n;
	return bpf_map_update_elem(settings_fd, &zero, &s, BPF_ANY) ? -errno : 0;
}

int mg_get_monitor(int settings_fd, bool *on)
{
	uint32_t zero = 0;
	struct mg_settings s;

	if (bpf_map_lookup_elem(settings_fd, &zero, &s))
		return -errno;
	*on = s.monitor != 0;
	return 0;
}
