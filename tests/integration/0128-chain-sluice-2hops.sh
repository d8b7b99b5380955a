#!/usr/bin/env bash
# sluice -> sluice -> sluice: a front sluice with -F socks5://user:pass@
# -F http://user:pass@ goes through both listeners of an upstream sluice
# with --auth-file; curl (SOCKS5 with a name resolved at the far end, HTTP
# absolute-form and CONNECT) gets a 1 MB file intact, a refused destination
# is 0x05 / 502 at the front. A wrong upstream password (socks5 and http
# hops) is SOCKS5 0x02 / HTTP 403 at the front, and the upstream logs the
# failed login.
. "$(dirname "$0")/lib.sh"
. "$HELPERS/px_lib.sh"
. "$HELPERS/px_ext.sh"
need python3 curl sha256sum

px_www_small
CLOSED=$(free_port)		# nothing listens here
echo 'erin:Ch41n-pw' >"$T/users"
U5=$(free_port)
UH=$(free_port)
start_sluice --auth-file "$T/users" -L "socks5://127.0.0.1:$U5" -L "http://127.0.0.1:$UH"
UPPID=$SLUICE_PID
UPLOG=$SLUICE_LOG

check_front() {
	local what=$1 port=$2 code
	px_fetch "$what: --socks5-hostname" --socks5-hostname "127.0.0.1:$port" \
		"http://localhost:$WWW_PORT/blob"
	px_fetch "$what: http absolute-form" -x "http://127.0.0.1:$port" "http://127.0.0.1:$WWW_PORT/blob"
	px_fetch "$what: http CONNECT" -p -x "http://127.0.0.1:$port" "http://127.0.0.1:$WWW_PORT/blob"
	code=$(s5_rep "$port" "http://127.0.0.1:$CLOSED/")
	[ "$code" = 5 ] || fail "$what: refused destination over SOCKS5: reply $code, expected 5"
	code=$(http_status -x "http://127.0.0.1:$port" "http://127.0.0.1:$CLOSED/")
	[ "$code" = 502 ] || fail "$what: refused destination over HTTP: status $code, expected 502"
	code=$(http_status -p -x "http://127.0.0.1:$port" "http://127.0.0.1:$CLOSED/")
	[ "$code" = 502 ] || fail "$what: refused destination over CONNECT: status $code, expected 502"
	log "ok: $what: refused destination -> 502"
}


F=$(free_port)
start_sluice -F "socks5://erin:Ch41n-pw@127.0.0.1:$U5" -F "http://erin:Ch41n-pw@127.0.0.1:$UH" \
	-L "proxy://127.0.0.1:$F"
check_front "-F socks5 -F http (two hops)" "$F"
stop_sluice

for fwd in "socks5://erin:nope@127.0.0.1:$U5" "http://erin:nope@127.0.0.1:$UH"; do
	F=$(free_port)
	start_sluice -F "$fwd" -L "proxy://127.0.0.1:$F"
	code=$(s5_rep "$F" "http://127.0.0.1:$WWW_PORT/blob")
	[ "$code" = 2 ] || fail "-F ${fwd%%:*} wrong password over SOCKS5: reply $code, expected 2"
	code=$(http_status -x "http://127.0.0.1:$F" "http://127.0.0.1:$WWW_PORT/blob")
	[ "$code" = 403 ] || fail "-F ${fwd%%:*} wrong password over HTTP: status $code, expected 403"
	stop_sluice
done

SLUICE_PID=$UPPID SLUICE_LOG=$UPLOG
assert_log "auth failed for user 'erin'"
stop_sluice
