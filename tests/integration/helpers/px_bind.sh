# shellcheck shell=bash
# Helpers for the BIND tests (tests/integration/012N-bind-*.sh). Source it
# after lib.sh.

PXB=$HELPERS/px_bind.py

# px_bind WHAT ARGS...: run px_bind.py ARGS (see there), print its output,
# fail with WHAT unless it exits 0. Output in PXB_OUT. Unless BIND_ANY_BND=1
# the first reply must name 127.0.0.1 (where the client reached us).
px_bind() {
	local what=$1 rc
	shift
	PXB_OUT=$(timeout 60 python3 "$PXB" "$@" 2>&1)
	rc=$?
	printf '%s\n' "$PXB_OUT" | sed 's/^/    /'
	[ $rc = 0 ] || fail "$what: $(printf '%s\n' "$PXB_OUT" | grep -m1 '^FAIL' || echo "exit $rc")"
	# (here-strings, not pipes: with pipefail, grep -q can fail the writer)
	if [ "${BIND_ANY_BND:-0}" != 1 ] && grep -q '^bnd ' <<<"$PXB_OUT" &&
		! grep -q '^bnd 127\.0\.0\.1 ' <<<"$PXB_OUT"; then
		fail "$what: the first reply does not name 127.0.0.1"
	fi
	log "ok: $what"
}
