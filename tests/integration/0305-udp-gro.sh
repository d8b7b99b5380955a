#!/usr/bin/env bash
# udp:// and GRO runs: sluice turns UDP_GRO on, so a run of equal-sized
# datagrams sent as one GSO send (as QUIC and WireGuard stacks send, and as
# a NIC's GRO coalesces) reaches it whole. It must go on as the same run of
# datagrams, never as one glued datagram: a client's 41-datagram GSO runs
# come back datagram by datagram, in order, through a plain echo (runs
# upstream) and through an echo that answers with GSO runs itself (runs on
# the way back). The close lines count datagrams, not runs.
. "$(dirname "$0")/lib.sh"
need python3
K=$HELPERS/udpkit.py

E=$(free_port)
G=$(free_port)
bg echo python3 "$K" echo "$E"
bg gsoecho python3 "$K" gsoecho "$G"
wait_for 5 udp_bound "$E" || fail "udp echo did not start"
wait_for 5 udp_bound "$G" || fail "udp gso echo did not start"
# Without sluice, both echoes answer a run datagram by datagram.
python3 "$K" run "gso/127.0.0.1/$E" "gso/127.0.0.1/$G" || fail "the echoes themselves"

P1=$(free_port)
P2=$(free_port)
start_sluice -w 2 -L "udp://127.0.0.1:$P1/127.0.0.1:$E" -L "udp://127.0.0.1:$P2/127.0.0.1:$G"
python3 "$K" run "gso/127.0.0.1/$P1" || fail "GSO runs through udp:// (plain echo)"
python3 "$K" run "gso/127.0.0.1/$P2" || fail "GSO runs through udp:// (GSO echo)"
stop_sluice
# 5 runs of 41 datagrams (40 x 1000 + 500 bytes) each way, per session.
[ "$(log_count 'udp [0-9]+ closed: client .* up 205/202500 down 205/202500 \(dgrams/bytes\) dropped 0 ')" = 2 ] ||
	fail "expected two sessions of 205 datagrams each way, none dropped"
