"""Poll SNMP devices: read what each device's profile names, turn it into samples, events
and the device's asset description.

All devices are polled concurrently (bounded by ``snmp.concurrency``) on the one
:class:`~agent.snmp.engine.SnmpLoop`. A device that does not answer, answers garbage or
trips a profile hook gives ``snmp_up 0`` (or an event) for that device only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from agent.checks.base import Event, Sample
from agent.snmp.config import SnmpConfig, SnmpTarget
from agent.snmp.profiles import Profile
from agent.snmp.reading import DeviceReading, text
from agent.snmp.vendors import vendor_of

log = logging.getLogger(__name__)

#: Varbinds asked for per GETBULK request when tables are grouped (keeps answers small).
VARBIND_BUDGET = 64
#: What one more request costs in CPU, in answer var-binds: pysnmp's per-message work
#: (building, encoding, the engine's dispatch, decoding the envelope) is ~1.7 ms, one
#: more var-bind in an answer ~0.11 ms (benchmarks/snmp.py, v2c).
REQUEST_COST = 15
#: Columns a profile marks ``static`` (names, types, colours, serials) are read on the
#: first poll, then again every this many polls, or at once when a table's rows change.
STATIC_REFRESH_POLLS = 12
ATTRIBUTES = {
    "sys_object_id": "sysObjectID",
    "sys_name": "sysName",
    "sys_location": "sysLocation",
    "sys_contact": "sysContact",
}


def probe_repetitions(columns: int, scalars: int) -> int:
    """GETBULK max-repetitions for a row-count probe of ``columns`` columns: as many rows
    as fit the var-bind budget (at least 2: a row and the end of the column), so tables
    of usual sizes end within the one request."""
    return max(2, (VARBIND_BUDGET - scalars) // max(1, columns))


@dataclass
class Walk:
    """One multi-column walk: the tables it covers and the GETBULK max-repetitions."""

    tables: list[str]
    repetitions: int


def plan_walks(
    profile: Profile,
    known_rows: dict[str, int],
    max_repetitions: int,
    skipped: dict[str, set[str]] | None = None,
    scalars: int = 0,
) -> list[Walk]:
    """Group tables into the walks that cost the least CPU: few requests, few var-binds.

    A table never seen is walked alone with ``max_repetitions`` (its row count is learned).
    A known table of N rows needs N + 1 repetitions: its rows and, per column, the first
    OID past the column, so one request also sees the end of every column. Known tables,
    in order of the repetitions they need, are split into consecutive groups, each one
    GETBULK with the repetitions of its largest table, at most :data:`VARBIND_BUDGET`
    var-binds (``scalars`` non-repeaters included) per request; the split minimises
    ``REQUEST_COST × requests + var-binds answered``.
    """
    walks = [Walk([name], max_repetitions) for name in profile.tables if name not in known_rows]
    known: list[tuple[int, int, str]] = []  # (repetitions needed, columns read, table)
    for name in profile.tables:
        if name in known_rows:
            needed = min(known_rows[name] + 1, max_repetitions)
            columns = len(profile.tables[name].columns) - len((skipped or {}).get(name, ()))
            if columns > 0:  # (a table of only cached static columns is not walked)
                known.append((needed, columns, name))
    if not known:
        return walks
    known.sort(key=lambda item: item[0])  # stable: profile order among equals
    budget = max(1, VARBIND_BUDGET - scalars)
    # best[i]: cheapest plan for known[:i]; cut[i]: where its last walk starts.
    best = [0] + [0] * len(known)
    cut = [0] * (len(known) + 1)
    for end in range(1, len(known) + 1):
        reps = known[end - 1][0]
        best[end], cut[end], width = -1, end - 1, 0
        for start in range(end - 1, -1, -1):
            width += known[start][1]
            size = reps * width
            if size > budget and start < end - 1:
                break  # (a single table larger than the budget still gets its own walk)
            cost = best[start] + REQUEST_COST + size
            if best[end] < 0 or cost < best[end]:
                best[end], cut[end] = cost, start
    groups: list[Walk] = []
    end = len(known)
    while end:
        start = cut[end]
        groups.append(Walk([name for _, _, name in known[start:end]], known[end - 1][0]))
        end = start
    walks.extend(reversed(groups))
    return walks


@dataclass
class Device:
    """One target, its profile, and what the poller remembers about it between polls."""

    target: SnmpTarget
    profile: Profile
    timeout: float
    retries: int
    max_repetitions: int
    session: Any = None
    memory: dict[str, Any] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    #: table → stand-in columns not read because every row had the preferred column.
    skipped: dict[str, set[str]] = field(default_factory=dict)
    #: table → row index → static column → value, as last read; None: read them this poll.
    static: dict[str, dict[str, dict[str, Any]]] | None = None
    #: table → the rows that had a non-static column when the static columns were read.
    static_rows: dict[str, set[str]] = field(default_factory=dict)
    #: Polls answered from the static cache since the static columns were last read.
    static_age: int = 0
    up: bool | None = None
    asset: dict[str, Any] | None = None

    def base_asset(self) -> dict[str, Any]:
        return {
            "name": self.target.name,
            "kind": self.profile.kind,
            "address": self.target.address,
            "tags": list(self.target.tags),
            "attributes": {"profile": self.profile.name, "snmp_version": self.target.version},
        }


@dataclass
class PollResult:
    samples: list[Sample] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    #: Assets whose description changed in this poll (to be handed to the spool).
    assets: list[dict[str, Any]] = field(default_factory=list)


def describe(device: Device, reading: DeviceReading) -> dict[str, Any]:
    """The device's asset for the wire: kind, vendor, model, serial, sysDescr, sys* attributes."""
    asset = device.base_asset()
    found = device.profile.describe(reading)
    vendor = found.get("vendor") or vendor_of(reading.scalars.get("sys_object_id"))
    for key, value in (
        ("vendor", vendor),
        ("model", found.get("model")),
        ("serial", found.get("serial")),
    ):
        if value:
            asset[key] = value[:200]
    if descr := text(reading.scalars.get("sys_descr")):
        asset["description"] = descr[:2000]
    for key, name in ATTRIBUTES.items():
        value = reading.scalars.get(key)
        if value is not None and (value := text(value)):
            asset["attributes"][name] = value[:1000]
    return asset


class SnmpPoller:
    """Every configured device, polled on one shared SNMP loop and engine."""

    def __init__(self, config: SnmpConfig, profiles: dict[str, Profile], snmp: Any = None) -> None:
        self.config = config
        self.devices: dict[str, Device] = {}
        for target in config.targets:
            if not target.enabled:
                continue
            self.devices[target.name] = Device(
                target,
                profiles[target.profile],
                target.timeout if target.timeout is not None else config.timeout,
                target.retries if target.retries is not None else config.retries,
                target.max_repetitions or config.max_repetitions,
            )
        self._snmp = snmp
        self._credentials = {t.name: t.credentials() for t in config.targets if t.enabled}

    @property
    def snmp(self) -> Any:
        if self._snmp is None:
            from agent.snmp.engine import SnmpLoop

            self._snmp = SnmpLoop()
        return self._snmp

    def close(self) -> None:
        """Stop the SNMP loop's thread (the agent's stays up for the life of the process)."""
        if self._snmp is not None:
            self._snmp.close()
            self._snmp = None

    def assets(self, names: list[str] | None = None) -> list[dict[str, Any]]:
        """What is known about the devices (before the first poll: name, kind, address)."""
        return [
            d.asset or d.base_asset()
            for n, d in self.devices.items()
            if names is None or n in names
        ]

    def poll(self, names: list[str], deadline: float) -> PollResult:
        """Poll the named devices concurrently; returns within ``deadline`` seconds."""
        devices = [self.devices[n] for n in names if n in self.devices]
        snmp = self.snmp
        return snmp.call(self._poll_all(devices, deadline), timeout=deadline + 5)

    async def _poll_all(self, devices: list[Device], deadline: float) -> PollResult:
        """Every device, ``concurrency`` at a time. At the deadline the devices not done
        are given up (``snmp_up 0``, a down event) and the others' results are kept."""
        limit = asyncio.Semaphore(self.config.concurrency)
        result = PollResult()
        started = time.monotonic()
        finished: set[str] = set()

        async def one(device: Device) -> None:
            async with limit:
                remaining = deadline - (time.monotonic() - started)
                await self._poll_device(device, result, max(0.1, remaining))
                finished.add(device.target.name)

        tasks = [asyncio.ensure_future(one(d)) for d in devices]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=deadline)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)
        for device in devices:
            if device.target.name not in finished:
                self._down(device, result, f"not polled within the deadline of {deadline:.0f}s")
        return result

    @staticmethod
    def _down(device: Device, result: PollResult, reason: str) -> None:
        name = device.target.name
        result.samples.append(Sample("snmp_up", 0.0, asset=name))
        if device.up is not False:
            result.events.append(
                Event(
                    "snmp_device_down",
                    f"{name} ({device.target.address}): {reason}",
                    {"address": device.target.address, "error": reason[:200]},
                    asset=name,
                )
            )
        device.up = False

    async def _poll_device(self, device: Device, result: PollResult, deadline: float) -> None:
        from agent.snmp.engine import DeviceSession, SnmpError

        name = device.target.name
        now = time.time()
        start = time.monotonic()
        if device.session is None:
            device.session = DeviceSession(
                self.snmp,
                device.target.address,
                device.target.port,
                self._credentials[name],
                device.timeout,
                device.retries,
            )
        try:
            reading = await asyncio.wait_for(self._read(device), deadline)
        except (SnmpError, TimeoutError, OSError) as exc:
            reason = (
                "no answer (timed out)"
                if isinstance(exc, TimeoutError)
                else str(exc) or type(exc).__name__
            )
            self._down(device, result, reason)
            return
        if device.up is False:
            result.events.append(Event("snmp_device_up", f"{name} answers again", {}, asset=name))
        device.up = True
        try:
            for item in device.profile.evaluate(reading, device.memory, now):
                item.asset = name
                if isinstance(item, Sample):
                    result.samples.append(item)
                else:
                    result.events.append(item)
        except Exception as exc:  # a profile hook must not sink the poll of other devices
            log.warning("snmp %s: profile %s failed: %s", name, device.profile.name, exc)
            result.events.append(
                Event(
                    "snmp_profile_error",
                    f"{name}: profile {device.profile.name}: {type(exc).__name__}: {exc}",
                    {"profile": device.profile.name},
                    asset=name,
                )
            )
        result.samples.append(Sample("snmp_up", 1.0, asset=name))
        result.samples.append(
            Sample("snmp_poll_duration_seconds", time.monotonic() - start, asset=name)
        )
        asset = describe(device, reading)
        if asset != device.asset:
            device.asset = asset
            result.assets.append(asset)

    async def _read(self, device: Device) -> DeviceReading:
        from agent.snmp.engine import oid_text, parse_oid

        session = device.session
        profile = device.profile
        scalar_oids = {parse_oid(oid): name for name, oid in profile.scalars.items()}
        reading = DeviceReading()
        cached = device.static if device.static_age < STATIC_REFRESH_POLLS else None
        hidden = {
            table: set(device.skipped.get(table, ()))
            | (set(spec.static) if cached is not None else set())
            for table, spec in profile.tables.items()
        }
        scalars = list(scalar_oids)
        walked: list[str] = []
        unknown = [t for t in profile.tables if t not in device.rows]
        if len(unknown) > 1:
            # First poll: learn the row counts with one GETBULK of one column per table (the
            # scalars riding along) instead of walking each table alone at max-repetitions,
            # then read the rest with the sized walks of a warm poll. The probed columns
            # are kept, not asked for again. A table longer than the probe could see is
            # walked alone, as before.
            first = {t: next(iter(profile.tables[t].columns.items())) for t in unknown}
            probe = {parse_oid(oid): t for t, (_, oid) in first.items()}
            repetitions = min(device.max_repetitions, probe_repetitions(len(probe), len(scalars)))
            probe_limits = {oid: profile.tables[t].max_rows for oid, t in probe.items()}
            longer: set[tuple[int, ...]] = set()
            values, scalar_values = await session.walk(
                list(probe), repetitions, probe_limits, scalars, max_requests=1, unfinished=longer
            )
            for oid, value in scalar_values.items():
                reading.scalars[scalar_oids[oid]] = value
            scalars = []
            for oid, rows in values.items():
                if oid in longer:
                    continue
                table = probe[oid]
                column = first[table][0]
                bucket = reading.tables.setdefault(table, {})
                for index, value in rows.items():
                    bucket.setdefault(index, {})[column] = value
                device.rows[table] = len(rows)
                hidden[table] = hidden[table] | {column}
                walked.append(table)
        walks = plan_walks(profile, device.rows, device.max_repetitions, hidden, len(scalars)) or (
            [Walk([], 1)] if scalars else []
        )
        for walk in walks:
            columns: dict[tuple[int, ...], tuple[str, str]] = {}
            limits: dict[tuple[int, ...], int] = {}
            for table in walk.tables:
                spec = profile.tables[table]
                for column, oid in spec.columns.items():
                    if column in hidden[table]:
                        continue
                    columns[parse_oid(oid)] = (table, column)
                    limits[parse_oid(oid)] = spec.max_rows
            values, scalar_values = await session.walk(
                list(columns), walk.repetitions, limits, scalars
            )
            for oid, value in scalar_values.items():
                reading.scalars[scalar_oids[oid]] = value
            if scalars and not scalar_values and not any(values.values()):
                # Not one object answered: the device does not speak what the profile needs.
                log.debug("snmp %s: nothing under %s", device.target.name, oid_text(scalars[0]))
            scalars = []
            for oid, rows in values.items():
                table, column = columns[oid]
                bucket = reading.tables.setdefault(table, {})
                for index, value in rows.items():
                    bucket.setdefault(index, {})[column] = value
            walked.extend(walk.tables)
        if cached is not None:
            if not self._add_static(device, reading, cached):
                # A table's rows changed (a supply replaced, a tray added): read everything.
                device.static = None
                return await self._read(device)
            device.static_age += 1
        else:
            device.static = self._static_of(device, reading)
            device.static_age = 0
        for table in dict.fromkeys(walked):
            rows = reading.tables.get(table, {})
            device.rows[table] = len(rows)
            fallbacks = profile.tables[table].fallback_for
            if fallbacks:
                device.skipped[table] = {
                    column
                    for column, preferred in fallbacks.items()
                    if rows and all(preferred in row for row in rows.values())
                }
        return reading

    @staticmethod
    def _static_of(device: Device, reading: DeviceReading) -> dict[str, dict[str, dict[str, Any]]]:
        """The static columns of a full reading, and which rows had the other columns."""
        static: dict[str, dict[str, dict[str, Any]]] = {}
        device.static_rows = {}
        for table, spec in device.profile.tables.items():
            if not spec.static:
                continue
            keep = set(spec.static)
            rows = reading.tables.get(table, {})
            static[table] = {
                index: {c: v for c, v in row.items() if c in keep} for index, row in rows.items()
            }
            device.static_rows[table] = {
                index for index, row in rows.items() if any(c not in keep for c in row)
            }
        return static

    @staticmethod
    def _add_static(
        device: Device, reading: DeviceReading, cached: dict[str, dict[str, dict[str, Any]]]
    ) -> bool:
        """Put the cached static columns into a reading of the others; False if rows changed."""
        for table, spec in device.profile.tables.items():
            if not spec.static:
                continue
            static = cached.get(table, {})
            if len(spec.static) == len(spec.columns):  # nothing read: the cached rows as they were
                if static:
                    reading.tables[table] = {index: dict(row) for index, row in static.items()}
                continue
            live = reading.tables.get(table, {})
            if set(live) != device.static_rows.get(table, set()):
                return False
            rows: dict[str, dict[str, Any]] = {}
            for index, row in static.items():  # the order of a full reading
                rows[index] = {**live.get(index, {}), **row}
            for index, row in live.items():
                rows.setdefault(index, row)
            if rows:
                reading.tables[table] = rows
        return True
