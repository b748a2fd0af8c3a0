"""Golden test cases for host checks: a host that replays recorded inputs.

A case is a folder ``cases/<case>/`` with

``config.yaml``
    ``check:`` the registry name and ``options:`` the check's options, validated the
    way the agent validates its config file.
``input.yaml``
    ``platform:`` (default ``linux``) and either one mapping of recorded host results
    or ``cycles:``, a list of them: the check runs once per cycle, and each cycle
    inherits what the previous one recorded unless it records it again. Keys are the
    :class:`agent.host.Host` method names; psutil namedtuples are written as mappings.
``expected.yaml``
    ``samples:`` what the last cycle emits besides ``upkeep_check_*`` (exactly these
    series, values to 1e-6), ``events:`` every event of all cycles (``data`` is
    compared as a subset), ``ok:`` (default true) and ``unsupported:`` (a substring of
    the reason, or absent).

The recorded host is strict: a method the check calls but the cycle did not record
fails the test, so a case also pins down which host calls a check makes.
"""

from __future__ import annotations

import math
import socket
import ssl
import subprocess
from collections import namedtuple
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from agent.checks import registry
from agent.checks.base import BASE_CATALOG, Check, CheckResult, Event, Sample
from agent.config import check_configs
from agent.host import FileInfo, HttpResponse, Resolution

CASES_DIR = Path(__file__).parent / "cases"
BASE_METRICS = {spec.name for spec in BASE_CATALOG}


class NotRecorded(AssertionError):
    """The check called a host method the case did not record."""


@cache
def _tuple_type(fields: tuple[str, ...]) -> type:
    return namedtuple("recorded", fields)


def as_tuple(mapping: dict[str, Any]) -> Any:
    """A recorded mapping as the namedtuple psutil would return."""
    return _tuple_type(tuple(mapping))(**mapping)


_ERRORS: dict[str, type[Exception]] = {
    "OSError": OSError,
    "FileNotFoundError": FileNotFoundError,
    "PermissionError": PermissionError,
    "TimeoutError": TimeoutError,
    "RuntimeError": RuntimeError,
    "ConnectionRefusedError": ConnectionRefusedError,
    "gaierror": socket.gaierror,
    "SSLError": ssl.SSLError,
}


def _maybe_raise(value: Any) -> Any:
    """``{raise: PermissionError, message: …}`` in a recording raises instead of returning."""
    if isinstance(value, dict) and set(value) <= {"raise", "message", "errno"} and "raise" in value:
        if "errno" in value:  # e.g. PermissionError(13, …) as the socket module raises it
            raise _ERRORS[value["raise"]](value["errno"], value.get("message", "recorded error"))
        raise _ERRORS[value["raise"]](value.get("message", "recorded error"))
    return value


class RecordedHost:
    """Replays ``input.yaml``; mirrors every public method of :class:`agent.host.Host`."""

    def __init__(self, recording: dict[str, Any], asset_name: str = "recorded-host") -> None:
        self.asset_name = asset_name
        self.platform = recording.get("platform", "linux")
        cycles = recording.get("cycles") or [
            {k: v for k, v in recording.items() if k != "platform"}
        ]
        self.cycles: list[dict[str, Any]] = []
        merged: dict[str, Any] = {}
        for cycle in cycles:
            merged = {**merged, **cycle}
            self.cycles.append(merged)
        self.cycle = 0
        self.calls: list[str] = []

    def _get(self, method: str) -> Any:
        self.calls.append(method)
        recorded = self.cycles[self.cycle]
        if method not in recorded:
            raise NotRecorded(f"cycle {self.cycle} has no recording for host.{method}()")
        return recorded[method]

    # -- clock
    def time(self) -> float:
        return float(self._get("time"))

    def monotonic(self) -> float:
        return float(self._get("monotonic"))

    # -- cpu, memory
    def cpu_times(self, percpu: bool = False) -> Any:
        if percpu:
            return [as_tuple(m) for m in self._get("cpu_times_percpu")]
        return as_tuple(self._get("cpu_times"))

    def cpu_count(self, logical: bool = True) -> int | None:
        return self._get("cpu_count")

    def getloadavg(self) -> tuple[float, float, float]:
        return tuple(self._get("getloadavg"))  # type: ignore[return-value]

    def virtual_memory(self) -> Any:
        return as_tuple(self._get("virtual_memory"))

    def swap_memory(self) -> Any:
        return as_tuple(self._get("swap_memory"))

    # -- disks, network
    def disk_partitions(self, all: bool = True) -> list[Any]:  # psutil's parameter name
        return [as_tuple(m) for m in self._get("disk_partitions")]

    def disk_usage(self, path: str) -> Any:
        usage = self._get("disk_usage")
        if path not in usage:  # strict: a mount the check should have skipped fails the case
            raise NotRecorded(f"cycle {self.cycle} has no disk_usage for {path}")
        return as_tuple(_maybe_raise(usage[path]))

    def statvfs(self, path: str) -> Any:
        stats = self._get("statvfs")
        if path not in stats:
            raise NotRecorded(f"cycle {self.cycle} has no statvfs for {path}")
        return as_tuple(_maybe_raise(stats[path]))

    def disk_io_counters(self) -> dict[str, Any]:
        return {name: as_tuple(m) for name, m in self._get("disk_io_counters").items()}

    def net_io_counters(self) -> dict[str, Any]:
        return {name: as_tuple(m) for name, m in self._get("net_io_counters").items()}

    def net_if_stats(self) -> dict[str, Any]:
        return {name: as_tuple(m) for name, m in self._get("net_if_stats").items()}

    # -- boot, sensors, processes, services
    def boot_time(self) -> float:
        return float(self._get("boot_time"))

    def sensors_temperatures(self) -> dict[str, list[Any]] | None:
        chips = self._get("sensors_temperatures")
        if chips is None:
            return None
        return {chip: [as_tuple(m) for m in readings] for chip, readings in chips.items()}

    def process_iter(self, attrs: list[str]) -> Iterator[dict[str, Any]]:
        for proc in self._get("process_iter"):
            yield {attr: proc.get(attr) for attr in attrs}

    def win_service_get(self, name: str) -> dict[str, Any] | None:
        return self._get("win_service_get").get(name)

    # -- files
    def path_exists(self, path: str) -> bool:
        return path in (self.cycles[self.cycle].get("path_exists") or [])

    def read_file(self, path: str) -> str:
        files = self.cycles[self.cycle].get("read_file") or {}
        if path not in files:
            raise FileNotFoundError(path)
        return _maybe_raise(files[path])

    def iter_files(self, root: str, recursive: bool) -> Iterator[FileInfo]:
        folders = self._get("iter_files")
        if root not in folders:
            raise FileNotFoundError(root)
        entries = _maybe_raise(folders[root])
        for entry in entries:
            # Recorded with full paths; without recursion only direct children count.
            relative = entry["path"][len(root) :].lstrip("/")
            if recursive or "/" not in relative:
                yield FileInfo(entry["path"], float(entry["mtime"]), int(entry["size"]))

    # -- tools
    def which(self, tool: str) -> str | None:
        return (self.cycles[self.cycle].get("which") or {}).get(tool)

    def run(
        self, argv: list[str], timeout: float = 60.0, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        self.calls.append("run")
        for recorded in self.cycles[self.cycle].get("run") or []:
            # argv_prefix: for a long script argument not worth repeating in the case.
            if recorded.get("argv") == list(argv) or (
                "argv_prefix" in recorded
                and list(argv[: len(recorded["argv_prefix"])]) == recorded["argv_prefix"]
            ):
                _maybe_raise(recorded.get("error"))
                return subprocess.CompletedProcess(
                    argv,
                    recorded.get("returncode", 0),
                    recorded.get("stdout", ""),
                    recorded.get("stderr", ""),
                )
        raise NotRecorded(f"cycle {self.cycle} has no recording for run({argv!r})")

    def run_bounded(
        self,
        argv: list[str],
        timeout: float,
        max_output: int = 16384,
        env: dict[str, str] | None = None,
    ) -> Any:
        from agent.boundedrun import BoundedRun

        self.calls.append("run_bounded")
        for recorded in self.cycles[self.cycle].get("run_bounded") or []:
            if recorded.get("argv") == list(argv):
                return BoundedRun(
                    recorded.get("returncode"),
                    recorded.get("stdout", ""),
                    recorded.get("stderr", ""),
                    recorded.get("duration", 0.01),
                    timed_out=recorded.get("timed_out", False),
                    truncated=recorded.get("truncated", False),
                    error=recorded.get("error"),
                )
        raise NotRecorded(f"cycle {self.cycle} has no recording for run_bounded({argv!r})")

    # -- network: recorded per address (ping: one entry per probe, by seq)
    def _network(self, method: str, key: str) -> Any:
        recorded = self._get(method)
        if key not in recorded:
            raise NotRecorded(f"cycle {self.cycle} has no {method} recording for {key}")
        return _maybe_raise(recorded[key])

    def ping(self, address: str, timeout: float, seq: int = 0) -> float | None:
        probes = self._network("ping", address)
        rtt = _maybe_raise(probes[seq])
        return None if rtt is None else float(rtt)

    def tcp_connect(self, address: str, port: int, timeout: float) -> float:
        return float(self._network("tcp_connect", f"{address}:{port}"))

    def http_request(
        self,
        url: str,
        method: str,
        timeout: float,
        verify: bool | str,
        follow_redirects: bool,
        max_body: int,
    ) -> HttpResponse:
        answer = self._network("http_request", url)
        return HttpResponse(
            int(answer["status"]), float(answer["seconds"]), answer.get("body", "")[:max_body]
        )

    def tls_certificate(self, address: str, port: int, server_name: str, timeout: float) -> bytes:
        return ssl.PEM_cert_to_DER_cert(self._network("tls_certificate", f"{address}:{port}"))

    def resolve(self, name: str, family: int) -> Resolution:
        answer = self._network("resolve", name)
        return Resolution(list(answer["addresses"]), float(answer["seconds"]))


# -- cases -----------------------------------------------------------------------------


@dataclass
class Case:
    """One golden case folder, loaded."""

    name: str
    check: str
    options: dict[str, Any]
    recording: dict[str, Any]
    expected: dict[str, Any]
    path: Path = field(repr=False)

    def make(self, host: RecordedHost | None = None) -> tuple[Check, RecordedHost]:
        host = host or RecordedHost(self.recording)
        config = check_configs({self.check: self.options}, None)[self.check]
        return registry.check_class(self.check)(config, host), host


def _read_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None


def load_case(path: Path) -> Case:
    config = _read_yaml(path / "config.yaml") or {}
    return Case(
        path.name,
        config["check"],
        config.get("options") or {},
        _read_yaml(path / "input.yaml") or {},
        _read_yaml(path / "expected.yaml") or {},
        path,
    )


def all_cases() -> list[Case]:
    return [load_case(p) for p in sorted(CASES_DIR.iterdir()) if (p / "config.yaml").exists()]


@dataclass
class Replay:
    """What a check did over all cycles of a case."""

    unsupported: str | None
    results: list[CheckResult]
    host: RecordedHost

    @property
    def last(self) -> CheckResult:
        return self.results[-1]

    @property
    def events(self) -> list[Event]:
        return [event for result in self.results for event in result.events]


def replay(case: Case) -> Replay:
    """Run the case's check once per cycle, as the runner would (unsupported() first)."""
    check, host = case.make()
    reason = check.unsupported()
    if reason is not None:
        return Replay(reason, [], host)
    results = []
    for index in range(len(host.cycles)):
        host.cycle = index
        now = host.cycles[index].get("time", 1_800_000_000.0)
        results.append(check.run(now=float(now)))
        if results[-1].unsupported:
            return Replay(results[-1].unsupported, results, host)
    return Replay(None, results, host)


def series(samples: list[Sample]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Samples keyed by (metric, sorted labels); fails on a duplicate series."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for sample in samples:
        key = (sample.metric, tuple(sorted(sample.labels.items())))
        assert key not in out, f"series emitted twice in one run: {key}"
        out[key] = sample.value
    return out


def assert_conforms(check_cls: type[Check], samples: list[Sample]) -> None:
    """Every sample is in the check's catalog (or the base's) with exactly its labels."""
    catalog = {spec.name: spec for spec in (*check_cls.catalog, *BASE_CATALOG)}
    for sample in samples:
        spec = catalog.get(sample.metric)
        assert spec is not None, f"{check_cls.name}: {sample.metric} is not in the catalog"
        assert set(sample.labels) == set(spec.labels), (
            f"{check_cls.name}: {sample.metric} has labels {sorted(sample.labels)}, "
            f"catalog says {sorted(spec.labels)}"
        )
        assert all(isinstance(v, str) for v in sample.labels.values()), (
            f"{sample.metric}: non-string label"
        )
        for label, allowed in spec.values.items():  # the declared vocabulary, exactly
            assert sample.labels.get(label) in allowed, (
                f"{check_cls.name}: {sample.metric} {label}={sample.labels.get(label)!r} "
                f"is not in its catalog's values {allowed}"
            )
        assert isinstance(sample.value, int | float) and not isinstance(sample.value, bool), (
            f"{sample.metric}: value {sample.value!r} is not a number"
        )
        assert math.isfinite(sample.value), (
            f"{sample.metric}{sample.labels}: {sample.value} is not finite"
        )
        if spec.type == "counter" or spec.unit in (
            "bytes",
            "seconds",
            "percent",
            "bytes_per_second",
            "per_second",
        ):
            assert sample.value >= 0, (
                f"{sample.metric}{sample.labels}: negative value {sample.value}"
            )
