#!/usr/bin/env bash
# SOCKS5 UDP ASSOCIATE with --auth-file (RFC 1929 first; a wrong password
# gets no association); the SSRF policy: a proxy listening on a
# non-loopback address ([::], with auth) drops datagrams for loopback
# targets, IP or name, and says so once in the log; with -F configured UDP
# ASSOCIATE is answered 0x07 (command not supported), documented, and the
# control connection closed. --udp-advertise sets BND.ADDR.
. "$(dirname "$0")/lib.sh"
need python3
K=$HELPERS/udpkit.py

E=$(free_port)
bg echo python3 "$K" echo "$E" --log "$T/echo.log"
wait_for 5 grep -qsE ":$(printf '%04X' "$E") 0+:0000 07 " /proc/net/udp || fail "udp echo did not start"
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

F=$(free_port)
start_sluice -w 1 -L "socks5://127.0.0.1:$F" -F "socks5://127.0.0.1:$(free_port)"
out=$(python3 "$K" s5 127.0.0.1 "$F" "$E" refused) || fail "UDP ASSOCIATE accepted with -F"
[ "$out" = "reply 7" ] || fail "with -F: $out, expected reply 7 (command not supported)"
wait_log 3 "closed: .*\(udp associate: not supported with -F\)$"
"$SLUICE_BIN" --help >"$T/help"
grep -q "ASSOCIATE is refused with -F" "$T/help" || fail "--help does not say UDP ASSOCIATE is refused with -F"
stop_sluice
