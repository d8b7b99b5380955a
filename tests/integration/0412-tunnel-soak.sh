#!/usr/bin/env bash
# The soak of 0024 through a tunnel: a client sluice (proxy://, tcp:// and
# udp:// listeners, -F tunnel://) carries every stream to a tunnel server,
# 20 s of mixed clean, aborted, abandoned and garbage traffic from 8 seeded
# threads at once. UDP ASSOCIATE must be refused with 0x07 (a tunnel hop
# carries no UDP). Afterwards both ends still serve, the client's fds come
# back, and both stop cleanly (under ASan or valgrind: no errors, no leaks).
. "$(dirname "$0")/lib.sh"
. "$HELPERS/tun_lib.sh"
need python3

tun_key
start_echo
UE=$(free_port)
bg uecho python3 "$HELPERS/udpkit.py" echo "$UE"
wait_for 5 udp_bound "$UE" || fail "udp echo did not start"
TP=$(udp_port)
tun_server -w 2 --log-level warn -L "tunnel://127.0.0.1:$TP" --tunnel-key "$KEY"
PP=$(free_port)
FP=$(free_port)
UP=$(free_port)
tun_client -w 2 --handshake-timeout 1s --udp-timeout 2s --log-level warn \
	-L "proxy://127.0.0.1:$PP" -L "tcp://127.0.0.1:$FP/127.0.0.1:$ECHO_PORT" \
	-L "udp://127.0.0.1:$UP/127.0.0.1:$UE" -F "tunnel://127.0.0.1:$TP" --tunnel-key "$KEY"
# Each worker opens its tunnel socket on its first stream: warm both up
# (20 connections spread over the workers) before taking the fd baseline.
py client.py echo 127.0.0.1 "$FP" --count 20 --size 100 || fail "warm-up echo through the tunnel"
base=$(fd_count "$CLI_PID")
log "client fds after warm-up: $base ($(ls -l /proc/$CLI_PID/fd | grep -c socket) sockets)"
SECS=${SOAK_SECONDS:-20}
timeout $((SECS + 120)) python3 "$HELPERS/soak.py" --proxy "$PP" --fwd "$FP" --udp "$UP" \
	--echo "$ECHO_PORT" --udp-echo "$UE" --threads 8 --seconds "$SECS" \
	--seed "${SOAK_SEED:-1}" --assoc refused || fail "the soak through the tunnel found a fault"
pid_alive "$CLI_PID" || fail "the tunnel client died during the soak"
pid_alive "$SRV_PID" || fail "the tunnel server died during the soak"
wait_fds_back "$CLI_PID" "$base" 15
stop_pid "$CLI_PID" "$CLI_LOG"
stop_pid "$SRV_PID" "$SRV_LOG"
