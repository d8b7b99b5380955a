#!/usr/bin/env python3
"""A UDP relay that records datagram sizes (tests/integration/0411-tunnel-padding.sh).

  udpsizes.py LISTEN_PORT TARGET_PORT OUT

Relays 127.0.0.1:LISTEN_PORT <-> 127.0.0.1:TARGET_PORT for one client
address (the latest seen) and, on SIGTERM, writes OUT: one line per
direction, "c2s" or "s2c", then the count, the largest size and the number
of distinct sizes among datagrams under 300 bytes (acks, keepalives, small
writes: what padding is for).
"""
import select
import signal
import socket
import sys

lport, tport, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ls = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
ls.bind(("127.0.0.1", lport))
us = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
us.connect(("127.0.0.1", tport))
client = None
stats = {"c2s": [0, 0, set()], "s2c": [0, 0, set()]}
stop = False


def on_term(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)


def note(d, n):
    st = stats[d]
    st[0] += 1
    st[1] = max(st[1], n)
    if n < 300:
        st[2].add(n)


print("udpsizes ready", flush=True)
while not stop:
    try:
        r, _, _ = select.select([ls, us], [], [], 0.2)
    except InterruptedError:
        continue
    for s in r:
        try:
            if s is ls:
                data, client = ls.recvfrom(65536)
                note("c2s", len(data))
                us.send(data)
            else:
                data = us.recv(65536)
                note("s2c", len(data))
                if client:
                    ls.sendto(data, client)
        except (ConnectionRefusedError, BlockingIOError):
            pass
with open(out, "w") as f:
    for d in ("c2s", "s2c"):
        st = stats[d]
        f.write("%s %d %d %d\n" % (d, st[0], st[1], len(st[2])))
