#!/usr/bin/env bash
# Bad command lines exit 2 with exactly one stderr line "sluice: ..." that
# names the bad part; --help and --version exit 0 on stdout.
. "$(dirname "$0")/lib.sh"
need python3

P=$(free_port)
TGT=127.0.0.1:9

# expect_usage_error WHAT_MUST_APPEAR ARGS...
expect_usage_error() {
	local what=$1 rc lines first
	shift
	sluice_cmd "$@"
	timeout 20 "${SLUICE_CMD[@]}" >"$T/out" 2>"$T/err" </dev/null
	rc=$?
	# valgrind -q writes its reports to stderr too; judge sluice's lines only.
	grep -v '^==[0-9]*==' "$T/err" >"$T/err.sluice"
	lines=$(wc -l <"$T/err.sluice")
	first=$(head -n 1 "$T/err.sluice")
	log "sluice $* -> exit $rc, stderr: $first"
	[ "$rc" = 2 ] || fail "sluice $*: exit status $rc, expected 2 (stderr: $(cat "$T/err"))"
	[ "$lines" = 1 ] || fail "sluice $*: $lines stderr lines, expected exactly 1: $(cat "$T/err")"
	[[ $first == "sluice: "* ]] || fail "sluice $*: stderr line does not start with 'sluice: ': $first"
	[[ $first == *"$what"* ]] || fail "sluice $*: stderr line does not name '$what': $first"
	if [[ $SLUICE_WRAP == *valgrind* ]] && grep -q 'ERROR SUMMARY: [1-9]' "$T/err"; then
		fail "sluice $*: valgrind errors: $(cat "$T/err")"
	fi
}

expect_usage_error bogus --bogus-option -L "tcp://127.0.0.1:$P/$TGT"
expect_usage_error udp2 -L udp2://x
expect_usage_error udp2 -L "udp2://127.0.0.1:$P/$TGT"
expect_usage_error "127.0.0.1" -L "tcp://127.0.0.1/$TGT"		# missing listen port
expect_usage_error "127.0.0.1:" -L "tcp://127.0.0.1:$P/127.0.0.1"	# missing target port
expect_usage_error ":0" -L "tcp://127.0.0.1:0/$TGT"
expect_usage_error 70000 -L "tcp://127.0.0.1:70000/$TGT"
expect_usage_error 70000 -L "tcp://127.0.0.1:$P/127.0.0.1:70000"
expect_usage_error abc -L "tcp://127.0.0.1:abc/$TGT"
expect_usage_error abc --workers abc -L "tcp://127.0.0.1:$P/$TGT"
expect_usage_error 0 --workers 0 -L "tcp://127.0.0.1:$P/$TGT"
expect_usage_error 257 --workers 257 -L "tcp://127.0.0.1:$P/$TGT"
expect_usage_error xyz --connect-timeout xyz -L "tcp://127.0.0.1:$P/$TGT"
expect_usage_error xyz --idle-timeout xyz -L "tcp://127.0.0.1:$P/$TGT"
expect_usage_error xyz --grace xyz -L "tcp://127.0.0.1:$P/$TGT"
expect_usage_error loud --log-level loud -L "tcp://127.0.0.1:$P/$TGT"
expect_usage_error 12q --buffer-size 12q -L "tcp://127.0.0.1:$P/$TGT"
expect_usage_error warp --relay warp -L "tcp://127.0.0.1:$P/$TGT"
expect_usage_error kqueue --io-backend kqueue -L "tcp://127.0.0.1:$P/$TGT"
expect_usage_error no-such-host.invalid -L "tcp://no-such-host.invalid:$P/$TGT"
expect_usage_error "extra" extra-argument	# no -L now means the default proxy; a stray word is an error

# Address already in use: a plain python listener holds the port.
HELD=$(free_port)
bg holder python3 -c "
import socket, time
s = socket.socket()
s.bind(('127.0.0.1', $HELD))
s.listen(1)
time.sleep(60)
"
wait_listen "$HELD"
expect_usage_error "$HELD" -L "tcp://127.0.0.1:$HELD/$TGT"
# ... and a second listener of the same process on a port that is taken.
expect_usage_error "$HELD" -L "tcp://127.0.0.1:$P/$TGT" -L "tcp://127.0.0.1:$HELD/$TGT"
# The failed start must not leave the first port listening.
port_listening "$P" && fail "port $P still listens after a failed start"

# --help / -h: usage on stdout, exit 0, mentions -L.
for h in --help -h; do
	sluice_cmd "$h"
	timeout 20 "${SLUICE_CMD[@]}" >"$T/out" 2>"$T/err" </dev/null
	rc=$?
	[ "$rc" = 0 ] || fail "sluice $h: exit $rc, expected 0"
	grep -q -- '-L' "$T/out" || fail "sluice $h: usage on stdout does not mention -L"
done

# --version / -V: "sluice X.Y.Z" on stdout, exit 0.
for v in --version -V; do
	sluice_cmd "$v"
	timeout 20 "${SLUICE_CMD[@]}" >"$T/out" 2>"$T/err" </dev/null
	rc=$?
	[ "$rc" = 0 ] || fail "sluice $v: exit $rc, expected 0"
	head -n 1 "$T/out" | grep -qE '^sluice [0-9]+\.[0-9]+\.[0-9]+' ||
		fail "sluice $v: stdout '$(head -n 1 "$T/out")' does not start 'sluice X.Y.Z'"
done

# The forms the contract documents are accepted: decimal seconds, k/m sizes.
start_sluice --workers 1 --connect-timeout 0.5 --idle-timeout 1.5 --grace 0.5 \
	--buffer-size 64k --relay buffer --log-level debug -L "tcp://127.0.0.1:$P/$TGT"
stop_sluice
start_sluice -w 2 --buffer-size 1m --relay splice -L "tcp://127.0.0.1:$P/$TGT"
stop_sluice
log "ok"
