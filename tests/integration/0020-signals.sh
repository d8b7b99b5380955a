#!/usr/bin/env bash
# Signals: SIGINT stops like SIGTERM (exit 0); a second SIGTERM during the
# grace period stops at once (as --help says) and still exits 0; SIGPIPE is
# ignored.
. "$(dirname "$0")/lib.sh"
need python3

start_echo
LP=$(free_port)

# SIGPIPE sent to the process does nothing.
start_sluice -L "tcp://127.0.0.1:$LP/127.0.0.1:$ECHO_PORT"
kill -PIPE "$SLUICE_PID"
sleep 0.5
pid_alive "$SLUICE_PID" || { sluice_wait_exit 1; fail "sluice died of SIGPIPE (status $SLUICE_STATUS)"; }
py client.py echo 127.0.0.1 "$LP" --count 3 || fail "no relay after SIGPIPE"

# SIGINT: clean stop, status 0.
kill -INT "$SLUICE_PID"
sluice_wait_exit 10 || fail "sluice ignores SIGINT (still running 10 s later)"
[ "$SLUICE_STATUS" = 0 ] || fail "exit status $SLUICE_STATUS after SIGINT, expected 0"
check_sluice_clean

# Second SIGTERM while a connection holds the grace period (10 s): at once.
start_sluice --grace 10 -L "tcp://127.0.0.1:$LP/127.0.0.1:$ECHO_PORT"
bg idle-client python3 -c "
import socket, time
s = socket.create_connection(('127.0.0.1', $LP))
s.sendall(b'x'); s.recv(1)
open('$T/idle.ready', 'w').close()
time.sleep(30)
"
wait_for 10 test -e "$T/idle.ready" || fail "the idle client did not get its echo"
kill -TERM "$SLUICE_PID"
sleep 0.5
pid_alive "$SLUICE_PID" || fail "sluice did not wait for the live connection (grace 10 s)"
t0=$(now_ms)
kill -TERM "$SLUICE_PID"
lim=2
[ $SLOW = 1 ] && lim=10
sluice_wait_exit $lim || fail "a second SIGTERM did not stop sluice within ${lim}s"
log "exited $(($(now_ms) - t0)) ms after the second SIGTERM, status $SLUICE_STATUS"
[ "$SLUICE_STATUS" = 0 ] || fail "exit status $SLUICE_STATUS after a second SIGTERM, expected 0"
check_sluice_clean
