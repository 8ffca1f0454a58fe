#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# e2e_outbreak.sh - an outbreak, end to end: fresh hosts sharing one SYN
# fingerprint start sending to an outside MX; mtaguardd declares an outbreak
# (alert with every member's MAC and VLAN, the operator's hook run), puts the
# fingerprint into the kernel, and a further host with that fingerprint has
# its very first SYN to port 25 dropped, while a configured mail server with
# the same OS keeps delivering. A restart of mtaguardd during the outbreak,
# graceful (SIGTERM) and not (SIGKILL, after a periodic save), keeps the
# containment and the threat level. Exceptions and the end of the outbreak too.
#
#   bot1..bot4 198.18.1-4.2 ─ in1..in4 ┐
#   relay      198.18.5.2  ─ in5      ├ EDGE (mtaguardd, XDP on in1..in7) ─ out0 ─ MX 198.19.0.25 (Postfix)
#   bot5, bot6 198.18.6-7.2 ─ in6, in7 ┘  (fresh hosts tried after each restart)
#
# All namespaces run Linux, so all SYNs share one fingerprint: exactly the
# situation of a bot kit on one OS next to a mail server on the same OS.
# That stock fingerprint alone is too common to contain (an alert); the bots'
# address-literal HELOs (one shape) among the same hosts make it specific
# enough, and it is contained from then on.
#
#   selftests/e2e_outbreak.sh BUILD_DIR       exit 0 pass, 1 fail, 77 skip
set -euo pipefail

SELFTESTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=selftests/lab.sh
. "$SELFTESTS/lab.sh"

BUILD="$(cd "${1:-${MG_BUILD:-build}}" && pwd)"
PIN="/sys/fs/bpf/mg-e2eob-$$"
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
lab_netns edge bot1 bot2 bot3 bot4 relay bot5 bot6 mx
i=1
for h in bot1 bot2 bot3 bot4 relay bot5 bot6; do
	lab_veth edge "in$i" "$h" eth0
	lab_addr edge "in$i" "198.18.$i.1/24"
	lab_addr "$h" eth0 "198.18.$i.2/24"
	lab_run "$h" ip route add default via "198.18.$i.1"
	i=$((i + 1))
done
lab_veth edge out0 mx eth0
lab_addr edge out0 198.19.0.1/24
lab_addr mx eth0 198.19.0.25/24
lab_run mx ip route add default via 198.19.0.1
lab_run edge sysctl -qw net.ipv4.ip_forward=1
lab_postfix_start mx 198.19.0.25 >/dev/null || fatal "Postfix did not start"
pass "lab up: four fresh hosts, a mail server, an outside MX"

# The operator's hook: keeps what it was given.
cat >"$LAB_DIR/hook.sh" <<EOF
#!/bin/sh
cat >>"$LAB_DIR/hook.out"
EOF
chmod 755 "$LAB_DIR/hook.sh"
cat >"$LAB_DIR/mtaguard.json" <<EOF
{
  "interfaces": [ "in1", "in2", "in3", "in4", "in5", "in6", "in7" ],
  "pin_dir": "$PIN",
  "mail_servers": [ "198.18.5.2" ],
  "state_file": "$LAB_DIR/state.gz",
  "state_interval": "2s",
  "log_file": "$EVENTS",
  "control_socket": "$SOCK",
  "outbreak": { "min_senders": 3, "window": "10m", "decay": "30m", "alert_hook": "$LAB_DIR/hook.sh" }
}
EOF
# nsenter only enters the network namespace and execs: $! is mtaguardd itself.
start_daemon() {
	nsenter --net="/run/netns/$(lab_ns edge)" -- "$BUILD/mtaguardd" -c "$LAB_DIR/mtaguard.json" 2>>"$LAB_DIR/daemon.err" &
	DPID=$!
}
start_daemon
cleanup_daemon() {
	kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	[[ -d "$PIN" ]] && "$BUILD/mtaguard-loader" -p "$PIN" unload 2>/dev/null
	rm -rf -- "$PIN"
	return 0
}
lab_defer cleanup_daemon
lab_wait "mtaguardd" ctl status || fatal "mtaguardd did not start"

mail() { # NS TAG [HELO]
	lab_run "$1" swaks --server 198.19.0.25 --timeout 4 --from "x@$1.$DOMAIN" --to "rcpt@$DOMAIN" \
		--ehlo "${3:-[$(lab_run "$1" ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1)]}" \
		--header "X-Tag: $2" >"$LAB_DIR/swaks-$2.log" 2>&1
}

# --- the mail server delivers before anything happens ---------------------------------
mail relay relay-1 relay.lab.test && pass "the mail server delivers" || fail "the mail server's first mail"

# --- three fresh hosts start sending: an outbreak --------------------------------------
for b in bot1 bot2 bot3; do
	mail "$b" "$b-1" || true
done
lab_wait "outbreak declared" grep -q '"event":"outbreak"' "$EVENTS" && pass "outbreak declared after 3 new senders" ||
	fail "no outbreak: $(tail -5 "$EVENTS")"
ob="$(grep '"event":"outbreak"' "$EVENTS" | head -1)"
sig="$(jq -r .signature <<<"$ob")"
[[ "$sig" == fp:* ]] && pass "its signature is the SYN fingerprint ($sig)" || fail "signature: $sig"
# Members are named once their commands prove them (a SYN proves nothing): the third host's SYN may
# declare the outbreak before its EHLO names it, in a later "outbreak-member" event.
named() { # every member named so far, with its MAC, sorted
	jq -sc --arg s "$sig" '[.[] | select(.signature == $s) |
		(if .event == "outbreak" then .member_list[] elif .event == "outbreak-member" then .member else empty end) |
		select(.mac | test("^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")) | .source] | sort' "$EVENTS"
}
all_named() { [[ "$(named)" == '["198.18.1.2","198.18.2.2","198.18.3.2"]' ]]; }
lab_wait "members named" all_named && pass "the alerts name every member with its MAC" || fail "members: $(named)"
# The fingerprint is declared at the third bot's SYN, before its HELO: a stock Linux fingerprint
# alone is shared by most of the world's MTAs, too common to act on (an alert). The bots' HELO
# shape (their own address literals) among the same hosts makes it specific enough: then it is
# contained, announced as an "outbreak-decision".
jq -e '.decision == "alert-only" and (.contained_in_kernel | not)' <<<"$ob" >/dev/null &&
	pass "the bare stock fingerprint alone: an alert, not contained" || fail "declaration: $ob"
contained_line() { grep "\"event\":\"outbreak-decision\",\"signature\":\"$sig\"" "$EVENTS" | grep '"contained_in_kernel":true' | head -1; }
lab_wait "containment with the HELO shape" bash -c "grep '\"event\":\"outbreak-decision\",\"signature\":\"$sig\"' '$EVENTS' | grep -q '\"contained_in_kernel\":true'" &&
	jq -e '.threat_level >= 2 and .decision == "contained" and .specificity >= 3 and (.with | startswith("shape:"))' \
		<<<"$(contained_line)" >/dev/null && pass "with the HELO shape: threat level raised, contained in kernel" ||
	fail "level/containment: $(grep '"outbreak' "$EVENTS" | tail -5)"
threat() { [[ "$(ctl --json status | jq -r .threat_level)" -ge 2 ]]; }
lab_wait "threat level" threat && pass "threat level raised by the proven members" || fail "threat level: $(ctl --json status | jq -c .threat_level)"
lab_wait "hook ran" grep -q "\"signature\":\"$sig\"" "$LAB_DIR/hook.out" && pass "the alert hook got the alert on stdin" ||
	fail "hook output: $(cat "$LAB_DIR/hook.out" 2>/dev/null)"
[[ "$(ctl --json status | jq -r .threat_level)" -ge 2 ]] && pass "mtaguardctl status shows the threat level" ||
	fail "status threat level"
# (grep -q on captured output: in a pipe it can exit before the writer is done, and pipefail
# then reports the writer's SIGPIPE as a failure)
grep -q "outbreak $sig: level" <<<"$(ctl outbreaks)" && grep -q "specificity 3 (stock-os-fingerprint 1 + shape:" <<<"$(ctl outbreaks)" &&
	pass "mtaguardctl outbreaks lists it, with its specificity" || fail "ctl outbreaks: $(ctl outbreaks)"
ctl --json outbreaks | jq -e --arg s "$sig" '.outbreaks[] | select(.signature == $s) | .contained and .decision == "contained" and .direction == "outbound"' >/dev/null &&
	pass "mtaguardctl --json outbreaks: contained, outbound" || fail "ctl --json outbreaks: $(ctl --json outbreaks | jq -c '.outbreaks[] | del(.member_list)')"
grep -q '"level"' <<<"$(bpftool map dump pinned "$PIN/mg_outbreaks" 2>/dev/null)" && pass "bpftool shows the signature in mg_outbreaks" ||
	fail "mg_outbreaks: $(bpftool map dump pinned "$PIN/mg_outbreaks" 2>&1 | head -5)"

# --- a further host with the same fingerprint: its very first SYN is dropped ----------------
before="$(lab_mail_count mx "X-Tag: bot4-1")"
if mail bot4 bot4-1; then
	fail "bot4 delivered during the outbreak"
else
	pass "bot4's first SMTP connection fails"
fi
[[ "$(lab_mail_count mx "X-Tag: bot4-1")" == "$before" ]] && pass "nothing from bot4 arrived" || fail "bot4's mail arrived"
drops="$(ctl --json outbreaks | jq -r --arg s "$sig" '.outbreaks[] | select(.signature == $s) | .syns_dropped // 0')"
((drops >= 1)) && pass "SYNs dropped by the signature: $drops" || fail "signature drop counter: $drops"
[[ "$(ctl --json status | jq -r '.kernel.drop_reason.outbreak // 0')" -ge 1 ]] && pass "kernel drop reason 'outbreak' counted" ||
	fail "drop reason"
ctl --json show 198.18.4.2 | jq -e '.known == false or .evidence.sessions == 0' >/dev/null &&
	pass "bot4 never got to send a command" || fail "bot4 profile: $(ctl --json show 198.18.4.2)"
lab_run bot4 ping -c1 -W2 198.19.0.25 >/dev/null && pass "bot4's other traffic flows" || fail "bot4 ping"

# --- the mail server, same OS fingerprint, keeps delivering ---------------------------------
mail relay relay-2 relay.lab.test && lab_wait_mail mx "X-Tag: relay-2" 1 &&
	pass "the configured mail server (same fingerprint) keeps delivering" || fail "the mail server was stopped"

# --- a restart during the outbreak keeps the containment and the threat level ---------------
# What the operator sees of the outbreaks: level, signatures, members (join times aside).
ob_view() {
	ctl --json outbreaks | jq -c '{threat_level, outbreaks: ([.outbreaks[] | {signature, level, members,
		member_list: ([.member_list[] | {source, mac, vlan, vlan_inner}] | sort)}] | sort_by(.signature))}'
}
# The kernel's entry for the signature (empty when there is none).
kernel_sig() {
	bpftool -j map dump pinned "$PIN/mg_outbreaks" 2>/dev/null |
		jq -c --argjson fp "$((16#${sig#fp:}))" '.[] | (.formatted // .) | select(.key == $fp) | .value'
}
kernel_has_sig() { [[ -n "$(kernel_sig)" ]]; }
# A child that exited but was not reaped yet is a zombie: gone too.
daemon_gone() {
	local st
	st="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 0
	[[ -z "$st" || "$st" == Z ]]
}
obdrops() { ctl --json status | jq -r '.kernel.drop_reason.outbreak // 0'; }
# restart_check HOW (TERM|KILL) HOST ADDR N: restart mtaguardd and check that the outbreak
# survived; HOST (a fresh one at ADDR, same fingerprint) then has its first SYN dropped.
# N: the number of "in force after the restore" notices in the log before this restart.
restart_check() {
	local how="$1" host="$2" addr="$3" n="$4" before_ob before_status lvl nob after_ob line d0 before klvl
	before_ob="$(ob_view)"
	before_status="$(ctl --json status)"
	lvl="$(jq -r .threat_level <<<"$before_ob")"
	nob="$(jq -r '.outbreaks | length' <<<"$before_ob")"
	[[ "$(jq -r .threat_level <<<"$before_status")" == "$lvl" ]] && ((lvl >= 2 && nob >= 1)) &&
		jq -e --arg s "$sig" '.outbreaks | any(.signature == $s)' <<<"$before_ob" >/dev/null ||
		fail "$how: before the restart: $before_ob / threat level $(jq -r .threat_level <<<"$before_status")"

	kill "-$how" "$DPID"
	if lab_wait -t 15 "mtaguardd to exit after SIG$how" daemon_gone "$DPID"; then
		local rc=0
		wait "$DPID" 2>/dev/null || rc=$?
		if [[ "$how" == TERM ]]; then
			((rc == 0)) && pass "SIGTERM: mtaguardd stopped (exit 0)" || fail "SIGTERM: exit status $rc"
			grep -q "keeps enforcing" <<<"$(grep '"event":"stopped"' "$EVENTS" | tail -1)" &&
				pass "it said the data plane keeps enforcing" || fail "no 'stopped' notice: $(tail -3 "$EVENTS")"
		else
			((rc == 137)) && pass "SIGKILL: mtaguardd killed" || fail "SIGKILL: exit status $rc"
		fi
	else
		fatal "$how: mtaguardd did not exit"
	fi
	! ctl status >/dev/null 2>&1 && pass "$how: the control socket does not answer while it is down" ||
		fail "$how: something answers on the control socket"
	grep -q 'prog/xdp' <<<"$(ip -n "$(lab_ns edge)" link show in1)" && pass "$how: XDP stays attached while it is down" ||
		fail "$how: XDP detached: $(ip -n "$(lab_ns edge)" link show in1)"
	kernel_has_sig && pass "$how: the kernel keeps $sig while it is down" ||
		fail "$how: mg_outbreaks while down: $(bpftool map dump pinned "$PIN/mg_outbreaks" 2>&1 | head -5)"

	start_daemon
	lab_wait "mtaguardd to start again" ctl status || fatal "$how: mtaguardd did not start again"
	after_ob="$(ob_view)"
	[[ "$after_ob" == "$before_ob" ]] && pass "$how: after the restart, outbreaks lists the same signature, level and members" ||
		fail "$how: outbreaks before: $before_ob; after: $after_ob"
	[[ "$(ctl --json status | jq -r .threat_level)" == "$lvl" ]] && pass "$how: status shows threat level $lvl again" ||
		fail "$how: status threat level $(ctl --json status | jq -r .threat_level), was $lvl"
	klvl="$(kernel_sig | jq -r .level)"
	[[ -n "$klvl" && "$klvl" == "$(jq -r --arg s "$sig" '.outbreaks[] | select(.signature == $s) | .level' <<<"$before_ob")" ]] &&
		pass "$how: the kernel still contains $sig at its level" ||
		fail "$how: mg_outbreaks after the restart: $(kernel_sig) / $(bpftool map dump pinned "$PIN/mg_outbreaks" 2>&1 | head -5)"
	if lab_wait -t 5 "the restore notice" lab_lines_gt "$EVENTS" "in force after the restore" "$n"; then
		line="$(grep -F "in force after the restore" "$EVENTS" | tail -1)"
		jq -e --arg m "$nob outbreak(s), threat level $lvl" '.event == "notice" and (.message | contains($m))' <<<"$line" >/dev/null &&
			pass "$how: the log says what is in force: $(jq -r .message <<<"$line")" || fail "$how: restore notice: $line"
	else
		fail "$how: no 'in force after the restore' notice: $(tail -5 "$EVENTS")"
	fi

	# A fresh host with the fingerprint: its very first SYN is still dropped.
	d0="$(obdrops)"
	before="$(lab_mail_count mx "X-Tag: $host-1")"
	mail "$host" "$host-1" && fail "$how: $host delivered after the restart" || pass "$how: $host's first SMTP connection fails"
	[[ "$(lab_mail_count mx "X-Tag: $host-1")" == "$before" ]] && pass "$how: nothing from $host arrived" ||
		fail "$how: $host's mail arrived"
	(($(obdrops) > d0)) && pass "$how: its SYNs were dropped by the outbreak ($d0 -> $(obdrops))" ||
		fail "$how: outbreak drops $d0 -> $(obdrops)"
	ctl --json show "$addr" | jq -e '.known == false or .evidence.sessions == 0' >/dev/null &&
		pass "$how: $host never got to send a command" || fail "$how: $host profile: $(ctl --json show "$addr")"
}

restart_check TERM bot5 198.18.6.2 "$(grep -cF "in force after the restore" "$EVENTS" || true)"

# SIGKILL saves nothing: what survives is the last periodic save (state_interval 2s) -
# wait for one made after bot5's attempt, so the saved members are the current ones.
touch "$LAB_DIR/mark"
lab_wait -t 10 "a periodic save of the rules file" test "$LAB_DIR/state.gz.rules" -nt "$LAB_DIR/mark" &&
	pass "a periodic save wrote the outbreaks" || fail "no periodic save of $LAB_DIR/state.gz.rules"
restart_check KILL bot6 198.18.7.2 "$(grep -cF "in force after the restore" "$EVENTS" || true)"

# --- an exception lifts it for a host ------------------------------------------------------
ctl except add "$sig" >/dev/null && ctl --json except list | jq -e --arg s "$sig" '.exceptions | index($s)' >/dev/null &&
	pass "mtaguardctl except add/list" || fail "except add"
ctl except add not-a-thing >/dev/null 2>&1 && fail "except accepted garbage" || pass "except refuses garbage"
ctl except remove "$sig" >/dev/null && pass "except remove" || fail "except remove"

if ((FAILS)); then
	echo "e2e_outbreak: $FAILS check(s) failed"
	tail -20 "$LAB_DIR/daemon.err"
	exit 1
fi
echo "e2e_outbreak: all checks passed"
