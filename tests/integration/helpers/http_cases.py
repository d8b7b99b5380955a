#!/usr/bin/env python3
"""Run many raw HTTP requests against a proxy in one process (fast on a busy box).

  http_cases.py PHOST PPORT CASEFILE --alive URL

CASEFILE: one case per line, "STATUS[,STATUS...]<TAB>NAME<TAB>DATA" (DATA
with \\r\\n escapes and %BIG:N%, as http_raw.py). Each DATA is written in
one send(); the final responses must have these STATUSes in order and the connection must then be
closed by the proxy (within 3 s). After each case a GET of URL through the
proxy must answer 200 (the proxy serves the next client). Prints
"ok NAME" per case, "FAIL NAME: why" and exits 1 on the first failure.
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from http_raw import Reader, read_response, unescape  # noqa: E402


def one(host, port, data, n=1, expect_close=True):
    """The statuses of the first n responses (None for a missing one), closed?"""
    s = socket.create_connection((host, port), timeout=5)
    try:
        try:
            s.sendall(data)
        except OSError:
            pass
        r = Reader(s, time.monotonic() + 10)
        got = []
        for _ in range(n):
            res = read_response(r, False)
            got.append(res[0] if res else None)
            if res is None:
                return got, False
        r.deadline = time.monotonic() + (3 if expect_close else 0.2)
        while r.more():
            pass
        return got, r.closed
    finally:
        s.close()


def main():
    host, port, casefile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    alive = sys.argv[sys.argv.index("--alive") + 1]
    for ln in open(casefile, encoding="latin-1"):
        ln = ln.rstrip("\n")
        if not ln or ln.startswith("#"):
            continue
        status, name, data = ln.split("\t", 2)
        want = [int(x) for x in status.split(",")]
        got, closed = one(host, port, unescape(data), len(want))
        if got != want:
            print(f"FAIL {name}: statuses {got}, expected {want}")
            sys.exit(1)
        if not closed:
            print(f"FAIL {name}: connection not closed after the error")
            sys.exit(1)
        got, _ = one(host, port, f"GET {alive} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                     .encode(), 1, False)
        if got != [200]:
            print(f"FAIL {name}: the next client got {got}")
            sys.exit(1)
        print(f"ok {name} -> {status}")


if __name__ == "__main__":
    main()
