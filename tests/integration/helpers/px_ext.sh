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
