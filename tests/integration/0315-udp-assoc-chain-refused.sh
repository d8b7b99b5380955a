#!/usr/bin/env bash
# SOCKS5 UDP ASSOCIATE with -F chains that cannot carry it, and upstream
# refusals, each with the documented reply and the control connection
# closed: a last hop of http:// or tunnel:// -> 0x07 at once (no upstream
# is contacted); a socks5:// upstream that answers 0x07 itself -> 0x07;
# a wrong password on the hop -> 0x02; an upstream that is not there ->
# 0x05. --help says what goes through and what is refused.
. "$(dirname "$0")/lib.sh"
. "$HELPERS/tun_lib.sh"
need python3
K=$HELPERS/udpkit.py
E=20000		# never reached: every association here is refused

refused() {	# refused PORT WANT WHAT
	local out
	out=$(python3 "$K" s5 127.0.0.1 "$1" "$E" refused) || fail "$3: UDP ASSOCIATE accepted"
	[ "$out" = "reply $2" ] || fail "$3: $out, expected reply $2"
	log "ok: $3: reply $2"
}

echo 'carol:right-Pw.4' >"$T/users"
H=$(free_port)
U=$(free_port)
W=$(free_port)
D=$(free_port)
# http:// as the last hop: refused before anything is dialed.
start_sluice -w 1 -L "socks5://127.0.0.1:$H" -F "http://127.0.0.1:$D"
refused "$H" 7 "-F http://"
wait_log 3 "closed: .*\(udp associate: not supported with this -F chain\)$"
stop_sluice

# tunnel://: likewise (the tunnel carries streams, not datagrams).
tun_key
start_sluice -w 1 -L "socks5://127.0.0.1:$H" -F "tunnel://127.0.0.1:$D" --tunnel-key "$KEY"
refused "$H" 7 "-F tunnel://"
wait_log 3 "closed: .*\(udp associate: not supported with this -F chain\)$"
stop_sluice

# A socks5:// upstream that itself cannot (its own -F is http://) says 0x07:
# passed on as 0x07. A wrong hop password: 0x02. Nobody there: 0x05.
start_sluice -w 1 --auth-file "$T/users" -L "socks5://127.0.0.1:$U" -F "http://127.0.0.1:$D"
UPID=$SLUICE_PID ULOG=$SLUICE_LOG
start_sluice -w 1 -L "socks5://127.0.0.1:$W" -F "socks5://carol:right-Pw.4@127.0.0.1:$U"
refused "$W" 7 "upstream answers 0x07"
wait_log 3 "udp associate via socks5://carol@127\.0\.0\.1:$U \(hop 1\): Operation not supported"
wait_log 3 "closed: .*\(udp associate: refused by the -F chain\)$"
wait_log 3 "closed: .*\(udp associate: not supported with this -F chain\)$" "$ULOG"
stop_sluice
start_sluice -w 1 -L "socks5://127.0.0.1:$W" -F "socks5://carol:wrong@127.0.0.1:$U"
refused "$W" 2 "wrong hop password"
wait_log 3 "udp associate via socks5://carol@127\.0\.0\.1:$U \(hop 1\): Permission denied"
stop_sluice
start_sluice -w 1 -L "socks5://127.0.0.1:$W" -F "socks5://127.0.0.1:$D"
refused "$W" 5 "upstream not listening"
pid_alive "$UPID" || fail "the upstream died"
stop_sluice
SLUICE_PID=$UPID SLUICE_LOG=$ULOG
stop_sluice

"$SLUICE_BIN" --help >"$T/help"
grep -q "through a socks5:// last -F hop" "$T/help" || fail "--help does not say UDP ASSOCIATE goes through socks5:// hops"
grep -q "0x07 with http:// or tunnel://" "$T/help" || fail "--help does not say which hops refuse UDP ASSOCIATE"
