/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * pktbuild.h - build test frames layer by layer: Ethernet, VLAN tags, IPv4
 * (with options and fragment fields), IPv6 (with extension headers), TCP
 * (with options), UDP, ICMP/ICMPv6, payload. pb_finish() fills in every
 * length, protocol/next-header and checksum, so a test states only what it is
 * about. Calls go outermost layer first:
 *
 *	struct pb p;
 *	struct pb_tcp_opts o;
 *	pb_init(&p);
 *	pb_eth(&p, NULL, NULL);
 *	pb_vlan(&p, 0x88a8, 100);
 *	pb_ipv4(&p, "198.18.0.1", "198.18.1.1", NULL);
 *	pb_tcp_opts_linux_syn(&o);
 *	pb_tcp(&p, 40000, 25, PB_TCP_SYN, &o);
 *	len = pb_finish(&p);           // frame is p.buf[0..len)
 *
 * Option structs follow one rule: a zeroed field means the usual value where
 * there is one (TTL 64, window 64240, seq 1000, computed lengths) and "off"
 * for flags, so `&(struct pb_tcp_opts){ .window = 1024 }` changes only the
 * window. NULL options are the same as zeroed ones except that IPv4 gets DF.
 * Misuse (bad address text, overflow, wrong layer order) aborts: it is a bug
 * in the test, not a test result.
 */
#ifndef PKTBUILD_H
#define PKTBUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PB_TCP_FIN 0x01
#define PB_TCP_SYN 0x02
#define PB_TCP_RST 0x04
#define PB_TCP_PSH 0x08
#define PB_TCP_ACK 0x10
#define PB_TCP_URG 0x20
#define PB_TCP_ECE 0x40
#define PB_TCP_CWR 0x80

#define PB_MAX_TAGS 4 /* VLAN tags per frame (more than QinQ, for "too deep" tests) */
#define PB_MAX_EXT  8 /* IPv6 extension headers per frame */

struct pb_ip_opts {
	uint8_t ttl;          /* TTL / hop limit; 0 means 64 */
	uint8_t tos;          /* IPv4 TOS / IPv6 traffic class */
	uint8_t df, mf;       /* IPv4 flags (nonzero = set). NULL options set DF. */
	uint16_t frag_off;    /* IPv4 fragment offset, in 8-byte units */
	uint16_t id;          /* IPv4 identification; 0 means 1 */
	uint32_t flow_label;  /* IPv6, 20 bits */
	const uint8_t *opts;  /* raw IPv4 options, copied verbatim, then */
	size_t opts_len;      /* zero-padded (EOL) to a multiple of 4; at most 40 */
	uint8_t ihl_override; /* nonzero: write this IHL (malformed tests; 1-4 are all invalid) */
	uint16_t len_override; /* nonzero: write this IPv4 total / IPv6 payload length */
};

struct pb_tcp_opts {
	uint16_t window;      /* 0 means 64240 */
	uint32_t seq, ack;    /* seq 0 means 1000 */
	uint8_t opts[40];     /* option bytes: set by hand or appended by pb_tcp_opt_*() */
	size_t opts_len;      /* zero-padded (EOL) to a multiple of 4 by pb_tcp() */
	uint8_t doff_override; /* nonzero: write this data offset (malformed headers, e.g. 4) */
};

/* Append one option to o->opts, in call order (a fingerprint is the order). */
void pb_tcp_opt_mss(struct pb_tcp_opts *o, uint16_t mss);
void pb_tcp_opt_ws(struct pb_tcp_opts *o, uint8_t shift);
void pb_tcp_opt_sackok(struct pb_tcp_opts *o);
void pb_tcp_opt_ts(struct pb_tcp_opts *o, uint32_t val, uint32_t ecr);
void pb_tcp_opt_nop(struct pb_tcp_opts *o);
void pb_tcp_opt_eol(struct pb_tcp_opts *o);
void pb_tcp_opt_raw(struct pb_tcp_opts *o, const void *bytes, size_t len);
/* Reset *o to a typical Linux SYN: window 64240; MSS 1460, SACK permitted,
 * timestamps (val 1, ecr 0), NOP, window scale 7 (20 option bytes, doff 10). */
void pb_tcp_opts_linux_syn(struct pb_tcp_opts *o);

/* Header boundaries (byte offsets) for pb_len_at(); Ethernet follows Linux's
 * struct ethhdr + struct vlan_hdr split, so each tag "ends" after the
 * EtherType/TPID that follows its TCI. */
enum pb_layer {
	PB_ETH_END,        /* 14: MACs and the first EtherType/TPID */
	PB_VLAN_OUTER_END, /* 18: outer TCI and the next EtherType/TPID; 0 if untagged */
	PB_VLAN_INNER_END, /* 22: second tag; 0 if fewer than two */
	PB_L3_START,       /* after the last EtherType (raw: where pb_ethertype_raw's data starts) */
	PB_IP_END,         /* after the IPv4 header with options, or the IPv6 fixed header */
	PB_L3_END,         /* after the last IPv6 extension header (= PB_IP_END without any) */
	PB_L4_START,       /* = PB_L3_END */
	PB_L4_END,         /* after the TCP header with options / UDP / ICMP header */
	PB_PAYLOAD_START,  /* = PB_L4_END when there is an L4 header */
	PB_PAYLOAD_END,    /* end of the IP datagram: before any pb_eth_pad() trailer */
	PB_END,            /* the frame length */
};

struct pb {
	uint8_t buf[4096];
	size_t len;
	/* Internal: where the layers sit, for pb_finish() and pb_len_at(). */
	size_t type_off;              /* EtherType field the next layer fills in */
	size_t tag_end[PB_MAX_TAGS];
	size_t ext_end[PB_MAX_EXT];
	size_t l3, ip_end, l4, payload, dgram_end;
	size_t nh_off;                /* IPv4 protocol byte, or the last IPv6 next-header byte */
	unsigned ntags, next;
	int ipver;                    /* 0 (no IP), 4 or 6 */
	uint8_t l4proto;              /* set by pb_tcp/udp/icmp/l4_raw; 0 = none */
	bool l4_opaque;               /* pb_l4_raw(): nothing to checksum */
	uint16_t len_override;
};

void pb_init(struct pb *p);
/* NULL MACs: 02:00:00:00:00:01 (source) and 02:00:00:00:00:02 (destination).
 * Writes a 14-byte header whose EtherType the next layer fills in. */
void pb_eth(struct pb *p, const uint8_t src_mac[6], const uint8_t dst_mac[6]);
/* A tag: tpid 0x8100 (802.1Q) or 0x88a8 (802.1ad outer); vid masked to 12 bits. */
void pb_vlan(struct pb *p, uint16_t tpid, uint16_t vid);
/* A non-IP EtherType (ARP 0x0806, ...): follow with pb_payload(). */
void pb_ethertype_raw(struct pb *p, uint16_t ethertype);

/* Addresses as text. o NULL: TTL/hop limit 64, DF set, no options. */
void pb_ipv4(struct pb *p, const char *src, const char *dst, const struct pb_ip_opts *o);
void pb_ipv6(struct pb *p, const char *src, const char *dst, const struct pb_ip_opts *o);
/*
 * An IPv6 extension header after the fixed header or the previous one.
 * type 44 (fragment): arg is the fragment offset in 8-byte units, mf the M flag.
 * Other types (0 hop-by-hop, 43 routing, 60 destination options, or anything
 * else for "unknown header" tests): arg is the header length in bytes, a
 * multiple of 8 (0 means 8); hop-by-hop and destination options are filled
 * with padding options; routing is type 0, segments left 0, every address
 * slot the destination (so any reading of "final destination" agrees). AH
 * (51) gets its own length unit (4 bytes) right, and may follow pb_ipv4()
 * too (IPv4's protocol 51).
 */
void pb_ipv6_ext(struct pb *p, uint8_t type, uint16_t arg, int mf);

void pb_tcp(struct pb *p, uint16_t sport, uint16_t dport, uint8_t flags, const struct pb_tcp_opts *o);
void pb_udp(struct pb *p, uint16_t sport, uint16_t dport);
/* ICMP for IPv4, ICMPv6 for IPv6 (checksummed with the pseudo-header). */
void pb_icmp(struct pb *p, uint8_t type, uint8_t code, uint16_t id, uint16_t seq);
void pb_icmp_echo(struct pb *p, uint16_t id, uint16_t seq); /* request: type 8 / 128 */
/* Only the protocol number: what follows is opaque (non-first fragments). */
void pb_l4_raw(struct pb *p, uint8_t proto);

void pb_payload(struct pb *p, const void *data, size_t len);
void pb_payload_str(struct pb *p, const char *s);
/* Zero-pad the frame to min_len (60: the Ethernet minimum) after the IP
 * datagram; lengths and checksums leave the trailer out. Call last. */
void pb_eth_pad(struct pb *p, size_t min_len);

/* Fill lengths and checksums; returns the frame length. May be called again. */
size_t pb_finish(struct pb *p);

/* Offset of a boundary (see enum pb_layer); 0 when that layer is absent. */
size_t pb_len_at(const struct pb *p, enum pb_layer layer);
/* End of IPv6 extension header i (0 = first); 0 if there is no such header. */
size_t pb_ext_end(const struct pb *p, unsigned i);
/* Every offset where a header starts or ends, ascending, distinct, each < len
 * (0 included): cut a frame at each to test truncation. Returns the count
 * (at most max are stored). */
size_t pb_cuts(const struct pb *p, size_t *out, size_t max);

/* IPv4 or IPv6 text to mtaguard's 16-byte form (IPv4 as ::ffff:a.b.c.d). */
void pb_v4mapped(const char *addr, uint8_t out[16]);
/* Internet checksum of data, starting from the 32-bit partial sum `sum`. */
uint16_t pb_csum(const void *data, size_t len, uint32_t sum);

#endif
