#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# e2e_quarantine.sh - mtaguardd as the policy service of a real Postfix
# relay: during an outbreak the members' mail is held (stored, not
# delivered), other hosts' mail is delivered, an operator-blocked client is
# rejected, and mtaguardctl quarantine lists, releases (one message, or a
# whole signature) and deletes held mail through Postfix's own tools.
#
#   bot1..bot3 198.18.1-3.2 ─ in1..in3 ┐ RELAY (the organisation's mail relay: Postfix on
#   pc         198.18.4.2   ─ in4      ┘ 198.18.4.1:587, check_policy_service → mtaguardd, which
#                                        runs there too with XDP on in1..in4) ─ out0 ─ MX 198.19.0.25
#
# mtaguardd runs on the relay itself, as the systemd service on a mail relay
# does: the same host answers Postfix's policy requests and holds the mail.
#
#   selftests/e2e_quarantine.sh BUILD_DIR       exit 0 pass, 1 fail, 77 skip
set -euo pipefail

SELFTESTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=selftests/lab.sh
. "$SELFTESTS/lab.sh"

BUILD="$(cd "${1:-${MG_BUILD:-build}}" && pwd)"
PIN="/sys/fs/bpf/mg-e2eq-$$"
DOMAIN="$LAB_MAIL_DOMAIN"

lab_require_root
lab_require_cmds ip nsenter swaks jq postfix postconf postqueue socat timeout
FAILS=0
pass() { printf 'ok:   %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*"; FAILS=$((FAILS + 1)); }
fatal() { printf 'FAIL: %s\n' "$*"; [[ -f "${LAB_DIR:-}/daemon.err" ]] && tail -20 "$LAB_DIR/daemon.err"; exit 1; }

lab_init
SOCK="$LAB_DIR/control.sock"
POLICY="$LAB_DIR/policy.sock"
EVENTS="$LAB_DIR/events.jsonl"
ctl() { "$BUILD/mtaguardctl" -s "$SOCK" "$@"; }

lab_bpffs
lab_netns edge bot1 bot2 bot3 pc mx
i=1
for h in bot1 bot2 bot3 pc; do
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
lab_postfix_start mx 198.19.0.25 >/dev/null || fatal "Postfix (mx) did not start"
lab_postfix_start edge 198.18.4.1 >/dev/null || fatal "Postfix (relay) did not start"
lab_postfix_submission edge || fatal "no submission port on the relay"
RELAY_CF="$(lab_postfix_dir edge)/etc"
# The relay asks mtaguardd about every client: at RCPT (to reject early) and at
# end of data (where the queue ID is known, so a held message is recorded).
postconf -c "$RELAY_CF" -e \
	"smtpd_recipient_restrictions = check_policy_service unix:$POLICY, permit_mynetworks, reject_unauth_destination" \
	"smtpd_end_of_data_restrictions = check_policy_service unix:$POLICY"
pass "lab up: three fresh hosts, a PC, a Postfix relay with mtaguard as its policy service, an outside MX"

# "clamav": false, said outright (the default is true): a release scans the
# message with /usr/bin/clamdscan whenever that is installed, and refuses it
# unless the scan says clean, so on a machine with ClamAV's client but no
# running clamd every release would fail. This test is about holding and
# releasing, not scanning: it must not depend on what else is installed.
cat >"$LAB_DIR/mtaguard.json" <<EOF
{
  "interfaces": [ "in1", "in2", "in3", "in4" ],
  "pin_dir": "$PIN",
  "state_file": "$LAB_DIR/state.gz",
  "log_file": "$EVENTS",
  "control_socket": "$SOCK",
  "outbreak": { "min_senders": 3 },
  "quarantine": { "policy_listen": "unix:$POLICY", "threshold": 3, "postfix_config": "$RELAY_CF", "clamav": false,
                  "exceptions": { "sender_domains": [ "trusted.example" ], "recipients": [ "postmaster@$DOMAIN" ] } }
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
lab_wait "policy socket" test -S "$POLICY" || fatal "no policy socket"
[[ "$(stat -c '%a %G' "$POLICY")" == "660 postfix" ]] && pass "the policy socket is Postfix's alone (0660, group postfix)" ||
	fail "policy socket: $(stat -c '%a %G' "$POLICY")"
lab_run edge postfix -c "$RELAY_CF" reload >/dev/null 2>&1 || fatal "relay reload"

direct() { # NS TAG: straight to the outside MX, as a bot does
	lab_run "$1" swaks --server 198.19.0.25 --timeout 4 --from "x@$1.$DOMAIN" --to "rcpt@$DOMAIN" \
		--ehlo "[198.18.0.9]" --header "X-Tag: $2" >"$LAB_DIR/swaks-$2.log" 2>&1
}
submit() { # NS TAG: through the relay (submission port)
	lab_run "$1" swaks --server 198.18.4.1 --port 587 --timeout 6 --from "user@$1.$DOMAIN" --to "rcpt@$DOMAIN" \
		--ehlo "$1.$DOMAIN" --header "X-Tag: $2" >"$LAB_DIR/swaks-$2.log" 2>&1
}
policy() { # ATTRIBUTES...: one raw policy request on the live socket; prints the action line
	{ printf '%s\n' "request=smtpd_access_policy" "protocol_state=RCPT" "$@"; printf '\n'; } |
		timeout 5 socat -t 2 - "UNIX-CONNECT:$POLICY" | head -1
}
held_ids() { ctl --json quarantine list | jq -r '.held[].queue_id'; }

# --- before any outbreak: everyone's mail is delivered ----------------------------------
submit pc pc-1 && lab_wait_mail edge "X-Tag: pc-1" 1 && pass "the PC's mail through the relay is delivered" ||
	fail "pc-1 not delivered"
[[ "$(policy client_address=198.18.4.2 sender=a@b recipient=c@d)" == "action=DUNNO" ]] &&
	pass "policy: an ordinary client gets DUNNO" || fail "policy for the PC"

# --- an outbreak: three fresh hosts send straight to the MX -------------------------------
for b in bot1 bot2 bot3; do direct "$b" "$b-direct" || true; done
lab_wait "outbreak" grep -q '"event":"outbreak"' "$EVENTS" && pass "outbreak declared" || fatal "no outbreak"
SIG="$(grep '"event":"outbreak"' "$EVENTS" | head -1 | jq -r .signature)"

# --- members' mail through the relay is held; the PC's is not ------------------------------
submit bot1 bot1-relay || true
submit bot2 bot2-relay || true
submit bot3 bot3-relay || true
submit pc pc-2 && lab_wait_mail edge "X-Tag: pc-2" 1 && pass "during the outbreak the PC's mail is still delivered" ||
	fail "pc-2 not delivered"
lab_wait "three held" bash -c "[[ \$('$BUILD/mtaguardctl' -s '$SOCK' --json quarantine list | jq '.held | length') == 3 ]]" &&
	pass "the three members' messages are held" || fail "held: $(ctl --json quarantine list)"
[[ "$(lab_mail_count edge "X-Tag: bot1-relay")" == 0 ]] && pass "held mail is not delivered" || fail "bot1's mail was delivered"
lab_run edge postqueue -c "$RELAY_CF" -j | jq -e 'select(.queue_name == "hold")' >/dev/null && pass "Postfix has them in its hold queue" ||
	fail "nothing in Postfix's hold queue"
ctl --json quarantine list | jq -e --arg s "$SIG" \
	'.held[] | select(.client == "198.18.1.2") | .reason == "outbreak" and .signature == $s and (.recipients | test("rcpt@")) and .sender != ""' \
	>/dev/null && pass "the list names client, sender, recipients, reason and signature" ||
	fail "list fields: $(ctl --json quarantine list)"
ctl quarantine list | grep -q "198.18.1.2" && pass "mtaguardctl quarantine list (text)" || fail "text list"
[[ "$(policy client_address=198.18.2.2 sender=a@b recipient=c@d)" == "action=HOLD mtaguard: outbreak $SIG" ]] &&
	pass "policy: an outbreak member gets HOLD" || fail "policy for a member: $(policy client_address=198.18.2.2)"

# --- release one; delete one; release the rest by signature ------------------------------
id1="$(ctl --json quarantine list | jq -r '.held[] | select(.client == "198.18.1.2") | .queue_id')"
ctl quarantine release "$id1" >/dev/null && lab_wait_mail edge "X-Tag: bot1-relay" 1 &&
	pass "quarantine release delivers the message" || fail "release $id1"
id2="$(ctl --json quarantine list | jq -r '.held[] | select(.client == "198.18.2.2") | .queue_id')"
ctl quarantine delete "$id2" >/dev/null && ! lab_run edge postqueue -c "$RELAY_CF" -j | grep -q "\"$id2\"" &&
	pass "quarantine delete removes it from Postfix" || fail "delete $id2"
ctl quarantine release --signature "$SIG" >/dev/null && lab_wait_mail edge "X-Tag: bot3-relay" 1 &&
	pass "quarantine release --signature releases the signature's mail" || fail "release by signature"
[[ "$(ctl --json quarantine list | jq '.held | length')" == 0 ]] && pass "nothing left on hold" || fail "still held"
[[ "$(lab_mail_count edge "X-Tag: bot2-relay")" == 0 ]] && pass "the deleted message never arrived" || fail "bot2's arrived"
ctl quarantine release NOSUCH1 >/dev/null 2>&1 && fail "released an unknown ID" || pass "an unknown ID is refused"

# --- an operator-blocked client is rejected; malformed requests get DUNNO ---------------------
ctl block 198.18.9.9 -d 1h >/dev/null
[[ "$(policy client_address=198.18.9.9 sender=a@b recipient=c@d)" == "action=REJECT 5.7.1 mtaguard: 198.18.9.9 is blocked"* ]] &&
	pass "policy: a blocked client gets REJECT 5.7.1" || fail "policy for a blocked client: $(policy client_address=198.18.9.9)"
reply="$(printf 'this is not a policy request\n\n' | timeout 5 socat -t 2 - "UNIX-CONNECT:$POLICY" | head -1)"
[[ "$reply" == "action=DUNNO" ]] && pass "a malformed request gets DUNNO" || fail "malformed: '$reply'"
reply="$(printf 'request=smtpd_access_policy\nclient_address=198.18.9.9\0\n\n' | timeout 5 socat -t 2 - "UNIX-CONNECT:$POLICY" | head -1)"
[[ "$reply" == "action=DUNNO" ]] && pass "a request with a NUL byte gets DUNNO" || fail "NUL: '$reply'"
lab_wait "policy log" grep -q '"event":"policy"' "$EVENTS" && pass "malformed requests are logged" || fail "not logged"
[[ "$(policy client_address=198.18.4.2)" == "action=DUNNO" ]] && pass "the policy service still serves" || fail "policy stopped"
submit pc pc-3 && lab_wait_mail edge "X-Tag: pc-3" 1 && pass "the relay still delivers" || fail "pc-3"

# --- exceptions: by recipient and sender domain; by client after a reload --------------------------
[[ "$(policy client_address=198.18.2.2 sender=a@b recipient=postmaster@$DOMAIN)" == "action=DUNNO" ]] &&
	[[ "$(policy client_address=198.18.2.2 sender=boss@trusted.example recipient=c@d)" == "action=DUNNO" ]] &&
	pass "exceptions by recipient and sender domain: DUNNO for an outbreak member" || fail "exceptions not honoured"

# --- retention: held mail released by itself when its time is up -------------------------------
sed -i -e 's|"threshold": 3,|"threshold": 3, "retention": { "outbreak": "4s" }, "on_expiry": { "outbreak": "release" },|' \
	-e 's|"exceptions": {|"exceptions": { "clients": [ "198.18.2.0/24" ],|' "$LAB_DIR/mtaguard.json"
kill -HUP "$DPID"
lab_wait "reloaded" grep -q '"event":"reloaded"' "$EVENTS" || fail "reload"
[[ "$(policy client_address=198.18.2.2 sender=a@b recipient=c@d)" == "action=DUNNO" ]] &&
	pass "a client exception (added by a reload): DUNNO for an outbreak member" || fail "client exception"
submit bot1 bot1-later || true
lab_wait "held" bash -c "'$BUILD/mtaguardctl' -s '$SOCK' --json quarantine list | jq -e '.held | length == 1' >/dev/null" &&
	pass "held again" || fail "bot1-later not held"
lab_wait_mail edge "X-Tag: bot1-later" 1 && pass "released by itself when its 4 s retention ended" ||
	fail "retention did not release: $(ctl --json quarantine list)"
grep -q '"event":"quarantine".*retention over' "$EVENTS" && pass "the expiry is logged" || fail "no expiry log"

# --- a suspect: its mail is held only from the quarantine threshold on -------------------------
# The operator ends the outbreak by exempting its signature (an exception a
# reload keeps), so the PC, which runs the same OS, is not contained when it
# starts delivering to port 25 by itself with a forged HELO.
ctl except add "$SIG" >/dev/null || fail "except add $SIG"
threat() { ctl --json status | jq -r .threat_level; }
lab_wait "the fingerprint's outbreak over" bash -c "! '$BUILD/mtaguardctl' -s '$SOCK' --json outbreaks |
	jq -e --arg s '$SIG' '.outbreaks[] | select(.signature == \$s)' >/dev/null" &&
	grep -q '"event":"outbreak-end".*"reason":"exempted"' "$EVENTS" &&
	pass "an exempted signature's outbreak ends, logged as exempted" || fail "outbreak $SIG still active"
# The bots' HELO and its shape are outbreaks too, of the same hosts: one campaign, one level.
LEVEL="$(threat)"
((LEVEL == 2)) && pass "one campaign with several signatures is threat level 2, not more" ||
	fail "threat level $LEVEL: $(ctl --json outbreaks | jq -c '[.outbreaks[] | {signature, level}]')"
to25() { # NS TAG HELO: to the relay's port 25, as a host delivering by itself does
	lab_run "$1" swaks --server 198.18.4.1 --port 25 --timeout 6 --from "user@$1.$DOMAIN" --to "rcpt@$DOMAIN" \
		--ehlo "$3" --header "X-Tag: $2" >"$LAB_DIR/swaks-$2.log" 2>&1
}
role_is() { [[ "$(ctl --json show "$1" | jq -r .role)" == "$2" ]]; }
to25 pc pc-direct-1 "[198.18.4.2]" || true
lab_wait "the PC a suspect" role_is 198.18.4.2 suspect && pass "the PC delivering by itself is a suspect" ||
	fail "PC role: $(ctl --json show 198.18.4.2)"
to25 pc pc-direct-2 "[198.18.4.2]" && lab_wait_mail edge "X-Tag: pc-direct-2" 1 &&
	pass "below the threshold (threat level $LEVEL < 3) a suspect's mail is delivered" || fail "pc-direct-2 not delivered"
reloads="$(grep -cF '"event":"reloaded"' "$EVENTS")"
sed -i 's|"threshold": 3,|"threshold": 0,|' "$LAB_DIR/mtaguard.json"
kill -HUP "$DPID"
lab_wait "reloaded" lab_lines_gt "$EVENTS" '"event":"reloaded"' "$reloads" || fail "reload"
ctl --json except list | jq -e --arg s "$SIG" '.exceptions | index($s) != null' >/dev/null &&
	pass "the operator's exception survives a reload" || fail "exception lost: $(ctl --json except list)"
[[ "$(policy client_address=198.18.4.2 sender=a@b recipient=c@d)" == "action=HOLD mtaguard: suspect" ]] &&
	pass "policy: at the threshold a suspect gets HOLD" || fail "policy for the suspect: $(policy client_address=198.18.4.2)"
to25 pc pc-direct-3 "[198.18.4.2]" || true
suspect_held() { ctl --json quarantine list | jq -e '.held[] | select(.client == "198.18.4.2" and .reason == "suspect")' >/dev/null; }
lab_wait "suspect's mail held" suspect_held && pass "the suspect's message is held" ||
	fail "not held: $(ctl --json quarantine list)"
[[ "$(lab_mail_count edge "X-Tag: pc-direct-3")" == 0 ]] && pass "and not delivered" || fail "pc-direct-3 was delivered"
id3="$(ctl --json quarantine list | jq -r '.held[] | select(.client == "198.18.4.2") | .queue_id' | head -1)"
ctl quarantine release "$id3" >/dev/null && lab_wait_mail edge "X-Tag: pc-direct-3" 1 &&
	pass "released, the suspect's message is delivered" || fail "release $id3"

# --- a hung scanner: the automatic work waits for it, the loop does not --------------------------
# A stand-in clamdscan (quarantine.clamdscan) that answers nothing: it sleeps
# past its 15 s timeout, for the reload and the re-scan alike. A change in its
# clamd.conf's database directory makes mtaguardd tell clamd to reload, then
# scan the held message again: about 35 s of hung commands, during which
# Postfix's policy requests and mtaguardctl must be answered as ever.
HANG="$LAB_DIR/clamdscan-hang"
printf '#!/bin/sh\nsleep 60\n' >"$HANG"
chmod 0755 "$HANG"
mkdir -p "$LAB_DIR/clamdb"
echo "first" >"$LAB_DIR/clamdb/local.hdb"
printf 'LocalSocket %s/clamd.ctl\nDatabaseDirectory %s/clamdb\n' "$LAB_DIR" "$LAB_DIR" >"$LAB_DIR/clamd.conf"
to25 pc pc-direct-4 "[198.18.4.2]" || true
lab_wait "suspect's mail held" suspect_held || fail "pc-direct-4 not held: $(ctl --json quarantine list)"
reloads="$(grep -cF '"event":"reloaded"' "$EVENTS")"
sed -i "s|\"clamav\": false,|\"clamav\": true, \"clamdscan\": \"$HANG\", \"clamd_config\": \"$LAB_DIR/clamd.conf\",|" \
	"$LAB_DIR/mtaguard.json"
kill -HUP "$DPID"
lab_wait "reloaded" lab_lines_gt "$EVENTS" '"event":"reloaded"' "$reloads" || fail "reload with the stand-in scanner"
sleep 6 # the watcher's first look (every 5 s) learns the database as it is
echo "second" >"$LAB_DIR/clamdb/later.hdb"
lab_wait "signature change seen" grep -q "signatures in $LAB_DIR/clamdb changed" "$EVENTS" ||
	fail "the database change was not seen"
ms_now() { echo $(($(date +%s%N) / 1000000)); }
# The operator releases the held message meanwhile: its scan hangs too. The
# answer waits for the scan's timeout; the loop does not (the probes below).
id4="$(ctl --json quarantine list | jq -r '.held[] | select(.client == "198.18.4.2") | .queue_id' | head -1)"
(
	t0=$(ms_now)
	rc=0
	timeout 70 "$BUILD/mtaguardctl" -s "$SOCK" --json quarantine release "$id4" >"$LAB_DIR/release-hung.json" 2>&1 ||
		rc=$?
	echo "$rc $(($(ms_now) - t0))" >"$LAB_DIR/release-hung.rc"
) &
RELEASE_PID=$!
worst_policy=0 worst_ctl=0 probes=0 unanswered=0 hung_seen=0
t_end=$(($(ms_now) + 32000))
while (($(ms_now) < t_end)); do
	t0=$(ms_now)
	[[ "$(policy client_address=198.18.9.9 sender=a@b recipient=c@d)" == "action=REJECT"* ]] || unanswered=$((unanswered + 1))
	t1=$(ms_now)
	st="$(timeout 5 "$BUILD/mtaguardctl" -s "$SOCK" --json status)" || unanswered=$((unanswered + 1))
	t2=$(ms_now)
	jq -e '.quarantine_work.busy and .quarantine_work.commands >= 1' <<<"$st" >/dev/null && hung_seen=$((hung_seen + 1))
	((t1 - t0 > worst_policy)) && worst_policy=$((t1 - t0))
	((t2 - t1 > worst_ctl)) && worst_ctl=$((t2 - t1))
	probes=$((probes + 1))
	sleep 0.3
done
echo "info: $probes probes while clamdscan hung ($hung_seen saw it running): slowest policy answer ${worst_policy} ms, slowest status ${worst_ctl} ms"
((unanswered == 0)) && pass "while clamdscan hangs, every policy request and mtaguardctl status is answered ($probes each)" ||
	fail "$unanswered of $probes probes unanswered while clamdscan hung"
# Generous: a probe is a process or two and a socket; a loop waiting for clamdscan took 15 s.
((hung_seen > 0 && worst_policy < 2000 && worst_ctl < 2000)) &&
	pass "promptly (slowest ${worst_policy} ms and ${worst_ctl} ms) while the hung command ran ($hung_seen probes saw it)" ||
	fail "slow or not overlapping: policy ${worst_policy} ms, status ${worst_ctl} ms, hung seen $hung_seen"
wait "$RELEASE_PID" || true
read -r release_rc release_ms <"$LAB_DIR/release-hung.rc"
((release_rc == 1 && release_ms >= 10000)) &&
	jq -e --arg id "$id4" '.ok == false and (.done[0].queue_id == $id) and (.error | test("clamd did not answer"))' \
		"$LAB_DIR/release-hung.json" >/dev/null &&
	pass "the operator's release waited for the hung scan (${release_ms} ms) while the probes were answered, and says why it did not release" ||
	fail "release during the hung scan: exit $release_rc after ${release_ms} ms: $(cat "$LAB_DIR/release-hung.json")"
ctl --json quarantine list | jq -e --arg id "$id4" '.held[] | select(.queue_id == $id)' >/dev/null &&
	pass "and the message stays held" || fail "$id4 left the hold queue: $(ctl --json quarantine list)"
grep -q '"event":"quarantine".*clamd could not be told: clamd did not answer within 15 s' "$EVENTS" &&
	pass "the reload that hung is reported as timed out" || fail "no timed-out reload: $(grep quarantine "$EVENTS" | tail -3)"
lab_wait -t 30 "re-scan timed out" grep -q '"event":"quarantine".*re-scan of held message .* failed: clamd did not answer within 15 s' "$EVENTS" &&
	pass "the re-scan that hung is reported as timed out, and tried again later" ||
	fail "no timed-out re-scan: $(grep quarantine "$EVENTS" | tail -3)"
# Shutdown: a bounded wait, then what still runs is killed, its children with it.
kill "$DPID"
for _ in $(seq 50); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.2; done
! kill -0 "$DPID" 2>/dev/null && pass "mtaguardd stops within 10 s with a hung command running" || fail "mtaguardd did not stop"
sleep 0.5
! pgrep -f "$HANG" >/dev/null && pass "no stand-in scanner left behind" || fail "left behind: $(pgrep -af "$HANG")"

# A damaged records file at start: the daemon starts, says so, and keeps the
# file as it was before its next save replaces it (the held mail's queue IDs
# are in it, for the operator to recover).
RECORDS="$LAB_DIR/state.gz.quarantine.json"
[[ -s "$RECORDS" ]] || fail "no records file after the run"
printf '[{"queue_id": "%s", "client": "198.18.4.2"' "$id4" >"$RECORDS"
nsenter --net="/run/netns/$(lab_ns edge)" -- "$BUILD/mtaguardd" -c "$LAB_DIR/mtaguard.json" 2>>"$LAB_DIR/daemon.err" &
DPID=$!
if lab_wait "mtaguardd again" ctl status; then
	copy=$(ls "$RECORDS".* 2>/dev/null | grep -v '\.tmp' | head -1)
	grep -q "quarantine.*state.gz.quarantine.json is damaged: no held message is known to mtaguard.*kept as $copy" \
		"$EVENTS" && [[ -n "$copy" ]] && grep -q "\"queue_id\": \"$id4\"" "$copy" &&
		pass "a damaged records file: started, said so, the file kept as $(basename "$copy")" ||
		fail "damaged records file: $(grep quarantine "$EVENTS" | tail -2); copies: $(ls "$RECORDS".* 2>&1)"
else
	fail "mtaguardd did not start with a damaged records file: $(tail -5 "$LAB_DIR/daemon.err")"
fi

if ((FAILS)); then
	echo "e2e_quarantine: $FAILS check(s) failed"
	tail -20 "$LAB_DIR/daemon.err"
	exit 1
fi
echo "e2e_quarantine: all checks passed"
