#!/usr/bin/env bash
# Plain (absolute-form) HTTP proxy requests over -F tunnel://: the
# keep-alive forwarding loop with a tunnel stream as its upstream. GET,
# HEAD, 204/304, a chunked response, 1 MiB uploads (Content-Length,
# chunked, Expect: 100-continue) intact; two requests on one client
# connection reuse one stream (the origin sees one connection); pipelined
# requests in one write answered in order; a kept stream the origin closed
# while idle is retried on a new one; a closed target port is a 502; a
# CONNECT after all that still works and the tunnel session is the same
# one throughout; the server's close lines are all eof (streams we let go
# end with FINs, not resets). (0410: policy refusal, lossy link, drain.)
. "$(dirname "$0")/lib.sh"
. "$HELPERS/tun_lib.sh"
. "$HELPERS/ka_lib.sh"
need python3 curl sha256sum

tun_key
ka_origin origin nowait
O=$ORIGIN_PORT
DO=$ORIGIN_DIR
ka_origin shy nowait --idle-close 0.5	# closes keep-alive connections idle 0.5 s
S=$ORIGIN_PORT
DS=$ORIGIN_DIR
TP=$(udp_port)
tun_server -L "tunnel://127.0.0.1:$TP" --tunnel-key "$KEY" --allow-private
HP=$(free_port)
tun_client -w 1 -L "http://127.0.0.1:$HP" -F "tunnel://127.0.0.1:$TP" --tunnel-key "$KEY" \
	--log-level debug
C1_PID=$CLI_PID C1_LOG=$CLI_LOG S1_PID=$SRV_PID S1_LOG=$SRV_LOG
wait_listen "$O"
wait_listen "$S"
X=(-sS --fail --max-time 20 -x "http://127.0.0.1:$HP")

# GET: a 3 MB body, the origin's byte pattern.
curl "${X[@]}" -o "$T/blob" "http://127.0.0.1:$O/blob?n=3000000" 2>"$T/curl.err" ||
	fail "GET blob: $(tail -2 "$T/curl.err")"
python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); sys.exit(d != (bytes(range(256))*12000)[:3000000])' "$T/blob" ||
	fail "GET blob: body differs ($(stat -c %s "$T/blob") bytes)"
log "ok: GET 3 MB intact"

# Keep-alive: two requests on one client connection, one upstream stream.
before=$(ka_conns "$DO")
curl "${X[@]}" -v "http://127.0.0.1:$O/id" "http://127.0.0.1:$O/id" >"$T/ids" 2>"$T/curl.err" ||
	fail "two GETs: $(tail -2 "$T/curl.err")"
grep -q 'Re-using existing connection' "$T/curl.err" || fail "curl did not reuse its connection"
[ "$(ka_conns "$DO")" = $((before + 1)) ] || fail "origin saw $(( $(ka_conns "$DO") - before )) connections for 2 keep-alive requests, expected 1"
grep -q "^origin $O conn [0-9]* req 2\$" "$T/ids" || fail "second request not on the same upstream: $(cat "$T/ids")"
log "ok: keep-alive, upstream stream reused"

# Uploads of 1 MiB on one connection: Content-Length, chunked, Expect: 100-continue.
head -c 1048576 /dev/urandom >"$T/up.bin"
WANT="len 1048576 sha256 $(sha256sum <"$T/up.bin" | cut -d' ' -f1)"
curl "${X[@]}" -v --data-binary @"$T/up.bin" "http://127.0.0.1:$O/echo" --next "${X[@]}" -v \
	-H 'Transfer-Encoding: chunked' --data-binary @"$T/up.bin" "http://127.0.0.1:$O/echo" \
	--next "${X[@]}" -v -H 'Expect: 100-continue' --data-binary @"$T/up.bin" \
	"http://127.0.0.1:$O/echo" >"$T/posts" 2>"$T/curl.err" ||
	fail "POSTs failed: $(tail -3 "$T/curl.err")"
[ "$(grep -c "^$WANT\$" "$T/posts")" = 3 ] || fail "uploads: $(cat "$T/posts"), expected 3 x '$WANT'"
grep -q '^> Transfer-Encoding: chunked' "$T/curl.err" || fail "curl did not send a chunked body"
grep -q '^< HTTP/1.1 100 Continue' "$T/curl.err" || fail "no 100 Continue relayed to the client"
[ "$(grep -c 'Re-using existing connection' "$T/curl.err")" -ge 2 ] || fail "the POSTs did not share a connection"
log "ok: 1 MiB uploads (Content-Length, chunked, Expect) intact on one connection"

# HEAD (twice, no body), 204, 304, a chunked response, then a GET on the same connection.
curl "${X[@]}" -I -w '%{http_code} %{num_connects}\n' "http://127.0.0.1:$O/blob?n=5000" \
	"http://127.0.0.1:$O/blob?n=5000" >"$T/head" 2>"$T/curl.err" || fail "HEAD: $(tail -2 "$T/curl.err")"
grep -q '^Content-Length: 5000' "$T/head" || fail "HEAD: no Content-Length 5000: $(cat "$T/head")"
grep -q '^200 0' "$T/head" || fail "two HEADs did not share a connection: $(grep '^[0-9]' "$T/head")"
curl "${X[@]}" -w '%{http_code} %{num_connects} %{size_download}\n' \
	-o /dev/null "http://127.0.0.1:$O/status/204" \
	-o /dev/null "http://127.0.0.1:$O/status/304" \
	-o "$T/c3" "http://127.0.0.1:$O/chunked?n=1234567" \
	-o /dev/null "http://127.0.0.1:$O/id" >"$T/codes" 2>"$T/curl.err" ||
	fail "204/304/chunked: $(tail -2 "$T/curl.err")"
[ "$(tr '\n' ' ' <"$T/codes")" = "204 1 0 304 0 0 200 0 1234567 200 0 26 " ] ||
	fail "codes/connects/sizes: $(tr '\n' ' ' <"$T/codes")"
python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); sys.exit(d != (bytes(range(256))*5000)[:1234567])' "$T/c3" ||
	fail "chunked response body differs"
log "ok: HEAD, 204, 304 and a chunked response, the connection reused after them"

# Pipelined: four requests in one write, answered in order on one stream.
before=$(ka_conns "$DO")
REQ="GET http://127.0.0.1:$O/id HTTP/1.1\r\nHost: o\r\n\r\n"
REQ+="POST http://127.0.0.1:$O/echo HTTP/1.1\r\nHost: o\r\nContent-Length: 5\r\n\r\nhello"
REQ+="HEAD http://127.0.0.1:$O/blob?n=777 HTTP/1.1\r\nHost: o\r\n\r\n"
REQ+="GET http://127.0.0.1:$O/blob?n=100000 HTTP/1.1\r\nHost: o\r\nConnection: close\r\n\r\n"
ka_raw "pipelined" 127.0.0.1 "$HP" --expect 4 --head-only 3 --wait 3 --send "$REQ"
HELLO=$(printf 'len 5 sha256 %s\n' "$(printf hello | sha256sum | cut -d' ' -f1)" | sha256sum | cut -d' ' -f1)
ka_has '^resp 1 status 200 len [0-9]+ ' "pipelined response 1"
ka_has "^resp 2 status 200 len [0-9]+ sha256 $HELLO\$" "pipelined response 2 (echo of hello)"
ka_has '^resp 3 status 200 len 0 ' "pipelined response 3 (HEAD)"
ka_has '^resp 4 status 200 len 100000 .*connection: close$' "pipelined response 4 (blob, close)"
ka_has '^closed$' "closed after Connection: close"
ka_has '^extra 0$' "nothing after the last response"
[ "$(ka_conns "$DO")" = $((before + 1)) ] || fail "pipelined: origin saw $(( $(ka_conns "$DO") - before )) connections, expected 1"
log "ok: 4 pipelined requests answered in order on one upstream"

# The origin closed the kept upstream while idle (its FIN came through the
# tunnel): the request is sent again on a new stream, as over a socket.
RS="GET http://127.0.0.1:$S/id HTTP/1.1\r\nHost: 127.0.0.1:$S\r\n\r\n"
ka_raw "stale upstream" 127.0.0.1 "$HP" --expect 2 --wait 0.5 --send "$RS" --gap 1.2 \
	--send "GET http://127.0.0.1:$S/id HTTP/1.1\r\nHost: 127.0.0.1:$S\r\nConnection: close\r\n\r\n"
ka_has '^resp 1 status 200 ' "first request to the shy origin"
ka_has '^resp 2 status 200 ' "request after the origin closed the idle upstream"
[ "$(ka_conns "$DS")" = 2 ] || fail "shy origin saw $(ka_conns "$DS") connections, expected 2"
assert_log 'request 2: kept upstream 127\.0\.0\.1:[0-9]+ had closed; sending again on a new one' "$CLI_LOG"
log "ok: stale upstream retried on a new stream"

# A closed port: 502, as over a socket ("connection refused" from the server).
CLOSED=$(free_port)
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 -x "http://127.0.0.1:$HP" \
	"http://127.0.0.1:$CLOSED/")
[ "$code" = 502 ] || fail "closed port: expected 502, got $code"
wait_log 5 "warn conn [0-9]+ client 127\.0\.0\.1:[0-9]+: via tunnel://127\.0\.0\.1:$TP: Connection refused" "$CLI_LOG"
log "ok: refused target -> 502"

# CONNECT after plain requests on one connection: the stream goes to the relay.
ka_raw "CONNECT after GET" 127.0.0.1 "$HP" --expect 2 --wait 3 \
	--send "GET http://127.0.0.1:$O/id HTTP/1.1\r\nHost: o\r\n\r\nCONNECT 127.0.0.1:$O HTTP/1.1\r\nHost: 127.0.0.1:$O\r\n\r\nGET /id HTTP/1.1\r\nHost: o\r\nConnection: close\r\n\r\n"
ka_has '^resp 1 status 200 ' "GET before CONNECT"
ka_has '^resp 2 status 200 len [1-9]' "CONNECT: 200, then the tunnelled response"
ka_has '^closed$' "CONNECT: closed by the origin"
wait_log 5 'request 2: CONNECT 127\.0\.0\.1:[0-9]+ -> 200 \(tunnel\)' "$CLI_LOG"
# And a CONNECT as the first request (the ingress path), after everything above.
curl "${X[@]}" -p -o /dev/null "http://127.0.0.1:$O/id" 2>"$T/curl.err" ||
	fail "CONNECT after the plain requests: $(tail -2 "$T/curl.err")"
log "ok: CONNECT after plain requests"

pid_alive "$CLI_PID" && pid_alive "$SRV_PID" || fail "a sluice died"
[ "$(log_count "tunnel [0-9]+ up" "$CLI_LOG")" = 1 ] || fail "the tunnel session did not survive"
wait_for 5 log_count_at_least 8 "info conn [0-9]+ closed: client 127\.0\.0\.1:[0-9]+ target 127\.0\.0\.1:$O " "$CLI_LOG" ||
	fail "expected 8 close lines naming the origin"
# Streams we let go cleanly end cleanly at the server too (our FIN, then
# theirs), as a socket's close would: no resets in its close lines.
wait_for 5 log_count_at_least 11 "info conn [0-9]+ closed: tunnel [0-9]+ client .* \(eof\)$" "$S1_LOG" ||
	fail "server: expected 11 eof close lines: $(grep ' closed: ' "$S1_LOG" | grep -vc '(eof)') not eof"
[ "$(log_count ' closed: tunnel .*\((cancelled|reset)\)$' "$S1_LOG")" = 0 ] ||
	fail "server: streams reset: $(grep -E ' closed: tunnel .*\((cancelled|reset)\)$' "$S1_LOG" | head -3)"

stop_pid "$C1_PID" "$C1_LOG"
stop_pid "$S1_PID" "$S1_LOG"
