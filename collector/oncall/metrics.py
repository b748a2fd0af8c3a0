"""``upkeep_oncall_ack_seconds{priority, person}``: time from the start of an escalation climb
to its acknowledgement, read from the store at scrape time (so every replica shows the same
figures), and the read functions of the management view (acknowledgement times, nights).

The pages sent are counted where they are sent: ``upkeep_oncall_pages{channel, result}``
(collector.incidents.outbox.OutboxMetrics).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from prometheus_client.core import HistogramMetricFamily, Metric

from collector.oncall.model import OncallConfig
from collector.schema import oncall_escalations

#: Bucket bounds in seconds: 1, 2, 5, 10, 15, 30 minutes, 1, 2, 4, 8 hours.
BUCKETS = (60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0)
#: Acknowledgements older than this are left out of the histogram (a bounded scrape).
WINDOW = 90 * 86400.0
OTHER = "other"


def ack_rows(conn: Any, since: float, until: float | None = None) -> list[Any]:
    """Acknowledged climbs that started in [since, until): priority, person, seconds."""
    query = sa.select(
        oncall_escalations.c.priority,
        oncall_escalations.c.stopped_by,
        (oncall_escalations.c.stopped_at - oncall_escalations.c.started_at).label("seconds"),
    ).where(
        oncall_escalations.c.state == "acknowledged",
        oncall_escalations.c.started_at >= since,
    )
    if until is not None:
        query = query.where(oncall_escalations.c.started_at < until)
    return list(conn.execute(query))


def person_label(config: OncallConfig, actor: str | None) -> str:
    """The on-call person, or ``other`` (someone acknowledged from the UI or a ticket)."""
    return actor if actor in config.people else OTHER


class AckTimes:
    """The acknowledgement histogram (a custom collector on the app's registry)."""

    def __init__(self, store: Any, config: OncallConfig) -> None:
        self.store = store
        self.config = config

    def describe(self) -> list[Metric]:
        return [self._family()]

    @staticmethod
    def _family() -> HistogramMetricFamily:
        return HistogramMetricFamily(
            "upkeep_oncall_ack_seconds",
            "From the start of an on-call escalation to its acknowledgement, per priority and "
            "person (climbs started within the last 90 days).",
            labels=["priority", "person"],
        )

    def collect(self) -> Iterator[Metric]:
        import time

        family = self._family()
        if self.config.empty:
            yield family
            return
        with self.store.read() as conn:
            rows = ack_rows(conn, time.time() - WINDOW)
        groups: dict[tuple[str, str], list[float]] = {}
        for r in rows:
            groups.setdefault((r.priority, person_label(self.config, r.stopped_by)), []).append(
                max(0.0, r.seconds)
            )
        for (priority, person), values in sorted(groups.items()):
            buckets = [(str(b), sum(1 for v in values if v <= b)) for b in BUCKETS]
            buckets.append(("+Inf", len(values)))
            family.add_metric([priority, person], buckets, sum(values))
        yield family


def ack_summary(rows: list[Any], config: OncallConfig) -> dict[str, Any]:
    """Median and worst acknowledgement time per priority and per person (management view)."""
    import statistics

    def figures(values: list[float]) -> dict[str, Any]:
        return {
            "count": len(values),
            "median_seconds": statistics.median(values),
            "max_seconds": max(values),
        }

    by_priority: dict[str, list[float]] = {}
    by_person: dict[str, list[float]] = {}
    for r in rows:
        by_priority.setdefault(r.priority, []).append(max(0.0, r.seconds))
        by_person.setdefault(person_label(config, r.stopped_by), []).append(max(0.0, r.seconds))
    return {
        "priorities": {k: figures(v) for k, v in sorted(by_priority.items())},
        "people": {k: figures(v) for k, v in sorted(by_person.items())},
    }
