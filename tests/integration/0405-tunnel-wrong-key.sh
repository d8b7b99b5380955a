#!/usr/bin/env bash
# A client with the wrong key: its handshake never completes, the SOCKS
# client gets an error reply within the connect timeout, the client logs
# the tunnel failure, the server logs failed handshakes (rate-limited) and
# keeps no state for them (no session up, fds unchanged), and a client with
# the right key still works.
. "$(dirname "$0")/lib.sh"
. "$HELPERS/tun_lib.sh"
need python3 curl

tun_key good
GOOD=$KEY
tun_key bad
start_echo
TP=$(udp_port)
tun_server -L "tunnel://127.0.0.1:$TP" --tunnel-key "$GOOD"
sbase=$(fd_count "$SRV_PID")
S5=$(free_port)
tun_client -w 1 -L "socks5://127.0.0.1:$S5" -F "tunnel://127.0.0.1:$TP" --tunnel-key "$KEY" \
	--connect-timeout 2s
t0=$(now_ms)
curl -sS --max-time 10 --socks5 "127.0.0.1:$S5" "http://127.0.0.1:$ECHO_PORT/" >/dev/null 2>"$T/curl.err"
rc=$?
[ $rc = 97 ] || fail "curl exit $rc, expected 97 (SOCKS error): $(cat "$T/curl.err")"
log "curl failed as expected after $(( $(now_ms) - t0 )) ms: $(cat "$T/curl.err")"
wait_log 3 "warn tunnel 0 to 127\.0\.0\.1:$TP failed: handshake timeout" "$CLI_LOG"
wait_log 3 "warn tunnel://127\.0\.0\.1:$TP: [0-9]+ handshakes? failed authentication, latest from 127\.0\.0\.1:[0-9]+" "$SRV_LOG"
# More tries: still refused, never a session, nothing kept.
for i in 1 2 3; do
	curl -s --max-time 10 --socks5 "127.0.0.1:$S5" "http://127.0.0.1:$ECHO_PORT/" >/dev/null 2>&1 &&
		fail "a wrong-key client got through"
done
[ "$(log_count "tunnel [0-9]+ up" "$SRV_LOG")" = 0 ] || fail "the server accepted a wrong-key session"
[ "$(fd_count "$SRV_PID")" -le "$sbase" ] || fail "server fds grew"
n=$(log_count "failed authentication" "$SRV_LOG")
[ "$n" -le 2 ] || fail "failed handshakes not rate-limited: $n lines"
# The right key works.
EC=$(free_port)
tun_client -w 1 -L "tcp://127.0.0.1:$EC/127.0.0.1:$ECHO_PORT" -F "tunnel://127.0.0.1:$TP" \
	--tunnel-key "$GOOD"
py client.py echo 127.0.0.1 "$EC" --count 2 || fail "the right key does not work"
stop_pid "$CLI_PID" "$CLI_LOG"
stop_pid "$SRV_PID" "$SRV_LOG"
