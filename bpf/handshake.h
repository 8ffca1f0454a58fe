/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * handshake.h - which MX-port connections completed a handshake this box saw.
 *
 * A spoofer can send a SYN, or a segment full of SMTP commands, with any
 * source address, but it never receives the server's SYN-ACK, which goes to
 * the address it forged. So the client's acknowledgement of the server's
 * initial sequence number + 1 is evidence a spoofer cannot fake (short of
 * guessing 32 random bits per try), and commands on such a connection prove
 * that their source is who it claims to be.
 *
 * Two LRU maps per family, keyed by the connection (struct mg_flow_key4
 * for IPv4, 12 bytes; struct mg_flow_key for IPv6, 36):
 *  - mg_flows_pending4, mg_flows_pending: a SYN-ACK from an MX port was seen
 *    (the server's answer, which arrives on the uplink when the program is
 *    attached there; once the operator marked uplinks, only one arriving on
 *    them counts, so an inside host cannot forge it: mg_server_side_trusted
 *    in mtaguard.bpf.c); holds the server's ISN;
 *  - mg_flows_established4, mg_flows_established: the client's segment
 *    acknowledged ISN + 1.
 * Entries in the second are only ever created by a completed handshake, so no
 * flood (of SYNs, of SYN-ACKs the flood provokes, of forged ACKs) can evict
 * established connections faster than real connections complete; a flood
 * that provokes SYN-ACKs churns only the pending map.
 *
 * IPv4 has maps of its own, as its rules do: a lookup hashes and compares
 * the key, and a 12-byte key costs half what the 36 bytes of two v4-mapped
 * addresses did (a proven command segment: 57 ns to 51, make bench). The
 * family is the packet's IP version: a segment of an IPv6 header with
 * v4-mapped addresses is an IPv6 connection.
 *
 * Costs: a SYN-ACK from an MX port pays one update and one delete; a bare ACK
 * to an MX port pays one lookup; a segment holding commands to an MX port
 * pays one lookup (two when it is on no established connection), and so
 * does a reply from an MX port toward a client that has a profile. Ordinary
 * traffic, message bodies and every other port pay nothing, and neither does
 * anything on a box that never saw a SYN-ACK (mg_flows_seen).
 */
#ifndef MG_BPF_HANDSHAKE_H
#define MG_BPF_HANDSHAKE_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "mtaguard.h"
#include "parse.h"

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct mg_flow_key4);
	__type(value, struct mg_flow);
	__uint(max_entries, MG_DEFAULT_MAX_FLOWS);
} mg_flows_pending4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct mg_flow_key4);
	__type(value, struct mg_flow);
	__uint(max_entries, MG_DEFAULT_MAX_FLOWS);
} mg_flows_established4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct mg_flow_key);
	__type(value, struct mg_flow);
	__uint(max_entries, MG_DEFAULT_MAX_FLOWS);
} mg_flows_pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct mg_flow_key);
	__type(value, struct mg_flow);
	__uint(max_entries, MG_DEFAULT_MAX_FLOWS);
} mg_flows_established SEC(".maps");

/*
 * Whether this instance ever saw a SYN-ACK from an MX port (entry 0, 0 or
 * 1). Until it has, both flow maps are empty (pending entries come only from
 * SYN-ACKs, established ones only from pending ones), so every lookup would
 * miss: a box that sees one direction, the common deployment, skips them.
 * Set once, never cleared: on a box that sees both directions nothing changes.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1);
} mg_flows_seen SEC(".maps");

static __always_inline int mg_flows_any(void)
{
	__u32 zero = 0;
	__u32 *seen = bpf_map_lookup_elem(&mg_flows_seen, &zero);

	return !seen || *seen;
}

/* One connection's key in its family's maps (mg_flow_key_of): v4 says which of the two it is. */
struct mg_flow_conn {
	union {
		struct mg_flow_key4 k4;
		struct mg_flow_key k6;
	};
	int v4;
};

/* The connection `p` belongs to; from_server: p travels from the MX port to the client. */
static __always_inline void mg_flow_key_of(const struct mg_pkt *p, int from_server, struct mg_flow_conn *c)
{
	const union mg_addr *client = from_server ? &p->dst : &p->src;
	const union mg_addr *server = from_server ? &p->src : &p->dst;
	__u16 client_port = from_server ? p->dport : p->sport;
	__u16 server_port = from_server ? p->sport : p->dport;

	c->v4 = p->ip_version == 4;
	if (c->v4) {
		c->k4.client = client->w[3];
		c->k4.server = server->w[3];
		c->k4.client_port = client_port;
		c->k4.server_port = server_port;
		return;
	}
	__builtin_memcpy(c->k6.client, client->b, MG_ADDR_LEN);
	__builtin_memcpy(c->k6.server, server->b, MG_ADDR_LEN);
	c->k6.client_port = client_port;
	c->k6.server_port = server_port;
}

/*
 * The map operations on a connection, each family's map at a call of its
 * own. Left alone, the compiler merges the two families' calls into one
 * whose map is either; the verifier inlines only a call that reaches one
 * map, and makes any other an indirect call through the map's operations.
 * MG_FAMILY_APART ends each family's branch with an instruction the other
 * cannot share (its immediate differs, and an immediate cannot be merged),
 * so the calls before it stay apart.
 */
#define MG_FAMILY_APART(v4) asm volatile("" : : "i"(v4))

static __always_inline struct mg_flow *mg_flow_pending_find(const struct mg_flow_conn *c)
{
	struct mg_flow *f;

	if (c->v4) {
		f = bpf_map_lookup_elem(&mg_flows_pending4, &c->k4);
		MG_FAMILY_APART(1);
	} else {
		f = bpf_map_lookup_elem(&mg_flows_pending, &c->k6);
		MG_FAMILY_APART(0);
	}
	return f;
}

static __always_inline struct mg_flow *mg_flow_established_find(const struct mg_flow_conn *c)
{
	struct mg_flow *f;

	if (c->v4) {
		f = bpf_map_lookup_elem(&mg_flows_established4, &c->k4);
		MG_FAMILY_APART(1);
	} else {
		f = bpf_map_lookup_elem(&mg_flows_established, &c->k6);
		MG_FAMILY_APART(0);
	}
	return f;
}

/*
 * A SYN-ACK from an MX port: the server's ISN, until the client acknowledges
 * it. A new handshake on a 4-tuple starts over: what was established there
 * belonged to an earlier connection.
 */
static __always_inline void mg_flow_synack(const struct mg_pkt *p, __u64 now)
{
	struct mg_flow_conn c;
	struct mg_flow f = { .since_ns = now, .server_isn = p->seq };
	__u32 zero = 0;
	__u32 *seen = bpf_map_lookup_elem(&mg_flows_seen, &zero);

	/* Before the entry exists: a reader that finds the flag clear may rightly assume the maps empty. */
	if (seen && !*seen)
		*seen = 1;
	mg_flow_key_of(p, 1, &c);
	if (c.v4) {
		bpf_map_update_elem(&mg_flows_pending4, &c.k4, &f, BPF_ANY);
		bpf_map_delete_elem(&mg_flows_established4, &c.k4);
		MG_FAMILY_APART(1);
	} else {
		bpf_map_update_elem(&mg_flows_pending, &c.k6, &f, BPF_ANY);
		bpf_map_delete_elem(&mg_flows_established, &c.k6);
		MG_FAMILY_APART(0);
	}
}

/*
 * The client's segment acknowledging `pend` (the pending SYN-ACK of this
 * connection): if it acknowledges exactly ISN + 1, the handshake completed.
 * Returns 1 then. Exactly, not "at least": later segments acknowledge the
 * server's data too, and by then the bare ACK that completed it was seen.
 */
static __always_inline int mg_flow_complete(const struct mg_flow_conn *c, const struct mg_flow *pend,
					    const struct mg_pkt *p, __u64 now, struct mg_global_stats *st)
{
	if (p->ack_seq != pend->server_isn + 1)
		return 0;
	struct mg_flow est = { .since_ns = now, .server_isn = pend->server_isn };
	if (c->v4) {
		if (bpf_map_update_elem(&mg_flows_established4, &c->k4, &est, BPF_ANY))
			return 0;
		bpf_map_delete_elem(&mg_flows_pending4, &c->k4);
		MG_FAMILY_APART(1);
	} else {
		if (bpf_map_update_elem(&mg_flows_established, &c->k6, &est, BPF_ANY))
			return 0;
		bpf_map_delete_elem(&mg_flows_pending, &c->k6);
		MG_FAMILY_APART(0);
	}
	st->flows_established++;
	return 1;
}

/* A client segment to an MX port with ACK set: does it complete a pending handshake? */
static __always_inline int mg_flow_ack(const struct mg_flow_conn *c, const struct mg_pkt *p, __u64 now,
				       struct mg_global_stats *st)
{
	if (!mg_flows_any())
		return 0;
	struct mg_flow *pend = mg_flow_pending_find(c);

	return pend && mg_flow_complete(c, pend, p, now, st);
}

/*
 * How far commands in the client segment `p` are proven (enum mg_proof), under
 * `mode` (enum mg_handshake). MG_PROOF_NONE: they must not count. Two lookups
 * at most: established, then pending.
 */
static __always_inline int mg_flow_proof(const struct mg_pkt *p, int mode, __u64 now, struct mg_global_stats *st)
{
	struct mg_flow_conn c;

	if (mode == MG_HS_OFF)
		return MG_PROOF_PAYLOAD;
	if (!mg_flows_any())
		return mode == MG_HS_REQUIRED ? MG_PROOF_NONE : MG_PROOF_PAYLOAD; /* no SYN-ACK ever seen: as below */
	mg_flow_key_of(p, 0, &c);
	if (mg_flow_established_find(&c))
		return MG_PROOF_HANDSHAKE;
	struct mg_flow *pend = mg_flow_pending_find(&c);
	if (pend) {
		/* An early talker's first command may itself carry the ACK of ISN + 1. */
		if (mg_flow_complete(&c, pend, p, now, st))
			return MG_PROOF_HANDSHAKE;
		/*
		 * A SYN-ACK this box saw, never acknowledged by the client: a
		 * spoofer racing a real server's answer, in either mode.
		 */
		return MG_PROOF_NONE;
	}
	/* No SYN-ACK seen at all: what a box that sees one direction sees. */
	return mode == MG_HS_REQUIRED ? MG_PROOF_NONE : MG_PROOF_PAYLOAD;
}

/*
 * Does the server segment `p` (from an MX port to the client) lie on a
 * connection proven as far as `mode` asks of commands (mg_flow_proof)? A
 * forged reply costs nothing to send and needs no handshake: without this
 * an off-path spoofer could raise any profiled address's reject ratio. Its
 * own connection's replies arrive only once the client's ACK established it.
 */
static __always_inline int mg_flow_reply_proven(const struct mg_pkt *p, int mode)
{
	struct mg_flow_conn c;

	if (mode == MG_HS_OFF)
		return 1;
	if (!mg_flows_any())
		return mode != MG_HS_REQUIRED;
	mg_flow_key_of(p, 1, &c);
	if (mg_flow_established_find(&c))
		return 1;
	if (mg_flow_pending_find(&c))
		return 0; /* a SYN-ACK never acknowledged: no client ever saw this reply's connection */
	return mode != MG_HS_REQUIRED;
}

#endif
