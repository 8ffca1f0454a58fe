// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_metrics.c - the Prometheus exposition text, its atomic file, and the
 * HTTP endpoint on loopback (no privileges needed).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "mg_metrics.h"
#include "mg_metrics_http.h"

static struct mg_metrics_in sample(void)
{
	struct mg_metrics_in m = { 0 };

	m.have_kernel = true;
	m.kernel.passed = 1000;
	m.kernel.dropped = 42;
	m.kernel.drop_reason[MG_DROP_BLOCK_SMTP] = 40;
	m.kernel.drop_reason[MG_DROP_BLOCK_ALL] = 2;
	m.kernel.events_lost = 7;
	m.sources_by_role[MG_ROLE_END_HOST] = 12;
	m.sources_by_role[MG_ROLE_BLOCKED] = 1;
	m.verdicts_active = 1;
	m.verdicts_issued = 3;
	m.threat_level = 2;
	m.scan_seconds = 0.075;
	m.rule_write_failures = 5;
	m.rule_read_failures = 2;
	m.feed_expiries_deferred = 9;
	m.state_save_on = true;
	m.state_saves_written = 4;
	m.state_saves_failed = 1;
	m.state_save_seconds = 0.25;
	m.state_save_last_success = 1800000000;
	m.state_save_interval = 60;
	return m;
}

/*
 * Every line is a comment or `name{labels} value`, and every sample's family
 * has HELP and TYPE (a histogram's samples: its _bucket, _sum and _count).
 */
static void check_exposition(const char *text)
{
	char *copy = strdup(text), *save = NULL;
	char typed[64][96];
	int ntyped = 0;

	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "# HELP ", 7))
			continue;
		if (!strncmp(line, "# TYPE ", 7)) {
			char name[96], type[16];
			assert_int_equal(sscanf(line + 7, "%95s %15s", name, type), 2);
			assert_true(!strcmp(type, "counter") || !strcmp(type, "gauge") || !strcmp(type, "histogram"));
			assert_true(ntyped < 64);
			snprintf(typed[ntyped++], sizeof(typed[0]), "%s", name);
			continue;
		}
		char name[96];
		double v;
		size_t n = strcspn(line, "{ ");
		assert_true(n > 0 && n < sizeof(name));
		memcpy(name, line, n);
		name[n] = '\0';
		const char *val = strrchr(line, ' ');
		assert_non_null(val);
		assert_int_equal(sscanf(val + 1, "%lf", &v), 1);
		bool found = false;
		for (int i = 0; i < ntyped; i++) {
			size_t l = strlen(typed[i]);
			found |= !strcmp(typed[i], name) ||
				 (!strncmp(typed[i], name, l) && (!strcmp(name + l, "_bucket") || !strcmp(name + l, "_sum") ||
								  !strcmp(name + l, "_count")));
		}
		if (!found)
			fail_msg("sample '%s' without # TYPE", line);
	}
	free(copy);
}

static void test_text(void **state)
{
	(void)state;
	struct mg_metrics_in m = sample();
	char *t = mg_metrics_text(&m);
	assert_non_null(t);
	check_exposition(t);
	assert_non_null(strstr(t, "\nmtaguard_xdp_packets_total{verdict=\"drop\"} 42\n"));
	assert_non_null(strstr(t, "\nmtaguard_xdp_drops_total{reason=\"block_smtp\"} 40\n"));
	assert_non_null(strstr(t, "\nmtaguard_xdp_events_lost_total 7\n"));
	assert_non_null(strstr(t, "\nmtaguard_sources{role=\"end_host\"} 12\n"));
	assert_non_null(strstr(t, "\nmtaguard_sources{role=\"blocked\"} 1\n"));
	assert_non_null(strstr(t, "\nmtaguard_verdicts_issued_total 3\n"));
	assert_non_null(strstr(t, "\nmtaguard_threat_level 2\n"));
	assert_non_null(strstr(t, "\nmtaguard_scan_duration_seconds 0.075"));
	assert_non_null(strstr(t, "\nmtaguard_rule_write_failures_total 5\n"));
	assert_non_null(strstr(t, "\nmtaguard_rule_read_failures_total 2\n"));
	assert_non_null(strstr(t, "\nmtaguard_feed_expiries_deferred_total 9\n"));
	assert_non_null(strstr(t, "\nmtaguard_state_saves_total{outcome=\"written\"} 4\n"));
	assert_non_null(strstr(t, "\nmtaguard_state_saves_total{outcome=\"failed\"} 1\n"));
	assert_non_null(strstr(t, "\nmtaguard_state_saves_total{outcome=\"replaced\"} 0\n"));
	assert_non_null(strstr(t, "\nmtaguard_state_save_duration_seconds 0.25\n"));
	assert_non_null(strstr(t, "\nmtaguard_state_save_last_success_timestamp_seconds 1800000000\n"));
	assert_non_null(strstr(t, "\nmtaguard_state_save_interval_seconds 60\n"));
	free(t);

	/* Without the kernel's counters, no kernel family at all (rather than zeros that would look real). */
	m.have_kernel = false;
	t = mg_metrics_text(&m);
	check_exposition(t);
	assert_null(strstr(t, "mtaguard_xdp_"));
	assert_non_null(strstr(t, "mtaguard_sources{role=\"end_host\"} 12"));
	assert_null(strstr(t, "mtaguard_cluster_")); /* no cluster configured: no cluster family */
	free(t);

	/* With a cluster: its link, what went out and came in, the time on its own. */
	m.cluster_on = true;
	m.cluster_sent = 5;
	m.cluster_taken = 4;
	m.cluster_refused = 1;
	m.cluster_gap_seconds = 9.5;
	t = mg_metrics_text(&m);
	check_exposition(t);
	assert_non_null(strstr(t, "\nmtaguard_cluster_connected 0\n"));
	assert_non_null(strstr(t, "\nmtaguard_cluster_sent_total 5\n"));
	assert_non_null(strstr(t, "\nmtaguard_cluster_taken_total 4\n"));
	assert_non_null(strstr(t, "\nmtaguard_cluster_refused_total 1\n"));
	assert_non_null(strstr(t, "\nmtaguard_cluster_disconnected_seconds_total 9.5"));
	assert_null(strstr(t, "mtaguard_verify_")); /* verification off: no verify family */
	free(t);

	/* With the verifier: jobs, queries, and the two counters whose ratio is the cache's hit rate. */
	m.verify_on = true;
	m.verify_jobs_done = 3;
	m.verify_lookups = 10;
	m.verify_lookup_queries = 4;
	m.verify_cache_entries = 7;
	t = mg_metrics_text(&m);
	check_exposition(t);
	assert_non_null(strstr(t, "\nmtaguard_verify_jobs_total 3\n"));
	assert_non_null(strstr(t, "\nmtaguard_verify_lookups_total 10\n"));
	assert_non_null(strstr(t, "\nmtaguard_verify_lookup_queries_total 4\n"));
	assert_non_null(strstr(t, "# TYPE mtaguard_verify_cache_entries gauge\nmtaguard_verify_cache_entries 7\n"));
	free(t);
}

/*
 * Per attached interface: packets by verdict and drops by reason carry an
 * interface label, and what no attached interface's slot holds is "other",
 * so the families still add up to the whole.
 */
static void test_interface_label(void **state)
{
	(void)state;
	struct mg_metrics_in m = sample(); /* 1000 passed, 42 dropped (40 smtp, 2 all) */
	m.n_ifaces = 2;
	snprintf(m.ifaces[0].name, sizeof(m.ifaces[0].name), "in1");
	m.ifaces[0].s.passed = 600;
	m.ifaces[0].s.dropped = 40;
	m.ifaces[0].s.drop_reason[MG_DROP_BLOCK_SMTP] = 40;
	snprintf(m.ifaces[1].name, sizeof(m.ifaces[1].name), "eth\"9+eth265");
	m.ifaces[1].s.passed = 300;
	char *t = mg_metrics_text(&m);
	assert_non_null(t);
	check_exposition(t);
	assert_non_null(strstr(t, "\nmtaguard_xdp_packets_total{interface=\"in1\",verdict=\"pass\"} 600\n"));
	assert_non_null(strstr(t, "\nmtaguard_xdp_packets_total{interface=\"in1\",verdict=\"drop\"} 40\n"));
	assert_non_null(strstr(t, "\nmtaguard_xdp_drops_total{interface=\"in1\",reason=\"block_smtp\"} 40\n"));
	assert_non_null(strstr(t, "\nmtaguard_xdp_packets_total{interface=\"eth\\\"9+eth265\",verdict=\"pass\"} 300\n"));
	assert_non_null(strstr(t, "\nmtaguard_xdp_packets_total{interface=\"other\",verdict=\"pass\"} 100\n"));
	assert_non_null(strstr(t, "\nmtaguard_xdp_drops_total{interface=\"other\",reason=\"block_all\"} 2\n"));
	assert_null(strstr(t, "\nmtaguard_xdp_packets_total{verdict=")); /* every line has its interface */
	free(t);

	/* Everything in the attached interfaces' slots: no "other". */
	m.kernel.passed = 900;
	m.kernel.dropped = 40;
	m.kernel.drop_reason[MG_DROP_BLOCK_ALL] = 0;
	memset(&m.kernel.packets, 0, sizeof(m.kernel.packets));
	m.kernel.events_lost = 0;
	t = mg_metrics_text(&m);
	assert_null(strstr(t, "interface=\"other\""));
	free(t);
}

/*
 * The guarded interfaces by name: whether the program is on each, and how
 * often it was attached again to a device made anew; none configured (a
 * test's metrics): neither family.
 */
static void test_interfaces_attached(void **state)
{
	(void)state;
	struct mg_metrics_in m = sample();
	char *t = mg_metrics_text(&m);

	assert_non_null(t);
	assert_null(strstr(t, "mtaguard_interface_attached"));
	free(t);
	m.n_attach = 2;
	snprintf(m.attach[0].name, sizeof(m.attach[0].name), "in1");
	m.attach[0].attached = true;
	m.attach[0].reattached = 3;
	snprintf(m.attach[1].name, sizeof(m.attach[1].name), "vlan\\7");
	t = mg_metrics_text(&m);
	assert_non_null(t);
	check_exposition(t);
	assert_non_null(strstr(t, "\n# TYPE mtaguard_interface_attached gauge\n"));
	assert_non_null(strstr(t, "\nmtaguard_interface_attached{interface=\"in1\"} 1\n"));
	assert_non_null(strstr(t, "\nmtaguard_interface_attached{interface=\"vlan\\\\7\"} 0\n"));
	assert_non_null(strstr(t, "\n# TYPE mtaguard_interface_reattached_total counter\n"));
	assert_non_null(strstr(t, "\nmtaguard_interface_reattached_total{interface=\"in1\"} 3\n"));
	assert_non_null(strstr(t, "\nmtaguard_interface_reattached_total{interface=\"vlan\\\\7\"} 0\n"));
	free(t);
}

/*
 * The daemon's own process, as Prometheus' client libraries' process_*
 * families under mtaguard_ (node_exporter's own would collide with the
 * textfile's); none when /proc was not read.
 */
static void test_process_families(void **state)
{
	(void)state;
	struct mg_metrics_in m = sample();
	char *t = mg_metrics_text(&m);

	assert_non_null(t);
	assert_null(strstr(t, "process_"));
	free(t);
	m.have_proc = true;
	m.proc = (struct mg_procstat){ .cpu_seconds = 12.5, .start_time_seconds = 1796000000,
				       .resident_bytes = 2147483648ull, .virtual_bytes = 3221225472ull,
				       .open_fds = 17, .max_fds = 1024 };
	t = mg_metrics_text(&m);
	assert_non_null(t);
	check_exposition(t);
	assert_non_null(strstr(t, "\n# TYPE mtaguard_process_cpu_seconds_total counter\nmtaguard_process_cpu_seconds_total 12.5\n"));
	assert_non_null(strstr(t, "\n# TYPE mtaguard_process_resident_memory_bytes gauge\nmtaguard_process_resident_memory_bytes 2147483648\n"));
	assert_non_null(strstr(t, "\nmtaguard_process_virtual_memory_bytes 3221225472\n"));
	assert_non_null(strstr(t, "\nmtaguard_process_open_fds 17\n"));
	assert_non_null(strstr(t, "\nmtaguard_process_max_fds 1024\n"));
	assert_non_null(strstr(t, "\nmtaguard_process_start_time_seconds 1796000000\n")); /* in full, not 1.796e+09 */
	free(t);
	m.proc.max_fds = 0; /* no limit: no figure */
	t = mg_metrics_text(&m);
	assert_non_null(t);
	assert_null(strstr(t, "mtaguard_process_max_fds"));
	free(t);
}

/* Verdicts by whose claim put them in the kernel: every block owner's name, zeros included, and outbreak. */
static void test_verdicts_by_origin(void **state)
{
	(void)state;
	struct mg_metrics_in m = sample();
	m.verdicts_by[MG_OWNER_VERDICT] = 3;
	m.verdicts_by[MG_OWNER_OPERATOR_BLOCK] = 2;
	m.verdicts_by[MG_OWNER_FEED] = 100000;
	m.verdicts_by[MG_OWNER_BGP_BLOCK] = 4;
	m.verdicts_contained = 1;
	char *t = mg_metrics_text(&m);
	assert_non_null(t);
	check_exposition(t);
	assert_non_null(strstr(t, "\nmtaguard_verdicts_total{by=\"analyzer\"} 3\n"));
	assert_non_null(strstr(t, "\nmtaguard_verdicts_total{by=\"operator\"} 2\n"));
	assert_non_null(strstr(t, "\nmtaguard_verdicts_total{by=\"feed\"} 100000\n"));
	assert_non_null(strstr(t, "\nmtaguard_verdicts_total{by=\"cluster\"} 0\n"));
	assert_non_null(strstr(t, "\nmtaguard_verdicts_total{by=\"pinned\"} 0\n"));
	/* FlowSpec routes from BGP peers are blocks the ledger counts like any other (it was left out). */
	assert_non_null(strstr(t, "\nmtaguard_verdicts_total{by=\"bgp\"} 4\n"));
	assert_non_null(strstr(t, "\nmtaguard_verdicts_total{by=\"outbreak\"} 1\n"));
	/* Allow owners are no verdict's origin. */
	assert_null(strstr(t, "by=\"config"));
	assert_null(strstr(t, "by=\"analyzer:learned\""));
	free(t);
}

/* The time-to-block histogram: cumulative buckets, +Inf, sum and count, as Prometheus reads them. */
static void test_time_to_block_histogram(void **state)
{
	static const double bounds[] = { 1, 10, 60 };
	struct mg_histogram h;

	(void)state;
	mg_histogram_init(&h, bounds, 3);
	struct mg_metrics_in m = sample();
	m.time_to_block = &h;
	char *t = mg_metrics_text(&m);
	check_exposition(t);
	assert_non_null(strstr(t, "\nmtaguard_time_to_block_seconds_bucket{le=\"1\"} 0\n"));
	assert_non_null(strstr(t, "\nmtaguard_time_to_block_seconds_count 0\n"));
	free(t);

	mg_histogram_observe(&h, 0.25);
	mg_histogram_observe(&h, 10); /* on a bound: in that bucket (le) */
	mg_histogram_observe(&h, 42);
	mg_histogram_observe(&h, 900);
	t = mg_metrics_text(&m);
	check_exposition(t);
	assert_non_null(strstr(t, "# TYPE mtaguard_time_to_block_seconds histogram\n"));
	assert_non_null(strstr(t, "\nmtaguard_time_to_block_seconds_bucket{le=\"1\"} 1\n"
				  "mtaguard_time_to_block_seconds_bucket{le=\"10\"} 2\n"
				  "mtaguard_time_to_block_seconds_bucket{le=\"60\"} 3\n"
				  "mtaguard_time_to_block_seconds_bucket{le=\"+Inf\"} 4\n"
				  "mtaguard_time_to_block_seconds_sum 952.25\n"
				  "mtaguard_time_to_block_seconds_count 4\n"));
	free(t);
	m.time_to_block = NULL;
	t = mg_metrics_text(&m);
	assert_null(strstr(t, "time_to_block"));
	free(t);
}

static int ok_put_block(void *ctx, const struct mg_prefix *p, uint8_t action, uint64_t expires)
{
	(void)ctx, (void)p, (void)action, (void)expires;
	return 0;
}
static int ok_prefix(void *ctx, const struct mg_prefix *p)
{
	(void)ctx, (void)p;
	return 0;
}
static int ok_key(void *ctx, const uint8_t key[16])
{
	(void)ctx, (void)key;
	return 0;
}
static int ok_put_outbreak(void *ctx, uint32_t fp, unsigned level, uint64_t since)
{
	(void)ctx, (void)fp, (void)level, (void)since;
	return 0;
}
static int ok_del_outbreak(void *ctx, uint32_t fp)
{
	(void)ctx, (void)fp;
	return 0;
}

/*
 * What the daemon reads for mtaguard_verdicts_total: the ledger counts a
 * block when the kernel gets one where it held none, under the owner the
 * precedence chose; a block handed from one owner to another, or refreshed,
 * is not a new one. Times near boot (3 s).
 */
static void test_ledger_counts_new_blocks(void **state)
{
	const struct mg_rule_sink sink = { ok_put_block, ok_prefix, ok_prefix, ok_prefix, ok_key, ok_key,
					   ok_put_outbreak, ok_del_outbreak };
	const uint64_t now = 3000000000ull;
	struct mg_prefix a, b;

	(void)state;
	assert_int_equal(mg_prefix_parse("100.64.0.66", &a), 0);
	assert_int_equal(mg_prefix_parse("100.64.9.0/24", &b), 0);
	struct mg_ruleset *rs = mg_ruleset_new(64);
	assert_non_null(rs);
	mg_ruleset_claim(rs, &a, MG_OWNER_VERDICT, MG_ACT_DROP_SMTP, now + 3600000000000ull);
	mg_ruleset_sync(rs, &sink, NULL, now, NULL, NULL, NULL);
	assert_int_equal(mg_ruleset_blocks_new(rs, MG_OWNER_VERDICT), 1);
	/* The operator's block over the verdict: the same block in the kernel, now the operator's. */
	mg_ruleset_claim(rs, &a, MG_OWNER_OPERATOR_BLOCK, MG_ACT_DROP_ALL, MG_TIME_NEVER);
	mg_ruleset_sync(rs, &sink, NULL, now, NULL, NULL, NULL);
	assert_int_equal(mg_ruleset_blocks_new(rs, MG_OWNER_OPERATOR_BLOCK), 0);
	/* Gone, then claimed again: a new block. */
	mg_ruleset_release(rs, &a, MG_OWNER_OPERATOR_BLOCK);
	mg_ruleset_release(rs, &a, MG_OWNER_VERDICT);
	mg_ruleset_sync(rs, &sink, NULL, now, NULL, NULL, NULL);
	mg_ruleset_claim(rs, &a, MG_OWNER_OPERATOR_BLOCK, MG_ACT_DROP_ALL, MG_TIME_NEVER);
	mg_ruleset_claim(rs, &b, MG_OWNER_FEED, MG_ACT_DROP_SMTP, MG_TIME_NEVER);
	mg_ruleset_claim(rs, &b, MG_OWNER_CONFIG_ALLOW, 0, MG_TIME_NEVER); /* allowed: no block, no count */
	mg_ruleset_contain(rs, 0x1a2b3c4d, 2, now);
	mg_ruleset_sync(rs, &sink, NULL, now, NULL, NULL, NULL);
	assert_int_equal(mg_ruleset_blocks_new(rs, MG_OWNER_OPERATOR_BLOCK), 1);
	assert_int_equal(mg_ruleset_blocks_new(rs, MG_OWNER_FEED), 0);
	assert_int_equal(mg_ruleset_contained_new(rs), 1);
	/* A fingerprint's level raised is the same containment. */
	mg_ruleset_contain(rs, 0x1a2b3c4d, 3, now);
	mg_ruleset_sync(rs, &sink, NULL, now, NULL, NULL, NULL);
	assert_int_equal(mg_ruleset_contained_new(rs), 1);
	assert_int_equal(mg_ruleset_blocks_new(rs, MG_OWNER_VERDICT), 1);
	mg_ruleset_free(rs);
}

static void test_file_atomic(void **state)
{
	char dir[] = "/tmp/mg-metrics-XXXXXX", path[128], cmd[160];
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/mtaguard.prom", dir);
	assert_int_equal(mg_metrics_write_file(path, "a 1\n"), 0);
	assert_int_equal(mg_metrics_write_file(path, "b 2\n"), 0);
	FILE *f = fopen(path, "r");
	char buf[16] = "";
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_string_equal(buf, "b 2\n");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644); /* node_exporter reads it as another user */
	/* Nothing but the file itself is left in the directory. */
	snprintf(cmd, sizeof(cmd), "test $(ls -A '%s' | wc -l) -eq 1", dir);
	assert_int_equal(system(cmd), 0);
	/* A directory that does not exist: an error, not a crash. */
	snprintf(path, sizeof(path), "%s/missing/m.prom", dir);
	assert_int_equal(mg_metrics_write_file(path, "x 1\n"), -ENOENT);
	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/*
 * Links planted where a textfile writer could be expected to put its
 * temporary (<file>.tmp.<pid>, the name older versions used, and <file>.tmp)
 * point to a decoy: the metrics go to the textfile, the decoy is untouched.
 */
static void test_file_not_written_through_links(void **state)
{
	char dir[] = "/tmp/mg-metrics-XXXXXX", path[128], decoy[128], link[160], cmd[160], buf[16] = "";
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/mtaguard.prom", dir);
	snprintf(decoy, sizeof(decoy), "%s/decoy", dir);
	FILE *f = fopen(decoy, "w");
	assert_non_null(f);
	fputs("decoy\n", f);
	fclose(f);
	snprintf(link, sizeof(link), "%s.tmp.%d", path, (int)getpid());
	assert_int_equal(symlink(decoy, link), 0);
	snprintf(link, sizeof(link), "%s.tmp", path);
	assert_int_equal(symlink(decoy, link), 0);

	assert_int_equal(mg_metrics_write_file(path, "a 1\n"), 0);
	f = fopen(decoy, "r");
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_string_equal(buf, "decoy\n");
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	f = fopen(path, "r");
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_string_equal(buf, "a 1\n");
	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_parse_listen(void **state)
{
	struct sockaddr_storage ss;

	(void)state;
	assert_int_equal(mg_parse_listen("127.0.0.1:9477", &ss), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 9477);
	assert_int_equal(mg_parse_listen("[::1]:9100", &ss), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	const char *bad[] = { "", "9477", "localhost:9477", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:70000",
			      "[::1]9477", "::1:9477", "1.2.3.4:80x" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (mg_parse_listen(bad[i], &ss) != -EINVAL)
			fail_msg("'%s' accepted", bad[i]);
}

/* A plain HTTP/1.0 request over loopback; the whole response into buf. */
static void http(uint16_t port, const char *request, char *buf, size_t len)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	size_t got = 0;
	ssize_t n;

	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(write(fd, request, strlen(request)), (ssize_t)strlen(request));
	while (got + 1 < len && (n = read(fd, buf + got, len - got - 1)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	close(fd);
}

/* A free loopback port: bind to 0, read it back, release it. */
static uint16_t free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void test_http_endpoint(void **state)
{
	char listen[32], err[256], buf[8192];
	uint16_t port = free_port();

	(void)state;
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
	struct mg_metrics_http *h = mg_metrics_http_start(listen, err, sizeof(err));
	assert_non_null(h);
	mg_metrics_http_publish(h, "# TYPE mtaguard_threat_level gauge\nmtaguard_threat_level 3\n");
	http(port, "GET /metrics HTTP/1.0\r\n\r\n", buf, sizeof(buf));
	assert_non_null(strstr(buf, " 200 OK"));
	assert_non_null(strstr(buf, "text/plain; version=0.0.4"));
	assert_non_null(strstr(buf, "\r\n\r\n# TYPE mtaguard_threat_level gauge\nmtaguard_threat_level 3\n"));
	/* The latest text wins. */
	mg_metrics_http_publish(h, "mtaguard_threat_level 4\n");
	http(port, "GET /metrics HTTP/1.0\r\n\r\n", buf, sizeof(buf));
	assert_non_null(strstr(buf, "\r\n\r\nmtaguard_threat_level 4\n"));
	http(port, "GET / HTTP/1.0\r\n\r\n", buf, sizeof(buf));
	assert_non_null(strstr(buf, " 404 "));
	http(port, "POST /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n", buf, sizeof(buf));
	assert_non_null(strstr(buf, " 405 "));
	/* Garbage gets an answer (or a closed connection) and the endpoint keeps serving. */
	http(port, "\x01\x02 garbage\r\n\r\n", buf, sizeof(buf));
	http(port, "GET /metrics HTTP/1.0\r\n\r\n", buf, sizeof(buf));
	assert_non_null(strstr(buf, " 200 OK"));

	/* The port is taken now: a second endpoint says so. */
	assert_null(mg_metrics_http_start(listen, err, sizeof(err)));
	assert_non_null(strstr(err, listen));
	mg_metrics_http_stop(h);
	assert_null(mg_metrics_http_start("nowhere", err, sizeof(err)));
	assert_non_null(strstr(err, "not ADDRESS:PORT"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_interface_label),
		cmocka_unit_test(test_interfaces_attached),
		cmocka_unit_test(test_process_families),
		cmocka_unit_test(test_verdicts_by_origin),
		cmocka_unit_test(test_time_to_block_histogram),
		cmocka_unit_test(test_ledger_counts_new_blocks),
		cmocka_unit_test(test_file_atomic),
		cmocka_unit_test(test_file_not_written_through_links),
		cmocka_unit_test(test_parse_listen),
		cmocka_unit_test(test_http_endpoint),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
