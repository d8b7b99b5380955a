#!/usr/bin/env bash
# sluice -> sluice chaining: an upstream sluice with --auth-file offers
# socks5:// and http://; front sluices forward through it with
# -F socks5://user:pass@ and -F http://user:pass@. curl (socks5-hostname
# with the name resolved at the far end, HTTP absolute-form and CONNECT)
# gets a 1 MB file intact. Errors map through the chain: the destination
# refusing gives SOCKS5 reply 0x05 and HTTP 502 at the front.
. "$(dirname "$0")/lib.sh"
. "$HELPERS/px_lib.sh"
. "$HELPERS/px_ext.sh"
need python3 curl sha256sum

chain_upstream

for fwd in "socks5://erin:Ch41n-pw@127.0.0.1:$U5" "http://erin:Ch41n-pw@127.0.0.1:$UH"; do
	F=$(free_port)
	start_sluice -F "$fwd" -L "proxy://127.0.0.1:$F"
	check_front "-F ${fwd%%:*}" "$F"
	stop_sluice
done

SLUICE_PID=$UPPID SLUICE_LOG=$UPLOG
stop_sluice
