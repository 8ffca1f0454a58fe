/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * activity.h - the ordinary activity of every protected address.
 *
 * Every packet whose source lies in a protected network touches that
 * address's record in mg_activity (an IPv6 source: its /64's record): the
 * coarse time, the classes it was ever seen in, a flow counter per class on
 * flow starts, and for IPv6 a bit for its hashed interface ID. The record's
 * index is computed from the address and the range table in the program's
 * read-only data, so there is nothing to insert and nothing to evict: a
 * flood of any size moves counters, never memory, and a spoofed protected
 * source can only move the counters of the address it forges.
 *
 * Cost on ordinary traffic: the range compares (folded to constants by the
 * verifier: no protected networks, no code), one inlined array access and,
 * at most once a second per address, a store. Counters move on flow starts
 * only (SYNs, UDP datagrams to 53 and 443), not on every data segment.
 */
#ifndef MG_BPF_ACTIVITY_H
#define MG_BPF_ACTIVITY_H

#include "mtaguard.h"
#include "parse.h"

/* Well-known ports of the ordinary classes; a port is not configuration here, it is what browsers and resolvers use. */
#define MG_PORT_HTTP  80
#define MG_PORT_HTTPS 443
#define MG_PORT_DNS   53

/*
 * The record index of the address whose top bits are `n` (host order: an
 * IPv4 address, or an IPv6 address's first 64 bits) of IP version `ipv`,
 * or -1 if it lies in no protected network. `ranges` is the rodata table:
 * every read is a constant to the verifier, so unused slots and the other
 * family's ranges cost nothing.
 */
static __always_inline __s64 mg_activity_index_n(const volatile struct mg_act_range *ranges, __u64 n, __u8 ipv)
{
#pragma unroll
	for (int i = 0; i < MG_ACT_MAX_RANGES; i++) {
		if (ranges[i].size == 0)
			break;
		if (ranges[i].family != ipv)
			continue;
		__u64 d = n - ranges[i].base;
		if (d < ranges[i].size)
			return (__s64)(ranges[i].offset + d);
	}
	return -1;
}

/* The record index of the address `a` (of IP version `ipv`), or -1 (mg_activity_index_n). */
static __always_inline __s64 mg_activity_index_of(const volatile struct mg_act_range *ranges,
						  const union mg_addr *a, __u8 ipv)
{
	__u64 n;

	/* First, before the address is read: without protected networks the verifier then drops it all. */
	if (ranges[0].size == 0)
		return -1;
	if (ipv == 4)
		n = bpf_ntohl(a->w[3]);
	else
		n = ((__u64)bpf_ntohl(a->w[0]) << 32) | bpf_ntohl(a->w[1]);
	return mg_activity_index_n(ranges, n, ipv);
}

/* The record index of `p`'s source, or -1 (mg_activity_index_of). */
static __always_inline __s64 mg_activity_index(const volatile struct mg_act_range *ranges, const struct mg_pkt *p)
{
	return mg_activity_index_of(ranges, &p->src, p->ip_version);
}

/* The class of a flow start, or MG_ACT_CLASS_MAX when the packet starts none. */
static __always_inline int mg_activity_class(const struct mg_pkt *p, int dport_class_mx)
{
	if (p->has_tcp) {
		if ((p->tcp_flags & (MG_TCP_SYN | MG_TCP_ACK)) != MG_TCP_SYN)
			return MG_ACT_CLASS_MAX;
		if (p->dport == MG_PORT_HTTPS || p->dport == MG_PORT_HTTP)
			return MG_ACT_WEB;
		if (p->dport == MG_PORT_DNS)
			return MG_ACT_DNS;
		return dport_class_mx ? MG_ACT_MX : MG_ACT_OTHER_TCP;
	}
	if (p->has_udp) {
		if (p->dport == MG_PORT_DNS)
			return MG_ACT_DNS;
		if (p->dport == MG_PORT_HTTPS)
			return MG_ACT_WEB;
	}
	return MG_ACT_CLASS_MAX;
}

/* The record's time, now, and the classes seen: each written only when it changes. */
static __always_inline void mg_activity_mark(struct mg_activity *rec, __u8 classes)
{
	__u32 now = (__u32)(bpf_ktime_get_coarse_ns() >> MG_ACT_TIME_SHIFT);

	if (rec->last_seen != now)
		rec->last_seen = now;
	if ((rec->classes & classes) != classes)
		rec->classes |= classes;
}

/*
 * Note `p` in its source's record. Plain stores, not atomics: RSS keeps a
 * flow on one CPU, a lost increment when two CPUs meet costs nothing the
 * reader relies on, and the time and class bits are written only when they
 * change, so a busy host's record is not a cache line every CPU keeps dirty.
 */
static __always_inline void mg_activity_note(void *map, const volatile struct mg_act_range *ranges,
					     const struct mg_pkt *p, int dport_class_mx)
{
	__s64 idx = mg_activity_index(ranges, p);

	if (idx < 0)
		return;
	__u32 key = (__u32)idx;
	struct mg_activity *rec = bpf_map_lookup_elem(map, &key);
	if (!rec)
		return;
	__u8 classes = MG_ACT_F_SEEN;
	int klass = mg_activity_class(p, dport_class_mx);
	if (klass < MG_ACT_CLASS_MAX) {
		rec->flows[klass]++;
		classes |= (__u8)(1u << klass);
	}
	mg_activity_mark(rec, classes);
	if (p->ip_version == 6) {
		/* The interface ID's hash picks one of 16 bits: how many hosts share the /64, estimated. */
		__u16 bit = mg_act_host_bit(p->src.w[2], p->src.w[3]);
		if (!(rec->hosts & bit))
			rec->hosts |= bit;
	}
}

/*
 * A packet that starts no flow, from the IPv4 address `v4` (host order) or
 * the IPv6 address `a6` (network order, as in the header): its record, if
 * it is protected, is marked seen now, as mg_activity_note marks it (the
 * fast path's, which has no packet record).
 */
static __always_inline void mg_activity_seen4(void *map, const volatile struct mg_act_range *ranges, __u32 v4)
{
	if (ranges[0].size == 0)
		return;
	__s64 idx = mg_activity_index_n(ranges, v4, 4);
	if (idx < 0)
		return;
	__u32 key = (__u32)idx;
	struct mg_activity *rec = bpf_map_lookup_elem(map, &key);
	if (rec)
		mg_activity_mark(rec, MG_ACT_F_SEEN);
}

static __always_inline void mg_activity_seen6(void *map, const volatile struct mg_act_range *ranges,
					      const __be32 *a6)
{
	if (ranges[0].size == 0)
		return;
	__s64 idx = mg_activity_index_n(ranges, ((__u64)bpf_ntohl(a6[0]) << 32) | bpf_ntohl(a6[1]), 6);
	if (idx < 0)
		return;
	__u32 key = (__u32)idx;
	struct mg_activity *rec = bpf_map_lookup_elem(map, &key);
	if (!rec)
		return;
	mg_activity_mark(rec, MG_ACT_F_SEEN);
	__u16 bit = mg_act_host_bit(a6[2], a6[3]);
	if (!(rec->hosts & bit))
		rec->hosts |= bit;
}

#endif
