#!/usr/bin/env bash
# Each relay implementation moves data intact: --relay splice and
# --relay buffer with a tiny (4k) and a large (4m) buffer; 128 MiB both ways
# at once through one connection, then half-close in both directions, with
# exact counts in the close lines.
. "$(dirname "$0")/lib.sh"
need python3

MIB=128
[ $SLOW = 1 ] && MIB=16
bytes=$((MIB << 20))
for mode in "--relay splice" "--relay buffer --buffer-size 4k" "--relay buffer --buffer-size 4m"; do
	SRV=$(free_port)
	LP=$(free_port)
	# shellcheck disable=SC2086
	start_sluice $mode -L "tcp://127.0.0.1:$LP/127.0.0.1:$SRV"
	log "== $mode"
	timeout 60 python3 "$HELPERS/bidir.py" "$SRV" "$LP" "$MIB" 50 || fail "$mode: $MIB MiB both ways failed or corrupted"
	wait_log 5 "closed: .* up $bytes down $bytes .*\(eof\)"
	timeout 30 python3 "$HELPERS/halfclose.py" "$SRV" "$LP" client || fail "$mode: client-side half-close"
	timeout 30 python3 "$HELPERS/halfclose.py" "$SRV" "$LP" server || fail "$mode: server-side half-close"
	wait_log 5 "closed: .* up 3145745 down 2097189 .*\(eof\)"
	wait_log 5 "closed: .* up 3145745 down 2097157 .*\(eof\)"
	stop_sluice
done
