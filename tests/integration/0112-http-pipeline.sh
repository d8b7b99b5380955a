#!/usr/bin/env bash
# HTTP proxy pipelining: a raw client writes several requests in one send()
# (GET, POST with a body, GET to another origin, last with Connection:
# close); the responses come back complete and in order on the one client
# connection, which is closed after the last; the upstream is reused for
# consecutive requests to the same origin. Also: a pipelined HEAD, CONNECT
# after a GET on one connection, an HTTP/1.0 client.
. "$(dirname "$0")/lib.sh"
. "$HELPERS/ka_lib.sh"
need python3

ka_origin originA nowait
A=$ORIGIN_PORT
DA=$ORIGIN_DIR
ka_origin originB nowait
B=$ORIGIN_PORT
HP=$(free_port)
start_sluice -L "http://127.0.0.1:$HP" --log-level debug
wait_listen "$A"
wait_listen "$B"

REQ="GET http://127.0.0.1:$A/id HTTP/1.1\r\nHost: 127.0.0.1:$A\r\n\r\n"
REQ+="POST http://127.0.0.1:$A/echo HTTP/1.1\r\nHost: 127.0.0.1:$A\r\nContent-Length: 5\r\n\r\nhello"
REQ+="POST http://127.0.0.1:$A/echo HTTP/1.1\r\nHost: 127.0.0.1:$A\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n"
REQ+="GET http://127.0.0.1:$A/blob?n=100000 HTTP/1.1\r\nHost: 127.0.0.1:$A\r\n\r\n"
REQ+="GET http://127.0.0.1:$B/id HTTP/1.1\r\nHost: 127.0.0.1:$B\r\nConnection: close\r\n\r\n"
ka_raw "pipelined" 127.0.0.1 "$HP" --expect 5 --wait 3 --send "$REQ"
HELLO=$(printf 'len 5 sha256 %s\n' "$(printf hello | sha256sum | cut -d' ' -f1)" | sha256sum | cut -d' ' -f1)
ID1=$(printf 'origin %s conn 1 req 1\n' "$A" | sha256sum | cut -d' ' -f1)
IDB=$(printf 'origin %s conn 1 req 1\n' "$B" | sha256sum | cut -d' ' -f1)
ka_has "^resp 1 status 200 len [0-9]+ sha256 $ID1\$" "pipelined response 1 (A conn 1 req 1)"
ka_has "^resp 2 status 200 len [0-9]+ sha256 $HELLO\$" "pipelined response 2 (echo of hello)"
ka_has "^resp 3 status 200 len [0-9]+ sha256 $HELLO\$" "pipelined response 3 (chunked hello)"
ka_has "^resp 4 status 200 len 100000 " "pipelined response 4 (blob)"
ka_has "^resp 5 status 200 len [0-9]+ sha256 $IDB connection: close\$" "pipelined response 5 (B, close)"
ka_has '^closed$' "closed after Connection: close"
ka_has '^extra 0$' "nothing after the last response"
[ "$(ka_conns "$DA")" = 1 ] || fail "origin A saw $(ka_conns "$DA") connections for 4 pipelined requests, expected 1"
log "ok: 5 pipelined requests in one write, answered in order"

# Two in one write, the second a HEAD: no body is expected for it.
REQ="HEAD http://127.0.0.1:$A/blob?n=777 HTTP/1.1\r\nHost: a\r\n\r\nGET http://127.0.0.1:$A/blob?n=777 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
ka_raw "pipelined HEAD" 127.0.0.1 "$HP" --expect 2 --head-only 1 --wait 3 --send "$REQ"
ka_has '^resp 1 status 200 len 0 ' "HEAD response"
ka_has '^resp 2 status 200 len 777 ' "GET after HEAD"
ka_has '^closed$' "closed after Connection: close"

# CONNECT after a plain request on the same connection: a tunnel from then
# on (the relay), here carrying a request in origin form to origin B.
ka_raw "CONNECT after GET" 127.0.0.1 "$HP" --expect 2 --wait 3 \
	--send "GET http://127.0.0.1:$A/id HTTP/1.1\r\nHost: a\r\n\r\nCONNECT 127.0.0.1:$B HTTP/1.1\r\nHost: 127.0.0.1:$B\r\n\r\nGET /id HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n"
ka_has '^resp 1 status 200 ' "GET before CONNECT"
ka_has '^resp 2 status 200 len [1-9]' "CONNECT: 200, then the tunnelled response"
ka_has '^closed$' "tunnel closed by origin B"
wait_log 5 'request 2: CONNECT 127\.0\.0\.1:[0-9]+ -> 200 \(tunnel\)'

# An HTTP/1.0 client gets one response and the close it expects.
ka_raw "HTTP/1.0" 127.0.0.1 "$HP" --expect 1 --wait 3 \
	--send "GET http://127.0.0.1:$A/id HTTP/1.0\r\n\r\nGET http://127.0.0.1:$A/id HTTP/1.0\r\n\r\n"
ka_has '^resp 1 status 200 .*connection: close$' "HTTP/1.0 response"
ka_has '^closed$' "HTTP/1.0: closed after one response"
stop_sluice
