#!/usr/bin/env bash
# A reader that stops reading: sluice applies backpressure (the writer
# stalls, sluice's memory stays bounded: < 16 MiB growth with 256k buffers)
# in both directions, and afterwards every byte arrives.
. "$(dirname "$0")/lib.sh"
need python3

SRV=$(free_port)
LP=$(free_port)
start_sluice -L "tcp://127.0.0.1:$LP/127.0.0.1:$SRV"
timeout 60 python3 "$HELPERS/slowreader.py" "$SRV" "$LP" "$SLUICE_PID" 256 16 down || fail "client not reading"
timeout 60 python3 "$HELPERS/slowreader.py" "$SRV" "$LP" "$SLUICE_PID" 256 16 up || fail "target not reading"
stop_sluice
