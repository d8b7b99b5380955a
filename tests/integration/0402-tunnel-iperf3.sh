#!/usr/bin/env bash
# serial: iperf3 at full speed loads both cores
# iperf3 through tcp:// over tunnel:// on loopback, briefly: upload,
# download (-R) and 4 parallel streams complete with nonzero throughput.
. "$(dirname "$0")/lib.sh"
. "$HELPERS/tun_lib.sh"
need iperf3 python3

tun_key
SRV=$(free_port)
bg iperf3-server iperf3 -s -B 127.0.0.1 -p "$SRV"
wait_listen "$SRV"
TP=$(udp_port)
tun_server -L "tunnel://127.0.0.1:$TP" --tunnel-key "$KEY"
LP=$(free_port)
tun_client -L "tcp://127.0.0.1:$LP/127.0.0.1:$SRV" -F "tunnel://127.0.0.1:$TP" --tunnel-key "$KEY"

run_iperf() {
	local name=$1 rc
	shift
	timeout 30 iperf3 -c 127.0.0.1 -p "$LP" -t 2 -J "$@" >"$T/$name.json" 2>"$T/$name.err"
	rc=$?
	[ "$rc" = 0 ] || fail "iperf3 $* exited $rc: $(head -c 600 "$T/$name.json") $(cat "$T/$name.err")"
	python3 - "$T/$name.json" "$name" <<'PY' || fail "iperf3 $name: bad result (see above)"
import json, sys
r = json.load(open(sys.argv[1]))
if r.get("error"):
    sys.exit(f"iperf3 error: {r['error']}")
end = r["end"]
recv = end["sum_received"]["bytes"]
bps = end["sum_received"]["bits_per_second"]
print(f"{sys.argv[2]}: received {recv} bytes, {bps / 1e6:.0f} Mbit/s")
if not (bps > 0 and recv > 0):
    sys.exit("zero throughput")
PY
}

run_iperf up
run_iperf down -R
run_iperf parallel -P 4
stop_pid "$CLI_PID" "$CLI_LOG"
stop_pid "$SRV_PID" "$SRV_LOG"
