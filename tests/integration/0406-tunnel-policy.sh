#!/usr/bin/env bash
# Destination policy at the tunnel server, as for proxy listeners: on a
# non-loopback bind ([::]) private targets (here 127.0.0.1) are refused
# (SOCKS reply 2, "not allowed", warn line on the server) unless
# --allow-private; on a loopback bind they are allowed. Refused and
# unreachable targets map to the right SOCKS replies.
. "$(dirname "$0")/lib.sh"
. "$HELPERS/tun_lib.sh"
need python3 curl

tun_key
start_echo
TP=$(udp_port)
tun_server -L "tunnel://[::]:$TP" --tunnel-key "$KEY"
S5=$(free_port)
EC=$(free_port)
tun_client -w 1 -L "socks5://127.0.0.1:$S5" -L "tcp://127.0.0.1:$EC/127.0.0.1:$ECHO_PORT" -F "tunnel://127.0.0.1:$TP" --tunnel-key "$KEY" \
	--connect-timeout 3s
curl -sS --max-time 10 --socks5 "127.0.0.1:$S5" "http://127.0.0.1:$ECHO_PORT/" >/dev/null 2>"$T/curl.err"
rc=$?
[ $rc = 97 ] || fail "curl exit $rc, expected 97: $(cat "$T/curl.err")"
grep -q "SOCKS5 connection to 127.0.0.1. (2)" "$T/curl.err" ||
	fail "expected SOCKS reply 2 (not allowed): $(cat "$T/curl.err")"
wait_log 3 "warn conn [0-9]+ tunnel [0-9]+ client 127\.0\.0\.1:[0-9]+: 127\.0\.0\.1:$ECHO_PORT is not a public address" "$SRV_LOG"
assert_log "warn conn [0-9]+ client 127\.0\.0\.1:[0-9]+: via tunnel://127\.0\.0\.1:$TP: destination not allowed" "$CLI_LOG"
stop_pid "$SRV_PID" "$SRV_LOG"

# --allow-private lifts it; a closed port is "connection refused".
tun_server -L "tunnel://[::]:$TP" --tunnel-key "$KEY" --allow-private
ok=0
for i in $(seq 1 20); do
	if py client.py echo 127.0.0.1 "$EC" --count 2 --timeout 3 >/dev/null 2>&1; then
		ok=1
		break
	fi
	sleep 0.3
done
[ $ok = 1 ] || fail "--allow-private: echo through the tunnel failed"
CLOSED=$(free_port)
curl -sS --max-time 10 --socks5 "127.0.0.1:$S5" "http://127.0.0.1:$CLOSED/" >/dev/null 2>"$T/curl.err"
grep -q "(5)" "$T/curl.err" || fail "closed port: expected SOCKS reply 5 (refused): $(cat "$T/curl.err")"
stop_pid "$CLI_PID" "$CLI_LOG"
stop_pid "$SRV_PID" "$SRV_LOG"
