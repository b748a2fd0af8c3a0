"""``/metrics`` for deliveries: the ticket outbox per connector and the client notifications per
kind — rows waiting or failed, and how long the oldest has waited (read at scrape time).

The same figures as the connectors' health view (:func:`collector.management.views.connector_health`),
for alerting: ``upkeep_delivery_oldest_waiting_seconds > 900`` means a ticket system or the
mail server has not taken anything for a quarter of an hour.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily, Metric

from collector.schema import notifications, outbox
from collector.settings import Settings
from collector.store import Store

_BACKLOG = (
    "Delivery rows not done, by queue (outbox | notifications), connector or kind, and state."
)
_OLDEST = "Age of the oldest pending or in-flight delivery row, by queue and connector or kind."
_LABELS = ["queue", "name", "state"]


class DeliveryCollector:
    """``upkeep_delivery_backlog{queue,name,state}`` and ``upkeep_delivery_oldest_waiting_seconds{queue,name}``."""

    def __init__(self, store: Store, settings: Settings, **_: Any) -> None:
        self.store = store

    def describe(self) -> list[Metric]:
        return [
            GaugeMetricFamily("upkeep_delivery_backlog", _BACKLOG, labels=_LABELS),
            GaugeMetricFamily(
                "upkeep_delivery_oldest_waiting_seconds", _OLDEST, labels=["queue", "name"]
            ),
        ]

    def collect(self) -> Iterator[Metric]:
        now = time.time()
        backlog = GaugeMetricFamily("upkeep_delivery_backlog", _BACKLOG, labels=_LABELS)
        oldest = GaugeMetricFamily(
            "upkeep_delivery_oldest_waiting_seconds", _OLDEST, labels=["queue", "name"]
        )
        with self.store.read() as conn:
            for queue, table, name in (
                ("outbox", outbox, outbox.c.connector),
                ("notifications", notifications, notifications.c.kind),
            ):
                waiting: dict[str, float] = {}
                rows = conn.execute(
                    sa.select(name, table.c.state, sa.func.count(), sa.func.min(table.c.created_at))
                    .where(table.c.state != "done")
                    .group_by(name, table.c.state)
                    .order_by(name, table.c.state)
                )
                for label, state, count, first in rows:
                    backlog.add_metric([queue, label, state], count)
                    if state in ("pending", "in_flight"):
                        waiting[label] = min(waiting.get(label, first), first)
                for label, first in sorted(waiting.items()):
                    oldest.add_metric([queue, label], max(0.0, now - first))
        yield backlog
        yield oldest
