#!/usr/bin/env python3
"""Open N connections to 127.0.0.1:PORT (non-blocking, so connects that the
listener's backlog refuses do not stall the rest), send one byte on each,
write READY_FILE, then hold them until RELEASE_FILE exists (at most
--max-hold seconds) and close them all.

Usage: hold.py PORT N READY_FILE RELEASE_FILE [--max-hold SEC]
"""
import os
import resource
import socket
import sys
import time


def main():
    port, n, ready, release = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    max_hold = float(sys.argv[6]) if len(sys.argv) > 6 else 60
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        socks.append(s)
    time.sleep(0.5)
    connected = 0
    for s in socks:
        try:
            s.send(b"x")
            connected += 1
        except OSError:
            pass
    with open(ready, "w") as f:
        f.write(f"{connected}\n")
    print(f"holding {connected}/{n} connections", flush=True)
    end = time.monotonic() + max_hold
    while not os.path.exists(release) and time.monotonic() < end:
        time.sleep(0.05)
    for s in socks:
        s.close()
    print("released", flush=True)


if __name__ == "__main__":
    main()
