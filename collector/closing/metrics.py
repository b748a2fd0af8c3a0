"""``/metrics`` of closing communication, read from ``incident_closings`` at scrape time:

- ``upkeep_closing_ratings{client, score}``: satisfaction ratings the client gave (all time);
- ``upkeep_closing_awaiting{client}``: closing messages sent and not answered yet.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from collector.closing.model import RATINGS
from collector.schema import clients, incident_closings


class ClosingCollector:
    """The store collector ``closing`` (collector.metrics.STORE_COLLECTORS)."""

    def __init__(self, store: Any, settings: Any, **_: Any) -> None:
        self.store = store

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        ratings = GaugeMetricFamily(
            "upkeep_closing_ratings",
            "Satisfaction ratings (1-5) clients gave on closing messages.",
            labels=["client", "score"],
        )
        awaiting = GaugeMetricFamily(
            "upkeep_closing_awaiting",
            "Closing messages sent and not answered by the client yet.",
            labels=["client"],
        )
        with self.store.read() as conn:
            rated = conn.execute(
                sa.select(clients.c.name, incident_closings.c.rating, sa.func.count())
                .join(clients, clients.c.id == incident_closings.c.client_id)
                .where(incident_closings.c.rating.is_not(None))
                .group_by(clients.c.name, incident_closings.c.rating)
            ).all()
            waiting = conn.execute(
                sa.select(clients.c.name, sa.func.count())
                .join(clients, clients.c.id == incident_closings.c.client_id)
                .where(incident_closings.c.state == "awaiting")
                .group_by(clients.c.name)
            ).all()
        counts = {(name, int(score)): int(n) for name, score, n in rated}
        for name in sorted({name for name, _ in counts}):
            for score in RATINGS:
                ratings.add_metric([name, str(score)], counts.get((name, score), 0))
        for name, n in sorted(waiting):
            awaiting.add_metric([name], int(n))
        yield ratings
        yield awaiting
