# shellcheck shell=bash
# Extra helpers for the proxy tests (tests/integration/01NN-*.sh). Source it
# after lib.sh:
#
#   . "$(dirname "$0")/lib.sh"
#   . "$HELPERS/px_lib.sh"

PX=$HELPERS/px_proxy.py

# px ARGS...: run the proxy client/server helper (see px_proxy.py).
px() {
	python3 "$PX" "$@"
}

# px_expect WHAT ARGS...: run px ARGS, print its output, fail with WHAT if it
# fails. The output is left in PX_OUT and the client's address ("client
# IP:PORT" line) in PX_CLIENT.
px_expect() {
	local what=$1 rc
	shift
	PX_OUT=$(timeout 60 python3 "$PX" "$@" 2>&1)
	rc=$?
	PX_CLIENT=$(printf '%s\n' "$PX_OUT" | awk '/^client / {print $2; exit}')
	printf '%s\n' "$PX_OUT" | sed 's/^/    /'
	[ $rc = 0 ] || fail "$what: $(printf '%s\n' "$PX_OUT" | grep -m1 '^FAIL' || echo "exit $rc")"
	log "ok: $what"
}

# px_serve NAME KIND [ARGS...]: start `px_proxy.py serve KIND PORT ARGS` on a
# free port in the background and wait until it listens; sets PX_PORT.
px_serve() {
	local name=$1 kind=$2
	shift 2
	PX_PORT=$(free_port)
	bg "$name" python3 "$PX" serve "$kind" "$PX_PORT" "$@"
	wait_listen "$PX_PORT"
	# the blackhole fills its own queue after listen(): wait for that
	if [ "$kind" = blackhole ]; then
		wait_for 5 grep -q 'fill the queue' "$T/$name.log" || fail "blackhole server not ready"
	fi
}

# px_www: a 5 MB random file served by python3 -m http.server on 127.0.0.1;
# sets WWW_PORT, BLOB (the file) and BLOB_SHA.
px_www() {
	mkdir -p "$T/www"
	head -c 5000000 /dev/urandom >"$T/www/blob"
	BLOB=$T/www/blob
	BLOB_SHA=$(sha256sum <"$BLOB" | cut -d' ' -f1)
	WWW_PORT=$(free_port)
	bg www python3 -m http.server --bind 127.0.0.1 --directory "$T/www" "$WWW_PORT"
	wait_listen "$WWW_PORT"
}

# px_fetch WHAT CURL_ARGS...: curl the blob with CURL_ARGS (proxy options and
# URL); its sha256 must be BLOB_SHA.
px_fetch() {
	local what=$1 got
	shift
	rm -f "$T/got"
	curl -sS --fail --max-time 20 -o "$T/got" "$@" 2>"$T/curl.err" ||
		fail "$what: curl $* failed: $(tail -n 2 "$T/curl.err")"
	got=$(sha256sum <"$T/got" | cut -d' ' -f1)
	[ "$got" = "$BLOB_SHA" ] ||
		fail "$what: curl $*: sha256 $got, expected $BLOB_SHA ($(stat -c %s "$T/got") bytes)"
	log "ok: $what (curl $*)"
}

# rss_kb PID: resident set size in KiB.
rss_kb() {
	awk '/^VmRSS:/ {print $2}' "/proc/$1/status"
}

# px_start_sluice_expect_exit CODE ARGS...: run sluice ARGS in the foreground
# (bounded to 5 s), require exit status CODE; its stderr is in $T/exit.err.
px_sluice_exit() {
	local want=$1 rc
	shift
	sluice_cmd "$@"
	timeout 5 "${SLUICE_CMD[@]}" >"$T/exit.out" 2>"$T/exit.err" </dev/null
	rc=$?
	[ "$rc" = "$want" ] || fail "sluice $* exited $rc, expected $want; stderr: $(head -c 400 "$T/exit.err")"
}
