"""``/metrics`` for SLA clocks, read from ``incident_sla`` at scrape time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily, Metric

from collector import timeutil
from collector.schema import clients, incident_sla
from collector.settings import Settings
from collector.sla.summary import outcome
from collector.store import Store

_CLOCKS = (
    "upkeep_sla_clocks",
    "SLA clocks of unresolved incidents, by client, priority and state (running or paused).",
    ["client", "priority", "state"],
)
_BREACHED = (
    "upkeep_sla_breached_incidents",
    "Unresolved incidents whose SLA target is breached, by client, "
    "priority and target (response or resolution).",
    ["client", "priority", "target"],
)


class SlaCollector:
    """``upkeep_sla_clocks{client,priority,state}`` and ``upkeep_sla_breached_incidents{client,priority,target}``."""

    def __init__(self, store: Store, settings: Settings, **_: Any) -> None:
        self.store = store

    def describe(self) -> list[Metric]:
        return [
            GaugeMetricFamily(name, text, labels=labels)
            for name, text, labels in (_CLOCKS, _BREACHED)
        ]

    def collect(self) -> Iterator[Metric]:
        now = timeutil.now()
        clocks = GaugeMetricFamily(*_CLOCKS[:2], labels=_CLOCKS[2])
        breached = GaugeMetricFamily(*_BREACHED[:2], labels=_BREACHED[2])
        query = (
            sa.select(incident_sla, clients.c.name.label("client"))
            .join(clients, clients.c.id == incident_sla.c.client_id)
            .where(incident_sla.c.state.in_(("running", "paused")))
        )
        counts: dict[tuple[str, str, str], int] = {}
        late: dict[tuple[str, str, str], int] = {}
        with self.store.read() as conn:
            for row in conn.execute(query):
                key = (row.client, row.priority, row.state)
                counts[key] = counts.get(key, 0) + 1
                for target in ("response", "resolution"):
                    if outcome(row, target, now) == "breached":
                        k = (row.client, row.priority, target)
                        late[k] = late.get(k, 0) + 1
        for key, n in sorted(counts.items()):
            clocks.add_metric(list(key), n)
        for key, n in sorted(late.items()):
            breached.add_metric(list(key), n)
        yield clocks
        yield breached
