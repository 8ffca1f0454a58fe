# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-only
#
# lab.sh - a small library for network-namespace labs, sourced by the
# selftests/e2e_*.sh scripts.
#
#   . "$(dirname "$0")/lab.sh"
#   lab_init                                  # temp dir + cleanup trap
#   lab_netns srv; lab_netns cli              # -> "$(lab_ns srv)" is the real name
#   lab_veth srv mga0 cli eth0                # veth pair between two lab namespaces
#   lab_addr srv mga0 198.18.1.1/24 2001:db8:1::1/64
#   lab_postfix_start srv 198.18.1.1          # a sink for @$LAB_MAIL_DOMAIN
#   lab_run cli swaks ...                     # run a command inside a namespace
#   lab_defer cmd args...                     # run at cleanup, before namespaces go
#
# Everything this file creates carries a per-run prefix (mg-<pid>-), so
# parallel runs do not collide, and everything is undone by lab_cleanup, which
# lab_init registers for EXIT, INT, TERM and HUP: the cleanup runs when a test
# fails midway, too.  Labs use only documentation/benchmark ranges:
# 198.18.0.0/15 and 2001:db8::/32.
#
# Veth pairs are only ever created with both ends inside lab namespaces:
# deleting a namespace then deletes its veths, and no interface name in the
# root namespace can clash with another run.
#
# The library does not depend on anything outside the repository and the
# Debian packages listed in the Makefile's "deps" target.

# Guard against double sourcing: the arrays below would be reset.
if [[ -n "${LAB_SH_LOADED:-}" ]]; then
	return 0
fi
LAB_SH_LOADED=1

# Per-run identity: $$ is the PID of the test script (also in subshells).
LAB_ID="${LAB_ID:-$$}"
LAB_PREFIX="mg-${LAB_ID}-"
# Every wait in the lab is bounded by this many seconds unless told otherwise.
LAB_WAIT_TIMEOUT="${LAB_WAIT_TIMEOUT:-20}"
LAB_MAIL_DOMAIN="${LAB_MAIL_DOMAIN:-lab.test}"

LAB_DIR=""             # temp dir holding Postfix instances, logs, mailboxes
LAB_NETNS=()           # namespaces created (real names)
LAB_PIDS=()            # background processes started with lab_bg
LAB_DEFERRED=()        # shell-quoted commands run (LIFO) by lab_cleanup
LAB_PF_INSTANCES=()    # "NS<TAB>CONFIG_DIR" of each started Postfix
LAB_PF_ACD=()          # config dirs we added to alternate_config_directories
LAB_CLEANED=""
LAB_VERBOSE="${LAB_VERBOSE:-0}"

# The default instance's main.cf authorises alternate config directories;
# edits to it are serialised between parallel runs with this lock.
LAB_PF_MAIN_CF=/etc/postfix/main.cf
LAB_PF_LOCK=/run/lock/mtaguard-lab-postfix.lock
LAB_PF_MARKER="# created by mtaguard selftests/lab.sh; removed when no lab uses it"

lab_log() { printf '# %s\n' "$*" >&2; }
lab_die() { printf 'lab: error: %s\n' "$*" >&2; exit 1; }

# jq -e exits 0 when it is given no input at all: `ctl --json show X | jq -e
# '.role == "blocked"'` would pass with the daemon dead. In the tests, -e
# (as the first argument) also fails when jq printed nothing, i.e. when
# there was nothing to test. Exported, so `bash -c` polls get it too.
jq() {
	if [[ "${1:-}" == "-e" ]]; then
		local out rc=0
		out="$(command jq "$@")" || rc=$?
		[[ -n "$out" ]] || return 1
		printf '%s\n' "$out"
		return "$rc"
	fi
	command jq "$@"
}
export -f jq

# lab_skip REASON: exit with the selftest "skip" code (77).
lab_skip() { printf 'SKIP: %s\n' "$*"; exit 77; }

# lab_require_root / lab_require_cmds CMD...: skip (77) when the lab cannot run.
lab_require_root() {
	[[ "$(id -u)" -eq 0 ]] || lab_skip "needs root (network namespaces, XDP, Postfix)"
}
lab_require_cmds() {
	local c missing=()
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || missing+=("$c")
	done
	((${#missing[@]} == 0)) || lab_skip "missing tools: ${missing[*]} (see 'make deps')"
}

# lab_init: create the run's temp dir and install the cleanup traps.
lab_init() {
	LAB_DIR="$(mktemp -d /tmp/mg-lab.XXXXXX)"
	# Postfix daemons (user postfix) and the mailbox owner must traverse it.
	chmod 0755 "$LAB_DIR"
	# INT/TERM/HUP only exit with the conventional status; the EXIT trap
	# then does the work, exactly once, whatever ended the script.
	trap 'lab_cleanup' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP
}

# lab_ns SHORT: the real name of lab namespace SHORT.
lab_ns() { printf '%s%s' "$LAB_PREFIX" "$1"; }

# lab_netns SHORT...: create namespaces, with lo up and IPv6 DAD off, so
# addresses are usable the moment they are assigned.
lab_netns() {
	local short ns
	for short in "$@"; do
		ns="$(lab_ns "$short")"
		ip netns add "$ns"
		LAB_NETNS+=("$ns")
		ip -n "$ns" link set lo up
		# Devices copy "default" when they are registered, so this must
		# precede the veths.  nodad on each address covers global ones;
		# this covers the link-local addresses that ND is sent from.
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.accept_dad=0 \
			net.ipv6.conf.all.accept_dad=0
	done
}

# lab_veth NS_A DEV_A NS_B DEV_B: a veth pair, one end in each namespace
# (short names), both brought up.
lab_veth() {
	local a b
	a="$(lab_ns "$1")"
	b="$(lab_ns "$3")"
	ip link add "$2" netns "$a" type veth peer name "$4" netns "$b"
	ip -n "$a" link set "$2" up
	ip -n "$b" link set "$4" up
}

# lab_addr NS DEV ADDR/LEN...: assign addresses; only 198.18.0.0/15 and
# 2001:db8::/32 are accepted, so a lab can never shadow real networks.
lab_addr() {
	local ns dev a
	ns="$(lab_ns "$1")"
	dev="$2"
	shift 2
	for a in "$@"; do
		case "$a" in
		198.18.* | 198.19.*)
			ip -n "$ns" addr add "$a" dev "$dev" ;;
		2001:db8:* | 2001:DB8:*)
			ip -n "$ns" -6 addr add "$a" dev "$dev" nodad ;;
		*)
			lab_die "address $a is outside 198.18.0.0/15 and 2001:db8::/32" ;;
		esac
	done
}

# lab_run NS CMD...: run CMD inside lab namespace NS (full mount isolation
# of "ip netns exec": /sys is remounted, bpffs pins are not visible).
lab_run() {
	local ns
	ns="$(lab_ns "$1")"
	shift
	ip netns exec "$ns" "$@"
}

# lab_nsenter NS CMD...: run CMD in NS's network namespace only, keeping the
# root mount namespace, so /sys/fs/bpf pins stay visible (for the loader).
lab_nsenter() {
	local ns
	ns="$(lab_ns "$1")"
	shift
	nsenter --net="/run/netns/$ns" -- "$@"
}

# lab_bg NS CMD...: start CMD in the background inside NS; lab_cleanup kills it.
# The PID is left in LAB_LAST_PID.
lab_bg() {
	lab_run "$@" &
	LAB_LAST_PID=$!
	LAB_PIDS+=("$LAB_LAST_PID")
}

# lab_defer CMD...: run CMD (quoted now) at cleanup, newest first, before
# Postfix is stopped and namespaces are deleted.
lab_defer() {
	local q
	printf -v q '%q ' "$@"
	LAB_DEFERRED+=("$q")
}

# lab_mtaguardd NS BUILD PIN CONF [NAME]: start BUILD/mtaguardd with CONF in
# NS's network namespace only (nsenter keeps the root mount namespace, so the
# pins under PIN stay visible), its stderr in LAB_DIR/daemon.err (or
# daemon-NAME.err: several daemons, one each); LAB_DPID is the daemon itself.
# The cleanup (stop it, unload and remove PIN) is deferred.
lab_mtaguardd() {
	local err="$LAB_DIR/daemon${5:+-$5}.err"
	nsenter --net="/run/netns/$(lab_ns "$1")" -- "$2/mtaguardd" -c "$4" 2>"$err" &
	LAB_DPID=$!
	lab_defer lab_mtaguardd_stop "$2" "$3" "$LAB_DPID"
}

# lab_mtaguardd_stop BUILD PIN PID: what lab_mtaguardd defers.
lab_mtaguardd_stop() {
	kill "$3" 2>/dev/null && wait "$3" 2>/dev/null
	[[ -d "$2" ]] && "$1/mtaguard-loader" -p "$2" unload 2>/dev/null
	rm -rf -- "$2"
	return 0
}

# lab_wait [-t SECONDS] DESCRIPTION CMD...: poll CMD until it succeeds; fail
# (return 1, with a message) after SECONDS (default LAB_WAIT_TIMEOUT).
lab_wait() {
	local limit="$LAB_WAIT_TIMEOUT" what deadline
	if [[ "${1:-}" == "-t" ]]; then
		limit="$2"
		shift 2
	fi
	what="$1"
	shift
	deadline=$((SECONDS + limit))
	while ! "$@" >/dev/null 2>&1; do
		if ((SECONDS >= deadline)); then
			printf 'lab: timed out after %ss waiting for %s\n' "$limit" "$what" >&2
			return 1
		fi
		sleep 0.1
	done
}

# lab_lines_gt FILE PATTERN N: more than N lines of FILE hold PATTERN (fixed
# text). A command for lab_wait, which runs it at every poll: a condition
# written as `test "$(grep -c ...)" -gt N` would be counted once, before the
# first poll, and a line written later could never make it true.
lab_lines_gt() {
	local n
	n="$(grep -cF -- "$2" "$1" 2>/dev/null)" || n=0
	((n > $3))
}

# lab_bpffs: make sure bpffs is mounted where pins are expected.
lab_bpffs() {
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
}

# --- Postfix ----------------------------------------------------------------

# _lab_pf_authorise DIR add|remove: edit alternate_config_directories of the
# default instance, without which "postfix -c DIR" refuses DIR.  The default
# main.cf is created from the packaged prototype if absent (a fresh Debian
# install with "No configuration" has none).
_lab_pf_authorise() {
	local dir="$1" op="$2"
	(
		flock -w "$LAB_WAIT_TIMEOUT" 9 || exit 1
		if [[ ! -e "$LAB_PF_MAIN_CF" ]]; then
			[[ "$op" == add ]] || exit 0
			# The marker lets the last run to finish delete the file
			# again, leaving the system as it found it.
			{
				echo "$LAB_PF_MARKER"
				cat /etc/postfix/main.cf.proto 2>/dev/null ||
					cat /usr/share/postfix/main.cf.dist 2>/dev/null || true
			} >"$LAB_PF_MAIN_CF"
		fi
		local cur d out=()
		cur="$(postconf -c /etc/postfix -h alternate_config_directories 2>/dev/null || true)"
		for d in ${cur//,/ }; do
			[[ "$d" == "$dir" ]] || out+=("$d")
		done
		[[ "$op" == add ]] && out+=("$dir")
		if ((${#out[@]} == 0)) && [[ "$(head -n 1 "$LAB_PF_MAIN_CF")" == "$LAB_PF_MARKER" ]]; then
			rm -f -- "$LAB_PF_MAIN_CF"
		else
			postconf -c /etc/postfix -e "alternate_config_directories = ${out[*]}"
		fi
	) 9>"$LAB_PF_LOCK"
}

# lab_postfix_start NS [ADDR...]: start a Postfix instance inside NS that
# listens on ADDR (default: every address of the namespace) and accepts any
# mail for @$LAB_MAIL_DOMAIN from the lab ranges, delivering each recipient's
# copy into one Maildir (lab_mail_count counts it).  Returns once port 25
# listens, or fails after LAB_WAIT_TIMEOUT seconds.
lab_postfix_start() {
	local short="$1" ns base cfg a ifaces=()
	shift
	ns="$(lab_ns "$short")"
	[[ -n "$LAB_DIR" ]] || lab_die "lab_init first"
	base="$LAB_DIR/postfix-$short"
	cfg="$base/etc"
	mkdir -p "$cfg" "$base/queue" "$base/data" "$base/mail" "$base/log"
	# Queue dir root-owned (postfix-script creates its subdirectories with
	# the right owners); data dir and mailboxes owned by their writers.
	chown postfix: "$base/data"
	chmod 0700 "$base/data"
	chown nobody:nogroup "$base/mail"

	for a in "$@"; do
		case "$a" in
		*:*) ifaces+=("[$a]") ;;
		*) ifaces+=("$a") ;;
		esac
	done
	((${#ifaces[@]})) || ifaces=(all)

	cp /etc/postfix/master.cf "$cfg/master.cf"
	# The sink: everything for the test domain goes to one Maildir via
	# virtual(8) with static maps, so no Unix account is needed per
	# recipient.  smtpd_peername_lookup=no and no DNS: the lab is offline
	# and reverse lookups would only add delays.  No TLS is offered, so
	# clients speak plain SMTP and every command is visible to XDP.
	cat >"$cfg/main.cf" <<-EOF
		# Generated by selftests/lab.sh for namespace $ns; deleted at cleanup.
		compatibility_level = 3.6
		multi_instance_name = postfix-$ns
		syslog_name = postfix-$ns
		config_directory = $cfg
		queue_directory = $base/queue
		data_directory = $base/data
		maillog_file = $base/log/maillog
		maillog_file_prefixes = $base/log
		inet_interfaces = ${ifaces[*]}
		inet_protocols = all
		myhostname = mx.$LAB_MAIL_DOMAIN
		mydomain = $LAB_MAIL_DOMAIN
		myorigin = \$myhostname
		mydestination =
		local_recipient_maps =
		mynetworks = 127.0.0.0/8 [::1]/128 198.18.0.0/15 [2001:db8::]/32
		relay_domains =
		virtual_mailbox_domains = $LAB_MAIL_DOMAIN
		virtual_mailbox_base = $base/mail
		virtual_mailbox_maps = static:sink/
		virtual_uid_maps = static:$(id -u nobody)
		virtual_gid_maps = static:$(id -g nobody)
		virtual_minimum_uid = 1
		smtpd_peername_lookup = no
		smtp_dns_support_level = disabled
		smtpd_tls_security_level = none
		smtp_tls_security_level = none
		biff = no
		append_dot_mydomain = no
		smtputf8_enable = no
		alias_maps =
		alias_database =
	EOF
	# Debian's master.cf chroots most daemons into the queue directory, which
	# would need copies of /etc files there; a test instance does not need it.
	postconf -c "$cfg" -F '*/*/chroot = n'

	# Recorded before the edit: a run killed in between must still undo it at cleanup.
	LAB_PF_ACD+=("$cfg")
	_lab_pf_authorise "$cfg" add || lab_die "cannot edit $LAB_PF_MAIN_CF"
	LAB_PF_INSTANCES+=("$ns"$'\t'"$cfg")
	if ! ip netns exec "$ns" postfix -c "$cfg" start >"$base/log/start.out" 2>&1; then
		cat "$base/log/start.out" "$base/log/maillog" >&2 2>/dev/null || true
		lab_die "postfix did not start in $ns"
	fi
	if ! lab_wait "postfix in $ns to listen on port 25" \
		lab_run "$short" sh -c "ss -Hltn 'sport = :25' | grep -q ."; then
		cat "$base/log/maillog" >&2 2>/dev/null || true
		return 1
	fi
}

# lab_postfix_submission NS: also accept mail on the submission port (587),
# as an organisation's relay does for its users' mail clients.
lab_postfix_submission() {
	local cfg
	cfg="$(lab_postfix_dir "$1")/etc"
	postconf -c "$cfg" -M "submission/inet=submission inet n - n - - smtpd" || return 1
	ip netns exec "$(lab_ns "$1")" postfix -c "$cfg" reload >/dev/null 2>&1 || return 1
	lab_wait "postfix in $1 to listen on port 587" \
		lab_run "$1" sh -c "ss -Hltn 'sport = :587' | grep -q ."
}

# lab_postfix_dir NS: the instance's base dir (etc/ queue/ mail/ log/).
lab_postfix_dir() { printf '%s/postfix-%s' "$LAB_DIR" "$1"; }

# lab_mail_count NS [TEXT]: number of messages delivered into NS's sink,
# or only those containing TEXT (a header tag, say).
lab_mail_count() {
	local dir n
	dir="$(lab_postfix_dir "$1")/mail/sink"
	[[ -d "$dir" ]] || { echo 0; return 0; }
	if [[ -n "${2:-}" ]]; then
		n="$(grep -rlF -- "$2" "$dir/new" "$dir/cur" 2>/dev/null | wc -l)"
	else
		n="$(find "$dir/new" "$dir/cur" -type f 2>/dev/null | wc -l)"
	fi
	echo "$((n))"
}

# lab_wait_mail NS TEXT N: wait (bounded) until N messages containing TEXT
# arrived in NS's sink.
lab_wait_mail() {
	lab_wait "$3 message(s) with '$2' in the sink of $1" \
		_lab_mail_at_least "$1" "$2" "$3"
}
_lab_mail_at_least() { (($(lab_mail_count "$1" "$2") >= $3)); }

# lab_postfix_log NS: print the instance's log (for failure reports).
lab_postfix_log() { cat "$(lab_postfix_dir "$1")/log/maillog" 2>/dev/null || true; }

# --- Cleanup ----------------------------------------------------------------

# lab_cleanup: undo everything, in dependency order, whatever state the run
# is in.  Each step tolerates the things it removes being already gone.
lab_cleanup() {
	local rc=$? i ns cfg pid entry pids
	[[ -z "$LAB_CLEANED" ]] || return "$rc"
	LAB_CLEANED=1
	set +e
	trap '' INT TERM HUP # finish cleaning even if interrupted again

	# 1. Test-registered undo steps (e.g. detach XDP, remove pins), newest
	#    first, while the namespaces they refer to still exist.
	for ((i = ${#LAB_DEFERRED[@]} - 1; i >= 0; i--)); do
		eval "${LAB_DEFERRED[i]}"
	done

	# 2. Postfix: "stop" waits up to 5 s, then kills the master's group.
	for entry in "${LAB_PF_INSTANCES[@]}"; do
		ns="${entry%%$'\t'*}"
		cfg="${entry#*$'\t'}"
		if [[ -e "/run/netns/$ns" ]]; then
			ip netns exec "$ns" postfix -c "$cfg" stop >/dev/null 2>&1
		else
			postfix -c "$cfg" stop >/dev/null 2>&1
		fi
	done
	for cfg in "${LAB_PF_ACD[@]}"; do
		_lab_pf_authorise "$cfg" remove
	done

	# 3. Background processes we started, then anything still running in
	#    our namespaces (children of the above): a namespace with a live
	#    process outlives "ip netns del".
	for pid in "${LAB_PIDS[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${LAB_PIDS[@]}"; do
		wait "$pid" 2>/dev/null
	done
	for ns in "${LAB_NETNS[@]}"; do
		[[ -e "/run/netns/$ns" ]] || continue
		for i in 1 2 3 4 5 6 7 8 9 10; do
			mapfile -t pids < <(ip netns pids "$ns" 2>/dev/null)
			((${#pids[@]})) || break
			if ((i < 10)); then kill "${pids[@]}" 2>/dev/null; else kill -9 "${pids[@]}" 2>/dev/null; fi
			sleep 0.2
		done
	done

	# 4. Namespaces (and with them every veth inside).
	for ((i = ${#LAB_NETNS[@]} - 1; i >= 0; i--)); do
		ns="${LAB_NETNS[i]}"
		[[ -e "/run/netns/$ns" ]] && ip netns del "$ns"
	done

	# 5. Files, unless asked to keep them for a post-mortem.
	if [[ -n "$LAB_DIR" && -d "$LAB_DIR" ]]; then
		if [[ "${LAB_KEEP:-0}" == 1 ]]; then
			lab_log "kept $LAB_DIR (LAB_KEEP=1)"
		else
			rm -rf -- "$LAB_DIR"
		fi
	fi
	return "$rc"
}
