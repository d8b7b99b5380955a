#!/usr/bin/env bash
# sluice -> Dante (danted, a third-party SOCKS server) as the -F upstream,
# running in the foreground with a minimal config on 127.0.0.1: curl
# through sluice's SOCKS5 (names resolved by Dante) and HTTP (absolute-form,
# CONNECT) gets a 1 MB file intact. Dante refusing a destination gives the
# mapped error at sluice: nothing listening (Dante 0x05) -> SOCKS5 0x05 /
# HTTP 502; a port its rules block (Dante 0x02) -> SOCKS5 0x02 / HTTP 403.
# Skipped when danted is missing, we are not root, or it cannot start here.
. "$(dirname "$0")/lib.sh"
. "$HELPERS/dante.sh"
. "$HELPERS/px_lib.sh"
. "$HELPERS/px_ext.sh"
need python3 curl sha256sum danted
[ "$(id -u)" = 0 ] || skip "danted needs root to switch to user nobody"
id nobody >/dev/null 2>&1 || skip "no user 'nobody' for danted"

px_www_small
CLOSED=$(free_port)
BLOCKED=$(free_port)
D=$(free_port)
{
	danted_conf_head "$D"
	cat <<CONF
socks block {
	from: 127.0.0.0/8 to: 127.0.0.1/32 port = $BLOCKED
	command: connect
}
socks pass {
	from: 127.0.0.0/8 to: 0.0.0.0/0
	command: connect
}
CONF
} >"$T/danted.conf"
start_danted "$D"

F=$(free_port)
start_sluice -F "socks5://127.0.0.1:$D" -L "proxy://127.0.0.1:$F"
px_fetch "dante: socks5-hostname" --socks5-hostname "127.0.0.1:$F" "http://localhost:$WWW_PORT/blob"
px_fetch "dante: socks5" --socks5 "127.0.0.1:$F" "http://127.0.0.1:$WWW_PORT/blob"
px_fetch "dante: http absolute-form" -x "http://127.0.0.1:$F" "http://127.0.0.1:$WWW_PORT/blob"
px_fetch "dante: http CONNECT" -p -x "http://127.0.0.1:$F" "http://127.0.0.1:$WWW_PORT/blob"

code=$(s5_rep "$F" "http://127.0.0.1:$CLOSED/")
[ "$code" = 5 ] || fail "dante: refused destination: SOCKS5 reply $code, expected 5"
code=$(http_status -x "http://127.0.0.1:$F" "http://127.0.0.1:$CLOSED/")
[ "$code" = 502 ] || fail "dante: refused destination: HTTP $code, expected 502"
log "ok: dante: refused destination -> 0x05 / 502"

# the block rule: Dante answers 0x02 (not allowed by ruleset)
code=$(s5_rep "$F" "http://127.0.0.1:$BLOCKED/")
[ "$code" = 2 ] || fail "dante: blocked destination: SOCKS5 reply $code, expected 2"
code=$(http_status -p -x "http://127.0.0.1:$F" "http://127.0.0.1:$BLOCKED/")
[ "$code" = 403 ] || fail "dante: blocked destination: HTTP CONNECT $code, expected 403"
log "ok: dante: blocked destination -> 0x02 / 403"
stop_sluice
