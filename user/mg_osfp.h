/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_osfp.h - stock operating-system SYN fingerprints: the layouts most of
 * the world's hosts send (Linux, Windows 10/11, macOS with their defaults).
 *
 * Outbreak detection groups new senders by the hash of their SYN fingerprint
 * (bpf/fingerprint.h). A group of hosts sharing the stock Linux fingerprint
 * says little: most MTAs on the Internet and most servers on a network
 * share it. Such a signature is not specific enough, on its own, to contain
 * a whole network (see mg_outbreak.h, specificity).
 *
 * Matched by layout, not by hash: the initial TTL and the TCP option kinds
 * in order, which an OS's stack fixes. The window, the MSS and the window
 * scale depend on the link's MTU and the host's memory, so they are not
 * part of the match (a stock Linux behind a 1400-byte tunnel is still one).
 */
#ifndef MG_OSFP_H
#define MG_OSFP_H

#include <stdbool.h>
#include "mtaguard.h"

enum mg_osfp {
	MG_OSFP_NONE = 0,  /* not a stock layout: a tool's or a kit's own stack */
	MG_OSFP_LINUX,     /* TTL 64; MSS, SACK-permitted, timestamps, NOP, window scale */
	MG_OSFP_WINDOWS,   /* TTL 128; MSS, NOP, window scale, NOP, NOP, SACK-permitted */
	MG_OSFP_MACOS,     /* TTL 64; MSS, NOP, window scale, NOP, NOP, timestamps, SACK-permitted (then EOL) */
	MG_OSFP_MAX,
};
/* "none", "linux", "windows", "macos" */
const char *mg_osfp_name(enum mg_osfp os);
/* Which stock layout a SYN's fingerprint has (MG_OSFP_NONE for any other). */
enum mg_osfp mg_osfp_classify(const struct mg_syn_fp *fp);

#endif
