#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# e2e_outbreak.sh - an outbreak, end to end: fresh hosts sharing one SYN
# fingerprint start sending to an outside MX; mtaguardd declares an outbreak
# (alert with every member's MAC and VLAN, the operator's hook run), puts the
# fingerprint into the kernel, and a further host with that fingerprint has
# its very first SYN to port 25 dropped, while a configured mail server with
# the same OS keeps delivering. Exceptions and the end of the outbreak too.
#
#   bot1..bot4 198.18.1-4.2 ─ in1..in4 ┐
#   relay      198.18.5.2  ─ in5      ├ EDGE (mtaguardd, XDP on in1..in5) ─ out0 ─ MX 198.19.0.25 (Postfix)
#
# All namespaces run Linux, so all SYNs share one fingerprint: exactly the
# situation of a bot kit on one OS next to a mail server on the same OS.
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
lab_netns edge bot1 bot2 bot3 bot4 relay mx
i=1
for h in bot1 bot2 bot3 bot4 relay; do
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
  "interfaces": [ "in1", "in2", "in3", "in4", "in5" ],
  "pin_dir": "$PIN",
  "mail_servers": [ "198.18.5.2" ],
  "state_file": "$LAB_DIR/state.gz",
  "log_file": "$EVENTS",
  "control_socket": "$SOCK",
  "outbreak": { "min_senders": 3, "window": "10m", "decay": "30m", "alert_hook": "$LAB_DIR/hook.sh" }
}
EOF
nsenter --net="/run/netns/$(lab_ns edge)" -- "$BUILD/mtaguardd" -c "$LAB_DIR/mtaguard.json" 2>"$LAB_DIR/daemon.err" &
DPID=$!
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
jq -e '.member_list | length == 3 and all(.[]; .mac | test("^[0-9a-f]{2}(:[0-9a-f]{2}){5}$"))' <<<"$ob" >/dev/null &&
	jq -e '[.member_list[].source] | sort == ["198.18.1.2","198.18.2.2","198.18.3.2"]' <<<"$ob" >/dev/null &&
	pass "the alert names every member with its MAC" || fail "members: $ob"
jq -e '.threat_level >= 2 and .contained_in_kernel' <<<"$ob" >/dev/null && pass "threat level raised, contained in kernel" ||
	fail "level/containment: $ob"
lab_wait "hook ran" grep -q "\"signature\":\"$sig\"" "$LAB_DIR/hook.out" && pass "the alert hook got the alert on stdin" ||
	fail "hook output: $(cat "$LAB_DIR/hook.out" 2>/dev/null)"
[[ "$(ctl --json status | jq -r .threat_level)" -ge 2 ]] && pass "mtaguardctl status shows the threat level" ||
	fail "status threat level"
# (grep -q on captured output: in a pipe it can exit before the writer is done, and pipefail
# then reports the writer's SIGPIPE as a failure)
grep -q "outbreak $sig: level" <<<"$(ctl outbreaks)" && pass "mtaguardctl outbreaks lists it" || fail "ctl outbreaks: $(ctl outbreaks)"
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
