// SPDX-License-Identifier: GPL-2.0-only
/*
 * mtaguard.bpf.c - the XDP data plane.
 *
 * Per packet: parse; the rule index (by source address); then,
 * only for SYNs and SMTP segments, per-source accounting and events. Anything
 * we cannot parse passes: the program must never break a network it does not
 * understand.
 *
 * Costs are kept where they belong:
 *  - an ordinary packet (not a SYN, not an SMTP segment) from an unlisted
 *    source costs parsing plus two inlined array reads (the rule index,
 *    policy.h), whatever the number of rules; it never touches per-source
 *    state, but for a protected source's fixed activity record (activity.h);
 *    over IPv4 without options or IPv6 without extension headers it is
 *    passed before a packet record is filled (the fast path);
 *  - per-source entries are created only on SMTP commands in payload or, for
 *    SYNs, at a capped rate per CPU, so a spoofed SYN flood cannot flush the
 *    LRU of real profiles; SYNs it may not profile go to a count-min sketch;
 *  - mail servers' profiles live in mg_servers, a plain hash the program only
 *    updates in place: no packet can evict them;
 *  - commands count as evidence only as far as they are proven (handshake.h):
 *    where the box sees both directions, only on connections whose handshake
 *    it saw complete, so spoofed payload neither profiles nor reports anyone.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "mtaguard.h"
#include "parse.h"
#include "policy.h"
#include "smtp.h"
#include "fingerprint.h"
#include "activity.h"
#include "handshake.h"

char LICENSE[] SEC("license") = "GPL";

/* Load-time tunables; the loader writes them before load. */
const volatile struct mg_tunables mg_cfg = MG_TUNABLES_DEFAULT;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct mg_src_key);
	__type(value, struct mg_src_stats);
	__uint(max_entries, MG_DEFAULT_MAX_SOURCES);
} mg_sources SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct mg_src_key);
	__type(value, struct mg_src_stats);
	__uint(max_entries, MG_DEFAULT_MAX_SERVERS);
} mg_servers SEC(".maps");

/* The profile filter (mtaguard.h): sized by the loader to its tunable; mmapable for the daemon's refresh. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, mg_src_filter_entries(MG_SRC_FILTER_BITS_DEFAULT));
	__uint(map_flags, BPF_F_MMAPABLE);
} mg_src_filter SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct mg_global_stats);
	__uint(max_entries, MG_IFACE_SLOTS);
} mg_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct mg_settings);
	__uint(max_entries, 1);
} mg_settings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct mg_sketch);
	__uint(max_entries, 1);
} mg_syn_sketch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct mg_budget);
	__uint(max_entries, 1);
} mg_budget SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct mg_outbreak_sig);
	__uint(max_entries, MG_DEFAULT_MAX_OUTBREAKS);
} mg_outbreaks SEC(".maps");

/*
 * Ordinary activity per protected address (bpf/activity.h). Sized by the
 * loader to the protected networks (one record when there are none), and
 * mmapable: the daemon reads every record each scan without a syscall.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct mg_activity);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
} mg_activity SEC(".maps");

/*
 * The uplinks' ifindexes (struct mg_uplinks): written by the loader after
 * load and by the daemon when an uplink is made again with a new ifindex.
 * Not pinned: it belongs to one load.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct mg_uplinks);
	__uint(max_entries, 1);
} mg_uplinks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, MG_DEFAULT_RINGBUF_SIZE);
} mg_events SEC(".maps");

/* Which class of SMTP port `port` is: MX (25), submission (465, 587), or none. */
enum { MG_PORT_NONE = 0, MG_PORT_MX, MG_PORT_SUBMISSION };

/*
 * Is `port` in one of the four 16-bit lanes of `lanes` (a class's ports as
 * one word; unused lanes are 0, never a port)? The XOR zeroes a matching
 * lane and the has-zero-lane test finds it: a few ALU operations instead of
 * a load and a compare per slot, on every TCP packet. mg_port_hit is that
 * test alone, nonzero on a hit: a port 0 hits the unused lanes, which
 * mg_port_in rules out.
 */
static __always_inline __u64 mg_port_hit(__u64 lanes, __u16 port)
{
	__u64 x = lanes ^ ((__u64)port * 0x0001000100010001ull);

	return (x - 0x0001000100010001ull) & ~x & 0x8000800080008000ull;
}

static __always_inline int mg_port_in(__u64 lanes, __u16 port)
{
	return port != 0 && mg_port_hit(lanes, port) != 0;
}

static __always_inline int mg_port_class(__u16 port)
{
	if (mg_port_in(*(const volatile __u64 *)mg_cfg.mx_ports, port))
		return MG_PORT_MX;
	if (mg_port_in(*(const volatile __u64 *)mg_cfg.submission_ports, port))
		return MG_PORT_SUBMISSION;
	return MG_PORT_NONE;
}
_Static_assert(MG_PORTS_PER_CLASS == 4 && __builtin_offsetof(struct mg_tunables, submission_ports) == 8,
	       "a class's ports are one 8-byte word");

/*
 * The frame's source MAC as the low 48 bits of a word (byte i of the
 * address is byte i of the word, as it lies in memory; 0 if the frame is too
 * short): read where a profile or an event keeps it, not parsed for every
 * packet. A word, so that the callers store it with the 16-bit field that
 * follows it in one 8-byte store, not six byte stores (the compiler cannot
 * know a byte array's alignment).
 */
static __always_inline __u64 mg_frame_mac(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	if (data + 12 > data_end)
		return 0;
	return (__u64)*(__u32 *)(data + 6) | (__u64)*(__u16 *)(data + 10) << 32;
}

/* Store a MAC word (mg_frame_mac) and the 16-bit field after it as one 8-byte word at `mac`, 8-aligned. */
static __always_inline void mg_store_mac(__u8 *mac, __u64 mac48, __u16 next)
{
	*(__u64 *)mac = mac48 | (__u64)next << 48;
}
_Static_assert(__builtin_offsetof(struct mg_src_stats, mac) % 8 == 0 &&
	       __builtin_offsetof(struct mg_src_stats, vlan_outer) == __builtin_offsetof(struct mg_src_stats, mac) + 6,
	       "a profile's MAC and outer VLAN are one aligned word");
_Static_assert(__builtin_offsetof(struct mg_event, mac) % 8 == 0 &&
	       __builtin_offsetof(struct mg_event, sport) == __builtin_offsetof(struct mg_event, mac) + 6,
	       "an event's MAC and source port are one aligned word");
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "mg_store_mac lays the MAC out little-endian"
#endif

/*
 * Now, on the token buckets' clock: the tick count in nanoseconds, one load
 * the verifier inlines, where bpf_ktime_get_coarse_ns() is a helper call (a
 * tick is the coarse clock's resolution too). A flood's refused SYN and a
 * drop whose event is suppressed then read no other clock. Buckets compare
 * these times only with each other. The tick's length comes from the
 * loader (clock_getres of the coarse clock; HZ is not the program's to
 * read without the kernel's config file); without it, the coarse clock.
 */
static __always_inline __u64 mg_bucket_now(void)
{
	if (!mg_cfg.tick_ns)
		return bpf_ktime_get_coarse_ns();
	return bpf_jiffies64() * mg_cfg.tick_ns;
}

/* Token bucket with credit kept in nanoseconds: cost per token is 1e9/rate. */
static __always_inline int mg_bucket_take(struct mg_bucket *b, __u32 rate, __u32 burst)
{
	if (rate == 0)
		return 0;
	__u64 now = mg_bucket_now();
	if (b->rate != rate) {
		b->cost_ns = 1000000000ull / rate;
		b->rate = rate;
	}
	__u64 cost = b->cost_ns;
	__u64 cap = cost * (burst ? burst : 1);
	__u64 credit = b->credit_ns + (now - b->last_ns);

	if (credit > cap || now < b->last_ns)
		credit = cap;
	b->last_ns = now;
	if (credit < cost) {
		b->credit_ns = credit;
		return 0;
	}
	b->credit_ns = credit - cost;
	return 1;
}

static __always_inline struct mg_budget *mg_budget_get(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&mg_budget, &zero);
}

/*
 * The per-source key: the address, IPv6 aggregated to v6_src_prefix or to
 * the aggregation of the longest protected network in v6_nets that covers it
 * (the analyzer keys its profiles by the same rule: mg_an_v6_key_len).
 */
static __always_inline void mg_src_key_of(const union mg_addr *a, __u8 ip_version, union mg_addr *key)
{
	*key = *a;
	if (ip_version != 6)
		return;
	__u32 plen = mg_cfg.v6_src_prefix, best = 0;
	for (__u32 i = 0; i < MG_V6_NETS_MAX && i < mg_cfg.n_v6_nets; i++) {
		struct mg_v6_net n = mg_cfg.v6_nets[i];
		if (n.prefixlen >= best && mg_v6_net_covers(&n, a->b)) {
			best = n.prefixlen;
			plen = n.aggregation;
		}
	}
	mg_mask_prefix(key->b, plen);
}

/* Where a key's bit lies in the profile filter: word index in generation 0 (the other is `words` on), and the bit. */
static __always_inline __u32 mg_filter_pos(const union mg_addr *key, __u32 *words, __u64 *bit)
{
	__u32 bits = mg_src_filter_bits(mg_cfg.src_filter_bits);
	__u32 b = mg_src_filter_bit(key->w, bits);

	*words = 1u << (bits - 6);
	*bit = 1ull << (b & 63);
	return b >> 6;
}

/* May `key` have a profile? No, for certain, when its bit in the selected generation is clear. */
static __always_inline int mg_profile_maybe(const union mg_addr *key)
{
	__u32 words, sel_idx;
	__u64 bit;
	__u32 i = mg_filter_pos(key, &words, &bit);

	sel_idx = 2 * words;
	__u64 *sel = bpf_map_lookup_elem(&mg_src_filter, &sel_idx);
	if (!sel)
		return 1;
	i += (*sel & 1) * words;
	__u64 *w = bpf_map_lookup_elem(&mg_src_filter, &i);
	return !w || (*w & bit);
}

/* A profile is about to be created for `key`: its bit, in both generations, before anyone can find it. */
static __always_inline void mg_profile_mark(const union mg_addr *key)
{
	__u32 words;
	__u64 bit;
	__u32 i = mg_filter_pos(key, &words, &bit), j = i + words;
	__u64 *w = bpf_map_lookup_elem(&mg_src_filter, &i);

	if (w && !(*w & bit))
		__sync_fetch_and_or(w, bit);
	w = bpf_map_lookup_elem(&mg_src_filter, &j);
	if (w && !(*w & bit))
		__sync_fetch_and_or(w, bit);
}

/*
 * An existing profile: the LRU first (end hosts are the many), then the
 * mail servers. The daemon moves a profile between them, never keeps both.
 * The filter answers first for a source that has neither, unless `genuine`:
 * the caller knows the source is no spoofer's (commands on a connection
 * whose handshake this box saw), which nearly always has a profile, so
 * asking the filter would only add its cost to the lookup that follows.
 */
static __always_inline struct mg_src_stats *mg_profile_find(const union mg_addr *key, int genuine)
{
	if (!genuine && !mg_profile_maybe(key))
		return NULL;
	struct mg_src_stats *e = bpf_map_lookup_elem(&mg_sources, key);
	if (e)
		return e;
	return bpf_map_lookup_elem(&mg_servers, key);
}

static __always_inline struct mg_src_stats *mg_profile_create(const union mg_addr *key, __u8 ip_version,
							      __u64 now, struct mg_global_stats *st)
{
	struct mg_src_stats init = {};

	init.first_seen_ns = now;
	init.last_seen_ns = now;
	init.flags = ip_version == 6 ? MG_SRC_F_IPV6 : 0;
	mg_profile_mark(key);
	/* BPF_NOEXIST: another CPU may have created it first; then use theirs. */
	if (bpf_map_update_elem(&mg_sources, key, &init, BPF_NOEXIST) == 0)
		st->src_created++;
	return bpf_map_lookup_elem(&mg_sources, key);
}

/*
 * Per-source counters are updated with plain adds, not atomics: RSS keeps a
 * flow on one CPU, so two CPUs rarely update one source at the same instant,
 * and a lost increment in that case costs less than a locked instruction on
 * every SYN and command segment. Rule hit counters, on the drop path, stay atomic.
 */
static __always_inline void mg_profile_touch(struct mg_src_stats *e, struct xdp_md *ctx, struct mg_pkt *p, __u64 now)
{
	e->last_seen_ns = now;
	mg_store_mac(e->mac, mg_frame_mac(ctx), p->vlan_outer);
	e->vlan_inner = p->vlan_inner;
}

enum mg_budget_kind { MG_BUDGET_NONE, MG_BUDGET_SYN, MG_BUDGET_PAYLOAD };

/* A profile for `key`, created if absent and the budget allows it; NULL otherwise. `genuine`: as for mg_profile_find. */
static __always_inline struct mg_src_stats *mg_profile_get(const union mg_addr *key, __u8 ip_version,
							   int budget, int genuine, struct mg_global_stats *st)
{
	struct mg_src_stats *e = mg_profile_find(key, genuine);

	if (e || budget == MG_BUDGET_NONE)
		return e;
	struct mg_budget *b = mg_budget_get();
	if (!b)
		return NULL;
	int ok = budget == MG_BUDGET_SYN ?
		mg_bucket_take(&b->syn_new, mg_cfg.syn_new_per_sec, mg_cfg.syn_new_burst) :
		mg_bucket_take(&b->payload_new, mg_cfg.payload_new_per_sec, mg_cfg.payload_new_burst);
	if (!ok) {
		st->src_throttled++;
		return NULL;
	}
	/* The profile's times are the coarse clock's: read only now that there is one to create. */
	return mg_profile_create(key, ip_version, bpf_ktime_get_coarse_ns(), st);
}

static __always_inline struct mg_event *mg_event_new(struct xdp_md *ctx, struct mg_pkt *p, __u8 type,
						     __u64 now, struct mg_global_stats *st)
{
	struct mg_event *ev = bpf_ringbuf_reserve(&mg_events, sizeof(*ev), 0);

	if (!ev) {
		st->events_lost++;
		return NULL;
	}
	/*
	 * The header only: the tail is written by the event that uses it (a
	 * SYN's fingerprint whole, a HELO's argument up to arg_len, which is all
	 * a reader may read), so its 64 bytes are not cleared for nothing. What
	 * lies beyond is an older event's, from this same ring, or (up to the
	 * next 8 bytes, mg_event_copy) the frame's bytes after the argument.
	 */
	__builtin_memset(ev, 0, __builtin_offsetof(struct mg_event, u));
	ev->ts_ns = now;
	ev->type = type;
	ev->vlan_outer = p->vlan_outer;
	ev->vlan_inner = p->vlan_inner;
	__builtin_memcpy(ev->src, p->src.b, 16);
	__builtin_memcpy(ev->dst, p->dst.b, 16);
	mg_store_mac(ev->mac, mg_frame_mac(ctx), p->sport);
	ev->dport = p->dport;
	ev->ifindex = ctx->ingress_ifindex;
	return ev;
}

/*
 * Copy `len` (1..MG_HELO_ARG_MAX) bytes at frame offset `start` into an
 * event's argument `dst` (8-aligned): a word at a time while the frame
 * holds a whole word there, which a short argument always does but at the
 * frame's very end, and bpf_xdp_load_bytes otherwise (a helper call the
 * common case no longer pays). A last word's bytes past `len` are the
 * frame's own; readers read arg_len bytes. Returns 0 once copied.
 */
static __always_inline int mg_event_copy(struct xdp_md *ctx, __u32 start, __u32 len, char *dst)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 from = start;

	mg_barrier_var(from);
	from &= MG_OFF_MASK;
	__u8 *src = data + from;
#pragma unroll
	for (int i = 0; i < MG_HELO_ARG_MAX / 8; i++) {
		if (i * 8 >= len)
			return 0;
		if ((void *)(src + i * 8 + 8) > data_end)
			break;
		*(__u64 *)(dst + i * 8) = *(__u64 *)(src + i * 8);
	}
	if (len == 0 || len > MG_HELO_ARG_MAX)
		return -1;
	return bpf_xdp_load_bytes(ctx, start, dst, len);
}

static __always_inline void mg_event_send(struct mg_event *ev, struct mg_global_stats *st)
{
	bpf_ringbuf_submit(ev, 0);
	st->events_sent++;
}

static __always_inline void mg_sketch_add(const union mg_addr *src, __u8 klass)
{
	__u32 zero = 0;
	struct mg_sketch *sk = bpf_map_lookup_elem(&mg_syn_sketch, &zero);

	if (!sk)
		return;
	__u32 h = mg_sketch_hash(src->w, klass);
#pragma unroll
	for (int r = 0; r < MG_SKETCH_ROWS; r++)
		sk->cell[r][mg_sketch_col(h, r)]++;
}

/* Fingerprint of the SYN in `p` into *fp; returns its hash. */
static __always_inline __u32 mg_syn_fp_of(struct xdp_md *ctx, struct mg_pkt *p, struct mg_syn_fp *out)
{
	struct mg_syn_fp fp = {
		.ip_version = p->ip_version,
		.ttl_initial = mg_initial_ttl(p->ttl),
		.df = p->df,
	};
	__u32 cursor = 0;

	mg_syn_fingerprint(ctx, p->tcp_off, &fp, &cursor);
	__u32 h = mg_fp_hash(&fp);
	if (out)
		__builtin_memcpy(out, &fp, sizeof(fp));
	return h;
}

/*
 * The handlers below are global subprograms: each is verified once, on its
 * own, instead of once for every way the caller could have reached it.
 */

/* A SYN (no ACK) to a port of class dclass: count it per source, or in the sketch when we may not profile it. */
__attribute__((noinline)) int mg_handle_syn(struct xdp_md *ctx, struct mg_pkt *p, int dclass, struct mg_global_stats *st)
{
	union mg_addr key;

	if (!p || !st)
		return 0;
	if (dclass != MG_PORT_NONE)
		st->syn_smtp++;
	mg_src_key_of(&p->src, p->ip_version, &key);
	/* Only SYNs to SMTP ports may create a profile, and only within the budget. */
	struct mg_src_stats *e = mg_profile_get(&key, p->ip_version,
						dclass != MG_PORT_NONE ? MG_BUDGET_SYN : MG_BUDGET_NONE, 0, st);
	if (!e) {
		mg_sketch_add(&key, dclass != MG_PORT_NONE);
		st->syn_sketched++;
		return 0;
	}

	/* Read only for a SYN that has a profile: a flood's SYNs, sketched above, need no clock but the budget's. */
	__u64 now = bpf_ktime_get_coarse_ns();
	mg_profile_touch(e, ctx, p, now);
	if (dclass == MG_PORT_SUBMISSION) {
		e->syn_submission++;
	} else if (dclass == MG_PORT_NONE) {
		e->syn_other++;
	}
	if (dclass != MG_PORT_MX) {
		/* Other SYNs fingerprint the host once, if no MX SYN has yet. */
		if (e->syn_fp_hash == 0) {
			struct mg_syn_fp fp;
			e->syn_fp_hash = mg_syn_fp_of(ctx, p, &fp);
		}
		return 0;
	}

	/*
	 * A SYN to an MX: the fingerprint and the event carry news only when
	 * the destination is new to this source (by its bit in mx_dst_bits),
	 * so a client reconnecting to the same MX costs just the counters.
	 */
	__u64 bit = 1ull << mg_dst_bit(p->dst.w);
	int fresh = !(e->mx_dst_bits & bit);
	e->syn_mx++;
	e->mx_dst_bits |= bit;
	if (!fresh)
		return 0;

	struct mg_syn_fp fp;
	__u32 fp_hash = mg_syn_fp_of(ctx, p, &fp);
	e->syn_fp_hash = fp_hash;
	struct mg_event *ev = mg_event_new(ctx, p, MG_EV_SYN_MX, now, st);
	if (ev) {
		ev->fp_hash = fp_hash;
		ev->u.fp = fp;
		mg_event_send(ev, st);
	}
	return 0;
}

/*
 * May a packet from a server (an MX port toward its client) move what
 * proves the client, the handshake and the replies it gets? With no uplink
 * declared, wherever it arrives, as ever. With uplinks declared: one
 * arriving on an uplink, where a real outside server's packets arrive; and,
 * on an inside interface, one whose client lies outside the protected
 * networks (an inside mail server answering the Internet). What an inside
 * host forges to end a connection of its own (a SYN-ACK to its own
 * four-tuple, its proven commands then counted for nothing), to fake one
 * for an inside address it does not own, or to forge replies toward an
 * inside client arrives inside, toward an inside client: refused. Without
 * protected networks every client counts as inside. The uplinks'
 * ifindexes are read from mg_uplinks (the daemon rewrites a slot when an
 * uplink comes back with a new ifindex), their count from load-time data.
 * Asked on the from-server path only; with no uplink the verifier folds it
 * to a constant.
 */
static __always_inline int mg_server_side_trusted(const struct xdp_md *ctx, const struct mg_pkt *p)
{
	__u32 n = mg_cfg.n_uplinks, ifindex, zero = 0;
	const struct mg_uplinks *up;

	if (!n)
		return 1;
	ifindex = ctx->ingress_ifindex;
	up = bpf_map_lookup_elem(&mg_uplinks, &zero);
	/* A slot of an uplink not there yet holds 0, which names no device: no packet arrives there. */
	if (up) {
#pragma unroll
		for (int i = 0; i < MG_UPLINKS_MAX; i++)
			if (i < n && up->ifindex[i] == ifindex)
				return 1;
	}
	return mg_cfg.act[0].size && mg_activity_index_of(mg_cfg.act, &p->dst, p->ip_version) < 0;
}

/*
 * A SYN-ACK from an SMTP port: the source serves mail. That count is the
 * source's own, as unproven as a SYN, and is kept whatever the interface
 * (an inside mail server's SYN-ACKs arrive inside); the handshake state
 * only where a server's may arrive (mg_server_side_trusted).
 */
__attribute__((noinline)) int mg_handle_synack(struct xdp_md *ctx, struct mg_pkt *p, struct mg_global_stats *st)
{
	union mg_addr key;

	if (!p || !st)
		return 0;
	__u64 now = bpf_ktime_get_coarse_ns();

	/* The server's ISN, before any budget can refuse the profile: the handshake is the client's proof. */
	if (mg_cfg.handshake != MG_HS_OFF && mg_port_class(p->sport) == MG_PORT_MX) {
		if (mg_server_side_trusted(ctx, p))
			mg_flow_synack(p, now);
		else
			st->server_side_refused++;
	}
	mg_src_key_of(&p->src, p->ip_version, &key);
	struct mg_src_stats *e = mg_profile_get(&key, p->ip_version, MG_BUDGET_SYN, 0, st);
	if (!e)
		return 0;
	mg_profile_touch(e, ctx, p, now);
	e->synack_smtp++;
	e->flags |= MG_SRC_F_SERVES_SMTP;
	return 0;
}

/*
 * What a HELO event said, for one source: the name (its line's hash,
 * which the scan's search for the line's end computes: mg_next_line) and
 * the host (its full address, MAC and VLANs: an IPv6 profile holds a /64
 * of hosts), hashed together to 15 bits, the
 * proof, and the second (2^30 ns, 14 bits). A HELO whose mark equals the
 * last event's sends none and is not hashed byte by byte: the analyzer
 * learns nothing from a repeat within the second (the commands are counted
 * in the profile all the same, and the daemon reads them), so a source
 * repeating one name sends at most one event a second, and a new name,
 * host or proof is reported at once (but for a 2^-15 chance that a change
 * within the second waits for the next). Bit 16 is set: 0 is no event yet.
 */
static __always_inline __u32 mg_helo_mark(struct xdp_md *ctx, const struct mg_pkt *p, int proof, __u64 now,
					  __u32 name)
{
	__u64 m = mg_frame_mac(ctx);
	__u32 host = (p->src.w[0] * 0x9e3779b1u) ^ (p->src.w[1] * 0x85ebca77u) ^ (p->src.w[2] * 0xc2b2ae3du) ^
		     (p->src.w[3] * 0x27d4eb2fu) ^ ((__u32)m * 0x165667b1u) ^ ((__u32)(m >> 32) * 0xd3a2646cu) ^
		     ((__u32)p->vlan_outer << 16 | p->vlan_inner) * 0xfd7046c5u ^ name * 0xb55a4f09u;
	host ^= host >> 15;
	host *= 0x2c1b3c6du;
	return (host & 0xfffe0000u) | 1u << 16 | ((__u32)proof & 3) << 14 | ((__u32)(now >> 30) & 0x3fff);
}

/* Payload to an SMTP port: count the client's commands. */
__attribute__((noinline)) int mg_handle_client(struct xdp_md *ctx, struct mg_pkt *p, struct mg_global_stats *st)
{
	struct mg_cmd_scan scan = {};
	union mg_addr key;

	if (!p || !st)
		return 0;
	if (mg_smtp_scan(ctx, p->payload_off, p->payload_len, &scan) == 0)
		return 0; /* message data, TLS, credentials: not ours to count */

	__u64 now = bpf_ktime_get_coarse_ns();

	/* Unproven commands neither create a profile nor add to one: a spoofer could have sent them. */
	int proof = mg_flow_proof(p, mg_cfg.handshake, now, st);
	if (proof == MG_PROOF_NONE) {
		st->cmds_unproven += scan.total;
		return 0;
	}
	mg_src_key_of(&p->src, p->ip_version, &key);
	/* A flood cannot reach here proven by a handshake: such a source skips the filter (mg_profile_find). */
	struct mg_src_stats *e = mg_profile_get(&key, p->ip_version, MG_BUDGET_PAYLOAD, proof == MG_PROOF_HANDSHAKE, st);
	if (!e)
		return 0;
	mg_profile_touch(e, ctx, p, now);
	e->flags |= MG_SRC_F_PAYLOAD;
	/*
	 * A segment holds one or a few kinds: only theirs are added to, in
	 * one step each (a test per kind of the ten cost more than the adds).
	 */
#pragma unroll
	for (int i = 0; i < MG_SCAN_LINES; i++) {
		if (i >= scan.n_kinds)
			break;
		__u32 k = scan.kind[i];
		if (k < MG_CMD_MAX)
			e->cmd[k] += scan.count[k];
	}
	st->smtp_cmds += scan.total;

	__u32 mark = 0;
	if (scan.helo_kind != MG_CMD_MAX && !mg_cfg.helo_every)
		mark = mg_helo_mark(ctx, p, proof, now, scan.helo_line);
	if (scan.helo_kind != MG_CMD_MAX && (mg_cfg.helo_every || mark != e->helo_mark)) {
		__u32 arg_off = scan.helo_off, arg_len = 0;
		__u32 h = mg_helo_arg_hash(ctx, p->payload_off, p->payload_len, &arg_off, &arg_len);
		e->helo_hash = h;

		struct mg_event *ev = mg_event_new(ctx, p, MG_EV_HELO, now, st);
		if (ev) {
			e->helo_mark = mark; /* a lost event is no repeat to skip */
			ev->detail = scan.helo_kind;
			ev->proof = proof;
			ev->helo_hash = h;
			ev->fp_hash = e->syn_fp_hash;
			/* Copy the argument from the frame; bpf_xdp_load_bytes needs a nonzero, bounded length. */
			if (arg_len > 0 && arg_len <= MG_HELO_ARG_MAX) {
				__u32 start = p->payload_off + arg_off;
				if (mg_event_copy(ctx, start, arg_len, ev->u.arg) == 0)
					ev->arg_len = arg_len;
			}
			mg_event_send(ev, st);
		}
	}
	/*
	 * The envelope sender, for source verification (SPF of its domain):
	 * only segments that carry a MAIL command pay for it, with one copy of
	 * up to MG_HELO_ARG_MAX bytes after "MAIL FROM:" and no scan (userspace
	 * finds where the address ends: '>', a space, the line's end).
	 */
	if (scan.count[MG_CMD_MAIL]) {
		__u32 moff = scan.mail_off, mlen = p->payload_len;
		mg_barrier_var(moff);
		if (moff >= mlen)
			return 0;
		mlen -= moff;
		mg_barrier_var(mlen);
		if (mlen > MG_HELO_ARG_MAX)
			mlen = MG_HELO_ARG_MAX;
		struct mg_event *ev = mg_event_new(ctx, p, MG_EV_MAIL, now, st);
		if (!ev)
			return 0;
		ev->proof = proof;
		ev->fp_hash = e->syn_fp_hash;
		if (mlen > 0 && mlen <= MG_HELO_ARG_MAX &&
		    mg_event_copy(ctx, p->payload_off + moff, mlen, ev->u.arg) == 0)
			ev->arg_len = mlen;
		mg_event_send(ev, st);
	}
	return 0;
}

/* A bare ACK to an MX port: the client's acknowledgement of the server's SYN-ACK completes a handshake. */
__attribute__((noinline)) int mg_handle_client_ack(struct mg_pkt *p, struct mg_global_stats *st)
{
	struct mg_flow_conn c;

	if (!p || !st)
		return 0;
	mg_flow_key_of(p, 0, &c);
	mg_flow_ack(&c, p, bpf_ktime_get_coarse_ns(), st);
	return 0;
}

/* Payload from an SMTP port: the reply class counts toward the client (the destination). */
__attribute__((noinline)) int mg_handle_server(struct xdp_md *ctx, struct mg_pkt *p, struct mg_global_stats *st)
{
	union mg_addr key;

	if (!p || !st)
		return 0;
	/* A reply the program may not take as a server's (mg_server_side_trusted) is not the client's evidence: counted, ignored. */
	if (!mg_server_side_trusted(ctx, p)) {
		st->server_side_refused++;
		return 0;
	}
	int klass = mg_smtp_reply_class(ctx, p);
	if (klass < 0 || klass >= MG_REPLY_MAX)
		return 0;
	mg_src_key_of(&p->dst, p->ip_version, &key);
	struct mg_src_stats *e = mg_profile_find(&key, 0);
	if (!e)
		return 0; /* replies never create profiles: they are not the client's own evidence */
	/* After the profile: a reply toward a source without one pays no flow lookup. */
	if (!mg_flow_reply_proven(p, mg_cfg.handshake))
		return 0;
	e->reply[klass]++;
	st->smtp_replies++;
	return 0;
}

/* Count a drop (or a would-be drop in monitor mode) and report it, rate-limited. */
static __always_inline int mg_drop(struct xdp_md *ctx, struct mg_pkt *p, int reason, int monitor,
				   struct mg_global_stats *st)
{
	if (monitor) {
		st->monitor_would_drop++;
	} else {
		st->dropped++;
		st->drop_reason[reason & (MG_DROP_REASON_MAX - 1)]++;
	}
	struct mg_budget *b = mg_budget_get();
	if (b && mg_bucket_take(&b->drop_events, mg_cfg.drop_events_per_sec, mg_cfg.drop_events_per_sec)) {
		struct mg_event *ev = mg_event_new(ctx, p, MG_EV_DROP, bpf_ktime_get_coarse_ns(), st);
		if (ev) {
			ev->detail = reason;
			ev->monitor = monitor;
			mg_event_send(ev, st);
		}
	} else {
		st->drop_events_suppressed++;
	}
	return monitor ? XDP_PASS : XDP_DROP;
}

/*
 * Is there a block in the source's family (v4: its address is v4-mapped)
 * too short for a bucket (probed for every address)? With the source's
 * index word (mg_rule_word) this says whether any block rule could cover
 * it; exact lengths are mg_enforce's. One load (mg_rule_short).
 */
static __always_inline int mg_short_blocks(int v4)
{
	return *(volatile __u32 *)&mg_rule_short & (v4 ? MG_RULE_SHORT_V4 : MG_RULE_SHORT_V6);
}

/*
 * Enforce the rules on a source the index says may be listed (`word`: its
 * index word, mg_rule_word): XDP_DROP, or XDP_PASS (no block in force,
 * allowlisted, not covered by the rule's action, or monitor mode).
 */
__attribute__((noinline)) int mg_enforce(struct xdp_md *ctx, struct mg_pkt *p, __u32 word, struct mg_global_stats *st)
{
	__u32 zero = 0;
	__u64 c[3];

	if (!p || !st)
		return XDP_PASS;
	struct mg_rule_lens *lens = bpf_map_lookup_elem(&mg_rule_lens, &zero);
	if (!lens)
		return XDP_PASS;
	mg_block_lens(&p->src, lens, word, c);
	struct mg_rule *r = mg_block_find(&p->src, c, st);
	if (!r)
		return XDP_PASS;
	if (mg_allowed(&p->src, lens, 1)) {
		st->allowlisted++;
		return XDP_PASS;
	}

	int reason;
	if (r->action == MG_ACT_DROP_ALL)
		reason = MG_DROP_BLOCK_ALL;
	/*
	 * L4 the parser could not reach may be TCP to an SMTP port: the
	 * receiving stack walks on where we stopped. From a source whose SMTP
	 * is blocked that is dropped; from any other it passed long before.
	 */
	else if (r->action == MG_ACT_DROP_SMTP &&
		 ((p->has_tcp && mg_port_class(p->dport) != MG_PORT_NONE) || p->l4_unknown))
		reason = MG_DROP_BLOCK_SMTP;
	else
		return XDP_PASS;

	struct mg_settings *set = bpf_map_lookup_elem(&mg_settings, &zero);
	int monitor = set && set->monitor;

	/*
	 * A plain increment, not an atomic one: the locked add was a sixth of a
	 * drop here (5 ns of 31, make bench), and every CPU a flood from one
	 * blocked prefix reaches would pay it on the rule's one cache line. Hits
	 * are for the operator's eye; two CPUs dropping for one rule in the same
	 * instant may lose one. The exact drop counts are the per-CPU ones
	 * (st->drop_reason).
	 */
	r->hits++;
	return mg_drop(ctx, p, reason, monitor, st);
}

/*
 * Containment at the first SYN: during an outbreak, a SYN to an MX port
 * whose fingerprint is an active signature is dropped unless the source is
 * allowlisted or a known/learned mail server (mg_servers), or the
 * destination is one of those mail servers: that is mail to us (on an
 * uplink, outside MTAs delivering to our relay share the stock fingerprints
 * of our own hosts), judged by the relay, never dropped here. Costs nothing
 * while no outbreak is active (the caller checks mg_settings.outbreaks).
 */
__attribute__((noinline)) int mg_contain_syn(struct xdp_md *ctx, struct mg_pkt *p, struct mg_settings *set,
					     struct mg_global_stats *st)
{
	struct mg_syn_fp fp;
	union mg_addr key;

	if (!p || !st || !set)
		return XDP_PASS;
	__u32 h = mg_syn_fp_of(ctx, p, &fp);
	struct mg_outbreak_sig *sig = bpf_map_lookup_elem(&mg_outbreaks, &h);
	if (!sig)
		return XDP_PASS;
	mg_src_key_of(&p->src, p->ip_version, &key);
	if (bpf_map_lookup_elem(&mg_servers, &key))
		return XDP_PASS; /* a mail server keeps sending, whatever OS it runs */
	mg_src_key_of(&p->dst, p->ip_version, &key);
	if (bpf_map_lookup_elem(&mg_servers, &key))
		return XDP_PASS; /* inbound mail to our own mail server */
	__u32 zero = 0;
	struct mg_rule_lens *lens = bpf_map_lookup_elem(&mg_rule_lens, &zero);
	if (lens && mg_allowed(&p->src, lens, 0)) {
		st->allowlisted++;
		return XDP_PASS;
	}
	__sync_fetch_and_add(&sig->drops, 1);
	return mg_drop(ctx, p, MG_DROP_OUTBREAK, set->monitor, st);
}

/*
 * The fast path: the common packet, passed before its packet record is
 * filled. A TCP segment that is not a SYN, to and from no MX port, over
 * IPv4 without options or IPv6 without extension headers, from a source no
 * rule can cover: the full path passes it touching nothing but the
 * counters and a protected source's activity record, and that is all this
 * does. mg_parse_l3() fills the record that the handlers take by pointer:
 * some thirty stores and their reloads, a third of this packet's cost
 * (make bench: 16 ns that way, 11 this way). Here the headers mg_parse_l2
 * found are read at fixed offsets into registers. Anything else, the
 * malformed included, returns 0 and takes the full path, which judges and
 * counts it as it always did: a shortcut, never a second verdict.
 */

/*
 * The TCP header's part: neither port an MX port, and a data offset
 * mg_parse_tcp would take (not short, inside the frame, and inside the
 * datagram: `ip_len` bytes from the network header, `ip_hdr` of them its
 * own); one it refuses is the full path's to count.
 */
static __always_inline int mg_fast_tcp(const struct mg_cursor *c, struct tcphdr *tcp, __u32 ip_hdr, __u32 ip_len)
{
	/* Both ports at once, with no branch between; a port 0 hits an unused lane, which only means the full path. */
	__u64 mx = *(const volatile __u64 *)mg_cfg.mx_ports;
	if (mg_port_hit(mx, bpf_ntohs(tcp->dest)) | mg_port_hit(mx, bpf_ntohs(tcp->source)))
		return 0;
	__u32 doff = tcp->doff * 4;
	return doff >= sizeof(*tcp) && (void *)tcp + doff <= c->data_end && ip_hdr + doff <= ip_len;
}

static __always_inline int mg_fast_pass4(const struct mg_cursor *c, void *l3)
{
	struct iphdr *iph = l3;
	struct tcphdr *tcp = (void *)(iph + 1);

	if ((void *)(tcp + 1) > c->data_end)
		return 0;
	/*
	 * Not a SYN (first: a SYN leaves soonest; read where TCP's flags are
	 * if the header is what the next test asks, in bounds either way), IPv4
	 * without options (version 4, IHL 5), TCP, no fragment of any kind (the
	 * flags and offset, the TTL and the protocol as one word, the TTL and
	 * the DF and reserved bits masked).
	 */
	if ((((__u8 *)tcp)[13] & MG_TCP_SYN) || *(__u8 *)iph != 0x45 ||
	    (*(__u32 *)((__u8 *)iph + 6) & bpf_htonl(0x3fff00ff)) != bpf_htonl(IPPROTO_TCP))
		return 0;
	if (!mg_fast_tcp(c, tcp, sizeof(*iph), bpf_ntohs(iph->tot_len)))
		return 0;
	__u32 v4 = bpf_ntohl(iph->saddr);
	if (mg_index_cls4(v4, mg_rule_bits4(mg_cfg.rule_v4_bits)) || mg_short_blocks(1))
		return 0;
	mg_activity_seen4(&mg_activity, mg_cfg.act, v4);
	return 1;
}

static __always_inline int mg_fast_pass6(const struct mg_cursor *c, void *l3)
{
	struct ipv6hdr *ip6h = l3;
	struct tcphdr *tcp = (void *)(ip6h + 1);

	if ((void *)(tcp + 1) > c->data_end)
		return 0;
	/* Not a SYN (first, as for IPv4), IPv6 with TCP right after its fixed header: no extension header to walk. */
	if ((((__u8 *)tcp)[13] & MG_TCP_SYN) || (*(__u8 *)ip6h >> 4) != 6 || ip6h->nexthdr != IPPROTO_TCP)
		return 0;
	if (!mg_fast_tcp(c, tcp, 0, bpf_ntohs(ip6h->payload_len)))
		return 0;
	const __be32 *a = ip6h->saddr.in6_u.u6_addr32;
	/* A v4-mapped source answers to the IPv4 rules: the full path's (mg_rule_word). */
	if (a[0] == 0 && a[1] == 0 && a[2] == bpf_htonl(0xffff))
		return 0;
	if (mg_index_word6(mg_rule_bucket6(bpf_ntohl(a[0]), mg_rule_bits6(mg_cfg.rule_v6_bits))) || mg_short_blocks(0))
		return 0;
	mg_activity_seen6(&mg_activity, mg_cfg.act, a);
	return 1;
}

SEC("xdp")
int mtaguard_xdp(struct xdp_md *ctx)
{
	__u32 zero = 0, slot = ctx->ingress_ifindex & (MG_IFACE_SLOTS - 1);
	struct mg_global_stats *st = bpf_map_lookup_elem(&mg_stats, &slot);

	if (!st)
		return XDP_PASS;
	st->packets++;
	struct mg_cursor c = mg_cursor_of(ctx);
	struct mg_l2 l2;
	int ret = mg_parse_l2(&c, &l2);
	if (ret == MG_PARSE_OK && (l2.proto == bpf_htons(ETH_P_IP)     ? mg_fast_pass4(&c, l2.l3) :
				   l2.proto == bpf_htons(ETH_P_IPV6) ? mg_fast_pass6(&c, l2.l3) : 0)) {
		st->passed++;
		return XDP_PASS;
	}

	/* Zeroed here, not above: the fast path does not pay for it. */
	struct mg_pkt p = {};
	if (ret == MG_PARSE_OK)
		ret = mg_parse_l3(&c, &l2, &p);
	if (ret == MG_PARSE_NOT_IP) {
		st->non_ip++;
		goto pass;
	}
	if (ret != MG_PARSE_OK) {
		st->parse_errors++;
		goto pass;
	}
	/* Both rare, tested as one word: the common packet pays one compare. */
	if (p.rare) {
		if (p.fragment)
			st->fragments++;
		if (p.l4_unknown)
			st->l4_unknown++;
	}

	/*
	 * The rule index is read here, inline: most sources have no rule, and
	 * for them the packet costs two array reads the verifier inlines and no
	 * subprogram call, however many rules there are. The word goes on to
	 * mg_enforce, which does not read it again.
	 */
	/* The family, once, in a register: the two index reads below would each reload the address after their lookups. */
	int v4 = mg_addr_v4mapped(&p.src);
	__u32 word = mg_rule_word(&p.src, v4, mg_rule_bits4(mg_cfg.rule_v4_bits), mg_rule_bits6(mg_cfg.rule_v6_bits));
	if ((word || mg_short_blocks(v4)) && mg_enforce(ctx, &p, word, st) == XDP_DROP)
		return XDP_DROP;
	/*
	 * Whether the destination is an MX port, once: every branch below asks.
	 * Only a SYN needs the full class (submission or other), so a data
	 * segment does not pay the second compare.
	 */
	int dst_mx = p.has_tcp && mg_port_in(*(const volatile __u64 *)mg_cfg.mx_ports, p.dport);
	/* What it passes, a protected source's record notes: its ordinary use is what makes it an end host. */
	mg_activity_note(&mg_activity, mg_cfg.act, &p, dst_mx);
	if (!p.has_tcp)
		goto pass;

	if (p.tcp_flags & MG_TCP_SYN) {
		if (!(p.tcp_flags & MG_TCP_ACK)) {
			int dclass = dst_mx ? MG_PORT_MX :
				     mg_port_in(*(const volatile __u64 *)mg_cfg.submission_ports, p.dport) ?
				     MG_PORT_SUBMISSION : MG_PORT_NONE;
			if (dst_mx) {
				struct mg_settings *set = bpf_map_lookup_elem(&mg_settings, &zero);
				if (set && set->outbreaks && mg_contain_syn(ctx, &p, set, st) == XDP_DROP)
					return XDP_DROP;
			}
			mg_handle_syn(ctx, &p, dclass, st);
		}
		else if (mg_port_class(p.sport) != MG_PORT_NONE)
			mg_handle_synack(ctx, &p, st);
		goto pass;
	}
	if (p.payload_len == 0) {
		/* Bulk: ACKs, FINs, RSTs. Only a bare ACK to an MX port may complete a handshake. */
		if (mg_cfg.handshake != MG_HS_OFF && (p.tcp_flags & (MG_TCP_ACK | MG_TCP_RST)) == MG_TCP_ACK &&
		    dst_mx)
			mg_handle_client_ack(&p, st);
		goto pass;
	}
	/*
	 * Commands and replies count only on MX ports: they are the evidence
	 * of direct-to-MX delivery. Submission to a relay is what ordinary
	 * hosts do (its SYNs are counted), and after STARTTLS or on 465 its
	 * commands are encrypted anyway.
	 */
	if (dst_mx)
		mg_handle_client(ctx, &p, st);
	else if (mg_port_in(*(const volatile __u64 *)mg_cfg.mx_ports, p.sport))
		mg_handle_server(ctx, &p, st);
pass:
	st->passed++;
	return XDP_PASS;
}
