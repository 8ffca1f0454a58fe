// SPDX-License-Identifier: GPL-2.0-only
/*
 * tool_scenario - write a scripted SMTP scenario as a classic pcap file, for
 * selftests/e2e_equivalence.sh: the same frames go through mtaguard-replay
 * (BPF_PROG_TEST_RUN, capture time) and, sent over a veth by tcpreplay,
 * through mtaguardd live; the two must reach the same verdicts, alerts and
 * outbreaks.
 *
 *   tool_scenario OUT.pcap      writes the capture; prints the cast as JSON on stdout
 *
 * The capture: Ethernet, microsecond timestamps, about 8.1 s from
 * 2027-01-15T08:00:00Z (epoch 1800000000). Every frame the data plane sees
 * on one link (both directions): client SYN, server SYN-ACK from port 25,
 * client ACK, "220" greeting, then one command per client segment, each
 * answered by the server ("EHLO"/"250", "MAIL FROM"/"250", "RCPT TO"/"250",
 * "DATA"/"354", the message, "250", "QUIT"/"221"), then FINs. Inside hosts
 * are in 198.18.0.0/16 and 2001:db8:2::/64, outside hosts in 198.19.0.0/16 and
 * 2001:db8:ffff::/48.
 *
 * The cast, and the outcome mtaguard must reach (thresholds: user/mg_analyzer.c,
 * mg_an_config_default; block at score 10, alert at 5):
 *
 *   bots      198.18.2.2, 198.18.3.2: 22 sessions each, every 300 ms from
 *             t = 0.5 s / 0.6 s, each to a different MX (198.19.1.x /
 *             198.19.2.x), "EHLO [own address]" (an IP literal: +4), 3 RCPTs,
 *             nothing but SMTP (+2), the own address's octets in the HELO
 *             (+3). A Windows-like SYN (TTL 128; MSS, NOP, WS 8, NOP, NOP,
 *             SACK-permitted). Score 9 after the first session (alert
 *             "suspect:score"), 10 after the third (distinct MX): a verdict
 *             "direct-to-mx:new-sender" at about t = 1.1 s, long before their
 *             last session (at 6.8 / 6.9 s); the later sessions' frames to
 *             port 25 are dropped.
 *   bot6      2001:db8:2::/64: the same on IPv6 from t = 0.7 s (MX hosts
 *             2001:db8:ffff:3::x), every session from another address inside
 *             its /64, each greeting with its own "[IPv6:...]" literal (a name
 *             that varies, too). Profiles aggregate IPv6 per /64: one alert
 *             and one verdict, for 2001:db8:2::/64.
 *   pc        198.18.1.10: an end host. SYNs to port 443 of web servers
 *             (198.19.200.x) every 500 ms and three submission sessions to
 *             its relay 198.18.0.25:587 (commands on 587 are not counted).
 *             Never talks to port 25: no score, no verdict.
 *   mailsrv   198.18.0.10: in the configuration's "mail_servers". 27
 *             sessions every 300 ms from t = 0.2 s, each to another MX
 *             (198.19.100.x), "EHLO mail.lab.test". Never blocked; a Linux
 *             SYN.
 *   fresh     198.18.4.1-5: new senders, a SYN of a kit's own stack each (MSS,
 *             WS 2; TTL 64: no stock OS layout, so a rare fingerprint, specific
 *             enough alone to contain; a stock Linux SYN with these FQDN HELOs
 *             would be an alert only), one session each at t = 2.0,
 *             2.4, 2.8, 3.2, 3.6 s (the first two a second one at 2.9 and
 *             3.1 s, to another MX), each with its own FQDN HELO (distinct
 *             HELO hashes, no shape signature). Score 2 each: no alert. With
 *             "outbreak": {"min_senders": 5} the fifth one's SYN declares an
 *             outbreak "fp:<the kit's fingerprint>" with exactly these five as
 *             members (the first four named in the declaration, proven by
 *             their sessions; the fifth once its EHLO proves it); the
 *             fingerprint goes into the kernel.
 *   latecomer 198.18.4.6: the same kit's SYN at t = 5.0 s, retransmitted at
 *             6.0 s, 1.4 s after the declaration: both dropped by the
 *             containment (kernel drop reason "outbreak" = 2); never a member.
 *
 * The cast is printed as JSON so the test does not repeat the addresses.
 * Exit status 0, 1 on a write error, 2 on bad usage.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pktbuild.h"

#define T0_SEC 1800000000u
#define MAX_FRAMES 8192

struct frame {
	uint64_t t_us; /* from T0 */
	uint32_t seq;  /* insertion order: ties keep it */
	uint16_t len;
	uint8_t *data;
};

static struct frame frames[MAX_FRAMES];
static uint32_t nframes;

static void add(uint64_t t_us, struct pb *p)
{
	size_t len = pb_finish(p);

	if (nframes == MAX_FRAMES) {
		fprintf(stderr, "tool_scenario: too many frames\n");
		exit(1);
	}
	struct frame *f = &frames[nframes];
	f->t_us = t_us;
	f->seq = nframes++;
	f->len = (uint16_t)len;
	f->data = malloc(len);
	if (!f->data)
		exit(1);
	memcpy(f->data, p->buf, len);
}

static int cmp_frame(const void *a, const void *b)
{
	const struct frame *x = a, *y = b;

	if (x->t_us != y->t_us)
		return x->t_us < y->t_us ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* ---- hosts ------------------------------------------------------------------------ */

/* KIT: a bot kit's own stack (MSS and window scale only): no stock OS layout (user/mg_osfp.c). */
enum os { LINUX, WINDOWS, KIT };

struct host {
	const char *addr; /* IPv4, or an IPv6 /64 ("2001:db8:2::") whose sessions each come from another address in it */
	int v6;
	uint8_t mac[6];
	enum os os;
	uint16_t ip_id;
	uint16_t next_port;
};

static const uint8_t ROUTER_MAC[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0xfe };

static void host_init(struct host *h, const char *addr, uint8_t mac_tail, enum os os)
{
	memset(h, 0, sizeof(*h));
	h->addr = addr;
	h->v6 = strchr(addr, ':') != NULL;
	memcpy(h->mac, (uint8_t[6]){ 0x02, 0x00, 0x5e, 0x10, 0x00, mac_tail }, 6);
	h->os = os;
	h->ip_id = (uint16_t)(mac_tail * 977u + 1);
	h->next_port = (uint16_t)(os != WINDOWS ? 40000 + mac_tail * 13 : 50000 + mac_tail * 7);
}

static void syn_opts(const struct host *h, struct pb_tcp_opts *o, uint32_t isn, uint32_t tsval)
{
	if (h->os == LINUX) {
		pb_tcp_opts_linux_syn(o);
		/* A real timestamp value; the fingerprint reads kinds, not values. */
		memset(o->opts, 0, sizeof(o->opts));
		o->opts_len = 0;
		pb_tcp_opt_mss(o, 1460);
		pb_tcp_opt_sackok(o);
		pb_tcp_opt_ts(o, tsval, 0);
		pb_tcp_opt_nop(o);
		pb_tcp_opt_ws(o, 7);
	} else if (h->os == KIT) {
		memset(o, 0, sizeof(*o));
		o->window = 5840;
		pb_tcp_opt_mss(o, 1460);
		pb_tcp_opt_ws(o, 2);
	} else {
		memset(o, 0, sizeof(*o));
		o->window = 64240;
		pb_tcp_opt_mss(o, 1460);
		pb_tcp_opt_nop(o);
		pb_tcp_opt_ws(o, 8);
		pb_tcp_opt_nop(o);
		pb_tcp_opt_nop(o);
		pb_tcp_opt_sackok(o);
	}
	o->seq = isn;
}

/* One TCP segment; from_client says which way it goes. */
struct conn {
	struct host *c;
	char caddr[48];        /* the client's address for this connection */
	const char *srv;
	uint8_t srv_mac[6];
	uint16_t sport, dport;
	uint32_t cseq, sseq;   /* next sequence number of each side */
	uint16_t srv_ip_id;
	uint64_t t;            /* microseconds */
};

static void ip(struct pb *p, const struct conn *k, int from_client, uint8_t ttl, uint16_t id)
{
	const char *src = from_client ? k->caddr : k->srv, *dst = from_client ? k->srv : k->caddr;

	if (k->c->v6)
		pb_ipv6(p, src, dst, &(struct pb_ip_opts){ .ttl = ttl });
	else
		pb_ipv4(p, src, dst, &(struct pb_ip_opts){ .ttl = ttl, .df = 1, .id = id });
}

static void seg(struct conn *k, int from_client, uint8_t flags, const char *payload)
{
	struct pb p;
	struct pb_tcp_opts o;
	size_t plen = payload ? strlen(payload) : 0;

	memset(&o, 0, sizeof(o));
	pb_init(&p);
	if (from_client) {
		pb_eth(&p, k->c->mac, ROUTER_MAC);
		ip(&p, k, 1, k->c->os != WINDOWS ? 64 : 128, k->c->ip_id++);
		o.window = k->c->os != WINDOWS ? 502 : 1026;
		o.seq = k->cseq;
		o.ack = k->sseq;
		pb_tcp(&p, k->sport, k->dport, flags, &o);
		k->cseq += (uint32_t)plen + ((flags & PB_TCP_FIN) ? 1 : 0);
	} else {
		pb_eth(&p, ROUTER_MAC, k->c->mac);
		ip(&p, k, 0, 52, k->srv_ip_id++);
		o.window = 509;
		o.seq = k->sseq;
		o.ack = k->cseq;
		pb_tcp(&p, k->dport, k->sport, flags, &o);
		k->sseq += (uint32_t)plen + ((flags & PB_TCP_FIN) ? 1 : 0);
	}
	if (plen)
		pb_payload(&p, payload, plen);
	pb_eth_pad(&p, 60);
	add(k->t, &p);
}

/* The handshake: client SYN, server SYN-ACK, client ACK; k->t advances. */
static void handshake(struct conn *k)
{
	struct pb p;
	struct pb_tcp_opts o;
	uint32_t isn = 0x10000000u + (uint32_t)k->sport * 7919u;

	syn_opts(k->c, &o, isn, (uint32_t)(k->t / 1000) + 4000000u);
	pb_init(&p);
	pb_eth(&p, k->c->mac, ROUTER_MAC);
	ip(&p, k, 1, k->c->os != WINDOWS ? 64 : 128, k->c->ip_id++);
	pb_tcp(&p, k->sport, k->dport, PB_TCP_SYN, &o);
	add(k->t, &p);
	k->cseq = isn + 1;

	k->t += 900;
	uint32_t sisn = 0x70000000u + (uint32_t)k->sport * 104729u;
	pb_tcp_opts_linux_syn(&o);
	o.window = 65160;
	o.seq = sisn;
	o.ack = k->cseq;
	pb_init(&p);
	pb_eth(&p, ROUTER_MAC, k->c->mac);
	ip(&p, k, 0, 52, k->srv_ip_id++);
	pb_tcp(&p, k->dport, k->sport, PB_TCP_SYN | PB_TCP_ACK, &o);
	add(k->t, &p);
	k->sseq = sisn + 1;

	k->t += 150;
	seg(k, 1, PB_TCP_ACK, NULL);
}

static void conn_open(struct conn *k, struct host *c, const char *srv, uint16_t dport, uint64_t t_us)
{
	static unsigned hop;

	memset(k, 0, sizeof(*k));
	k->c = c;
	if (c->v6) /* a new address inside the /64 for every connection */
		snprintf(k->caddr, sizeof(k->caddr), "%s%x:%x", c->addr, 0x1000 + hop * 37, 0xa000 + hop * 101), hop++;
	else
		snprintf(k->caddr, sizeof(k->caddr), "%s", c->addr);
	k->srv = srv;
	k->sport = c->next_port;
	c->next_port = (uint16_t)(c->next_port + 3);
	k->dport = dport;
	k->srv_ip_id = (uint16_t)(k->sport * 31u);
	k->t = t_us;
}

/* A command from the client, the server's reply 1.2 ms later, the client's ACK of it. */
static void exchange(struct conn *k, const char *cmd, const char *reply)
{
	k->t += 2000;
	seg(k, 1, PB_TCP_ACK | PB_TCP_PSH, cmd);
	k->t += 1200;
	seg(k, 0, PB_TCP_ACK | PB_TCP_PSH, reply);
}

static void close_conn(struct conn *k)
{
	k->t += 800;
	seg(k, 1, PB_TCP_FIN | PB_TCP_ACK, NULL);
	k->t += 600;
	seg(k, 0, PB_TCP_FIN | PB_TCP_ACK, NULL);
	k->t += 100;
	seg(k, 1, PB_TCP_ACK, NULL);
}

/* A whole SMTP session from c to the MX at srv (port 25, or 587 for submission); helo NULL: the client's own address literal. */
static void smtp_session(struct host *c, const char *srv, uint16_t port, uint64_t t_us, const char *helo,
			 const char *from, unsigned rcpts, unsigned tag)
{
	struct conn k;
	char buf[160];

	conn_open(&k, c, srv, port, t_us);
	handshake(&k);
	k.t += 3000;
	snprintf(buf, sizeof(buf), "220 mx%u.example.test ESMTP\r\n", tag % 97);
	seg(&k, 0, PB_TCP_ACK | PB_TCP_PSH, buf);
	k.t += 400;
	seg(&k, 1, PB_TCP_ACK, NULL);
	if (helo)
		snprintf(buf, sizeof(buf), "EHLO %s\r\n", helo);
	else
		snprintf(buf, sizeof(buf), "EHLO [%s%s]\r\n", c->v6 ? "IPv6:" : "", k.caddr);
	exchange(&k, buf, "250-mx.example.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
	snprintf(buf, sizeof(buf), "MAIL FROM:<%s>\r\n", from);
	exchange(&k, buf, "250 2.1.0 Ok\r\n");
	for (unsigned r = 0; r < rcpts; r++) {
		snprintf(buf, sizeof(buf), "RCPT TO:<user%u.%u@example.test>\r\n", tag, r);
		exchange(&k, buf, "250 2.1.5 Ok\r\n");
	}
	exchange(&k, "DATA\r\n", "354 End data with <CR><LF>.<CR><LF>\r\n");
	snprintf(buf, sizeof(buf), "Subject: message %u\r\nFrom: <%s>\r\n\r\nHello.\r\n.\r\n", tag, from);
	exchange(&k, buf, "250 2.0.0 Ok: queued\r\n");
	exchange(&k, "QUIT\r\n", "221 2.0.0 Bye\r\n");
	close_conn(&k);
}

/* A web connection: handshake, a TLS-looking request and answer, close. */
static void web_conn(struct host *c, const char *srv, uint64_t t_us)
{
	struct conn k;
	static const char hello[] = "\x16\x03\x01\x01\x20 client hello (opaque to mtaguard)";

	conn_open(&k, c, srv, 443, t_us);
	handshake(&k);
	exchange(&k, hello, "\x16\x03\x03\x01\x20 server hello");
	close_conn(&k);
}

/* A SYN only (nobody answers: the kernel dropped it), as a retransmission would repeat it. */
static void lone_syn(struct host *c, const char *srv, uint64_t t_us, uint16_t sport)
{
	struct pb p;
	struct pb_tcp_opts o;

	syn_opts(c, &o, 0x2000000u + sport, (uint32_t)(t_us / 1000) + 4000000u);
	pb_init(&p);
	pb_eth(&p, c->mac, ROUTER_MAC);
	pb_ipv4(&p, c->addr, srv, &(struct pb_ip_opts){ .ttl = 64, .df = 1, .id = c->ip_id++ });
	pb_tcp(&p, sport, 25, PB_TCP_SYN, &o);
	add(t_us, &p);
}

#define MS(x) ((uint64_t)(x) * 1000u)

int main(int argc, char **argv)
{
	static const char *fresh_addr[5] = { "198.18.4.1", "198.18.4.2", "198.18.4.3", "198.18.4.4", "198.18.4.5" };
	static const char *fresh_helo[5] = { "ws-anna.branch.lab.test", "laptop-bert.lab.test", "kiosk3.shop.lab.test",
					     "nas.home-carl.lab.test", "printer-2nd-floor.lab.test" };
	struct host bot[3], pc, ms, fresh[5], late;
	char mx[48], from[64];

	if (argc != 2) {
		fprintf(stderr, "usage: tool_scenario OUT.pcap\n");
		return 2;
	}
	host_init(&bot[0], "198.18.2.2", 0x22, WINDOWS);
	host_init(&bot[1], "198.18.3.2", 0x32, WINDOWS);
	host_init(&bot[2], "2001:db8:2::", 0x62, WINDOWS);
	host_init(&pc, "198.18.1.10", 0x10, LINUX);
	host_init(&ms, "198.18.0.10", 0x0a, LINUX);
	for (int i = 0; i < 5; i++)
		host_init(&fresh[i], fresh_addr[i], (uint8_t)(0x41 + i), KIT);
	host_init(&late, "198.18.4.6", 0x46, KIT);

	/* The PC: web every 500 ms, mail through its relay on 587 three times. */
	for (unsigned k = 0; k < 17; k++) {
		snprintf(mx, sizeof(mx), "198.19.200.%u", k % 4 + 1);
		web_conn(&pc, mx, MS(100 + 500 * k));
	}
	for (unsigned k = 0; k < 3; k++)
		smtp_session(&pc, "198.18.0.25", 587, MS(1000 + 3000 * k), "pc.lab.test", "user@lab.test", 1, 900 + k);

	/* The configured mail server: steady direct-to-MX delivery with its proper name. */
	for (unsigned k = 0; k < 27; k++) {
		snprintf(mx, sizeof(mx), "198.19.100.%u", k + 1);
		smtp_session(&ms, mx, 25, MS(200 + 300 * k), "mail.lab.test", "list@lab.test", 3, 100 + k);
	}

	/* The bots: a new MX every 250 ms, an IP literal for a name. */
	for (int b = 0; b < 3; b++)
		for (unsigned k = 0; k < 22; k++) {
			if (bot[b].v6)
				snprintf(mx, sizeof(mx), "2001:db8:ffff:%d::%x", b + 1, k + 1);
			else
				snprintf(mx, sizeof(mx), "198.19.%d.%u", b + 1, k + 1);
			snprintf(from, sizeof(from), "promo%u@offers%u.example.test", k, b);
			smtp_session(&bot[b], mx, 25, MS(500 + 100 * b + 300 * k), NULL, from, 3, 200 + 100 * b + k);
		}

	/* Fresh hosts, one fingerprint: the fifth one's SYN (t = 3.6 s) makes five. */
	for (int i = 0; i < 5; i++) {
		snprintf(mx, sizeof(mx), "198.19.50.%d", i + 1);
		snprintf(from, sizeof(from), "someone@%s", fresh_helo[i]);
		smtp_session(&fresh[i], mx, 25, MS(2000 + 400 * i), fresh_helo[i], from, 1, 500 + i);
	}
	smtp_session(&fresh[0], "198.19.50.11", 25, MS(2900), fresh_helo[0], "someone@lab.test", 1, 510);
	smtp_session(&fresh[1], "198.19.50.12", 25, MS(3100), fresh_helo[1], "someone@lab.test", 1, 511);

	/* The latecomer: its SYN and one retransmission, both contained. */
	lone_syn(&late, "198.19.50.20", MS(5000), 41234);
	lone_syn(&late, "198.19.50.20", MS(6000), 41234);

	/* The end: the PC's last web request and the mail server's last session, t = 8.4 s. */
	qsort(frames, nframes, sizeof(frames[0]), cmp_frame);

	FILE *f = fopen(argv[1], "wb");
	uint32_t hdr[6] = { 0xa1b2c3d4, 2 | 4u << 16, 0, 0, 65535, 1 /* Ethernet */ };
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	fwrite(hdr, sizeof(hdr), 1, f);
	for (uint32_t i = 0; i < nframes; i++) {
		uint32_t rec[4] = { T0_SEC + (uint32_t)(frames[i].t_us / 1000000), (uint32_t)(frames[i].t_us % 1000000),
				    frames[i].len, frames[i].len };
		fwrite(rec, sizeof(rec), 1, f);
		fwrite(frames[i].data, frames[i].len, 1, f);
		free(frames[i].data);
	}
	if (fclose(f)) {
		perror(argv[1]);
		return 1;
	}

	printf("{\"frames\": %u, \"duration_s\": %.3f,\n", nframes, (double)frames[nframes - 1].t_us / 1e6);
	/* Sources as the reports name them (the IPv6 bot's /64), and an address of each for mtaguardctl show. */
	printf(" \"bots\": [\"%s\", \"%s\", \"%s/64\"],\n", bot[0].addr, bot[1].addr, bot[2].addr);
	printf(" \"bot_addrs\": [\"%s\", \"%s\", \"%s1\"],\n", bot[0].addr, bot[1].addr, bot[2].addr);
	printf(" \"pc\": \"%s\", \"mail_server\": \"%s\",\n", pc.addr, ms.addr);
	printf(" \"fresh\": [");
	for (int i = 0; i < 5; i++)
		printf("%s\"%s\"", i ? ", " : "", fresh[i].addr);
	printf("],\n \"latecomer\": \"%s\"}\n", late.addr);
	return 0;
}
