"""A store holding the hand-computed month (scenario.py), built once per module and backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from collector.store import Store
from tests.collector.reports import scenario
from tests.conftest import _postgres_schema_url, postgres_unavailable


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def scenario_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    """A migrated store with scenario.build() in it (read-only for the tests that use it)."""
    if request.param == "sqlite":
        urls: Iterator[str] = iter([f"sqlite:///{tmp_path_factory.mktemp('report') / 'upkeep.db'}"])
    else:
        reason = postgres_unavailable()
        if reason:
            pytest.skip(reason)
        urls = _postgres_schema_url()
    url = next(urls)
    store = Store.from_url(url)
    store.upgrade()
    scenario.build(store)
    yield store
    store.dispose()
    for _ in urls:  # drops the PostgreSQL schema
        pass
