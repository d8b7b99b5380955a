#!/usr/bin/env python3
"""UDP test helpers: an echo server and clients for udp:// and SOCKS5 UDP ASSOCIATE.

  udpkit.py echo PORT [--log FILE]        echo on 127.0.0.1:PORT and [::1]:PORT;
                                          with --log, one line per datagram
                                          ("from ADDR LEN") is appended to FILE
  udpkit.py flows HOST PORT N COUNT       N client sockets at once, COUNT
                                          datagrams each, tagged per client:
                                          every reply must be the client's own
  udpkit.py size HOST PORT SIZE           one datagram of SIZE bytes, intact back
  udpkit.py ping HOST PORT [--src-port P] one datagram; exit 0 if answered
  udpkit.py s5 ...                        SOCKS5 UDP ASSOCIATE scenarios (see s5_main)
  udpkit.py run STEP...                   several of the above in one process (python
                                          starts slowly on a busy machine); steps are
                                          flows/HOST/PORT/N/COUNT, size/HOST/PORT/SIZE,
                                          ping/HOST/PORT/SRCPORT (must be answered),
                                          noping/HOST/PORT/SRCPORT (must not be),
                                          sleep/SECONDS

Every wait is bounded; failures print "FAIL: ..." and exit 1.
"""
import os
import select
import socket
import struct
import sys
import time


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def fam_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def echo_main(args):
    port = int(args[0])
    logf = None
    if len(args) >= 3 and args[1] == "--log":
        logf = open(args[2], "a", buffering=1)
    socks = []
    for fam, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        try:
            s = socket.socket(fam, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            s.bind((host, port))
            socks.append(s)
        except OSError:
            pass
    while True:
        r, _, _ = select.select(socks, [], [], 60)
        if not r:
            return
        for s in r:
            d, a = s.recvfrom(70000)
            if logf:
                logf.write("from %s %d %r\n" % (a[0] + ":" + str(a[1]), len(d), d[:24]))
            s.sendto(d, a)


SOL_UDP, UDP_SEGMENT = 17, 103


def gso_send(sock, chunks, addr=None):
    """One sendmsg of equal-sized chunks (the last may be shorter) with
    UDP_SEGMENT: the kernel cuts it into those datagrams; a receiver with
    UDP_GRO on gets the run whole."""
    anc = [(SOL_UDP, UDP_SEGMENT, struct.pack("H", len(chunks[0])))]
    if addr:
        return sock.sendmsg([b"".join(chunks)], anc, 0, addr)
    return sock.sendmsg([b"".join(chunks)], anc)


def gsoecho_main(args):
    """gsoecho PORT: an IPv4 echo that answers a run of equal-sized
    datagrams from one sender with one GSO send (as a QUIC or WireGuard
    stack does)."""
    port = int(args[0])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(("127.0.0.1", port))
    while True:
        r, _, _ = select.select([s], [], [], 60)
        if not r:
            return
        run, who = [], None
        s.setblocking(False)
        try:
            while len(run) < 40:
                d, a = s.recvfrom(70000)
                if run and (a != who or len(d) > len(run[0]) or len(run[-1]) < len(run[0])):
                    gso_send(s, run, who)
                    run = []
                run.append(d)
                who = a
        except BlockingIOError:
            pass
        s.setblocking(True)
        if run:
            gso_send(s, run, who)


def gso_main(args):
    """gso HOST PORT: bursts sent as one GSO send each (40 x 1000 bytes and
    a 500-byte tail); every datagram must come back whole, in order, as its
    own datagram (a relay must not glue a run into one, nor lose its cut)."""
    host, port = args[0], int(args[1])
    c = socket.socket(fam_of(host), socket.SOCK_DGRAM)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    c.connect((host, port))
    c.settimeout(2)
    for rnd in range(5):
        chunks = [(b"r%d-d%02d-" % (rnd, i)).ljust(1000, b"x") for i in range(40)]
        chunks.append((b"r%d-tail-" % rnd).ljust(500, b"y"))
        gso_send(c, chunks)
        got = []
        try:
            while len(got) < len(chunks):
                got.append(c.recv(70000))
        except socket.timeout:
            pass
        if [len(g) for g in got] != [len(x) for x in chunks] or got != chunks:
            fail("round %d: sent 41 datagrams in one GSO run, got back %d of sizes %s" %
                 (rnd, len(got), sorted(set(len(g) for g in got))))
    print("ok: 5 GSO runs of 41 datagrams came back datagram by datagram, in order")


def flows_main(args):
    host, port, n, count = args[0], int(args[1]), int(args[2]), int(args[3])
    clients = []
    for i in range(n):
        c = socket.socket(fam_of(host), socket.SOCK_DGRAM)
        c.setblocking(False)
        clients.append(c)
    got = [0] * n
    for k in range(count):
        for i, c in enumerate(clients):
            c.sendto(b"client-%d-seq-%d" % (i, k), (host, port))
        time.sleep(0.002)
    end = time.time() + float(os.environ.get("UDPKIT_WAIT", "5"))
    while time.time() < end and sum(got) < n * count:
        r, _, _ = select.select(clients, [], [], 0.5)
        for c in r:
            i = clients.index(c)
            d = c.recv(70000)
            if not d.startswith(b"client-%d-" % i):
                fail("client %d got someone else's reply: %r" % (i, d[:40]))
            got[i] += 1
    for i in range(n):
        if got[i] < count * 0.9:
            fail("client %d got %d of %d replies" % (i, got[i], count))
    print("ok: %d clients, replies %s" % (n, got))


def size_main(args):
    host, port, size = args[0], int(args[1]), int(args[2])
    c = socket.socket(fam_of(host), socket.SOCK_DGRAM)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    c.settimeout(2)
    payload = bytes((i * 7 + 3) & 0xFF for i in range(size))
    for attempt in range(3):
        c.sendto(payload, (host, port))
        try:
            d = c.recv(70000)
        except socket.timeout:
            continue
        if d != payload:
            fail("%d-byte datagram came back as %d bytes (or altered)" % (size, len(d)))
        print("ok: %d bytes intact" % size)
        return
    fail("no reply to a %d-byte datagram" % size)


def ping(host, port, src=None, timeout=1.0):
    c = socket.socket(fam_of(host), socket.SOCK_DGRAM)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if src:
        c.bind(("127.0.0.1" if fam_of(host) == socket.AF_INET else "::1", src))
    c.settimeout(timeout)
    try:
        c.sendto(b"ping", (host, port))
        d = c.recv(100)
    except (socket.timeout, ConnectionRefusedError):
        return False
    finally:
        c.close()
    return d == b"ping"


def ping_main(args):
    src = int(args[3]) if len(args) >= 4 and args[2] == "--src-port" else None
    sys.exit(0 if ping(args[0], int(args[1]), src) else 1)


def srcaddr_main(args):
    """srcaddr HOST PORT COUNT: COUNT equal datagrams in a burst (GSO-sized
    runs on the way back) from an unconnected socket; every reply must come
    from HOST:PORT itself. Then one from a connected socket (as resolvers
    use), which the kernel only lets in from HOST:PORT."""
    host, port, count = args[0], int(args[1]), int(args[2])
    fam = fam_of(host)
    want = socket.getaddrinfo(host, port, fam, socket.SOCK_DGRAM)[0][4][:2]
    c = socket.socket(fam, socket.SOCK_DGRAM)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    c.settimeout(2)
    for attempt in range(3):
        for k in range(count):
            c.sendto(b"burst-%06d" % k, (host, port))
        got, wrong = 0, []
        try:
            while got < count:
                d, src = c.recvfrom(70000)
                if src[:2] != want:
                    wrong.append(src[:2])
                got += 1
        except socket.timeout:
            pass
        if wrong:
            fail("replies to %s:%d came from %s" % (host, port, sorted(set(wrong))))
        if got >= count * 0.9:
            break
    else:
        fail("%d of %d replies to %s:%d" % (got, count, host, port))
    k = socket.socket(fam, socket.SOCK_DGRAM)
    k.settimeout(1)
    k.connect((host, port))
    for attempt in range(3):
        k.send(b"connected")
        try:
            if k.recv(100) == b"connected":
                break
        except socket.timeout:
            continue
    else:
        fail("a connected client of %s:%d got no reply" % (host, port))
    print("ok: %d replies from %s:%d, and the connected client's" % (got, host, port))


def run_main(steps):
    for st in steps:
        f = st.split("/")
        if f[0] == "flows":
            flows_main(f[1:])
        elif f[0] == "size":
            size_main(f[1:])
        elif f[0] == "ping":
            if not ping(f[1], int(f[2]), int(f[3])):
                fail("no echo for client :%s via %s:%s" % (f[3], f[1], f[2]))
            print("ok: %s" % st)
        elif f[0] == "noping":
            if ping(f[1], int(f[2]), int(f[3]), 0.3):
                fail("an echo for client :%s via %s:%s" % (f[3], f[1], f[2]))
            print("ok: %s" % st)
        elif f[0] == "gso":
            gso_main(f[1:])
        elif f[0] == "src":
            srcaddr_main(f[1:])
        elif f[0] == "sleep":
            time.sleep(float(f[1]))
        else:
            fail("unknown step " + st)


# ---- SOCKS5 ----

def recv_exact(s, n):
    b = b""
    while len(b) < n:
        d = s.recv(n - len(b))
        if not d:
            fail("proxy closed the control connection during the handshake")
        b += d
    return b


def read_addr(s):
    atyp = recv_exact(s, 1)[0]
    if atyp == 1:
        a = socket.inet_ntop(socket.AF_INET, recv_exact(s, 4))
    elif atyp == 4:
        a = socket.inet_ntop(socket.AF_INET6, recv_exact(s, 16))
    elif atyp == 3:
        a = recv_exact(s, recv_exact(s, 1)[0]).decode()
    else:
        fail("bad ATYP %d in reply" % atyp)
    port = struct.unpack("!H", recv_exact(s, 2))[0]
    return a, port


def enc_addr(host, port):
    try:
        return b"\x01" + socket.inet_pton(socket.AF_INET, host) + struct.pack("!H", port)
    except OSError:
        pass
    try:
        return b"\x04" + socket.inet_pton(socket.AF_INET6, host) + struct.pack("!H", port)
    except OSError:
        pass
    h = host.encode()
    return b"\x03" + bytes([len(h)]) + h + struct.pack("!H", port)


def associate(phost, pport, user=None, pw=None, announce=("0.0.0.0", 0)):
    """Returns (control socket, (relay host, relay port)) or the reply code (int)."""
    t = socket.create_connection((phost, pport), timeout=5)
    if user:
        t.sendall(b"\x05\x01\x02")
    else:
        t.sendall(b"\x05\x01\x00")
    v, m = recv_exact(t, 2)
    if user:
        if m != 2:
            fail("proxy chose method %d, expected 2" % m)
        t.sendall(b"\x01" + bytes([len(user)]) + user.encode() + bytes([len(pw)]) + pw.encode())
        if recv_exact(t, 2)[1] != 0:
            return -1
    elif m != 0:
        fail("proxy chose method %d, expected 0" % m)
    t.sendall(b"\x05\x03\x00" + enc_addr(*announce))
    ver, rep, _ = recv_exact(t, 3)
    if rep != 0:
        return rep
    bnd = read_addr(t)
    return t, bnd


def wrap(host, port, data):
    return b"\x00\x00\x00" + enc_addr(host, port) + data


def unwrap(d):
    if len(d) < 4 or d[2] != 0:
        fail("bad reply header %r" % d[:8])
    atyp = d[3]
    if atyp == 1:
        return socket.inet_ntop(socket.AF_INET, d[4:8]), struct.unpack("!H", d[8:10])[0], d[10:], 1
    if atyp == 4:
        return socket.inet_ntop(socket.AF_INET6, d[4:20]), struct.unpack("!H", d[20:22])[0], d[22:], 4
    fail("reply with ATYP %d" % atyp)


def s5_main(args):
    """s5 PROXYHOST PROXYPORT ECHOPORT SCENARIO [--user U --pw P]

    SCENARIO may be several, comma-separated. scenarios: targets (IPv4, IPv6, domain 'localhost'), pin (other source
    port and other source IP are dropped), die (association ends with the
    TCP connection), garbage (a flood of bad datagrams, then it still serves),
    refused (expects a refusal: prints the reply code, -1 for failed auth),
    policy (private targets get nothing)
    """
    phost, pport, eport = args[0], int(args[1]), int(args[2])
    user = pw = None
    if "--user" in args:
        user = args[args.index("--user") + 1]
        pw = args[args.index("--pw") + 1]
    for scen in args[3].split(","):
        s5_scenario(phost, pport, eport, scen, user, pw, args)


def s5_scenario(phost, pport, eport, scen, user, pw, args):
    announce = ("0.0.0.0", 0)
    if scen == "announce":
        # pin by announcement: the client names its UDP port in the request
        u0 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u0.bind(("127.0.0.1", 0))
        announce = ("0.0.0.0", u0.getsockname()[1])
    if scen == "source":
        k = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        k.bind(("127.0.0.1", 0))
        k.settimeout(1)
        announce = ("0.0.0.0", k.getsockname()[1])
    r = associate(phost, pport, user, pw, announce)
    if scen == "refused":
        if not isinstance(r, int):
            fail("UDP ASSOCIATE was accepted")
        print("reply %d" % r)
        return
    if isinstance(r, int):
        fail("UDP ASSOCIATE refused with reply %d" % r)
    t, (rhost, rport) = r
    print("relay %s:%d" % (rhost, rport))
    if "--want-relay-host" in args and rhost != args[args.index("--want-relay-host") + 1]:
        fail("BND.ADDR is %s" % rhost)
    if scen == "announce":
        u0.settimeout(2)
        # another port speaks first: it must not take the pin
        o = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        o.settimeout(0.4)
        o.sendto(wrap("127.0.0.1", eport, b"intruder first"), (rhost, rport))
        try:
            o.recv(70000)
            fail("a datagram from a port other than the announced one was relayed")
        except socket.timeout:
            pass
        u0.sendto(wrap("127.0.0.1", eport, b"hello announced"), (rhost, rport))
        src, sport, payload, atyp = unwrap(u0.recv(70000))
        if payload != b"hello announced":
            fail("announced port: got %r" % payload)
        print("ok: pinned to the announced port")
        t.close()
        return
    u = socket.socket(fam_of(rhost), socket.SOCK_DGRAM)
    u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    u.settimeout(2)
    relay = (rhost, rport)

    def roundtrip(host, data, want_atyp, want_src):
        for attempt in range(3):
            u.sendto(wrap(host, eport, data), relay)
            try:
                d = u.recv(70000)
            except socket.timeout:
                continue
            src, sport, payload, atyp = unwrap(d)
            if payload != data:
                fail("via %s: payload altered (%d bytes back, %d sent)" % (host, len(payload), len(data)))
            if atyp != want_atyp or src != want_src or sport != eport:
                fail("via %s: reply header says %s:%d ATYP %d" % (host, src, sport, atyp))
            return
        fail("no reply via %s" % host)

    if scen == "source":
        # The relay is bound to the wildcard: its replies must come from the
        # address the client sends to (BND.ADDR), as a connected client needs.
        # k, whose port was announced, asks unconnected first (recvfrom
        # shows the source), then connected (the kernel filters the source).
        if rhost != phost:
            fail("BND.ADDR is %s, the client reached %s" % (rhost, phost))
        for connected in (False, True):
            if connected:
                k.connect((rhost, rport))
            for attempt in range(3):
                k.sendto(wrap("127.0.0.1", eport, b"hello source"), (rhost, rport))
                try:
                    d, src = k.recvfrom(70000)
                except socket.timeout:
                    continue
                if src[:2] != (rhost, rport):
                    fail("the relay's reply came from %s:%d, the client sent to %s:%d" %
                         (src[0], src[1], rhost, rport))
                if unwrap(d)[2] != b"hello source":
                    fail("the relay's reply is %r" % d[:40])
                break
            else:
                fail("no reply via the relay at %s:%d (%s client)" %
                     (rhost, rport, "connected" if connected else "unconnected"))
        print("ok: relay replies come from BND.ADDR %s" % rhost)
        t.close()
        return
    if scen in ("targets", "pin", "die", "garbage"):
        roundtrip("127.0.0.1", b"hello v4", 1, "127.0.0.1")
    if scen == "targets":
        if "--no-v6" not in args:
            roundtrip("::1", b"hello v6", 4, "::1")
        # a name: the reply names the address it came from
        for attempt in range(3):
            u.sendto(wrap("localhost", eport, b"hello name"), relay)
            try:
                d = u.recv(70000)
            except socket.timeout:
                continue
            src, sport, payload, atyp = unwrap(d)
            if payload != b"hello name" or src not in ("127.0.0.1", "::1"):
                fail("via localhost: got %r from %s" % (payload, src))
            break
        else:
            fail("no reply via the name localhost")
        big = bytes(range(256)) * 200
        roundtrip("127.0.0.1", big, 1, "127.0.0.1")
        print("ok: IPv4, IPv6, domain targets")
    elif scen == "pin":
        # Another source port, same IP: not the client, must not reach the target.
        o = socket.socket(fam_of(rhost), socket.SOCK_DGRAM)
        o.settimeout(0.4)
        o.sendto(wrap("127.0.0.1", eport, b"intruder"), relay)
        try:
            d = o.recv(70000)
            fail("a datagram from another source port was answered: %r" % d[:40])
        except socket.timeout:
            pass
        try:
            d = u.recv(70000)
            fail("the client got a datagram it did not ask for: %r" % d[:40])
        except socket.timeout:
            pass
        if "--other-ip" in args and fam_of(rhost) == socket.AF_INET:
            o2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            o2.bind(("127.0.0.2", 0))
            o2.settimeout(0.4)
            o2.sendto(wrap("127.0.0.1", eport, b"intruder2"), relay)
            try:
                d = o2.recv(70000)
                fail("a datagram from another IP was answered")
            except socket.timeout:
                pass
        roundtrip("127.0.0.1", b"still mine", 1, "127.0.0.1")
        print("ok: pinned")
    elif scen == "policy":
        u.settimeout(0.5)
        for host in ("127.0.0.1", "localhost"):
            u.sendto(wrap(host, eport, b"private " + host.encode()), relay)
            try:
                d = u.recv(70000)
                fail("a private target (%s) was reached" % host)
            except socket.timeout:
                pass
        print("ok: private targets refused")
    elif scen == "die":
        t.close()
        time.sleep(0.5)
        u.settimeout(0.5)
        for attempt in range(2):
            u.sendto(wrap("127.0.0.1", eport, b"after close"), relay)
            try:
                d = u.recv(70000)
                fail("the relay still answers after the control connection closed")
            except socket.timeout:
                pass
            except ConnectionRefusedError:
                break
        print("ok: association gone with its TCP connection")
    elif scen == "garbage":
        import random
        rnd = random.Random(1)
        # Only ever-invalid datagrams: none may leave for any address.
        for i in range(3000):
            kind = i % 7
            if kind == 0:
                d = rnd.randbytes(rnd.randrange(0, 4))                     # no header
            elif kind == 1:
                d = b"\x00\x00" + bytes([rnd.randrange(1, 256)]) + enc_addr("127.0.0.1", eport) + b"frag"
            elif kind == 2:
                bad = rnd.choice([0, 2] + list(range(5, 256)))
                d = b"\x00\x00\x00" + bytes([bad]) + rnd.randbytes(rnd.randrange(0, 40))
            elif kind == 3:
                d = b"\x00\x00\x00\x03\x00" + rnd.randbytes(rnd.randrange(0, 20))  # empty name
            elif kind == 4:
                d = b"\x00\x00\x00\x01" + rnd.randbytes(rnd.randrange(0, 6))        # short IPv4
            elif kind == 5:
                d = b"\x00\x00\x00\x04" + rnd.randbytes(rnd.randrange(0, 18))       # short IPv6
            else:
                d = b"\x00\x00\x00\x03\xc8" + rnd.randbytes(rnd.randrange(0, 150)) # short name
            u.sendto(d, relay)
            if i % 100 == 0:
                time.sleep(0.002)
        time.sleep(0.3)
        u.settimeout(0.2)
        try:
            while True:
                u.recv(70000)   # whatever the echo sent back for garbage that parsed
        except socket.timeout:
            pass
        u.settimeout(2)
        roundtrip("127.0.0.1", b"after garbage", 1, "127.0.0.1")
        print("ok: still serving after 3000 garbage datagrams")
    t.close()


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(2)
    cmd, args = sys.argv[1], sys.argv[2:]
    {"echo": echo_main, "gsoecho": gsoecho_main, "flows": flows_main, "size": size_main, "ping": ping_main,
     "s5": s5_main, "run": run_main}[cmd](args)


if __name__ == "__main__":
    main()
