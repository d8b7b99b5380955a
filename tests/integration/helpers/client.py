#!/usr/bin/env python3
"""Small TCP client checks used by several tests. Exit 0 = assertion held.

  client.py echo HOST PORT [--count N] [--size BYTES] [--timeout SEC] [--deadline SEC]
      N sequential connections; each sends a unique payload, half-closes and
      must read back exactly that payload followed by EOF.
  client.py expect-close HOST PORT [--send TEXT] [--min SEC] [--max SEC]
      connect (must succeed), optionally send, then the peer must close the
      connection (EOF or reset) after at least --min and at most --max seconds.
  client.py refused HOST PORT
      the connect must fail with ECONNREFUSED.
"""
import argparse
import os
import socket
import sys
import time


def connect(host, port, timeout):
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    fam, typ, proto, _, addr = infos[0]
    s = socket.socket(fam, typ, proto)
    s.settimeout(timeout)
    s.connect(addr)
    return s


def one_echo(host, port, i, size, timeout):
    payload = (f"conn {i} {os.getpid()} ".encode() + os.urandom(size))[:max(size, 16)]
    s = connect(host, port, timeout)
    try:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        got = bytearray()
        while True:
            d = s.recv(65536)
            if not d:
                break
            got += d
        if bytes(got) != payload:
            return f"conn {i}: echoed {len(got)} bytes differ from the {len(payload)} sent"
        return None
    finally:
        s.close()


def cmd_echo(a):
    start = time.monotonic()
    bad = 0
    ok = 0
    for i in range(a.count):
        if time.monotonic() - start > a.deadline:
            print(f"deadline {a.deadline}s passed after {i} connections")
            bad += a.count - i
            break
        try:
            err = one_echo(a.host, a.port, i, a.size, a.timeout)
        except OSError as e:
            err = f"conn {i}: {e!r}"
        if err:
            bad += 1
            if bad <= 10:
                print(err)
        else:
            ok += 1
    print(f"echo: {ok}/{a.count} ok in {time.monotonic() - start:.2f}s")
    return 0 if ok == a.count else 1


def cmd_expect_close(a):
    t0 = time.monotonic()
    try:
        s = connect(a.host, a.port, 5)
    except ConnectionResetError:
        # Accepted, then reset before connect() returned (a non-blocking
        # connect reads SO_ERROR after the handshake): closed at once.
        dt = time.monotonic() - t0
        print(f"closed after {dt:.3f}s (reset during connect)")
        return 0 if a.min <= dt <= a.max else 1
    how = "?"
    try:
        if a.send:
            s.sendall(a.send.encode())
        s.settimeout(a.max + 5)
        while True:
            d = s.recv(65536)
            if not d:
                how = "eof"
                break
    except ConnectionResetError:
        how = "reset"
    except socket.timeout:
        how = "still open"
    except OSError as e:
        how = f"error {e!r}"
    dt = time.monotonic() - t0
    s.close()
    print(f"closed after {dt:.3f}s ({how})")
    if how == "still open" or how.startswith("error"):
        return 1
    if dt < a.min or dt > a.max:
        print(f"expected a close after {a.min}..{a.max}s")
        return 1
    return 0


def cmd_refused(a):
    try:
        s = connect(a.host, a.port, 5)
    except ConnectionRefusedError:
        print("refused")
        return 0
    except OSError as e:
        print(f"connect failed but not refused: {e!r}")
        return 1
    s.close()
    print("connect succeeded, expected refusal")
    return 1


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("echo")
    e.add_argument("host")
    e.add_argument("port", type=int)
    e.add_argument("--count", type=int, default=1)
    e.add_argument("--size", type=int, default=1000)
    e.add_argument("--timeout", type=float, default=10)
    e.add_argument("--deadline", type=float, default=60)
    c = sub.add_parser("expect-close")
    c.add_argument("host")
    c.add_argument("port", type=int)
    c.add_argument("--send", default="")
    c.add_argument("--min", type=float, default=0)
    c.add_argument("--max", type=float, default=2)
    r = sub.add_parser("refused")
    r.add_argument("host")
    r.add_argument("port", type=int)
    a = ap.parse_args()
    return {"echo": cmd_echo, "expect-close": cmd_expect_close,
            "refused": cmd_refused}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
