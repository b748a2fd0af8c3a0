"""Escalation of one incident as a pure function of its facts. No I/O, no wall clock.

A **policy** (per priority; chosen per contract, see :mod:`collector.oncall.model`) is a list
of steps, each paging some targets ``after`` a delay since the climb started. A policy for
business hours only counts its delays in the contract's business time, so a minor incident
at night pages the next business morning. The SLA clock pulls the climb forward: once the
response target's warning time (``warn_at``) has come and the incident is still not
acknowledged, the next step is paged at once, whatever its own delay says (once).

:func:`due` answers, for the stored state (the next step, whether the SLA pull was used) and
a moment, which steps page now and when to look again. The caller stores the answer with a
conditional update on ``next_step`` so that two replicas never page the same step twice.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

TargetKind = Literal["rotation", "person"]


@dataclass(frozen=True)
class PageTarget:
    """Whom a step pages: whoever is on call in a rotation, or one person."""

    kind: TargetKind
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


@dataclass(frozen=True)
class Step:
    after: float  # seconds since the climb started (business seconds for business_hours)
    targets: tuple[PageTarget, ...]


@dataclass(frozen=True)
class Policy:
    name: str
    priority: str
    steps: tuple[Step, ...]
    business_hours: bool = False


#: Adds business seconds to a moment on the contract's calendar (BusinessCalendar.add_business_seconds).
AddBusiness = Callable[[float, float], float]


@dataclass(frozen=True)
class Due:
    """What :func:`due` decided. ``steps``: the indexes to page now, in order; ``reasons``: why
    each (``schedule`` or ``sla_warning``); ``next_step`` / ``next_at``: the state to store
    (``next_at`` None: the climb is at its end)."""

    steps: tuple[int, ...]
    reasons: tuple[str, ...]
    next_step: int
    next_at: float | None
    sla_pulled: bool


def step_at(
    policy: Policy, index: int, started_at: float, add_business: AddBusiness | None
) -> float:
    """When step ``index`` is due by its own delay."""
    after = policy.steps[index].after
    if policy.business_hours and add_business is not None:
        return add_business(started_at, after)
    return started_at + after


def due(
    policy: Policy,
    started_at: float,
    next_step: int,
    now: float,
    *,
    sla_warn_at: float | None = None,
    sla_pulled: bool = False,
    add_business: AddBusiness | None = None,
) -> Due:
    """The steps that page at ``now`` (see the module docstring)."""
    steps: list[int] = []
    reasons: list[str] = []
    index = next_step
    while index < len(policy.steps) and step_at(policy, index, started_at, add_business) <= now:
        steps.append(index)
        reasons.append("schedule")
        index += 1
    pulled = sla_pulled
    if not pulled and sla_warn_at is not None and sla_warn_at <= now and index < len(policy.steps):
        steps.append(index)
        reasons.append("sla_warning")
        index += 1
        pulled = True
    if sla_warn_at is not None and sla_warn_at <= now:
        pulled = True  # once the warning time passed, the pull is spent (used or not needed)
    next_at: float | None = None
    if index < len(policy.steps):
        next_at = step_at(policy, index, started_at, add_business)
        if not pulled and sla_warn_at is not None:
            next_at = min(next_at, sla_warn_at)
        if math.isinf(next_at):
            next_at = None  # a calendar without open hours: nothing more will come due
    return Due(tuple(steps), tuple(reasons), index, next_at, pulled)
