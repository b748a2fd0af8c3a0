"""Deleting what is past its retention: raw samples, rollups, events, idempotency rows.

Raw samples and rollups dated further ahead than ``max_clock_skew`` (stored by a wrong
clock before ingest refused such timestamps) are deleted too.

Raw samples are deleted per series over the (series_id, ts) primary key, a chunk of series
per transaction: no index on ts alone to maintain on every insert, and no write lock held
long enough to stall ingest. Batch rows must outlive the agent's longest spool age, or a
retry of an old batch would be stored twice (hence 14 d against the agent's 7 d).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlalchemy as sa

from collector import timeutil
from collector.schema import batches, events, rollups_hourly, samples, series
from collector.settings import Settings
from collector.store import Store

log = logging.getLogger(__name__)

SERIES_PER_TRANSACTION = 500


@dataclass(slots=True)
class Purged:
    """Rows deleted by one :func:`purge` run."""

    samples: int = 0
    rollups: int = 0
    events: int = 0
    batches: int = 0


def purge(store: Store, settings: Settings, now: float | None = None) -> Purged:
    """Delete everything older than its retention at ``now``; return the counts."""
    now = timeutil.now() if now is None else now
    out = Purged()
    with store.read() as conn:
        series_ids = list(conn.execute(sa.select(series.c.id).order_by(series.c.id)).scalars())
    raw_cutoff = now - settings.raw_retention
    hour_cutoff = now - settings.rollup_retention
    # Rows dated beyond the clock skew ingest accepts came from a wrong clock before ingest
    # refused them; left alone they would hold rule windows and rollups for years.
    future = now + settings.max_clock_skew
    for i in range(0, len(series_ids), SERIES_PER_TRANSACTION):
        chunk = series_ids[i : i + SERIES_PER_TRANSACTION]
        with store.write() as conn:
            out.samples += conn.execute(
                samples.delete().where(
                    samples.c.series_id.in_(chunk),
                    sa.or_(samples.c.ts < raw_cutoff, samples.c.ts > future),
                )
            ).rowcount
            # An hour is dropped once all of it is past the retention.
            out.rollups += conn.execute(
                rollups_hourly.delete().where(
                    rollups_hourly.c.series_id.in_(chunk),
                    sa.or_(
                        rollups_hourly.c.hour + 3600 <= hour_cutoff, rollups_hourly.c.hour > future
                    ),
                )
            ).rowcount
    with store.write() as conn:
        out.events = conn.execute(
            events.delete().where(events.c.ts < now - settings.event_retention)
        ).rowcount
        out.batches = conn.execute(
            batches.delete().where(batches.c.received_at < now - settings.batch_retention)
        ).rowcount
    if out.samples or out.rollups or out.events or out.batches:
        log.info(
            "retention: deleted %d samples, %d rollups, %d events, %d batch records",
            out.samples,
            out.rollups,
            out.events,
            out.batches,
        )
    return out
