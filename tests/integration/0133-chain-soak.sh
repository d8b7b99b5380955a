#!/usr/bin/env bash
# The soak of 0024 through a chain: a front sluice (proxy://, tcp:// and
# udp:// listeners) forwards every stream with -F socks5:// to an upstream
# sluice socks5://, and SOCKS5 UDP ASSOCIATE through the upstream's own
# association; 20 s of mixed clean, aborted, abandoned and garbage traffic
# from 8 seeded threads at once. Afterwards both still serve, their fds
# come back, and both stop cleanly (under ASan or valgrind: no errors, no
# leaks).
. "$(dirname "$0")/lib.sh"
. "$HELPERS/soak_lib.sh"
need python3

soak_targets
U5=$(free_port)
start_sluice -w 2 --log-level warn -L "socks5://127.0.0.1:$U5"
UPSTREAM_PID=$SLUICE_PID
UPSTREAM_LOG=$SLUICE_LOG
start_sluice "${SOAK_FRONT[@]}" -F "socks5://127.0.0.1:$U5"
base=$(fd_count "$SLUICE_PID")
ubase=$(fd_count "$UPSTREAM_PID")
run_soak "through the chain"
pid_alive "$SLUICE_PID" || fail "the front sluice died during the soak"
pid_alive "$UPSTREAM_PID" || fail "the upstream sluice died during the soak"
wait_fds_back "$SLUICE_PID" "$base" 15
wait_fds_back "$UPSTREAM_PID" "$ubase" 15
stop_sluice
SLUICE_PID=$UPSTREAM_PID
SLUICE_LOG=$UPSTREAM_LOG
stop_sluice
