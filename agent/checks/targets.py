"""What the network checks (ping, tcp, http, tls, dns) share: a named target, its
timeout, and probing several targets at once.

A target's ``name`` is the ``target`` label of its samples. Targets are probed in
parallel (a few threads per run) so one unreachable host, which costs its whole
timeout, does not delay the others past the check's own timeout.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from agent.durations import Duration
from agent.schema import BaseModel, ConfigDict, Field

#: Threads per run at most; network probes wait, they do not compute.
MAX_PARALLEL = 16

T = TypeVar("T")
R = TypeVar("R")


class Target(BaseModel):
    """Options every network target has."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="label value: target=<name>")
    timeout: Duration = Field(default=5.0, gt=0, le=60, description="per probe")


def unique_names(targets: Sequence[Target]) -> None:
    """Raise ValueError naming the duplicate target names (each is a series label)."""
    names = [t.name for t in targets]
    if dupes := sorted({n for n in names if names.count(n) > 1}):
        raise ValueError(f"duplicate target name(s): {', '.join(dupes)}")


def probe_all(probe: Callable[[T], R], targets: Sequence[T]) -> list[R]:
    """``probe`` applied to every target, in parallel; results in the targets' order."""
    if len(targets) <= 1:
        return [probe(t) for t in targets]
    with ThreadPoolExecutor(
        max_workers=min(MAX_PARALLEL, len(targets)), thread_name_prefix="probe"
    ) as pool:
        return list(pool.map(probe, targets))
