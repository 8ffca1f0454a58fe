// SPDX-License-Identifier: GPL-2.0-only
/*
 * tool_pcapng_merge - merge classic pcap files into one pcapng file with one
 * interface per input file.
 *
 *   tool_pcapng_merge OUT.pcapng IN1.pcap [IN2.pcap ...]
 *
 * Why: selftests/e2e_replay.sh needs "a pcapng capture with several
 * interfaces" to check that mtaguard-replay handles pcapng, and tcpdump only
 * writes classic pcap.  Debian's mergecap (wireshark-common) would do, but it
 * is a large dependency for one test; this writes the few pcapng blocks
 * needed by hand, little-endian, following the pcapng specification
 * (draft-ietf-opsawg-pcapng):
 *
 *   Section Header Block, then one Interface Description Block per input
 *   (the input's link type and snaplen, if_tsresol = 9: nanoseconds), then
 *   Enhanced Packet Blocks merged in timestamp order across the inputs,
 *   each naming its input's interface id.
 *
 * Inputs are read with libpcap at nanosecond precision.  The IDB's link type
 * is the LINKTYPE_ value from the input file's own header (pcap_datalink()
 * gives DLT_ values, which differ for a few types such as raw IP).  A damaged
 * input (a truncated last record) ends early with a message on stderr; the
 * packets before the damage are kept.  Exit status: 0 on success, 1 on an
 * error (the output is removed), 2 on bad usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BT_SHB 0x0A0D0D0Au
#define BT_IDB 0x00000001u
#define BT_EPB 0x00000006u
#define BYTE_ORDER_MAGIC 0x1A2B3C4Du
#define OPT_ENDOFOPT 0
#define OPT_IF_TSRESOL 9

struct input {
	const char *path;
	pcap_t *p;
	struct pcap_pkthdr *hdr;	/* current packet, NULL at end */
	const unsigned char *data;
	uint64_t ts_ns;
	uint64_t count;
};

static FILE *out;
static const char *out_path;

static void die(const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "tool_pcapng_merge: ");
	fprintf(stderr, fmt, a, b);
	fputc('\n', stderr);
	if (out) {
		fclose(out);
		remove(out_path);
	}
	exit(1);
}

static void put(const void *buf, size_t len)
{
	if (len && fwrite(buf, 1, len, out) != len)
		die("write %s: %s", out_path, strerror(errno));
}

static void put16(uint16_t v)
{
	unsigned char b[2] = { (unsigned char)v, (unsigned char)(v >> 8) };

	put(b, 2);
}

static void put32(uint32_t v)
{
	unsigned char b[4] = { (unsigned char)v, (unsigned char)(v >> 8),
			       (unsigned char)(v >> 16), (unsigned char)(v >> 24) };

	put(b, 4);
}

static void put64(uint64_t v)
{
	put32((uint32_t)v);
	put32((uint32_t)(v >> 32));
}

static void pad32(size_t len)
{
	static const unsigned char zero[4];

	put(zero, (4 - len % 4) % 4);
}

static size_t round4(size_t n)
{
	return (n + 3) & ~(size_t)3;
}

static void write_shb(void)
{
	/* type, length, BOM, major, minor, section length, (no options), length */
	const uint32_t len = 4 + 4 + 4 + 2 + 2 + 8 + 4;

	put32(BT_SHB);
	put32(len);
	put32(BYTE_ORDER_MAGIC);
	put16(1);
	put16(0);
	put64(UINT64_MAX);	/* section length not specified */
	put32(len);
}

static void write_idb(int linktype, int snaplen)
{
	/* type, length, linktype, reserved, snaplen,
	 * option if_tsresol (code, length, value 1 byte + 3 padding),
	 * opt_endofopt, length */
	const uint32_t len = 4 + 4 + 2 + 2 + 4 + (2 + 2 + 4) + 4 + 4;
	const unsigned char tsresol[4] = { 9, 0, 0, 0 };

	put32(BT_IDB);
	put32(len);
	put16((uint16_t)linktype);
	put16(0);
	put32((uint32_t)snaplen);
	put16(OPT_IF_TSRESOL);
	put16(1);
	put(tsresol, sizeof(tsresol));
	put16(OPT_ENDOFOPT);
	put16(0);
	put32(len);
}

static void write_epb(uint32_t ifid, uint64_t ts_ns, const struct pcap_pkthdr *h,
		      const unsigned char *data)
{
	/* type, length, interface id, ts high, ts low, captured len,
	 * original len, data (padded to 32 bits), (no options), length */
	const uint32_t len = (uint32_t)(4 + 4 + 4 + 4 + 4 + 4 + 4 + round4(h->caplen) + 4);

	put32(BT_EPB);
	put32(len);
	put32(ifid);
	put32((uint32_t)(ts_ns >> 32));
	put32((uint32_t)ts_ns);
	put32(h->caplen);
	put32(h->len);
	put(data, h->caplen);
	pad32(h->caplen);
	put32(len);
}

/*
 * file_linktype: the LINKTYPE_ value in a classic pcap file's header, or, for
 * any other file libpcap can read (pcapng), its DLT_ value mapped back for
 * the types known to differ.
 */
static int file_linktype(const char *path, pcap_t *p)
{
	unsigned char h[24];
	FILE *f = fopen(path, "rb");
	size_t got = f ? fread(h, 1, sizeof(h), f) : 0;
	uint32_t magic, lt;
	int dlt;

	if (f)
		fclose(f);
	if (got == sizeof(h)) {
		magic = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
		if (magic == 0xA1B2C3D4u || magic == 0xA1B23C4Du) {
			lt = (uint32_t)h[20] | (uint32_t)h[21] << 8 | (uint32_t)h[22] << 16 | (uint32_t)h[23] << 24;
			return (int)(lt & 0xFFFFu); /* upper bits: FCS length */
		}
		if (magic == 0xD4C3B2A1u || magic == 0x4D3CB2A1u) {
			lt = (uint32_t)h[23] | (uint32_t)h[22] << 8 | (uint32_t)h[21] << 16 | (uint32_t)h[20] << 24;
			return (int)(lt & 0xFFFFu);
		}
	}
	dlt = pcap_datalink(p);
	if (dlt == DLT_RAW || dlt == 12 || dlt == 14)
		return 101; /* LINKTYPE_RAW */
	return dlt;
}

/* advance: read the next packet of IN; returns 0 at the end of the file. */
static int advance(struct input *in)
{
	int rc = pcap_next_ex(in->p, &in->hdr, &in->data);

	if (rc == 1) {
		/* With nanosecond precision, tv_usec holds nanoseconds. */
		in->ts_ns = (uint64_t)in->hdr->ts.tv_sec * 1000000000u +
			    (uint64_t)in->hdr->ts.tv_usec;
		return 1;
	}
	if (rc == PCAP_ERROR)
		/* A damaged (e.g. truncated) file: keep what was read. */
		fprintf(stderr, "tool_pcapng_merge: %s: %s (stopping this input)\n",
			in->path, pcap_geterr(in->p));
	in->hdr = NULL;
	return 0;
}

int main(int argc, char **argv)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	struct input *in;
	int n, i;

	if (argc < 3) {
		fprintf(stderr, "usage: %s OUT.pcapng IN1.pcap [IN2.pcap ...]\n", argv[0]);
		return 2;
	}
	n = argc - 2;
	in = calloc((size_t)n, sizeof(*in));
	if (!in) {
		perror("calloc");
		return 1;
	}
	for (i = 0; i < n; i++) {
		in[i].path = argv[i + 2];
		in[i].p = pcap_open_offline_with_tstamp_precision(in[i].path,
				PCAP_TSTAMP_PRECISION_NANO, errbuf);
		if (!in[i].p)
			die("%s: %s", in[i].path, errbuf);
	}

	out_path = argv[1];
	out = fopen(out_path, "wb");
	if (!out)
		die("%s: %s", out_path, strerror(errno));

	write_shb();
	for (i = 0; i < n; i++)
		write_idb(file_linktype(in[i].path, in[i].p), pcap_snapshot(in[i].p));

	for (i = 0; i < n; i++)
		advance(&in[i]);
	for (;;) {
		int best = -1;

		/* Earliest timestamp first; ties go to the lower interface id. */
		for (i = 0; i < n; i++)
			if (in[i].hdr && (best < 0 || in[i].ts_ns < in[best].ts_ns))
				best = i;
		if (best < 0)
			break;
		write_epb((uint32_t)best, in[best].ts_ns, in[best].hdr, in[best].data);
		in[best].count++;
		advance(&in[best]);
	}

	if (fclose(out) != 0) {
		out = NULL;
		remove(out_path);
		fprintf(stderr, "tool_pcapng_merge: %s: %s\n", out_path, strerror(errno));
		return 1;
	}
	out = NULL;
	for (i = 0; i < n; i++) {
		fprintf(stderr, "tool_pcapng_merge: %s: %" PRIu64 " packets as interface %d\n",
			in[i].path, in[i].count, i);
		pcap_close(in[i].p);
	}
	free(in);
	return 0;
}
