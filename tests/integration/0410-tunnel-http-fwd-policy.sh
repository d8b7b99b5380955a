#!/usr/bin/env bash
# Plain HTTP proxy requests over -F tunnel:// (as 0409), the failure and
# bad-link cases: a destination the tunnel server's policy refuses (a
# server on [::] without --allow-private, target 127.0.0.1) gets the status
# a proxy's own policy gives for it (an http:// listener on [::]: 403), and
# a 4 MiB download through tools/lossy (loss, delay, jitter, reordering,
# duplicates) arrives intact. SIGTERM to the client: a keep-alive connection
# idle between requests closes at once, one with a request under way gets
# its response (with Connection: close) first, and sluice exits long before
# --grace ends.
. "$(dirname "$0")/lib.sh"
. "$HELPERS/tun_lib.sh"
. "$HELPERS/ka_lib.sh"
need python3 curl sha256sum
find_lossy

tun_key
ka_origin origin nowait
O=$ORIGIN_PORT
TP=$(udp_port)
tun_server -L "tunnel://127.0.0.1:$TP" --tunnel-key "$KEY" --allow-private
S1_PID=$SRV_PID S1_LOG=$SRV_LOG
wait_listen "$O"

# Policy: a tunnel server on [::] without --allow-private refuses 127.0.0.1
# with the status a proxy's own policy gives (an http:// listener on [::]).
PP=$(free_port)
start_sluice -L "http://[::]:$PP" --allow-open
PX_PID=$SLUICE_PID PX_LOG=$SLUICE_LOG
want=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -x "http://127.0.0.1:$PP" "http://127.0.0.1:$O/id")
[ "$want" = 403 ] || fail "a proxy's own policy refusal: expected 403, got $want"
stop_pid "$PX_PID" "$PX_LOG"
TP2=$(udp_port)
tun_server -L "tunnel://[::]:$TP2" --tunnel-key "$KEY"
SRV2_PID=$SRV_PID SRV2_LOG=$SRV_LOG
HP2=$(free_port)
tun_client -L "http://127.0.0.1:$HP2" -F "tunnel://127.0.0.1:$TP2" --tunnel-key "$KEY"
CLI2_PID=$CLI_PID CLI2_LOG=$CLI_LOG
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -x "http://127.0.0.1:$HP2" "http://127.0.0.1:$O/id")
[ "$code" = "$want" ] || fail "tunnel server policy: expected $want, got $code"
wait_log 5 "destination not allowed by the tunnel server" "$CLI2_LOG"
stop_pid "$CLI2_PID" "$CLI2_LOG"
stop_pid "$SRV2_PID" "$SRV2_LOG"
log "ok: tunnel server policy refusal -> $code, as a proxy's own"

# Through a lossy link: a 4 MiB download intact.
LP=$(udp_port)
bg lossy "$LOSSY" -l "127.0.0.1:$LP" -t "127.0.0.1:$TP" --loss 3 --delay 5 --jitter 2 \
	--reorder 2 --dup 1 --seed 11
wait_for 5 grep -q 'lossy ready' "$T/lossy.log" || fail "lossy did not start"
HP3=$(free_port)
tun_client -L "http://127.0.0.1:$HP3" -F "tunnel://127.0.0.1:$LP" --tunnel-key "$KEY"
CLI3_PID=$CLI_PID CLI3_LOG=$CLI_LOG
curl -sS --fail --max-time 60 -x "http://127.0.0.1:$HP3" -o "$T/lossy.bin" \
	"http://127.0.0.1:$O/blob?n=4194304" 2>"$T/curl.err" || fail "lossy: $(tail -2 "$T/curl.err")"
want=$(python3 -c 'import hashlib; print(hashlib.sha256((bytes(range(256))*16384)[:4194304]).hexdigest())')
got=$(sha256sum <"$T/lossy.bin" | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "lossy: sha256 mismatch ($(stat -c %s "$T/lossy.bin") bytes)"
log "ok: 4 MiB over a lossy link intact"
stop_pid "$CLI3_PID" "$CLI3_LOG"

# Drain over the tunnel: an idle keep-alive client and a request in flight.
HP4=$(free_port)
tun_client -L "http://127.0.0.1:$HP4" -F "tunnel://127.0.0.1:$TP" --tunnel-key "$KEY" \
	--grace 60s --log-level debug
bg idle python3 "$HELPERS/http_raw.py" 127.0.0.1 "$HP4" --expect 1 --wait 50 --max-time 55 \
	--send "GET http://127.0.0.1:$O/id HTTP/1.1\r\nHost: o\r\n\r\n"
wait_log 10 'request 1: GET http://127\.0\.0\.1:[0-9]+/id -> 200' "$CLI_LOG"
n=$(ka_conns "$T/origin")
bg slow python3 "$HELPERS/http_raw.py" 127.0.0.1 "$HP4" --expect 1 --wait 10 --max-time 20 \
	--send "GET http://127.0.0.1:$O/slow?s=3 HTTP/1.1\r\nHost: o\r\n\r\n"
# The origin accepted the stream's connection: the request is under way.
conns_above() { [ "$(ka_conns "$T/origin")" -gt "$1" ]; }
wait_for 10 conns_above "$n" || fail "the slow request did not reach the origin"
sleep 0.3
kill -TERM "$CLI_PID"
SLUICE_PID=$CLI_PID SLUICE_LOG=$CLI_LOG
sluice_wait_exit 20 || fail "client still running 20 s after SIGTERM (--grace 60s)"
[ "$SLUICE_STATUS" = 0 ] || fail "client exited $SLUICE_STATUS"
check_sluice_clean
assert_log 'closed: client .*\(shutdown\)$' "$CLI_LOG"
wait_for 5 grep -q '^closed$' "$T/idle.log" || fail "idle client: no close: $(cat "$T/idle.log")"
wait_for 5 grep -q '^closed$' "$T/slow.log" || fail "slow request: no close: $(cat "$T/slow.log")"
grep -q '^resp 1 status 200 .*connection: close$' "$T/slow.log" ||
	fail "slow request: no complete response with Connection: close: $(cat "$T/slow.log")"
log "ok: drain over the tunnel: idle connection closed, the request under way answered"

stop_pid "$S1_PID" "$S1_LOG"
