"""Shared fixtures: the database URL (SQLite and PostgreSQL), a migrated store.

``db_url`` runs each test twice: on a fresh SQLite file and on a fresh PostgreSQL schema
(``$UPKEEP_TEST_POSTGRES_URL``, default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``,
trust auth). The schema is selected through libpq's ``options=-csearch_path=…``, so the
same URL works for subprocesses (``upkeep serve``, the CLI). PostgreSQL tests are skipped
with the reason when the server does not answer.
"""

from __future__ import annotations

import functools
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Property tests check logic, not speed: on a loaded CI machine a slow example must not fail
# the suite (no per-example deadline, no "too slow" health check), and the examples are derived
# from the test, not from a random seed, so every run tries the same ones.
settings.register_profile(
    "upkeep", deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.load_profile("upkeep")

# Make ``tests.servers.collector`` importable from any test (and from benchmarks/).
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

# Session fixtures for real servers, defined once here so that every test folder shares one
# instance per session (a real Redmine takes ~20 s to start).
from tests.servers.redmine import redmine  # noqa: E402, F401

POSTGRES_URL = os.environ.get(
    "UPKEEP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@functools.cache
def postgres_unavailable() -> str | None:
    """None if PostgreSQL answers at POSTGRES_URL, else why not (the skip reason)."""
    try:
        import psycopg
        from sqlalchemy.engine import make_url
    except ImportError as exc:
        return f"PostgreSQL driver not installed: {exc}"
    url = make_url(POSTGRES_URL)
    try:
        with psycopg.connect(
            host=url.host,
            port=url.port or 5432,
            user=url.username,
            password=url.password,
            dbname=url.database,
            connect_timeout=3,
        ):
            return None
    except Exception as exc:  # any failure means: cannot test here
        return f"PostgreSQL at {url.render_as_string(hide_password=True)} does not answer: {exc}"


def _postgres_schema_url() -> Iterator[str]:
    import psycopg
    from sqlalchemy.engine import make_url

    schema = f"t_{uuid.uuid4().hex[:12]}"
    url = make_url(POSTGRES_URL)
    params = {
        "host": url.host,
        "port": url.port or 5432,
        "user": url.username,
        "password": url.password,
        "dbname": url.database,
    }
    with psycopg.connect(**params, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
    finally:
        with psycopg.connect(**params, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL for an empty store: a fresh SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'upkeep.db'}"
        return
    reason = postgres_unavailable()
    if reason:
        pytest.skip(reason)
    yield from _postgres_schema_url()


@pytest.fixture
def store(db_url: str):
    """A migrated :class:`collector.store.Store` on ``db_url``."""
    from collector.store import Store

    store = Store.from_url(db_url)
    store.upgrade()
    yield store
    store.dispose()
