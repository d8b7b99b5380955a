#!/usr/bin/env python3
"""RST propagation through a proxy.

Usage: rst.py server-abort|server-abort-upload|client-abort SERVER_PORT PROXY_PORT MAX_SEC
The script is the target server and the client.
  server-abort: the server sends 256 KiB, then closes with SO_LINGER 0 (RST)
    while the client reads; the client must see EOF/reset within MAX_SEC.
  server-abort-upload: the client streams upward; the server reads 1 MiB and
    aborts with RST; the client's sends/recvs must fail within MAX_SEC.
  client-abort: the server streams downward; the client reads 1 MiB and aborts
    with RST; the server's sends must fail within MAX_SEC.
Prints "client_port=N" (the client's local port) on success.
"""
import os
import socket
import struct
import sys
import threading
import time

LINGER0 = struct.pack("ii", 1, 0)


def abort(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
    s.close()


def main():
    mode, srv, proxy, max_s = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", srv))
    ls.listen(4)
    ls.settimeout(20)
    c = socket.create_connection(("127.0.0.1", proxy), timeout=20)
    port = c.getsockname()[1]
    s, _ = ls.accept()
    block = os.urandom(65536)
    res = {}

    if mode == "server-abort":
        s.sendall(block * 4)
        time.sleep(0.2)
        t0 = time.monotonic()
        abort(s)
        c.settimeout(max_s + 5)
        n = 0
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    how = "eof"
                    break
                n += len(d)
        except ConnectionResetError:
            how = "reset"
        except socket.timeout:
            how = "still open"
        dt = time.monotonic() - t0
        print(f"client: {how} {dt:.3f}s after the server's RST ({n} bytes read)")
    elif mode == "server-abort-upload":
        def server():
            got = 0
            while got < (1 << 20):
                d = s.recv(65536)
                if not d:
                    break
                got += len(d)
            res["t0"] = time.monotonic()
            abort(s)

        t = threading.Thread(target=server, daemon=True)
        t.start()
        c.settimeout(1)
        how = "still open"
        end = time.monotonic() + 30
        while time.monotonic() < end:
            try:
                c.send(block)
            except socket.timeout:
                pass
            except OSError as e:
                how = f"send failed: {e.strerror}"
                break
            if "t0" in res and time.monotonic() - res["t0"] > max_s + 2:
                break
        t.join(5)
        dt = time.monotonic() - res.get("t0", time.monotonic())
        print(f"client: {how} {dt:.3f}s after the server's RST")
    else:  # client-abort
        def server():
            s.settimeout(1)
            while True:
                try:
                    s.send(block)
                except socket.timeout:
                    pass
                except OSError as e:
                    res["how"] = f"send failed: {e.strerror}"
                    res["t1"] = time.monotonic()
                    return
                if "t0" in res and time.monotonic() - res["t0"] > max_s + 2:
                    res["how"] = "still open"
                    res["t1"] = time.monotonic()
                    return

        t = threading.Thread(target=server, daemon=True)
        t.start()
        got = 0
        while got < (1 << 20):
            d = c.recv(65536)
            if not d:
                sys.exit("client: unexpected EOF")
            got += len(d)
        res["t0"] = time.monotonic()
        abort(c)
        t.join(max_s + 5)
        how = res.get("how", "still open")
        dt = res.get("t1", time.monotonic()) - res["t0"]
        print(f"server: {how} {dt:.3f}s after the client's RST")
    c.close()
    s.close()
    if how == "still open" or dt > max_s:
        sys.exit(f"{mode}: the other side was not closed within {max_s}s")
    print(f"client_port={port}")


if __name__ == "__main__":
    main()
