#!/usr/bin/env bash
# SOCKS5 UDP ASSOCIATE with --auth-file (RFC 1929 first; a wrong password
# gets no association); the SSRF policy: a proxy listening on a
# non-loopback address ([::], with auth) drops datagrams for loopback
# targets, IP or name, and says so once in the log. --udp-advertise sets
# BND.ADDR. (UDP ASSOCIATE with -F: 0313, 0314, 0315.)
. "$(dirname "$0")/lib.sh"
need python3
K=$HELPERS/udpkit.py

E=$(free_port)
bg echo python3 "$K" echo "$E" --log "$T/echo.log"
wait_for 5 udp_bound "$E" || fail "udp echo did not start"
echo 'alice:udp-Pw.1' >"$T/users"
S=$(free_port)
W=$(free_port)
start_sluice -w 1 --auth-file "$T/users" -L "socks5://127.0.0.1:$S" -L "socks5://[::]:$W" \
	--udp-advertise 127.0.0.9

v6=
has_ipv6 || v6=--no-v6
# --udp-advertise: BND.ADDR is what we said (127.0.0.9 reaches the relay too).
python3 "$K" s5 127.0.0.1 "$S" "$E" targets --user alice --pw udp-Pw.1 --want-relay-host 127.0.0.9 $v6 ||
	fail "UDP ASSOCIATE with username/password"
out=$(python3 "$K" s5 127.0.0.1 "$S" "$E" refused --user alice --pw wrong) ||
	fail "a wrong password got an association"
[ "$out" = "reply -1" ] || fail "wrong password: $out"
python3 "$K" s5 127.0.0.1 "$W" "$E" policy --user alice --pw udp-Pw.1 || fail "policy"
grep -q "b'private" "$T/echo.log" && fail "a private target got a datagram"
wait_log 3 "udp associate client 127\.0\.0\.1:[0-9]+: 127\.0\.0\.1:$E is not a public address"
stop_sluice

