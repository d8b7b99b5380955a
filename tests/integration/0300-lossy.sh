#!/usr/bin/env bash
# tools/lossy, the UDP bad-link emulator the tunnel tests and benchmarks use:
# with --loss 10 (both directions) about 19 % of echoed datagrams go missing,
# none arrive corrupted; --delay 50 makes the round trip take >= 100 ms; bad
# options exit 2; SIGTERM prints the counters.
. "$(dirname "$0")/lib.sh"
need python3

LOSSY=${LOSSY_BIN:-}
if [ -z "$LOSSY" ]; then
	LOSSY=$ROOT/$(dirname "${SLUICE_BIN#"$ROOT"/}")/tools/lossy
	[ -x "$LOSSY" ] || LOSSY=$ROOT/build/tools/lossy
fi
if [ ! -x "$LOSSY" ]; then
	cc -O2 -std=gnu11 -D_GNU_SOURCE -o "$T/lossy" "$ROOT/tools/lossy.c" || fail "cannot build tools/lossy"
	LOSSY=$T/lossy
fi

"$LOSSY" --help | grep -q -- '--reorder' || fail "--help does not list the options"
"$LOSSY" -l 127.0.0.1:1 -t 127.0.0.1:2 --loss 101 2>"$T/err"
[ $? = 2 ] || fail "--loss 101 should exit 2"
grep -q -- "--loss" "$T/err" || fail "error does not name --loss: $(cat "$T/err")"
"$LOSSY" -l nonsense -t 127.0.0.1:2 2>/dev/null
[ $? = 2 ] || fail "bad -l should exit 2"

log "options checked"
# 1. loss: 2000 datagrams out and back through 10 % loss each way
LP=$(free_port)
SP=$(free_port)
bg lossy1 "$LOSSY" -l 127.0.0.1:$LP -t 127.0.0.1:$SP --loss 10 --seed 42 --reorder 5 --jitter 2
L1=$BG_PID
wait_for 5 grep -q 'lossy ready' "$T/lossy1.log" || fail "lossy did not start"
out=$(timeout 30 python3 "$HELPERS/udpcheck.py" loss "$LP" "$SP" 2000) || fail "udpcheck loss failed: $out"
log "$out"
read -r _ sent _ got _ corrupt <<<"$out"
[ "$corrupt" = 0 ] || fail "$corrupt corrupted datagrams"
# expected 2000 * 0.9 * 0.9 = 1620; generous bounds
[ "$got" -ge 1450 ] && [ "$got" -le 1780 ] || fail "got $got of $sent back, expected ~1620"
kill -TERM "$L1"
wait_for 5 grep -q 'lossy client->target: rx' "$T/lossy1.log" || fail "no counters on SIGTERM"
grep 'lossy ' "$T/lossy1.log"
grep -Eq 'client->target: rx 2000 fwd [0-9]+ bytes [0-9]+ lost (1[5-9][0-9]|2[0-4][0-9]) ' "$T/lossy1.log" ||
	fail "client->target counters do not show ~10 % of 2000 lost"

log "loss checked"
# 2. delay: 50 ms each way
LP=$(free_port)
SP=$(free_port)
bg lossy2 "$LOSSY" -l 127.0.0.1:$LP -t 127.0.0.1:$SP --delay 50
wait_for 5 grep -q 'lossy ready' "$T/lossy2.log" || fail "lossy did not start"
out=$(timeout 30 python3 "$HELPERS/udpcheck.py" delay "$LP" "$SP") || fail "udpcheck delay failed: $out"
log "$out"
rtt=${out#rtt_ms }
[ "$rtt" -ge 100 ] && [ "$rtt" -lt 2000 ] || fail "round trip $rtt ms with --delay 50"
kill -TERM "$BG_PID"

# 3. several clients: one flow each, replies go back to their own client
LP=$(free_port)
SP=$(free_port)
bg lossy3 "$LOSSY" -l 127.0.0.1:$LP -t 127.0.0.1:$SP
wait_for 5 grep -q 'lossy ready' "$T/lossy3.log" || fail "lossy did not start"
out=$(timeout 30 python3 "$HELPERS/udpcheck.py" clients "$LP" "$SP" 4) || fail "udpcheck clients failed: $out"
log "$out"
[ "$out" = "clients 4 own 200 foreign 0" ] || fail "replies did not all reach their own client: $out"
log "ok"
