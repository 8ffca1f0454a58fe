#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# run.sh - run every libFuzzer harness (BUILD/fuzz/fuzz_*) for SECONDS each.
#
#   selftests/fuzz/run.sh BUILD SECONDS [TARGET]
#
# Each fuzzer starts from its seeds (selftests/fuzz/corpus/NAME/, read only)
# and writes what it finds to a scratch corpus; a crash, a sanitizer finding,
# a leak or a timeout leaves its input in BUILD/fuzz/artifacts/ and fails the
# run. Harnesses run side by side, one per core (MG_FUZZ_JOBS). The last
# lines say how many inputs each target ran:
#   fuzz: NAME  N execs in S s  (corpus C)
set -uo pipefail

(($# >= 2 && $# <= 3)) || { echo "usage: $0 BUILD SECONDS [TARGET]" >&2; exit 2; }
BUILD="$(cd "$1" && pwd)" || exit 2
SECONDS_EACH="$2"
TARGET="${3:-}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ARTIFACTS="$BUILD/fuzz/artifacts"
mkdir -p "$ARTIFACTS"
SCRATCH="$(mktemp -d /tmp/mg-fuzz.XXXXXX)"
trap 'rm -rf -- "$SCRATCH"' EXIT

# One fuzzer per core at once (MG_FUZZ_JOBS, default: the cores online):
# each is a single process, so on two cores two run side by side and the
# whole run takes half as long. Each writes its log and result to SCRATCH;
# they are printed in order when all are done.
JOBS="${MG_FUZZ_JOBS:-$(nproc)}"
((JOBS >= 1)) || JOBS=1

# fuzz_one BIN NAME: run one harness; its verdict in SCRATCH/NAME.rc.
fuzz_one() {
	local bin="$1" name="$2" seeds="$HERE/corpus/$2" log="$SCRATCH/$2.log" rc
	mkdir -p "$SCRATCH/$name"
	# -timeout: one input running 10 s is a hang; -rss_limit_mb: a leak or
	# a runaway allocation; the seeds are read, never written.
	ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		"$bin" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$ARTIFACTS/$name-" "$SCRATCH/$name" "$seeds" >"$log" 2>&1
	rc=$?
	echo "$rc" >"$SCRATCH/$name.rc"
}

failed=()
summary=()
names=()
shopt -s nullglob
for bin in "$BUILD"/fuzz/fuzz_*; do
	# Executables only, by their own name (the build's path may hold dots: /tmp/ci.XXXX).
	[[ -x "$bin" && "${bin##*/}" != *.* ]] || continue
	name="${bin##*/fuzz_}"
	[[ -z "$TARGET" || "$TARGET" == "$name" ]] || continue
	[[ -d "$HERE/corpus/$name" ]] || { echo "fuzz: $name has no seed corpus ($HERE/corpus/$name)" >&2; failed+=("$name"); continue; }
	while (($(jobs -rp | wc -l) >= JOBS)); do wait -n; done
	echo "=== FUZZ  $name (${SECONDS_EACH}s)"
	fuzz_one "$bin" "$name" &
	names+=("$name")
done
wait
for name in "${names[@]}"; do
	log="$SCRATCH/$name.log"
	rc="$(cat "$SCRATCH/$name.rc" 2>/dev/null || echo 1)"
	execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
	corpus="$(find "$SCRATCH/$name" "$HERE/corpus/$name" -type f | wc -l)"
	if ((rc != 0)); then
		tail -n 60 "$log"
		echo "--- FAIL  $name: exit status $rc, input in $ARTIFACTS/"
		failed+=("$name")
	else
		echo "--- PASS  $name"
	fi
	summary+=("fuzz: $name  ${execs:-?} execs in ${SECONDS_EACH} s  (corpus $corpus)")
done
shopt -u nullglob
((${#summary[@]})) || { echo "fuzz: no fuzzer matches '${TARGET}'" >&2; exit 2; }
echo
printf '%s\n' "${summary[@]}"
((${#failed[@]} == 0)) || { echo "fuzz: failed: ${failed[*]}"; exit 1; }
