#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# e2e_smtp.sh - end-to-end test: real SMTP sessions through the XDP program.
#
#   selftests/e2e_smtp.sh BUILD_DIR        (or MG_BUILD=BUILD_DIR)
#
# Topology (three network namespaces, names unique per run):
#
#   CLI1:eth0 198.18.1.2/24 2001:db8:1::2/64 <-> SRV:mga0 198.18.1.1/24 2001:db8:1::1/64
#   CLI2:eth0 198.18.2.2/24 2001:db8:2::2/64 <-> SRV:mgb0 198.18.2.1/24 2001:db8:2::1/64
#
# SRV runs Postfix (a sink for @lab.test); mtaguard's XDP program is attached
# natively to mga0 and mgb0, where the clients' packets arrive as ingress.
# Clients send mail with swaks; the test checks delivery, the per-source
# command counters, and that block rules drop what they should and nothing
# else.  Exit 0 pass, 1 fail, 77 skip (not root, tool missing).

set -euo pipefail

SELFTESTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=selftests/lab.sh
. "$SELFTESTS/lab.sh"

BUILD="${1:-${MG_BUILD:-build}}"
LOADER="$BUILD/mtaguard-loader"
PIN="/sys/fs/bpf/mg-e2e-$$"
DOMAIN="$LAB_MAIL_DOMAIN"

lab_require_root
lab_require_cmds ip nsenter ss flock timeout postfix postconf swaks jq ping
if [[ ! -x "$LOADER" ]]; then
	# A missing build product is a broken build, not a missing privilege.
	echo "FAIL: $LOADER not found or not executable (run 'make' first)"
	exit 1
fi
LOADER="$(cd "$(dirname "$LOADER")" && pwd)/${LOADER##*/}"

FAILS=0

pass() { printf 'ok:   %s\n' "$*"; }
fail() {
	printf 'FAIL: %s\n' "$*"
	FAILS=$((FAILS + 1))
}
# fatal: a step the rest of the test depends on failed; stop here (the
# EXIT trap still cleans up).
fatal() {
	printf 'FAIL: %s\n' "$*"
	exit 1
}

# loader ARGS...: the loader on our pin dir, in the root namespaces (maps and
# policy need no network namespace).
loader() { "$LOADER" -p "$PIN" "$@"; }
# srv_loader ARGS...: the loader in SRV's network namespace only (attach and
# detach resolve interface names there), keeping /sys/fs/bpf visible.
srv_loader() { lab_nsenter srv "$LOADER" -p "$PIN" "$@"; }

# expect WHAT JSON JQ_PATH OP VALUE: compare one number of a JSON document.
expect() {
	local what="$1" json="$2" path="$3" op="$4" want="$5" got
	got="$(jq -r "$path // \"missing\"" <<<"$json" 2>/dev/null || echo "unparsable")"
	if [[ ! "$got" =~ ^[0-9]+$ ]]; then
		fail "$what $path: expected $op $want, got '$got'"
		return 0
	fi
	local ok=0
	case "$op" in
	==) ((got == want)) && ok=1 ;;
	'>=') ((got >= want)) && ok=1 ;;
	'>') ((got > want)) && ok=1 ;;
	*) fatal "expect: unknown operator $op" ;;
	esac
	if ((ok)); then
		pass "$what $path $op $want (got $got)"
	else
		fail "$what $path: expected $op $want, got $got"
	fi
}

# source_json ADDR: the per-source counters (empty if there are none).
source_json() { loader source "$1" --json 2>/dev/null || true; }

# send NS TAG SERVER RCPTS [SWAKS_ARGS...]: one message; returns swaks'
# status, keeps its transcript in $LAB_DIR/swaks-TAG.log.
send() {
	local short="$1" tag="$2" server="$3" rcpts="$4"
	shift 4
	lab_run "$short" swaks --server "$server" --timeout 5 \
		--from "sender@$short.$DOMAIN" --to "$rcpts" --ehlo "$short.$DOMAIN" \
		--header "X-MG-Tag: $tag" "$@" >"$LAB_DIR/swaks-$tag.log" 2>&1
}

# expect_delivered NS TAG N: swaks said "queued" and N copies arrived.
expect_delivered() {
	local short="$1" tag="$2" n="$3" got
	if lab_wait_mail srv "$tag" "$n"; then
		got="$(lab_mail_count srv "$tag")"
		if ((got == n)); then
			pass "mail $tag delivered to $n recipient(s)"
		else
			fail "mail $tag: expected $n delivered copies, got $got"
		fi
	else
		fail "mail $tag: expected $n delivered copies, got $(lab_mail_count srv "$tag")"
		lab_postfix_log srv | tail -20
	fi
}

# xdp_mode NS DEV: IFLA_XDP attach mode (1 native, 2 generic, 0 none).
xdp_mode() {
	ip -j -n "$(lab_ns "$1")" link show dev "$2" | jq -r '.[0].xdp.mode // 0'
}

# Undo the XDP side: unload detaches every pinned link and removes the pins;
# removing what is left makes sure no program stays attached even if the
# loader failed (a bpf_link lives while its pin does).  Runs before the
# namespaces are deleted, as interface indexes are only valid in SRV.
xdp_cleanup() {
	if [[ -d "$PIN" ]]; then
		if [[ -e "/run/netns/$(lab_ns srv)" ]]; then
			srv_loader unload || echo "warning: loader unload failed" >&2
		else
			loader unload || echo "warning: loader unload failed" >&2
		fi
	fi
	[[ ! -e "$PIN" ]] || rm -rf -- "$PIN"
}

# --- 1. lab, Postfix, XDP ----------------------------------------------------

lab_init
lab_bpffs
lab_netns srv cli1 cli2
lab_veth srv mga0 cli1 eth0
lab_veth srv mgb0 cli2 eth0
lab_addr srv mga0 198.18.1.1/24 2001:db8:1::1/64
lab_addr cli1 eth0 198.18.1.2/24 2001:db8:1::2/64
lab_addr srv mgb0 198.18.2.1/24 2001:db8:2::1/64
lab_addr cli2 eth0 198.18.2.2/24 2001:db8:2::2/64
lab_postfix_start srv 198.18.1.1 198.18.2.1 2001:db8:1::1 2001:db8:2::1 ||
	fatal "Postfix did not start in $(lab_ns srv)"
pass "lab up: $(lab_ns srv) $(lab_ns cli1) $(lab_ns cli2), Postfix listening"

lab_defer xdp_cleanup
for dev in mga0 mgb0; do
	srv_loader attach "$dev" --mode native || fatal "loader attach $dev --mode native failed"
	mode="$(xdp_mode srv "$dev")"
	[[ "$mode" == 1 ]] || fatal "XDP on $dev: expected native mode (1), ip link reports mode $mode"
done
pass "XDP attached natively to mga0 and mgb0, pinned under $PIN"

# one_session NS TAG SERVER CLIENT N [SWAKS_ARGS...]: one message to N
# recipients; it must be delivered and the kernel must have counted exactly
# that session for CLIENT (IPv6: its /64).
one_session() {
	local ns="$1" tag="$2" server="$3" client="$4" n="$5" rcpts="" i src
	shift 5
	for ((i = 0; i < n; i++)); do rcpts+="${rcpts:+,}r$i@$DOMAIN"; done
	if send "$ns" "$tag" "$server" "$rcpts" "$@"; then
		pass "swaks $ns -> $server accepted"
	else
		cat "$LAB_DIR/swaks-$tag.log"
		fatal "swaks $ns -> $server failed"
	fi
	expect_delivered "$ns" "$tag" "$n"
	src="$(source_json "$client")"
	[[ -n "$src" ]] || { fail "source $client: no per-source entry"; return 0; }
	for kv in ehlo=1 helo=0 mail=1 "rcpt=$n" data=1 quit=1; do
		expect "source $client" "$src" ".cmd.${kv%=*}" == "${kv#*=}"
	done
	expect "source $client" "$src" .syn_mx == 1
}

# --- 2. IPv4: one message, three recipients ------------------------------------

one_session cli1 v4-first 198.18.1.1 198.18.1.2 3
stats="$(loader stats --json || true)"
expect "stats" "$stats" .smtp_cmds '>=' 7
expect "stats" "$stats" .syn_smtp '>=' 1

# --- 3. IPv6: one message, two recipients --------------------------------------

one_session cli2 v6-first 2001:db8:2::1 2001:db8:2::2 2 -6

# --- 4. Block rules -------------------------------------------------------------

loader block 198.18.1.2/32 --action smtp || fatal "loader block 198.18.1.2/32 --action smtp failed"
if send cli1 v4-blocked 198.18.1.1 "a@$DOMAIN"; then
	fail "swaks from blocked cli1 succeeded (expected a connect timeout)"
	cat "$LAB_DIR/swaks-v4-blocked.log"
else
	pass "swaks from cli1 fails while 198.18.1.2/32 is blocked (smtp)"
fi
if send cli2 v6-during-block 2001:db8:2::1 "a@$DOMAIN" -6; then
	pass "swaks from unblocked cli2 still accepted"
	expect_delivered cli2 v6-during-block 1
else
	cat "$LAB_DIR/swaks-v6-during-block.log"
	fail "swaks from unblocked cli2 failed while cli1 was blocked"
fi
if lab_run cli1 ping -c1 -W2 198.18.1.1 >/dev/null; then
	pass "ping cli1 -> 198.18.1.1 passes an SMTP-only block"
else
	fail "ping cli1 -> 198.18.1.1 dropped by an SMTP-only block"
fi
stats="$(loader stats --json || true)"
expect "stats" "$stats" .drop_reason.block_smtp '>' 0

loader block 198.18.1.2 --action all || fatal "loader block 198.18.1.2 --action all failed"
if lab_run cli1 ping -c1 -W1 198.18.1.1 >/dev/null; then
	fail "ping cli1 -> 198.18.1.1 passed a block-all rule"
else
	pass "ping cli1 -> 198.18.1.1 dropped by a block-all rule"
fi
stats="$(loader stats --json || true)"
expect "stats" "$stats" .drop_reason.block_all '>' 0

loader unblock 198.18.1.2/32 || fatal "loader unblock 198.18.1.2/32 failed"
if send cli1 v4-unblocked 198.18.1.1 "a@$DOMAIN"; then
	pass "swaks from cli1 accepted again after unblock"
	expect_delivered cli1 v4-unblocked 1
else
	cat "$LAB_DIR/swaks-v4-unblocked.log"
	fail "swaks from cli1 still fails after unblock"
fi
# Nothing that was dropped may have been delivered.
got="$(lab_mail_count srv v4-blocked)"
if ((got == 0)); then
	pass "no mail delivered from the blocked session"
else
	fail "blocked session delivered $got copies"
fi

# --- 5. Generic mode ---------------------------------------------------------------
# The same program attached in generic (skb) mode counts the same session.

srv_loader detach mgb0 || fatal "loader detach mgb0 failed"
srv_loader attach mgb0 --mode generic || fatal "loader attach mgb0 --mode generic failed"
mode="$(xdp_mode srv mgb0)"
[[ "$mode" == 2 ]] && pass "XDP re-attached to mgb0 in generic mode" ||
	fail "XDP on mgb0: expected generic mode (2), ip link reports mode $mode"
before="$(source_json 198.18.2.2)"
if send cli2 v4-generic 198.18.2.1 "a@$DOMAIN,b@$DOMAIN"; then
	expect_delivered cli2 v4-generic 2
	after="$(source_json 198.18.2.2)"
	for kv in ehlo=1 mail=1 rcpt=2 data=1 quit=1; do
		k="${kv%=*}"
		b="$(jq -r ".cmd.$k // 0" <<<"${before:-{\}}")"
		expect "source 198.18.2.2 (generic)" "$after" ".cmd.$k" == "$((b + ${kv#*=}))"
	done
else
	cat "$LAB_DIR/swaks-v4-generic.log"
	fail "swaks cli2 -> 198.18.2.1 failed with generic XDP"
fi

# --- 6. Detach -------------------------------------------------------------------

for dev in mga0 mgb0; do
	srv_loader detach "$dev" || fail "loader detach $dev failed"
	mode="$(xdp_mode srv "$dev")"
	if [[ "$mode" == 0 ]]; then
		pass "detached from $dev"
	else
		fail "XDP still attached to $dev after detach (mode $mode)"
	fi
done

if ((FAILS)); then
	echo "e2e_smtp: $FAILS check(s) failed"
	exit 1
fi
echo "e2e_smtp: all checks passed"
