#!/usr/bin/env python3
"""SOCKS5 edge cases against one proxy, in one process (python starts
slowly on a busy machine). Usage:

  px_s5edge.py PHOST PPORT ECHO_PORT [--proxy-port PP]

ECHO_PORT is a plain echo server on 127.0.0.1. With --proxy-port the
pipelined cases run against that proxy:// port too. Prints "ok: CASE" per
case; exit 0 when all held, 1 at the first that did not (FAIL: reason).
Every wait is bounded (5 s).
"""
import argparse
import os
import socket
import struct
import sys
import time

T = 5.0


def die(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


class C:
    def __init__(self, host, port):
        self.s = socket.create_connection((host, port), timeout=T)
        self.buf = b""

    def send(self, b, bytewise=False):
        if bytewise:
            for i in range(len(b)):
                self.s.sendall(b[i:i + 1])
                time.sleep(0.002)
        else:
            self.s.sendall(b)

    def read(self, n, what):
        end = time.monotonic() + T
        while len(self.buf) < n:
            left = end - time.monotonic()
            if left <= 0:
                die(f"{what}: timed out with {self.buf.hex()}")
            self.s.settimeout(left)
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                die(f"{what}: timed out with {self.buf.hex()}")
            except ConnectionResetError:
                die(f"{what}: reset with {self.buf.hex()}")
            if not d:
                die(f"{what}: closed with {self.buf.hex()} of {n} bytes")
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def expect(self, hexs, what):
        want = bytes.fromhex(hexs)
        got = self.read(len(want), what)
        if got != want:
            die(f"{what}: got {got.hex()}, expected {hexs}")

    def closed(self, what, allow_data=False):
        if self.buf and not allow_data:
            die(f"{what}: extra bytes {self.buf.hex()}")
        end = time.monotonic() + T
        while True:
            left = end - time.monotonic()
            if left <= 0:
                die(f"{what}: still open")
            self.s.settimeout(left)
            try:
                d = self.s.recv(4096)
            except socket.timeout:
                die(f"{what}: still open")
            except ConnectionResetError:
                return
            if not d:
                return
            if not allow_data:
                die(f"{what}: unexpected bytes {d.hex()}")

    def close(self):
        self.s.close()


def req(cmd, port, atyp=1, addr=b"\x7f\x00\x00\x01", ver=5):
    return bytes([ver, cmd, 0, atyp]) + addr + struct.pack("!H", port)


def reply_ok(c, what):
    h = c.read(4, what)
    if h[:2] != b"\x05\x00":
        die(f"{what}: reply {h.hex()}")
    c.read(6 if h[3] == 1 else 18, what)


def echo(c, n, what):
    data = os.urandom(n)
    c.send(data)
    if c.read(n, what) != data:
        die(f"{what}: echo differs")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("phost")
    ap.add_argument("pport", type=int)
    ap.add_argument("echo_port", type=int)
    ap.add_argument("--proxy-port", type=int)
    a = ap.parse_args()
    H, P, E = a.phost, a.pport, a.echo_port

    # byte by byte: greeting, request, then data
    c = C(H, P)
    c.send(b"\x05\x01\x00", bytewise=True)
    c.expect("0500", "bytewise greeting")
    c.send(req(1, E), bytewise=True)
    reply_ok(c, "bytewise request")
    echo(c, 5000, "bytewise echo")
    c.close()
    print("ok: handshake written byte by byte")

    # a domain request split at every byte too
    c = C(H, P)
    c.send(b"\x05\x02\x00\x02", bytewise=True)
    c.expect("0500", "greeting with two methods")
    c.send(req(1, E, 3, b"\x09localhost"), bytewise=True)
    reply_ok(c, "bytewise domain request")
    echo(c, 100, "domain echo")
    c.close()
    print("ok: domain request byte by byte")

    # greeting + request + payload in one write, on socks5:// and proxy://
    for port in [P] + ([a.proxy_port] if a.proxy_port else []):
        payload = os.urandom(3000)
        c = C(H, port)
        c.send(b"\x05\x01\x00" + req(1, E) + payload)
        c.expect("0500", "pipelined greeting")
        reply_ok(c, "pipelined request")
        if c.read(len(payload), "pipelined payload") != payload:
            die("pipelined payload echoed wrong")
        echo(c, 100, "echo after the pipelined payload")
        c.close()
        # with username/password too (accepted: no auth configured)
        c = C(H, port)
        c.send(b"\x05\x01\x02" + b"\x01\x01u\x01p" + req(1, E) + payload)
        c.expect("0502", "pipelined userpass greeting")
        c.expect("0100", "pipelined auth status")
        reply_ok(c, "pipelined request after auth")
        if c.read(len(payload), "pipelined payload after auth") != payload:
            die("pipelined payload after auth echoed wrong")
        c.close()
        print(f"ok: greeting+request+payload in one write (port {port})")

    cases = [
        ("greeting version 4", b"\x04\x01\x00", None),
        ("greeting version 0", b"\x00\x01\x00", None),
        ("no methods", b"\x05\x00", "05ff"),
        ("only GSSAPI offered", b"\x05\x01\x01", "05ff"),
        ("request version 4", b"\x05\x01\x00" + req(1, E, ver=4), "0500" + "05010001000000000000"),
        ("unknown ATYP 2", b"\x05\x01\x00" + req(1, E, atyp=2), "0500" + "05080001000000000000"),
        ("unknown command 9", b"\x05\x01\x00" + req(9, E), "0500" + "05070001000000000000"),
        ("auth version 2", b"\x05\x01\x02" + b"\x02\x01u\x01p", "0502" + "0101"),
        ("empty domain", b"\x05\x01\x00" + req(1, E, 3, b"\x00"), "0500" + "05010001000000000000"),
        ("HTTP at a SOCKS5 port", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", None),
    ]
    for name, data, want in cases:
        c = C(H, P)
        c.send(data)
        if want:
            c.expect(want, name)
        c.closed(name)
        c.close()
        print(f"ok: {name}: {'answered ' + want + ', ' if want else ''}closed")

    # random garbage starting like a greeting: any answer, then a close
    for i in range(5):
        c = C(H, P)
        c.send(b"\x05" + os.urandom(300))
        c.closed(f"garbage {i}", allow_data=True)
        c.close()
    print("ok: garbage after a 0x05 byte: closed")

    # half a request, then the client goes away
    for i in range(5):
        c = C(H, P)
        c.send(b"\x05\x01\x00\x05\x01")
        c.expect("0500", "half request greeting")
        c.close()
    print("ok: clients gone mid-request")

    # and the proxy still serves
    c = C(H, P)
    c.send(b"\x05\x01\x00" + req(1, E))
    c.expect("0500", "final greeting")
    reply_ok(c, "final request")
    echo(c, 20000, "final echo")
    c.close()
    print("ok: still serving")


if __name__ == "__main__":
    main()
