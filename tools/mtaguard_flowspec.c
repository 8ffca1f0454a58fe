// SPDX-License-Identifier: GPL-2.0-only
/*
 * mtaguard-flowspec - mtaguardd's blocks as BGP FlowSpec routes, through
 * ExaBGP's process API: ExaBGP runs this program (`process mtaguard { run
 * /usr/sbin/mtaguard-flowspec; encoder json; }`), reads one API command per
 * line from its stdout and writes its own messages to its stdin.
 *
 * It follows the daemon's blocks over the control socket ({"cmd":"blocks"},
 * asked every --interval; the daemon answers "unchanged" cheaply when its
 * rules did not change), announces a route for each new block, withdraws
 * it when the block is lifted or reaches its expiry (by its own clock too,
 * so a route never outlives its block while the daemon is away), and at
 * start announces everything in force: when ExaBGP restarts it, or a
 * reflector dropped its routes with the session, the routers get them all
 * back. RTBH routes only with --rtbh: a black hole cuts all of a host's
 * traffic, not only its spam.
 *
 * ExaBGP's answers ("done", "error") are read, errors logged; its end
 * (EOF on stdin) ends this program.
 *
 * With --accept it also takes the FlowSpec routes ExaBGP receives from its
 * peers (api `receive { parsed; update; }` and `neighbor-changes`): a
 * discard route for a source prefix becomes the daemon's block of owner
 * "bgp" ({"cmd":"bgp"}), a withdrawal or the peer's session going down
 * ends it. Each route handed over lives --accept-ttl in the daemon and is
 * refreshed while held here, so when this program, ExaBGP or a session is
 * gone, nothing received outlives that time. A route this node announces
 * itself (the same source and match, or carrying its --tag community) is
 * never taken back; and the daemon never lists a received block among the
 * blocks this program announces, so routes do not loop between edges.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>

#include "mg_cidr_list.h"
#include "mg_clock.h"
#include "mg_ctlsock.h"
#include "mg_flowspec.h"
#include "mg_flowspec_held.h"
#include "mg_flowspec_recv.h"
#include "mg_log.h"
#include "mg_names.h"

#define DEFAULT_SOCKET "/run/mtaguard/control.sock"
#define REQUEST_TIMEOUT_MS 5000

struct route {
	struct mg_prefix prefix;
	uint8_t action;
	uint64_t expires; /* CLOCK_MONOTONIC ns, UINT64_MAX: none */
};

struct routes {
	struct route *v;
	size_t n, cap;
};

static struct mg_fs_config cfg;
static bool feeds;

/* The receive side (--accept); off by default. */
#define ACCEPT_ROUTES_PER_MESSAGE 4096 /* room for one message's routes at first; grows for bigger ones */
#define ACCEPT_ROUTES_PER_REQUEST 256 /* about 20 KB a request: well under the socket's 64 KiB a line */
#define ACCEPT_LINE_MAX (1u << 20)    /* an UPDATE's JSON line; longer ones are dropped and counted */
static struct accept_state {
	bool on;
	struct mg_fsr_opts opts;
	uint64_t ttl_ms;
	size_t max_routes;
	struct mg_fsh *held;
	struct mg_fsr_route *v;          /* one message's routes */
	size_t cap_v;
	struct mg_fsh_op *ops;           /* for the daemon, not sent yet */
	size_t n_ops, cap_ops;
	bool ops_failed;                 /* the last request failed: a refresh is due when the daemon answers */
	uint64_t next_refresh;           /* CLOCK_MONOTONIC */
	uint64_t seen[MG_FSR_STATUS_MAX], bad_messages, full, sent, refused;
	unsigned complaints;             /* lines logged in the current minute */
	uint64_t complaint_minute;
	bool complained;
} acc;

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: mtaguard-flowspec [-s SOCKET] [-i MS] [--ports LIST] [--then ACTION] [--feeds] [--rtbh NEXT_HOP]\n"
		"                         [--tag ASN:NN] [--accept [--accept-ttl S] [--accept-max N]] [-v]\n"
		"Run by ExaBGP as a process (encoder json): announces a BGP FlowSpec route for every block\n"
		"mtaguardd holds, and withdraws it when the block ends.\n"
		"\n"
		"  -s, --socket PATH     mtaguardd's control socket (default " DEFAULT_SOCKET ")\n"
		"  -i, --interval MS     how often to ask the daemon (default 200; 20 to 60000)\n"
		"  -p, --ports LIST      destination ports of an smtp block's route (default 25; e.g. 25,465,587)\n"
		"  -t, --then ACTION     discard (default), rate-limit:BYTES_PER_SECOND, redirect:ASN:NN\n"
		"  -f, --feeds           imported lists' blocks too (off: routers hold few FlowSpec routes)\n"
		"  -r, --rtbh NEXT_HOP   also a black hole route per block (RFC 7999 BLACKHOLE, NO_EXPORT):\n"
		"                        it cuts ALL of the host's traffic where routers drop by source (uRPF)\n"
		"  -T, --tag ASN:NN      a community on every route announced: this node's own (received back, ignored)\n"
		"  -a, --accept          take peers' FlowSpec discard routes for a source prefix as blocks (owner bgp);\n"
		"                        ExaBGP's api needs receive { parsed; update; } and neighbor-changes\n"
		"      --accept-ttl S    a route handed to the daemon lives S seconds unless refreshed (default 300;\n"
		"                        30 to 86400; refreshed every third of it while held)\n"
		"      --accept-max N    routes held from all peers (default 10000)\n"
		"  -v, --verbose         log every route on stderr (ExaBGP's log)\n"
		"  -h, --help\n"
		"  -V, --version\n");
}

static int cmp_route(const void *a, const void *b)
{
	return mg_prefix_cmp(&((const struct route *)a)->prefix, &((const struct route *)b)->prefix);
}

static bool push(struct routes *r, const struct route *x)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 256;
		struct route *v = realloc(r->v, cap * sizeof(*v));
		if (!v)
			return false;
		r->v = v;
		r->cap = cap;
	}
	r->v[r->n++] = *x;
	return true;
}

/* One route's line(s) to ExaBGP; false when stdout is gone (ExaBGP ended). */
static bool emit(bool announce, const struct route *x)
{
	char line[512], pfx[MG_ADDRSTRLEN];

	if (mg_fs_flow_line(line, sizeof(line), announce, &x->prefix, x->action, &cfg) < 0)
		return true; /* cannot happen with 512 bytes: skip rather than send half a command */
	if (printf("%s\n", line) < 0)
		return false;
	if (cfg.rtbh_next_hop[0] && mg_fs_rtbh_line(line, sizeof(line), announce, &x->prefix, &cfg) > 0 &&
	    printf("%s\n", line) < 0)
		return false;
	mg_dbg("%s %s (%s)", announce ? "announce" : "withdraw", mg_prefix_str(&x->prefix, pfx, sizeof(pfx)),
	       mg_action_name(x->action));
	return true;
}

/* Make the announced set `cur` what `want` says (both sorted): withdraw, announce, change. */
static bool apply(struct routes *cur, struct routes *want)
{
	size_t i = 0, j = 0;
	bool ok = true;

	while (ok && (i < cur->n || j < want->n)) {
		int c = i == cur->n ? 1 : j == want->n ? -1 : mg_prefix_cmp(&cur->v[i].prefix, &want->v[j].prefix);
		if (c < 0) {
			ok = emit(false, &cur->v[i++]);
		} else if (c > 0) {
			ok = emit(true, &want->v[j++]);
		} else {
			/* Another action is another match: the old route goes, the new one comes. */
			if (cur->v[i].action != want->v[j].action)
				ok = emit(false, &cur->v[i]) && emit(true, &want->v[j]);
			i++, j++;
		}
	}
	fflush(stdout);
	free(cur->v);
	*cur = *want;
	*want = (struct routes){ 0 };
	return ok && !ferror(stdout);
}

/* Routes past their expiry go, by this program's clock. */
static bool expire(struct routes *cur, uint64_t mono)
{
	size_t k = 0;
	bool ok = true;

	for (size_t i = 0; i < cur->n; i++) {
		if (cur->v[i].expires <= mono)
			ok = emit(false, &cur->v[i]) && ok;
		else
			cur->v[k++] = cur->v[i];
	}
	if (k != cur->n)
		fflush(stdout);
	cur->n = k;
	return ok && !ferror(stdout);
}

static uint64_t next_expiry(const struct routes *cur)
{
	uint64_t e = UINT64_MAX;

	for (size_t i = 0; i < cur->n; i++)
		if (cur->v[i].expires < e)
			e = cur->v[i].expires;
	return e;
}

/* The daemon's blocks into want (sorted); 1 unchanged, 0 read, -1 no answer. */
static int ask(const char *sock, char *gen, size_t genlen, struct routes *want, bool *said_down)
{
	enum mg_ctl_status st;
	char err[256];
	json_t *req = json_pack("{s:s,s:s,s:b}", "cmd", "blocks", "generation", gen, "feeds", feeds), *b;
	json_t *r = mg_ctl_request(sock, req, REQUEST_TIMEOUT_MS, &st, err, sizeof(err));
	uint64_t mono = mg_mono_ns();
	size_t i;

	json_decref(req);
	if (!r || !json_is_true(json_object_get(r, "ok"))) {
		/* Said once: the routes stay until their own expiry, as the kernel's blocks do without a daemon. */
		if (!*said_down)
			mg_warn("mtaguardd at %s: %s; routes announced stay until their blocks expire", sock,
				r ? json_string_value(json_object_get(r, "error")) : err);
		*said_down = true;
		json_decref(r);
		gen[0] = '\0';
		return -1;
	}
	if (*said_down)
		mg_info("mtaguardd answers again at %s", sock);
	*said_down = false;
	if (json_is_true(json_object_get(r, "unchanged"))) {
		json_decref(r);
		return 1;
	}
	json_array_foreach(json_object_get(r, "blocks"), i, b) {
		struct route x;
		unsigned col;
		const char *p = json_string_value(json_object_get(b, "prefix"));
		json_int_t left = json_integer_value(json_object_get(b, "expires_in_ms"));
		if (!p || mg_cidr_parse_line(p, strlen(p), &x.prefix, &col, NULL, 0) != 1 ||
		    mg_action_parse(json_string_value(json_object_get(b, "action")), &x.action))
			continue;
		x.expires = left < 0 ? UINT64_MAX : mono + (uint64_t)left * 1000000;
		if (!push(want, &x)) {
			/* Not the whole list: taken as it is, the routes left out would be withdrawn. Asked again. */
			mg_warn("out of memory reading mtaguardd's blocks; routes announced stay as they are");
			want->n = 0;
			gen[0] = '\0';
			json_decref(r);
			return -1;
		}
	}
	snprintf(gen, genlen, "%s", json_string_value(json_object_get(r, "generation")) ?: "");
	json_decref(r);
	if (want->n)
		qsort(want->v, want->n, sizeof(*want->v), cmp_route);
	return 0;
}

/* A route this helper announces right now (the same source and action), come back through a reflector? */
static bool announced_here(const struct routes *cur, const struct mg_fsr_route *r)
{
	struct route key = { .prefix = r->prefix };
	const struct route *x = cur->n ? bsearch(&key, cur->v, cur->n, sizeof(*cur->v), cmp_route) : NULL;

	return x && (x->action == MG_ACT_DROP_ALL) == (r->action == MG_ACT_DROP_ALL);
}

/* At most 10 lines a minute of routes not taken: a peer sending thousands must not drown ExaBGP's log. */
static bool may_complain(void)
{
	uint64_t mono = mg_mono_ns();

	if (!acc.complained || mono - acc.complaint_minute >= 60 * MG_NSEC_PER_SEC) {
		if (acc.complained && acc.complaints > 10)
			mg_warn("accept: %u more routes not taken in the last minute (not logged)", acc.complaints - 10);
		acc.complained = true;
		acc.complaint_minute = mono;
		acc.complaints = 0;
	}
	return ++acc.complaints <= 10;
}

static void queue_op(const struct mg_fsh_op *op, void *arg)
{
	(void)arg;
	if (acc.n_ops == acc.cap_ops) {
		size_t cap = acc.cap_ops ? acc.cap_ops * 2 : 256;
		struct mg_fsh_op *v = realloc(acc.ops, cap * sizeof(*v));
		if (!v) {
			acc.ops_failed = true; /* the refresh sends the sums again */
			return;
		}
		acc.ops = v;
		acc.cap_ops = cap;
	}
	acc.ops[acc.n_ops++] = *op;
}

/* The queued operations to the daemon, in requests of ACCEPT_ROUTES_PER_REQUEST. */
static void send_ops(const char *sock)
{
	char pfx[MG_ADDRSTRLEN], err[256];
	enum mg_ctl_status st;

	for (size_t at = 0; at < acc.n_ops;) {
		json_t *routes = json_array();
		size_t n = acc.n_ops - at < ACCEPT_ROUTES_PER_REQUEST ? acc.n_ops - at : ACCEPT_ROUTES_PER_REQUEST;
		for (size_t i = at; i < at + n; i++) {
			const struct mg_fsh_op *op = &acc.ops[i];
			json_t *r = json_pack("{s:s,s:s}", "peer", op->peer, "prefix",
					      mg_prefix_str(&op->prefix, pfx, sizeof(pfx)));
			if (op->withdraw)
				json_object_set_new(r, "withdraw", json_true());
			else
				json_object_set_new(r, "action", json_string(mg_action_name(op->action)));
			json_array_append_new(routes, r);
		}
		json_t *req = json_pack("{s:s,s:I,s:o}", "cmd", "bgp", "ttl_ms", (json_int_t)acc.ttl_ms, "routes", routes);
		json_t *ans = mg_ctl_request(sock, req, REQUEST_TIMEOUT_MS, &st, err, sizeof(err));
		json_decref(req);
		if (!ans || !json_is_true(json_object_get(ans, "ok"))) {
			if (!acc.ops_failed)
				mg_warn("accept: mtaguardd at %s: %s; received routes are handed over again when it answers", sock,
					ans ? json_string_value(json_object_get(ans, "error")) : err);
			acc.ops_failed = true;
			json_decref(ans);
			break;
		}
		size_t k;
		json_t *o;
		json_array_foreach(json_object_get(ans, "outcomes"), k, o) {
			const char *s = json_string_value(o);
			acc.sent++;
			if (s && strcmp(s, "taken") && strcmp(s, "refreshed") && strcmp(s, "removed")) {
				acc.refused++;
				if (at + k < acc.n_ops && may_complain())
					mg_warn("accept: mtaguardd refused %s from %s: %s",
						mg_prefix_str(&acc.ops[at + k].prefix, pfx, sizeof(pfx)), acc.ops[at + k].peer, s);
			} else if (s && at + k < acc.n_ops) {
				mg_dbg("accept: %s %s from %s: %s", acc.ops[at + k].withdraw ? "withdraw" : "block",
				       mg_prefix_str(&acc.ops[at + k].prefix, pfx, sizeof(pfx)), acc.ops[at + k].peer, s);
			}
		}
		json_decref(ans);
		at += n;
	}
	acc.n_ops = 0;
}

/* Everything held, to the daemon again: its routes live on, and a restarted daemon gets them back. */
static void refresh(const char *sock)
{
	bool failed = acc.ops_failed;

	acc.n_ops = 0;
	acc.ops_failed = false;
	mg_fsh_foreach(acc.held, queue_op, NULL);
	send_ops(sock);
	if (failed && !acc.ops_failed)
		mg_info("accept: mtaguardd answers again; %zu received routes handed over", mg_fsh_sums(acc.held));
	acc.next_refresh = mg_mono_ns() + acc.ttl_ms * 1000000 / 3;
}

/* One line of ExaBGP's JSON: routes into the held table, changes queued for the daemon. */
static void accept_line(const char *line, size_t len, const struct routes *cur)
{
	char pfx[MG_ADDRSTRLEN];
	struct mg_fsr_msg m;

	/* Every route of the UPDATE: a withdrawal left unread would stay held, refreshed, till the session ends. */
	mg_fsr_parse_all(line, len, &acc.opts, &m, &acc.v, &acc.cap_v);
	if (m.kind == MG_FSR_BAD) {
		acc.bad_messages++;
		if (may_complain())
			mg_warn("accept: a line from ExaBGP that is not its JSON, ignored (%zu bytes)", len);
		return;
	}
	if (m.kind == MG_FSR_PEER_DOWN) {
		size_t gone = mg_fsh_peer_down(acc.held, m.peer, queue_op, NULL);
		if (gone)
			mg_info("accept: session with %s down: its %zu routes withdrawn", m.peer, gone);
		return;
	}
	if (m.dropped && may_complain())
		mg_warn("accept: an UPDATE from %s with %zu routes: out of memory, %zu not read", m.peer,
			m.n + m.dropped, m.dropped);
	acc.seen[MG_FSR_MALFORMED] += m.dropped;
	for (size_t i = 0; i < m.n; i++) {
		struct mg_fsr_route *r = &acc.v[i];
		if (!r->withdraw && r->status == MG_FSR_USABLE && announced_here(cur, r))
			r->status = MG_FSR_OWN;
		acc.seen[r->status]++;
		if (!r->withdraw && r->status != MG_FSR_USABLE && r->status != MG_FSR_OWN && may_complain())
			mg_warn("accept: route from %s not taken (%s): %s", m.peer, mg_fsr_status_name(r->status),
				r->match[0] ? r->match : "(no match)");
		int e = mg_fsh_route(acc.held, m.peer, r, queue_op, NULL);
		if (e) {
			acc.full++;
			if (may_complain())
				mg_warn("accept: %s from %s not held: %s", mg_prefix_str(&r->prefix, pfx, sizeof(pfx)), m.peer,
					e == -ENOSPC ? "--accept-max routes held already" : "out of memory");
		}
	}
}

/* ExaBGP's messages on stdin: its errors logged, with --accept its routes read. false at EOF (ExaBGP is gone). */
static bool drain_stdin(char *buf, size_t cap, size_t *len, const struct routes *cur)
{
	ssize_t n = read(STDIN_FILENO, buf + *len, cap - 1 - *len);

	if (n == 0)
		return false;
	if (n < 0)
		return errno == EINTR || errno == EAGAIN;
	*len += (size_t)n;
	buf[*len] = '\0';
	char *line = buf, *nl;
	while ((nl = strchr(line, '\n'))) {
		*nl = '\0';
		if (!strcmp(line, "error"))
			mg_warn("ExaBGP refused a command (see its log)");
		else if (strstr(line, "\"shutdown\""))
			return false;
		else if (acc.on && line[0] == '{')
			accept_line(line, (size_t)(nl - line), cur);
		line = nl + 1;
	}
	*len = strlen(line);
	memmove(buf, line, *len);
	if (*len == cap - 1) { /* a line longer than the buffer (a huge UPDATE): dropped */
		if (acc.on) {
			acc.bad_messages++;
			mg_warn("accept: a line from ExaBGP longer than %zu bytes, dropped", cap - 1);
		}
		*len = 0;
	}
	return true;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' }, { "interval", required_argument, NULL, 'i' },
		{ "ports", required_argument, NULL, 'p' },  { "then", required_argument, NULL, 't' },
		{ "feeds", no_argument, NULL, 'f' },	     { "rtbh", required_argument, NULL, 'r' },
		{ "verbose", no_argument, NULL, 'v' },      { "help", no_argument, NULL, 'h' },
		{ "tag", required_argument, NULL, 'T' },    { "accept", no_argument, NULL, 'a' },
		{ "accept-ttl", required_argument, NULL, 'L' }, { "accept-max", required_argument, NULL, 'M' },
		{ "version", no_argument, NULL, 'V' },      { NULL, 0, NULL, 0 },
	};
	const char *sock = DEFAULT_SOCKET;
	long interval_ms = 200;
	char err[160];
	int c;

	mg_log_init("mtaguard-flowspec");
	acc.ttl_ms = 300000;
	acc.max_routes = 10000;
	while ((c = getopt_long(argc, argv, "s:i:p:t:fr:vhVT:a", opts, NULL)) != -1) {
		switch (c) {
		case 's': sock = optarg; break;
		case 'i':
			interval_ms = strtol(optarg, NULL, 10);
			if (interval_ms < 20 || interval_ms > 60000) {
				mg_err("--interval is 20 to 60000 ms");
				return 2;
			}
			break;
		case 'p':
			if (mg_fs_parse_ports(optarg, &cfg, err, sizeof(err))) {
				mg_err("%s", err);
				return 2;
			}
			break;
		case 't':
			if (mg_fs_parse_then(optarg, &cfg, err, sizeof(err))) {
				mg_err("%s", err);
				return 2;
			}
			break;
		case 'f': feeds = true; break;
		case 'r':
			if (strlen(optarg) >= sizeof(cfg.rtbh_next_hop) || mg_addr_parse(optarg, (uint8_t[16]){ 0 })) {
				mg_err("--rtbh takes the black hole's next hop, an address");
				return 2;
			}
			snprintf(cfg.rtbh_next_hop, sizeof(cfg.rtbh_next_hop), "%s", optarg);
			break;
		case 'T':
			if (mg_fsr_parse_community(optarg, &acc.opts) || strlen(optarg) >= sizeof(cfg.tag)) {
				mg_err("--tag takes a community, ASN:NN (each 0 to 65535)");
				return 2;
			}
			snprintf(cfg.tag, sizeof(cfg.tag), "%s", optarg);
			break;
		case 'a': acc.on = true; break;
		case 'L': {
			long v = strtol(optarg, NULL, 10);
			if (v < 30 || v > 86400) {
				mg_err("--accept-ttl is 30 to 86400 seconds");
				return 2;
			}
			acc.ttl_ms = (uint64_t)v * 1000;
			break;
		}
		case 'M': {
			long v = strtol(optarg, NULL, 10);
			if (v < 1 || v > 1000000) {
				mg_err("--accept-max is 1 to 1000000 routes");
				return 2;
			}
			acc.max_routes = (size_t)v;
			break;
		}
		case 'v': mg_log_verbose(); break;
		case 'h': usage(stdout); return 0;
		case 'V': puts("mtaguard-flowspec " MG_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	/* ExaBGP gone mid-write: an error to see, not a signal to die of silently. */
	signal(SIGPIPE, SIG_IGN);
	/*
	 * Our end of ExaBGP's pipe may come non-blocking: a burst of routes
	 * larger than the pipe would then fail with EAGAIN and end us. Writes
	 * wait for ExaBGP instead; stdin is read only when poll says so.
	 */
	int fl = fcntl(STDOUT_FILENO, F_GETFL);
	if (fl >= 0 && (fl & O_NONBLOCK))
		fcntl(STDOUT_FILENO, F_SETFL, fl & ~O_NONBLOCK);

	struct routes cur = { 0 }, want = { 0 };
	char gen[64] = "", *in;
	size_t inlen = 0, incap = acc.on ? ACCEPT_LINE_MAX : 8192;

	in = malloc(incap);
	if (acc.on) {
		acc.held = mg_fsh_new(acc.max_routes);
		acc.v = calloc(ACCEPT_ROUTES_PER_MESSAGE, sizeof(*acc.v));
		acc.cap_v = acc.v ? ACCEPT_ROUTES_PER_MESSAGE : 0;
	}
	if (!in || (acc.on && (!acc.held || !acc.v))) {
		mg_err("out of memory");
		return 1;
	}
	bool down = false;
	uint64_t next_ask = 0;
	mg_info("following %s every %ld ms; smtp blocks as TCP to port(s) %u%s, then %s%s%s", sock, interval_ms,
		cfg.n_ports ? cfg.ports[0] : 25, cfg.n_ports > 1 ? " and more" : "", mg_fs_then_name(cfg.then),
		cfg.rtbh_next_hop[0] ? ", with RTBH routes to " : "", cfg.rtbh_next_hop);
	if (acc.on)
		mg_info("accepting peers' FlowSpec discard routes as blocks (owner bgp), each for %llu s unless refreshed, "
			"at most %zu%s%s", (unsigned long long)(acc.ttl_ms / 1000), acc.max_routes,
			cfg.tag[0] ? "; own community " : "", cfg.tag);
	acc.next_refresh = mg_mono_ns() + acc.ttl_ms * 1000000 / 3;
	for (;;) {
		uint64_t mono = mg_mono_ns();
		if (mono >= next_ask) {
			int r = ask(sock, gen, sizeof(gen), &want, &down);
			if (r == 0 && !apply(&cur, &want))
				break;
			/* The daemon answers again after a failed hand-over (restarted, perhaps): everything held, now. */
			if (acc.on && r >= 0 && acc.ops_failed)
				acc.next_refresh = 0;
			next_ask = mg_mono_ns() + (uint64_t)interval_ms * 1000000;
		}
		if (acc.on && mg_mono_ns() >= acc.next_refresh)
			refresh(sock);
		if (!expire(&cur, mg_mono_ns()))
			break;
		uint64_t until = next_ask, e = next_expiry(&cur);
		if (e < until)
			until = e;
		if (acc.on && acc.next_refresh < until)
			until = acc.next_refresh;
		mono = mg_mono_ns();
		struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
		int t = until <= mono ? 0 : (int)((until - mono) / 1000000 + 1);
		if (poll(&pfd, 1, t) > 0 && !drain_stdin(in, incap, &inlen, &cur))
			break; /* ExaBGP ended: its routes go with its sessions */
		if (acc.on && acc.n_ops) {
			if (acc.ops_failed)
				acc.n_ops = 0; /* the daemon is away: the refresh hands everything over when it answers */
			else
				send_ops(sock);
		}
	}
	if (acc.on) {
		/* ExaBGP's sessions end with it: what this node took from them goes now, not at its TTL. */
		acc.n_ops = 0;
		mg_fsh_foreach(acc.held, queue_op, NULL);
		for (size_t i = 0; i < acc.n_ops; i++)
			acc.ops[i].withdraw = true;
		if (acc.n_ops && !acc.ops_failed)
			send_ops(sock);
		mg_info("accept: %llu routes read (%llu usable, %llu not discard, %llu unsupported, %llu own, %llu malformed), "
			"%llu unreadable messages, %llu refused by mtaguardd", (unsigned long long)(acc.seen[0] +
			acc.seen[1] + acc.seen[2] + acc.seen[3] + acc.seen[4]), (unsigned long long)acc.seen[MG_FSR_USABLE],
			(unsigned long long)acc.seen[MG_FSR_NOT_DISCARD], (unsigned long long)acc.seen[MG_FSR_UNSUPPORTED],
			(unsigned long long)acc.seen[MG_FSR_OWN], (unsigned long long)acc.seen[MG_FSR_MALFORMED],
			(unsigned long long)acc.bad_messages, (unsigned long long)acc.refused);
		mg_fsh_free(acc.held);
		free(acc.v);
		free(acc.ops);
	}
	free(in);
	free(cur.v);
	free(want.v);
	return 0;
}
