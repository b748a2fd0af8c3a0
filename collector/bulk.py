"""Set-at-a-time writes of samples, latest values and hourly rollups, one class per dialect.

This is the ingest hot path, so it speaks the driver's own SQL: ``executemany`` of one
prepared statement on SQLite (each row costs one VDBE run, no Python per row beyond the
tuple); on PostgreSQL raw samples go in by ``COPY … FROM STDIN (FORMAT BINARY)`` (psycopg 3's
``cursor.copy``, rows encoded in its C code: no SQL parsing, no per-row executor work) and the
rest as a single ``INSERT … SELECT FROM unnest(arrays)`` statement (one round trip; the
arrays are passed as array literals built in C, see :func:`_array`).

``COPY`` cannot skip a row already stored: a (series, ts) stored by an earlier batch makes it
fail with a unique violation, raised as :class:`SamplesConflict`, and ingest redoes the
transaction with ``exact=True``, which filters such rows and inserts with ``ON CONFLICT DO
NOTHING`` (rare: an agent re-sending samples under a new batch id).

Hourly rollups are built from the raw samples by the ``rollups`` job (collector/rollups.py);
ingest only merges the samples of hours already built (late ones) with :meth:`upsert_rollups`,
in the database, so two collectors, or two batches for the same hour, combine correctly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy.engine import Connection

from collector.store import DriverSQL

#: (series_id, ts, value)
SampleRow = tuple[int, float, float]
#: (series_id, hour, min, max, sum, count, last, last_ts)
RollupRow = tuple[int, int, float, float, float, int, float, float]


class SamplesConflict(Exception):
    """A raw sample's (series, ts) is already stored (PostgreSQL ``COPY``): the transaction is
    aborted; redo it with ``exact=True``."""


class BulkWriter(Protocol):
    """Writes the three per-sample tables of one batch inside the caller's transaction."""

    def insert_samples(
        self, conn: Connection, rows: Sequence[SampleRow], *, exact: bool = False
    ) -> int:
        """Insert raw samples; return rows inserted. A (series_id, ts) already stored is
        skipped (not counted), or, where the fast path cannot skip (``COPY``) and ``exact`` is
        false, raises :class:`SamplesConflict`."""

    def upsert_latest(self, conn: Connection, rows: Sequence[SampleRow]) -> None:
        """One row per series: replaces the stored latest value only if not older."""

    def upsert_rollups(self, conn: Connection, rows: Sequence[RollupRow]) -> None:
        """One row per (series, hour): merged with what is stored (min/max/sum/count/last)."""


_ROLLUP_SET = """
    min = {least}(rollups_hourly.min, excluded.min),
    max = {greatest}(rollups_hourly.max, excluded.max),
    sum = rollups_hourly.sum + excluded.sum,
    count = rollups_hourly.count + excluded.count,
    last = CASE WHEN excluded.last_ts >= rollups_hourly.last_ts
                THEN excluded.last ELSE rollups_hourly.last END,
    last_ts = {greatest}(rollups_hourly.last_ts, excluded.last_ts)
"""


#: A stored latest value dated further ahead of the database's clock than the skew (written
#: before ingest refused future timestamps, or by a clock that was wrong) is replaced by any
#: newer-arriving sample; otherwise it would freeze the series forever. The second condition
#: is only evaluated when the first fails (an out-of-order sample): no cost in the steady state.
_LATEST_WHERE = "WHERE excluded.ts >= latest.ts OR latest.ts > {now} + {skew!r}"
_SQLITE_NOW = "CAST(strftime('%s', 'now') AS REAL)"
_POSTGRES_NOW = "extract(epoch FROM now())"


class SqliteBulkWriter:
    """SQLite: prepared statements run with ``executemany`` (the statement is cached)."""

    _SAMPLES = "INSERT INTO samples (series_id, ts, value) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"

    def __init__(self, max_clock_skew: float = 300.0) -> None:
        self._LATEST = (
            "INSERT INTO latest (series_id, ts, value) VALUES (?, ?, ?) "
            "ON CONFLICT (series_id) DO UPDATE SET ts = excluded.ts, value = excluded.value "
            + _LATEST_WHERE.format(now=_SQLITE_NOW, skew=float(max_clock_skew))
        )

    # SQLite's scalar MIN()/MAX() take several arguments; there is no LEAST/GREATEST.
    _ROLLUPS = (
        "INSERT INTO rollups_hourly (series_id, hour, min, max, sum, count, last, last_ts) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (series_id, hour) DO UPDATE SET "
        + _ROLLUP_SET.format(least="MIN", greatest="MAX")
    )

    def insert_samples(
        self, conn: Connection, rows: Sequence[SampleRow], *, exact: bool = False
    ) -> int:
        if not rows:
            return 0
        return DriverSQL(conn).many(self._SAMPLES, list(rows))

    def upsert_latest(self, conn: Connection, rows: Sequence[SampleRow]) -> None:
        if rows:
            DriverSQL(conn).many(self._LATEST, list(rows))

    def upsert_rollups(self, conn: Connection, rows: Sequence[RollupRow]) -> None:
        if rows:
            DriverSQL(conn).many(self._ROLLUPS, list(rows))


class PostgresBulkWriter:
    """PostgreSQL: one statement per table, rows passed as arrays and expanded by unnest()."""

    _SAMPLES = (
        "INSERT INTO samples (series_id, ts, value) "
        "SELECT * FROM unnest(%(s)s::bigint[], %(t)s::float8[], %(v)s::float8[]) "
        "ON CONFLICT DO NOTHING"
    )

    def __init__(self, max_clock_skew: float = 300.0) -> None:
        from psycopg.errors import UniqueViolation  # the postgres extra: only needed here

        self._unique_violation = UniqueViolation
        self._LATEST = (
            "INSERT INTO latest (series_id, ts, value) "
            "SELECT * FROM unnest(%(s)s::bigint[], %(t)s::float8[], %(v)s::float8[]) "
            "ON CONFLICT (series_id) DO UPDATE SET ts = excluded.ts, value = excluded.value "
            + _LATEST_WHERE.format(now=_POSTGRES_NOW, skew=float(max_clock_skew))
        )

    _ROLLUPS = (
        "INSERT INTO rollups_hourly (series_id, hour, min, max, sum, count, last, last_ts) "
        "SELECT * FROM unnest(%(s)s::bigint[], %(h)s::bigint[], %(mn)s::float8[], "
        "%(mx)s::float8[], %(sm)s::float8[], %(n)s::bigint[], %(l)s::float8[], %(lt)s::float8[]) "
        "ON CONFLICT (series_id, hour) DO UPDATE SET "
        + _ROLLUP_SET.format(least="LEAST", greatest="GREATEST")
    )

    @staticmethod
    def _columns(rows: Sequence[SampleRow]) -> dict[str, str]:
        s, t, v = zip(*rows, strict=True)
        return {"s": _array(s), "t": _array(t), "v": _array(v)}

    _COPY = "COPY samples (series_id, ts, value) FROM STDIN (FORMAT BINARY)"
    _COPY_TYPES = ("int8", "float8", "float8")

    def insert_samples(
        self, conn: Connection, rows: Sequence[SampleRow], *, exact: bool = False
    ) -> int:
        if not rows:
            return 0
        if exact:
            return conn.exec_driver_sql(self._SAMPLES, self._columns(rows)).rowcount
        raw = conn.connection.driver_connection
        assert raw is not None
        try:
            with raw.cursor() as cur:
                with cur.copy(self._COPY) as copy:
                    copy.set_types(self._COPY_TYPES)
                    for row in rows:
                        copy.write_row(row)
                return cur.rowcount
        except self._unique_violation as exc:
            raise SamplesConflict(str(exc)) from exc

    def upsert_latest(self, conn: Connection, rows: Sequence[SampleRow]) -> None:
        if rows:
            conn.exec_driver_sql(self._LATEST, self._columns(rows))

    def upsert_rollups(self, conn: Connection, rows: Sequence[RollupRow]) -> None:
        if not rows:
            return
        cols = [_array(c) for c in zip(*rows, strict=True)]
        conn.exec_driver_sql(
            self._ROLLUPS,
            dict(zip(("s", "h", "mn", "mx", "sm", "n", "l", "lt"), cols, strict=True)),
        )


def _array(values: Sequence[float]) -> str:
    """A PostgreSQL array literal of numbers, cast by the statement (``%(s)s::float8[]``).
    Built by ``str.join`` over ``map(str, …)`` in C: psycopg's list dumper walks the list in
    Python, per element (18 % of the collector's busy time in the ``latest`` upsert under
    fleet ingest, benchmarks/README.md). ``str`` of a float is its shortest repr, which
    PostgreSQL reads back to the same double; ints and floats only (the wire contract's
    values are finite)."""
    return "{" + ",".join(map(str, values)) + "}"


def writer_for(dialect: str, *, max_clock_skew: float = 300.0) -> BulkWriter:
    if dialect == "sqlite":
        return SqliteBulkWriter(max_clock_skew)
    if dialect == "postgresql":
        return PostgresBulkWriter(max_clock_skew)
    raise ValueError(f"unsupported database dialect {dialect!r} (use sqlite or postgresql)")
