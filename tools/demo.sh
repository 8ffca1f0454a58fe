#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# demo.sh - mtaguard's main job on a machine with no real interface to give
# it: a self-contained lab in network namespaces (run by `make demo`).
#
#   PC1 198.18.1.2 ──veth── EDGE: mga0 │ Postfix mx.lab.test │ mgb0 ──veth── PC2 198.18.2.2
#
# mtaguard is attached natively to the edge's two inside interfaces. Both PCs
# send ordinary mail; then PC2 "gets infected" and fires off a burst of spam
# with a forged HELO. The demo shows what the kernel counted per source, then
# blocks PC2's SMTP in the kernel and shows that PC2 can no longer connect
# while PC1 still can. Everything is removed at the end, also on Ctrl-C.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# The demo reuses the test lab library: the same namespaces, veths and Postfix.
# shellcheck source=selftests/lab.sh
. "$HERE/../selftests/lab.sh"

BUILD="$(cd "${1:-$HERE/../build}" && pwd)"
LOADER="$BUILD/mtaguard-loader"
PIN="/sys/fs/bpf/mtaguard-demo-$$"
DOMAIN="$LAB_MAIL_DOMAIN"

[[ $(id -u) -eq 0 ]] || { echo "demo: run as root (it creates namespaces and loads BPF)"; exit 1; }
[[ -x "$LOADER" ]] || { echo "demo: $LOADER missing: run make first"; exit 1; }

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
say() { printf '   %s\n' "$*"; }
loader() { "$LOADER" -p "$PIN" "$@"; }

# show_source ADDR: what the kernel counted for one source, in one block.
show_source() {
	loader source "$1" | sed 's/^/   /'
}

# mail NS TAG SERVER [SWAKS ARGS]: one message, quietly; returns swaks' status.
mail() {
	local ns="$1" tag="$2" server="$3"
	shift 3
	lab_run "$ns" swaks --server "$server" --timeout 4 --from "user@$ns.$DOMAIN" \
		--to "someone@$DOMAIN" --header "X-Demo: $tag" "$@" >"$LAB_DIR/swaks-$tag.log" 2>&1
}

xdp_cleanup() {
	[[ -d "$PIN" ]] || return 0
	lab_nsenter edge "$LOADER" -p "$PIN" unload 2>/dev/null || loader unload 2>/dev/null || true
	rm -rf -- "$PIN"
}

step "Building the lab (namespaces, veth pairs, Postfix)"
lab_init
lab_bpffs
lab_netns edge pc1 pc2
lab_veth edge mga0 pc1 eth0
lab_veth edge mgb0 pc2 eth0
lab_addr edge mga0 198.18.1.1/24
lab_addr pc1 eth0 198.18.1.2/24
lab_addr edge mgb0 198.18.2.1/24
lab_addr pc2 eth0 198.18.2.2/24
lab_postfix_start edge 198.18.1.1 198.18.2.1
say "edge: Postfix on 198.18.1.1 and 198.18.2.1; pc1 198.18.1.2; pc2 198.18.2.2"

step "Attaching mtaguard natively to the edge's inside interfaces"
lab_defer xdp_cleanup
for dev in mga0 mgb0; do
	lab_nsenter edge "$LOADER" -p "$PIN" attach "$dev" --mode native
done
say "maps pinned under $PIN:"
ls "$PIN" | sed 's/^/     /'

step "Ordinary mail: pc1 and pc2 each send one message"
mail pc1 pc1-ok 198.18.1.1 --ehlo "pc1.$DOMAIN"
mail pc2 pc2-ok 198.18.2.1 --ehlo "pc2.$DOMAIN"
lab_wait_mail edge pc1-ok 1 && lab_wait_mail edge pc2-ok 1
say "delivered: $(lab_mail_count edge) message(s)"
show_source 198.18.1.2
show_source 198.18.2.2

step "pc2 is infected: a burst of spam with a forged HELO (an IP literal)"
for i in 1 2 3 4 5 6; do
	mail pc2 "spam-$i" 198.18.2.1 --ehlo "[198.18.2.2]" \
		--to "a$i@$DOMAIN,b$i@$DOMAIN,c$i@$DOMAIN" || true
done
say "pc2 now, as the kernel counted it:"
show_source 198.18.2.2
say "(the analyzer daemon turns counts like these into a verdict on its own;"
say " here the operator acts on them with the loader)"

step "Blocking pc2's SMTP in the kernel for 10 minutes"
loader block 198.18.2.2 --action smtp --ttl 600
loader rules | sed 's/^/   /'
if mail pc2 blocked 198.18.2.1 --ehlo "[198.18.2.2]"; then
	say "UNEXPECTED: pc2 still got through"
else
	say "pc2: SMTP connection failed (its SYNs are dropped in XDP)"
fi
if lab_run pc2 ping -c1 -W2 198.18.2.1 >/dev/null; then
	say "pc2: ping still works (the block covers SMTP only)"
fi
if mail pc1 pc1-after 198.18.1.1 --ehlo "pc1.$DOMAIN"; then
	say "pc1: mail still accepted"
fi
loader rules | sed 's/^/   /'
step "Kernel counters"
loader stats | grep -E 'packets|passed|dropped|syn_smtp|smtp_cmds|block_smtp|src_created' | sed 's/^/   /'

step "Cleaning up"
