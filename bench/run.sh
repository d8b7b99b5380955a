#!/usr/bin/env bash
# sluice benchmark: sluice against direct, haproxy, nginx (stream) and socat
# as a TCP forwarder, against microsocks and dante as a SOCKS5 proxy and
# against tinyproxy as an HTTP CONNECT proxy, measured in one run, interleaved
# (round 1: every peer, round 2: every peer, ...), medians over rounds, ratios
# against the same run's baselines.
#
#   bench/run.sh [--quick] [--rounds N] [--sluice PATH] [--rss-conns N]
#                [--only iperf,connrate,rss,relay,backend,socks5,socks5tput,httpconnect,udp]
#
# Sections:
#   iperf     iperf3 -t 5, 1 stream and -P 4: receiver Gbit/s, proxy CPU s/GB
#   connrate  tools/connrate: connect, 64 B request, 64 B reply, close;
#             conn/s, latency, proxy CPU us/conn (server: tools/echod)
#   rss       tools/idlehold: 8000 idle connections through the proxy to
#             tools/echod; proxy VmRSS growth per connection
#   relay     sluice --relay buffer vs --relay splice (iperf3 as above)
#   backend   sluice --io-backend epoll vs uring: connrate as above, and
#             iperf3 1 stream (Gbit/s, CPU s/GB)
#   socks5    tools/connrate --socks5: connect, greeting, wait for the method,
#             CONNECT to tools/echod (IPv4), wait for the reply, 64 B request,
#             64 B reply, close; sluice -L socks5://, microsocks, dante, and
#             direct (plain connrate to echod) as the baseline
#   socks5tput  tools/sockspipe, 1 and 4 streams from "echod -m source" to the
#             client: Gbit/s and proxy CPU s/GB, direct, sluice tcp://,
#             sluice socks5://, microsocks, dante
#   tunnel    iperf3 -t 5 through an encrypted UDP tunnel (tcp:// -> tunnel
#             client -> tools/lossy -> tunnel server -> iperf3 -s): sluice
#             -F tunnel:// / -L tunnel:// vs kcptun (crypt aes, --nocomp,
#             --mode fast3 and its default fast) on links clean (lossy with
#             0 % / 0 ms), 1 % loss + 40 ms RTT, 5 % loss + 100 ms RTT, plus
#             raw loopback without lossy; Gbit/s and CPU s/GB of both tunnel
#             processes together
#   httpconnect  as socks5, with "CONNECT ip:port HTTP/1.1" and the response
#             head read to its end: sluice -L http://, tinyproxy, direct
#   udp       tools/udpflood: 64 B and 1,400 B datagrams, 1 and 16 flows, closed
#             loop (64 in flight per flow) to "udpflood echo": datagrams/s and
#             Mbit/s back at the client; then loss at a fixed paced rate
#             (UDP_RATE datagrams/s, 1,400 B, 16 flows). sluice -L udp://,
#             socat UDP-LISTEN,fork, and direct
#
# Everything runs on 127.0.0.1, nothing is pinned: on a 2-core machine client,
# proxy and server share the CPUs, the same way for every peer. Each proxy gets
# 2 threads/workers, default buffers, logging off (or warnings only). Every
# measurement starts a fresh proxy process. The table goes to stdout and to
# bench/results/latest.txt, the raw rounds to bench/results/latest.tsv.
# Nothing listens outside 127.0.0.1 (each proxy's listeners are checked).
# A full run takes about 18 minutes here (the tunnel section alone 4); --quick
# (1 round, 2 s runs) about 4.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# Debian's packaged peers and python3 first: a version-manager shim earlier in
# PATH (pyenv) would add ~0.8 s to every python3 start.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
ROOT=$PWD

ROUNDS=3
IPERF_T=5
CONN_T=5
CONN_C=50
TPUT_T=3    # socks5tput
RSS_N=8000
UDP_T=3     # udp
UDP_RATE=20000
ALL_SECTIONS=iperf,connrate,rss,relay,backend,socks5,socks5tput,httpconnect,udp,tunnel
ONLY=$ALL_SECTIONS
SLUICE=$ROOT/build/sluice
QUICK=0
ROUNDS_SET=0

usage() {
	sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'
	exit "${1:-0}"
}

while [ $# -gt 0 ]; do
	case "$1" in
	--quick) QUICK=1 ;;
	--rounds) ROUNDS=${2:?}; ROUNDS_SET=1; shift ;;
	--only) ONLY=${2:?}; shift ;;
	--sluice) SLUICE=${2:?}; shift ;;
	--rss-conns) RSS_N=${2:?}; shift ;;
	-h|--help) usage 0 ;;
	*) echo "bench/run.sh: unknown argument '$1'" >&2; usage 2 >&2 ;;
	esac
	shift
done
if [ "$QUICK" = 1 ]; then
	IPERF_T=2 CONN_T=2 TPUT_T=2 UDP_T=2
	[ "$ROUNDS_SET" = 1 ] || ROUNDS=1
fi
for s in ${ONLY//,/ }; do
	case ",$ALL_SECTIONS," in *",$s,"*) ;;
	*) echo "bench/run.sh: --only: unknown section '$s' ($ALL_SECTIONS)" >&2; exit 2 ;;
	esac
done
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "bench/run.sh: --rounds: expected a number" >&2; exit 2; }
[[ "$RSS_N" =~ ^[1-9][0-9]*$ ]] || { echo "bench/run.sh: --rss-conns: expected a number" >&2; exit 2; }
want() { [[ ",$ONLY," == *",$1,"* ]]; }

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "bench/run.sh: $*"; exit 1; }

# ---------------------------------------------------------------- packages
need_pkgs=()
command -v iperf3 >/dev/null || need_pkgs+=(iperf3)
command -v haproxy >/dev/null || need_pkgs+=(haproxy)
command -v socat >/dev/null || need_pkgs+=(socat)
command -v nginx >/dev/null || need_pkgs+=(nginx-light)
[ -f /usr/lib/nginx/modules/ngx_stream_module.so ] || need_pkgs+=(libnginx-mod-stream)
command -v python3 >/dev/null || need_pkgs+=(python3)
command -v cc >/dev/null || need_pkgs+=(gcc libc6-dev)
command -v make >/dev/null || need_pkgs+=(make)
command -v ss >/dev/null || need_pkgs+=(iproute2)
command -v pgrep >/dev/null || need_pkgs+=(procps)
# the proxy peers: optional; a missing one is n/a in the table
peer_pkgs=()
if want socks5 || want socks5tput; then
	command -v microsocks >/dev/null || peer_pkgs+=(microsocks)
	command -v danted >/dev/null || peer_pkgs+=(dante-server)
fi
if want httpconnect; then
	command -v tinyproxy >/dev/null || peer_pkgs+=(tinyproxy)
fi
if want tunnel; then
	command -v kcptun-client >/dev/null || peer_pkgs+=(kcptun)
fi
if [ ${#need_pkgs[@]} -gt 0 ] && [ "$(id -u)" -ne 0 ]; then
	echo "bench/run.sh: missing packages. Run:" >&2
	echo "  sudo apt-get install -y ${need_pkgs[*]} ${peer_pkgs[*]}" >&2
	exit 1
fi
if [ ${#peer_pkgs[@]} -gt 0 ] && [ "$(id -u)" -ne 0 ]; then
	log "warning: not installed (their columns will be n/a): ${peer_pkgs[*]};" \
		"to compare with them: sudo apt-get install -y ${peer_pkgs[*]}"
	peer_pkgs=()
fi
if [ $((${#need_pkgs[@]} + ${#peer_pkgs[@]})) -gt 0 ]; then
	log "installing: ${need_pkgs[*]} ${peer_pkgs[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# dante-server and tinyproxy come with services (tinyproxy's default
	# listens on every address, port 8888): keep them from starting while
	# they are installed, and from starting at boot.
	POLICY_RC=/usr/sbin/policy-rc.d
	OUR_POLICY=0
	if [ ${#peer_pkgs[@]} -gt 0 ] && [ ! -e "$POLICY_RC" ]; then
		printf '#!/bin/sh\n# bench/run.sh: no service starts while it installs\nexit 101\n' >"$POLICY_RC" &&
			chmod 755 "$POLICY_RC" && OUR_POLICY=1
	fi
	apt-get update -qq >&2 || true
	if [ ${#need_pkgs[@]} -gt 0 ]; then
		apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >&2 || {
			[ "$OUR_POLICY" = 1 ] && rm -f "$POLICY_RC"
			die "apt-get install failed"
		}
	fi
	if [ ${#peer_pkgs[@]} -gt 0 ]; then
		apt-get install -y -qq --no-install-recommends "${peer_pkgs[@]}" >&2 ||
			log "warning: apt-get install ${peer_pkgs[*]} failed: missing peers will be n/a"
		for u in danted tinyproxy; do
			if [[ " ${peer_pkgs[*]} " == *" ${u/danted/dante-server} "* ]] &&
				command -v systemctl >/dev/null; then
				systemctl disable --quiet "$u" 2>/dev/null &&
					log "disabled the $u service the install added (the bench runs its own)"
			fi
		done
	fi
	[ "$OUR_POLICY" = 1 ] && rm -f "$POLICY_RC"
fi

make -s -f bench/Makefile >&2 || die "building tools/ failed"
TOOLS=$ROOT/build/bench

# 8000 idle connections: the proxy holds 2 fds each, client and server 1 each.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
NOFILE=$(ulimit -n)
if [ "$NOFILE" != unlimited ] && [ $((2 * RSS_N + 200)) -gt "$NOFILE" ]; then
	RSS_N=$(((NOFILE - 200) / 2))
	log "warning: fd limit $NOFILE: idle-connection test uses $RSS_N connections"
fi

# ---------------------------------------------------------------- processes
TMP=$(mktemp -d /tmp/sluice-bench.XXXXXX)
RESULTS=$ROOT/bench/results
mkdir -p "$RESULTS"
TSV=$TMP/results.tsv
# Work on a copy: build/sluice may be rebuilt while the bench runs.
HAVE_SLUICE=0
SLUICE_SRC=$SLUICE
if [ -x "$SLUICE" ] && cp "$SLUICE" "$TMP/sluice"; then
	HAVE_SLUICE=1
	SLUICE_BUILT=$(date -r "$SLUICE_SRC" '+%Y-%m-%d %H:%M')
	SLUICE=$TMP/sluice
fi
: >"$TSV"
PIDS=()
PEERS=(direct)
[ "$HAVE_SLUICE" = 1 ] && PEERS+=(sluice)
PEERS+=(haproxy nginx socat)

proc_tree() { # PID: the pid and all its descendants, one per line
	local c
	echo "$1"
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		proc_tree "$c"
	done
}

kill_tree() { # PID: TERM the tree, KILL what is left after 3 s
	local p i tree
	tree=$(proc_tree "$1")
	# shellcheck disable=SC2086
	kill -TERM $tree 2>/dev/null
	for ((i = 0; i < 30; i++)); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	for p in $tree; do
		kill -KILL "$p" 2>/dev/null
	done
	wait "$1" 2>/dev/null
	return 0
}

cleanup() {
	local p
	trap - EXIT INT TERM
	for p in "${PIDS[@]}"; do
		kill -0 "$p" 2>/dev/null && kill_tree "$p"
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

NEXT_PORT=$((20000 + RANDOM % 8000)) # below the ephemeral range
alloc_port() { # VAR: a free TCP port on 127.0.0.1
	local i p
	for ((i = 0; i < 500; i++)); do
		p=$NEXT_PORT
		NEXT_PORT=$((NEXT_PORT >= 32000 ? 20000 : NEXT_PORT + 1))
		if [ -z "$(ss -Htan "( sport = :$p or dport = :$p )" 2>/dev/null)" ]; then
			printf -v "$1" '%s' "$p"
			return 0
		fi
	done
	die "no free port found"
}

wait_listen() { # PORT PID: until something listens on PORT (5 s at most)
	local i
	for ((i = 0; i < 100; i++)); do
		[ -n "$(ss -Htln "( sport = :$1 )" 2>/dev/null)" ] && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { # PID: utime+stime+cutime+cstime over the process tree (all threads)
	local p s sum=0
	for p in $(proc_tree "$1"); do
		s=$(cat /proc/"$p"/stat 2>/dev/null) || continue
		s=${s##*) }
		# after "comm)": field 3 is $1, so utime (14) .. cstime (17) are 12..15
		# shellcheck disable=SC2086
		set -- $s
		sum=$((sum + ${12} + ${13} + ${14} + ${15}))
	done
	echo "$sum"
}

listen_drops() { # system-wide TcpExt ListenDrops (SYNs dropped at a full accept queue)
	awk '/^TcpExt:/ { if (!n) { for (i = 1; i <= NF; i++) k[i] = $i; n = 1 } else
		for (i = 1; i <= NF; i++) if (k[i] == "ListenDrops") print $i }' /proc/net/netstat
}

rss_kb() { # PID: VmRSS summed over the process tree
	local p v sum=0
	for p in $(proc_tree "$1"); do
		v=$(awk '/^VmRSS:/ { print $2 }' /proc/"$p"/status 2>/dev/null)
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}

wait_no_children() { # PID: until it has no child processes (socat: forks per connection)
	local i
	for ((i = 0; i < 100; i++)); do
		[ -z "$(cat /proc/"$1"/task/*/children 2>/dev/null | tr -d ' ')" ] && return 0
		sleep 0.05
	done
	log "warning: pid $1 still has children after 5 s"
}

# start_proxy PEER TARGET_PORT: sets PROXY_PORT and PROXY_PID ("" for direct).
start_proxy() {
	local peer=$1 target=$2 port dir
	PROXY_PID=
	if [ "$peer" = direct ]; then
		PROXY_PORT=$target
		return 0
	fi
	alloc_port port
	dir=$TMP/$peer-$port
	mkdir -p "$dir"
	case "$peer" in
	sluice|sluice-buffer|sluice-splice|sluice-epoll|sluice-uring)
		local relay=()
		[ "$peer" = sluice-buffer ] && relay=(--relay buffer)
		[ "$peer" = sluice-splice ] && relay=(--relay splice)
		[ "$peer" = sluice-epoll ] && relay=(--io-backend epoll)
		[ "$peer" = sluice-uring ] && relay=(--io-backend uring)
		"$SLUICE" -L "tcp://127.0.0.1:$port/127.0.0.1:$target" --workers 2 \
			--log-level warn "${relay[@]}" >"$dir/log" 2>&1 &
		;;
	haproxy)
		cat >"$dir/haproxy.cfg" <<-EOF
			global
			    nbthread 2
			    maxconn 9500
			defaults
			    mode tcp
			    timeout connect 10s
			    timeout client 1h
			    timeout server 1h
			frontend fe
			    bind 127.0.0.1:$port
			    default_backend be
			backend be
			    server s1 127.0.0.1:$target
		EOF
		haproxy -db -f "$dir/haproxy.cfg" >"$dir/log" 2>&1 &
		;;
	nginx)
		cat >"$dir/nginx.conf" <<-EOF
			load_module /usr/lib/nginx/modules/ngx_stream_module.so;
			daemon off;
			master_process on;
			worker_processes 2;
			worker_rlimit_nofile 20000;
			pid $dir/nginx.pid;
			error_log $dir/error.log warn;
			events { worker_connections 20000; }
			stream {
			    server {
			        listen 127.0.0.1:$port;
			        proxy_pass 127.0.0.1:$target;
			        proxy_timeout 1h;
			    }
			}
		EOF
		nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >"$dir/log" 2>&1 &
		;;
	socat)
		socat "TCP-LISTEN:$port,bind=127.0.0.1,fork,reuseaddr" "TCP:127.0.0.1:$target" \
			>"$dir/log" 2>&1 &
		;;
	sluice-socks5|sluice-http)
		"$SLUICE" -L "${peer#sluice-}://127.0.0.1:$port" --workers 2 --log-level warn \
			>"$dir/log" 2>&1 &
		;;
	microsocks)
		microsocks -i 127.0.0.1 -p "$port" >"$dir/log" 2>&1 &
		;;
	dante)
		cat >"$dir/danted.conf" <<-EOF
			logoutput: $dir/danted.log
			errorlog: $dir/danted.err
			internal: 127.0.0.1 port = $port
			external: 127.0.0.1
			user.privileged: root
			user.unprivileged: nobody
			clientmethod: none
			socksmethod: none
			client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 log: error }
			socks pass { from: 127.0.0.0/8 to: 0.0.0.0/0 log: error }
		EOF
		danted -f "$dir/danted.conf" -p "$dir/danted.pid" >"$dir/log" 2>&1 &
		;;
	tinyproxy)
		cat >"$dir/tinyproxy.conf" <<-EOF
			Port $port
			Listen 127.0.0.1
			Timeout 600
			MaxClients 1000
			LogLevel Error
			LogFile "$dir/tinyproxy.log"
			Allow 127.0.0.1
			DisableViaHeader Yes
		EOF
		tinyproxy -d -c "$dir/tinyproxy.conf" >"$dir/log" 2>&1 &
		;;
	*) die "unknown peer $peer" ;;
	esac
	PROXY_PID=$!
	PROXY_PORT=$port
	PIDS+=("$PROXY_PID")
	if ! wait_listen "$port" "$PROXY_PID"; then
		log "error: $peer did not start listening on $port:"
		cat "$dir/log" "$dir/error.log" 2>/dev/null | tail -5 >&2
		kill_tree "$PROXY_PID"
		PROXY_PID=
		return 1
	fi
	if [ "$peer" = nginx ]; then # master listens before its workers are up
		local i
		for ((i = 0; i < 100; i++)); do
			[ "$(proc_tree "$PROXY_PID" | wc -l)" -ge 3 ] && break
			sleep 0.05
		done
	fi
	sleep 0.2
	return 0
}

stop_proxy() {
	[ -n "$PROXY_PID" ] && kill_tree "$PROXY_PID"
	PROXY_PID=
}

busy_pct() { # system-wide CPU busy % over 0.5 s (run when none of ours is busy)
	local a b
	a=$(awk '/^cpu / { print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)
	sleep 0.5
	b=$(awk '/^cpu / { print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)
	echo "$a $b" | awk '{ t = $4 - $2; printf "%.0f", (t > 0 ? 100 - ($3 - $1) * 100 / t : 0) }'
}

BUSY_LOG=()
round_start() { # LABEL: log the round and how busy the machine is without us
	local b
	b=$(busy_pct)
	BUSY_LOG+=("$b")
	if [ "$b" -gt 10 ]; then
		log "$1 (warning: machine ${b}% busy before this round: other work adds noise)"
		# Say who, so it can be stopped: the busiest processes right now.
		# (pcpu is the average over each process's life; skip this pipeline's own.)
		log "  busiest: $(ps -eo pcpu=,pid=,comm= --sort=-pcpu 2>/dev/null |
			awk '$3 != "ps" && $3 != "awk" && n < 3 {
				printf "%s%s (pid %s) %s%%", (n++ ? ", " : ""), $3, $2, $1 }')"
	else
		log "$1 (machine idle: ${b}% busy)"
	fi
}

measure() { # CMD ARGS...: run one measurement; once more if it failed
	"$@" && return 0
	log "  retrying once: $*"
	"$@"
}

record() { # SECTION METRIC PEER ROUND VALUE
	printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$TSV"
}

cpu_delta_s() { # T0 T1 -> seconds
	awk -v a="$1" -v b="$2" -v hz="$CLK_TCK" 'BEGIN { printf "%.4f", (b - a) / hz }'
}

# ---------------------------------------------------------------- iperf3
# iperf_result FILE: "GBPS BYTES" (receiver side) from iperf3 -J output, or "ERR why"
iperf_result() {
	python3 - "$1" <<-'EOF'
		import json, sys
		try:
		    d = json.load(open(sys.argv[1]))
		except Exception as e:
		    print("ERR bad JSON: %s" % e); sys.exit()
		if d.get("error"):
		    print("ERR " + d["error"]); sys.exit()
		r = d["end"]["sum_received"]
		print("%.6f %d" % (r["bits_per_second"] / 1e9, r["bytes"]))
	EOF
}

# iperf_one SECTION PEER STREAMS ROUND
iperf_one() {
	local section=$1 peer=$2 streams=$3 round=$4 sport spid c0='' c1 out res i
	local tag=iperf$streams
	alloc_port sport
	iperf3 -s -1 -B 127.0.0.1 -p "$sport" >"$TMP/iperf3-s.log" 2>&1 &
	spid=$!
	PIDS+=("$spid")
	if ! wait_listen "$sport" "$spid"; then
		log "error: iperf3 -s did not start"; kill_tree "$spid"; return 1
	fi
	if ! start_proxy "$peer" "$sport"; then
		kill_tree "$spid"; return 1
	fi
	out=$TMP/iperf3-c.json
	[ -n "$PROXY_PID" ] && c0=$(cpu_ticks "$PROXY_PID")
	timeout $((IPERF_T + 30)) iperf3 -c 127.0.0.1 -p "$PROXY_PORT" -t "$IPERF_T" \
		-P "$streams" -J >"$out" 2>"$TMP/iperf3-c.err"
	# the server exits after its one test: then every relayed socket is closed
	for ((i = 0; i < 100; i++)); do
		kill -0 "$spid" 2>/dev/null || break
		sleep 0.05
	done
	kill_tree "$spid"
	if [ -n "$PROXY_PID" ]; then
		[ "$peer" = socat ] && wait_no_children "$PROXY_PID"
		c1=$(cpu_ticks "$PROXY_PID")
	fi
	stop_proxy
	res=$(iperf_result "$out")
	if [[ "$res" == ERR* || -z "$res" ]]; then
		log "  $peer -P $streams round $round: iperf3 failed: ${res#ERR } $(head -c 200 "$TMP/iperf3-c.err")"
		return 1
	fi
	local gbps=${res% *} bytes=${res#* } line
	record "$section" "${tag}_gbps" "$peer" "$round" "$gbps"
	line=$(printf '%-14s -P %d  %7.2f Gbit/s' "$peer" "$streams" "$gbps")
	if [ -n "$c0" ]; then
		local cs spg
		cs=$(cpu_delta_s "$c0" "$c1")
		spg=$(awk -v c="$cs" -v b="$bytes" 'BEGIN { printf "%.4f", c / (b / 1e9) }')
		record "$section" "${tag}_cpu_s_per_gb" "$peer" "$round" "$spg"
		line+=$(printf '  proxy CPU %.2f s = %.3f s/GB' "$cs" "$spg")
	fi
	log "  $line"
}

run_iperf_section() { # SECTION PEER...
	local section=$1 r s p
	shift
	for ((r = 1; r <= ROUNDS; r++)); do
		round_start "[$section] round $r/$ROUNDS (iperf3 -t $IPERF_T)"
		for s in 1 4; do
			for p in "$@"; do
				measure iperf_one "$section" "$p" "$s" "$r"
			done
		done
	done
}

# ---------------------------------------------------------------- connrate
ECHOD_PID='' ECHOD_PORT=''
start_echod() {
	[ -n "$ECHOD_PID" ] && return 0
	alloc_port ECHOD_PORT
	"$TOOLS/echod" -p "$ECHOD_PORT" >"$TMP/echod.log" 2>&1 &
	ECHOD_PID=$!
	PIDS+=("$ECHOD_PID")
	wait_listen "$ECHOD_PORT" "$ECHOD_PID" || die "echod did not start: $(cat "$TMP/echod.log")"
}

# fresh_echod: echod again, on a port no socket uses. A connrate run leaves
# ~28k TIME_WAIT sockets toward echod's port (the whole ephemeral range), and
# every later connect() to that port must search past them: without this,
# each peer paid for the runs before it (haproxy's CPU per connection rose
# from 110 to 131 us between rounds, sluice's from 75 to 96).
fresh_echod() {
	if [ -n "$ECHOD_PID" ]; then
		kill "$ECHOD_PID" 2>/dev/null
		wait "$ECHOD_PID" 2>/dev/null
		ECHOD_PID=''
	fi
	start_echod
}

# kv_parse "k=v k=v ...": into the global associative array KV
declare -A KV
kv_parse() {
	local f
	KV=()
	for f in $1; do
		[[ "$f" == *=* ]] && KV[${f%%=*}]=${f#*=}
	done
}

# connrate_one SECTION PEER ROUND: tools/connrate through PEER to echod; a
# proxy peer (sluice-socks5, microsocks, ...) gets the handshake it speaks
connrate_one() {
	local section=$1 peer=$2 round=$3 c0='' c1 out d0 d1 e0 e1 mode=()
	fresh_echod
	case "$peer" in
	sluice-http|tinyproxy) mode=(--http-connect "127.0.0.1:$ECHOD_PORT") ;;
	sluice-socks5|microsocks|dante) mode=(--socks5 "127.0.0.1:$ECHOD_PORT") ;;
	esac
	start_proxy "$peer" "$ECHOD_PORT" || return 1
	[ -n "$PROXY_PID" ] && c0=$(cpu_ticks "$PROXY_PID")
	e0=$(cpu_ticks "$ECHOD_PID")
	d0=$(listen_drops)
	out=$(timeout $((CONN_T + 30)) "$TOOLS/connrate" -p "$PROXY_PORT" -c "$CONN_C" \
		-d "$CONN_T" "${mode[@]}" 2>"$TMP/connrate.err")
	d1=$(listen_drops)
	e1=$(cpu_ticks "$ECHOD_PID")
	if [ -n "$PROXY_PID" ]; then
		[ "$peer" = socat ] && wait_no_children "$PROXY_PID"
		sleep 0.2 # let the last closes through
		c1=$(cpu_ticks "$PROXY_PID")
	fi
	stop_proxy
	if [[ "$out" != connrate* ]]; then
		log "  $peer: connrate failed: $(head -c 300 "$TMP/connrate.err")"
		return 1
	fi
	kv_parse "$out"
	record "$section" conn_rate "$peer" "$round" "${KV[rate]}"
	record "$section" conn_p50_us "$peer" "$round" "${KV[p50_us]}"
	record "$section" conn_p99_us "$peer" "$round" "${KV[p99_us]}"
	record "$section" conn_p999_us "$peer" "$round" "${KV[p999_us]}"
	record "$section" conn_mean_us "$peer" "$round" "${KV[mean_us]}"
	record "$section" conn_errors "$peer" "$round" "${KV[errors]}"
	# The two ends' own cost per connection: what a proxy pays at least, as
	# it is one server side (to the client) and one client side (upstream).
	if [ "${KV[conns]}" -gt 0 ]; then
		record "$section" conn_client_cpu_us "$peer" "$round" \
			"$(awk -v c="${KV[cpu_s]:-0}" -v n="${KV[conns]}" 'BEGIN { printf "%.2f", c * 1e6 / n }')"
		record "$section" conn_server_cpu_us "$peer" "$round" \
			"$(awk -v c="$(cpu_delta_s "$e0" "$e1")" -v n="${KV[conns]}" 'BEGIN { printf "%.2f", c * 1e6 / n }')"
	fi
	local line
	line=$(printf '%-8s %6.0f conn/s  mean %6d us  p50 %6d  p99 %6d  p99.9 %7d  errors %s' \
		"$peer" "${KV[rate]}" "${KV[mean_us]}" "${KV[p50_us]}" "${KV[p99_us]}" \
		"${KV[p999_us]}" "${KV[errors]}")
	if [ -n "$c0" ] && [ "${KV[conns]}" -gt 0 ]; then
		local cs us
		cs=$(cpu_delta_s "$c0" "$c1")
		us=$(awk -v c="$cs" -v n="${KV[conns]}" 'BEGIN { printf "%.2f", c * 1e6 / n }')
		record "$section" conn_cpu_us "$peer" "$round" "$us"
		line+=$(printf '  proxy CPU %.2f s = %.1f us/conn' "$cs" "$us")
	fi
	[ "${KV[errors]}" != 0 ] && line+="  ($(head -c 200 "$TMP/connrate.err" | tr '\n' ' '))"
	[ "$((d1 - d0))" -gt 0 ] && line+="  [$((d1 - d0)) SYNs dropped at a full accept queue]"
	record "$section" listen_drops "$peer" "$round" "$((d1 - d0))"
	log "  $line"
}

# ---------------------------------------------------------------- idle RSS
rss_one() { # PEER ROUND
	local peer=$1 round=$2 before after hpid i out hout
	start_proxy "$peer" "$ECHOD_PORT" || return 1
	# warm-up: a few connections through, then closed
	out=$(timeout 30 "$TOOLS/idlehold" -p "$PROXY_PORT" -n 16 -k 0)
	[[ "$out" == READY* ]] || log "  $peer: warm-up failed: $out"
	sleep 0.5
	before=$(rss_kb "$PROXY_PID")
	# a new file each time: the background child opens it after we go on
	hout=$TMP/idlehold-$peer-$round-$RANDOM.out
	: >"$hout"
	"$TOOLS/idlehold" -p "$PROXY_PORT" -n "$RSS_N" -T 60 -k 120 >"$hout" 2>&1 &
	hpid=$!
	PIDS+=("$hpid")
	for ((i = 0; i < 700; i++)); do
		grep -qE '^(READY|FAIL)' "$hout" && break
		kill -0 "$hpid" 2>/dev/null || break
		sleep 0.1
	done
	if ! grep -q '^READY' "$hout"; then
		local why rc
		why=$(head -c 300 "$hout")
		if ! kill -0 "$hpid" 2>/dev/null; then
			wait "$hpid"
			rc=$?
			why+=" (idlehold exit status $rc)"
		fi
		log "  $peer: idle connections not established: $why"
		kill_tree "$hpid"; stop_proxy
		return 1
	fi
	sleep 1 # let the proxy settle
	after=$(rss_kb "$PROXY_PID")
	kill_tree "$hpid"
	stop_proxy
	local per est lost
	per=$(awk -v a="$before" -v b="$after" -v n="$RSS_N" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }')
	est=$(sed -n 's/^READY.*secs=\([0-9.]*\).*/\1/p' "$hout")
	lost=$(sed -n 's/^DONE lost=//p' "$hout")
	record rss rss_b_per_conn "$peer" "$round" "$per"
	log "$(printf '  %-8s VmRSS %6d kB -> %6d kB: %6d B/conn (%d conns up in %ss, lost while idle: %s)' \
		"$peer" "$before" "$after" "$per" "$RSS_N" "$est" "${lost:-?}")"
}

# ---------------------------------------------------------------- proxies
SOURCE_PID='' SOURCE_PORT=''
start_source() {
	[ -n "$SOURCE_PID" ] && return 0
	alloc_port SOURCE_PORT
	"$TOOLS/echod" -p "$SOURCE_PORT" -m source >"$TMP/source.log" 2>&1 &
	SOURCE_PID=$!
	PIDS+=("$SOURCE_PID")
	wait_listen "$SOURCE_PORT" "$SOURCE_PID" || die "echod -m source did not start: $(cat "$TMP/source.log")"
}

# pxtput_one PEER STREAMS ROUND: tools/sockspipe bulk download through PEER
pxtput_one() {
	local peer=$1 streams=$2 round=$3 c0='' c1 out mode=() proxy=$1
	[ "$peer" = sluice-tcp ] && proxy=sluice
	start_proxy "$proxy" "$SOURCE_PORT" || return 1
	case "$peer" in
	direct|sluice-tcp) ;;
	*) mode=(--socks5 "127.0.0.1:$SOURCE_PORT") ;;
	esac
	[ -n "$PROXY_PID" ] && c0=$(cpu_ticks "$PROXY_PID")
	out=$(timeout $((TPUT_T + 30)) "$TOOLS/sockspipe" -p "$PROXY_PORT" -P "$streams" \
		-d "$TPUT_T" "${mode[@]}" 2>"$TMP/sockspipe.err")
	if [ -n "$PROXY_PID" ]; then
		sleep 0.2
		c1=$(cpu_ticks "$PROXY_PID")
	fi
	stop_proxy
	if [[ "$out" != sockspipe* ]]; then
		log "  $peer -P $streams: sockspipe failed: $(head -c 300 "$TMP/sockspipe.err")"
		return 1
	fi
	local line
	kv_parse "$out"
	record socks5tput "tput${streams}_gbps" "$peer" "$round" "${KV[gbps]}"
	line=$(printf '%-14s -P %d  %7.2f Gbit/s' "$peer" "$streams" "${KV[gbps]}")
	if [ -n "$c0" ] && [ "${KV[bytes]}" -gt 0 ]; then
		local cs spg
		cs=$(cpu_delta_s "$c0" "$c1")
		spg=$(awk -v c="$cs" -v b="${KV[bytes]}" 'BEGIN { printf "%.4f", c / (b / 1e9) }')
		record socks5tput "tput${streams}_cpu_s_per_gb" "$peer" "$round" "$spg"
		line+=$(printf '  proxy CPU %.2f s = %.3f s/GB' "$cs" "$spg")
	fi
	log "  $line"
}

have_peer() { # PEER: its program is installed
	case "$1" in
	microsocks) command -v microsocks >/dev/null ;;
	dante) command -v danted >/dev/null ;;
	tinyproxy) command -v tinyproxy >/dev/null ;;
	sluice*) [ "$HAVE_SLUICE" = 1 ] ;;
	*) true ;;
	esac
}

run_pxrate_section() { # SECTION LABEL PEER...
	local section=$1 label=$2 r p
	shift 2
	start_echod
	for ((r = 1; r <= ROUNDS; r++)); do
		round_start "[$section] round $r/$ROUNDS (${CONN_T}s, $CONN_C concurrent, $label)"
		for p in "$@"; do
			if have_peer "$p"; then
				measure connrate_one "$section" "$p" "$r"
			fi
		done
	done
}

# ---------------------------------------------------------------- udp
UDP_ECHO_PID='' UDP_ECHO_PORT=''
start_udp_echo() {
	[ -n "$UDP_ECHO_PID" ] && return 0
	alloc_port UDP_ECHO_PORT
	"$TOOLS/udpflood" echo -p "$UDP_ECHO_PORT" >"$TMP/udpecho.log" 2>&1 &
	UDP_ECHO_PID=$!
	PIDS+=("$UDP_ECHO_PID")
	for ((i = 0; i < 100; i++)); do
		grep -q 'udpflood echo on' "$TMP/udpecho.log" && return 0
		sleep 0.05
	done
	die "udpflood echo did not start: $(cat "$TMP/udpecho.log")"
}

udp_bound() { # PORT: a UDP socket is bound to it
	[ -n "$(ss -Huan "( sport = :$1 )" 2>/dev/null)" ]
}

# start_udp_proxy PEER TARGET_PORT: sets PROXY_PORT and PROXY_PID ("" for direct).
start_udp_proxy() {
	local peer=$1 target=$2 port dir i
	PROXY_PID=
	if [ "$peer" = direct ]; then
		PROXY_PORT=$target
		return 0
	fi
	alloc_port port
	dir=$TMP/$peer-udp-$port
	mkdir -p "$dir"
	case "$peer" in
	sluice)
		"$SLUICE" -L "udp://127.0.0.1:$port/127.0.0.1:$target" --workers 2 \
			--log-level warn >"$dir/log" 2>&1 &
		;;
	socat)
		socat "UDP-LISTEN:$port,bind=127.0.0.1,fork,reuseaddr" "UDP:127.0.0.1:$target" \
			>"$dir/log" 2>&1 &
		;;
	*) die "unknown udp peer $peer" ;;
	esac
	PROXY_PID=$!
	PROXY_PORT=$port
	PIDS+=("$PROXY_PID")
	for ((i = 0; i < 100; i++)); do
		udp_bound "$port" && break
		kill -0 "$PROXY_PID" 2>/dev/null || break
		sleep 0.05
	done
	if ! udp_bound "$port"; then
		log "error: $peer did not bind udp $port: $(tail -3 "$dir/log")"
		kill_tree "$PROXY_PID"
		PROXY_PID=
		return 1
	fi
	sleep 0.2
}

udp_one() { # PEER SIZE FLOWS ROUND [RATE] [gso]: gso = the client sends GSO runs (udpflood -g)
	local peer=$1 size=$2 flows=$3 round=$4 rate=${5:-} gso=${6:-} out tag c0='' c1 mode=()
	start_udp_proxy "$peer" "$UDP_ECHO_PORT" || return 1
	[ -n "$rate" ] && mode=(-r "$rate")
	[ -n "$gso" ] && mode+=(-g)
	[ -n "$PROXY_PID" ] && c0=$(cpu_ticks "$PROXY_PID")
	out=$(timeout $((UDP_T + 20)) "$TOOLS/udpflood" send -p "$PROXY_PORT" -n "$flows" \
		-s "$size" -t "$UDP_T" "${mode[@]}" 2>"$TMP/udpflood.err")
	[ -n "$PROXY_PID" ] && c1=$(cpu_ticks "$PROXY_PID")
	stop_proxy
	if [[ "$out" != sent* ]]; then
		log "  $peer: udpflood failed: $(head -c 300 "$TMP/udpflood.err")"
		return 1
	fi
	# shellcheck disable=SC2086
	set -- $out	# sent N recv N lost N loss_pct X rx_pps X rx_mbps X
	if [ -n "$rate" ]; then
		record udp "udp_loss_${size}_${flows}_at_rate" "$peer" "$round" "$8"
		log "$(printf '  %-7s %5d B x %2d flows paced %d/s: loss %s%% (%s of %s)' \
			"$peer" "$size" "$flows" "$rate" "$8" "$6" "$2")"
		return 0
	fi
	tag=udp_${size}_${flows}${gso:+_gso}
	record udp "${tag}_pps" "$peer" "$round" "${10}"
	record udp "${tag}_mbps" "$peer" "$round" "${12}"
	record udp "${tag}_loss" "$peer" "$round" "$8"
	local line
	line=$(printf '  %-7s %5d B x %2d flows%s: %8.0f dgram/s %8.1f Mbit/s  loss %s%%' \
		"$peer" "$size" "$flows" "${gso:+ (GSO client)}" "${10}" "${12}" "$8")
	if [ -n "$c0" ]; then
		line+=$(printf '  proxy CPU %.2f s' "$(cpu_delta_s "$c0" "$c1")")
	fi
	log "$line"
}

# ---------------------------------------------------------------- tunnel
# Links as NAME:LOSS%:ONE-WAY-DELAY-MS; "raw" skips tools/lossy.
TUN_LINKS=(raw:-:- clean:0:0 loss1:1:20 loss5:5:50)
TUN_PEERS=(sluice-tunnel)
command -v kcptun-client >/dev/null && command -v kcptun-server >/dev/null &&
	TUN_PEERS+=(kcptun-fast3 kcptun-fast)

alloc_udp_port() { # VAR: a port free for UDP (and TCP) on 127.0.0.1
	local _up
	for ((;;)); do
		alloc_port _up
		[ -z "$(ss -Huan "( sport = :$_up )" 2>/dev/null)" ] && break
	done
	printf -v "$1" '%s' "$_up"
}

wait_udp() { # PORT PID: until a UDP socket is bound to PORT (5 s at most)
	local i
	for ((i = 0; i < 100; i++)); do
		[ -n "$(ss -Huan "( sport = :$1 )" 2>/dev/null)" ] && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

TUN_KEY=$TMP/tunnel.key
KCP_KEY=$(head -c 24 /dev/urandom | base64)

# tunnel_one LINK PEER ROUND
tunnel_one() {
	local link=$1 peer=$2 round=$3 name loss delay sport tport lport cport
	local spid tpid cpid lpid="" remote c0 c1 out res mode i
	IFS=: read -r name loss delay <<<"$link"
	alloc_port sport
	alloc_udp_port tport
	alloc_port cport
	iperf3 -s -1 -B 127.0.0.1 -p "$sport" >"$TMP/iperf3-s.log" 2>&1 &
	spid=$!
	PIDS+=("$spid")
	wait_listen "$sport" "$spid" || { log "error: iperf3 -s did not start"; kill_tree "$spid"; return 1; }
	remote=$tport
	if [ "$name" != raw ]; then
		alloc_udp_port lport
		"$ROOT/build/tools/lossy" -l "127.0.0.1:$lport" -t "127.0.0.1:$tport" \
			--loss "$loss" --delay "$delay" --seed "$round" --queue 4096 >"$TMP/lossy.log" 2>&1 &
		lpid=$!
		PIDS+=("$lpid")
		remote=$lport
	fi
	mode=${peer#kcptun-}
	case "$peer" in
	sluice-tunnel)
		"$SLUICE" -L "tunnel://127.0.0.1:$tport" --tunnel-key "$TUN_KEY" --workers 2 \
			--log-level warn >"$TMP/tun-s.log" 2>&1 &
		tpid=$!
		PIDS+=("$tpid")
		"$SLUICE" -L "tcp://127.0.0.1:$cport/127.0.0.1:$sport" -F "tunnel://127.0.0.1:$remote" \
			--tunnel-key "$TUN_KEY" --workers 2 --log-level warn >"$TMP/tun-c.log" 2>&1 &
		cpid=$!
		;;
	kcptun-*)
		kcptun-server -l "127.0.0.1:$tport" -t "127.0.0.1:$sport" --key "$KCP_KEY" --crypt aes \
			--mode "$mode" --nocomp --quiet >"$TMP/tun-s.log" 2>&1 &
		tpid=$!
		PIDS+=("$tpid")
		kcptun-client -l "127.0.0.1:$cport" -r "127.0.0.1:$remote" --key "$KCP_KEY" --crypt aes \
			--mode "$mode" --nocomp --quiet >"$TMP/tun-c.log" 2>&1 &
		cpid=$!
		;;
	esac
	PIDS+=("$cpid")
	if ! wait_udp "$tport" "$tpid" || ! wait_listen "$cport" "$cpid" ||
		{ [ -n "$lpid" ] && ! wait_udp "$lport" "$lpid"; }; then
		log "error: $peer did not start: $(tail -n 3 "$TMP/tun-s.log" "$TMP/tun-c.log")"
		kill_tree "$cpid"; kill_tree "$tpid"; [ -n "$lpid" ] && kill_tree "$lpid"; kill_tree "$spid"
		return 1
	fi
	out=$TMP/iperf3-c.json
	c0=$(($(cpu_ticks "$cpid") + $(cpu_ticks "$tpid")))
	timeout $((IPERF_T + 40)) iperf3 -c 127.0.0.1 -p "$cport" -t "$IPERF_T" -J \
		>"$out" 2>"$TMP/iperf3-c.err"
	for ((i = 0; i < 100; i++)); do
		kill -0 "$spid" 2>/dev/null || break
		sleep 0.05
	done
	c1=$(($(cpu_ticks "$cpid") + $(cpu_ticks "$tpid")))
	kill_tree "$cpid"; kill_tree "$tpid"; [ -n "$lpid" ] && kill_tree "$lpid"; kill_tree "$spid"
	res=$(iperf_result "$out")
	if [[ "$res" == ERR* || -z "$res" ]]; then
		log "  $peer $name round $round: iperf3 failed: ${res#ERR } $(head -c 200 "$TMP/iperf3-c.err")"
		return 1
	fi
	local gbps=${res% *} bytes=${res#* } cs spg
	cs=$(cpu_delta_s "$c0" "$c1")
	spg=$(awk -v c="$cs" -v b="$bytes" 'BEGIN { printf "%.4f", (b > 0 ? c / (b / 1e9) : 0) }')
	record tunnel "${name}_gbps" "$peer" "$round" "$gbps"
	record tunnel "${name}_cpu_s_per_gb" "$peer" "$round" "$spg"
	log "  $(printf '%-14s %-6s %7.3f Gbit/s  tunnel CPU %.2f s = %.3f s/GB' "$peer" "$name" "$gbps" "$cs" "$spg")"
}

# ---------------------------------------------------------------- run
T_START=$SECONDS
log "sluice bench: rounds=$ROUNDS iperf3 -t $IPERF_T, connrate ${CONN_T}s x $CONN_C, idle conns $RSS_N; sections: $ONLY"
log "peers: ${PEERS[*]}$([ "$HAVE_SLUICE" = 1 ] || echo " (no $SLUICE_SRC: sluice is n/a)")"

if want iperf; then
	run_iperf_section iperf "${PEERS[@]}"
fi
if want connrate; then
	start_echod
	for ((r = 1; r <= ROUNDS; r++)); do
		round_start "[connrate] round $r/$ROUNDS (${CONN_T}s, $CONN_C concurrent, 64 B each way)"
		for p in "${PEERS[@]}"; do
			measure connrate_one connrate "$p" "$r"
		done
	done
fi
if want rss; then
	start_echod
	for ((r = 1; r <= ROUNDS; r++)); do
		round_start "[rss] round $r/$ROUNDS ($RSS_N idle connections)"
		for p in "${PEERS[@]}"; do
			case "$p" in direct|socat) continue ;; esac
			measure rss_one "$p" "$r"
		done
	done
fi
if want relay; then
	if [ "$HAVE_SLUICE" = 1 ]; then
		run_iperf_section relay sluice-buffer sluice-splice
	else
		log "[relay] skipped: no $SLUICE_SRC"
	fi
fi
if want socks5; then
	run_pxrate_section socks5 "SOCKS5 handshake + 64 B each way" \
		direct sluice-socks5 microsocks dante
fi
if want socks5tput; then
	start_source
	for ((r = 1; r <= ROUNDS; r++)); do
		round_start "[socks5tput] round $r/$ROUNDS (sockspipe -d $TPUT_T, download)"
		for s in 1 4; do
			for p in direct sluice-tcp sluice-socks5 microsocks dante; do
				have_peer "$p" && measure pxtput_one "$p" "$s" "$r"
			done
		done
	done
fi
if want httpconnect; then
	run_pxrate_section httpconnect "HTTP CONNECT + 64 B each way" \
		direct sluice-http tinyproxy
fi
if want udp; then
	start_udp_echo
	UDP_PEERS=(direct)
	[ "$HAVE_SLUICE" = 1 ] && UDP_PEERS+=(sluice)
	UDP_PEERS+=(socat)
	for ((r = 1; r <= ROUNDS; r++)); do
		round_start "[udp] round $r/$ROUNDS (${UDP_T}s each)"
		for size in 64 1400; do
			for flows in 1 16; do
				for p in "${UDP_PEERS[@]}"; do
					measure udp_one "$p" "$size" "$flows" "$r"
				done
			done
		done
		for p in "${UDP_PEERS[@]}"; do
			measure udp_one "$p" 1400 16 "$r" "$UDP_RATE"
		done
		# A client that sends GSO runs, as QUIC and WireGuard stacks do.
		for p in "${UDP_PEERS[@]}"; do
			measure udp_one "$p" 1400 1 "$r" "" gso
		done
	done
fi
if want backend; then
	if [ "$HAVE_SLUICE" = 1 ]; then
		start_echod
		for ((r = 1; r <= ROUNDS; r++)); do
			round_start "[backend] round $r/$ROUNDS (connrate ${CONN_T}s, iperf3 -t $IPERF_T)"
			for p in sluice-epoll sluice-uring; do
				measure connrate_one backend "$p" "$r"
			done
			for p in sluice-epoll sluice-uring; do
				measure iperf_one backend "$p" 1 "$r"
			done
		done
	else
		log "[backend] skipped: no $SLUICE_SRC"
	fi
fi
if want tunnel; then
	if [ "$HAVE_SLUICE" = 1 ] && [ -x "$ROOT/build/tools/lossy" ]; then
		(umask 077 && "$SLUICE" genkey >"$TUN_KEY") || die "sluice genkey failed"
		for ((r = 1; r <= ROUNDS; r++)); do
			round_start "[tunnel] round $r/$ROUNDS (iperf3 -t $IPERF_T; ${TUN_PEERS[*]})"
			for l in "${TUN_LINKS[@]}"; do
				for p in "${TUN_PEERS[@]}"; do
					measure tunnel_one "$l" "$p" "$r"
				done
			done
		done
	else
		log "[tunnel] skipped: no $SLUICE_SRC or build/tools/lossy (make unit builds it)"
	fi
fi
ELAPSED=$((SECONDS - T_START))

# ---------------------------------------------------------------- report
sluice_ver=n/a
[ "$HAVE_SLUICE" = 1 ] && sluice_ver="$("$SLUICE" --version 2>/dev/null | head -1), $SLUICE_SRC built $SLUICE_BUILT"
sluice_commit=$(git -C "$ROOT" log -1 --format='%h %cs' 2>/dev/null || echo '?')
{
	echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "host=$(uname -r), $(nproc) CPUs"
	echo "busy=${BUSY_LOG[*]}"
	echo "sluice=$sluice_ver (tree at $sluice_commit), --workers 2, default --buffer-size (256k), --relay auto"
	echo "haproxy=$(haproxy -v 2>/dev/null | head -1 | cut -d' ' -f1-3), nbthread 2, mode tcp, default bufsize 16k, no splice"
	echo "nginx=$(nginx -v 2>&1 | cut -d' ' -f3), stream module, 2 workers, default proxy_buffer_size 16k"
	echo "socat=$(socat -V 2>/dev/null | sed -n 's/^socat version \([^ ]*\).*/\1/p'), fork per connection, default 8k buffer"
	echo "iperf3=$(iperf3 --version 2>/dev/null | head -1 | cut -d' ' -f2), -t $IPERF_T, receiver bits/s"
	echo "connrate=${CONN_T}s, $CONN_C concurrent, 1 client thread, 64 B request and reply, client closes first"
	echo "udp=tools/udpflood ${UDP_T}s, 64 in flight per flow; paced $UDP_RATE/s; sluice --workers 2; socat UDP-LISTEN fork"
	echo "rss_conns=$RSS_N"
	echo "rounds=$ROUNDS"
	echo "elapsed=${ELAPSED}s"
} >"$TMP/meta"
python3 "$ROOT/bench/report.py" "$TSV" "$TMP/meta" >"$TMP/report.txt" ||
	die "report failed (raw results: $TSV)"
cp "$TSV" "$RESULTS/latest.tsv"
cp "$TMP/report.txt" "$RESULTS/latest.txt"
cat "$TMP/report.txt"
log "done in ${ELAPSED}s; written to bench/results/latest.txt (raw: latest.tsv)"
