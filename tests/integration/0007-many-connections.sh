#!/usr/bin/env bash
# serial: 1,000 connections at once
# 1,000 connections open at once through sluice, each echoing a unique
# payload: all succeed, every one is logged closed, and sluice's fd count
# goes back to its baseline afterwards.
. "$(dirname "$0")/lib.sh"
need python3

N=1000
[ "$(ulimit -Hn)" -ge $((N * 2 + 200)) ] || skip "fd hard limit $(ulimit -Hn) is too low for $N connections"
ulimit -n "$(ulimit -Hn)"
start_echo
LP=$(free_port)
start_sluice -L "tcp://127.0.0.1:$LP/127.0.0.1:$ECHO_PORT"
base=$(fd_count "$SLUICE_PID")
log "sluice baseline: $base fds"

timeout 90 python3 "$HELPERS/many.py" "$LP" "$N" --pid "$SLUICE_PID" --base "$base" ||
	fail "$N concurrent connections"
wait_fds_back "$SLUICE_PID" "$base" 15
wait_for 10 log_count_at_least $N ' closed: client .* up 2[0-9]{3} down 2[0-9]{3} .*\(eof\)' ||
	fail "only $(log_count ' closed: client ' ) of $N connections logged as closed (eof)"
sleep 0.5
[ "$(log_count ' closed: client ')" = $N ] || fail "$(log_count ' closed: client ') close lines for $N connections, expected exactly one each"
# ... and it still works.
py client.py echo 127.0.0.1 "$LP" --count 10 || fail "no echo after the $N connections"
stop_sluice
