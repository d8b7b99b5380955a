#!/usr/bin/env python3
"""An HTTP/1.1 keep-alive origin for the HTTP proxy tests (http.server based).

  http_origin.py --port P [--host H] [--dir D] [--idle-close S]

Every accepted TCP connection is counted: D/conns holds the number so far
(written at each accept). Paths (any method unless said):
  /id             "origin PORT conn K req J\\n" (K: which connection, J: its Jth request)
  /blob?n=N       N bytes (a repeating pattern), Content-Length; HEAD: the head only
  /chunked?n=N    N bytes with Transfer-Encoding: chunked (several chunks, a trailer)
  /echo           POST/PUT: reads the body (Content-Length or chunked), answers
                  "len N sha256 X\\n"; Expect: 100-continue is answered with 100 first
  /status/C       status C (204, 304, ...) with no body
  /close?n=N      N bytes with no Content-Length and no chunking, then closes
  /slow?s=S       waits S seconds, then like /id
"""
import argparse
import hashlib
import http.server
import os
import socketserver
import threading
import time
import urllib.parse


class State:
    lock = threading.Lock()
    conns = 0
    dir = None
    port = 0


def pattern(n):
    unit = bytes(range(256))
    return (unit * (n // 256 + 1))[:n]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        with State.lock:
            State.conns += 1
            self.conn_no = State.conns
            if State.dir:
                with open(os.path.join(State.dir, "conns"), "w") as f:
                    f.write(f"{State.conns}\n")
        self.req_no = 0

    def log_message(self, fmt, *args):
        print("origin %d conn %d: %s" % (State.port, self.conn_no, fmt % args), flush=True)

    def read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            body = b""
            while True:
                line = self.rfile.readline(4096)
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline(4096) not in (b"\r\n", b"\n", b""):
                        pass
                    return body
                body += self.rfile.read(size)
                self.rfile.readline(4096)
        n = int(self.headers.get("Content-Length", "0") or 0)
        return self.rfile.read(n) if n else b""

    def reply(self, status, body, headers=(), length=True):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        self.req_no += 1
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query)
        n = int(q.get("n", ["0"])[0])
        body = self.read_body() if self.command in ("POST", "PUT") else b""
        if u.path == "/id":
            self.reply(200, f"origin {State.port} conn {self.conn_no} req {self.req_no}\n".encode())
        elif u.path == "/slow":
            time.sleep(float(q.get("s", ["1"])[0]))
            self.reply(200, f"origin {State.port} conn {self.conn_no} req {self.req_no}\n".encode())
        elif u.path == "/blob":
            self.reply(200, pattern(n), [("Content-Type", "application/octet-stream")])
        elif u.path == "/echo":
            msg = f"len {len(body)} sha256 {hashlib.sha256(body).hexdigest()}\n".encode()
            self.reply(200, msg)
        elif u.path.startswith("/status/"):
            code = int(u.path.split("/")[2])
            self.send_response(code)
            if code == 304:
                self.send_header("ETag", '"x"')
            self.end_headers()
        elif u.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Trailer", "X-Sum")
            self.end_headers()
            data = pattern(n)
            if self.command != "HEAD":
                for i in range(0, len(data), 1000):
                    part = data[i:i + 1000]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.write(b"0\r\nX-Sum: " + hashlib.sha256(data).hexdigest().encode()
                                 + b"\r\n\r\n")
        elif u.path == "/close":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(pattern(n))
            self.close_connection = True
        else:
            self.reply(404, b"no such path\n")

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = do_OPTIONS = handle_any


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir")
    ap.add_argument("--idle-close", type=float, help="close keep-alive connections idle this long")
    a = ap.parse_args()
    if a.idle_close:
        Handler.timeout = a.idle_close
    State.dir = a.dir
    State.port = a.port
    if a.dir:
        os.makedirs(a.dir, exist_ok=True)
        with open(os.path.join(a.dir, "conns"), "w") as f:
            f.write("0\n")
    Server((a.host, a.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
