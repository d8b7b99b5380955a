#!/usr/bin/env bash
# sluice -> microsocks (a third-party SOCKS5 server) as the -F upstream,
# without and with username/password (-u/-P): curl through sluice's
# SOCKS5 (names resolved by microsocks) and HTTP (absolute-form, CONNECT)
# gets a 1 MB file intact. microsocks refusing the destination (nothing
# listens) gives SOCKS5 reply 0x05 / HTTP 502 at sluice; a wrong password
# for microsocks gives 0x02 / HTTP 403.
. "$(dirname "$0")/lib.sh"
. "$HELPERS/px_lib.sh"
. "$HELPERS/px_ext.sh"
need python3 curl sha256sum microsocks

px_www_small
CLOSED=$(free_port)
M=$(free_port)
bg microsocks microsocks -i 127.0.0.1 -p "$M"
wait_listen "$M"
MA=$(free_port)
bg microsocks-auth microsocks -i 127.0.0.1 -p "$MA" -u frank -P 'M1cro-pw'
wait_listen "$MA"

for fwd in "socks5://127.0.0.1:$M" "socks5://frank:M1cro-pw@127.0.0.1:$MA"; do
	F=$(free_port)
	start_sluice -F "$fwd" -L "proxy://127.0.0.1:$F"
	px_fetch "$fwd: socks5-hostname" --socks5-hostname "127.0.0.1:$F" "http://localhost:$WWW_PORT/blob"
	px_fetch "$fwd: http absolute-form" -x "http://127.0.0.1:$F" "http://127.0.0.1:$WWW_PORT/blob"
	px_fetch "$fwd: http CONNECT" -p -x "http://127.0.0.1:$F" "http://127.0.0.1:$WWW_PORT/blob"
	code=$(s5_rep "$F" "http://127.0.0.1:$CLOSED/")
	[ "$code" = 5 ] || fail "$fwd: refused destination: SOCKS5 reply $code, expected 5"
	code=$(http_status -x "http://127.0.0.1:$F" "http://127.0.0.1:$CLOSED/")
	[ "$code" = 502 ] || fail "$fwd: refused destination: HTTP $code, expected 502"
	log "ok: $fwd: refused destination -> 0x05 / 502"
	assert_log 'via socks5://.* \(hop 1\): Connection refused'
	stop_sluice
done

F=$(free_port)
start_sluice -F "socks5://frank:wrong@127.0.0.1:$MA" -L "proxy://127.0.0.1:$F"
code=$(s5_rep "$F" "http://127.0.0.1:$WWW_PORT/blob")
[ "$code" = 2 ] || fail "wrong microsocks password: SOCKS5 reply $code, expected 2"
code=$(http_status -x "http://127.0.0.1:$F" "http://127.0.0.1:$WWW_PORT/blob")
[ "$code" = 403 ] || fail "wrong microsocks password: HTTP $code, expected 403"
log "ok: wrong upstream password -> 0x02 / 403"
stop_sluice
