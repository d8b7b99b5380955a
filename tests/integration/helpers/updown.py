#!/usr/bin/env python3
"""Request/response with exact sizes, for byte-count checks.

  updown.py server PORT REPLY_BYTES TAG [HOST]
      for each connection: read to EOF, then send REPLY_BYTES bytes that start
      with TAG, then close.
  updown.py client PORT SEND_BYTES EXPECT_BYTES TAG [HOST]
      connect to HOST (127.0.0.1):PORT, send SEND_BYTES, half-close, read to EOF;
      the reply must be EXPECT_BYTES long and start with TAG. Prints the
      client's local port (as seen by the proxy) on success.
"""
import os
import socket
import sys
import threading


def read_all(s):
    n = 0
    head = b""
    while True:
        d = s.recv(262144)
        if not d:
            return n, head
        if len(head) < 64:
            head += d[:64]
        n += len(d)


def serve(port, reply, tag, host):
    ls = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(64)

    def handle(c):
        try:
            read_all(c)
            data = (tag + b"." * reply)[:reply]
            c.sendall(data)
        except OSError:
            pass
        finally:
            c.close()

    while True:
        c, _ = ls.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()


def client(port, send, expect, tag, host):
    s = socket.create_connection((host, port), timeout=20)
    local = s.getsockname()[1]
    s.sendall(os.urandom(send))
    s.shutdown(socket.SHUT_WR)
    n, head = read_all(s)
    s.close()
    if n != expect or not head.startswith(tag):
        sys.exit(f"got {n} bytes starting {head[:16]!r}, expected {expect} starting {tag!r}")
    print(local)


if __name__ == "__main__":
    if sys.argv[1] == "server":
        serve(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].encode(),
              sys.argv[5] if len(sys.argv) > 5 else "127.0.0.1")
    else:
        client(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5].encode(),
               sys.argv[6] if len(sys.argv) > 6 else "127.0.0.1")
