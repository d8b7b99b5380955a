#!/usr/bin/env bash
# The soak of 0024 through a tunnel: a client sluice (proxy://, tcp:// and
# udp:// listeners, -F tunnel://) carries every stream to a tunnel server,
# 20 s of mixed clean, aborted, abandoned and garbage traffic from 8 seeded
# threads at once. UDP ASSOCIATE must be refused with 0x07 (a tunnel hop
# carries no UDP). Afterwards both ends still serve, the client's fds come
# back, and both stop cleanly (under ASan or valgrind: no errors, no leaks).
. "$(dirname "$0")/lib.sh"
. "$HELPERS/tun_lib.sh"
. "$HELPERS/soak_lib.sh"
need python3

tun_key
soak_targets
TP=$(udp_port)
tun_server -w 2 --log-level warn -L "tunnel://127.0.0.1:$TP" --tunnel-key "$KEY"
tun_client "${SOAK_FRONT[@]}" -F "tunnel://127.0.0.1:$TP" --tunnel-key "$KEY"
# Each worker opens its tunnel socket on its first stream: warm both up
# (20 connections spread over the workers) before taking the fd baseline.
py client.py echo 127.0.0.1 "$FP" --count 20 --size 100 || fail "warm-up echo through the tunnel"
base=$(fd_count "$CLI_PID")
log "client fds after warm-up: $base ($(ls -l /proc/$CLI_PID/fd | grep -c socket) sockets)"
run_soak "through the tunnel" --assoc refused
pid_alive "$CLI_PID" || fail "the tunnel client died during the soak"
pid_alive "$SRV_PID" || fail "the tunnel server died during the soak"
wait_fds_back "$CLI_PID" "$base" 15
stop_pid "$CLI_PID" "$CLI_LOG"
stop_pid "$SRV_PID" "$SRV_LOG"
