/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * parse.h - header parsing for the XDP program: Ethernet with up to two VLAN
 * tags, IPv4 with options, IPv6 with a bounded walk over extension headers,
 * IPsec AH in either family, TCP with any data offset. In two steps:
 * mg_parse_l2 (Ethernet and its tags, into registers: the program's fast
 * path decides on that) and mg_parse_l3 (the rest, into the packet record
 * the handlers take).
 *
 * Parsing never decides to drop: a frame we cannot read is reported as
 * MG_PARSE_ERROR or MG_PARSE_NOT_IP and the caller passes it. A frame whose
 * L4 lies past a header the walk cannot see beyond is MG_PARSE_OK with
 * l4_unknown set: enforcement, not the parser, decides what that means.
 */
#ifndef MG_BPF_PARSE_H
#define MG_BPF_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/in.h>
#include <bpf/bpf_endian.h>

#define MG_MAX_VLAN_TAGS 2

/*
 * Offsets handed to subprograms are bounded so that base + offset stays
 * below the verifier's MAX_PACKET_OFF (0xffff); frames are far smaller.
 */
#define MG_OFF_MASK 0x3fff

/* Hide a value from the compiler's range reasoning so an explicit mask survives for the verifier. */
#define mg_barrier_var(v) asm volatile("" : "+r"(v))
#define MG_MAX_V6_EXT    6 /* extension headers walked before giving up on L4 */

#ifndef IPPROTO_HOPOPTS
#define IPPROTO_HOPOPTS 0
#endif
#ifndef IPPROTO_ROUTING
#define IPPROTO_ROUTING 43
#endif
#ifndef IPPROTO_FRAGMENT
#define IPPROTO_FRAGMENT 44
#endif
#ifndef IPPROTO_DSTOPTS
#define IPPROTO_DSTOPTS 60
#endif
#ifndef IPPROTO_AH
#define IPPROTO_AH 51
#endif

/*
 * The IPv6 extension headers (RFC 7045's list) the walk does not step over:
 * Mobility (RFC 6275), HIP (RFC 7401), Shim6 (RFC 5533) and the two for
 * experiments (RFC 3692, 4727). TCP may follow any of them. ESP (50) is on
 * that list too but is not one of these: what follows it is ciphertext only
 * the holder of its SA reads, passed as what it is.
 */
#define MG_CASE_V6_UNWALKED case 135: case 139: case 140: case 253: case 254

enum mg_parse_result {
	MG_PARSE_OK = 0,
	MG_PARSE_NOT_IP,   /* not IPv4/IPv6, or more VLAN tags than we walk */
	MG_PARSE_ERROR,    /* truncated or malformed header */
};

/* Addresses in both the byte form of the ABI and words for hashing. */
union mg_addr {
	__u8 b[16];
	__u32 w[4];
};

/*
 * What the parse learned, as plain values (no packet pointers): handlers are
 * global subprograms, verified once each, and receive this by pointer. Those
 * that need packet bytes re-derive them from ctx with the offsets here.
 */
struct mg_pkt {
	union mg_addr src, dst;
	__u16 vlan_outer, vlan_inner;
	__u16 sport, dport;  /* host order; valid when has_tcp */
	__u16 tcp_off;       /* TCP header offset from the frame start */
	__u16 payload_off;   /* TCP payload offset from the frame start */
	__u16 payload_len;   /* by the IP length, not the frame: Ethernet padding is not payload */
	__u32 seq, ack_seq;  /* host order; valid when has_tcp */
	__u8 tcp_flags;      /* the TCP flags byte (FIN 0x01 ... CWR 0x80) */
	__u8 has_tcp;        /* a full TCP header was parsed */
	__u8 ip_version;
	__u8 l4_proto;
	__u8 ttl;
	__u8 df;
	__u8 has_udp;        /* sport/dport are a UDP datagram's (the activity record's DNS and QUIC) */
	/* The rare cases, side by side: the program asks whether either is set as one 16-bit word (rare). */
	union {
		struct {
			__u8 fragment;       /* a non-first fragment: no L4 header here */
			/*
			 * The walk stopped at a header it cannot see past (more IPv6
			 * extension headers than it takes, one it does not know, a
			 * first fragment that ends inside them or inside TCP): TCP may
			 * follow, to any port. The receiving stack may walk on (or
			 * reassemble) and deliver it.
			 */
			__u8 l4_unknown;
		};
		__u16 rare;
	};
	__u8 pad[2];
};

#define MG_TCP_FIN 0x01
#define MG_TCP_SYN 0x02
#define MG_TCP_RST 0x04
#define MG_TCP_ACK 0x10

/* Pointers used while parsing only. */
struct mg_cursor {
	void *data;
	void *data_end;
	void *l3_end; /* end of the IP datagram (may lie past data_end if the frame was cut) */
	/*
	 * A first fragment with more to come: the receiver reassembles before
	 * it reads TCP, so a header cut short here is not malformed, only
	 * unseen (RFC 1858's tiny fragments; Linux asks an IPv6 one for 20
	 * bytes of TCP header and an IPv4 one for none).
	 */
	__u8 head_frag;
};

/* A header past IP cut short: malformed, or in a first fragment merely not all here. */
static __always_inline int mg_l4_cut(struct mg_cursor *c, struct mg_pkt *p)
{
	if (!c->head_frag)
		return MG_PARSE_ERROR;
	p->l4_unknown = 1;
	p->l4_proto = IPPROTO_NONE;
	return MG_PARSE_OK;
}

static __always_inline void mg_v4_mapped(union mg_addr *a, __be32 v4)
{
	a->w[0] = 0;
	a->w[1] = 0;
	a->w[2] = bpf_htonl(0x0000ffff);
	a->w[3] = v4;
}

/*
 * What the Ethernet header and its tags said, in registers: the caller
 * decides on it before anything is stored in a packet record (the fast
 * path, mtaguard.bpf.c).
 */
struct mg_l2 {
	void *l3;                     /* the network header */
	__u16 proto;                  /* its EtherType, network order */
	__u16 vlan_outer, vlan_inner; /* 0: no such tag */
};

static __always_inline int mg_parse_l2(struct mg_cursor *c, struct mg_l2 *l2)
{
	struct ethhdr *eth = c->data;

	l2->vlan_outer = l2->vlan_inner = 0;
	if ((void *)(eth + 1) > c->data_end)
		return MG_PARSE_ERROR;
	/* One 16-bit load: struct ethhdr is packed, and its field would be read a byte at a time. */
	l2->proto = *(__be16 *)((__u8 *)eth + 12);
	l2->l3 = eth + 1;

#pragma unroll
	for (int i = 0; i < MG_MAX_VLAN_TAGS; i++) {
		if (l2->proto != bpf_htons(ETH_P_8021Q) && l2->proto != bpf_htons(ETH_P_8021AD))
			return MG_PARSE_OK;
		/* struct vlan_hdr: TCI, then the encapsulated ethertype */
		__be16 *vh = l2->l3;
		if ((void *)(vh + 2) > c->data_end)
			return MG_PARSE_ERROR;
		__u16 vid = bpf_ntohs(vh[0]) & 0x0fff;
		if (i == 0)
			l2->vlan_outer = vid;
		else
			l2->vlan_inner = vid;
		l2->proto = vh[1];
		l2->l3 = vh + 2;
	}
	if (l2->proto == bpf_htons(ETH_P_8021Q) || l2->proto == bpf_htons(ETH_P_8021AD))
		return MG_PARSE_NOT_IP; /* a third tag: not ours to walk */
	return MG_PARSE_OK;
}

static __always_inline int mg_parse_ipv4(struct mg_cursor *c, struct mg_pkt *p, void **pos)
{
	struct iphdr *iph = *pos;

	if ((void *)(iph + 1) > c->data_end)
		return MG_PARSE_ERROR;
	__u32 ihl = iph->ihl * 4;
	if (iph->version != 4 || ihl < sizeof(*iph))
		return MG_PARSE_ERROR;
	if ((void *)iph + ihl > c->data_end)
		return MG_PARSE_ERROR;
	__u32 tot_len = bpf_ntohs(iph->tot_len);
	if (tot_len < ihl)
		return MG_PARSE_ERROR;

	mg_v4_mapped(&p->src, iph->saddr);
	mg_v4_mapped(&p->dst, iph->daddr);
	p->ip_version = 4;
	p->ttl = iph->ttl;
	__u16 frag = bpf_ntohs(iph->frag_off);
	p->df = !!(frag & 0x4000);
	p->fragment = (frag & 0x1fff) != 0;
	c->head_frag = (frag & 0x3fff) == 0x2000; /* MF, offset 0 */
	p->l4_proto = iph->protocol;
	c->l3_end = (void *)iph + tot_len;
	*pos = (void *)iph + ihl;
	if (p->l4_proto == IPPROTO_AH && !p->fragment) {
		/*
		 * AH (RFC 4302) sits between IPv4 and TCP as it does in IPv6, in
		 * 4-byte units plus 2. One is walked; a second (nested SAs, never
		 * seen in mail) is a header we do not see past.
		 */
		__u8 *ah = *pos;
		if ((void *)(ah + 2) > c->data_end)
			return mg_l4_cut(c, p);
		p->l4_proto = ah[0];
		p->l4_unknown = ah[0] == IPPROTO_AH;
		*pos = ah + (ah[1] + 2) * 4;
	}
	return MG_PARSE_OK;
}

static __always_inline int mg_parse_ipv6(struct mg_cursor *c, struct mg_pkt *p, void **pos)
{
	struct ipv6hdr *ip6h = *pos;

	if ((void *)(ip6h + 1) > c->data_end)
		return MG_PARSE_ERROR;
	if (ip6h->version != 6)
		return MG_PARSE_ERROR;
	__builtin_memcpy(p->src.b, &ip6h->saddr, 16);
	__builtin_memcpy(p->dst.b, &ip6h->daddr, 16);
	p->ip_version = 6;
	p->ttl = ip6h->hop_limit;
	c->l3_end = (void *)(ip6h + 1) + bpf_ntohs(ip6h->payload_len);

	__u8 nh = ip6h->nexthdr;
	void *cur = ip6h + 1;

#pragma unroll
	for (int i = 0; i < MG_MAX_V6_EXT; i++) {
		__u8 *ext = cur;
		switch (nh) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
			if ((void *)(ext + 2) > c->data_end)
				return mg_l4_cut(c, p);
			nh = ext[0];
			cur = ext + (ext[1] + 1) * 8;
			continue;
		case IPPROTO_AH:
			/* RFC 4302: the length is in 4-byte units, less 2. */
			if ((void *)(ext + 2) > c->data_end)
				return mg_l4_cut(c, p);
			nh = ext[0];
			cur = ext + (ext[1] + 2) * 4;
			continue;
		case IPPROTO_FRAGMENT:
			if ((void *)(ext + 8) > c->data_end)
				return mg_l4_cut(c, p);
			nh = ext[0];
			cur = ext + 8;
			/* offset is the high 13 bits of bytes 2-3, then the M flag in the lowest */
			c->head_frag = (bpf_ntohs(*(__be16 *)(ext + 2)) & 0xfff9) == 1;
			if ((bpf_ntohs(*(__be16 *)(ext + 2)) & 0xfff8) != 0) {
				/*
				 * A non-first fragment: the headers nh names were in the
				 * first one; what follows here is data, not a header to walk.
				 */
				p->fragment = 1;
				p->l4_proto = nh;
				*pos = cur;
				return MG_PARSE_OK;
			}
			continue;
		MG_CASE_V6_UNWALKED:
			p->l4_unknown = 1;
			/* fallthrough */
		default:
			p->l4_proto = nh;
			*pos = cur;
			return MG_PARSE_OK;
		}
	}
	/* As many headers as the walk takes: what the last one names may still be L4. */
	switch (nh) {
	case IPPROTO_HOPOPTS:
	case IPPROTO_ROUTING:
	case IPPROTO_DSTOPTS:
	case IPPROTO_FRAGMENT:
	case IPPROTO_AH:
	MG_CASE_V6_UNWALKED:
		/* Too many extension headers to walk: addresses are known, L4 is not. */
		p->l4_unknown = 1;
		p->l4_proto = IPPROTO_NONE;
		break;
	default:
		p->l4_proto = nh;
		break;
	}
	*pos = cur;
	return MG_PARSE_OK;
}

static __always_inline int mg_parse_tcp(struct mg_cursor *c, struct mg_pkt *p, void *pos)
{
	struct tcphdr *tcp = pos;

	if ((void *)(tcp + 1) > c->data_end)
		return MG_PARSE_ERROR;
	__u32 doff = tcp->doff * 4;
	if (doff < sizeof(*tcp))
		return MG_PARSE_ERROR;
	if (pos + doff > c->data_end)
		return MG_PARSE_ERROR;
	if (pos + doff > c->l3_end)
		return MG_PARSE_ERROR; /* header claims more than the datagram holds */
	p->has_tcp = 1;
	p->sport = bpf_ntohs(tcp->source);
	p->dport = bpf_ntohs(tcp->dest);
	p->tcp_flags = ((__u8 *)tcp)[13];
	p->seq = bpf_ntohl(tcp->seq);
	p->ack_seq = bpf_ntohl(tcp->ack_seq);
	p->tcp_off = pos - c->data;
	p->payload_off = pos + doff - c->data;
	p->payload_len = c->l3_end - (pos + doff);
	return MG_PARSE_OK;
}

/*
 * UDP: the ports only. A short header leaves has_udp clear; it is no parse
 * error (the packet is not ours to judge). Short by the IP length too: past
 * the datagram's end lie the frame's padding bytes, not ports.
 */
static __always_inline int mg_parse_udp(struct mg_cursor *c, struct mg_pkt *p, void *pos)
{
	__be16 *ports = pos;

	if ((void *)(ports + 2) > c->data_end || (void *)(ports + 2) > c->l3_end)
		return MG_PARSE_OK;
	p->has_udp = 1;
	p->sport = bpf_ntohs(ports[0]);
	p->dport = bpf_ntohs(ports[1]);
	return MG_PARSE_OK;
}

/* The cursor of the frame in ctx. */
static __always_inline struct mg_cursor mg_cursor_of(struct xdp_md *ctx)
{
	struct mg_cursor c = {
		.data = (void *)(long)ctx->data,
		.data_end = (void *)(long)ctx->data_end,
	};
	return c;
}

/*
 * Parse the rest of a frame, from what mg_parse_l2 found (MG_PARSE_OK),
 * down to TCP (or UDP's ports) into p, zeroed by the caller. MG_PARSE_OK
 * with !p->has_tcp: IP, but no TCP to look at.
 */
static __always_inline int mg_parse_l3(struct mg_cursor *c, const struct mg_l2 *l2, struct mg_pkt *p)
{
	void *pos = l2->l3;
	int ret;

	p->vlan_outer = l2->vlan_outer;
	p->vlan_inner = l2->vlan_inner;
	if (l2->proto == bpf_htons(ETH_P_IP))
		ret = mg_parse_ipv4(c, p, &pos);
	else if (l2->proto == bpf_htons(ETH_P_IPV6))
		ret = mg_parse_ipv6(c, p, &pos);
	else
		return MG_PARSE_NOT_IP;
	if (ret != MG_PARSE_OK)
		return ret;
	if (p->fragment)
		return MG_PARSE_OK;
	if (p->l4_proto == IPPROTO_UDP)
		return mg_parse_udp(c, p, pos);
	if (p->l4_proto != IPPROTO_TCP)
		return MG_PARSE_OK;
	ret = mg_parse_tcp(c, p, pos);
	return ret == MG_PARSE_OK ? ret : mg_l4_cut(c, p);
}

#endif
