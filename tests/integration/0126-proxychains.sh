#!/usr/bin/env bash
# A real SOCKS/HTTP client library: proxychains4 (strict_chain) around curl,
# through sluice's socks5://, socks4:// and http:// listeners, each with
# and without proxy_dns (names are then sent to the proxy; proxychains
# itself resolves localhost), a two-hop proxychains chain through two
# sluice listeners, and socks5 with a username/password (--auth-file).
# A 1 MB file must arrive intact every time.
. "$(dirname "$0")/lib.sh"
. "$HELPERS/px_lib.sh"
. "$HELPERS/px_ext.sh"
need python3 curl sha256sum proxychains4

px_www_small
S5=$(free_port)
S4=$(free_port)
HP=$(free_port)
start_sluice -L "socks5://127.0.0.1:$S5" -L "socks4://127.0.0.1:$S4" -L "http://127.0.0.1:$HP"

# pc_conf FILE DNS LINE...: a strict_chain config with these [ProxyList] lines.
pc_conf() {
	local f=$1 dns=$2
	shift 2
	{
		echo strict_chain
		echo quiet_mode
		[ "$dns" = 1 ] && echo proxy_dns
		echo 'tcp_read_time_out 15000'
		echo 'tcp_connect_time_out 8000'
		echo '[ProxyList]'
		printf '%s\n' "$@"
	} >"$f"
}

# pc_fetch WHAT CONF URL: proxychains4 curl URL must get the blob.
pc_fetch() {
	local what=$1 conf=$2 url=$3 got
	rm -f "$T/got"
	timeout 30 proxychains4 -q -f "$conf" curl -sS --fail --max-time 20 -o "$T/got" "$url" \
		2>"$T/pc.err" || fail "$what: proxychains4 curl $url failed: $(tail -n 3 "$T/pc.err")"
	got=$(sha256sum <"$T/got" | cut -d' ' -f1)
	[ "$got" = "$BLOB_SHA" ] || fail "$what: sha256 $got, expected $BLOB_SHA"
	log "ok: $what"
}

n=0
for hop in "socks5 127.0.0.1 $S5" "socks4 127.0.0.1 $S4" "http 127.0.0.1 $HP"; do
	for dns in 0 1; do
		pc_conf "$T/pc.conf" $dns "$hop"
		pc_fetch "proxychains $hop proxy_dns=$dns 127.0.0.1" "$T/pc.conf" \
			"http://127.0.0.1:$WWW_PORT/blob"
		pc_fetch "proxychains $hop proxy_dns=$dns localhost" "$T/pc.conf" \
			"http://localhost:$WWW_PORT/blob"
		n=$((n + 2))
	done
done
pc_conf "$T/pc2.conf" 1 "socks5 127.0.0.1 $S5" "http 127.0.0.1 $HP"
pc_fetch "proxychains chain socks5 -> http" "$T/pc2.conf" "http://127.0.0.1:$WWW_PORT/blob"
n=$((n + 2))
wait_for 5 log_count_at_least $n ' closed: client .*\(eof\)$' ||
	fail "$(log_count ' closed: client .*\(eof\)$') connections closed (eof), expected $n"
stop_sluice

echo 'dave:Pc-Pw.42' >"$T/users"
A5=$(free_port)
start_sluice --auth-file "$T/users" -L "socks5://127.0.0.1:$A5"
pc_conf "$T/pc3.conf" 1 "socks5 127.0.0.1 $A5 dave Pc-Pw.42"
pc_fetch "proxychains socks5 with user/pass" "$T/pc3.conf" "http://127.0.0.1:$WWW_PORT/blob"
pc_conf "$T/pc4.conf" 1 "socks5 127.0.0.1 $A5 dave wrong"
timeout 30 proxychains4 -q -f "$T/pc4.conf" curl -sS --fail --max-time 10 -o /dev/null \
	"http://127.0.0.1:$WWW_PORT/blob" 2>/dev/null && fail "a wrong password got through"
assert_log "auth failed for user 'dave'"
stop_sluice
