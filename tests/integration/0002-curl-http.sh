#!/usr/bin/env bash
# HTTP through the forwarder: a 5 MB random file fetched with curl arrives
# intact over IPv4, IPv6 ([::1] -> [::1]), a dual-stack [::] listener reached
# via 127.0.0.1 and ::1, and a target given by the name "localhost".
. "$(dirname "$0")/lib.sh"
need python3 curl sha256sum

mkdir -p "$T/www"
head -c 5000000 /dev/urandom >"$T/www/blob"
want=$(sha256sum <"$T/www/blob" | cut -d' ' -f1)

H4=$(free_port)
bg http4 python3 -m http.server --bind 127.0.0.1 --directory "$T/www" "$H4"
wait_listen "$H4"

L4=$(free_port)
LNAME=$(free_port)
args=(-L "tcp://127.0.0.1:$L4/127.0.0.1:$H4" -L "tcp://127.0.0.1:$LNAME/localhost:$H4")
if has_ipv6; then
	H6=$(free_port)
	bg http6 python3 -m http.server --bind ::1 --directory "$T/www" "$H6"
	wait_listen "$H6"
	L6=$(free_port)
	LDUAL=$(free_port)
	args+=(-L "tcp://[::1]:$L6/[::1]:$H6" -L "tcp://[::]:$LDUAL/127.0.0.1:$H4")
else
	log "no IPv6 on lo: only the IPv4 cases run"
fi
start_sluice "${args[@]}"

# fetch URL: the blob arrives whole.
fetch() {
	local url=$1 got
	rm -f "$T/got"
	curl -sS --fail --max-time 30 -o "$T/got" "$url" || fail "curl $url failed"
	got=$(sha256sum <"$T/got" | cut -d' ' -f1)
	[ "$got" = "$want" ] || fail "curl $url: sha256 $got, expected $want ($(stat -c %s "$T/got") bytes)"
	log "ok: $url"
}

fetch "http://127.0.0.1:$L4/blob"
fetch "http://127.0.0.1:$LNAME/blob"
if has_ipv6; then
	fetch "http://[::1]:$L6/blob"
	fetch "http://127.0.0.1:$LDUAL/blob"
	fetch "http://[::1]:$LDUAL/blob"
fi
# Several requests on one kept-alive connection (curl reuses it for the
# same host in one invocation).
curl -sS --fail --max-time 30 -o "$T/a" "http://127.0.0.1:$L4/blob" -o "$T/b" "http://127.0.0.1:$L4/blob" ||
	fail "two fetches in one curl failed"
cmp -s "$T/a" "$T/www/blob" && cmp -s "$T/b" "$T/www/blob" || fail "keep-alive fetches differ from the file"
stop_sluice
