#!/usr/bin/env bash
# Several -L in one process: each listener reaches its own target, each is
# announced with "listening on tcp://BIND -> TARGET", and every relayed
# connection gets one close line
#   conn N closed: client IP:PORT target IP:PORT up U down D time S.SSSs (eof)
# with the exact byte counts. (Log format details: 0021.)
. "$(dirname "$0")/lib.sh"
need python3

S1=$(free_port)
S2=$(free_port)
bg srv1 python3 "$HELPERS/updown.py" server "$S1" 70001 ONE
bg srv2 python3 "$HELPERS/updown.py" server "$S2" 333 TWO
wait_listen "$S1"
wait_listen "$S2"
L1=$(free_port)
L2=$(free_port)
L3=$(free_port)
start_sluice -L "tcp://127.0.0.1:$L1/127.0.0.1:$S1" -L "tcp://127.0.0.1:$L2/127.0.0.1:$S2" \
	-L "tcp://127.0.0.1:$L3/127.0.0.1:$S1"
assert_log "info listening on tcp://127\.0\.0\.1:$L1 -> 127\.0\.0\.1:$S1\$"
assert_log "info listening on tcp://127\.0\.0\.1:$L2 -> 127\.0\.0\.1:$S2\$"
assert_log "info listening on tcp://127\.0\.0\.1:$L3 -> 127\.0\.0\.1:$S1\$"

# check_conn LISTEN TARGET UP DOWN TAG
check_conn() {
	local lp=$1 tp=$2 up=$3 down=$4 tag=$5 cport
	cport=$(python3 "$HELPERS/updown.py" client "$lp" "$up" "$down" "$tag") ||
		fail "via $lp: wrong target or wrong reply"
	wait_log 5 "^[^ ]+ info conn [0-9]+ closed: client 127\.0\.0\.1:$cport target 127\.0\.0\.1:$tp up $up down $down time [0-9]+\.[0-9]{3}s \(eof\)\$"
	[ "$(log_count "closed: client 127\.0\.0\.1:$cport ")" = 1 ] ||
		fail "connection from port $cport has $(log_count "closed: client 127\.0\.0\.1:$cport ") close lines, expected 1"
	log "ok: $lp -> $tp up $up down $down"
}
check_conn "$L1" "$S1" 12345 70001 ONE
check_conn "$L2" "$S2" 1 333 TWO
check_conn "$L3" "$S1" 0 70001 ONE
check_conn "$L2" "$S2" 1048576 333 TWO

stop_sluice

