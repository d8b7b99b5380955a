#!/usr/bin/env bash
# SOCKS4 BIND (cmd 2) on socks4://, SOCKS4a BIND with a name, and both
# SOCKS5 and SOCKS4 BIND on one proxy:// port: replies 0x5a with the
# listening address, then the peer's address and port; 300 kB each way
# intact, half-close each way. SOCKS4 checks only the peer's IP (DSTPORT
# 21 is not the port the peer connects from).
. "$(dirname "$0")/lib.sh"
. "$HELPERS/px_bind.sh"
need python3

S4=$(free_port)
PP=$(free_port)
start_sluice -L "socks4://127.0.0.1:$S4" -L "proxy://127.0.0.1:$PP"
px_bind "socks4 BIND" s4 127.0.0.1 "$S4"
px_bind "socks4 BIND bytewise, DSTPORT ignored" s4 127.0.0.1 "$S4" --mode bytewise --dst-port 21 --bytes 20000
px_bind "socks4a BIND localhost" s4 127.0.0.1 "$S4" --dst-name localhost
px_bind "proxy:// socks5 BIND" s5 127.0.0.1 "$PP"
px_bind "proxy:// socks4 BIND" s4 127.0.0.1 "$PP"
wait_for 5 log_count_at_least 5 ' closed: client .* target 127\.0\.0\.1:[0-9]+ up [0-9]+ down [0-9]+ .*\(eof\)$' ||
	fail "$(log_count ' closed: .*\(eof\)$') BIND close lines (eof), expected 5"
stop_sluice
