#!/usr/bin/env bash
# Target that never answers (SYN dropped), answers with ICMP host-unreachable,
# or with a TCP reset: with --connect-timeout 1 the client is closed within
# ~1-3 s (the drop case not before ~1 s), a "connect to ... failed" warn line
# is logged, and sluice keeps serving. Decimal timeouts work (0.5).
# Runs in a network namespace of its own, with nftables rules inside it.
. "$(dirname "$0")/lib.sh"
need ip nft python3

NS=sluice-t$$
ip netns add "$NS" 2>"$T/netns.err" || skip "cannot create a network namespace: $(cat "$T/netns.err")"
CLEANUP_LATE+=("ip netns del $NS")
ip -n "$NS" link set lo up || fail "cannot bring lo up in $NS"

# Fixed ports: the namespace is ours alone.
DROP=9001 UNREACH=9002 RST=9003 ECHO=9004
cat >"$T/rules.nft" <<NFT
table ip sluicetest {
	chain out {
		type filter hook output priority 0; policy accept;
		tcp dport $DROP tcp flags & (syn | ack) == syn drop
		tcp dport $UNREACH tcp flags & (syn | ack) == syn reject with icmp type host-unreachable
		tcp dport $RST tcp flags & (syn | ack) == syn reject with tcp reset
	}
}
NFT
ip netns exec "$NS" nft -f "$T/rules.nft" 2>"$T/nft.err" || skip "nftables does not work here: $(cat "$T/nft.err")"

SLUICE_NETNS=$NS
bg echo ip netns exec "$NS" python3 "$HELPERS/echo_server.py" --port "$ECHO"
wait_listen "$ECHO"

in_ns() { ip netns exec "$NS" "$@"; }

start_sluice --connect-timeout 1 \
	-L "tcp://127.0.0.1:8001/127.0.0.1:$DROP" \
	-L "tcp://127.0.0.1:8002/127.0.0.1:$UNREACH" \
	-L "tcp://127.0.0.1:8003/127.0.0.1:$RST" \
	-L "tcp://127.0.0.1:8004/127.0.0.1:$ECHO"
base=$(fd_count "$SLUICE_PID")

# Dropped SYNs: closed by the 1 s connect timeout, not before.
in_ns python3 "$HELPERS/client.py" expect-close 127.0.0.1 8001 --send x --min 0.8 --max 3 ||
	fail "dropped SYN: client not closed 0.8-3 s after connecting (--connect-timeout 1)"
wait_log 3 "warn conn [0-9]+ .*connect to 127\.0\.0\.1:$DROP failed: Connection timed out"

in_ns python3 "$HELPERS/client.py" expect-close 127.0.0.1 8002 --send x --max 3 ||
	fail "ICMP host-unreachable: client not closed within 3 s"
wait_log 3 "warn conn [0-9]+ .*connect to 127\.0\.0\.1:$UNREACH failed: (No route to host|Host is unreachable)"

in_ns python3 "$HELPERS/client.py" expect-close 127.0.0.1 8003 --send x --max 3 ||
	fail "TCP reset: client not closed within 3 s"
wait_log 3 "warn conn [0-9]+ .*connect to 127\.0\.0\.1:$RST failed: Connection refused"

# Several at once, while a good connection works.
par=()
for i in 1 2 3 4 5; do
	in_ns python3 "$HELPERS/client.py" expect-close 127.0.0.1 8001 --min 0.8 --max 3 >"$T/par.$i" 2>&1 &
	par+=($!)
	BG_PIDS+=($!)
done
in_ns python3 "$HELPERS/client.py" echo 127.0.0.1 8004 --count 10 --timeout 3 ||
	fail "the echo listener does not work while connects time out"
for i in 1 2 3 4 5; do
	wait "${par[$((i - 1))]}" || fail "parallel dropped connect $i: $(cat "$T/par.$i")"
done
wait_fds_back "$SLUICE_PID" "$base" 5
# One close line per accepted connection: 6 timed out, 1 unreachable, 1 reset.
for want in "$DROP 6" "$UNREACH 1" "$RST 1"; do
	set -- $want
	n=$(log_count "closed: client .* target 127\.0\.0\.1:$1 up [0-9]+ down 0 .*\(connect failed\)\$")
	[ "$n" = "$2" ] || fail "target port $1: $n '(connect failed)' close lines, expected $2"
done
stop_sluice

# Decimal timeout: --connect-timeout 0.5 closes a dropped connect in ~0.5 s.
start_sluice --connect-timeout 0.5 -L "tcp://127.0.0.1:8001/127.0.0.1:$DROP"
in_ns python3 "$HELPERS/client.py" expect-close 127.0.0.1 8001 --min 0.3 --max 1.5 ||
	fail "dropped SYN: client not closed 0.3-1.5 s after connecting (--connect-timeout 0.5)"
stop_sluice
