#!/usr/bin/env python3
"""Two SOCKS5 UDP associations across a sluice shutdown (tests 0317).

Usage: assoc_drain.py PROXY_PORT ECHO_PORT READY_FILE GO_FILE BUSY_SECONDS

Opens an idle association (one echo, then silence) and a busy one, writes
READY_FILE, waits for GO_FILE (the test sends SIGTERM then), keeps the busy
one echoing every 0.2 s for BUSY_SECONDS, then stops. Prints, as one line of
key=value pairs: when (seconds after GO) each control connection saw EOF,
and how many busy echoes came back, e.g. "idle_eof=1.03 busy_ok=10
busy_sent=10 busy_eof=3.1". Exits 1 on a protocol error.
"""
import os
import select
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import udpkit  # noqa: E402


def open_assoc(pport):
    r = udpkit.associate("127.0.0.1", pport)
    if isinstance(r, int):
        udpkit.fail("UDP ASSOCIATE refused: %d" % r)
    t, (rhost, rport) = r
    if rhost in ("0.0.0.0", "::"):
        rhost = "127.0.0.1"
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    u.settimeout(2)
    return t, u, (rhost, rport)


def echo(u, relay, eport, data):
    u.sendto(udpkit.wrap("127.0.0.1", eport, data), relay)
    d, _ = u.recvfrom(65535)
    return udpkit.unwrap(d)[2] == data


def eof_after(t, deadline):
    """Seconds until t reads EOF (or None at deadline)."""
    t.setblocking(False)
    while time.monotonic() < deadline:
        r, _, _ = select.select([t], [], [], 0.05)
        if r:
            try:
                if t.recv(64) == b"":
                    return time.monotonic()
            except ConnectionResetError:
                return time.monotonic()
    return None


def main():
    pport, eport, ready, go, busy_s = (int(sys.argv[1]), int(sys.argv[2]), sys.argv[3],
                                       sys.argv[4], float(sys.argv[5]))
    ti, ui, ri = open_assoc(pport)
    tb, ub, rb = open_assoc(pport)
    if not echo(ui, ri, eport, b"idle one") or not echo(ub, rb, eport, b"busy one"):
        udpkit.fail("first echo did not come back intact")
    open(ready, "w").close()
    end = time.monotonic() + 20
    while not os.path.exists(go) and time.monotonic() < end:
        time.sleep(0.02)
    t0 = time.monotonic()
    ti.setblocking(False)
    idle_eof = busy_eof = None
    sent = ok = 0
    while time.monotonic() < t0 + busy_s:
        sent += 1
        try:
            ok += echo(ub, rb, eport, b"busy %d" % sent)
        except socket.timeout:
            pass
        if idle_eof is None:
            r, _, _ = select.select([ti], [], [], 0)
            if r and ti.recv(64) == b"":
                idle_eof = time.monotonic()
        time.sleep(0.2)
    if idle_eof is None:
        idle_eof = eof_after(ti, t0 + 15)
    busy_eof = eof_after(tb, t0 + 15)
    f = lambda x: "none" if x is None else "%.2f" % (x - t0)
    print("idle_eof=%s busy_ok=%d busy_sent=%d busy_eof=%s" % (f(idle_eof), ok, sent, f(busy_eof)))


if __name__ == "__main__":
    main()
