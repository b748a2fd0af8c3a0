"""A server that answers, but slowly: one byte every ``interval`` seconds (127.0.0.1, free port).

Per-read timeouts never fire against it (each read gets a byte in time), so it proves that a
client's *overall* deadline holds. Modes:

- ``body``: reads the request, sends a complete ``200`` head with ``Content-Length``, then
  trickles the body;
- ``head``: reads the request, then trickles the status line and headers themselves;
- ``smtp``: trickles the SMTP greeting (``220 …``), as a mail server that hangs would.

Every connection gets its own thread; :attr:`connections` counts them and
:attr:`requests` keeps the first line of each HTTP request.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Literal

Mode = Literal["body", "head", "smtp"]


class SlowServer:
    """See the module docstring. ``with SlowServer("body", interval=2.0) as server: server.url``."""

    def __init__(self, mode: Mode = "body", *, interval: float = 2.0, length: int = 10_000) -> None:
        self.mode = mode
        self.interval = interval
        self.length = length
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.connections = 0
        self.requests: list[str] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def __enter__(self) -> SlowServer:
        thread = threading.Thread(target=self._accept, name="slow-server", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        for thread in self._threads:
            thread.join(5)

    def _accept(self) -> None:
        self._listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _read_request(self, conn: socket.socket) -> None:
        data = b""
        conn.settimeout(10)
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin1").split("\r\n")
        with self._lock:
            self.requests.append(lines[0])
        length = next(
            (
                int(v)
                for k, _, v in (ln.partition(":") for ln in lines[1:])
                if k.lower() == "content-length"
            ),
            0,
        )
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                return
            body += chunk

    def _trickle(self, conn: socket.socket, data: bytes) -> None:
        for byte in data:
            if self._stop.wait(self.interval):
                return
            conn.sendall(bytes([byte]))

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            if self.mode == "smtp":
                self._trickle(conn, b"220 slow.example ESMTP\r\n")
                return
            self._read_request(conn)
            head = (
                f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                f"Content-Length: {self.length}\r\n\r\n"
            ).encode()
            if self.mode == "head":
                self._trickle(conn, head)
            else:
                conn.sendall(head)
                self._trickle(conn, b" " * self.length)
            # keep the connection open until the client goes away or the server stops
            while not self._stop.wait(0.1):
                time.sleep(0)
