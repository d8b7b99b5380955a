# shellcheck shell=bash
# Helpers for the tests against third-party clients and servers
# (tests/integration/0126..0139). Source after lib.sh and px_lib.sh.

# px_www_small [BYTES]: like px_www, with a smaller file (default 1 MB),
# for tests that fetch it many times.
px_www_small() {
	px_www
	head -c "${1:-1000000}" /dev/urandom >"$BLOB"
	BLOB_SHA=$(sha256sum <"$BLOB" | cut -d' ' -f1)
}

# http_status ARGS...: curl ARGS, print the HTTP status (of the CONNECT
# when -p is among ARGS).
http_status() {
	local w='%{http_code}' a
	for a in "$@"; do
		[ "$a" = -p ] && w='%{http_connect}'
	done
	curl -s -o /dev/null -w "$w" --max-time 10 "$@"
}

# s5_rep PROXYPORT URL [CURL_ARGS...]: curl --socks5 URL through
# 127.0.0.1:PROXYPORT; print the SOCKS5 reply code of a refusal (curl's
# "Can't complete SOCKS5 connection ... (N)"), "ok" on success, "?" else.
s5_rep() {
	local port=$1 url=$2 err
	shift 2
	if err=$(curl -sS -o /dev/null --max-time 10 --socks5 "127.0.0.1:$port" "$@" "$url" 2>&1); then
		echo ok
		return
	fi
	if [[ $err =~ SOCKS5\ connection\ to\ .*\(([0-9]+)\) ]]; then
		echo "${BASH_REMATCH[1]}"
	else
		echo "? ($err)"
	fi
}

# chain_upstream: a 1 MB origin (px_www_small), a closed port ($CLOSED) and an
# upstream sluice with --auth-file (user erin) offering socks5:// on $U5 and
# http:// on $UH ($UPPID, $UPLOG).
chain_upstream() {
	px_www_small
	CLOSED=$(free_port)		# nothing listens here
	echo 'erin:Ch41n-pw' >"$T/users"
	U5=$(free_port)
	UH=$(free_port)
	start_sluice --auth-file "$T/users" -L "socks5://127.0.0.1:$U5" -L "http://127.0.0.1:$UH"
	UPPID=$SLUICE_PID
	UPLOG=$SLUICE_LOG
}

# check_front WHAT PORT: through the front proxy on PORT: a fetch over SOCKS5
# (name resolved at the far end), HTTP absolute-form and CONNECT, and a refused
# destination mapped to SOCKS5 0x05 / HTTP 502.
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
