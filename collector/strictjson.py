"""Strict JSON at the HTTP boundary: NaN and ±Infinity are refused (422 naming the field).

JSON has no NaN or Infinity, but Python's parser (which FastAPI uses for request bodies)
accepts ``NaN``, ``Infinity`` and ``-Infinity`` and turns ``1e999`` into ``inf``. Stored,
such a value is invalid JSON (PostgreSQL refuses it: a 500; SQLite keeps it and every
reader breaks later). :class:`StrictJsonMiddleware` checks every JSON request body of the
API before FastAPI parses it; the batch and Alertmanager endpoints read and validate their
bodies themselves, within their size limits (``agent.wire`` refuses non-finite values).
The store serializes JSON with ``allow_nan=False`` as well (``collector.store``), so nothing
non-finite can be written even from inside.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Collection
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent.wire import WireError

log = logging.getLogger(__name__)

_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: What a non-finite number can look like in JSON text (an exponent may overflow to inf).
_MAYBE = re.compile(rb"NaN|Infinity|\d[eE]")


class _NonFinite:
    """Stands in for a non-finite number while a body is parsed, so its place can be named."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _float(text: str) -> Any:
    value = float(text)
    return value if math.isfinite(value) else _NonFinite(text)


def non_finite_field(body: bytes) -> tuple[str, str] | None:
    """``(field, literal)`` of the first NaN/Infinity in a JSON ``body``; None if there is none
    (or the body is not JSON at all: the endpoint's own parser reports that)."""
    if not _MAYBE.search(body):
        return None  # the common case: no possible non-finite literal, no second parse
    try:
        value = json.loads(body, parse_constant=_NonFinite, parse_float=_float)
    except (ValueError, RecursionError):
        return None
    return _find(value, "body")


def _find(value: Any, path: str) -> tuple[str, str] | None:
    if isinstance(value, _NonFinite):
        return path, value.text
    if isinstance(value, dict):
        for key, item in value.items():
            found = _find(item, f"{path}.{key}")
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = _find(item, f"{path}[{i}]")
            if found is not None:
                return found
    return None


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return True  # FastAPI parses a body without a Content-Type as JSON


class StrictJsonMiddleware:
    """Answers 422 (``agent.wire.WireError``, code ``invalid_request``) to a JSON body with a
    non-finite number. Paths in ``skip`` (they validate their bodies themselves) and bodies
    that are not JSON pass untouched. ``max_bytes`` bounds the buffered body (413 beyond).
    ``on_disconnect`` is called when the client goes away mid-body."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        skip: Collection[str],
        max_bytes: int,
        on_disconnect: Callable[[Scope, int], None] | None = None,
    ) -> None:
        self.app = app
        self.skip = frozenset(skip)
        self.max_bytes = max_bytes
        self.on_disconnect = on_disconnect

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in _METHODS
            or scope["path"] in self.skip
            or not _is_json(scope)
        ):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                if self.on_disconnect is not None:
                    self.on_disconnect(scope, size)
                return  # nobody to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _answer(send, 413, "body_too_large", f"body over {self.max_bytes} bytes", [])
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        found = non_finite_field(body)
        if found is not None:
            where, literal = found
            msg = f"{literal} is not a JSON number; send a finite number or null"
            await _answer(
                send,
                422,
                "invalid_request",
                f"{where}: {msg}",
                [{"loc": where, "msg": msg, "type": "finite_number"}],
            )
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _answer(
    send: Send, status: int, code: str, detail: str, fields: list[dict[str, Any]]
) -> None:
    body = json.dumps(
        WireError(error=code, detail=detail, fields=fields).model_dump(), allow_nan=False
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
