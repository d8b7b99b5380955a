#!/usr/bin/env bash
# BIND follows the destination policy of CONNECT: a proxy on a public
# address (0.0.0.0 here, --allow-open) without --allow-private refuses a
# BIND for a private DST.ADDR (SOCKS5 0x02 "not allowed", SOCKS4 0x5b) and
# logs why; for DST 0.0.0.0 (any peer) it listens but resets private peers
# (127.0.0.1), so the BIND times out (0x06). With --allow-private the same
# BIND relays. With -F (an upstream chain, which only CONNECTs) BIND is
# refused: 0x02 / 0x5b, logged.
. "$(dirname "$0")/lib.sh"
. "$HELPERS/px_bind.sh"
need python3

P=$(free_port)
start_sluice --allow-open --bind-timeout 1s -L "proxy://0.0.0.0:$P"
px_bind "public proxy: socks5 BIND 127.0.0.1 refused 0x02" s5 127.0.0.1 "$P" --expect-rep1 2
px_bind "public proxy: socks4 BIND 127.0.0.1 refused 0x5b" s4 127.0.0.1 "$P" --expect-rep1 0x5b
px_bind "public proxy: socks5 BIND 0.0.0.0, private peer reset, 0x06" s5 127.0.0.1 "$P" \
	--dst 0.0.0.0 --wrong-peer 127.0.0.1 --no-peer --expect-rep2 6
assert_log 'BIND: not a public address \(--allow-private permits it\)'
assert_log 'BIND: reset a connection that is not the requested peer: 127\.0\.0\.1:'
stop_sluice

P2=$(free_port)
start_sluice --allow-open --allow-private -L "proxy://0.0.0.0:$P2"
px_bind "--allow-private: socks5 BIND 127.0.0.1 relays" s5 127.0.0.1 "$P2" --bytes 20000
px_bind "--allow-private: socks5 BIND 0.0.0.0 relays" s5 127.0.0.1 "$P2" --dst 0.0.0.0 --bytes 20000
stop_sluice

UP=$(free_port)
start_sluice -L "socks5://127.0.0.1:$UP"
UPLOG=$SLUICE_LOG
UPPID=$SLUICE_PID
P3=$(free_port)
start_sluice -F "socks5://127.0.0.1:$UP" -L "proxy://127.0.0.1:$P3"
px_bind "-F: socks5 BIND refused 0x02" s5 127.0.0.1 "$P3" --expect-rep1 2
px_bind "-F: socks4 BIND refused 0x5b" s4 127.0.0.1 "$P3" --expect-rep1 0x5b
assert_log 'BIND: not supported through -F upstream proxies'
stop_sluice
SLUICE_PID=$UPPID SLUICE_LOG=$UPLOG
[ "$(log_count ' closed: ')" = 0 ] || fail "the upstream saw a connection for a refused BIND"
stop_sluice
