#!/usr/bin/env bash
# Roaming: the client's packets start coming from another address (here: the
# tools/lossy relay in between is replaced by a new one, whose socket towards
# the server has another port). The server logs the move, answers the new
# address, and the same tunnel session and its open stream go on.
. "$(dirname "$0")/lib.sh"
. "$HELPERS/tun_lib.sh"
need python3
find_lossy

tun_key
start_echo
TP=$(udp_port)
LP=$(udp_port)
tun_server -L "tunnel://127.0.0.1:$TP" --tunnel-key "$KEY"
bg lossy1 "$LOSSY" -l "127.0.0.1:$LP" -t "127.0.0.1:$TP"
L1=$BG_PID
wait_for 5 grep -q 'lossy ready' "$T/lossy1.log" || fail "lossy did not start"
EC=$(free_port)
tun_client -w 1 -L "tcp://127.0.0.1:$EC/127.0.0.1:$ECHO_PORT" -F "tunnel://127.0.0.1:$LP" \
	--tunnel-key "$KEY"
py client.py echo 127.0.0.1 "$EC" --count 2 || fail "echo before the move failed"
# A long-lived stream across the move.
python3 - "$EC" >"$T/long.out" 2>&1 <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=15)
for i in range(6):
    msg = b"ping %d\n" % i
    s.sendall(msg)
    got = b""
    while len(got) < len(msg):
        got += s.recv(100)
    assert got == msg, got
    time.sleep(0.5)
print("long stream ok")
PY
LONG=$!
sleep 0.7
kill -TERM "$L1"
bg lossy2 "$LOSSY" -l "127.0.0.1:$LP" -t "127.0.0.1:$TP"
wait_for 5 grep -q 'lossy ready' "$T/lossy2.log" || fail "second lossy did not start"
wait "$LONG" || fail "the stream across the move broke: $(cat "$T/long.out")"
wait_log 5 "info tunnel 0: client moved from 127\.0\.0\.1:[0-9]+ to 127\.0\.0\.1:[0-9]+" "$SRV_LOG"
py client.py echo 127.0.0.1 "$EC" --count 2 || fail "echo after the move failed"
[ "$(log_count "tunnel [0-9]+ up" "$CLI_LOG")" = 1 ] || fail "the session did not survive the move"
stop_pid "$CLI_PID" "$CLI_LOG"
stop_pid "$SRV_PID" "$SRV_LOG"
