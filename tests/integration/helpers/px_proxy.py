#!/usr/bin/env python3
"""Proxy protocol clients and test servers for tests/integration/01NN-*.sh.
Every wait is bounded; exit 0 = the assertion held, 1 = it did not (the
reason is printed), 2 = bad usage.

Clients
  s5 PHOST PPORT DHOST DPORT [options]
      One SOCKS5 CONNECT (or --cmd N) through the proxy.
      --atyp auto|ip4|ip6|name|raw:N   address type (auto: by the address)
      --auth USER:PASS                  offer username/password (method 2) only
      --offer HEX                       methods offered, e.g. 00 or 0002
      --mode normal|bytewise|pipelined  how the handshake is written
      --expect-method HEX               the method the server must choose (ff: none)
      --expect-auth-fail                the server must answer auth with status != 0 and close
      --expect-rep N                    the reply code (default 0)
      --peer                            the destination is `serve peer`: check its
                                        PEER line, and with --check-bnd that
                                        BND.ADDR:BND.PORT is the peer it saw
      --echo N                          send N random bytes, read them back
      --max-time S                      the whole exchange, and for a refusal the
                                        close that must follow (default 10)
  s4 PHOST PPORT DHOST DPORT [--4a] [--user ID] [--expect-rep 0x5a] [--peer] [--echo N]
  script HOST PORT STEP...
      Steps: "send HEX", "sendtext TEXT" (\\r\\n escapes), "sleep S",
      "expect HEX" (the next bytes are exactly these), "eof" (the peer closes,
      EOF or reset, with nothing more), "drain-eof" (anything, then a close),
      "open" (nothing arrives and the connection stays open for 0.3 s).
      --timeout S per step (default 5)
  http PHOST PPORT --send TEXT [--send TEXT ...] [--gap S]
      Write a raw request (each --send is one write, --gap seconds apart;
      \\r\\n escapes; "@FILE" sends a file), read the response to EOF.
      --status N, --header REGEX (repeatable, a header line must match,
      case-insensitive), --no-header REGEX, --body REGEX, --max-time S,
      --show (print the response head)
  hold PHOST PPORT --n N --send HEX --min S --max S
      open N connections, each sends HEX and stalls; every one must be
      closed by the server between --min and --max seconds after the last
      was opened. --keep S holds the connections S seconds first (no check).

Servers (run in the background; ready once the port listens)
  serve peer PORT [--host H]
      sends "PEER ip port\\n" (the address it sees) then echoes.
  serve origin PORT --dir D [--host H]
      an HTTP/1.1 origin: reads one request (Content-Length or chunked
      body; answers "Expect: 100-continue" with 100 Continue), replies 200
      with "len N sha256 X" and Connection: close, then records everything
      the connection carried to D/req-N.raw and a summary to D/req-N.json:
      {"head": ..., "body_len": N, "body_sha256": X, "extra": bytes after
      the body (hex)}. --delay S waits S before answering.
  serve blackhole PORT
      a listener whose accept queue is full: further SYNs go unanswered
      (a connect to it times out).
  serve dns PORT --map NAME=IP [--map ...] [--host H]
      a UDP DNS server: A/AAAA answers from --map (a name may repeat for
      several addresses), NXDOMAIN for any other name, NODATA for a known
      name without that family.
"""
import argparse
import hashlib
import ipaddress
import json
import os
import re
import select
import socket
import struct
import sys
import threading
import time


def die(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


def unescape(s):
    return s.replace("\\r", "\r").replace("\\n", "\n").replace("\\t", "\t").encode("latin-1")


def connect(host, port, timeout):
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    fam, typ, proto, _, addr = infos[0]
    s = socket.socket(fam, typ, proto)
    s.settimeout(timeout)
    s.connect(addr)
    return s


class Conn:
    """A socket with a deadline for every read."""

    def __init__(self, s, deadline):
        self.s = s
        self.deadline = deadline
        self.buf = b""

    def left(self):
        return self.deadline - time.monotonic()

    def recv_some(self):
        t = self.left()
        if t <= 0:
            raise TimeoutError("deadline passed")
        self.s.settimeout(t)
        return self.s.recv(65536)

    def read_exact(self, n, what):
        while len(self.buf) < n:
            try:
                d = self.recv_some()
            except (TimeoutError, socket.timeout):
                die(f"{what}: timed out with {len(self.buf)} of {n} bytes ({self.buf.hex()})")
            except ConnectionResetError:
                die(f"{what}: connection reset after {len(self.buf)} of {n} bytes ({self.buf.hex()})")
            if not d:
                die(f"{what}: connection closed after {len(self.buf)} of {n} bytes ({self.buf.hex()})")
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_line(self, what, limit=4096):
        while b"\n" not in self.buf:
            if len(self.buf) > limit:
                die(f"{what}: no newline in {len(self.buf)} bytes")
            try:
                d = self.recv_some()
            except (TimeoutError, socket.timeout):
                die(f"{what}: timed out ({self.buf[:200]!r})")
            except ConnectionResetError:
                die(f"{what}: connection reset ({self.buf[:200]!r})")
            if not d:
                die(f"{what}: connection closed ({self.buf[:200]!r})")
            self.buf += d
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def expect_close(self, what, allow_data=False):
        """The peer closes (EOF or reset) before the deadline."""
        extra = self.buf
        self.buf = b""
        if extra and not allow_data:
            die(f"{what}: expected a close, got {len(extra)} more bytes ({extra[:64].hex()})")
        while True:
            try:
                d = self.recv_some()
            except (TimeoutError, socket.timeout):
                die(f"{what}: the connection is still open (expected a close)")
            except (ConnectionResetError, BrokenPipeError):
                return
            if not d:
                return
            if not allow_data:
                die(f"{what}: expected a close, got {len(d)} more bytes ({d[:64].hex()})")

    def close(self):
        self.s.close()


# --- SOCKS5 ---

def addr_bytes(host, atyp):
    """(ATYP, address bytes) for host; atyp auto|ip4|ip6|name|raw:N."""
    if atyp.startswith("raw:"):
        return int(atyp[4:], 0), socket.inet_aton("127.0.0.1")
    if atyp == "auto":
        try:
            ip = ipaddress.ip_address(host)
            atyp = "ip4" if ip.version == 4 else "ip6"
        except ValueError:
            atyp = "name"
    if atyp == "ip4":
        return 1, socket.inet_pton(socket.AF_INET, host)
    if atyp == "ip6":
        return 4, socket.inet_pton(socket.AF_INET6, host)
    n = host.encode()
    return 3, bytes([len(n)]) + n


def read_s5_reply(c, what):
    head = c.read_exact(4, what)
    if head[0] != 5:
        die(f"{what}: reply version {head[0]}, expected 5 ({head.hex()})")
    atyp = head[3]
    if atyp == 1:
        a = socket.inet_ntop(socket.AF_INET, c.read_exact(4, what))
    elif atyp == 4:
        a = socket.inet_ntop(socket.AF_INET6, c.read_exact(16, what))
    elif atyp == 3:
        n = c.read_exact(1, what)[0]
        a = c.read_exact(n, what).decode("latin-1")
    else:
        die(f"{what}: reply ATYP {atyp} ({head.hex()})")
    port = struct.unpack("!H", c.read_exact(2, what))[0]
    return head[1], a, port


def write_parts(s, parts, mode):
    if mode == "pipelined":
        s.sendall(b"".join(parts))
    elif mode == "bytewise":
        for p in parts:
            for i in range(len(p)):
                s.sendall(p[i:i + 1])
                time.sleep(0.002)
    else:
        for p in parts:
            s.sendall(p)


def check_peer_and_echo(c, a, bnd=None):
    """After a successful CONNECT to `serve peer`: PEER line, BND, echo."""
    if a.peer:
        line = c.read_line("PEER line from the destination").decode()
        m = re.fullmatch(r"PEER (\S+) (\d+)", line.strip())
        if not m:
            die(f"destination said {line!r}, expected 'PEER ip port'")
        seen = (m.group(1), int(m.group(2)))
        print(f"destination saw the proxy as {seen[0]}:{seen[1]}")
        if bnd is not None and getattr(a, "check_bnd", False):
            b_ip = ipaddress.ip_address(bnd[0])
            s_ip = ipaddress.ip_address(seen[0])
            if getattr(s_ip, "ipv4_mapped", None):
                s_ip = s_ip.ipv4_mapped
            if getattr(b_ip, "ipv4_mapped", None):
                b_ip = b_ip.ipv4_mapped
            if (b_ip, bnd[1]) != (s_ip, seen[1]):
                die(f"BND {bnd[0]}:{bnd[1]} is not the proxy's outgoing address {seen[0]}:{seen[1]}")
    if a.echo:
        payload = os.urandom(a.echo)
        c.s.sendall(payload)
        got = c.read_exact(len(payload), "echo through the proxy")
        if got != payload:
            die("echoed bytes differ")
        print(f"echo of {a.echo} bytes ok")


def show_local(s):
    h, p = s.getsockname()[:2]
    if h.startswith("::ffff:"):
        h = h[7:]
    print(f"client {h}:{p}" if ":" not in h else f"client [{h}]:{p}")


def cmd_s5(a):
    deadline = time.monotonic() + a.max_time
    s = connect(a.phost, a.pport, a.max_time)
    show_local(s)
    c = Conn(s, deadline)
    if a.offer is not None:
        methods = bytes.fromhex(a.offer)
    elif a.auth is not None:
        methods = b"\x02"
    else:
        methods = b"\x00"
    greet = bytes([5, len(methods)]) + methods
    authmsg = b""
    if a.auth is not None:
        u, p = a.auth.split(":", 1)
        authmsg = bytes([1, len(u)]) + u.encode() + bytes([len(p)]) + p.encode()
    atyp, ab = addr_bytes(a.dhost, a.atyp)
    req = bytes([5, a.cmd, 0, atyp]) + ab + struct.pack("!H", a.dport)
    payload = os.urandom(a.echo) if (a.echo and a.mode == "pipelined") else b""

    if a.mode == "pipelined":
        s.sendall(greet + authmsg + req + payload)
    else:
        write_parts(s, [greet], a.mode)
    m = c.read_exact(2, "method selection")
    if m[0] != 5:
        die(f"method selection version {m[0]} ({m.hex()})")
    if a.expect_method is not None:
        want = int(a.expect_method, 16)
        if m[1] != want:
            die(f"server chose method {m[1]:#04x}, expected {want:#04x}")
        if want == 0xFF:
            c.expect_close("after 'no acceptable method'")
            print("no acceptable method (0xff), then closed: ok")
            return 0
    if m[1] == 0xFF:
        die("server accepted none of the offered methods (0xff)")
    if m[1] == 2:
        if a.auth is None:
            die("server asked for username/password we did not offer")
        if a.mode != "pipelined":
            write_parts(s, [authmsg], a.mode)
        r = c.read_exact(2, "auth status")
        if a.expect_auth_fail:
            if r[1] == 0:
                die("auth succeeded, expected a failure")
            c.expect_close("after the auth failure")
            print(f"auth failed (status {r[1]}), then closed: ok")
            return 0
        if r[1] != 0:
            die(f"auth failed (status {r[1]}), expected success")
    elif a.expect_auth_fail:
        die(f"server chose method {m[1]:#04x}, expected username/password (to fail)")
    if a.mode != "pipelined":
        write_parts(s, [req], a.mode)
    rep, bnd_a, bnd_p = read_s5_reply(c, "CONNECT reply")
    print(f"reply {rep:#04x} bnd {bnd_a}:{bnd_p} after {a.max_time - c.left():.3f}s")
    if rep != a.expect_rep:
        die(f"reply code {rep:#04x}, expected {a.expect_rep:#04x}")
    if rep != 0:
        c.expect_close(f"after reply {rep:#04x}")
        print("closed after the refusal: ok")
        return 0
    if payload:
        # pipelined data was sent before the reply: it must come back after PEER.
        if a.peer:
            line = c.read_line("PEER line").decode()
            print(f"destination: {line}")
        got = c.read_exact(len(payload), "echo of the pipelined payload")
        if got != payload:
            die("pipelined payload echoed wrong")
        print(f"pipelined payload of {len(payload)} bytes echoed: ok")
        return 0
    check_peer_and_echo(c, a, (bnd_a, bnd_p))
    c.close()
    return 0


# --- SOCKS4 ---

def cmd_s4(a):
    deadline = time.monotonic() + a.max_time
    s = connect(a.phost, a.pport, a.max_time)
    show_local(s)
    c = Conn(s, deadline)
    uid = a.user.encode() + b"\0"
    if a.socks4a:
        req = struct.pack("!BBH", 4, 1, a.dport) + b"\0\0\0\x01" + uid + a.dhost.encode() + b"\0"
    else:
        req = struct.pack("!BBH", 4, 1, a.dport) + socket.inet_aton(a.dhost) + uid
    s.sendall(req)
    r = c.read_exact(8, "SOCKS4 reply")
    print(f"reply {r.hex()} after {a.max_time - c.left():.3f}s")
    if r[0] != 0:
        die(f"SOCKS4 reply VN {r[0]}, expected 0")
    if r[1] != a.expect_rep:
        die(f"SOCKS4 reply {r[1]:#04x}, expected {a.expect_rep:#04x}")
    if r[1] != 0x5A:
        c.expect_close("after the SOCKS4 refusal")
        print("closed after the refusal: ok")
        return 0
    check_peer_and_echo(c, a)
    c.close()
    return 0


# --- raw scripts ---

def cmd_script(a):
    s = connect(a.host, a.port, a.timeout)
    c = Conn(s, time.monotonic() + a.timeout)
    for step in a.steps:
        c.deadline = time.monotonic() + a.timeout
        op, _, arg = step.partition(" ")
        if op == "send":
            try:
                s.sendall(bytes.fromhex(arg.replace(" ", "")))
            except OSError as e:
                die(f"step {step!r}: {e}")
        elif op == "sendtext":
            try:
                s.sendall(unescape(arg))
            except OSError as e:
                die(f"step {step!r}: {e}")
        elif op == "sleep":
            time.sleep(float(arg))
        elif op == "expect":
            want = bytes.fromhex(arg.replace(" ", ""))
            got = c.read_exact(len(want), f"step {step!r}")
            if got != want:
                die(f"step {step!r}: got {got.hex()}")
        elif op == "eof":
            c.expect_close(f"step {step!r}")
        elif op == "drain-eof":
            c.expect_close(f"step {step!r}", allow_data=True)
        elif op == "open":
            c.deadline = time.monotonic() + 0.3
            try:
                d = c.recv_some()
                die(f"step {step!r}: got {'a close' if not d else d[:64].hex()}")
            except (TimeoutError, socket.timeout):
                pass
            except ConnectionResetError:
                die(f"step {step!r}: connection reset")
        else:
            print(f"unknown step {step!r}")
            return 2
        print(f"ok: {step}")
    return 0


# --- HTTP ---

def cmd_http(a):
    t0 = time.monotonic()
    s = connect(a.phost, a.pport, a.max_time)
    show_local(s)
    c = Conn(s, t0 + a.max_time)
    for i, part in enumerate(a.send):
        if i and a.gap:
            time.sleep(a.gap)
        if part.startswith("@"):
            with open(part[1:], "rb") as f:
                data = f.read()
        else:
            data = unescape(part)
        try:
            s.sendall(data)
        except OSError as e:
            # the proxy may answer (and close) before taking everything
            print(f"write {i}: {e!r}")
            break
    resp = b""
    closed = False
    while True:
        try:
            d = c.recv_some()
        except (TimeoutError, socket.timeout):
            break
        except ConnectionResetError:
            closed = True
            break
        if not d:
            closed = True
            break
        resp += d
    dt = time.monotonic() - t0
    head, _, body = resp.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if a.show:
        print("\n".join("< " + ln for ln in lines))
    print(f"{len(resp)} bytes, {'closed' if closed else 'still open'} after {dt:.3f}s")
    if not resp:
        die("no response")
    m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
    if not m:
        die(f"not an HTTP response: {resp[:80]!r}")
    if a.status is not None and int(m.group(1)) != a.status:
        die(f"status line {lines[0]!r}, expected {a.status}")
    for rx in a.header:
        if not any(re.search(rx, ln, re.I) for ln in lines[1:]):
            die(f"no header matches /{rx}/ in {lines[1:]}")
    for rx in a.no_header:
        if any(re.search(rx, ln, re.I) for ln in lines[1:]):
            die(f"a header matches /{rx}/ in {lines[1:]}")
    if a.body is not None and not re.search(a.body.encode(), body, re.S):
        die(f"body does not match /{a.body}/: {body[:200]!r}")
    if not closed and not a.may_stay_open:
        die(f"connection still open {a.max_time}s after the response")
    print(f"status {m.group(1)}: ok")
    return 0


# --- hold (slowloris) ---

def cmd_hold(a):
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    data = bytes.fromhex(a.send)
    socks = []
    for i in range(a.n):
        try:
            s = connect(a.phost, a.pport, 5)
            if data:
                s.sendall(data)
            s.setblocking(False)
            socks.append(s)
        except OSError as e:
            die(f"connection {i}: {e!r}")
    t0 = time.monotonic()
    print(f"{len(socks)} connections open, each sent {len(data)} bytes")
    if a.keep:
        time.sleep(a.keep)
        for s in socks:
            s.close()
        return 0
    open_ = {s.fileno(): s for s in socks}
    closed_at = []
    early = 0
    poller = select.poll()
    for fd in open_:
        poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    while open_ and time.monotonic() - t0 < a.max + 1:
        for fd, ev in poller.poll(100):
            s = open_.get(fd)
            if s is None:
                continue
            try:
                d = s.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                d = b""
            if d:
                print(f"unexpected {len(d)} bytes: {d[:32].hex()}")
                continue
            t = time.monotonic() - t0
            closed_at.append(t)
            if t < a.min:
                early += 1
            poller.unregister(fd)
            del open_[fd]
            s.close()
    left = len(open_)
    for s in open_.values():
        s.close()
    if closed_at:
        print(f"{len(closed_at)} closed, first {min(closed_at):.2f}s last {max(closed_at):.2f}s; {left} still open")
    if left:
        die(f"{left} of {a.n} stalled connections still open after {a.max + 1:.1f}s")
    if early:
        die(f"{early} connections closed before {a.min}s")
    late = [t for t in closed_at if t > a.max]
    if late:
        die(f"{len(late)} connections closed after {a.max}s (last {max(late):.2f}s)")
    print("all closed in time: ok")
    return 0


# --- servers ---

def listen(host, port, backlog=128):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    ls = socket.socket(fam, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6 and host == "::":
        ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    ls.bind((host, port))
    ls.listen(backlog)
    return ls


def serve_loop(ls, handler):
    n = 0
    while True:
        c, addr = ls.accept()
        n += 1
        threading.Thread(target=handler, args=(c, addr, n), daemon=True).start()


def peer_handler(c, addr, n):
    try:
        c.settimeout(60)
        host = addr[0]
        if host.startswith("::ffff:"):
            host = host[7:]
        c.sendall(f"PEER {host} {addr[1]}\n".encode())
        while True:
            d = c.recv(65536)
            if not d:
                break
            c.sendall(d)
        c.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    finally:
        c.close()


class OriginState:
    dir = "."
    delay = 0.0
    lock = threading.Lock()


def origin_handler(c, addr, n):
    raw = bytearray()
    c.settimeout(10)

    def more():
        d = c.recv(65536)
        raw.extend(d)
        return d

    summary = {"peer": f"{addr[0]}:{addr[1]}"}
    try:
        while b"\r\n\r\n" not in raw:
            if not more():
                summary["error"] = "closed before the end of the head"
                raise EOFError
        hend = raw.index(b"\r\n\r\n") + 4
        head = raw[:hend].decode("latin-1")
        summary["head"] = head
        hl = head.split("\r\n")
        hdrs = {}
        for ln in hl[1:]:
            if ":" in ln:
                k, v = ln.split(":", 1)
                hdrs.setdefault(k.strip().lower(), []).append(v.strip())
        if "100-continue" in ",".join(hdrs.get("expect", [])).lower():
            c.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            summary["sent_100"] = True
        body = bytearray()
        pos = hend
        te = ",".join(hdrs.get("transfer-encoding", [])).lower()
        if "chunked" in te:
            summary["framing"] = "chunked"
            while True:
                while b"\r\n" not in raw[pos:]:
                    if not more():
                        raise EOFError("closed inside a chunk size")
                le = raw.index(b"\r\n", pos)
                size = int(raw[pos:le].split(b";")[0].strip(), 16)
                pos = le + 2
                if size == 0:
                    # trailers until an empty line
                    while True:
                        while b"\r\n" not in raw[pos:]:
                            if not more():
                                raise EOFError("closed inside the trailers")
                        le = raw.index(b"\r\n", pos)
                        line = raw[pos:le]
                        pos = le + 2
                        if not line:
                            break
                    break
                while len(raw) < pos + size + 2:
                    if not more():
                        raise EOFError("closed inside a chunk")
                body += raw[pos:pos + size]
                pos += size + 2
        elif "content-length" in hdrs:
            summary["framing"] = "length"
            cl = int(hdrs["content-length"][0])
            while len(raw) < pos + cl:
                if not more():
                    raise EOFError("closed inside the body")
            body += raw[pos:pos + cl]
            pos += cl
        else:
            summary["framing"] = "none"
        summary["body_len"] = len(body)
        summary["body_sha256"] = hashlib.sha256(body).hexdigest()
        if OriginState.delay:
            time.sleep(OriginState.delay)
        msg = f"len {len(body)} sha256 {summary['body_sha256']}\n".encode()
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
                  + str(len(msg)).encode() + b"\r\nConnection: close\r\n\r\n" + msg)
        # Everything else the connection carries, until EOF or 1.5 s of quiet.
        c.settimeout(1.5)
        try:
            while more():
                pass
        except OSError:
            pass
        summary["extra"] = bytes(raw[pos:]).hex()
    except (EOFError, OSError, ValueError) as e:
        summary.setdefault("error", repr(e))
    finally:
        try:
            c.close()
        except OSError:
            pass
        with OriginState.lock:
            with open(os.path.join(OriginState.dir, f"req-{n}.raw"), "wb") as f:
                f.write(raw)
            tmp = os.path.join(OriginState.dir, f".req-{n}.json")
            with open(tmp, "w") as f:
                json.dump(summary, f)
            os.rename(tmp, os.path.join(OriginState.dir, f"req-{n}.json"))


def serve_blackhole(a):
    ls = listen(a.host, a.port, backlog=0)
    fillers = []
    # Fill the accept queue (backlog 0 holds one or two) until a connect hangs.
    for _ in range(16):
        s = socket.socket(socket.AF_INET6 if ":" in a.host else socket.AF_INET)
        s.setblocking(False)
        try:
            s.connect((a.host, a.port))
        except BlockingIOError:
            pass
        fillers.append(s)
        _, w, _ = select.select([], [s], [], 0.3)
        if not w:
            break
    print(f"blackhole on {a.port}: {len(fillers)} connections fill the queue", flush=True)
    while True:
        time.sleep(3600)


def dns_name(msg, off):
    labels = []
    while True:
        n = msg[off]
        if n == 0:
            return ".".join(labels), off + 1
        if n & 0xC0:
            raise ValueError("compressed name in a query")
        labels.append(msg[off + 1:off + 1 + n].decode("latin-1"))
        off += 1 + n


def serve_dns(a):
    table = {}
    for m in a.map:
        name, ip = m.split("=", 1)
        table.setdefault(name.lower().rstrip("."), []).append(ipaddress.ip_address(ip))
    fam = socket.AF_INET6 if ":" in a.host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind((a.host, a.port))
    # a TCP listener on the same port, so "ready" can be checked like the others
    ls = listen(a.host, a.port)
    threading.Thread(target=lambda: [c.close() for c, _ in iter(ls.accept, None)], daemon=True).start()
    while True:
        msg, addr = s.recvfrom(4096)
        try:
            qid, flags, qd = struct.unpack("!HHH", msg[:6])
            name, off = dns_name(msg, 12)
            qtype, qclass = struct.unpack("!HH", msg[off:off + 4])
            question = msg[12:off + 4]
        except (ValueError, struct.error, IndexError):
            continue
        key = name.lower().rstrip(".")
        answers = []
        rcode = 0
        if key not in table:
            rcode = 3
        else:
            for ip in table[key]:
                if qtype == 1 and ip.version == 4:
                    answers.append(struct.pack("!HHHIH", 0xC00C, 1, 1, 30, 4) + ip.packed)
                elif qtype == 28 and ip.version == 6:
                    answers.append(struct.pack("!HHHIH", 0xC00C, 28, 1, 30, 16) + ip.packed)
        rflags = 0x8000 | (flags & 0x0100) | 0x0400 | 0x0080 | rcode
        resp = struct.pack("!HHHHHH", qid, rflags, 1, len(answers), 0, 0) + question + b"".join(answers)
        print(f"dns: {name} type {qtype} -> rcode {rcode}, {len(answers)} answers", flush=True)
        s.sendto(resp, addr)


def cmd_serve(a):
    if a.kind == "peer":
        serve_loop(listen(a.host, a.port), peer_handler)
    elif a.kind == "origin":
        OriginState.dir = a.dir
        OriginState.delay = a.delay
        os.makedirs(a.dir, exist_ok=True)
        serve_loop(listen(a.host, a.port), origin_handler)
    elif a.kind == "blackhole":
        serve_blackhole(a)
    elif a.kind == "dns":
        serve_dns(a)
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd_name", required=True)

    p = sub.add_parser("s5")
    p.add_argument("phost")
    p.add_argument("pport", type=int)
    p.add_argument("dhost")
    p.add_argument("dport", type=int)
    p.add_argument("--atyp", default="auto")
    p.add_argument("--auth")
    p.add_argument("--offer")
    p.add_argument("--cmd", type=int, default=1)
    p.add_argument("--mode", default="normal", choices=["normal", "bytewise", "pipelined"])
    p.add_argument("--expect-method")
    p.add_argument("--expect-auth-fail", action="store_true")
    p.add_argument("--expect-rep", type=lambda x: int(x, 0), default=0)
    p.add_argument("--peer", action="store_true")
    p.add_argument("--check-bnd", action="store_true")
    p.add_argument("--echo", type=int, default=0)
    p.add_argument("--max-time", type=float, default=10)
    p.set_defaults(fn=cmd_s5)

    p = sub.add_parser("s4")
    p.add_argument("phost")
    p.add_argument("pport", type=int)
    p.add_argument("dhost")
    p.add_argument("dport", type=int)
    p.add_argument("--4a", dest="socks4a", action="store_true")
    p.add_argument("--user", default="")
    p.add_argument("--expect-rep", type=lambda x: int(x, 0), default=0x5A)
    p.add_argument("--peer", action="store_true")
    p.add_argument("--echo", type=int, default=0)
    p.add_argument("--max-time", type=float, default=10)
    p.set_defaults(fn=cmd_s4)

    p = sub.add_parser("script")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("steps", nargs="+")
    p.add_argument("--timeout", type=float, default=5)
    p.set_defaults(fn=cmd_script)

    p = sub.add_parser("http")
    p.add_argument("phost")
    p.add_argument("pport", type=int)
    p.add_argument("--send", action="append", required=True)
    p.add_argument("--gap", type=float, default=0)
    p.add_argument("--status", type=int)
    p.add_argument("--header", action="append", default=[])
    p.add_argument("--no-header", action="append", default=[])
    p.add_argument("--body")
    p.add_argument("--max-time", type=float, default=10)
    p.add_argument("--may-stay-open", action="store_true")
    p.add_argument("--show", action="store_true")
    p.set_defaults(fn=cmd_http)

    p = sub.add_parser("hold")
    p.add_argument("phost")
    p.add_argument("pport", type=int)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--send", default="")
    p.add_argument("--min", type=float, default=0)
    p.add_argument("--max", type=float, default=10)
    p.add_argument("--keep", type=float, default=0)
    p.set_defaults(fn=cmd_hold)

    p = sub.add_parser("serve")
    p.add_argument("kind", choices=["peer", "origin", "blackhole", "dns"])
    p.add_argument("port", type=int)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--dir", default=".")
    p.add_argument("--delay", type=float, default=0)
    p.add_argument("--map", action="append", default=[])
    p.set_defaults(fn=cmd_serve)

    a = ap.parse_args()
    try:
        return a.fn(a)
    except (ConnectionRefusedError, socket.gaierror) as e:
        die(f"{e!r}")


if __name__ == "__main__":
    sys.exit(main())
