#!/usr/bin/env bash
# SOCKS5 UDP ASSOCIATE through a -F socks5:// upstream (a second sluice,
# with username/password on the hop): python3 clients on socks5:// and
# proxy:// listeners get 400 datagrams of many sizes echoed intact from
# 127.0.0.1, ::1 and the name localhost (resolved by the upstream), plus the
# largest datagram the loopback path allows, with reply headers naming the
# echo.
# When the client's control connection closes, the upstream's association
# goes with it (its relay socket is gone) and neither sluice keeps an fd;
# when the upstream goes away, the client's control connection is closed.
. "$(dirname "$0")/lib.sh"
need python3
K=$HELPERS/udpkit.py
C=$HELPERS/udpchain.py

E=$(free_port)
bg echo python3 "$K" echo "$E" --log "$T/echo.log"
wait_for 5 udp_bound "$E" || fail "udp echo did not start"
v6=
has_ipv6 || v6=--no-v6

echo 'alice:hop-Pw.2' >"$T/users"
B=$(free_port)
start_sluice -w 1 --auth-file "$T/users" --allow-private --grace 500ms -L "socks5://127.0.0.1:$B"
BPID=$SLUICE_PID BLOG=$SLUICE_LOG
A=$(free_port)
AP=$(free_port)
start_sluice -w 2 -L "socks5://127.0.0.1:$A" -L "proxy://127.0.0.1:$AP" \
	-F "socks5://alice:hop-Pw.2@127.0.0.1:$B"
APID=$SLUICE_PID ALOG=$SLUICE_LOG

# Warm up (the resolver, the datagram scratch), then count fds.
python3 "$K" s5 127.0.0.1 "$AP" "$E" targets $v6 || fail "proxy:// UDP ASSOCIATE through -F socks5://"
wait_for 5 log_count_at_least 1 'target udp-associate .*\(udp associate: control connection closed\)$' "$BLOG" ||
	fail "the upstream did not end its association"
abase=$(fd_count "$APID")
bbase=$(fd_count "$BPID")
python3 "$C" bulk 127.0.0.1 "$A" "$E" $v6 || fail "socks5:// UDP ASSOCIATE through -F socks5://"

# Each association went through its own upstream association.
wait_for 5 log_count_at_least 2 "udp associate via socks5://alice@127\.0\.0\.1:$B: upstream relay " "$ALOG" ||
	fail "$(log_count 'upstream relay' "$ALOG") upstream associations logged, expected 2"
grep -q 'hop-Pw' "$ALOG" && fail "the hop's password is in the log"
# Both ended with the client's control connection: the upstream's relay
# sockets are closed, and no fd is left over on either side.
for p in $(grep -oE 'upstream relay .*:[0-9]+$' "$ALOG" | sed 's/.*://'); do
	wait_for 5 eval "! udp_bound $p" || fail "the upstream's relay port $p is still open"
done
wait_for 5 log_count_at_least 2 'target udp-associate .*\(udp associate: control connection closed\)$' "$BLOG" ||
	fail "the upstream did not end the second association"
wait_fds_back "$APID" "$abase" 5
wait_fds_back "$BPID" "$bbase" 5
# The upstream saw datagrams from our relay only, and the client got every reply.
wait_log 3 "udp associate: datagrams up 40[0-9] down 40[0-9] dropped 0 " "$ALOG"

# The upstream goes away: the association ends, the client is told by EOF.
bg hold python3 "$C" hold 127.0.0.1 "$A" "$E"
HOLD=$BG_PID
wait_for 5 grep -q '^ready' "$T/hold.log" || fail "no association to hold: $(cat "$T/hold.log")"
SLUICE_PID=$BPID SLUICE_LOG=$BLOG
stop_sluice
wait "$HOLD" || fail "after the upstream stopped: $(cat "$T/hold.log")"
wait_log 3 "closed: .*target udp-associate .*\(reset\)$" "$ALOG"
pid_alive "$APID" || fail "sluice died"
SLUICE_PID=$APID SLUICE_LOG=$ALOG
stop_sluice
