#!/usr/bin/env bash
# sluice -> sluice chaining: an upstream sluice with --auth-file offers
# socks5:// and http://; front sluices forward through it with
# -F socks5://user:pass@ and -F http://user:pass@. curl (socks5-hostname
# with the name resolved at the far end, HTTP absolute-form and CONNECT)
# gets a 1 MB file intact. Errors map through the chain: the destination
# refusing gives SOCKS5 reply 0x05 and HTTP 502 at the front.
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

for fwd in "socks5://erin:Ch41n-pw@127.0.0.1:$U5" "http://erin:Ch41n-pw@127.0.0.1:$UH"; do
	F=$(free_port)
	start_sluice -F "$fwd" -L "proxy://127.0.0.1:$F"
	check_front "-F ${fwd%%:*}" "$F"
	stop_sluice
done

SLUICE_PID=$UPPID SLUICE_LOG=$UPLOG
stop_sluice
