#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# bench_cluster.sh - how fast rules travel between mtaguard nodes over NATS
# JetStream: a few hundred operator blocks at node A, each timed from A's
# write to the rule in B's kernel (B keeps the figures: status
# .cluster.propagation); and a fresh node's resync of 100 000 verdicts
# already in the bucket, timed from its start to holding them all. Part of
# `make bench`: figures, not pass/fail (e2e_cluster asserts the behaviour).
#
#   selftests/bench/bench_cluster.sh BUILD_DIR [BLOCKS] [RESYNC]
set -euo pipefail

SELFTESTS="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=selftests/lab.sh
. "$SELFTESTS/lab.sh"

BUILD="$(cd "${1:-build}" && pwd)"
BLOCKS="${2:-300}"
RESYNC="${3:-100000}"
CTL="$BUILD/mtaguardctl"

lab_require_root
lab_require_cmds ip nsenter nats-server curl jq
lab_init
lab_bpffs
lab_netns edge hosts
lab_veth edge inA hosts a0
lab_veth edge inB hosts b0
lab_veth edge inC hosts c0

nsenter --net="/run/netns/$(lab_ns edge)" -- nats-server -a 127.0.0.1 -p 14322 -m 18322 -js \
	-sd "$LAB_DIR/nats" >"$LAB_DIR/nats.log" 2>&1 &
NATS=$!
lab_defer kill "$NATS"
js_ready() { lab_run edge curl -sf "http://127.0.0.1:18322/healthz?js-enabled-only=true" >/dev/null; }
lab_wait -t 30 "nats-server" js_ready || { echo "bench_cluster: nats-server did not start" >&2; exit 1; }

ctl() { local n="$1"; shift; "$CTL" -s "$LAB_DIR/$n.sock" "$@"; }
node() { # NAME IFACE
	cat >"$LAB_DIR/$1.json" <<JSON
{
  "interfaces": [ "$2" ],
  "pin_dir": "/sys/fs/bpf/mg-benchcl-$1-$$",
  "state_file": "$LAB_DIR/$1.state.gz",
  "log_file": "$LAB_DIR/$1.events.jsonl",
  "control_socket": "$LAB_DIR/$1.sock",
  "cluster": { "servers": [ "nats://127.0.0.1:14322" ], "node": "bench-$1" }
}
JSON
	lab_mtaguardd edge "$BUILD" "/sys/fs/bpf/mg-benchcl-$1-$$" "$LAB_DIR/$1.json" "$1"
	lab_wait "node $1" test -S "$LAB_DIR/$1.sock" || { echo "bench_cluster: node $1 did not start" >&2; exit 1; }
}
synced() { ctl "$1" --json status | jq -e '.cluster.connected and .cluster.synced' >/dev/null; }
held() { ctl "$1" --json status | jq -r ".cluster.held_from_others.$2"; }
ms() { date +%s%3N; }

node a inA
node b inB
lab_wait -t 30 "node a connected" synced a && lab_wait -t 30 "node b connected" synced b

# --- propagation: operator blocks at A, each a /32 in 100.1.0.0/16 (rule-table entries, no traffic) --------
for i in $(seq 1 "$BLOCKS"); do
	ctl a block "100.1.$((i / 250)).$((i % 250 + 1))" -d 1h -m bench >/dev/null
	sleep 0.01 # a few hundred verdicts as they come, not one burst
done
all_blocks() { [[ "$(held b blocks)" -ge "$BLOCKS" ]]; }
lab_wait -t 60 "B holds every block" all_blocks || echo "bench_cluster: B holds $(held b blocks) of $BLOCKS blocks" >&2
prop=$(ctl b --json status | jq -c '.cluster.propagation')

# --- resync: RESYNC verdicts of a node that is not running, then a fresh node C ------------------
fill=$(lab_run edge "$BUILD/selftests/tool_cluster_fill" nats://127.0.0.1:14322 mtaguard bench-origin "$RESYNC")
t0=$(ms)
node c inC
all_verdicts() { [[ "$(held c verdicts 2>/dev/null || echo 0)" -ge "$RESYNC" ]]; }
lab_wait -t 300 "C holds every verdict" all_verdicts || echo "bench_cluster: C holds $(held c verdicts) of $RESYNC" >&2
t1=$(ms)
inforce=$(ctl c --json status | jq -r '.verdicts_active')

echo "Cluster (nats-server 2.9, one server with JetStream, on loopback; make bench):"
printf '  %-58s n %s, p50 %s ms, p90 %s ms, max %s ms\n' "operator blocks at A, A's write to the rule in B's kernel:" \
	"$(jq -r .n <<<"$prop")" "$(jq -r '.p50_ms // "-"' <<<"$prop")" "$(jq -r '.p90_ms // "-"' <<<"$prop")" \
	"$(jq -r '.max_ms // "-"' <<<"$prop")"
printf '  %-58s %.1f s from its start (%s rules in force; the bucket %s)\n' \
	"resync of $RESYNC verdicts to a fresh node:" "$(((t1 - t0)))e-3" "$inforce" "${fill#wrote }"
