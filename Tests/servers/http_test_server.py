#!/usr/bin/env python3
"""A small HTTP/1.1 server for the transport tests (loopback only).

Prints `READY <port>` once listening. Routes:
  /echo            JSON: method, path, query, headers, body length and sha256, client port (keep-alive check),
                   the decompressed body when Content-Encoding is gzip
  /bytes?n=N       N deterministic bytes (i % 251)
  /slow?ms=N       answers after N milliseconds
  /status?code=N   answers with that status and a small body
  /drop?n=N&of=M   announces M bytes, sends N, then closes the connection
With --tls CERT KEY the same routes are served over HTTPS.
"""
import gzip
import hashlib
import json
import signal
import socketserver
import ssl
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status, body, content_type="application/octet-stream", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _route(self):
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        body = self._body()
        if url.path == "/echo" or url.path.startswith("/echo/"):
            decoded = None
            if self.headers.get("Content-Encoding") == "gzip":
                decoded = gzip.decompress(body).decode("utf-8", "replace")
            answer = {
                "method": self.command,
                "path": url.path,
                "raw_path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body_length": len(body),
                "body_sha256": hashlib.sha256(body).hexdigest(),
                "client_port": self.client_address[1],
                "decoded": decoded,
            }
            self._send(200, json.dumps(answer).encode(), "application/json")
        elif url.path == "/bytes":
            n = int(query.get("n", "0"))
            self._send(200, bytes(i % 251 for i in range(n)))
        elif url.path == "/slow":
            time.sleep(int(query.get("ms", "1000")) / 1000)
            self._send(200, b"late")
        elif url.path == "/status":
            code = int(query.get("code", "500"))
            self._send(code, b"status body", "text/plain")
        elif url.path == "/drop":
            n, of = int(query.get("n", "10")), int(query.get("of", "100"))
            self.send_response(200)
            self.send_header("Content-Length", str(of))
            self.end_headers()
            self.wfile.write(bytes(i % 251 for i in range(n)))
            self.wfile.flush()
            self.close_connection = True
        else:
            self._send(404, b"no route", "text/plain")

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _route


class Server(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    # A parent may start us with signals blocked (Foundation's Process passes its thread's mask on).
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    server = Server(("127.0.0.1", 0), Handler)
    if len(sys.argv) == 4 and sys.argv[1] == "--tls":
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(sys.argv[2], sys.argv[3])
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print(f"READY {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
