#!/usr/bin/env bash
# A real third-party SOCKS5 UDP client: Dante's socksify (dante-client)
# preloads into an unmodified UDP program (python3 here) and turns its
# sendto()/recvfrom() into UDP ASSOCIATE through sluice. Dante goes direct
# to loopback and to the networks of local interfaces, so the target lives
# in a second network namespace, on another subnet, behind a veth pair that
# this test creates (host routes both ways):
#   ns A: client + sluice (socks5://127.0.0.1), 10.99.0.1/32  <veth>  ns B: echo, 10.98.0.2/32
. "$(dirname "$0")/lib.sh"
need python3 socksify ip

A=sluice-udpA-$$
B=sluice-udpB-$$
ip netns add "$A" 2>"$T/netns.err" || skip "cannot create a network namespace: $(cat "$T/netns.err")"
CLEANUP_LATE+=("ip netns del $A")
ip netns add "$B" || fail "second netns"
CLEANUP_LATE+=("ip netns del $B")
ip -n "$A" link add va type veth peer name vb netns "$B" 2>"$T/veth.err" ||
	skip "no veth here: $(cat "$T/veth.err")"
ip -n "$A" link set lo up && ip -n "$B" link set lo up || fail "lo up"
ip -n "$A" addr add 10.99.0.1/32 dev va && ip -n "$B" addr add 10.98.0.2/32 dev vb || fail "addrs"
ip -n "$A" link set va up && ip -n "$B" link set vb up || fail "veth up"
ip -n "$A" route add 10.98.0.2/32 dev va && ip -n "$B" route add 10.99.0.1/32 dev vb || fail "routes"

E=$(free_port)
bg echo ip netns exec "$B" python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('10.98.0.2', $E))
while True:
    d, a = s.recvfrom(70000)
    print('from %s:%d %r' % (a[0], a[1], d), flush=True)
    s.sendto(d, a)
"
wait_for 5 ip netns exec "$B" grep -qsE ":$(printf '%04X' "$E") 0+:0000 07 " /proc/net/udp ||
	fail "echo did not start in $B"

P=$(free_port)
SLUICE_NETNS=$A
start_sluice -w 1 -L "socks5://127.0.0.1:$P"
cat >"$T/socks.conf" <<CONF
route {
	from: 0.0.0.0/0 to: 0.0.0.0/0 via: 127.0.0.1 port = $P
	proxyprotocol: socks_v5
	protocol: udp tcp
	method: none
}
CONF
cat >"$T/client.py" <<PY
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
for i in range(3):
    msg = b"dante %d" % i
    s.sendto(msg, ("10.98.0.2", $E))
    d, a = s.recvfrom(1000)
    assert d == msg and a == ("10.98.0.2", $E), (d, a)
print("ok: 3 datagrams through socksify")
PY
SOCKS_CONF=$T/socks.conf timeout 20 ip netns exec "$A" socksify /usr/bin/python3 "$T/client.py" ||
	fail "python3 under socksify got no echo"
# The echo saw sluice's relay (10.99.0.1), and sluice logged one association.
grep -q "from 10\.99\.0\.1:" "$T/echo.log" || fail "the echo did not see the relay"
wait_log 5 "target udp-associate up 21 down 21 .*\(udp associate: control connection closed\)$"
stop_sluice
