"""An overall deadline per delivery attempt: connect + send + the whole answer, across every
request the attempt makes.

Per-read timeouts alone do not bound an attempt: a ticket system that answers 200 and then
one byte every 2 s never trips a 10 s read timeout and holds the worker for as long as it
likes. :func:`deadline` sets a monotonic deadline for the current thread (context); then

- HTTP (:class:`DeadlineTransport`, used by :class:`~collector.connectors.http.JsonApi`):
  every socket operation (connect, TLS handshake, each write and each read, headers and
  body alike) gets at most the time left, and none starts after the deadline;
- SMTP (:func:`socket_watchdog`): a timer shuts the socket down at the deadline, which wakes
  a blocked read; the connect itself gets at most the time left.

Hitting the deadline is a transient failure (the outbox retries). Deadlines nest: an inner one
never extends an outer one.
"""

from __future__ import annotations

import contextlib
import contextvars
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, overload

import httpcore
import httpx

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "upkeep_connector_deadline", default=None
)


@dataclass
class Deadline:
    """The deadline of the attempt in progress (monotonic seconds)."""

    seconds: float
    at: float

    @property
    def remaining(self) -> float:
        return self.at - time.monotonic()

    @property
    def expired(self) -> bool:
        return self.remaining <= 0


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[Deadline]:
    """Run the block under a deadline ``seconds`` from now (or the outer one, if sooner)."""
    at = time.monotonic() + seconds
    outer = _deadline.get()
    if outer is not None:
        at = min(at, outer)
    token = _deadline.set(at)
    try:
        yield Deadline(seconds, at)
    finally:
        _deadline.reset(token)


def remaining() -> float | None:
    """Seconds left under the current deadline (None: no deadline)."""
    at = _deadline.get()
    return None if at is None else at - time.monotonic()


@overload
def clamp(timeout: float) -> float: ...
@overload
def clamp(timeout: None) -> float | None: ...


def clamp(timeout: float | None) -> float | None:
    """``timeout`` shortened to the time left (at least a hair, so the call fails fast)."""
    left = remaining()
    if left is None:
        return timeout
    left = max(left, 0.001)
    return left if timeout is None else min(timeout, left)


# --------------------------------------------------------------------------- HTTP


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        left = remaining()
        if left is not None and left <= 0:
            raise httpcore.ReadTimeout("the delivery attempt's deadline passed")
        return self._inner.read(max_bytes, clamp(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        left = remaining()
        if left is not None and left <= 0:
            raise httpcore.WriteTimeout("the delivery attempt's deadline passed")
        self._inner.write(buffer, clamp(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, clamp(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        left = remaining()
        if left is not None and left <= 0:
            raise httpcore.ConnectTimeout("the delivery attempt's deadline passed")
        return _DeadlineStream(
            self._inner.connect_tcp(host, port, clamp(timeout), local_address, socket_options)
        )

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(
            self._inner.connect_unix_socket(path, clamp(timeout), socket_options)
        )

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class DeadlineTransport(httpx.HTTPTransport):
    """httpx's own transport whose sockets honour :func:`deadline`.

    httpx has no total timeout and no public way to pass httpcore a network backend, so the
    pool's backend is wrapped after construction; ``tests/collector/connectors/test_deadline.py``
    proves it works with the pinned httpx/httpcore (a trickling server is cut at the deadline).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        pool = self._pool
        backend = getattr(pool, "_network_backend", None)
        if backend is None:  # pragma: no cover - a changed httpcore: fail loudly, not silently
            raise RuntimeError("httpcore's ConnectionPool has no _network_backend to wrap")
        pool._network_backend = _DeadlineBackend(backend)


# --------------------------------------------------------------------------- SMTP and raw sockets


@contextlib.contextmanager
def socket_watchdog(get_socket: Callable[[], socket.socket | None]) -> Iterator[None]:
    """Shut down ``get_socket()`` when the current deadline passes (wakes a blocked read).

    Without a deadline this does nothing."""
    left = remaining()
    if left is None:
        yield
        return

    def cut() -> None:
        sock = get_socket()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(max(left, 0.0), cut)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
