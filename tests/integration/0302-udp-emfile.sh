#!/usr/bin/env bash
# udp:// out of file descriptors: with a low fd limit, clients beyond it get
# no session (their datagrams are dropped, a warning at most once a second,
# no busy loop), the sessions that exist keep working, and once idle
# sessions expire new clients are served again. Nothing leaks: the fd count
# returns to its baseline.
. "$(dirname "$0")/lib.sh"
need python3 prlimit
K=$HELPERS/udpkit.py

E=$(free_port)
bg echo python3 "$K" echo "$E"
wait_for 5 udp_bound "$E" || fail "udp echo did not start"
P=$(free_port)
SLUICE_PREFIX=(prlimit "--nofile=40:40" --)
start_sluice -w 1 --udp-timeout 1s -L "udp://127.0.0.1:$P/127.0.0.1:$E"
SLUICE_PREFIX=()
base=$(fd_count "$SLUICE_PID")
log "sluice fds at start: $base (limit 40)"

# 60 client flows at once: some cannot have a session.
UDPKIT_WAIT=1.5 python3 "$K" flows 127.0.0.1 "$P" 60 3 >"$T/flows.out" 2>&1
cat "$T/flows.out"
grep -q "FAIL: client" "$T/flows.out" || fail "all 60 flows were served under a 40-fd limit?"
wait_log 3 "udp: client .*: cannot open a session: Too many open files"
[ "$(log_count 'cannot open a session')" -le 3 ] || fail "the fd warning is not rate-limited"
pid_alive "$SLUICE_PID" || fail "sluice died"
# Once the sessions expire, clients are served again and the fds are back.
wait_log 5 "\(idle timeout\)$"
wait_fds_back "$SLUICE_PID" "$base" 5
python3 "$K" run flows/127.0.0.1/$P/4/10 || fail "no service after the sessions expired"
stop_sluice
