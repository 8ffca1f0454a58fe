# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-only
#
# lib_nspawn.sh - a Debian 12 machine booted with real systemd as PID 1, for
# the tests that need the shipped unit to run as an operator's would
# (e2e_systemd.sh, e2e_clamav.sh). Sourced after lab.sh (lab_init,
# lab_defer, lab_wait).
#
#   nspawn_root                    # the cached root file system (built once)
#   nspawn_boot                    # overlay on it, boot it; torn down by lab_cleanup
#   ns_run CMD...                  # run a command inside (all of its namespaces)
#   ns_install_deb FILE            # dpkg -i inside
#   ns_host NAME N                 # a host in a namespace inside: 198.18.N.2, its relay 198.18.N.1 on inN
#   ns_postfix_relay               # Postfix on the container asking mtaguardd; "MX" hosts 198.19.0.1-6
#   ns_mtaguard_relay < CONFIG     # the unit with the relay drop-in and this mtaguard.json, started
#
# The root comes from mmdebstrap with the machine's own apt sources (the only
# network the test uses) and is cached under $NSPAWN_CACHE, keyed by what
# goes into it, so only the first run on a machine pays for it (~95 s with
# Postfix, ClamAV and promtool; ~600 MB). Each boot writes to an overlay in the lab's temp dir:
# the cached root is never changed. The container has its own network
# namespace (--private-network) and its own bpffs: XDP programs are
# host-wide objects, and the test must never touch anything of the host's.

NSPAWN_CACHE="${NSPAWN_CACHE:-/var/cache/mtaguard-test}"
NSPAWN_SUITE=bookworm
# What the tests run inside: systemd, Postfix, ClamAV, swaks, promtool (from
# prometheus: its server never runs), and the
# libraries the package depends on (the container has no network, so
# dpkg -i cannot fetch them).
NSPAWN_PACKAGES="systemd,systemd-sysv,dbus,iproute2,procps,passwd,jq,socat,swaks,postfix,clamav-daemon,clamdscan,prometheus,\
libbpf1,libelf1,zlib1g,libjansson4,libmicrohttpd12,libsystemd0,libpcap0.8,libnats3.4,libc-ares2,libspf2-2"
# Postfix installed unconfigured (the test writes its main.cf). freshclam
# never runs: the tests use a locally written signature and no network;
# Debian's clamav-daemon unit is masked too (it refuses to start without
# the official databases; the tests start clamd with their own config).
NSPAWN_ESSENTIAL_HOOK='echo "postfix postfix/main_mailer_type select No configuration" | chroot "$1" debconf-set-selections'
NSPAWN_CUSTOMIZE_HOOK='chroot "$1" systemctl mask clamav-freshclam.service clamav-daemon.service prometheus.service prometheus-node-exporter.service'
NSPAWN_BOOT_TIMEOUT="${NSPAWN_BOOT_TIMEOUT:-60}"

NSPAWN_PID=""   # systemd-nspawn on the host
NSPAWN_LEADER="" # the container's PID 1, as the host sees it
NSPAWN_DIR=""   # the merged overlay the container runs on
NSPAWN_NAME=""

# The machine's apt sources, as files mmdebstrap reads.
_nspawn_sources() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[[ -s "$f" ]] && printf '%s\n' "$f"
	done
	return 0
}

# nspawn_root: print the cached root's path, building it first if needed.
nspawn_root() {
	local key dir srcs=()
	mapfile -t srcs < <(_nspawn_sources)
	((${#srcs[@]})) || lab_die "no apt sources on this machine"
	key="$( { echo "$NSPAWN_SUITE $NSPAWN_PACKAGES"; echo "$NSPAWN_ESSENTIAL_HOOK"; echo "$NSPAWN_CUSTOMIZE_HOOK"
		cat "${srcs[@]}"; } | sha256sum | cut -c1-16)"
	dir="$NSPAWN_CACHE/root-$key"
	mkdir -p "$NSPAWN_CACHE"
	# One builder at a time; a half-built root is never seen under its final name.
	(
		flock 9
		if [[ -d "$dir" ]]; then
			touch "$dir" # in use: kept by the pruning below
			exit 0
		fi
		# Roots of other package lists not used for a week: gone (each is ~600 MB).
		find "$NSPAWN_CACHE" -maxdepth 1 -name 'root-*' -type d -mtime +7 -exec rm -rf {} + 2>/dev/null
		rm -rf "$dir.tmp"
		lab_log "building the container root (first run on this machine): $dir"
		mmdebstrap --quiet --variant=minbase --include="$NSPAWN_PACKAGES" \
			--essential-hook="$NSPAWN_ESSENTIAL_HOOK" --customize-hook="$NSPAWN_CUSTOMIZE_HOOK" \
			"$NSPAWN_SUITE" "$dir.tmp" "${srcs[@]}" >"$LAB_DIR/mmdebstrap.log" 2>&1 ||
			{ tail -20 "$LAB_DIR/mmdebstrap.log" >&2; rm -rf "$dir.tmp"; exit 1; }
		mv "$dir.tmp" "$dir"
	) 9>"$NSPAWN_CACHE/.lock" || return 1
	printf '%s\n' "$dir"
}

# The container's PID 1: the "systemd" process below systemd-nspawn.
_nspawn_leader() {
	local p kids
	p="$NSPAWN_PID"
	for _ in 1 2 3 4; do
		kids="$(ps -o pid= --ppid "$p" | tr -d ' ' | head -1)"
		[[ -n "$kids" ]] || return 1
		p="$kids"
		[[ "$(cat "/proc/$p/comm" 2>/dev/null)" == systemd ]] && { printf '%s\n' "$p"; return 0; }
	done
	return 1
}

ns_run() { nsenter -t "$NSPAWN_LEADER" -a -- "$@"; }

_nspawn_stop() {
	if [[ -n "$NSPAWN_PID" ]] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
		# SIGTERM: nspawn asks the container's systemd to power off.
		kill -TERM "$NSPAWN_PID" 2>/dev/null
		for _ in $(seq 1 100); do
			kill -0 "$NSPAWN_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$NSPAWN_PID" 2>/dev/null
		wait "$NSPAWN_PID" 2>/dev/null
	fi
	if [[ -n "$NSPAWN_DIR" ]]; then
		umount "$NSPAWN_DIR" 2>/dev/null || umount -l "$NSPAWN_DIR" 2>/dev/null
	fi
	return 0
}

# nspawn_boot: boot the cached root (on an overlay) and wait until systemd says it is up.
nspawn_boot() {
	local root
	root="$(nspawn_root)" || lab_die "could not build the container root"
	NSPAWN_DIR="$LAB_DIR/machine"
	NSPAWN_NAME="mgtest$$"
	mkdir -p "$LAB_DIR/upper" "$LAB_DIR/work" "$NSPAWN_DIR"
	mount -t overlay overlay -o "lowerdir=$root,upperdir=$LAB_DIR/upper,workdir=$LAB_DIR/work" "$NSPAWN_DIR" ||
		lab_die "overlay mount"
	lab_defer _nspawn_stop
	# --register=no --keep-unit: the host has no systemd (no machined, no bus).
	# --system-call-filter=bpf: nspawn's own seccomp filter refuses bpf() to
	# everything PID 1 starts (only a process entered from outside escapes
	# it), so without it no service inside could load a program.
	systemd-nspawn -q -D "$NSPAWN_DIR" -M "$NSPAWN_NAME" -b --register=no --keep-unit --private-network \
		--capability=CAP_BPF,CAP_NET_ADMIN,CAP_PERFMON,CAP_SYS_ADMIN --system-call-filter=bpf >"$LAB_DIR/nspawn.log" 2>&1 </dev/null &
	NSPAWN_PID=$!
	lab_wait "the container's systemd" _nspawn_found || { tail -20 "$LAB_DIR/nspawn.log" >&2; return 1; }
	local state
	# systemctl speaks to PID 1 on its private socket, there once systemd is past its first steps.
	lab_wait -t "$NSPAWN_BOOT_TIMEOUT" "systemd's socket" ns_run test -S /run/systemd/private ||
		{ tail -20 "$LAB_DIR/nspawn.log" >&2; return 1; }
	state="$(timeout "$NSPAWN_BOOT_TIMEOUT" nsenter -t "$NSPAWN_LEADER" -a -- systemctl is-system-running --wait 2>&1)"
	case "$state" in
	running | degraded) ;;
	*) tail -20 "$LAB_DIR/nspawn.log" >&2; lab_die "the container did not boot: '$state'" ;;
	esac
	# No DNS behind the private network: names resolve locally, and any query
	# is refused at once rather than timed out (swaks and Postfix look up
	# the host's own name; each lookup would wait ~20 s).
	ns_run sh -c 'echo "127.0.1.1 $(hostname)" >>/etc/hosts && echo "nameserver 127.0.0.1" >/etc/resolv.conf'
	# A private bpffs where the unit expects it: pins made inside stay inside,
	# and vanish with the container. nspawn's /sys is a read-only tmpfs with
	# no fs/bpf in it: the mount point is made in a moment of read-write.
	ns_run sh -c 'mountpoint -q /sys/fs/bpf && exit 0; mount -o remount,rw /sys && mkdir -p /sys/fs/bpf &&
		mount -o remount,ro /sys && mount -t bpf bpf /sys/fs/bpf'
}
_nspawn_found() { NSPAWN_LEADER="$(_nspawn_leader)" && [[ -n "$NSPAWN_LEADER" ]]; }

# ns_install_deb FILE: the package, installed inside as an operator would.
ns_install_deb() {
	cp "$1" "$NSPAWN_DIR/root/mtaguard.deb"
	ns_run env DEBIAN_FRONTEND=noninteractive dpkg -i /root/mtaguard.deb
}

# ns_host NAME N: a network namespace NAME inside the container, 198.18.N.2/24,
# routed through the container's inN (198.18.N.1), where mtaguardd attaches.
ns_host() {
	ns_run ip netns add "$1"
	ns_run ip link add "in$2" type veth peer name eth0 netns "$1"
	ns_run ip addr add "198.18.$2.1/24" dev "in$2"
	ns_run ip link set "in$2" up
	ns_run ip netns exec "$1" sh -c "ip link set lo up && ip addr add 198.18.$2.2/24 dev eth0 && ip link set eth0 up &&
		ip route add default via 198.18.$2.1"
}

# ns_postfix_relay: the container's own Postfix as the relay, delivering
# lab.test to the local user rcpt (/var/mail/rcpt), asking mtaguardd at RCPT
# and at end of data as the packaged examples/postfix-main.cf says, on ports
# 25 and 587 (submission, with the same restrictions). Six more
# addresses on lo stand for outside MX hosts (a bot's direct delivery).
# No reverse lookups of clients: the container has no DNS, and each would
# wait for the resolver's timeouts (20 s a message).
ns_postfix_relay() {
	local i
	ns_run ip link set lo up
	for i in 1 2 3 4 5 6; do ns_run ip addr add "198.19.0.$i/32" dev lo; done
	ns_run useradd -m rcpt
	ns_run sh -c 'cp /usr/share/postfix/main.cf.debian /etc/postfix/main.cf && postconf -e \
		"myhostname = relay.lab.test" "mydestination = lab.test, localhost" "inet_interfaces = all" \
		"inet_protocols = ipv4" "mynetworks = 127.0.0.0/8" "maillog_file = /var/log/postfix.log" \
		"smtpd_peername_lookup = no" &&
		grep -v "^#" /usr/share/doc/mtaguard/examples/postfix-main.cf >>/etc/postfix/main.cf &&
		postconf -M "submission/inet=submission inet n - y - - smtpd" && newaliases && postfix check'
}

# ns_mtaguard_relay < CONFIG: the relay drop-in enabled as the README says,
# the config written, the unit enabled and started, then Postfix (re)started
# so its smtpd finds the policy socket.
ns_mtaguard_relay() {
	ns_run mkdir -p /etc/systemd/system/mtaguardd.service.d
	ns_run ln -sf /usr/share/mtaguard/postfix-relay.conf /etc/systemd/system/mtaguardd.service.d/
	cat >"$NSPAWN_DIR/etc/mtaguard/mtaguard.json"
	ns_run systemctl daemon-reload
	ns_run systemctl enable --now mtaguardd >"$LAB_DIR/start.log" 2>&1 || { cat "$LAB_DIR/start.log"; return 1; }
	ns_run systemctl restart postfix >/dev/null 2>&1
}
