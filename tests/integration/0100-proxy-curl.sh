#!/usr/bin/env bash
# curl through every proxy listener kind: socks5:// (--socks5, and
# --socks5-hostname with the name "localhost" resolved by sluice),
# socks4:// (--socks4, --socks4a), http:// (absolute-form GET and CONNECT
# with -p), and all six against a single proxy:// port. A 5 MB file must
# arrive intact each time and every connection is logged closed (eof).
# Also: --help documents the default listener proxy://127.0.0.1:1080.
. "$(dirname "$0")/lib.sh"
. "$HELPERS/px_lib.sh"
need python3 curl sha256sum

# (grep without -q reads to the end: --help is over one 4 KiB stdio buffer, and
# an early exit would kill the second write with SIGPIPE under pipefail)
"$SLUICE_BIN" --help | grep 'proxy://127\.0\.0\.1:1080' >/dev/null ||
	fail "--help does not mention the default listener proxy://127.0.0.1:1080"

px_www
S5=$(free_port)
S4=$(free_port)
HP=$(free_port)
PP=$(free_port)
start_sluice -L "socks5://127.0.0.1:$S5" -L "socks4://127.0.0.1:$S4" \
	-L "http://127.0.0.1:$HP" -L "proxy://127.0.0.1:$PP"
assert_log "listening on socks5://127\.0\.0\.1:$S5"
assert_log "listening on proxy://127\.0\.0\.1:$PP"

U=http://127.0.0.1:$WWW_PORT/blob
UNAME=http://localhost:$WWW_PORT/blob
n=0
for pair in "socks5:$S5" "socks4:$S4" "http:$HP" "proxy:$PP"; do
	kind=${pair%%:*}
	port=${pair#*:}
	if [ "$kind" = socks5 ] || [ "$kind" = proxy ]; then
		px_fetch "$kind --socks5" --socks5 "127.0.0.1:$port" "$U"
		px_fetch "$kind --socks5-hostname localhost" --socks5-hostname "127.0.0.1:$port" "$UNAME"
		n=$((n + 2))
	fi
	if [ "$kind" = socks4 ] || [ "$kind" = proxy ]; then
		px_fetch "$kind --socks4" --socks4 "127.0.0.1:$port" "$U"
		px_fetch "$kind --socks4a localhost" --socks4a "127.0.0.1:$port" "$UNAME"
		n=$((n + 2))
	fi
	if [ "$kind" = http ] || [ "$kind" = proxy ]; then
		px_fetch "$kind -x http:// (absolute form)" -x "http://127.0.0.1:$port" "$U"
		px_fetch "$kind -x http:// name (absolute form)" -x "http://127.0.0.1:$port" "$UNAME"
		px_fetch "$kind -p -x http:// (CONNECT)" -p -x "http://127.0.0.1:$port" "$U"
		px_fetch "$kind -p -x http:// name (CONNECT)" -p -x "http://127.0.0.1:$port" "$UNAME"
		n=$((n + 4))
	fi
done

# One close line per connection, each with the whole file going down.
wait_for 5 log_count_at_least $n ' closed: client .* down 500[0-9]{4} .*\(eof\)$' ||
	fail "$(log_count ' closed: client .* down 500[0-9]{4} .*\(eof\)$') close lines with the file (eof), expected $n"
sleep 0.3
[ "$(log_count ' closed: client ')" = $n ] || fail "$(log_count ' closed: client ') close lines for $n connections"
stop_sluice
