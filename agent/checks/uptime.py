"""Uptime and boot time; a ``reboot`` event when the machine was restarted."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from agent.checks.base import Check, CheckConfig, Event, MetricSpec, Sample
from agent.schema import Field

if TYPE_CHECKING:
    from agent.host import Host

log = logging.getLogger(__name__)

#: Linux gives every boot a random id: the one reliable "this is a new boot" signal.
BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"
#: Without a boot id, the boot time is "now - time since boot", so it moves when the
#: clock is stepped (NTP, Windows jitter of a second or two). Smaller moves than this
#: are not a reboot; a real reboot moves it by the previous uptime at least.
BOOT_TIME_TOLERANCE = 60.0


class UptimeConfig(CheckConfig):
    """Options of the ``uptime`` check."""

    state_file: Path | None = Field(
        default=None,
        description="where to remember the last boot across agent restarts (JSON); "
        "default: in memory only, which cannot see a reboot, since the agent "
        "restarts with the machine",
    )


class UptimeCheck(Check):
    """Seconds since boot, the boot time, and a ``reboot`` event when it changed.

    The last boot seen is remembered in memory and, with ``state_file``, on disk. Only the
    file lets a reboot be reported, because the reboot restarts the agent too; the
    runner may pass a path in the agent's state directory. The first run ever (no state)
    only remembers.
    """

    name: ClassVar[str] = "uptime"
    Config: ClassVar[type[CheckConfig]] = UptimeConfig
    catalog: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec("uptime_seconds", "gauge", "seconds", (), "Time since the machine booted"),
        MetricSpec(
            "boot_time_seconds", "gauge", "seconds", (), "When the machine booted (Unix time)"
        ),
    )

    config: UptimeConfig

    def __init__(self, config: CheckConfig, host: Host) -> None:
        super().__init__(config, host)
        self._last: dict | None = None
        self._loaded = False

    def collect(self) -> Iterator[Sample | Event]:
        boot_time = self.host.boot_time()
        yield Sample("uptime_seconds", max(0.0, self.host.time() - boot_time))
        yield Sample("boot_time_seconds", boot_time)

        current = {"boot_time": boot_time, "boot_id": self._boot_id()}
        if not self._loaded:
            self._last, self._loaded = self._load(), True
        previous = self._last
        new_boot = previous is not None and is_new_boot(previous, current)
        # Follow small moves of the boot time too (clock steps), so they cannot add up
        # to a false reboot over months; a second is enough to skip float jitter and
        # not rewrite the state file every run.
        if previous is None or new_boot or abs(current["boot_time"] - previous["boot_time"]) >= 1.0:
            self._last = current
            self._save(current)
        if new_boot and previous is not None:
            booted = datetime.fromtimestamp(boot_time, UTC).isoformat(timespec="seconds")
            yield Event(
                "reboot",
                f"the machine was restarted (booted at {booted})",
                {"boot_time": boot_time, "previous_boot_time": previous["boot_time"]},
            )

    def _boot_id(self) -> str | None:
        if self.host.platform != "linux":
            return None
        try:
            return self.host.read_file(BOOT_ID_PATH).strip() or None
        except OSError:
            return None

    def _load(self) -> dict | None:
        path = self.config.state_file
        if path is None:
            return None
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("uptime: ignoring unreadable state file %s: %s", path, exc)
            return None
        return (
            state
            if isinstance(state, dict) and isinstance(state.get("boot_time"), int | float)
            else None
        )

    def _save(self, state: dict) -> None:
        path = self.config.state_file
        if path is None:
            return
        # Write-then-rename: a crash mid-write must not leave a half file that would
        # make the next start miss (or invent) a reboot.
        tmp = path.with_name(path.name + ".tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(state), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            # Uptime itself is still worth reporting; only restarts across agent
            # restarts go unseen.
            log.warning("uptime: cannot write state file %s: %s", path, exc)


def is_new_boot(previous: dict, current: dict) -> bool:
    """Whether ``current`` is a different boot than ``previous``."""
    if previous.get("boot_id") and current.get("boot_id"):
        return previous["boot_id"] != current["boot_id"]
    return abs(current["boot_time"] - previous["boot_time"]) > BOOT_TIME_TOLERANCE
