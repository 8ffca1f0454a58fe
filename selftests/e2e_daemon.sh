#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# e2e_daemon.sh - mtaguardd end to end: an infected PC is blocked in the
# kernel, quickly, and nobody else is; restarts (graceful and kill -9) keep
# enforcing and restore profiles; mtaguardctl works against the live daemon.
#
#   selftests/e2e_daemon.sh BUILD_DIR
#
#   PC   198.18.1.2 ──in1┐                  ┌── INET 198.19.0.1-6 (one Postfix, six MX addresses)
#   BOT  198.18.2.2 ──in2┤ EDGE (router) ───┘    out0 198.19.0.254
#                        XDP + mtaguardd on in1, in2
#
# Exit 0 pass, 1 fail, 77 skip (not root, tool missing).
set -euo pipefail

SELFTESTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=selftests/lab.sh
. "$SELFTESTS/lab.sh"

BUILD="$(cd "${1:-${MG_BUILD:-build}}" && pwd)"
DAEMON="$BUILD/mtaguardd"
CTL="$BUILD/mtaguardctl"
PIN="/sys/fs/bpf/mg-e2ed-$$"
DOMAIN="$LAB_MAIL_DOMAIN"

lab_require_root
lab_require_cmds ip nsenter swaks jq postfix timeout socat logrotate
[[ -x "$DAEMON" && -x "$CTL" ]] || { echo "FAIL: $DAEMON or $CTL missing (run make first)"; exit 1; }

FAILS=0
pass() { printf 'ok:   %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*"; FAILS=$((FAILS + 1)); }
fatal() { printf 'FAIL: %s\n' "$*"; [[ -f "${LOG:-}" ]] && tail -30 "$LOG"; exit 1; }

lab_init
SOCK="$LAB_DIR/control.sock"
STATE="$LAB_DIR/state.gz"
LOG="$LAB_DIR/mtaguardd.log"
EVENTS="$LAB_DIR/events.jsonl"
CONF="$LAB_DIR/mtaguard.json"
ctl() { "$CTL" -s "$SOCK" "$@"; }

# --- the lab --------------------------------------------------------------------

lab_bpffs
lab_netns edge pc bot inet
lab_veth edge in1 pc eth0
lab_veth edge in2 bot eth0
lab_veth edge out0 inet eth0
lab_addr edge in1 198.18.1.1/24
lab_addr edge in2 198.18.2.1/24
lab_addr edge out0 198.19.0.254/24
lab_addr pc eth0 198.18.1.2/24
lab_addr bot eth0 198.18.2.2/24
lab_addr inet eth0 198.19.0.1/24 198.19.0.2/24 198.19.0.3/24 198.19.0.4/24 198.19.0.5/24 198.19.0.6/24
lab_run edge sysctl -qw net.ipv4.ip_forward=1
lab_run pc ip route add default via 198.18.1.1
lab_run bot ip route add default via 198.18.2.1
lab_run inet ip route add 198.18.0.0/16 via 198.19.0.254
lab_postfix_start inet 198.19.0.1 198.19.0.2 198.19.0.3 198.19.0.4 198.19.0.5 198.19.0.6 ||
	fatal "Postfix did not start in $(lab_ns inet)"
pass "lab up: edge router, pc, bot, six MX addresses"

cat >"$CONF" <<EOF
{
  "interfaces": [ { "name": "in1", "mode": "native" }, { "name": "in2", "mode": "native" } ],
  "pin_dir": "$PIN",
  "protected_networks": [ "198.18.0.0/16" ],
  "state_file": "$STATE",
  "state_interval": "2s",
  "log_file": "$EVENTS",
  "control_socket": "$SOCK",
  "hooks": { "verdict": "$LAB_DIR/verdict-hook.sh" },
  "metrics": { "textfile": "$LAB_DIR/metrics.prom", "interval": "1s" },
  "scan_interval": "1s"
}
EOF
# The verdict hook keeps what it is given on stdin (one line each; O_APPEND keeps them whole).
printf '#!/bin/sh\ncat >>"%s"\n' "$LAB_DIR/verdict-hook.out" >"$LAB_DIR/verdict-hook.sh"
chmod +x "$LAB_DIR/verdict-hook.sh"

DPID=""
start_daemon() {
	# nsenter execs the daemon, so $! is the daemon itself (signals reach it).
	nsenter --net="/run/netns/$(lab_ns edge)" -- "$DAEMON" -c "$CONF" >>"$LOG" 2>&1 &
	DPID=$!
	lab_wait "control socket" test -S "$SOCK" || fatal "mtaguardd did not start"
	lab_wait "daemon answers" ctl status >/dev/null || fatal "mtaguardd does not answer"
}
stop_daemon() { # SIGNAL
	[[ -n "$DPID" ]] || return 0
	kill -"$1" "$DPID" 2>/dev/null || true
	wait "$DPID" 2>/dev/null || true
	DPID=""
}
cleanup_daemon() {
	stop_daemon TERM
	[[ -d "$PIN" ]] && lab_nsenter edge "$BUILD/mtaguard-loader" -p "$PIN" unload 2>/dev/null
	rm -rf -- "$PIN"
}
lab_defer cleanup_daemon
start_daemon
pass "mtaguardd started, attached natively to in1 and in2"

mail() { # NS TAG SERVER HELO [RCPTS]
	lab_run "$1" swaks --server "$3" --timeout 5 --from "x@$1.$DOMAIN" --to "${5:-someone@$DOMAIN}" \
		--ehlo "$4" --header "X-Tag: $2" >"$LAB_DIR/swaks-$2.log" 2>&1
}

# --- ordinary use: the PC browses (SYNs elsewhere) and sends one mail -------------

for port in 80 443 443 80; do
	lab_run pc timeout 1 bash -c "exec 3<>/dev/tcp/198.19.0.1/$port" 2>/dev/null || true
done
mail pc pc-1 198.19.0.1 "pc.$DOMAIN" || fail "the PC's mail was refused"
lab_wait_mail inet pc-1 1 || fail "the PC's mail did not arrive"
sleep 2

# --- the bot-to-be browses first: known before it ever speaks SMTP -----------------

# An infected PC is a PC: it used the web for hours before its first SMTP
# session. Its protected address's activity record says so; no profile yet.
for port in 443 80 443; do
	lab_run bot timeout 1 bash -c "exec 3<>/dev/tcp/198.19.0.2/$port" 2>/dev/null || true
done
browsed() { ctl --json roles | jq -e '.end_host[] | select(.source == "198.18.2.2" and .profile == false and
	.activity.protected.flows.web >= 3)' >/dev/null; }
lab_wait "the browsing bot-to-be listed" browsed && pass "ctl roles lists a protected host that only browsed, as end_host" ||
	fail "ctl roles without the browsing host: $(ctl --json roles)"
ctl roles | grep -q "198.18.2.2 .*web 3" && pass "ctl roles (text) shows its web flows" || fail "ctl roles text: $(ctl roles)"

# --- the bot: direct-to-MX spam with a forged HELO ----------------------------------

# A poller notes the moment the verdict is visible; the mails themselves
# cannot, since the bot's next attempt hangs once its SYNs are dropped.
bot_blocked() { ctl --json verdicts | jq -e '.verdicts[] | select(.source == "198.18.2.2")' >/dev/null; }
poll_block() { # FILE: write the time the bot's verdict appears, within 30 s
	for _ in $(seq 1 1500); do
		if bot_blocked; then
			date +%s%N >"$1"
			return 0
		fi
		sleep 0.02
	done
}
spam_until_blocked() { # FIRST LAST TAG: spam, stop as soon as the verdict is there
	for i in $(seq "$1" "$2"); do
		[[ -s "$LAB_DIR/$3" ]] && break
		mx="198.19.0.$(((i - 1) % 6 + 1))"
		mail bot "spam-$i" "$mx" "[198.18.2.2]" "a$i@$DOMAIN,b$i@$DOMAIN,c$i@$DOMAIN" || true
	done
}
poll_block "$LAB_DIR/blocked_at" &
POLLER=$!
t0=$(date +%s%N)
spam_until_blocked 1 18 blocked_at
wait "$POLLER" || true
if [[ -s "$LAB_DIR/blocked_at" ]]; then
	ms=$((($(cat "$LAB_DIR/blocked_at") - t0) / 1000000))
	pass "bot 198.18.2.2 blocked in the kernel; $ms ms after its first SMTP connection (polled every 20 ms)"
	echo "time-to-block-ms: $ms"
	# A figure, not a check: timing on a shared machine is no pass/fail criterion
	# (the goal, under 1 s, is reported by this line and the demo).
	((ms < 1000)) || echo "note: time to block $ms ms is over the 1 s goal"
else
	fail "bot 198.18.2.2 was not blocked"
fi
echo "spam delivered before the block: $(lab_mail_count inet 'X-Tag: spam-')"
v="$(ctl --json verdicts)"
jq -e '.verdicts[] | select(.source == "198.18.2.2") | .evidence.helo == "[198.18.2.2]"' <<<"$v" >/dev/null &&
	pass "verdict names the HELO it saw" || fail "verdict lacks the HELO: $v"
jq -e '.verdicts[] | select(.source == "198.18.2.2") | .evidence.distinct_mx >= 2' <<<"$v" >/dev/null &&
	pass "verdict counts the MX hosts reached" || fail "verdict lacks distinct MX figures: $v"
jq -e '.verdicts[] | select(.source == "198.18.2.2") | .evidence.mac | test("^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")' <<<"$v" >/dev/null &&
	pass "verdict names the MAC" || fail "verdict lacks the MAC: $v"
jq -e '.verdicts[] | select(.source == "198.18.2.2") | .evidence.rule == "role-change:end-host-to-mta" and
	.evidence.role_before == "end_host"' <<<"$v" >/dev/null &&
	pass "verdict: a role change of a PC that browsed first, not a new sender" || fail "verdict's rule: $v"
grep -q '"event":"verdict"' "$EVENTS" && pass "JSON verdict line in the event log" || fail "no verdict in $EVENTS"
[[ "$(jq -r '.verdicts | length' <<<"$v")" == 1 ]] && pass "no other host blocked" || fail "other blocks: $v"
hooked() { [[ -s "$LAB_DIR/verdict-hook.out" ]]; }
lab_wait "the verdict hook" hooked && [[ "$(head -1 "$LAB_DIR/verdict-hook.out")" == "$(grep -m1 '"event":"verdict"' "$EVENTS")" ]] &&
	pass "the verdict hook ran with the log's JSON line on stdin" ||
	fail "verdict hook: '$(cat "$LAB_DIR/verdict-hook.out" 2>&1)' vs '$(grep -m1 '"event":"verdict"' "$EVENTS")'"
metric() { sed -n "s/^$1 //p" "$LAB_DIR/metrics.prom"; }
lab_wait "metrics" grep -q '^mtaguard_time_to_block_seconds_count 1$' "$LAB_DIR/metrics.prom" &&
	[[ "$(metric 'mtaguard_verdicts_total{by="analyzer"}')" == 1 ]] &&
	pass "metrics: mtaguard_verdicts_total{by=\"analyzer\"} 1, time to block $(metric mtaguard_time_to_block_seconds_sum) s from the first SMTP evidence" ||
	fail "metrics: $(grep -E 'verdicts_total|time_to_block' "$LAB_DIR/metrics.prom")"

if mail bot after-block 198.19.0.1 "[198.18.2.2]"; then
	fail "the bot still delivers after the block"
else
	pass "the bot's next SMTP connection fails"
fi
mail pc pc-2 198.19.0.1 "pc.$DOMAIN" && pass "the PC still sends mail" || fail "the PC's mail failed after the bot's block"
lab_run bot ping -c1 -W2 198.19.0.1 >/dev/null && pass "the bot still pings (SMTP-only block)" ||
	fail "the bot's other traffic is dropped too"
# The drops are the bot's interface's (in2), not the PC's (in1).
in_drops() { [[ "$(metric "mtaguard_xdp_drops_total{interface=\"$1\",reason=\"block_smtp\"}")" -ge "$2" ]]; }
lab_wait "metrics per interface" in_drops in2 1 && [[ "$(metric 'mtaguard_xdp_drops_total{interface="in1",reason="block_smtp"}')" == 0 ]] &&
	pass "metrics: drops by interface, $(metric 'mtaguard_xdp_drops_total{interface="in2",reason="block_smtp"}') on in2, 0 on in1" ||
	fail "metrics by interface: $(grep -E 'xdp_(packets|drops)_total\{' "$LAB_DIR/metrics.prom")"

# --- mtaguardctl, text and JSON -------------------------------------------------------

ctl status | grep -q "^interfaces  in1 (native) in2 (native)" && pass "ctl status (text)" || fail "ctl status text: $(ctl status)"
[[ "$(ctl --json status | jq -r .verdicts_active)" -ge 1 ]] && pass "ctl status --json" || fail "ctl status --json"
# The daemon's own memory and descriptors: the figures its metrics have too, and a line for people.
ctl --json status | jq -e '.process.resident_bytes > 1000000 and .process.open_fds >= 3' >/dev/null &&
	ctl status | grep -qE '^memory      [0-9.]+ [kMG]B resident; [0-9]+ descriptors open' &&
	pass "ctl status: $(ctl status | grep '^memory' | sed 's/  */ /g')" || fail "status memory: $(ctl --json status | jq -c .process)"
grep -qE '^mtaguard_process_resident_memory_bytes [0-9]{7,}$' "$LAB_DIR/metrics.prom" &&
	grep -qE '^mtaguard_process_open_fds [0-9]+$' "$LAB_DIR/metrics.prom" &&
	pass "metrics: the daemon's resident memory and descriptors" ||
	fail "metrics: $(grep mtaguard_process "$LAB_DIR/metrics.prom")"
ctl --json show 198.18.2.2 | jq -e '.role == "blocked"' >/dev/null && pass "ctl show: the bot is blocked" ||
	fail "ctl show 198.18.2.2: $(ctl --json show 198.18.2.2)"
ctl show 198.18.2.2 | grep -q "blocked by a verdict" && pass "ctl show says why (text)" || fail "ctl show text"
ctl --json show 198.18.1.2 | jq -e '.role != "blocked"' >/dev/null && pass "ctl show: the PC is not blocked" ||
	fail "ctl show 198.18.1.2"
ctl --json top 5 | jq -e '.sources[0].source == "198.18.2.2"' >/dev/null && pass "ctl top: the bot is the busiest" ||
	fail "ctl top: $(ctl --json top 5)"
ctl --json roles | jq -e '.blocked | length == 1' >/dev/null && pass "ctl roles" || fail "ctl roles: $(ctl --json roles)"
ctl block 198.18.9.0/24 -d 1h -a all -m "test rule" >/dev/null && pass "ctl block" || fail "ctl block"
ctl --json verdicts | jq -e '.verdicts[] | select(.source == "198.18.9.0/24" and .by == "operator")' >/dev/null &&
	pass "operator block listed" || fail "operator block not listed"
lab_wait "metrics by operator" grep -q '^mtaguard_verdicts_total{by="operator"} 1$' "$LAB_DIR/metrics.prom" &&
	pass "metrics: the operator's block counted by=\"operator\"" || fail "metrics: $(grep verdicts_total "$LAB_DIR/metrics.prom")"
ctl unblock 198.18.9.0/24 >/dev/null && pass "ctl unblock" || fail "ctl unblock"
ctl unblock 198.18.9.0/24 >/dev/null 2>&1 && fail "unblocking twice succeeded" || pass "ctl unblock of a missing rule refused"
ctl block not-an-address >/dev/null 2>&1 && fail "ctl block accepted garbage" || pass "ctl block refuses garbage"
ctl allow 198.18.2.2 -m "test" >/dev/null && pass "ctl allow" || fail "ctl allow"
# The verdict ends with the allow itself, not at some later tick.
ctl --json show 198.18.2.2 | jq -e '.role != "blocked" and .allowlisted' >/dev/null &&
	pass "ctl allow ends the verdict at once" || fail "still blocked right after allow: $(ctl --json show 198.18.2.2)"
mail bot allowed 198.19.0.1 "[198.18.2.2]" && pass "allowlist beats the verdict" || fail "allowlisted bot still blocked"
ctl disallow 198.18.2.2 >/dev/null && pass "ctl disallow" || fail "ctl disallow"
# Allowlisting ended the verdict; off the list, the bot is an ordinary
# source again, and spamming on makes it a repeat offender.
rm -f "$LAB_DIR/reblocked_at"
poll_block "$LAB_DIR/reblocked_at" &
POLLER=$!
spam_until_blocked 101 118 reblocked_at
wait "$POLLER" || true
ctl --json show 198.18.2.2 | jq -e '.role == "blocked" and .offences == 2' >/dev/null &&
	pass "spamming again after the allowlist: blocked again, offence 2" ||
	fail "not blocked again: $(ctl --json show 198.18.2.2)"
[[ "$(ctl --json verdicts | jq -r '.verdicts[] | select(.source == "198.18.2.2") | .expires')" > \
   "$(date -u -d '+3 hours' +%Y-%m-%dT%H:%M:%SZ)" ]] && pass "the second block lasts longer (4 h)" ||
	fail "second block not escalated: $(ctl --json verdicts)"
# An operator's block of the same source wins while it lasts; when it ends,
# the analyzer's verdict (4 h, SMTP only) is what the kernel enforces again.
kernel_rules() { lab_nsenter edge "$BUILD/mtaguard-loader" -p "$PIN" rules --json; }
# The bot's block rule, or null: an empty answer must not pass a check.
bot_rule() { kernel_rules | jq -c '[.. | objects | select(.prefix? == "198.18.2.2" and .kind == "block")] | .[0]'; }
ctl block 198.18.2.2 -d 3s -a all -m "everything, briefly" >/dev/null || fail "operator block over a verdict"
bot_rule | jq -e '.action == "all"' >/dev/null && pass "the operator's block replaces the verdict's rule" ||
	fail "kernel rule: $(bot_rule)"
lab_run bot ping -c1 -W1 198.19.0.1 >/dev/null && fail "the bot pings through a block-all" ||
	pass "the operator's block-all drops the bot's ping"
lab_wait -t 10 "operator block ended" grep -q '"operator block 198.18.2.2 ended: everything, briefly"' "$EVENTS" ||
	fail "the operator's block did not end"
bot_rule | jq -e '.action == "smtp" and .expires_in_s > 3600' >/dev/null &&
	pass "when it ends, the analyzer's verdict is back in the kernel" || fail "after the operator's block: $(bot_rule)"
lab_run bot ping -c1 -W2 198.19.0.1 >/dev/null && pass "the bot pings again (SMTP-only verdict)" ||
	fail "the bot's ping still dropped"
# While the daemon runs its engine is the one writer of the rules: the
# loader's edits and a second daemon on the same pins are refused, and change nothing.
out="$(lab_nsenter edge "$BUILD/mtaguard-loader" -p "$PIN" block 198.18.9.77 2>&1)" && fail "the loader wrote a rule beside the daemon"
grep -q "mtaguardd runs with $PIN" <<<"$out" &&
	! kernel_rules | jq -e '[.. | objects | select(.prefix? == "198.18.9.77")] | length > 0' >/dev/null &&
	pass "mtaguard-loader block beside a running daemon: refused (use mtaguardctl), nothing written" ||
	fail "loader block beside the daemon: '$out', rules $(kernel_rules)"
out="$(lab_nsenter edge timeout 30 "$DAEMON" -c "$CONF" 2>&1)" && fail "a second mtaguardd started on the same pins"
grep -q "another mtaguardd runs with the pin dir $PIN" <<<"$out" && ctl status >/dev/null &&
	pass "a second mtaguardd on the same pins exits with why; the first goes on" ||
	fail "second daemon: '$out'"
ctl monitor on >/dev/null && [[ "$(ctl --json status | jq -r .monitor)" == true ]] && pass "ctl monitor on" || fail "monitor on"
ctl monitor off >/dev/null && [[ "$(ctl --json status | jq -r .monitor)" == false ]] && pass "ctl monitor off" || fail "monitor off"
# SIGHUP: a bad file is refused with its line and column, and the running
# config stays; a good one takes effect.
monitor_is() { [[ "$(ctl --json status | jq -r .monitor)" == "$1" ]]; }
cp "$CONF" "$CONF.good"
sed 's/^  "scan_interval": "1s"$/  "scan_interval": "1s",\n  "treshold": 3/' "$CONF.good" >"$CONF"
kill -HUP "$DPID"
lab_wait "reload refused" grep -q '"event":"config-refused"' "$EVENTS" &&
	grep '"event":"config-refused"' "$EVENTS" | grep -q "mtaguard.json:[0-9]*:3: unknown key" &&
	pass "SIGHUP with a bad file: refused with line and column" ||
	fail "bad reload not reported: $(grep config-refused "$EVENTS")"
[[ "$(ctl --json status | jq -r .monitor)" == false ]] && pass "the running config stays after a refused reload" ||
	fail "status after a refused reload"
sed 's/^  "scan_interval": "1s"$/  "scan_interval": "1s",\n  "monitor": true/' "$CONF.good" >"$CONF"
kill -HUP "$DPID"
lab_wait "reloaded" monitor_is true &&
	pass "SIGHUP with a good file: monitor mode now on" || fail "good reload not applied"
cp "$CONF.good" "$CONF"
kill -HUP "$DPID"
lab_wait "reloaded back" monitor_is false || fail "reload back failed"
# A reload that changes what only a restart can: accepted, not applied, and
# said so; status goes on naming what is attached.
reloads="$(grep -cF '"event":"reloaded"' "$EVENTS")"
sed -e 's/{ "name": "in1", "mode": "native" }, { "name": "in2", "mode": "native" }/"in1"/' \
	-e "s|\"log_file\": \"$EVENTS\"|\"log_file\": \"$EVENTS.other\"|" \
	-e 's|"protected_networks": \[ "198.18.0.0/16" \]|"protected_networks": [ "198.18.0.0/17" ]|' "$CONF.good" >"$CONF"
kill -HUP "$DPID"
lab_wait "reloaded with restart-only changes" lab_lines_gt "$EVENTS" '"event":"reloaded"' "$reloads" &&
	grep '"event":"reloaded"' "$EVENTS" | tail -1 |
	grep -q 'not applied, running as before until a restart: interfaces, log_file, protected_networks"' &&
	pass "a reload changing interfaces, log_file and protected_networks: the notice names them as not applied" ||
	fail "reload notice: $(grep '"event":"reloaded"' "$EVENTS" | tail -1)"
ctl --json status | jq -e '[.interfaces[].name] == ["in1", "in2"] and
	.pending_restart == "interfaces, log_file, protected_networks"' \
	>/dev/null && pass "status: the attached interfaces, and what waits for a restart" ||
	fail "status after a restart-only reload: $(ctl --json status | jq -c '{interfaces, pending_restart}')"
[[ -e "$PIN/link_in2" ]] && pass "in2 stays attached until a restart" || fail "in2 detached by a reload"
cp "$CONF.good" "$CONF"
kill -HUP "$DPID"
nothing_pending() { ctl --json status | jq -e '.pending_restart == null' >/dev/null; }
lab_wait "reloaded back, nothing pending" nothing_pending ||
	fail "pending restart not cleared: $(ctl --json status | jq -c .pending_restart)"

# A malformed request on the live socket gets an error reply, and the daemon keeps serving.
reply="$(printf '{garbage\n' | timeout 3 socat - "UNIX-CONNECT:$SOCK" 2>/dev/null || true)"
jq -e '.ok == false and (.error | test("malformed"))' <<<"$reply" >/dev/null &&
	pass "malformed request answered with an error" || fail "malformed request: '$reply'"
ctl status >/dev/null && pass "daemon serves after a malformed request" || fail "daemon stopped serving"

# --- the operator's rules: comments, temporary allows, reloads ------------------------

ctl block 198.18.9.0/24 -d 0 -a all -m "abuse desk ticket 4711" >/dev/null || fail "ctl block with a comment"
ctl --json verdicts | jq -e '.verdicts[] | select(.source == "198.18.9.0/24") |
	.by == "operator" and .comment == "abuse desk ticket 4711" and .expires == null and .action == "all"' >/dev/null &&
	pass "an operator block keeps its comment" || fail "operator block: $(ctl --json verdicts)"
ctl verdicts | grep -q "abuse desk ticket 4711" && pass "ctl verdicts (text) shows the comment" || fail "verdicts text"
ctl allow 198.18.7.7 -m "partner relay" >/dev/null || fail "ctl allow with a comment"
ctl allow 198.18.1.2 >/dev/null || fail "ctl allow the PC"
reloads="$(grep -cF '"event":"reloaded"' "$EVENTS")"
kill -HUP "$DPID"
lab_wait "reloaded again" lab_lines_gt "$EVENTS" '"event":"reloaded"' "$reloads" || fail "no reload"
# The analyzer's own view (a reload resets its configured set): the PC is a known source.
ctl --json show 198.18.1.2 | jq -e '.allowlisted' >/dev/null &&
	pass "an operator allow survives a reload" || fail "operator allow lost on reload: $(ctl --json show 198.18.1.2)"
ctl disallow 198.18.1.2 >/dev/null || fail "ctl disallow the PC"
ctl --json allowlist | jq -e '.allowlist[] | select(.source == "198.18.7.7") | .by == "operator" and .comment == "partner relay"' \
	>/dev/null && pass "ctl allowlist names the operator's allow and its comment" || fail "allowlist: $(ctl --json allowlist)"
ctl allow 198.18.1.2 -d 2s -m "maintenance window" >/dev/null || fail "ctl allow -d"
ctl --json allowlist | jq -e '.allowlist[] | select(.source == "198.18.1.2") | .expires != null' >/dev/null &&
	pass "a temporary allow has an expiry" || fail "temporary allow: $(ctl --json allowlist)"
lab_wait -t 10 "temporary allow ended" grep -q '"operator allow 198.18.1.2 ended: maintenance window"' "$EVENTS" &&
	pass "the temporary allow ended by itself, logged" || fail "temporary allow did not end"
ctl --json allowlist | jq -e '[.allowlist[] | select(.source == "198.18.1.2")] | length == 0' >/dev/null &&
	ctl --json show 198.18.1.2 | jq -e '.allowlisted | not' >/dev/null &&
	pass "and is gone from the kernel and the analyzer" || fail "temporary allow lingers: $(ctl --json allowlist)"
ctl allow 198.18.1.2 -a all >/dev/null 2>&1 && fail "allow took an action" || pass "allow refuses an action"

# --- restarts -------------------------------------------------------------------------

# restart_check SIGNAL WHAT TAG MX: stop the daemon with SIGNAL, check the bot
# stays blocked while it is down, start it again, check the profile is back.
restart_check() {
	stop_daemon "$1"
	ctl status >/dev/null 2>&1 && fail "$2: a daemon still answers" || pass "$2: the daemon is down"
	mail bot "$3" "$4" "[198.18.2.2]" && fail "the bot got through after $2" ||
		pass "enforcement goes on after $2"
	start_daemon
	ctl --json show 198.18.2.2 | jq -e '.role == "blocked"' >/dev/null && pass "$2: profile restored" ||
		fail "$2: profile lost: $(ctl --json show 198.18.2.2)"
}
restart_check TERM "a graceful stop" while-down 198.19.0.2
sleep 3 # past state_interval: a periodic save has happened
ctl --json status | jq -e '.state_save | .beside_loop and .written >= 1 and .failed == 0 and .bytes > 0 and
	.last_saved_s >= 0 and .last_saved_s < 5 and .waiting == false' >/dev/null &&
	pass "the periodic save is serialized in slices and written beside the loop" ||
	fail "state_save: $(ctl --json status | jq -c .state_save)"
restart_check KILL "kill -9" after-kill 198.19.0.3
ctl --json show 198.18.1.2 | jq -e '.known' >/dev/null && pass "the PC's profile survived too" || fail "PC profile lost"
ctl --json verdicts | jq -e '.verdicts[] | select(.source == "198.18.9.0/24") | .comment == "abuse desk ticket 4711"' \
	>/dev/null && pass "restarts keep the operator's comment" || fail "comment lost: $(ctl --json verdicts)"

# A reboot: the pinned maps are gone. What the daemon saved puts the bot's
# verdict and the operator's rules back into the new, empty maps.
stop_daemon TERM
lab_nsenter edge "$BUILD/mtaguard-loader" -p "$PIN" unload >/dev/null 2>&1
[[ -e "$PIN/mg_blocklist" ]] && fail "the pins survived the unload" || pass "reboot: pins and maps gone"
start_daemon
kernel_rules | jq -e '[.. | objects | select(.prefix? == "198.18.9.0/24" and .kind == "block" and .action == "all")] |
	length == 1' >/dev/null && pass "reboot: the operator's block is back in the kernel" ||
	fail "reboot: operator block lost: $(kernel_rules)"
kernel_rules | jq -e '[.. | objects | select(.prefix? == "198.18.7.7" and .kind == "allow")] | length == 1' >/dev/null &&
	pass "reboot: the operator's allow is back in the kernel" || fail "reboot: operator allow lost: $(kernel_rules)"
mail bot after-reboot 198.19.0.4 "[198.18.2.2]" && fail "the bot got through after the reboot" ||
	pass "reboot: the bot's verdict is enforced again"

# --- log rotation: logrotate, with the package's own file, renames log_file; the daemon follows its path ---

sed "s|^/var/log/mtaguard/\*\.jsonl |$EVENTS |" "$SELFTESTS/../user/mtaguard.logrotate" >"$LAB_DIR/logrotate.conf"
grep -q "^$EVENTS {" "$LAB_DIR/logrotate.conf" || fail "the package's logrotate file names no /var/log/mtaguard/*.jsonl"
logrotate -f -s "$LAB_DIR/logrotate.state" "$LAB_DIR/logrotate.conf" >"$LAB_DIR/logrotate.out" 2>&1 && [[ -s "$EVENTS.1" ]] &&
	pass "logrotate (the package's /etc/logrotate.d/mtaguard) moved log_file to $(basename "$EVENTS").1" ||
	fail "logrotate: $(cat "$LAB_DIR/logrotate.out")"
lab_wait -t 10 "log_file made anew" grep -q '"log file .* opened again: the file it named was moved or deleted' "$EVENTS" &&
	pass "log_file moved away: the daemon writes to a new file at its path, whose first line says so" ||
	fail "log_file not followed after a move: $(ls "$LAB_DIR")"
reloads="$(grep -cF '"event":"reloaded"' "$EVENTS.1")"
kill -HUP "$DPID"
lab_wait "reloaded after the rotation" grep -qF '"event":"reloaded"' "$EVENTS" &&
	(($(grep -cF '"event":"reloaded"' "$EVENTS.1") == reloads)) &&
	pass "after the rotation the events go to the new file, none to the rotated one" ||
	fail "events after the rotation: new $(grep -c . "$EVENTS" 2>/dev/null), rotated $(grep -c . "$EVENTS.1")"

if ((FAILS)); then
	echo "e2e_daemon: $FAILS check(s) failed"
	tail -20 "$LOG"
	exit 1
fi
echo "e2e_daemon: all checks passed"
