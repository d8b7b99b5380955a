#!/usr/bin/env bash
# Clients that close, abort (RST) or half-close right after connecting, or
# send and leave without reading: sluice survives them all, logs each
# connection closed, leaks no fd and keeps serving.
. "$(dirname "$0")/lib.sh"
need python3

N=200
start_echo
LP=$(free_port)
start_sluice -L "tcp://127.0.0.1:$LP/127.0.0.1:$ECHO_PORT"
base=$(fd_count "$SLUICE_PID")
timeout 60 python3 "$HELPERS/churn.py" "$LP" $N || fail "short-lived clients"
pid_alive "$SLUICE_PID" || fail "sluice died"
wait_fds_back "$SLUICE_PID" "$base" 10
wait_for 10 log_count_at_least $((4 * N)) ' closed: client ' ||
	fail "only $(log_count ' closed: client ') of $((4 * N)) connections logged as closed"
sleep 0.5
[ "$(log_count ' closed: client ')" = $((4 * N)) ] ||
	fail "$(log_count ' closed: client ') close lines for $((4 * N)) connections, expected exactly one each"
py client.py echo 127.0.0.1 "$LP" --count 20 || fail "sluice does not serve after the churn"
stop_sluice
