"""The on-call management view: acknowledgement times (per priority, per person) and who
carried the most nights. The figures come from the on-call domain's read functions
(:mod:`collector.oncall.metrics`, :mod:`collector.oncall.schedule`)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection

from collector import timeutil
from collector.management import models as m
from collector.management.periods import TimeRange

#: Longest range whose nights are counted (one person-night per rotation and day).
MAX_DAYS = 400
NIGHT = time(3, 0)


@lru_cache(maxsize=8)
def _config(paths: tuple[str, ...]):  # noqa: ANN202 — OncallConfig
    from collector.oncall.model import OncallConfig, load

    return load(paths) if paths else OncallConfig()


def oncall_view(conn: Connection, span: TimeRange, paths: tuple[str, ...]) -> m.OncallView:
    from collector.oncall import schedule
    from collector.oncall.metrics import ack_rows, ack_summary
    from collector.oncall.service import overrides_of, rotation_of

    config = _config(paths)
    summary = ack_summary(ack_rows(conn, span.since, span.until), config)

    def figures(group: dict) -> list[m.AckFigures]:
        return [m.AckFigures(key=k, **v) for k, v in group.items()]

    rows: list[m.NightsRow] = []
    for name, rotation_config in config.rotations.items():
        tz = ZoneInfo(rotation_config.timezone)
        # The nights whose 03:00 (the rotation's wall clock) lies in the range.
        day = datetime.fromtimestamp(span.since, tz).date() - timedelta(days=1)
        last = datetime.fromtimestamp(span.until, tz).date()
        days: list[date] = []
        while day <= last and len(days) < MAX_DAYS:
            if span.since <= datetime.combine(day, NIGHT, tz).timestamp() < span.until:
                days.append(day)
            day += timedelta(days=1)
        rotation = rotation_of(conn, config, name)
        counts = schedule.nights(
            rotation, overrides_of(conn, config, name), days, rotation_config.timezone
        )
        for person, nights in counts.items():
            found = config.people.get(person)
            rows.append(
                m.NightsRow(
                    rotation=name,
                    person=person,
                    name=(found.name if found else "") or person,
                    nights=nights,
                )
            )
    rows.sort(key=lambda r: (-r.nights, r.rotation, r.person))
    return m.OncallView(
        since=timeutil.to_datetime(span.since),
        until=timeutil.to_datetime(span.until),
        timezone="UTC",
        by_priority=figures(summary["priorities"]),
        by_person=figures(summary["people"]),
        nights=rows,
    )


def paths_of(settings: object) -> tuple[str, ...]:
    return tuple(str(Path(p)) for p in getattr(settings, "oncall_paths", []) or [])
