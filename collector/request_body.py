"""Reading a request body within a limit (the batch ingest and the Alertmanager receiver read
their bodies by hand, so the size is checked before anything is parsed)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Request
from starlette.requests import ClientDisconnect

from collector.errors import BodyTooLarge, ClientDisconnected


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing (413) as soon as it passes ``limit`` bytes."""
    return await read_chunks(request.stream(), request.headers.get("content-length", ""), limit)


async def read_chunks(chunks: AsyncIterator[bytes], length: str, limit: int) -> bytes:
    """A body from its chunks, refusing (413) as soon as it passes ``limit`` bytes."""
    if length.isdigit() and int(length) > limit:
        raise BodyTooLarge(f"request body is {length} bytes, over the limit of {limit} bytes")
    chunks_read: list[bytes] = []
    size = 0
    try:
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(f"request body is over the limit of {limit} bytes")
            chunks_read.append(chunk)
    except ClientDisconnect:
        raise ClientDisconnected(
            f"client disconnected after {size} of {length or 'unknown'} body bytes"
        ) from None
    return chunks_read[0] if len(chunks_read) == 1 else b"".join(chunks_read)
