#!/usr/bin/env bash
# 100 streams at once through one tunnel session, each with its own payload
# echoed back; all are logged closed and the client's fds come back.
. "$(dirname "$0")/lib.sh"
. "$HELPERS/tun_lib.sh"
need python3

tun_key
start_echo
TP=$(udp_port)
tun_server -L "tunnel://127.0.0.1:$TP" --tunnel-key "$KEY"
EC=$(free_port)
tun_client -w 1 -L "tcp://127.0.0.1:$EC/127.0.0.1:$ECHO_PORT" -F "tunnel://127.0.0.1:$TP" \
	--tunnel-key "$KEY"
py client.py echo 127.0.0.1 "$EC" --count 1 || fail "first echo failed"
base=$(fd_count "$CLI_PID")
timeout 60 python3 "$HELPERS/many.py" "$EC" 100 --size 20000 || fail "100 parallel streams failed"
wait_for 5 log_count_at_least 101 "info conn [0-9]+ closed: .*\(eof\)$" "$CLI_LOG" ||
	fail "client: expected 101 eof close lines, got $(log_count 'closed:' "$CLI_LOG")"
wait_for 5 log_count_at_least 101 "info conn [0-9]+ closed: tunnel .*\(eof\)$" "$SRV_LOG" ||
	fail "server: expected 101 eof close lines"
[ "$(log_count "tunnel [0-9]+ up" "$CLI_LOG")" = 1 ] || fail "expected one tunnel session"
wait_fds_back "$CLI_PID" "$base" 5
stop_pid "$CLI_PID" "$CLI_LOG"
stop_pid "$SRV_PID" "$SRV_LOG"
