#!/usr/bin/env bash
# HTTP proxy keep-alive: curl with several URLs through -x http:// uses one
# client connection (num_connects, "Re-using existing connection") to two
# origins; the proxy keeps the upstream per host:port (5 requests to one
# origin: 1 upstream connection) and opens a new one when the host
# changes; python3 http.client does several requests on one connection;
# one close line per client connection with the byte totals.
. "$(dirname "$0")/lib.sh"
. "$HELPERS/ka_lib.sh"
need python3 curl

ka_origin originA nowait
A=$ORIGIN_PORT
DA=$ORIGIN_DIR
ka_origin originB nowait
B=$ORIGIN_PORT
DB=$ORIGIN_DIR
HP=$(free_port)
start_sluice -L "http://127.0.0.1:$HP" --log-level debug
wait_listen "$A"
wait_listen "$B"

# Five requests to A on one client connection: one upstream connection.
curl -sS --fail --max-time 20 -v -x "http://127.0.0.1:$HP" -w '%{num_connects}\n' \
	-o "$T/r1" -o "$T/r2" -o "$T/r3" -o "$T/r4" -o "$T/r5" \
	"http://127.0.0.1:$A/id" "http://127.0.0.1:$A/id" "http://127.0.0.1:$A/id" \
	"http://127.0.0.1:$A/id" "http://127.0.0.1:$A/id" >"$T/nc" 2>"$T/curl.err" ||
	fail "curl with 5 URLs failed: $(tail -3 "$T/curl.err")"
[ "$(tr '\n' ' ' <"$T/nc")" = "1 0 0 0 0 " ] || fail "curl num_connects: $(tr '\n' ' ' <"$T/nc"), expected 1 0 0 0 0"
[ "$(grep -c 'Re-using existing connection' "$T/curl.err")" -ge 4 ] || fail "curl did not re-use its proxy connection"
for i in 1 2 3 4 5; do
	grep -q "^origin $A conn 1 req $i\$" "$T/r$i" || fail "response $i: $(cat "$T/r$i"), expected conn 1 req $i"
done
[ "$(ka_conns "$DA")" = 1 ] || fail "origin A saw $(ka_conns "$DA") connections for 5 requests, expected 1"
log "ok: 5 requests, 1 client connection, 1 upstream connection"

# A, A, B, A on one client connection: a new upstream per host change.
curl -sS --fail --max-time 20 -x "http://127.0.0.1:$HP" -w '%{num_connects}\n' \
	-o "$T/s1" -o "$T/s2" -o "$T/s3" -o "$T/s4" \
	"http://127.0.0.1:$A/id" "http://127.0.0.1:$A/id" "http://127.0.0.1:$B/id" \
	"http://localhost:$A/id" >"$T/nc" 2>"$T/curl.err" || fail "curl A A B A failed: $(tail -3 "$T/curl.err")"
[ "$(tr '\n' ' ' <"$T/nc")" = "1 0 0 0 " ] || fail "curl num_connects: $(tr '\n' ' ' <"$T/nc"), expected 1 0 0 0"
grep -q "^origin $A conn 2 req 1\$" "$T/s1" || fail "s1: $(cat "$T/s1")"
grep -q "^origin $A conn 2 req 2\$" "$T/s2" || fail "s2: $(cat "$T/s2") (upstream not reused)"
grep -q "^origin $B conn 1 req 1\$" "$T/s3" || fail "s3: $(cat "$T/s3")"
grep -q "^origin $A conn 3 req 1\$" "$T/s4" || fail "s4: $(cat "$T/s4") (localhost is another host:port key)"
log "ok: A A B A: origin A connections $(ka_conns "$DA"), B $(ka_conns "$DB")"

# python3 http.client: several requests, GET and POST, on one connection.
python3 - "$HP" "$A" "$B" >"$T/py.out" 2>&1 <<'PY' || fail "http.client: $(cat "$T/py.out")"
import hashlib, http.client, sys
hp, a, b = (int(x) for x in sys.argv[1:4])
c = http.client.HTTPConnection("127.0.0.1", hp, timeout=10)
for i in range(3):
    c.request("GET", f"http://127.0.0.1:{a}/blob?n={100000 + i}")
    r = c.getresponse()
    body = r.read()
    assert r.status == 200 and len(body) == 100000 + i, (r.status, len(body))
data = bytes(range(256)) * 1000
c.request("POST", f"http://127.0.0.1:{b}/echo", body=data)
r = c.getresponse()
got = r.read().decode()
assert got == f"len {len(data)} sha256 {hashlib.sha256(data).hexdigest()}\n", got
c.request("GET", f"http://127.0.0.1:{b}/id")
r = c.getresponse()
print(r.read().decode().strip())
PY
grep -q "^origin $B conn 2 req 2\$" "$T/py.out" || fail "http.client: $(cat "$T/py.out"), expected B conn 2 req 2 (upstream reuse)"
log "ok: http.client, 5 requests on one connection"

# Three client connections so far: three close lines, each with totals.
wait_for 5 log_count_at_least 3 ' closed: client .* up [1-9][0-9]* down [1-9][0-9]* .*\(eof\)$' ||
	fail "expected 3 close lines (eof) with byte totals"
[ "$(log_count ' closed: client ')" = 3 ] || fail "$(log_count ' closed: client ') close lines, expected 3"
[ "$(log_count 'debug conn [0-9]+ request [0-9]+: GET http://')" -ge 11 ] || fail "no debug line per request"
assert_log 'request 2: GET http://127\.0\.0\.1:[0-9]+/id -> 200 \(reused upstream\)'
stop_sluice
