#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# e2e_replay.sh - mtaguard-replay end to end, on captures this test makes:
# a PC and a scripted spam bot talk to a mail server while tcpdump records,
# then the captures (Ethernet per interface, Linux cooked "any", a merged
# pcapng, a truncated file, an unknown link type) are replayed through
# mtaguard-replay and its report is checked.
#
#   selftests/e2e_replay.sh BUILD_DIR        (or MG_BUILD=BUILD_DIR)
#
#   PC   198.18.1.2 eth0 ── m1 198.18.1.1 ┐    (and 198.18.1.3, a host that only browses)
#                                         MX  (Postfix; 198.19.0.1-6/32 on m1)
#   BOT  198.18.2.2 eth0 ── m2 198.18.2.1 ┘   tcpdump -i m1, -i m2, -i any
#
# Exit 0 pass, 1 fail, 77 skip (not root, tool missing).
set -euo pipefail

SELFTESTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=selftests/lab.sh
. "$SELFTESTS/lab.sh"

BUILD="$(cd "${1:-${MG_BUILD:-build}}" && pwd)"
REPLAY="$BUILD/mtaguard-replay"
MERGE="$BUILD/selftests/tool_pcapng_merge"
DOMAIN="$LAB_MAIL_DOMAIN"
BOT=198.18.2.2
PC=198.18.1.2
WEBONLY=198.18.1.3 # a second host on the PC's LAN: it browses, never speaks SMTP
MXS=(198.19.0.1 198.19.0.2 198.19.0.3 198.19.0.4 198.19.0.5 198.19.0.6)
BOT_SESSIONS="${BOT_SESSIONS:-20}" # bounded: about 4 s of capture at 0.15 s apart

lab_require_root
lab_require_cmds ip tcpdump swaks jq postfix postconf timeout ss stat head socat
[[ -x "$REPLAY" ]] || { echo "FAIL: $REPLAY missing (run 'make' first)"; exit 1; }
[[ -x "$MERGE" ]] || { echo "FAIL: $MERGE missing (run 'make $MERGE')"; exit 1; }

T0=$SECONDS
FAILS=0
pass() { printf 'ok:   %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*"; FAILS=$((FAILS + 1)); }
fatal() { printf 'FAIL: %s\n' "$*"; exit 1; }

lab_init
CONF="$LAB_DIR/replay.json"
cat >"$CONF" <<'EOF'
{ "protected_networks": ["198.18.0.0/15"] }
EOF

# --- the lab --------------------------------------------------------------------

lab_netns mx pc bot
lab_veth mx m1 pc eth0
lab_veth mx m2 bot eth0
lab_addr mx m1 198.18.1.1/24
lab_addr mx m2 198.18.2.1/24
lab_addr pc eth0 "$PC/24" "$WEBONLY/24"
lab_addr bot eth0 "$BOT/24"
# The six MX addresses are /32s on m1 (this kernel has no dummy devices);
# Linux answers for them on any interface, so the bot reaches them via m2.
for a in "${MXS[@]}"; do lab_addr mx m1 "$a/32"; done
lab_run pc ip route add 198.19.0.0/24 via 198.18.1.1
lab_run bot ip route add 198.19.0.0/24 via 198.18.2.1
lab_postfix_start mx 198.18.1.1 198.18.2.1 "${MXS[@]}" ||
	fatal "Postfix did not start in $(lab_ns mx)"
lab_postfix_submission mx || fatal "Postfix in $(lab_ns mx) does not listen on 587"
pass "lab up: mx (Postfix on 25 and 587, six MX addresses), pc, bot"

# --- captures -------------------------------------------------------------------

# "ip netns exec" execs tcpdump, so $! is tcpdump itself and SIGINT reaches it.
# -Z root: Debian's tcpdump drops to user tcpdump before opening the output
# file, which could not then be created in the root-owned lab dir.
TCPDUMP_PIDS=()
start_capture() { # NAME IFACE
	ip netns exec "$(lab_ns mx)" tcpdump -n -U -s 65535 -Z root -i "$2" -w "$LAB_DIR/$1.pcap" \
		>/dev/null 2>"$LAB_DIR/tcpdump-$1.err" &
	TCPDUMP_PIDS+=("$!")
	LAB_PIDS+=("$!")
}
start_capture m1 m1
start_capture m2 m2
start_capture any any
for n in m1 m2 any; do
	lab_wait -t 10 "tcpdump -i $n to listen" grep -q "listening on" "$LAB_DIR/tcpdump-$n.err" ||
		fatal "tcpdump on $n did not start: $(cat "$LAB_DIR/tcpdump-$n.err")"
done
pass "tcpdump listening on m1, m2 and any in mx"

mail() { # NS TAG SERVER HELO RCPTS [SWAKS_ARGS...]
	local ns="$1" tag="$2" server="$3" helo="$4" rcpts="$5"
	shift 5
	lab_run "$ns" swaks --server "$server" --timeout 5 --from "x@$ns.$DOMAIN" --to "$rcpts" \
		--ehlo "$helo" --header "X-Tag: $tag" "$@" >"$LAB_DIR/swaks-$tag.log" 2>&1
}

# --- traffic: the PC browses, submits one mail, sends one directly -----------------

for port in 80 443 443 80; do
	lab_run pc timeout 1 bash -c "exec 3<>/dev/tcp/${MXS[0]}/$port" 2>/dev/null || true
done
# The browsing-only host: SYNs to web ports from its own address (nothing listens; the SYNs are what counts).
for port in 443 80 443; do
	lab_run pc socat -T1 /dev/null "TCP:${MXS[1]}:$port,bind=$WEBONLY,connect-timeout=1" 2>/dev/null || true
done
mail pc pc-sub 198.18.1.1 "pc.$DOMAIN" "someone@$DOMAIN" --port 587 ||
	fail "the PC's submission on 587 was refused: $(tail -3 "$LAB_DIR/swaks-pc-sub.log")"
mail pc pc-25 "${MXS[0]}" "pc.$DOMAIN" "someone@$DOMAIN" ||
	fail "the PC's mail on 25 was refused: $(tail -3 "$LAB_DIR/swaks-pc-25.log")"
sleep 0.3

# --- the scripted bot: direct-to-MX spam, forged HELO, six MX in turn --------------

t_bot=$(date +%s%N)
bot_ok=0
for i in $(seq 1 "$BOT_SESSIONS"); do
	mx="${MXS[$(((i - 1) % 6))]}"
	mail bot "spam-$i" "$mx" "[$BOT]" "a$i@$DOMAIN,b$i@$DOMAIN,c$i@$DOMAIN" && bot_ok=$((bot_ok + 1))
	sleep 0.15
done
bot_ms=$((($(date +%s%N) - t_bot) / 1000000))
((bot_ok == BOT_SESSIONS)) && pass "bot: $bot_ok SMTP sessions in $bot_ms ms" ||
	fail "bot: only $bot_ok of $BOT_SESSIONS sessions accepted"
sleep 0.2

# --- stop the captures ------------------------------------------------------------------

# Bash starts background commands with SIGINT ignored, but tcpdump installs
# its own handler: SIGINT makes it flush and close its file.
for pid in "${TCPDUMP_PIDS[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
for pid in "${TCPDUMP_PIDS[@]}"; do
	for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null && fail "tcpdump $pid ignored SIGINT for 5 s"
	wait "$pid" 2>/dev/null || true
done
M1="$LAB_DIR/m1.pcap"
M2="$LAB_DIR/m2.pcap"
ANY="$LAB_DIR/any.pcap"
# frames FILE: tcpdump's count of the frames in FILE (one line each).
frames() { { tcpdump -n -r "$1" 2>/dev/null || true; } | wc -l; }
for f in "$M1" "$M2" "$ANY"; do
	[[ -s "$f" ]] || fatal "capture $f is empty"
done
N_M1=$(frames "$M1")
N_M2=$(frames "$M2")
N_ANY=$(frames "$ANY")
((N_M1 > 0 && N_M2 > 0 && N_ANY > 0)) || fatal "captures hold no frames: m1 $N_M1, m2 $N_M2, any $N_ANY"
pass "captures: m1 $N_M1 frames, m2 $N_M2, any $N_ANY"

# --- replays ---------------------------------------------------------------------------

# replay NAME ARGS...: run the tool; stdout in $LAB_DIR/NAME.out, stderr in
# NAME.err, exit status in RC.
RC=0
replay() {
	local name="$1"
	shift
	RC=0
	timeout 60 "$REPLAY" "$@" >"$LAB_DIR/$name.out" 2>"$LAB_DIR/$name.err" || RC=$?
}
# check NAME WHAT JQ_FILTER: jq -e FILTER on NAME's JSON output.
check() {
	if jq -e "$3" "$LAB_DIR/$1.out" >/dev/null 2>&1; then
		pass "$1: $2"
	else
		fail "$1: $2 ($3)"
		FAILED_JSON+=("$1")
	fi
}
FAILED_JSON=()
src() { printf '(.sources[] | select(.source == "%s"))' "$1"; }
BOTQ="$(src "$BOT")"
PCQ="$(src "$PC")"

# bot_verdict NAME: the checks every replay of the lab's traffic must pass.
bot_verdict() {
	check "$1" "bot $BOT has a verdict" "$BOTQ | .verdict != null"
	check "$1" "bot $BOT role blocked" "$BOTQ | .role == \"blocked\""
	check "$1" "bot reasons name direct-to-mx or role-change" \
		"$BOTQ | any(.reasons[]; type == \"string\" and (startswith(\"direct-to-mx\") or startswith(\"role-change\")))"
	check "$1" "pc $PC has no verdict" "$PCQ | .verdict == null"
	check "$1" "pc $PC not blocked" "$PCQ | .role != \"blocked\""
}
exit_ok() { # NAME
	((RC == 0)) && pass "$1: exit status 0" || fail "$1: exit status $RC: $(head -5 "$LAB_DIR/$1.err")"
}

# a) the two Ethernet captures together
replay a -c "$CONF" --json "$M1" "$M2"
exit_ok a
bot_verdict a
check a "exactly one verdict" '.verdicts | length == 1'
check a "dropped > 0 (the bot's later packets)" '.totals.dropped > 0'
check a "frames == $((N_M1 + N_M2))" ".totals.frames == $((N_M1 + N_M2))"
check a "bot evidence: HELO [$BOT]" "$BOTQ | .evidence.helo == \"[$BOT]\""
check a "bot evidence: distinct_mx >= 2" "$BOTQ | .evidence.distinct_mx >= 2"
# Every active protected host is in the report, also one known by its activity record alone.
check a "$WEBONLY (browsed only) listed: no profile, end host, its web flows" \
	"$(src "$WEBONLY") | .profile == false and .role == \"end_host\" and .activity.flows.web >= 3 and .verdict == null"
check a "$PC has a profile" "$PCQ | .profile == true"
replay a-text -c "$CONF" "$M1" "$M2"
grep -A3 "known by their activity alone" "$LAB_DIR/a-text.out" | grep -q "$WEBONLY .*end_host" &&
	pass "a-text: the report lists $WEBONLY among hosts known by their activity alone" ||
	fail "a-text: no activity-only section with $WEBONLY: $(tail -8 "$LAB_DIR/a-text.out")"

# b) the Linux cooked capture alone
replay b -c "$CONF" --json "$ANY"
exit_ok b
bot_verdict b
check b "link type LINUX_SLL or LINUX_SLL2" '.files[0].link_type | . == "LINUX_SLL" or . == "LINUX_SLL2"'

# c) a pcapng with two interfaces, made from m1 and m2
BOTH="$LAB_DIR/both.pcapng"
if "$MERGE" "$BOTH" "$M1" "$M2" 2>"$LAB_DIR/merge.err"; then
	pass "tool_pcapng_merge made $BOTH"
	replay c -c "$CONF" --json "$BOTH"
	exit_ok c
	bot_verdict c
	check c "link type EN10MB" '.files[0].link_type == "EN10MB"'
	check c "frames == $((N_M1 + N_M2))" ".totals.frames == $((N_M1 + N_M2))"
else
	fail "tool_pcapng_merge failed: $(cat "$LAB_DIR/merge.err")"
fi

# d) a truncated capture: the frames before the cut are replayed, with a warning
TRUNC="$LAB_DIR/trunc.pcap"
head -c $(($(stat -c %s "$M2") - 37)) "$M2" >"$TRUNC"
replay d -c "$CONF" --json "$TRUNC"
exit_ok d
grep -qi "truncated" "$LAB_DIR/d.err" && pass "d: stderr says truncated" ||
	fail "d: no 'truncated' on stderr: $(head -5 "$LAB_DIR/d.err")"
check d "a warning in files[0].warnings" '.files[0].warnings | length >= 1'
check d "frames before the cut were run" '.totals.run > 0'

# e) an unknown link type (147, USER0): one classic pcap record, little-endian
USER0="$LAB_DIR/user0.pcap"
{
	printf '\xd4\xc3\xb2\xa1\x02\x00\x04\x00' # magic, version 2.4
	printf '\x00\x00\x00\x00\x00\x00\x00\x00' # thiszone, sigfigs
	printf '\xff\xff\x00\x00\x93\x00\x00\x00' # snaplen 65535, linktype 147
	printf '\x00\xe1\xf5\x05\x00\x00\x00\x00' # ts_sec, ts_usec
	printf '\x04\x00\x00\x00\x04\x00\x00\x00' # incl_len 4, orig_len 4
	printf '\xde\xad\xbe\xef'
} >"$USER0"
replay e -c "$CONF" --json "$USER0" "$M1"
exit_ok e
# The message must say "link type" and name it (147, or libpcap's USER0).
msg="$(grep -Ei 'link[- _]?type' "$LAB_DIR/e.err" | grep -Ei '\<147\>|USER0' | head -1 || true)"
if [[ -n "$msg" ]]; then
	pass "e: stderr names the unsupported link type: $msg"
else
	fail "e: no message naming link type 147/USER0 on stderr: $(head -5 "$LAB_DIR/e.err")"
fi
check e "m1.pcap still replayed (.files[1].run > 0)" '.files[1].run > 0'

# e2) a missing input, or one that is no capture at all: exit 1, naming it, and no report
# (a report on part of the traffic would read as "no bots").
replay e2 -c "$CONF" --json "$M1" "$LAB_DIR/nope.pcap"
((RC == 1)) && pass "e2: a missing capture: exit status 1" || fail "e2: a missing capture: exit status $RC"
grep -q "nope.pcap" "$LAB_DIR/e2.err" && [[ ! -s "$LAB_DIR/e2.out" ]] &&
	pass "e2: the message names the file, no report" || fail "e2: $(head -3 "$LAB_DIR/e2.err")"
printf 'not a capture\n' >"$LAB_DIR/text.pcap"
replay e3 -c "$CONF" --json "$LAB_DIR/text.pcap"
((RC == 1)) && grep -q "text.pcap" "$LAB_DIR/e3.err" && pass "e3: a text file: exit status 1, named" ||
	fail "e3: a text file: exit status $RC: $(head -3 "$LAB_DIR/e3.err")"
# Two captures of the same stretch of time (here one file and its copy): merged in time
# order, and said so.
cp "$M1" "$LAB_DIR/m1-copy.pcap"
replay e4 -c "$CONF" --json "$M1" "$LAB_DIR/m1-copy.pcap"
exit_ok e4
check e4 "a warning that the captures overlap" '.warnings | any(test("overlap"))'
check e4 "both files' frames run" ".totals.run == $((2 * N_M1))"

# f) --verdicts-only: one line, the bot
replay f -c "$CONF" --verdicts-only "$M1" "$M2"
exit_ok f
if [[ "$(wc -l <"$LAB_DIR/f.out")" -eq 1 ]] && grep -q "^$BOT " "$LAB_DIR/f.out"; then
	pass "f: --verdicts-only prints one line: $(cat "$LAB_DIR/f.out")"
else
	fail "f: --verdicts-only printed: $(head -5 "$LAB_DIR/f.out")"
fi

# g) --repeat: the program's cost per packet
replay g -c "$CONF" --repeat 50 --json "$M1" "$M2"
exit_ok g
check g "cost.ns_per_packet > 0" '.cost.ns_per_packet > 0'
check g "cost.repeat == 50" '.cost.repeat == 50'
[[ -s "$LAB_DIR/g.out" ]] && echo "ns-per-packet: $(jq -r '.cost.ns_per_packet' "$LAB_DIR/g.out" 2>/dev/null)"

# h) the human-readable report
replay h -c "$CONF" "$M1" "$M2"
exit_ok h
grep -q "$BOT" "$LAB_DIR/h.out" && grep -q "blocked" "$LAB_DIR/h.out" &&
	pass "h: the text report names $BOT and 'blocked'" ||
	fail "h: text report lacks $BOT or 'blocked': $(head -20 "$LAB_DIR/h.out")"

# i) outbreak detection in the replay: the PC and the bot are two new senders
# with one SYN fingerprint (both run Linux); with K = 2 that is an outbreak.
printf '{ "protected_networks": ["198.18.0.0/15"], "outbreak": { "min_senders": 2 } }\n' >"$LAB_DIR/ob.json"
replay i -c "$LAB_DIR/ob.json" --json "$M1" "$M2"
exit_ok i
# A member is named once its commands prove it: in the declaration, or in a later outbreak-member alert.
check i "an outbreak alert with both members" \
	"[.alerts[] | select(.event == \"outbreak\" and (.signature | startswith(\"fp:\")))] as \$o |
	 (\$o | length >= 1) and ([.alerts[] | select(.signature == \$o[0].signature) |
	  (.member_list // [.member // empty])[] | .source] | unique == ([\"$PC\", \"$BOT\"] | sort))"
check i "the members' reasons name the outbreak" "$BOTQ.reasons | any(startswith(\"outbreak:fp:\"))"
replay j -c "$LAB_DIR/ob.json" "$M1" "$M2"
grep -q "outbreak fp:" "$LAB_DIR/j.out" && pass "j: the text report shows the outbreak" ||
	fail "j: no outbreak in the text report"

# k) without the privileges BPF_PROG_TEST_RUN needs: exit 1 and a message that says so.
# The lab and build directories may be closed to others: a world-readable copy of both.
UNPRIV="$(mktemp -d /tmp/mg-unpriv.XXXXXX)"
lab_defer rm -rf -- "$UNPRIV"
chmod 0755 "$UNPRIV"
install -m 0755 "$REPLAY" "$UNPRIV/" && install -m 0644 "$M1" "$UNPRIV/m1.pcap"
rc=0
setpriv --reuid=nobody --regid=nogroup --clear-groups "$UNPRIV/mtaguard-replay" "$UNPRIV/m1.pcap" \
	>"$LAB_DIR/k.out" 2>"$LAB_DIR/k.err" || rc=$?
((rc == 1)) && pass "k: unprivileged: exit status 1" || fail "k: unprivileged: exit status $rc"
grep -q "needs root (CAP_BPF and CAP_NET_ADMIN)" "$LAB_DIR/k.err" && pass "k: unprivileged: the message names the privileges" ||
	fail "k: unprivileged: $(cat "$LAB_DIR/k.err")"

if ((FAILS)); then
	# The first failing report, for the post-mortem (LAB_KEEP=1 keeps them all).
	for n in "${FAILED_JSON[@]:0:1}"; do
		echo "--- report $n:"
		jq -c '{files, totals: (.totals | del(.kernel)), verdicts,
			sources: [.sources[]? | {source, role, verdict: (.verdict != null), reasons, evidence}]}' \
			"$LAB_DIR/$n.out" 2>/dev/null | head -c 4000 || head -c 2000 "$LAB_DIR/$n.out"
		echo
	done
	echo "e2e_replay: $FAILS check(s) failed ($((SECONDS - T0)) s)"
	exit 1
fi
echo "e2e_replay: all checks passed ($((SECONDS - T0)) s)"
