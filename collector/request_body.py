"""Reading a request body within a limit (the batch ingest and the Alertmanager receiver read
their bodies by hand, so the size is checked before anything is parsed)."""

from __future__ import annotations

from fastapi import Request
from starlette.requests import ClientDisconnect

from collector.errors import BodyTooLarge, ClientDisconnected


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing (413) as soon as it passes ``limit`` bytes."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise BodyTooLarge(f"request body is {length} bytes, over the limit of {limit} bytes")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(f"request body is over the limit of {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise ClientDisconnected(
            f"client disconnected after {size} of {length or 'unknown'} body bytes"
        ) from None
    return b"".join(chunks)
