# shellcheck shell=bash
# Shared helpers for tests/integration/NNNN-*.sh. Source it first thing:
#
#   . "$(dirname "$0")/lib.sh"
#
# Environment:
#   SLUICE_BIN        binary under test (default build/sluice, relative to the repo root)
#   SLUICE_WRAP       prefix command for sluice, e.g.
#                     "valgrind --error-exitcode=99 --leak-check=full -q"
#   SLUICE_TEST_TMP   scratch dir for this test (run.sh sets it; kept when the test fails)
#
# Exit status of a test: 0 pass, 77 skipped, anything else fail.
# Every wait below is bounded; every background process is killed by the EXIT trap.

set -u -o pipefail

TEST_NAME=$(basename "$0" .sh)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HELPERS=$ROOT/tests/integration/helpers
SLUICE_BIN=${SLUICE_BIN:-build/sluice}
case $SLUICE_BIN in
/*) ;;
*) SLUICE_BIN=$ROOT/$SLUICE_BIN ;;
esac
SLUICE_WRAP=${SLUICE_WRAP:-}
export PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# The tests drive Debian's packaged clients (dev.sh installs them): put the
# system directories first, so a version-manager shim earlier in PATH (pyenv's
# python3 costs ~0.8 s per start here, against 0.06 s) is not what we run.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH

if [ -n "${SLUICE_TEST_TMP:-}" ]; then
	T=$SLUICE_TEST_TMP
	mkdir -p "$T"
else
	T=$(mktemp -d "/tmp/sluice-$TEST_NAME.XXXXXX")
fi

# Slow wrappers (valgrind) get longer startup and shutdown allowances.
if [[ $SLUICE_WRAP == *valgrind* ]]; then
	SLOW=1
	STARTUP_TIMEOUT=20
else
	SLOW=0
	STARTUP_TIMEOUT=10
fi

BG_PIDS=()		# background processes to kill at exit
CLEANUP_CMDS=()		# extra shell commands run at exit (netns del, ...)
SLUICE_PID=
SLUICE_LOG=
SLUICE_STATUS=
SLUICE_NETNS=		# when set, start_sluice runs sluice inside this netns
SLUICE_PREFIX=()	# extra prefix command (prlimit ...), before SLUICE_WRAP
_SLUICE_N=0

log() { printf '%s %s\n' "$(date +%H:%M:%S.%3N)" "$*"; }

# Show the tail of every sluice log of this test, to explain a failure.
_dump_logs() {
	local f
	for f in "$T"/sluice.*.log; do
		[ -f "$f" ] || continue
		echo "---- last 25 lines of $f"
		tail -n 25 "$f"
	done
}

fail() {
	echo "FAIL: $*"
	_dump_logs
	exit 1
}

skip() {
	echo "SKIP: $*"
	exit 77
}

# Kill every background process we started; bounded.
_cleanup() {
	local rc=$? p i cmd alive
	trap - EXIT TERM INT
	for cmd in "${CLEANUP_CMDS[@]}"; do
		eval "$cmd" >/dev/null 2>&1 || true
	done
	for p in "${BG_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for i in $(seq 1 30); do
		alive=0
		for p in "${BG_PIDS[@]}"; do
			pid_alive "$p" && alive=1
		done
		[ $alive = 0 ] && break
		sleep 0.1
	done
	for p in "${BG_PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null || true
	done
	# Commands that must run after the processes are gone (netns deletion).
	for cmd in "${CLEANUP_LATE[@]}"; do
		eval "$cmd" >/dev/null 2>&1 || true
	done
	if { [ "$rc" = 0 ] || [ "$rc" = 77 ]; } && [ "${SLUICE_KEEP_LOGS:-0}" != 1 ]; then
		rm -rf "$T"
	else
		echo "(scratch files kept in $T)"
	fi
	exit "$rc"
}
CLEANUP_LATE=()
trap _cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# pid_alive PID: the process exists and is not a zombie.
pid_alive() {
	local st
	[ -r "/proc/$1/stat" ] || return 1
	st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# bg LOGNAME CMD...: run CMD in the background, output to $T/LOGNAME.log; sets BG_PID.
bg() {
	local name=$1
	shift
	"$@" >"$T/$name.log" 2>&1 </dev/null &
	BG_PID=$!
	BG_PIDS+=("$BG_PID")
}

need() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip "'$c' is not installed"
	done
}

has_ipv6() {
	grep -q '^00000000000000000000000000000001 ' /proc/net/if_inet6 2>/dev/null
}

# free_port: print a TCP port that is free on 127.0.0.1, ::1 and the dual-stack
# wildcard, chosen below the kernel's ephemeral range so that no outgoing
# connection can take it between now and our bind. Never hands the same port
# out twice in one test.
free_port() {
	python3 "$HELPERS/freeport.py" "$T/.ports"
}

# port_listening PORT: some socket is in LISTEN on PORT (checked in
# $SLUICE_NETNS if set): no connection is made, so sluice logs nothing.
port_listening() {
	local hex
	printf -v hex '%04X' "$1"
	# (no pipe into grep -q: with pipefail, the writer's SIGPIPE fails it)
	_in_ns grep -qsE "^ *[0-9]+: [0-9A-F]+:$hex [0-9A-F]+:[0-9A-F]+ 0A " /proc/net/tcp /proc/net/tcp6 ||
		_in_ns grep -qsE "^ *[0-9]+: [0-9A-F]+:$hex 0+:0000 07 " /proc/net/udp /proc/net/udp6	# udp:// (bound)
}

# udp_bound PORT: some UDP socket is bound to PORT (tunnel:// listeners).
udp_bound() {
	local hex
	printf -v hex '%04X' "$1"
	_in_ns grep -qsE "^ *[0-9]+: [0-9A-F]+:$hex " /proc/net/udp /proc/net/udp6
}

_in_ns() {
	if [ -n "$SLUICE_NETNS" ]; then
		ip netns exec "$SLUICE_NETNS" "$@"
	else
		"$@"
	fi
}

# wait_port HOST PORT [TIMEOUT]: wait until a TCP connect to HOST:PORT succeeds.
wait_port() {
	local host=$1 port=$2 timeout=${3:-$STARTUP_TIMEOUT} end
	end=$((SECONDS + timeout))
	while [ $SECONDS -lt $end ]; do
		if timeout 2 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	fail "nothing accepts on $host:$port after ${timeout}s"
}

# wait_listen PORT [TIMEOUT]: wait until PORT is in LISTEN state (no connection made).
wait_listen() {
	local port=$1 timeout=${2:-$STARTUP_TIMEOUT} i
	for i in $(seq 1 $((timeout * 10))); do
		port_listening "$port" && return 0
		sleep 0.1
	done
	fail "port $port is not listening after ${timeout}s"
}

# wait_for TIMEOUT_SEC CMD...: poll CMD every 0.1 s until it succeeds.
wait_for() {
	local timeout=$1 i
	shift
	for i in $(seq 1 "$(awk "BEGIN{print int($timeout*10)}")"); do
		"$@" && return 0
		sleep 0.1
	done
	"$@"
}

# sluice_cmd ARGS...: fill the array SLUICE_CMD with the full command line.
# SLUICE_IO_BACKEND=epoll|uring: run the suite on one event loop backend.
# Under valgrind, epoll: valgrind cannot see the kernel write through
# io_uring (false reports, and sluice stalls). Tests that run sluice
# without start_sluice (0014's --daemon) add "${BACKEND_ARGS[@]}" too.
BACKEND_ARGS=()
if [ -n "${SLUICE_IO_BACKEND:-}" ]; then
	BACKEND_ARGS=(--io-backend "$SLUICE_IO_BACKEND")
elif [[ $SLUICE_WRAP == *valgrind* ]]; then
	BACKEND_ARGS=(--io-backend epoll)
fi

sluice_cmd() {
	SLUICE_CMD=()
	[ -n "$SLUICE_NETNS" ] && SLUICE_CMD+=(ip netns exec "$SLUICE_NETNS")
	SLUICE_CMD+=("${SLUICE_PREFIX[@]}")
	# shellcheck disable=SC2206
	[ -n "$SLUICE_WRAP" ] && SLUICE_CMD+=($SLUICE_WRAP)
	SLUICE_CMD+=("$SLUICE_BIN" "$@")
}

# start_sluice ARGS...: start sluice in the background (output to $SLUICE_LOG),
# wait until every -L port listens and, when its log is readable at info
# level, until it logged one "listening on" line per listener (it takes
# signals from then on). Sets SLUICE_PID and SLUICE_LOG.
start_sluice() {
	local ports=() nl=0 logfile= level=info a prev= i p ok daemon=0
	[ -x "$SLUICE_BIN" ] || fail "binary under test $SLUICE_BIN does not exist (make, or set SLUICE_BIN)"
	for a in "$@"; do
		case $prev in
		-L | --listen)
			nl=$((nl + 1))
			p=${a#*://}
			p=${p%%/*}
			case $a in
			tunnel://*) ports+=("udp:${p##*:}") ;;
			*) ports+=("${p##*:}") ;;
			esac
			;;
		--log-file) logfile=$a ;;
		--log-level) level=$a ;;
		esac
		case $a in
		--listen=*)
			nl=$((nl + 1))
			p=${a#*://}
			p=${p%%/*}
			ports+=("${p##*:}")
			;;
		--log-file=*) logfile=${a#*=} ;;
		--log-level=*) level=${a#*=} ;;
		-d | --daemon) daemon=1 ;;
		esac
		prev=$a
	done
	_SLUICE_N=$((_SLUICE_N + 1))
	SLUICE_LOG=$T/sluice.$_SLUICE_N.log
	sluice_cmd "$@" "${BACKEND_ARGS[@]}"
	log "start: ${SLUICE_CMD[*]}"
	"${SLUICE_CMD[@]}" >"$SLUICE_LOG" 2>&1 </dev/null &
	SLUICE_PID=$!
	BG_PIDS+=("$SLUICE_PID")
	[ -z "$logfile" ] && logfile=$SLUICE_LOG
	case $logfile in /*) ;; *) logfile=$PWD/$logfile ;; esac
	for i in $(seq 1 $((STARTUP_TIMEOUT * 10))); do
		if ! pid_alive "$SLUICE_PID"; then
			wait "$SLUICE_PID"
			fail "sluice exited during startup with status $? (args: $*)"
		fi
		ok=1
		for p in "${ports[@]}"; do
			case $p in
			udp:*) udp_bound "${p#udp:}" || ok=0 ;;
			*) port_listening "$p" || ok=0 ;;
			esac
		done
		if [ $ok = 1 ] && [ $daemon = 0 ] && { [ "$level" = info ] || [ "$level" = debug ]; }; then
			[ "$(grep -c ' listening on ' "$logfile" 2>/dev/null)" -ge "$nl" ] || ok=0
		fi
		if [ $ok = 1 ]; then
			log "sluice pid $SLUICE_PID ready (ports ${ports[*]})"
			return 0
		fi
		sleep 0.1
	done
	fail "sluice (pid $SLUICE_PID) not ready after ${STARTUP_TIMEOUT}s: ports ${ports[*]}"
}

# sluice_wait_exit TIMEOUT: wait up to TIMEOUT s for SLUICE_PID to end;
# sets SLUICE_STATUS. Returns 1 if it is still running.
sluice_wait_exit() {
	local timeout=$1 i
	for i in $(seq 1 "$(awk "BEGIN{print int($timeout*10)}")"); do
		pid_alive "$SLUICE_PID" || break
		sleep 0.1
	done
	pid_alive "$SLUICE_PID" && return 1
	wait "$SLUICE_PID"
	SLUICE_STATUS=$?
	return 0
}

# check_sluice_clean: no memory errors reported in SLUICE_LOG by valgrind or
# the sanitizers.
check_sluice_clean() {
	if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|ThreadSanitizer' "$SLUICE_LOG"; then
		fail "sanitizer reported errors (see $SLUICE_LOG)"
	fi
	if [[ $SLUICE_WRAP == *valgrind* ]] &&
		grep -qE '^==[0-9]+== (Invalid |Conditional jump|Use of uninitialised|Syscall param|Mismatched|Source and destination overlap|.*(definitely|indirectly) lost in|ERROR SUMMARY: [1-9])' "$SLUICE_LOG"; then
		fail "valgrind reported errors (see $SLUICE_LOG)"
	fi
	return 0
}

# stop_sluice [TIMEOUT]: SIGTERM, wait (default: 10 s, 30 s under valgrind),
# require exit status 0 and a clean memory report.
stop_sluice() {
	local timeout=${1:-10}
	[ $SLOW = 1 ] && timeout=$((timeout + 20))
	kill -TERM "$SLUICE_PID" 2>/dev/null || fail "sluice (pid $SLUICE_PID) was not running at stop"
	sluice_wait_exit "$timeout" || fail "sluice did not exit within ${timeout}s of SIGTERM"
	[ "$SLUICE_STATUS" = 0 ] || fail "sluice exited with status $SLUICE_STATUS after SIGTERM, expected 0"
	check_sluice_clean
	log "sluice pid $SLUICE_PID stopped, status 0"
}

# fd_count PID: number of open fds of PID.
fd_count() {
	ls "/proc/$1/fd" 2>/dev/null | wc -l
}

# cpu_ticks PID: utime+stime of PID in clock ticks.
cpu_ticks() {
	sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}

# assert_log REGEX [FILE]: FILE (default SLUICE_LOG) has a line matching REGEX (ERE).
assert_log() {
	local re=$1 f=${2:-$SLUICE_LOG}
	grep -qE -- "$re" "$f" || fail "no log line matches /$re/ in $f"
}

# wait_log TIMEOUT REGEX [FILE]: wait until the log has a line matching REGEX.
wait_log() {
	local timeout=$1 re=$2 f=${3:-$SLUICE_LOG}
	wait_for "$timeout" grep -qE -- "$re" "$f" || fail "no log line matched /$re/ in $f within ${timeout}s"
}

# py SCRIPT ARGS...: run a helper from tests/integration/helpers.
py() {
	local s=$1
	shift
	python3 "$HELPERS/$s" "$@"
}

# Start a python echo server on 127.0.0.1 (or $2); prints nothing, sets ECHO_PORT.
start_echo() {
	ECHO_PORT=$(free_port)
	bg "echo.$ECHO_PORT" python3 "$HELPERS/echo_server.py" --host "${1:-127.0.0.1}" --port "$ECHO_PORT"
	wait_listen "$ECHO_PORT"
}

# Elapsed time helpers: now_ms.
now_ms() { date +%s%3N; }

# fds_at_most PID N: PID has at most N open fds.
fds_at_most() {
	[ "$(fd_count "$1")" -le "$2" ]
}

# wait_fds_back PID BASE TIMEOUT: wait until PID is back to at most BASE fds.
wait_fds_back() {
	wait_for "$3" fds_at_most "$1" "$2" ||
		fail "pid $1 still has $(fd_count "$1") fds after ${3}s, baseline $2 (fd leak?)"
}

# log_count REGEX [FILE]: number of log lines matching REGEX.
log_count() {
	grep -cE -- "$1" "${2:-$SLUICE_LOG}"
}

# log_count_at_least N REGEX [FILE]
log_count_at_least() {
	[ "$(log_count "$2" "${3:-$SLUICE_LOG}")" -ge "$1" ]
}
