#!/usr/bin/env bash
# `sluice genkey` prints a fresh tunnel key: standard base64 of 32 bytes and a
# newline on stdout, nothing on stderr (to a private file); each run differs;
# bad arguments exit 2; a key file readable by others draws a warning.
. "$(dirname "$0")/lib.sh"
need python3

run_genkey() {
	sluice_cmd genkey "$@"
	timeout 20 "${SLUICE_CMD[@]}" </dev/null
}

(umask 077; run_genkey >"$T/k1" 2>"$T/err1") || fail "genkey: exit status $?"
run_genkey >"$T/k2" 2>/dev/null || fail "genkey (2): exit status $?"
grep -v '^==[0-9]*==' "$T/err1" >"$T/err1.sluice"
[ -s "$T/err1.sluice" ] && fail "genkey wrote to stderr: $(cat "$T/err1")"
python3 - "$T/k1" "$T/k2" <<'PY' || fail "genkey output is not a key"
import base64, re, sys
a, b = (open(p, "rb").read() for p in sys.argv[1:3])
for k in (a, b):
    assert re.fullmatch(rb"[A-Za-z0-9+/]{43}=\n", k), k
    assert len(base64.b64decode(k.strip(), validate=True)) == 32
assert a != b, "two keys are equal"
PY
log "key: $(cat "$T/k1")"

(umask 022; run_genkey >"$T/k3" 2>"$T/err3") || fail "genkey (3): exit status $?"
grep -q "readable by others" "$T/err3" || fail "no warning for a world-readable key file: $(cat "$T/err3")"

sluice_cmd genkey extra
timeout 20 "${SLUICE_CMD[@]}" >"$T/out" 2>"$T/err" </dev/null
rc=$?
[ "$rc" = 2 ] || fail "genkey extra: exit status $rc, expected 2"
grep -q "usage: sluice genkey" "$T/err" || fail "genkey extra: no usage line: $(cat "$T/err")"
[ -s "$T/out" ] && fail "genkey extra printed a key"
run_genkey --help >"$T/out" 2>/dev/null || fail "genkey --help: exit status $?"
grep -q "usage: sluice genkey" "$T/out" || fail "genkey --help: no usage on stdout"
log "ok"
