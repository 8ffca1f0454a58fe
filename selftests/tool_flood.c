// SPDX-License-Identifier: GPL-2.0-only
/*
 * tool_flood.c - a spoofed flood at a fixed rate out of one interface, for
 * the end-to-end tests and `make bench`: what an attacker on the inside can
 * send without ever completing a handshake.
 *
 *   tool_flood IFACE KIND PPS SECONDS
 *
 * KIND: "payload" - TCP segments to 198.19.0.25:25 carrying EHLO, MAIL FROM
 *                   and RCPT TO in turn, each from a new random source;
 *       "syn"     - SYNs to 198.19.0.25:25 with the Linux stack's options.
 * Sources are random addresses in 198.18.128.0/17 (test space only). The
 * load is bounded: at most 100 000 packets/s for at most 60 s. Prints the
 * number of frames sent.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pktbuild.h"

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* xorshift: a cheap, repeatable stream of spoofed sources. */
static uint32_t rnd(void)
{
	static uint32_t x = 2463534242u;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return x;
}

static size_t build(struct pb *p, int syn, unsigned n)
{
	static const char *const cmds[] = { "EHLO flood.example\r\n", "MAIL FROM:<x@flood.example>\r\n",
					    "RCPT TO:<y@example.net>\r\n" };
	char src[32];
	uint32_t r = rnd();
	snprintf(src, sizeof(src), "198.18.%u.%u", 128 + ((r >> 8) & 127), 1 + (r & 0xff) % 254);
	pb_init(p);
	pb_eth(p, NULL, NULL);
	pb_ipv4(p, src, "198.19.0.25", NULL);
	if (syn) {
		struct pb_tcp_opts o;
		pb_tcp_opts_linux_syn(&o);
		pb_tcp(p, (uint16_t)(32768 + (r >> 17) % 28000), 25, PB_TCP_SYN, &o);
	} else {
		pb_tcp(p, (uint16_t)(32768 + (r >> 17) % 28000), 25, PB_TCP_PSH | PB_TCP_ACK, NULL);
		pb_payload(p, cmds[n % 3], strlen(cmds[n % 3]));
	}
	return pb_finish(p);
}

int main(int argc, char **argv)
{
	if (argc != 5 || (strcmp(argv[2], "payload") && strcmp(argv[2], "syn"))) {
		fprintf(stderr, "usage: tool_flood IFACE payload|syn PPS SECONDS\n");
		return 2;
	}
	unsigned long pps = strtoul(argv[3], NULL, 10), secs = strtoul(argv[4], NULL, 10);
	if (!pps || pps > 100000 || !secs || secs > 60) {
		fprintf(stderr, "tool_flood: 1..100000 packets/s for 1..60 s\n");
		return 2;
	}
	int syn = !strcmp(argv[2], "syn");
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	unsigned ifindex = if_nametoindex(argv[1]);
	if (fd < 0 || !ifindex) {
		fprintf(stderr, "tool_flood: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_ifindex = (int)ifindex, .sll_halen = 6 };
	struct pb p;
	uint64_t start = now_ns(), total = (uint64_t)pps * secs, sent = 0, failed = 0;

	/* Paced in 1 ms steps: the count due by now, sent at once. */
	while (sent + failed < total) {
		uint64_t due = (now_ns() - start) * pps / 1000000000ull;
		if (due > total)
			due = total;
		while (sent + failed < due) {
			size_t len = build(&p, syn, (unsigned)(sent + failed));
			if (sendto(fd, p.buf, len, 0, (struct sockaddr *)&sll, sizeof(sll)) == (ssize_t)len)
				sent++;
			else
				failed++;
		}
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	double took = (double)(now_ns() - start) / 1e9;
	printf("flood: %llu %s frames sent in %.1f s (%llu failed)\n", (unsigned long long)sent, argv[2], took,
	       (unsigned long long)failed);
	close(fd);
	return 0;
}
