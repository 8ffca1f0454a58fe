#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# e2e_operations.sh - what an operator installs and runs: the installed tree
# (make install DESTDIR=… PREFIX=/usr), man pages that match --help, the
# systemd unit (systemd-analyze verify; started for real when PID 1 is
# systemd), the sd_notify protocol (READY only once attached and pinned,
# watchdog pings, reload, stop) and the metrics (textfile and HTTP, read with
# curl), and what the daemon refuses from an operator: prefixes wider than
# the limits without --force, durations out of bounds, comments that would
# forge lines in the readable log; and what mtaguardctl does to spare an
# operator mistakes: blocks that reach the protected network, a mail server
# or an allow refused without --force, naming what they reach; changes that
# say what was done, times for people, one-line usage errors, JSON failures
# with --json, the attach mode in use, monitor's state, HELO exceptions by
# name, verdicts filtered with a total, show naming the covering rule.
#
#   selftests/e2e_operations.sh BUILD_DIR
#
# Exit 0 pass, 1 fail, 77 skip (not root, tool missing).
set -euo pipefail

SELFTESTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SELFTESTS/.." && pwd)"
# shellcheck source=selftests/lab.sh
. "$SELFTESTS/lab.sh"

BUILD="$(cd "${1:-${MG_BUILD:-build}}" && pwd)"
PIN="/sys/fs/bpf/mg-e2eo-$$"

lab_require_root
lab_require_cmds ip nsenter socat curl man systemd-analyze jq
FAILS=0
pass() { printf 'ok:   %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*"; FAILS=$((FAILS + 1)); }
check() { # DESCRIPTION CMD...: pass if CMD succeeds
	local what="$1"
	shift
	if "$@" >/dev/null 2>&1; then pass "$what"; else fail "$what"; fi
}

lab_init
ROOT="$LAB_DIR/root"

# --- the installed tree -----------------------------------------------------------

make -s -C "$REPO" install BUILD="$BUILD" DESTDIR="$ROOT" PREFIX=/usr >"$LAB_DIR/install.log" 2>&1 ||
	{ cat "$LAB_DIR/install.log"; fail "make install"; exit 1; }
for f in usr/sbin/mtaguardd usr/sbin/mtaguardctl usr/sbin/mtaguard-replay usr/sbin/mtaguard-loader; do
	[[ -x "$ROOT/$f" && "$(stat -c %a "$ROOT/$f")" == 755 ]] && pass "installed $f (0755)" || fail "missing $f"
done
for f in usr/lib/systemd/system/mtaguardd.service usr/share/man/man8/mtaguardd.8 usr/share/man/man8/mtaguardctl.8 \
	usr/share/man/man8/mtaguard-replay.8 usr/share/man/man8/mtaguard-loader.8 usr/share/man/man5/mtaguard.conf.5 usr/share/mtaguard/postfix-relay.conf \
	usr/share/mtaguard/grafana-dashboard.json usr/share/mtaguard/prometheus-alerts.yml \
	usr/share/doc/mtaguard/examples/postfix-main.cf \
	usr/share/doc/mtaguard/README.md usr/share/doc/mtaguard/LICENSE etc/logrotate.d/mtaguard; do
	[[ -f "$ROOT/$f" && "$(stat -c %a "$ROOT/$f")" == 644 ]] && pass "installed $f (0644)" || fail "missing $f"
done
[[ "$(stat -c %a "$ROOT/etc/mtaguard/mtaguard.json")" == 640 ]] && pass "installed etc/mtaguard/mtaguard.json (0640)" ||
	fail "config file missing"
unexpected="$(cd "$ROOT" && find . -type f | grep -v -E '^\./(usr/(sbin|lib|share)/|etc/mtaguard/|etc/logrotate\.d/mtaguard$)' || true)"
[[ -z "$unexpected" ]] && pass "nothing installed outside usr/, etc/mtaguard and etc/logrotate.d/mtaguard" ||
	fail "stray files: $unexpected"
grep -q "^ExecStart=/usr/sbin/mtaguardd -c /etc/mtaguard/mtaguard.json$" "$ROOT/usr/lib/systemd/system/mtaguardd.service" &&
	pass "the unit runs the installed daemon with the installed config" || fail "unit ExecStart"
# The installed default config is one the daemon accepts (it then asks for an interface).
out="$("$ROOT/usr/sbin/mtaguardd" -c "$ROOT/etc/mtaguard/mtaguard.json" 2>&1 || true)"
grep -q "no interface to attach to" <<<"$out" && pass "the installed config parses" || fail "installed config: $out"
# An operator's edit survives a reinstall.
echo '{ "monitor": true }' >"$ROOT/etc/mtaguard/mtaguard.json"
make -s -C "$REPO" install BUILD="$BUILD" DESTDIR="$ROOT" PREFIX=/usr >/dev/null 2>&1
grep -q '"monitor": true' "$ROOT/etc/mtaguard/mtaguard.json" && pass "reinstalling keeps the operator's config" ||
	fail "reinstall overwrote the config"

# --- man pages and --help -----------------------------------------------------------

for pair in mtaguardd:man8/mtaguardd.8 mtaguardctl:man8/mtaguardctl.8 mtaguard-replay:man8/mtaguard-replay.8 \
	mtaguard-loader:man8/mtaguard-loader.8; do
	prog="${pair%%:*}"
	page="$ROOT/usr/share/man/${pair#*:}"
	warn="$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null || true)"
	[[ -z "$warn" ]] && pass "$prog(8) renders without warnings" || fail "$prog(8): $warn"
	"$ROOT/usr/sbin/$prog" --help >"$LAB_DIR/help" 2>&1 || fail "$prog --help failed"
	MANWIDTH=200 man -l "$page" 2>/dev/null | sed 's/\x08.//g' >"$LAB_DIR/man"
	help_opts="$(grep -oE -- '--[a-z][a-z-]+' "$LAB_DIR/help" | sort -u)"
	man_opts="$(sed -n '/^OPTIONS/,/^[A-Z]/p' "$LAB_DIR/man" | grep -oE -- '--[a-z][a-z-]+' | sort -u)"
	missing_in_man="$(comm -23 <(echo "$help_opts") <(echo "$man_opts"))"
	missing_in_help="$(comm -13 <(echo "$help_opts") <(echo "$man_opts"))"
	[[ -n "$help_opts" && -z "$missing_in_man" && -z "$missing_in_help" ]] &&
		pass "$prog: --help and the man page list the same options ($(echo "$help_opts" | wc -l))" ||
		fail "$prog: only in --help: [$missing_in_man]; only in the man page: [$missing_in_help]"
done
warn="$(MANWIDTH=80 man --warnings -l "$ROOT/usr/share/man/man5/mtaguard.conf.5" 2>&1 >/dev/null || true)"
[[ -z "$warn" ]] && pass "mtaguard.conf(5) renders without warnings" || fail "mtaguard.conf(5): $warn"
# Every top-level key the parser knows is documented in mtaguard.conf(5).
MANWIDTH=200 man -l "$ROOT/usr/share/man/man5/mtaguard.conf.5" 2>/dev/null | sed 's/\x08.//g' >"$LAB_DIR/conf5"
for key in interfaces pin_dir limits smtp_ports protected_networks mail_servers allowlist ipv6_aggregation monitor map_sizes \
	detection block state_file state_interval log_file control_socket control_mode scan_interval metrics outbreak \
	quarantine; do
	grep -qE "(^| )$key([. ,]|$)" "$LAB_DIR/conf5" || fail "mtaguard.conf(5) does not document \"$key\""
done
pass "mtaguard.conf(5) documents every top-level key"

# --- the unit -----------------------------------------------------------------------

unit="$ROOT/usr/lib/systemd/system/mtaguardd.service"
for want in "Type=notify" "WatchdogSec=" "ExecReload=/bin/kill -HUP \$MAINPID" \
	"CapabilityBoundingSet=CAP_BPF CAP_NET_ADMIN CAP_PERFMON" "NoNewPrivileges=yes" "ProtectSystem=strict"; do
	grep -qF "$want" "$unit" && pass "unit: $want" || fail "unit lacks $want"
done
grep -qF "ExecReload=/usr/sbin/mtaguardd --check -c /etc/mtaguard/mtaguard.json" "$unit" &&
	pass "unit: a reload checks the file first (mtaguardd --check)" || fail "unit: no --check before the reload"
# --check: what a start checks before it touches the kernel, without root's work; the error with line and column.
printf '{ "interfaces": [ "in1", { "name": "out0", "uplink": true } ] }\n' >"$LAB_DIR/check-good.json"
printf '{ "interfaces": [ "in1" ],\n  "scan_interval": "5h" }\n' >"$LAB_DIR/check-bad.json"
out="$("$ROOT/usr/sbin/mtaguardd" --check -c "$LAB_DIR/check-good.json" 2>&1)" &&
	[[ "$out" == *"configuration OK; interfaces: in1 out0 (uplink)"* && "$out" == *"in1 does not exist here now"* ]] &&
	pass "mtaguardd --check on a good file (its interfaces absent here: warned, not refused): $out" ||
	fail "--check, good file: $out"
rc=0
out="$("$ROOT/usr/sbin/mtaguardd" -t -c "$LAB_DIR/check-bad.json" 2>&1)" || rc=$?
((rc == 2)) && [[ "$out" == *"check-bad.json:2:"*'"scan_interval"'* ]] &&
	pass "mtaguardd -t on a bad file: exit 2, $out" || fail "--check, bad file: exit $rc, $out"
rc=0
out="$("$ROOT/usr/sbin/mtaguardd" -t -c "$ROOT/etc/mtaguard/mtaguard.json" 2>&1)" || rc=$?
((rc == 2)) && [[ "$out" == *"no interface to attach to"* ]] &&
	pass "mtaguardd -t on the shipped config: exit 2, no interface yet" || fail "--check, shipped config: exit $rc, $out"
# verify checks the commands exist: point a copy at the installed tree, and man at its pages.
sed "s|/usr/sbin/mtaguardd|$ROOT/usr/sbin/mtaguardd|" "$unit" >"$LAB_DIR/mtaguardd.service"
if out="$(MANPATH="$ROOT/usr/share/man" systemd-analyze verify "$LAB_DIR/mtaguardd.service" 2>&1)"; then
	pass "systemd-analyze verify: clean (man pages found)"
else
	fail "systemd-analyze verify: $out"
fi

# --- the daemon as systemd sees it: sd_notify, watchdog, reload, stop; metrics ------------

lab_bpffs
lab_netns edge
lab_veth edge in0 edge peer0
lab_addr edge in0 198.18.9.1/24
PORT=$((20000 + $$ % 20000))
cat >"$LAB_DIR/mtaguard.json" <<EOF
{
  "interfaces": [ "in0" ],
  "pin_dir": "$PIN",
  "state_file": "$LAB_DIR/state.gz",
  "state_interval": "2s",
  "log_file": "$LAB_DIR/events.jsonl",
  "control_socket": "$LAB_DIR/control.sock",
  "protected_networks": [ "198.19.0.0/16" ],
  "mail_servers": [ "198.19.1.25" ],
  "allowlist": [ "198.19.5.0/24" ],
  "metrics": { "textfile": "$LAB_DIR/mtaguard.prom", "listen": "127.0.0.1:$PORT", "interval": "1s" }
}
EOF
# The service manager's side of the protocol: a datagram socket, as systemd makes.
socat -u "UNIX-RECV:$LAB_DIR/notify.sock" "OPEN:$LAB_DIR/notify.log,creat,append" &
SOCAT=$!
stop_socat() { kill "$SOCAT" 2>/dev/null || true; }
lab_defer stop_socat
lab_wait "notify socket" test -S "$LAB_DIR/notify.sock"
cleanup_daemon() {
	kill "${DPID:-0}" 2>/dev/null && wait "${DPID:-0}" 2>/dev/null
	[[ -d "$PIN" ]] && "$BUILD/mtaguard-loader" -p "$PIN" unload 2>/dev/null
	rm -rf -- "$PIN"
	return 0
}
lab_defer cleanup_daemon
# WATCHDOG_PID must be the daemon's own: the shell execs it, keeping its PID.
start_daemon() {
	NOTIFY_SOCKET="$LAB_DIR/notify.sock" WATCHDOG_USEC=2000000 \
		nsenter --net="/run/netns/$(lab_ns edge)" -- bash -c 'export WATCHDOG_PID=$$; exec "$0" -c "$1"' \
		"$ROOT/usr/sbin/mtaguardd" "$LAB_DIR/mtaguard.json" 2>>"$LAB_DIR/daemon.err" &
	DPID=$!
}
start_daemon
if lab_wait "READY=1" grep -q "READY=1" "$LAB_DIR/notify.log"; then
	pass "the installed daemon told the service manager READY=1"
	# By then the program is attached and the maps are pinned.
	[[ -e "$PIN/link_in0" && -e "$PIN/mg_sources" ]] && pass "READY came after attach and pin" ||
		fail "READY before the data plane was up"
else
	fail "no READY=1 (stderr: $(cat "$LAB_DIR/daemon.err"))"
fi
grep -q "STATUS=enforcing on in0" "$LAB_DIR/notify.log" && pass "STATUS line names the interfaces" || fail "no STATUS"
lab_wait -t 5 "watchdog" bash -c "grep -o 'WATCHDOG=1' '$LAB_DIR/notify.log' | wc -l | grep -qv '^[01]$'" &&
	pass "watchdog pinged at least twice within 5 s (WatchdogSec 2 s)" || fail "no watchdog pings"
kill -HUP "$DPID"
lab_wait "RELOADING=1" grep -q "RELOADING=1" "$LAB_DIR/notify.log" && pass "reload: RELOADING=1, then READY=1" ||
	fail "reload not notified"

# Metrics: the textfile, and the HTTP endpoint read by a real client.
lab_wait "metrics file" test -s "$LAB_DIR/mtaguard.prom" && pass "metrics textfile written" || fail "no metrics file"
grep -q '^mtaguard_xdp_packets_total{interface="in0",verdict="pass"} [0-9]' "$LAB_DIR/mtaguard.prom" &&
	grep -q '^mtaguard_sources{role="end_host"} [0-9]' "$LAB_DIR/mtaguard.prom" &&
	grep -q '^mtaguard_threat_level [0-5]$' "$LAB_DIR/mtaguard.prom" &&
	pass "textfile: kernel, analyzer and threat-level figures" || fail "textfile content: $(head -c 400 "$LAB_DIR/mtaguard.prom")"
# A save every 2 s, written beside the loop: counted, and its time told (what MtaguardStateNotSaved reads).
saved() { grep -q '^mtaguard_state_saves_total{outcome="written"} [1-9]' "$LAB_DIR/mtaguard.prom" &&
	grep -q '^mtaguard_state_save_last_success_timestamp_seconds 1[0-9]\{9\}$' "$LAB_DIR/mtaguard.prom"; }
lab_wait "a state save in the metrics" saved &&
	grep -q '^mtaguard_state_save_interval_seconds 2$' "$LAB_DIR/mtaguard.prom" &&
	pass "textfile: state saves written, the last one's time, the interval" ||
	fail "state save metrics: $(grep mtaguard_state_save "$LAB_DIR/mtaguard.prom" | tr '\n' ' ')"
ls "$LAB_DIR" | grep -q 'mtaguard.prom.tmp' && fail "a temporary metrics file was left behind" ||
	pass "no temporary metrics file left"
http="$(lab_run edge curl -s -o "$LAB_DIR/scrape" -w '%{http_code} %{content_type}' "http://127.0.0.1:$PORT/metrics" || true)"
[[ "$http" == "200 text/plain; version=0.0.4"* ]] && grep -q "^mtaguard_scan_duration_seconds " "$LAB_DIR/scrape" &&
	pass "GET /metrics with curl: 200, Prometheus text" || fail "scrape: $http"
code="$(lab_run edge curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/" || true)"
[[ "$code" == 404 ]] && pass "other paths: 404" || fail "GET /: $code"
# Traffic moves the counters: blocks from the operator show in the next scrape.
"$ROOT/usr/sbin/mtaguardctl" -s "$LAB_DIR/control.sock" block 198.18.9.0/24 -d 1h >/dev/null
lab_wait -t 5 "verdicts_active 1" bash -c \
	"curl -s http://127.0.0.1:$PORT/metrics 2>/dev/null | grep -q '^mtaguard_verdicts_active 1$' ||
	 nsenter --net=/run/netns/$(lab_ns edge) curl -s http://127.0.0.1:$PORT/metrics | grep -q '^mtaguard_verdicts_active 1$'" &&
	pass "an operator block shows as mtaguard_verdicts_active 1" || fail "verdicts_active did not move"

# --- what the daemon refuses from an operator -------------------------------------------

octl() { "$ROOT/usr/sbin/mtaguardctl" -s "$LAB_DIR/control.sock" "$@"; }
# refused WHAT WANT CMD...: mtaguardctl exits 1 and says WANT
refused() {
	local what="$1" want="$2" out rc
	shift 2
	out="$(octl "$@" 2>&1)" && rc=0 || rc=$?
	[[ $rc == 1 && "$out" == *"$want"* ]] && pass "$what" || fail "$what: exit $rc: $out"
}
kernel_has() { "$BUILD/mtaguard-loader" -p "$PIN" rules --json | jq -e --arg p "$1" '[.. | objects | select(.prefix? == $p)] | length > 0' >/dev/null; }
refused "block 0.0.0.0/0 refused without --force" "wider than /8, the limit for IPv4" block 0.0.0.0/0 -a all
refused "block ::/0 refused without --force" "--force" block ::/0
refused "allow ::/0 refused without --force, pointing at monitor mode" "is every source: nothing would be enforced" allow ::/0
refused "allow 0.0.0.0/0 refused without --force" "use 'monitor on'" allow 0.0.0.0/0
kernel_has 0.0.0.0/0 || kernel_has ::/0 && fail "a refused rule reached the kernel" || pass "nothing refused reached the kernel"
if octl block 0.0.0.0/0 -a all -d 1h --force -m "drill" >/dev/null 2>&1 && kernel_has 0.0.0.0/0; then
	pass "block 0.0.0.0/0 --force: in the kernel"
else
	fail "forced block not applied"
fi
grep '"event":"operator-forced"' "$LAB_DIR/events.jsonl" | jq -s -e 'any(.[]; .level == "warning" and
	(.message | test("operator block 0.0.0.0/0 forced past the limit /8.*requested by root \\(uid 0\\)")))' >/dev/null &&
	grep -q "^mtaguardd: warning: operator block 0.0.0.0/0 forced" "$LAB_DIR/daemon.err" &&
	pass "the forced block is a warning in both logs, naming who asked" ||
	fail "forced block not logged: $(grep operator-forced "$LAB_DIR/events.jsonl")"
octl unblock 0.0.0.0/0 >/dev/null && ! kernel_has 0.0.0.0/0 && pass "and undone without --force" || fail "unblock 0.0.0.0/0"
octl allow ::/0 --force >/dev/null 2>&1 && kernel_has ::/0 && pass "allow ::/0 --force: in the kernel" || fail "forced allow"
grep -q '"message":"operator allow ::/0 forced past the limit /32' "$LAB_DIR/events.jsonl" && pass "the forced allow is logged" ||
	fail "forced allow not logged"
octl disallow ::/0 >/dev/null && ! kernel_has ::/0 && pass "and undone" || fail "disallow ::/0"
for d in 999ms 200000d 18446744073s 367d; do
	refused "block -d $d refused" "out of range: from 1s to 366d, or 0 for until removed" block 198.18.9.7 -d "$d"
done
refused "block -d 1.5h refused" "bad duration '1.5h'" block 198.18.9.7 -d 1.5h
refused "allow -d -5s refused" "bad duration" allow 198.18.9.7 -d -5s
kernel_has 198.18.9.7 && fail "a refused duration reached the kernel" || pass "no rule from a refused duration"
octl block 198.18.9.8 -d 1h -m $'ticket 7\nmtaguardd: operator allow ::/0: forged' >/dev/null || fail "block with a comment"
lab_wait "comment logged" grep -q "operator block 198.18.9.8" "$LAB_DIR/daemon.err" &&
	grep -qF 'operator block 198.18.9.8 for 3600s: ticket 7\nmtaguardd: operator allow ::/0: forged' "$LAB_DIR/daemon.err" &&
	! grep -q '^mtaguardd: operator allow ::/0: forged' "$LAB_DIR/daemon.err" &&
	pass "a comment's newline is escaped in the readable log: no forged line" ||
	fail "readable log: $(grep -A1 '198.18.9.8' "$LAB_DIR/daemon.err")"
grep '"event":"operator"' "$LAB_DIR/events.jsonl" | jq -e 'select(.message | endswith("ticket 7\nmtaguardd: operator allow ::/0: forged"))' \
	>/dev/null && pass "the JSON log holds the comment as written" || fail "JSON log lost the comment"
octl verdicts | grep -qF 'ticket 7\nmtaguardd: operator allow ::/0: forged' && ! octl verdicts | grep -q '^mtaguardd: operator allow' &&
	pass "mtaguardctl verdicts keeps the comment on its row" || fail "verdicts table: $(octl verdicts)"

# --- what mtaguardctl spares an operator --------------------------------------------------

# The LAN 198.19.0.0/16, its mail server 198.19.1.25 and the allowlisted 198.19.5.0/24 (the config above).
refused "block over the whole protected network refused, naming it" "covers protected network 198.19.0.0/16" \
	block 198.19.0.0/16 -d 1h
refused "block over the mail server refused, naming whose it is" \
	"covers mail server 198.19.1.25 (config:mail_servers); repeat with --force" block 198.19.1.0/24
refused "block inside the allowlist refused: it would drop nothing" \
	"lies inside allowlisted 198.19.5.0/24 (config:allowlist), which wins" block 198.19.5.7
kernel_has 198.19.0.0/16 || kernel_has 198.19.1.0/24 || kernel_has 198.19.5.7 && fail "a refused block reached the kernel" ||
	pass "no refused block reached the kernel"
out="$(octl block 198.19.1.0/24 -d 10m --force 2>&1)" && kernel_has 198.19.1.0/24 &&
	[[ "$out" == *"blocked 198.19.1.0/24 (drop smtp) for 10m, until "*"forced: it covers mail server 198.19.1.25"* ]] &&
	grep -q "^mtaguardd: warning: operator block 198.19.1.0/24 forced: it covers mail server 198.19.1.25 (config:mail_servers); requested by root" \
		"$LAB_DIR/daemon.err" && pass "forced: done, said, and a warning in the log naming who" ||
	fail "forced block over the mail server: $out"
octl unblock 198.19.1.0/24 | grep -qx "unblocked 198.19.1.0/24" && pass "unblock says what it did" || fail "unblock echo"
# Inside the LAN, away from the server and the allow: a zombie PC's block, said back in full.
out="$(octl block 198.19.7.0/24 -d 2h -a all -m "ticket 8")"
[[ "$out" =~ ^blocked\ 198\.19\.7\.0/24\ \(drop\ all\)\ for\ (2h|1h59m),\ until\ 20[0-9-]+T[0-9:]+Z:\ ticket\ 8$ ]] &&
	pass "block says what it did: $out" || fail "block echo: $out"
out="$(octl allow 198.19.8.8 -m "partner")" && [[ "$out" == "allowed 198.19.8.8 until removed: partner" ]] &&
	pass "allow says what it did" || fail "allow echo: $out"
octl disallow 198.19.8.8 | grep -qx "disallowed 198.19.8.8" && pass "disallow says what it did" || fail "disallow echo"

# show names the operator's rule that covers the address, with its note and end, in human time.
out="$(octl show 198.19.7.9)"
grep -qE "^  rule: 198\.19\.7\.0/24 by operator, drop all, 0 hits, ends in (2h|1h59m); set (now|[0-9]+s ago): ticket 8$" <<<"$out" &&
	pass "show names the covering rule, its note and end" || fail "show: $out"
octl show 198.19.5.9 | grep -q "^  allow: 198.19.5.0/24 by config:allowlist" && pass "show names the allow that covers it" ||
	fail "show allow: $(octl show 198.19.5.9)"
grep -qE "expires in [0-9]+s|rule ,|[0-9]{4}-[0-9]{2}-[0-9]{2}T" <<<"$(octl show 198.19.7.9; octl verdicts; octl allowlist)" &&
	fail "a time in seconds or ISO form, or 'rule ,', in text: $(octl verdicts)" || pass "text mode: times for people, no 'rule ,'"

# verdicts: filters and a total line.
octl block 198.19.9.9 -d 1h >/dev/null || fail "block 198.19.9.9"
printf '198.18.200.0/24\n198.18.201.0/24\n' | octl import - -o e2elist >/dev/null || fail "import e2elist"
all="$(octl verdicts | tail -n +2)"
total="$(octl --json verdicts | jq .total)"
grep -qx "$total verdicts, $((total - 2)) shown" <<<"$all" && pass "verdicts: a total line ($total verdicts, $((total - 2)) shown)" ||
	fail "verdicts total: $all"
out="$(octl verdicts --source 198.19.7.9)"
grep -q "^198.19.7.0/24 " <<<"$out" && ! grep -q "^198.19.9.9 " <<<"$out" && grep -qx "$total verdicts, 1 shown" <<<"$out" &&
	pass "verdicts --source: the rule holding the address" || fail "verdicts --source: $out"
out="$(octl verdicts --by operator --source 198.19.0.0/16)"
grep -qx "$total verdicts, 2 shown" <<<"$out" && pass "verdicts --by operator --source PREFIX: the two inside" ||
	fail "verdicts --by --source: $out"
out="$(octl verdicts -o e2elist)"
grep -q "^198.18.201.0/24 .* feed$" <<<"$out" && grep -q "from imported lists: e2elist" <<<"$out" &&
	grep -qx "$total verdicts, 2 shown" <<<"$out" && pass "verdicts -o LIST: that list's blocks" || fail "verdicts -o: $out"
refused "verdicts --by with an owner of no blocks refused" "blocks are by operator, analyzer" verdicts --by config:allowlist
octl import --drop -o e2elist >/dev/null || fail "import --drop"

# Usage errors: one line, exit 2, also from the client's own checks; with --json, JSON on stdout.
for args in "top abc" "--bogus status" "block 198.18.10.5/24" "monitor maybe" "show"; do
	# shellcheck disable=SC2086
	out="$(octl $args 2>&1)" && rc=0 || rc=$?
	[[ $rc == 2 && $(wc -l <<<"$out") == 1 ]] && pass "mtaguardctl $args: exit 2, one line" || fail "mtaguardctl $args: exit $rc: $out"
	# shellcheck disable=SC2086
	out="$(octl --json $args 2>/dev/null)" && rc=0 || rc=$?
	[[ $rc == 2 ]] && jq -e '.ok == false and .exit == 2 and (.error | length > 0)' <<<"$out" >/dev/null &&
		pass "mtaguardctl --json $args: a JSON failure, exit 2" || fail "mtaguardctl --json $args: exit $rc: $out"
done
out="$("$ROOT/usr/sbin/mtaguardctl" -s "$LAB_DIR/nothing.sock" --json status 2>/dev/null)" && rc=0 || rc=$?
[[ $rc == 3 ]] && jq -e '.ok == false and .exit == 3 and (.error | test("no daemon"))' <<<"$out" >/dev/null &&
	pass "--json with no daemon: a JSON failure, exit 3" || fail "--json no daemon: exit $rc: $out"
out="$(octl --json block 198.19.0.0/16 2>/dev/null)" && rc=0 || rc=$?
[[ $rc == 1 ]] && jq -e '.ok == false and (.error | test("covers protected network"))' <<<"$out" >/dev/null &&
	pass "--json refusal: JSON, exit 1" || fail "--json refusal: exit $rc: $out"

# status: the attach mode in use ("auto" asked; the kernel says native or generic).
out="$(octl status)"
grep -qE "^interfaces  in0 \((native|generic)\)$" <<<"$out" &&
	octl --json status | jq -e '.interfaces[0] | .mode == "auto" and (.attached == "native" or .attached == "generic")' >/dev/null &&
	pass "status: in0 attached $(octl --json status | jq -r '.interfaces[0].attached') (auto asked)" || fail "status: $out"
grep -qE "^uptime      [0-9]+(s|m|m[0-9]+s)$" <<<"$out" && pass "status: uptime for people" || fail "uptime: $out"

# monitor alone: the state; on and off say what they did.
octl monitor | grep -qx "monitor mode is off: enforcing" && pass "monitor alone: the state (off)" || fail "monitor: $(octl monitor)"
octl monitor on | grep -q "^monitor mode on: " && octl monitor | grep -q "^monitor mode is on: " &&
	octl --json monitor | jq -e '.monitor == true' >/dev/null && pass "monitor on, then alone: on" || fail "monitor on"
octl monitor off | grep -qx "monitor mode off: enforcing" && pass "monitor off says so" || fail "monitor off"

# except add helo:NAME: the HELO's text, hashed as the data plane does
# (headers/mg_hash.h, written again here: case folded, 8-byte little-endian
# words, a multiply each, then the length; bash's arithmetic wraps at 64 bits).
helo_hash() {
	local name=${1,,} h=$((0x6a09e667f3bcc908)) i j w c n=${#1}
	for ((i = 0; i < n; i += 8)); do
		w=0
		for ((j = 0; j < 8 && i + j < n; j++)); do
			printf -v c '%d' "'${name:i+j:1}"
			w=$((w | c << (8 * j)))
		done
		h=$(((h ^ w) * 0xff51afd7ed558ccd))
		h=$((h ^ ((h >> 32) & 0xffffffff)))
	done
	h=$(((h ^ n) * 0x9e3779b97f4a7c15))
	printf '%08x' $(((h ^ (h >> 29) ^ (h >> 32)) & 0xffffffff))
}
want="helo:$(helo_hash bulk.mailer.example)"
out="$(octl except add helo:Bulk.Mailer.Example)"
[[ "$out" == "excepted from outbreak handling: $want (helo:Bulk.Mailer.Example)" ]] &&
	octl --json except list | jq -e --arg s "$want" '.exceptions | index($s)' >/dev/null &&
	pass "except add helo:NAME: kept as $want" || fail "except helo:NAME: $out (want $want)"
octl except remove helo:bulk.mailer.example | grep -qx "no longer excepted: $want (helo:bulk.mailer.example)" &&
	pass "except remove by the same name" || fail "except remove helo:NAME"

kill -TERM "$DPID"
wait "$DPID" 2>/dev/null || true
DPID=""
grep -q "STOPPING=1" "$LAB_DIR/notify.log" && pass "stop: STOPPING=1" || fail "stop not notified"
# The last save asks for more time than the unit's stop timeout may leave it (a big state takes minutes).
tr '\n' ' ' <"$LAB_DIR/notify.log" | grep -q "STOPPING=1.*EXTEND_TIMEOUT_USEC=30000000.STATUS=stopping: saving state" &&
	pass "stop: EXTEND_TIMEOUT_USEC before the last save" || fail "stop: no time asked for the last save"

# A start with saved state asks the service manager for more time before it
# restores it (60 s and a microsecond a byte of its files), then says READY.
bytes=$(cat "$LAB_DIR"/state.gz* 2>/dev/null | wc -c)
# What the restarted daemon says: the log past its present end (socat appends each datagram as it comes).
seen=$(wc -c <"$LAB_DIR/notify.log")
start_daemon
if lab_wait "READY=1 after a restart" bash -c "tail -c +$((seen + 1)) '$LAB_DIR/notify.log' | grep -q READY=1"; then
	said=$(tail -c +$((seen + 1)) "$LAB_DIR/notify.log" | tr '\n' ' ')
	ext=$(grep -o 'EXTEND_TIMEOUT_USEC=[0-9]*' <<<"$said" | head -1 | cut -d= -f2)
	[[ "$said" == *EXTEND_TIMEOUT_USEC=*READY=1* && -n "$ext" ]] && ((bytes > 0 && ext == 60000000 + bytes)) &&
		pass "restart with $bytes bytes of saved state: EXTEND_TIMEOUT_USEC=$ext before READY=1" ||
		fail "no start-timeout extension before READY=1 (state $bytes bytes): $said"
else
	fail "no READY=1 after a restart (stderr: $(tail -5 "$LAB_DIR/daemon.err"))"
fi
kill -TERM "$DPID"
wait "$DPID" 2>/dev/null || true
DPID=""

# --- the real unit, when this machine runs systemd -------------------------------------

if [[ "$(ps -p 1 -o comm= 2>/dev/null)" == systemd ]]; then
	name="mtaguardd-selftest-$$"
	sed -e "s|^ExecStart=.*|ExecStart=$ROOT/usr/sbin/mtaguardd -c $LAB_DIR/unit.json|" \
		-e "s|^ReadWritePaths=.*|ReadWritePaths=/sys/fs/bpf $LAB_DIR|" "$unit" >"/run/systemd/system/$name.service"
	sed -e "s|\"interfaces\": \[ \"in0\" \]|\"interfaces\": [ \"mgu$$\" ]|" -e '/"metrics"/d' -e 's|"control.sock",|"control.sock"|' \
		"$LAB_DIR/mtaguard.json" >"$LAB_DIR/unit.json"
	ip link add "mgu$$" type veth peer name "mgv$$"
	lab_defer ip link del "mgu$$"
	lab_defer rm -f "/run/systemd/system/$name.service"
	lab_defer systemctl stop "$name"
	systemctl daemon-reload
	if systemctl start "$name" && systemctl is-active -q "$name"; then
		pass "systemd started the unit (Type=notify: it reported ready)"
		systemctl reload "$name" && systemctl is-active -q "$name" && pass "systemctl reload" || fail "reload"
		"$ROOT/usr/sbin/mtaguardctl" -s "$LAB_DIR/control.sock" status >/dev/null && pass "mtaguardctl talks to it" ||
			fail "mtaguardctl against the unit"
		systemctl stop "$name" && pass "systemctl stop" || fail "stop"
	else
		fail "the unit did not start: $(journalctl -u "$name" -n 20 --no-pager 2>&1)"
	fi
else
	echo "note: PID 1 is not systemd here; the unit was checked with systemd-analyze verify and the notify protocol above"
fi

if ((FAILS)); then
	echo "e2e_operations: $FAILS check(s) failed"
	exit 1
fi
echo "e2e_operations: all checks passed"
