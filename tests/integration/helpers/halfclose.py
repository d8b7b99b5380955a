#!/usr/bin/env python3
"""Half-close through a proxy, both directions, exact bytes.

Usage: halfclose.py SERVER_PORT PROXY_PORT [client|server]
The script is the target server itself (listening on 127.0.0.1:SERVER_PORT)
and the client, connecting through 127.0.0.1:PROXY_PORT.

client: the client sends A bytes and shuts down its write side; the server
  reads to EOF, waits 0.5 s, then replies with B bytes (a digest of what it got
  followed by data) and closes. The client must receive all of it.
server: the server sends B bytes and shuts down its write side; the client
  reads to EOF, then goes on sending A bytes for ~1 s; the server must receive
  all of them, then closes.
"""
import hashlib
import os
import socket
import sys
import threading
import time

A = 3 * 1024 * 1024 + 17
B = 2 * 1024 * 1024 + 5


def data(n, seed):
    block = hashlib.sha256(seed).digest() * 2048  # 64 KiB
    out = bytearray()
    i = 0
    while len(out) < n:
        out += i.to_bytes(8, "little") + block[8:]
        i += 1
    return bytes(out[:n])


def recv_all(s):
    got = bytearray()
    while True:
        d = s.recv(262144)
        if not d:
            return bytes(got)
        got += d


def main():
    srv_port, proxy_port, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    up = data(A, b"up")
    down = data(B, b"down")
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", srv_port))
    ls.listen(8)
    ls.settimeout(20)
    result = {}

    def server():
        try:
            c, _ = ls.accept()
            c.settimeout(20)
            if mode == "client":
                got = recv_all(c)
                result["server_got"] = got
                time.sleep(0.5)  # the reply comes well after the EOF
                c.sendall(hashlib.sha256(got).digest() + down)
                c.close()
            else:
                c.sendall(down)
                c.shutdown(socket.SHUT_WR)
                result["server_got"] = recv_all(c)
                c.close()
        except Exception as e:  # reported by the main thread
            result["server_error"] = repr(e)

    t = threading.Thread(target=server, daemon=True)
    t.start()
    s = socket.create_connection(("127.0.0.1", proxy_port), timeout=20)
    if mode == "client":
        s.sendall(up)
        s.shutdown(socket.SHUT_WR)
        reply = recv_all(s)
        s.close()
        t.join(25)
        if "server_error" in result:
            sys.exit(f"server: {result['server_error']}")
        if result.get("server_got") != up:
            sys.exit(f"server got {len(result.get('server_got', b''))} bytes, "
                     f"expected the {A} sent before SHUT_WR")
        want = hashlib.sha256(up).digest() + down
        if reply != want:
            sys.exit(f"client got {len(reply)} bytes after its SHUT_WR, "
                     f"expected {len(want)} (equal: {reply == want})")
        print(f"client half-close: up {A} and down {len(want)} bytes exact")
    else:
        got = recv_all(s)  # the server's data, then its EOF
        if got != down:
            sys.exit(f"client got {len(got)} bytes before EOF, expected {B}")
        # Keep sending after the server's EOF, over about a second.
        step = len(up) // 10
        for i in range(0, len(up), step):
            s.sendall(up[i:i + step])
            time.sleep(0.1)
        s.shutdown(socket.SHUT_WR)
        s.settimeout(20)
        rest = recv_all(s)
        s.close()
        t.join(25)
        if "server_error" in result:
            sys.exit(f"server: {result['server_error']}")
        if rest:
            sys.exit(f"client got {len(rest)} unexpected bytes after the EOF")
        if result.get("server_got") != up:
            sys.exit(f"server got {len(result.get('server_got', b''))} bytes after "
                     f"its SHUT_WR, expected {A}")
        print(f"server half-close: down {B} then up {A} bytes exact")


if __name__ == "__main__":
    main()
