"""What every report section computes from: the store connection, the client, its contract,
the period, and a few lookups shared between sections (assets), loaded once."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector.contracts.model import Contract
from collector.reports.period import ReportPeriod, resolve, shift
from collector.schema import assets, sites


@dataclass(frozen=True, slots=True)
class Asset:
    """An asset of the client as the report shows it."""

    id: int
    name: str
    kind: str
    site: str | None
    first_seen: float
    last_seen: float


@dataclass
class ReportContext:
    """One report being computed. ``now`` caps the period (a report of the running period
    covers it up to now); ``as_of`` is min(period end, now)."""

    conn: Connection
    client_id: int
    client: str
    contract: Contract | None
    period: ReportPeriod
    now: float
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def as_of(self) -> float:
        return min(self.period.end, self.now)

    @property
    def dialect(self) -> str:
        return self.conn.dialect.name

    def previous(self, n: int) -> list[ReportPeriod]:
        """The ``n`` periods before this one, oldest first."""
        return [resolve(shift(self.period.label, -k), self.contract) for k in range(n, 0, -1)]

    @functools.cached_property
    def assets(self) -> list[Asset]:
        """The client's assets seen during the period (first seen before its end, last seen after its start)."""
        rows = self.conn.execute(
            sa.select(
                assets.c.id,
                assets.c.name,
                assets.c.kind,
                sites.c.name.label("site"),
                assets.c.first_seen,
                assets.c.last_seen,
            )
            .select_from(assets.outerjoin(sites, sites.c.id == assets.c.site_id))
            .where(
                assets.c.client_id == self.client_id,
                assets.c.first_seen < self.period.end,
                assets.c.last_seen >= self.period.start,
            )
            .order_by(assets.c.name)
        ).all()
        return [Asset(r.id, r.name, r.kind, r.site, r.first_seen, r.last_seen) for r in rows]

    @functools.cached_property
    def asset_by_id(self) -> dict[int, Asset]:
        return {a.id: a for a in self.assets}
