# Dante (danted) as a peer in tests; sourced after lib.sh.
# danted_conf_head PORT: the part of a danted.conf every test shares (on
# 127.0.0.1:PORT, no auth, clients from loopback); the caller appends its
# "socks pass/block" rules.
danted_conf_head() {
	cat <<CONF
logoutput: stderr
internal: 127.0.0.1 port = $1
external: 127.0.0.1
socksmethod: none
clientmethod: none
user.privileged: root
user.unprivileged: nobody
client pass {
	from: 127.0.0.0/8 to: 0.0.0.0/0
}
CONF
}

# start_danted PORT: run danted on "$T/danted.conf" in the background
# (pid in DPID) and wait until PORT listens; skip the test when danted
# cannot run here or does not listen within 5 s.
start_danted() {
	local port=$1 i
	bg danted danted -f "$T/danted.conf" -N 1
	DPID=$BG_PID
	for i in $(seq 1 50); do
		port_listening "$port" && break
		pid_alive "$DPID" || skip "danted cannot run here: $(tail -n 3 "$T/danted.log" | tr '\n' ' ')"
		sleep 0.1
	done
	port_listening "$port" || skip "danted did not listen within 5 s: $(tail -n 3 "$T/danted.log" | tr '\n' ' ')"
}
