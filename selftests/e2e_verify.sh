#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# e2e_verify.sh - source verification against real DNS: an authoritative nsd
# and a recursive unbound serve zones this test writes; mtaguardd verifies
# the senders it sees (PTR, FCrDNS, HELO, SPF of the MAIL FROM domain).
#
#   bot  198.18.1.2  ─ in1 ┐                                  ┌ MX Postfix 198.19.0.1-4
#   good 198.18.2.10 ─ in2 ┼ EDGE: router, mtaguardd ─ out0 ─ ┤ nsd     198.19.0.53 (authoritative)
#   bot2 198.18.3.3  ─ in3 ┘       (XDP on in1-in3)           └ unbound 198.19.0.54 (the daemon's resolver)
#
# - the bot forges the SPF-protected dhl.test with a dynamic-looking HELO:
#   a suspect after its first session (forgery:spf-fail), blocked when it goes on;
# - a legitimate host with FCrDNS and SPF pass sending the same one message: nothing;
# - the resolver stopped: the hosts already judged stay as they are, and a new
#   bot with an absurd HELO is still a suspect at once (nothing waits on DNS).
#
#   selftests/e2e_verify.sh BUILD_DIR       exit 0 pass, 1 fail, 77 skip
set -euo pipefail

SELFTESTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=selftests/lab.sh
. "$SELFTESTS/lab.sh"

BUILD="$(cd "${1:-${MG_BUILD:-build}}" && pwd)"
PIN="/sys/fs/bpf/mg-e2everify-$$"
DOMAIN="$LAB_MAIL_DOMAIN"

lab_require_root
lab_require_cmds ip nsenter swaks jq postfix postconf timeout nsd unbound
FAILS=0
pass() { printf 'ok:   %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*"; FAILS=$((FAILS + 1)); }
fatal() {
	printf 'FAIL: %s\n' "$*"
	[[ -f "${LAB_DIR:-}/daemon.err" ]] && tail -20 "$LAB_DIR/daemon.err"
	exit 1
}

lab_init
SOCK="$LAB_DIR/control.sock"
EVENTS="$LAB_DIR/events.jsonl"
ctl() { "$BUILD/mtaguardctl" -s "$SOCK" "$@"; }

lab_bpffs
lab_netns edge bot good bot2 inet
lab_veth edge in1 bot eth0
lab_veth edge in2 good eth0
lab_veth edge in3 bot2 eth0
lab_veth edge out0 inet eth0
lab_addr edge in1 198.18.1.1/24
lab_addr edge in2 198.18.2.1/24
lab_addr edge in3 198.18.3.1/24
lab_addr edge out0 198.19.0.254/24
lab_addr bot eth0 198.18.1.2/24
lab_addr good eth0 198.18.2.10/24
lab_addr bot2 eth0 198.18.3.3/24
lab_addr inet eth0 198.19.0.1/24 198.19.0.2/24 198.19.0.3/24 198.19.0.4/24 198.19.0.53/24 198.19.0.54/24
lab_run edge sysctl -qw net.ipv4.ip_forward=1
for h in bot good bot2; do
	lab_run "$h" ip route add default via "$(case $h in bot) echo 198.18.1.1 ;; good) echo 198.18.2.1 ;; *) echo 198.18.3.1 ;; esac)"
done
lab_run inet ip route add 198.18.0.0/16 via 198.19.0.254
lab_postfix_start inet 198.19.0.1 198.19.0.2 198.19.0.3 198.19.0.4 >/dev/null || fatal "Postfix (MX) did not start"

# --- DNS: the zones, nsd serving them, unbound resolving through it --------------------------
DNS="$LAB_DIR/dns"
mkdir -p "$DNS/nsd" "$DNS/unbound"
zone() { # NAME RECORDS...: a zone file for nsd
	local name="$1"
	shift
	{
		printf '$ORIGIN %s.\n$TTL 300\n' "$name"
		printf '@ IN SOA ns.dns.test. admin.dns.test. 1 3600 600 86400 60\n@ IN NS ns.dns.test.\n'
		printf '%s\n' "$@"
	} >"$DNS/nsd/$name.zone"
	printf 'zone:\n\tname: "%s"\n\tzonefile: "%s.zone"\n' "$name" "$name" >>"$DNS/nsd/zones.conf"
}
: >"$DNS/nsd/zones.conf"
zone dns.test 'ns IN A 198.19.0.53'
# The bot's address: a residential-looking PTR name that does not resolve back.
# The legitimate host: PTR and A agree. bot2: no PTR at all.
zone 18.198.in-addr.arpa \
	'2.1 IN PTR 198-18-1-2.dyn.example-isp.test.' \
	'10.2 IN PTR mail.good.test.'
zone example-isp.test 'www IN A 198.19.0.80'
# The HELO the bot borrows (from a real capture's shape): it resolves, elsewhere.
zone isp.test '173-66-46-112.wash.fios IN A 198.19.46.112'
# The forged sender's domain: its mail comes from 198.19.200.0/24 only.
zone dhl.test '@ IN TXT "v=spf1 ip4:198.19.200.0/24 -all"' '@ IN MX 10 mx.dhl.test.' 'mx IN A 198.19.200.25'
# The legitimate sender's domain: its server, by name.
zone good.test '@ IN TXT "v=spf1 a:mail.good.test -all"' 'mail IN A 198.18.2.10'
cat >"$DNS/nsd/nsd.conf" <<EOF
server:
	ip-address: 198.19.0.53
	port: 53
	username: ""
	chroot: ""
	database: ""
	zonesdir: "$DNS/nsd"
	pidfile: "$DNS/nsd/nsd.pid"
	zonelistfile: "$DNS/nsd/zone.list"
	xfrdfile: "$DNS/nsd/xfrd.state"
	logfile: "$DNS/nsd/nsd.log"
	server-count: 1
	hide-version: yes
remote-control:
	control-enable: no
include: "$DNS/nsd/zones.conf"
EOF
cat >"$DNS/unbound/unbound.conf" <<EOF
server:
	interface: 198.19.0.54
	port: 53
	username: ""
	chroot: ""
	directory: "$DNS/unbound"
	pidfile: "$DNS/unbound/unbound.pid"
	logfile: "$DNS/unbound/unbound.log"
	use-syslog: no
	do-daemonize: no
	do-ip6: no
	access-control: 198.18.0.0/15 allow
	do-not-query-localhost: no
	module-config: "iterator"
	qname-minimisation: no
	local-zone: "test." nodefault
stub-zone:
	name: "test."
	stub-addr: 198.19.0.53
stub-zone:
	name: "18.198.in-addr.arpa."
	stub-addr: 198.19.0.53
EOF
lab_bg inet nsd -d -c "$DNS/nsd/nsd.conf"
lab_bg inet unbound -d -c "$DNS/unbound/unbound.conf"
dns_up() { # both listen on port 53
	local n
	n="$(lab_run inet ss -Hlun 'sport = :53' | wc -l)"
	((n >= 2))
}
lab_wait "nsd and unbound to listen" dns_up || fatal "DNS did not start: $(cat "$DNS"/nsd/nsd.log "$DNS"/unbound/unbound.log 2>/dev/null | tail -5)"
pass "lab up: a bot, a legitimate host and a second bot behind an edge router; MX hosts, nsd and unbound outside"

cat >"$LAB_DIR/mtaguard.json" <<JSON
{
  "interfaces": [ "in1", "in2", "in3" ],
  "pin_dir": "$PIN",
  "protected_networks": [ "198.18.0.0/16" ],
  "state_file": "$LAB_DIR/state.gz",
  "log_file": "$EVENTS",
  "control_socket": "$SOCK",
  "verify": { "resolvers": "198.19.0.54", "timeout": "1s" }
}
JSON
lab_mtaguardd edge "$BUILD" "$PIN" "$LAB_DIR/mtaguard.json"
DPID=$LAB_DPID
lab_wait "mtaguardd" ctl status >/dev/null || fatal "mtaguardd did not start"

mail() { # NS TAG SERVER HELO FROM
	lab_run "$1" swaks --server "$3" --timeout 5 --from "$5" --to "a@$DOMAIN" --ehlo "$4" \
		--header "X-Tag: $2" >"$LAB_DIR/swaks-$2.log" 2>&1
}
show() { ctl --json show "$1"; }
verified() { show "$1" | jq -e '.evidence.verification.checks.spf != null and .evidence.verification.checks.spf != "not-run"' >/dev/null; }
role_is() { show "$1" | jq -e --arg r "$2" '.role == $r' >/dev/null; }
blocked() { ctl --json verdicts | jq -e --arg s "$1" '.verdicts[] | select(.source == $s)' >/dev/null; }

# --- the legitimate host: one message, FCrDNS and SPF pass -----------------------------------
mail good good-1 198.19.0.1 mail.good.test news@good.test || fail "the legitimate host's mail: $(tail -3 "$LAB_DIR/swaks-good-1.log")"
lab_wait "the legitimate host verified" verified 198.18.2.10 || fail "the legitimate host was not verified"
show 198.18.2.10 >"$LAB_DIR/good.json"
if jq -e '.evidence.verification.checks | .spf == "pass" and .fcrdns == "pass" and .helo_addr == "pass" and .ptr_shape == "pass"' \
	"$LAB_DIR/good.json" >/dev/null; then
	pass "the legitimate host: $(jq -r .evidence.verification.explanation "$LAB_DIR/good.json")"
else
	fail "the legitimate host's checks: $(jq -c .evidence.verification "$LAB_DIR/good.json")"
fi

# --- the bot: one message forging dhl.test with a dynamic-looking HELO -----------------------
BOT_HELO=173-66-46-112.wash.fios.isp.test
mail bot bot-1 198.19.0.1 "$BOT_HELO" "x7f3@dhl.test" || true
lab_wait "the bot verified" verified 198.18.1.2 || fail "the bot was not verified"
lab_wait "the bot a suspect" role_is 198.18.1.2 suspect || fail "the bot is not a suspect after one session"
show 198.18.1.2 >"$LAB_DIR/bot.json"
expl="$(jq -r .evidence.verification.explanation "$LAB_DIR/bot.json")"
if [[ "$expl" == *"spf=fail domain=dhl.test"* && "$expl" == *"helo=$BOT_HELO (dynamic, not FCrDNS)"* &&
	"$expl" == *"ptr=198-18-1-2.dyn.example-isp.test (dynamic, not FCrDNS)"* ]]; then
	pass "the bot after one session is a suspect: $expl"
else
	fail "the bot's explanation: $expl"
fi
jq -e '.evidence.rule == "forgery:spf-fail"' "$LAB_DIR/bot.json" >/dev/null &&
	pass "its rule names the forgery (forgery:spf-fail)" || fail "rule: $(jq -r .evidence.rule "$LAB_DIR/bot.json")"
blocked 198.18.1.2 && fail "the bot is blocked after one message" || pass "one message: no verdict"

# --- it goes on: a verdict --------------------------------------------------------------------
mail bot bot-2 198.19.0.2 "$BOT_HELO" "x7f3@dhl.test" || true
lab_wait "the bot blocked" blocked 198.18.1.2 || fail "the bot is not blocked after its second forged session"
if blocked 198.18.1.2; then
	v="$(grep '"event":"verdict"' "$EVENTS" | grep '"198.18.1.2' | tail -1)"
	if jq -e '.evidence.rule == "forgery:spf-fail" and .evidence.verification.checks.spf == "fail" and
		.evidence.verification.mail_from_domain == "dhl.test"' <<<"$v" >/dev/null; then
		pass "blocked when it goes on; the verdict JSON names the checks: $(jq -r .evidence.verification.explanation <<<"$v")"
	else
		fail "the verdict's JSON: $v"
	fi
	ctl show 198.18.1.2 | grep -q 'checks: spf=fail domain=dhl.test' && pass "mtaguardctl show names each check" ||
		fail "mtaguardctl show: $(ctl show 198.18.1.2 | head -20)"
fi
if mail bot bot-3 198.19.0.3 "$BOT_HELO" "x7f3@dhl.test"; then
	fail "the blocked bot still delivers"
else
	pass "its next SMTP connection is dropped in the kernel"
fi

# --- the legitimate host is still nothing but what it was ------------------------------------
role_is 198.18.2.10 suspect || role_is 198.18.2.10 blocked && fail "the legitimate host became $(show 198.18.2.10 | jq -r .role)" ||
	pass "the legitimate host is $(show 198.18.2.10 | jq -r .role), not a suspect"

ctl --json status | jq -c .verify >"$LAB_DIR/verify-status.json"
pass "verifier: $(cat "$LAB_DIR/verify-status.json")"

# --- the resolver stops ----------------------------------------------------------------------
# lab_bg's PID is the shell around "ip netns exec": unbound's own is in its pidfile.
kill "$(cat "$DNS/unbound/unbound.pid")" 2>/dev/null || fail "no unbound to stop"
lab_wait "unbound to stop" bash -c "! ip netns exec $(lab_ns inet) ss -Hlun 'sport = :53' | grep -q 198.19.0.54" ||
	fail "unbound did not stop"
t0=$(date +%s%N)
ctl --json status >/dev/null && pass "status answers with the resolver down ($((($(date +%s%N) - t0) / 1000000)) ms)"
mail good good-2 198.19.0.1 mail.good.test news@good.test || fail "the legitimate host's second mail"
sleep 1.5
blocked 198.18.1.2 && pass "the bot stays blocked" || fail "the bot's verdict went away"
role_is 198.18.2.10 suspect || role_is 198.18.2.10 blocked && fail "the legitimate host changed with the resolver down" ||
	pass "the legitimate host is unchanged ($(show 198.18.2.10 | jq -r .evidence.verification.checks.spf): its verification stands)"
# A new bot with an absurd HELO: a suspect at once, DNS or not.
t0=$(date +%s%N)
mail bot2 bot2-1 198.19.0.4 "[0.0.0.0]" "q@bot2-sender.test" || true
if lab_wait -t 5 "bot2 a suspect" role_is 198.18.3.3 suspect; then
	pass "a new bot with HELO [0.0.0.0] is a suspect $((($(date +%s%N) - t0) / 1000000)) ms after its mail began, resolver down"
else
	fail "bot2 is $(show 198.18.3.3 | jq -r .role)"
fi
lab_wait -t 6 "bot2's checks to end" bash -c "$BUILD/mtaguardctl -s $SOCK --json show 198.18.3.3 |
	jq -e '.evidence.verification.checks.spf == \"temperror\"'" &&
	pass "its DNS checks ended as temperror (no evidence): $(show 198.18.3.3 | jq -r .evidence.verification.explanation)" ||
	fail "bot2's checks: $(show 198.18.3.3 | jq -c .evidence.verification)"
kill -0 "$DPID" 2>/dev/null && pass "mtaguardd is still running" || fatal "mtaguardd died"

if ((FAILS)); then
	echo "e2e_verify: $FAILS check(s) failed"
	tail -20 "$LAB_DIR/daemon.err"
	exit 1
fi
echo "e2e_verify: all checks passed"
