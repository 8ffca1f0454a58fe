// SPDX-License-Identifier: GPL-2.0-only
/* capture.c - pcap and pcapng files through libpcap (see capture.h). */
#include <stdio.h>
#include <stdlib.h>
#include <pcap/pcap.h>

#include "capture.h"

struct capture {
	pcap_t *p;
};

struct capture *capture_open(const char *path, char *err, size_t errlen)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	struct capture *c = calloc(1, sizeof(*c));

	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	/* Nanosecond timestamps whatever the file holds: libpcap scales microseconds up. */
	c->p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, errbuf);
	if (!c->p) {
		snprintf(err, errlen, "%s", errbuf);
		free(c);
		return NULL;
	}
	return c;
}

int capture_link_type(const struct capture *c)
{
	return pcap_datalink(c->p);
}

const char *capture_link_type_name(int dlt)
{
	return pcap_datalink_val_to_name(dlt); /* NULL for numbers libpcap has no name for */
}

int capture_next(struct capture *c, struct capture_frame *f, char *err, size_t errlen)
{
	struct pcap_pkthdr *hdr;
	const u_char *data;
	int rc = pcap_next_ex(c->p, &hdr, &data);

	if (rc == PCAP_ERROR_BREAK)
		return 0;
	if (rc != 1) {
		snprintf(err, errlen, "%s", pcap_geterr(c->p));
		return -1;
	}
	f->data = data;
	f->caplen = hdr->caplen;
	f->len = hdr->len;
	f->ts_ns = (uint64_t)hdr->ts.tv_sec * 1000000000ull + (uint64_t)hdr->ts.tv_usec; /* tv_usec holds ns here */
	return 1;
}

void capture_close(struct capture *c)
{
	if (!c)
		return;
	pcap_close(c->p);
	free(c);
}
