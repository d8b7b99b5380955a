#!/usr/bin/env bash
# --idle-timeout 1: a silent relayed connection is closed after ~1-2 s and
# logged "(idle timeout)"; an active one (traffic every 0.3 s) lives on for
# 3 s and more. Without the option, a silent connection stays open.
. "$(dirname "$0")/lib.sh"
need python3

start_echo
LP=$(free_port)
hi=2.5
[ $SLOW = 1 ] && hi=4
start_sluice --idle-timeout 1 -L "tcp://127.0.0.1:$LP/127.0.0.1:$ECHO_PORT"
timeout 60 python3 "$HELPERS/idle.py" "$LP" 0.8 "$hi" || fail "idle timeout 1 s"
wait_log 3 "conn [0-9]+ closed: .* up 10 down 10 .*\(idle timeout\)"
[ "$(log_count '\(idle timeout\)')" = 1 ] || fail "expected exactly one idle-timeout close: $(grep 'closed:' "$SLUICE_LOG")"
stop_sluice

# Default: no idle timeout; a connection silent for 3 s is still open.
LP=$(free_port)
start_sluice -L "tcp://127.0.0.1:$LP/127.0.0.1:$ECHO_PORT"
timeout 30 python3 "$HELPERS/idle.py" "$LP" 1 1 >"$T/noidle.out" 2>&1
grep -q 'idle connection: still open' "$T/noidle.out" || fail "without --idle-timeout: $(cat "$T/noidle.out")"
stop_sluice
