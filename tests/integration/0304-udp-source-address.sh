#!/usr/bin/env bash
# Listeners bound to a wildcard address answer from the address the client
# sent to, not from whatever the kernel's route picks: clients reach us on
# 127.0.0.2, 127.0.0.3 and ::1 (all local), and every reply, the GSO runs of
# a burst included, comes from the address and port they sent to; a
# connected UDP socket (as resolvers use, which drops replies from any
# other source) gets its answer. The same for a SOCKS5 UDP relay (always
# bound to the wildcard): BND.ADDR is the address the client reached, and
# the relay's replies come from it. The same with a host name target (the
# first datagram waits for the name) and for AnyIP prefixes (local routes,
# no configured address: IPv6 needs IP_FREEBIND to send from them).
# And for a tunnel:// server on 0.0.0.0
# and [::]: a client (whose socket is connected) reaches it on 127.0.0.2.
# All of it in a network namespace of the test's own, so the wildcard
# listeners see nothing but its loopback.
. "$(dirname "$0")/lib.sh"
. "$HELPERS/tun_lib.sh"
need ip python3
K=$HELPERS/udpkit.py

NS=sluice-t$$
ip netns add "$NS" 2>"$T/netns.err" || skip "cannot create a network namespace: $(cat "$T/netns.err")"
CLEANUP_LATE+=("ip netns del $NS")
ip -n "$NS" link set lo up || fail "cannot bring lo up in $NS"
SLUICE_NETNS=$NS
in_ns() { ip netns exec "$NS" "$@"; }
v6=0
in_ns python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null && v6=1

# AnyIP: whole prefixes routed to us, no address configured in them.
anyip4=0 anyip6=0
ip -n "$NS" route add local 10.77.0.0/24 dev lo 2>/dev/null && anyip4=1
[ "$v6" = 1 ] && ip -n "$NS" -6 route add local 2001:db8:77::/64 dev lo 2>/dev/null && anyip6=1

# Fixed ports: the namespace is ours alone.
E=9001 P4=9002 PD=9003 S5=9004 PN=9005
bg echo in_ns python3 "$K" echo "$E"
wait_for 5 udp_bound "$E" || fail "udp echo did not start"
args=(-w 2 --allow-open --allow-private -L "udp://0.0.0.0:$P4/127.0.0.1:$E" -L "socks5://0.0.0.0:$S5"
	-L "udp://0.0.0.0:$PN/localhost:$E")
[ "$v6" = 1 ] && args+=(-L "udp://[::]:$PD/127.0.0.1:$E")
start_sluice "${args[@]}"

steps=(src/127.0.0.2/$P4/40 src/127.0.0.3/$P4/40 src/127.0.0.1/$P4/10 src/127.0.0.2/$PN/1
	src/127.0.0.3/$PN/20)
[ "$anyip4" = 1 ] && steps+=(src/10.77.0.5/$P4/20)
[ "$anyip6" = 1 ] && steps+=(src/2001:db8:77::5/$PD/20)
if [ "$v6" = 1 ]; then
	steps+=(src/127.0.0.2/$PD/40 src/::1/$PD/40 src/127.0.0.3/$PD/10)
fi
in_ns python3 "$K" run "${steps[@]}" || fail "udp:// reply source addresses"
in_ns python3 "$K" s5 127.0.0.2 "$S5" "$E" source || fail "SOCKS5 relay reply source (127.0.0.2)"
in_ns python3 "$K" s5 127.0.0.3 "$S5" "$E" source || fail "SOCKS5 relay reply source (127.0.0.3)"
pid_alive "$SLUICE_PID" || fail "sluice died"
stop_sluice

# tunnel://: the client's UDP socket is connected, so it hears only replies from 127.0.0.2.
tun_key
TE=9010
bg techo in_ns python3 "$HELPERS/echo_server.py" --host 127.0.0.1 --port "$TE"
wait_listen "$TE"
targs=(--tunnel-key "$KEY" --allow-open --allow-private -L "tunnel://0.0.0.0:9011/127.0.0.1:$TE")
[ "$v6" = 1 ] && targs+=(-L "tunnel://[::]:9012/127.0.0.1:$TE")
tun_server "${targs[@]}"
tun_client -w 1 --tunnel-key "$KEY" -L "tcp://127.0.0.1:9021/192.0.2.1:9" -F "tunnel://127.0.0.2:9011"
in_ns python3 "$HELPERS/client.py" echo 127.0.0.1 9021 --count 3 ||
	fail "tunnel:// on 0.0.0.0 reached at 127.0.0.2: echo failed"
stop_pid "$CLI_PID" "$CLI_LOG"
if [ "$v6" = 1 ]; then
	tun_client -w 1 --tunnel-key "$KEY" -L "tcp://127.0.0.1:9022/192.0.2.1:9" -F "tunnel://127.0.0.2:9012"
	in_ns python3 "$HELPERS/client.py" echo 127.0.0.1 9022 --count 3 ||
		fail "tunnel:// on [::] reached at 127.0.0.2: echo failed"
	stop_pid "$CLI_PID" "$CLI_LOG"
fi
stop_pid "$SRV_PID" "$SRV_LOG"
