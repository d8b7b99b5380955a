#!/usr/bin/env bash
# SOCKS5 BIND (RFC 1928 cmd 0x02) on socks5://: the first reply names a
# listening 127.0.0.1 port, a second socket connects to it from 127.0.0.1,
# the second reply names that peer's address and port exactly, then 300 kB
# go each way intact with a half-close each way. The handshake written
# byte by byte and pipelined in one write; a domain DST.ADDR (localhost,
# resolved by sluice); an IPv6 BIND when ::1 exists. One close line per
# BIND whose target is the peer.
. "$(dirname "$0")/lib.sh"
. "$HELPERS/px_bind.sh"
need python3

S5=$(free_port)
start_sluice -L "socks5://127.0.0.1:$S5"
n=5
px_bind "socks5 BIND" s5 127.0.0.1 "$S5"
px_bind "socks5 BIND bytewise" s5 127.0.0.1 "$S5" --mode bytewise --bytes 20000
px_bind "socks5 BIND pipelined" s5 127.0.0.1 "$S5" --mode pipelined
px_bind "socks5 BIND DST.ADDR localhost (a name)" s5 127.0.0.1 "$S5" --dst-name localhost
if has_ipv6; then
	BIND_ANY_BND=1 px_bind "socks5 BIND DST ::1" s5 127.0.0.1 "$S5" --dst ::1 --peer-src ::1
	grep -q '^bnd ::1 ' <<<"$PXB_OUT" || fail "BIND ::1: the first reply does not name ::1"
else
	n=4
fi
wait_for 5 log_count_at_least $n ' closed: client .* target (127\.0\.0\.1|\[::1\]):[0-9]+ up [0-9]+ down [0-9]+ .*\(eof\)$' ||
	fail "$(log_count ' closed: .*\(eof\)$') BIND close lines (eof), expected $n"
stop_sluice
