#!/usr/bin/env bash
# The tunnel over a bad link (tools/lossy: 5 % loss each way, 10 ms delay,
# jitter, reordering, duplicates): 1 MiB and 16 MiB downloads arrive with
# the right sha256, and 4 MiB both ways at once through one connection too.
. "$(dirname "$0")/lib.sh"
. "$HELPERS/px_lib.sh"
. "$HELPERS/tun_lib.sh"
need python3 curl sha256sum
find_lossy

tun_key
mkdir -p "$T/www"
head -c 1048576 /dev/urandom >"$T/www/one"
head -c 16777216 /dev/urandom >"$T/www/sixteen"
WWW_PORT=$(free_port)
bg www python3 -m http.server --bind 127.0.0.1 --directory "$T/www" "$WWW_PORT"
wait_listen "$WWW_PORT"

TP=$(udp_port)
LP=$(udp_port)
tun_server -L "tunnel://127.0.0.1:$TP" --tunnel-key "$KEY"
bg lossy "$LOSSY" -l "127.0.0.1:$LP" -t "127.0.0.1:$TP" --loss 5 --delay 10 --jitter 3 \
	--reorder 2 --dup 1 --seed 7
wait_for 5 grep -q 'lossy ready' "$T/lossy.log" || fail "lossy did not start"
FW=$(free_port)
BI=$(free_port)
BS=$(free_port)
tun_client -w 1 -L "tcp://127.0.0.1:$FW/127.0.0.1:$WWW_PORT" -L "tcp://127.0.0.1:$BI/127.0.0.1:$BS" \
	-F "tunnel://127.0.0.1:$LP" --tunnel-key "$KEY"

for f in one sixteen; do
	want=$(sha256sum <"$T/www/$f" | cut -d' ' -f1)
	t0=$(now_ms)
	curl -sS --fail --max-time 60 -o "$T/got" "http://127.0.0.1:$FW/$f" 2>"$T/curl.err" ||
		fail "$f: curl failed: $(tail -n 2 "$T/curl.err")"
	got=$(sha256sum <"$T/got" | cut -d' ' -f1)
	[ "$got" = "$want" ] || fail "$f: sha256 mismatch ($(stat -c %s "$T/got") bytes)"
	log "ok: $f intact in $(( $(now_ms) - t0 )) ms"
done
timeout 90 python3 "$HELPERS/bidir.py" "$BS" "$BI" 4 80 || fail "4 MiB both ways: mismatch"
log "ok: 4 MiB both ways"
pid_alive "$CLI_PID" && pid_alive "$SRV_PID" || fail "a sluice died"
[ "$(log_count "tunnel [0-9]+ up" "$CLI_LOG")" = 1 ] || fail "the tunnel session did not survive the loss"
stop_pid "$CLI_PID" "$CLI_LOG"
stop_pid "$SRV_PID" "$SRV_LOG"
grep 'lossy ' "$T/lossy.log" | tail -2 || true
