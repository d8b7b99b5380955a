#!/usr/bin/env bash
# udp:// forwarding: 8 client sockets at once over IPv4 and over IPv6 each
# get only their own replies; the largest datagrams pass intact (65,507
# bytes over IPv4, 65,527 over IPv6); IPv4 clients reach an IPv6 target and
# IPv6 clients an IPv4 one; a host name target (localhost) is resolved.
. "$(dirname "$0")/lib.sh"
need python3
K=$HELPERS/udpkit.py

E=$(free_port)
bg echo python3 "$K" echo "$E"
wait_for 5 udp_bound "$E" || fail "udp echo did not start"

P4=$(free_port)		# [::] -> 127.0.0.1 (both client families)
P6=$(free_port)		# [::1] -> [::1]
PX=$(free_port)		# 127.0.0.1 -> [::1]
PN=$(free_port)		# 127.0.0.1 -> localhost
args=(-w 2 -L "udp://[::]:$P4/127.0.0.1:$E" -L "udp://127.0.0.1:$PN/localhost:$E")
if has_ipv6; then
	args+=(-L "udp://[::1]:$P6/[::1]:$E" -L "udp://127.0.0.1:$PX/[::1]:$E")
fi
start_sluice "${args[@]}"
assert_log "listening on udp://\[::\]:$P4 -> 127\.0\.0\.1:$E"

steps=(flows/127.0.0.1/$P4/8/40 size/127.0.0.1/$P4/65507 size/127.0.0.1/$P4/0
	flows/127.0.0.1/$PN/2/20)
if has_ipv6; then
	steps+=(flows/::1/$P4/8/40 flows/::1/$P6/4/20 size/::1/$P6/65527
		flows/127.0.0.1/$PX/4/20 size/127.0.0.1/$PX/65507)
fi
python3 "$K" run "${steps[@]}" || fail "udp:// datagrams"
stop_sluice
# Every session is logged once when it ends (here: at shutdown).
[ "$(log_count 'udp [0-9]+ closed: client .*\(shutdown\)$')" -ge 10 ] ||
	fail "expected close lines for the sessions"
