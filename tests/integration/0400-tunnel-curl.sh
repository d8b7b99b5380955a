#!/usr/bin/env bash
# tcp:// and socks5:// over a tunnel:// on loopback: curl fetches a 5 MB
# file intact through both (socks5 with the name "localhost" resolved by
# the tunnel server), python echo clients get their bytes back, each side
# logs the tunnel up and one close line per connection, and both stop
# cleanly. An HTTP proxy listener rides it too, with CONNECT and with plain
# absolute-form requests (the keep-alive forwarding loop; 0409 has more).
# A tunnel:// listener with /TARGET ignores what streams ask for.
. "$(dirname "$0")/lib.sh"
. "$HELPERS/px_lib.sh"
. "$HELPERS/tun_lib.sh"
need python3 curl sha256sum

tun_key
px_www
start_echo
TP=$(udp_port)
TP2=$(udp_port)
tun_server -L "tunnel://127.0.0.1:$TP" -L "tunnel://127.0.0.1:$TP2/127.0.0.1:$ECHO_PORT" \
	--tunnel-key "$KEY"
assert_log "listening on tunnel://127\.0\.0\.1:$TP \(udp\)"
assert_log "listening on tunnel://127\.0\.0\.1:$TP2 \(udp\) -> 127\.0\.0\.1:$ECHO_PORT"
S5=$(free_port)
FW=$(free_port)
EC=$(free_port)
HP=$(free_port)
tun_client -w 1 -L "socks5://127.0.0.1:$S5" -L "tcp://127.0.0.1:$FW/127.0.0.1:$WWW_PORT" \
	-L "tcp://127.0.0.1:$EC/127.0.0.1:$ECHO_PORT" -L "http://127.0.0.1:$HP" -F "tunnel://127.0.0.1:$TP" --tunnel-key "$KEY"

px_fetch "tcp:// over the tunnel" "http://127.0.0.1:$FW/blob"
px_fetch "socks5 over the tunnel" --socks5 "127.0.0.1:$S5" "http://127.0.0.1:$WWW_PORT/blob"
px_fetch "socks5h over the tunnel" --socks5-hostname "127.0.0.1:$S5" "http://localhost:$WWW_PORT/blob"
px_fetch "http CONNECT over the tunnel" -p -x "http://127.0.0.1:$HP" "http://127.0.0.1:$WWW_PORT/blob"
px_fetch "plain http:// over the tunnel" -x "http://127.0.0.1:$HP" "http://127.0.0.1:$WWW_PORT/blob"
py client.py echo 127.0.0.1 "$EC" --count 20 || fail "echo over the tunnel failed"
wait_log 3 "info tunnel [0-9]+ up: server 127\.0\.0\.1:$TP" "$CLI_LOG"
wait_log 3 "info tunnel [0-9]+ up: client 127\.0\.0\.1:[0-9]+" "$SRV_LOG"
# One tunnel session carries everything.
[ "$(log_count "tunnel [0-9]+ up" "$CLI_LOG")" = 1 ] || fail "expected one tunnel session"
wait_for 3 log_count_at_least 24 "info conn [0-9]+ closed: client 127\.0\.0\.1:[0-9]+ target .* \(eof\)$" "$CLI_LOG" ||
	fail "client: expected 24 eof close lines"
assert_log "info conn [0-9]+ closed: client 127\.0\.0\.1:[0-9]+ target localhost:$WWW_PORT up [0-9]+ down 5000[0-9]{3} time" "$CLI_LOG"
wait_for 3 log_count_at_least 23 "info conn [0-9]+ closed: tunnel [0-9]+ client 127\.0\.0\.1:[0-9]+ target 127\.0\.0\.1:[0-9]+ up [0-9]+ down [0-9]+ time [0-9.]+s \(eof\)$" "$SRV_LOG" ||
	fail "server: expected 23 eof close lines"

# The forced target: whatever the client asks, the server dials the echo server.
FW2=$(free_port)
tun_client -L "tcp://127.0.0.1:$FW2/192.0.2.1:9" -F "tunnel://127.0.0.1:$TP2" --tunnel-key "$KEY"
py client.py echo 127.0.0.1 "$FW2" --count 3 || fail "forced target: echo failed"
stop_pid "$CLI_PID" "$CLI_LOG"
SLUICE_PID=$SRV_PID SLUICE_LOG=$SRV_LOG
stop_sluice
check_sluice_clean
