#!/usr/bin/env bash
# BIND accepts only the requested peer: with DST.ADDR 127.0.0.2 a
# connection from 127.0.0.1 is reset (and logged) and the wait goes on,
# so the real peer from 127.0.0.2 still gets through (SOCKS5 and SOCKS4).
# A SOCKS5 DST.PORT other than 0 must be the peer's source port: a
# connection from another port is reset, one from that port relays.
# A wrong peer does not stop the timeout: the second reply is still 0x06.
. "$(dirname "$0")/lib.sh"
. "$HELPERS/px_bind.sh"
need python3

S5=$(free_port)
S4=$(free_port)
start_sluice --bind-timeout 2s -L "socks5://127.0.0.1:$S5" -L "socks4://127.0.0.1:$S4"
px_bind "socks5: wrong peer reset, right peer relays" s5 127.0.0.1 "$S5" --dst 127.0.0.2 \
	--wrong-peer 127.0.0.1 --peer-src 127.0.0.2 --bytes 20000
grep -q '^peer 127\.0\.0\.2 ' <<<"$PXB_OUT" || fail "the second reply does not name 127.0.0.2"
px_bind "socks4: wrong peer reset, right peer relays" s4 127.0.0.1 "$S4" --dst 127.0.0.2 \
	--wrong-peer 127.0.0.1 --peer-src 127.0.0.2 --bytes 20000
Q=$(free_port)
px_bind "socks5: DST.PORT $Q: another port is reset, port $Q relays" s5 127.0.0.1 "$S5" \
	--dst-port "$Q" --wrong-peer 127.0.0.1 --peer-port "$Q" --bytes 20000
px_bind "socks5: wrong peer, then nobody: 0x06" s5 127.0.0.1 "$S5" --dst 127.0.0.2 \
	--wrong-peer 127.0.0.1 --no-peer --expect-rep2 6
[ "$(log_count 'BIND: reset a connection that is not the requested peer: 127\.0\.0\.1:')" -ge 4 ] ||
	fail "expected 4 'reset a connection' warnings, got $(log_count 'BIND: reset a connection')"
stop_sluice
