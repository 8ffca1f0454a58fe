#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# run.sh - run mtaguard's selftests: every cmocka program BUILD/selftests/test_*
# and then every selftests/e2e_*.sh script.
#
#   selftests/run.sh BUILD [PATTERN]
#
# PATTERN (optional) selects tests whose name (test_foo, e2e_smtp) matches it
# as a shell glob, or contains it as a substring.
#
# Exit codes of a test: 0 pass, 77 skip (it printed why: no root, a tool
# missing), anything else fail.  A test running longer than MG_TEST_TIMEOUT
# seconds (default 600) is killed and counted as failed.  With MG_NO_SKIP=1
# (CI) a skip counts as a failure: there, every test is expected to run.
#
# With MG_SANITIZER_LOGS=DIR (the SANITIZE=1 build), ASan/UBSan/LSan write
# their reports there (ASAN_OPTIONS/UBSAN_OPTIONS log_path) instead of to a
# stderr nobody reads (a daemon in the background): a report written while a
# test ran fails that test, printed, whatever its exit status.
#
# Output of each test is streamed as it runs; the last line is the summary
#   selftests: N passed, N failed, N skipped
# and the exit status is nonzero if any test failed.

set -uo pipefail # no -e: a failing test must not stop the run

SKIP_CODE=77
TIMEOUT="${MG_TEST_TIMEOUT:-600}"
NO_SKIP="${MG_NO_SKIP:-0}"

usage() {
	echo "usage: $0 BUILD_DIR [PATTERN]" >&2
	exit 2
}

(($# >= 1 && $# <= 2)) || usage
[[ -d "$1" ]] || { echo "run.sh: build dir '$1' does not exist" >&2; exit 2; }
# Absolute, because tests run from the repository root and scripts get it as $1.
BUILD="$(cd "$1" && pwd)"
PATTERN="${2:-}"
SELFTESTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$SELFTESTS")"
export MG_BUILD="$BUILD"

# matches NAME: true when no pattern was given, or NAME matches it.
matches() {
	[[ -z "$PATTERN" ]] && return 0
	# shellcheck disable=SC2053 # PATTERN is a glob on purpose
	[[ "$1" == $PATTERN || "$1" == *"$PATTERN"* ]]
}

# Collect tests: "name<TAB>kind<TAB>path".
tests=()
shopt -s nullglob
for f in "$BUILD"/selftests/test_*; do
	name="${f##*/}"
	# The same directory holds test_*.o objects: only executables without
	# an extension are test programs.
	[[ -f "$f" && -x "$f" && "$name" != *.* ]] || continue
	matches "$name" && tests+=("$name"$'\t'bin$'\t'"$f")
done
# The package tests install the build as a .deb in a container: the
# sanitizer build's programs would need its runtime there (and LSan needs
# ptrace, which the unit forbids). They run once, in the plain build's pass;
# the code they reach is under the sanitizers in the unit tests.
PLAIN_ONLY=" e2e_systemd e2e_clamav "
for f in "$SELFTESTS"/e2e_*.sh; do
	name="${f##*/}"
	name="${name%.sh}"
	if [[ (-n "${MG_SANITIZER_LOGS:-}" || "${BUILD##*/}" == build-san) && "$PLAIN_ONLY" == *" $name "* ]]; then
		matches "$name" && echo "run.sh: $name runs in the plain build's pass only (a package of this build is not one to ship)"
		continue
	fi
	matches "$name" && tests+=("$name"$'\t'sh$'\t'"$f")
done
shopt -u nullglob

if [[ -n "$PATTERN" && ${#tests[@]} -eq 0 ]]; then
	echo "run.sh: no test matches '$PATTERN'" >&2
	exit 2
fi

passed=0
failed=0
skipped=0
failed_names=()
skipped_names=()

cd "$ROOT" || exit 2
for t in "${tests[@]}"; do
	IFS=$'\t' read -r name kind path <<<"$t"
	echo "=== RUN   $name"
	start=$SECONDS
	# timeout runs the test in its own process group and signals all of it;
	# --kill-after leaves an e2e script time to run its cleanup trap on
	# SIGTERM before SIGKILL.  stdin from /dev/null: no test may wait for input.
	if [[ "$kind" == sh ]]; then
		timeout --kill-after=30 "$TIMEOUT" bash "$path" "$BUILD" </dev/null
	else
		timeout --kill-after=30 "$TIMEOUT" "$path" </dev/null
	fi
	rc=$?
	dur=$((SECONDS - start))
	if [[ -n "${MG_SANITIZER_LOGS:-}" ]] && compgen -G "$MG_SANITIZER_LOGS/*" >/dev/null; then
		echo "sanitizer reports during $name:"
		cat "$MG_SANITIZER_LOGS"/*
		mkdir -p "$MG_SANITIZER_LOGS.seen/$name"
		mv "$MG_SANITIZER_LOGS"/* "$MG_SANITIZER_LOGS.seen/$name/"
		((rc == 0 || rc == SKIP_CODE)) && rc=1
	fi
	if ((rc == 0)); then
		echo "--- PASS  $name (${dur}s)"
		passed=$((passed + 1))
	elif ((rc == SKIP_CODE)); then
		if [[ "$NO_SKIP" == 1 ]]; then
			echo "--- FAIL  $name (${dur}s): skipped, and MG_NO_SKIP=1 forbids skips"
			failed=$((failed + 1))
			failed_names+=("$name")
		else
			echo "--- SKIP  $name (${dur}s)"
			skipped=$((skipped + 1))
			skipped_names+=("$name")
		fi
	elif ((rc == 124 || rc == 137)); then
		echo "--- FAIL  $name (${dur}s): timed out after ${TIMEOUT}s"
		failed=$((failed + 1))
		failed_names+=("$name")
	else
		echo "--- FAIL  $name (${dur}s): exit status $rc"
		failed=$((failed + 1))
		failed_names+=("$name")
	fi
done

echo
((${#failed_names[@]})) && echo "failed: ${failed_names[*]}"
((${#skipped_names[@]})) && echo "skipped: ${skipped_names[*]}"
echo "selftests: $passed passed, $failed failed, $skipped skipped"
((failed == 0))
