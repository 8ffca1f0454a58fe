#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# e2e_systemd.sh - the Debian package and its unit under a real systemd, as
# on an operator's mail relay: a Debian 12 container booted with systemd as
# PID 1 (selftests/lib_nspawn.sh), the .deb installed with dpkg, the unit
# started with the relay drop-in (postfix-relay.conf) and the relay config,
# Postfix asking mtaguardd through the policy socket. A suspect's message is
# held, listed and released with mtaguardctl; a spam bot is blocked, the
# block shows in `journalctl -p warning`, and `systemctl reload` and
# `restart` keep enforcing it.
#
#   (container) pc 198.18.4.2 ─ eth0 ══ in4 198.18.4.1 the relay: Postfix on :25, mtaguardd (XDP on in4),
#                                                      "MX" addresses 198.19.0.1-6 on lo
#
#   selftests/e2e_systemd.sh BUILD_DIR       exit 0 pass, 1 fail (no skip as root)
set -euo pipefail

SELFTESTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SELFTESTS/.." && pwd)"
# shellcheck source=selftests/lab.sh
. "$SELFTESTS/lab.sh"
# shellcheck source=selftests/lib_nspawn.sh
. "$SELFTESTS/lib_nspawn.sh"

BUILD="$(cd "${1:-${MG_BUILD:-build}}" && pwd)"
lab_require_root
# As root nothing is skipped: `make deps` installs these.
for c in systemd-nspawn mmdebstrap dpkg-buildpackage dh lintian nsenter; do
	command -v "$c" >/dev/null || { echo "FAIL: $c missing (make deps)"; exit 1; }
done
FAILS=0
T0=$SECONDS
# Each line with the seconds since the start: where a run's time goes.
pass() { printf 'ok:   [%3ds] %s\n' "$((SECONDS - T0))" "$*"; }
fail() { printf 'FAIL: [%3ds] %s\n' "$((SECONDS - T0))" "$*"; FAILS=$((FAILS + 1)); }
fatal() {
	printf 'FAIL: %s\n' "$*"
	[[ -n "$NSPAWN_LEADER" ]] && ns_run journalctl -u mtaguardd --no-pager -n 30 2>/dev/null
	exit 1
}
lab_init

# make deb: dpkg-buildpackage in a tree of its own, then lintian (errors fail it; its warnings are listed).
deb="$(make -s -C "$REPO" deb BUILD="$BUILD" 2>"$LAB_DIR/deb.err" | tail -1)" || { cat "$LAB_DIR/deb.err"; fatal "make deb"; }
[[ -f "$deb" ]] && pass "make deb (dpkg-buildpackage -us -uc -b): $(basename "$deb")" || fatal "no package: $deb"
pass "lintian: no errors, warnings: $(grep -c '^W:' "$BUILD/deb/lintian.txt")"
grep '^[WE]:' "$BUILD/deb/lintian.txt" | sed 's/^/      /' || true
# The completion offers what mtaguardctl --help lists: every command and every long option.
words="$(bash -c '. "$1"; for w in "" --; do COMP_WORDS=(mtaguardctl "$w"); COMP_CWORD=1; _mtaguardctl; echo "${COMPREPLY[*]}"; done' \
	_ "$REPO/tools/completion/mtaguardctl.bash")"
missing=""
for w in $("$BUILD/mtaguardctl" --help | sed -n 's/^  \([a-z][a-z]*\) .*/\1/p; s/^  \([a-z][a-z]*\)$/\1/p' | sort -u) \
	$("$BUILD/mtaguardctl" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
	[[ " ${words//$'\n'/ } " == *" $w "* ]] || missing="$missing $w"
done
[[ -z "$missing" ]] && grep -q "'$(echo "$words" | head -1 | cut -d' ' -f1):" "$REPO/tools/completion/_mtaguardctl" &&
	pass "bash completion: the $(echo "$words" | head -1 | wc -w) commands and $(echo "$words" | tail -1 | wc -w) options of --help" ||
	fail "bash completion lacks:$missing"
nspawn_boot || fatal "the container did not boot"
pass "a Debian 12 container booted with systemd as PID 1 ($((SECONDS - T0)) s)"

# --- the package --------------------------------------------------------------------------
ns_install_deb "$deb" >"$LAB_DIR/dpkg.log" 2>&1 && pass "dpkg -i installs the package" ||
	{ cat "$LAB_DIR/dpkg.log"; fatal "dpkg -i"; }
conffiles="$(ns_run dpkg-query -W -f '${Conffiles}\n' mtaguard)"
grep -q /etc/mtaguard/mtaguard.json <<<"$conffiles" && grep -q /etc/logrotate.d/mtaguard <<<"$conffiles" &&
	pass "the config and the logrotate file are conffiles" || fail "conffiles: $conffiles"
[[ "$(ns_run systemctl is-enabled mtaguardd 2>&1)" == disabled ]] && [[ "$(ns_run systemctl is-active mtaguardd 2>&1)" == inactive ]] &&
	pass "installed, not started: the default config names no interface" || fail "unit state after install"
# (minbase has no man: the Documentation= lines cannot be checked in it.)
version="$(basename "$deb" | cut -d_ -f2)"
versions="$(ns_run sh -c 'for p in mtaguardd mtaguardctl mtaguard-replay mtaguard-loader mtaguard-flowspec; do $p --version; done')"
[[ "$versions" == "$(printf '%s '"$version"'\n' mtaguardd mtaguardctl mtaguard-replay mtaguard-loader mtaguard-flowspec | head -c -1)" ]] &&
	pass "--version on every program says the package's $version" || fail "--version: $versions"
got="$(ns_run bash -c '. /usr/share/bash-completion/completions/mtaguardctl; COMP_WORDS=(mtaguardctl monitor o); COMP_CWORD=2; _mtaguardctl; echo "${COMPREPLY[*]}"')"
[[ "$got" == "on off" ]] && ns_run test -s /usr/share/zsh/vendor-completions/_mtaguardctl &&
	pass "bash and zsh completion installed (mtaguardctl monitor <TAB>: $got)" || fail "completion: '$got'"
v="$(ns_run systemd-analyze verify /lib/systemd/system/mtaguardd.service 2>&1 | grep -v "Command 'man " || true)"
[[ -z "$v" ]] && pass "systemd-analyze verify: the unit is clean" || fail "systemd-analyze verify: $v"

# --- the relay: Postfix, the drop-in, the config ---------------------------------------------
ns_host pc 4
ns_postfix_relay || fatal "Postfix"
ns_run grep -q 'check_policy_service unix:mtaguard/policy' /etc/postfix/main.cf ||
	fatal "the packaged Postfix example was not taken: $(ns_run postconf smtpd_recipient_restrictions)"
ns_run mkdir -p /var/lib/prometheus/node-exporter
ns_mtaguard_relay <<'EOF' && pass "systemctl enable --now mtaguardd (relay drop-in)" || fatal "the unit did not start"
{
  "interfaces": [ "in4" ],
  "quarantine": { "policy_listen": "unix:/var/spool/postfix/mtaguard/policy", "threshold": 0, "clamav": false },
  "metrics": { "textfile": "/var/lib/prometheus/node-exporter/mtaguard.prom", "listen": "127.0.0.1:9477", "interval": "1s" },
  "log_file": "/var/log/mtaguard/events.jsonl"
}
EOF
[[ "$(ns_run stat -c '%a %G' /var/spool/postfix/mtaguard/policy)" == "660 postfix" ]] &&
	[[ "$(ns_run stat -c '%a %U %G' /var/spool/postfix/mtaguard)" == "750 root postfix" ]] &&
	pass "the policy socket: 0660 group postfix, in a root:postfix 0750 directory in Postfix's queue" ||
	fail "socket: $(ns_run ls -la /var/spool/postfix/mtaguard)"
ctl() { ns_run mtaguardctl "$@"; }
ctl status >/dev/null && pass "mtaguardctl reaches the daemon (default control socket)" || fail "ctl status"
ns_run systemd-analyze security mtaguardd --no-pager >"$LAB_DIR/security" 2>&1 || true
score="$(grep -o 'Overall exposure level for mtaguardd.service: .*' "$LAB_DIR/security" | sed 's/\x1b\[[0-9;]*m//g')"
[[ -n "$score" ]] && pass "systemd-analyze security: ${score#*: }" || fail "systemd-analyze security: $(tail -3 "$LAB_DIR/security")"
lab_wait "metrics textfile" ns_run test -s /var/lib/prometheus/node-exporter/mtaguard.prom &&
	[[ "$(ns_run stat -c %a /var/lib/prometheus/node-exporter/mtaguard.prom)" == 644 ]] &&
	pass "metrics.textfile written where node_exporter reads it (0644)" || fail "no metrics textfile"

# --- monitoring: the alert rules are valid, the dashboard asks only for metrics that exist ---------
ns_run promtool check rules /usr/share/mtaguard/prometheus-alerts.yml >"$LAB_DIR/promtool" 2>&1 &&
	pass "promtool check rules: $(grep -o 'SUCCESS: [0-9]* rules found' "$LAB_DIR/promtool")" ||
	fail "promtool: $(cat "$LAB_DIR/promtool")"
scrape() { ns_run bash -c 'exec 3<>/dev/tcp/127.0.0.1/9477 && printf "GET /metrics HTTP/1.0\r\n\r\n" >&3 && cat <&3'; }
lab_wait "metrics served" bash -c "nsenter -t $NSPAWN_LEADER -a -- bash -c 'exec 3<>/dev/tcp/127.0.0.1/9477'" || fail "no metrics endpoint"
scrape >"$LAB_DIR/scrape" 2>&1 || true
missing=""
for m in $(grep -oh 'mtaguard_[a-z_]*' "$REPO/tools/monitoring/grafana-dashboard.json" "$REPO/tools/monitoring/prometheus-alerts.yml" |
	sort -u); do
	grep -qE "^$m[ {]" "$LAB_DIR/scrape" || missing="$missing $m"
done
[[ -z "$missing" ]] && pass "every metric the dashboard and the alert rules use is in a live scrape ($(grep -c '^mtaguard_' "$LAB_DIR/scrape") samples)" ||
	fail "not in the scrape:$missing"

# --- a suspect's mail: held, listed, released ---------------------------------------------------
smtp() { # TAG SERVER HELO: one message from the PC
	ns_run ip netns exec pc swaks --server "$2" --port 25 --timeout 6 --from "user@pc.lab.test" \
		--to "rcpt@lab.test" --ehlo "$3" --header "X-Tag: $1" >"$LAB_DIR/swaks-$1.log" 2>&1
}
delivered() { ns_run grep -qs "X-Tag: $1" /var/mail/rcpt; }
role_is() { [[ "$(ctl --json show "$1" | jq -r .role)" == "$2" ]]; }
smtp direct-1 198.18.4.1 "[198.18.4.2]" || true
lab_wait "the PC a suspect" role_is 198.18.4.2 suspect && pass "the PC delivering by itself is a suspect" ||
	fail "role: $(ctl --json show 198.18.4.2)"
smtp direct-2 198.18.4.1 "[198.18.4.2]" || true
held() { ctl --json quarantine list | jq -e '.held[] | select(.client == "198.18.4.2")' >/dev/null; }
lab_wait "held" held && pass "its next message is held (Postfix asked through the socket; postqueue -j works)" ||
	fail "not held: $(ctl --json quarantine list 2>&1); $(ns_run tail -5 /var/log/postfix.log)"
ctl quarantine list | grep -c 198.18.4.2 >/dev/null && pass "mtaguardctl quarantine list (text)" || fail "text list"
id="$(ctl --json quarantine list | jq -r '.held[] | select(.client == "198.18.4.2") | .queue_id' | tail -1)"
tag="$(ns_run postcat -hq "$id" 2>/dev/null | sed -n 's/^X-Tag: //p')"
out="$(ctl quarantine release "$id" 2>&1)" && lab_wait "delivered" delivered "$tag" &&
	pass "mtaguardctl quarantine release: $tag delivered (postsuper -H, postqueue -i)" ||
	fail "release $id ($tag): $out"

# --- a spam bot: blocked, in the journal at warning, enforcement through reload and restart ----------
blocked() { ctl --json verdicts | jq -e '.verdicts[] | select(.source == "198.18.4.2")' >/dev/null; }
for i in $(seq 1 18); do
	blocked && break
	smtp "spam-$i" "198.19.0.$(((i - 1) % 6 + 1))" "[198.18.4.2]" || true
done
lab_wait "verdict" blocked && pass "the bot is blocked by a verdict" || fatal "no verdict: $(ctl verdicts)"
lab_wait "journal" bash -c "nsenter -t $NSPAWN_LEADER -a -- journalctl -u mtaguardd -p warning --no-pager -o cat |
	grep -q 'BLOCK 198.18.4.2'" && pass "journalctl -p warning shows the block" ||
	fail "journal -p warning: $(ns_run journalctl -u mtaguardd -p warning --no-pager -o cat | tail -5)"
ns_run cat /var/log/mtaguard/events.jsonl | grep '"event":"verdict"' | grep -q '198\.18\.4\.2' &&
	pass "log_file in /var/log/mtaguard (LogsDirectory, under ProtectSystem=strict) has the verdict" ||
	fail "log_file: $(ns_run ls -la /var/log/mtaguard 2>&1 | tail -3)"
dups="$(ns_run journalctl -u mtaguardd -p info --no-pager -o cat | grep -c '198.18.4.2' || true)"
jsons="$(ns_run journalctl -u mtaguardd -p info --no-pager -o cat | grep -c '^{' || true)"
((jsons == 0)) && pass "one readable line per event at info and above (the JSON lines are at debug, $dups lines name the bot)" ||
	fail "$jsons JSON lines at info or above"
drops() { ctl --json status | jq -r '.kernel.dropped'; }
refused() { ! ns_run ip netns exec pc timeout 3 bash -c 'exec 3<>/dev/tcp/198.19.0.1/25' 2>/dev/null; }
refused && pass "its SYNs are dropped" || fail "the bot still connects"
ns_run systemctl reload mtaguardd && lab_wait "reloaded" ns_run sh -c \
	'journalctl -u mtaguardd --no-pager -o cat | grep -q reloaded' && pass "systemctl reload" || fail "reload"
before="$(drops)"
refused && (($(drops) > before)) && pass "after the reload, still dropped in the kernel" || fail "enforcement lost after reload"
# A bad file: `systemctl reload` fails with its line and column (ExecReload's --check), the daemon runs on.
cp "$NSPAWN_DIR/etc/mtaguard/mtaguard.json" "$LAB_DIR/good.json"
printf '{ "interfaces": [ "in4" ],\n  "scan_interval": "5h" }\n' >"$NSPAWN_DIR/etc/mtaguard/mtaguard.json"
if ns_run systemctl reload mtaguardd >"$LAB_DIR/bad-reload.log" 2>&1; then
	fail "systemctl reload took a bad file"
elif ns_run journalctl -u mtaguardd --no-pager -o cat | grep -q 'mtaguard.json:2:[0-9]*: "scan_interval"' &&
	[[ "$(ns_run systemctl is-active mtaguardd)" == active ]] && ctl status >/dev/null; then
	pass "systemctl reload with a bad file fails, the journal names its line and column, the daemon runs on"
else
	fail "bad reload: $(ns_run journalctl -u mtaguardd --no-pager -o cat | tail -3)"
fi
cp "$LAB_DIR/good.json" "$NSPAWN_DIR/etc/mtaguard/mtaguard.json"
ns_run systemctl restart mtaguardd && pass "systemctl restart" || fail "restart"
refused && pass "straight after the restart, still dropped (the pinned program never left)" || fail "enforcement lost at restart"
lab_wait "daemon back" ctl status && blocked && pass "the verdict is back from the state file" || fail "verdict lost at restart"
[[ "$(ns_run systemctl is-active mtaguardd)" == active ]] && pass "the unit is active" || fail "unit not active"

# --- removal ---------------------------------------------------------------------------------
ns_run rm /etc/systemd/system/mtaguardd.service.d/postfix-relay.conf
ns_run env DEBIAN_FRONTEND=noninteractive dpkg --purge mtaguard >"$LAB_DIR/purge.log" 2>&1 && pass "dpkg --purge" ||
	fail "purge: $(cat "$LAB_DIR/purge.log")"
! ns_run test -e /sys/fs/bpf/mtaguard && ! ns_run test -e /var/lib/mtaguard && ! ns_run test -e /etc/mtaguard/mtaguard.json &&
	! ns_run test -e /var/log/mtaguard &&
	pass "purged: the program detached, state, logs and config gone" ||
	fail "left behind: $(ns_run ls /sys/fs/bpf /var/lib /var/log /etc/mtaguard 2>&1)"
! ns_run ip netns exec pc timeout 3 bash -c 'exec 3<>/dev/tcp/198.19.0.1/25' 2>/dev/null &&
	fail "still dropped after the package is gone" || pass "after removal the bot connects again (nothing left enforcing)"

echo "e2e_systemd: $((SECONDS - T0)) s"
if ((FAILS)); then
	echo "e2e_systemd: $FAILS check(s) failed"
	exit 1
fi
echo "e2e_systemd: all checks passed"
