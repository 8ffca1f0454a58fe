// SPDX-License-Identifier: GPL-2.0-only
/*
 * mtaguardd - the analyzer daemon.
 *
 * Loads (or reuses) the pinned data plane, attaches it, and then loops on one
 * epoll set: kernel events from the ring buffer, a timer that reads every
 * kernel profile and runs the analyzer, signals, and the control socket. The
 * analyzer's verdicts are written into the kernel blocklist at once.
 *
 * On exit the program stays attached and the maps stay pinned (enforcement
 * never stops while the daemon is down), unless --detach is given.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <net/if.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "mg_addr.h"
#include "mg_analyzer.h"
#include "mg_clock.h"
#include "mg_config.h"
#include "mg_ctlsock.h"
#include "mg_daemon.h"
#include "mg_eventlog.h"
#include "mg_loader.h"
#include "mg_log.h"
#include "mg_scan.h"
#include "mg_statefile.h"
#include "mg_stats.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: mtaguardd [OPTIONS]\n"
		"\n"
		"  -c, --config FILE        configuration file (JSON; see mtaguard.conf in the README)\n"
		"  -i, --interface IF[:MODE] attach to IF (MODE native, generic or auto); repeatable,\n"
		"                           adds to the interfaces of the config file\n"
		"  -u, --uplink IF[:MODE]   the same, and IF is an uplink (\"uplink\": true)\n"
		"  -p, --pin-dir DIR        pin directory (default " MG_DEFAULT_PIN_DIR ")\n"
		"  -s, --socket PATH        control socket (default /run/mtaguard/control.sock)\n"
		"      --state FILE         state file (default /var/lib/mtaguard/state.gz)\n"
		"      --log FILE           JSON event log ('-' = stdout, the default)\n"
		"  -t, --check              check the configuration (the file and these options) and exit:\n"
		"                           0 if it would start with it, 2 with the error (file, line, column)\n"
		"  -m, --monitor            monitor mode: log what would be blocked, block nothing\n"
		"      --detach             on exit, detach the program and remove the pins\n"
		"  -q, --quiet              no readable event lines on stderr (errors still show)\n"
		"  -v, --verbose            debug messages, libbpf's included (repeatable); libbpf's\n"
		"                           warnings, a verifier rejection among them, always show\n"
		"  -h, --help\n"
		"  -V, --version\n"
		"\n"
		"Signals: SIGHUP reloads the config file (a bad file keeps the running config);\n"
		"SIGINT/SIGTERM save state and exit, leaving the data plane enforcing.\n");
}

/*
 * --check's answer: the file, and what it would attach to (the names are
 * the operator's to compare). An interface that does not exist here now is
 * a warning, not an error, as at a start: the daemon attaches when it
 * appears (a VLAN or bond the network's own service makes later).
 */
static void print_checked(const char *path, const struct mg_config *c)
{
	printf("mtaguardd: %s: configuration OK; interfaces:", path ? path : "(no file: defaults and options)");
	for (size_t i = 0; i < c->n_ifaces; i++)
		printf(" %s%s", c->ifaces[i].name, c->ifaces[i].uplink ? " (uplink)" : "");
	printf("\n");
	for (size_t i = 0; i < c->n_ifaces; i++)
		if (!if_nametoindex(c->ifaces[i].name))
			mg_warn("%s does not exist here now: a start waits for it and attaches when it appears", c->ifaces[i].name);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "interface", required_argument, NULL, 'i' },
		{ "uplink", required_argument, NULL, 'u' },
		{ "pin-dir", required_argument, NULL, 'p' },
		{ "socket", required_argument, NULL, 's' },
		{ "state", required_argument, NULL, 'S' },
		{ "log", required_argument, NULL, 'L' },
		{ "check", no_argument, NULL, 't' },
		{ "monitor", no_argument, NULL, 'm' },
		{ "detach", no_argument, NULL, 'D' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct mg_daemon d;
	struct mg_config_iface extra[MG_CONFIG_MAX_IFACES];
	size_t n_extra = 0;
	const char *pin_dir = NULL, *sock = NULL, *state = NULL, *log = NULL;
	bool monitor = false, quiet = false, check = false;
	char err[512];
	int c;

	mg_log_init("mtaguardd");
	mg_daemon_init(&d);
	while ((c = getopt_long(argc, argv, "c:i:u:p:s:tmqvhV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			d.config_path = optarg;
			break;
		case 'i':
		case 'u':
			if (n_extra >= MG_CONFIG_MAX_IFACES || mg_config_parse_iface(optarg, &extra[n_extra])) {
				mg_err("bad interface '%s' (IF or IF:native|generic|auto)", optarg);
				return 2;
			}
			extra[n_extra++].uplink = c == 'u';
			break;
		case 'p': pin_dir = optarg; break;
		case 's': sock = optarg; break;
		case 'S': state = optarg; break;
		case 'L': log = optarg; break;
		case 't': check = true; break;
		case 'm': monitor = true; break;
		case 'D': d.detach_on_exit = true; break;
		case 'q': quiet = true; break;
		case 'v': mg_log_verbose(); break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			puts("mtaguardd " MG_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	mg_config_default(&d.cfg);
	if (d.config_path && mg_config_load(d.config_path, &d.cfg, err, sizeof(err))) {
		mg_err("%s", err);
		mg_config_free(&d.cfg); /* what was read before the error */
		return 2;
	}
	/* Command-line flags override the file, and survive a reload. */
	d.over.pin_dir = pin_dir;
	d.over.socket = sock;
	d.over.state = state;
	d.over.log = log;
	d.over.monitor = monitor;
	memcpy(d.over.ifaces, extra, sizeof(extra));
	d.over.n_ifaces = n_extra;
	if (mg_daemon_apply_overrides(&d, &d.cfg, err, sizeof(err))) {
		mg_err("%s", err);
		mg_config_free(&d.cfg);
		return 2;
	}
	if (d.cfg.n_ifaces == 0) {
		mg_err("no interface to attach to (use -i IF, or \"interfaces\" in the config)");
		mg_config_free(&d.cfg);
		return 2;
	}
	if (check) {
		/* Everything a start checks before it touches the kernel: for a reload's ExecReload, or a CM tool's validate. */
		print_checked(d.config_path, &d.cfg);
		mg_config_free(&d.cfg);
		return 0;
	}
	if (geteuid() != 0) {
		mg_err("must run as root (or with CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON)");
		mg_config_free(&d.cfg);
		return 1;
	}
	mg_log_libbpf();
	mg_dbg("config %s, pin directory %s, state file %s", d.config_path ? d.config_path : "(defaults)",
	       d.cfg.pin_dir, d.cfg.state_file);

	int rc = mg_daemon_start(&d, quiet ? NULL : stderr, err, sizeof(err));
	if (rc) {
		mg_err("%s", err);
		mg_daemon_stop(&d);
		return 1;
	}
	rc = mg_daemon_run(&d);
	mg_daemon_stop(&d);
	return rc;
}
