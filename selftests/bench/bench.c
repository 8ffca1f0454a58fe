// SPDX-License-Identifier: GPL-2.0-only
/*
 * bench.c - per-packet cost of the mtaguard XDP program, beside two baselines
 * measured in the same run on the same frames: a bare XDP_PASS program and
 * xdp-filter (Debian's xdp-tools, set up by its own CLI with one deny rule).
 *
 * Costs come from BPF_PROG_TEST_RUN's own timing (average ns per run over a
 * large repeat count). This machine is shared and noisy, so programs are
 * interleaved round by round and each figure is the median of the rounds;
 * read the ratios, not the absolute numbers.
 */
#include <errno.h>
#include <getopt.h>
#include <arpa/inet.h>
#include <stdarg.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "mg_activity.h"
#include "mg_addr.h"
#include "mg_rulemaps.h"
#include "mg_stats.h"
#include "mg_xdp.skel.h"
#include "pktbuild.h"

#define BLOCKED_SRC "198.18.250.1"
#define N_PREFIXES 100000
#define N_CASES 12
/*
 * The rows marked `protected` run on a second instance of mtaguard loaded
 * with these protected networks (a /16 of PCs and a /48 of SLAAC LANs,
 * 131 072 activity records): the same frame as an unprotected row then
 * differs by the activity record's update alone.
 */
#define PROTECTED_V4 "198.18.0.0/16"
#define PROTECTED_V6 "2001:db8::/48"

enum { P_PASS, P_XDPFILTER, P_MTAGUARD, P_MAX };
static const char *const prog_names[P_MAX] = { "pass", "xdp-filter", "mtaguard" };

struct bench_case {
	const char *name;
	struct pb frame;
	size_t len;
	int via_randsrc; /* run through the random-source wrapper */
	int big_rules;   /* measured after the 100 000 prefixes are loaded */
	int protected;   /* on the instance with protected networks: the source has an activity record */
	double ns[P_MAX];
	int retval[P_MAX];
};

static char veth[IFNAMSIZ];
static int veth_made;

static void cleanup(void)
{
	char cmd[128];

	if (veth_made) {
		snprintf(cmd, sizeof(cmd), "ip link del %s >/dev/null 2>&1", veth);
		if (system(cmd)) { /* already gone */ }
		veth_made = 0;
	}
}

static void on_signal(int sig)
{
	cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

/*
 * xdp-filter attached by its own CLI to a veth made for this run. Its maps are
 * shared by every interface it filters, so it runs with a private bpffs
 * (unshare -m): our deny rule can never reach a filter the host already runs.
 * The program stays attached to our veth; deleting the veth removes it all.
 * Returns the attached program's fd.
 */
static int setup_xdp_filter(void)
{
	__u32 id = 0;
	int ifindex, fd;

	snprintf(veth, sizeof(veth), "mgbench%d", (int)(getpid() % 100000));
	if (sh("ip link add %s type veth peer name %sp && ip link set %s up && ip link set %sp up",
	       veth, veth, veth, veth))
		return -1;
	veth_made = 1;
	/* Generic mode: the program is the same either way, and a test run does not use the device. */
	if (sh("unshare -m sh -c 'mount -t bpf bpf /sys/fs/bpf && xdp-filter load -m skb %s >/dev/null && "
	       "xdp-filter ip %s -m src >/dev/null'", veth, BLOCKED_SRC))
		return -1;
	ifindex = (int)if_nametoindex(veth);
	if (bpf_xdp_query_id(ifindex, XDP_FLAGS_SKB_MODE, &id) || !id)
		return -1;
	/* Whatever is attached (xdp-filter's program, or libxdp's dispatcher in front of it) is what the kernel runs. */
	fd = bpf_prog_get_fd_by_id(id);
	return fd;
}

static int load_obj_prog(const char *path, const char *prog, struct bpf_object **obj)
{
	*obj = bpf_object__open_file(path, NULL);
	if (!*obj || bpf_object__load(*obj))
		return -1;
	struct bpf_program *p = bpf_object__find_program_by_name(*obj, prog);
	return p ? bpf_program__fd(p) : -1;
}

static double run_avg(int fd, const struct bench_case *c, unsigned repeat, int *retval)
{
	uint8_t frame[2048];
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = (__u32)c->len, .repeat = repeat);

	memcpy(frame, c->frame.buf, c->len);
	if (bpf_prog_test_run_opts(fd, &o))
		return -1;
	*retval = (int)o.retval;
	return (double)o.duration;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void add_blocked_src(int block_fd)
{
	struct mg_prefix p;

	mg_prefix_parse(BLOCKED_SRC, &p);
	mg_rulemap_block(block_fd, &p, MG_ACT_DROP_ALL, 0);
}

static void add_prefixes(int block_fd)
{
	struct mg_prefix p;
	srandom(42);
	for (int i = 0; i < N_PREFIXES; i++) {
		/* Random /24 and /32 rules over the unicast IPv4 space: a realistically deep trie. */
		uint32_t a = (uint32_t)((1 + random() % 223) << 24 | (random() & 0xffffff));
		int plen = (i & 1) ? 24 : 32;
		mg_addr_from_v4(p.addr, htonl(a));
		p.prefixlen = (uint8_t)(96 + plen);
		mg_addr_mask(p.addr, p.prefixlen);
		mg_rulemap_block(block_fd, &p, MG_ACT_DROP_ALL, 0);
	}
}

static void build_cases(struct bench_case *c)
{
	static const uint8_t arp[28] = { 0, 1, 8, 0, 6, 4, 0, 1 };
	uint8_t payload[100];
	struct pb_tcp_opts syn;

	memset(payload, 'x', sizeof(payload));
	pb_tcp_opts_linux_syn(&syn);

	c[0].name = "non-IP frame (ARP)";
	pb_init(&c[0].frame);
	pb_eth(&c[0].frame, NULL, NULL);
	pb_ethertype_raw(&c[0].frame, 0x0806);
	pb_payload(&c[0].frame, arp, sizeof(arp));

	c[1].name = "TCP data to port 443";
	pb_init(&c[1].frame);
	pb_eth(&c[1].frame, NULL, NULL);
	pb_ipv4(&c[1].frame, "198.18.0.2", "198.18.1.1", NULL);
	pb_tcp(&c[1].frame, 40000, 443, PB_TCP_ACK | PB_TCP_PSH, NULL);
	pb_payload(&c[1].frame, payload, sizeof(payload));

	c[2].name = "SYN to port 25";
	pb_init(&c[2].frame);
	pb_eth(&c[2].frame, NULL, NULL);
	pb_ipv4(&c[2].frame, "198.18.0.2", "198.18.1.1", NULL);
	pb_tcp(&c[2].frame, 40000, 25, PB_TCP_SYN, &syn);

	c[3].name = "SMTP command segment";
	pb_init(&c[3].frame);
	pb_eth(&c[3].frame, NULL, NULL);
	pb_ipv4(&c[3].frame, "198.18.0.2", "198.18.1.1", NULL);
	pb_tcp(&c[3].frame, 40000, 25, PB_TCP_ACK | PB_TCP_PSH, NULL);
	pb_payload_str(&c[3].frame, "RCPT TO:<user@example.org>\r\n");

	c[4].name = "blocklisted source, 100k rules";
	c[4].big_rules = 1;
	pb_init(&c[4].frame);
	pb_eth(&c[4].frame, NULL, NULL);
	pb_ipv4(&c[4].frame, BLOCKED_SRC, "198.18.1.1", NULL);
	pb_tcp(&c[4].frame, 40000, 25, PB_TCP_SYN, &syn);

	c[5].name = "SYN flood, new source each";
	pb_init(&c[5].frame);
	pb_eth(&c[5].frame, NULL, NULL);
	pb_ipv4(&c[5].frame, "198.18.0.2", "198.18.1.1", NULL);
	pb_tcp(&c[5].frame, 40000, 25, PB_TCP_SYN, &syn);
	c[5].via_randsrc = 1;

	/* Not asked for, shown for honesty: bulk traffic and a flood when the blocklist is big. */
	c[6] = c[1];
	c[6].name = "TCP data to 443, 100k rules";
	c[6].big_rules = 1;
	c[7] = c[5];
	c[7].name = "SYN flood, 100k rules";
	c[7].big_rules = 1;

	/* The activity record's cost: the bulk row's very frame from a protected source, a flow start, and IPv6. */
	c[8] = c[1];
	c[8].name = "TCP data to 443, protected src";
	c[8].protected = 1;
	c[9].name = "SYN to 443, protected src";
	c[9].protected = 1;
	pb_init(&c[9].frame);
	pb_eth(&c[9].frame, NULL, NULL);
	/* A source no other row gives a profile, in either instance: both twins miss it and go to the sketch. */
	pb_ipv4(&c[9].frame, "198.18.0.3", "198.18.1.1", NULL);
	pb_tcp(&c[9].frame, 40000, 443, PB_TCP_SYN, &syn);
	c[10].name = "TCP data to 443, protected v6";
	c[10].protected = 1;
	pb_init(&c[10].frame);
	pb_eth(&c[10].frame, NULL, NULL);
	pb_ipv6(&c[10].frame, "2001:db8:0:1::2", "2001:db8:ffff::1", NULL);
	pb_tcp(&c[10].frame, 40000, 443, PB_TCP_ACK | PB_TCP_PSH, NULL);
	pb_payload(&c[10].frame, payload, sizeof(payload));

	/* The flow start's twin without an activity record: a SYN to another port goes to the sketch. */
	c[11] = c[9];
	c[11].name = "SYN to 443 (no activity record)";
	c[11].protected = 0;

	for (int i = 0; i < N_CASES; i++)
		c[i].len = pb_finish(&c[i].frame);
}

/*
 * A capture of a traffic mix for mtaguard-replay --repeat (make bench): per
 * 100 frames, 70 TCP data segments to 443, 15 SMTP command segments, 10 SYNs
 * to port 25, 5 ARP frames. Classic pcap, written by hand: four header
 * fields and a record header per frame.
 */
static int write_mix(const char *path, struct bench_case *c)
{
	FILE *f = fopen(path, "wb");
	uint32_t hdr[6] = { 0xa1b2c3d4, 2 | 4u << 16, 0, 0, 65535, 1 /* Ethernet */ };

	if (!f)
		return -1;
	fwrite(hdr, sizeof(hdr), 1, f);
	for (uint32_t i = 0; i < 1000; i++) {
		unsigned k = i % 100;
		const struct bench_case *bc = k < 70 ? &c[1] : k < 85 ? &c[3] : k < 95 ? &c[2] : &c[0];
		uint32_t rec[4] = { 1800000000u + i / 1000, (i % 1000) * 1000, (uint32_t)bc->len, (uint32_t)bc->len };
		fwrite(rec, sizeof(rec), 1, f);
		fwrite(bc->frame.buf, bc->len, 1, f);
	}
	return fclose(f);
}

static const char *verdict(int v)
{
	switch (v) {
	case XDP_PASS: return "pass";
	case XDP_DROP: return "drop";
	case XDP_ABORTED: return "aborted";
	default: return "?";
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "build", required_argument, NULL, 'b' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "repeat", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "write-mix", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	const char *mix = NULL;
	const char *build = "build";
	unsigned rounds = 5, repeat = 1000000;
	int json = 0, c;
	char path[512];

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'b': build = optarg; break;
		case 'r': rounds = (unsigned)atoi(optarg); break;
		case 'n': repeat = (unsigned)atoi(optarg); break;
		case 'j': json = 1; break;
		case 'w': mix = optarg; break;
		default:
			fprintf(stderr, "usage: %s [--build DIR] [--rounds N] [--repeat N] [--json] | --write-mix FILE\n", argv[0]);
			return 2;
		}
	}
	if (mix) {
		static struct bench_case mc[N_CASES];
		build_cases(mc);
		if (write_mix(mix, mc)) {
			perror(mix);
			return 1;
		}
		return 0;
	}
	if (geteuid() != 0) {
		printf("SKIP: the benchmark loads BPF programs and runs BPF_PROG_TEST_RUN: run as root\n");
		return 77;
	}
	if (rounds < 1 || rounds > 50 || repeat < 1000) {
		fprintf(stderr, "bench: rounds 1-50, repeat >= 1000\n");
		return 2;
	}
	libbpf_set_print(NULL);
	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	int fds[P_MAX];
	struct bpf_object *pass_obj, *wrap_obj;
	snprintf(path, sizeof(path), "%s/bench/pass.bpf.o", build);
	fds[P_PASS] = load_obj_prog(path, "bench_pass", &pass_obj);
	snprintf(path, sizeof(path), "%s/bench/randsrc.bpf.o", build);
	int wrap_fd = load_obj_prog(path, "bench_randsrc", &wrap_obj);
	if (fds[P_PASS] < 0 || wrap_fd < 0) {
		fprintf(stderr, "bench: cannot load the baseline programs from %s/bench (run make bench)\n", build);
		return 1;
	}
	int target_fd = bpf_map__fd(bpf_object__find_map_by_name(wrap_obj, "bench_target"));

	fds[P_XDPFILTER] = setup_xdp_filter();
	if (fds[P_XDPFILTER] < 0) {
		fprintf(stderr, "bench: could not set up xdp-filter (is xdp-tools installed?)\n");
		return 1;
	}

	struct mg_xdp *skel = mg_xdp__open();
	if (!skel)
		return 1;
	/* A big deployment's profile table. */
	bpf_map__set_max_entries(skel->maps.mg_sources, 1048576);
	if (mg_xdp__load(skel)) {
		fprintf(stderr, "bench: cannot load mtaguard\n");
		return 1;
	}
	fds[P_MTAGUARD] = bpf_program__fd(skel->progs.mtaguard_xdp);
	int block_fd = bpf_map__fd(skel->maps.mg_blocklist);
	/* Phase 1: one deny rule, as xdp-filter has. Phase 2: 100 000 prefixes. */
	add_blocked_src(block_fd);

	/* The instance with protected networks, sized as the loader sizes it. */
	struct mg_xdp *skel_prot = mg_xdp__open();
	struct mg_prefix nets[2];
	char why[256];
	size_t bad;
	if (!skel_prot || mg_prefix_parse(PROTECTED_V4, &nets[0]) || mg_prefix_parse(PROTECTED_V6, &nets[1]))
		return 1;
	struct mg_tunables tun = MG_TUNABLES_DEFAULT;
	if (mg_act_plan(nets, 2, tun.act, &bad, why, sizeof(why))) {
		fprintf(stderr, "bench: %s\n", why);
		return 1;
	}
	skel_prot->rodata->mg_cfg = tun;
	bpf_map__set_max_entries(skel_prot->maps.mg_sources, 1048576);
	bpf_map__set_max_entries(skel_prot->maps.mg_activity, mg_act_records(tun.act));
	if (mg_xdp__load(skel_prot)) {
		fprintf(stderr, "bench: cannot load mtaguard with protected networks\n");
		return 1;
	}
	int prot_fd = bpf_program__fd(skel_prot->progs.mtaguard_xdp);
	add_blocked_src(bpf_map__fd(skel_prot->maps.mg_blocklist));

	struct bench_case cases[N_CASES] = {};
	build_cases(cases);
	size_t ncases = sizeof(cases) / sizeof(cases[0]);
	double *samples = calloc(ncases * P_MAX * rounds, sizeof(double));
	int filter_tailcall_ok = 1;

	for (int phase = 0; phase < 2; phase++) {
	if (phase == 1)
		add_prefixes(block_fd);
	for (unsigned r = 0; r < rounds; r++) {
		for (size_t i = 0; i < ncases; i++) {
			if (cases[i].big_rules != phase)
				continue;
			for (int p = 0; p < P_MAX; p++) {
				int fd = p == P_MTAGUARD && cases[i].protected ? prot_fd : fds[p];
				double ns;
				if (cases[i].via_randsrc) {
					__u32 zero = 0;
					if (bpf_map_update_elem(target_fd, &zero, &fds[p], BPF_ANY)) {
						if (p == P_XDPFILTER)
							filter_tailcall_ok = 0;
						samples[(i * P_MAX + p) * rounds + r] = -1;
						continue;
					}
					fd = wrap_fd;
				}
				ns = run_avg(fd, &cases[i], repeat, &cases[i].retval[p]);
				samples[(i * P_MAX + p) * rounds + r] = ns;
			}
		}
	}
	}
	for (size_t i = 0; i < ncases; i++)
		for (int p = 0; p < P_MAX; p++) {
			double *s = &samples[(i * P_MAX + p) * rounds];
			qsort(s, rounds, sizeof(double), cmp_double);
			cases[i].ns[p] = s[rounds / 2];
		}

	struct mg_global_stats st;
	mg_stats_read(bpf_map__fd(skel->maps.mg_stats), &st);

	if (json) {
		printf("{\"repeat\": %u, \"rounds\": %u, \"cases\": [\n", repeat, rounds);
		for (size_t i = 0; i < ncases; i++)
			printf("  {\"case\": \"%s\", \"pass_ns\": %.1f, \"xdp_filter_ns\": %.1f, \"mtaguard_ns\": %.1f,"
			       " \"ratio_xdp_filter\": %.2f, \"ratio_pass\": %.2f}%s\n",
			       cases[i].name, cases[i].ns[P_PASS], cases[i].ns[P_XDPFILTER], cases[i].ns[P_MTAGUARD],
			       cases[i].ns[P_MTAGUARD] / cases[i].ns[P_XDPFILTER],
			       cases[i].ns[P_MTAGUARD] / cases[i].ns[P_PASS], i + 1 < ncases ? "," : "");
		printf("]}\n");
		return 0;
	}

	printf("mtaguard benchmark: BPF_PROG_TEST_RUN, median of %u rounds x %u runs, ns per packet\n", rounds, repeat);
	printf("(SYN flood: each run through a wrapper that sets a random source, in every column;\n"
	       " cases without '100k rules' run with one blocklist rule, as xdp-filter has one deny rule)\n\n");
	printf("%-32s %8s %11s %9s %10s %8s  %s\n", "case", "pass", "xdp-filter", "mtaguard", "mg/filter", "mg/pass",
	       "verdicts (filter, mtaguard)");
	int ok_bulk = 1, ok_all = 1;
	for (size_t i = 0; i < ncases; i++) {
		struct bench_case *k = &cases[i];
		double rf = k->ns[P_MTAGUARD] / k->ns[P_XDPFILTER];
		printf("%-32s %8.1f %11.1f %9.1f %9.2fx %7.2fx  %s, %s\n", k->name, k->ns[P_PASS],
		       k->ns[P_XDPFILTER], k->ns[P_MTAGUARD], rf, k->ns[P_MTAGUARD] / k->ns[P_PASS],
		       verdict(k->retval[P_XDPFILTER]), verdict(k->retval[P_MTAGUARD]));
		if (i == 1 && !(rf <= 0.6))
			ok_bulk = 0;
		if (i < 6 && !(rf <= 1.5))
			ok_all = 0;
	}
	if (!filter_tailcall_ok)
		printf("\nnote: xdp-filter's program could not be tail-called from the wrapper\n");
	printf("\nactivity record (protected %s and %s, %u records of %zu bytes): %+.1f ns on TCP data to 443 "
	       "(%.2fx xdp-filter instead of %.2fx), %+.1f ns on a SYN to 443\n",
	       PROTECTED_V4, PROTECTED_V6, mg_act_records(tun.act), sizeof(struct mg_activity),
	       cases[8].ns[P_MTAGUARD] - cases[1].ns[P_MTAGUARD], cases[8].ns[P_MTAGUARD] / cases[8].ns[P_XDPFILTER],
	       cases[1].ns[P_MTAGUARD] / cases[1].ns[P_XDPFILTER], cases[9].ns[P_MTAGUARD] - cases[11].ns[P_MTAGUARD]);
	printf("\ngoal: bulk TCP <= 0.6x xdp-filter: %s\n", ok_bulk ? "PASS" : "MISS");
	printf("goal: every case <= 1.5x xdp-filter: %s\n", ok_all ? "PASS" : "MISS");
	printf("\nmtaguard after the run: profiles created %llu, creation refused %llu (the flood rows), SYNs to the "
	       "sketch %llu (those, and the SYN-to-443 row without an activity record)\n",
	       (unsigned long long)st.src_created, (unsigned long long)st.src_throttled,
	       (unsigned long long)st.syn_sketched);
	(void)prog_names;
	mg_xdp__destroy(skel);
	mg_xdp__destroy(skel_prot);
	bpf_object__close(pass_obj);
	bpf_object__close(wrap_obj);
	free(samples);
	return 0;
}
