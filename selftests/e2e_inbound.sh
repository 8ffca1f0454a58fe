#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# e2e_inbound.sh - inbound mail during an outbound outbreak, on a router
# attached on both sides (its inside interfaces and its uplink, marked as such,
# as the README recommends): never-seen outside MTAs, whose SYNs carry the same stock Linux
# fingerprint as the inside bots (one kernel runs them all), deliver to the
# organisation's relay before and during the outbreak; every message arrives,
# none of them is named a member or blocked; the inside bots are contained.
#
#   bot1..bot4 198.18.1-4.2 ─ in1..in4 ┐
#   relay      198.18.5.25  ─ in5      ┤ EDGE: mtaguardd, XDP on in1..in5 and out0
#                                      └ out0 ─ INET: MX 198.19.0.25 (Postfix), outside
#                                               MTAs 198.19.1.1-12 (swaks)
#
#   selftests/e2e_inbound.sh BUILD_DIR       exit 0 pass, 1 fail, 77 skip
set -euo pipefail

SELFTESTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=selftests/lab.sh
. "$SELFTESTS/lab.sh"

BUILD="$(cd "${1:-${MG_BUILD:-build}}" && pwd)"
PIN="/sys/fs/bpf/mg-e2ein-$$"
DOMAIN="$LAB_MAIL_DOMAIN"

lab_require_root
lab_require_cmds ip nsenter swaks jq postfix timeout
FAILS=0
pass() { printf 'ok:   %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*"; FAILS=$((FAILS + 1)); }
fatal() { printf 'FAIL: %s\n' "$*"; [[ -f "${LAB_DIR:-}/daemon.err" ]] && tail -20 "$LAB_DIR/daemon.err"; exit 1; }

lab_init
SOCK="$LAB_DIR/control.sock"
EVENTS="$LAB_DIR/events.jsonl"
ctl() { "$BUILD/mtaguardctl" -s "$SOCK" "$@"; }

lab_bpffs
lab_netns edge bot1 bot2 bot3 bot4 relay inet
i=1
for h in bot1 bot2 bot3 bot4; do
	lab_veth edge "in$i" "$h" eth0
	lab_addr edge "in$i" "198.18.$i.1/24"
	lab_addr "$h" eth0 "198.18.$i.2/24"
	lab_run "$h" ip route add default via "198.18.$i.1"
	i=$((i + 1))
done
lab_veth edge in5 relay eth0
lab_addr edge in5 198.18.5.1/24
lab_addr relay eth0 198.18.5.25/24
lab_run relay ip route add default via 198.18.5.1
lab_veth edge out0 inet eth0
lab_addr edge out0 198.19.0.1/24
lab_run edge ip route add 198.19.1.0/24 dev out0
MTAS=()
for n in $(seq 1 12); do MTAS+=("198.19.1.$n"); done
lab_addr inet eth0 198.19.0.25/24 "${MTAS[@]/%//24}"
lab_run inet ip route add 198.18.0.0/16 via 198.19.0.1
lab_run edge sysctl -qw net.ipv4.ip_forward=1
lab_postfix_start inet 198.19.0.25 >/dev/null || fatal "Postfix (outside MX) did not start"
lab_postfix_start relay 198.18.5.25 >/dev/null || fatal "Postfix (relay) did not start"
pass "lab up: four inside hosts, the organisation's relay, an outside MX and twelve outside MTAs"

cat >"$LAB_DIR/mtaguard.json" <<JSON
{
  "interfaces": [ "in1", "in2", "in3", "in4", "in5", { "name": "out0", "uplink": true } ],
  "pin_dir": "$PIN",
  "protected_networks": [ "198.18.0.0/16" ],
  "mail_servers": [ "198.18.5.25" ],
  "state_file": "$LAB_DIR/state.gz",
  "log_file": "$EVENTS",
  "control_socket": "$SOCK",
  "outbreak": { "min_senders": 3, "window": "10m", "decay": "30m" }
}
JSON
lab_mtaguardd edge "$BUILD" "$PIN" "$LAB_DIR/mtaguard.json"
DPID=$LAB_DPID
lab_wait "mtaguardd" ctl status >/dev/null || fatal "mtaguardd did not start"
# The uplink marked, as the README recommends: the MX hosts' SYN-ACKs and replies count from out0 only.
ctl --json status | jq -e '[.interfaces[] | select(.uplink) | .name] == ["out0"]' >/dev/null &&
	pass "out0 is the uplink" || fail "uplinks: $(ctl --json status | jq -c '.interfaces')"

inbound() { # N TAG: outside MTA number N delivers to the relay, as MTAs do (a proper HELO name)
	lab_run inet swaks --server 198.18.5.25 --local-interface "198.19.1.$1" --timeout 6 \
		--from "news@mta$1.outside.example" --to "rcpt@$DOMAIN" --ehlo "mta$1.outside.example" \
		--header "X-Tag: $2" >"$LAB_DIR/swaks-$2.log" 2>&1
}
direct() { # NS TAG: an inside host straight to the outside MX, with its address as HELO (the bots' campaign)
	local a
	a="$(lab_run "$1" ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1)"
	lab_run "$1" swaks --server 198.19.0.25 --timeout 4 --from "x@$1.$DOMAIN" --to "rcpt@$DOMAIN" \
		--ehlo "[$a]" --header "X-Tag: $2" >"$LAB_DIR/swaks-$2.log" 2>&1
}
outbreak_members() { ctl --json outbreaks | jq -r '[.outbreaks[].member_list[]?.source // empty] | unique | .[]'; }

# --- inbound mail alone: six never-seen outside MTAs within a minute --------------------------
for n in 1 2 3 4 5 6; do
	inbound "$n" "in-$n" || fail "outside MTA $n could not deliver: $(tail -2 "$LAB_DIR/swaks-in-$n.log")"
done
lab_wait_mail relay "X-Tag: in-6" 1 && pass "six never-seen outside MTAs delivered to the relay" || fail "inbound mail missing"
handshakes() { ctl --json status | jq '.kernel.flows_established'; }
# The relay answers from inside (in5), toward clients outside the protected networks: with out0
# the uplink, its SYN-ACKs still start handshakes (what an inside host forges toward an inside
# client would not: test_xdp_packets).
(( $(handshakes) >= 6 )) && pass "the relay's SYN-ACKs to outside clients arrive inside: $(handshakes) handshakes tracked for inbound mail" ||
	fail "inbound mail's handshakes not tracked: $(handshakes)"
sleep 2 # a scan or two
if grep -q '"event":"outbreak"' "$EVENTS"; then
	fail "inbound mail alone declared an outbreak: $(grep '"event":"outbreak"' "$EVENTS" | head -1)"
else
	pass "inbound mail from six new senders with one fingerprint declares no outbreak"
fi

# --- the outbound outbreak: three inside hosts spam the outside MX -----------------------------
for b in bot1 bot2 bot3; do direct "$b" "$b-1" || true; done
lab_wait "outbreak declared" grep -q '"event":"outbreak"' "$EVENTS" && pass "the inside bots make an outbreak" ||
	fatal "no outbreak from the inside bots: $(tail -5 "$EVENTS")"
# A member is named once its commands prove it: the third bot's SYN may declare the outbreak
# before its EHLO names it.
three_bots() { [[ "$(outbreak_members | tr '\n' ' ')" == "198.18.1.2 198.18.2.2 198.18.3.2 " ]]; }
lab_wait "the three bots named" three_bots && pass "its members are the three bots, no one else" ||
	fail "members: $(outbreak_members | tr '\n' ' ')"
# The outside MX answers through out0, the uplink: the bots' handshakes are tracked too.
(( $(handshakes) >= 9 )) && pass "the outside MX's SYN-ACKs arrive on the uplink: $(handshakes) handshakes tracked" ||
	fail "the bots' handshakes not tracked: $(handshakes)"
if direct bot4 bot4-1; then
	fail "a fourth inside host delivered during the outbreak"
else
	pass "a fourth inside host with the campaign's fingerprint is contained at its first SYN"
fi

# --- inbound mail during the outbreak: six more never-seen MTAs, same fingerprint ----------------
for n in 7 8 9 10 11 12; do
	inbound "$n" "in-$n" || fail "outside MTA $n could not deliver during the outbreak: $(tail -2 "$LAB_DIR/swaks-in-$n.log")"
done
lab_wait_mail relay "X-Tag: in-12" 1 && lab_wait_mail relay "X-Tag: in-7" 1 &&
	pass "during the outbreak, six more never-seen outside MTAs delivered to the relay" || fail "inbound mail lost"
bad=""
for m in "${MTAS[@]}"; do
	ctl --json show "$m" | jq -e '.role == "blocked" or .role == "suspect"' >/dev/null 2>&1 && bad+=" $m"
done
[[ -z "$bad" ]] && pass "no outside MTA is a suspect or blocked" || fail "outside MTAs judged:$bad"
outside_members="$(outbreak_members | grep '^198\.19\.' || true)"
[[ -z "$outside_members" ]] && pass "no outside MTA is named an outbreak member" ||
	fail "outside MTAs named members: $outside_members"
direct relay relay-1 && pass "the relay (a mail server) still delivers outside" || fail "the relay's mail was refused"

echo "figures: outbreaks $(ctl --json outbreaks | jq '.outbreaks | length'), members $(outbreak_members | wc -l)," \
	"outbreak drops $(ctl --json status | jq -r '.kernel.drop_reason.outbreak // 0')"
if ((FAILS)); then
	echo "e2e_inbound: $FAILS check(s) failed"
	tail -20 "$LAB_DIR/daemon.err"
	exit 1
fi
echo "e2e_inbound: all checks passed"
