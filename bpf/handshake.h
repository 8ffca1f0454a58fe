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
 * Two LRU maps, both keyed by the connection (struct mg_flow_key):
 *  - mg_flows_pending: a SYN-ACK from an MX port was seen (the server's
 *    answer, which arrives on the uplink when the program is attached there;
 *    once the operator marked uplinks, only one arriving on them counts, so
 *    an inside host cannot forge it: mg_server_side_trusted in
 *    mtaguard.bpf.c); holds the server's ISN;
 *  - mg_flows_established: the client's segment acknowledged ISN + 1.
 * Entries in the second are only ever created by a completed handshake, so no
 * flood (of SYNs, of SYN-ACKs the flood provokes, of forged ACKs) can evict
 * established connections faster than real connections complete; a flood
 * that provokes SYN-ACKs churns only the pending map.
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

/* The connection `p` belongs to; from_server: p travels from the MX port to the client. */
static __always_inline void mg_flow_key_of(const struct mg_pkt *p, int from_server, struct mg_flow_key *k)
{
	const union mg_addr *client = from_server ? &p->dst : &p->src;
	const union mg_addr *server = from_server ? &p->src : &p->dst;

	__builtin_memcpy(k->client, client->b, MG_ADDR_LEN);
	__builtin_memcpy(k->server, server->b, MG_ADDR_LEN);
	k->client_port = from_server ? p->dport : p->sport;
	k->server_port = from_server ? p->sport : p->dport;
}

/*
 * A SYN-ACK from an MX port: the server's ISN, until the client acknowledges
 * it. A new handshake on a 4-tuple starts over: what was established there
 * belonged to an earlier connection.
 */
static __always_inline void mg_flow_synack(const struct mg_pkt *p, __u64 now)
{
	struct mg_flow_key k;
	struct mg_flow f = { .since_ns = now, .server_isn = p->seq };
	__u32 zero = 0;
	__u32 *seen = bpf_map_lookup_elem(&mg_flows_seen, &zero);

	/* Before the entry exists: a reader that finds the flag clear may rightly assume the maps empty. */
	if (seen && !*seen)
		*seen = 1;
	mg_flow_key_of(p, 1, &k);
	bpf_map_update_elem(&mg_flows_pending, &k, &f, BPF_ANY);
	bpf_map_delete_elem(&mg_flows_established, &k);
}

/*
 * The client's segment acknowledging `pend` (the pending SYN-ACK of this
 * connection): if it acknowledges exactly ISN + 1, the handshake completed.
 * Returns 1 then. Exactly, not "at least": later segments acknowledge the
 * server's data too, and by then the bare ACK that completed it was seen.
 */
static __always_inline int mg_flow_complete(const struct mg_flow_key *k, const struct mg_flow *pend,
					    const struct mg_pkt *p, __u64 now, struct mg_global_stats *st)
{
	if (p->ack_seq != pend->server_isn + 1)
		return 0;
	struct mg_flow est = { .since_ns = now, .server_isn = pend->server_isn };
	if (bpf_map_update_elem(&mg_flows_established, k, &est, BPF_ANY))
		return 0;
	bpf_map_delete_elem(&mg_flows_pending, k);
	st->flows_established++;
	return 1;
}

/* A client segment to an MX port with ACK set: does it complete a pending handshake? */
static __always_inline int mg_flow_ack(const struct mg_flow_key *k, const struct mg_pkt *p, __u64 now,
				       struct mg_global_stats *st)
{
	if (!mg_flows_any())
		return 0;
	struct mg_flow *pend = bpf_map_lookup_elem(&mg_flows_pending, k);

	return pend && mg_flow_complete(k, pend, p, now, st);
}

/*
 * How far commands in the client segment `p` are proven (enum mg_proof), under
 * `mode` (enum mg_handshake). MG_PROOF_NONE: they must not count. Two lookups
 * at most: established, then pending.
 */
static __always_inline int mg_flow_proof(const struct mg_pkt *p, int mode, __u64 now, struct mg_global_stats *st)
{
	struct mg_flow_key k;

	if (mode == MG_HS_OFF)
		return MG_PROOF_PAYLOAD;
	if (!mg_flows_any())
		return mode == MG_HS_REQUIRED ? MG_PROOF_NONE : MG_PROOF_PAYLOAD; /* no SYN-ACK ever seen: as below */
	mg_flow_key_of(p, 0, &k);
	if (bpf_map_lookup_elem(&mg_flows_established, &k))
		return MG_PROOF_HANDSHAKE;
	struct mg_flow *pend = bpf_map_lookup_elem(&mg_flows_pending, &k);
	if (pend) {
		/* An early talker's first command may itself carry the ACK of ISN + 1. */
		if (mg_flow_complete(&k, pend, p, now, st))
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
	struct mg_flow_key k;

	if (mode == MG_HS_OFF)
		return 1;
	if (!mg_flows_any())
		return mode != MG_HS_REQUIRED;
	mg_flow_key_of(p, 1, &k);
	if (bpf_map_lookup_elem(&mg_flows_established, &k))
		return 1;
	if (bpf_map_lookup_elem(&mg_flows_pending, &k))
		return 0; /* a SYN-ACK never acknowledged: no client ever saw this reply's connection */
	return mode != MG_HS_REQUIRED;
}

#endif
