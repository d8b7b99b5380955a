#!/usr/bin/env bash
# Run every test: unit binaries ($UNIT_DIR/unit_*) and integration scripts
# (tests/integration/NNNN-*.sh, optionally filtered by a glob in $1).
# Each integration script: exit 0 pass, 77 skip, anything else fail.
# Ends with one line: "N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."

export SLUICE_BIN=${SLUICE_BIN:-build/sluice}
UNIT_DIR=${UNIT_DIR:-build/tests}
filter=${1:-*}
pass=0 fail=0 skip=0
logdir=$(mktemp -d /tmp/sluice-tests.XXXXXX)

if [ "${SLUICE_NO_BUILD:-0}" != 1 ]; then
	make -j2 all unit >"$logdir/build.log" 2>&1 || { cat "$logdir/build.log"; echo "0 passed, 1 failed"; exit 1; }
fi

# Unit tests count their checks.
for t in "$UNIT_DIR"/unit_*; do
	[ -x "$t" ] || continue
	name=${t##*/}
	out=$(timeout 300 "$t" 2>&1); rc=$?
	line=$(printf '%s\n' "$out" | tail -n 1)
	if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
		pass=$((pass + BASH_REMATCH[1])); fail=$((fail + BASH_REMATCH[2]))
	fi
	if [ $rc -ne 0 ]; then
		[[ $line =~ ^[0-9]+\ passed ]] || fail=$((fail + 1))
		echo "FAIL $name (exit $rc)"; printf '%s\n' "$out" | tail -n 30
	else
		echo "PASS $name: $line"
	fi
done

# Integration tests count one each.
for t in tests/integration/[0-9][0-9][0-9][0-9]-*.sh; do
	[ -e "$t" ] || continue
	name=${t##*/}; name=${name%.sh}
	# shellcheck disable=SC2053
	[[ $name == $filter ]] || continue
	start=${EPOCHREALTIME/./}
	timeout 120 bash "$t" >"$logdir/$name.log" 2>&1; rc=$?
	us=$(( ${EPOCHREALTIME/./} - start ))
	took=$((us / 1000000)).$(( (us / 100000) % 10 ))
	case $rc in
	0) pass=$((pass + 1)); echo "PASS $name (${took}s)" ;;
	77) skip=$((skip + 1)); echo "SKIP $name: $(tail -n 1 "$logdir/$name.log")" ;;
	*) fail=$((fail + 1)); echo "FAIL $name (exit $rc, ${took}s)"; tail -n 30 "$logdir/$name.log" | sed 's/^/    /' ;;
	esac
done

echo "logs: $logdir"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
