# shellcheck shell=bash
# Helpers for the soak tests (0024, 0133, 0412). Source after lib.sh.
#
#   soak_targets            start the TCP and UDP echo servers (sets ECHO_PORT, UE),
#                           pick the front's ports PP (proxy://), FP (tcp://) and UP
#                           (udp://), and set SOAK_FRONT to the front's arguments for
#                           start_sluice and friends. Its udp:// sessions expire after
#                           2 s (each holds an upstream fd), so the fds come back.
#   run_soak WHAT [ARGS...] soak.py against the front for $SOAK_SECONDS (20) with
#                           seed $SOAK_SEED (1); ARGS go to soak.py; fails naming WHAT

soak_targets() {
	start_echo
	UE=$(free_port)
	bg uecho python3 "$HELPERS/udpkit.py" echo "$UE"
	wait_for 5 udp_bound "$UE" || fail "udp echo did not start"
	PP=$(free_port)
	FP=$(free_port)
	UP=$(free_port)
	SOAK_FRONT=(-w 2 --handshake-timeout 1s --udp-timeout 2s --log-level warn
		-L "proxy://127.0.0.1:$PP" -L "tcp://127.0.0.1:$FP/127.0.0.1:$ECHO_PORT"
		-L "udp://127.0.0.1:$UP/127.0.0.1:$UE")
}

run_soak() {
	local what=$1 secs=${SOAK_SECONDS:-20}
	shift
	timeout $((secs + 120)) python3 "$HELPERS/soak.py" --proxy "$PP" --fwd "$FP" --udp "$UP" \
		--echo "$ECHO_PORT" --udp-echo "$UE" --threads 8 --seconds "$secs" \
		--seed "${SOAK_SEED:-1}" "$@" || fail "the soak $what found a fault"
}
