"""``/metrics`` for the ledger: each client's points balance, summed from the store at scrape time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily, Metric

from collector.schema import clients, ledger_entries
from collector.store import Store

_HELP = "Prepaid points balance per client (points; negative: an overdraft)."


class BalanceCollector:
    """``upkeep_points_balance{client}`` — one grouped query per scrape."""

    def __init__(self, store: Store, settings: Any, **_: Any) -> None:
        self.store = store

    def describe(self) -> list[Metric]:
        return [GaugeMetricFamily("upkeep_points_balance", _HELP, labels=["client"])]

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("upkeep_points_balance", _HELP, labels=["client"])
        query = (
            sa.select(clients.c.name, sa.func.sum(ledger_entries.c.centipoints))
            .join(clients, clients.c.id == ledger_entries.c.client_id)
            .group_by(clients.c.name)
        )
        with self.store.read() as conn:
            for name, total in conn.execute(query):
                family.add_metric([name], int(total or 0) / 100)
        yield family
