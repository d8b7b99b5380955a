# shellcheck shell=bash
# Helpers for the tunnel tests (tests/integration/04NN-*.sh). Source after lib.sh.
#
#   tun_key                 make $T/tunnel.key (sluice genkey, mode 600); sets KEY
#   tun_server ARGS...      start a tunnel server (start_sluice); sets SRV_PID SRV_LOG
#   tun_client ARGS...      start a client; sets CLI_PID CLI_LOG
#   find_lossy              sets LOSSY to tools/lossy (builds it if needed)

tun_key() {
	KEY=$T/${1:-tunnel}.key
	(umask 077 && "$SLUICE_BIN" genkey >"$KEY") || fail "sluice genkey failed"
}

tun_server() {
	start_sluice "$@"
	SRV_PID=$SLUICE_PID
	SRV_LOG=$SLUICE_LOG
}

tun_client() {
	start_sluice "$@"
	CLI_PID=$SLUICE_PID
	CLI_LOG=$SLUICE_LOG
}

# stop_pid PID LOG: stop_sluice for a saved instance.
stop_pid() {
	SLUICE_PID=$1
	SLUICE_LOG=$2
	stop_sluice
}

find_lossy() {
	LOSSY=$ROOT/$(dirname "${SLUICE_BIN#"$ROOT"/}")/tools/lossy
	[ -x "$LOSSY" ] || LOSSY=$ROOT/build/tools/lossy
	if [ ! -x "$LOSSY" ]; then
		cc -O2 -std=gnu11 -D_GNU_SOURCE -o "$T/lossy" "$ROOT/tools/lossy.c" ||
			fail "cannot build tools/lossy"
		LOSSY=$T/lossy
	fi
}

# udp_port: a port free for UDP on 127.0.0.1 (free_port checks TCP; this
# also checks that no UDP socket holds it).
udp_port() {
	local p i
	for i in $(seq 1 50); do
		p=$(free_port)
		udp_bound "$p" || { echo "$p"; return 0; }
	done
	fail "no free UDP port"
}
