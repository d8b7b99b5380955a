#!/usr/bin/env bash
# udp:// session table limits: with --udp-max-sessions 3 a fourth client
# evicts the least recently active one (logged "evicted"), the others keep
# working; with --udp-timeout 1s idle sessions expire ("idle timeout") and
# a returning client gets a new session. A target that refuses (ICMP port
# unreachable -> ECONNREFUSED on the session's socket) kills neither the
# session table nor the listener.
. "$(dirname "$0")/lib.sh"
need python3
K=$HELPERS/udpkit.py

E=$(free_port)
bg echo python3 "$K" echo "$E"
wait_for 5 udp_bound "$E" || fail "udp echo did not start"
DEAD=$(free_port)	# nothing listens here: the kernel answers port unreachable
P=$(free_port)
PD=$(free_port)
start_sluice -w 1 --udp-max-sessions 3 --udp-timeout 1s \
	-L "udp://127.0.0.1:$P/127.0.0.1:$E" -L "udp://127.0.0.1:$PD/127.0.0.1:$DEAD"

S1=$(free_port) S2=$(free_port) S3=$(free_port) S4=$(free_port)
# S1 ends up the least recently active: S4 takes its place.
python3 "$K" run ping/127.0.0.1/$P/$S1 ping/127.0.0.1/$P/$S2 ping/127.0.0.1/$P/$S3 \
	ping/127.0.0.1/$P/$S2 ping/127.0.0.1/$P/$S3 ping/127.0.0.1/$P/$S4 ping/127.0.0.1/$P/$S2 ||
	fail "echo through a full session table"
wait_log 3 "udp [0-9]+ closed: client 127\.0\.0\.1:$S1 .*\(evicted\)$"
[ "$(log_count '\(evicted\)$')" = 1 ] || fail "exactly one session should have been evicted"

# Idle expiry: everybody quiet for more than a second; then a refusing
# target: ICMP errors come back, the session and the listener stay.
wait_log 5 "udp [0-9]+ closed: client 127\.0\.0\.1:$S4 .*\(idle timeout\)$"
python3 "$K" run ping/127.0.0.1/$P/$S4 noping/127.0.0.1/$PD/$S1 noping/127.0.0.1/$PD/$S1 \
	noping/127.0.0.1/$PD/$S1 noping/127.0.0.1/$PD/$S1 ping/127.0.0.1/$P/$S3 ||
	fail "after expiry / ICMP errors"
pid_alive "$SLUICE_PID" || fail "sluice died"
stop_sluice
# The refused session lived through its five datagrams, closed once at the end.
[ "$(log_count "udp [0-9]+ closed: client 127\.0\.0\.1:$S1 target 127\.0\.0\.1:$DEAD ")" = 1 ] ||
	fail "the session to the refusing target should have closed once"
