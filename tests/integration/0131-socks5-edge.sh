#!/usr/bin/env bash
# SOCKS5 edge cases (helpers/px_s5edge.py, python3): the handshake written
# byte by byte (IPv4 and domain); greeting + request + payload in one
# write, with and without RFC 1929 auth, on socks5:// and on proxy://
# (where the detected ingress takes over mid-buffer); bad versions in the
# greeting, request and auth (closed, with 0xff / reply 0x01 / status 1
# where the protocol has one); unknown ATYP (0x08) and command (0x07);
# an empty domain; HTTP and random garbage at a SOCKS5 port; clients gone
# mid-request. The proxy keeps serving, and its fd count is back to the
# baseline afterwards.
. "$(dirname "$0")/lib.sh"
need python3

start_echo
S5=$(free_port)
PP=$(free_port)
# Random garbage is now and then a valid prefix (0x02 offered, then an RFC
# 1929 auth that claims more bytes: about 1 in 2000), which only the
# handshake timeout ends: keep it below the helper's 5 s wait.
start_sluice --handshake-timeout 2 -L "socks5://127.0.0.1:$S5" -L "proxy://127.0.0.1:$PP"
base=$(fd_count "$SLUICE_PID")
timeout 90 python3 "$HELPERS/px_s5edge.py" 127.0.0.1 "$S5" "$ECHO_PORT" --proxy-port "$PP" \
	>"$T/edge.out" 2>&1
rc=$?
sed 's/^/    /' "$T/edge.out"
[ $rc = 0 ] || fail "$(grep -m1 '^FAIL' "$T/edge.out" || echo "px_s5edge.py exit $rc")"
assert_log '\(bad SOCKS5 greeting\)$'
assert_log '\(address type not supported\)$'
assert_log '\(command not supported\)$'
assert_log '\(no acceptable auth method\)$'
assert_log '\(bad SOCKS5 auth request\)$'
pid_alive "$SLUICE_PID" || fail "sluice died"
wait_fds_back "$SLUICE_PID" "$base" 5
stop_sluice
