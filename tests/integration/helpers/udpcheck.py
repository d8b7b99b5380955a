#!/usr/bin/env python3
"""UDP checks through tools/lossy (tests/integration/0300-lossy.sh).

  udpcheck.py loss LOSSY_PORT SINK_PORT N      -> prints "sent N got M corrupt C"
  udpcheck.py delay LOSSY_PORT SINK_PORT       -> prints "rtt_ms X" (median of 5)
  udpcheck.py clients LOSSY_PORT SINK_PORT K   -> prints "clients K own N foreign F"
      K client sockets send 50 datagrams each, interleaved; a datagram
      carries its client's number, so foreign counts replies that reached
      the wrong client (lossy must keep one flow per client address).

The sink (started here, on SINK_PORT) echoes every datagram back; in "loss"
mode the client counts what comes back (both directions impaired), and every
datagram carries its sequence number and a SHA-256 of its payload.
"""
import hashlib
import os
import socket
import sys
import threading
import time


def sink(port, ready, stop):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    s.settimeout(0.2)
    ready.set()
    while not stop.is_set():
        try:
            data, addr = s.recvfrom(65536)
        except socket.timeout:
            continue
        s.sendto(data, addr)
    s.close()


def main():
    mode, lport, sport = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    ready, stop = threading.Event(), threading.Event()
    t = threading.Thread(target=sink, args=(sport, ready, stop), daemon=True)
    t.start()
    ready.wait(5)
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.connect(("127.0.0.1", lport))
    if mode == "loss":
        n = int(sys.argv[4])
        seen, corrupt = set(), 0
        c.setblocking(False)
        for i in range(n):
            payload = os.urandom(16 + i % 1000)
            c.send(i.to_bytes(4, "big") + hashlib.sha256(payload).digest() + payload)
            if i % 50 == 49:
                time.sleep(0.005)    # stay under lossy's queue and the socket buffers
            try:
                while True:
                    d = c.recv(65536)
                    seq = int.from_bytes(d[:4], "big")
                    if hashlib.sha256(d[36:]).digest() != d[4:36]:
                        corrupt += 1
                    seen.add(seq)
            except (socket.timeout, BlockingIOError):
                pass
        c.setblocking(True)
        c.settimeout(0.5)
        deadline = time.time() + 3
        while time.time() < deadline:
            try:
                d = c.recv(65536)
            except socket.timeout:
                break
            if hashlib.sha256(d[36:]).digest() != d[4:36]:
                corrupt += 1
            seen.add(int.from_bytes(d[:4], "big"))
        print("sent %d got %d corrupt %d" % (n, len(seen), corrupt))
    elif mode == "clients":
        k = int(sys.argv[4])
        cs = [c] + [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(k - 1)]
        for x in cs[1:]:
            x.connect(("127.0.0.1", lport))
        own = foreign = 0
        for i in range(50):
            for j, x in enumerate(cs):
                x.send(b"client%d seq%d" % (j, i))
        for j, x in enumerate(cs):
            x.settimeout(0.5)
            try:
                while True:
                    d = x.recv(65536)
                    if d.startswith(b"client%d " % j):
                        own += 1
                    else:
                        foreign += 1
            except socket.timeout:
                pass
        print("clients %d own %d foreign %d" % (k, own, foreign))
    else:
        c.settimeout(5)
        rtts = []
        for i in range(5):
            t0 = time.monotonic()
            c.send(b"ping%d" % i)
            while c.recv(65536) != b"ping%d" % i:
                pass
            rtts.append((time.monotonic() - t0) * 1000)
        rtts.sort()
        print("rtt_ms %d" % rtts[2])
    stop.set()
    t.join(2)


main()
