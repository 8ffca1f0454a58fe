// SPDX-License-Identifier: GPL-2.0-only
/* mg_frame.c - captured frames into Ethernet frames for the XDP program (see mg_frame.h). */
#include <errno.h>
#include <string.h>

#include "mg_addr.h"
#include "mg_frame.h"

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86dd
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88a8

const char *mg_link_name(int dlt)
{
	switch (dlt) {
	case MG_DLT_NULL: return "NULL";
	case MG_DLT_EN10MB: return "EN10MB";
	case MG_DLT_RAW:
	case MG_DLT_RAW_BSD: return "RAW";
	case MG_DLT_LOOP: return "LOOP";
	case MG_DLT_LINUX_SLL: return "LINUX_SLL";
	case MG_DLT_IPV4: return "IPV4";
	case MG_DLT_IPV6: return "IPV6";
	case MG_DLT_LINUX_SLL2: return "LINUX_SLL2";
	}
	return NULL;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t ethertype_of_ip(const uint8_t *ip, size_t len)
{
	if (len < 1)
		return 0;
	return (ip[0] >> 4) == 4 ? ETH_P_IP : (ip[0] >> 4) == 6 ? ETH_P_IPV6 : 0;
}

/* Offset of the L3 header and its ethertype, past up to two VLAN tags; 0 if not IP. */
static size_t l3_of(const uint8_t *f, size_t len, uint16_t *proto)
{
	size_t off = 12;

	for (int tags = 0; tags <= 2; tags++) {
		if (off + 2 > len)
			return 0;
		uint16_t t = rd16(f + off);
		if (t == ETH_P_8021Q || t == ETH_P_8021AD) {
			off += 4;
			continue;
		}
		*proto = t;
		return t == ETH_P_IP || t == ETH_P_IPV6 ? off + 2 : 0;
	}
	return 0;
}

static void ipv4_checksum(uint8_t *ip, size_t ihl)
{
	uint32_t sum = 0;

	ip[10] = ip[11] = 0;
	for (size_t i = 0; i < ihl; i += 2)
		sum += rd16(ip + i);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	wr16(ip + 10, (uint16_t)~sum);
}

/* A length field of 0 in a frame captured whole: TSO; set it from the frame. */
static bool repair_length(uint8_t *f, size_t len)
{
	uint16_t proto;
	size_t l3 = l3_of(f, len, &proto);

	if (!l3)
		return false;
	size_t rest = len - l3;
	if (proto == ETH_P_IP && rest >= 20 && rd16(f + l3 + 2) == 0) {
		size_t ihl = (size_t)(f[l3] & 0x0f) * 4;
		if (ihl < 20 || ihl > rest || rest > 0xffff)
			return false;
		wr16(f + l3 + 2, (uint16_t)rest);
		ipv4_checksum(f + l3, ihl);
		return true;
	}
	/* IPv6: a zero payload length is legal only with a jumbogram option (next header 0). */
	if (proto == ETH_P_IPV6 && rest >= 40 && rd16(f + l3 + 4) == 0 && f[l3 + 6] != 0 && rest - 40 <= 0xffff) {
		wr16(f + l3 + 4, (uint16_t)(rest - 40));
		return true;
	}
	return false;
}

int mg_frame_to_eth(int dlt, const uint8_t *in, size_t caplen, size_t len, uint8_t *out, size_t outcap,
		    bool *repaired)
{
	uint8_t src_mac[6] = { 0x02, 0, 0, 0, 0, 0 }; /* locally administered: "unknown" */
	static const uint8_t dst_mac[6] = { 0x02, 0, 0, 0, 0, 1 };
	size_t hdr;     /* bytes of link header to strip */
	uint16_t proto; /* ethertype of what follows */

	*repaired = false;
	switch (dlt) {
	case MG_DLT_EN10MB:
		if (caplen < ETH_HLEN || caplen > outcap)
			return 0;
		memcpy(out, in, caplen);
		if (caplen == len)
			*repaired = repair_length(out, caplen);
		return (int)caplen;
	case MG_DLT_LINUX_SLL: /* pkttype(2) hatype(2) halen(2) addr(8) protocol(2) */
		if (caplen < 16)
			return 0;
		if (rd16(in + 4) == 6)
			memcpy(src_mac, in + 6, 6);
		proto = rd16(in + 14);
		hdr = 16;
		break;
	case MG_DLT_LINUX_SLL2: /* protocol(2) reserved(2) ifindex(4) hatype(2) pkttype(1) halen(1) addr(8) */
		if (caplen < 20)
			return 0;
		if (in[11] == 6)
			memcpy(src_mac, in + 12, 6);
		proto = rd16(in);
		hdr = 20;
		break;
	case MG_DLT_NULL:
	case MG_DLT_LOOP: { /* a 4-byte address family, host order for NULL, network order for LOOP */
		if (caplen < 4)
			return 0;
		uint32_t af_le = (uint32_t)in[0] | (uint32_t)in[1] << 8 | (uint32_t)in[2] << 16 | (uint32_t)in[3] << 24;
		uint32_t af_be = (uint32_t)in[3] | (uint32_t)in[2] << 8 | (uint32_t)in[1] << 16 | (uint32_t)in[0] << 24;
		uint32_t af = dlt == MG_DLT_LOOP ? af_be : (af_le < 256 ? af_le : af_be);
		/* AF_INET is 2 everywhere; AF_INET6 is 10 (Linux), 24, 28 or 30 (the BSDs). */
		proto = af == 2 ? ETH_P_IP : (af == 10 || af == 24 || af == 28 || af == 30) ? ETH_P_IPV6 : 0;
		hdr = 4;
		break;
	}
	case MG_DLT_RAW:
	case MG_DLT_RAW_BSD:
	case MG_DLT_IPV4:
	case MG_DLT_IPV6:
		proto = ethertype_of_ip(in, caplen);
		hdr = 0;
		break;
	default:
		return -EPROTONOSUPPORT;
	}
	if (!proto || caplen - hdr + ETH_HLEN > outcap)
		return 0;
	memcpy(out, dst_mac, 6);
	memcpy(out + 6, src_mac, 6);
	wr16(out + 12, proto);
	memcpy(out + ETH_HLEN, in + hdr, caplen - hdr);
	size_t n = caplen - hdr + ETH_HLEN;
	if (caplen == len)
		*repaired = repair_length(out, n);
	return (int)n;
}

bool mg_frame_src(const uint8_t *f, size_t len, uint8_t addr[16])
{
	uint16_t proto;
	size_t l3 = l3_of(f, len, &proto);

	if (!l3)
		return false;
	if (proto == ETH_P_IP && len >= l3 + 20) {
		uint32_t v4;
		memcpy(&v4, f + l3 + 12, 4);
		mg_addr_from_v4(addr, v4);
		return true;
	}
	if (proto == ETH_P_IPV6 && len >= l3 + 40) {
		memcpy(addr, f + l3 + 8, 16);
		return true;
	}
	return false;
}
