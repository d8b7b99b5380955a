#!/usr/bin/env bash
# serial: 512 MiB each way loads both cores
# 512 MiB in both directions at the same time through one connection: the
# sha256 of what each side sent equals what the other side received, and
# the close line counts exactly 512 MiB up and down.
# (64 MiB under valgrind, which is ~50x slower.)
. "$(dirname "$0")/lib.sh"
need python3

MIB=${SLUICE_BIDIR_MIB:-512}
[ $SLOW = 1 ] && MIB=64
SRV=$(free_port)
LP=$(free_port)
start_sluice -L "tcp://127.0.0.1:$LP/127.0.0.1:$SRV"
timeout 100 python3 "$HELPERS/bidir.py" "$SRV" "$LP" "$MIB" 90 || fail "$MIB MiB both ways: transfer failed or corrupted"
bytes=$((MIB << 20))
wait_log 5 "conn [0-9]+ closed: .* up $bytes down $bytes .*\(eof\)"
stop_sluice
