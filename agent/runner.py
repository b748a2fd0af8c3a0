"""The agent's service mode: schedule checks, spool what they return, ship the spool.

Checks sharing an interval form a group; each group has one scheduling thread that sleeps
until the group is due (with jitter), hands the group to a worker and waits at most each
check's timeout: a check that raises or hangs becomes a
``check_error`` event plus ``upkeep_check_up 0`` and the others go on. A check that
cannot run here is reported once and never scheduled again.
"""

from __future__ import annotations

import logging
import os
import platform
import random
import signal
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

from agent import __version__
from agent.checks import registry
from agent.checks.base import Check, CheckResult, Event
from agent.config import LoadedConfig
from agent.host import Host
from agent.selfcheck import AgentSelfCheck
from agent.shipper import Shipper
from agent.spool import Spool

log = logging.getLogger(__name__)


def build_checks(cfg: LoadedConfig, host: Host, *, persistent: bool = False) -> dict[str, Check]:
    """One instance per enabled check in the config (or the OS defaults).

    ``persistent`` (service mode): checks that remember state across agent restarts get a
    file in the state directory unless the config names one — the uptime check needs it
    to see a reboot, because a reboot restarts the agent too.
    """
    checks = {}
    for name, options in cfg.checks.items():
        # Only the checks that keep state have a state_file option.
        if persistent and getattr(options, "state_file", False) is None:
            options = options.model_copy(
                update={"state_file": cfg.agent.state_dir / f"{name}.state.json"}
            )
        checks[name] = registry.check_class(name)(options, host)
    if cfg.snmp is not None and cfg.snmp.targets:
        from agent.snmp.check import (
            snmp_checks,  # pysnmp is loaded only when devices are configured
        )

        checks.update(snmp_checks(cfg.snmp, host))
    return checks


def agent_id(state_dir: Path) -> str:
    """This installation's identity: generated once, kept in the state directory."""
    path = state_dir / "agent_id"
    try:
        return str(uuid.UUID(path.read_text().strip()))
    except (OSError, ValueError):
        state_dir.mkdir(parents=True, exist_ok=True)
        value = str(uuid.uuid4())
        tmp = path.with_suffix(".tmp")
        tmp.write_text(value + "\n")
        os.replace(tmp, path)
        return value


def host_asset(host: Host, cfg: LoadedConfig) -> dict:
    """The wire description of the machine the agent runs on."""
    return {
        "name": host.asset_name,
        "kind": "host",
        "tags": list(cfg.agent.tags),
        "description": platform.platform(),
        "attributes": {
            "os": platform.system().lower(),
            "os_release": platform.release(),
            "arch": platform.machine(),
            "agent_version": __version__,
        },
    }


class _Progress:
    """How far a worker got through a group: written by the worker, read by the waiter."""

    __slots__ = ("abandoned", "current", "results", "started")

    def __init__(self) -> None:
        self.current: str | None = None
        self.started = 0.0
        self.results: dict[str, CheckResult] = {}
        self.abandoned = False


class CheckRunner:
    """Runs checks in a worker pool with a per-check timeout; shared by ``run`` and ``once``.

    A group of checks (those sharing an interval) runs in one worker, one after the other:
    one thread hand-off per group, not per check, which is most of an idle agent's CPU.
    The waiting side wakes only if the group is slow; when the check in progress has
    exceeded its timeout it is reported hung, its thread abandoned (threads cannot be
    killed), and the rest of the group continues in a fresh worker.
    """

    def __init__(self, checks: dict[str, Check]) -> None:
        self.checks = checks
        self._pool = ThreadPoolExecutor(
            max_workers=max(2, len(checks) + 1), thread_name_prefix="check"
        )
        self._hung: dict[str, Future] = {}

    def run(self, name: str, now: float | None = None) -> CheckResult:
        return self.run_group([name], now)[name]

    def run_group(self, names: list[str], now: float | None = None) -> dict[str, CheckResult]:
        now = time.time() if now is None else now
        results: dict[str, CheckResult] = {}
        pending = []
        for name in names:
            previous = self._hung.get(name)
            if previous is not None and not previous.done():
                results[name] = self.checks[name].failed(
                    "still running from an earlier cycle (hung)", now
                )
            else:
                self._hung.pop(name, None)
                pending.append(name)
        while pending:
            progress = _Progress()
            future = self._pool.submit(self._run_sequence, pending, now, progress)
            poll = min(1.0, *(self.checks[n].config.effective_timeout() for n in pending))
            while True:
                try:
                    future.result(timeout=poll)
                except FutureTimeout:
                    current = progress.current
                    if current is None:
                        continue
                    name = current
                    timeout = self.checks[name].config.effective_timeout()
                    if time.monotonic() - progress.started <= timeout:
                        continue
                    progress.abandoned = True
                    self._hung[name] = future
                    log.warning("check %s timed out after %.1fs", name, timeout)
                    results.update(progress.results)
                    results[name] = self.checks[name].failed(f"timed out after {timeout:g}s", now)
                    pending = pending[pending.index(name) + 1 :]
                    break
                results.update(progress.results)
                pending = []
                break
        return results

    def _run_sequence(self, names: list[str], now: float, progress: _Progress) -> None:
        for name in names:
            progress.started = time.monotonic()
            progress.current = name
            result = self.checks[name].run(now)
            if progress.abandoned:
                return  # the waiter gave up on us while we were stuck: drop the late result
            progress.results[name] = result
        progress.current = None

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class AgentService:
    """``upkeep-agent run``: collect on schedule, spool, ship; stop cleanly on SIGTERM."""

    def __init__(
        self,
        cfg: LoadedConfig,
        *,
        host: Host | None = None,
        checks: dict[str, Check] | None = None,
        token: str | None = None,
    ) -> None:
        self.cfg = cfg
        agent = cfg.agent
        self.host = host or Host(agent.asset_name)
        self.checks = (
            checks if checks is not None else build_checks(cfg, self.host, persistent=True)
        )
        self.spool = Spool(
            agent.spool_path, max_bytes=int(agent.spool.max_mb * 2**20), max_age=agent.spool.max_age
        )
        self.agent_info = {
            "id": agent_id(agent.state_dir),
            "version": __version__,
            "hostname": self.host.asset_name,
            "site": agent.site,
            "os": platform.system().lower(),
        }
        self.spool.set_assets([host_asset(self.host, cfg)])
        for check in self.checks.values():
            if hasattr(check, "bind_assets"):  # the SNMP poller: devices are assets of their own
                check.bind_assets(self.spool.set_assets)
        self.stop_event = threading.Event()
        self.shipper: Shipper | None = None
        if agent.collector is not None:
            self.shipper = Shipper(
                self.spool,
                agent.collector.url,
                token or agent.collector.read_token() or "",
                self.agent_info,
                ca_bundle=str(agent.collector.ca_bundle) if agent.collector.ca_bundle else None,
                timeout=agent.collector.timeout,
                batch_max_samples=agent.spool.batch_max_samples,
                flush_interval=agent.spool.flush_interval,
            )
        self.tasks = None
        if agent.collector is not None and agent.actions.allow:
            # Only an agent that allows actions polls for tasks (and loads cryptography).
            from agent.tasks import TaskChannel

            self.tasks = TaskChannel(
                agent.collector.url,
                token or agent.collector.read_token() or "",
                self.host.asset_name,
                agent.state_dir,
                agent.actions.allow,
                public_key=agent.actions.public_key,
                scripts_dir=agent.actions.scripts_dir,
                poll_interval=agent.actions.poll_interval,
                long_poll=agent.actions.long_poll,
                max_output=agent.actions.max_output_bytes,
                ca_bundle=str(agent.collector.ca_bundle) if agent.collector.ca_bundle else None,
                timeout=agent.collector.timeout,
                user_agent=f"upkeep-agent/{__version__}",
            )
        self.self_check = AgentSelfCheck(self.spool, self.shipper, self.host)
        self.runner = CheckRunner({**self.checks, self.self_check.name: self.self_check})
        self.metrics_endpoint = None
        if agent.metrics.enabled:  # imports prometheus-client: only when asked for
            from agent.metrics_endpoint import MetricsEndpoint

            self.metrics_endpoint = MetricsEndpoint(
                agent.metrics.host, agent.metrics.port, agent.site
            )
        self._threads: list[threading.Thread] = []
        self._group_threads: list[threading.Thread] = []

    # -- scheduling --------------------------------------------------------------------
    def run_group(self, names: list[str]) -> None:
        """One run of a group: every check sharing an interval, spooled in one transaction."""
        results = self.runner.run_group(list(names))
        samples, events = [], []
        for name, result in results.items():
            if result.unsupported:
                self._skip(name, result.unsupported)
                names.remove(name)
                continue
            samples.extend(result.samples)
            events.extend(result.events)
        self.spool.add(samples, events)
        if self.shipper is not None:
            self.shipper.wake()
        if self.metrics_endpoint is not None and names:
            interval = self.runner.checks[names[0]].config.interval
            self.metrics_endpoint.latest.update(samples, interval, self.host.asset_name)

    def _skip(self, name: str, reason: str) -> None:
        """Say once that a check cannot run here, and stop scheduling it."""
        log.info("check %s skipped: %s", name, reason)
        self.spool.add(
            [],
            [
                Event(
                    "check_unsupported",
                    f"{name}: {reason}",
                    {"check": name},
                    self.host.asset_name,
                    time.time(),
                )
            ],
        )

    def start(self) -> None:
        groups: dict[float, list[str]] = {}
        for name, check in self.runner.checks.items():
            reason = check.unsupported()
            if reason:
                self._skip(name, reason)
                continue
            groups.setdefault(check.config.interval, []).append(name)
        now = time.time()
        for interval, names in sorted(groups.items()):
            # Spread first runs so a fleet restarted together does not collect in lockstep.
            first = now + random.uniform(0, min(interval, 2.0))
            thread = threading.Thread(
                target=self._every,
                args=(interval, names, first),
                name=f"every-{interval:g}s",
                daemon=True,
            )
            thread.start()
            self._group_threads.append(thread)
        if self.metrics_endpoint is not None:
            self.metrics_endpoint.start()
        if self.shipper is not None:
            thread = threading.Thread(
                target=self.shipper.run, args=(self.stop_event,), name="shipper", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        if self.tasks is not None:
            thread = threading.Thread(
                target=self.tasks.run_forever, args=(self.stop_event,), name="tasks", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        log.info(
            "agent %s started: %d checks, spool %s, collector %s",
            self.agent_info["id"],
            len(self.checks),
            self.spool.path,
            self.cfg.agent.collector.url if self.cfg.agent.collector else "(none)",
        )

    def stop(self) -> None:
        self.stop_event.set()
        if self.shipper is not None:
            self.shipper.wake()
        # Wait for running groups (bounded by their checks' timeouts) so their samples reach
        # the spool before it closes: a clean stop loses nothing.
        longest = max(
            (c.config.effective_timeout() for c in self.runner.checks.values()), default=0
        )
        groups_done = time.monotonic() + longest + 5
        for thread in self._group_threads:
            thread.join(timeout=max(0.0, groups_done - time.monotonic()))
        # The shipper and the task channel share one bound: a stop never takes longer than
        # the checks' timeouts plus 20 s, however many of them are stuck on a dead network.
        deadline = time.monotonic() + 20
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        self.runner.shutdown()
        if self.metrics_endpoint is not None:
            self.metrics_endpoint.stop()
        self.spool.close()

    def _every(self, interval: float, names: list[str], first: float) -> None:
        """One group's schedule: run at ``first`` + k × interval, each time a little late
        (jitter, so agents started together drift apart). A run that overran its slot is
        not caught up: the next one starts at once and the schedule moves on (coalesced)."""
        jitter = min(interval * 0.1, 5.0)
        slot, due = 0, first
        while not self.stop_event.wait(max(0.0, due - time.time())):
            try:
                self.run_group(names)
            except Exception:  # a broken group must not end its schedule
                log.exception("checks %s failed", ", ".join(names))
            if not names:  # every check of the group said it cannot run here
                return
            slot = max(slot + 1, int((time.time() - first) // interval) + 1)
            due = first + slot * interval + random.uniform(0, jitter)

    def run_forever(self) -> None:
        """Run until SIGTERM or SIGINT."""

        def _stop(signum, frame):
            log.info("signal %d: stopping", signum)
            self.stop_event.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        self.start()
        try:
            # No timeout: the wait is interrupted by the signal, and an idle agent should
            # not wake up once a second for nothing.
            self.stop_event.wait()
        finally:
            self.stop()
