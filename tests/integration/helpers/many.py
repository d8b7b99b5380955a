#!/usr/bin/env python3
"""N concurrent connections through a proxy to an echo server.

Usage: many.py PROXY_PORT N [--pid SLUICE_PID --base FDS] [--size BYTES]
Opens N connections (all open at once), sends a unique payload on each,
reads back exactly that payload on each, and only then closes them all.
With --pid/--base, checks while all are open that sluice holds at least
base + 2*N fds (two sockets per relayed connection).
"""
import argparse
import os
import resource
import selectors
import socket
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("n", type=int)
    ap.add_argument("--pid", type=int)
    ap.add_argument("--base", type=int)
    ap.add_argument("--size", type=int, default=2000)
    ap.add_argument("--deadline", type=float, default=40)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < a.n + 64:
        sys.exit(f"fd hard limit {hard} too low for {a.n} connections")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    t0 = time.monotonic()
    end = t0 + a.deadline

    socks = []
    for i in range(a.n):
        s = socket.socket()
        s.settimeout(max(0.1, end - time.monotonic()))
        try:
            s.connect(("127.0.0.1", a.port))
        except OSError as e:
            sys.exit(f"connect {i} failed after {len(socks)} open: {e!r}")
        s.setblocking(False)
        socks.append(s)
    print(f"{a.n} connections open in {time.monotonic() - t0:.2f}s")

    sel = selectors.DefaultSelector()
    want = {}
    got = {}
    out = {}
    for i, s in enumerate(socks):
        p = f"[{i}]".encode() + os.urandom(a.size)
        want[s] = p
        got[s] = bytearray()
        out[s] = memoryview(p)
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
    done = 0
    while done < a.n:
        if time.monotonic() > end:
            sys.exit(f"deadline: only {done}/{a.n} echoes complete")
        for key, mask in sel.select(timeout=1):
            s = key.fileobj
            if mask & selectors.EVENT_WRITE and out[s]:
                try:
                    n = s.send(out[s])
                    out[s] = out[s][n:]
                except BlockingIOError:
                    pass
                except OSError as e:
                    sys.exit(f"send: {e!r}")
                if not out[s]:
                    sel.modify(s, selectors.EVENT_READ)
            if mask & selectors.EVENT_READ:
                try:
                    d = s.recv(65536)
                except BlockingIOError:
                    continue
                except OSError as e:
                    sys.exit(f"recv: {e!r} after {done} complete")
                if not d:
                    sys.exit(f"connection closed early after {len(got[s])} bytes, {done} complete")
                got[s] += d
                if len(got[s]) >= len(want[s]):
                    if bytes(got[s]) != want[s]:
                        sys.exit("echo payload mismatch (wrong or corrupted connection pairing)")
                    sel.unregister(s)
                    done += 1
    print(f"{a.n} unique echoes verified in {time.monotonic() - t0:.2f}s, all still open")
    if a.pid:
        n = len(os.listdir(f"/proc/{a.pid}/fd"))
        print(f"sluice fds with all open: {n} (baseline {a.base})")
        if n < a.base + 2 * a.n:
            sys.exit(f"sluice holds {n} fds, expected >= {a.base + 2 * a.n} with {a.n} live connections")
    for s in socks:
        s.close()
    print("all closed")


if __name__ == "__main__":
    main()
