#!/usr/bin/env bash
# A soak of mixed traffic at once, for 20 s from 8 client threads (seeded):
# socks5, socks4a and HTTP CONNECT streams through proxy://, tcp://
# forwarding, each ended cleanly (the echo must match), by RST mid-stream or
# by leaving without reading; garbage and oversized heads to proxy://;
# stalled handshakes; udp:// and SOCKS5 UDP datagrams, malformed ones among
# them. Afterwards sluice still serves, its fds come back, and it stops
# cleanly (under ASan or valgrind: no errors, no leaks).
. "$(dirname "$0")/lib.sh"
. "$HELPERS/soak_lib.sh"
need python3

soak_targets
start_sluice "${SOAK_FRONT[@]}"
base=$(fd_count "$SLUICE_PID")
run_soak "(direct)"
pid_alive "$SLUICE_PID" || fail "sluice died during the soak"
wait_fds_back "$SLUICE_PID" "$base" 15
stop_sluice
