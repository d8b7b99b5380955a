#!/usr/bin/env bash
# HTTP proxy against hostile input on keep-alive connections: bad chunk
# sizes (400, nothing smuggled to the origin), a head over 64 KiB (431),
# conflicting Content-Length (400), Content-Length with Transfer-Encoding
# (400: refused per RFC 9112 section 6.3, never forwarded), a
# Transfer-Encoding other than chunked (400), a bad request after a good
# one on the same connection (the first is answered, then 400), a broken
# response from the origin (502). After each the proxy serves the next
# client.
. "$(dirname "$0")/lib.sh"
. "$HELPERS/ka_lib.sh"
. "$HELPERS/px_lib.sh"
need python3 curl

ka_origin origin nowait
O=$ORIGIN_PORT
DO=$ORIGIN_DIR
px_serve broken origin --dir "$T/broken"	# answers Connection: close; used for smuggling checks
PXO=$PX_PORT
HP=$(free_port)
start_sluice -L "http://127.0.0.1:$HP" -L "proxy://127.0.0.1:$(free_port)"
wait_listen "$O"
H="Host: 127.0.0.1:$O\r\n"

# Each case: one write; the status; the close; then the next client is served.
DEAD=$(free_port)
px_serve garbage peer	# "PEER ip port\n" is not an HTTP response
GP=$PX_PORT
TAB=$'\t'
cat >"$T/cases" <<CASES
400${TAB}bad chunk size${TAB}POST http://127.0.0.1:$O/echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n
400${TAB}negative chunk size${TAB}POST http://127.0.0.1:$O/echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n
400${TAB}chunk size overflow${TAB}POST http://127.0.0.1:$O/echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\nx\r\n
400${TAB}bare LF in chunked framing${TAB}POST http://127.0.0.1:$O/echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n
431${TAB}huge head${TAB}GET http://127.0.0.1:$O/id HTTP/1.1\r\n${H}X-Big: %BIG:70000%\r\n\r\n
431${TAB}too many headers${TAB}GET http://127.0.0.1:$O/id HTTP/1.1\r\n${H}$(for i in $(seq 1 120); do printf 'X-%d: y\\r\\n' "$i"; done)\r\n
400${TAB}conflicting Content-Length${TAB}POST http://127.0.0.1:$O/echo HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!
400${TAB}Content-Length list disagreeing${TAB}POST http://127.0.0.1:$O/echo HTTP/1.1\r\n${H}Content-Length: 5, 6\r\n\r\nhello!
400${TAB}Content-Length not a number${TAB}POST http://127.0.0.1:$O/echo HTTP/1.1\r\n${H}Content-Length: +5\r\n\r\nhello
400${TAB}CL + TE (smuggling)${TAB}POST http://127.0.0.1:$PXO/smuggle HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n
400${TAB}TE + CL (smuggling)${TAB}POST http://127.0.0.1:$PXO/smuggle HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n
400${TAB}TE gzip only${TAB}POST http://127.0.0.1:$PXO/smuggle HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc
400${TAB}TE chunked twice${TAB}POST http://127.0.0.1:$PXO/smuggle HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n
400${TAB}TE in HTTP/1.0${TAB}POST http://127.0.0.1:$PXO/smuggle HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n
400${TAB}obs-fold${TAB}GET http://127.0.0.1:$O/id HTTP/1.1\r\n${H}X: a\r\n b\r\n\r\n
400${TAB}space before colon${TAB}GET http://127.0.0.1:$O/id HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n
400${TAB}origin-form${TAB}GET /id HTTP/1.1\r\n${H}\r\n
204,400${TAB}bad second request${TAB}GET http://127.0.0.1:$O/status/204 HTTP/1.1\r\n${H}\r\nGET http://127.0.0.1:$O/id HTTP/1.1\r\n${H}Content-Length: x\r\n\r\n
502${TAB}broken response${TAB}GET http://127.0.0.1:$GP/ HTTP/1.1\r\nHost: x\r\n\r\n
502${TAB}refused${TAB}GET http://127.0.0.1:$DEAD/ HTTP/1.1\r\nHost: x\r\n\r\n
CASES
timeout 120 python3 "$HELPERS/http_cases.py" 127.0.0.1 "$HP" "$T/cases" --alive "http://127.0.0.1:$O/id" >"$T/cases.out" 2>&1
rc=$?
sed 's/^/    /' "$T/cases.out"
[ $rc = 0 ] || fail "$(grep -m1 '^FAIL' "$T/cases.out" || tail -3 "$T/cases.out")"
ls "$T/broken"/req-*.json >/dev/null 2>&1 && fail "a refused request reached the origin: $(cat "$T/broken"/req-*.json)"

# A huge head as a second request: the first is answered, then 431.
ka_raw "huge second head" 127.0.0.1 "$HP" --expect 2 --wait 3 \
	--send "GET http://127.0.0.1:$O/id HTTP/1.1\r\n${H}\r\n" --gap 0.3 --send "GET http://127.0.0.1:$O/id HTTP/1.1\r\n${H}X-Big: %BIG:70000%\r\n\r\n"
ka_has '^resp 1 status 200 ' "good first request"
ka_has '^resp 2 status 431 ' "huge second head"
# A smuggled request inside a body is body, not a request: the origin's
# echo counts its bytes and no extra request reaches it.
SM="0\r\n\r\nGET http://127.0.0.1:$O/id HTTP/1.1\r\n${H}\r\n"
ka_raw "request inside a body" 127.0.0.1 "$HP" --expect 1 --wait 2 \
	--send "POST http://127.0.0.1:$O/echo HTTP/1.1\r\n${H}Content-Length: 44\r\nConnection: close\r\n\r\n$SM"
ka_has '^resp 1 status 200 ' "request inside a body: echoed"
ka_has '^extra 0$' "request inside a body: no second response"

check_sluice_clean
pid_alive "$SLUICE_PID" || fail "sluice died"
stop_sluice
