#!/usr/bin/env python3
"""Echo server: everything read is written back; EOF from the peer is
answered with shutdown(SHUT_WR) once all echoed bytes are sent.

selectors-based, so thousands of connections are fine.
Usage: echo_server.py --port P [--host H]
"""
import argparse
import resource
import selectors
import socket


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    fam = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    ls = socket.socket(fam, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((args.host, args.port))
    ls.listen(4096)
    ls.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(ls, selectors.EVENT_READ, None)
    # per connection: [pending bytes, peer_eof]
    conns = {}

    def close(c):
        sel.unregister(c)
        del conns[c]
        c.close()

    def update(c):
        st = conns[c]
        ev = 0
        if not st[1] and len(st[0]) < (1 << 20):
            ev |= selectors.EVENT_READ
        if st[0]:
            ev |= selectors.EVENT_WRITE
        if ev == 0:
            # EOF seen and everything echoed: pass the EOF on.
            try:
                c.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            close(c)
            return
        sel.modify(c, ev, None)

    while True:
        for key, mask in sel.select():
            s = key.fileobj
            if s is ls:
                for _ in range(64):
                    try:
                        c, _addr = ls.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        break
                    c.setblocking(False)
                    conns[c] = [bytearray(), False]
                    sel.register(c, selectors.EVENT_READ, None)
                continue
            st = conns.get(s)
            if st is None:
                continue
            try:
                if mask & selectors.EVENT_READ:
                    d = s.recv(262144)
                    if d:
                        st[0] += d
                    else:
                        st[1] = True
                if mask & selectors.EVENT_WRITE and st[0]:
                    n = s.send(st[0])
                    del st[0][:n]
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                close(s)
                continue
            update(s)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
