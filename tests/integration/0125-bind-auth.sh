#!/usr/bin/env bash
# BIND on a listener with --auth-file: SOCKS5 BIND after RFC 1929
# username/password relays (written normally and pipelined in one write);
# a wrong password gets auth status != 0 and no listening socket; SOCKS4
# BIND is refused (0x5b) as SOCKS4 carries no password.
. "$(dirname "$0")/lib.sh"
. "$HELPERS/px_lib.sh"
. "$HELPERS/px_bind.sh"
need python3

echo 'carol:Bind-Pw.9' >"$T/users"
P=$(free_port)
start_sluice --auth-file "$T/users" -L "proxy://127.0.0.1:$P"
px_bind "socks5 BIND with user:pass" s5 127.0.0.1 "$P" --auth 'carol:Bind-Pw.9' --bytes 50000
px_bind "socks5 BIND with user:pass, pipelined" s5 127.0.0.1 "$P" --auth 'carol:Bind-Pw.9' \
	--mode pipelined --bytes 50000
px_expect "socks5 BIND with a wrong password" script 127.0.0.1 "$P" "send 050102" "expect 0502" \
	"send 01056361726f6c0577726f6e67" "expect 0101" "eof"
px_bind "socks4 BIND on an auth listener: 0x5b" s4 127.0.0.1 "$P" --expect-rep1 0x5b
assert_log "auth failed for user 'carol'"
stop_sluice
