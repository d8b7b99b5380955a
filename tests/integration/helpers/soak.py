#!/usr/bin/env python3
"""Mixed hostile and honest traffic at once, for a bounded time.

Usage: soak.py --proxy PORT --fwd PORT --udp PORT --echo PORT --udp-echo PORT
               [--threads N] [--seconds S] [--seed N] [--assoc works|refused]

Each thread picks actions at random (seeded) until the time is up:
  socks5 / socks4a / http CONNECT through proxy:// to the echo server, with
  a random payload, then one of: a clean half-close and a full echo check,
  an abort (RST) mid-stream, or a close without reading;
  tcp:// forwarding the same ways;
  garbage (random bytes, a truncated handshake, an oversized HTTP head) to
  proxy://, then close or RST;
  a handshake that stalls (the proxy's handshake timeout ends it);
  udp:// datagrams of random sizes (replies must be the sender's own);
  SOCKS5 UDP ASSOCIATE with good and malformed datagrams (--assoc refused:
  the proxy's chain cannot carry UDP, and every request must get reply 0x07).
Every exchange that completes cleanly must echo exactly what was sent;
anything else the client does to the proxy is allowed to fail. Prints
counts per action and "soak: N checked, M bad"; exit 1 if any check failed
or the proxy stopped answering.
"""
import argparse
import os
import random
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from udpkit import associate, wrap  # noqa: E402

TIMEOUT = 5


def linger_rst(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            raise ConnectionError(f"EOF after {len(buf)} of {n} bytes")
        buf += d
    return bytes(buf)


def recv_all(s):
    buf = bytearray()
    while True:
        d = s.recv(65536)
        if not d:
            return bytes(buf)
        buf += d


def socks5_connect(port, tport):
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    s.sendall(b"\x05\x01\x00")
    if recv_exact(s, 2) != b"\x05\x00":
        raise ConnectionError("socks5 method refused")
    s.sendall(b"\x05\x01\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack(">H", tport))
    rep = recv_exact(s, 10)
    if rep[1] != 0:
        raise ConnectionError(f"socks5 reply {rep[1]}")
    return s


def socks4a_connect(port, tport):
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    s.sendall(b"\x04\x01" + struct.pack(">H", tport) + b"\x00\x00\x00\x01soak\x00localhost\x00")
    rep = recv_exact(s, 8)
    if rep[1] != 0x5A:
        raise ConnectionError(f"socks4 reply {rep[1]:#x}")
    return s


def http_connect(port, tport):
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    s.sendall(f"CONNECT 127.0.0.1:{tport} HTTP/1.1\r\nHost: 127.0.0.1:{tport}\r\n\r\n".encode())
    head = bytearray()
    while b"\r\n\r\n" not in head:
        d = s.recv(1)
        if not d:
            raise ConnectionError("EOF in CONNECT reply")
        head += d
        if len(head) > 8192:
            raise ConnectionError("CONNECT reply too long")
    if not head.startswith(b"HTTP/1.1 200"):
        raise ConnectionError(f"CONNECT reply {bytes(head[:40])!r}")
    return s


class Soak:
    def __init__(self, a):
        self.a = a
        self.lock = threading.Lock()
        self.counts = {}
        self.checked = 0
        self.bad = []
        self.deadline = time.monotonic() + a.seconds

    def count(self, name):
        with self.lock:
            self.counts[name] = self.counts.get(name, 0) + 1

    def fail(self, msg):
        with self.lock:
            self.bad.append(msg)

    def ok(self):
        with self.lock:
            self.checked += 1

    # --- stream actions -------------------------------------------------

    def stream(self, rnd, how, opener):
        size = rnd.choice([0, 1, 100, 4096, 65536, 300000])
        payload = rnd.randbytes(size)
        ending = rnd.choice(["check", "check", "check", "rst", "leave"])
        name = f"{how}-{ending}"
        self.count(name)
        try:
            s = opener()
        except OSError:
            if ending == "check":
                self.fail(f"{name}: could not open the stream")
            return
        try:
            if ending == "check":
                # Send and read at once: a big payload would fill both ways.
                got = bytearray()
                t = threading.Thread(target=lambda: got.extend(recv_all(s)))
                t.start()
                s.sendall(payload)
                s.shutdown(socket.SHUT_WR)
                t.join(TIMEOUT * 4)
                if t.is_alive():
                    self.fail(f"{name}: echo of {size} bytes did not end")
                elif bytes(got) != payload:
                    self.fail(f"{name}: echoed {len(got)} bytes differ from the {size} sent")
                else:
                    self.ok()
            elif ending == "rst":
                s.sendall(payload[: rnd.randint(0, size)])
                linger_rst(s)
            else:
                s.sendall(payload[: min(size, 60000)])
        except OSError as e:
            if ending == "check":
                self.fail(f"{name}: {e!r}")
        finally:
            s.close()

    def garbage(self, rnd):
        kind = rnd.choice(["random", "s5-trunc", "s5-badver", "http-huge", "s4-noterm", "empty"])
        self.count(f"garbage-{kind}")
        try:
            s = socket.create_connection(("127.0.0.1", self.a.proxy), timeout=TIMEOUT)
        except OSError as e:
            self.fail(f"garbage-{kind}: connect: {e!r}")
            return
        try:
            if kind == "random":
                s.sendall(rnd.randbytes(rnd.randint(1, 5000)))
            elif kind == "s5-trunc":
                s.sendall(b"\x05\x02\x00")
            elif kind == "s5-badver":
                s.sendall(b"\x05\x01\x00")
                s.recv(2)
                s.sendall(b"\x04\x01\x00\x03\xff" + rnd.randbytes(40))
            elif kind == "http-huge":
                s.sendall(b"GET http://127.0.0.1/ HTTP/1.1\r\n" + b"X: " + b"a" * 70000)
            elif kind == "s4-noterm":
                s.sendall(b"\x04\x01\x00\x50\x00\x00\x00\x01" + b"u" * 2000)
            if rnd.random() < 0.5:
                linger_rst(s)
            else:
                s.settimeout(2)
                try:
                    recv_all(s)
                except OSError:
                    pass
        except OSError:
            pass
        finally:
            s.close()

    def stall(self, rnd):
        self.count("stall")
        try:
            s = socket.create_connection(("127.0.0.1", self.a.proxy), timeout=TIMEOUT)
            s.sendall(b"\x05\x01")		# and nothing more
            s.settimeout(TIMEOUT)
            t0 = time.monotonic()
            try:
                recv_all(s)
            except ConnectionResetError:
                pass
            if time.monotonic() - t0 > TIMEOUT - 0.5:
                self.fail("stall: the proxy did not end a stalled handshake")
            else:
                self.ok()
            s.close()
        except OSError as e:
            self.fail(f"stall: {e!r}")

    # --- datagram actions -----------------------------------------------

    def udp_fwd(self, rnd):
        self.count("udp-fwd")
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(1)
        tag = os.urandom(8)
        want = set()
        try:
            for i in range(rnd.randint(1, 20)):
                d = tag + struct.pack(">I", i) + rnd.randbytes(rnd.choice([0, 50, 1400, 9000]))
                s.sendto(d, ("127.0.0.1", self.a.udp))
                want.add(d)
            got = 0
            end = time.monotonic() + 2
            while want and time.monotonic() < end:
                try:
                    d = s.recv(65536)
                except socket.timeout:
                    break
                if not d.startswith(tag):
                    self.fail("udp-fwd: a reply meant for another client")
                    return
                want.discard(d)
                got += 1
            # Loopback may drop under load; a reply that comes must be ours and whole.
            if got:
                self.ok()
        finally:
            s.close()

    def udp_assoc(self, rnd):
        self.count("udp-assoc")
        try:
            got = associate("127.0.0.1", self.a.proxy)
        except (OSError, SystemExit) as e:	# udpkit's fail() exits: a fault here too
            self.fail(f"udp-assoc: {e!r}")
            return
        if self.a.assoc == "refused":
            if got == 7:
                self.ok()
            elif isinstance(got, int):
                self.fail(f"udp-assoc: reply {got}, expected 7 (command not supported)")
            else:
                self.fail("udp-assoc: granted, expected reply 7 (command not supported)")
                got[0].close()
            return
        if isinstance(got, int):
            self.fail(f"udp-assoc: reply {got}")
            return
        c, relay = got
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.settimeout(1)
        try:
            for _ in range(rnd.randint(1, 10)):
                r = rnd.random()
                if r < 0.3:
                    u.sendto(rnd.randbytes(rnd.randint(0, 40)), relay)	# malformed
                elif r < 0.4:
                    u.sendto(b"\x00\x00\x01\x03\x00" + b"x", relay)	# FRAG != 0
                else:
                    u.sendto(wrap("127.0.0.1", self.a.udp_echo, rnd.randbytes(rnd.randint(0, 1400))),
                             relay)
            msg = wrap("127.0.0.1", self.a.udp_echo, b"soak-check")
            u.sendto(msg, relay)
            end = time.monotonic() + 2
            while time.monotonic() < end:
                try:
                    d = u.recv(65536)
                except socket.timeout:
                    break
                if d == msg:
                    self.ok()
                    break
        except OSError:
            pass
        finally:
            u.close()
            if rnd.random() < 0.5:
                linger_rst(c)
            c.close()

    # --- the loop -------------------------------------------------------

    def worker(self, seed):
        rnd = random.Random(seed)
        a = self.a
        acts = [
            lambda: self.stream(rnd, "socks5", lambda: socks5_connect(a.proxy, a.echo)),
            lambda: self.stream(rnd, "socks4a", lambda: socks4a_connect(a.proxy, a.echo)),
            lambda: self.stream(rnd, "http", lambda: http_connect(a.proxy, a.echo)),
            lambda: self.stream(rnd, "tcp", lambda: socket.create_connection(
                ("127.0.0.1", a.fwd), timeout=TIMEOUT)),
            lambda: self.garbage(rnd),
            lambda: self.garbage(rnd),
            lambda: self.stall(rnd),
            lambda: self.udp_fwd(rnd),
            lambda: self.udp_assoc(rnd),
        ]
        while time.monotonic() < self.deadline:
            rnd.choice(acts)()


def main():
    ap = argparse.ArgumentParser()
    for k in ("proxy", "fwd", "udp", "echo", "udp-echo"):
        ap.add_argument("--" + k, type=int, required=True)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--assoc", choices=["works", "refused"], default="works")
    a = ap.parse_args()
    sk = Soak(a)
    ts = [threading.Thread(target=sk.worker, args=(a.seed * 1000 + i,), daemon=True)
          for i in range(a.threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(a.seconds + 60)
    if any(t.is_alive() for t in ts):
        sk.fail("a client thread did not finish (a hang)")
    # The proxy must still answer at once.
    try:
        s = socks5_connect(a.proxy, a.echo)
        s.sendall(b"after")
        s.shutdown(socket.SHUT_WR)
        if recv_all(s) != b"after":
            sk.fail("after the soak: echo differs")
        s.close()
    except OSError as e:
        sk.fail(f"after the soak: {e!r}")
    print("actions: " + ", ".join(f"{k} {v}" for k, v in sorted(sk.counts.items())))
    for m in sk.bad[:20]:
        print("FAIL:", m)
    print(f"soak: {sk.checked} checked, {len(sk.bad)} bad")
    return 1 if sk.bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
