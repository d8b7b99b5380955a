#!/usr/bin/env python3
"""SOCKS BIND client for tests/integration/012N-*.sh. Every wait is bounded;
exit 0 = the assertion held, 1 = it did not (the reason is printed).

  px_bind.py PROTO PHOST PPORT [options]      PROTO: s5 or s4

  --dst IP              DST.ADDR of the request (default 127.0.0.1)
  --dst-name NAME       a domain DST (SOCKS5 ATYP 3, SOCKS4a)
  --dst-port N          DST.PORT (default 0)
  --auth USER:PASS      SOCKS5 username/password
  --mode normal|bytewise|pipelined   how the request is written
  --expect-rep1 N       the first reply's code (default 0 / 0x5a); on a
                        failure code the proxy must then close
  --expect-rep2 N       the second reply's code (default 0 / 0x5a)
  --no-peer             nobody connects: wait for the second reply (an
                        error) and the close, then check BND refuses
  --wrong-peer SRC      first connect to BND from source IP SRC: that
                        connection must be closed without data
  --peer-src SRC        the peer's source IP (default 127.0.0.1)
  --peer-port N         the peer's source port (default: any)
  --client-close        close the client after the first reply, then BND
                        must stop accepting
  --bytes N             bytes each way (default 300000)
  --max-time S          every wait (default 10)

Prints "bnd IP PORT" after the first reply and "peer IP PORT" after the
second.
"""
import argparse
import hashlib
import os
import socket
import struct
import sys
import threading
import time


def die(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


class Conn:
    def __init__(self, s, max_time):
        self.s = s
        self.max_time = max_time
        self.buf = b""

    def read_exact(self, n, what):
        deadline = time.monotonic() + self.max_time
        while len(self.buf) < n:
            t = deadline - time.monotonic()
            if t <= 0:
                die(f"{what}: timed out with {len(self.buf)} of {n} bytes ({self.buf.hex()})")
            self.s.settimeout(t)
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                die(f"{what}: timed out with {len(self.buf)} of {n} bytes ({self.buf.hex()})")
            except ConnectionResetError:
                die(f"{what}: reset after {len(self.buf)} of {n} bytes ({self.buf.hex()})")
            if not d:
                die(f"{what}: closed after {len(self.buf)} of {n} bytes ({self.buf.hex()})")
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def expect_close(self, what):
        if self.buf:
            die(f"{what}: expected a close, got {self.buf.hex()}")
        self.s.settimeout(self.max_time)
        try:
            d = self.s.recv(1)
        except socket.timeout:
            die(f"{what}: still open, expected a close")
        except ConnectionResetError:
            return
        if d:
            die(f"{what}: expected a close, got data {d.hex()}")


def send(s, data, mode):
    if mode == "bytewise":
        for i in range(len(data)):
            s.sendall(data[i:i + 1])
            time.sleep(0.005)
    else:
        s.sendall(data)


def s5_addr(a):
    if a.dst_name:
        n = a.dst_name.encode()
        return bytes([3, len(n)]) + n
    if ":" in a.dst:
        return b"\x04" + socket.inet_pton(socket.AF_INET6, a.dst)
    return b"\x01" + socket.inet_aton(a.dst)


def s5_reply(c, what):
    head = c.read_exact(4, what)
    if head[0] != 5:
        die(f"{what}: version {head[0]} ({head.hex()})")
    if head[3] == 1:
        ip = socket.inet_ntop(socket.AF_INET, c.read_exact(4, what))
    elif head[3] == 4:
        ip = socket.inet_ntop(socket.AF_INET6, c.read_exact(16, what))
    else:
        die(f"{what}: ATYP {head[3]}")
    port = struct.unpack("!H", c.read_exact(2, what))[0]
    return head[1], ip, port


def s4_reply(c, what):
    r = c.read_exact(8, what)
    if r[0] != 0:
        die(f"{what}: VN {r[0]} ({r.hex()})")
    return r[1], socket.inet_ntoa(r[4:8]), struct.unpack("!H", r[2:4])[0]


def handshake(a, s, c):
    if a.proto == "s5":
        greet = b"\x05\x01\x02" if a.auth else b"\x05\x01\x00"
        req = b"\x05\x02\x00" + s5_addr(a) + struct.pack("!H", a.dst_port)
        auth = b""
        if a.auth:
            u, p = a.auth.split(":", 1)
            auth = bytes([1, len(u)]) + u.encode() + bytes([len(p)]) + p.encode()
        if a.mode == "pipelined":
            s.sendall(greet + auth + req)
            m = c.read_exact(2, "method reply")
            if a.auth:
                c.read_exact(2, "auth reply")
        else:
            send(s, greet, a.mode)
            m = c.read_exact(2, "method reply")
            if a.auth:
                send(s, auth, a.mode)
                st = c.read_exact(2, "auth reply")
                if st[1] != 0:
                    die(f"auth refused ({st.hex()})")
            send(s, req, a.mode)
        if m[1] != (2 if a.auth else 0):
            die(f"method {m.hex()}")
        return s5_reply
    ip = "0.0.0.1" if a.dst_name else a.dst
    req = b"\x04\x02" + struct.pack("!H", a.dst_port) + socket.inet_aton(ip) + b"tester\x00"
    if a.dst_name:
        req += a.dst_name.encode() + b"\x00"
    send(s, req, a.mode)
    return s4_reply


def connect_from(src, host, port, timeout, sport=0):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    p = socket.socket(fam, socket.SOCK_STREAM)
    p.settimeout(timeout)
    if src:
        p.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        p.bind((src, sport))
    p.connect((host, port))
    return p


def bnd_refuses(host, port, max_time):
    """BND stops accepting within max_time (its socket was closed)."""
    deadline = time.monotonic() + max_time
    while time.monotonic() < deadline:
        try:
            p = connect_from(None, host, port, 2)
        except (ConnectionRefusedError, socket.timeout, OSError):
            return True
        p.close()
        time.sleep(0.1)
    return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("proto", choices=["s5", "s4"])
    ap.add_argument("phost")
    ap.add_argument("pport", type=int)
    ap.add_argument("--dst", default="127.0.0.1")
    ap.add_argument("--dst-name")
    ap.add_argument("--dst-port", type=int, default=0)
    ap.add_argument("--auth")
    ap.add_argument("--mode", default="normal", choices=["normal", "bytewise", "pipelined"])
    ap.add_argument("--expect-rep1", type=lambda v: int(v, 0))
    ap.add_argument("--expect-rep2", type=lambda v: int(v, 0))
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--wrong-peer")
    ap.add_argument("--peer-src", default="127.0.0.1")
    ap.add_argument("--peer-port", type=int, default=0)
    ap.add_argument("--client-close", action="store_true")
    ap.add_argument("--bytes", type=int, default=300000)
    ap.add_argument("--max-time", type=float, default=10)
    a = ap.parse_args()
    ok = 0 if a.proto == "s5" else 0x5A
    rep1 = ok if a.expect_rep1 is None else a.expect_rep1
    rep2 = ok if a.expect_rep2 is None else a.expect_rep2

    s = socket.create_connection((a.phost, a.pport), timeout=a.max_time)
    c = Conn(s, a.max_time)
    read_reply = handshake(a, s, c)
    code, bip, bport = read_reply(c, "first reply")
    if code != rep1:
        die(f"first reply {code:#x}, expected {rep1:#x}")
    if code != ok:
        c.expect_close("after a refused BIND")
        print(f"refused {code:#x}")
        return
    print(f"bnd {bip} {bport}")
    if bport == 0:
        die("BND.PORT is 0")
    if bip in ("0.0.0.0", "::"):
        bip = a.phost

    if a.client_close:
        s.close()
        # Let sluice see the FIN first: a probe that lands before it is, to
        # sluice, the awaited peer (it is relayed and the close line says
        # eof instead of "client closed during BIND").
        time.sleep(0.5)
        if not bnd_refuses(bip, bport, a.max_time):
            die(f"{bip}:{bport} still accepts after the client left")
        print("bnd closed after the client left")
        return

    if a.wrong_peer:
        try:
            w = connect_from(a.wrong_peer, bip, bport, a.max_time)
            wc = Conn(w, a.max_time)
            wc.expect_close("connection from the wrong peer")
            w.close()
        except ConnectionResetError:
            pass    # reset before connect() even returned
        print(f"wrong peer from {a.wrong_peer} closed")

    if a.no_peer:
        code, _, _ = read_reply(c, "second reply")
        if code != rep2:
            die(f"second reply {code:#x}, expected {rep2:#x}")
        c.expect_close("after the failed BIND")
        if not bnd_refuses(bip, bport, a.max_time):
            die(f"{bip}:{bport} still accepts after the BIND ended")
        print(f"second reply {code:#x}, closed")
        return

    p = connect_from(a.peer_src, bip, bport, a.max_time, a.peer_port)
    pip, pport = p.getsockname()[:2]
    code, rip, rport = read_reply(c, "second reply")
    if code != rep2:
        die(f"second reply {code:#x}, expected {rep2:#x}")
    if code != ok:
        c.expect_close("after the failed BIND")
        return
    print(f"peer {rip} {rport}")
    if (rip, rport) != (pip, pport):
        die(f"second reply names {rip}:{rport}, the peer is {pip}:{pport}")

    # Data both ways at once, then half-close each way.
    up = os.urandom(a.bytes)
    down = os.urandom(a.bytes)
    got = {}

    def drain(sock, key, cn):
        buf = bytearray(cn.buf)
        cn.buf = b""
        sock.settimeout(a.max_time)
        while True:
            try:
                d = sock.recv(65536)
            except (socket.timeout, ConnectionResetError) as e:
                got[key] = e
                return
            if not d:
                break
            buf += d
        got[key] = bytes(buf)

    pc = Conn(p, a.max_time)
    t1 = threading.Thread(target=drain, args=(p, "up", pc))
    t2 = threading.Thread(target=drain, args=(s, "down", c))
    t1.start()
    t2.start()
    s.sendall(up)
    s.shutdown(socket.SHUT_WR)
    t1.join(a.max_time + 1)
    if not isinstance(got.get("up"), bytes):
        die(f"peer did not get the client's bytes and EOF: {got.get('up')!r}")
    # the client half-closed; the peer can still send
    p.sendall(down)
    p.shutdown(socket.SHUT_WR)
    t2.join(a.max_time + 1)
    if not isinstance(got.get("down"), bytes):
        die(f"client did not get the peer's bytes and EOF: {got.get('down')!r}")
    for k, want in (("up", up), ("down", down)):
        if hashlib.sha256(got[k]).digest() != hashlib.sha256(want).digest():
            die(f"{k}: {len(got[k])} bytes differ from the {len(want)} sent")
    print(f"relayed {len(up)} bytes up and {len(down)} down intact, half-close both ways")
    p.close()
    s.close()


if __name__ == "__main__":
    main()
