#!/usr/bin/env bash
# --io-backend: epoll and uring each carry a 1 MB download and DNS-resolved
# target, say which loop they run in the startup line, and auto names its
# choice. uring is skipped (not failed) where io_uring is not available.
. "$(dirname "$0")/lib.sh"
need python3 curl sha256sum
[[ $SLUICE_WRAP == *valgrind* ]] && skip "runs io_uring, which valgrind cannot follow (lib.sh forces epoll under it)"

mkdir -p "$T/www"
head -c 1000000 /dev/urandom >"$T/www/blob"
want=$(sha256sum <"$T/www/blob" | cut -d' ' -f1)
H=$(free_port)
bg http python3 -m http.server --bind 127.0.0.1 --directory "$T/www" "$H"
wait_listen "$H"

# run BACKEND EXPECTED_NAME: start, fetch through an address and a name, stop.
run() {
	local be=$1 name=$2 L LN got url
	L=$(free_port)
	LN=$(free_port)
	start_sluice --io-backend "$be" -L "tcp://127.0.0.1:$L/127.0.0.1:$H" \
		-L "tcp://127.0.0.1:$LN/localhost:$H"
	grep -qE "running: .*$name event loop" "$SLUICE_LOG" ||
		fail "--io-backend $be: no '$name event loop' in the startup line: $(grep running "$SLUICE_LOG")"
	for url in "http://127.0.0.1:$L/blob" "http://127.0.0.1:$LN/blob"; do
		rm -f "$T/got"
		curl -sS --fail --max-time 30 -o "$T/got" "$url" || fail "$be: curl $url failed"
		got=$(sha256sum <"$T/got" | cut -d' ' -f1)
		[ "$got" = "$want" ] || fail "$be: $url: sha256 $got, expected $want"
	done
	stop_sluice
	log "ok: $be"
}

# The suite may force a backend with SLUICE_IO_BACKEND; this test picks its own.
SLUICE_IO_BACKEND=
run epoll epoll
run auto "(epoll|io_uring)"
grep -qE "event loop \(auto\)" "$SLUICE_LOG" || fail "auto: the choice is not named as auto"

P=$(free_port)
sluice_cmd --io-backend uring -L "tcp://127.0.0.1:$P/127.0.0.1:$H"
if ! timeout 2 "${SLUICE_CMD[@]}" 2>&1 | grep -q "io_uring is not available"; then
	run uring io_uring
else
	skip "io_uring not available here (epoll and auto passed)"
fi
