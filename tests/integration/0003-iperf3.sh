#!/usr/bin/env bash
# serial: iperf3 at full speed loads both cores
# iperf3 through the forwarder: upload, download (-R) and 4 parallel streams
# (-P 4) all complete and report a nonzero throughput.
. "$(dirname "$0")/lib.sh"
need iperf3 python3

SRV=$(free_port)
LP=$(free_port)
bg iperf3-server iperf3 -s -B 127.0.0.1 -p "$SRV"
wait_listen "$SRV"
start_sluice -L "tcp://127.0.0.1:$LP/127.0.0.1:$SRV"

run_iperf() {
	local name=$1 rc
	shift
	timeout 30 iperf3 -c 127.0.0.1 -p "$LP" -t 3 -J "$@" >"$T/$name.json" 2>"$T/$name.err"
	rc=$?
	[ "$rc" = 0 ] || fail "iperf3 $* exited $rc: $(head -c 600 "$T/$name.json") $(cat "$T/$name.err")"
	python3 - "$T/$name.json" "$name" <<'PY' || fail "iperf3 $name: bad result (see above)"
import json, sys
r = json.load(open(sys.argv[1]))
if r.get("error"):
    sys.exit(f"iperf3 error: {r['error']}")
end = r["end"]
sent = end["sum_sent"]["bytes"]
recv = end["sum_received"]["bytes"]
bps = end["sum_received"]["bits_per_second"]
streams = len(end.get("streams", []))
print(f"{sys.argv[2]}: {streams} streams, sent {sent} received {recv} bytes, "
      f"{bps / 1e9:.2f} Gbit/s")
if not (bps > 0 and recv > 0 and sent > 0):
    sys.exit("zero throughput")
PY
}

run_iperf up
run_iperf down -R
run_iperf parallel -P 4
python3 -c "
import json, sys
n = len(json.load(open('$T/parallel.json'))['end']['streams'])
sys.exit(0 if n == 4 else f'expected 4 streams, iperf3 reported {n}')
" || fail "-P 4 did not run 4 streams"
stop_sluice
