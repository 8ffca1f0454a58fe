#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# e2e_flowspec.sh - mtaguard's blocks as BGP FlowSpec routes, with real BGP
# speakers: ExaBGP on the mtaguard node (namespace edge) runs
# mtaguard-flowspec as its process; GoBGP (namespace rr) reflects; a second
# ExaBGP (namespace router) is the router and logs every UPDATE it gets.
# A block in force before the helper starts is announced at its start; a
# new block appears at the router (time printed), IPv6 too; an unblock and
# an expiry withdraw it (time printed); ExaBGP on the node restarted (the
# reflector withdraws all its routes) gets them all back at the router.
# The receive side (mtaguard-flowspec --accept): the router announces discard
# routes; the node's daemon takes one as a "bgp" block with the peer, and its
# kernel drops that source's SYNs to port 25 from a namespace pc (time from
# the announcement printed); an allowlisted source stays allowed, a route with
# a destination (unsupported) or a rate limit (no discard) is not taken, the
# received block is not announced back; the withdrawal at the router ends it.
#
#   selftests/e2e_flowspec.sh BUILD_DIR
#
# Exit 0 pass, 1 fail, 77 skip (not root, tool missing).
set -euo pipefail

SELFTESTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=selftests/lab.sh
. "$SELFTESTS/lab.sh"

BUILD="$(cd "${1:-${MG_BUILD:-build}}" && pwd)"
PIN="/sys/fs/bpf/mg-e2efs-$$"

lab_require_root
lab_require_cmds ip nsenter jq exabgp gobgpd python3
FAILS=0
pass() { printf 'ok:   %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*"; FAILS=$((FAILS + 1)); }

lab_init
lab_bpffs
lab_netns edge rr router pc
lab_veth edge in0 pc peer0
lab_addr edge in0 198.18.9.1/24
lab_addr pc peer0 198.18.9.66/24 198.18.9.77/24
lab_veth edge up0 rr e0
lab_addr edge up0 198.18.100.1/24
lab_addr rr e0 198.18.100.2/24
lab_veth rr e1 router up0
lab_addr rr e1 198.18.101.2/24
lab_addr router up0 198.18.101.3/24

SOCK="$LAB_DIR/control.sock"
CTL=("$BUILD/mtaguardctl" -s "$SOCK")
cat >"$LAB_DIR/mtaguard.json" <<EOF
{
  "interfaces": [ "in0" ],
  "allowlist": [ "198.18.9.77" ],
  "pin_dir": "$PIN",
  "state_file": "$LAB_DIR/state.gz",
  "log_file": "$LAB_DIR/events.jsonl",
  "control_socket": "$SOCK"
}
EOF
lab_mtaguardd edge "$BUILD" "$PIN" "$LAB_DIR/mtaguard.json"
lab_wait "the daemon's socket" "${CTL[@]}" status || { fail "daemon: $(cat "$LAB_DIR/daemon.err")"; exit 1; }
# In force before any BGP speaker runs: announced when the helper starts.
"${CTL[@]}" block 198.18.0.66 -m "before the helper" >/dev/null

# ExaBGP as root (the helper reads the root-only control socket), no CLI pipes, log to a file.
export exabgp_daemon_user=root exabgp_daemon_drop=false exabgp_api_cli=false exabgp_log_level=INFO
cat >"$LAB_DIR/edge.conf" <<EOF
process mtaguard {
	run $BUILD/mtaguard-flowspec -s $SOCK -i 50 --tag 65000:1 --accept --accept-ttl 30 -v;
	encoder json;
}
neighbor 198.18.100.2 {
	router-id 198.18.100.1;
	local-address 198.18.100.1;
	local-as 65000;
	peer-as 65000;
	family { ipv4 flow; ipv6 flow; }
	api { processes [ mtaguard ]; neighbor-changes; receive { parsed; update; } }
}
EOF
# The router's process: every line ExaBGP hands it, appended to a file; the commands the test appends to
# router.cmd, to ExaBGP (the router announces and withdraws routes of its own).
: >"$LAB_DIR/router.cmd"
printf '#!/bin/sh\ntail -n 0 -f %s &\nwhile IFS= read -r line; do printf "%%s\\n" "$line" >>%s; done\nkill $!\n' \
	"$LAB_DIR/router.cmd" "$LAB_DIR/router.jsonl" >"$LAB_DIR/router-log.sh"
chmod +x "$LAB_DIR/router-log.sh"
cat >"$LAB_DIR/router.conf" <<EOF
process log {
	run $LAB_DIR/router-log.sh;
	encoder json;
}
neighbor 198.18.101.2 {
	router-id 198.18.101.3;
	local-address 198.18.101.3;
	local-as 65000;
	peer-as 65000;
	family { ipv4 flow; ipv6 flow; }
	api { processes [ log ]; receive { parsed; update; } }
}
EOF
cat >"$LAB_DIR/gobgp.toml" <<EOF
[global.config]
  as = 65000
  router-id = "198.18.100.2"
  local-address-list = ["198.18.100.2", "198.18.101.2"]
EOF
for n in 198.18.100.1 198.18.101.3; do
	cat >>"$LAB_DIR/gobgp.toml" <<EOF
[[neighbors]]
  [neighbors.config]
    neighbor-address = "$n"
    peer-as = 65000
  [neighbors.route-reflector.config]
    route-reflector-client = true
    route-reflector-cluster-id = "198.18.100.2"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-flowspec"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-flowspec"
EOF
done
: >"$LAB_DIR/router.jsonl"
lab_bg rr gobgpd -f "$LAB_DIR/gobgp.toml" -p --pprof-disable --api-hosts 127.0.0.1:50051
GOBGP=$LAB_LAST_PID
lab_bg router exabgp "$LAB_DIR/router.conf"
ROUTER=$LAB_LAST_PID

# The router's view: for each FlowSpec source, the last UPDATE's verdict (A announced, W withdrawn).
router_state() {
	jq -r 'select(.type == "update") | .neighbor.message.update as $u |
		( ($u.announce // {}) | to_entries[] | select(.key | test("flow")) | .value | to_entries[] | .value[] |
		  "A " + ((.["source-ipv4"] // .["source-ipv6"] // ["?"])[0]) ),
		( ($u.withdraw // {}) | to_entries[] | select(.key | test("flow")) | .value[] |
		  "W " + ((.["source-ipv4"] // .["source-ipv6"] // ["?"])[0]) )' "$LAB_DIR/router.jsonl" 2>/dev/null
}
# at_router SRC A|W: the router's last word on SRC is that (ExaBGP writes an IPv6 source with its offset, /0).
at_router() {
	[[ "$(router_state | awk -v s="$1" '$2 == s || $2 == s "/0" { last = $1 } END { print last }')" == "$2" ]]
}
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

# ExaBGP writes its own PID: lab_bg's is the shell running ip netns exec, and killing that leaves ExaBGP running.
start_edge() {
	rm -f "$LAB_DIR/edge.pid"
	# Its log (and the helper's lines in it) to a file, read when a check fails.
	exabgp_daemon_pid="$LAB_DIR/edge.pid" lab_bg edge sh -c 'exec exabgp "$1" >>"$2" 2>&1' _ "$LAB_DIR/edge.conf" \
		"$LAB_DIR/edge.log"
	lab_wait "ExaBGP's PID file" test -s "$LAB_DIR/edge.pid"
	EDGE="$(cat "$LAB_DIR/edge.pid")"
}
gone() { ! kill -0 "$1" 2>/dev/null; }
t0="$(date +%s%N)"
start_edge
if lab_wait -t 60 "the block made before the helper at the router" at_router 198.18.0.66/32 A; then
	pass "a block in force when the helper starts is announced ($(ms_since "$t0") ms from ExaBGP's start, sessions included)"
else
	fail "198.18.0.66 never reached the router: $(tail -3 "$LAB_DIR/router.jsonl")"
	exit 1
fi
# The route as the router got it: TCP to port 25, discard (ExaBGP shows it as rate-limit 0).
line="$(grep -F '198.18.0.66/32' "$LAB_DIR/router.jsonl" | head -1)"
flow="$(jq -c '.neighbor.message.update.announce[]?[]?[]? | select(.["source-ipv4"] == ["198.18.0.66/32"]) |
	[.["destination-port"], .protocol]' <<<"$line" 2>/dev/null)"
if [[ "$flow" == '[["=25"],["=tcp"]]' ]] && grep -q 'rate-limit:0' <<<"$line"; then
	pass "the route matches TCP to port 25 and discards"
else
	fail "route as received: $line"
fi

t0="$(date +%s%N)"
"${CTL[@]}" block 198.18.0.67 -d 3s >/dev/null
lab_wait "198.18.0.67 at the router" at_router 198.18.0.67/32 A &&
	pass "a new block reaches the router in $(ms_since "$t0") ms" || fail "198.18.0.67 not announced"
"${CTL[@]}" block 2001:db8:66::/64 -a all >/dev/null
lab_wait "the IPv6 block at the router" at_router 2001:db8:66::/64 A &&
	pass "an IPv6 block (action all: the source alone) reaches the router" || fail "IPv6 block: $(tail -2 "$LAB_DIR/router.jsonl")"
t0="$(date +%s%N)"
"${CTL[@]}" unblock 198.18.0.66 >/dev/null
lab_wait "198.18.0.66 withdrawn" at_router 198.18.0.66/32 W &&
	pass "an unblock withdraws the route in $(ms_since "$t0") ms" || fail "198.18.0.66 not withdrawn"
lab_wait -t 10 "198.18.0.67 withdrawn at its expiry" at_router 198.18.0.67/32 W &&
	pass "a block's expiry withdraws its route" || fail "198.18.0.67 not withdrawn after its 3 s"

# ExaBGP on the node goes away: the reflector withdraws its routes; started again, the helper announces them all.
kill "$EDGE"
lab_wait "ExaBGP on the node to end" gone "$EDGE" || fail "ExaBGP did not end"
lab_wait "the reflector's withdrawal at the router" at_router 2001:db8:66::/64 W ||
	fail "routes stayed at the router with ExaBGP gone"
t0="$(date +%s%N)"
start_edge
lab_wait -t 60 "the IPv6 route back" at_router 2001:db8:66::/64 A &&
	pass "ExaBGP and the helper restarted: the block in force is announced again ($(ms_since "$t0") ms)" ||
	fail "not re-announced"
at_router 198.18.0.66/32 W && pass "what was lifted meanwhile stays withdrawn" || fail "198.18.0.66 came back"

# ---- The receive side: the router's routes become the node's "bgp" blocks ----
# SRC's TCP SYN to the node's port 25 (nothing listens): "refused" (the kernel answered), "dropped" (XDP), "open".
syn_from() {
	lab_run pc /usr/bin/python3 -c '
import socket, sys
s = socket.socket(); s.settimeout(1.5); s.bind((sys.argv[1], 0))
try:
    s.connect(("198.18.9.1", 25)); print("open")
except ConnectionRefusedError:
    print("refused")
except (socket.timeout, TimeoutError):
    print("dropped")' "$1"
}
# The daemon's block on SRC from BGP: "PEER ACTION", or nothing.
bgp_block() {
	"${CTL[@]}" --json verdicts | jq -r --arg s "$1" '.verdicts[] | select(.source == $s and .by == "bgp") |
		"\(.peer) \(.action)"'
}
has_bgp_block() { [[ -n "$(bgp_block "$1")" ]]; }
no_bgp_block() { [[ -z "$(bgp_block "$1")" ]]; }
router_says() { printf '%s\n' "$@" >>"$LAB_DIR/router.cmd"; }

[[ "$(syn_from 198.18.9.66)" == refused ]] || fail "before any route, 198.18.9.66's SYN: $(syn_from 198.18.9.66)"
t0="$(date +%s%N)"
router_says "announce flow route { match { source 198.18.9.66/32; destination-port =25; protocol tcp; } then { discard; } }" \
	"announce flow route { match { source 198.18.9.77/32; destination-port =25; protocol tcp; } then { discard; } }" \
	"announce flow route { match { source 198.18.9.68/32; destination 198.18.1.1/32; } then { discard; } }" \
	"announce flow route { match { source 198.18.9.69/32; } then { rate-limit 1000; } }"
if lab_wait "the router's route as a bgp block" has_bgp_block 198.18.9.66; then
	ms="$(ms_since "$t0")"
	got="$(bgp_block 198.18.9.66)"
	[[ "$got" == "198.18.100.2 smtp" ]] && pass "a discard route announced at the router is a bgp block of peer 198.18.100.2, in force $ms ms after the announcement (router, reflector, ExaBGP, helper, daemon, kernel)" ||
		fail "bgp block on 198.18.9.66: $got"
	[[ "$(syn_from 198.18.9.66)" == dropped ]] && pass "the kernel drops 198.18.9.66's SYN to port 25" ||
		fail "198.18.9.66's SYN with the bgp block: $(syn_from 198.18.9.66)"
else
	fail "no bgp block for 198.18.9.66: $(grep -F accept "$LAB_DIR/edge.log" | tail -5)"
fi
# The allowlisted source: the route is received (a ledger claim) but the allow wins: its SYN reaches the node.
[[ "$(syn_from 198.18.9.77)" == refused ]] && no_bgp_block 198.18.9.77 &&
	pass "an allowlisted source announced the same way stays allowed" || fail "198.18.9.77: $(syn_from 198.18.9.77)"
no_bgp_block 198.18.9.68 && no_bgp_block 198.18.9.69 &&
	pass "a route with a destination (unsupported) or a rate limit (no discard) is not taken" ||
	fail "unsupported routes taken: $("${CTL[@]}" verdicts)"
# Received here, never sent back out: the router hears nothing of 198.18.9.66 (GoBGP does not reflect to the origin).
sleep 0.5
[[ -z "$(router_state | awk '$2 == "198.18.9.66/32"')" ]] && pass "the received block is not announced back" ||
	fail "198.18.9.66 came back to the router: $(router_state | grep -F 198.18.9.66)"
st="$("${CTL[@]}" --json status | jq -c '.bgp')"
jq -e '.outcomes.taken >= 2 and .routes_held >= 2' <<<"$st" >/dev/null && pass "status counts the routes: $st" ||
	fail "status.bgp: $st"
t0="$(date +%s%N)"
router_says "withdraw flow route { match { source 198.18.9.66/32; destination-port =25; protocol tcp; } }"
if lab_wait "the withdrawal to end the bgp block" no_bgp_block 198.18.9.66; then
	pass "the route withdrawn at the router ends the block in $(ms_since "$t0") ms"
	[[ "$(syn_from 198.18.9.66)" == refused ]] && pass "198.18.9.66's SYN reaches the node again" ||
		fail "198.18.9.66 after the withdrawal: $(syn_from 198.18.9.66)"
else
	fail "the bgp block on 198.18.9.66 stayed after the withdrawal"
fi

((FAILS == 0)) || { echo "$FAILS check(s) failed"; tail -20 "$LAB_DIR/router.jsonl"; tail -20 "$LAB_DIR/edge.log"; exit 1; }
