#!/usr/bin/env bash
# serial: measures sluice's CPU time
# fd exhaustion (EMFILE) with 4 workers under a 64-fd limit: sluice logs
# "accept: Too many open files; pausing accepts", stays alive without
# spinning (< 0.5 s CPU over 2 s at exhaustion), and once the connections
# are gone every worker accepts again: 200/200 new connections succeed, each
# within 3 s (a worker whose listener stayed paused would hang ~1/4 of them).
. "$(dirname "$0")/lib.sh"
need python3 prlimit

LIMIT=64
HOLD=150
start_echo
LP=$(free_port)
SLUICE_PREFIX=(prlimit "--nofile=$LIMIT:$LIMIT" --)
start_sluice --workers 4 -L "tcp://127.0.0.1:$LP/127.0.0.1:$ECHO_PORT"
SLUICE_PREFIX=()
lim=$(awk '/Max open files/ {print $4 " " $5}' "/proc/$SLUICE_PID/limits")
log "sluice fd limits (soft hard): $lim; fds at start: $(fd_count "$SLUICE_PID")"
[ "$lim" = "$LIMIT $LIMIT" ] || fail "sluice runs with fd limits '$lim', expected '$LIMIT $LIMIT'"

# Exhaust: hold many connections open.
bg hold python3 "$HELPERS/hold.py" "$LP" "$HOLD" "$T/ready" "$T/release" --max-hold 60
HOLD_PID=$BG_PID
wait_for 15 test -s "$T/ready" || fail "the holding client did not get its connections up"
log "client holds $(cat "$T/ready") connections"
wait_log 10 "warn .*accept: Too many open files; pausing accepts"
log "sluice fds at exhaustion: $(fd_count "$SLUICE_PID")"
pid_alive "$SLUICE_PID" || fail "sluice died at fd exhaustion"

# Not spinning: CPU time over 2 s idle at exhaustion.
sleep 0.5
c0=$(cpu_ticks "$SLUICE_PID")
sleep 2
c1=$(cpu_ticks "$SLUICE_PID")
hz=$(getconf CLK_TCK)
used_ms=$(( (c1 - c0) * 1000 / hz ))
log "sluice CPU over 2 s at exhaustion: ${used_ms} ms"
[ "$used_ms" -lt 500 ] || fail "sluice used ${used_ms} ms CPU in 2 s at fd exhaustion (busy loop on EMFILE?)"
pid_alive "$SLUICE_PID" || fail "sluice died at fd exhaustion"
n_warn=$(log_count "accept: Too many open files")
log "EMFILE warn lines so far: $n_warn"
# One warning per worker and listener per 10 s, the rest counted into the next.
[ "$n_warn" -le 8 ] || fail "$n_warn EMFILE warnings in a few seconds: not rate-limited"

# Release and recover on every worker.
touch "$T/release"
wait_for 10 eval '! pid_alive $HOLD_PID' || fail "the holding client did not exit"
py client.py echo 127.0.0.1 "$LP" --count 200 --size 100 --timeout 3 --deadline 45 ||
	fail "after the fds were freed, not all of 200 new connections succeeded (a worker still paused?)"
pid_alive "$SLUICE_PID" || fail "sluice died"
# Connections accepted while sluice had no fd for their upstream waited for
# one instead of being reset.
n_fail=$(log_count "connect to .* failed: Too many open files" || true)
[ "$n_fail" = 0 ] || fail "$n_fail accepted connections were reset for want of an upstream fd"
stop_sluice
