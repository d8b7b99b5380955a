#!/usr/bin/env bash
# HTTP proxy keep-alive timing: an idle client connection is closed after
# --idle-timeout ("keep-alive timeout" in the log); an origin slower than
# --idle-timeout gets the client a 504; an upstream the origin closed
# while idle is noticed on reuse and the request is sent again on a new
# connection (the client sees 200, not 502).
. "$(dirname "$0")/lib.sh"
. "$HELPERS/ka_lib.sh"
need python3

ka_origin origin nowait
O=$ORIGIN_PORT
ka_origin shy nowait --idle-close 0.5	# closes keep-alive connections idle 0.5 s
S=$ORIGIN_PORT
DS=$ORIGIN_DIR
HP=$(free_port)
start_sluice -L "http://127.0.0.1:$HP" --idle-timeout 2s --log-level debug
wait_listen "$O"
wait_listen "$S"
R="GET http://127.0.0.1:$O/id HTTP/1.1\r\nHost: 127.0.0.1:$O\r\n\r\n"

t0=$(now_ms)
ka_raw "idle keep-alive" 127.0.0.1 "$HP" --expect 1 --wait 8 --send "$R"
t1=$(now_ms)
ka_has '^resp 1 status 200 ' "first response"
ka_has '^closed$' "idle connection closed"
[ $((t1 - t0)) -ge 1500 ] || fail "closed after $((t1 - t0)) ms, expected about 2 s (--idle-timeout)"
wait_log 5 'closed: .*\(keep-alive timeout\)$'
log "ok: idle keep-alive connection closed after $((t1 - t0)) ms"

ka_raw "slow origin" 127.0.0.1 "$HP" --expect 1 --wait 3 \
	--send "GET http://127.0.0.1:$O/slow?s=4 HTTP/1.1\r\nHost: 127.0.0.1:$O\r\n\r\n"
ka_has '^resp 1 status 504 ' "slow origin: 504"
ka_has '^closed$' "closed after 504"
log "ok: 504 from an origin slower than --idle-timeout"

RS="GET http://127.0.0.1:$S/id HTTP/1.1\r\nHost: 127.0.0.1:$S\r\n\r\n"
ka_raw "stale upstream" 127.0.0.1 "$HP" --expect 2 --wait 0.5 --send "$RS" --gap 1.2 \
	--send "GET http://127.0.0.1:$S/id HTTP/1.1\r\nHost: 127.0.0.1:$S\r\nConnection: close\r\n\r\n"
ka_has '^resp 1 status 200 ' "first request to the shy origin"
ka_has '^resp 2 status 200 ' "request after the origin closed the idle upstream"
[ "$(ka_conns "$DS")" = 2 ] || fail "shy origin saw $(ka_conns "$DS") connections, expected 2"
assert_log 'request 2: kept upstream 127\.0\.0\.1:[0-9]+ had closed; sending again on a new one'

log "ok: stale upstream retried on a new connection"
stop_sluice
