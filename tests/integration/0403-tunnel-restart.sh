#!/usr/bin/env bash
# The tunnel server restarts: the client notices (a crash: ICMP port
# unreachable while it is down, or the keepalive timeout when the new one
# drops the old session's packets; a clean stop: the server's GOAWAY), logs
# the session down, and the next streams open a fresh session with a new
# handshake and work. A client that stops says GOAWAY too: the server drops
# the session at once.
. "$(dirname "$0")/lib.sh"
. "$HELPERS/tun_lib.sh"
need python3

tun_key
start_echo
TP=$(udp_port)
tun_server -L "tunnel://127.0.0.1:$TP" --tunnel-key "$KEY"
EC=$(free_port)
tun_client -w 1 -L "tcp://127.0.0.1:$EC/127.0.0.1:$ECHO_PORT" -F "tunnel://127.0.0.1:$TP" \
	--tunnel-key "$KEY" --tunnel-keepalive 500ms --tunnel-timeout 2s --connect-timeout 3s
py client.py echo 127.0.0.1 "$EC" --count 3 || fail "echo before the restart failed"

# 1. The server dies and comes back at once: the old session goes quiet.
kill -KILL "$SRV_PID"
tun_server -L "tunnel://127.0.0.1:$TP" --tunnel-key "$KEY"
wait_log 10 "info tunnel 0 down: server 127\.0\.0\.1:$TP .*\((keepalive timeout|server port unreachable)\)" "$CLI_LOG"
py client.py echo 127.0.0.1 "$EC" --count 3 || fail "echo after the restart failed"
wait_log 3 "info tunnel 1 up: server" "$CLI_LOG"

# 2. The server is down for a while: a stream meanwhile fails cleanly, and
#    once it is back the next ones work.
kill -TERM "$SRV_PID"
sluice_wait_exit 10 || fail "server did not stop"
# A clean stop says GOAWAY (best effort: the last datagram may lose the race
# with the socket's close, and then the ICMP port unreachable tells).
wait_log 5 "info tunnel 1 down: server 127\.0\.0\.1:$TP .*\((server closed the tunnel|server port unreachable)\)" "$CLI_LOG"
py client.py expect-close 127.0.0.1 "$EC" --send x --max 6 || fail "a stream while the server is down was not closed"
tun_server -L "tunnel://127.0.0.1:$TP" --tunnel-key "$KEY"
ok=0
for i in $(seq 1 30); do
	if py client.py echo 127.0.0.1 "$EC" --count 2 --timeout 3 >/dev/null 2>&1; then
		ok=1
		break
	fi
	sleep 0.2
done
[ $ok = 1 ] || fail "no working stream after the server came back"
pid_alive "$CLI_PID" || fail "client died"
stop_pid "$CLI_PID" "$CLI_LOG"
wait_log 5 "info tunnel [0-9]+ down: client 127\.0\.0\.1:[0-9]+ .*\(client closed the tunnel\)" "$SRV_LOG"
stop_pid "$SRV_PID" "$SRV_LOG"
