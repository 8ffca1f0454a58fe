#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# e2e_feeds.sh - imported prefix lists in the live daemon: a 100 000-line
# list (DROP format, comments and blanks among it) imports in seconds (the
# time is printed) while the daemon keeps answering; a malformed line and a
# prefix past the limits are refused with their line numbers and nothing is
# applied; an allowlisted prefix inside the list stays allowed; --sync drops
# what a shorter list no longer has; export gives back what was imported
# (and imports again into another origin, identically); the lists survive a
# restart of the daemon.
#
#   selftests/e2e_feeds.sh BUILD_DIR
#
# Exit 0 pass, 1 fail, 77 skip (not root, tool missing).
set -euo pipefail

SELFTESTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=selftests/lab.sh
. "$SELFTESTS/lab.sh"

BUILD="$(cd "${1:-${MG_BUILD:-build}}" && pwd)"
PIN="/sys/fs/bpf/mg-e2ef-$$"

lab_require_root
lab_require_cmds ip nsenter jq awk sort
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
cat >"$LAB_DIR/mtaguard.json" <<EOF
{
  "interfaces": [ "in0" ],
  "pin_dir": "$PIN",
  "state_file": "$LAB_DIR/state.gz",
  "log_file": "$LAB_DIR/events.jsonl",
  "control_socket": "$SOCK",
  "allowlist": [ "198.18.7.0/24" ],
  "protected_networks": [ "198.19.250.0/24" ]
}
EOF

start_daemon() {
	: >"$LAB_DIR/daemon.err"
	lab_mtaguardd edge "$BUILD" "$PIN" "$LAB_DIR/mtaguard.json"
	lab_wait "the daemon's socket" "${CTL[@]}" status ||
		{ fail "the daemon did not start: $(cat "$LAB_DIR/daemon.err")"; exit 1; }
}
start_daemon

# 99 000 IPv4 hosts of 198.18.0.0/15 and 1 000 IPv6 /48s of 2001:db8::/32, in the DROP format.
awk 'BEGIN {
	print "; Spamhaus-style DROP list (test data)"; print "; Last-Modified: today"; print ""
	for (i = 0; i < 99000; i++) {
		printf "198.%d.%d.%d/32 ; SBL%06d\n", 18 + int(i / 65536), int(i / 256) % 256, i % 256, i
		if (i % 20000 == 0) print "# a comment line among the prefixes"
	}
	for (i = 1; i <= 1000; i++) printf "2001:db8:%x::/48\n", i
}' >"$LAB_DIR/drop.txt"
grep -cv '^[;#]\|^$' "$LAB_DIR/drop.txt" | grep -qx 100000 || { fail "test list is not 100000 prefixes"; exit 1; }

# --- a malformed line: refused with its line number, nothing applied ----------------
awk 'NR == 50001 { print "198.18.300.0/24" ; next } { print }' "$LAB_DIR/drop.txt" >"$LAB_DIR/bad.txt"
bad_line="$(awk '$1 == "198.18.300.0/24" { print NR }' "$LAB_DIR/bad.txt")"
if out="$("${CTL[@]}" import "$LAB_DIR/bad.txt" --origin drop 2>&1)"; then
	fail "a list with a malformed line was taken"
elif grep -q "bad.txt:$bad_line:" <<<"$out" && [[ "$("${CTL[@]}" --json status | jq '.feeds | length')" == 0 ]]; then
	pass "malformed line $bad_line refused with its number, nothing imported ($(tail -1 <<<"$out"))"
else
	fail "malformed line: $out"
fi
# A prefix wider than limits.min_prefix_v4 (/8): refused by the daemon, with its line.
printf '198.18.1.0/24\n; a comment\n192.0.0.0/4\n' >"$LAB_DIR/wide.txt"
if out="$("${CTL[@]}" import "$LAB_DIR/wide.txt" --origin wide 2>&1)"; then
	fail "a /4 was imported"
elif grep -q "line 3: 192.0.0.0/4 is wider than /8" <<<"$out" &&
	[[ "$("${CTL[@]}" --json status | jq '.feeds | length')" == 0 ]]; then
	pass "a prefix past limits.min_prefix_v4 refused with its line number, nothing applied"
else
	fail "wide prefix: $out"
fi

# A prefix covering a protected network whole (a bogon list's 198.18.0.0/15 on a campus numbered from it):
# refused with its line; one inside it (a host of ours a list names) would be an ordinary block.
printf '198.19.250.7/32\n198.18.0.0/15\n' >"$LAB_DIR/bogons.txt"
if out="$("${CTL[@]}" import "$LAB_DIR/bogons.txt" --origin bogons 2>&1)"; then
	fail "a list blocking a protected network whole was imported"
elif grep -q "line 2: 198.18.0.0/15 covers the protected network 198.19.250.0/24 whole" <<<"$out" &&
	[[ "$("${CTL[@]}" --json status | jq '.feeds | length')" == 0 ]]; then
	pass "a prefix covering a protected network whole refused with its line number, nothing applied"
else
	fail "protected network covered: $out"
fi

# --- 100 000 prefixes, while an operator keeps asking for the status ----------------
(
	max=0
	while [[ ! -e "$LAB_DIR/import.done" ]]; do
		t0="$(date +%s%N)"
		"${CTL[@]}" status >/dev/null
		ms=$((($(date +%s%N) - t0) / 1000000))
		((ms > max)) && max=$ms
		sleep 0.05
	done
	echo "$max" >"$LAB_DIR/status.max"
) &
POLLER=$!
t0="$(date +%s%N)"
if "${CTL[@]}" --json import "$LAB_DIR/drop.txt" --origin drop --ttl 2d >"$LAB_DIR/import.out" 2>"$LAB_DIR/import.err"; then
	ms=$((($(date +%s%N) - t0) / 1000000))
	touch "$LAB_DIR/import.done"
	wait "$POLLER"
	printf '# import of 100 000 prefixes: %d ms until in force in the kernel (the loop held by the commit %s ms, ' \
		"$ms" "$(jq .commit_ms "$LAB_DIR/import.out")"
	printf 'by the save of the lists %s ms, by its longest slice %s ms, longest step of 256 prefixes %s ms); ' \
		"$(jq .save_ms "$LAB_DIR/import.out")" "$(jq .slice_max_ms "$LAB_DIR/import.out")" \
		"$(jq .step_max_ms "$LAB_DIR/import.out")"
	printf 'mtaguardctl status answered within %s ms meanwhile\n' "$(cat "$LAB_DIR/status.max")"
	((ms < 10000)) && pass "100 000 prefixes imported in $ms ms" || fail "100 000 prefixes took $ms ms"
else
	touch "$LAB_DIR/import.done"
	wait "$POLLER" || true
	fail "import: $(cat "$LAB_DIR/import.err")"
fi
count="$("${CTL[@]}" --json status | jq -r '.feeds[] | select(.origin == "drop") | .prefixes')"
[[ "$count" == 100000 ]] && pass "status shows origin drop with 100000 prefixes" || fail "status count: $count"
"${CTL[@]}" status | grep -q '^feed .*drop .*100000 prefixes' || fail "status for people does not show the feed"
by="$("${CTL[@]}" --json show 198.18.5.7 | jq -r '.rule.by + " " + .origins')"
[[ "$by" == "feed drop" ]] && pass "198.18.5.7 is blocked in the kernel by the feed (origin drop)" || fail "show 198.18.5.7: $by"
by="$("${CTL[@]}" --json show 2001:db8:3e7::1 | jq -r '.rule.by')"
[[ "$by" == "feed" ]] && pass "an IPv6 /48 of the list is blocked" || fail "show 2001:db8:3e7::1: $by"
why="$("${CTL[@]}" --json show 198.18.7.9 | jq -r '.why')"
[[ "$why" == allowlisted* ]] && pass "an allowlisted address inside the list stays allowed" || fail "198.18.7.9: $why"
fb="$("${CTL[@]}" --json verdicts | jq '[.feed_blocks, (.verdicts | length)] | join(" ")' -r)"
# The allowlisted /24's hosts have their blocks too: the kernel's allowlist wins over them, whatever the lengths.
[[ "$fb" == "100000 0" ]] && pass "verdicts counts the feed's blocks by origin, not one row each" ||
	fail "verdicts: feed_blocks and rows $fb"

# --- export: what was imported, back; and into another origin, identically ----------
grep -v '^[;#]' "$LAB_DIR/drop.txt" | awk 'NF { print $1 }' | sort >"$LAB_DIR/want.txt"
"${CTL[@]}" export --origin drop >"$LAB_DIR/export.txt"
awk '!/^;/ { print $1 }' "$LAB_DIR/export.txt" | sed 's|/32$||; s|\(198\.[0-9.]*\)$|\1/32|' | sort >"$LAB_DIR/got.txt"
if cmp -s "$LAB_DIR/want.txt" "$LAB_DIR/got.txt"; then
	pass "export --format cidr gives back the 100 000 prefixes"
else
	fail "export differs: $(diff "$LAB_DIR/want.txt" "$LAB_DIR/got.txt" | head -5)"
fi
"${CTL[@]}" import "$LAB_DIR/export.txt" --origin copy >/dev/null 2>&1 || fail "re-importing the export"
"${CTL[@]}" export --origin copy | grep -v '^;' | awk '{ print $1 }' >"$LAB_DIR/copy.txt"
grep -v '^;' "$LAB_DIR/export.txt" | awk '{ print $1 }' | cmp -s - "$LAB_DIR/copy.txt" &&
	pass "an export imports again as the same list" || fail "round trip through export differs"
n="$("${CTL[@]}" export --origin copy --format json | jq '.prefixes | length')"
[[ "$n" == 100000 ]] && pass "export --format json: 100000 entries" || fail "export json: $n"
# An export that cannot be written out (a full disk) says so, exit 6 as for any answer; it was exit 1, silent.
rc=0
"${CTL[@]}" export --origin copy >/dev/full 2>"$LAB_DIR/full.err" || rc=$?
((rc == 6)) && grep -q 'No space left on device' "$LAB_DIR/full.err" &&
	pass "export > /dev/full: exit 6, and why" || fail "export > /dev/full: exit $rc: $(cat "$LAB_DIR/full.err")"
"${CTL[@]}" import --drop --origin copy >/dev/null || fail "dropping origin copy"

# --- sync: a shorter list, with new prefixes --------------------------------------------
{ head -n 90010 "$LAB_DIR/drop.txt"; printf '198.19.200.%d\n' 1 2 3 4 5; } >"$LAB_DIR/drop2.txt"
want_total="$(grep -cv '^[;#]\|^$' "$LAB_DIR/drop2.txt")"
out="$("${CTL[@]}" --json import "$LAB_DIR/drop2.txt" --origin drop --sync 2>/dev/null)" || fail "sync import"
read -r added removed total < <(jq -r '"\(.added) \(.removed) \(.total)"' <<<"$out")
if [[ "$added" == 5 && "$total" == "$want_total" && "$removed" == $((100000 + 5 - want_total)) ]]; then
	pass "--sync: $added new, $removed removed, $total in all"
else
	fail "--sync: $out (want total $want_total)"
fi
by="$("${CTL[@]}" --json show 2001:db8:3e7::1 | jq -r '.rule.by // "none"')"
[[ "$by" == none ]] && pass "a prefix no longer listed is unblocked after --sync" || fail "2001:db8:3e7::1 still: $by"
by="$("${CTL[@]}" --json show 198.19.200.3 | jq -r '.rule.by // "none"')"
[[ "$by" == feed ]] && pass "a new prefix is blocked after --sync" || fail "198.19.200.3: $by"

# --- a restart keeps the lists --------------------------------------------------------
lab_mtaguardd_stop "$BUILD" "$PIN" "$LAB_DPID" # the pins go too: everything must come back from the feeds file
start_daemon
count="$("${CTL[@]}" --json status | jq -r '.feeds[] | select(.origin == "drop") | .prefixes')"
by="$("${CTL[@]}" --json show 198.19.200.3 | jq -r '.rule.by // "none"')"
if [[ "$count" == "$want_total" && "$by" == feed ]]; then
	pass "after a restart (pins removed too): origin drop with $count prefixes, blocks written back"
else
	fail "after a restart: count $count, 198.19.200.3 by $by: $(cat "$LAB_DIR/daemon.err")"
fi

((FAILS == 0)) || { echo "$FAILS check(s) failed"; exit 1; }
