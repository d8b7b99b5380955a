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

chain_upstream


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
