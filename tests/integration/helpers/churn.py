#!/usr/bin/env python3
"""Clients that go away early, in bulk.

Usage: churn.py PROXY_PORT N
  N connects closed at once (FIN), N connects aborted at once (RST),
  N connects that send a request and close without reading the reply,
  N connects that half-close at once and read the (empty) echo to EOF.
All connects must succeed; the last kind must see EOF within 5 s.
"""
import socket
import struct
import sys
import time


def main():
    port, n = int(sys.argv[1]), int(sys.argv[2])
    t0 = time.monotonic()
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.close()
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"x" * 100000)
        s.close()
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.shutdown(socket.SHUT_WR)
        try:
            d = s.recv(10)
        except ConnectionResetError:
            sys.exit(f"half-closed connection {i} was reset")
        if d:
            sys.exit(f"half-closed connection {i} got data {d!r}")
        s.close()
    print(f"{4 * n} short-lived connections in {time.monotonic() - t0:.2f}s")


if __name__ == "__main__":
    main()
