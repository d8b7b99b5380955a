#!/usr/bin/env bash
# SIGTERM with SOCKS5 UDP associations open (--grace 10): UDP has no
# in-flight marker, so an association ends once nothing moved for a second.
# An idle one is closed about 1 s after the signal (close line "shutdown"),
# a busy one keeps relaying (every echo comes back) until it goes quiet and
# is closed a second later, and sluice exits 0 long before the grace period.
. "$(dirname "$0")/lib.sh"
need python3

E=$(free_port)
bg echo python3 "$HELPERS/udpkit.py" echo "$E" --log "$T/echo.log"
wait_for 5 udp_bound "$E" || fail "udp echo did not start"
S5=$(free_port)
start_sluice -w 1 --grace 10 -L "socks5://127.0.0.1:$S5"

bg client python3 "$HELPERS/assoc_drain.py" "$S5" "$E" "$T/ready" "$T/go" 3
CLIENT=$BG_PID
wait_for 10 test -e "$T/ready" || fail "the associations did not come up"
kill -TERM "$SLUICE_PID"
t0=$(now_ms)
touch "$T/go"
sluice_wait_exit 9 || fail "sluice still runs 9 s after SIGTERM with --grace 10 (associations held it)"
t1=$(now_ms)
log "sluice exited $(( t1 - t0 )) ms after SIGTERM, status $SLUICE_STATUS"
[ "$SLUICE_STATUS" = 0 ] || fail "sluice exited with status $SLUICE_STATUS after SIGTERM"
check_sluice_clean
wait_for 20 eval '! pid_alive $CLIENT' || fail "the client did not finish"
out=$(tail -n 1 "$T/client.log")
log "client: $out"
eval "$(tr ' ' '\n' <<<"$out" | grep -E '^[a-z_]+=[0-9a-z.]+$')"
[ "${idle_eof:-none}" != none ] || fail "the idle association's control connection never closed"
awk -v x="$idle_eof" 'BEGIN { exit !(x >= 0.8 && x <= 2.5) }' ||
	fail "idle association closed ${idle_eof}s after SIGTERM, expected about 1 s"
[ "$busy_ok" = "$busy_sent" ] || fail "busy association: $busy_ok of $busy_sent echoes came back during the drain"
[ "${busy_eof:-none}" != none ] || fail "the busy association's control connection never closed"
awk -v x="$busy_eof" 'BEGIN { exit !(x >= 3.0 && x <= 5.5) }' ||
	fail "busy association closed ${busy_eof}s after SIGTERM, expected about 1 s after its last datagram (3 s)"
n=$(log_count "closed: .*(shutdown)")
[ "$n" -ge 2 ] || fail "expected two association close lines saying shutdown, got $n"
