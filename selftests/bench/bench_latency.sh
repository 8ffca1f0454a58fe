#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# bench_latency.sh - how long a Postfix policy request waits for its answer
# while the daemon is under attack: a baseline, a spoofed SMTP-payload flood
# through the XDP program, and a slow-loris on the control socket (and on
# the policy socket itself). Each case runs 10 s with one probe request every
# 20 ms on a connection of its own, as a Postfix smtpd process does; the
# figures are p50/p99/max of the answer time. Part of `make bench`: figures,
# not pass/fail (the end-to-end test e2e_adversity asserts the behaviour).
#
#   selftests/bench/bench_latency.sh BUILD_DIR
set -euo pipefail

SELFTESTS="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=selftests/lab.sh
. "$SELFTESTS/lab.sh"

BUILD="$(cd "${1:-build}" && pwd)"
PIN="/sys/fs/bpf/mg-benchlat-$$"
SECS=10
PPS=45000

lab_require_root
lab_require_cmds ip nsenter
lab_init
SOCK="$LAB_DIR/control.sock"
POLICY="$LAB_DIR/policy.sock"
ADV="$BUILD/selftests/tool_adversary"

lab_bpffs
lab_netns edge lan
lab_veth edge in1 lan eth0
lab_addr edge in1 198.18.0.1/15
lab_addr lan eth0 198.18.0.2/15
cat >"$LAB_DIR/mtaguard.json" <<JSON
{
  "interfaces": [ "in1" ],
  "pin_dir": "$PIN",
  "state_file": "$LAB_DIR/state.gz",
  "log_file": "$LAB_DIR/events.jsonl",
  "control_socket": "$SOCK",
  "quarantine": { "policy_listen": "unix:$POLICY", "clamav": false }
}
JSON
lab_mtaguardd edge "$BUILD" "$PIN" "$LAB_DIR/mtaguard.json"
DPID=$LAB_DPID
lab_wait "mtaguardd" "$BUILD/mtaguardctl" -s "$SOCK" status >/dev/null ||
	{ tail "$LAB_DIR/daemon.err"; echo "bench_latency: mtaguardd did not start" >&2; exit 1; }
lab_wait "policy socket" test -S "$POLICY" || { echo "bench_latency: no policy socket" >&2; exit 1; }

results=()
# measure NAME [LOAD...]: the probe for SECS s while LOAD runs beside it.
measure() {
	local name="$1" out load_pid=""
	shift
	if (($#)); then
		"$@" >"$LAB_DIR/load.out" 2>&1 &
		load_pid=$!
		sleep 0.5 # the load under way before the first probe
	fi
	out="$("$ADV" probe "unix:$POLICY" "$SECS" 20 || true)"
	[[ -n "$load_pid" ]] && wait "$load_pid" 2>/dev/null || true
	results+=("$(printf '%-46s %s' "$name" "$(head -1 <<<"$out" | sed 's/^probe: //')")")
	[[ -s "$LAB_DIR/load.out" ]] && sed 's/^/    /' "$LAB_DIR/load.out"
	: >"$LAB_DIR/load.out"
}

echo "Policy answer latency: one request every 20 ms for ${SECS} s per case"
measure "idle"
measure "spoofed SMTP payload flood, ${PPS}/s" lab_run lan "$BUILD/selftests/tool_flood" eth0 payload "$PPS" "$((SECS + 1))"
measure "spoofed SYN flood to 25, ${PPS}/s" lab_run lan "$BUILD/selftests/tool_flood" eth0 syn "$PPS" "$((SECS + 1))"
slowloris_ctl() {
	"$ADV" slow "unix:$SOCK" 10 "$((SECS + 1))" 0 &
	"$ADV" slow "unix:$SOCK" 10 "$((SECS + 1))" 900 &
	"$ADV" noread "unix:$SOCK" 10 "$((SECS + 1))" '{"cmd":"roles"}' &
	wait
}
measure "slow-loris on the control socket (30 conns)" slowloris_ctl
slowloris_policy() {
	"$ADV" slow "unix:$POLICY" 20 "$((SECS + 1))" 0 &
	"$ADV" slow "unix:$POLICY" 20 "$((SECS + 1))" 900 &
	"$ADV" pipeline "unix:$POLICY" 20000 "$((SECS - 2))" &
	wait
}
measure "slow-loris + pipelining on the policy socket" slowloris_policy
echo
printf '%s\n' "${results[@]}"
kill -0 "$DPID" 2>/dev/null || { echo "bench_latency: mtaguardd died" >&2; tail "$LAB_DIR/daemon.err"; exit 1; }
