# shellcheck shell=bash
# Helpers for the HTTP keep-alive proxy tests (tests/integration/011N-http-*.sh).
# Source after lib.sh.

# ka_origin NAME [nowait|wait [ORIGIN ARGS...]]: start helpers/http_origin.py on a free port; sets
# ORIGIN_PORT and ORIGIN_DIR ($T/NAME, where "conns" counts its TCP
# connections). Waits until it listens unless "nowait" (start several, then
# wait_listen each: python starts slowly on a busy machine).
ka_origin() {
	local name=$1 wait=${2:-}
	shift
	[ $# -gt 0 ] && shift
	ORIGIN_PORT=$(free_port)
	ORIGIN_DIR=$T/$name
	bg "$name" python3 "$HELPERS/http_origin.py" --port "$ORIGIN_PORT" --dir "$ORIGIN_DIR" "$@"
	[ "$wait" = nowait ] || wait_listen "$ORIGIN_PORT"
}

# ka_conns DIR: TCP connections the origin in DIR has accepted.
ka_conns() {
	cat "$1/conns"
}

# ka_raw WHAT ARGS...: run helpers/http_raw.py ARGS; its output is in KA_OUT.
ka_raw() {
	local what=$1 rc
	shift
	KA_OUT=$(timeout 30 python3 "$HELPERS/http_raw.py" "$@" 2>&1)
	rc=$?
	printf '%s\n' "$KA_OUT" | sed 's/^/    /'
	[ $rc = 0 ] || fail "$what: http_raw.py exited $rc"
}

# ka_has REGEX WHAT: KA_OUT has a line matching REGEX.
ka_has() {
	# (no pipe into grep -q: with pipefail, the writer's SIGPIPE fails it)
	grep -qE -- "$1" <<<"$KA_OUT" || fail "$2: no line matches /$1/"
}
