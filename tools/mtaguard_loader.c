// SPDX-License-Identifier: GPL-2.0-only
/*
 * mtaguard-loader - load, pin, attach and inspect the mtaguard XDP program
 * without the analyzer daemon. Everything it does acts on the pinned objects,
 * so it can be run again at any time against a live data plane.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>
#include <bpf/libbpf.h>

#include "mg_addr.h"
#include "mg_clock.h"
#include "mg_loader.h"
#include "mg_log.h"
#include "mg_names.h"
#include "mg_rulemaps.h"
#include "mg_stats.h"

static const char *pin_dir = MG_DEFAULT_PIN_DIR;

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: mtaguard-loader [-v] [-p PIN_DIR] COMMAND [ARGS]\n"
		"\n"
		"  -p, --pin-dir DIR  where maps, program and links are pinned (default " MG_DEFAULT_PIN_DIR ")\n"
		"  -v, --verbose      debug messages, libbpf's included (repeatable)\n"
		"  -h, --help\n"
		"  -V, --version\n"
		"\n"
		"Commands:\n"
		"  load [LOAD OPTIONS]          load the program; pin maps and program under PIN_DIR\n"
		"  attach IFACE [--mode native|generic|auto] [LOAD OPTIONS]\n"
		"                               attach (loading first if needed); the link is pinned\n"
		"  detach IFACE                 remove the attachment made by attach\n"
		"  unload                       detach every pinned link and remove PIN_DIR\n"
		"  stats [--json]               global counters, summed over CPUs\n"
		"  source ADDR [--json]         per-source counters (IPv6 looked up by its /64)\n"
		"  block PREFIX [--action smtp|all] [--ttl SECONDS]\n"
		"  allow PREFIX                 allowlist: always wins over a block\n"
		"  unblock PREFIX               remove the block rule for exactly PREFIX\n"
		"  disallow PREFIX              remove the allow rule for exactly PREFIX\n"
		"  rules [--json]               list allow and block rules\n"
		"  monitor on|off               count would-be drops instead of dropping\n"
		"\n"
		"Load options:\n"
		"  --max-sources N   per-source LRU size (default %u)\n"
		"  --mx-ports LIST   comma-separated MX ports (default 25)\n"
		"  --submission-ports LIST  (default 465,587)\n"
		"  --v6-prefix N     IPv6 per-source aggregation prefix (default 64)\n"
		"  --uplink IFACE    servers' SYN-ACKs and replies count only from uplinks (repeatable; default: any)\n"
		"\n"
		"libbpf's warnings (a verifier rejection among them) always show; -v adds its info and debug.\n",
		MG_DEFAULT_MAX_SOURCES);
}

static int fail(const char *what, int err)
{
	mg_err("%s: %s", what, strerror(err < 0 ? -err : err));
	return 1;
}

static int parse_ports(const char *s, __u16 out[MG_PORTS_PER_CLASS])
{
	char *copy = strdup(s), *save = NULL;
	int n = 0, err = 0;

	if (!copy)
		return -ENOMEM;
	memset(out, 0, sizeof(__u16) * MG_PORTS_PER_CLASS);
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *end;
		long v = strtol(tok, &end, 10);
		if (*end || v <= 0 || v > 65535 || n >= MG_PORTS_PER_CLASS) {
			err = -EINVAL;
			break;
		}
		out[n++] = (__u16)v;
	}
	free(copy);
	return err;
}

enum { OPT_MAX_SOURCES = 256, OPT_MX_PORTS, OPT_SUB_PORTS, OPT_V6_PREFIX, OPT_MODE, OPT_JSON, OPT_ACTION, OPT_TTL,
       OPT_UPLINK };

static const struct option cmd_opts[] = {
	{ "max-sources", required_argument, NULL, OPT_MAX_SOURCES },
	{ "mx-ports", required_argument, NULL, OPT_MX_PORTS },
	{ "submission-ports", required_argument, NULL, OPT_SUB_PORTS },
	{ "v6-prefix", required_argument, NULL, OPT_V6_PREFIX },
	{ "mode", required_argument, NULL, OPT_MODE },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "action", required_argument, NULL, OPT_ACTION },
	{ "ttl", required_argument, NULL, OPT_TTL },
	{ "uplink", required_argument, NULL, OPT_UPLINK }, /* in enum order: the error message indexes by it */
	{ NULL, 0, NULL, 0 },
};

struct cmd_args {
	struct mg_load_opts load;
	enum mg_xdp_mode mode;
	bool json;
	uint8_t action;
	uint64_t ttl;
	int npos;
	char *pos[4];
};

static int parse_cmd_args(int argc, char **argv, struct cmd_args *a)
{
	int c;

	mg_load_opts_default(&a->load);
	a->load.pin_dir = pin_dir;
	a->action = MG_ACT_DROP_SMTP;
	optind = 0; /* 0, not 1: glibc then resets its state for the new argv */
	while ((c = getopt_long(argc, argv, "", cmd_opts, NULL)) != -1) {
		char *end;
		switch (c) {
		case OPT_MAX_SOURCES:
			a->load.max_sources = (uint32_t)strtoul(optarg, &end, 10);
			if (*end || !a->load.max_sources)
				goto bad;
			break;
		case OPT_MX_PORTS:
			if (parse_ports(optarg, a->load.tunables.mx_ports))
				goto bad;
			break;
		case OPT_SUB_PORTS:
			if (parse_ports(optarg, a->load.tunables.submission_ports))
				goto bad;
			break;
		case OPT_V6_PREFIX: {
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end || v > 128)
				goto bad;
			a->load.tunables.v6_src_prefix = (uint8_t)v;
			break;
		}
		case OPT_MODE:
			if (mg_parse_mode(optarg, &a->mode))
				goto bad;
			break;
		case OPT_JSON:
			a->json = true;
			break;
		case OPT_ACTION:
			if (mg_action_parse(optarg, &a->action))
				goto bad;
			break;
		case OPT_TTL:
			a->ttl = strtoull(optarg, &end, 10);
			if (*end)
				goto bad;
			break;
		case OPT_UPLINK:
			if (mg_load_opts_uplink(&a->load, optarg))
				goto bad;
			break;
		default:
			return -1;
		}
	}
	for (int i = optind; i < argc; i++) {
		if (a->npos >= 4)
			return -1;
		a->pos[a->npos++] = argv[i];
	}
	return 0;
bad:
	mg_err("bad value for --%s: '%s'", cmd_opts[c - OPT_MAX_SOURCES].name, optarg);
	return -1;
}

/*
 * Commands that write (load, attach, rules, monitor) take the pin directory's
 * lock. A running mtaguardd holds it: its engine is then the one writer of
 * the rules, and a rule written beside it would be unknown to its ledger (and
 * could race its writes to the rule index). detach and unload do not ask:
 * they are the way out, and must work whatever runs.
 */
static int take_pin_lock(const char *cmd)
{
	int fd = mg_pin_lock(pin_dir, 0);

	if (fd == -EWOULDBLOCK)
		mg_err("%s: mtaguardd runs with %s and its engine owns the rules and settings there; "
		       "use mtaguardctl (block, allow, monitor...), or stop the daemon first", cmd, pin_dir);
	else if (fd < 0)
		mg_err("%s: cannot lock %s: %s", cmd, pin_dir, strerror(-fd));
	return fd;
}

/* Open the pinned instance, or load it if nothing is pinned yet. */
static int open_or_load(struct cmd_args *a, struct mg_handle *h, bool may_load)
{
	int err = mg_open_pinned(pin_dir, h);

	if (err == 0 || !may_load)
		return err;
	mg_dbg("nothing usable pinned under %s (%s): loading", pin_dir, strerror(-err));
	return mg_load(&a->load, h);
}

static void print_json(json_t *o)
{
	char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (s)
		puts(s);
	free(s);
	json_decref(o);
}

static int cmd_stats(struct cmd_args *a, struct mg_handle *h)
{
	struct mg_global_stats s;
	int err = mg_stats_read(h->stats_fd, &s);

	if (err)
		return fail("reading mg_stats", err);
	if (a->json) {
		print_json(mg_stats_json(&s));
		return 0;
	}
	json_t *o = mg_stats_json(&s);
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v) {
		if (json_is_integer(v))
			printf("%-24s %llu\n", k, (unsigned long long)json_integer_value(v));
	}
	printf("%-24s %llu\n%-24s %llu\n", "drop_reason.block_smtp", (unsigned long long)s.drop_reason[0],
	       "drop_reason.block_all", (unsigned long long)s.drop_reason[1]);
	json_decref(o);
	return 0;
}

static int cmd_source(struct cmd_args *a, struct mg_handle *h)
{
	uint8_t key[16];
	struct mg_src_stats s;
	const char *table;
	char buf[MG_ADDRSTRLEN];

	if (a->npos != 1 || mg_addr_parse(a->pos[0], key)) {
		mg_err("source needs one address");
		return 2;
	}
	if (!mg_addr_is_v4(key))
		mg_addr_mask(key, 64); /* the kernel's default aggregation; profiles are per /64 */
	if (mg_source_read(h->servers_fd, h->sources_fd, key, &s, &table)) {
		mg_err("no profile for %s", mg_addr_str(key, buf, sizeof(buf)));
		return 1;
	}
	json_t *o = mg_source_json(key, &s, table);
	if (a->json) {
		print_json(o);
		return 0;
	}
	printf("source %s (%s)\n", json_string_value(json_object_get(o, "addr")), table);
	printf("  mac %s  vlan %u/%u\n", json_string_value(json_object_get(o, "mac")), s.vlan_outer, s.vlan_inner);
	printf("  SYNs: mx %u, submission %u, other %u; SYN-ACKs from SMTP ports %u\n", s.syn_mx,
	       s.syn_submission, s.syn_other, s.synack_smtp);
	printf("  MX destinations (estimate) %u\n", mg_distinct_estimate(s.mx_dst_bits));
	printf("  commands:");
	for (unsigned i = 0; i < MG_CMD_MAX; i++)
		printf(" %s=%u", mg_cmd_name(i), s.cmd[i]);
	printf("\n  replies: 2xx=%u 4xx=%u 5xx=%u\n", s.reply[0], s.reply[1], s.reply[2]);
	printf("  helo hash %08x, SYN fingerprint hash %08x\n", s.helo_hash, s.syn_fp_hash);
	json_decref(o);
	return 0;
}

struct rules_ctx {
	bool json;
	json_t *arr;
	uint64_t now;
};

static int print_rule(const struct mg_prefix *p, const struct mg_rule *r, void *arg)
{
	struct rules_ctx *c = arg;
	char buf[MG_ADDRSTRLEN];
	const char *kind = r->kind == MG_RULE_ALLOW ? "allow" : "block";
	const char *action = r->kind == MG_RULE_ALLOW ? "-" : mg_action_name(r->action);
	long long left = r->expires_ns ? (long long)(r->expires_ns - c->now) / (long long)MG_NSEC_PER_SEC : -1;

	mg_prefix_str(p, buf, sizeof(buf));
	if (c->json) {
		json_t *o = json_object();
		json_object_set_new(o, "prefix", json_string(buf));
		json_object_set_new(o, "kind", json_string(kind));
		json_object_set_new(o, "action", json_string(action));
		json_object_set_new(o, "hits", json_integer((json_int_t)r->hits));
		json_object_set_new(o, "expires_in_s", r->expires_ns ? json_integer(left) : json_null());
		json_array_append_new(c->arr, o);
	} else {
		printf("%-44s %-6s %-5s %12llu  %s\n", buf, kind, action, (unsigned long long)r->hits,
		       r->expires_ns ? (left > 0 ? "expires" : "expired") : "never");
	}
	return 0;
}

static int cmd_rules(struct cmd_args *a, struct mg_handle *h)
{
	struct rules_ctx c = { .json = a->json, .arr = json_array(), .now = mg_mono_ns() };

	if (!a->json)
		printf("%-44s %-6s %-5s %12s  %s\n", "PREFIX", "KIND", "DROP", "HITS", "EXPIRY");
	mg_rulemap_foreach(h->allow4_fd, h->allow_fd, print_rule, &c);
	mg_rulemap_foreach(h->block4_fd, h->block_fd, print_rule, &c);
	if (a->json)
		print_json(c.arr);
	else
		json_decref(c.arr);
	return 0;
}

static int cmd_rule_edit(const char *cmd, struct cmd_args *a, struct mg_handle *h)
{
	struct mg_prefix p;
	int err;

	if (a->npos != 1 || mg_prefix_parse(a->pos[0], &p)) {
		mg_err("%s needs one address or prefix", cmd);
		return 2;
	}
	if (!strcmp(cmd, "block"))
		err = mg_rulemap_block(&h->rules, &p, a->action, a->ttl);
	else if (!strcmp(cmd, "allow"))
		err = mg_rulemap_allow(&h->rules, &p);
	else if (!strcmp(cmd, "disallow"))
		err = mg_rulemap_unallow(&h->rules, &p);
	else
		err = mg_rulemap_unblock(&h->rules, &p);
	if (err == -ENOENT) {
		mg_err("%s: no %s rule for exactly %s", cmd,
			strcmp(cmd, "disallow") ? "block" : "allow", a->pos[0]);
		return 1;
	}
	return err ? fail(cmd, err) : 0;
}

int main(int argc, char **argv)
{
	static const struct option global_opts[] = {
		{ "pin-dir", required_argument, NULL, 'p' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct mg_handle h;
	struct cmd_args a = {};
	int c, err, rc = 0;

	mg_log_init("mtaguard-loader");
	while ((c = getopt_long(argc, argv, "+p:vhV", global_opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			pin_dir = optarg;
			break;
		case 'v':
			mg_log_verbose();
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			puts("mtaguard-loader " MG_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[optind];
	if (parse_cmd_args(argc - optind, argv + optind, &a)) {
		usage(stderr);
		return 2;
	}
	mg_log_libbpf();
	mg_dbg("%s, pin directory %s", cmd, pin_dir);

	if (!strcmp(cmd, "unload")) {
		err = mg_unload(pin_dir);
		return err ? fail("unload", err) : 0;
	}
	if (!strcmp(cmd, "detach")) {
		if (a.npos != 1)
			return usage(stderr), 2;
		err = mg_detach(pin_dir, a.pos[0]);
		return err ? fail("detach", err) : 0;
	}

	bool loads = !strcmp(cmd, "load") || !strcmp(cmd, "attach");
	bool edits = !strcmp(cmd, "block") || !strcmp(cmd, "allow") || !strcmp(cmd, "unblock") ||
		     !strcmp(cmd, "disallow") || !strcmp(cmd, "monitor");
	int lock = -1;
	/* A loading command locks first (it may create the pins); an edit once it found them. */
	if (loads && (lock = take_pin_lock(cmd)) < 0)
		return 1;
	if (!strcmp(cmd, "load"))
		err = mg_load(&a.load, &h);
	else
		err = open_or_load(&a, &h, loads);
	if (err) {
		if (lock >= 0)
			close(lock);
		if (err == -EPERM)
			mg_err("permission denied: loading BPF needs root (CAP_BPF, CAP_NET_ADMIN)");
		if (err == MG_ERR_OLD_PINS)
			mg_err("%s: " MG_OLD_PINS_HINT, pin_dir);
		return fail(loads ? "loading the XDP program" : "opening pinned maps (is it loaded?)", err);
	}
	if (edits && (lock = take_pin_lock(cmd)) < 0) {
		mg_close(&h);
		return 1;
	}

	if (!strcmp(cmd, "load")) {
		rc = 0;
	} else if (!strcmp(cmd, "attach")) {
		if (a.npos != 1) {
			usage(stderr);
			rc = 2;
		} else if ((err = mg_attach(&h, a.pos[0], a.mode))) {
			rc = fail(a.pos[0], err);
		}
	} else if (!strcmp(cmd, "stats")) {
		rc = cmd_stats(&a, &h);
	} else if (!strcmp(cmd, "source")) {
		rc = cmd_source(&a, &h);
	} else if (!strcmp(cmd, "rules")) {
		rc = cmd_rules(&a, &h);
	} else if (!strcmp(cmd, "block") || !strcmp(cmd, "allow") || !strcmp(cmd, "unblock") ||
		   !strcmp(cmd, "disallow")) {
		rc = cmd_rule_edit(cmd, &a, &h);
	} else if (!strcmp(cmd, "monitor")) {
		if (a.npos != 1 || (strcmp(a.pos[0], "on") && strcmp(a.pos[0], "off"))) {
			mg_err("monitor on|off");
			rc = 2;
		} else if ((err = mg_set_monitor(h.settings_fd, !strcmp(a.pos[0], "on")))) {
			rc = fail("monitor", err);
		}
	} else {
		mg_err("unknown command '%s'", cmd);
		usage(stderr);
		rc = 2;
	}
	mg_close(&h);
	if (lock >= 0)
		close(lock);
	return rc;
}
