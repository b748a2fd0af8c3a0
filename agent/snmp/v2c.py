"""SNMPv1/v2c messages on the wire: BER encoding of requests, decoding of responses, and
one shared UDP socket that matches answers to requests, with timeouts and retries.

Why not pysnmp for these: with community-based SNMP a poll is a few GETs/GETBULKs whose
answers are plain var-bind lists, but pysnmp decodes every answer with pyasn1's generic
BER decoder (an object per tag, per var-bind) and routes it through the message- and
security-processing layers built for SNMPv3 — three quarters of a printer poll's CPU
(benchmarks/README.md, "SNMP at site scale"). This module reads exactly the PDU types
RFC 1157 / RFC 3416 define for a response and hands back plain Python values
(:mod:`agent.snmp.reading`). SNMPv3 (USM authentication and privacy) stays with pysnmp.

A datagram that does not decode, or answers no outstanding request from the address it
was sent to, is dropped, as pysnmp does: the request then times out and is retried.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Sequence
from typing import Any

Oid = tuple[int, ...]

#: endOfMibView, as :func:`agent.snmp.engine.plain` returns it.
END = object()

GET, GETNEXT, RESPONSE, GETBULK = 0xA0, 0xA1, 0xA2, 0xA5
_REQUEST_KINDS = {"get": GET, "next": GETNEXT, "bulk": GETBULK}


class DecodeError(ValueError):
    """Not a well-formed SNMP response."""


# -- encoding --------------------------------------------------------------------------
def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes((tag,)) + _length(len(body)) + body


def _integer(value: int) -> bytes:
    return _tlv(0x02, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True))


_OID_CACHE: dict[Oid, bytes] = {}


def encode_oid(oid: Oid) -> bytes:
    """An OID as a BER TLV; profile OIDs are encoded once."""
    cached = _OID_CACHE.get(oid)
    if cached is not None:
        return cached
    if len(oid) < 2:
        raise ValueError(f"OID too short: {oid}")
    body = bytearray((oid[0] * 40 + oid[1],))
    for sub in oid[2:]:
        if sub < 0x80:
            body.append(sub)
            continue
        chunk = []
        while sub:
            chunk.append(sub & 0x7F)
            sub >>= 7
        body.extend(b | 0x80 for b in reversed(chunk[1:]))
        body.append(chunk[0])
    encoded = _tlv(0x06, bytes(body))
    if len(_OID_CACHE) < 10_000:  # (continuation OIDs of walks are many; keep it bounded)
        _OID_CACHE[oid] = encoded
    return encoded


_NULL = b"\x05\x00"


def encode_request(
    version: int,
    community: bytes,
    kind: str,
    request_id: int,
    oids: Sequence[Oid],
    non_repeaters: int = 0,
    repetitions: int = 0,
) -> bytes:
    """A GetRequest / GetNextRequest / GetBulkRequest message with NULL values."""
    varbinds = b"".join(_tlv(0x30, encode_oid(oid) + _NULL) for oid in oids)
    if kind == "bulk":
        second, third = non_repeaters, repetitions
    else:
        second = third = 0
    pdu = _tlv(
        _REQUEST_KINDS[kind],
        _integer(request_id) + _integer(second) + _integer(third) + _tlv(0x30, varbinds),
    )
    return _tlv(0x30, _integer(version) + _tlv(0x04, community) + pdu)


# -- decoding --------------------------------------------------------------------------
def _header(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of value, end of value) of the TLV at ``pos``."""
    try:
        tag = data[pos]
        first = data[pos + 1]
    except IndexError:
        raise DecodeError("truncated") from None
    pos += 2
    if first & 0x80:
        count = first & 0x7F
        if not count or count > 4:
            raise DecodeError("bad length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    else:
        length = first
    end = pos + length
    if end > len(data):
        raise DecodeError("truncated")
    return tag, pos, end


def decode_oid(body: bytes) -> Oid:
    if not body:
        raise DecodeError("empty OID")
    out: list[int] = []
    value = 0
    for byte in body:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            out.append(value)
            value = 0
    if body[-1] & 0x80:
        raise DecodeError("bad OID")
    first = out[0]
    head = (first // 40, first % 40) if first < 80 else (2, first - 80)
    return (*head, *out[1:])


def _signed(body: bytes) -> int:
    if not body:
        raise DecodeError("empty INTEGER")
    return int.from_bytes(body, "big", signed=True)


def _unsigned(body: bytes) -> int:
    if not body:
        raise DecodeError("empty unsigned")
    return int.from_bytes(body, "big")


def _value(tag: int, body: bytes) -> Any:
    if tag == 0x02:  # INTEGER
        return _signed(body)
    if tag == 0x04 or tag == 0x44:  # OCTET STRING (and BITS), Opaque
        return bytes(body)
    if tag in (0x41, 0x42, 0x43, 0x46):  # Counter32, Gauge32 / Unsigned32, TimeTicks, Counter64
        return _unsigned(body)
    if tag == 0x06:
        return ".".join(map(str, decode_oid(body)))
    if tag == 0x40:  # IpAddress
        if len(body) != 4:
            raise DecodeError("bad IpAddress")
        return ".".join(map(str, body))
    if tag == 0x82:  # endOfMibView
        return END
    if tag in (0x80, 0x81):  # noSuchObject, noSuchInstance
        return None
    if tag == 0x05:  # NULL (pyasn1's Null is an empty OCTET STRING; the same here)
        return b""
    raise DecodeError(f"unknown value type 0x{tag:02x}")


def decode_response(data: bytes) -> tuple[int, int, bytes, int, int, int, list[tuple[Oid, Any]]]:
    """(version, pdu tag, community, request id, error status, error index, var-binds)."""
    tag, pos, end = _header(data, 0)
    if tag != 0x30:
        raise DecodeError("not a SEQUENCE")
    tag, start, pos = _header(data, pos)
    if tag != 0x02:
        raise DecodeError("no version")
    version = _signed(data[start:pos])
    tag, start, pos = _header(data, pos)
    if tag != 0x04:
        raise DecodeError("no community")
    community = data[start:pos]
    pdu_tag, pos, pdu_end = _header(data, pos)
    fields = []
    for _ in range(3):
        tag, start, pos = _header(data, pos)
        if tag != 0x02:
            raise DecodeError("bad PDU header")
        fields.append(_signed(data[start:pos]))
    tag, pos, list_end = _header(data, pos)
    if tag != 0x30 or list_end > pdu_end:
        raise DecodeError("no var-bind list")
    varbinds: list[tuple[Oid, Any]] = []
    while pos < list_end:
        tag, pos, vb_end = _header(data, pos)
        if tag != 0x30:
            raise DecodeError("bad var-bind")
        tag, start, pos = _header(data, pos)
        if tag != 0x06:
            raise DecodeError("var-bind without a name")
        name = decode_oid(data[start:pos])
        tag, start, pos = _header(data, pos)
        varbinds.append((name, _value(tag, data[start:pos])))
        pos = vb_end
    return version, pdu_tag, community, fields[0], fields[1], fields[2], varbinds


# -- transport -------------------------------------------------------------------------
class Timeout(Exception):
    """No answer after the timeout and every retry."""


class _Endpoint(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        #: request id → (future, address it went to, version)
        self.pending: dict[int, tuple[asyncio.Future, tuple[str, int], int]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            version, tag, _, request_id, status, index, varbinds = decode_response(data)
        except DecodeError:
            return
        waiting = self.pending.get(request_id)
        if waiting is None or tag != RESPONSE:
            return
        future, sent_to, sent_version = waiting
        if addr[:2] != sent_to or version != sent_version or future.done():
            return
        future.set_result((status, index, varbinds))

    def error_received(self, exc: Exception) -> None:  # ICMP unreachable etc.: wait it out
        pass


class Client:
    """One UDP socket on the running loop for every v1/v2c request of the agent."""

    def __init__(self) -> None:
        self._endpoint: _Endpoint | None = None
        self._ids = itertools.count(random.randrange(1, 2**30))

    async def _ready(self) -> _Endpoint:
        if self._endpoint is None or self._endpoint.transport is None:
            loop = asyncio.get_running_loop()
            _, protocol = await loop.create_datagram_endpoint(_Endpoint, local_addr=("0.0.0.0", 0))
            self._endpoint = protocol
        return self._endpoint

    def _request_id(self) -> int:
        value = next(self._ids)
        if value >= 2**31 - 1:
            self._ids = itertools.count(1)
            value = next(self._ids)
        return value

    async def request(
        self,
        address: tuple[str, int],
        version: int,
        community: bytes,
        kind: str,
        oids: Sequence[Oid],
        timeout: float,
        retries: int,
        non_repeaters: int = 0,
        repetitions: int = 0,
    ) -> tuple[int, int, list[tuple[Oid, Any]]]:
        """Send, wait ``timeout``, resend up to ``retries`` times; (status, index, var-binds)."""
        endpoint = await self._ready()
        request_id = self._request_id()
        message = encode_request(
            version, community, kind, request_id, oids, non_repeaters, repetitions
        )
        future = asyncio.get_running_loop().create_future()
        endpoint.pending[request_id] = (future, address, version)
        try:
            for _ in range(retries + 1):
                assert endpoint.transport is not None
                endpoint.transport.sendto(message, address)
                try:
                    return await asyncio.wait_for(asyncio.shield(future), timeout)
                except TimeoutError:
                    continue
            raise Timeout(f"No SNMP response received before timeout from {address[0]}")
        finally:
            endpoint.pending.pop(request_id, None)
            if not future.done():
                future.cancel()

    def close(self) -> None:
        if self._endpoint is not None and self._endpoint.transport is not None:
            self._endpoint.transport.close()
        self._endpoint = None
