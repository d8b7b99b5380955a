#!/usr/bin/env bash
# Accept balancing: SO_REUSEPORT alone may put most of a few long-lived
# connections on one worker; a worker whose load is 2 ahead hands the
# accepted connection to the least loaded one. 16 connections opened one
# after another and held (each echoes first, so the handed-off ones work)
# end up 8:8 or within 2 of it on 2 workers, and 3 workers get 16 within 2
# of an even share. A session's id modulo the worker count is its worker.
. "$(dirname "$0")/lib.sh"
need python3

start_echo
N=16

# hold_n PORT: open N connections one at a time, echo a byte on each, hold
# them all, then close them.
hold_n() {
	timeout 30 python3 - "$1" "$N" <<'PY'
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
socks = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"x")
    if s.recv(1) != b"x":
        sys.exit(f"connection {i}: no echo")
    socks.append(s)
    time.sleep(0.02)
for s in socks:
    s.close()
PY
}

# spread WORKERS: per-worker counts of the close lines, "a b ...", and the gap.
check_spread() {
	local workers=$1 counts gap
	wait_for 10 log_count_at_least "$N" ' closed: client ' ||
		fail "only $(log_count ' closed: client ') of $N connections logged as closed"
	counts=$(grep -oE 'conn [0-9]+ closed' "$SLUICE_LOG" |
		awk -v w="$workers" '{c[$2 % w]++} END {for (i = 0; i < w; i++) printf "%d ", c[i] + 0}')
	gap=$(echo "$counts" | awk '{min = $1; max = $1; for (i = 2; i <= NF; i++) {if ($i < min) min = $i; if ($i > max) max = $i} print max - min}')
	log "$workers workers: connections per worker: $counts(gap $gap)"
	[ "$gap" -le 2 ] || fail "$N held connections spread $counts over $workers workers: gap $gap > 2"
}

for workers in 2 3; do
	LP=$(free_port)
	start_sluice --workers "$workers" -L "tcp://127.0.0.1:$LP/127.0.0.1:$ECHO_PORT"
	hold_n "$LP" || fail "$N held connections through $workers workers"
	check_spread "$workers"
	stop_sluice
done
