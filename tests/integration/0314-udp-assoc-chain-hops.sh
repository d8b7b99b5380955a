#!/usr/bin/env bash
# SOCKS5 UDP ASSOCIATE through two -F hops: the first (a plain sluice) only
# carries the control connection (CONNECT to the second); the second, a
# sluice with username/password, runs the UDP association, and our relay
# sends datagrams straight to its relay (reachable here: loopback). IPv4,
# IPv6 and name targets echo; the association ends with the client's
# control connection, at both sluices. On a listener with the
# private-address guard ([::], auth), sluice still drops IP-literal
# private targets; names go to the upstream, which resolves and judges them.
. "$(dirname "$0")/lib.sh"
need python3
K=$HELPERS/udpkit.py

E=$(free_port)
bg echo python3 "$K" echo "$E"
B=$(free_port)
M=$(free_port)
A=$(free_port)
G=$(free_port)
wait_for 5 udp_bound "$E" || fail "udp echo did not start"
v6=
has_ipv6 || v6=--no-v6

echo 'bob:two-Hops.3' >"$T/users"
echo 'dave:guard-Pw.5' >"$T/front"
start_sluice -w 1 --auth-file "$T/users" -L "socks5://127.0.0.1:$B"
BLOG=$SLUICE_LOG
start_sluice -w 1 -L "socks5://127.0.0.1:$M"
MLOG=$SLUICE_LOG
start_sluice -w 1 -L "socks5://127.0.0.1:$A" -F "socks5://127.0.0.1:$M" \
	-F "socks5://bob:two-Hops.3@127.0.0.1:$B" -L "socks5://[::]:$G" --auth-file "$T/front"
python3 "$K" s5 127.0.0.1 "$A" "$E" targets,die --user dave --pw guard-Pw.5 $v6 ||
	fail "UDP ASSOCIATE through two hops"
python3 "$HELPERS/udpchain.py" policy 127.0.0.1 "$G" "$E" --user dave --pw guard-Pw.5 $v6 ||
	fail "the private-address guard through a chain"
wait_log 3 "udp associate client 127\.0\.0\.1:[0-9]+: 127\.0\.0\.1:$E is not a public address"
wait_log 3 "udp associate via socks5://bob@127\.0\.0\.1:$B: upstream relay 127\.0\.0\.1:"
# The first hop relayed one TCP control connection per association to the second.
wait_log 3 "closed: client 127\.0\.0\.1:[0-9]+ target 127\.0\.0\.1:$B " "$MLOG"
wait_for 5 log_count_at_least 3 'target udp-associate .*\(udp associate: control connection closed\)$' "$BLOG" ||
	fail "the last hop did not end all three associations"
wait_for 5 log_count_at_least 3 'target udp-associate .*\(udp associate: control connection closed\)$' ||
	fail "sluice did not end all three associations"
stop_sluice
