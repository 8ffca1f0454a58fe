// SPDX-License-Identifier: GPL-2.0-only
/*
 * bench_verdict - time to verdict: from the kernel event that decides a bot's
 * verdict to its block rule written in the kernel, through the real ring
 * buffer and the daemon's own engine (make bench; not a timed test).
 *
 *   bench-verdict [BOTS]        (default 200; root: it loads a private program)
 *
 * Two threads, as on a router: the "wire" runs scripted bot sessions through
 * a private instance of the XDP program with BPF_PROG_TEST_RUN (client SYN,
 * the server's SYN-ACK, the client's ACK, EHLO with an address literal, MAIL,
 * three RCPT; every session to another MX, 20 ms apart, the bots interleaved),
 * which puts the program's events on its ring buffer; the "daemon" waits on
 * the ring buffer's epoll fd, feeds the events to mg_engine, settles (judges
 * the sources those events concern, mg_engine_settle) and scans when due, as
 * mtaguardd's loop does.
 *
 * For each bot: the kernel time of the last event of it the daemon read
 * before its verdict (bpf_ktime_get_ns, CLOCK_MONOTONIC), and the moment the
 * daemon's call that wrote the block returned. Run twice: settling after
 * every batch of events (what mtaguardd does), and scans alone (every 100 ms
 * after news, what it did before), each with its distribution.
 */
#include <errno.h>
#include <stdint.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "mg_addr.h"
#include "mg_clock.h"
#include "mg_config.h"
#include "mg_engine.h"
#include "mg_kernel_sink.h"
#include "mg_loader.h"
#include "pktbuild.h"

#define MAX_BOTS 1000
#define SESSIONS 8            /* per bot: more than any verdict needs */
#define SESSION_GAP_NS (50 * 1000000ull)

struct bot {
	char addr[32];
	_Atomic uint64_t last_event_ns; /* kernel time of its last event the daemon read */
	uint64_t first_event_ns;        /* of its first event (its first SYN to port 25) */
	uint64_t decided_ns;            /* that time when the verdict was written */
	uint64_t written_ns;            /* when the call that wrote the block returned */
	bool by_settle;
	bool blocked;
};

struct run {
	struct mg_handle h;
	struct mg_kernel_sink sink;
	struct mg_engine eng;
	struct mg_config cfg;
	struct ring_buffer *rb;
	struct bot *bots;
	unsigned nbots;
	bool settle;                     /* the daemon settles after events (else: scans alone) */
	atomic_bool wire_done;
	/* Blocks noted during the daemon's current call: stamped when it returns. */
	unsigned pending[MAX_BOTS];
	unsigned npending;
	bool in_settle;
};

static uint64_t mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int bot_of(struct run *r, const uint8_t addr[16])
{
	char buf[MG_ADDRSTRLEN];
	mg_addr_str(addr, buf, sizeof(buf));
	for (unsigned i = 0; i < r->nbots; i++)
		if (!strcmp(r->bots[i].addr, buf))
			return (int)i;
	return -1;
}

static void observe(const struct mg_engine_note *n, void *arg)
{
	struct run *r = arg;

	if (n->kind != MG_NOTE_ACTION || n->action->kind != MG_AN_BLOCK)
		return;
	int b = bot_of(r, n->action->prefix.addr);
	if (b < 0 || r->bots[b].blocked)
		return;
	r->bots[b].blocked = true;
	r->bots[b].decided_ns = atomic_load(&r->bots[b].last_event_ns);
	r->bots[b].by_settle = r->in_settle;
	if (r->npending < MAX_BOTS)
		r->pending[r->npending++] = (unsigned)b;
}

static void stamp_pending(struct run *r)
{
	uint64_t t = mono();
	for (unsigned i = 0; i < r->npending; i++)
		r->bots[r->pending[i]].written_ns = t;
	r->npending = 0;
}

static int on_event(void *ctx, void *data, size_t len)
{
	struct run *r = ctx;
	const struct mg_event *ev = data;

	if (len < sizeof(*ev))
		return 0;
	int b = bot_of(r, ev->src);
	if (b >= 0) {
		atomic_store(&r->bots[b].last_event_ns, ev->ts_ns);
		if (!r->bots[b].first_event_ns)
			r->bots[b].first_event_ns = ev->ts_ns;
	}
	uint64_t m = mono();
	mg_engine_event(&r->eng, ev, m + MG_TIMELINE_ORIGIN, mg_mono_to_wall_ns(m));
	return 0;
}

/* The daemon's loop: wait on the ring buffer, read the events, settle, scan when due. */
static void *daemon_loop(void *arg)
{
	struct run *r = arg;
	int ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN }, out;

	epoll_ctl(ep, EPOLL_CTL_ADD, ring_buffer__epoll_fd(r->rb), &ev);
	for (;;) {
		uint64_t m = mono(), now = m + MG_TIMELINE_ORIGIN, next = mg_engine_next_scan(&r->eng);
		int timeout = next > now ? (int)((next - now) / 1000000 + 1) : 0;
		bool done = atomic_load(&r->wire_done);
		epoll_wait(ep, &out, 1, done ? 0 : (timeout > 50 ? 50 : timeout));
		ring_buffer__consume(r->rb);
		m = mono();
		if (r->settle) {
			r->in_settle = true;
			mg_engine_settle(&r->eng, m + MG_TIMELINE_ORIGIN, mg_mono_to_wall_ns(m));
			r->in_settle = false;
			stamp_pending(r);
		}
		m = mono();
		if (mg_engine_scan_due(&r->eng, m + MG_TIMELINE_ORIGIN)) {
			mg_engine_tick(&r->eng, m + MG_TIMELINE_ORIGIN, mg_mono_to_wall_ns(m));
			stamp_pending(r);
		}
		if (done) {
			/* One more scan after the wire went quiet, at its time: what the last counters show. */
			usleep(110000);
			ring_buffer__consume(r->rb);
			m = mono();
			mg_engine_tick(&r->eng, m + MG_TIMELINE_ORIGIN, mg_mono_to_wall_ns(m));
			stamp_pending(r);
			break;
		}
	}
	close(ep);
	return NULL;
}

/* One client segment (or the server's SYN-ACK) of bot b's session s through the program. */
static void run_frame(struct run *r, const char *src, const char *dst, uint16_t sport, uint16_t dport, uint8_t flags,
		      uint32_t seq, uint32_t ack, const char *payload, const struct pb_tcp_opts *syn)
{
	struct pb f;
	struct pb_tcp_opts o = { 0 };

	if (syn)
		o = *syn;
	o.seq = seq;
	o.ack = ack;
	pb_init(&f);
	pb_eth(&f, NULL, NULL);
	pb_ipv4(&f, src, dst, NULL);
	pb_tcp(&f, sport, dport, flags, &o);
	if (payload)
		pb_payload_str(&f, payload);
	size_t len = pb_finish(&f);
	LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = f.buf, .data_size_in = (uint32_t)len, .repeat = 1);
	bpf_prog_test_run_opts(r->h.prog_fd, &t);
}

static void session(struct run *r, unsigned b, unsigned s)
{
	char mx[32], helo[64];
	const char *src = r->bots[b].addr;
	uint16_t sport = (uint16_t)(20000 + s * 64 + (b % 64));
	uint32_t cseq = 1000 + s, sseq = 900000 + b * 16 + s, c = cseq + 1;
	struct pb_tcp_opts syn;
	static const char *cmds[] = { "MAIL FROM:<x@spam.example>\r\n", "RCPT TO:<a@mx.example>\r\n",
				      "RCPT TO:<b@mx.example>\r\n", "RCPT TO:<c@mx.example>\r\n" };

	snprintf(mx, sizeof(mx), "198.19.%u.%u", 1 + s, 1 + b % 250);
	pb_tcp_opts_linux_syn(&syn);
	run_frame(r, src, mx, sport, 25, PB_TCP_SYN, cseq, 0, NULL, &syn);
	run_frame(r, mx, src, 25, sport, PB_TCP_SYN | PB_TCP_ACK, sseq, cseq + 1, NULL, NULL);
	run_frame(r, src, mx, sport, 25, PB_TCP_ACK, c, sseq + 1, NULL, NULL);
	snprintf(helo, sizeof(helo), "EHLO [%s]\r\n", src);
	run_frame(r, src, mx, sport, 25, PB_TCP_ACK | PB_TCP_PSH, c, sseq + 1, helo, NULL);
	c += (uint32_t)strlen(helo);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		run_frame(r, src, mx, sport, 25, PB_TCP_ACK | PB_TCP_PSH, c, sseq + 1, cmds[i], NULL);
		c += (uint32_t)strlen(cmds[i]);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

struct dist {
	double p50, p90, p99, max;
};

static void dist_of(uint64_t *v, unsigned n, struct dist *d)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	d->p50 = n ? v[n / 2] / 1e6 : 0;
	d->p90 = n ? v[(n * 9) / 10] / 1e6 : 0;
	d->p99 = n ? v[(n * 99) / 100] / 1e6 : 0;
	d->max = n ? v[n - 1] / 1e6 : 0;
}

static int one_run(unsigned nbots, bool settle, struct dist *decided, struct dist *first, unsigned *blocked,
		   unsigned *by_settle)
{
	struct run *r = calloc(1, sizeof(*r));
	struct mg_load_opts lo;
	pthread_t th;

	if (!r)
		return -ENOMEM;
	r->nbots = nbots;
	r->settle = settle;
	r->bots = calloc(nbots, sizeof(*r->bots));
	for (unsigned i = 0; i < nbots; i++)
		snprintf(r->bots[i].addr, sizeof(r->bots[i].addr), "198.18.%u.%u", 10 + i / 250, 1 + i % 250);
	mg_config_default(&r->cfg);
	/* Every bot may be blocked: the circuit breaker (10 a minute) would turn all but ten into alerts. */
	r->cfg.state_file[0] = '\0'; /* nothing restored from, or saved to, this machine's state */
	r->cfg.an.max_new_blocks_per_min = MAX_BOTS;
	/*
	 * Each bot judged on its own evidence: 200 new senders alike are an
	 * outbreak, whose threat level would lower everyone's threshold and
	 * decide at the first session. The time measured is the same either way.
	 */
	r->cfg.ob.min_senders = 1000000;
	mg_load_opts_default(&lo);
	lo.tunables = r->cfg.tunables;
	/* The wire runs far faster than real sessions: lift the flood budgets, as mtaguard-replay does. */
	lo.tunables.syn_new_per_sec = lo.tunables.payload_new_per_sec = lo.tunables.drop_events_per_sec = 1000000000u;
	lo.tunables.syn_new_burst = lo.tunables.payload_new_burst = 1000000000u;
	int err = mg_load_private(&lo, &r->h);
	if (err)
		return err;
	if (mg_kernel_sink_init(&r->sink, &r->h, MG_TIMELINE_ORIGIN, true) ||
	    mg_engine_init(&r->eng, &r->cfg, &mg_kernel_sink_ops, &r->sink, observe, r))
		return -ENOMEM;
	r->rb = ring_buffer__new(r->h.events_fd, on_event, r, NULL);
	if (!r->rb)
		return -errno;
	uint64_t m = mono();
	mg_engine_start(&r->eng, m + MG_TIMELINE_ORIGIN, mg_mono_to_wall_ns(m));
	mg_engine_tick(&r->eng, m + MG_TIMELINE_ORIGIN, mg_mono_to_wall_ns(m));
	pthread_create(&th, NULL, daemon_loop, r);

	/* The wire: session s of every bot, then s + 1; SESSION_GAP_NS between one bot's sessions. */
	for (unsigned s = 0; s < SESSIONS; s++) {
		uint64_t start = mono();
		for (unsigned b = 0; b < nbots; b++) {
			/* Spread the bots over the gap, so events arrive as a trickle, not in one burst. */
			uint64_t at = start + SESSION_GAP_NS * b / nbots;
			while (mono() < at)
				;
			session(r, b, s);
		}
		while (mono() < start + SESSION_GAP_NS)
			;
	}
	atomic_store(&r->wire_done, true);
	pthread_join(th, NULL);

	uint64_t *lat = calloc(nbots, sizeof(*lat)), *from_first = calloc(nbots, sizeof(*from_first));
	unsigned n = 0, ns = 0;
	for (unsigned i = 0; i < nbots; i++) {
		struct bot *b = &r->bots[i];
		if (!b->blocked || !b->written_ns || !b->decided_ns)
			continue;
		lat[n] = b->written_ns > b->decided_ns ? b->written_ns - b->decided_ns : 0;
		from_first[n++] = b->written_ns > b->first_event_ns ? b->written_ns - b->first_event_ns : 0;
		ns += b->by_settle;
	}
	*blocked = n;
	*by_settle = ns;
	dist_of(lat, n, decided);
	dist_of(from_first, n, first);
	free(lat);
	free(from_first);
	ring_buffer__free(r->rb);
	mg_engine_free(&r->eng);
	mg_close(&r->h);
	mg_config_free(&r->cfg);
	free(r->bots);
	free(r);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned nbots = argc > 1 ? (unsigned)atoi(argv[1]) : 200;

	if (nbots < 1 || nbots > MAX_BOTS) {
		fprintf(stderr, "usage: %s [BOTS (1-%d)]\n", argv[0], MAX_BOTS);
		return 2;
	}
	libbpf_set_print(NULL);
	printf("Time to verdict: %u bots, %d sessions each %llu ms apart (SYN, SYN-ACK, ACK, EHLO [literal], MAIL, 3 RCPT),\n"
	       "through the ring buffer to the block written in the kernel (ms): from the last event of the bot the\n"
	       "daemon read before deciding (the deciding evidence), and from its first SYN\n",
	       nbots, SESSIONS, SESSION_GAP_NS / 1000000);
	printf("  %-33s %-14s %7s %7s %7s %7s %9s %9s\n", "daemon", "from", "p50", "p90", "p99", "max", "blocked",
	       "by settle");
	for (int settle = 1; settle >= 0; settle--) {
		struct dist d, f;
		unsigned blocked, by_settle;
		int err = one_run(nbots, settle, &d, &f, &blocked, &by_settle);
		if (err) {
			fprintf(stderr, "bench-verdict: %s (loading the program needs root)\n", strerror(-err));
			return 1;
		}
		const char *who = settle ? "settle after events (mtaguardd)" : "scans alone (100 ms after news)";
		printf("  %-33s %-14s %7.1f %7.1f %7.1f %7.1f %5u/%-3u %9u\n", who, "deciding event", d.p50, d.p90,
		       d.p99, d.max, blocked, nbots, by_settle);
		printf("  %-33s %-14s %7.1f %7.1f %7.1f %7.1f\n", "", "first SYN", f.p50, f.p90, f.p99, f.max);
	}
	return 0;
}
