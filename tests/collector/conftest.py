"""Fixtures for collector tests: batch builders, an ingestor with tokens, an API client."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from collector import admin
from collector.store import Store

NOW = time.time()
HOUR0 = (int(NOW) // 3600 - 5) * 3600  # the start of an hour, 5 hours ago


def sample(asset: str, metric: str, value: float, ts: float, **labels: str) -> dict[str, Any]:
    return {"asset": asset, "metric": metric, "labels": labels, "value": value, "ts": ts}


def make_batch(
    samples: list[dict[str, Any]] = (),
    *,
    assets: list[str | dict] | None = None,
    events: list[dict] = (),
    agent_id: str | None = None,
    seq: int = 1,
    hostname: str = "srv1",
    site: str = "default",
    batch_id: str | None = None,
) -> dict[str, Any]:
    """A wire batch as a dict. ``assets`` defaults to the assets the samples name (kind host)."""
    if assets is None:
        assets = sorted({s["asset"] for s in samples} | {e["asset"] for e in events})
    return {
        "batch_id": batch_id or str(uuid.uuid4()),
        "seq": seq,
        "sent_at": NOW,
        "agent": {
            "id": agent_id or str(uuid.uuid4()),
            "version": "0.1.0",
            "hostname": hostname,
            "site": site,
        },
        "assets": [a if isinstance(a, dict) else {"name": a, "kind": "host"} for a in assets],
        "samples": list(samples),
        "events": list(events),
    }


@dataclass
class Tenant:
    """A client with an agent token, and that token's principal."""

    name: str
    token: str
    principal: admin.Principal


def add_tenant(store: Store, name: str) -> Tenant:
    admin.create_client(store, name)
    _, token = admin.create_token(store, client=name)
    with store.read() as conn:
        principal = admin.authenticate(conn, token, need="agent")
    return Tenant(name, token, principal)


def row_counts(store: Store) -> dict[str, Any]:
    """Every table's row count plus the latest/rollup contents: 'nothing changed' checks."""
    from collector.schema import metadata

    with store.read() as conn:
        out: dict[str, Any] = {
            t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar()
            for t in metadata.sorted_tables
        }
        out["latest_rows"] = sorted(
            conn.execute(sa.text("SELECT series_id, ts, value FROM latest")).all()
        )
        out["rollup_rows"] = sorted(conn.execute(sa.text("SELECT * FROM rollups_hourly")).all())
        out["agents_rows"] = sorted(
            conn.execute(sa.text("SELECT id, client_id, last_seq FROM agents")).all()
        )
    return out


@pytest.fixture
def tenant_factory(store: Store) -> Callable[[str], Tenant]:
    return lambda name: add_tenant(store, name)


@pytest.fixture
def acme(store: Store) -> Tenant:
    return add_tenant(store, "acme")


@pytest.fixture
def admin_token(store: Store) -> str:
    return admin.create_token(store, admin=True)[1]


@pytest.fixture
def settings(tmp_path, db_url: str):
    from collector.settings import Settings

    return Settings.for_data_dir(tmp_path / "data", database_url=db_url)


@pytest.fixture
def api(store: Store, settings) -> Iterator[Any]:
    """A FastAPI TestClient on the app over ``store`` (no retention task)."""
    from fastapi.testclient import TestClient

    from collector.api import create_app

    app = create_app(settings, store=store, migrate=False, run_retention=False)
    with TestClient(app, raise_server_exceptions=True) as client:
        yield client


@pytest.fixture
def kit() -> Any:
    """The helpers above, for test modules (conftest modules are not importable by name)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        sample=sample,
        make_batch=make_batch,
        row_counts=row_counts,
        add_tenant=add_tenant,
        NOW=NOW,
        HOUR0=HOUR0,
    )
