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
