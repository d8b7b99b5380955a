#!/usr/bin/env bash
# Target refuses: the client is closed promptly (< 2 s), a warn line
# "conn N client ADDR: connect to HOST:PORT failed: Connection refused" and
# one "(connect failed)" close line are logged per connection, no fd
# leaks, and sluice keeps serving, on another listener and on this one once
# the target is up.
. "$(dirname "$0")/lib.sh"
need python3

CLOSED=$(free_port)	# nothing listens here (yet)
start_echo
LBAD=$(free_port)
LGOOD=$(free_port)
start_sluice -L "tcp://127.0.0.1:$LBAD/127.0.0.1:$CLOSED" -L "tcp://127.0.0.1:$LGOOD/127.0.0.1:$ECHO_PORT"
base=$(fd_count "$SLUICE_PID")

py client.py expect-close 127.0.0.1 "$LBAD" --send hello --max 2 || fail "client via the refused target not closed within 2 s"
wait_log 3 "^[^ ]+ warn conn [0-9]+ client 127\.0\.0\.1:[0-9]+: connect to 127\.0\.0\.1:$CLOSED failed: Connection refused"
# The same again, 20 times, without sending anything.
for i in $(seq 1 20); do
	py client.py expect-close 127.0.0.1 "$LBAD" --max 2 >/dev/null || fail "refused connection $i not closed within 2 s"
done
n=$(grep -cE "connect to 127\.0\.0\.1:$CLOSED failed" "$SLUICE_LOG")
[ "$n" = 21 ] || fail "expected 21 'connect ... failed' lines, found $n"
# Every accepted connection gets exactly one close line, failed ones too.
n=$(log_count "info conn [0-9]+ closed: client 127\.0\.0\.1:[0-9]+ target 127\.0\.0\.1:$CLOSED up 0 down 0 time [0-9.]+s \(connect failed\)\$")
[ "$n" = 21 ] || fail "expected 21 '(connect failed)' close lines, found $n"

pid_alive "$SLUICE_PID" || fail "sluice died"
py client.py echo 127.0.0.1 "$LGOOD" --count 5 || fail "the good listener does not work after refused connects"

# Target comes up: the same listener now works (resolved per connection).
bg late-echo python3 "$HELPERS/echo_server.py" --port "$CLOSED"
wait_listen "$CLOSED"
py client.py echo 127.0.0.1 "$LBAD" --count 5 || fail "listener does not work once its target is up"

wait_fds_back "$SLUICE_PID" "$base" 5
stop_sluice

