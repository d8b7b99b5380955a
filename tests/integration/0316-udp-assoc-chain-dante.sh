#!/usr/bin/env bash
# SOCKS5 UDP ASSOCIATE through a third-party -F upstream: Dante (danted,
# no auth: its username method checks system accounts) on 127.0.0.1, with
# rules that allow only UDP ASSOCIATE and its replies. A python3 client
# through sluice gets 100 datagrams echoed intact from 127.0.0.1 and from
# the name localhost (resolved by Dante), and the largest the path allows,
# with reply headers naming the echo; Dante learns our relay port from the
# request, and ends its association when the client's control connection
# closes.
# Skipped when danted is missing, we are not root, or it cannot start here.
. "$(dirname "$0")/lib.sh"
. "$HELPERS/dante.sh"
need python3 danted
[ "$(id -u)" = 0 ] || skip "danted needs root to switch to user nobody"
id nobody >/dev/null 2>&1 || skip "no user 'nobody' for danted"
K=$HELPERS/udpkit.py
C=$HELPERS/udpchain.py

E=$(free_port)
bg echo python3 "$K" echo "$E" --log "$T/echo.log"
D=$(free_port)
A=$(free_port)
wait_for 5 udp_bound "$E" || fail "udp echo did not start"
{
	danted_conf_head "$D"
	cat <<CONF
socks pass {
	from: 127.0.0.0/8 to: 0.0.0.0/0
	command: udpassociate
	log: connect disconnect error
}
socks pass {
	from: 0.0.0.0/0 to: 127.0.0.0/8
	command: udpreply
	log: connect disconnect error
}
CONF
} >"$T/danted.conf"
start_danted "$D"

start_sluice -w 1 -L "socks5://127.0.0.1:$A" -F "socks5://127.0.0.1:$D"
UDPCHAIN_COUNT=100 python3 "$C" bulk 127.0.0.1 "$A" "$E" --no-v6 ||
	fail "UDP ASSOCIATE through Dante: $(tail -n 5 "$T/danted.log" | tr '\n' ' ')"
wait_log 3 "udp associate via socks5://127\.0\.0\.1:$D: upstream relay 127\.0\.0\.1:"
wait_log 3 "udp associate: datagrams up 10[0-9] down 10[0-9] dropped 0 "
wait_log 3 "udp/udpassociate \[: 0\.0\.0\.0\.[1-9][0-9]* 127\.0\.0\.1\." "$T/danted.log"
wait_log 5 "udp/udpassociate \]: .*client closed" "$T/danted.log"
stop_sluice
