// SPDX-License-Identifier: GPL-2.0-only
/* test_config.c - the configuration file: every key read, every error placed by line and column. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "mg_cluster_codec.h"
#include "mg_config.h"

#define SEC 1000000000ull

static struct mg_config cfg;
static char err[512];

static int setup(void **state)
{
	(void)state;
	mg_config_default(&cfg);
	err[0] = '\0';
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mg_config_free(&cfg);
	return 0;
}

static void test_defaults(void **state)
{
	struct mg_an_config an;

	(void)state;
	mg_an_config_default(&an);
	assert_int_equal(cfg.n_ifaces, 0);
	assert_string_equal(cfg.pin_dir, "/sys/fs/bpf/mtaguard");
	/* No DNSBL files unless asked for; a short TTL, imported lists in the zone. */
	assert_string_equal(cfg.dnsbl_ip4, "");
	assert_string_equal(cfg.dnsbl_ip6, "");
	assert_int_equal(cfg.dnsbl_ttl_ns, 300 * SEC);
	assert_true(cfg.dnsbl_feeds);
	assert_int_equal(cfg.tunables.mx_ports[0], 25);
	assert_int_equal(cfg.tunables.mx_ports[1], 0);
	assert_int_equal(cfg.tunables.submission_ports[0], 465);
	assert_int_equal(cfg.tunables.submission_ports[1], 587);
	assert_int_equal(cfg.tunables.handshake, MG_HS_WHEN_SEEN);
	assert_int_equal(cfg.tunables.v6_src_prefix, 64);
	assert_int_equal(cfg.an.v6_prefix, 64);
	assert_int_equal(cfg.max_sources, MG_DEFAULT_MAX_SOURCES);
	assert_int_equal(cfg.max_policy, MG_DEFAULT_MAX_POLICY);
	assert_int_equal(cfg.mail_servers.n, 0);
	assert_memory_equal(&cfg.an, &an, sizeof(an));
	assert_string_equal(cfg.state_file, "/var/lib/mtaguard/state.gz");
	assert_int_equal(cfg.state_interval_ns, 60 * SEC);
	assert_string_equal(cfg.log_file, "-");
	assert_string_equal(cfg.control_socket, "/run/mtaguard/control.sock");
	assert_int_equal(cfg.control_mode, 0600);
	assert_int_equal(cfg.scan_interval_ns, SEC);
	/* An empty object changes nothing. */
	assert_int_equal(mg_config_parse("{}", "empty.json", &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.pin_dir, "/sys/fs/bpf/mtaguard");
}

static const char full[] =
	"{\n"
	"  \"interfaces\": [ \"eth1\", \"eth2:generic\", { \"name\": \"eth3\", \"mode\": \"native\" } ],\n"
	"  \"pin_dir\": \"/sys/fs/bpf/mg-test\",\n"
	"  \"smtp_ports\": { \"mx\": [25, 2525], \"submission\": [587] },\n"
	"  \"protected_networks\": [ \"198.18.0.0/15\", \"2001:db8::/48\" ],\n"
	"  \"mail_servers\": [ \"198.18.1.10\", \"2001:db8:25::/64\" ],\n"
	"  \"allowlist\": [ \"198.18.5.0/24\" ],\n"
	"  \"ipv6_aggregation\": 56,\n"
	"  \"monitor\": true,\n"
	"  \"handshake\": \"required\",\n"
	"  \"map_sizes\": { \"sources\": 100000, \"servers\": 2048, \"policy\": 65536 },\n"
	"  \"detection\": {\n"
	"    \"window\": \"5m\", \"learning_period\": \"3d\", \"learning_active_days\": 2, \"helo_texts\": 4096,\n"
	"    \"block_score\": 12, \"alert_score\": 6.5,\n"
	"    \"free_distinct_mx\": 3, \"free_syn_per_min\": 4, \"long_half_life\": \"4h\", \"free_long_mx\": 5,\n"
	"    \"weights\": { \"distinct_mx\": 1.5, \"syn_rate\": 0.25, \"helo_ip_literal\": 5, \"helo_bare_word\": 2,\n"
	"                 \"helo_own_octets\": 1, \"helo_varies\": 0, \"rcpt_per_session\": 0.5,\n"
	"                 \"reject_ratio\": 3, \"no_other_activity\": 1, \"long_mx\": 2 }\n"
	"  },\n"
	"  \"block\": { \"action\": \"all\", \"duration\": 600, \"repeat_factor\": 2, \"max_duration\": \"1d\",\n"
	"             \"max_new_per_minute\": 0 },\n"
	"  \"state_file\": \"/tmp/state.gz\",\n"
	"  \"state_interval\": \"90s\",\n"
	"  \"log_file\": \"/tmp/events.jsonl\",\n"
	"  \"control_socket\": \"/tmp/mg.sock\",\n"
	"  \"control_mode\": \"0660\",\n"
	"  \"scan_interval\": \"500ms\",\n"
	"  \"metrics\": { \"textfile\": \"/tmp/mg.prom\", \"listen\": \"[::1]:9477\", \"interval\": \"30s\" },\n"
	"  \"dnsbl\": { \"ip4trie\": \"/tmp/dnsbl4\", \"ip6trie\": \"/tmp/dnsbl6\", \"ttl\": \"1m\", \"feeds\": false },\n"
	"  \"outbreak\": { \"min_senders\": 3, \"window\": \"5m\", \"decay\": \"1h\", \"contain\": false,\n"
	"                \"alert_hook\": \"/usr/local/bin/page\",\n"
	"                \"exceptions\": { \"signatures\": [\"fp:0000abcd\", \"shape:bare-word/ehlo\"], \"prefixes\": [\"198.18.7.0/24\"] } },\n"
	"  \"quarantine\": { \"policy_listen\": \"inet:127.0.0.1:10040\", \"threshold\": 2, \"postfix_config\": \"/etc/pf\",\n"
	"                  \"clamav\": false, \"retention\": { \"suspect\": \"1d\", \"outbreak\": \"3d\" },\n"
	"                  \"on_expiry\": { \"suspect\": \"delete\", \"outbreak\": \"release\" },\n"
	"                  \"exceptions\": { \"clients\": [\"198.18.9.0/24\"], \"sender_domains\": [\"example.org\"],\n"
	"                                  \"recipients\": [\"postmaster@example.org\"] } }\n"
	"}\n";

static void test_full_config(void **state)
{
	char buf[MG_ADDRSTRLEN];

	(void)state;
	assert_int_equal(mg_config_parse(full, "full.json", &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.n_ifaces, 3);
	assert_string_equal(cfg.ifaces[0].name, "eth1");
	assert_int_equal(cfg.ifaces[0].mode, MG_MODE_AUTO);
	assert_string_equal(cfg.ifaces[1].name, "eth2");
	assert_int_equal(cfg.ifaces[1].mode, MG_MODE_GENERIC);
	assert_string_equal(cfg.ifaces[2].name, "eth3");
	assert_int_equal(cfg.ifaces[2].mode, MG_MODE_NATIVE);
	assert_string_equal(cfg.pin_dir, "/sys/fs/bpf/mg-test");
	assert_int_equal(cfg.tunables.mx_ports[0], 25);
	assert_int_equal(cfg.tunables.mx_ports[1], 2525);
	assert_int_equal(cfg.tunables.mx_ports[2], 0);
	assert_int_equal(cfg.tunables.submission_ports[0], 587);
	assert_int_equal(cfg.tunables.submission_ports[1], 0);
	assert_int_equal(cfg.tunables.handshake, MG_HS_REQUIRED);
	assert_int_equal(cfg.protected_nets.n, 2);
	assert_int_equal(cfg.protected_nets.v[0].prefixlen, 96 + 15);
	assert_int_equal(cfg.protected_nets.v[1].prefixlen, 48);
	assert_int_equal(cfg.mail_servers.n, 2);
	assert_string_equal(mg_prefix_str(&cfg.mail_servers.v[0], buf, sizeof(buf)), "198.18.1.10");
	assert_int_equal(cfg.mail_servers.v[0].prefixlen, 128);
	assert_string_equal(mg_prefix_str(&cfg.mail_servers.v[1], buf, sizeof(buf)), "2001:db8:25::/64");
	assert_int_equal(cfg.allowlist.n, 1);
	assert_int_equal(cfg.allowlist.v[0].prefixlen, 120);
	/* Exactly the listed prefix: not a host inside it, not a wider one. */
	struct mg_prefix exact, inside, wider;
	assert_int_equal(mg_prefix_parse("198.18.5.0/24", &exact), 0);
	assert_int_equal(mg_prefix_parse("198.18.5.7", &inside), 0);
	assert_int_equal(mg_prefix_parse("198.18.0.0/16", &wider), 0);
	assert_true(mg_prefix_list_has(&cfg.allowlist, &exact));
	assert_false(mg_prefix_list_has(&cfg.allowlist, &inside));
	assert_false(mg_prefix_list_has(&cfg.allowlist, &wider));
	assert_int_equal(cfg.tunables.v6_src_prefix, 56);
	assert_int_equal(cfg.an.v6_prefix, 56);
	assert_true(cfg.an.monitor);
	assert_int_equal(cfg.max_sources, 100000);
	assert_int_equal(cfg.max_servers, 2048);
	assert_int_equal(cfg.max_policy, 65536);
	assert_int_equal(cfg.an.window_ns, 300 * SEC);
	assert_int_equal(cfg.an.learning_ns, 3 * 86400 * SEC);
	assert_int_equal(cfg.an.learn_min_active_days, 2);
	assert_int_equal(cfg.an.helo_texts, 4096);
	assert_true(cfg.an.block_score == 12);
	assert_true(cfg.an.alert_score == 6.5);
	assert_int_equal(cfg.an.free_distinct_mx, 3);
	assert_int_equal(cfg.an.free_syn_per_min, 4);
	assert_true(cfg.an.w_distinct_mx == 1.5);
	assert_true(cfg.an.w_syn_rate == 0.25);
	assert_true(cfg.an.w_helo_ip_literal == 5);
	assert_true(cfg.an.w_helo_bare_word == 2);
	assert_true(cfg.an.w_helo_own_octets == 1);
	assert_true(cfg.an.w_helo_varies == 0);
	assert_true(cfg.an.w_rcpt_per_session == 0.5);
	assert_true(cfg.an.w_reject_ratio == 3);
	assert_true(cfg.an.w_no_other_activity == 1);
	assert_int_equal(cfg.an.long_half_life_ns, 4 * 3600 * SEC);
	assert_true(cfg.an.free_long_mx == 5);
	assert_true(cfg.an.w_long_mx == 2);
	assert_int_equal(cfg.an.block_action, MG_ACT_DROP_ALL);
	assert_int_equal(cfg.an.block_ns, 600 * SEC);
	assert_int_equal(cfg.an.repeat_factor, 2);
	assert_int_equal(cfg.an.max_block_ns, 86400 * SEC);
	assert_int_equal(cfg.an.max_new_blocks_per_min, 0);
	assert_string_equal(cfg.state_file, "/tmp/state.gz");
	assert_int_equal(cfg.state_interval_ns, 90 * SEC);
	assert_string_equal(cfg.log_file, "/tmp/events.jsonl");
	assert_string_equal(cfg.control_socket, "/tmp/mg.sock");
	assert_int_equal(cfg.control_mode, 0660);
	assert_int_equal(cfg.scan_interval_ns, 500 * 1000000ull);
	assert_string_equal(cfg.metrics_textfile, "/tmp/mg.prom");
	assert_string_equal(cfg.metrics_listen, "[::1]:9477");
	assert_int_equal(cfg.metrics_interval_ns, 30 * SEC);
	assert_string_equal(cfg.dnsbl_ip4, "/tmp/dnsbl4");
	assert_string_equal(cfg.dnsbl_ip6, "/tmp/dnsbl6");
	assert_int_equal(cfg.dnsbl_ttl_ns, 60 * SEC);
	assert_false(cfg.dnsbl_feeds);
	assert_int_equal(cfg.ob.min_senders, 3);
	assert_int_equal(cfg.ob.window_ns, 300 * SEC);
	assert_int_equal(cfg.ob.decay_ns, 3600 * SEC);
	assert_false(cfg.contain);
	assert_string_equal(cfg.alert_hook, "/usr/local/bin/page");
	assert_int_equal(cfg.n_ob_except_sig, 2);
	assert_int_equal(cfg.ob_except_sig[0].kind, MG_SIG_FP);
	assert_int_equal(cfg.ob_except_sig[0].value, 0xabcd);
	assert_int_equal(cfg.ob_except_sig[1].kind, MG_SIG_SHAPE);
	assert_int_equal(cfg.n_ob_except_pfx, 1);
	assert_int_equal(cfg.ob_except_pfx[0].prefixlen, 120);
	assert_string_equal(cfg.policy_listen, "inet:127.0.0.1:10040");
	assert_int_equal(cfg.quarantine_level, 2);
	assert_string_equal(cfg.postfix_config, "/etc/pf");
	assert_false(cfg.clamav);
	assert_int_equal(cfg.hold_suspect_ns, 86400 * SEC);
	assert_int_equal(cfg.hold_outbreak_ns, 3 * 86400 * SEC);
	assert_false(cfg.expire_release_suspect);
	assert_true(cfg.expire_release_outbreak);
	assert_int_equal(cfg.n_q_except_client, 1);
	assert_int_equal(cfg.n_q_except_domain, 1);
	assert_string_equal(cfg.q_except_domain[0], "example.org");
	assert_int_equal(cfg.n_q_except_rcpt, 1);
	assert_string_equal(cfg.q_except_rcpt[0], "postmaster@example.org");
}

/* Parse `text`, expect a refusal whose message starts with `where` and contains `what`. */
static void expect_error(const char *text, const char *where, const char *what)
{
	struct mg_config c;

	mg_config_default(&c);
	err[0] = '\0';
	if (mg_config_parse(text, "t.json", &c, err, sizeof(err)) != -EINVAL)
		fail_msg("accepted: %s", text);
	if (strncmp(err, where, strlen(where)) || !strstr(err, what))
		fail_msg("for %s\n got      '%s'\n expected '%s ... %s'", text, err, where, what);
	/* Exactly one line. */
	assert_null(strchr(err, '\n'));
	mg_config_free(&c);
}

static void test_errors_placed(void **state)
{
	(void)state;
	/* Unknown keys, at the key. */
	expect_error("{\n  \"pin_dir\": \"/x\",\n  \"treshold\": 3\n}", "t.json:3:3:", "unknown key \"treshold\"");
	expect_error("{ \"detection\": {\n    \"window\": \"10m\",\n    \"treshold\": 1 } }", "t.json:3:5:",
		     "unknown key \"treshold\" in \"detection\"");
	expect_error("{\"detection\": {\"weights\": {\n \"distinct_mx\": 1,\n   \"helo_ip\": 2}}}", "t.json:3:4:",
		     "unknown key \"helo_ip\" in \"detection.weights\"");
	expect_error("{\"interfaces\": [\"eth0\", {\"name\": \"eth1\", \"speed\": 10}]}", "t.json:1:42:",
		     "unknown key \"speed\" in \"interfaces[1]\"");
	/* Bad values, at the value. */
	expect_error("{\n\"smtp_ports\": {\"mx\": [25, 70000]}}", "t.json:2:27:", "\"smtp_ports.mx[1]\": must be 1..65535");
	expect_error("{\"smtp_ports\": {\"mx\": [25, 26, 27, 28, 29]}}", "t.json:1:23:", "at most 4 ports");
	expect_error("{\"smtp_ports\": {\"mx\": []}}", "t.json:1:23:", "at least one port");
	expect_error("{\"smtp_ports\": {\"mx\": [25], \"submission\": [25]}}", "t.json:1:43:",
		     "\"smtp_ports.submission\": port 25 is both an MX and a submission port");
	/* Only mx in the file, clashing with the default submission ports: placed at mx. */
	expect_error("{\"smtp_ports\": {\"mx\": [465]}}", "t.json:1:23:", "\"smtp_ports.mx\": port 465 is both");
	expect_error("{\"smtp_ports\": {\"mx\": [0]}}", "t.json:1:24:", "must be 1..65535, not 0");
	expect_error("{\"smtp_ports\": {\"mx\": [\"25\"]}}", "t.json:1:24:", "must be an integer, not a string");
	expect_error("{\"smtp_ports\": {\"submission\": [587, 587]}}", "t.json:1:37:", "listed twice");
	expect_error("{\n  \"mail_servers\": [\n    \"198.18.1.10\",\n    \"198.18.1.300\"\n  ]\n}", "t.json:4:5:",
		     "\"mail_servers[1]\": not an address or prefix: \"198.18.1.300\"");
	expect_error("{\"allowlist\": [\"198.18.0.0/33\"]}", "t.json:1:16:", "not an address or prefix");
	expect_error("{\"allowlist\": \"198.18.0.0/16\"}", "t.json:1:15:", "must be an array");
	expect_error("{\"monitor\": \"yes\"}", "t.json:1:13:", "\"monitor\": must be true or false");
	expect_error("{\"ipv6_aggregation\": 40}", "t.json:1:22:", "must be 48..128");
	expect_error("{\"handshake\": \"always\"}", "t.json:1:15:", "is \"when-seen\", \"required\" or \"off\"");
	expect_error("{\"handshake\": true}", "t.json:1:15:", "is \"when-seen\", \"required\" or \"off\"");
	expect_error("{\"block\": {\"duration\": \"1x\"}}", "t.json:1:24:", "not a duration: \"1x\"");
	expect_error("{\"block\": {\"duration\": 0}}", "t.json:1:24:", "must be from 1s to 366d");
	expect_error("{\"block\": {\"action\": \"drop\"}}", "t.json:1:22:", "\"smtp\" or \"all\"");
	expect_error("{\"block\": {\"duration\": \"2d\", \"max_duration\": \"1d\"}}", "t.json:1:46:",
		     "must not be shorter");
	expect_error("{\"detection\": {\"block_score\": 4}}", "t.json:1:31:", "alert_score (5) must not be above block_score");
	/* Both set: placed at block_score's value; only alert_score set: at alert_score. */
	expect_error("{\"detection\": {\"block_score\": 8,\n \"alert_score\": 9}}", "t.json:1:31:",
		     "\"detection.block_score\": alert_score (9) must not be above block_score (8)");
	expect_error("{\"detection\": {\"alert_score\": 11}}", "t.json:1:31:",
		     "\"detection.alert_score\": alert_score (11) must not be above block_score (10)");
	expect_error("{\"detection\": {\"block_score\": 0, \"alert_score\": 0}}", "t.json:1:31:", "above zero");
	/* Active days must fit in the period, counted in days rounded up (36h spans 2). */
	expect_error("{\"detection\": {\"learning_period\": \"36h\", \"learning_active_days\": 3}}", "t.json:1:66:",
		     "3 active days do not fit in a learning period of 2 days");
	expect_error("{\"detection\": {\"learning_active_days\": 0}}", "t.json:1:40:", "must be 1..365");
	expect_error("{\"detection\": {\"helo_texts\": 1000}}", "t.json:1:30:", "must be 1024..100000000");
	expect_error("{\"block\": {\"repeat_factor\": 0}}", "t.json:1:29:", "must be 1..100");
	expect_error("{\"block\": {\"max_new_per_minute\": 100001}}", "t.json:1:34:", "must be 0..100000");
	expect_error("{\"block\": {\"duration\": -5}}", "t.json:1:24:", "not a duration: -5");
	expect_error("{\"block\": {\"duration\": 1.5}}", "t.json:1:24:", "must be a duration");
	expect_error("{\"ipv6_aggregation\": 129}", "t.json:1:22:", "must be 48..128");
	expect_error("{\"detection\": {\"weights\": {\"syn_rate\": \"1\"}}}", "t.json:1:40:", "must be a number");
	expect_error("{\"detection\": {\"weights\": {\"syn_rate\": -1}}}", "t.json:1:40:", "from 0 to");
	expect_error("{\"detection\": {\"learning_period\": \"2d\", \"learning_active_days\": 5}}", "t.json:1:65:",
		     "do not fit");
	expect_error("{\"interfaces\": [\"averyveryverylongname0\"]}", "t.json:1:17:", "1 to 15 characters");
	expect_error("{\"interfaces\": [\"eth0:turbo\"]}", "t.json:1:17:", "mode is");
	expect_error("{\"interfaces\": [\"eth0\", \"eth0\"]}", "t.json:1:25:", "listed twice");
	expect_error("{\"interfaces\": [{\"mode\": \"native\"}]}", "t.json:1:17:", "needs a \"name\"");
	expect_error("{\"interfaces\": [{\"name\": \"eth0123456789abc\"}]}", "t.json:1:26:", "1 to 15 characters");
	expect_error("{\"interfaces\": [{\"name\": \"eth0\", \"mode\": \"fast\"}]}", "t.json:1:42:", "mode is");
	expect_error("{\"interfaces\": [\"eth/0\"]}", "t.json:1:17:", "not an interface name: \"eth/0\"");
	expect_error("{\"interfaces\": [\"..\"]}", "t.json:1:17:", "not an interface name");
	expect_error("{\"interfaces\": [\":native\"]}", "t.json:1:17:", "not an interface name");
	expect_error("{\"interfaces\": [7]}", "t.json:1:17:", "not an integer");
	expect_error("{\"interfaces\": [\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\",\"k\",\"l\",\"m\",\"n\","
		     "\"o\",\"p\",\"q\"]}", "t.json:1:16:", "at most 16 interfaces");
	expect_error("{\"control_mode\": \"0999\"}", "t.json:1:18:", "octal permission");
	expect_error("{\"control_mode\": 600}", "t.json:1:18:", "octal string");
	expect_error("{\"control_mode\": \"+600\"}", "t.json:1:18:", "octal permission");
	expect_error("{\"control_mode\": \" 600\"}", "t.json:1:18:", "octal permission");
	expect_error("{\"control_mode\": \"01777\"}", "t.json:1:18:", "octal permission");
	expect_error("{\"control_socket\": \"/run/mtaguard/a-socket-path-that-is-longer-than-sun-path-allows-"
		     "a-socket-path-that-is-longer-than-one-hundred-and-seven-bytes.sock\"}",
		     "t.json:1:20:", "too long (at most 107 bytes)");
	expect_error("{\"map_sizes\": {\"sources\": 10}}", "t.json:1:27:", "must be 1024..");
	expect_error("{\"state_file\": \"\"}", "t.json:1:16:", "must not be empty");
	expect_error("{\"scan_interval\": \"10ms\"}", "t.json:1:19:", "from 100ms to 1m");
	expect_error("{\"metrics\": {\"listen\": \"localhost\"}}", "t.json:1:24:", "not ADDRESS:PORT");
	expect_error("{\"metrics\": {\"listen\": \"127.0.0.1:0\"}}", "t.json:1:24:", "not ADDRESS:PORT");
	expect_error("{\"metrics\": {\"path\": \"/m\"}}", "t.json:1:14:", "unknown key \"path\" in \"metrics\"");
	expect_error("{\"dnsbl\": {\"ip4trie\": \"dnsbl4\"}}", "t.json:1:23:", "absolute");
	expect_error("{\"dnsbl\": {\"ttl\": \"2d\"}}", "t.json:1:19:", "from 1s to 1d");
	expect_error("{\"dnsbl\": {\"zone\": \"x\"}}", "t.json:1:12:", "unknown key \"zone\" in \"dnsbl\"");
	expect_error("{\"outbreak\": {\"min_senders\": 1}}", "t.json:1:30:", "must be 2..100000");
	expect_error("{\"outbreak\": {\"alert_hook\": \"page.sh\"}}", "t.json:1:29:", "absolute path");
	expect_error("{\"outbreak\": {\"exceptions\": {\"signatures\": [\"fp:xyz\"]}}}", "t.json:1:45:", "not a signature");
	expect_error("{\"quarantine\": {\"policy_listen\": \"tcp:1\"}}", "t.json:1:34:", "unix:/PATH");
	expect_error("{\"quarantine\": {\"threshold\": 6}}", "t.json:1:30:", "must be 0..5");
	expect_error("{\"quarantine\": {\"on_expiry\": {\"suspect\": \"keep\"}}}", "t.json:1:42:", "\"release\" or \"delete\"");
	expect_error("{\"quarantine\": {\"retention\": {\"spam\": \"1d\"}}}", "t.json:1:31:", "unknown key \"spam\" in \"quarantine.retention\"");
	expect_error("{\"detection\": [1]}", "t.json:1:15:", "\"detection\": must be an object");
	/* Not an object at all; JSON syntax; duplicates: jansson's own line and column. */
	expect_error("[1, 2]", "t.json:1:1:", "must be a JSON object, not an array");
	expect_error("\n  42", "t.json:2:3:", "must be a JSON object, not an integer");
	expect_error("{\n  \"pin_dir\": \"/x\"\n  \"monitor\": true\n}", "t.json:3:11:", "'}' expected");
	expect_error("{\"monitor\": true,\n \"monitor\": false}", "t.json:2:", "duplicate");
	expect_error("", "t.json:1:1:", "end of file");
}

/* Every section refuses unknown keys and values of the wrong type, each with its path; the checks of each kind. */
static void test_errors_every_section(void **state)
{
	static const struct {
		const char *text, *where, *what;
	} cases[] = {
		{ "{\"smtp_ports\": {\"lmtp\": [24]}}", "t.json:1:17:", "unknown key \"lmtp\" in \"smtp_ports\"" },
		{ "{\"smtp_ports\": [25]}", "t.json:1:16:", "\"smtp_ports\": must be an object, not an array" },
		{ "{\"smtp_ports\": {\"mx\": 25}}", "t.json:1:23:", "\"smtp_ports.mx\": must be an array of ports, not an integer" },
		{ "{\"smtp_ports\": {\"mx\": [25, 25]}}", "t.json:1:28:", "\"smtp_ports.mx[1]\": port 25 listed twice" },
		{ "{\"smtp_ports\": {\"submission\": [1, 2, 3, 4, 5]}}", "t.json:1:31:", "\"smtp_ports.submission\": at most 4 ports" },
		{ "{\"map_sizes\": {\"flows\": 2048}}", "t.json:1:16:", "unknown key \"flows\" in \"map_sizes\"" },
		{ "{\"map_sizes\": {\"servers\": 67108865}}", "t.json:1:27:",
		  "\"map_sizes.servers\": must be 1024..67108864, not 67108865" },
		{ "{\"map_sizes\": 7}", "t.json:1:15:", "\"map_sizes\": must be an object, not an integer" },
		{ "{\"detection\": {\"weights\": []}}", "t.json:1:27:", "\"detection.weights\": must be an object, not an array" },
		{ "{\"detection\": {\"window\": 0}}", "t.json:1:26:", "\"detection.window\": must be from 1m to 1d" },
		{ "{\"detection\": {\"free_distinct_mx\": 1001}}", "t.json:1:36:", "must be 0..1000, not 1001" },
		{ "{\"detection\": {\"long_half_life\": \"31d\"}}", "t.json:1:34:", "long_half_life" },
		{ "{\"detection\": {\"long_half_life\": 0}}", "t.json:1:34:", "long_half_life" },
		{ "{\"detection\": {\"weights\": {\"long_mx\": -1}}}", "t.json:1:39:", "long_mx" },
		{ "{\"detection\": {\"free_syn_per_min\": 100001}}", "t.json:1:36:", "must be 0..100000, not 100001" },
		{ "{\"detection\": {\"block_score\": 1000001}}", "t.json:1:31:",
		  "\"detection.block_score\": must be a number from 0 to 1000000" },
		{ "{\"detection\": {\"alert_score\": \"5\"}}", "t.json:1:31:", "must be a number, not a string" },
		{ "{\"detection\": {\"learning_period\": \"12h\", \"learning_active_days\": 2}}", "t.json:1:66:",
		  "\"detection.learning_active_days\": 2 active days do not fit in a learning period of 1 days" },
		{ "{\"block\": {\"ttl\": \"1h\"}}", "t.json:1:12:", "unknown key \"ttl\" in \"block\"" },
		{ "{\"block\": {\"action\": 1}}", "t.json:1:22:", "\"block.action\": action is \"smtp\" or \"all\"" },
		/* Only max_duration set, below the default duration: placed at max_duration. */
		{ "{\"block\": {\"max_duration\": \"1m\"}}", "t.json:1:28:",
		  "\"block.max_duration\": max_duration must not be shorter than duration" },
		{ "{\"block\": {\"duration\": 18446744074}}", "t.json:1:24:", "must be from 1s to 366d" },
		{ "{\"block\": {\"duration\": \"18446744074s\"}}", "t.json:1:24:", "must be from 1s to 366d" },
		{ "{\"state_interval\": true}", "t.json:1:20:",
		  "\"state_interval\": must be a duration (seconds, or a string like \"10m\"), not a boolean" },
		{ "{\"log_file\": 1}", "t.json:1:14:", "\"log_file\": must be a string, not an integer" },
		{ "{\"metrics\": {\"interval\": \"0\"}}", "t.json:1:26:", "\"metrics.interval\": must be from 1s to 1h" },
		{ "{\"metrics\": {\"listen\": 9477}}", "t.json:1:24:", "\"metrics.listen\": must be a string, not an integer" },
		{ "{\"outbreak\": {\"size\": 3}}", "t.json:1:15:", "unknown key \"size\" in \"outbreak\"" },
		{ "{\"outbreak\": {\"contain\": 1}}", "t.json:1:26:", "\"outbreak.contain\": must be true or false" },
		{ "{\"outbreak\": {\"exceptions\": {\"clients\": []}}}", "t.json:1:30:",
		  "unknown key \"clients\" in \"outbreak.exceptions\"" },
		{ "{\"outbreak\": {\"exceptions\": {\"signatures\": \"fp:1\"}}}", "t.json:1:44:",
		  "\"outbreak.exceptions.signatures\": must be an array of signatures, not a string" },
		{ "{\"outbreak\": {\"exceptions\": {\"prefixes\": [\"198.18.0.0/15\", 5]}}}", "t.json:1:60:",
		  "\"outbreak.exceptions.prefixes[1]\": not an address or prefix" },
		{ "{\"outbreak\": {\"exceptions\": []}}", "t.json:1:29:", "\"outbreak.exceptions\": must be an object" },
		{ "{\"quarantine\": {\"level\": 3}}", "t.json:1:17:", "unknown key \"level\" in \"quarantine\"" },
		{ "{\"quarantine\": {\"postfix_config\": \"\"}}", "t.json:1:35:", "\"quarantine.postfix_config\": must not be empty" },
		{ "{\"quarantine\": {\"policy_listen\": \"unix:relative\"}}", "t.json:1:34:", "\"unix:/PATH\" or \"inet:ADDRESS:PORT\"" },
		{ "{\"quarantine\": {\"retention\": {\"suspect\": \"0\"}}}", "t.json:1:42:",
		  "\"quarantine.retention.suspect\": must be from 1s to 366d" },
		{ "{\"quarantine\": {\"on_expiry\": {\"outbreak\": true}}}", "t.json:1:43:",
		  "\"quarantine.on_expiry.outbreak\": is \"release\" or \"delete\"" },
		{ "{\"quarantine\": {\"on_expiry\": {\"later\": \"delete\"}}}", "t.json:1:31:",
		  "unknown key \"later\" in \"quarantine.on_expiry\"" },
		{ "{\"quarantine\": {\"exceptions\": {\"senders\": []}}}", "t.json:1:32:",
		  "unknown key \"senders\" in \"quarantine.exceptions\"" },
		{ "{\"quarantine\": {\"exceptions\": {\"sender_domains\": \"example.org\"}}}", "t.json:1:50:",
		  "\"quarantine.exceptions.sender_domains\": must be an array of domains, not a string" },
		{ "{\"quarantine\": {\"exceptions\": {\"sender_domains\": [\"exa mple.org\"]}}}", "t.json:1:51:",
		  "\"quarantine.exceptions.sender_domains[0]\": not domains" },
		{ "{\"quarantine\": {\"exceptions\": {\"recipients\": [1]}}}", "t.json:1:47:",
		  "\"quarantine.exceptions.recipients[0]\": must be a string, not an integer" },
		{ "{\"quarantine\": {\"exceptions\": {\"clients\": [\"x\"]}}}", "t.json:1:44:",
		  "\"quarantine.exceptions.clients[0]\": not an address or prefix" },
		{ "{\"scan_interval\": \"61s\"}", "t.json:1:19:", "\"scan_interval\": must be from 100ms to 1m" },
		{ "{\"interfaces\": \"eth0\"}", "t.json:1:16:", "\"interfaces\": must be an array of interfaces, not a string" },
		{ "{\"interfaces\": [{\"name\": 1}]}", "t.json:1:26:", "\"interfaces[0].name\": must be a string, not an integer" },
		{ "{\"interfaces\": [{\"name\": \"eth0:x\"}]}", "t.json:1:26:", "not an interface name: \"eth0:x\"" },
		{ "{\"interfaces\": [{\"name\": \"eth0\"}, \"eth0:native\"]}", "t.json:1:35:",
		  "\"interfaces[1]\": interface eth0 listed twice" },
		{ "{\"interfaces\": [\"eth 0\"]}", "t.json:1:17:", "not an interface name: \"eth 0\"" },
		{ "{\"interfaces\": [\"eth0:\"]}", "t.json:1:17:", "mode is \"native\", \"generic\" or \"auto\", not \"\"" },
		{ "{\"protected_networks\": [1]}", "t.json:1:25:",
		  "\"protected_networks[0]\": must be an address or prefix string, not an integer" },
		{ "{\"ipv6_aggregation\": \"64\"}", "t.json:1:22:", "\"ipv6_aggregation\": must be an integer, not a string" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_error(cases[i].text, cases[i].where, cases[i].what);
}

/* Exception lists hold at most MG_CONFIG_MAX_EXCEPTIONS entries, strings at most their buffer. */
static void test_exception_limits(void **state)
{
	static const char *const lists[] = { "outbreak\": {\"exceptions\": {\"signatures",
					     "outbreak\": {\"exceptions\": {\"prefixes",
					     "quarantine\": {\"exceptions\": {\"clients",
					     "quarantine\": {\"exceptions\": {\"sender_domains",
					     "quarantine\": {\"exceptions\": {\"recipients" };
	static const char *const entry[] = { "\"fp:0000abcd\"", "\"198.18.0.0/15\"", "\"198.18.0.0/15\"", "\"d.org\"",
					     "\"a@d.org\"" };
	char text[8192];

	(void)state;
	for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++)
		for (int n = MG_CONFIG_MAX_EXCEPTIONS; n <= MG_CONFIG_MAX_EXCEPTIONS + 1; n++) {
			size_t o = (size_t)snprintf(text, sizeof(text), "{\"%s\": [", lists[l]);
			for (int i = 0; i < n; i++)
				o += (size_t)snprintf(text + o, sizeof(text) - o, "%s%s", i ? "," : "", entry[l]);
			snprintf(text + o, sizeof(text) - o, "]}}}");
			if (n == MG_CONFIG_MAX_EXCEPTIONS)
				assert_int_equal(mg_config_parse(text, "t.json", &cfg, err, sizeof(err)), 0);
			else
				expect_error(text, "t.json:1:", "at most 64 entries");
		}
	assert_int_equal(cfg.n_ob_except_sig, MG_CONFIG_MAX_EXCEPTIONS);
	assert_int_equal(cfg.n_ob_except_pfx, MG_CONFIG_MAX_EXCEPTIONS);
	assert_int_equal(cfg.n_q_except_client, MG_CONFIG_MAX_EXCEPTIONS);
	assert_int_equal(cfg.n_q_except_domain, MG_CONFIG_MAX_EXCEPTIONS);
	assert_int_equal(cfg.n_q_except_rcpt, MG_CONFIG_MAX_EXCEPTIONS);
	/* A domain fills its 128-byte buffer with 127 bytes; one more is refused. */
	char dom[200];
	memset(dom, 'd', 127);
	dom[127] = '\0';
	snprintf(text, sizeof(text), "{\"quarantine\": {\"exceptions\": {\"sender_domains\": [\"%s\"]}}}", dom);
	assert_int_equal(mg_config_parse(text, "t.json", &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.q_except_domain[0], dom);
	strcat(dom, "d");
	snprintf(text, sizeof(text), "{\"quarantine\": {\"exceptions\": {\"sender_domains\": [\"%s\"]}}}", dom);
	expect_error(text, "t.json:1:51:", "too long (at most 127 bytes)");
}

/* "uplink": true marks the interfaces servers' packets are trusted on; false and absent are alike. */
static void test_uplink(void **state)
{
	(void)state;
	assert_int_equal(mg_config_parse("{\"interfaces\": [\"eth1\", {\"name\": \"eth2\", \"uplink\": true},\n"
					 "  {\"name\": \"eth3\", \"mode\": \"generic\", \"uplink\": false}]}",
					 "t.json", &cfg, err, sizeof(err)),
			 0);
	assert_int_equal(cfg.n_ifaces, 3);
	assert_false(cfg.ifaces[0].uplink);
	assert_true(cfg.ifaces[1].uplink);
	assert_int_equal(cfg.ifaces[1].mode, MG_MODE_AUTO);
	assert_false(cfg.ifaces[2].uplink);
	assert_int_equal(cfg.ifaces[2].mode, MG_MODE_GENERIC);
	/* A reload that names eth2 without the key: no longer an uplink. */
	assert_int_equal(mg_config_parse("{\"interfaces\": [\"eth2\"]}", "t.json", &cfg, err, sizeof(err)), 0);
	assert_false(cfg.ifaces[0].uplink);

	expect_error("{\"interfaces\": [{\"name\": \"eth0\", \"uplink\": \"yes\"}]}", "t.json:1:44:",
		     "\"interfaces[0].uplink\": must be true or false, not a string");
	expect_error("{\"interfaces\": [\"eth0\",\n  {\"uplink\": 1, \"name\": \"eth1\"}]}", "t.json:2:14:",
		     "\"interfaces[1].uplink\": must be true or false, not an integer");
	/* The program holds MG_UPLINKS_MAX of them: one more is refused where it stands. */
	char text[1024] = "{\"interfaces\": [";
	for (int i = 0; i <= MG_UPLINKS_MAX; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s{\"name\": \"up%d\", \"uplink\": true}",
			 i ? "," : "", i);
	strncat(text, "]}", sizeof(text) - strlen(text) - 1);
	expect_error(text, "t.json:1:", "\"interfaces[8]\": at most 8 uplinks");
}

/* IF[:MODE], as mtaguardd -i and "interfaces" take it. */
static void test_parse_iface(void **state)
{
	static const struct {
		const char *s;
		const char *name;
		enum mg_xdp_mode mode;
	} good[] = {
		{ "eth0", "eth0", MG_MODE_AUTO },
		{ "eth0:native", "eth0", MG_MODE_NATIVE },
		{ "eth0:drv", "eth0", MG_MODE_NATIVE },
		{ "eth0:generic", "eth0", MG_MODE_GENERIC },
		{ "eth0:skb", "eth0", MG_MODE_GENERIC },
		{ "eth0:auto", "eth0", MG_MODE_AUTO },
		{ "eth0123456789ab", "eth0123456789ab", MG_MODE_AUTO },
		{ "veth-a.100", "veth-a.100", MG_MODE_AUTO },
	};
	static const char *const bad_name[] = { "", ":native", ".", "..", "..:auto", "eth/0", "eth 0", "eth\t0",
						"eth0123456789abc", "eth0123456789abc:auto" };
	static const char *const bad_mode[] = { "eth0:", "eth0:turbo", "eth0:Native", "eth0:native:x", "eth0::" };
	struct mg_config_iface ifc;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		memset(&ifc, 0x55, sizeof(ifc));
		assert_int_equal(mg_config_parse_iface(good[i].s, &ifc), 0);
		assert_string_equal(ifc.name, good[i].name);
		assert_int_equal(ifc.mode, good[i].mode);
	}
	/* A refusal says which half is wrong, and leaves *out alone. */
	for (size_t i = 0; i < sizeof(bad_name) / sizeof(bad_name[0]); i++) {
		memset(&ifc, 0x55, sizeof(ifc));
		if (mg_config_parse_iface(bad_name[i], &ifc) != -EINVAL)
			fail_msg("name '%s' not refused as a name", bad_name[i]);
		assert_int_equal((unsigned char)ifc.name[0], 0x55);
	}
	for (size_t i = 0; i < sizeof(bad_mode) / sizeof(bad_mode[0]); i++)
		if (mg_config_parse_iface(bad_mode[i], &ifc) != -ENOTSUP)
			fail_msg("'%s' not refused for its mode", bad_mode[i]);
}

/* Positions survive what a simple scanner could trip on: escapes, UTF-8, brackets in strings. */
static void test_positions(void **state)
{
	(void)state;
	/* A key spelled with an escape is still the key jansson reports, found at its token. */
	expect_error("{\n \"pin_dir\": \"/x\",\n   \"\\u0074reshold\": 1}", "t.json:3:4:", "unknown key \"treshold\"");
	/* Columns count characters like jansson's: "é" is two bytes, one column. */
	expect_error("{\"pin_dir\": \"/\xc3\xa9\", \"x\": 1}", "t.json:1:19:", "unknown key \"x\"");
	/* jansson places a syntax error at the end of the token it choked on: "x" is columns 18-20. */
	expect_error("{\"pin_dir\": \"/\xc3\xa9\" \"x\": 1}", "t.json:1:20:", "'}' expected");
	/* Brackets, braces, commas and escaped quotes inside strings do not derail the walk. */
	expect_error("{\"log_file\": \"/a]}{[,\\\"b\", \"allowlist\": [\"198.18.0.0/15\", \"x,]\"]}", "t.json:1:59:",
		     "\"allowlist[1]\": not an address or prefix: \"x,]\"");
	/* A value decoded with a newline in it still gives a one-line message. */
	expect_error("{\"allowlist\": [\"198.18.0.1\\n\"]}", "t.json:1:16:", "not an address or prefix: \"198.18.0.1?\"");
	/* Nested arrays in objects in arrays. */
	expect_error("{\"interfaces\": [\"eth0\",\n  {\"name\": \"eth1\",\n   \"mode\": 3}]}", "t.json:3:12:",
		     "\"interfaces[1].mode\": mode is");
}

/* A refused file leaves the running configuration exactly as it was (a bad SIGHUP reload). */
static void test_refused_keeps_old(void **state)
{
	(void)state;
	assert_int_equal(mg_config_parse(full, "full.json", &cfg, err, sizeof(err)), 0);
	assert_int_equal(mg_config_parse("{\"mail_servers\": [\"198.18.9.9\"], \"block\": {\"action\": \"x\"}}", "bad.json",
					 &cfg, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(cfg.mail_servers.n, 2);
	assert_int_equal(cfg.an.block_action, MG_ACT_DROP_ALL);
	assert_int_equal(cfg.n_ifaces, 3);
	/* A good file over it: lists it names replace the old ones; what it does not name stays. */
	assert_int_equal(mg_config_parse("{\"mail_servers\": [\"198.18.9.9\"]}", "good.json", &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.mail_servers.n, 1);
	assert_int_equal(cfg.allowlist.n, 1);
	assert_int_equal(cfg.an.block_action, MG_ACT_DROP_ALL);
}

static void test_load_file(void **state)
{
	char path[] = "/tmp/mg-config-XXXXXX";
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	const char *text = "{\n  \"monitor\": true,\n  \"pin_dir\": 7\n}\n";
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(mg_config_load(path, &cfg, err, sizeof(err)), -EINVAL);
	char want[128];
	snprintf(want, sizeof(want), "%s:3:14: \"pin_dir\": must be a string, not an integer", path);
	assert_string_equal(err, want);
	assert_false(cfg.an.monitor);

	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("{ \"monitor\": true }", f);
	fclose(f);
	assert_int_equal(mg_config_load(path, &cfg, err, sizeof(err)), 0);
	assert_true(cfg.an.monitor);
	unlink(path);

	assert_int_equal(mg_config_load(path, &cfg, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s: cannot read: No such file or directory", path);
	assert_string_equal(err, want);
	assert_true(cfg.an.monitor); /* the failed loads changed nothing */

	assert_int_equal(mg_config_load("/tmp", &cfg, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "/tmp: cannot read: Is a directory");

	/* Over 1 MiB: refused before parsing, even though it is valid JSON. */
	strcpy(path, "/tmp/mg-config-XXXXXX"); /* mkstemp filled in the X's */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs("{\"log_file\": \"", f);
	for (int i = 0; i < (1 << 20); i++)
		fputc('x', f);
	fputs("\"}", f);
	fclose(f);
	assert_int_equal(mg_config_load(path, &cfg, err, sizeof(err)), -EINVAL);
	unlink(path);
	snprintf(want, sizeof(want), "%s: larger than 1048576 bytes", path);
	assert_memory_equal(err, want, strlen(want));
}

/*
 * A FIFO at the configuration path hung the daemon at start and at every
 * SIGHUP (both load through mg_config_load): opening it waited for a writer.
 * It is refused at once with the reason; so is any other non-regular file,
 * while a symlink to a regular file still loads.
 */
static void test_load_refuses_non_regular(void **state)
{
	char dir[] = "/tmp/mg-config-XXXXXX", fifo[64], link[64], real[64], want[160];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(fifo, sizeof(fifo), "%s/fifo.json", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	alarm(10); /* a hang is this test's failure, not a stuck run */
	assert_int_equal(mg_config_load(fifo, &cfg, err, sizeof(err)), -EINVAL);
	alarm(0);
	snprintf(want, sizeof(want), "%s: not a regular file (a FIFO): refusing to read it", fifo);
	assert_string_equal(err, want);

	assert_int_equal(mg_config_load("/dev/null", &cfg, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "/dev/null: not a regular file (a character device): refusing to read it");
	assert_false(cfg.an.monitor); /* nothing changed */

	snprintf(real, sizeof(real), "%s/real.json", dir);
	snprintf(link, sizeof(link), "%s/link.json", dir);
	FILE *f = fopen(real, "w");
	assert_non_null(f);
	fputs("{ \"monitor\": true }", f);
	fclose(f);
	assert_int_equal(symlink(real, link), 0);
	assert_int_equal(mg_config_load(link, &cfg, err, sizeof(err)), 0);
	assert_true(cfg.an.monitor);
	unlink(link);
	unlink(real);
	unlink(fifo);
	rmdir(dir);
}

static void test_durations(void **state)
{
	static const struct {
		const char *s;
		uint64_t ns;
	} good[] = {
		{ "0", 0 }, { "90", 90 * SEC }, { "90s", 90 * SEC }, { "250ms", 250000000ull }, { "10m", 600 * SEC },
		{ "1h", 3600 * SEC }, { "7d", 7 * 86400 * SEC }, { "007s", 7 * SEC },
		/* The largest that fit in 64 bits: parsed; their bounds are the caller's. */
		{ "18446744073s", 18446744073ull * SEC }, { "200000d", 200000ull * 86400 * SEC },
		{ "18446744073709ms", 18446744073709ull * 1000000 },
	};
	static const char *const bad[] = { "", "s", "1x", "-5s", "-1", "+5", " 5", "5 ", "1.5h", "10 m", "h1", "1S",
					   "1sec", "5ms5", "0x10", "1e3", "2d1h", "5s\n" };
	/* Past 2^64 nanoseconds, by the unit or by strtoull itself. */
	static const char *const too_big[] = { "18446744074s", "18446744073710ms", "213504d", "99999999999999999999",
					       "18446744073709551616", "9999999999999d" };
	uint64_t ns;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ns = 12345;
		assert_int_equal(mg_parse_duration(good[i].s, &ns), 0);
		assert_int_equal(ns, good[i].ns);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (mg_parse_duration(bad[i], &ns) != -EINVAL)
			fail_msg("duration '%s' not refused as a bad spelling", bad[i]);
	for (size_t i = 0; i < sizeof(too_big) / sizeof(too_big[0]); i++) {
		ns = 12345;
		if (mg_parse_duration(too_big[i], &ns) != -ERANGE)
			fail_msg("duration '%s' not refused as too large", too_big[i]);
		assert_int_equal(ns, 12345);
	}
	assert_int_equal(mg_parse_duration(NULL, &ns), -EINVAL);
}

/* An operator's rule: 0 is "until removed" when written so, never by rounding; 1 s to 366 d otherwise. */
static void test_rule_durations(void **state)
{
	static const struct {
		const char *s;
		int rc;
		uint64_t ns;
	} cases[] = {
		{ "0", 0, 0 }, { "0s", 0, 0 }, { "0ms", 0, 0 }, { "1s", 0, SEC }, { "1000ms", 0, SEC }, { "1", 0, SEC },
		{ "366d", 0, 366 * 86400 * SEC }, { "8784h", 0, 366 * 86400 * SEC },
		/* Below a second: refused, not rounded to 0 (which is forever). */
		{ "999ms", -ERANGE, 0 }, { "1ms", -ERANGE, 0 },
		/* Past the maximum, and what once wrapped around the clock. */
		{ "367d", -ERANGE, 0 }, { "31622401s", -ERANGE, 0 }, { "200000d", -ERANGE, 0 }, { "18446744073s", -ERANGE, 0 },
		{ "18446744074s", -ERANGE, 0 }, { "99999999999999999999", -ERANGE, 0 },
		{ "-1s", -EINVAL, 0 }, { "1x", -EINVAL, 0 }, { "", -EINVAL, 0 }, { "1.5s", -EINVAL, 0 }, { "5 s", -EINVAL, 0 },
	};
	uint64_t ns;

	(void)state;
	assert_int_equal(MG_DURATION_MAX_NS, 366 * 86400 * SEC);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ns = 12345;
		int rc = mg_parse_rule_duration(cases[i].s, &ns);
		if (rc != cases[i].rc)
			fail_msg("rule duration '%s': %d, expected %d", cases[i].s, rc, cases[i].rc);
		assert_int_equal(ns, rc ? 12345 : cases[i].ns);
	}
}

/* Messages name durations in the unit that says them exactly. */
static void test_duration_str(void **state)
{
	static const struct {
		uint64_t ns;
		const char *s;
	} cases[] = {
		{ 0, "0" }, { 100 * 1000000ull, "100ms" }, { 1500 * 1000000ull, "1500ms" }, { SEC, "1s" },
		{ 90 * SEC, "90s" }, { 60 * SEC, "1m" }, { 3600 * SEC, "1h" }, { 36 * 3600 * SEC, "36h" },
		{ 366 * 86400 * SEC, "366d" }, { 1, "1ns" },
	};
	char buf[32];
	uint64_t back;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_string_equal(mg_duration_str(cases[i].ns, buf, sizeof(buf)), cases[i].s);
		/* And the parser reads it back (all but the nanoseconds it never makes). */
		if (cases[i].ns % 1000000 == 0) {
			assert_int_equal(mg_parse_duration(buf, &back), 0);
			assert_int_equal(back, cases[i].ns);
		}
	}
}

/* Every duration key has bounds: nothing wraps, and 0 or a sub-second value never means "forever". */
static void test_config_duration_bounds(void **state)
{
	static const struct {
		const char *key; /* the path, as JSON up to the value */
		const char *close;
		const char *lo, *hi;
	} keys[] = {
		{ "{\"detection\": {\"window\": ", "}}", "1m", "1d" },
		{ "{\"detection\": {\"learning_active_days\": 1, \"learning_period\": ", "}}", "1h", "366d" },
		{ "{\"block\": {\"max_duration\": \"366d\", \"duration\": ", "}}", "1s", "366d" },
		{ "{\"block\": {\"duration\": \"1s\", \"max_duration\": ", "}}", "1s", "366d" },
		{ "{\"state_interval\": ", "}", "1s", "1d" },
		{ "{\"scan_interval\": ", "}", "100ms", "1m" },
		{ "{\"metrics\": {\"interval\": ", "}}", "1s", "1h" },
		{ "{\"outbreak\": {\"window\": ", "}}", "1m", "1d" },
		{ "{\"outbreak\": {\"decay\": ", "}}", "1m", "7d" },
		{ "{\"quarantine\": {\"retention\": {\"suspect\": ", "}}}", "1s", "366d" },
		{ "{\"quarantine\": {\"retention\": {\"outbreak\": ", "}}}", "1s", "366d" },
	};
	static const char *const always_bad[] = { "0", "\"0\"", "\"999ms\"", "\"200000d\"", "\"18446744073s\"",
						  "18446744073", "\"18446744074s\"", "9223372036854775807" };
	char text[256], what[64], where[32];

	(void)state;
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		uint64_t lo, hi;
		assert_int_equal(mg_parse_duration(keys[k].lo, &lo), 0);
		assert_int_equal(mg_parse_duration(keys[k].hi, &hi), 0);
		snprintf(what, sizeof(what), "must be from %s to %s", keys[k].lo, keys[k].hi);
		snprintf(where, sizeof(where), "t.json:1:%zu:", strlen(keys[k].key) + 1);
		/* The edges are accepted... */
		snprintf(text, sizeof(text), "%s\"%s\"%s", keys[k].key, keys[k].lo, keys[k].close);
		if (mg_config_parse(text, "t.json", &cfg, err, sizeof(err)))
			fail_msg("%s: %s", text, err);
		snprintf(text, sizeof(text), "%s\"%s\"%s", keys[k].key, keys[k].hi, keys[k].close);
		if (mg_config_parse(text, "t.json", &cfg, err, sizeof(err)))
			fail_msg("%s: %s", text, err);
		/* ...one millisecond past either is not... */
		snprintf(text, sizeof(text), "%s\"%llums\"%s", keys[k].key, (unsigned long long)(lo / 1000000 - 1),
			 keys[k].close);
		expect_error(text, where, what);
		snprintf(text, sizeof(text), "%s\"%llums\"%s", keys[k].key, (unsigned long long)(hi / 1000000 + 1),
			 keys[k].close);
		expect_error(text, where, what);
		/* ...nor zero, a second too little, or what once wrapped. */
		for (size_t i = 0; i < sizeof(always_bad) / sizeof(always_bad[0]); i++) {
			snprintf(text, sizeof(text), "%s%s%s", keys[k].key, always_bad[i], keys[k].close);
			if (strcmp(keys[k].lo, "100ms") || strcmp(always_bad[i], "\"999ms\""))
				expect_error(text, where, what);
		}
	}
}

/* Paths are absolute, files are not spelled as directories, listen addresses bind: all refused at parse time. */
static void test_paths_and_addresses(void **state)
{
	static const struct {
		const char *text, *where, *what;
	} bad[] = {
		{ "{\"pin_dir\": \"sys/fs/bpf/mtaguard\"}", "t.json:1:13:", "\"pin_dir\": must be an absolute path" },
		{ "{\"state_file\": \"state.gz\"}", "t.json:1:16:", "\"state_file\": must be an absolute path" },
		{ "{\"state_file\": \"/var/lib/mtaguard/\"}", "t.json:1:16:", "must name a file, not a directory" },
		{ "{\"log_file\": \"events.jsonl\"}", "t.json:1:14:", "must be \"-\" (standard output) or an absolute path" },
		{ "{\"log_file\": \"/\"}", "t.json:1:14:", "must name a file, not a directory: \"/\"" },
		{ "{\"control_socket\": \"control.sock\"}", "t.json:1:20:", "must be an absolute path" },
		{ "{\"control_socket\": \"/run/mtaguard/.\"}", "t.json:1:20:", "must name a file" },
		{ "{\"metrics\": {\"textfile\": \"mtaguard.prom\"}}", "t.json:1:26:", "\"metrics.textfile\": must be an absolute" },
		{ "{\"outbreak\": {\"alert_hook\": \"/\"}}", "t.json:1:29:",
		  "\"outbreak.alert_hook\": must name a file, not a directory: \"/\"" },
		{ "{\"outbreak\": {\"alert_hook\": \"/usr/local/sbin/\"}}", "t.json:1:29:", "must name a file" },
		{ "{\"outbreak\": {\"alert_hook\": \"/usr/..\"}}", "t.json:1:29:", "must name a file" },
		{ "{\"outbreak\": {\"alert_hook\": \"sbin/page\"}}", "t.json:1:29:", "must be an absolute path" },
		{ "{\"quarantine\": {\"postfix_config\": \"etc/postfix\"}}", "t.json:1:35:", "must be an absolute path" },
		/* Postfix's policy service address: a port, and one that binds. */
		{ "{\"quarantine\": {\"policy_listen\": \"inet:127.0.0.1\"}}", "t.json:1:34:",
		  "\"quarantine.policy_listen\": \"inet:\" takes ADDRESS:PORT with a port 1..65535" },
		{ "{\"quarantine\": {\"policy_listen\": \"inet:127.0.0.1:\"}}", "t.json:1:34:", "with a port 1..65535" },
		{ "{\"quarantine\": {\"policy_listen\": \"inet:127.0.0.1:0\"}}", "t.json:1:34:", "with a port 1..65535" },
		{ "{\"quarantine\": {\"policy_listen\": \"inet:127.0.0.1:65536\"}}", "t.json:1:34:", "with a port 1..65535" },
		{ "{\"quarantine\": {\"policy_listen\": \"inet:10040\"}}", "t.json:1:34:", "with a port 1..65535" },
		{ "{\"quarantine\": {\"policy_listen\": \"inet:::1:10040\"}}", "t.json:1:34:", "inet:[::1]:10040" },
		{ "{\"quarantine\": {\"policy_listen\": \"unix:/\"}}", "t.json:1:34:", "PATH absolute" },
		{ "{\"quarantine\": {\"policy_listen\": \"unix:private/mtaguard\"}}", "t.json:1:34:", "PATH absolute" },
		{ "{\"quarantine\": {\"policy_listen\": \"unix:/var/spool/postfix/private/a-policy-socket-path-that-is-"
		  "longer-than-a-unix-socket-address-can-hold-which-is-107-bytes\"}}", "t.json:1:34:",
		  "socket path too long (at most 107 bytes)" },
		{ "{\"metrics\": {\"listen\": \"127.0.0.1:65536\"}}", "t.json:1:24:", "not ADDRESS:PORT" },
		{ "{\"hooks\": {\"verdict\": \"ticket.sh\"}}", "t.json:1:23:", "must be an absolute path" },
		{ "{\"hooks\": {\"verdict\": \"/usr/local/sbin/\"}}", "t.json:1:23:", "must name a file" },
		{ "{\"hooks\": {\"verdcit\": \"/usr/local/sbin/t\"}}", "t.json:1:", "unknown key \"verdcit\" in \"hooks\"" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_error(bad[i].text, bad[i].where, bad[i].what);
	assert_int_equal(mg_config_parse("{\"log_file\": \"-\", \"outbreak\": {\"alert_hook\": \"/usr/local/sbin/page\"},\n"
					 " \"quarantine\": {\"policy_listen\": \"inet:[::1]:65535\"}, \"pin_dir\": \"/sys/fs/bpf/mg/\"}",
					 "t.json", &cfg, err, sizeof(err)),
			 0);
	assert_string_equal(cfg.policy_listen, "inet:[::1]:65535");
	assert_string_equal(cfg.verdict_hook, ""); /* none by default */
	assert_int_equal(mg_config_parse("{\"hooks\": {\"verdict\": \"/usr/local/sbin/open-ticket\"}}", "t.json", &cfg, err,
					 sizeof(err)),
			 0);
	assert_string_equal(cfg.verdict_hook, "/usr/local/sbin/open-ticket");
	assert_int_equal(mg_config_parse("{\"quarantine\": {\"policy_listen\": \"unix:/var/spool/postfix/private/mtaguard\"}}",
					 "t.json", &cfg, err, sizeof(err)),
			 0);
}

/* The cluster section: servers as URLs, names in NATS's alphabet, kinds by name; refused with where and why. */
static void test_cluster_section(void **state)
{
	static const struct {
		const char *text, *where, *what;
	} bad[] = {
		{ "{\"cluster\": {\"servers\": [\"nats://127.0.0.1:4222\", \"127.0.0.1:4223\"]}}", "t.json:1:",
		  "server \"127.0.0.1:4223\" must be a nats:// or tls:// URL" },
		{ "{\"cluster\": {\"servers\": [\"nats://127.0.0.1:4222\"],\n \"node\": \"edge.a\"}}", "t.json:2:",
		  "node name \"edge.a\": letters, digits" },
		{ "{\"cluster\": {\"bucket\": \"mt guard\"}}", "t.json:1:", "bucket name \"mt guard\"" },
		{ "{\"cluster\": {\"events_stream\": \"a.b\"}}", "t.json:1:", "stream name \"a.b\"" },
		{ "{\"cluster\": {\"events_max_age\": \"10s\"}}", "t.json:1:", "events_max_age" },
		{ "{\"cluster\": {\"publish\": [\"verdicts\", \"outbreak\"]}}", "t.json:1:",
		  "unknown kind \"outbreak\": \"verdicts\", \"blocks\", \"allows\", \"mail_servers\" or \"outbreaks\"" },
		{ "{\"cluster\": {\"max_accept_per_minute\": 0}}", "t.json:1:", "must be 1..1000000" },
		{ "{\"cluster\": {\"credentials\": \"relative.creds\"}}", "t.json:1:", "absolute" },
		{ "{\"cluster\": {\"server\": []}}", "t.json:1:", "unknown key \"server\" in \"cluster\"" },
		{ "{\"bgp\": {\"max_accept_per_minute\": 0}}", "t.json:1:", "must be 1..1000000" },
		{ "{\"bgp\": {\"ttl\": \"5m\"}}", "t.json:1:", "unknown key \"ttl\" in \"bgp\"" },
	};
	struct mg_config c;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_error(bad[i].text, bad[i].where, bad[i].what);
	/* Off by default; every kind shared both ways once on; the node named after the host. */
	mg_config_default(&c);
	assert_int_equal(c.n_cluster_servers, 0);
	assert_int_equal(mg_config_parse("{\"cluster\": {\"servers\": [\"nats://198.18.0.1:4222\", \"tls://198.18.0.2:4222\"],"
					 " \"accept\": [\"verdicts\"], \"max_accept_per_minute\": 50}}",
					 "t.json", &c, err, sizeof(err)),
			 0);
	assert_int_equal(c.n_cluster_servers, 2);
	assert_string_equal(c.cluster_servers[1], "tls://198.18.0.2:4222");
	assert_string_equal(c.cluster_bucket, "mtaguard");
	assert_true(mg_cl_node_valid(c.cluster_node));
	assert_int_equal(c.cluster_accept, 1u << MG_CL_VERDICT);
	assert_int_equal(c.cluster_publish,
			 (1u << MG_CL_VERDICT) | (1u << MG_CL_BLOCK) | (1u << MG_CL_ALLOW) | (1u << MG_CL_SERVER) |
				 (1u << MG_CL_OUTBREAK));
	assert_int_equal(c.cluster_max_accept_per_min, 50);
	assert_int_equal(c.bgp_max_accept_per_min, 600); /* FlowSpec routes from BGP peers: a breaker of their own */
	mg_config_free(&c);
	mg_config_default(&c);
	assert_int_equal(mg_config_parse("{\"bgp\": {\"max_accept_per_minute\": 20}}", "t.json", &c, err, sizeof(err)), 0);
	assert_int_equal(c.bgp_max_accept_per_min, 20);
	mg_config_free(&c);
}

/* The widest prefix the lists that exempt sources may hold: the limits, and never everything. */
static void test_prefix_limits(void **state)
{
	static const struct {
		const char *text, *where, *what;
	} bad[] = {
		{ "{\"allowlist\": [\"0.0.0.0/0\"]}", "t.json:1:16:",
		  "\"allowlist[0]\": 0.0.0.0/0 is every IPv4 source: nothing would be enforced against any of them; "
		  "to stop enforcing, set \"monitor\": true" },
		{ "{\"allowlist\": [\"::/0\"]}", "t.json:1:16:", "\"allowlist[0]\": ::/0 is every source" },
		{ "{\"allowlist\": [\"198.18.0.0/15\",\n  \"100.0.0.0/7\"]}", "t.json:2:3:",
		  "\"allowlist[1]\": 100.0.0.0/7 is wider than limits.min_prefix_v4 (/8); lower the limit if you mean it" },
		{ "{\"mail_servers\": [\"2001:db8::/31\"]}", "t.json:1:19:",
		  "\"mail_servers[0]\": 2001:db8::/31 is wider than limits.min_prefix_v6 (/32)" },
		{ "{\"outbreak\": {\"exceptions\": {\"prefixes\": [\"198.18.7.0/24\", \"0.0.0.0/0\"]}}}", "t.json:1:60:",
		  "\"outbreak.exceptions.prefixes[1]\": 0.0.0.0/0 is every IPv4 source" },
		{ "{\"quarantine\": {\"exceptions\": {\"clients\": [\"2000::/3\"]}}}", "t.json:1:44:",
		  "\"quarantine.exceptions.clients[0]\": 2000::/3 is wider than limits.min_prefix_v6 (/32)" },
		/* The limits apply wherever they stand in the file. */
		{ "{\"allowlist\": [\"198.18.0.0/15\"], \"limits\": {\"min_prefix_v4\": 16}}", "t.json:1:16:",
		  "198.18.0.0/15 is wider than limits.min_prefix_v4 (/16)" },
		{ "{\"limits\": {\"min_prefix_v4\": 0}}", "t.json:1:30:", "\"limits.min_prefix_v4\": must be 1..32" },
		{ "{\"limits\": {\"min_prefix_v4\": 33}}", "t.json:1:30:", "must be 1..32" },
		{ "{\"limits\": {\"min_prefix_v6\": 129}}", "t.json:1:30:", "must be 1..128" },
		{ "{\"limits\": {\"min_prefix\": 8}}", "t.json:1:13:", "unknown key \"min_prefix\" in \"limits\"" },
		/* Not longer than the analyzer's own IPv6 blocks: placed at whichever the file set. */
		{ "{\"limits\": {\"min_prefix_v6\": 65}}", "t.json:1:30:",
		  "\"limits.min_prefix_v6\": limits.min_prefix_v6 (/65) must not be longer than ipv6_aggregation (/64)" },
		{ "{\"ipv6_aggregation\": 48, \"limits\": {\"min_prefix_v6\": 56}}", "t.json:1:54:", "(/56) must not be longer" },
	};
	struct mg_prefix p;
	unsigned min = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_error(bad[i].text, bad[i].where, bad[i].what);
	/* The defaults, and the query the control socket asks. */
	assert_int_equal(cfg.min_prefix_v4, MG_MIN_PREFIX_V4_DEFAULT);
	assert_int_equal(cfg.min_prefix_v6, MG_MIN_PREFIX_V6_DEFAULT);
	assert_int_equal(mg_prefix_parse("100.0.0.0/8", &p), 0);
	assert_false(mg_config_prefix_too_wide(&cfg, &p, &min));
	assert_int_equal(min, 8);
	assert_int_equal(mg_prefix_parse("100.0.0.0/7", &p), 0);
	assert_true(mg_config_prefix_too_wide(&cfg, &p, &min));
	assert_int_equal(mg_prefix_parse("0.0.0.0/0", &p), 0);
	assert_true(mg_config_prefix_too_wide(&cfg, &p, &min));
	assert_int_equal(min, 8);
	assert_int_equal(mg_prefix_parse("::/0", &p), 0);
	assert_true(mg_config_prefix_too_wide(&cfg, &p, &min));
	assert_int_equal(min, 32);
	/* ::ffff:0:0/96 is 0.0.0.0/0 spelled in IPv6: the IPv4 limit. */
	assert_int_equal(mg_prefix_parse("::ffff:0:0/96", &p), 0);
	assert_true(mg_config_prefix_too_wide(&cfg, &p, &min));
	assert_int_equal(min, 8);
	assert_int_equal(mg_prefix_parse("2001:db8::/32", &p), 0);
	assert_false(mg_config_prefix_too_wide(&cfg, &p, &min));
	/*
	 * A lower limit lets a wide allowlist entry through; protected networks
	 * never had one (theirs is the activity records' cap: test_protected_networks).
	 */
	assert_int_equal(mg_config_parse("{\"allowlist\": [\"100.0.0.0/7\", \"2001:db8::/31\"],\n"
					 " \"limits\": {\"min_prefix_v4\": 7, \"min_prefix_v6\": 31},\n"
					 " \"protected_networks\": [\"198.18.0.0/13\", \"2001:db8::/45\"]}",
					 "t.json", &cfg, err, sizeof(err)),
			 0);
	assert_int_equal(cfg.min_prefix_v4, 7);
	assert_int_equal(cfg.min_prefix_v6, 31);
	assert_int_equal(cfg.allowlist.n, 2);
	/* A file lowering the aggregation below the limit in force: placed at the aggregation. */
	mg_config_free(&cfg);
	mg_config_default(&cfg);
	assert_int_equal(mg_config_parse("{\"limits\": {\"min_prefix_v6\": 56}}", "t.json", &cfg, err, sizeof(err)), 0);
	assert_int_equal(mg_config_parse("{\"ipv6_aggregation\": 48}", "t.json", &cfg, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "t.json:1:22: \"ipv6_aggregation\": limits.min_prefix_v6 (/56) must not be longer than "
				 "ipv6_aggregation (/48), the prefix the analyzer blocks IPv6 sources at");
	/* But everything is refused at any limit. */
	expect_error("{\"limits\": {\"min_prefix_v4\": 1}, \"allowlist\": [\"0.0.0.0/0\"]}", "t.json:1:48:", "is every IPv4 source");
	assert_int_equal(mg_config_parse("{\"ipv6_aggregation\": 48, \"limits\": {\"min_prefix_v6\": 48}}", "t.json", &cfg, err,
					 sizeof(err)),
			 0);
}

/* Values at the edges of their ranges are accepted. */
/* protected_networks become the kernel's activity ranges, within their cap, or are refused at the entry that breaks it. */
static void test_protected_networks(void **state)
{
	struct mg_config c;

	(void)state;
	mg_config_default(&c);
	assert_int_equal(mg_config_parse("{\"protected_networks\": [\"198.18.0.0/16\", \"198.18.7.0/24\", "
					 "\"2001:db8:1::/48\", \"2001:db8:2::/64\"]}",
					 "t.json", &c, err, sizeof(err)),
			 0);
	/* The /24 lies in the /16 and shares its records; a /64 is one record. */
	assert_int_equal(c.tunables.act[0].family, 4);
	assert_int_equal(c.tunables.act[0].base, 0xc6120000u);
	assert_int_equal(c.tunables.act[0].size, 65536);
	assert_int_equal(c.tunables.act[1].family, 6);
	assert_int_equal(c.tunables.act[1].base, 0x20010db800010000ull);
	assert_int_equal(c.tunables.act[1].size, 65536);
	assert_int_equal(c.tunables.act[1].offset, 65536);
	assert_int_equal(c.tunables.act[2].size, 1);
	assert_int_equal(c.tunables.act[2].offset, 131072);
	assert_int_equal(c.tunables.act[3].size, 0);
	mg_config_free(&c);

	expect_error("{\"protected_networks\": [\"198.18.0.0/15\", \"100.0.0.0/8\"]}", "t.json:1:42:",
		     "\"protected_networks[1]\": 100.0.0.0/8 needs 16777216 activity records");
	expect_error("{\"protected_networks\": [\"2001:db8::/32\"]}", "t.json:1:25:", "may have 1048576 in all");
	expect_error("{\"protected_networks\": [\"::/0\"]}", "t.json:1:25:", "needs over");
	expect_error("{\"protected_networks\": [\"198.18.0.0/24\", \"198.18.1.0/24\", \"198.18.2.0/24\", "
		     "\"198.18.3.0/24\", \"198.18.4.0/24\", \"198.18.5.0/24\", \"198.18.6.0/24\", \"198.18.7.0/24\", "
		     "\"198.18.8.0/24\"]}",
		     "t.json:1:", "198.18.8.0/24: more than 8 protected networks");
}

static void test_edges_accepted(void **state)
{
	(void)state;
	assert_int_equal(mg_config_parse("{\"smtp_ports\": {\"mx\": [1, 65535, 26, 27], \"submission\": []},\n"
					 " \"ipv6_aggregation\": 128, \"map_sizes\": {\"sources\": 1024, \"policy\": 67108864},\n"
					 " \"detection\": {\"learning_period\": \"36h\", \"learning_active_days\": 2,\n"
					 "   \"block_score\": 5, \"alert_score\": 5},\n"
					 " \"block\": {\"repeat_factor\": 100, \"max_new_per_minute\": 100000, \"duration\": \"1s\"},\n"
					 " \"control_mode\": \"640\", \"interfaces\": [\"eth0123456789ab\"]}",
					 "edges.json", &cfg, err, sizeof(err)),
			 0);
	assert_int_equal(cfg.tunables.mx_ports[0], 1);
	assert_int_equal(cfg.tunables.mx_ports[1], 65535);
	assert_int_equal(cfg.tunables.mx_ports[3], 27);
	assert_int_equal(cfg.tunables.submission_ports[0], 0);
	assert_int_equal(cfg.tunables.v6_src_prefix, 128);
	assert_int_equal(cfg.an.v6_prefix, 128);
	assert_int_equal(cfg.max_sources, 1024);
	assert_int_equal(cfg.max_servers, MG_DEFAULT_MAX_SERVERS);
	assert_int_equal(cfg.max_policy, 1 << 26);
	assert_int_equal(cfg.an.learning_ns, 36 * 3600 * SEC);
	assert_int_equal(cfg.an.learn_min_active_days, 2);
	assert_int_equal(cfg.an.repeat_factor, 100);
	assert_int_equal(cfg.an.max_new_blocks_per_min, 100000);
	assert_int_equal(cfg.an.block_ns, SEC);
	assert_int_equal(cfg.control_mode, 0640);
	assert_int_equal(cfg.n_ifaces, 1);
	assert_string_equal(cfg.ifaces[0].name, "eth0123456789ab");
}

/* Protected IPv6 networks: a LAN is keyed per host by default, wider networks as the global value or their own. */
static void test_protected_v6_aggregation(void **state)
{
	char buf[MG_ADDRSTRLEN];
	uint8_t a[16];

	(void)state;
	assert_int_equal(mg_config_parse("{\"protected_networks\": [\"198.18.0.0/15\", \"2001:db8::/48\", \"2001:db8:10::/64\",\n"
					 "  {\"prefix\": \"2001:db8:20::/48\", \"ipv6_aggregation\": 56},\n"
					 "  {\"prefix\": \"2001:db8:30::/64\", \"ipv6_aggregation\": 64}]}",
					 "t.json", &cfg, err, sizeof(err)),
			 0);
	assert_int_equal(cfg.protected_nets.n, 5);
	/* The /48 and the /64 that asks for 64 are keyed as around them: no entry. */
	assert_int_equal(cfg.tunables.n_v6_nets, 2);
	struct mg_prefix p = { .prefixlen = cfg.tunables.v6_nets[0].prefixlen };
	memcpy(p.addr, cfg.tunables.v6_nets[0].addr, 16);
	assert_string_equal(mg_prefix_str(&p, buf, sizeof(buf)), "2001:db8:10::/64");
	assert_int_equal(cfg.tunables.v6_nets[0].aggregation, 128);
	assert_int_equal(cfg.tunables.v6_nets[1].aggregation, 56);
	/* The analyzer gets the same table as the kernel. */
	assert_int_equal(cfg.an.n_v6_nets, 2);
	assert_memory_equal(cfg.an.v6_nets, cfg.tunables.v6_nets, sizeof(cfg.an.v6_nets));
	assert_int_equal(mg_addr_parse("2001:db8:10::3", a), 0);
	assert_int_equal(mg_an_key_len(&cfg.an, a), 128);
	assert_int_equal(mg_addr_parse("2001:db8:20:ff::3", a), 0);
	assert_int_equal(mg_an_key_len(&cfg.an, a), 56);
	assert_int_equal(mg_addr_parse("2001:db8:30::3", a), 0);
	assert_int_equal(mg_an_key_len(&cfg.an, a), 64);
	assert_int_equal(mg_addr_parse("2001:db8:40::3", a), 0);
	assert_int_equal(mg_an_key_len(&cfg.an, a), 64);
	assert_int_equal(mg_addr_parse("198.18.1.1", a), 0);
	assert_int_equal(mg_an_key_len(&cfg.an, a), 128);
	/* A reload without protected networks drops the table. */
	assert_int_equal(mg_config_parse("{\"protected_networks\": []}", "t.json", &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.tunables.n_v6_nets, 0);
	assert_int_equal(cfg.an.n_v6_nets, 0);

	static const struct {
		const char *text, *where, *what;
	} bad[] = {
		{ "{\"protected_networks\": [{\"prefix\": \"198.18.0.0/15\", \"ipv6_aggregation\": 64}]}", "t.json:1:73:",
		  "IPv4 sources are always keyed per address" },
		{ "{\"protected_networks\": [{\"prefix\": \"2001:db8::/48\", \"ipv6_aggregation\": 40}]}", "t.json:1:73:",
		  "must be 48..128" },
		{ "{\"protected_networks\": [{\"prefix\": \"2001:db8::/64\", \"ipv6_aggregation\": 56}]}", "t.json:1:73:",
		  "/56 is shorter than the network's own /64" },
		{ "{\"protected_networks\": [{\"prefix\": \"2001:db8::/64\", \"aggregation\": 128}]}", "t.json:1:", 
		  "unknown key \"aggregation\"" },
		{ "{\"protected_networks\": [{\"ipv6_aggregation\": 128}]}", "t.json:1:", "needs a \"prefix\"" },
		{ "{\"protected_networks\": [{\"prefix\": 5}]}", "t.json:1:", "must be an address or prefix string" },
		{ "{\"protected_networks\": [\"2001:db8::/80\"]}", "t.json:1:", "lies inside per-/64 keys (ipv6_aggregation)" },
		{ "{\"protected_networks\": [{\"prefix\": \"2001:db8::/48\", \"ipv6_aggregation\": 56}, \"2001:db8::/64\"]}",
		  "t.json:1:", "lies inside per-/56 keys (an enclosing protected network)" },
		{ "{\"protected_networks\": [\"2001:db8::/64\", \"2001:db8::/64\"]}", "t.json:1:", "listed twice" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_error(bad[i].text, bad[i].where, bad[i].what);

	/* More LANs than the kernel's table holds. */
	char text[4096];
	size_t o = (size_t)snprintf(text, sizeof(text), "{\"protected_networks\": [");
	for (int i = 0; i <= MG_V6_NETS_MAX; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o, "%s\"2001:db8:%x::/64\"", i ? ", " : "", i + 1);
	snprintf(text + o, sizeof(text) - o, "]}");
	expect_error(text, "t.json:1:", "more than 16 IPv6 protected networks");
}

static void test_free_twice(void **state)
{
	(void)state;
	/* A defaulted config owns nothing: freeing it is fine. */
	mg_config_free(&cfg);
	assert_null(cfg.allowlist.v);
	mg_config_default(&cfg);
	assert_int_equal(mg_config_parse(full, "full.json", &cfg, err, sizeof(err)), 0);
	mg_config_free(&cfg);
	assert_null(cfg.mail_servers.v);
	assert_int_equal(cfg.mail_servers.n, 0);
	mg_config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors_placed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors_every_section, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exception_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_positions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rule_durations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duration_str, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_duration_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_paths_and_addresses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cluster_section, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prefix_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uplink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_iface, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edges_accepted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_protected_networks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_keeps_old, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_refuses_non_regular, setup, teardown),
		cmocka_unit_test_setup_teardown(test_durations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_twice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_protected_v6_aggregation, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
