#!/usr/bin/env bash
# The one test entry point: unit test binaries, then tests/integration/NNNN-*.sh.
#
#   tests/run.sh [GLOB]      GLOB filters test names, e.g. '0006*' or 'unit_*'
#
# Environment:
#   SLUICE_NO_BUILD=1   skip `make -j2` / `make unit`
#   SLUICE_BIN          binary under test (default build/sluice)
#   SLUICE_WRAP         prefix for sluice, e.g. "valgrind --error-exitcode=99 --leak-check=full -q"
#   UNIT_DIR            where the unit_* binaries are (default build/tests)
#   SLUICE_KEEP_LOGS=1  keep the per-test log dir even when everything passed
#   SLUICE_TEST_JOBS    integration tests run at once (default 2; "# serial" ones alone)
#   SLUICE_IO_BACKEND   epoll or uring: start_sluice adds --io-backend (default:
#                       sluice's auto); the unit tests run both backends anyway
#
# Prints one line per test (PASS/FAIL/SKIP name (time)), the last 30 lines of
# a failed test's log, and ends with exactly one line "N passed, N failed,
# N skipped"; exits 1 if anything failed. Unit binaries count their checks.
set -u -o pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
FILTER=${1:-*}
TEST_TIMEOUT=${SLUICE_TEST_TIMEOUT:-120}
export SLUICE_BIN=${SLUICE_BIN:-build/sluice}
export SLUICE_WRAP=${SLUICE_WRAP:-}
UNIT_DIR=${UNIT_DIR:-build/tests}

passed=0
failed=0
skipped=0
LOGDIR=$(mktemp -d /tmp/sluice-tests.XXXXXX)

elapsed() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1fs", (b - a) / 1000 }'
}

show_tail() {
	tail -n 30 "$1" | sed 's/^/    | /'
}

if [ "${SLUICE_NO_BUILD:-0}" != 1 ]; then
	# A failed build would leave a stale binary to test: stop here.
	if ! make -j2 >"$LOGDIR/make.log" 2>&1; then
		echo "FAIL make"
		show_tail "$LOGDIR/make.log"
		echo "logs: $LOGDIR"
		echo "0 passed, 1 failed, 0 skipped"
		exit 1
	fi
	# `make unit` is optional: ignore a Makefile without that target.
	if make -n unit >/dev/null 2>&1; then
		if ! make -j2 unit >"$LOGDIR/make-unit.log" 2>&1; then
			echo "FAIL make unit"
			show_tail "$LOGDIR/make-unit.log"
			failed=$((failed + 1))
		fi
	fi
fi

# Unit test binaries: the last line of each is "N passed, N failed".
for bin in "$UNIT_DIR"/unit_*; do
	[ -x "$bin" ] || continue
	name=$(basename "$bin")
	# shellcheck disable=SC2053
	[[ $name == $FILTER ]] || continue
	log=$LOGDIR/$name.log
	t0=$(date +%s%3N)
	timeout -k 10 "$TEST_TIMEOUT" "$bin" >"$log" 2>&1 </dev/null
	rc=$?
	t1=$(date +%s%3N)
	last=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	if [ -n "$last" ]; then
		np=$(echo "$last" | awk '{print $1}')
		nf=$(echo "$last" | awk '{print $3}')
	else
		np=0
		nf=0
	fi
	# A crash or a non-zero exit without counted failures is one failure.
	if [ "$rc" != 0 ] && [ "$nf" = 0 ]; then
		nf=1
	fi
	passed=$((passed + np))
	failed=$((failed + nf))
	if [ "$nf" = 0 ]; then
		echo "PASS $name ($(elapsed "$t0" "$t1"), $np checks)"
	else
		echo "FAIL $name ($(elapsed "$t0" "$t1"), $np checks ok, $nf failed, exit $rc)"
		show_tail "$log"
	fi
done

# Integration tests: exit 0 pass, 77 skip, anything else fail. They mostly
# wait on sockets, so up to $JOBS run at once; a test whose header has a
# line "# serial" (it measures CPU or throughput, or loads both cores) runs
# alone. Results print in file order whatever order they finish in.

# run_test I T: run test file T (the I-th) and leave its exit code and times
# in $LOGDIR/NAME.rc. Each test draws its ports from its own slice of the
# free-port range, so tests running at once never race for one port.
run_test() {
	local i=$1 t=$2 name tpid rc t0 t1 cpu
	name=$(basename "$t" .sh)
	t0=$(date +%s%3N)
	# timeout puts the test in its own process group; whatever the test
	# leaves behind in that group is killed afterwards.
	SLUICE_TEST_TMP=$LOGDIR/$name.d SLUICE_PORT_SLICE="$((i % 16))/16" \
		timeout -k 10 "$TEST_TIMEOUT" bash "$t" >"$LOGDIR/$name.log" 2>&1 </dev/null &
	tpid=$!
	wait "$tpid"
	rc=$?
	kill -KILL -- "-$tpid" 2>/dev/null
	t1=$(date +%s%3N)
	# CPU of everything the test ran (this subshell's reaped children).
	times >"$LOGDIR/$name.times"
	cpu=$(tail -n 1 "$LOGDIR/$name.times" | awk '{ gsub(/[ms]/, " "); printf "%.1f", $1 * 60 + $2 + $3 * 60 + $4 }')
	echo "$rc $t0 $t1 $cpu" >"$LOGDIR/$name.rc.tmp" && mv "$LOGDIR/$name.rc.tmp" "$LOGDIR/$name.rc"
}

# report NAME: print and count the result of a finished test.
report() {
	local name=$1 log=$LOGDIR/$1.log rc t0 t1 cpu why
	read -r rc t0 t1 cpu <"$LOGDIR/$name.rc"
	case $rc in
	0)
		passed=$((passed + 1))
		echo "PASS $name ($(elapsed "$t0" "$t1"), cpu ${cpu}s)"
		;;
	77)
		skipped=$((skipped + 1))
		why=$(grep -m1 '^SKIP: ' "$log" | sed 's/^SKIP: //')
		echo "SKIP $name ($(elapsed "$t0" "$t1"))${why:+: $why}"
		;;
	*)
		failed=$((failed + 1))
		[ "$rc" = 124 ] && echo "timed out after ${TEST_TIMEOUT}s" >>"$log"
		echo "FAIL $name ($(elapsed "$t0" "$t1"), exit $rc)"
		show_tail "$log"
		;;
	esac
}

JOBS=${SLUICE_TEST_JOBS:-2}
[[ $JOBS =~ ^[1-9][0-9]*$ ]] || { echo "SLUICE_TEST_JOBS must be a positive number" >&2; exit 2; }
tests=()
for t in tests/integration/[0-9][0-9][0-9][0-9]-*.sh; do
	[ -f "$t" ] || continue
	name=$(basename "$t" .sh)
	# shellcheck disable=SC2053
	[[ $name == $FILTER ]] || continue
	tests+=("$t")
done
shown=0
running=0
# flush: print every finished test not yet shown, stopping at the first
# one still running (file order).
flush() {
	while [ "$shown" -lt "${#tests[@]}" ]; do
		local n
		n=$(basename "${tests[$shown]}" .sh)
		[ -f "$LOGDIR/$n.rc" ] || break
		report "$n"
		shown=$((shown + 1))
	done
}
for i in "${!tests[@]}"; do
	t=${tests[$i]}
	if grep -q '^# serial' "$t"; then
		wait
		running=0
		flush
		# (in a subshell of its own, so `times` counts this test alone)
		run_test "$i" "$t" &
		wait $!
		flush
		continue
	fi
	while [ "$running" -ge "$JOBS" ]; do
		wait -n
		running=$((running - 1))
	done
	run_test "$i" "$t" &
	running=$((running + 1))
	flush
done
wait
flush

if [ "$failed" = 0 ] && [ "${SLUICE_KEEP_LOGS:-0}" != 1 ]; then
	rm -rf "$LOGDIR"
else
	echo "logs: $LOGDIR"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
