#!/usr/bin/env bash
# HTTP proxy message framing over keep-alive: POST bodies with
# Content-Length, chunked (curl -H 'Transfer-Encoding: chunked') and
# Expect: 100-continue arrive intact (the origin echoes their sha256) and
# the 100 Continue reaches the client; chunked responses, HEAD, 204 and 304
# (no body) keep the connection usable; a response without a length ends
# with the origin's close and the proxy then closes the client connection.
. "$(dirname "$0")/lib.sh"
. "$HELPERS/ka_lib.sh"
need python3 curl sha256sum

ka_origin origin nowait
O=$ORIGIN_PORT
HP=$(free_port)
start_sluice -L "http://127.0.0.1:$HP" --log-level debug
wait_listen "$O"
X=(-sS --fail --max-time 20 -x "http://127.0.0.1:$HP")

head -c 3000000 /dev/urandom >"$T/up.bin"
SHA=$(sha256sum <"$T/up.bin" | cut -d' ' -f1)
WANT="len 3000000 sha256 $SHA"

# Three uploads on one connection: Content-Length, chunked, Expect.
curl "${X[@]}" -v -w '%{num_connects}\n' \
	--data-binary @"$T/up.bin" "http://127.0.0.1:$O/echo" --next "${X[@]}" -v \
	-H 'Transfer-Encoding: chunked' --data-binary @"$T/up.bin" "http://127.0.0.1:$O/echo" \
	--next "${X[@]}" -v -H 'Expect: 100-continue' --data-binary @"$T/up.bin" \
	"http://127.0.0.1:$O/echo" >"$T/posts" 2>"$T/curl.err" ||
	fail "curl POSTs failed: $(tail -3 "$T/curl.err")"
[ "$(grep -c "^$WANT" "$T/posts")" = 3 ] || fail "uploads: $(cat "$T/posts"), expected 3 x '$WANT'"
grep -q '^> Transfer-Encoding: chunked' "$T/curl.err" || fail "curl did not send a chunked body"
grep -q '^< HTTP/1.1 100 Continue' "$T/curl.err" || fail "no 100 Continue relayed to the client"
[ "$(grep -c 'Re-using existing connection' "$T/curl.err")" -ge 2 ] || fail "the POSTs did not share a connection"
log "ok: Content-Length, chunked and Expect: 100-continue uploads intact on one connection"

# Chunked response (with a trailer), HEAD, 204, 304, then a plain GET.
curl "${X[@]}" -w '%{http_code} %{num_connects} %{size_download}\n' \
	-o "$T/c1" "http://127.0.0.1:$O/chunked?n=1234567" \
	-o /dev/null "http://127.0.0.1:$O/status/204" \
	-o /dev/null "http://127.0.0.1:$O/status/304" \
	-o "$T/c4" "http://127.0.0.1:$O/id" >"$T/codes" 2>"$T/curl.err" ||
	fail "curl GETs failed: $(tail -3 "$T/curl.err")"
[ "$(tr '\n' ' ' <"$T/codes")" = "200 1 1234567 204 0 0 304 0 0 200 0 26 " ] ||
	fail "codes/connects/sizes: $(tr '\n' ' ' <"$T/codes")"
python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); sys.exit(d != (bytes(range(256))*5000)[:1234567])' "$T/c1" ||
	fail "chunked response body differs"
grep -q "^origin $O conn [0-9]* req 4\$" "$T/c4" || fail "4th request not on the same upstream: $(cat "$T/c4")"
curl "${X[@]}" -I -w '%{http_code} %{num_connects}\n' "http://127.0.0.1:$O/blob?n=5000" \
	"http://127.0.0.1:$O/blob?n=5000" >"$T/head" 2>"$T/curl.err" || fail "curl -I failed: $(tail -3 "$T/curl.err")"
grep -q '^Content-Length: 5000' "$T/head" || fail "HEAD: no Content-Length 5000: $(cat "$T/head")"
[ "$(grep -c '^200 ' "$T/head")" = 2 ] && grep -q '^200 0' "$T/head" || fail "two HEADs on one connection: $(grep '^[0-9]' "$T/head")"
log "ok: chunked response, 204, 304, HEAD without a body and the connection reused after them"

# No length: the origin closes, the client sees the whole body and the close.
ka_raw "close-delimited" 127.0.0.1 "$HP" --expect 1 --wait 3 \
	--send "GET http://127.0.0.1:$O/close?n=70000 HTTP/1.1\r\nHost: 127.0.0.1:$O\r\n\r\n"
ka_has '^resp 1 status 200 len 70000 ' "close-delimited body"
ka_has 'connection: close' "close-delimited: Connection: close to the client"
ka_has '^closed$' "close-delimited: the proxy closes the client connection"
log "ok: close-delimited response"

wait_for 5 log_count_at_least 4 ' closed: client ' || fail "expected 4 close lines"
[ "$(log_count ' closed: client .*\(eof\)$')" = 4 ] || fail "not every connection closed with eof"
stop_sluice
