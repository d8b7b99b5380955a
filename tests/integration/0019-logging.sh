#!/usr/bin/env bash
# --log-file and --log-level: warn keeps warn lines and drops info, error
# drops both, debug keeps info; nothing goes to stderr with --log-file; the
# file is appended to, not truncated; SIGHUP reopens it (log rotation, as
# --help documents).
. "$(dirname "$0")/lib.sh"
need python3

start_echo
CLOSED=$(free_port)
F=$T/sluice-file.log

# run_level LEVEL: one relayed connection and one refused target.
run_level() {
	local lg lr
	lg=$(free_port)
	lr=$(free_port)
	start_sluice --log-file "$F" --log-level "$1" \
		-L "tcp://127.0.0.1:$lg/127.0.0.1:$ECHO_PORT" -L "tcp://127.0.0.1:$lr/127.0.0.1:$CLOSED"
	py client.py echo 127.0.0.1 "$lg" --count 1 --size 77 || fail "--log-level $1: relay failed"
	py client.py expect-close 127.0.0.1 "$lr" --max 2 || fail "--log-level $1: refused target"
	sleep 0.5
	stop_sluice
	if grep -v '^==[0-9]*==' "$SLUICE_LOG" | grep -q .; then
		fail "--log-file given, yet sluice wrote to stderr: $(head -n 3 "$SLUICE_LOG")"
	fi
}

run_level warn
assert_log "warn conn [0-9]+ .*connect to 127\.0\.0\.1:$CLOSED failed" "$F"
grep -q ' info ' "$F" && fail "--log-level warn: info lines logged: $(grep -m1 ' info ' "$F")"
cp "$F" "$T/after-warn"

rm -f "$F"
run_level error
[ ! -s "$F" ] || fail "--log-level error: lines logged without any error: $(head -n 3 "$F")"

rm -f "$F"
run_level info
assert_log "info listening on " "$F"
assert_log "info conn [0-9]+ closed: .* up 77 down 77 " "$F"
assert_log "warn conn [0-9]+ .*connect to 127\.0\.0\.1:$CLOSED failed" "$F"
grep -q ' debug ' "$F" && fail "--log-level info: debug lines logged"
n_before=$(wc -l <"$F")

# Appended, not truncated.
run_level debug
head -n 1 "$F" | grep -q 'listening on' || fail "the log file was truncated by the second run"
[ "$(wc -l <"$F")" -gt "$n_before" ] || fail "the second run did not append to the log file"
tail -n +"$((n_before + 1))" "$F" | grep -q ' info conn [0-9]* closed' || fail "--log-level debug: info lines missing"

# SIGHUP reopens the file.
rm -f "$F" "$F.1"
LP=$(free_port)
start_sluice --log-file "$F" -L "tcp://127.0.0.1:$LP/127.0.0.1:$ECHO_PORT"
py client.py echo 127.0.0.1 "$LP" --count 1 --size 50 || fail "relay failed"
wait_log 3 "closed: .* up 50 " "$F"
mv "$F" "$F.1"
kill -HUP "$SLUICE_PID"
wait_for 5 test -e "$F" || fail "SIGHUP did not reopen $F"
py client.py echo 127.0.0.1 "$LP" --count 1 --size 3000 || fail "relay failed after SIGHUP"
wait_log 3 "closed: .* up 3000 " "$F"
grep -q "up 3000 " "$F.1" && fail "after SIGHUP, lines still go to the rotated file"
pid_alive "$SLUICE_PID" || fail "sluice died on SIGHUP"
stop_sluice
