"""Fixtures of the management view tests: the hand-built October of scenario.py in the store."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from collector.store import Store
from tests.collector.management.scenario import SINCE, UNTIL, Scenario, build


@pytest.fixture
def scenario(store: Store) -> Scenario:
    return build(store)


@pytest.fixture
def october() -> Any:
    from collector.management.periods import TimeRange

    return TimeRange(SINCE, UNTIL)


@pytest.fixture
def read(store: Store) -> Any:
    """Run a view function in a read transaction: ``read(views.sla_compliance, span)``."""

    def run(fn: Any, *args: Any, **kwargs: Any) -> Any:
        with store.read() as conn:
            return fn(conn, *args, **kwargs)

    return run


def count_rows(store: Store, table: sa.Table) -> int:
    with store.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()
