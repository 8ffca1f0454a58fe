/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * capture.h - reading pcap and pcapng files (libpcap), kept apart from the
 * BPF code: libpcap's <pcap/bpf.h> and the kernel's <linux/bpf.h> both
 * define struct bpf_insn and cannot meet in one file.
 */
#ifndef MG_CAPTURE_H
#define MG_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

struct capture;

struct capture_frame {
	const uint8_t *data;
	uint32_t caplen, len; /* bytes captured, bytes on the wire */
	uint64_t ts_ns;
};

/* NULL with err set if the file cannot be opened as a capture. */
struct capture *capture_open(const char *path, char *err, size_t errlen);
int capture_link_type(const struct capture *c);           /* a DLT number */
const char *capture_link_type_name(int dlt);              /* libpcap's name, or NULL */
/* 1: a frame; 0: the end; -1: the file is damaged here (err says how). */
int capture_next(struct capture *c, struct capture_frame *f, char *err, size_t errlen);
void capture_close(struct capture *c);

#endif
