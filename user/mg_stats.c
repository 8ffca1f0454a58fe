// SPDX-License-Identifier: GPL-2.0-only
/* mg_stats.c - reading the kernel's counters and turning them into JSON. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "mg_addr.h"
#include "mg_stats.h"

static const char *const cmd_names[MG_CMD_MAX] = {
	[MG_CMD_HELO] = "helo", [MG_CMD_EHLO] = "ehlo", [MG_CMD_MAIL] = "mail",
	[MG_CMD_RCPT] = "rcpt", [MG_CMD_DATA] = "data", [MG_CMD_RSET] = "rset",
	[MG_CMD_QUIT] = "quit", [MG_CMD_AUTH] = "auth", [MG_CMD_STARTTLS] = "starttls",
	[MG_CMD_OTHER] = "other",
};
static const char *const reply_names[MG_REPLY_MAX] = { "2xx", "4xx", "5xx" };
static const char *const drop_names[MG_DROP_REASON_MAX] = { "block_smtp", "block_all", "outbreak", "reserved3" };

const char *mg_cmd_name(unsigned cmd)
{
	return cmd < MG_CMD_MAX ? cmd_names[cmd] : "?";
}

/* Per-CPU map values come back as one slot per possible CPU, each rounded to 8 bytes. */
static void *percpu_lookup(int fd, uint32_t key, size_t value_size, int *ncpu, size_t *stride)
{
	int n = libbpf_num_possible_cpus();
	size_t st = (value_size + 7) & ~(size_t)7;
	void *buf;

	if (n <= 0)
		return NULL;
	buf = calloc((size_t)n, st);
	if (!buf)
		return NULL;
	if (bpf_map_lookup_elem(fd, &key, buf)) {
		free(buf);
		return NULL;
	}
	*ncpu = n;
	*stride = st;
	return buf;
}

/* One slot of mg_stats, summed over the CPUs, added to *out. */
static int add_slot(int fd, uint32_t slot, struct mg_global_stats *out)
{
	int n;
	size_t stride;
	uint8_t *buf = percpu_lookup(fd, slot, sizeof(*out), &n, &stride);

	if (!buf)
		return errno ? -errno : -ENOMEM;
	for (int c = 0; c < n; c++) {
		const uint64_t *src = (const uint64_t *)(buf + (size_t)c * stride);
		uint64_t *dst = (uint64_t *)out;
		for (size_t i = 0; i < sizeof(*out) / 8; i++)
			dst[i] += src[i];
	}
	free(buf);
	return 0;
}

int mg_stats_read(int fd, struct mg_global_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (uint32_t slot = 0; slot < MG_IFACE_SLOTS; slot++) {
		int e = add_slot(fd, slot, out);
		if (e)
			return e;
	}
	return 0;
}

int mg_stats_read_slot(int fd, uint32_t slot, struct mg_global_stats *out)
{
	memset(out, 0, sizeof(*out));
	return add_slot(fd, slot % MG_IFACE_SLOTS, out);
}

int mg_source_read(int servers_fd, int sources_fd, const uint8_t key[16], struct mg_src_stats *out,
		   const char **table)
{
	if (servers_fd >= 0 && bpf_map_lookup_elem(servers_fd, key, out) == 0) {
		if (table)
			*table = "servers";
		return 0;
	}
	if (sources_fd >= 0 && bpf_map_lookup_elem(sources_fd, key, out) == 0) {
		if (table)
			*table = "sources";
		return 0;
	}
	return -ENOENT;
}

uint64_t mg_sketch_estimate(int fd, const uint8_t addr[16], uint8_t klass)
{
	int n;
	size_t stride;
	uint8_t *buf = percpu_lookup(fd, 0, sizeof(struct mg_sketch), &n, &stride);
	uint32_t w[4];
	uint64_t best = UINT64_MAX;

	if (!buf)
		return 0;
	memcpy(w, addr, 16);
	uint32_t h = mg_sketch_hash(w, klass);
	for (uint32_t r = 0; r < MG_SKETCH_ROWS; r++) {
		uint64_t sum = 0;
		for (int c = 0; c < n; c++) {
			const struct mg_sketch *sk = (const struct mg_sketch *)(buf + (size_t)c * stride);
			sum += sk->cell[r][mg_sketch_col(h, r)];
		}
		if (sum < best)
			best = sum;
	}
	free(buf);
	return best;
}

unsigned mg_distinct_estimate(uint64_t bits)
{
	/* Linear counting over 64 buckets: n ~ -m ln(zero buckets / m). Saturates near 64 ln 64. */
	int zeros = 64 - __builtin_popcountll(bits);

	if (zeros == 64)
		return 0;
	if (zeros == 0)
		zeros = 1;
	return (unsigned)lround(-64.0 * log(zeros / 64.0));
}

json_t *mg_stats_json(const struct mg_global_stats *s)
{
	json_t *o = json_object();
	json_t *d = json_object();

#define F(name) json_object_set_new(o, #name, json_integer((json_int_t)s->name))
	F(packets); F(passed); F(dropped); F(allowlisted); F(parse_errors); F(non_ip);
	F(fragments); F(syn_smtp); F(smtp_cmds); F(smtp_replies); F(src_created);
	F(src_throttled); F(syn_sketched); F(events_sent); F(events_lost);
	F(drop_events_suppressed); F(monitor_would_drop); F(expired_rules);
	F(flows_established); F(cmds_unproven); F(server_side_refused); F(l4_unknown);
#undef F
	for (int i = 0; i <= MG_DROP_OUTBREAK; i++)
		json_object_set_new(d, drop_names[i], json_integer((json_int_t)s->drop_reason[i]));
	json_object_set_new(o, "drop_reason", d);
	return o;
}

json_t *mg_source_json(const uint8_t key[16], const struct mg_src_stats *s, const char *table)
{
	char buf[MG_ADDRSTRLEN];
	json_t *o = json_object();
	json_t *cmd = json_object();
	json_t *reply = json_object();
	json_t *flags = json_array();

	json_object_set_new(o, "addr", json_string(mg_addr_str(key, buf, sizeof(buf))));
	json_object_set_new(o, "table", json_string(table ? table : "sources"));
	json_object_set_new(o, "first_seen_ns", json_integer((json_int_t)s->first_seen_ns));
	json_object_set_new(o, "last_seen_ns", json_integer((json_int_t)s->last_seen_ns));
	json_object_set_new(o, "syn_mx", json_integer(s->syn_mx));
	json_object_set_new(o, "syn_submission", json_integer(s->syn_submission));
	json_object_set_new(o, "syn_other", json_integer(s->syn_other));
	json_object_set_new(o, "synack_smtp", json_integer(s->synack_smtp));
	for (unsigned i = 0; i < MG_CMD_MAX; i++)
		json_object_set_new(cmd, cmd_names[i], json_integer(s->cmd[i]));
	json_object_set_new(o, "cmd", cmd);
	for (unsigned i = 0; i < MG_REPLY_MAX; i++)
		json_object_set_new(reply, reply_names[i], json_integer(s->reply[i]));
	json_object_set_new(o, "reply", reply);
	json_object_set_new(o, "helo_hash", json_integer(s->helo_hash));
	json_object_set_new(o, "syn_fp_hash", json_integer(s->syn_fp_hash));
	json_object_set_new(o, "mx_destinations_est", json_integer(mg_distinct_estimate(s->mx_dst_bits)));
	json_object_set_new(o, "mac", json_string(mg_mac_str(s->mac, buf, sizeof(buf))));
	json_object_set_new(o, "vlan_outer", json_integer(s->vlan_outer));
	json_object_set_new(o, "vlan_inner", json_integer(s->vlan_inner));
	if (s->flags & MG_SRC_F_PAYLOAD)
		json_array_append_new(flags, json_string("payload"));
	if (s->flags & MG_SRC_F_IPV6)
		json_array_append_new(flags, json_string("ipv6"));
	if (s->flags & MG_SRC_F_SERVES_SMTP)
		json_array_append_new(flags, json_string("serves_smtp"));
	json_object_set_new(o, "flags", flags);
	return o;
}
