"""Small threaded HTTP/1.1 servers on 127.0.0.1 with the connection-level faults the fakes need.

Built on the standard library (http.server) so a handler can do what a real network does
to a client: answer late, never answer, close the connection without a response, reset it
(RST via SO_LINGER 0), or stop listening altogether (connection refused) and come back on
the same port.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOOPBACK = "127.0.0.1"


class AbortConnection(Exception):
    """Raised by a handler to drop the connection without an HTTP answer.

    mode: 'reset' (RST), 'close' (FIN, no bytes), or 'hang' (keep it open, say nothing, until
    `until()` returns False or `max_seconds` pass, then close).
    """

    def __init__(self, mode: str = "reset", until=None, max_seconds: float = 60.0):
        super().__init__(mode)
        self.mode = mode
        self.until = until
        self.max_seconds = max_seconds


class Handler(BaseHTTPRequestHandler):
    """Keep-alive handler base: quiet, robust against clients that vanish, abortable."""

    protocol_version = "HTTP/1.1"
    server_version = "clock-harness"
    sys_version = ""
    timeout = 120  # idle keep-alive connections are closed after this many seconds

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format, *args):  # noqa: A002 - signature fixed by the base class
        pass

    def handle(self):
        try:
            super().handle()
        except AbortConnection as abort:
            self._abort(abort)
        except (ConnectionError, TimeoutError, OSError):
            pass

    def _abort(self, abort: AbortConnection) -> None:
        sock = self.connection
        if abort.mode == "hang":
            deadline = time.monotonic() + abort.max_seconds
            while time.monotonic() < deadline and not getattr(self.server, "stopping", False):
                if abort.until is not None and not abort.until():
                    break
                time.sleep(0.05)
            abort = AbortConnection("close")
        try:
            if abort.mode == "reset":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.rfile.close()
                sock.close()  # last reference: the kernel sends RST instead of FIN
            else:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.close_connection = True

    # -- request/response helpers ----------------------------------------------------------
    def read_body(self) -> bytes:
        """The request body (Content-Length or chunked); empty when there is none."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send(self, status: int, body: bytes | str = b"", content_type: str = "text/plain",
             headers: dict | None = None) -> None:
        """Send a complete answer with Content-Length (keeps the connection reusable)."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: int, obj, headers: dict | None = None, content_type="application/json") -> None:
        self.send(status, json.dumps(obj, indent=None, sort_keys=False), content_type, headers)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 1024  # a fleet of agents connects at once
    stopping = False


class HTTPService:
    """One listening server (thread) bound to 127.0.0.1; can stop listening and come back."""

    def __init__(self, handler_cls: type[Handler], owner, port: int = 0, name: str = "http"):
        self.handler_cls = handler_cls
        self.owner = owner
        self.port = port
        self.name = name
        self.poll_interval = 0.05  # how often the accept loop looks for a shutdown request
        self._srv: _Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def listening(self) -> bool:
        return self._srv is not None

    def start(self) -> None:
        with self._lock:
            if self._srv is not None:
                return
            last = None
            for _ in range(50):  # the port may linger briefly after a refuse/restore cycle
                try:
                    srv = _Server((LOOPBACK, self.port), self.handler_cls)
                    break
                except OSError as e:
                    last = e
                    time.sleep(0.05)
            else:
                raise last
            srv.owner = self.owner
            self.port = srv.server_address[1]
            self._srv = srv
            self._thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": self.poll_interval},
                                            name=f"{self.name}-{self.port}", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._lock:
            srv, thread = self._srv, self._thread
            self._srv, self._thread = None, None
        if srv is not None:
            srv.stopping = True
            srv.shutdown()
            srv.server_close()
        if thread is not None:
            thread.join(timeout=5)
