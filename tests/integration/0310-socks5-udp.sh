#!/usr/bin/env bash
# SOCKS5 UDP ASSOCIATE (RFC 1928 section 7) with python3 clients, on a
# socks5:// and a proxy:// listener: IPv4, IPv6 and domain (localhost)
# targets with the reply header naming the source; pinning (a datagram from
# another source port or another IP reaches no target, the client gets
# nothing it did not ask for; a port announced in the request is pinned at
# once); the association ends with its TCP connection; 3000 garbage
# datagrams (bad ATYP, FRAG != 0, empty domains, short headers) are dropped,
# counted in the log, and the relay still serves.
. "$(dirname "$0")/lib.sh"
need python3
K=$HELPERS/udpkit.py

E=$(free_port)
bg echo python3 "$K" echo "$E" --log "$T/echo.log"
wait_for 5 udp_bound "$E" || fail "udp echo did not start"
S5=$(free_port)
PP=$(free_port)
start_sluice -w 2 -L "socks5://127.0.0.1:$S5" -L "proxy://127.0.0.1:$PP"

v6=
has_ipv6 || v6=--no-v6
python3 "$K" s5 127.0.0.1 "$S5" "$E" targets,pin,die,garbage --other-ip $v6 ||
	fail "socks5:// UDP ASSOCIATE"
python3 "$K" s5 127.0.0.1 "$PP" "$E" targets,announce $v6 || fail "proxy:// UDP ASSOCIATE"
grep -q 'intruder' "$T/echo.log" && fail "a datagram from a stranger reached the target"
# Only the test's own payloads reached the target: no garbage got through.
grep -vF -e "b'hello" -e "b'still mine" -e "b'after garbage" -e 'b'"'"'\x00\x01\x02' "$T/echo.log" &&
	fail "datagrams other than the test's payloads reached the target"
# One close line per association, when its control connection closed.
wait_for 5 log_count_at_least 6 'target udp-associate .*\(udp associate: control connection closed\)$' ||
	fail "$(log_count 'target udp-associate') association close lines, expected 6"
# Garbage is dropped and counted.
wait_log 3 "udp associate: datagrams up [0-9]+ down [0-9]+ dropped [0-9]{4,} "
pid_alive "$SLUICE_PID" || fail "sluice died"
stop_sluice
