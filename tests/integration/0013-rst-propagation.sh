#!/usr/bin/env bash
# A reset on one side closes both sides promptly (< 2 s): target aborts while
# sending, target aborts while the client uploads, client aborts while the
# target sends. Each close is logged with reason "(reset)", no fd leaks, and
# sluice keeps serving.
. "$(dirname "$0")/lib.sh"
need python3

start_echo
SRV=$(free_port)
LP=$(free_port)
LE=$(free_port)
start_sluice -L "tcp://127.0.0.1:$LP/127.0.0.1:$SRV" -L "tcp://127.0.0.1:$LE/127.0.0.1:$ECHO_PORT"
base=$(fd_count "$SLUICE_PID")

for mode in server-abort server-abort-upload client-abort; do
	timeout 60 python3 "$HELPERS/rst.py" "$mode" "$SRV" "$LP" 2 >"$T/$mode.out" 2>&1
	rc=$?
	cat "$T/$mode.out"
	[ $rc = 0 ] || fail "$mode: $(tail -n 1 "$T/$mode.out")"
	cport=$(grep -o 'client_port=[0-9]*' "$T/$mode.out" | cut -d= -f2)
	wait_log 3 "conn [0-9]+ closed: client 127\.0\.0\.1:$cport .*"
	grep -E "closed: client 127\.0\.0\.1:$cport " "$SLUICE_LOG" | grep -q '(reset)$' ||
		fail "$mode: close reason is not '(reset)': $(grep -E "closed: client 127\.0\.0\.1:$cport " "$SLUICE_LOG")"
done

pid_alive "$SLUICE_PID" || fail "sluice died"
py client.py echo 127.0.0.1 "$LE" --count 10 || fail "sluice does not serve after the resets"
wait_fds_back "$SLUICE_PID" "$base" 5
stop_sluice
