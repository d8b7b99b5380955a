#!/usr/bin/env bash
# Names resolved through a local DNS server: dnsmasq on 127.0.0.1 (no
# upstream, example.test -> 127.0.0.1, authoritative for .test) and sluice
# --dns-server 127.0.0.1:PORT. curl --socks5-hostname and HTTP
# (absolute-form, CONNECT) to http://www.example.test:PORT/ get the file,
# as does proxychains4 with proxy_dns (the name goes to sluice); dnsmasq
# logs the queries. A name dnsmasq says does not exist (nosuch.test,
# NXDOMAIN) and one it refuses (other.invalid, no upstream) give SOCKS5
# reply 0x04 (host unreachable) and HTTP 502, logged as resolution failures.
. "$(dirname "$0")/lib.sh"
. "$HELPERS/px_lib.sh"
. "$HELPERS/px_ext.sh"
need python3 curl sha256sum dnsmasq

px_www_small
DNS=$(free_port)
bg dnsmasq dnsmasq --no-daemon --port="$DNS" --listen-address=127.0.0.1 --bind-interfaces \
	--no-resolv --no-hosts --pid-file= --user=root --log-queries --log-facility=- \
	--address=/example.test/127.0.0.1 --local=/test/
DPID=$BG_PID
for i in $(seq 1 50); do
	grep -qsE "^ *[0-9]+: 0100007F:$(printf '%04X' "$DNS") " /proc/net/udp && break
	pid_alive "$DPID" || skip "dnsmasq cannot run here: $(tail -n 3 "$T/dnsmasq.log" | tr '\n' ' ')"
	sleep 0.1
done

P=$(free_port)
start_sluice --dns-server "127.0.0.1:$DNS" -L "proxy://127.0.0.1:$P"
U=http://www.example.test:$WWW_PORT/blob
px_fetch "socks5-hostname www.example.test" --socks5-hostname "127.0.0.1:$P" "$U"
px_fetch "http absolute-form www.example.test" -x "http://127.0.0.1:$P" "$U"
px_fetch "http CONNECT www.example.test" -p -x "http://127.0.0.1:$P" "$U"
grep -q 'query\[A\] www\.example\.test from 127\.0\.0\.1' "$T/dnsmasq.log" ||
	fail "dnsmasq did not see the query: $(tail -n 5 "$T/dnsmasq.log")"

if command -v proxychains4 >/dev/null; then
	printf 'strict_chain\nquiet_mode\nproxy_dns\ntcp_read_time_out 15000\ntcp_connect_time_out 8000\n[ProxyList]\nsocks5 127.0.0.1 %s\n' \
		"$P" >"$T/pc.conf"
	rm -f "$T/got"
	timeout 30 proxychains4 -q -f "$T/pc.conf" curl -sS --fail --max-time 20 -o "$T/got" "$U" ||
		fail "proxychains4 proxy_dns curl $U failed"
	[ "$(sha256sum <"$T/got" | cut -d' ' -f1)" = "$BLOB_SHA" ] || fail "proxychains4: file differs"
	log "ok: proxychains4 proxy_dns www.example.test"
fi

for name in nosuch.test other.invalid; do
	code=$(s5_rep "$P" "http://$name:$WWW_PORT/" --socks5-hostname "127.0.0.1:$P")
	[ "$code" = 4 ] || fail "$name over SOCKS5: reply $code, expected 4 (host unreachable)"
	code=$(http_status -x "http://127.0.0.1:$P" "http://$name:$WWW_PORT/")
	[ "$code" = 502 ] || fail "$name over HTTP: status $code, expected 502"
	code=$(http_status -p -x "http://127.0.0.1:$P" "http://$name:$WWW_PORT/")
	[ "$code" = 502 ] || fail "$name over CONNECT: status $code, expected 502"
	log "ok: $name -> 0x04 / 502"
done
assert_log 'resolving nosuch\.test failed'
assert_log 'resolving other\.invalid failed'
stop_sluice
