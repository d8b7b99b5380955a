#!/usr/bin/env python3
"""Stream SIZE bytes in both directions at once through one proxied
connection and compare sha256 of what each side sent and received.

Usage: bidir.py SERVER_PORT PROXY_PORT MIB [--deadline SEC]
The script is the target server (127.0.0.1:SERVER_PORT) and the client
(through 127.0.0.1:PROXY_PORT). Each side has a sender and a receiver
thread; the senders half-close when done, the receivers read to EOF.
Data: a random 1 MiB block, each copy stamped with a counter and a
direction tag, so a lost, repeated, reordered or crossed chunk changes the
hash.
"""
import hashlib
import os
import socket
import struct
import sys
import threading
import time

CHUNK = 1 << 20


def sender(sock, total, tag, out, name):
    h = hashlib.sha256()
    block = os.urandom(CHUNK)
    sent = 0
    i = 0
    try:
        while sent < total:
            n = min(CHUNK, total - sent)
            chunk = (struct.pack("<QQ", i, tag) + block[16:])[:n]
            h.update(chunk)
            sock.sendall(chunk)
            sent += n
            i += 1
        sock.shutdown(socket.SHUT_WR)
    except OSError as e:
        out[name + "_error"] = f"{name}: {e!r} after {sent} bytes"
    out[name] = (sent, h.hexdigest())


def receiver(sock, out, name):
    h = hashlib.sha256()
    got = 0
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    try:
        while True:
            n = sock.recv_into(buf)
            if n == 0:
                break
            h.update(view[:n])
            got += n
    except OSError as e:
        out[name + "_error"] = f"{name}: {e!r} after {got} bytes"
    out[name] = (got, h.hexdigest())


def main():
    srv_port, proxy_port, mib = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    deadline = float(sys.argv[4]) if len(sys.argv) > 4 else 100
    total = mib << 20
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", srv_port))
    ls.listen(1)
    ls.settimeout(20)
    t0 = time.monotonic()
    c = socket.create_connection(("127.0.0.1", proxy_port), timeout=20)
    s, _ = ls.accept()
    for x in (c, s):
        x.settimeout(deadline)
    out = {}
    threads = [
        threading.Thread(target=sender, args=(c, total, 1, out, "client_sent")),
        threading.Thread(target=receiver, args=(c, out, "client_got")),
        threading.Thread(target=sender, args=(s, total, 2, out, "server_sent")),
        threading.Thread(target=receiver, args=(s, out, "server_got")),
    ]
    for t in threads:
        t.daemon = True
        t.start()
    for t in threads:
        t.join(max(0, deadline - (time.monotonic() - t0)))
    dt = time.monotonic() - t0
    errs = [v for k, v in out.items() if k.endswith("_error")]
    if any(t.is_alive() for t in threads):
        errs.append(f"not finished after {deadline}s: {sorted(k for k in out)} done")
    if errs:
        sys.exit("; ".join(errs))
    print(f"{mib} MiB each way in {dt:.1f}s ({2 * mib / dt:.0f} MiB/s total)")
    ok = True
    for a, b in (("client_sent", "server_got"), ("server_sent", "client_got")):
        print(f"{a}: {out[a][0]} bytes sha256 {out[a][1]}")
        print(f"{b}: {out[b][0]} bytes sha256 {out[b][1]}")
        if out[a] != out[b] or out[a][0] != total:
            ok = False
            print(f"MISMATCH between {a} and {b}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
