#!/usr/bin/env bash
# BIND with nobody connecting: with --bind-timeout 1s the second reply is
# SOCKS5 0x06 (TTL expired) / SOCKS4 0x5b within the timeout (bounded by the
# helper's 10 s wait), the client is closed and the BND port no longer
# accepts. A client that goes away after the first reply closes the
# listening socket too. Each case is logged, and the fd count goes back to
# its baseline (/proc/PID/fd): no socket, listening or not, is left behind.
# --bind-timeout with a bad value is a CLI error (exit 2).
. "$(dirname "$0")/lib.sh"
. "$HELPERS/px_lib.sh"
. "$HELPERS/px_bind.sh"
need python3

px_sluice_exit 2 --bind-timeout soon -L socks5://127.0.0.1:1
grep -q 'bind-timeout' "$T/exit.err" || fail "bad --bind-timeout: the error does not name it: $(cat "$T/exit.err")"
help=$("$SLUICE_BIN" --help)
grep -q -- '--bind-timeout' <<<"$help" || fail "--help does not document --bind-timeout"

S5=$(free_port)
S4=$(free_port)
start_sluice --bind-timeout 1s -L "socks5://127.0.0.1:$S5" -L "socks4://127.0.0.1:$S4"
base=$(fd_count "$SLUICE_PID")

px_bind "socks5 BIND, nobody connects: 0x06" s5 127.0.0.1 "$S5" --no-peer --expect-rep2 6
px_bind "socks4 BIND, nobody connects: 0x5b" s4 127.0.0.1 "$S4" --no-peer --expect-rep2 0x5b
px_bind "socks5 BIND, client leaves after reply 1" s5 127.0.0.1 "$S5" --client-close
px_bind "socks4 BIND, client leaves after reply 1" s4 127.0.0.1 "$S4" --client-close
wait_for 5 log_count_at_least 2 '\(BIND timeout\)$' || fail "no 'BIND timeout' close lines"
assert_log 'BIND: no peer connected in time'
wait_for 5 log_count_at_least 2 '\(client closed during BIND\)$' ||
	fail "no 'client closed during BIND' close lines"
wait_fds_back "$SLUICE_PID" "$base" 5
# and it still serves
px_bind "socks5 BIND after all that" s5 127.0.0.1 "$S5" --bytes 1000
stop_sluice
