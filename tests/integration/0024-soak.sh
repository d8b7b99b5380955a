#!/usr/bin/env bash
# A soak of mixed traffic at once, for 20 s from 8 client threads (seeded):
# socks5, socks4a and HTTP CONNECT streams through proxy://, tcp://
# forwarding, each ended cleanly (the echo must match), by RST mid-stream or
# by leaving without reading; garbage and oversized heads to proxy://;
# stalled handshakes; udp:// and SOCKS5 UDP datagrams, malformed ones among
# them. Afterwards sluice still serves, its fds come back, and it stops
# cleanly (under ASan or valgrind: no errors, no leaks).
. "$(dirname "$0")/lib.sh"
need python3

start_echo
UE=$(free_port)
bg uecho python3 "$HELPERS/udpkit.py" echo "$UE"
wait_for 5 udp_bound "$UE" || fail "udp echo did not start"
PP=$(free_port)
FP=$(free_port)
UP=$(free_port)
# udp:// sessions (one upstream fd each) expire after 2 s, so the fds come back.
start_sluice -w 2 --handshake-timeout 1s --udp-timeout 2s --log-level warn \
	-L "proxy://127.0.0.1:$PP" -L "tcp://127.0.0.1:$FP/127.0.0.1:$ECHO_PORT" \
	-L "udp://127.0.0.1:$UP/127.0.0.1:$UE"
base=$(fd_count "$SLUICE_PID")
SECS=${SOAK_SECONDS:-20}
timeout $((SECS + 120)) python3 "$HELPERS/soak.py" --proxy "$PP" --fwd "$FP" --udp "$UP" \
	--echo "$ECHO_PORT" --udp-echo "$UE" --threads 8 --seconds "$SECS" --seed "${SOAK_SEED:-1}" ||
	fail "the soak found a fault"
pid_alive "$SLUICE_PID" || fail "sluice died during the soak"
wait_fds_back "$SLUICE_PID" "$base" 15
stop_sluice
