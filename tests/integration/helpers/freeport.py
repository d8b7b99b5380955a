#!/usr/bin/env python3
"""Print a TCP port free on 127.0.0.1, ::1 and the dual-stack wildcard.

Ports come from 20000-32767, below Linux's default ephemeral range
(32768-60999), so no outgoing connection grabs one between this check and
the test's own bind. Usage: freeport.py [STATEFILE]; STATEFILE lists ports
already handed out in this test, which are never given twice.
SLUICE_PORT_SLICE=K/N (set by tests/run.sh) narrows the range to its K-th of
N slices, so tests running at the same time draw from disjoint ports.
"""
import os
import random
import socket
import sys


def is_free(port, v6):
    fams = [(socket.AF_INET, "127.0.0.1")]
    if v6:
        fams = [(socket.AF_INET6, "::")]
    for fam, host in fams:
        s = socket.socket(fam, socket.SOCK_STREAM)
        try:
            if fam == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            s.bind((host, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def main():
    state = sys.argv[1] if len(sys.argv) > 1 else None
    used = set()
    if state and os.path.exists(state):
        with open(state) as f:
            used = {int(x) for x in f.read().split()}
    v6 = socket.has_ipv6
    try:
        socket.socket(socket.AF_INET6, socket.SOCK_STREAM).close()
    except OSError:
        v6 = False
    lo, hi = 20000, 32768
    part = os.environ.get("SLUICE_PORT_SLICE", "")
    if part:
        k, n = (int(x) for x in part.split("/"))
        width = (hi - lo) // n
        lo, hi = lo + k * width, lo + (k + 1) * width
    rng = random.Random()
    for _ in range(2000):
        port = rng.randrange(lo, hi)
        if port in used or not is_free(port, v6):
            continue
        if state:
            with open(state, "a") as f:
                f.write(f"{port}\n")
        print(port)
        return 0
    print("freeport: no free port found", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
