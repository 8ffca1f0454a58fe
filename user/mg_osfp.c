// SPDX-License-Identifier: GPL-2.0-only
/* mg_osfp.c - the table of stock OS SYN fingerprint layouts (see mg_osfp.h). */
#include <string.h>

#include "mg_osfp.h"

/* TCP option kinds as the XDP program records them (EOL ends the walk and is not recorded). */
enum { MSS = 2, NOP = 1, WS = 3, SACK = 4, TS = 8 };

static const struct {
	const char *name;
	unsigned char ttl; /* initial TTL (or hop limit), rounded as the program rounds it */
	unsigned char n_opts;
	unsigned char opts[MG_FP_MAX_OPTS];
} osfp[MG_OSFP_MAX] = {
	[MG_OSFP_NONE] = { "none", 0, 0, { 0 } },
	/* net.ipv4.tcp_timestamps, _sack and _window_scaling at their defaults (1). */
	[MG_OSFP_LINUX] = { "linux", 64, 5, { MSS, SACK, TS, NOP, WS } },
	/* Windows 10 and 11 (and Server 2016 on): no timestamps by default. */
	[MG_OSFP_WINDOWS] = { "windows", 128, 6, { MSS, NOP, WS, NOP, NOP, SACK } },
	[MG_OSFP_MACOS] = { "macos", 64, 7, { MSS, NOP, WS, NOP, NOP, TS, SACK } },
};

const char *mg_osfp_name(enum mg_osfp os)
{
	return (unsigned)os < MG_OSFP_MAX ? osfp[os].name : "?";
}

enum mg_osfp mg_osfp_classify(const struct mg_syn_fp *fp)
{
	for (int os = MG_OSFP_NONE + 1; os < MG_OSFP_MAX; os++)
		if (fp->ttl_initial == osfp[os].ttl && fp->n_opts == osfp[os].n_opts &&
		    !memcmp(fp->opt_kinds, osfp[os].opts, osfp[os].n_opts))
			return (enum mg_osfp)os;
	return MG_OSFP_NONE;
}
