/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * pktbuild.h - build test frames layer by layer: Ethernet, VLAN tags, IPv4
 * (with options and fragment fields), IPv6 (with extension headers), TCP
 * (with options), ICMP echo, payload. pb_finish() fills in every length,
 * next-header and checksum, so a test states only what it is about.
 */
#ifndef PKTBUILD_H
#define PKTBUILD_H

#include <stddef.h>
#include <stdint.h>

#define PB_TCP_FIN 0x01
#define PB_TCP_SYN 0x02
#define PB_TCP_RST 0x04
#define PB_TCP_PSH 0x08
#define PB_TCP_ACK 0x10

struct pb_ip_opts {
	uint8_t ttl;           /* TTL / hop limit; 0 means 64 */
	uint8_t df, mf;        /* IPv4 flags */
	uint16_t frag_off;     /* IPv4 fragment offset, in 8-byte units */
	const uint8_t *opts;   /* raw IPv4 options (a multiple of 4 bytes) */
	size_t opts_len;
};

struct pb_tcp_opts {
	uint16_t window;       /* 0 means 64240 */
	uint32_t seq, ack;
	uint8_t opts[40];      /* raw option bytes */
	size_t opts_len;       /* a multiple of 4 */
	uint8_t doff_override; /* nonzero: write this data offset (malformed headers) */
};

enum pb_layer { PB_L3_START, PB_L4_START, PB_L4_END, PB_END };

struct pb {
	uint8_t buf[2048];
	size_t len;
	/* where to patch at pb_finish() */
	size_t ethertype_off;  /* the last ethertype field written */
	size_t l3, l4, payload;
	int ipver;
	size_t nexthdr_off;    /* IPv4 protocol byte, or the last IPv6 next-header byte */
	uint8_t l4proto;
	uint8_t src[16], dst[16];
};

void pb_init(struct pb *p);
/* NULL MACs: 02:00:00:00:00:01 (source) and 02:00:00:00:00:02 (destination). */
void pb_eth(struct pb *p, const uint8_t src_mac[6], const uint8_t dst_mac[6]);
void pb_vlan(struct pb *p, uint16_t tpid, uint16_t vid);
void pb_ethertype_raw(struct pb *p, uint16_t ethertype);
void pb_ipv4(struct pb *p, const char *src, const char *dst, const struct pb_ip_opts *o);
void pb_ipv6(struct pb *p, const char *src, const char *dst, const struct pb_ip_opts *o);
/* type 0 hop-by-hop, 43 routing, 60 destination options (8 bytes each), 44 fragment (offset in 8-byte units, M flag). */
void pb_ipv6_ext(struct pb *p, uint8_t type, uint16_t frag_off, int more_fragments);
void pb_tcp(struct pb *p, uint16_t sport, uint16_t dport, uint8_t flags, const struct pb_tcp_opts *o);
/* MSS 1460, SACK permitted, timestamps, NOP, window scale 7: a typical Linux SYN. */
void pb_tcp_opts_linux_syn(struct pb_tcp_opts *o);
void pb_icmp_echo(struct pb *p, uint16_t id, uint16_t seq);
void pb_payload(struct pb *p, const void *data, size_t len);
void pb_payload_str(struct pb *p, const char *s);
/* Fill lengths, next headers and checksums; returns the frame length. */
size_t pb_finish(struct pb *p);
/* Offset at which a layer starts (or, for PB_L4_END, where the payload starts). */
size_t pb_len_at(const struct pb *p, enum pb_layer layer);

/* Internet checksum helper, exposed for tests of the builder. */
uint16_t pb_csum(const void *data, size_t len, uint32_t sum);

#endif
