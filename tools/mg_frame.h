/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_frame.h - captured frames into the Ethernet frames the XDP program sees.
 *
 * Captures come with other link layers (Linux cooked, raw IP, BSD loopback);
 * the program expects Ethernet, so an Ethernet header is put in front, with
 * the source MAC when the capture recorded one. Link types are libpcap's DLT
 * numbers, spelled out here so this code, and its test, need no libpcap.
 */
#ifndef MG_FRAME_H
#define MG_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MG_DLT_NULL        0
#define MG_DLT_EN10MB      1
#define MG_DLT_RAW         12  /* libpcap maps LINKTYPE_RAW (101) to this on Linux */
#define MG_DLT_RAW_BSD     14
#define MG_DLT_LOOP        108
#define MG_DLT_LINUX_SLL   113
#define MG_DLT_IPV4        228
#define MG_DLT_IPV6        229
#define MG_DLT_LINUX_SLL2  276

/* "EN10MB", "LINUX_SLL2", ... or NULL for a link type mtaguard cannot read. */
const char *mg_link_name(int dlt);

/*
 * Frame `in` (caplen bytes, of a packet that was len bytes on the wire) of
 * link type dlt, as an Ethernet frame in out. Returns its length; 0 if there
 * is no frame to run (too short for its own link header, not IP-bearing
 * where the link type says so); -EPROTONOSUPPORT for an unknown link type.
 *
 * *repaired is set when an IP length field read 0 in a frame captured whole:
 * the capturing host's TCP segmentation offload hands the capture a
 * super-segment before the NIC fills in the length. The field is set from
 * the frame's size, as the wire would have carried it.
 */
int mg_frame_to_eth(int dlt, const uint8_t *in, size_t caplen, size_t len, uint8_t *out, size_t outcap,
		    bool *repaired);

/* The IP source of an Ethernet frame (up to two VLAN tags) in 16-byte form; false if none. */
bool mg_frame_src(const uint8_t *f, size_t len, uint8_t addr[16]);

#endif
