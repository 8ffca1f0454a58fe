#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# e2e_dnsbl.sh - mtaguard's blocks as a DNSBL, end to end with real servers:
# mtaguardd (namespace edge) writes its rbldnsd datasets; rbldnsd serves
# them on a relay (namespace mx) behind unbound, which the relay's Postfix
# resolves through; postscreen there queries the zone. An operator-blocked
# bot's connection is refused by postscreen, an unlisted client's mail is
# delivered; an imported list's prefixes answer 127.0.0.5 (IPv4 and IPv6);
# an unblock takes the entry out. Prints how long a block takes to be
# answered by rbldnsd.
#
#   selftests/e2e_dnsbl.sh BUILD_DIR
#
# Exit 0 pass, 1 fail, 77 skip (not root, tool missing).
set -euo pipefail

SELFTESTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=selftests/lab.sh
. "$SELFTESTS/lab.sh"

BUILD="$(cd "${1:-${MG_BUILD:-build}}" && pwd)"
PIN="/sys/fs/bpf/mg-e2edb-$$"
ZONE="dnsbl.mtaguard.example"

lab_require_root
lab_require_cmds ip nsenter ss postfix postconf swaks jq rbldnsd unbound dig
id rbldns >/dev/null 2>&1 || lab_skip "no rbldns user (package rbldnsd)"
FAILS=0
pass() { printf 'ok:   %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*"; FAILS=$((FAILS + 1)); }

lab_init
lab_bpffs
lab_netns edge mx net
lab_veth edge in0 edge peer0
lab_addr edge in0 198.18.9.1/24
lab_veth mx eth0 net eth0
lab_addr mx eth0 198.18.2.1/24
# The bot, an unlisted PC, and a host the imported list names.
lab_addr net eth0 198.18.2.2/24 198.18.2.3/24 198.18.2.4/24

SOCK="$LAB_DIR/control.sock"
CTL=("$BUILD/mtaguardctl" -s "$SOCK")
mkdir -p "$LAB_DIR/dnsbl"
chmod 0755 "$LAB_DIR/dnsbl"
cat >"$LAB_DIR/mtaguard.json" <<EOF
{
  "interfaces": [ "in0" ],
  "pin_dir": "$PIN",
  "state_file": "$LAB_DIR/state.gz",
  "log_file": "$LAB_DIR/events.jsonl",
  "control_socket": "$SOCK",
  "allowlist": [ "198.18.2.4" ],
  "dnsbl": { "ip4trie": "$LAB_DIR/dnsbl/ip4", "ip6trie": "$LAB_DIR/dnsbl/ip6", "ttl": "10s" }
}
EOF
lab_mtaguardd edge "$BUILD" "$PIN" "$LAB_DIR/mtaguard.json"
lab_wait "the daemon's socket" "${CTL[@]}" status || { fail "daemon: $(cat "$LAB_DIR/daemon.err")"; exit 1; }
lab_wait "the DNSBL datasets" test -s "$LAB_DIR/dnsbl/ip6" || { fail "no DNSBL data written"; exit 1; }
grep -q '^!198.18.2.4/32$' "$LAB_DIR/dnsbl/ip4" && pass "an allowlisted address is an exclusion in the zone" ||
	fail "ip4 dataset: $(cat "$LAB_DIR/dnsbl/ip4")"

# rbldnsd (it refuses root: its own user) re-reading the data every second, unbound in front.
lab_bg mx rbldnsd -n -u rbldns -c 1 -r "$LAB_DIR/dnsbl" -b 127.0.0.1/5353 \
	"$ZONE:ip4trie:ip4" "$ZONE:ip6trie:ip6"
mkdir -p "$LAB_DIR/unbound"
cat >"$LAB_DIR/unbound/unbound.conf" <<EOF
server:
  interface: 127.0.0.1
  port: 53
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "$LAB_DIR/unbound"
  pidfile: "$LAB_DIR/unbound/pid"
  use-syslog: no
  logfile: "$LAB_DIR/unbound/log"
  module-config: "iterator"
  do-not-query-localhost: no
  access-control: 127.0.0.0/8 allow
  local-zone: "example." nodefault
stub-zone:
  name: "$ZONE"
  stub-addr: 127.0.0.1@5353
EOF
lab_bg mx unbound -d -c "$LAB_DIR/unbound/unbound.conf"
lab_wait "unbound on the relay" lab_run mx sh -c "ss -Hlun 'sport = :53' | grep -q ." ||
	{ fail "unbound: $(cat "$LAB_DIR/unbound/log" 2>/dev/null)"; exit 1; }

# The relay's resolver is unbound (Postfix's dnsblog uses the system resolver).
NSDIR="/etc/netns/$(lab_ns mx)"
rm_nsdir() { rm -rf -- "$NSDIR"; }
lab_defer rm_nsdir
mkdir -p "$NSDIR"
echo "nameserver 127.0.0.1" >"$NSDIR/resolv.conf"

lab_postfix_start mx 198.18.2.1
CFG="$(lab_postfix_dir mx)/etc"
postconf -c "$CFG" -M "smtp/inet=smtp inet n - n - 1 postscreen" \
	"smtpd/pass=smtpd pass - - n - - smtpd" "dnsblog/unix=dnsblog unix - - n - 0 dnsblog" \
	"tlsproxy/unix=tlsproxy unix - - n - 0 tlsproxy"
# The README's line; no access list (the default permits mynetworks, which is the whole lab).
postconf -c "$CFG" -e "postscreen_dnsbl_sites = $ZONE=127.0.0.[2..5]*3" "postscreen_dnsbl_threshold = 3" \
	"postscreen_dnsbl_action = drop" "postscreen_access_list =" "postscreen_greet_wait = 2s"
lab_run mx postfix -c "$CFG" reload >/dev/null 2>&1
sleep 1

# dig through the relay's resolver: the A record of ADDR in the zone, or nothing.
lookup() {
	local q
	q="$(awk -F. '{ print $4 "." $3 "." $2 "." $1 }' <<<"$1")"
	lab_run mx dig +short +tries=1 +time=2 "@${2:-127.0.0.1}" -p "${3:-53}" "$q.$ZONE" A
}
listed_as() { [[ "$(lookup "$1" 127.0.0.1 5353)" == "$2" ]]; }

[[ -z "$(lookup 198.18.2.3)" ]] && pass "an unlisted address is not in the zone" || fail "198.18.2.3: $(lookup 198.18.2.3)"

t0="$(date +%s%N)"
"${CTL[@]}" block 198.18.2.2 -m "a bot seen elsewhere" >/dev/null
if lab_wait "198.18.2.2 listed by rbldnsd" listed_as 198.18.2.2 127.0.0.4; then
	printf '# block to rbldnsd answering: %d ms (the daemon writes at most once a second, rbldnsd re-reads every second)\n' \
		$((($(date +%s%N) - t0) / 1000000))
	pass "the operator's block answers 127.0.0.4"
else
	fail "198.18.2.2 not listed: $(cat "$LAB_DIR/dnsbl/ip4")"
fi
[[ "$(lookup 198.18.2.2)" == 127.0.0.4 ]] && pass "unbound answers it too" || fail "via unbound: $(lookup 198.18.2.2)"

# The bot's SMTP: postscreen drops it; the PC's mail is delivered.
if lab_run net swaks --server 198.18.2.1 --local-interface 198.18.2.2 --timeout 10 --to a@lab.test \
	--from bot@lab.test --header "X-Tag: bot" >"$LAB_DIR/swaks-bot.log" 2>&1; then
	fail "the bot's mail was accepted"
elif grep -q '521 .*blocked using '"$ZONE" "$LAB_DIR/swaks-bot.log"; then
	pass "postscreen refuses the blocked bot: $(grep -o '521 .*' "$LAB_DIR/swaks-bot.log" | head -1)"
else
	fail "bot: $(tail -5 "$LAB_DIR/swaks-bot.log"); $(lab_postfix_log mx | tail -5)"
fi
lab_run net swaks --server 198.18.2.1 --local-interface 198.18.2.3 --timeout 10 --to a@lab.test \
	--from pc@lab.test --header "X-Tag: pc-mail" >"$LAB_DIR/swaks-pc.log" 2>&1 || true
if lab_wait_mail mx pc-mail 1; then
	pass "the unlisted PC's mail passes postscreen and is delivered"
else
	fail "pc: $(tail -5 "$LAB_DIR/swaks-pc.log"); $(lab_postfix_log mx | tail -5)"
fi

# An imported list: 127.0.0.5, IPv4 and IPv6; the allowlisted address inside stays out.
printf '198.18.2.0/28\n2001:db8:66::/48\n' | "${CTL[@]}" import - --origin drop >/dev/null
q6="$(python3 -c 'import ipaddress; print(".".join(reversed(ipaddress.ip_address("2001:db8:66::9").exploded.replace(":", ""))))' 2>/dev/null ||
	echo 9.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.6.0.0.8.b.d.0.1.0.0.2)"
if lab_wait "the list in the zone" listed_as 198.18.2.9 127.0.0.5 &&
	[[ "$(lab_run mx dig +short -p 5353 @127.0.0.1 "$q6.$ZONE" A)" == 127.0.0.5 ]]; then
	pass "an imported list answers 127.0.0.5 (IPv4 and IPv6)"
else
	fail "imported list: $(cat "$LAB_DIR/dnsbl/ip4" "$LAB_DIR/dnsbl/ip6")"
fi
[[ "$(lookup 198.18.2.4 127.0.0.1 5353)" == "" ]] && pass "the allowlisted 198.18.2.4 inside the list is not listed" ||
	fail "198.18.2.4: $(lookup 198.18.2.4 127.0.0.1 5353)"
[[ "$(lookup 198.18.2.2 127.0.0.1 5353)" == 127.0.0.4 ]] && pass "the longer, operator's entry keeps its code" ||
	fail "198.18.2.2 now: $(lookup 198.18.2.2 127.0.0.1 5353)"

# Unblock and drop: out of the zone.
t0="$(date +%s%N)"
"${CTL[@]}" unblock 198.18.2.2 >/dev/null
"${CTL[@]}" import --drop --origin drop >/dev/null
if lab_wait "198.18.2.2 out of the zone" listed_as 198.18.2.2 ""; then
	printf '# unblock to rbldnsd no longer answering: %d ms\n' $((($(date +%s%N) - t0) / 1000000))
	pass "an unblock takes the entry out"
else
	fail "still listed: $(cat "$LAB_DIR/dnsbl/ip4")"
fi

((FAILS == 0)) || { echo "$FAILS check(s) failed"; exit 1; }
