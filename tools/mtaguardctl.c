// SPDX-License-Identifier: GPL-2.0-only
/*
 * mtaguardctl - inspect and steer a running mtaguardd over its control socket.
 * Tables for people by default; --json prints the daemon's answer as is.
 */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

#include "ctl_fail.h"
#include "ctl_feed.h"
#include "mg_addr.h"
#include "mg_ctlsock.h"
#include "mg_eventlog.h"
#include "mg_human.h"
#include "mg_log.h"

#define DEFAULT_SOCKET "/run/mtaguard/control.sock"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: mtaguardctl [-v] [-s SOCKET] [--json] COMMAND [ARGS]\n"
		"\n"
		"  status                         interfaces, mode, counters, sources by role, verdicts\n"
		"  top [N]                        the N busiest SMTP sources (default 20)\n"
		"  show ADDR|PREFIX               a source's profile, role, and why it is or is not blocked\n"
		"  roles                          the inventory: mail servers, end hosts, suspects, blocked\n"
		"  verdicts [--by OWNER] [-o NODE|LIST] [--source PREFIX]\n"
		"                                 blocks in force, with their evidence or the operator's comment\n"
		"  block PREFIX [-d DURATION] [-a smtp|all] [-m COMMENT] [-f]\n"
		"                                 refused without -f when it covers a protected network, or covers\n"
		"                                 or lies inside a mail server or an allowlisted prefix\n"
		"  unblock PREFIX\n"
		"  allow PREFIX [-d DURATION] [-m COMMENT] [-f]\n"
		"                                 never drop, never block (for DURATION, or until disallowed)\n"
		"  disallow PREFIX\n"
		"  allowlist                      every allow rule: configured, known mail servers, the operator's\n"
		"  monitor [on|off]               log what would be blocked instead of blocking; alone: the state\n"
		"  outbreaks                      the threat level and each active outbreak, with its members\n"
		"  except add|remove SIG|PREFIX   exempt a signature (fp:1a2b3c4d, helo:NAME or its hash helo:1a2b3c4d,\n"
		"                                 shape:.../ehlo) or a prefix from outbreak handling\n"
		"  except list\n"
		"  quarantine list                mail held on the relay by mtaguard (ID, client, sender, reason, age)\n"
		"  quarantine release|delete ID   release (after a ClamAV scan, if installed) or delete one\n"
		"  quarantine release -S SIG      release every held message of an outbreak signature\n"
		"  import FILE|- -o ORIGIN [-a smtp|all] [-t TTL] [--sync]\n"
		"                                 block every prefix of a CIDR list (one a line, ';'/'#' comments:\n"
		"                                 the DROP format) as ORIGIN; --sync removes ORIGIN's prefixes\n"
		"                                 the list no longer has\n"
		"  import --drop -o ORIGIN        forget ORIGIN's list and lift its blocks\n"
		"  export -o ORIGIN [-F cidr|json] ORIGIN's list as imported\n"
		"\n"
		"  -s, --socket PATH     control socket (default " DEFAULT_SOCKET ")\n"
		"  -j, --json            print the daemon's JSON answer; failures too, as {\"ok\":false,\"error\":...}\n"
		"  -d, --duration TIME   block, allow: how long, 1s to 366d (90s, 10m, 1h, 7d; 0 = until removed;\n"
		"                        block default: the configured block duration; allow: until removed)\n"
		"  -f, --force           block, allow, except add: a prefix wider than the configured limit\n"
		"                        (limits.min_prefix_v4/v6, /8 and /32 by default); block: one that reaches\n"
		"                        protected networks, mail servers or allows; logged as a warning\n"
		"  -a, --action WHAT     block: drop smtp (default) or all of the source's traffic\n"
		"  -m, --comment TEXT    block, allow: a note kept with the rule (verdicts, allowlist, the log)\n"
		"  -S, --signature SIG   quarantine release: every message held for this outbreak\n"
		"  -o, --origin NAME     import, export: the list's name (letters, digits, '.', '_', '-');\n"
		"                        verdicts: only blocks from that cluster node or imported list\n"
		"      --by OWNER        verdicts: only blocks by analyzer, operator, cluster, bgp, feed or pinned\n"
		"      --source PREFIX   verdicts: only blocks that hold that address or lie inside that prefix\n"
		"  -t, --ttl TIME        import: the list's prefixes expire after TIME unless imported again\n"
		"      --sync            import: ORIGIN becomes exactly the list\n"
		"  -F, --format FMT      export: cidr (default; import reads it back) or json\n"
		"  -v, --verbose         debug messages: the socket, the request and the answer (repeatable)\n"
		"  -h, --help\n"
		"  -V, --version\n"
		"\n"
		"Exit status: 0 done, 1 the daemon refused, 2 usage (import: a bad list), 3 no daemon to talk to, 4 permission\n"
		"denied on the socket, 5 the answer was cut off, unreadable or too late (%d s), 6 the answer could not be\n"
		"written to standard output.\n",
		MG_CTL_CLIENT_TIMEOUT_MS / 1000);
}

/* Exit status for a request that got no answer: who is to blame tells the operator what to do. */
static int exit_code(enum mg_ctl_status st)
{
	switch (st) {
	case MG_CTL_DENIED:
		return 4;
	case MG_CTL_TRUNCATED:
	case MG_CTL_UNREADABLE:
	case MG_CTL_TIMEOUT:
		return 5;
	default:
		return 3; /* no daemon there, or we could not even try */
	}
}

static const char *s(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_string(v) ? json_string_value(v) : "-";
}

/* An operator's comment, kept on its row of the table (mg_escape_line). */
static const char *note(json_t *o, char *buf, size_t len)
{
	return mg_escape_line(json_object_get(o, "comment") ? s(o, "comment") : "", buf, len);
}

static long long n(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_integer(v) ? json_integer_value(v) : json_is_real(v) ? (long long)json_real_value(v) : 0;
}

/* The client's clock when the answer came: the daemon's times are read against it. */
static int64_t now_s;

/*
 * An instant the daemon names ("2026-12-02T10:00:00Z") as people read it:
 * "in 1h59m", "3m ago"; "-" when there is none. --json keeps the exact time.
 */
static const char *when(json_t *o, const char *k, char *buf, size_t len)
{
	int64_t t;

	if (mg_iso_parse(s(o, k), &t))
		return s(o, k);
	return mg_human_when(t - now_s, buf, len);
}

/* A count of seconds as "1h59m". */
static const char *dur(long long secs, char *buf, size_t len)
{
	return mg_human_duration(secs > 0 ? (uint64_t)secs : 0, buf, len);
}

/* "N thing" or "N things": the count and its word. */
#define CNT(v, one, many) (v), mg_plural((v), one, many)

static void print_sources(json_t *arr)
{
	size_t i;
	json_t *v;

	printf("%-28s %-12s %6s %6s %8s %8s %6s  %s\n", "SOURCE", "ROLE", "SCORE", "MX", "SYN/MIN", "SESSIONS",
	       "RCPT", "HELO");
	json_array_foreach(arr, i, v) {
		json_t *ev = json_object_get(v, "evidence");
		printf("%-28s %-12s %6.1f %6lld %8lld %8lld %6lld  %s\n", s(v, "source"), s(v, "role"),
		       json_number_value(json_object_get(v, "score")), n(ev, "distinct_mx"), n(ev, "syn_mx_per_min"),
		       n(ev, "sessions"), n(ev, "rcpts"), s(ev, "helo"));
	}
}

/* " web 40, dns 12, other_tcp 3, mx 0 (~2 hosts)": flows a protected address started; "" without a record. */
static void print_protected_flows(json_t *prot, char *buf, size_t len)
{
	json_t *f = json_object_get(prot, "flows");

	buf[0] = '\0';
	if (!prot)
		return;
	int w = snprintf(buf, len, "  web %lld, dns %lld, other_tcp %lld, mx %lld", n(f, "web"), n(f, "dns"),
			 n(f, "other_tcp"), n(f, "mx"));
	if (w > 0 && (size_t)w < len && json_object_get(prot, "hosts_estimate"))
		snprintf(buf + w, len - (size_t)w, " (~%lld hosts)", n(prot, "hosts_estimate"));
}

static void print_evidence(json_t *ev, const char *indent)
{
	json_t *r = json_object_get(ev, "replies");
	char t1[32], t2[32];

	/* No rule fired (a score below every threshold): say so, not "rule , score". */
	if (json_is_string(json_object_get(ev, "rule")) && *s(ev, "rule"))
		printf("%srule %s, score %.1f\n", indent, s(ev, "rule"), json_number_value(json_object_get(ev, "score")));
	else
		printf("%sno rule fired, score %.1f\n", indent, json_number_value(json_object_get(ev, "score")));
	printf("%s%lld %s, %lld %s/min to port 25, %lld %s, %lld %s; replies 2xx %lld 4xx %lld 5xx %lld\n", indent,
	       CNT(n(ev, "distinct_mx"), "MX host", "MX hosts"), CNT(n(ev, "syn_mx_per_min"), "SYN", "SYNs"),
	       CNT(n(ev, "sessions"), "session", "sessions"), CNT(n(ev, "rcpts"), "RCPT", "RCPTs"), n(r, "2xx"),
	       n(r, "4xx"), n(r, "5xx"));
	/* A text let go (detection.helo_texts) is said to be so, with what was kept of it. */
	if (json_is_false(json_object_get(ev, "helo_text_kept")))
		printf("%sHELO text not kept; hash %s, shape %s, %lld %s\n", indent, s(ev, "helo_hash"),
		       s(ev, "helo_shape"), CNT(n(ev, "distinct_helos"), "HELO name in all", "HELO names in all"));
	else
		printf("%sHELO \"%s\" (%s), %lld %s\n", indent, s(ev, "helo"), s(ev, "helo_shape"),
		       CNT(n(ev, "distinct_helos"), "HELO name in all", "HELO names in all"));
	if (json_is_string(json_object_get(ev, "helo_absurd")))
		printf("%sHELO names no mail host: %s\n", indent, s(ev, "helo_absurd"));
	/* Source verification: each check named with its result, and what it adds to the score. */
	json_t *vf = json_object_get(ev, "verification");
	if (json_is_object(vf))
		printf("%schecks: %s (score +%.1f%s)\n", indent, s(vf, "explanation"),
		       json_number_value(json_object_get(vf, "score")),
		       json_is_string(json_object_get(vf, "forged")) ? ", forged identity" : "");
	printf("%slonger memory: %.1f new MX hosts, %.1f sessions\n", indent,
	       json_number_value(json_object_get(ev, "long_mx")), json_number_value(json_object_get(ev, "long_sessions")));
	printf("%sMAC %s, VLAN %lld, first evidence %s, role before %s\n", indent, s(ev, "mac"), n(ev, "vlan"),
	       when(ev, "first_evidence", t1, sizeof(t1)), s(ev, "role_before"));
	json_t *hosts = json_object_get(ev, "hosts"), *h;
	size_t i;
	if (json_array_size(hosts))
		printf("%shosts seen in this prefix (most recent first%s):\n", indent,
		       n(ev, "hosts_more") ? "; older ones let go" : "");
	json_array_foreach(hosts, i, h)
		printf("%s  %-28s MAC %s, VLAN %lld, %lld %s, last seen %s\n", indent, s(h, "addr"), s(h, "mac"),
		       n(h, "vlan"), CNT(n(h, "sessions"), "session", "sessions"), when(h, "last_seen", t2, sizeof(t2)));
	if (n(ev, "hosts_more"))
		printf("%s  and %lld more\n", indent, n(ev, "hosts_more"));
}

/* Other nodes' outbreaks and the threat level they carry here (a cluster only). */
static void print_elsewhere(json_t *r)
{
	json_t *arr = json_object_get(r, "outbreaks_elsewhere"), *o;
	size_t i;

	if (!json_is_array(arr))
		return;
	printf("            here %lld, from other nodes' outbreaks %lld (at most %lld from them)\n", n(r, "threat_level_here"),
	       n(r, "threat_level_elsewhere"), n(r, "threat_level_elsewhere_max"));
	json_array_foreach(arr, i, o)
		printf("  elsewhere %s at %s: level %lld, %lld %s\n", s(o, "signature"), s(o, "node"), n(o, "level"),
		       CNT(n(o, "members"), "member", "members"));
}

static void print_outbreaks(json_t *arr)
{
	json_t *o, *m;
	size_t i, k;
	char t[32];

	json_array_foreach(arr, i, o) {
		printf("  outbreak %s: level %lld, %lld %s (%lld proven), began %s", s(o, "signature"), n(o, "level"),
		       CNT(n(o, "members"), "member", "members"), n(o, "proven_members"), when(o, "since", t, sizeof(t)));
		if (json_object_get(o, "syns_dropped"))
			printf(", %lld %s dropped in the kernel", CNT(n(o, "syns_dropped"), "SYN", "SYNs"));
		printf("\n    %s%s\n", s(o, "why"),
		       !strcmp(s(o, "decision"), "contained") && !json_is_true(json_object_get(o, "contained"))
			       ? " (but outbreak.contain is off)" : "");
		json_array_foreach(json_object_get(o, "member_list"), k, m)
			printf("    %-28s MAC %s VLAN %lld, joined %s\n", s(m, "source"), s(m, "mac"), n(m, "vlan"),
			       when(m, "joined", t, sizeof(t)));
	}
}

/* Imported lists by origin, with their counts. */
static void print_feeds(json_t *arr)
{
	json_t *v;
	size_t i;
	char t[32];

	json_array_foreach(arr, i, v)
		printf("feed        %-20s %8lld %s, drop %s, imported %s\n", s(v, "origin"),
		       CNT(n(v, "prefixes"), "prefix", "prefixes"), s(v, "action"), when(v, "updated", t, sizeof(t)));
}

static void print_human(const char *cmd, json_t *r)
{
	if (!strcmp(cmd, "status")) {
		json_t *k = json_object_get(r, "kernel"), *roles = json_object_get(r, "sources_by_role"), *ifs, *v;
		const char *key;
		size_t i;
		printf("mode        %s\n", json_is_true(json_object_get(r, "monitor")) ? "monitor (nothing is dropped)" : "enforcing");
		char t[32];
		printf("interfaces ");
		ifs = json_object_get(r, "interfaces");
		/* The mode in use, as the kernel reports it ("auto" is what was asked for, not what runs). */
		json_array_foreach(ifs, i, v) {
			const char *up = json_is_true(json_object_get(v, "uplink")) ? ", uplink" : "";
			long long again = n(v, "reattached");
			char more[48] = "";
			/* A device of that name made anew and given the program again: the operator may want to know why. */
			if (again)
				snprintf(more, sizeof(more), ", attached again %lld %s", again, again == 1 ? "time" : "times");
			if (!json_is_string(json_object_get(v, "attached")))
				printf(" %s (NOT attached%s%s)", s(v, "name"), up, more);
			else
				printf(" %s (%s%s%s)", s(v, "name"), s(v, "attached"), up, more);
		}
		printf("\npin dir     %s\nuptime      %s\n", s(r, "pin_dir"), dur(n(r, "uptime_s"), t, sizeof(t)));
		if (json_is_string(json_object_get(r, "pending_restart")))
			printf("restart     the config file changes %s: running as before until a restart\n",
			       s(r, "pending_restart"));
		printf("sources     %lld:", n(r, "sources"));
		json_object_foreach(roles, key, v)
			printf(" %s %lld", key, (long long)json_integer_value(v));
		json_t *proc = json_object_get(r, "process");
		if (json_is_object(proc)) {
			char mem[32], lim[48] = "";
			if (n(proc, "max_fds"))
				snprintf(lim, sizeof(lim), " of %lld", n(proc, "max_fds"));
			printf("\nmemory      %s resident; %lld descriptors open%s",
			       mg_human_bytes((uint64_t)n(proc, "resident_bytes"), mem, sizeof(mem)), n(proc, "open_fds"),
			       lim);
		}
		printf("\nverdicts    %lld active, %lld issued, %lld %s\n", n(r, "verdicts_active"),
		       n(r, "verdicts_issued"), CNT(n(r, "alerts_issued"), "alert", "alerts"));
		if (n(r, "rule_write_failures"))
			printf("warning     %lld kernel rule %s failed (see the daemon's log)\n",
			       CNT(n(r, "rule_write_failures"), "write", "writes"));
		if (n(r, "rule_read_failures"))
			printf("warning     %lld %s of the kernel's rules failed at start: those rules were not adopted "
			       "(see the daemon's log)\n", CNT(n(r, "rule_read_failures"), "read", "reads"));
		json_t *save = json_object_get(r, "state_save");
		if (json_is_string(json_object_get(save, "error"))) {
			json_t *age = json_object_get(save, "last_saved_s");
			if (json_is_integer(age))
				printf("warning     saving the state failed: %s (last written %s ago)\n", s(save, "error"),
				       dur(json_integer_value(age), t, sizeof(t)));
			else
				printf("warning     saving the state failed: %s (not written since start)\n",
				       s(save, "error"));
		}
		if (n(r, "feed_expiries_deferred"))
			printf("warning     imported prefixes' expiry put off %lld %s for want of memory (retried at every "
			       "scan)\n", CNT(n(r, "feed_expiries_deferred"), "time", "times"));
		printf("kernel      packets %lld, passed %lld, dropped %lld (smtp %lld, all %lld), allowlisted %lld,\n"
		       "            parse errors %lld, L4 unreached %lld, SYNs to SMTP %lld, commands %lld, events lost %lld\n",
		       n(k, "packets"), n(k, "passed"), n(k, "dropped"),
		       n(json_object_get(k, "drop_reason"), "block_smtp"), n(json_object_get(k, "drop_reason"), "block_all"),
		       n(k, "allowlisted"), n(k, "parse_errors"), n(k, "l4_unknown"), n(k, "syn_smtp"), n(k, "smtp_cmds"),
		       n(k, "events_lost"));
		printf("handshake   %s: %lld MX-port handshakes seen complete, %lld commands not counted without one\n",
		       s(r, "handshake"), n(k, "flows_established"), n(k, "cmds_unproven"));
		/* An inside mail server answering inside clients, or an inside host forging a server: which, the operator knows. */
		if (n(k, "server_side_refused"))
			printf("            %lld SYN-ACKs or replies from MX ports ignored: they arrived inside, toward "
			       "inside clients\n", n(k, "server_side_refused"));
		printf("last scan   %.1f ms\n", json_number_value(json_object_get(r, "scan_ms")));
		if (n(r, "protected_networks") > 0)
			printf("protected   %lld %s: senders outside them are inbound (held at the relay, never "
			       "contained)\n", CNT(n(r, "protected_networks"), "network", "networks"));
		else
			printf("protected   none configured: every source is taken as one of ours\n");
		long long nob = (long long)json_array_size(json_object_get(r, "outbreaks"));
		printf("threat      level %lld, %lld %s active\n", n(r, "threat_level"), CNT(nob, "outbreak", "outbreaks"));
		print_elsewhere(r);
		json_t *vf = json_object_get(r, "verify");
		if (json_is_true(json_object_get(vf, "enabled"))) {
			json_t *vc = json_object_get(vf, "cache");
			printf("verify      resolvers %s; %lld checked (%lld in progress, %lld refused, %lld timed out), "
			       "%.1f queries each, %lld sent (%lld over the rate bound); cache %lld answers, %lld bytes, "
			       "%.0f %% of lookups answered from it\n",
			       s(vf, "resolvers"), n(vf, "jobs_done"), n(vf, "jobs_pending"), n(vf, "jobs_refused"),
			       n(vf, "jobs_timed_out"), json_number_value(json_object_get(vf, "queries_per_job")),
			       n(vf, "queries_sent"), n(vf, "queries_refused"), n(vc, "entries"), n(vc, "bytes"),
			       100 * json_number_value(json_object_get(vc, "job_hit_rate")));
		} else if (json_is_object(vf)) {
			printf("verify      off\n");
		}
		json_t *cl = json_object_get(r, "cluster");
		if (json_is_object(cl)) {
			json_t *held = json_object_get(cl, "held_from_others"), *oc = json_object_get(cl, "outcomes");
			if (json_is_true(json_object_get(cl, "connected")))
				printf("cluster     node %s, bucket %s, connected to %s%s; lag %.1f ms (max %.1f)\n", s(cl, "node"),
				       s(cl, "bucket"), s(cl, "server"),
				       json_is_true(json_object_get(cl, "synced")) ? "" : ", still reading what is in force",
				       json_number_value(json_object_get(cl, "lag_ms")),
				       json_number_value(json_object_get(cl, "max_lag_ms")));
			else
				printf("cluster     node %s, bucket %s, NOT connected for %s (this node goes on alone): %s\n",
				       s(cl, "node"), s(cl, "bucket"),
				       dur((long long)json_number_value(json_object_get(cl, "down_for_s")), t, sizeof(t)),
				       s(cl, "last_error"));
			printf("            %lld written (%lld failed), %lld received: %lld taken, %lld refused "
			       "(breaker %lld, too wide %lld, kinds not taken %lld); held from others: %lld verdicts, "
			       "%lld blocks, %lld allows\n",
			       n(cl, "sent"), n(cl, "send_errors"), n(cl, "received"), n(oc, "taken"),
			       n(oc, "breaker") + n(oc, "too-wide") + n(oc, "not-accepted") + n(oc, "full") +
				       n(oc, "unreadable"),
			       n(oc, "breaker"), n(oc, "too-wide"), n(oc, "not-accepted"), n(held, "verdicts"),
			       n(held, "blocks"), n(held, "allows"));
			if (n(cl, "deletes_lost"))
				printf("warning     %lld %s of this node's lifted rules could not be kept for a retry (out "
				       "of memory): the others hold them until they expire or this node resyncs\n",
				       CNT(n(cl, "deletes_lost"), "delete", "deletes"));
		}
		print_outbreaks(json_object_get(r, "outbreaks"));
		print_feeds(json_object_get(r, "feeds"));
	} else if (!strcmp(cmd, "outbreaks")) {
		printf("threat level %lld\n", n(r, "threat_level"));
		print_elsewhere(r);
		print_outbreaks(json_object_get(r, "outbreaks"));
	} else if (!strcmp(cmd, "quarantine") && json_object_get(r, "held")) {
		json_t *v;
		size_t i;
		char age[32];
		printf("%-14s %-18s %-28s %-9s %8s  %s\n", "QUEUE ID", "CLIENT", "SENDER", "REASON", "AGE", "RECIPIENTS");
		json_array_foreach(json_object_get(r, "held"), i, v)
			printf("%-14s %-18s %-28s %-9s %8s  %s%s%s%s%s%s\n", s(v, "queue_id"), s(v, "client"),
			       s(v, "sender"), s(v, "reason"), dur(n(v, "age_s"), age, sizeof(age)), s(v, "recipients"),
			       json_is_string(json_object_get(v, "signature")) ? "  " : "",
			       json_is_string(json_object_get(v, "signature")) ? s(v, "signature") : "",
			       json_is_string(json_object_get(v, "scan")) ? "  [scan: " : "",
			       json_is_string(json_object_get(v, "scan")) ? s(v, "scan") : "",
			       json_is_string(json_object_get(v, "scan")) ? "]" : "");
	} else if (!strcmp(cmd, "quarantine")) {
		json_t *v;
		size_t i;
		json_array_foreach(json_object_get(r, "done"), i, v) {
			const char *id = s(v, "queue_id"), *e = s(v, "error");
			/* A failure's reason, which names the message itself when it can. */
			if (json_object_get(v, "error"))
				printf("%s%s%s\n", strncmp(e, id, strlen(id)) ? id : "", strncmp(e, id, strlen(id)) ? ": " : "", e);
			else
				printf("%s: done, scan: %s\n", id, s(v, "scan"));
		}
	} else if (!strcmp(cmd, "except") && json_object_get(r, "exceptions")) {
		json_t *v;
		size_t i;
		json_array_foreach(json_object_get(r, "exceptions"), i, v)
			printf("%s\n", json_string_value(v));
	} else if (!strcmp(cmd, "top")) {
		print_sources(json_object_get(r, "sources"));
	} else if (!strcmp(cmd, "roles")) {
		static const char *const order[] = { "mail_server", "end_host", "suspect", "blocked", "unknown" };
		for (size_t i = 0; i < 5; i++) {
			json_t *arr = json_object_get(r, order[i]);
			printf("%s (%zu)\n", order[i], json_array_size(arr));
			size_t j;
			json_t *v;
			json_array_foreach(arr, j, v) {
				char flows[128] = "";
				print_protected_flows(json_object_get(json_object_get(v, "activity"), "protected"), flows,
						      sizeof(flows));
				printf("  %-28s score %.1f%s%s\n", s(v, "source"), json_number_value(json_object_get(v, "score")),
				       json_is_true(json_object_get(v, "configured_mail_server")) ? " (configured)" : "", flows);
			}
		}
	} else if (!strcmp(cmd, "show")) {
		char t1[32], t2[32], buf[1024];
		printf("%s: %s\n", s(r, "addr"), s(r, "why"));
		if (json_is_true(json_object_get(r, "known"))) {
			printf("  role %s, score %.1f, %lld %s, first seen %s, last seen %s\n", s(r, "role"),
			       json_number_value(json_object_get(r, "score")), CNT(n(r, "offences"), "offence", "offences"),
			       when(r, "first_seen", t1, sizeof(t1)), when(r, "last_seen", t2, sizeof(t2)));
			if (json_object_get(r, "blocked_until"))
				printf("  the analyzer's block ends %s\n", when(r, "blocked_until", t1, sizeof(t1)));
			print_evidence(json_object_get(r, "evidence"), "  ");
			json_t *act = json_object_get(r, "activity");
			printf("  since first seen: %lld SYNs to submission ports, %lld to other ports; %s\n",
			       n(act, "submission_syns"), n(act, "other_syns"),
			       n(act, "serves_smtp") ? "serves SMTP itself" : "serves no SMTP");
		}
		if (json_object_get(r, "role") && !json_is_true(json_object_get(r, "known")))
			printf("  role %s (from its activity record; no profile), last seen %s\n", s(r, "role"),
			       when(r, "last_seen", t1, sizeof(t1)));
		json_t *prot = json_object_get(json_object_get(r, "activity"), "protected");
		if (prot) {
			char flows[128];
			print_protected_flows(prot, flows, sizeof(flows));
			printf("  protected network activity:%s\n", flows);
		}
		if (json_is_true(json_object_get(r, "known"))) {
			json_t *hist = json_object_get(r, "history"), *h;
			size_t i;
			json_array_foreach(hist, i, h)
				printf("  %-10s %s -> %s\n", when(h, "time", t1, sizeof(t1)), s(h, "from"), s(h, "to"));
		}
		json_t *k = json_object_get(r, "kernel");
		if (k) {
			json_t *c = json_object_get(k, "cmd");
			printf("  kernel: SYNs mx %lld, submission %lld, other %lld; HELO %lld EHLO %lld MAIL %lld RCPT %lld DATA %lld QUIT %lld\n",
			       n(k, "syn_mx"), n(k, "syn_submission"), n(k, "syn_other"), n(c, "helo"), n(c, "ehlo"),
			       n(c, "mail"), n(c, "rcpt"), n(c, "data"), n(c, "quit"));
		}
		/* The rule that covers it: which prefix, whose, and the operator's note when it is theirs. */
		json_t *rule = json_object_get(r, "rule");
		if (rule) {
			printf("  rule: %s by %s, drop %s, %lld %s, ", s(rule, "prefix"), s(rule, "by"), s(rule, "action"),
			       CNT(n(rule, "hits"), "hit", "hits"));
			if (n(rule, "expires_in_s") < 0)
				printf("until removed");
			else
				printf("ends in %s", dur(n(rule, "expires_in_s"), t1, sizeof(t1)));
			if (json_object_get(rule, "created"))
				printf("; set %s: %s", when(rule, "created", t2, sizeof(t2)), note(rule, buf, sizeof(buf)));
			printf("\n");
		}
		json_t *allow = json_object_get(r, "allow");
		if (allow) {
			printf("  allow: %s by %s", s(allow, "prefix"), s(allow, "by"));
			if (json_object_get(allow, "created"))
				printf("; set %s: %s", when(allow, "created", t2, sizeof(t2)), note(allow, buf, sizeof(buf)));
			printf("\n");
		}
	} else if (!strcmp(cmd, "verdicts")) {
		json_t *arr = json_object_get(r, "verdicts"), *v;
		char buf[1024], t[32];
		size_t i;
		printf("%-28s %-5s %10s  %-12s %s\n", "SOURCE", "DROP", "HITS", "ENDS", "BY");
		json_array_foreach(arr, i, v) {
			printf("%-28s %-5s %10lld  %-12s %s\n", s(v, "source"), s(v, "action"), n(v, "hits"),
			       json_is_null(json_object_get(v, "expires")) ? "never" : when(v, "expires", t, sizeof(t)),
			       s(v, "by"));
			if (json_object_get(v, "evidence"))
				print_evidence(json_object_get(v, "evidence"), "    ");
			else if (json_object_get(v, "origin"))
				printf("    from other nodes: %s\n", s(v, "origin"));
			else if (json_object_get(v, "origins"))
				printf("    from imported lists: %s\n", s(v, "origins"));
			else if (json_object_get(v, "peer"))
				printf("    FlowSpec route from BGP peer(s): %s\n", s(v, "peer"));
			else if (json_object_get(v, "created"))
				printf("    set %s: %s\n", when(v, "created", t, sizeof(t)), note(v, buf, sizeof(buf)));
		}
		printf("%lld %s, %lld shown\n", CNT(n(r, "total"), "verdict", "verdicts"), n(r, "shown"));
		if (n(r, "feed_blocks"))
			printf("and %lld %s from imported lists (mtaguardctl export -o ORIGIN lists them):\n",
			       CNT(n(r, "feed_blocks"), "block", "blocks"));
		print_feeds(json_object_get(r, "feeds"));
	} else if (!strcmp(cmd, "allowlist")) {
		json_t *arr = json_object_get(r, "allowlist"), *v;
		char buf[1024], t[32];
		size_t i;
		printf("%-28s %10s  %-12s %-20s %s\n", "SOURCE", "HITS", "ENDS", "BY", "COMMENT");
		json_array_foreach(arr, i, v)
			printf("%-28s %10lld  %-12s %-20s %s\n", s(v, "source"), n(v, "hits"),
			       json_is_null(json_object_get(v, "expires")) ? "never" : when(v, "expires", t, sizeof(t)),
			       s(v, "by"), note(v, buf, sizeof(buf)));
	} else {
		printf("ok\n");
	}
}

/*
 * What a change did, in one line, from the daemon's account of it (the
 * prefix as it took it, the end it set); `what` is what was asked for.
 */
static void print_done(const char *cmd, json_t *r, const char *what)
{
	char t[32], buf[1024];
	const char *done = s(r, "done");

	if (!strcmp(cmd, "monitor")) {
		bool on = json_is_true(json_object_get(r, "monitor"));
		printf("monitor mode %s%s\n", json_object_get(r, "done") ? "" : "is ",
		       on ? "on: what would be blocked is logged, nothing is dropped" : "off: enforcing");
	} else if (!strcmp(done, "block") || !strcmp(done, "allow")) {
		printf("%s %s", !strcmp(done, "block") ? "blocked" : "allowed", s(r, "prefix"));
		if (json_object_get(r, "action"))
			printf(" (drop %s)", s(r, "action"));
		if (json_is_string(json_object_get(r, "expires")))
			printf(" for %s, until %s", dur(n(r, "expires_in_s"), t, sizeof(t)), s(r, "expires"));
		else
			printf(" until removed");
		if (json_object_get(r, "comment"))
			printf(": %s", note(r, buf, sizeof(buf)));
		printf("\n");
		if (json_object_get(r, "forced_over"))
			printf("forced: it %s\n", s(r, "forced_over"));
	} else if (!strcmp(done, "unblock") || !strcmp(done, "disallow")) {
		printf("%s %s\n", !strcmp(done, "unblock") ? "unblocked" : "disallowed", s(r, "prefix"));
	} else if (!strcmp(done, "except")) {
		/* A HELO given by its text is kept as its hash: both are said. */
		bool named = what && strcmp(what, s(r, "what")) && !strncmp(what, "helo:", 5);
		printf("%s %s%s%s%s\n", !strcmp(s(r, "op"), "add") ? "excepted from outbreak handling:" : "no longer excepted:",
		       s(r, "what"), named ? " (" : "", named ? what : "", named ? ")" : "");
	} else {
		printf("ok\n");
	}
}

/* A usage error: one line that says what is wrong (not the whole help), and exit status 2. */
static int usage_error(json_t *req, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage_error(json_t *req, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_decref(req);
	return ctl_fail(2, ctl_fail_is_json() ? "%s" : "%s (mtaguardctl --help)", msg);
}

/*
 * A prefix with bits set beyond its length ("198.18.10.5/24") is refused
 * here too, before asking: a usage error, with both readings.
 */
static int check_prefix(json_t *req, const char *text)
{
	struct mg_prefix p;
	char why[256];

	if (mg_prefix_parse_exact(text, &p, why, sizeof(why)) != -EDOM)
		return 0; /* a prefix, or not one at all: the daemon's error says which */
	return usage_error(req, "%s", why);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "duration", required_argument, NULL, 'd' },
		{ "action", required_argument, NULL, 'a' },
		{ "comment", required_argument, NULL, 'm' },
		{ "signature", required_argument, NULL, 'S' },
		{ "force", no_argument, NULL, 'f' },
		{ "origin", required_argument, NULL, 'o' },
		{ "ttl", required_argument, NULL, 't' },
		{ "sync", no_argument, NULL, 'Y' },
		{ "drop", no_argument, NULL, 'D' },
		{ "format", required_argument, NULL, 'F' },
		{ "by", required_argument, NULL, 'B' },
		{ "source", required_argument, NULL, 'R' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = DEFAULT_SOCKET, *dur = NULL, *action = NULL, *comment = NULL, *signature = NULL;
	const char *origin = NULL, *ttl = NULL, *format = "cidr", *by = NULL, *source = NULL;
	int json = 0, force = 0, sync = 0, drop = 0, c;
	char bad_opt[128] = "";

	mg_log_init("mtaguardctl");
	now_s = (int64_t)time(NULL);
	opterr = 0; /* a bad option is said once, in one line, after --json is known */
	while ((c = getopt_long(argc, argv, ":s:jd:a:m:S:fvhVo:t:F:", opts, NULL)) != -1) {
		switch (c) {
		case 's': sock = optarg; break;
		case 'j': json = 1; break;
		case 'd': dur = optarg; break;
		case 'a': action = optarg; break;
		case 'm': comment = optarg; break;
		case 'S': signature = optarg; break;
		case 'f': force = 1; break;
		case 'o': origin = optarg; break;
		case 't': ttl = optarg; break;
		case 'Y': sync = 1; break;
		case 'D': drop = 1; break;
		case 'F': format = optarg; break;
		case 'B': by = optarg; break;
		case 'R': source = optarg; break;
		case 'v': mg_log_verbose(); break;
		case 'h': usage(stdout); return 0;
		case 'V': puts("mtaguardctl " MG_VERSION); return 0;
		case ':':
			if (!bad_opt[0])
				snprintf(bad_opt, sizeof(bad_opt), "%s needs a value", argv[optind - 1]);
			break;
		default:
			if (!bad_opt[0] && optopt)
				snprintf(bad_opt, sizeof(bad_opt), "unknown option '-%c'", optopt);
			else if (!bad_opt[0])
				snprintf(bad_opt, sizeof(bad_opt), "unknown option '%s'", argv[optind - 1]);
			break;
		}
	}
	ctl_fail_json(json);
	if (bad_opt[0])
		return usage_error(NULL, "%s", bad_opt);
	if (optind >= argc)
		return usage_error(NULL, "which command? status, top, show, roles, verdicts, block, allow, monitor, ...");
	const char *cmd = argv[optind];
	const char *arg = optind + 1 < argc ? argv[optind + 1] : NULL;
	if (!strcmp(cmd, "import")) {
		if (!origin || (!arg && !drop))
			return usage_error(NULL, "import needs a file (or - for stdin) and --origin NAME");
		return ctl_stdout_done(ctl_import(&(struct ctl_import_opts){ .sock = sock, .file = arg, .origin = origin,
									     .action = action, .ttl = ttl, .sync = sync,
									     .drop = drop, .json = json }));
	}
	if (!strcmp(cmd, "export")) {
		if (!origin || (strcmp(format, "cidr") && strcmp(format, "json")))
			return usage_error(NULL, "export needs --origin NAME, and --format cidr or json");
		return ctl_stdout_done(ctl_export(sock, origin, json ? "json" : format));
	}
	json_t *req = json_pack("{s:s}", "cmd", cmd);

	/* Who forced it, for the daemon's warning: the user behind sudo, too. */
	if (force) {
		const struct passwd *pw = getpwuid(getuid());
		const char *sudo = getenv("SUDO_USER");
		char who[128];
		snprintf(who, sizeof(who), "%s (uid %u)%s%s", pw ? pw->pw_name : "?", (unsigned)getuid(),
			 sudo ? " via sudo from " : "", sudo ? sudo : "");
		json_object_set_new(req, "force", json_true());
		json_object_set_new(req, "user", json_string(who));
	}

	if (!strcmp(cmd, "show")) {
		if (!arg)
			return usage_error(req, "show needs an address");
		json_object_set_new(req, "addr", json_string(arg));
	} else if (!strcmp(cmd, "block") || !strcmp(cmd, "unblock") || !strcmp(cmd, "allow") ||
		   !strcmp(cmd, "disallow")) {
		if (!arg)
			return usage_error(req, "%s needs a prefix", cmd);
		if (check_prefix(req, arg))
			return 2;
		json_object_set_new(req, "prefix", json_string(arg));
		if (dur)
			json_object_set_new(req, "duration", json_string(dur));
		if (action)
			json_object_set_new(req, "action", json_string(action));
		if (comment)
			json_object_set_new(req, "comment", json_string(comment));
	} else if (!strcmp(cmd, "monitor")) {
		/* Alone: the state it is in. */
		if (arg && strcmp(arg, "on") && strcmp(arg, "off"))
			return usage_error(req, "monitor on|off, or monitor alone for the state it is in; not '%s'", arg);
		if (arg)
			json_object_set_new(req, "state", json_string(arg));
	} else if (!strcmp(cmd, "verdicts")) {
		/* Filters: the daemon picks the rows, and counts them all. */
		if (by)
			json_object_set_new(req, "by", json_string(by));
		if (origin)
			json_object_set_new(req, "origin", json_string(origin));
		if (source)
			json_object_set_new(req, "source", json_string(source));
	} else if (!strcmp(cmd, "top")) {
		if (arg) {
			char *end;
			long n = strtol(arg, &end, 10);
			if (*end || end == arg || n < 1 || n > 100000)
				return usage_error(req, "top N: N is a count of sources, 1 to 100000, not '%s'", arg);
			json_object_set_new(req, "limit", json_integer(n));
		}
	} else if (!strcmp(cmd, "quarantine")) {
		const char *id = optind + 2 < argc ? argv[optind + 2] : NULL;
		if (!arg || (strcmp(arg, "list") && !id && !signature))
			return usage_error(req, "quarantine list | release ID | delete ID | release --signature SIG");
		json_object_set_new(req, "op", json_string(arg));
		if (id)
			json_object_set_new(req, "id", json_string(id));
		if (signature)
			json_object_set_new(req, "signature", json_string(signature));
	} else if (!strcmp(cmd, "except")) {
		const char *what = optind + 2 < argc ? argv[optind + 2] : NULL;
		if (!arg || (strcmp(arg, "list") && !what))
			return usage_error(req, "except list | add SIG|PREFIX | remove SIG|PREFIX");
		json_object_set_new(req, "op", json_string(arg));
		if (what)
			json_object_set_new(req, "what", json_string(what));
	} else if (strcmp(cmd, "status") && strcmp(cmd, "roles") && strcmp(cmd, "outbreaks") && strcmp(cmd, "allowlist")) {
		return usage_error(req, "unknown command '%s'", cmd);
	}

	char err[512];
	if (mg_log_get_level() >= MG_LOG_DEBUG) {
		char *text = json_dumps(req, JSON_COMPACT);
		mg_dbg("%s <- %s", sock, text ? text : "?");
		free(text);
	}
	enum mg_ctl_status st;
	json_t *resp = mg_ctl_request(sock, req, MG_CTL_CLIENT_TIMEOUT_MS, &st, err, sizeof(err));
	json_decref(req);
	if (!resp)
		return ctl_fail(exit_code(st), "%s: %s", mg_ctl_status_name(st), err);
	if (mg_log_get_level() >= MG_LOG_DEBUG) {
		char *text = json_dumps(resp, JSON_COMPACT);
		mg_dbg("%s -> %s", sock, text ? text : "?");
		free(text);
	}
	int rc = json_is_true(json_object_get(resp, "ok")) ? 0 : 1;
	if (json) {
		char *text = json_dumps(resp, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		puts(text ? text : "{}");
		free(text);
	} else if (rc && !strcmp(cmd, "quarantine") && json_object_get(resp, "done")) {
		/* What happened to each message, the refused ones with why (the reason itself, not a pointer to it). */
		print_human(cmd, resp);
	} else if (rc) {
		mg_err("%s", s(resp, "error"));
	} else if (json_is_string(json_object_get(resp, "done")) || !strcmp(cmd, "monitor")) {
		/* A change said back; quarantine's "done" is its list of messages, printed as such below. */
		print_done(cmd, resp, !strcmp(cmd, "except") && optind + 2 < argc ? argv[optind + 2] : NULL);
	} else {
		print_human(cmd, resp);
	}
	json_decref(resp);
	return ctl_stdout_done(rc);
}
