#!/usr/bin/env bash
# Tunnel command-line errors exit 2 with one line naming the bad part: no
# --tunnel-key, a missing or malformed key file, -F tunnel:// combined with
# another hop, a bad --tunnel-mtu; a key file others can read is accepted
# with a warning; --help documents the tunnel options.
. "$(dirname "$0")/lib.sh"
. "$HELPERS/px_lib.sh"
. "$HELPERS/tun_lib.sh"
need python3

"$SLUICE_BIN" --help >"$T/help"
for w in 'tunnel://BIND_HOST:PORT' '--tunnel-key FILE' '--tunnel-timeout' 'tunnel://HOST:PORT'; do
	grep -qF -- "$w" "$T/help" || fail "--help does not mention $w"
done

TP=$(udp_port)
px_sluice_exit 2 -L "tunnel://127.0.0.1:$TP"
grep -q "needs --tunnel-key FILE" "$T/exit.err" || fail "no key: $(cat "$T/exit.err")"
px_sluice_exit 2 -L "socks5://127.0.0.1:1" -F "tunnel://127.0.0.1:$TP"
grep -q "'tunnel://127.0.0.1:$TP' needs --tunnel-key" "$T/exit.err" || fail "-F without key: $(cat "$T/exit.err")"
px_sluice_exit 2 -L "tunnel://127.0.0.1:$TP" --tunnel-key "$T/nope.key"
grep -q -- "--tunnel-key '$T/nope.key'" "$T/exit.err" || fail "missing file: $(cat "$T/exit.err")"
echo "not a key" >"$T/bad.key"
chmod 600 "$T/bad.key"
px_sluice_exit 2 -L "tunnel://127.0.0.1:$TP" --tunnel-key "$T/bad.key"
grep -q -- "--tunnel-key '$T/bad.key'" "$T/exit.err" || fail "bad key: $(cat "$T/exit.err")"
[ "$(wc -l <"$T/exit.err")" = 1 ] || fail "expected one error line: $(cat "$T/exit.err")"
tun_key
px_sluice_exit 2 -L "socks5://127.0.0.1:1" -F "socks5://127.0.0.1:2" -F "tunnel://127.0.0.1:$TP" \
	--tunnel-key "$KEY"
grep -q "must be the only -F hop" "$T/exit.err" || fail "tunnel + other hop: $(cat "$T/exit.err")"
px_sluice_exit 2 -L "tunnel://127.0.0.1:$TP" --tunnel-key "$KEY" --tunnel-mtu 20
grep -q -- "--tunnel-mtu '20'" "$T/exit.err" || fail "bad mtu: $(cat "$T/exit.err")"
px_sluice_exit 2 -L "tunnel://127.0.0.1:$TP/" --tunnel-key "$KEY" -L "tunnel://127.0.0.1:$TP" 
grep -q "cannot listen" "$T/exit.err" || fail "same UDP port twice: $(cat "$T/exit.err")"

# A loose key file works, with a warning.
cp "$KEY" "$T/loose.key"
chmod 644 "$T/loose.key"
tun_server -L "tunnel://127.0.0.1:$TP" --tunnel-key "$T/loose.key"
assert_log "warn --tunnel-key '$T/loose.key' is readable by group or others; chmod 600 it"
stop_sluice
