"""Deleting what is past its retention: raw samples, rollups, events, idempotency rows.

Raw samples and rollups dated further ahead than ``max_clock_skew`` (stored by a wrong
clock before ingest refused such timestamps) are deleted too.

On SQLite raw samples are deleted per series over the (series_id, ts) primary key, a chunk of
series per transaction: no index on ts alone to maintain on every insert, and no write lock
held long enough to stall ingest. On PostgreSQL, where ``samples`` and ``rollups_hourly`` are
partitioned by time (:mod:`collector.partitions`), whole partitions past their retention are
dropped instead, and only the small default partitions are cleaned by ``DELETE``: no row is
deleted one by one in the day and month partitions (raw samples then live up to a day past
``raw_retention``, rollups up to a month past ``rollup_retention``). Batch rows must outlive the agent's longest spool age, or a
retry of an old batch would be stored twice (hence 14 d against the agent's 7 d).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import sqlalchemy as sa

from collector import partitions, rollups, timeutil
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
    #: PostgreSQL: partitions dropped whole (their rows are not counted above).
    partitions: list[str] = field(default_factory=list)


def purge(store: Store, settings: Settings, now: float | None = None) -> Purged:
    """Delete everything older than its retention at ``now``; return the counts."""
    now = timeutil.now() if now is None else now
    with store.read() as conn:
        partitioned = partitions.is_partitioned(conn, samples.name)
        # Raw samples of hours the rollups job has not built yet are kept (a collector back
        # from an outage longer than raw_retention builds them first): collector/rollups.py.
        raw_cutoff = min(now - settings.raw_retention, rollups.read_progress(conn).until)
    out = (
        _purge_partitioned(store, settings, now, raw_cutoff)
        if partitioned
        else _purge_rows(store, settings, now, raw_cutoff)
    )
    with store.write() as conn:
        out.events = conn.execute(
            events.delete().where(events.c.ts < now - settings.event_retention)
        ).rowcount
        out.batches = conn.execute(
            batches.delete().where(batches.c.received_at < now - settings.batch_retention)
        ).rowcount
    if out.samples or out.rollups or out.events or out.batches or out.partitions:
        log.info(
            "retention: deleted %d samples, %d rollups, %d events, %d batch records; "
            "dropped partitions %s",
            out.samples,
            out.rollups,
            out.events,
            out.batches,
            ", ".join(out.partitions) or "-",
        )
    return out


def _purge_rows(store: Store, settings: Settings, now: float, raw_cutoff: float) -> Purged:
    """SQLite (and an unpartitioned PostgreSQL store): delete row by row, per series chunk."""
    out = Purged()
    with store.read() as conn:
        series_ids = list(conn.execute(sa.select(series.c.id).order_by(series.c.id)).scalars())
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
    return out


def _purge_partitioned(store: Store, settings: Settings, now: float, raw_cutoff: float) -> Purged:
    """PostgreSQL: drop whole partitions past retention; delete only in the default partitions
    and in partitions wholly dated beyond the clock skew (ingest refuses such rows)."""
    out = Purged(partitions=partitions.drop_expired(store, settings, now, raw_cutoff=raw_cutoff))
    future = now + settings.max_clock_skew
    hour_cutoff = now - settings.rollup_retention
    for scheme, cutoff, counter in (
        (partitions.SAMPLES, raw_cutoff, "samples"),
        (partitions.ROLLUPS, hour_cutoff, "rollups"),
    ):
        col = scheme.column
        # An hour is dropped once all of it is past the retention.
        old = (
            f"{col} + 3600 <= {cutoff!r}" if scheme is partitions.ROLLUPS else f"{col} < {cutoff!r}"
        )
        with store.read() as conn:
            parts = partitions.partitions(conn, scheme)
        for p in parts:
            if p.lo is None:
                where = f"{old} OR {col} > {future!r}"
            elif p.lo > future:
                where = f"{col} > {future!r}"
            else:
                continue
            with store.write() as conn:
                n = conn.exec_driver_sql(f"DELETE FROM {p.name} WHERE {where}").rowcount
            setattr(out, counter, getattr(out, counter) + n)
    return out
