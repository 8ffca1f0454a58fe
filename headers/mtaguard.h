/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * mtaguard.h - the ABI between the XDP program and userspace.
 *
 * Every struct that crosses the kernel/user boundary (map keys and values,
 * ring-buffer events, load-time tunables) is defined here, once. Layouts are
 * fixed: explicit padding, sizes pinned with _Static_assert, so a daemon built
 * from one tree can read maps pinned by a program built from another.
 *
 * Addresses are always 16 bytes: IPv4 is stored v4-mapped (::ffff:a.b.c.d),
 * so one set of maps serves both families and IPv4 prefix /N is /96+N.
 *
 * Times are CLOCK_MONOTONIC nanoseconds read coarsely (jiffy resolution):
 * bpf_ktime_get_coarse_ns() in the kernel, CLOCK_MONOTONIC_COARSE in
 * userspace. A precise clock read measured about 30 ns per call here, more
 * than the rest of a SYN's processing; profile times and rule expiries need
 * milliseconds, not nanoseconds.
 */
#ifndef MTAGUARD_H
#define MTAGUARD_H

#include <linux/types.h>

#define MG_SKETCH_ROWS 4
#define MG_SKETCH_COLS 1024 /* power of two */

#include "mg_hash.h"

#define MG_ADDR_LEN        16
#define MG_PORTS_PER_CLASS 4   /* configurable SMTP ports per class; 0 = unused */
#define MG_HELO_ARG_MAX    64  /* bytes of HELO/EHLO argument copied into events */
#define MG_FP_MAX_OPTS     12  /* TCP option kinds kept, in order, in a SYN fingerprint */

/* Kinds of SMTP client command counted per source. */
enum mg_cmd {
	MG_CMD_HELO = 0,
	MG_CMD_EHLO,
	MG_CMD_MAIL,
	MG_CMD_RCPT,
	MG_CMD_DATA,
	MG_CMD_RSET,
	MG_CMD_QUIT,
	MG_CMD_AUTH,
	MG_CMD_STARTTLS,
	MG_CMD_OTHER, /* a known verb not listed above: NOOP VRFY EXPN HELP BDAT ETRN TURN */
	MG_CMD_MAX,
};

/* Classes of server reply seen toward a source. */
enum mg_reply {
	MG_REPLY_2XX = 0,
	MG_REPLY_4XX,
	MG_REPLY_5XX,
	MG_REPLY_MAX,
};

/* Policy rule kinds (mg_policy values). */
enum mg_rule_kind {
	MG_RULE_ALLOW = 1,
	MG_RULE_BLOCK = 2,
};

/* What a block rule drops. */
enum mg_action {
	MG_ACT_DROP_SMTP = 1, /* the source's TCP to the configured SMTP ports */
	MG_ACT_DROP_ALL = 2,  /* everything from the source */
};

/* Why a packet was dropped (index into mg_global_stats.drop_reason). */
enum mg_drop_reason {
	MG_DROP_BLOCK_SMTP = 0,
	MG_DROP_BLOCK_ALL = 1,
	MG_DROP_OUTBREAK = 2,  /* a SYN to an MX port matching an active outbreak signature */
	MG_DROP_REASON_MAX = 4, /* room for later reasons without an ABI change */
};

/* Ring-buffer event types. */
enum mg_event_type {
	MG_EV_SYN_MX = 1, /* a SYN to an MX port (25) from a profiled source */
	MG_EV_HELO = 2,   /* a HELO or EHLO command; arg holds its argument (a repeat within the second: none) */
	MG_EV_DROP = 3,   /* a packet dropped (rate-limited); reason says why */
	MG_EV_MAIL = 4,   /* a MAIL command; arg holds what follows "MAIL FROM:" (up to MG_HELO_ARG_MAX bytes) */
};

/*
 * How much an event proves about its source (mg_event.proof). A SYN proves
 * nothing: anyone can send one with any source address. Commands in payload
 * prove a little more, and only where nobody can inject segments with a
 * forged source; commands on a connection whose handshake this box saw
 * complete prove that the source received the server's SYN-ACK, which a
 * spoofer elsewhere never does.
 */
enum mg_proof {
	MG_PROOF_NONE = 0,      /* a SYN, or anything a spoofer can send blind */
	MG_PROOF_PAYLOAD = 1,   /* commands on a connection whose handshake this box did not see */
	MG_PROOF_HANDSHAKE = 2, /* commands on a connection whose handshake this box saw complete */
	MG_PROOF_MAX,
};

/*
 * When commands count as evidence (mg_tunables.handshake). Only a box that
 * sees both directions (attached to the uplink too) sees the server's
 * SYN-ACK; one that does not must take payload on trust.
 */
enum mg_handshake {
	MG_HS_WHEN_SEEN = 0, /* a connection whose SYN-ACK was seen counts once its handshake completed;
			      * one with no SYN-ACK seen counts as MG_PROOF_PAYLOAD */
	MG_HS_REQUIRED = 1,  /* only connections whose handshake this box saw complete count */
	MG_HS_OFF = 2,       /* no tracking: every command counts, as MG_PROOF_PAYLOAD */
	MG_HS_MAX,
};

/* Per-source flags (mg_src_stats.flags). */
enum mg_src_flags {
	MG_SRC_F_PAYLOAD = 1 << 0,    /* sent SMTP commands after a handshake */
	MG_SRC_F_IPV6 = 1 << 1,       /* key is an IPv6 prefix, not a v4-mapped host */
	MG_SRC_F_SERVES_SMTP = 1 << 2, /* answered a SYN from its own SMTP port */
};

/* Clear the bits of a 16-byte address beyond `plen` (0..128). Both sides mask alike. */
static inline void mg_mask_prefix(__u8 a[MG_ADDR_LEN], __u32 plen)
{
#ifdef __clang__
#pragma unroll
#endif
	for (int i = 0; i < MG_ADDR_LEN; i++) {
		if (plen >= (__u32)(i + 1) * 8)
			continue;
		if (plen <= (__u32)i * 8)
			a[i] = 0;
		else
			a[i] &= (__u8)(0xff << (8 - (plen - i * 8)));
	}
}

/* Key of mg_sources and mg_servers: the source address (IPv6 masked to v6_src_prefix). */
struct mg_src_key {
	__u8 addr[MG_ADDR_LEN];
};
_Static_assert(sizeof(struct mg_src_key) == 16, "mg_src_key layout");

/*
 * Key of the mg_blocklist and mg_allowlist hashes: one exact entry per rule,
 * prefixlen (bits of the 16-byte address) and the address masked to it.
 * (The name is from when these were LPM tries; the layout is the same.)
 * They hold every rule but the IPv4 ones (mg_rule_key4).
 */
struct mg_lpm_key {
	__u32 prefixlen;
	__u8 addr[MG_ADDR_LEN];
};
_Static_assert(sizeof(struct mg_lpm_key) == 20, "mg_lpm_key layout");

/*
 * Key of mg_blocklist4 and mg_allowlist4, the IPv4 rules: v4-mapped
 * prefixes of 16-byte length 96..128. A dropped packet from a listed IPv4
 * source probes these, so the hash and compare cover 8 bytes, not 20 (half
 * the lookup's cost was hashing and comparing the long key). Shorter
 * prefixes that cover the v4-mapped space stay in the 20-byte maps.
 */
struct mg_rule_key4 {
	__u32 prefixlen; /* bits of the 16-byte address, 96..128, as in mg_lpm_key */
	__u32 addr;      /* the IPv4 address (network order) masked to prefixlen - 96 bits */
};
_Static_assert(sizeof(struct mg_rule_key4) == 8, "mg_rule_key4 layout");
#define MG_RULE_V4_MIN_LEN 96 /* the shortest 16-byte length an mg_rule_key4 holds */

/* The IPv4 mask (host order) of a 16-byte length 96..128, without a branch (/96: a 32-bit shift would be undefined). */
static inline __u32 mg_rule_mask4(__u32 len)
{
	return (__u32)(0xffffffff00000000ull >> (len - MG_RULE_V4_MIN_LEN));
}

/*
 * Value of mg_blocklist and mg_allowlist. In the blocklist the longest active
 * prefix wins (an expired one is skipped, so a shorter block still in force
 * applies); a match in the allowlist overrides any block.
 */
struct mg_rule {
	__u64 expires_ns; /* CLOCK_MONOTONIC (coarse); 0 = never. Expired rules are not enforced. */
	__u64 hits;       /* block: packets dropped (or would have been, in monitor mode);
			   * allow: packets a block rule covered that the allowlist let through.
			   * Plain increments: CPUs meeting on one rule may lose a hit. */
	__u8 kind;        /* enum mg_rule_kind */
	__u8 action;      /* enum mg_action, for blocks */
	__u8 prefixlen;   /* must equal the key's prefixlen */
	__u8 pad[5];
};
_Static_assert(sizeof(struct mg_rule) == 24, "mg_rule layout");

/*
 * The rule index: which prefix lengths a lookup must probe, so that a
 * packet's cost does not grow with the number of rules (an LPM trie is a
 * chain of dependent cache misses, about 100 ns at 100 000 prefixes).
 *
 *  - mg_rule_index4: one 8-byte entry per IPv4 bucket (the address's top
 *    rule_v4_bits bits). Its low word: bit k set, a block rule of IPv4
 *    length k + 1 (16-byte length 97 + k) covers part of the bucket; a rule
 *    no longer than the bucket sets its bit in every bucket it covers. Its
 *    high word: the bucket in 32 sub-buckets (the next five address bits),
 *    bit j set, a rule longer than the bucket covers part of sub-bucket j.
 *    A clear sub-bucket bit drops the long lengths: a source that only
 *    shares its bucket with longer rules (a /32 listed beside it) is known
 *    unlisted without a probe, and a probe that misses in a table of a
 *    million rules is a chain of cache misses, the cost of a spoofed flood.
 *  - mg_rule_index6: one word per IPv6 bucket, the hash of the address's top
 *    32 bits (mg_rule_bucket6); bit c: a block rule of length in class c
 *    (mg_rule_class6: three lengths per class, /32 to /128) lies in it.
 *  - mg_rule_lens: per family, the lengths in use (bit L of a 129-bit mask,
 *    L in 16-byte bits), for blocks and for allows. Block lengths too short
 *    for a bucket (IPv4 /0 and anything shorter than /96 that covers the
 *    v4-mapped space; IPv6 shorter than /32) are probed for every address of
 *    the family; allows are probed by these masks alone, and only when a
 *    block in force matched.
 *  - mg_rule_short: whether such a short block exists, per family
 *    (MG_RULE_SHORT_V4, MG_RULE_SHORT_V6), as the block masks say: the
 *    program's global data (its .data map, pinned under this name),
 *    so that asking costs an unlisted source's packet one load, not the
 *    lookup of mg_rule_lens. The writer sets it after the mask bit and
 *    clears it after the last such mask bit goes.
 *
 * An unlisted source thus costs two array reads the verifier inlines; a
 * listed one, one hash probe per length its bucket holds, longest first.
 * A set bit whose rules are gone costs a probe that misses, never a wrong
 * answer: the writer (userspace, mg_rulemaps.c) leaves such bits behind on
 * some deletions and counts them in `stale` until it rebuilds the index.
 */
#define MG_RULE_LENS 129 /* prefix lengths 0..128 */
#define MG_RULE_SHORT_V4 1u /* mg_rule_short: a block shorter than IPv4 /1 covers v4-mapped space */
#define MG_RULE_SHORT_V6 2u /* mg_rule_short: a block shorter than /32 covers IPv6 */
#define MG_RULE_V4_BITS_DEFAULT 22 /* 2^22 buckets (IPv4 /22s, sub-buckets /27s) of 8 bytes: 32 MiB */
#define MG_RULE_V6_BITS_DEFAULT 20 /* 2^20 buckets of 4 bytes: 4 MiB */
#define MG_RULE_V6_MIN_LEN 32      /* shorter IPv6 blocks are probed for every IPv6 address */
/*
 * The block lengths too short for a bucket, in the masks' words (bit L of
 * word L / 64): for IPv4 all of word 0 and these bits of word 1 (16-byte
 * lengths 0..96), for IPv6 these bits of word 0 (0..31). The program probes
 * them for every address; mg_rule_short says whether any is in use.
 */
#define MG_SHORT4_WORD1 ((1ull << 33) - 1)
#define MG_SHORT6_WORD0 ((1ull << MG_RULE_V6_MIN_LEN) - 1)
enum { MG_LENS_BLOCK4 = 0, MG_LENS_BLOCK6, MG_LENS_ALLOW4, MG_LENS_ALLOW6, MG_LENS_MAX };
struct mg_rule_lens {
	__u64 mask[MG_LENS_MAX][3];            /* bit L of word L / 64: some rule of length L may cover this family */
	__u32 count[MG_LENS_MAX][MG_RULE_LENS]; /* rules behind each bit (the writer's bookkeeping; the program reads masks) */
	__u32 stale;                           /* index bits the writer left set over deleted rules */
	__u32 pad;
};
_Static_assert(sizeof(struct mg_rule_lens) == MG_LENS_MAX * 24 + MG_LENS_MAX * MG_RULE_LENS * 4 + 8, "mg_rule_lens layout");

/* The IPv4 bucket of a v4 address (host order) with `bits` bucket bits (1..24). */
static inline __u32 mg_rule_bucket4(__u32 v4, __u32 bits)
{
	return v4 >> (32 - bits);
}

/* Its sub-bucket (0..31): the five address bits after the bucket's. */
static inline __u32 mg_rule_sub4(__u32 v4, __u32 bits)
{
	return (v4 >> (32 - bits - 5)) & 31;
}

/*
 * The lengths an IPv4 source's bucket entry leaves to probe (bit k: IPv4
 * length k + 1): the long ones only if its sub-bucket holds a long rule.
 * Both sides compute it alike.
 */
static inline __u32 mg_rule_cls4(__u64 entry, __u32 v4, __u32 bits)
{
	__u32 cls = (__u32)entry;

	if (!((entry >> 32) >> mg_rule_sub4(v4, bits) & 1))
		cls &= (1u << bits) - 1;
	return cls;
}

/* The IPv6 bucket of an address's top 32 bits (host order): a multiplicative hash. */
static inline __u32 mg_rule_bucket6(__u32 top32, __u32 bits)
{
	return (top32 * 0x9e3779b1u) >> (32 - bits);
}

/* The IPv6 class (index bit) of a 16-byte length in 32..128: three lengths each, the last four. */
static inline __u32 mg_rule_class6(__u32 len)
{
	__u32 c = (len - MG_RULE_V6_MIN_LEN) / 3;
	return c > 31 ? 31 : c;
}

/* Per-source profile counters: value of mg_sources (LRU) and mg_servers (hash). */
struct mg_src_stats {
	__u64 first_seen_ns;
	__u64 last_seen_ns;
	__u32 syn_mx;         /* SYNs to MX ports (25) */
	__u32 syn_submission; /* SYNs to submission ports (465, 587) */
	__u32 syn_other;      /* SYNs to any other port */
	__u32 synack_smtp;    /* SYN-ACKs sent from its own SMTP ports: it serves mail */
	__u32 cmd[MG_CMD_MAX];       /* client commands sent to MX ports (not to submission ports) */
	__u32 reply[MG_REPLY_MAX]; /* replies MX-port servers sent toward this source */
	__u32 helo_hash;           /* mg_helo_hash() of the last HELO/EHLO argument */
	__u32 syn_fp_hash;         /* mg_fp_hash() of the last SYN */
	__u64 mx_dst_bits;         /* bit mg_dst_bit(dst) set per MX destination: linear-counting estimate */
	__u8 mac[6];               /* last source MAC */
	__u16 vlan_outer;          /* last outer VLAN ID (0 = untagged) */
	__u16 vlan_inner;          /* last inner VLAN ID (QinQ; 0 = none) */
	__u16 flags;               /* enum mg_src_flags */
	__u32 helo_mark;           /* the program's own: what the last HELO event said besides its name (mg_helo_mark) */
};
_Static_assert(sizeof(struct mg_src_stats) == 120, "mg_src_stats layout");

/*
 * Per-CPU counters (mg_stats), one entry per interface slot: a frame counts
 * in the slot of the interface it arrived on, its ifindex modulo
 * MG_IFACE_SLOTS. The program pays for that what it paid for one entry (the
 * key is read from the frame's context instead of being 0); readers sum the
 * slots for the whole, and the daemon reads the slots of the interfaces it
 * attached to for its per-interface metrics (interfaces whose ifindexes
 * share a slot share its counts, and are named together).
 */
#define MG_IFACE_SLOTS 256
struct mg_global_stats {
	__u64 packets;
	__u64 passed;
	__u64 dropped;
	__u64 allowlisted;       /* packets a block rule covered that the allowlist let through */
	__u64 parse_errors;      /* truncated or malformed headers (passed) */
	__u64 non_ip;            /* neither IPv4 nor IPv6 (passed) */
	__u64 fragments;         /* non-first fragments: L4 not parsed */
	__u64 syn_smtp;          /* SYNs to any SMTP port */
	__u64 smtp_cmds;         /* client commands recognised */
	__u64 smtp_replies;      /* server replies classified */
	__u64 src_created;       /* per-source entries created */
	__u64 src_throttled;     /* creations refused by the per-CPU rate cap */
	__u64 syn_sketched;      /* SYNs counted in the sketch instead of per source */
	__u64 events_sent;
	__u64 events_lost;       /* ring buffer full */
	__u64 drop_events_suppressed; /* drop events over their rate limit */
	__u64 monitor_would_drop;     /* drops not done because of monitor mode */
	__u64 expired_rules;          /* block-rule hits ignored because expired */
	__u64 drop_reason[MG_DROP_REASON_MAX];
	__u64 flows_established;      /* MX-port handshakes seen complete (SYN-ACK, then the client's ACK of it) */
	__u64 cmds_unproven;          /* commands not counted: no handshake seen where one is required or began */
	/*
	 * SYN-ACKs and replies from MX ports that arrived inside toward an
	 * inside client once uplinks are marked (mg_server_side_trusted), so
	 * ignored for handshakes and reply counts: an inside mail server
	 * answering inside clients, or an inside host forging a server.
	 */
	__u64 server_side_refused;
	__u64 l4_unknown;             /* packets whose L4 header the parser could not reach (mg_pkt.l4_unknown), passed */
};
/*
 * The value of a pinned map: a release that changes it starts the counters
 * over at its first load (mg_load lets go of the old pin), nothing else.
 */
_Static_assert(sizeof(struct mg_global_stats) == 26 * 8, "mg_global_stats layout");

/* Runtime settings (mg_settings, one entry), changed by userspace while attached. */
struct mg_settings {
	__u32 monitor;   /* nonzero: count would-be drops, pass everything */
	__u32 outbreaks; /* entries in mg_outbreaks: 0 spares every SYN the fingerprint lookup */
};
_Static_assert(sizeof(struct mg_settings) == 8, "mg_settings layout");

/* Count-min sketch of SYNs from sources without a profile (mg_syn_sketch, per CPU). */
struct mg_sketch {
	__u32 cell[MG_SKETCH_ROWS][MG_SKETCH_COLS];
};

/*
 * Per-CPU token buckets (mg_budget, one entry): credit in nanoseconds. A
 * token costs 1e9 / rate ns; that division is kept with the rate it came
 * from, so a spoofed flood's every refused SYN does not pay a 64-bit
 * division (tens of cycles), and a program loaded with another rate over the
 * same pinned map computes its own. The buckets' clock is the kernel's tick
 * count in nanoseconds where the loader gave the tick's length
 * (mg_tunables.tick_ns: a load the verifier inlines, where the coarse clock
 * is a helper call, so a refused SYN or a drop whose event is suppressed
 * reads no other clock); their times are compared with nothing else.
 */
struct mg_bucket {
	__u64 last_ns;   /* on the buckets' own clock (the program's mg_bucket_now), not a profile time */
	__u64 credit_ns;
	__u64 cost_ns; /* 1e9 / rate, for rate */
	__u32 rate;
	__u32 pad;
};
struct mg_budget {
	struct mg_bucket syn_new;     /* creating profiles on a SYN */
	struct mg_bucket payload_new; /* creating profiles on SMTP payload */
	struct mg_bucket drop_events;
};
_Static_assert(sizeof(struct mg_budget) == 96, "mg_budget layout");

/* The SYN's TCP/IP fingerprint, hashed with mg_fp_hash(). */
struct mg_syn_fp {
	__u8 ip_version;   /* 4 or 6 */
	__u8 ttl_initial;  /* observed TTL rounded up to 32, 64, 128 or 255 */
	__u8 df;           /* IPv4 don't-fragment bit; 0 for IPv6 */
	__u8 wscale;       /* window scale option, 0xff if absent */
	__u16 window;      /* host order */
	__u16 mss;         /* host order, 0 if absent */
	__u8 n_opts;
	__u8 opt_kinds[MG_FP_MAX_OPTS];
	__u8 pad[3];
};
_Static_assert(sizeof(struct mg_syn_fp) == 24, "mg_syn_fp layout");

/*
 * Value of mg_outbreaks (key: a SYN fingerprint hash, __u32): an outbreak
 * signature the daemon declared. A SYN to an MX port with this fingerprint
 * is dropped, from any source that is not allowlisted and not in mg_servers,
 * before that source has sent a single command.
 */
struct mg_outbreak_sig {
	__u64 since_ns;  /* CLOCK_MONOTONIC (coarse) when the daemon declared it */
	__u64 drops;     /* SYNs dropped (or that would have been, in monitor mode) */
	__u32 level;     /* the outbreak's threat level, 1..5, for bpftool readers */
	__u32 pad;
};
_Static_assert(sizeof(struct mg_outbreak_sig) == 24, "mg_outbreak_sig layout");
#define MG_DEFAULT_MAX_OUTBREAKS 1024

/* The fingerprint hash both sides compute. */
static inline __u32 mg_fp_hash(const struct mg_syn_fp *fp)
{
	__u32 w[6];
	__builtin_memcpy(w, fp, sizeof(w));
	return mg_fp_hash_words(w);
}

/* One ring-buffer record; the tail is a union by type. */
struct mg_event {
	__u64 ts_ns;
	__u8 type;        /* enum mg_event_type */
	__u8 detail;      /* HELO: enum mg_cmd (HELO/EHLO); DROP: enum mg_drop_reason; MAIL: 0 */
	__u16 vlan_outer;
	__u16 vlan_inner;
	__u16 dport;      /* host order */
	__u8 src[MG_ADDR_LEN];
	__u8 dst[MG_ADDR_LEN];
	__u8 mac[6];
	__u16 sport;      /* host order */
	__u32 fp_hash;
	__u32 helo_hash;
	__u32 ifindex;
	__u8 arg_len;     /* HELO, MAIL: bytes valid in u.arg */
	__u8 monitor;     /* DROP: monitor mode was on, the packet passed */
	__u8 proof;       /* enum mg_proof: how far the source is proven to be who it claims */
	__u8 pad;
	union {
		char arg[MG_HELO_ARG_MAX];
		struct mg_syn_fp fp;
	} u;
};
_Static_assert(sizeof(struct mg_event) == 136, "mg_event layout");

/*
 * A protected IPv6 network with its own aggregation: sources inside it are
 * keyed by `aggregation` bits instead of v6_src_prefix. An office LAN (a /64
 * of SLAAC hosts) is per host (128), so that one bot's verdict does not cut
 * off its neighbours; an ISP's customer prefixes stay per /64. prefixlen and
 * aggregation count bits of the 16-byte address; aggregation >= prefixlen.
 */
struct mg_v6_net {
	__u8 addr[MG_ADDR_LEN];
	__u8 prefixlen;
	__u8 aggregation;
};
_Static_assert(sizeof(struct mg_v6_net) == 18, "mg_v6_net layout");
#define MG_V6_NETS_MAX 16

/* Does the network cover addr? Both sides choose a source's key length with it. */
static inline int mg_v6_net_covers(const struct mg_v6_net *n, const __u8 a[MG_ADDR_LEN])
{
	__u32 plen = n->prefixlen;

	for (int i = 0; i < MG_ADDR_LEN; i++) {
		if (plen <= (__u32)i * 8)
			break;
		__u8 mask = plen >= (__u32)(i + 1) * 8 ? 0xff : (__u8)(0xff << (8 - (plen - i * 8)));
		if ((a[i] ^ n->addr[i]) & mask)
			return 0;
	}
	return 1;
}

/*
 * The length an IPv6 source is keyed by: the aggregation of the longest
 * network in nets that covers it, else dflt. (The program runs the same loop
 * over its const volatile copy in mg_src_key_of(), which this cannot take.)
 */
static inline __u32 mg_v6_key_len(__u32 dflt, const struct mg_v6_net *nets, __u32 n, const __u8 a[MG_ADDR_LEN])
{
	__u32 plen = dflt, best = 0;

	for (__u32 i = 0; i < n && i < MG_V6_NETS_MAX; i++)
		if (nets[i].prefixlen >= best && mg_v6_net_covers(&nets[i], a)) {
			best = nets[i].prefixlen;
			plen = nets[i].aggregation;
		}
	return plen;
}

/*
 * Ordinary activity of every protected address (mg_activity, an array the
 * daemon maps into its memory). Profiles in mg_sources are created by SMTP
 * only, to resist floods; this record is what tells a PC that browsed for
 * hours from a source never seen before. One record per IPv4 address and one
 * per IPv6 /64 of the protected networks, at a fixed index: no insertion, no
 * eviction, so no flood can push anything out, and a spoofed protected
 * source only moves the counters of the address it forges.
 */
enum mg_act_class {
	MG_ACT_WEB = 0,   /* TCP SYNs to 80 and 443, UDP to 443 (QUIC) */
	MG_ACT_DNS,       /* UDP datagrams and TCP SYNs to 53 */
	MG_ACT_OTHER_TCP, /* TCP SYNs to any other port, submission (465, 587) included */
	MG_ACT_MX,        /* TCP SYNs to an MX port (25) */
	MG_ACT_CLASS_MAX,
};
/* mg_activity.classes: a bit per class ever seen, and one for any packet at all. */
#define MG_ACT_F_SEEN (1u << 7)
/* Web or other TCP: what an ordinary host does. DNS alone is no sign of it: a spam engine resolves MX hosts. */
#define MG_ACT_ORDINARY ((1u << MG_ACT_WEB) | (1u << MG_ACT_OTHER_TCP))

struct mg_activity {
	__u32 last_seen;                /* coarse CLOCK_MONOTONIC >> MG_ACT_TIME_SHIFT; valid once classes has MG_ACT_F_SEEN */
	__u16 flows[MG_ACT_CLASS_MAX];  /* per class; wrap (readers take differences) */
	__u16 hosts;                    /* IPv6: a bit per hashed interface ID seen in the /64 (linear counting); IPv4: 0 */
	__u8 classes;                   /* 1 << enum mg_act_class ever seen, and MG_ACT_F_SEEN */
	__u8 pad;
};
_Static_assert(sizeof(struct mg_activity) == 16, "mg_activity layout");
/* The bit of mg_activity.hosts an IPv6 interface ID (address words 2 and 3, as stored) sets. */
static inline __u16 mg_act_host_bit(__u32 w2, __u32 w3)
{
	return (__u16)(1u << (((w2 ^ w3) * 0x9e3779b1u) >> 28));
}
/* About a second (2^30 ns): a shift, not a division, on every packet of a protected source. */
#define MG_ACT_TIME_SHIFT 30

/*
 * Where the protected networks' records lie in mg_activity: `size` records
 * from `offset`, for IPv4 addresses from `base` (host order) or IPv6 /64
 * networks from `base` (the upper 64 bits, host order). Ranges never
 * overlap; unused slots have size 0 and come after the used ones.
 */
struct mg_act_range {
	__u64 base;
	__u32 size;
	__u32 offset;
	__u8 family;  /* 4 or 6 */
	__u8 pad[7];
};
_Static_assert(sizeof(struct mg_act_range) == 24, "mg_act_range layout");
/* Every packet of a protected family walks the ranges: a handful, checked one compare each. */
#define MG_ACT_MAX_RANGES 8
/* 16 MiB of records in all: an IPv4 /12, or an IPv6 /44 of /64s. */
#define MG_ACT_MAX_RECORDS (1u << 20)

#define MG_UPLINKS_MAX 8 /* uplink interfaces a program trusts server-side packets on */

/*
 * The uplinks' ifindexes, mg_uplinks' one entry: slot i is the i-th uplink
 * the loader was given, and only the first mg_tunables.n_uplinks slots are
 * compared (an unused slot, 0, never matches). A map rather than load-time
 * data because an uplink made again (a VLAN's ifdown/ifup, a bond rebuilt,
 * a driver reloaded) comes back with a new ifindex: the daemon writes it
 * here while the program runs, without a reload.
 */
struct mg_uplinks {
	__u32 ifindex[MG_UPLINKS_MAX];
};
_Static_assert(sizeof(struct mg_uplinks) == 4 * MG_UPLINKS_MAX, "mg_uplinks layout");

/*
 * Load-time tunables: one const volatile struct in the program's .rodata,
 * set by the loader before load. The verifier folds them into constants.
 */
struct mg_tunables {
	__u16 mx_ports[MG_PORTS_PER_CLASS];         /* default {25} */
	__u16 submission_ports[MG_PORTS_PER_CLASS]; /* default {465, 587} */
	__u32 syn_new_per_sec;     /* per CPU: new profiles a SYN may create per second */
	__u32 syn_new_burst;
	__u32 payload_new_per_sec; /* per CPU: new profiles SMTP payload may create per second */
	__u32 payload_new_burst;
	__u32 drop_events_per_sec; /* per CPU */
	__u8 v6_src_prefix;        /* IPv6 per-source profiles aggregate to this prefix (64) */
	__u8 handshake;            /* enum mg_handshake: when commands count as evidence */
	__u8 n_v6_nets;            /* entries in v6_nets */
	__u8 pad[1];
	/* Protected IPv6 networks with their own aggregation: the longest that covers a source wins. */
	struct mg_v6_net v6_nets[MG_V6_NETS_MAX];
	struct mg_act_range act[MG_ACT_MAX_RANGES]; /* protected networks' records in mg_activity */
	/* The rule index's geometry (mg_rule_index4/6 hold 2^bits words); 0: the default. See mg_rule_bits4/6. */
	__u8 rule_v4_bits; /* 8..24 */
	__u8 rule_v6_bits; /* 8..24 */
	__u8 src_filter_bits; /* mg_src_filter: 2^bits bits per generation, 14..28; 0: the default */
	__u8 helo_every;      /* nonzero: every HELO sends its event, repeats within the second too (the replay's: kernel time is not the capture's) */
	__u32 tick_ns;        /* the kernel's tick in ns (the loader's mg_tick_ns): the token buckets' clock is the tick count
			       * times this, an inlined load; 0: they read the coarse clock, a helper call */
	/*
	 * How many uplinks the operator declared (their ifindexes are in
	 * mg_uplinks, the first n_uplinks slots). With none, packets from an
	 * MX port move handshake and reply state whatever interface they
	 * arrive on, and the verifier folds the uplink test away; with some,
	 * only on these: a real server's SYN-ACK and replies arrive there, and
	 * an inside host forging them sends them elsewhere.
	 */
	__u8 n_uplinks;
	__u8 pad2[7];
};
_Static_assert(sizeof(struct mg_tunables) == 40 + MG_V6_NETS_MAX * 18 + 24 * MG_ACT_MAX_RANGES + 8 + 8,
	       "mg_tunables layout");

/*
 * The profile filter (mg_src_filter): a bit per hashed source key, set
 * whenever a profile is created in mg_sources or moved into either profile
 * map, before it is there. A clear bit proves the source has no profile, so
 * a packet from a new source (a spoofed flood's every packet) skips both
 * profile lookups, a miss in a million-entry table among them. Bits of
 * evicted profiles stay set until userspace refreshes the filter: two
 * generations, the kernel setting bits in both, the lookup reading the one
 * the last entry selects; userspace clears the other, sets the bits of every
 * profile its scan then reads, and selects it. A stale bit costs the two
 * lookups; no bit is ever missing for a profile that exists.
 * Entries: 2 * 2^(bits - 6) words, then the selector (0 or 1).
 */
#define MG_SRC_FILTER_BITS_DEFAULT 22 /* 4 Mi bits, 512 KiB per generation */
static inline __u32 mg_src_filter_bits(__u32 bits)
{
	return bits >= 14 && bits <= 28 ? bits : MG_SRC_FILTER_BITS_DEFAULT;
}
#define mg_src_filter_entries(bits) (2u * (1u << ((bits) - 6)) + 1)
/* The filter bit of a profile key (its four words as stored), for `bits` filter bits. */
static inline __u32 mg_src_filter_bit(const __u32 w[4], __u32 bits)
{
	return mg_addr_mix(w, 0) >> (32 - bits);
}

/* Entries for `bits` bucket bits: mg_rule_index4, one 8-byte entry a bucket; mg_rule_index6, two 32-bit words to one. */
#define mg_rule_entries4(bits) (1u << (bits))
#define mg_rule_entries6(bits) (1u << ((bits) - 1))
/* The bucket bits in force: out of range (or 0) is the default. The loader sizes the maps by the same rule. */
static inline __u32 mg_rule_bits4(__u32 bits)
{
	return bits >= 8 && bits <= 24 ? bits : MG_RULE_V4_BITS_DEFAULT;
}
static inline __u32 mg_rule_bits6(__u32 bits)
{
	return bits >= 8 && bits <= 24 ? bits : MG_RULE_V6_BITS_DEFAULT;
}

#define MG_TUNABLES_DEFAULT { \
	.mx_ports = { 25 }, \
	.submission_ports = { 465, 587 }, \
	.syn_new_per_sec = 2000, \
	.syn_new_burst = 200, \
	.payload_new_per_sec = 20000, \
	.payload_new_burst = 2000, \
	.drop_events_per_sec = 100, \
	.v6_src_prefix = 64, \
	.handshake = MG_HS_WHEN_SEEN, \
	.rule_v4_bits = MG_RULE_V4_BITS_DEFAULT, \
	.rule_v6_bits = MG_RULE_V6_BITS_DEFAULT, \
	.src_filter_bits = MG_SRC_FILTER_BITS_DEFAULT, \
}

/*
 * Key of mg_flows_pending and mg_flows_established: one TCP connection to an
 * MX port over IPv6, client side first whichever way the packet goes. Full
 * addresses (no IPv6 aggregation): this is one connection, not one source.
 */
struct mg_flow_key {
	__u8 client[MG_ADDR_LEN];
	__u8 server[MG_ADDR_LEN];
	__u16 client_port; /* host order */
	__u16 server_port; /* host order */
};
_Static_assert(sizeof(struct mg_flow_key) == 36, "mg_flow_key layout");

/* The same over IPv4, in mg_flows_pending4 and mg_flows_established4: a third of the bytes to hash and compare. */
struct mg_flow_key4 {
	__be32 client;      /* network order, as in the header */
	__be32 server;
	__u16 client_port;  /* host order */
	__u16 server_port;  /* host order */
};
_Static_assert(sizeof(struct mg_flow_key4) == 12, "mg_flow_key4 layout");

/* Value of both flow maps. */
struct mg_flow {
	__u64 since_ns;   /* pending: when the SYN-ACK was seen; established: when the client acknowledged it */
	__u32 server_isn; /* the server's initial sequence number: the client's ACK must carry it + 1 */
	__u32 pad;
};
_Static_assert(sizeof(struct mg_flow) == 16, "mg_flow layout");

/* Default map sizes (the loader can change them before load). */
#define MG_DEFAULT_MAX_SOURCES  262144
#define MG_DEFAULT_MAX_SERVERS  16384
#define MG_DEFAULT_MAX_POLICY   1048576 /* blocklist */
#define MG_DEFAULT_MAX_ALLOW    65536
#define MG_DEFAULT_RINGBUF_SIZE (1U << 20)
#define MG_DEFAULT_MAX_FLOWS    65536 /* each of pending and established MX-port connections */

#endif /* MTAGUARD_H */
