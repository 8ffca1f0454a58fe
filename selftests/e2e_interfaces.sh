#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# e2e_interfaces.sh - an interface deleted and made again (ifdown/ifup of a
# VLAN, a bond rebuilt, a driver reloaded) gets the program back: the daemon
# hears of it from rtnetlink, attaches again, says so (log, status,
# metrics), blocks are enforced again on the new device, and an uplink made
# anew is trusted under its new index (handshakes seen on it count). A
# daemon started after a device was made anew while it was down starts.
#
#   selftests/e2e_interfaces.sh BUILD_DIR
#
#   PC 198.18.1.2 ──in1┐ EDGE (router) ┌── out0 ── INET 198.19.0.1 (Postfix)
#                      XDP on in1, and on out0 as the uplink
#
# Exit 0 pass, 1 fail, 77 skip (not root, tool missing).
set -euo pipefail

SELFTESTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=selftests/lab.sh
. "$SELFTESTS/lab.sh"

BUILD="$(cd "${1:-${MG_BUILD:-build}}" && pwd)"
CTL="$BUILD/mtaguardctl"
PIN="/sys/fs/bpf/mg-e2ei-$$"

lab_require_root
lab_require_cmds ip nsenter swaks jq postfix timeout ping bpftool
[[ -x "$BUILD/mtaguardd" && -x "$CTL" ]] || { echo "FAIL: mtaguardd or mtaguardctl missing (run make first)"; exit 1; }

FAILS=0
pass() { printf 'ok:   %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*"; FAILS=$((FAILS + 1)); }
fatal() { printf 'FAIL: %s\n' "$*"; [[ -f "${EVENTS:-}" ]] && tail -20 "$EVENTS"; exit 1; }

lab_init
SOCK="$LAB_DIR/control.sock"
EVENTS="$LAB_DIR/events.jsonl"
CONF="$LAB_DIR/mtaguard.json"
METRICS="$LAB_DIR/metrics.prom"
ctl() { "$CTL" -s "$SOCK" "$@"; }
# iface_field NAME FIELD: the interface's field in status JSON.
iface_field() { ctl --json status | jq -r --arg n "$1" --arg f "$2" '.interfaces[] | select(.name == $n) | .[$f]'; }

# --- the lab --------------------------------------------------------------------

lab_bpffs
lab_netns edge pc inet
# The links, made again later as the operator's tooling would.
make_in1() {
	lab_veth edge in1 pc eth0
	lab_addr edge in1 198.18.1.1/24
	lab_addr pc eth0 198.18.1.2/24
	lab_run pc ip route add default via 198.18.1.1
}
make_out0() {
	lab_veth edge out0 inet eth0
	lab_addr edge out0 198.19.0.254/24
	lab_addr inet eth0 198.19.0.1/24
	lab_run inet ip route replace 198.18.0.0/16 via 198.19.0.254
}
make_in1
make_out0
lab_run edge sysctl -qw net.ipv4.ip_forward=1
lab_postfix_start inet 198.19.0.1 || fatal "Postfix did not start in $(lab_ns inet)"
pass "lab up: edge router, pc, Postfix outside"

# Handshakes required: a command counts only on a connection whose SYN-ACK arrived on the uplink.
# Scans (and with them the daemon's look at every interface) a minute apart: what happens within the
# test's waits of ten seconds is the link messages' doing.
cat >"$CONF" <<EOF
{
  "interfaces": [ { "name": "in1", "mode": "native" }, { "name": "out0", "mode": "native", "uplink": true },
                  { "name": "late0", "mode": "native", "uplink": true } ],
  "pin_dir": "$PIN",
  "protected_networks": [ "198.18.0.0/16" ],
  "handshake": "required",
  "log_file": "$EVENTS",
  "control_socket": "$SOCK",
  "metrics": { "textfile": "$METRICS", "interval": "1s" },
  "scan_interval": "60s"
}
EOF
lab_mtaguardd edge "$BUILD" "$PIN" "$CONF"
lab_wait "the control socket" ctl status || fatal "mtaguardd did not start: $(cat "$LAB_DIR/daemon.err")"

# late0 does not exist yet: the daemon starts all the same, guards the others, and says so.
grep -q '"late0 does not exist' "$EVENTS" && pass "the log says late0 does not exist yet" ||
	fail "the log says late0 does not exist yet"
[[ "$(iface_field late0 attached)" == null && "$(iface_field late0 ifindex)" == 0 ]] &&
	pass "status: late0 not attached" || fail "status: late0 not attached"

# The housekeeping does not wait for the scans: with scans a minute apart, the
# metrics are refreshed at metrics.interval (1 s here) all the same.
uptime() { awk '$1 == "mtaguard_uptime_seconds" { print int($2) }' "$METRICS" 2>/dev/null; }
lab_wait -t 10 "the metrics file" test -s "$METRICS" || fail "no metrics file: $METRICS"
u0=$(uptime)
refreshed() { (($(uptime) >= ${u0:-0} + 2)); }
lab_wait -t 10 "the metrics to be refreshed" refreshed &&
	pass "metrics refreshed every second with scans a minute apart (uptime $u0 -> $(uptime))" ||
	fail "metrics not refreshed between scans (uptime $u0 -> $(uptime))"

# established: MX-port handshakes the kernel saw complete (SYN-ACK trusted, then the client's ACK).
established() { ctl --json status | jq -r .kernel.flows_established; }
mail_once() {
	lab_run pc timeout 20 swaks --server 198.19.0.1 --helo pc.example.org --from a@example.org \
		--to "user@$LAB_MAIL_DOMAIN" --body "test" >/dev/null 2>&1
}
has_xdp() { ip -n "$(lab_ns edge)" link show "$1" | grep -q "prog/xdp"; }
reaches() { lab_run pc ping -c1 -W1 198.19.0.1 >/dev/null 2>&1; }

before=$(established)
mail_once || fail "a mail through the router"
after=$(established)
((after > before)) && pass "a handshake on the uplink counts ($before -> $after)" ||
	fail "a handshake on the uplink counts ($before -> $after)"

# A block of everything the PC sends: its pings no longer get through.
ctl block 198.18.1.2/32 -d 1h -a all -m "e2e interfaces" >/dev/null || fail "ctl block"
reaches && fail "the block drops the PC's ping" || pass "the block drops the PC's ping"

# --- an inside interface deleted, then made again -----------------------------

ip -n "$(lab_ns edge)" link del in1
lab_wait -t 10 "the log to say in1 is gone" grep -q '"in1 is gone' "$EVENTS" &&
	pass "the log says in1 is gone" || fail "the log says in1 is gone"
[[ "$(iface_field in1 attached)" == null ]] && pass "status: in1 not attached" || fail "status: in1 not attached"
lab_wait -t 10 "the metric to say in1 is not attached" grep -q 'mtaguard_interface_attached{interface="in1"} 0' "$METRICS" &&
	pass "metric: in1 not attached" || fail "metric: in1 not attached"

made=$(date +%s%N)
make_in1
# The link message is heard at once; the timer would take up to a minute.
lab_wait -t 10 "the program on the new in1" has_xdp in1 && pass "the program is on the new in1" ||
	fail "the program is on the new in1"
took=$((($(date +%s%N) - made) / 1000000))
printf '#    attached again %d ms after the device was made (polled every 100 ms)\n' "$took"
lab_wait -t 10 "the log to say in1 is back" grep -q '"in1 is back' "$EVENTS" &&
	pass "the log says in1 is back" || fail "the log says in1 is back"
[[ "$(iface_field in1 reattached)" == 1 && "$(iface_field in1 attached)" == native ]] &&
	pass "status: in1 attached again (native), once" || fail "status: in1 attached again: $(ctl --json status | jq -c .interfaces)"
lab_wait -t 10 "the metrics to count it" grep -q 'mtaguard_interface_reattached_total{interface="in1"} 1' "$METRICS" &&
	pass "metric: in1 attached again once" || fail "metric: in1 attached again once"
reaches && fail "the block drops the PC's ping on the new in1" || pass "the block drops the PC's ping on the new in1"
ctl unblock 198.18.1.2/32 >/dev/null || fail "ctl unblock"
lab_wait -t 10 "the PC to reach the Internet again" reaches && pass "unblocked, the PC reaches the Internet" ||
	fail "unblocked, the PC reaches the Internet"

# --- the uplink deleted, then made again: trusted under its new index ------------

old_index=$(iface_field out0 ifindex)
ip -n "$(lab_ns edge)" link del out0
make_out0
lab_wait -t 10 "the program on the new out0" has_xdp out0 && pass "the program is on the new out0" ||
	fail "the program is on the new out0"
new_index=$(iface_field out0 ifindex)
[[ "$new_index" != "$old_index" ]] && pass "status: out0 is a new device (ifindex $old_index -> $new_index)" ||
	fail "status: out0 is a new device (ifindex $old_index -> $new_index)"
before=$(established)
mail_once || fail "a mail through the new uplink"
after=$(established)
((after > before)) && pass "a handshake on the new uplink counts ($before -> $after)" ||
	fail "a handshake on the new uplink counts ($before -> $after): the program still trusts the old index"

# --- an interface that appears after the start (an uplink, as its slot waited) ---------

ip -n "$(lab_ns edge)" link add late0 type veth peer name late1
lab_wait -t 10 "the program on late0" has_xdp late0 && pass "the program is on late0 once it appears" ||
	fail "the program is on late0 once it appears"
lab_wait -t 10 "the log to say late0 appeared" grep -q '"late0 appeared' "$EVENTS" &&
	pass "the log says late0 appeared" || fail "the log says late0 appeared"
late_index=$(ip -n "$(lab_ns edge)" -j link show late0 | jq -r '.[0].ifindex')
[[ "$(iface_field late0 ifindex)" == "$late_index" && "$(iface_field late0 reattached)" == 0 ]] &&
	pass "status: late0 attached (ifindex $late_index), not counted as attached again" ||
	fail "status: late0: $(ctl --json status | jq -c '.interfaces[2]')"

# The uplinks as the running program reads them (mg_uplinks: slot 0 out0, slot 1 late0, in the config's order).
uplinks() {
	local id
	for id in $(bpftool prog show pinned "$PIN/mtaguard_xdp" -j | jq -r '.map_ids[]'); do
		if [[ "$(bpftool map show id "$id" -j | jq -r .name)" == mg_uplinks ]]; then
			bpftool map dump id "$id" -j | jq -r '.[0].formatted.value.ifindex[0:2] | map(tostring) | join(" ")'
			return
		fi
	done
}
want="$(iface_field out0 ifindex) $late_index"
[[ "$(uplinks)" == "$want" ]] && pass "the program trusts out0 and late0 under their indexes ($want)" ||
	fail "mg_uplinks holds '$(uplinks)', not '$want'"

# --- a device made anew while the daemon was down ---------------------------------

kill "$LAB_DPID" && wait "$LAB_DPID" 2>/dev/null || true
has_xdp in1 && pass "stopped, the data plane keeps enforcing on in1" || fail "stopped, the data plane keeps enforcing on in1"
ip -n "$(lab_ns edge)" link del in1
make_in1
lab_mtaguardd edge "$BUILD" "$PIN" "$CONF" restart
lab_wait "the control socket" ctl status && pass "a start after in1 was made anew while it was down" ||
	fail "a start after in1 was made anew: $(cat "$LAB_DIR/daemon-restart.err")"
has_xdp in1 && pass "the program is on the new in1 after the start" || fail "the program is on the new in1 after the start"

((FAILS == 0)) || exit 1
echo "e2e_interfaces: all passed"
