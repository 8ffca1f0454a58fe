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
 * ExaBGP's answers ("done", "error") and JSON messages are read and
 * dropped, errors logged; its end (EOF on stdin) ends this program.
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

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: mtaguard-flowspec [-s SOCKET] [-i MS] [--ports LIST] [--then ACTION] [--feeds] [--rtbh NEXT_HOP] [-v]\n"
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
		if (!push(want, &x))
			break;
	}
	snprintf(gen, genlen, "%s", json_string_value(json_object_get(r, "generation")) ?: "");
	json_decref(r);
	if (want->n)
		qsort(want->v, want->n, sizeof(*want->v), cmp_route);
	return 0;
}

/* ExaBGP's messages on stdin: dropped, its errors logged. false at EOF (ExaBGP is gone). */
static bool drain_stdin(char *buf, size_t cap, size_t *len)
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
		line = nl + 1;
	}
	*len = strlen(line);
	memmove(buf, line, *len);
	if (*len == cap - 1) /* a line longer than the buffer (a big UPDATE): dropped */
		*len = 0;
	return true;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' }, { "interval", required_argument, NULL, 'i' },
		{ "ports", required_argument, NULL, 'p' },  { "then", required_argument, NULL, 't' },
		{ "feeds", no_argument, NULL, 'f' },	     { "rtbh", required_argument, NULL, 'r' },
		{ "verbose", no_argument, NULL, 'v' },      { "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },      { NULL, 0, NULL, 0 },
	};
	const char *sock = DEFAULT_SOCKET;
	long interval_ms = 200;
	char err[160];
	int c;

	mg_log_init("mtaguard-flowspec");
	while ((c = getopt_long(argc, argv, "s:i:p:t:fr:vhV", opts, NULL)) != -1) {
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
	char gen[64] = "", in[8192];
	size_t inlen = 0;
	bool down = false;
	uint64_t next_ask = 0;
	mg_info("following %s every %ld ms; smtp blocks as TCP to port(s) %u%s, then %s%s%s", sock, interval_ms,
		cfg.n_ports ? cfg.ports[0] : 25, cfg.n_ports > 1 ? " and more" : "", mg_fs_then_name(cfg.then),
		cfg.rtbh_next_hop[0] ? ", with RTBH routes to " : "", cfg.rtbh_next_hop);
	for (;;) {
		uint64_t mono = mg_mono_ns();
		if (mono >= next_ask) {
			int r = ask(sock, gen, sizeof(gen), &want, &down);
			if (r == 0 && !apply(&cur, &want))
				break;
			next_ask = mg_mono_ns() + (uint64_t)interval_ms * 1000000;
		}
		if (!expire(&cur, mg_mono_ns()))
			break;
		uint64_t until = next_ask, e = next_expiry(&cur);
		if (e < until)
			until = e;
		mono = mg_mono_ns();
		struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
		int t = until <= mono ? 0 : (int)((until - mono) / 1000000 + 1);
		if (poll(&pfd, 1, t) > 0 && !drain_stdin(in, sizeof(in), &inlen))
			break; /* ExaBGP ended: its routes go with its sessions */
	}
	free(cur.v);
	free(want.v);
	return 0;
}
