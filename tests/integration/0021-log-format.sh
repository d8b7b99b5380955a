#!/usr/bin/env bash
# The log lines as docs/cli-contract.md specifies them, over a run that has
# relayed, refused, reset and idle-timed-out connections on IPv4 and IPv6:
#  - every line: "YYYY-MM-DDTHH:MM:SS.mmmZ LEVEL message", LEVEL error|warn|info|debug;
#  - "listening on tcp://BIND -> TARGET", IPv6 addresses in brackets on both
#    sides (as in -L; "::1:80" would be ambiguous);
#  - close lines "conn N closed: client A target B up N down N time S.SSSs (REASON)"
#    with REASON one of eof, reset, error: <strerror>, idle timeout, shutdown,
#    connect failed (and, on proxy listeners, the handshake's refusal);
#  - failed connects "conn N ... connect to HOST:PORT failed: <strerror>" at warn.
. "$(dirname "$0")/lib.sh"
need python3

start_echo
CLOSED=$(free_port)
L1=$(free_port)
L2=$(free_port)
args=(--idle-timeout 1 -L "tcp://127.0.0.1:$L1/127.0.0.1:$ECHO_PORT" -L "tcp://127.0.0.1:$L2/127.0.0.1:$CLOSED")
if has_ipv6; then
	E6=$(free_port)
	bg echo6 python3 "$HELPERS/echo_server.py" --host ::1 --port "$E6"
	wait_listen "$E6"
	L6=$(free_port)
	args+=(-L "tcp://[::1]:$L6/[::1]:$E6")
fi
start_sluice "${args[@]}"
py client.py echo 127.0.0.1 "$L1" --count 2 || fail "relay"
py client.py expect-close 127.0.0.1 "$L2" --max 2 || fail "refused target"
py client.py expect-close 127.0.0.1 "$L1" --send hi --min 0.5 --max 3 || fail "idle timeout"
[ -n "${L6:-}" ] && { py client.py echo ::1 "$L6" --count 1 || fail "IPv6 relay"; }
sleep 0.5
stop_sluice

problems=()
bad=$(grep -vE '^==[0-9]+==' "$SLUICE_LOG" |
	grep -vE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z (error|warn|info|debug) [^ ]' | head -n 2)
[ -z "$bad" ] || problems+=("lines not in the 'TIMESTAMP LEVEL message' format: $bad")

grep -qE "^[^ ]+ info listening on tcp://127\.0\.0\.1:$L1 -> 127\.0\.0\.1:$ECHO_PORT\$" "$SLUICE_LOG" ||
	problems+=("no 'listening on tcp://127.0.0.1:$L1 -> 127.0.0.1:$ECHO_PORT' line")
if [ -n "${L6:-}" ]; then
	grep -qE "^[^ ]+ info listening on tcp://\[::1\]:$L6 -> \[::1\]:$E6\$" "$SLUICE_LOG" ||
		problems+=("IPv6 listening line is not 'listening on tcp://[::1]:$L6 -> [::1]:$E6': $(grep -F ":$L6 " "$SLUICE_LOG")")
	grep -qE "info conn [0-9]+ closed: client \[::1\]:[0-9]+ target \[::1\]:$E6 up 1000 down 1000 time [0-9]+\.[0-9]{3}s \(eof\)\$" "$SLUICE_LOG" ||
		problems+=("IPv6 close line not in the contract's format")
fi

close_re='^[^ ]+ info conn [0-9]+ closed: client [^ ]+:[0-9]+ target [^ ]+:[0-9]+ up [0-9]+ down [0-9]+ time [0-9]+\.[0-9]{3}s \((eof|reset|error: [^)]+|idle timeout|shutdown|connect failed)\)$'
bad=$(grep -E ' closed: ' "$SLUICE_LOG" | grep -vE "$close_re" | head -n 2)
[ -z "$bad" ] || problems+=("close lines outside the contract (reasons: eof, reset, error: <strerror>, idle timeout, shutdown, connect failed): $bad")
grep -qE '\(idle timeout\)$' "$SLUICE_LOG" || problems+=("no '(idle timeout)' close line")

grep -qE "^[^ ]+ warn conn [0-9]+ .*connect to 127\.0\.0\.1:$CLOSED failed: Connection refused\$" "$SLUICE_LOG" ||
	problems+=("no 'warn conn N connect to 127.0.0.1:$CLOSED failed: Connection refused' line")

if [ ${#problems[@]} -gt 0 ]; then
	for p in "${problems[@]}"; do
		echo "contract mismatch: $p"
	done
	fail "${#problems[@]} log format mismatch(es) with docs/cli-contract.md"
fi
