// SPDX-License-Identifier: GPL-2.0-only
/* lib_pktbuild.c - the frame builder of pktbuild.h. */
#include <arpa/inet.h>
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "pktbuild.h"

static void put(struct pb *p, const void *data, size_t len)
{
	assert(p->len + len <= sizeof(p->buf));
	memcpy(p->buf + p->len, data, len);
	p->len += len;
}

static void put16(struct pb *p, uint16_t v)
{
	uint16_t be = htons(v);
	put(p, &be, 2);
}

static void set16(struct pb *p, size_t off, uint16_t v)
{
	p->buf[off] = (uint8_t)(v >> 8);
	p->buf[off + 1] = (uint8_t)v;
}

static void parse_addr(const char *text, uint8_t out[16], int *ver)
{
	memset(out, 0, 16);
	if (inet_pton(AF_INET, text, out) == 1) {
		*ver = 4;
		return;
	}
	if (inet_pton(AF_INET6, text, out) == 1) {
		*ver = 6;
		return;
	}
	abort(); /* a test with an unparsable address is a broken test */
}

void pb_init(struct pb *p)
{
	memset(p, 0, sizeof(*p));
}

void pb_eth(struct pb *p, const uint8_t src_mac[6], const uint8_t dst_mac[6])
{
	static const uint8_t def_src[6] = { 2, 0, 0, 0, 0, 1 }, def_dst[6] = { 2, 0, 0, 0, 0, 2 };

	put(p, dst_mac ? dst_mac : def_dst, 6);
	put(p, src_mac ? src_mac : def_src, 6);
	p->ethertype_off = p->len;
	put16(p, 0);
}

void pb_vlan(struct pb *p, uint16_t tpid, uint16_t vid)
{
	set16(p, p->ethertype_off, tpid);
	put16(p, vid & 0x0fff);
	p->ethertype_off = p->len;
	put16(p, 0);
}

void pb_ethertype_raw(struct pb *p, uint16_t ethertype)
{
	set16(p, p->ethertype_off, ethertype);
	p->l3 = p->len;
}

void pb_ipv4(struct pb *p, const char *src, const char *dst, const struct pb_ip_opts *o)
{
	static const struct pb_ip_opts def = { .ttl = 64, .df = 1 };
	uint8_t h[20] = { 0 };
	int ver;

	if (!o)
		o = &def;
	assert(o->opts_len % 4 == 0 && o->opts_len <= 40);
	set16(p, p->ethertype_off, 0x0800);
	p->l3 = p->len;
	p->ipver = 4;
	parse_addr(src, p->src, &ver);
	assert(ver == 4);
	parse_addr(dst, p->dst, &ver);
	assert(ver == 4);
	h[0] = (uint8_t)(0x40 | (20 + o->opts_len) / 4);
	h[5] = 1; /* identification */
	uint16_t frag = (uint16_t)((o->df ? 0x4000 : 0) | (o->mf ? 0x2000 : 0) | (o->frag_off & 0x1fff));
	h[6] = (uint8_t)(frag >> 8);
	h[7] = (uint8_t)frag;
	h[8] = o->ttl ? o->ttl : 64;
	memcpy(h + 12, p->src, 4);
	memcpy(h + 16, p->dst, 4);
	put(p, h, sizeof(h));
	if (o->opts_len)
		put(p, o->opts, o->opts_len);
	p->nexthdr_off = p->l3 + 9;
	p->l4 = p->payload = p->len;
}

void pb_ipv6(struct pb *p, const char *src, const char *dst, const struct pb_ip_opts *o)
{
	uint8_t h[40] = { 0x60 };
	int ver;

	set16(p, p->ethertype_off, 0x86dd);
	p->l3 = p->len;
	p->ipver = 6;
	parse_addr(src, p->src, &ver);
	assert(ver == 6);
	parse_addr(dst, p->dst, &ver);
	assert(ver == 6);
	h[7] = o && o->ttl ? o->ttl : 64;
	memcpy(h + 8, p->src, 16);
	memcpy(h + 24, p->dst, 16);
	put(p, h, sizeof(h));
	p->nexthdr_off = p->l3 + 6;
	p->l4 = p->payload = p->len;
}

void pb_ipv6_ext(struct pb *p, uint8_t type, uint16_t frag_off, int more_fragments)
{
	uint8_t h[8] = { 0 };

	assert(p->ipver == 6);
	p->buf[p->nexthdr_off] = type;
	if (type == 44) {
		uint16_t v = (uint16_t)(frag_off << 3 | (more_fragments ? 1 : 0));
		h[2] = (uint8_t)(v >> 8);
		h[3] = (uint8_t)v;
		h[7] = 1; /* identification */
	} else if (type == 0 || type == 60) {
		h[2] = 1; /* PadN covering the remaining six bytes */
		h[3] = 4;
	}
	/* routing (43): type 0, segments left 0, so it is skipped like any other */
	p->nexthdr_off = p->len;
	put(p, h, sizeof(h));
	p->l4 = p->payload = p->len;
}

void pb_tcp_opts_linux_syn(struct pb_tcp_opts *o)
{
	static const uint8_t opts[20] = {
		2, 4, 0x05, 0xb4,           /* MSS 1460 */
		4, 2,                       /* SACK permitted */
		8, 10, 0, 0, 0, 1, 0, 0, 0, 0, /* timestamps */
		1,                          /* NOP */
		3, 3, 7,                    /* window scale 7 */
	};

	memset(o, 0, sizeof(*o));
	memcpy(o->opts, opts, sizeof(opts));
	o->opts_len = sizeof(opts);
}

void pb_tcp(struct pb *p, uint16_t sport, uint16_t dport, uint8_t flags, const struct pb_tcp_opts *o)
{
	static const struct pb_tcp_opts def = { .window = 0 };
	uint8_t h[20] = { 0 };

	if (!o)
		o = &def;
	assert(o->opts_len % 4 == 0 && o->opts_len <= 40);
	p->buf[p->nexthdr_off] = 6;
	p->l4proto = 6;
	p->l4 = p->len;
	h[0] = (uint8_t)(sport >> 8);
	h[1] = (uint8_t)sport;
	h[2] = (uint8_t)(dport >> 8);
	h[3] = (uint8_t)dport;
	uint32_t seq = htonl(o->seq ? o->seq : 1000), ack = htonl(o->ack);
	memcpy(h + 4, &seq, 4);
	memcpy(h + 8, &ack, 4);
	h[12] = (uint8_t)((o->doff_override ? o->doff_override : (20 + o->opts_len) / 4) << 4);
	h[13] = flags;
	uint16_t win = o->window ? o->window : 64240;
	h[14] = (uint8_t)(win >> 8);
	h[15] = (uint8_t)win;
	put(p, h, sizeof(h));
	if (o->opts_len)
		put(p, o->opts, o->opts_len);
	p->payload = p->len;
}

void pb_icmp_echo(struct pb *p, uint16_t id, uint16_t seq)
{
	uint8_t h[8] = { 8, 0, 0, 0 };

	assert(p->ipver == 4);
	p->buf[p->nexthdr_off] = 1;
	p->l4proto = 1;
	p->l4 = p->len;
	h[4] = (uint8_t)(id >> 8);
	h[5] = (uint8_t)id;
	h[6] = (uint8_t)(seq >> 8);
	h[7] = (uint8_t)seq;
	put(p, h, sizeof(h));
	p->payload = p->len;
}

void pb_payload(struct pb *p, const void *data, size_t len)
{
	put(p, data, len);
}

void pb_payload_str(struct pb *p, const char *s)
{
	put(p, s, strlen(s));
}

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

/* Sum of the TCP/UDP pseudo-header, to be folded in by pb_csum(). */
static uint32_t pseudo_sum(const struct pb *p, size_t l4_len)
{
	uint8_t ph[40] = { 0 };
	size_t n;

	if (p->ipver == 4) {
		memcpy(ph, p->src, 4);
		memcpy(ph + 4, p->dst, 4);
		ph[9] = p->l4proto;
		ph[10] = (uint8_t)(l4_len >> 8);
		ph[11] = (uint8_t)l4_len;
		n = 12;
	} else {
		memcpy(ph, p->src, 16);
		memcpy(ph + 16, p->dst, 16);
		ph[34] = (uint8_t)(l4_len >> 8);
		ph[35] = (uint8_t)l4_len;
		ph[39] = p->l4proto;
		n = 40;
	}
	return (uint16_t)~pb_csum(ph, n, 0);
}

size_t pb_finish(struct pb *p)
{
	if (p->ipver == 4) {
		size_t ihl = (p->buf[p->l3] & 0x0f) * 4u;
		set16(p, p->l3 + 2, (uint16_t)(p->len - p->l3));
		set16(p, p->l3 + 10, 0);
		if (ihl >= 20)
			set16(p, p->l3 + 10, pb_csum(p->buf + p->l3, ihl, 0));
	} else if (p->ipver == 6) {
		set16(p, p->l3 + 4, (uint16_t)(p->len - p->l3 - 40));
	}
	if (p->l4proto == 6) {
		size_t l4_len = p->len - p->l4;
		set16(p, p->l4 + 16, 0);
		set16(p, p->l4 + 16, pb_csum(p->buf + p->l4, l4_len, pseudo_sum(p, l4_len)));
	} else if (p->l4proto == 1) {
		set16(p, p->l4 + 2, 0);
		set16(p, p->l4 + 2, pb_csum(p->buf + p->l4, p->len - p->l4, 0));
	}
	return p->len;
}

size_t pb_len_at(const struct pb *p, enum pb_layer layer)
{
	switch (layer) {
	case PB_L3_START:
		return p->l3;
	case PB_L4_START:
		return p->l4;
	case PB_L4_END:
		return p->payload;
	case PB_END:
		break;
	}
	return p->len;
}
