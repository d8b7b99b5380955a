#!/usr/bin/env bash
# --tunnel-padding: the client pads its data packets, the server does not.
# Through a UDP relay that records datagram sizes, curl fetches a 5 MB file
# intact and echoes come back. Client-to-server datagrams under 300 bytes
# (acks, stream opens, the echoes' data) come in many sizes, the server's in
# a third as many or fewer; no datagram exceeds --tunnel-mtu + 33 either
# way. Then the roles swap (server pads, client reads), and a bad value
# exits 2.
. "$(dirname "$0")/lib.sh"
. "$HELPERS/px_lib.sh"
. "$HELPERS/tun_lib.sh"
need python3 curl sha256sum

tun_key
px_www
start_echo

# run CLIENT_PAD SERVER_PAD: one round; leaves the relay's counters in $T/sizes
run() {
	local cpad=$1 spad=$2 tp rp fw ec
	tp=$(udp_port)
	rp=$(udp_port)
	fw=$(free_port)
	ec=$(free_port)
	bg relay python3 "$HELPERS/udpsizes.py" "$rp" "$tp" "$T/sizes"
	RELAY=$BG_PID
	wait_for 5 grep -q 'udpsizes ready' "$T/relay.log" || fail "the relay did not start"
	tun_server -L "tunnel://127.0.0.1:$tp" --tunnel-key "$KEY" --tunnel-padding "$spad" --tunnel-mtu 1200
	tun_client -w 1 -L "tcp://127.0.0.1:$fw/127.0.0.1:$WWW_PORT" -L "tcp://127.0.0.1:$ec/127.0.0.1:$ECHO_PORT" \
		-F "tunnel://127.0.0.1:$rp" --tunnel-key "$KEY" --tunnel-padding "$cpad" --tunnel-mtu 1200
	px_fetch "curl over a tunnel padded $cpad/$spad" "http://127.0.0.1:$fw/blob"
	py client.py echo 127.0.0.1 "$ec" --count 30 || fail "echo over the padded tunnel failed"
	stop_pid "$CLI_PID" "$CLI_LOG"
	stop_pid "$SRV_PID" "$SRV_LOG"
	kill -TERM "$RELAY"
	wait_for 5 test -s "$T/sizes" || fail "the relay wrote no counters"
	log "sizes (dir count max distinct<300): $(tr '\n' ';' <"$T/sizes")"
}

# field DIR N: column N of the relay's line for DIR
field() {
	awk -v d="$1" -v n="$2" '$1 == d { print $n }' "$T/sizes"
}

# spread PADDED PLAIN: small datagrams the padding end sent come in many more
# sizes (0..255 extra bytes each) than the other end's
spread() {
	local p u
	p=$(field "$1" 4)
	u=$(field "$2" 4)
	[ "$p" -ge 50 ] && [ $((u * 3)) -le "$p" ] ||
		fail "padded $1 small datagrams came in $p sizes, unpadded $2 in $u"
}

run 255 0
[ "$(field c2s 3)" -le 1233 ] || fail "a client datagram of $(field c2s 3) bytes, over mtu 1200 + 33"
[ "$(field s2c 3)" -le 1233 ] || fail "a server datagram of $(field s2c 3) bytes, over mtu 1200 + 33"
spread c2s s2c

rm -f "$T/sizes"
run 0 255
spread s2c c2s
[ "$(field s2c 3)" -le 1233 ] || fail "a server datagram of $(field s2c 3) bytes, over mtu 1200 + 33"

px_sluice_exit 2 -L "tunnel://127.0.0.1:$(udp_port)" --tunnel-key "$KEY" --tunnel-padding 300
grep -q -- "--tunnel-padding '300'" "$T/exit.err" || fail "bad padding: $(cat "$T/exit.err")"
log "ok"
