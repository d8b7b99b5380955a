#!/usr/bin/env bash
# --daemon with --pid-file (both paths relative: the daemon changes directory
# to /): the command returns promptly with status 0, the pid file names a
# live process, detached from us, that owns the listening socket and relays;
# the log goes to --log-file; SIGTERM stops it and removes the pid file.
# A second instance with the same --pid-file is refused while the first runs.
. "$(dirname "$0")/lib.sh"
need python3

start_echo
LP=$(free_port)
mkdir -p "$T/run"
cd "$T/run" || fail "cd"
sluice_cmd --daemon --pid-file sluice.pid --log-file sluice.log -L "tcp://127.0.0.1:$LP/127.0.0.1:$ECHO_PORT" "${BACKEND_ARGS[@]}"
t0=$(now_ms)
timeout 20 "${SLUICE_CMD[@]}" >"$T/daemon.out" 2>&1 </dev/null
rc=$?
dt=$(($(now_ms) - t0))
log "daemon launcher: exit $rc after ${dt} ms"
[ $rc = 0 ] || fail "sluice --daemon exited $rc: $(cat "$T/daemon.out")"
lim=3000
[ $SLOW = 1 ] && lim=15000
[ $dt -lt $lim ] || fail "sluice --daemon took ${dt} ms to return"
if [ -s sluice.pid ]; then
	log "pid file present when the launcher returned"
else
	log "NOTE: pid file not yet written when the launcher returned (systemd Type=forking wants it there)"
fi
wait_for 5 test -s sluice.pid || fail "pid file $T/run/sluice.pid not written (relative path not made absolute?)"
DPID=$(cat sluice.pid)
[[ $DPID =~ ^[0-9]+$ ]] || fail "pid file holds '$DPID'"
CLEANUP_CMDS+=("kill -KILL $DPID")
pid_alive "$DPID" || fail "pid $DPID from the pid file is not running"
SLUICE_PID=$DPID
SLUICE_LOG=$T/run/sluice.log

# Detached: its own session, not a child of this shell.
sid=$(ps -o sid= -p "$DPID" | tr -d ' ')
[ "$sid" = "$DPID" ] || log "NOTE: daemon pid $DPID has session $sid"
[ "$sid" != "$(ps -o sid= -p $$ | tr -d ' ')" ] || fail "daemon is still in the test's session"
ppid=$(ps -o ppid= -p "$DPID" | tr -d ' ')
[ "$ppid" != $$ ] || fail "daemon is still a child of the test shell"

# It owns the listening socket and relays.
wait_listen "$LP"
inodes=$(find "/proc/$DPID/fd" -lname 'socket:*' -printf '%l\n' 2>/dev/null | tr -dc '0-9\n')
hex=$(printf '%04X' "$LP")
owned=0
for ino in $(awk -v h=":$hex" '$2 ~ h"$" && $4 == "0A" {print $10}' /proc/net/tcp /proc/net/tcp6); do
	grep -qx "$ino" <<<"$inodes" && owned=1
done
[ $owned = 1 ] || fail "the listening socket on $LP does not belong to pid $DPID"
py client.py echo 127.0.0.1 "$LP" --count 5 || fail "the daemon does not relay"
wait_log 5 "conn [0-9]+ closed: .* up 1000 down 1000 .*\(eof\)" "$T/run/sluice.log"
[ ! -s "$T/daemon.out" ] || log "launcher output: $(cat "$T/daemon.out")"

# A second instance with the same pid file is refused.
sluice_cmd --pid-file sluice.pid -L "tcp://127.0.0.1:$(free_port)/127.0.0.1:$ECHO_PORT"
timeout 20 "${SLUICE_CMD[@]}" >"$T/second.out" 2>&1 </dev/null
rc=$?
[ $rc != 0 ] || fail "a second sluice with the same --pid-file started"
log "second instance: exit $rc: $(cat "$T/second.out")"
[ "$(cat sluice.pid)" = "$DPID" ] || fail "the second instance overwrote the pid file"

kill -TERM "$DPID"
wait_for 15 eval '! pid_alive $DPID' || fail "daemon $DPID still runs 15 s after SIGTERM"
[ ! -e sluice.pid ] || fail "pid file still exists after the daemon stopped"
assert_log "info stopped|Terminated" "$T/run/sluice.log"
check_sluice_clean
