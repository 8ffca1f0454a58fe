#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# e2e_cluster.sh - many edges, one view: three mtaguardd nodes share their
# rules through a three-server NATS JetStream cluster (real nats-server).
#
#   selftests/e2e_cluster.sh BUILD_DIR
#
#   BOT-A 198.18.1.2 ──inA┐                                  ┌── INET 198.19.0.1-6 (Postfix)
#   BOT-B 198.18.2.2 ──inB┤ EDGE (router) ── out0 ───────────┘
#   BOT-C 198.18.3.2 ──inC┘   mtaguardd A on inA, B on inB, C on inC (C starts late)
#                             nats-server x3 on 127.0.0.1 (cluster, JetStream)
#
# What it shows: a bot blocked at A is dropped at B within a second and C
# receives it all when it starts (the figures are printed, not asserted as
# timings); an operator's block at A does not override B's allowlist; the
# NATS servers stopped changes nothing locally, and what A decided meanwhile
# reaches B when they return; an unblock at A is withdrawn everywhere, also
# when its delete failed (two servers of three down: no quorum) and is
# made again once they are back; C
# moved to a NATS server with TLS and a password connects with the CA of
# cluster.tls_ca, and is refused, with a line in its log, for a certificate
# from another CA or a wrong password, blocking locally all the same.
#
# Exit 0 pass, 1 fail, 77 skip (not root, tool missing).
set -euo pipefail

SELFTESTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=selftests/lab.sh
. "$SELFTESTS/lab.sh"

BUILD="$(cd "${1:-${MG_BUILD:-build}}" && pwd)"
CTL="$BUILD/mtaguardctl"
DOMAIN="$LAB_MAIL_DOMAIN"
BOT=198.18.1.2
OPBLOCK=198.18.2.3 # the operator's block at A, allowlisted at B

lab_require_root
lab_require_cmds ip nsenter swaks jq postfix timeout socat nats-server curl openssl
[[ -x "$BUILD/mtaguardd" && -x "$CTL" ]] || { echo "FAIL: mtaguardd or mtaguardctl missing (run make first)"; exit 1; }

T0=$SECONDS
FAILS=0
pass() { printf 'ok:   %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*"; FAILS=$((FAILS + 1)); }
fatal() {
	printf 'FAIL: %s\n' "$*"
	for n in a b c; do [[ -f "$LAB_DIR/daemon-$n.err" ]] && { echo "--- daemon $n:"; tail -15 "$LAB_DIR/daemon-$n.err"; }; done
	exit 1
}

lab_init
ctl() { local n="$1"; shift; "$CTL" -s "$LAB_DIR/$n.sock" "$@"; }
ms() { date +%s%3N; }

# --- the lab --------------------------------------------------------------------

lab_bpffs
lab_netns edge bota botb botc inet
lab_veth edge inA bota eth0
lab_veth edge inB botb eth0
lab_veth edge inC botc eth0
lab_veth edge out0 inet eth0
lab_addr edge inA 198.18.1.1/24
lab_addr edge inB 198.18.2.1/24
lab_addr edge inC 198.18.3.1/24
lab_addr edge out0 198.19.0.254/24
lab_addr bota eth0 198.18.1.2/24
lab_addr botb eth0 198.18.2.2/24
lab_addr botc eth0 198.18.3.2/24
lab_addr inet eth0 198.19.0.1/24 198.19.0.2/24 198.19.0.3/24 198.19.0.4/24 198.19.0.5/24 198.19.0.6/24
lab_run edge sysctl -qw net.ipv4.ip_forward=1
lab_run bota ip route add default via 198.18.1.1
lab_run botb ip route add default via 198.18.2.1
lab_run botc ip route add default via 198.18.3.1
lab_run inet ip route add 198.18.0.0/16 via 198.19.0.254
lab_postfix_start inet 198.19.0.1 198.19.0.2 198.19.0.3 198.19.0.4 198.19.0.5 198.19.0.6 ||
	fatal "Postfix did not start in $(lab_ns inet)"
pass "lab up: edge router with inA, inB, inC; three bot hosts; six MX addresses"

# --- NATS: three servers, one JetStream cluster, on the edge's loopback -------------

NATS_PIDS=()
start_nats() { # I (1..3)
	local i="$1" conf="$LAB_DIR/nats-$1.conf"
	cat >"$conf" <<EOF
server_name: n$i
listen: 127.0.0.1:$((14221 + i))
http: 127.0.0.1:$((18221 + i))
jetstream { store_dir: "$LAB_DIR/nats-$i" }
cluster {
  name: mg
  listen: 127.0.0.1:$((16221 + i))
  routes: [ nats-route://127.0.0.1:16222, nats-route://127.0.0.1:16223, nats-route://127.0.0.1:16224 ]
}
EOF
	nsenter --net="/run/netns/$(lab_ns edge)" -- nats-server -c "$conf" >"$LAB_DIR/nats-$i.log" 2>&1 &
	NATS_PIDS[$i]=$!
}
stop_nats() {
	local i
	for i in 1 2 3; do
		[[ -n "${NATS_PIDS[$i]:-}" ]] || continue
		kill "${NATS_PIDS[$i]}" 2>/dev/null && wait "${NATS_PIDS[$i]}" 2>/dev/null || true
		NATS_PIDS[$i]=""
	done
}
lab_defer stop_nats
js_ready() { # every server answers its health check with JetStream up
	local i
	for i in 1 2 3; do
		lab_run edge curl -sf "http://127.0.0.1:$((18221 + i))/healthz?js-enabled-only=true" >/dev/null || return 1
	done
}
for i in 1 2 3; do start_nats "$i"; done
lab_wait -t 30 "the NATS cluster" js_ready || fatal "NATS servers not ready: $(tail -5 "$LAB_DIR/nats-1.log")"
pass "NATS: three servers in one JetStream cluster"

# --- the nodes ------------------------------------------------------------------------

node_conf() { # NAME IFACE [ALLOWLIST_JSON]
	cat >"$LAB_DIR/$1.json" <<EOF
{
  "interfaces": [ { "name": "$2", "mode": "native" } ],
  "pin_dir": "/sys/fs/bpf/mg-e2ecl-$1-$$",
  "protected_networks": [ "198.18.0.0/16" ],
  "allowlist": ${3:-[]},
  "state_file": "$LAB_DIR/$1.state.gz",
  "log_file": "$LAB_DIR/$1.events.jsonl",
  "control_socket": "$LAB_DIR/$1.sock",
  "scan_interval": "1s",
  "cluster": {
    "servers": [ "nats://127.0.0.1:14222", "nats://127.0.0.1:14223", "nats://127.0.0.1:14224" ],
    "node": "edge-$1"
  }
}
EOF
}
node_conf a inA
node_conf b inB "[ \"$OPBLOCK\" ]"
node_conf c inC
declare -A NODE_PID
start_node() { # NAME
	rm -f "$LAB_DIR/$1.sock"
	lab_mtaguardd edge "$BUILD" "/sys/fs/bpf/mg-e2ecl-$1-$$" "$LAB_DIR/$1.json" "$1"
	NODE_PID[$1]=$LAB_DPID
	lab_wait "node $1's control socket" test -S "$LAB_DIR/$1.sock" || fatal "node $1 did not start"
}
connected() { ctl "$1" --json status | jq -e '.cluster.connected and .cluster.synced' >/dev/null; }
start_node a
start_node b
both_connected() { connected a && connected b; }
lab_wait -t 30 "nodes a and b connected" both_connected ||
	fatal "nodes not connected: $(ctl a --json status | jq -c .cluster) / $(ctl b --json status | jq -c .cluster)"
pass "nodes a and b connected to the cluster"

# --- a bot blocked at A is dropped at B --------------------------------------------------

blocked_by() { # NODE PREFIX BY
	ctl "$1" --json verdicts | jq -e --arg s "$2" --arg by "$3" '.verdicts[] | select(.source == $s and .by == $by)' >/dev/null
}
t_start=$(ms)
for i in $(seq 1 18); do
	blocked_by a "$BOT" analyzer && break
	lab_run bota swaks --server "198.19.0.$(((i - 1) % 6 + 1))" --timeout 5 --from "x@bota.$DOMAIN" \
		--to "a$i@$DOMAIN,b$i@$DOMAIN,c$i@$DOMAIN" --ehlo "[$BOT]" >/dev/null 2>&1 || true
done
lab_wait -t 10 "the bot's verdict at A" blocked_by a "$BOT" analyzer || fatal "the bot was not blocked at A"
t_a=$(ms)
lab_wait -t 10 "the bot's block at B" blocked_by b "$BOT" cluster || fatal "B never received A's verdict"
t_b=$(ms)
pass "bot $BOT blocked at A ($((t_a - t_start)) ms after its first session) and at B, by the cluster"
echo "propagation A -> B: $((t_b - t_a)) ms (verdict visible at A to block visible at B, polled)"
echo "A's verdict: $(ctl a --json verdicts | jq -c --arg s "$BOT" '.verdicts[] | select(.source == $s) | .evidence |
	{rule, score, sessions, distinct_mx, helo}')"
# A's events went into the stream every node's events go to (for a SIEM), as its log has them.
stream_msgs() {
	lab_run edge curl -sf "http://127.0.0.1:18222/jsz?accounts=true&streams=true" |
		jq -r '[.account_details[]?.stream_detail[]? | select(.name == "MTAGUARD_EVENTS") | .state.messages] | max // 0'
}
has_events() { (($(stream_msgs) > 0)); }
lab_wait -t 10 "events in the stream" has_events &&
	pass "the events stream MTAGUARD_EVENTS holds $(stream_msgs) events (A sent $(ctl a --json status | jq .cluster.events_sent))" ||
	fail "no events in the stream: $(lab_run edge curl -s "http://127.0.0.1:18222/jsz?accounts=true&streams=true" | head -c 300)"
ctl b verdicts | grep -q "from other nodes: edge-a verdict" && pass "B's verdicts name the origin (edge-a verdict)" ||
	fail "B's verdicts without the origin: $(ctl b verdicts)"

# The bot's address arriving at B's interface is dropped there by B's own program.
lab_addr botb eth0 "$BOT/32"
drops_b() { ctl b --json status | jq -r '.kernel.drop_reason.block_smtp'; }
before=$(drops_b)
lab_run botb timeout 3 socat -T1 /dev/null "TCP:198.19.0.1:25,bind=$BOT,connect-timeout=1" 2>/dev/null || true
after=$(drops_b)
((after > before)) && pass "B's program drops the bot's SYN ($before -> $after SMTP drops)" ||
	fail "B did not drop the bot's SYN ($before -> $after)"

# --- an operator's block at A: B's allowlist wins -----------------------------------------------

ctl a block "$OPBLOCK" -d 1h -m "ticket 7 (e2e)" >/dev/null || fail "ctl a block $OPBLOCK refused"
lab_wait -t 5 "A's operator block written" blocked_by a "$OPBLOCK" operator || fail "A has no operator block"
sleep 2
received_b() { ctl b --json status | jq -e '.cluster.held_from_others.blocks >= 1' >/dev/null; }
lab_wait -t 10 "B received the operator's block" received_b || fail "B did not receive A's operator block"
if blocked_by b "$OPBLOCK" cluster; then
	fail "B blocks $OPBLOCK, which its allowlist holds"
else
	pass "B received A's block of $OPBLOCK and its own allowlist wins: not blocked at B"
fi

# --- C starts late and receives everything ------------------------------------------------------

t_c0=$(ms)
start_node c
c_resynced() { blocked_by c "$BOT" cluster && blocked_by c "$OPBLOCK" cluster; }
lab_wait -t 20 "C's resync" c_resynced &&
	pass "C, started later, holds the bot's verdict and the operator's block ($(($(ms) - t_c0)) ms from its start)" ||
	fail "C did not resync: $(ctl c verdicts)"

# --- the NATS servers stop: every node goes on alone; what A decides meanwhile reaches B later -----

stop_nats
down() { ctl "$1" --json status | jq -e '.cluster.connected == false' >/dev/null; }
lab_wait -t 15 "A sees the cluster down" down a || fail "A still says connected with every server stopped"
blocked_by a "$BOT" analyzer && blocked_by b "$BOT" cluster && pass "with NATS down, A and B keep enforcing" ||
	fail "a block was lost when NATS stopped"
ctl a block 198.18.1.77 -d 1h -m "during the outage" >/dev/null && blocked_by a 198.18.1.77 operator &&
	pass "with NATS down, an operator's block at A works locally" || fail "operator block at A failed while NATS was down"
ctl a status | grep -q "NOT connected" && pass "A's status says the cluster is down" || fail "status: $(ctl a status | grep -A1 cluster)"
for i in 1 2 3; do start_nats "$i"; done
lab_wait -t 30 "the NATS cluster back" js_ready || fatal "NATS did not come back"
t_back=$(ms)
gap_logged() { grep -q 'connected to .* again after .* s on its own' "$LAB_DIR/a.events.jsonl"; }
lab_wait -t 30 "A logs the gap" gap_logged && pass "A's log: $(grep -o 'connected to [^;]* on its own' "$LAB_DIR/a.events.jsonl" | tail -1)" ||
	fail "A's log says nothing of the gap: $(grep cluster "$LAB_DIR/a.events.jsonl" | tail -3)"
lab_wait -t 30 "B received what A decided during the outage" blocked_by b 198.18.1.77 cluster &&
	pass "NATS back: B holds A's block from the outage ($(($(ms) - t_back)) ms after the servers answered)" ||
	fail "B never received 198.18.1.77: $(ctl a --json status | jq -c .cluster)"

# --- an unblock at A is withdrawn everywhere ----------------------------------------------------

ctl a unblock "$OPBLOCK" >/dev/null || fail "ctl a unblock $OPBLOCK refused"
gone_c() { ! blocked_by c "$OPBLOCK" cluster; }
lab_wait -t 10 "C withdrew $OPBLOCK" gone_c && pass "A's unblock of $OPBLOCK withdrawn at C" ||
	fail "C still blocks $OPBLOCK: A $(ctl a --json status | jq -c .cluster) C $(ctl c --json status | jq -c .cluster)"

# --- a delete that fails is made again: two servers of three stop, so the bucket has no quorum while A,
# still connected to the third, lifts a block; once they are back its republish deletes it again (here its
# watch is remade too, about 30 s later, and would heal the bucket then; a delete that fails while the watch
# stays healthy has only the republish) -------------

QBLOCK=198.18.1.78
ctl a block "$QBLOCK" -d 1h -m "lifted without quorum" >/dev/null || fail "ctl a block $QBLOCK refused"
lab_wait -t 10 "C received $QBLOCK" blocked_by c "$QBLOCK" cluster || fail "C never received $QBLOCK"
a_port=$(ctl a --json status | jq -r '.cluster.server' | sed 's/.*://')
a_srv=$((a_port - 14221))
((a_srv >= 1 && a_srv <= 3)) || fatal "A's server: $(ctl a --json status | jq -r '.cluster.server')"
for i in 1 2 3; do
	((i == a_srv)) && continue
	kill "${NATS_PIDS[$i]}" 2>/dev/null && wait "${NATS_PIDS[$i]}" 2>/dev/null || true
	NATS_PIDS[$i]=""
done
# Until the bucket's leader, if it was A's server, steps down for want of quorum (about 15 s): a write it took
# meanwhile would wait for the quorum and be applied when it returns, not fail. Without a leader, A's
# delete is refused at once ("no responders") and never applied.
leaderless() {
	lab_run edge curl -sf "http://127.0.0.1:$((18221 + a_srv))/jsz?accounts=true&streams=true" |
		jq -e '[.account_details[]?.stream_detail[]? | select(.name == "KV_mtaguard")] |
			length == 1 and (.[0].cluster.leader // "") == ""' >/dev/null
}
# The server's own report of the leader can lag behind (a failed run found the delete refused, "no
# responders", while jsz still named a leader 40 s on): a precondition, not mtaguard's behaviour, so a report
# that lags is printed and the delete's refusal below is what is checked.
lab_wait -t 40 "the bucket without a leader" leaderless ||
	echo "note: jsz still names the bucket's leader: $(lab_run edge curl -s "http://127.0.0.1:$((18221 + a_srv))/jsz?accounts=true&streams=true" |
		jq -c '{meta_cluster, detail: [.account_details[]?.stream_detail[]? | {name, cluster}]}' 2>&1 | head -c 1500)"
errors0=$(ctl a --json status | jq '.cluster.send_errors')
ctl a unblock "$QBLOCK" >/dev/null || fail "ctl a unblock $QBLOCK refused"
del_failed() { (($(ctl a --json status | jq '.cluster.send_errors') > errors0)); }
lab_wait -t 20 "A's delete refused without quorum" del_failed &&
	pass "without quorum A's delete of $QBLOCK failed: $(ctl a --json status | jq -r '.cluster.last_error')" ||
	fail "A's delete did not fail without quorum: $(ctl a --json status | jq -c .cluster)"
for i in 1 2 3; do [[ -n "${NATS_PIDS[$i]}" ]] || start_nats "$i"; done
lab_wait -t 30 "the NATS cluster back" js_ready || fatal "NATS did not come back"
t_back=$(ms)
gone_q() { ! blocked_by c "$QBLOCK" cluster && ! blocked_by b "$QBLOCK" cluster; }
lab_wait -t 40 "B and C withdrew $QBLOCK" gone_q &&
	pass "quorum back: A deleted $QBLOCK again, withdrawn at B and C ($(($(ms) - t_back)) ms after the servers answered)" ||
	fail "B or C still hold $QBLOCK, whose delete failed: A $(ctl a --json status | jq -c .cluster)"

# --- A dies: what it sent expires on its own time elsewhere; back, it writes its rules again -------------

ctl a block 198.18.1.99 -d 4s -m "short (e2e)" >/dev/null || fail "ctl a block 198.18.1.99 refused"
lab_wait -t 5 "B holds the short block" blocked_by b 198.18.1.99 cluster || fail "B never received the short block"
kill -KILL "${NODE_PID[a]}" 2>/dev/null || true
t_kill=$(ms)
gone_short() { ! blocked_by b 198.18.1.99 cluster; }
lab_wait -t 10 "B lets the short block expire" gone_short &&
	pass "A killed: its 4 s block ended at B on its own time ($(($(ms) - t_kill)) ms after the kill)" ||
	fail "B still holds A's expired block"
blocked_by b "$BOT" cluster && pass "A killed: its verdict on the bot stays in force at B" || fail "B lost the bot's block when A died"
start_node a
lab_wait -t 30 "node a connected again" connected a || fail "A did not reconnect after its restart"
republished() { (($(ctl a --json status | jq '.cluster.sent') >= 2)); }
lab_wait -t 10 "A republished" republished &&
	pass "A restarted: it wrote its rules again ($(ctl a --json status | jq '.cluster.sent') entries), and B still holds them" ||
	fail "A restarted without writing its rules: $(ctl a --json status | jq -c .cluster)"

# --- TLS and a password: C moves to a server of its own that asks for both ---------------------------
# (A .creds file needs an operator's JWTs signed with nkeys, which nothing offline here makes: user and
# password in the URL stand for the credentials; cluster.credentials is left to the NATS tools.)
openssl_q() { openssl "$@" >/dev/null 2>&1; }
mkcert() { # NAME SUBJECT [CA]: an EC key and a certificate, self-signed (a CA) or signed by CA for 127.0.0.1
	if [[ -z "${3:-}" ]]; then
		openssl_q req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=$2" \
			-keyout "$LAB_DIR/$1.key" -out "$LAB_DIR/$1.pem"
	else
		openssl_q req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$2" \
			-keyout "$LAB_DIR/$1.key" -out "$LAB_DIR/$1.csr" &&
			openssl_q x509 -req -in "$LAB_DIR/$1.csr" -CA "$LAB_DIR/$3.pem" -CAkey "$LAB_DIR/$3.key" -CAcreateserial \
				-days 2 -out "$LAB_DIR/$1.pem" -extfile <(printf 'subjectAltName=IP:127.0.0.1\n')
	fi
}
mkcert ca "mtaguard e2e CA" && mkcert srv 127.0.0.1 ca && mkcert wrongca "another CA" ||
	fatal "openssl could not make the certificates"
cat >"$LAB_DIR/nats-tls.conf" <<EOF
server_name: tls1
listen: 127.0.0.1:14225
http: 127.0.0.1:18225
jetstream { store_dir: "$LAB_DIR/nats-tls" }
tls { cert_file: "$LAB_DIR/srv.pem", key_file: "$LAB_DIR/srv.key" }
authorization { user: mtaguard, password: "e2e-secret" }
EOF
nsenter --net="/run/netns/$(lab_ns edge)" -- nats-server -c "$LAB_DIR/nats-tls.conf" >"$LAB_DIR/nats-tls.log" 2>&1 &
NATS_TLS_PID=$!
lab_defer kill "$NATS_TLS_PID"
tls_ready() { lab_run edge curl -sf "http://127.0.0.1:18225/healthz?js-enabled-only=true" >/dev/null; }
lab_wait -t 20 "the TLS NATS server" tls_ready || fatal "TLS NATS server: $(tail -5 "$LAB_DIR/nats-tls.log")"
restart_c_with() { # URL CA_FILE
	kill "${NODE_PID[c]}" 2>/dev/null && wait "${NODE_PID[c]}" 2>/dev/null || true
	jq --arg u "$1" --arg ca "$2" '.cluster.servers = [$u] | .cluster.tls_ca = $ca' "$LAB_DIR/c.json" >"$LAB_DIR/c.json.new"
	mv "$LAB_DIR/c.json.new" "$LAB_DIR/c.json"
	: >"$LAB_DIR/c.events.jsonl"
	start_node c
}
t_tls=$(ms)
restart_c_with "tls://mtaguard:e2e-secret@127.0.0.1:14225" "$LAB_DIR/ca.pem"
lab_wait -t 20 "C over TLS" connected c &&
	pass "C connects over TLS (CA from cluster.tls_ca) with a user and password ($(($(ms) - t_tls)) ms from its start)" ||
	fail "C not connected over TLS: $(ctl c --json status | jq -c '.cluster | {connected, last_error}')"
ctl c block 198.18.3.77 -d 1h -m "over TLS (e2e)" >/dev/null || fail "ctl c block refused"
sent_c() { (($(ctl c --json status | jq '.cluster.sent') >= 1)); }
lab_wait -t 10 "C writes over TLS" sent_c && pass "C writes its rules to the TLS server" ||
	fail "C wrote nothing over TLS: $(ctl c --json status | jq -c .cluster)"
! grep -q e2e-secret "$LAB_DIR/c.events.jsonl" && ! ctl c --json status | grep -q e2e-secret &&
	pass "the password is in neither C's log nor its status (server $(ctl c --json status | jq -r .cluster.server))" ||
	fail "the password shows: $(grep -o '[^"]*e2e-secret[^"]*' "$LAB_DIR/c.events.jsonl" | head -1)"
# Refused: the server's certificate from a CA not given; then a wrong password.
refused_with() { # PATTERN: C not connected, and its log says why
	! connected c && grep -E 'cluster: cannot reach a NATS server' "$LAB_DIR/c.events.jsonl" | grep -qiE "$1"
}
said() { grep -o 'cluster: cannot reach[^"]*' "$LAB_DIR/c.events.jsonl" | head -1; }
restart_c_with "tls://mtaguard:e2e-secret@127.0.0.1:14225" "$LAB_DIR/wrongca.pem"
if lab_wait -t 15 "C refusing the server's certificate" refused_with 'certificate|ssl|tls'; then
	pass "a server certificate from another CA is refused: $(said)"
else
	fail "wrong CA: $(ctl c --json status | jq -c '.cluster | {connected, last_error}'); log: $(grep cluster "$LAB_DIR/c.events.jsonl" | tail -2)"
fi
ctl c block 198.18.3.78 -d 1h -m "alone (e2e)" >/dev/null && blocked_by c 198.18.3.78 operator &&
	pass "refused by the cluster, C blocks locally all the same" || fail "C's local block failed with the cluster refused"
restart_c_with "tls://mtaguard:wrong@127.0.0.1:14225" "$LAB_DIR/ca.pem"
lab_wait -t 15 "C refused for its password" refused_with 'author' && pass "a wrong password is refused: $(said)" ||
	fail "wrong password: $(ctl c --json status | jq -c '.cluster | {connected, last_error}')"

echo "A's link: $(ctl a --json status | jq -c '.cluster | {connects, sent, send_errors, received, published, last_error}')"
echo "C's link: $(ctl c --json status | jq -c '.cluster | {connects, sent, received, outcomes, last_error}')"
for n in a b c; do
	if grep -iE 'sanitizer|segfault|assert' "$LAB_DIR/daemon-$n.err" >/dev/null 2>&1; then
		fail "daemon $n reported: $(grep -iE 'sanitizer|segfault|assert' "$LAB_DIR/daemon-$n.err" | head -3)"
	fi
done
if ((FAILS)); then
	for n in a b c; do echo "--- daemon $n (tail):"; tail -8 "$LAB_DIR/daemon-$n.err" || true; done
	echo "e2e_cluster: $FAILS check(s) failed ($((SECONDS - T0)) s)"
	exit 1
fi
echo "e2e_cluster: all checks passed ($((SECONDS - T0)) s)"
