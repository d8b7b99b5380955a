#!/usr/bin/env bash
# udp:// under bursts from many clients at once (the batched paths: a
# listener batch split per session, replies of many sessions held and sent
# in one sendmmsg, GSO runs cut where the destination or size changes):
# every client gets only its own replies, each intact (sizes around and
# above the GSO segment limit, runs ending short) and in order. One worker
# (all sessions share a loop turn) and two.
. "$(dirname "$0")/lib.sh"
need python3
B=$HELPERS/udpburst.py

E=$(free_port)
bg echo python3 "$B" echo "$E"
wait_for 5 udp_bound "$E" || fail "udp echo did not start"

for w in 1 2; do
	P=$(free_port)
	start_sluice -w "$w" -L "udp://127.0.0.1:$P/127.0.0.1:$E"
	python3 "$B" run 127.0.0.1 "$P" 16 300 24 || fail "bursts through udp:// with $w worker(s)"
	pid_alive "$SLUICE_PID" || fail "sluice died"
	stop_sluice
	[ "$(log_count 'udp [0-9]+ closed: client .*\(shutdown\)$')" -ge 16 ] ||
		fail "expected 16 session close lines ($w worker(s))"
done
