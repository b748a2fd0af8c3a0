"""The one place that talks SNMP: a pysnmp 7 engine on its own asyncio loop.

pysnmp's ``SnmpEngine`` is expensive to build and bound to the event loop it was made
on, so the agent keeps exactly one loop (in a dedicated thread) and one engine for all
devices, and the scheduler's worker threads submit coroutines to it. Values come back as
plain Python (see :mod:`agent.snmp.reading`): nothing outside this module sees pysnmp.

Importing this module imports pysnmp; it is imported only when SNMP targets exist.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Coroutine, Iterable, Sequence
from typing import Any

from pyasn1.type import univ
from pysnmp.entity.rfc3413 import cmdgen
from pysnmp.hlapi.v3arch import asyncio as hl
from pysnmp.hlapi.v3arch.asyncio.lcd import CommandGeneratorLcdConfigurator
from pysnmp.proto import rfc1902, rfc1905

from agent.snmp import v2c
from agent.snmp.config import Credentials

Oid = tuple[int, ...]

AUTH_PROTOCOLS = {
    "md5": hl.usmHMACMD5AuthProtocol,
    "sha": hl.usmHMACSHAAuthProtocol,
    "sha224": hl.usmHMAC128SHA224AuthProtocol,
    "sha256": hl.usmHMAC192SHA256AuthProtocol,
    "sha384": hl.usmHMAC256SHA384AuthProtocol,
    "sha512": hl.usmHMAC384SHA512AuthProtocol,
}
PRIV_PROTOCOLS = {
    "des": hl.usmDESPrivProtocol,
    "3des": hl.usm3DESEDEPrivProtocol,
    "aes": hl.usmAesCfb128Protocol,
    "aes128": hl.usmAesCfb128Protocol,
    "aes192": hl.usmAesCfb192Protocol,
    "aes256": hl.usmAesCfb256Protocol,
}


class SnmpError(Exception):
    """The device answered with an error, or not at all (``timeout``)."""

    def __init__(self, message: str, *, timeout: bool = False) -> None:
        super().__init__(message)
        self.timeout = timeout


def parse_oid(text: str) -> Oid:
    return tuple(int(part) for part in text.strip(".").split("."))


def oid_text(oid: Sequence[int]) -> str:
    return ".".join(map(str, oid))


_END = v2c.END


def _plain_int(value: Any) -> int:
    return int(value)


def _plain_bytes(value: Any) -> bytes:
    return value.asOctets()


def _plain_ip(value: Any) -> str:
    return ".".join(map(str, value.asNumbers()))


def _plain_oid(value: Any) -> str:
    return oid_text(value.asTuple())


def _plain_none(value: Any) -> None:
    return None


def _plain_end(value: Any) -> object:
    return _END


_CONVERTERS: dict[type, Any] = {
    rfc1902.IpAddress: _plain_ip,
    rfc1905.EndOfMibView: _plain_end,
    rfc1905.NoSuchObject: _plain_none,
    rfc1905.NoSuchInstance: _plain_none,
}


def plain(value: Any) -> Any:
    """A pysnmp value as int / bytes / dotted str / None (missing) / _END."""
    converter = _CONVERTERS.get(type(value))
    if converter is None:
        if isinstance(value, rfc1902.IpAddress):
            converter = _plain_ip
        elif isinstance(value, univ.Integer):  # INTEGER, Counter32/64, Gauge32, TimeTicks, …
            converter = _plain_int
        elif isinstance(value, univ.ObjectIdentifier):
            converter = _plain_oid
        elif isinstance(value, univ.OctetString):  # OCTET STRING, Opaque, Bits
            converter = _plain_bytes
        else:
            converter = _plain_none
        _CONVERTERS[type(value)] = converter
    return converter(value)


#: Registers targets and credentials with an engine (cached per target), as hlapi does.
_LCD = CommandGeneratorLcdConfigurator()
_NULL = rfc1902.Null("")
_VARBINDS: dict[Oid, Any] = {}


def request_varbind(oid: Oid) -> Any:
    """A ready request var-bind (OID, NULL) for a profile's OID, built once.

    hlapi wraps every OID of every request in ObjectType/ObjectIdentity and resolves it
    against a MIB view even with ``lookupMib=False``; that was a quarter of a printer
    poll's CPU. The poller asks for the same few dozen OIDs every poll.
    """
    varbind = _VARBINDS.get(oid)
    if varbind is None:
        varbind = _VARBINDS[oid] = (rfc1902.ObjectName(oid), _NULL)
    return varbind


def _pysnmp_varbind(oid: Oid) -> Any:
    """A pysnmp request var-bind: prepared for a profile's OIDs, built for others."""
    varbind = _VARBINDS.get(oid)
    return varbind if varbind is not None else (rfc1902.ObjectName(oid), _NULL)


class SnmpLoop:
    """One asyncio event loop in a daemon thread, and the one SnmpEngine that lives on it.

    pysnmp keeps SNMPv3 users in the engine by user name, so two devices with the same v3
    user name but different keys cannot share an engine: such a second key set gets a
    second engine (one per distinct key set of a name, not one per device).
    """

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="snmp", daemon=True)
        self._thread.start()
        self.engines: list[Any] = [self.call(self._make_engine())]
        self._v3_keys: dict[str, list[int]] = {}
        #: SNMPv1/v2c requests go through our own codec and socket (agent/snmp/v2c.py).
        self.v2c = v2c.Client()

    @property
    def engine(self) -> Any:
        return self.engines[0]

    async def _make_engine(self) -> Any:
        return hl.SnmpEngine()

    async def engine_for(self, credentials: Credentials) -> Any:
        """The shared engine, or for a clashing SNMPv3 key set, the one that holds it."""
        if credentials.version != "3":
            return self.engines[0]
        fingerprint = hash(
            (
                credentials.auth_protocol,
                credentials.auth_key,
                credentials.priv_protocol,
                credentials.priv_key,
            )
        )
        known = self._v3_keys.setdefault(credentials.user or "", [])
        if fingerprint not in known:
            known.append(fingerprint)
        index = known.index(fingerprint)
        while len(self.engines) <= index:
            self.engines.append(await self._make_engine())
        return self.engines[index]

    async def _close_engines(self) -> None:
        self.v2c.close()
        for engine in self.engines:
            engine.close_dispatcher()

    def submit(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future:
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def call(self, coro: Coroutine[Any, Any, Any], timeout: float | None = None) -> Any:
        future = self.submit(coro)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def close(self) -> None:
        if self._loop.is_running():
            with contextlib.suppress(Exception):  # closing is best effort
                self.call(self._close_engines(), timeout=5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)


def auth_data(credentials: Credentials) -> Any:
    if credentials.version in ("1", "2c"):
        return hl.CommunityData(
            credentials.community or "", mpModel=0 if credentials.version == "1" else 1
        )
    return hl.UsmUserData(
        credentials.user or "",
        authKey=credentials.auth_key,
        privKey=credentials.priv_key,
        authProtocol=AUTH_PROTOCOLS[credentials.auth_protocol]
        if credentials.auth_protocol
        else hl.usmNoAuthProtocol,
        privProtocol=PRIV_PROTOCOLS[credentials.priv_protocol]
        if credentials.priv_protocol
        else hl.usmNoPrivProtocol,
    )


class DeviceSession:
    """Requests to one device: GET, and multi-column GETBULK (GETNEXT for v1) walks.

    Lives on the :class:`SnmpLoop`; its coroutines run there. SNMPv1/v2c requests use the
    loop's own codec and socket (:mod:`agent.snmp.v2c`), SNMPv3 pysnmp's engine; either
    way requests are lists of ``(oid, None)`` and answers lists of ``(oid, plain value)``.
    """

    def __init__(
        self,
        snmp: SnmpLoop,
        address: str,
        port: int,
        credentials: Credentials,
        timeout: float,
        retries: int,
    ) -> None:
        self.snmp = snmp
        self.address = (address, port)
        self.v1 = credentials.version == "1"
        self.v3 = credentials.version == "3"
        self._credentials = credentials
        self._community = (credentials.community or "").encode()
        self._engine: Any = None
        self._auth = auth_data(credentials) if self.v3 else None
        self._context = hl.ContextData(contextName=credentials.context or "")
        self._timeout = timeout
        self._retries = retries
        self._transport: Any = None
        self._resolved: tuple[str, int] | None = None
        self.requests = 0

    async def _target(self) -> Any:
        if self._engine is None:
            self._engine = await self.snmp.engine_for(self._credentials)
        if self._transport is None:
            try:
                self._transport = await hl.UdpTransportTarget.create(
                    self.address, timeout=self._timeout, retries=self._retries
                )
            except Exception as exc:  # name resolution
                raise SnmpError(f"cannot resolve {self.address[0]}: {exc}") from None
        return self._transport

    async def _peer(self) -> tuple[str, int]:
        if self._resolved is None:
            import socket

            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    *self.address, family=socket.AF_INET, type=socket.SOCK_DGRAM
                )
            except OSError as exc:
                raise SnmpError(f"cannot resolve {self.address[0]}: {exc}") from None
            host, port = infos[0][4][:2]
            self._resolved = (str(host), int(port))
        return self._resolved

    async def _send(
        self, kind: str, varbinds: Sequence[Any], non_repeaters: int = 0, repetitions: int = 0
    ) -> tuple[Any, Any, Any, Any]:
        """One request for ``varbinds`` (``(oid, None)`` pairs); answers come back as
        (indication, error status, error index, [(oid, plain value)])."""
        self.requests += 1
        if not self.v3:
            try:
                status, index, answer = await self.snmp.v2c.request(
                    await self._peer(),
                    0 if self.v1 else 1,
                    self._community,
                    kind,
                    [oid for oid, _ in varbinds],
                    self._timeout,
                    self._retries,
                    non_repeaters,
                    repetitions,
                )
            except v2c.Timeout as exc:
                return str(exc), 0, 0, []
            return None, status, index, answer
        return await self._send_v3(kind, varbinds, non_repeaters, repetitions)

    async def _send_v3(
        self, kind: str, varbinds: Sequence[Any], non_repeaters: int, repetitions: int
    ) -> tuple[Any, Any, Any, Any]:
        """The request on pysnmp's single-run generators: no MIB resolution, no hlapi
        wrapping (SNMPv3: USM authentication and privacy)."""
        transport = await self._target()
        addr_name, _ = _LCD.configure(
            self._engine, self._auth, transport, self._context.contextName
        )
        future = asyncio.get_running_loop().create_future()

        def done(
            engine: Any,
            handle: Any,
            indication: Any,
            status: Any,
            index: Any,
            answer: Any,
            ctx: Any,
        ) -> None:
            if not future.cancelled():
                future.set_result((indication, status, index, answer))

        context = (
            self._engine,
            addr_name,
            self._context.contextEngineId,
            self._context.contextName,
        )
        request = [_pysnmp_varbind(oid) for oid, _ in varbinds]
        if kind == "get":
            cmdgen.GetCommandGenerator().send_varbinds(*context, request, done)
        elif kind == "next":
            cmdgen.NextCommandGeneratorSingleRun().send_varbinds(*context, request, done)
        else:
            cmdgen.BulkCommandGeneratorSingleRun().send_varbinds(
                *context, non_repeaters, repetitions, request, done
            )
        indication, status, index, answer = await future
        pairs = [(name.asTuple(), plain(value)) for name, value in answer or ()]
        return indication, status, index, pairs

    def _check(self, indication: Any, status: Any, index: Any) -> int:
        """Raise for a transport/engine error; return the PDU error status (0 = none)."""
        if indication:
            text = str(indication)
            raise SnmpError(
                text, timeout="timeout" in text.lower() or "no snmp response" in text.lower()
            )
        return int(status) if status else 0

    async def get(self, oids: Sequence[Oid]) -> dict[Oid, Any]:
        """GET; objects the device does not have are left out."""
        out: dict[Oid, Any] = {}
        pending = list(oids)
        while pending:
            chunk, pending = pending[:30], pending[30:]
            while chunk:
                indication, status, index, varbinds = await self._send(
                    "get", [(oid, None) for oid in chunk]
                )
                status = self._check(indication, status, index)
                if status == 2 and self.v1 and index:  # v1 noSuchName: drop that one and ask again
                    chunk.pop(int(index) - 1)
                    continue
                if status:
                    raise SnmpError(f"GET error status {status}")
                for name, value in varbinds:
                    if value is not None and value is not _END:
                        out[name] = value
                break
        return out

    async def walk(
        self,
        columns: Iterable[Oid],
        repetitions: int,
        max_rows: dict[Oid, int],
        scalars: Sequence[Oid] = (),
        max_requests: int | None = None,
        unfinished: set[Oid] | None = None,
    ) -> tuple[dict[Oid, dict[str, Any]], dict[Oid, Any]]:
        """Walk several table columns at once; ``scalars`` ride along as non-repeaters.

        Returns column → {row index: value} and scalar → value. Each column stops at the
        end of its subtree, at a non-increasing OID (a broken agent) or at its row limit.
        With ``max_requests`` the walk stops after that many requests; the columns not
        yet at their end are then added to ``unfinished``.
        """
        position = {column: column for column in columns}
        if self.v3:  # (prepared pysnmp var-binds for the profile's OIDs)
            for oid in [*position, *(scalar[:-1] for scalar in scalars)]:
                request_varbind(oid)
        # What to send next per column: the column, then the last OID seen in it.
        cursor = dict(position)
        results: dict[Oid, dict[str, Any]] = {column: {} for column in position}
        scalar_values: dict[Oid, Any] = {}
        active = list(position)
        # GETNEXT of x.0 without its last component answers x.0 itself.
        nonrep = [scalar[:-1] for scalar in scalars]
        sent = 0
        while active or nonrep:
            if max_requests is not None and sent >= max_requests:
                if unfinished is not None:
                    unfinished.update(active)
                break
            sent += 1
            request = [(o, None) for o in nonrep] + [(cursor[c], None) for c in active]
            if self.v1:
                indication, status, index, varbinds = await self._next_v1(request)
                if varbinds is None:  # noSuchName: that column (or scalar) is done
                    bad = int(index) - 1
                    if bad < len(nonrep):
                        nonrep.pop(bad)
                        scalars = [*scalars[:bad], *scalars[bad + 1 :]]
                    else:
                        active.pop(bad - len(nonrep))
                    continue
            else:
                indication, status, index, varbinds = await self._send(
                    "bulk", request, len(nonrep), repetitions
                )
                if self._check(indication, status, index):
                    raise SnmpError(f"GETBULK error status {int(status)}")
            for scalar, (name, value) in zip(scalars, varbinds[: len(nonrep)], strict=False):
                if name == scalar and value is not None and value is not _END:
                    scalar_values[scalar] = value
            rows = varbinds[len(nonrep) :]
            nonrep, scalars = [], []
            width = len(active)
            done: set[Oid] = set()
            for i, (oid, value) in enumerate(rows):
                column = active[i % width]
                if column in done:
                    continue
                prefix = len(column)
                if value is _END or oid[:prefix] != column or oid <= position[column]:
                    done.add(column)
                    continue
                position[column] = oid
                cursor[column] = oid
                bucket = results[column]
                bucket[oid_text(oid[prefix:])] = value
                if len(bucket) >= max_rows.get(column, 10_000):
                    done.add(column)
            if not rows or len(rows) < width:
                # A device that returns nothing (or less than a row) for a column is done with it.
                done.update(active[len(rows) :] if rows else active)
            active = [c for c in active if c not in done]
        return results, scalar_values

    async def _next_v1(self, varbinds: list[Any]) -> tuple[Any, Any, Any, Any]:
        indication, status, index, varbinds = await self._send("next", varbinds)
        status = self._check(indication, status, index)
        if status == 2 and index:
            return indication, status, index, None
        if status:
            raise SnmpError(f"GETNEXT error status {status}")
        return indication, status, index, varbinds
