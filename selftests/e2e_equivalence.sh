#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# e2e_equivalence.sh - mtaguard-replay and mtaguardd reach the same verdicts,
# alerts and outbreaks on the same traffic. Both are shells over one engine
# (user/mg_engine.c); this runs one scripted capture (selftests/tool_scenario.c:
# three bots, one of them on IPv6 hopping inside its /64, an end host, a
# configured mail server, five fresh hosts making an outbreak, one latecomer
# contained) through both:
#
#   a) mtaguard-replay -c CONF --json scenario.pcap  (BPF_PROG_TEST_RUN, capture time)
#   b) mtaguardd with the same CONF, XDP on mg0; tcpreplay sends the same frames,
#      at the capture's pace, from the other end of the veth:
#
#        PEER eth0 ──(veth)── mg0 DUT (mtaguardd, XDP native)
#        tcpreplay -i eth0      frames arrive as ingress, as the replay runs them;
#                               the kernel then drops them (no address is local)
#
# and compares, after the daemon has ticked past the last frame: the sources
# with verdicts and their rules, the alerts' sources and rules, the outbreaks'
# signatures and member sets (with MACs), the roles of the cast, and the
# kernel's outbreak drops. Times and scores are not compared: live timing has
# jitter. The scenario's intended outcome is checked on its own as well, so
# the test cannot pass by both sides being empty.
#
#   selftests/e2e_equivalence.sh BUILD_DIR     exit 0 pass, 1 fail, 77 skip (not root)
set -euo pipefail

SELFTESTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=selftests/lab.sh
. "$SELFTESTS/lab.sh"

BUILD="$(cd "${1:-${MG_BUILD:-build}}" && pwd)"
DAEMON="$BUILD/mtaguardd"
CTL="$BUILD/mtaguardctl"
REPLAY="$BUILD/mtaguard-replay"
SCENARIO="$BUILD/selftests/tool_scenario"
PIN="/sys/fs/bpf/mg-e2eeq-$$"

lab_require_root
lab_require_cmds ip nsenter jq tcpreplay timeout
for b in "$DAEMON" "$CTL" "$REPLAY" "$SCENARIO"; do
	[[ -x "$b" ]] || { echo "FAIL: $b missing (run 'make all $SCENARIO')"; exit 1; }
done

T0=$SECONDS
FAILS=0
pass() { printf 'ok:   %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*"; FAILS=$((FAILS + 1)); }
fatal() { printf 'FAIL: %s\n' "$*"; [[ -f "${LOG:-}" ]] && tail -20 "$LOG"; exit 1; }

lab_init
PCAP="$LAB_DIR/scenario.pcap"
CAST="$LAB_DIR/cast.json"
CONF="$LAB_DIR/scenario.json"
DCONF="$LAB_DIR/mtaguardd.json"
SOCK="$LAB_DIR/control.sock"
LOG="$LAB_DIR/mtaguardd.log"
EVENTS="$LAB_DIR/events.jsonl"
R="$LAB_DIR/replay.json"
ctl() { "$CTL" -s "$SOCK" "$@"; }

# --- a) the scenario --------------------------------------------------------------------

"$SCENARIO" "$PCAP" >"$CAST" || fatal "tool_scenario failed"
BOTS=$(jq -c '.bots | sort' "$CAST")
FRESH=$(jq -c '.fresh | sort' "$CAST")
PC=$(jq -r .pc "$CAST")
MS=$(jq -r .mail_server "$CAST")
LATE=$(jq -r .latecomer "$CAST")
DUR=$(jq -r .duration_s "$CAST")
pass "scenario: $(jq -r .frames "$CAST") frames over $DUR s; bots $BOTS, pc $PC, mail server $MS, fresh $FRESH, latecomer $LATE"

# The scenario's configuration, shared by both sides.
cat >"$CONF" <<EOF
{
  "protected_networks": [ "198.18.0.0/16" ],
  "mail_servers": [ "$MS" ],
  "scan_interval": "1s",
  "outbreak": { "min_senders": 5 }
}
EOF

# --- b) the replay ----------------------------------------------------------------------

timeout 60 "$REPLAY" -c "$CONF" --json "$PCAP" >"$R" 2>"$LAB_DIR/replay.err" ||
	fatal "mtaguard-replay failed: $(head -5 "$LAB_DIR/replay.err")"
pass "mtaguard-replay: $(jq -r '.totals.run' "$R") frames run, $(jq -r '.totals.dropped' "$R") dropped"

# --- c) the daemon, the same frames over a veth -----------------------------------------------

lab_bpffs
lab_netns dut peer
lab_veth dut mg0 peer eth0
jq --arg pin "$PIN" --arg sock "$SOCK" --arg state "$LAB_DIR/state.gz" --arg log "$EVENTS" \
	'. + { interfaces: [ { name: "mg0", mode: "native" } ], pin_dir: $pin, control_socket: $sock,
	       state_file: $state, log_file: $log }' "$CONF" >"$DCONF"

DPID=""
cleanup_daemon() {
	if [[ -n "$DPID" ]]; then
		kill -TERM "$DPID" 2>/dev/null
		wait "$DPID" 2>/dev/null
	fi
	[[ -d "$PIN" ]] && lab_nsenter dut "$BUILD/mtaguard-loader" -p "$PIN" unload >/dev/null 2>&1
	rm -rf -- "$PIN"
	return 0
}
lab_defer cleanup_daemon
# nsenter execs the daemon: $! is the daemon itself. The root mount namespace keeps the pins visible.
nsenter --net="/run/netns/$(lab_ns dut)" -- "$DAEMON" -c "$DCONF" >>"$LOG" 2>&1 &
DPID=$!
lab_wait "control socket" test -S "$SOCK" || fatal "mtaguardd did not start"
lab_wait "daemon answers" ctl status || fatal "mtaguardd does not answer"
ctl status | grep -q "mg0 (native)" && pass "mtaguardd attached natively to mg0" || fail "status: $(ctl status)"

t_send=$SECONDS
lab_run peer timeout 60 tcpreplay -q -i eth0 "$PCAP" >"$LAB_DIR/tcpreplay.out" 2>&1 ||
	fatal "tcpreplay failed: $(tail -5 "$LAB_DIR/tcpreplay.out")"
sent=$(grep -oE '[0-9]+ packets' "$LAB_DIR/tcpreplay.out" | head -1 || true)
pass "tcpreplay sent ${sent:-the capture} in $((SECONDS - t_send)) s"
# The daemon ticks at least every scan interval (1 s): two intervals and a
# half after the last frame, what that frame showed is in its state.
sleep 2.5

V="$LAB_DIR/verdicts.json"
O="$LAB_DIR/outbreaks.json"
S="$LAB_DIR/status.json"
ctl --json verdicts >"$V" || fatal "ctl verdicts"
ctl --json outbreaks >"$O" || fatal "ctl outbreaks"
ctl --json status >"$S" || fatal "ctl status"
[[ -s "$EVENTS" ]] || fatal "no event log at $EVENTS"
jq -e '.kernel.packets >= '"$(jq -r .frames "$CAST")" "$S" >/dev/null &&
	pass "the daemon's program saw every frame ($(jq -r .kernel.packets "$S") packets)" ||
	fail "the daemon's program saw $(jq -r .kernel.packets "$S") packets, fewer than the capture's frames"

# --- comparison ------------------------------------------------------------------------------

# same WHAT REPLAY_VALUE DAEMON_VALUE: the two must be equal (compact JSON).
same() {
	if [[ "$2" == "$3" ]]; then
		pass "$1: equal: $2"
	else
		fail "$1 differs: replay $2, daemon $3"
	fi
}
ev() { jq -c -s "$1" "$EVENTS"; } # a jq filter over the event log, slurped

# Sources with a verdict, and the rule behind each.
r_vsrc=$(jq -c '[.verdicts[] | select(.event == "verdict") | .source] | unique' "$R")
r_vsrc2=$(jq -c '[.sources[] | select(.verdict != null) | .source] | sort' "$R")
d_vsrc=$(jq -c '[.verdicts[] | select(.by == "analyzer") | .source] | sort' "$V")
d_vsrc2=$(ev '[.[] | select(.event == "verdict") | .source] | unique')
same "replay: verdicts vs sources[].verdict" "$r_vsrc" "$r_vsrc2"
same "sources with verdicts (replay .verdicts / ctl verdicts)" "$r_vsrc" "$d_vsrc"
same "sources with verdicts (replay .verdicts / event log)" "$r_vsrc" "$d_vsrc2"
r_rules=$(jq -c '[.verdicts[] | select(.event == "verdict") | [.source, .evidence.rule]] | unique' "$R")
r_rules2=$(jq -c '[.sources[] | select(.verdict != null) | [.source, .verdict.rule]] | sort' "$R")
d_rules=$(jq -c '[.verdicts[] | select(.by == "analyzer") | [.source, .evidence.rule]] | sort' "$V")
d_rules2=$(ev '[.[] | select(.event == "verdict") | [.source, .evidence.rule]] | unique')
same "replay: verdict rules vs sources[].verdict.rule" "$r_rules" "$r_rules2"
same "verdict rules (ctl verdicts)" "$r_rules" "$d_rules"
same "verdict rules (event log)" "$r_rules" "$d_rules2"
# Verdicts that ended (none expected in 10 s; any would have to agree too).
same "verdicts ended" "$(jq -c '[.verdicts[] | select(.event != "verdict") | [.event, .source]] | unique' "$R")" \
	"$(ev '[.[] | select(.event == "expiry") | [.event, .source]] | unique')"

# Alerts: who, and by which rule.
r_alerts=$(jq -c '[.alerts[] | select(.event == "alert") | [.source, .evidence.rule]] | unique' "$R")
d_alerts=$(ev '[.[] | select(.event == "alert") | [.source, .evidence.rule]] | unique')
same "alerts (source, rule)" "$r_alerts" "$d_alerts"

# Outbreaks: declarations with their members, later members, and what is active at the end.
obq='[.[] | select(.event == "outbreak") | {signature, members: ([.member_list[] | [.source, .mac]] | sort)}] | sort_by(.signature)'
r_ob=$(jq -c '.alerts | '"$obq" "$R")
d_ob=$(ev "$obq")
same "outbreaks declared (signature, members with MAC)" "$r_ob" "$d_ob"
joinq='[.[] | select(.event == "outbreak-member") | [.signature, .member.source, .member.mac]] | unique'
same "outbreak members joining later" "$(jq -c ".alerts | $joinq" "$R")" "$(ev "$joinq")"
endq='[.[] | select(.event == "outbreak-end" or .event == "outbreak-level") | [.event, .signature, .level]] | unique'
same "outbreak level changes and ends" "$(jq -c ".alerts | $endq" "$R")" "$(ev "$endq")"
# The replay's final member set: declared ones and later joins, per signature.
r_final=$(jq -c '[.alerts[] | select(.event == "outbreak" or .event == "outbreak-member")] | group_by(.signature) |
	map({signature: .[0].signature, members: ([.[] | (.member_list // [.member])[] | .source] | unique)})' "$R")
d_final=$(jq -c '[.outbreaks[] | {signature, members: ([.member_list[].source] | unique)}] | sort_by(.signature)' "$O")
same "active outbreaks and their members (ctl outbreaks)" "$r_final" "$d_final"
same "SYNs dropped by the containment (kernel)" "$(jq -c '.totals.kernel.drop_reason.outbreak' "$R")" \
	"$(jq -c '.kernel.drop_reason.outbreak' "$S")"

# The roles of the cast: the report's name of each source, and an address in it for mtaguardctl show.
cast=$(jq -r '([.bots, .bot_addrs] | transpose[]), ([.pc, .mail_server] + .fresh | .[] | [., .]) | join(" ")' "$CAST")
r_roles=""
d_roles=""
while read -r name addr; do
	r_roles+="$name=$(jq -r --arg a "$name" '(.sources[] | select(.source == $a) | .role) // "absent"' "$R") "
	d_roles+="$name=$(ctl --json show "$addr" | jq -r '.role // "absent"') "
done <<<"$cast"
same "roles of the cast" "$r_roles" "$d_roles"

# --- the scenario's intended outcome (checked on the replay; the daemon equals it above) ------------

check() { # WHAT JQ_FILTER FILE
	if jq -e "$2" "$3" >/dev/null 2>&1; then pass "$1"; else fail "$1 ($2)"; fi
}
check "the bots (the IPv6 one as its /64), and nobody else, have verdicts" "[.sources[] | select(.verdict != null) | .source] | sort == $BOTS" "$R"
check "the bots' rule is direct-to-mx:new-sender" \
	'[.sources[] | select(.verdict != null) | .verdict.rule] | unique == ["direct-to-mx:new-sender"]' "$R"
check "the bots were alerted on before their verdicts" "[.alerts[] | select(.event == \"alert\") | .source] | unique == $BOTS" "$R"
check "the PC has no verdict and is an end host" \
	"(.sources[] | select(.source == \"$PC\")) | .verdict == null and .role == \"end_host\"" "$R"
check "the mail server has no verdict and is a mail server" \
	"(.sources[] | select(.source == \"$MS\")) | .verdict == null and .role == \"mail_server\" and .configured_mail_server" "$R"
# The fifth host's SYN declares it; that host is named when its EHLO proves it (a SYN proves nothing).
check "one outbreak, a fingerprint, with the five fresh hosts as members" \
	"([.alerts[] | select(.event == \"outbreak\" or .event == \"outbreak-member\") | (.member_list // [.member])[] | .source]
	  | unique == $FRESH) and
	 ([.alerts[] | select(.event == \"outbreak\")] | length == 1 and (.[0].signature | startswith(\"fp:\")) and
	  .[0].members == 5 and .[0].contained_in_kernel)" "$R"
check "the latecomer is no member, and its two SYNs were contained" \
	"([.alerts[] | (.member_list[]?.source), (.member.source? // empty)] | index(\"$LATE\") == null) and
	 .totals.kernel.drop_reason.outbreak == 2" "$R"
# The IPv6 bot hops inside its /64: the verdict on the prefix names the hosts seen in it, all inside it.
B6=$(jq -r '.bots[] | select(contains(":"))' "$CAST")
B6NET=${B6%::/64}:
hostsq='[.[] | select(.event == "verdict" and .source == "'"$B6"'") | .evidence.hosts] |
	length == 1 and (.[0] | length >= 2 and all(.addr | startswith("'"$B6NET"'")) and all(.sessions >= 1))'
check "the replay's verdict on $B6 names the hosts seen in it" ".verdicts | $hostsq" "$R"
jq -e -s "$hostsq" "$EVENTS" >/dev/null && pass "the daemon's verdict log on $B6 names the hosts seen in it" ||
	fail "the daemon's verdict log on $B6 without its hosts: $(ev '[.[] | select(.event == "verdict")]')"
B6SHOW=$(ctl --json show "$B6")
jq -e '(.evidence.hosts | length >= 2 and all(.addr | startswith("'"$B6NET"'"))) and .evidence.hosts_more >= 0' \
	<<<"$B6SHOW" >/dev/null && pass "ctl show $B6 lists the hosts seen in it" || fail "ctl show $B6: $B6SHOW"
ctl show "$B6" | grep -q "hosts seen in this prefix" && pass "ctl show $B6 (text) lists them" ||
	fail "ctl show $B6 text: $(ctl show "$B6")"
NB=$(jq length <<<"$BOTS")
check "the daemon: $NB verdicts in force, threat level 2 (one outbreak)" ".verdicts_active == $NB and .threat_level == 2" "$S"

if ((FAILS)); then
	echo "--- daemon log (tail):"
	tail -20 "$LOG"
	echo "--- event log (verdicts, alerts, outbreaks):"
	grep -E '"event":"(verdict|alert|outbreak[a-z-]*)"' "$EVENTS" | cut -c1-300 || true
	echo "e2e_equivalence: $FAILS check(s) failed ($((SECONDS - T0)) s)"
	exit 1
fi
echo "e2e_equivalence: all checks passed ($((SECONDS - T0)) s)"
