// SPDX-License-Identifier: GPL-2.0-only
/*
 * lib_pktbuild.c - the frame builder of pktbuild.h.
 *
 * Headers are written as they are added, with lengths and checksums zero;
 * the builder remembers where each layer sits, and pb_finish() patches the
 * fields that depend on what came later. Protocol / next-header bytes are
 * patched as soon as the next layer is known, so the chain is always right
 * even for a frame that stops early.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pktbuild.h"

#define PB_NO_NEXT_HDR 59  /* IPv6 "no next header": an IPv6 packet with nothing after it */
#define PB_PROTO_NONE  255 /* IPv4 reserved protocol: an IPv4 packet with nothing after it */

/* A broken test (bad address, overflow, layers out of order) stops right here. */
static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("pktbuild: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

/* Append len bytes (data NULL: zeros); returns where they start. */
static size_t put(struct pb *p, const void *data, size_t len)
{
	size_t at = p->len;

	if (len > sizeof(p->buf) - p->len)
		die("frame longer than %zu bytes", sizeof(p->buf));
	if (p->dgram_end)
		die("nothing may follow pb_eth_pad()");
	if (data)
		memcpy(p->buf + at, data, len);
	else
		memset(p->buf + at, 0, len);
	p->len += len;
	return at;
}

static void set16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

static void set32(uint8_t *b, uint32_t v)
{
	set16(b, (uint16_t)(v >> 16));
	set16(b + 2, (uint16_t)v);
}

static void parse_addr(const char *text, int ver, uint8_t *out)
{
	if (inet_pton(ver == 4 ? AF_INET : AF_INET6, text, out) != 1)
		die("'%s' is not an IPv%d address", text, ver);
}

void pb_v4mapped(const char *addr, uint8_t out[16])
{
	static const uint8_t prefix[12] = { [10] = 0xff, [11] = 0xff };

	memcpy(out, prefix, sizeof(prefix));
	if (inet_pton(AF_INET, addr, out + 12) != 1)
		parse_addr(addr, 6, out);
}

void pb_init(struct pb *p)
{
	memset(p, 0, sizeof(*p));
}

/* ---- L2 ----------------------------------------------------------------- */

void pb_eth(struct pb *p, const uint8_t src_mac[6], const uint8_t dst_mac[6])
{
	static const uint8_t def_src[6] = { 2, 0, 0, 0, 0, 1 }, def_dst[6] = { 2, 0, 0, 0, 0, 2 };

	if (p->len)
		die("pb_eth() must come first");
	put(p, dst_mac ? dst_mac : def_dst, 6);
	put(p, src_mac ? src_mac : def_src, 6);
	/* EtherType 0 until the next layer says what it is. */
	p->type_off = put(p, NULL, 2);
	p->payload = p->len;
}

/* The EtherType slot the next layer fills, checking one is still open. */
static uint8_t *type_slot(struct pb *p, const char *who)
{
	if (!p->type_off || p->ipver || p->l3)
		die("%s() needs pb_eth() or pb_vlan() right before it", who);
	return p->buf + p->type_off;
}

void pb_vlan(struct pb *p, uint16_t tpid, uint16_t vid)
{
	set16(type_slot(p, "pb_vlan"), tpid);
	if (p->ntags == PB_MAX_TAGS)
		die("more than %d VLAN tags", PB_MAX_TAGS);
	uint8_t tag[4] = { (uint8_t)(vid >> 8 & 0x0f), (uint8_t)vid, 0, 0 };
	p->type_off = put(p, tag, sizeof(tag)) + 2;
	p->tag_end[p->ntags++] = p->len;
	p->payload = p->len;
}

void pb_ethertype_raw(struct pb *p, uint16_t ethertype)
{
	set16(type_slot(p, "pb_ethertype_raw"), ethertype);
	p->l3 = p->payload = p->len;
}

/* ---- L3 ----------------------------------------------------------------- */

/* Common start of an IP header: EtherType (if any L2), layer bookkeeping. */
static uint8_t *ip_start(struct pb *p, int ver, size_t hlen, const struct pb_ip_opts *o)
{
	if (p->ipver)
		die("one IP header per frame");
	/* No pb_eth(): a bare IP packet. After pb_ethertype_raw(): keep that
	 * EtherType (an IPv6 header labelled 0x0800, say). */
	if (p->type_off && !p->l3)
		set16(type_slot(p, ver == 4 ? "pb_ipv4" : "pb_ipv6"), ver == 4 ? 0x0800 : 0x86dd);
	p->ipver = ver;
	p->l3 = put(p, NULL, hlen);
	p->ip_end = p->l4 = p->payload = p->len;
	p->len_override = o ? o->len_override : 0;
	return p->buf + p->l3;
}

void pb_ipv4(struct pb *p, const char *src, const char *dst, const struct pb_ip_opts *o)
{
	static const struct pb_ip_opts def = { .df = 1 };

	if (!o)
		o = &def;
	if (o->opts_len > 40)
		die("IPv4 options longer than 40 bytes");
	size_t hlen = 20 + (o->opts_len + 3) / 4 * 4;
	uint8_t *h = ip_start(p, 4, hlen, o);
	h[0] = (uint8_t)(0x40 | (o->ihl_override ? o->ihl_override & 0x0f : hlen / 4));
	h[1] = o->tos;
	set16(h + 4, o->id ? o->id : 1);
	set16(h + 6, (uint16_t)((o->df ? 0x4000 : 0) | (o->mf ? 0x2000 : 0) | (o->frag_off & 0x1fff)));
	h[8] = o->ttl ? o->ttl : 64;
	h[9] = PB_PROTO_NONE;
	parse_addr(src, 4, h + 12);
	parse_addr(dst, 4, h + 16);
	if (o->opts_len)
		memcpy(h + 20, o->opts, o->opts_len); /* the padding is already zero: EOL */
	p->nh_off = p->l3 + 9;
}

void pb_ipv6(struct pb *p, const char *src, const char *dst, const struct pb_ip_opts *o)
{
	static const struct pb_ip_opts def;

	if (!o)
		o = &def;
	uint8_t *h = ip_start(p, 6, 40, o);
	set32(h, 6u << 28 | (uint32_t)o->tos << 20 | (o->flow_label & 0xfffff));
	h[6] = PB_NO_NEXT_HDR;
	h[7] = o->ttl ? o->ttl : 64;
	parse_addr(src, 6, h + 8);
	parse_addr(dst, 6, h + 24);
	p->nh_off = p->l3 + 6;
}

/* Point the current protocol / next-header byte at proto. */
static void chain(struct pb *p, uint8_t proto, const char *who)
{
	if (!p->ipver)
		die("%s() needs pb_ipv4() or pb_ipv6() first", who);
	if (p->l4proto)
		die("%s() after an L4 header", who);
	p->buf[p->nh_off] = proto;
}

void pb_ipv6_ext(struct pb *p, uint8_t type, uint16_t arg, int mf)
{
	size_t len = type == 44 ? 8 : arg ? arg : 8;

	/* AH is the one such header IPv4 carries too (RFC 4302), between IP and L4. */
	if (p->ipver != 6 && !(p->ipver == 4 && type == 51))
		die("pb_ipv6_ext() needs pb_ipv6() first (or pb_ipv4() for AH)");
	if (len % 8 || len > 2048 || p->next == PB_MAX_EXT)
		die("extension header %u: bad length %zu or too many headers", type, len);
	chain(p, type, "pb_ipv6_ext");
	size_t at = put(p, NULL, len);
	uint8_t *h = p->buf + at;
	h[0] = PB_NO_NEXT_HDR;
	if (type == 44) {
		set16(h + 2, (uint16_t)(arg << 3 | (mf ? 1 : 0)));
		set32(h + 4, 1); /* identification */
	} else {
		/* Length in 8-byte units not counting the first 8; AH counts 4-byte units minus 2. */
		h[1] = (uint8_t)(type == 51 ? len / 4 - 2 : len / 8 - 1);
		if (type == 0 || type == 60) {
			/* One PadN option covering the rest, so the TLVs parse. */
			h[2] = 1;
			h[3] = (uint8_t)(len - 4);
		} else if (type == 43) {
			/* Type 0, segments left 0: every node skips it. Each address
			 * slot holds the destination, so the final destination (the
			 * one in the TCP/UDP pseudo-header) is the same whether read
			 * from the IPv6 header or, as tcpdump does, the last slot. */
			for (size_t a = 8; a + 16 <= len; a += 16)
				memcpy(h + a, p->buf + p->l3 + 24, 16);
		}
	}
	p->nh_off = at;
	p->ext_end[p->next++] = p->l4 = p->payload = p->len;
}

/* ---- L4 ----------------------------------------------------------------- */

static uint8_t *l4_start(struct pb *p, uint8_t proto, size_t hlen, const char *who)
{
	chain(p, proto, who);
	p->l4proto = proto;
	p->l4 = put(p, NULL, hlen);
	p->payload = p->len;
	return p->buf + p->l4;
}

static void opt_append(struct pb_tcp_opts *o, const void *b, size_t len)
{
	if (o->opts_len + len > sizeof(o->opts))
		die("TCP options longer than %zu bytes", sizeof(o->opts));
	memcpy(o->opts + o->opts_len, b, len);
	o->opts_len += len;
}

void pb_tcp_opt_mss(struct pb_tcp_opts *o, uint16_t mss)
{
	opt_append(o, (uint8_t[]){ 2, 4, (uint8_t)(mss >> 8), (uint8_t)mss }, 4);
}

void pb_tcp_opt_ws(struct pb_tcp_opts *o, uint8_t shift)
{
	opt_append(o, (uint8_t[]){ 3, 3, shift }, 3);
}

void pb_tcp_opt_sackok(struct pb_tcp_opts *o)
{
	opt_append(o, (uint8_t[]){ 4, 2 }, 2);
}

void pb_tcp_opt_ts(struct pb_tcp_opts *o, uint32_t val, uint32_t ecr)
{
	uint8_t b[10] = { 8, 10 };

	set32(b + 2, val);
	set32(b + 6, ecr);
	opt_append(o, b, sizeof(b));
}

void pb_tcp_opt_nop(struct pb_tcp_opts *o)
{
	opt_append(o, (uint8_t[]){ 1 }, 1);
}

void pb_tcp_opt_eol(struct pb_tcp_opts *o)
{
	opt_append(o, (uint8_t[]){ 0 }, 1);
}

void pb_tcp_opt_raw(struct pb_tcp_opts *o, const void *bytes, size_t len)
{
	opt_append(o, bytes, len);
}

void pb_tcp_opts_linux_syn(struct pb_tcp_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->window = 64240; /* 44 * 1460: what Linux advertises with MSS 1460 */
	pb_tcp_opt_mss(o, 1460);
	pb_tcp_opt_sackok(o);
	pb_tcp_opt_ts(o, 1, 0);
	pb_tcp_opt_nop(o);
	pb_tcp_opt_ws(o, 7);
}

void pb_tcp(struct pb *p, uint16_t sport, uint16_t dport, uint8_t flags, const struct pb_tcp_opts *o)
{
	static const struct pb_tcp_opts def;

	if (!o)
		o = &def;
	if (o->opts_len > sizeof(o->opts))
		die("TCP options longer than %zu bytes", sizeof(o->opts));
	size_t hlen = 20 + (o->opts_len + 3) / 4 * 4;
	uint8_t *h = l4_start(p, 6, hlen, "pb_tcp");
	set16(h, sport);
	set16(h + 2, dport);
	set32(h + 4, o->seq ? o->seq : 1000);
	set32(h + 8, o->ack);
	h[12] = (uint8_t)((o->doff_override ? o->doff_override : hlen / 4) << 4);
	h[13] = flags;
	set16(h + 14, o->window ? o->window : 64240);
	memcpy(h + 20, o->opts, o->opts_len); /* padding stays zero: EOL */
}

void pb_udp(struct pb *p, uint16_t sport, uint16_t dport)
{
	uint8_t *h = l4_start(p, 17, 8, "pb_udp");

	set16(h, sport);
	set16(h + 2, dport);
}

void pb_icmp(struct pb *p, uint8_t type, uint8_t code, uint16_t id, uint16_t seq)
{
	uint8_t *h = l4_start(p, p->ipver == 6 ? 58 : 1, 8, "pb_icmp");

	h[0] = type;
	h[1] = code;
	set16(h + 4, id);
	set16(h + 6, seq);
}

void pb_icmp_echo(struct pb *p, uint16_t id, uint16_t seq)
{
	pb_icmp(p, p->ipver == 6 ? 128 : 8, 0, id, seq);
}

void pb_l4_raw(struct pb *p, uint8_t proto)
{
	l4_start(p, proto, 0, "pb_l4_raw");
	p->l4_opaque = true; /* no header of ours to checksum */
}

void pb_payload(struct pb *p, const void *data, size_t len)
{
	put(p, data, len);
}

void pb_payload_str(struct pb *p, const char *s)
{
	put(p, s, strlen(s));
}

void pb_eth_pad(struct pb *p, size_t min_len)
{
	size_t end = p->len;

	if (min_len > p->len)
		put(p, NULL, min_len - p->len);
	p->dgram_end = end;
}

/* ---- finishing ---------------------------------------------------------- */

uint16_t pb_csum(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *b = data;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (len & 1)
		sum += (uint32_t)(b[len - 1] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Unfolded sum of the TCP/UDP/ICMPv6 pseudo-header (RFC 793, RFC 8200 8.1). */
static uint32_t pseudo_sum(const struct pb *p, size_t l4_len)
{
	const uint8_t *ip = p->buf + p->l3;
	size_t alen = p->ipver == 4 ? 4 : 16;
	const uint8_t *addrs = ip + (p->ipver == 4 ? 12 : 8); /* src then dst, adjacent */

	return (uint16_t)~pb_csum(addrs, 2 * alen, 0) + p->l4proto + (uint32_t)l4_len;
}

size_t pb_finish(struct pb *p)
{
	size_t end = p->dgram_end ? p->dgram_end : p->len;
	uint8_t *ip = p->buf + p->l3;

	if (p->ipver == 4) {
		set16(ip + 2, p->len_override ? p->len_override : (uint16_t)(end - p->l3));
		set16(ip + 10, 0);
		set16(ip + 10, pb_csum(ip, p->ip_end - p->l3, 0));
	} else if (p->ipver == 6) {
		set16(ip + 4, p->len_override ? p->len_override : (uint16_t)(end - p->ip_end));
	}

	size_t l4_len = end - p->l4, csum_at;
	uint32_t sum = 0;
	switch (p->l4_opaque ? 0 : p->l4proto) {
	case 6:
		csum_at = 16;
		sum = pseudo_sum(p, l4_len);
		break;
	case 17:
		csum_at = 6;
		set16(p->buf + p->l4 + 4, (uint16_t)l4_len);
		sum = pseudo_sum(p, l4_len);
		break;
	case 58:
		sum = pseudo_sum(p, l4_len);
		/* fallthrough */
	case 1:
		csum_at = 2;
		break;
	default:
		return p->len;
	}
	uint8_t *c = p->buf + p->l4 + csum_at;
	set16(c, 0);
	uint16_t v = pb_csum(p->buf + p->l4, l4_len, sum);
	set16(c, p->l4proto == 17 && v == 0 ? 0xffff : v); /* UDP: 0 means "no checksum" */
	return p->len;
}

size_t pb_len_at(const struct pb *p, enum pb_layer layer)
{
	switch (layer) {
	case PB_ETH_END:
		return p->type_off ? 14 : 0;
	case PB_VLAN_OUTER_END:
		return p->ntags > 0 ? p->tag_end[0] : 0;
	case PB_VLAN_INNER_END:
		return p->ntags > 1 ? p->tag_end[1] : 0;
	case PB_L3_START:
		return p->l3;
	case PB_IP_END:
		return p->ip_end;
	case PB_L3_END:
	case PB_L4_START:
		return p->l4;
	case PB_L4_END:
	case PB_PAYLOAD_START:
		return p->payload;
	case PB_PAYLOAD_END:
		return p->dgram_end ? p->dgram_end : p->len;
	case PB_END:
		break;
	}
	return p->len;
}

size_t pb_ext_end(const struct pb *p, unsigned i)
{
	return i < p->next ? p->ext_end[i] : 0;
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return (x > y) - (x < y);
}

size_t pb_cuts(const struct pb *p, size_t *out, size_t max)
{
	size_t all[8 + PB_MAX_TAGS + PB_MAX_EXT], n = 0, kept = 0;

	all[n++] = 0;
	if (p->type_off) {
		all[n++] = 12; /* the MACs, before the first EtherType */
		all[n++] = 14;
	}
	for (unsigned i = 0; i < p->ntags; i++)
		all[n++] = p->tag_end[i];
	for (unsigned i = 0; i < p->next; i++)
		all[n++] = p->ext_end[i];
	all[n++] = p->l3;
	all[n++] = p->ip_end;
	all[n++] = p->l4;
	all[n++] = p->payload;
	all[n++] = pb_len_at(p, PB_PAYLOAD_END);
	qsort(all, n, sizeof(all[0]), cmp_size);
	for (size_t i = 0; i < n; i++) {
		/* Absent layers read as 0, and the header list as a whole ends at len. */
		if (all[i] >= p->len || (i > 0 && all[i] == all[i - 1]))
			continue;
		if (kept < max)
			out[kept] = all[i];
		kept++;
	}
	return kept;
}
