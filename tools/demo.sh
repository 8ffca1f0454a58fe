#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# demo.sh - mtaguard's main job with no real interface to give it: a
# self-contained lab in network namespaces, with the analyzer daemon deciding.
#
#           inside                          EDGE router                 outside
#   pc1    198.18.1.2 ── in1 ┐   mtaguardd, XDP on in1..in4   ┌ out1 ── mx1 198.19.1.25 (Postfix)
#   pc2    198.18.2.2 ── in2 ┤                                ├ out2 ── mx2 198.19.2.25 (Postfix)
#   pc3    198.18.3.2 ── in3 ┤   (pc3 gets infected midway)   └ out3 ── mx3 198.19.3.25 (Postfix)
#   relay  198.18.4.2 ── in4 ┘   the organisation's mail relay (Postfix, port 25 and 587)
#                                unbound on the router's 127.0.0.1: its resolver, for source verification
#
# The PCs browse and submit mail to their relay on port 587; the relay
# delivers to the outside MX hosts. Then pc3 is infected and sends spam with
# swaks straight to the outside MX hosts. The demo shows the roles learned,
# the moment of the role change, the verdict and its explanation, and that
# pc3's SMTP is dropped in the kernel while everyone else's mail still flows.
# The bot forges its senders, as bots do: the daemon verifies its identity
# (reverse DNS, HELO, SPF) against the router's own resolver, whose zones the
# demo writes, and shows what that cost.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# The demo reuses the test lab library: the same namespaces, veths and Postfix.
# shellcheck source=selftests/lab.sh
. "$HERE/../selftests/lab.sh"

BUILD="$(cd "${1:-$HERE/../build}" && pwd)"
PIN="/sys/fs/bpf/mtaguard-demo-$$"
DOMAIN="$LAB_MAIL_DOMAIN"

[[ $(id -u) -eq 0 ]] || { echo "demo: run as root (it creates namespaces and loads BPF)"; exit 1; }
for b in mtaguardd mtaguardctl mtaguard-loader; do
	[[ -x "$BUILD/$b" ]] || { echo "demo: $BUILD/$b missing: run make first"; exit 1; }
done

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
say() { printf '   %s\n' "$*"; }
indent() { sed 's/^/   /'; }

lab_init
SOCK="$LAB_DIR/control.sock"
ctl() { "$BUILD/mtaguardctl" -s "$SOCK" "$@"; }
mail() { # NS TAG SERVER PORT HELO [RCPTS]
	lab_run "$1" swaks --server "$3" --port "$4" --timeout "${WAIT:-4}" --from "${FROM:-user@$1.$DOMAIN}" \
		--to "${6:-someone@$DOMAIN}" --ehlo "$5" --header "X-Demo: $2" >"$LAB_DIR/swaks-$2.log" 2>&1
}
browse() { # NS: a few connections elsewhere, as a PC's everyday traffic
	for port in 80 443 443 8080; do
		lab_run "$1" timeout 1 bash -c "exec 3<>/dev/tcp/198.19.1.25/$port" 2>/dev/null || true
	done
}

step "Building the lab: an edge router, three PCs, a relay, three outside MX hosts"
lab_bpffs
lab_netns edge pc1 pc2 pc3 relay mx1 mx2 mx3
i=1
for host in pc1 pc2 pc3 relay; do
	lab_veth edge "in$i" "$host" eth0
	lab_addr edge "in$i" "198.18.$i.1/24"
	lab_addr "$host" eth0 "198.18.$i.2/24"
	lab_run "$host" ip route add default via "198.18.$i.1"
	i=$((i + 1))
done
for i in 1 2 3; do
	lab_veth edge "out$i" "mx$i" eth0
	lab_addr edge "out$i" "198.19.$i.1/24"
	lab_addr "mx$i" eth0 "198.19.$i.25/24"
	lab_run "mx$i" ip route add default via "198.19.$i.1"
done
lab_run edge sysctl -qw net.ipv4.ip_forward=1
for h in relay mx1 mx2 mx3; do
	lab_postfix_start "$h" >/dev/null
done
lab_postfix_submission relay
say "Postfix on the relay (25, 587) and on mx1, mx2, mx3"

# The router's resolver: unbound on its loopback, answering from zones written
# here (the lab has no Internet). lab.test publishes SPF for its relay only;
# the PCs' reverse names are a campus DHCP pool's; shop.test is a sender the
# bot forges; any other name under test. does not exist.
DNS="$LAB_DIR/unbound"
mkdir -p "$DNS"
{
	cat <<EOF
server:
	interface: 127.0.0.1
	port: 53
	username: ""
	chroot: ""
	directory: "$DNS"
	pidfile: "$DNS/unbound.pid"
	logfile: "$DNS/unbound.log"
	use-syslog: no
	do-daemonize: no
	do-ip6: no
	module-config: "iterator"
	local-zone: "test." static
	local-zone: "18.198.in-addr.arpa." static
	local-zone: "19.198.in-addr.arpa." static
	local-data: "$DOMAIN. 300 IN MX 10 relay.$DOMAIN."
	local-data: '$DOMAIN. 300 IN TXT "v=spf1 a:relay.$DOMAIN -all"'
	local-data: "relay.$DOMAIN. 300 IN A 198.18.4.2"
	local-data-ptr: "198.18.4.2 300 relay.$DOMAIN."
	local-data: 'shop.test. 300 IN TXT "v=spf1 ip4:198.19.200.0/24 -all"'
EOF
	for i in 1 2 3; do
		printf '\tlocal-data: "198-18-%s-2.dhcp.%s. 300 IN A 198.18.%s.2"\n' "$i" "$DOMAIN" "$i"
		printf '\tlocal-data-ptr: "198.18.%s.2 300 198-18-%s-2.dhcp.%s."\n' "$i" "$i" "$DOMAIN"
		printf '\tlocal-data: "mx%s.example.test. 300 IN A 198.19.%s.25"\n' "$i" "$i"
		printf '\tlocal-data-ptr: "198.19.%s.25 300 mx%s.example.test."\n' "$i" "$i"
	done
} >"$DNS/unbound.conf"
lab_bg edge unbound -d -c "$DNS/unbound.conf"
lab_wait "unbound on the router" bash -c "ip netns exec $(lab_ns edge) ss -Hlun 'sport = :53' | grep -q 127.0.0.1"
say "unbound on the router's loopback: the resolver mtaguardd verifies sources with"

step "Starting mtaguardd on the edge router's inside interfaces"
cat >"$LAB_DIR/mtaguard.json" <<EOF
{
  "interfaces": [ "in1", "in2", "in3", "in4" ],
  "pin_dir": "$PIN",
  "protected_networks": [ "198.18.0.0/16" ],
  "mail_servers": [ "198.18.4.2" ],
  "state_file": "$LAB_DIR/state.gz",
  "log_file": "$LAB_DIR/events.jsonl",
  "control_socket": "$SOCK",
  "verify": { "resolvers": "127.0.0.1" }
}
EOF
nsenter --net="/run/netns/$(lab_ns edge)" -- "$BUILD/mtaguardd" -c "$LAB_DIR/mtaguard.json" 2>"$LAB_DIR/mtaguardd.log" &
DPID=$!
stop_daemon() {
	kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	lab_nsenter edge "$BUILD/mtaguard-loader" -p "$PIN" unload 2>/dev/null || true
	rm -rf -- "$PIN"
}
lab_defer stop_daemon
lab_wait "mtaguardd" test -S "$SOCK"
ctl status | indent

step "Ordinary days: the PCs browse and send mail through the relay (port 587)"
for round in 1 2; do
	for pc in pc1 pc2 pc3; do
		browse "$pc"
		mail "$pc" "$pc-$round" 198.18.4.2 587 "$pc.$DOMAIN"
	done
	# The relay delivers outside, as relays do: steady, with its own proper name.
	for i in 1 2 3; do
		mail relay "relay-$round-$i" "198.19.$i.25" 25 "relay.$DOMAIN"
	done
done
sleep 2
say "What mtaguardd has learned of the network:"
ctl roles | indent

# infect PC N: PC (198.18.N.2) sends spam straight to the outside MX hosts
# until its verdict is visible, then says when that was. A poller notes the
# moment (the bot's next attempt hangs once its SYNs are dropped, so the
# mails themselves cannot time it).
infect() {
	local pc="$1" addr="198.18.$2.2" mark="$LAB_DIR/blocked-$1" t0 sent=0 n i from poller
	(for _ in $(seq 1 500); do
		if ctl --json verdicts | grep -q "\"$addr\""; then date +%s%N >"$mark"; exit 0; fi
		sleep 0.02
	done) &
	poller=$!
	t0=$(date +%s%N)
	for n in $(seq 1 15); do
		[[ -s "$mark" ]] && break
		i=$(((n - 1) % 3 + 1))
		# Forged senders, in turn, as the malware has them: the
		# organisation's own domain, a shop's, and domains that do not exist.
		case $((n % 3)) in 1) from="billing@$DOMAIN" ;; 2) from="offers@shop.test" ;; *) from="x$n@nowhere$n.test" ;; esac
		# A session the block cuts short hangs: 2 s of silence ends it.
		WAIT=2 FROM="$from" mail "$pc" "spam-$pc-$n" "198.19.$i.25" 25 "[$addr]" "a$n@$DOMAIN,b$n@$DOMAIN,c$n@$DOMAIN" || true
		sent=$n
	done
	wait "$poller" || true
	if [[ -s "$mark" ]]; then
		say "verdict $((($(cat "$mark") - t0) / 1000000)) ms after $pc's first spam connection ($sent connections tried)"
	else
		say "no verdict for $pc (see $LAB_DIR/mtaguardd.log)"
	fi
}

step "pc3 is infected: it starts sending spam straight to outside MX hosts"
infect pc3 3
say "The verdict, as mtaguardctl shows it:"
ctl verdicts | indent
say "The JSON line mtaguardd logged:"
grep '"event":"verdict"' "$LAB_DIR/events.jsonl" | head -1 | indent
say "And what mtaguardd said on stderr:"
grep "BLOCK" "$LAB_DIR/mtaguardd.log" | head -1 | indent

step "The bot is stopped in the kernel; everyone else goes on"
mail pc3 after 198.19.1.25 25 "[198.18.3.2]" && say "UNEXPECTED: pc3 got through" ||
	say "pc3 -> mx1:25   connection fails (its SYNs are dropped in XDP)"
lab_run pc3 ping -c1 -W2 198.19.1.25 >/dev/null && say "pc3 -> mx1 ping works: only SMTP is blocked"
mail pc1 pc1-after 198.18.4.2 587 "pc1.$DOMAIN" && say "pc1 -> relay:587 mail accepted"
mail relay relay-after 198.19.2.25 25 "relay.$DOMAIN" && say "relay -> mx2:25 mail accepted"
ctl show 198.18.3.2 | indent

step "The same malware reaches pc2"
infect pc2 2
ctl verdicts | grep -A4 "^198.18.2.2 " | indent

step "What verifying the bots' identities cost"
# A job checks a source's reverse name, HELO and sender domain (at most one
# job per source each 30 s): what the bots share (the domains they forge)
# comes from the cache the second time.
read -r jobs queries entries bytes hit < <(ctl --json status | jq -r '.verify |
	"\(.jobs_done) \(.queries_sent) \(.cache.entries) \(.cache.bytes) \(.cache.job_hit_rate * 100 | round)"')
say "$jobs verification job(s); $queries DNS queries sent to unbound; cache hit rate $hit %"
say "$entries answers cached in $bytes bytes (about $((entries ? bytes / entries : 0)) bytes a name)"
ctl --json status | jq -c '.verify' | indent

step "What got through, and what to do next"
spam=0
for pc in pc3 pc2; do
	# Messages, not copies: each went to three recipients on one MX host.
	spam="$(cat "$(lab_postfix_dir mx1)"/mail/sink/*/* "$(lab_postfix_dir mx2)"/mail/sink/*/* \
		"$(lab_postfix_dir mx3)"/mail/sink/*/* 2>/dev/null | grep -o "^X-Demo: spam-$pc-[0-9]*" | sort -u | wc -l)"
	say "$spam spam message(s) from $pc reached the outside MX hosts before its block; none after it"
done
say "Next, on your own network:"
say "  1. replay a capture of your edge through the same code:  mtaguard-replay -c mtaguard.json your.pcap"
say "  2. run mtaguardd in monitor mode for a week (\"monitor\": true): it names bots, drops nothing;"
say "     read its verdicts (mtaguardctl verdicts, show ADDR) and add your own mail servers to mail_servers"
say "  3. then turn monitor mode off (mtaguardctl monitor off) and watch mtaguard_xdp_drops_total"
step "Cleaning up"
