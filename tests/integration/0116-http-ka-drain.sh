#!/usr/bin/env bash
# HTTP keep-alive and SIGTERM: a client connection idle between requests is
# closed as soon as the drain starts ("shutdown" in its close line), so
# sluice exits long before --grace ends; the client saw its response.
. "$(dirname "$0")/lib.sh"
. "$HELPERS/ka_lib.sh"
need python3

ka_origin origin nowait
O=$ORIGIN_PORT
HP=$(free_port)
start_sluice -L "http://127.0.0.1:$HP" --grace 60s --log-level debug
wait_listen "$O"

bg idle python3 "$HELPERS/http_raw.py" 127.0.0.1 "$HP" --expect 1 --wait 50 --max-time 55 \
	--send "GET http://127.0.0.1:$O/id HTTP/1.1\r\nHost: 127.0.0.1:$O\r\n\r\n"
IDLE=$BG_PID
wait_log 10 'request 1: GET http://127\.0\.0\.1:[0-9]+/id -> 200'
kill -TERM "$SLUICE_PID"
sluice_wait_exit 20 || fail "sluice still running 20 s after SIGTERM with an idle keep-alive client (--grace 60s)"
[ "$SLUICE_STATUS" = 0 ] || fail "sluice exited $SLUICE_STATUS"
assert_log 'closed: client .*\(shutdown\)$'
wait_for 5 grep -q '^closed$' "$T/idle.log" || fail "the client did not see the close: $(cat "$T/idle.log")"
grep -q '^resp 1 status 200 ' "$T/idle.log" || fail "no response before the close: $(cat "$T/idle.log")"
check_sluice_clean
