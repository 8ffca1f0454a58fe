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
#
# The PCs browse and submit mail to their relay on port 587; the relay
# delivers to the outside MX hosts. Then pc3 is infected and sends spam with
# swaks straight to the outside MX hosts. The demo shows the roles learned,
# the moment of the role change, the verdict and its explanation, and that
# pc3's SMTP is dropped in the kernel while everyone else's mail still flows.
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
	lab_run "$1" swaks --server "$3" --port "$4" --timeout 4 --from "user@$1.$DOMAIN" \
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

step "Starting mtaguardd on the edge router's inside interfaces"
cat >"$LAB_DIR/mtaguard.json" <<EOF
{
  "interfaces": [ "in1", "in2", "in3", "in4" ],
  "pin_dir": "$PIN",
  "protected_networks": [ "198.18.0.0/16" ],
  "mail_servers": [ "198.18.4.2" ],
  "state_file": "$LAB_DIR/state.gz",
  "log_file": "$LAB_DIR/events.jsonl",
  "control_socket": "$SOCK"
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

step "pc3 is infected: it starts sending spam straight to outside MX hosts"
# A poller notes the moment the verdict is visible (the bot's next attempt
# hangs once its SYNs are dropped, so the mails themselves cannot time it).
(for _ in $(seq 1 500); do
	if ctl --json verdicts | grep -q '"198.18.3.2"'; then date +%s%N >"$LAB_DIR/blocked_at"; exit 0; fi
	sleep 0.02
done) &
POLLER=$!
t0=$(date +%s%N)
sent=0
for n in $(seq 1 15); do
	[[ -s "$LAB_DIR/blocked_at" ]] && break
	i=$(((n - 1) % 3 + 1))
	mail pc3 "spam-$n" "198.19.$i.25" 25 "[198.18.3.2]" "a$n@$DOMAIN,b$n@$DOMAIN,c$n@$DOMAIN" || true
	sent=$n
done
wait "$POLLER" || true
if [[ -s "$LAB_DIR/blocked_at" ]]; then
	say "verdict $((($(cat "$LAB_DIR/blocked_at") - t0) / 1000000)) ms after pc3's first spam connection" \
		"($sent connections tried)"
else
	say "no verdict (see $LAB_DIR/mtaguardd.log)"
fi
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
step "Cleaning up"
