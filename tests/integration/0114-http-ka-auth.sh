#!/usr/bin/env bash
# HTTP proxy credentials on keep-alive connections (--auth-file): every
# request is checked. curl with several URLs and --proxy-user (plaintext
# and argon2id users) reuses its connection; a request without credentials
# after good ones on the same connection gets 407 with
# Proxy-Authenticate: Basic realm="sluice" and the close; a wrong password
# after a good one, too; the origin never sees Proxy-Authorization.
. "$(dirname "$0")/lib.sh"
. "$HELPERS/ka_lib.sh"
need python3 curl base64

APW='plain-Pw.1'
BPW='argon-Pw.2'
printf '%s\n' "$BPW" | "$SLUICE_BIN" passwd bob >"$T/bob.line" || fail "sluice passwd bob failed"
{ echo "alice:$APW"; cat "$T/bob.line"; } >"$T/users"

ka_origin origin nowait
O=$ORIGIN_PORT
DO=$ORIGIN_DIR
HP=$(free_port)
start_sluice --auth-file "$T/users" -L "http://127.0.0.1:$HP" --log-level debug
wait_listen "$O"

for user in "alice:$APW" "bob:$BPW"; do
	curl -sS --fail --max-time 20 -x "http://127.0.0.1:$HP" --proxy-user "$user" \
		-w '%{num_connects}\n' -o /dev/null -o /dev/null -o /dev/null \
		"http://127.0.0.1:$O/id" "http://127.0.0.1:$O/id" "http://127.0.0.1:$O/id" \
		>"$T/nc" 2>"$T/curl.err" || fail "curl ${user%%:*} x3 failed: $(tail -3 "$T/curl.err")"
	[ "$(tr '\n' ' ' <"$T/nc")" = "1 0 0 " ] || fail "${user%%:*}: num_connects $(tr '\n' ' ' <"$T/nc")"
	log "ok: ${user%%:*}: 3 authenticated requests on one connection"
done

GOOD="Proxy-Authorization: Basic $(printf '%s' "alice:$APW" | base64 -w0)\r\n"
BAD="Proxy-Authorization: Basic $(printf '%s' "alice:wrong" | base64 -w0)\r\n"
R="GET http://127.0.0.1:$O/id HTTP/1.1\r\nHost: 127.0.0.1:$O\r\n"
ka_raw "good then none" 127.0.0.1 "$HP" --expect 3 --wait 3 --show \
	--send "$R$GOOD\r\n$R$GOOD\r\n$R\r\n"
ka_has '^resp 1 status 200 ' "good credentials (1)"
ka_has '^resp 2 status 200 ' "good credentials (2)"
ka_has '^resp 3 status 407 ' "no credentials on the 3rd request"
ka_has '^closed$' "closed after 407"
ka_raw "good then wrong" 127.0.0.1 "$HP" --expect 2 --wait 3 --send "$R$GOOD\r\n$R$BAD\r\n"
ka_has '^resp 1 status 200 ' "good credentials"
ka_has '^resp 2 status 407 ' "wrong password on the 2nd request"
ka_has '^closed$' "closed after 407"
curl -sS -x "http://127.0.0.1:$HP" -v -o /dev/null "http://127.0.0.1:$O/id" 2>"$T/curl-v.txt"
grep -q '^< Proxy-Authenticate: Basic realm="sluice"' "$T/curl-v.txt" ||
	fail "no Proxy-Authenticate: Basic realm=\"sluice\" on 407"
assert_log "auth failed for user 'alice' from 127\.0\.0\.1:"
grep -rqi 'proxy-authorization' "$T"/origin.log && fail "the origin saw Proxy-Authorization"
grep -qF "$APW" "$SLUICE_LOG" && fail "a password reached the log"
stop_sluice
