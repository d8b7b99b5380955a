#!/usr/bin/env bash
# Half-close in both directions: EOF from one side becomes SHUT_WR on the
# other and the opposite direction keeps flowing until it ends; no byte lost.
. "$(dirname "$0")/lib.sh"
need python3

SRV=$(free_port)
LP=$(free_port)
start_sluice -L "tcp://127.0.0.1:$LP/127.0.0.1:$SRV"

timeout 60 python3 "$HELPERS/halfclose.py" "$SRV" "$LP" client || fail "client-side half-close"
timeout 60 python3 "$HELPERS/halfclose.py" "$SRV" "$LP" server || fail "server-side half-close"
# Both connections ended by EOF from both sides.
wait_log 5 "conn [0-9]+ closed: .* up 3145745 down 2097189 .*\(eof\)"
wait_log 5 "conn [0-9]+ closed: .* up 3145745 down 2097157 .*\(eof\)"
stop_sluice
