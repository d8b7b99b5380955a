#!/usr/bin/env python3
"""A raw HTTP/1.1 client for the proxy tests: one write, then read responses.

  http_raw.py PHOST PPORT --send DATA [--send DATA ...] [--expect N] [--wait S]
              [--head-only K]

Each --send is written in one send() (\\r\\n escapes; "@FILE" sends a file;
"%BIG:N%" expands to N 'a's), --gap seconds apart. Then responses are read
and parsed one after another (1xx skipped; Content-Length, chunked, or
until close), until N final responses arrived (--expect) and then the
connection is watched --wait seconds more for a close. --head-only K: the
Kth request (1-based) was HEAD. Prints one line per response:
  resp I status S len L sha256 X [connection: close]
then "closed" or "open", and "extra N" for bytes after the last response.
"""
import argparse
import hashlib
import re
import socket
import sys
import time


def unescape(s):
    s = re.sub(r"%BIG:(\d+)%", lambda m: "a" * int(m.group(1)), s)
    return s.encode("latin-1").decode("unicode_escape").encode("latin-1")


class Reader:
    def __init__(self, s, deadline):
        self.s = s
        self.buf = b""
        self.closed = False
        self.deadline = deadline

    def more(self):
        if self.closed:
            return False
        left = self.deadline - time.monotonic()
        if left <= 0:
            return False
        self.s.settimeout(left)
        try:
            d = self.s.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            self.closed = True
            print("reset")
            return False
        if not d:
            self.closed = True
            return False
        self.buf += d
        return True

    def need(self, n):
        while len(self.buf) < n:
            if not self.more():
                return False
        return True

    def line(self):
        while b"\r\n" not in self.buf:
            if not self.more():
                return None
        ln, _, self.buf = self.buf.partition(b"\r\n")
        return ln

    def take(self, n):
        d, self.buf = self.buf[:n], self.buf[n:]
        return d


SHOW = False


def read_response(r, head_only):
    while True:
        while b"\r\n\r\n" not in r.buf:
            if not r.more():
                return None
        head, _, r.buf = r.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        if SHOW:
            print("\n".join("< " + ln for ln in lines))
        m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
        if not m:
            print("bad status line: %r" % lines[0])
            return None
        status = int(m.group(1))
        hdrs = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            hdrs.setdefault(k.strip().lower(), []).append(v.strip())
        if status >= 200:
            break
        print(f"interim {status}")
    body = b""
    if head_only or status in (204, 304):
        pass
    elif "chunked" in ",".join(hdrs.get("transfer-encoding", [])).lower():
        while True:
            ln = r.line()
            if ln is None:
                return None
            size = int(ln.split(b";")[0], 16)
            if size == 0:
                while True:
                    t = r.line()
                    if t is None:
                        return None
                    if t == b"":
                        break
                break
            if not r.need(size + 2):
                return None
            body += r.take(size)
            r.take(2)
    elif "content-length" in hdrs:
        n = int(hdrs["content-length"][0])
        if not r.need(n):
            return None
        body = r.take(n)
    else:
        while r.more():
            pass
        body, r.buf = r.buf, b""
    return status, hdrs, body


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("phost")
    ap.add_argument("pport", type=int)
    ap.add_argument("--send", action="append", default=[])
    ap.add_argument("--gap", type=float, default=0.0)
    ap.add_argument("--expect", type=int, default=1)
    ap.add_argument("--wait", type=float, default=1.0)
    ap.add_argument("--max-time", type=float, default=15.0)
    ap.add_argument("--head-only", type=int, action="append", default=[])
    ap.add_argument("--show", action="store_true", help="print the response heads")
    a = ap.parse_args()
    global SHOW
    SHOW = a.show
    s = socket.create_connection((a.phost, a.pport), timeout=5)
    for i, part in enumerate(a.send):
        if i and a.gap:
            time.sleep(a.gap)
        if part.startswith("@"):
            with open(part[1:], "rb") as f:
                data = f.read()
        else:
            data = unescape(part)
        try:
            s.sendall(data)
        except OSError as e:
            print(f"write {i}: {e!r}")
            break
    r = Reader(s, time.monotonic() + a.max_time)
    for i in range(1, a.expect + 1):
        res = read_response(r, i in a.head_only)
        if res is None:
            print(f"resp {i} missing")
            break
        status, hdrs, body = res
        conn = ",".join(hdrs.get("connection", []))
        print(f"resp {i} status {status} len {len(body)} sha256 "
              f"{hashlib.sha256(body).hexdigest()}" + (f" connection: {conn}" if conn else ""))
        sys.stdout.flush()
    r.deadline = min(r.deadline, time.monotonic() + a.wait)
    while r.more():
        pass
    print("closed" if r.closed else "open")
    print(f"extra {len(r.buf)}")


if __name__ == "__main__":
    main()
