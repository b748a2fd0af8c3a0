"""Re-notification with back-off: when a repeat of an open incident earns a reminder. Pure.

An open incident whose alert keeps firing produces a repeat on every evaluation; the ticket
system must not hear about each one. A reminder (an outbox "update") is due only once the
back-off since the last notification has passed: ``interval`` after the first, then doubling
(``factor``) up to ``max_interval``, and never more often than ``interval``. Changes that
matter (escalation, flapping starts, resolve) are not repeats and always go out; this module
only decides the repeats. ``interval: 0`` turns reminders off.
"""

from __future__ import annotations

from dataclasses import replace

from pydantic import BaseModel, ConfigDict, Field

from agent.durations import Duration
from collector.connectors import Action
from collector.incidents.lifecycle import Change


class RenotifyPolicy(BaseModel):
    """How often an unchanged open incident may be re-sent (settings ``renotify_*``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    interval: Duration = Field(default=4 * 3600.0, ge=0)
    factor: float = Field(default=2.0, ge=1.0, le=10.0)
    max_interval: Duration = Field(default=24 * 3600.0, gt=0)


def backoff(policy: RenotifyPolicy, reminders_sent: int) -> float:
    """Seconds to wait after the last notification before reminder number ``reminders_sent + 1``."""
    wait = policy.interval
    for _ in range(max(0, reminders_sent)):  # stops growing at the cap (no float overflow)
        if wait >= policy.max_interval:
            break
        wait *= policy.factor
    return max(policy.interval, min(wait, policy.max_interval))


def reminder_due(
    policy: RenotifyPolicy, last_notified_at: float, reminders_sent: int, now: float
) -> bool:
    """Should this repeat produce a reminder? False while the back-off runs, or when disabled."""
    if policy.interval <= 0:
        return False
    return now - last_notified_at >= backoff(policy, reminders_sent)


def next_reminder_at(
    policy: RenotifyPolicy, last_notified_at: float, reminders_sent: int
) -> float | None:
    """When the next reminder may go out (None: reminders are off)."""
    if policy.interval <= 0:
        return None
    return last_notified_at + backoff(policy, reminders_sent)


def remind(
    change: Change, last_notified_at: float, reminders_sent: int, policy: RenotifyPolicy, now: float
) -> Change:
    """A repeat (``change.event == "repeated"``, nothing to deliver) becomes a reminder — an
    ``update`` to the ticket systems — once the back-off has passed; any other change as is."""
    if change.event != "repeated" or change.action is not None:
        return change
    if not reminder_due(policy, last_notified_at, reminders_sent, now):
        return change
    data = {**change.data, "reminder": reminders_sent + 1, "since_last": now - last_notified_at}
    return replace(
        change,
        event="reminded",
        data=data,
        action=Action.UPDATE,
        fields={**change.fields, "reminders_sent": reminders_sent + 1},
    )
