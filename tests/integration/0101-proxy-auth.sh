#!/usr/bin/env bash
# --auth-file: a plaintext user and an argon2id user (from `sluice passwd`)
# get through SOCKS5 (RFC 1929) and HTTP Basic, on socks5://, http:// and
# proxy:// listeners, with curl; wrong passwords, unknown users and missing
# credentials are refused (SOCKS5 auth status != 0 or method 0xff then a
# close; HTTP 407 with Proxy-Authenticate: Basic realm="sluice"); SOCKS4/4a
# is refused (0x5b) when auth is required; the Proxy-Authorization header is
# not forwarded to the origin; each failed login is logged as
# "warn auth failed for user 'NAME' from IP:PORT" with the client's real
# address, and no password (right or wrong) ever appears in the log.
. "$(dirname "$0")/lib.sh"
. "$HELPERS/px_lib.sh"
need python3 curl sha256sum base64

APW='plain-Pw.1'		# alice, stored in plaintext
BPW='b0b s3cret!'		# bob, stored as argon2id
WRONG='Wr0ng-pass-XYZ'
printf '%s\n' "$BPW" | "$SLUICE_BIN" passwd bob >"$T/bob.line" || fail "sluice passwd bob failed"
grep -qE '^bob:\$argon2id\$' "$T/bob.line" || fail "sluice passwd printed '$(cat "$T/bob.line")', expected bob:\$argon2id\$..."
grep -qF "$BPW" "$T/bob.line" && fail "sluice passwd output contains the password"
{
	echo "alice:$APW"
	cat "$T/bob.line"
} >"$T/users"

px_www
px_serve origin origin --dir "$T/origin"
ORIGIN=$PX_PORT
S5=$(free_port)
S4=$(free_port)
HP=$(free_port)
PP=$(free_port)
start_sluice --auth-file "$T/users" -L "socks5://127.0.0.1:$S5" -L "socks4://127.0.0.1:$S4" \
	-L "http://127.0.0.1:$HP" -L "proxy://127.0.0.1:$PP"
U=http://127.0.0.1:$WWW_PORT/blob

# --- the right credentials work, plaintext and argon2id ---
for port in $S5 $PP; do
	px_fetch "socks5 alice (plaintext) on $port" --socks5 "127.0.0.1:$port" --proxy-user "alice:$APW" "$U"
	px_fetch "socks5h://bob:...@ (argon2id) on $port" -x "socks5h://bob:b0b%20s3cret%21@127.0.0.1:$port" "$U"
done
for port in $HP $PP; do
	px_fetch "http alice on $port" -x "http://127.0.0.1:$port" --proxy-user "alice:$APW" "$U"
	px_fetch "http bob on $port" -x "http://127.0.0.1:$port" --proxy-user "bob:$BPW" "$U"
	px_fetch "CONNECT bob on $port" -p -x "http://127.0.0.1:$port" --proxy-user "bob:$BPW" "$U"
done
# Several argon2id logins at once.
pids=()
for i in 1 2 3 4 5 6; do
	curl -sS --fail --max-time 20 -o "$T/par.$i" -x "socks5h://bob:b0b%20s3cret%21@127.0.0.1:$S5" "$U" &
	pids+=($!)
done
for i in 1 2 3 4 5 6; do
	wait "${pids[$((i - 1))]}" || fail "parallel argon2id login $i failed"
	cmp -s "$T/par.$i" "$BLOB" || fail "parallel argon2id fetch $i differs"
done
log "ok: 6 parallel argon2id logins"

# --- SOCKS5 refusals ---
nfail=0
for port in $S5 $PP; do
	px_expect "socks5 alice wrong password on $port" s5 127.0.0.1 "$port" 127.0.0.1 "$WWW_PORT" \
		--auth "alice:$WRONG" --expect-auth-fail
	wait_log 5 "warn auth failed for user 'alice' from $PX_CLIENT\$"
	px_expect "socks5 bob (argon2id) wrong password on $port" s5 127.0.0.1 "$port" 127.0.0.1 "$WWW_PORT" \
		--auth "bob:$WRONG" --expect-auth-fail
	wait_log 5 "warn auth failed for user 'bob' from $PX_CLIENT\$"
	px_expect "socks5 bob with alice's password on $port" s5 127.0.0.1 "$port" 127.0.0.1 "$WWW_PORT" \
		--auth "bob:$APW" --expect-auth-fail
	px_expect "socks5 unknown user on $port" s5 127.0.0.1 "$port" 127.0.0.1 "$WWW_PORT" \
		--auth "mallory:$WRONG" --expect-auth-fail
	wait_log 5 "warn auth failed for user 'mallory' from $PX_CLIENT\$"
	px_expect "socks5 empty password on $port" s5 127.0.0.1 "$port" 127.0.0.1 "$WWW_PORT" \
		--auth "alice:" --expect-auth-fail
	px_expect "socks5 without credentials (method 0 only) on $port" s5 127.0.0.1 "$port" 127.0.0.1 "$WWW_PORT" \
		--offer 00 --expect-method ff
	px_expect "socks5 username/password chosen when both are offered on $port" s5 127.0.0.1 "$port" \
		127.0.0.1 "$WWW_PORT" --offer 0002 --auth "alice:$APW" --expect-method 02
	nfail=$((nfail + 5))
done
curl -sS --max-time 10 -o /dev/null --socks5 "127.0.0.1:$S5" --proxy-user "alice:$WRONG" "$U" 2>/dev/null &&
	fail "curl with a wrong SOCKS5 password succeeded"
curl -sS --max-time 10 -o /dev/null --socks5 "127.0.0.1:$S5" "$U" 2>/dev/null &&
	fail "curl without SOCKS5 credentials succeeded"
nfail=$((nfail + 1))

# --- HTTP refusals: 407 with the challenge ---
for port in $HP $PP; do
	px_expect "http GET without credentials on $port" http 127.0.0.1 "$port" \
		--send "GET http://127.0.0.1:$ORIGIN/x HTTP/1.1\r\nHost: 127.0.0.1:$ORIGIN\r\n\r\n" \
		--status 407 --header '^Proxy-Authenticate: Basic realm="sluice"$'
	px_expect "http CONNECT without credentials on $port" http 127.0.0.1 "$port" \
		--send "CONNECT 127.0.0.1:$ORIGIN HTTP/1.1\r\nHost: 127.0.0.1:$ORIGIN\r\n\r\n" \
		--status 407 --header '^Proxy-Authenticate: Basic realm="sluice"$'
	bad=$(printf '%s' "alice:$WRONG" | base64 -w0)
	px_expect "http GET wrong password on $port" http 127.0.0.1 "$port" \
		--send "GET http://127.0.0.1:$ORIGIN/x HTTP/1.1\r\nHost: 127.0.0.1:$ORIGIN\r\nProxy-Authorization: Basic $bad\r\n\r\n" \
		--status 407 --header '^Proxy-Authenticate: Basic realm="sluice"$'
	wait_log 5 "warn auth failed for user 'alice' from $PX_CLIENT\$"
	bad=$(printf '%s' "bob:$WRONG" | base64 -w0)
	px_expect "http CONNECT bob wrong password on $port" http 127.0.0.1 "$port" \
		--send "CONNECT 127.0.0.1:$ORIGIN HTTP/1.1\r\nHost: 127.0.0.1:$ORIGIN\r\nProxy-Authorization: Basic $bad\r\n\r\n" \
		--status 407 --header '^Proxy-Authenticate: Basic realm="sluice"$'
	wait_log 5 "warn auth failed for user 'bob' from $PX_CLIENT\$"
	px_expect "http not-Basic scheme on $port" http 127.0.0.1 "$port" \
		--send "GET http://127.0.0.1:$ORIGIN/x HTTP/1.1\r\nHost: 127.0.0.1:$ORIGIN\r\nProxy-Authorization: Bearer abc\r\n\r\n" \
		--status 407
	nfail=$((nfail + 2))
done
code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' -x "http://127.0.0.1:$HP" "$U")
[ "$code" = 407 ] || fail "curl without credentials via http: status $code, expected 407"
code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' -x "http://127.0.0.1:$HP" --proxy-user "bob:$WRONG" "$U")
[ "$code" = 407 ] || fail "curl with a wrong password via http: status $code, expected 407"
nfail=$((nfail + 1))
curl -sv --max-time 10 -o /dev/null -x "http://127.0.0.1:$HP" "$U" 2>"$T/curl-v.txt"
grep -q '^< Proxy-Authenticate: Basic realm="sluice"' "$T/curl-v.txt" ||
	fail "curl -v shows no 'Proxy-Authenticate: Basic realm=\"sluice\"': $(grep '^<' "$T/curl-v.txt" | head -5)"

# The credentials are for the proxy: the origin must not see them.
# (Connection: close: the proxy keeps client connections alive otherwise.)
px_expect "http GET with credentials reaches the origin" http 127.0.0.1 "$HP" \
	--send "GET http://127.0.0.1:$ORIGIN/auth-check HTTP/1.1\r\nHost: 127.0.0.1:$ORIGIN\r\nConnection: close\r\nProxy-Authorization: Basic $(printf '%s' "alice:$APW" | base64 -w0)\r\n\r\n" \
	--status 200
wait_for 5 grep -qs 'GET /auth-check ' "$T"/origin/req-*.json || fail "the origin did not record the request"
f=$(grep -ls 'GET /auth-check ' "$T"/origin/req-*.json | head -n1)
grep -qi 'proxy-authorization' "$f" && fail "Proxy-Authorization was forwarded to the origin: $(cat "$f")"

# --- SOCKS4 is refused when auth is required ---
for port in $S4 $PP; do
	px_expect "socks4 refused with auth on $port" s4 127.0.0.1 "$port" 127.0.0.1 "$WWW_PORT" --expect-rep 0x5b
	px_expect "socks4a refused with auth on $port" s4 127.0.0.1 "$port" localhost "$WWW_PORT" --4a --user alice --expect-rep 0x5b
done
curl -sS --max-time 10 -o /dev/null --socks4 "127.0.0.1:$S4" "$U" 2>/dev/null && fail "curl --socks4 succeeded with auth on"

# --- the log: failures named, passwords never ---
n=$(log_count "warn auth failed for user '[a-z]+' from 127\.0\.0\.1:[0-9]+$")
[ "$n" -ge "$nfail" ] || fail "$n 'auth failed' lines, expected at least $nfail"
for secret in "$APW" "$BPW" "$WRONG" "b0b%20s3cret"; do
	grep -qF -- "$secret" "$SLUICE_LOG" && fail "the log contains a password ('$secret'): $(grep -F -- "$secret" "$SLUICE_LOG" | head -n 2)"
done
# A user name cannot forge log lines.
px_expect "socks5 user name with a newline" s5 127.0.0.1 "$S5" 127.0.0.1 "$WWW_PORT" \
	--auth "$(printf 'evil\nFAKE-LINE error forged')":x --expect-auth-fail
wait_log 5 "warn auth failed for user 'evil.FAKE-LINE error forged' from $PX_CLIENT\$"
grep -q '^FAKE-LINE' "$SLUICE_LOG" && fail "a user name with a newline forged a log line"
# and every refused connection has its one close line
assert_log ' closed: client 127\.0\.0\.1:[0-9]+ .*\(authentication failed\)'
stop_sluice
