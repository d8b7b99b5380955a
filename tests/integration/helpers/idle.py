#!/usr/bin/env python3
"""Idle timeout through an echo proxy.

Usage: idle.py PROXY_PORT MIN MAX
An idle connection (one echo, then silence) must be closed by the proxy
between MIN and MAX seconds after its last traffic; meanwhile an active
connection (a message every 0.3 s for 3 s) must keep working throughout.
"""
import socket
import sys
import threading
import time


def echo_once(s, msg):
    s.sendall(msg)
    got = b""
    while len(got) < len(msg):
        d = s.recv(65536)
        if not d:
            raise ConnectionError(f"closed after {len(got)} of {len(msg)} echoed bytes")
        got += d
    if got != msg:
        raise ConnectionError("echo mismatch")


def main():
    port, lo, hi = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
    res = {}

    def idle():
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        try:
            echo_once(s, b"idle hello")
            t = time.monotonic()
            s.settimeout(hi + 2)
            try:
                d = s.recv(100)
                how = "eof" if not d else f"data {d!r}"
            except ConnectionResetError:
                how = "reset"
            except socket.timeout:
                how = "still open"
            res["idle"] = (how, time.monotonic() - t)
        except Exception as e:
            res["idle"] = (repr(e), -1)
        finally:
            s.close()

    def active():
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        try:
            t = time.monotonic()
            i = 0
            while time.monotonic() - t < 3.0:
                echo_once(s, f"tick {i}".encode())
                i += 1
                time.sleep(0.3)
            echo_once(s, b"still here")
            res["active"] = f"ok, {i + 1} echoes over {time.monotonic() - t:.1f}s"
        except Exception as e:
            res["active"] = f"failed after {time.monotonic() - t:.1f}s: {e!r}"
        finally:
            s.close()

    ts = [threading.Thread(target=idle), threading.Thread(target=active)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    how, dt = res.get("idle", ("no result", -1))
    print(f"idle connection: {how} after {dt:.2f}s of silence")
    print(f"active connection: {res.get('active')}")
    bad = []
    if how not in ("eof", "reset") or not (lo <= dt <= hi):
        bad.append(f"idle connection: {how} after {dt:.2f}s, expected a close after {lo}..{hi}s")
    if not str(res.get("active", "")).startswith("ok"):
        bad.append(f"active connection: {res.get('active')}")
    if bad:
        sys.exit("; ".join(bad))


if __name__ == "__main__":
    main()
