#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# e2e_ctlsock.sh - the live daemon's control socket and main loop under
# clients that misbehave: ten connections that send nothing and one that
# sends a byte every 0.9 s, kept up for seconds, delay neither an operator's
# mtaguardctl nor the systemd watchdog; an answer far larger than the
# socket's buffer (6000 allow rules) arrives whole every time, also into a
# file; a request over 64 KiB gets its error; mtaguardctl's exit status tells
# a missing daemon from a denied socket.
#
#   selftests/e2e_ctlsock.sh BUILD_DIR
#
# Exit 0 pass, 1 fail, 77 skip (not root, tool missing).
set -euo pipefail

SELFTESTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=selftests/lab.sh
. "$SELFTESTS/lab.sh"

BUILD="$(cd "${1:-${MG_BUILD:-build}}" && pwd)"
PIN="/sys/fs/bpf/mg-e2ec-$$"
ALLOWS=6000

lab_require_root
lab_require_cmds ip nsenter socat jq setpriv
FAILS=0
pass() { printf 'ok:   %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*"; FAILS=$((FAILS + 1)); }

lab_init
lab_bpffs
lab_netns edge
lab_veth edge in0 edge peer0
lab_addr edge in0 198.18.9.1/24
SOCK="$LAB_DIR/control.sock"
CTL=("$BUILD/mtaguardctl" -s "$SOCK")

# 6000 allowlisted addresses: the allowlist answer is ~400 KB, twice a UNIX socket's buffer.
allows="$(for ((i = 0; i < ALLOWS; i++)); do printf '"198.19.%d.%d/32",' $((i / 250)) $((i % 250 + 1)); done)"
cat >"$LAB_DIR/mtaguard.json" <<EOF
{
  "interfaces": [ "in0" ],
  "pin_dir": "$PIN",
  "state_file": "$LAB_DIR/state.gz",
  "log_file": "$LAB_DIR/events.jsonl",
  "control_socket": "$SOCK",
  "allowlist": [ ${allows%,} ]
}
EOF

# The service manager's side of sd_notify, to count the watchdog's pings.
socat -u "UNIX-RECV:$LAB_DIR/notify.sock" "OPEN:$LAB_DIR/notify.log,creat,append" &
SOCAT=$!
stop_socat() { kill "$SOCAT" 2>/dev/null || true; }
lab_defer stop_socat
lab_wait "notify socket" test -S "$LAB_DIR/notify.sock"
cleanup_daemon() {
	rm -f "$LAB_DIR/slow.on"
	kill "${DPID:-0}" 2>/dev/null && wait "${DPID:-0}" 2>/dev/null
	[[ -d "$PIN" ]] && "$BUILD/mtaguard-loader" -p "$PIN" unload 2>/dev/null
	rm -rf -- "$PIN"
	return 0
}
lab_defer cleanup_daemon
NOTIFY_SOCKET="$LAB_DIR/notify.sock" WATCHDOG_USEC=2000000 \
	nsenter --net="/run/netns/$(lab_ns edge)" -- bash -c 'export WATCHDOG_PID=$$; exec "$0" -c "$1" -q' \
	"$BUILD/mtaguardd" "$LAB_DIR/mtaguard.json" 2>"$LAB_DIR/daemon.err" &
DPID=$!
lab_wait "READY=1" grep -q "READY=1" "$LAB_DIR/notify.log" ||
	{ fail "the daemon did not start: $(cat "$LAB_DIR/daemon.err")"; exit 1; }

# --- slow clients -------------------------------------------------------------------

# Milliseconds mtaguardctl status takes.
status_ms() {
	local t0 t1
	t0="$(date +%s%N)"
	"${CTL[@]}" status >/dev/null || return 1
	t1="$(date +%s%N)"
	echo $(((t1 - t0) / 1000000))
}
pings() { grep -o 'WATCHDOG=1' "$LAB_DIR/notify.log" | wc -l; }

touch "$LAB_DIR/slow.on"
# Ten that connect and say nothing, each connecting again before the daemon's
# 2 s request deadline would free its slot: the pressure lasts.
for ((i = 0; i < 10; i++)); do
	(while [[ -e "$LAB_DIR/slow.on" ]]; do sleep 1.8 | socat -u - "UNIX-CONNECT:$SOCK" 2>/dev/null || sleep 0.2; done) &
done
# One that sends a byte every 0.9 s.
(while [[ -e "$LAB_DIR/slow.on" ]]; do
	for _ in 1 2 3; do printf '{'; sleep 0.9; done | socat -u - "UNIX-CONNECT:$SOCK" 2>/dev/null || sleep 0.2
done) &
sleep 0.5
pings_before="$(pings)"
worst=0
for ((i = 0; i < 12; i++)); do
	ms="$(status_ms)" || { fail "mtaguardctl status failed among slow clients"; break; }
	((ms > worst)) && worst=$ms
	sleep 0.4
done
pings_during=$(($(pings) - pings_before))
rm -f "$LAB_DIR/slow.on"
# The old server waited up to 1 s on each silent client in turn: seconds per answer.
((worst < 1000)) && pass "12 status requests among 11 slow clients over ~6 s: the slowest took ${worst} ms" ||
	fail "a status request took ${worst} ms among slow clients"
((pings_during >= 3)) && pass "the watchdog kept beating: $pings_during pings (WatchdogSec 2 s)" ||
	fail "only $pings_during watchdog pings while slow clients were connected"
wait_slow_gone() { "${CTL[@]}" status >/dev/null && ! pgrep -f "UNIX-CONNECT:$SOCK" >/dev/null; }
lab_wait -t 10 "the slow clients gone" wait_slow_gone || fail "slow clients still connected"

# --- answers of any size ------------------------------------------------------------------

whole=0
for ((i = 0; i < 20; i++)); do
	if "${CTL[@]}" --json allowlist >"$LAB_DIR/allowlist.json" &&
		[[ "$(jq '.allowlist | length' "$LAB_DIR/allowlist.json")" -ge $ALLOWS ]]; then
		whole=$((whole + 1))
	fi
done
size="$(stat -c %s "$LAB_DIR/allowlist.json")"
((whole == 20)) && pass "mtaguardctl --json allowlist > file: whole 20 times out of 20 ($size bytes)" ||
	fail "mtaguardctl --json allowlist > file: whole only $whole times out of 20"
"${CTL[@]}" allowlist | grep -c '^198\.19\.' | grep -qx "$ALLOWS" && pass "the allowlist as a table: $ALLOWS rows" ||
	fail "the allowlist table lacks rows"

# --- bad requests -------------------------------------------------------------------------

big="$(head -c 300000 /dev/zero | tr '\0' ' ' | socat - "UNIX-CONNECT:$SOCK" 2>&1 || true)"
[[ "$big" == '{"ok":false,"error":"request larger than 65536 bytes"}' ]] &&
	pass "a request over 64 KiB: the JSON error, read whole" || fail "a request over 64 KiB: '$big'"
# The same from mtaguardctl: a refusal by the daemon (exit 1) with its reason, not a failed send.
rc=0
reply="$("${CTL[@]}" block 198.18.200.1 -m "$(head -c 100000 /dev/zero | tr '\0' x)" 2>&1)" || rc=$?
((rc == 1)) && grep -q "request larger than 65536 bytes" <<<"$reply" &&
	pass "mtaguardctl with a 100 kB comment: exit 1, the daemon's reason" || fail "mtaguardctl, 100 kB comment: exit $rc: $reply"
trail="$(printf '{"cmd":"status"} {"cmd":"status"}\n' | socat - "UNIX-CONNECT:$SOCK" 2>&1 || true)"
jq -e '.ok == false and (.error | startswith("trailing bytes"))' <<<"$trail" >/dev/null &&
	pass "trailing bytes after the request refused" || fail "trailing bytes: '$trail'"
"${CTL[@]}" status >/dev/null && pass "the daemon serves on" || fail "the daemon stopped serving"

# --- exit status ------------------------------------------------------------------------

rc=0
"$BUILD/mtaguardctl" -s "$LAB_DIR/none.sock" status 2>/dev/null || rc=$?
((rc == 3)) && pass "no daemon: exit 3" || fail "no daemon: exit $rc"
rc=0
setpriv --reuid=nobody --regid=nogroup --clear-groups "${CTL[@]}" status 2>/dev/null || rc=$?
((rc == 4)) && pass "permission denied: exit 4" || fail "permission denied: exit $rc"
# An answer that cannot be written out (a full disk under a redirect) is no success: exit 6, not 0.
rc=0
"${CTL[@]}" --json allowlist >/dev/full 2>/dev/null || rc=$?
((rc == 6)) && pass "--json allowlist > /dev/full: exit 6" || fail "--json allowlist > /dev/full: exit $rc"
rc=0
"${CTL[@]}" status >/dev/full 2>"$LAB_DIR/full.err" || rc=$?
((rc == 6)) && grep -q 'No space left on device' "$LAB_DIR/full.err" &&
	pass "status > /dev/full: exit 6, and why" || fail "status > /dev/full: exit $rc: $(cat "$LAB_DIR/full.err")"

kill -0 "$DPID" 2>/dev/null && pass "the daemon is still running" || fail "the daemon died: $(tail -5 "$LAB_DIR/daemon.err")"
((FAILS == 0)) && echo "e2e_ctlsock: all checks passed" || echo "e2e_ctlsock: $FAILS check(s) failed"
((FAILS == 0))
