#!/usr/bin/env python3
"""Bursts from many UDP clients at once, for the batched paths of udp://.

  udpburst.py echo PORT
      echo server on 127.0.0.1:PORT that drains its socket before it answers,
      so replies to many senders leave back to back (the proxy then finds many
      session sockets readable in one loop turn). Ends after 30 s idle.

  udpburst.py run HOST PORT CLIENTS COUNT BURST
      CLIENTS sockets each send COUNT datagrams in bursts of BURST (all
      clients' bursts interleaved, no pause; at most two rounds of bursts
      in flight). Datagram k of client c has a
      size that repeats over runs (so runs of equal sizes, a shorter one at
      the end of a run, sizes above the GSO segment limit, and sizes that
      differ between clients) and a body made from (c, k). Every reply must
      come back to its own client, intact (size and bytes), in order; at
      least 90 % of them must come back.
"""
import os
import select
import socket
import sys
import time


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


SIZES = (64, 64, 64, 63, 700, 700, 1400, 1400, 1400, 1399, 1401, 3000, 9000, 1)


def size_of(c, k):
    return SIZES[(k // 5 + c) % len(SIZES)] + (c % 3 if k % 5 == 4 else 0)


_BODIES = {}


def body(c, k):
    if (c, k) in _BODIES:
        return _BODIES[(c, k)]
    n = size_of(c, k)
    head = b"%02d:%06d:" % (c, k)
    pat = bytes(((c * 31 + k * 7 + i) & 0xFF) for i in range(256))
    fill = pat * (n // 256 + 1)
    _BODIES[(c, k)] = b = (head + fill)[:n]
    return b


def echo_main(args):
    port = int(args[0])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    s.bind(("127.0.0.1", port))
    s.setblocking(False)
    while True:
        r, _, _ = select.select([s], [], [], 30)
        if not r:
            return
        got = []
        while len(got) < 512:
            try:
                got.append(s.recvfrom(70000))
            except BlockingIOError:
                break
        for d, a in got:
            try:
                s.sendto(d, a)
            except OSError:
                pass


def run_main(args):
    host, port, n, count, burst = args[0], int(args[1]), int(args[2]), int(args[3]), int(args[4])
    clients = []
    for _ in range(n):
        c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        c.setblocking(False)
        clients.append(c)
    nxt = [0] * n       # next sequence number expected back
    got = [0] * n
    sent = [0] * n

    def drain(c, i):
        while True:
            try:
                d = c.recv(70000)
            except BlockingIOError:
                return
            if len(d) < 10:
                k = -1
                for j in range(nxt[i], count):
                    if size_of(i, j) == len(d) and body(i, j) == d:
                        k = j
                        break
                if k < 0:
                    fail("client %d: a %d-byte reply that is none of its own" % (i, len(d)))
            else:
                try:
                    ci, k = int(d[0:2]), int(d[3:9])
                except ValueError:
                    fail("client %d: a reply it never sent: %r" % (i, d[:20]))
                if ci != i:
                    fail("client %d got client %d's datagram %d" % (i, ci, k))
            if k < nxt[i]:
                fail("client %d: reply %d after %d (reordered or duplicated)" % (i, k, nxt[i] - 1))
            if d != body(i, k):
                fail("client %d: reply %d is %d bytes, sent %d (or altered)" %
                     (i, k, len(d), size_of(i, k)))
            nxt[i] = k + 1
            got[i] += 1

    while min(sent) < count:
        for i, c in enumerate(clients):
            for _ in range(burst):
                if sent[i] >= count:
                    break
                try:
                    c.sendto(body(i, sent[i]), (host, port))
                except BlockingIOError:
                    break
                sent[i] += 1
        for i, c in enumerate(clients):
            drain(c, i)
        # At most two rounds of bursts in flight: socket buffers, not speed, are tested.
        wait_end = time.time() + 2
        while sum(sent) - sum(got) > 2 * n * burst and time.time() < wait_end:
            r, _, _ = select.select(clients, [], [], 0.2)
            for c in r:
                drain(c, clients.index(c))
    end = time.time() + float(os.environ.get("UDPKIT_WAIT", "5"))
    while time.time() < end and sum(got) < n * count:
        r, _, _ = select.select(clients, [], [], 0.5)
        for c in r:
            drain(c, clients.index(c))
    for i in range(n):
        if got[i] < count * 0.9:
            fail("client %d got %d of %d replies" % (i, got[i], count))
    print("ok: %d clients x %d datagrams in bursts of %d, replies %s" % (n, count, burst, got))


def main():
    if len(sys.argv) < 2:
        fail("usage: udpburst.py echo PORT | run HOST PORT CLIENTS COUNT BURST")
    if sys.argv[1] == "echo":
        echo_main(sys.argv[2:])
    elif sys.argv[1] == "run":
        run_main(sys.argv[2:])
    else:
        fail("unknown command " + sys.argv[1])


if __name__ == "__main__":
    main()
