#!/usr/bin/env bash
# SIGTERM with --grace: listening stops at once (new connects refused), a
# transfer that ends within the grace period completes intact, then sluice
# exits 0 without waiting out the rest of the grace period; the --pid-file
# holds the pid while running and is gone after. A connection that does not
# end is cut after ~grace seconds ("(shutdown)" in its close line) and sluice
# exits 0 by then.
. "$(dirname "$0")/lib.sh"
need python3

REFUSE=1
[ $SLOW = 1 ] && REFUSE=3

# 1. The transfer (~2 s) finishes within --grace 3.
SRV=$(free_port)
LP=$(free_port)
PIDF=$T/sluice.pid
start_sluice --grace 3 --pid-file "$PIDF" -L "tcp://127.0.0.1:$LP/127.0.0.1:$SRV"
[ -f "$PIDF" ] || fail "--pid-file $PIDF does not exist while sluice runs"
[ "$(cat "$PIDF")" = "$SLUICE_PID" ] || fail "pid file holds '$(cat "$PIDF")', sluice pid is $SLUICE_PID"
timeout 60 python3 "$HELPERS/grace.py" finish "$SRV" "$LP" "$SLUICE_PID" "$REFUSE" >"$T/finish.out" 2>&1
rc=$?
cat "$T/finish.out"
[ $rc = 0 ] || fail "transfer in progress at SIGTERM (grace 3 s): $(tail -n 1 "$T/finish.out")"
end=$(grep -o 'signal_to_end=[0-9.]*' "$T/finish.out" | cut -d= -f2)
awk "BEGIN{exit !($end < 3)}" || fail "the transfer took ${end}s after SIGTERM, the test expects < 3"
# The last connection is done: sluice should be gone well before the grace
# period (3 s after the signal) ends.
wait_s=1.5
[ $SLOW = 1 ] && wait_s=10
sluice_wait_exit "$wait_s" || fail "sluice still runs ${wait_s}s after its last connection ended (grace was 3 s, signal ${end}s ago)"
[ "$SLUICE_STATUS" = 0 ] || fail "sluice exit status $SLUICE_STATUS after SIGTERM, expected 0"
check_sluice_clean
[ ! -e "$PIDF" ] || fail "pid file $PIDF still exists after exit"
assert_log "conn [0-9]+ closed: .* up 0 down 2048000 .*\(eof\)"

# 2. A connection that does not finish is cut after ~2 s (--grace 2).
SRV=$(free_port)
LP=$(free_port)
start_sluice --grace 2 -L "tcp://127.0.0.1:$LP/127.0.0.1:$SRV"
t0=$(now_ms)
timeout 60 python3 "$HELPERS/grace.py" cut "$SRV" "$LP" "$SLUICE_PID" "$REFUSE" >"$T/cut.out" 2>&1
rc=$?
cat "$T/cut.out"
[ $rc = 0 ] || fail "endless transfer at SIGTERM (grace 2 s): $(tail -n 1 "$T/cut.out")"
end=$(grep -o 'signal_to_end=[0-9.]*' "$T/cut.out" | cut -d= -f2)
hi=3.5
[ $SLOW = 1 ] && hi=8
awk "BEGIN{exit !($end >= 1.5 && $end <= $hi)}" ||
	fail "the endless connection was closed ${end}s after SIGTERM, expected ~2 s (1.5..$hi)"
sluice_wait_exit 2 || fail "sluice still runs after the grace period ended and its connection was cut"
[ "$SLUICE_STATUS" = 0 ] || fail "sluice exit status $SLUICE_STATUS after the grace period, expected 0"
check_sluice_clean
assert_log "conn [0-9]+ closed: .*\(shutdown\)"
