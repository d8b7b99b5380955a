#!/usr/bin/env bash
# sluice -> sluice chaining: an upstream sluice with --auth-file offers
# socks5:// and http://; front sluices forward through it with
# -F socks5://user:pass@ and -F http://user:pass@. curl (socks5-hostname
# with the name resolved at the far end, HTTP absolute-form and CONNECT)
# gets a 1 MB file intact. Errors map through the chain: the destination
# refusing gives SOCKS5 reply 0x05 and HTTP 502 at the front. A CONNECT
# after a plain request works too, and the front's close lines name the
# destination the client asked for (names too, though only the far end
# resolves them).
. "$(dirname "$0")/lib.sh"
. "$HELPERS/px_lib.sh"
. "$HELPERS/px_ext.sh"
need python3 curl sha256sum

chain_upstream

for fwd in "socks5://erin:Ch41n-pw@127.0.0.1:$U5" "http://erin:Ch41n-pw@127.0.0.1:$UH"; do
	F=$(free_port)
	start_sluice -F "$fwd" -L "proxy://127.0.0.1:$F"
	check_front "-F ${fwd%%:*}" "$F"
	# CONNECT after a plain request on one connection (http_fwd hands over to the relay).
	out=$(timeout 30 python3 "$HELPERS/http_raw.py" 127.0.0.1 "$F" --expect 2 --wait 1 --send \
		"GET http://127.0.0.1:$WWW_PORT/blob HTTP/1.1\r\nHost: a\r\n\r\nCONNECT localhost:$WWW_PORT HTTP/1.1\r\nHost: b\r\n\r\nGET /blob HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n" 2>&1)
	# (http_raw reads the 200 and then the tunnelled response as one body)
	grep -qE "^resp 2 status 200 len 1000[0-9]{3} " <<<"$out" ||
		fail "-F ${fwd%%:*}: CONNECT after GET: $out"
	# The close lines name the destination the client asked for (not ":0").
	wait_for 5 log_count_at_least 7 ' closed: client ' || fail "-F ${fwd%%:*}: expected 7 close lines"
	assert_log "info conn [0-9]+ closed: client 127\.0\.0\.1:[0-9]+ target localhost:$WWW_PORT up [0-9]+ down 1000[0-9]{3} "
	[ "$(log_count "closed: client .* target 127\.0\.0\.1:$WWW_PORT up [0-9]+ down 1000[0-9]{3} ")" = 2 ] ||
		fail "-F ${fwd%%:*}: expected 2 close lines naming 127.0.0.1:$WWW_PORT: $(grep ' closed: ' "$SLUICE_LOG")"
	[ "$(log_count "closed: client .* target localhost:$WWW_PORT up [0-9]+ down 2000[0-9]{3} ")" = 1 ] ||
		fail "-F ${fwd%%:*}: CONNECT after GET: close line: $(grep ' closed: ' "$SLUICE_LOG" | tail -1)"
	[ "$(log_count ' closed: client .* target (:0|-) ')" = 0 ] ||
		fail "-F ${fwd%%:*}: a close line without its target: $(grep -E ' target (:0|-) ' "$SLUICE_LOG")"
	stop_sluice
done

SLUICE_PID=$UPPID SLUICE_LOG=$UPLOG
stop_sluice
