#!/usr/bin/env python3
"""SOCKS5 UDP ASSOCIATE clients for tests of UDP through a -F chain.

  udpchain.py bulk PHOST PPORT EPORT [--user U --pw P] [--no-v6]
      one association: COUNT (default 400) datagrams of many sizes to the
      echo on 127.0.0.1 (every 10th to ::1, every 25th to the name
      localhost), each checked intact with the reply header naming the
      echo; then the largest datagram the loopback path allows for each
      target kind (65,507 bytes on the wire, header included)
  udpchain.py policy PHOST PPORT EPORT [--no-v6]
      on a listener with the private-address guard: IP-literal loopback
      targets get nothing (sluice drops them), the name localhost is
      echoed (names are the upstream's to resolve and judge)
  udpchain.py hold PHOST PPORT EPORT [--user U --pw P]
      one association, one echo, then "ready" on stdout and wait (at most
      15 s) until the proxy closes the control connection: exit 0 then

Every wait is bounded; failures print "FAIL: ..." and exit 1.
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from udpkit import associate, fail, fam_of, unwrap, wrap  # noqa: E402

V4_MAX = 65507          # largest UDP payload over IPv4 (the client's leg)


def opts(args):
    user = pw = None
    if "--user" in args:
        user = args[args.index("--user") + 1]
        pw = args[args.index("--pw") + 1]
    return user, pw


def open_assoc(phost, pport, args):
    user, pw = opts(args)
    r = associate(phost, pport, user, pw)
    if isinstance(r, int):
        fail("UDP ASSOCIATE refused with reply %d" % r)
    t, relay = r
    u = socket.socket(fam_of(relay[0]), socket.SOCK_DGRAM)
    u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    u.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    u.settimeout(2)
    return t, u, relay


def roundtrip(u, relay, host, eport, data):
    for attempt in range(3):
        u.sendto(wrap(host, eport, data), relay)
        try:
            d = u.recv(70000)
        except socket.timeout:
            continue
        src, sport, payload, atyp = unwrap(d)
        if payload != data:
            fail("via %s: %d bytes sent, %d came back (or altered)" % (host, len(data), len(payload)))
        want = {"127.0.0.1": ("127.0.0.1",), "::1": ("::1",),
                "localhost": ("127.0.0.1", "::1")}[host]
        if src not in want or sport != eport:
            fail("via %s: reply header names %s:%d" % (host, src, sport))
        return
    fail("no reply via %s for %d bytes" % (host, len(data)))


def bulk_main(args):
    phost, pport, eport = args[0], int(args[1]), int(args[2])
    count = int(os.environ.get("UDPCHAIN_COUNT", "400"))
    v6 = "--no-v6" not in args
    t, u, relay = open_assoc(phost, pport, args)
    print("relay %s:%d" % relay, flush=True)
    sent = 0
    for i in range(count):
        host = "127.0.0.1"
        if v6 and i % 10 == 5:
            host = "::1"
        elif i % 25 == 7:
            host = "localhost"
        size = (i * 37) % 1500 + 1
        if i % 50 == 49:
            size = 8000 + i
        data = (b"%06d:" % i) + bytes((i + k) & 0xFF for k in range(size))
        roundtrip(u, relay, host, eport, data)
        sent += 1
    print("ok: %d datagrams echoed intact" % sent, flush=True)
    # The largest datagram on the client's IPv4 leg: its header counts.
    for host, hdr in (("127.0.0.1", 10), ("::1", 22), ("localhost", 7 + len("localhost"))):
        if host == "::1" and not v6:
            continue
        data = bytes((k * 7 + 3) & 0xFF for k in range(V4_MAX - hdr))
        roundtrip(u, relay, host, eport, data)
        print("ok: %d-byte payload via %s" % (len(data), host), flush=True)
    t.close()


def policy_main(args):
    phost, pport, eport = args[0], int(args[1]), int(args[2])
    t, u, relay = open_assoc(phost, pport, args)
    u.settimeout(0.5)
    for host in ("127.0.0.1",) + (() if "--no-v6" in args else ("::1",)) + ("name:127.0.0.1",):
        if host.startswith("name:"):   # an IP literal sent as ATYP 3 (a name)
            h = host[5:].encode()
            d = b"\x00\x00\x00\x03" + bytes([len(h)]) + h + eport.to_bytes(2, "big")
        else:
            d = wrap(host, eport, b"")
        u.sendto(d + b"private " + host.encode(), relay)
        try:
            u.recv(70000)
            fail("a private IP target (%s) was reached through the chain" % host)
        except socket.timeout:
            pass
    u.settimeout(2)
    roundtrip(u, relay, "localhost", eport, b"a name goes to the upstream")
    print("ok: IP-literal private targets dropped, names passed to the upstream", flush=True)
    t.close()


def hold_main(args):
    phost, pport, eport = args[0], int(args[1]), int(args[2])
    t, u, relay = open_assoc(phost, pport, args)
    roundtrip(u, relay, "127.0.0.1", eport, b"hold me")
    print("ready", flush=True)
    t.settimeout(15)
    try:
        d = t.recv(100)
    except socket.timeout:
        fail("the control connection is still open after 15 s")
    except ConnectionResetError:
        d = b""
    if d:
        fail("unexpected bytes on the control connection: %r" % d)
    # The relay is gone with it: no echo any more.
    u.settimeout(0.5)
    try:
        u.sendto(wrap("127.0.0.1", eport, b"after upstream"), relay)
        u.recv(70000)
        fail("the relay still answers after the association ended")
    except (socket.timeout, ConnectionRefusedError):
        pass
    print("ok: control connection closed by the proxy", flush=True)


def main():
    if len(sys.argv) < 5:
        print(__doc__)
        sys.exit(2)
    {"bulk": bulk_main, "policy": policy_main, "hold": hold_main}[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
