#!/usr/bin/env bash
# The soak of 0024 through a chain: a front sluice (proxy://, tcp:// and
# udp:// listeners) forwards every stream with -F socks5:// to an upstream
# sluice socks5://, and SOCKS5 UDP ASSOCIATE through the upstream's own
# association; 20 s of mixed clean, aborted, abandoned and garbage traffic
# from 8 seeded threads at once. Afterwards both still serve, their fds
# come back, and both stop cleanly (under ASan or valgrind: no errors, no
# leaks).
. "$(dirname "$0")/lib.sh"
need python3

start_echo
UE=$(free_port)
bg uecho python3 "$HELPERS/udpkit.py" echo "$UE"
wait_for 5 udp_bound "$UE" || fail "udp echo did not start"
U5=$(free_port)
start_sluice -w 2 --log-level warn -L "socks5://127.0.0.1:$U5"
UP_PID=$SLUICE_PID
UP_LOG=$SLUICE_LOG
PP=$(free_port)
FP=$(free_port)
UP=$(free_port)
start_sluice -w 2 --handshake-timeout 1s --udp-timeout 2s --log-level warn \
	-L "proxy://127.0.0.1:$PP" -L "tcp://127.0.0.1:$FP/127.0.0.1:$ECHO_PORT" \
	-L "udp://127.0.0.1:$UP/127.0.0.1:$UE" -F "socks5://127.0.0.1:$U5"
base=$(fd_count "$SLUICE_PID")
ubase=$(fd_count "$UP_PID")
SECS=${SOAK_SECONDS:-20}
timeout $((SECS + 120)) python3 "$HELPERS/soak.py" --proxy "$PP" --fwd "$FP" --udp "$UP" \
	--echo "$ECHO_PORT" --udp-echo "$UE" --threads 8 --seconds "$SECS" \
	--seed "${SOAK_SEED:-1}" || fail "the soak through the chain found a fault"
pid_alive "$SLUICE_PID" || fail "the front sluice died during the soak"
pid_alive "$UP_PID" || fail "the upstream sluice died during the soak"
wait_fds_back "$SLUICE_PID" "$base" 15
wait_fds_back "$UP_PID" "$ubase" 15
stop_sluice
SLUICE_PID=$UP_PID
SLUICE_LOG=$UP_LOG
stop_sluice
