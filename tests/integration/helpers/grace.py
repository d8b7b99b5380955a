#!/usr/bin/env python3
"""SIGTERM while a transfer is in progress.

Usage: grace.py finish|cut SERVER_PORT PROXY_PORT SLUICE_PID REFUSE_WITHIN
The script is the target server and the client. The server trickles data
(finish: 2 MiB over ~2 s, then closes; cut: 100 KiB every 0.1 s for up to
30 s). Once the client has the first bytes it sends SIGTERM to sluice, then
  - new connects to PROXY_PORT must be refused within REFUSE_WITHIN s;
  - finish: every byte arrives intact, then EOF;
  - cut: the connection is closed by sluice; prints when.
Prints "signal_to_end=SECONDS" on success.
"""
import hashlib
import os
import signal
import socket
import sys
import threading
import time


def main():
    mode, srv, proxy, pid, refuse_within = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
        int(sys.argv[4]), float(sys.argv[5])
    chunk = os.urandom(100 * 1024)
    n_chunks = 20 if mode == "finish" else 300
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", srv))
    ls.listen(8)
    ls.settimeout(20)
    sent = hashlib.sha256()
    server_err = []

    def server():
        try:
            c, _ = ls.accept()
            for i in range(n_chunks):
                c.sendall(chunk)
                sent.update(chunk)
                time.sleep(0.1)
            c.close()
        except OSError as e:
            server_err.append(repr(e))

    threading.Thread(target=server, daemon=True).start()
    s = socket.create_connection(("127.0.0.1", proxy), timeout=20)
    got = hashlib.sha256()
    n = 0
    first = s.recv(65536)
    got.update(first)
    n += len(first)
    os.kill(pid, signal.SIGTERM)
    t_sig = time.monotonic()
    print(f"SIGTERM sent after {n} bytes", flush=True)

    refusal = {}

    def probe():
        end = t_sig + refuse_within
        tries = 0
        while time.monotonic() < end + 0.5:
            time.sleep(0.05)
            tries += 1
            p = socket.socket()
            p.settimeout(1)
            try:
                p.connect(("127.0.0.1", proxy))
            except ConnectionRefusedError:
                refusal["at"] = time.monotonic() - t_sig
                return
            except OSError as e:
                refusal["other"] = repr(e)
            finally:
                p.close()
        refusal["never"] = tries

    pt = threading.Thread(target=probe, daemon=True)
    pt.start()
    how = "eof"
    s.settimeout(40)
    try:
        while True:
            d = s.recv(262144)
            if not d:
                break
            got.update(d)
            n += len(d)
    except ConnectionResetError:
        how = "reset"
    dt = time.monotonic() - t_sig
    s.close()
    pt.join(refuse_within + 3)
    print(f"connection ended ({how}) {dt:.2f}s after SIGTERM, {n} bytes received", flush=True)
    fails = []
    if "at" in refusal:
        print(f"new connects refused {refusal['at']:.2f}s after SIGTERM")
        if refusal["at"] > refuse_within:
            fails.append(f"new connects refused only {refusal['at']:.2f}s after SIGTERM")
    else:
        fails.append(f"new connects not refused within {refuse_within}s of SIGTERM {refusal}")
    if mode == "finish":
        total = len(chunk) * n_chunks
        if server_err:
            fails.append(f"server: {server_err}")
        if how != "eof" or n != total or got.digest() != sent.digest():
            fails.append(f"transfer cut or corrupted: {how}, {n}/{total} bytes, "
                         f"hash equal {got.digest() == sent.digest()}")
    if fails:
        sys.exit("; ".join(fails))
    print(f"signal_to_end={dt:.3f}")


if __name__ == "__main__":
    main()
