#!/usr/bin/env python3
"""Backpressure: the target sends as fast as it can while the client does not
read; the proxy must stop reading from the target instead of buffering
everything. Then the client reads it all and the bytes must be exact.

Usage: slowreader.py SERVER_PORT PROXY_PORT SLUICE_PID MIB MAX_GROWTH_MIB [down|up]
down: target -> client stalls (client does not read); up: client -> target
stalls (target does not read).
"""
import hashlib
import os
import socket
import sys
import threading
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    srv, proxy, pid, mib, max_growth = (int(x) for x in sys.argv[1:6])
    direction = sys.argv[6] if len(sys.argv) > 6 else "down"
    total = mib << 20
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", srv))
    ls.listen(1)
    ls.settimeout(20)
    rss0 = rss_kib(pid)
    c = socket.create_connection(("127.0.0.1", proxy), timeout=20)
    s, _ = ls.accept()
    writer, reader = (s, c) if direction == "down" else (c, s)
    block = os.urandom(1 << 20)
    sent_hash = hashlib.sha256()
    state = {"sent": 0}

    def send():
        try:
            while state["sent"] < total:
                chunk = state["sent"].to_bytes(8, "little") + block[8:]
                writer.sendall(chunk)
                sent_hash.update(chunk)
                state["sent"] += len(chunk)
            writer.shutdown(socket.SHUT_WR)
        except OSError as e:
            state["error"] = repr(e)

    writer.settimeout(60)
    t = threading.Thread(target=send, daemon=True)
    t.start()
    time.sleep(3)  # the reader reads nothing for 3 s
    stalled_at = state["sent"]
    rss1 = rss_kib(pid)
    growth = (rss1 - rss0) / 1024
    print(f"{direction}: writer stalled after {stalled_at / 2**20:.1f} MiB; "
          f"sluice RSS {rss0 / 1024:.1f} -> {rss1 / 1024:.1f} MiB (+{growth:.1f})")
    got = hashlib.sha256()
    n = 0
    reader.settimeout(30)
    while True:
        d = reader.recv(1 << 20)
        if not d:
            break
        got.update(d)
        n += len(d)
    t.join(10)
    c.close()
    s.close()
    bad = []
    if "error" in state:
        bad.append(f"sender: {state['error']}")
    if stalled_at >= total:
        bad.append("the writer never stalled: everything was buffered somewhere")
    if growth > max_growth:
        bad.append(f"sluice RSS grew {growth:.1f} MiB with a stalled reader (limit {max_growth})")
    if n != total or got.digest() != sent_hash.digest():
        bad.append(f"received {n}/{total} bytes, hash equal {got.digest() == sent_hash.digest()}")
    if bad:
        sys.exit("; ".join(bad))
    print(f"{direction}: {mib} MiB exact after the stall")


if __name__ == "__main__":
    main()
