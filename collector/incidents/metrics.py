"""``/metrics`` for incidents: what is open right now, read from the store at scrape time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily, Metric

from collector.incidents.lifecycle import ACTIVE
from collector.schema import clients, incidents
from collector.settings import Settings
from collector.store import Store

_HELP = "Incidents not yet resolved, by client, priority, origin and state."


class IncidentCollector:
    """``upkeep_incidents_open{client,priority,origin,state}`` — one query per scrape."""

    def __init__(self, store: Store, settings: Settings, **_: Any) -> None:
        self.store = store

    def describe(self) -> list[Metric]:
        return [
            GaugeMetricFamily(
                "upkeep_incidents_open", _HELP, labels=["client", "priority", "origin", "state"]
            )
        ]

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "upkeep_incidents_open", _HELP, labels=["client", "priority", "origin", "state"]
        )
        query = (
            sa.select(
                clients.c.name,
                incidents.c.priority,
                incidents.c.origin,
                incidents.c.state,
                sa.func.count(),
            )
            .join(clients, clients.c.id == incidents.c.client_id)
            .where(incidents.c.state.in_(ACTIVE))
            .group_by(clients.c.name, incidents.c.priority, incidents.c.origin, incidents.c.state)
        )
        with self.store.read() as conn:
            for client, priority, origin, state, count in conn.execute(query):
                family.add_metric([client, priority, origin, state], count)
        yield family
