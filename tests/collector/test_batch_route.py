"""The batch route ahead of FastAPI (collector.api.BatchRoute) answers as the FastAPI route.

Two real apps over the same store: the collector app (batches answered by ``BatchRoute``)
and a bare FastAPI app with only ``ingest_router`` (the FastAPI route, its dependencies and
the error handlers). Every request gets the same status, body and headers from both; and
the collector app really answers batches outside FastAPI's routing.
"""

from __future__ import annotations

import gzip
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from agent.wire import BATCH_PATH
from collector import admin
from collector.api import BatchRoute, create_app, ingest_router, install_error_handlers
from collector.store import Store


def batch(**change: Any) -> dict[str, Any]:
    now = float(int(time.time()))
    body = {
        "batch_id": str(uuid.UUID(int=7)),
        "seq": 1,
        "sent_at": now,
        "agent": {"id": str(uuid.UUID(int=1)), "version": "1", "hostname": "h1"},
        "assets": [{"name": "h1", "kind": "host"}],
        "samples": [
            {"asset": "h1", "metric": "cpu_usage_percent", "value": 5.0, "ts": now},
            {
                "asset": "h1",
                "metric": "disk_used_percent",
                "labels": {"mountpoint": "/"},
                "value": 50.0,
                "ts": now,
            },
        ],
    }
    body.update(change)
    return body


@pytest.fixture
def apps(store: Store, settings) -> Iterator[tuple[TestClient, TestClient, str]]:
    admin.create_client(store, "acme")
    _, token = admin.create_token(store, client="acme", name="agent")
    full = create_app(settings, store=store, migrate=False, run_retention=False)
    bare = FastAPI()
    bare.state.runtime = full.state.runtime  # the same runtime: one ingestor, one store
    install_error_handlers(bare)
    bare.include_router(ingest_router)
    with TestClient(full) as a:
        yield a, TestClient(bare), token


CASES: list[tuple[str, dict[str, str], bytes]] = [
    ("no authorization", {}, b"{}"),
    ("basic scheme", {"Authorization": "Basic abc"}, b"{}"),
    ("bearer without token", {"Authorization": "Bearer "}, b"{}"),
    ("unknown token", {"Authorization": "Bearer nope"}, b"{}"),
    ("not json", {}, b"{not json"),
    ("bad gzip", {"Content-Encoding": "gzip"}, b"\x1f\x8b\x08garbage"),
    ("brotli", {"Content-Encoding": "br"}, b"{}"),
    ("too large", {}, b" " * (11 * 2**20)),
    (
        "contract: bad metric name",
        {},
        json.dumps(
            batch(samples=[{"asset": "h1", "metric": "9bad", "value": 1.0, "ts": time.time()}])
        ).encode(),
    ),
    (
        "contract: bad label name",
        {},
        json.dumps(
            batch(
                samples=[
                    {
                        "asset": "h1",
                        "metric": "m",
                        "labels": {"__x": "1"},
                        "value": 1.0,
                        "ts": time.time(),
                    }
                ]
            )
        ).encode(),
    ),
    ("contract: missing field", {}, json.dumps({"seq": 1}).encode()),
    (
        "nul",
        {},
        json.dumps(
            batch(agent={"id": str(uuid.UUID(int=1)), "version": "\u0000", "hostname": "h1"})
        ).encode(),
    ),
    ("good, gzip", {"Content-Encoding": "gzip"}, gzip.compress(json.dumps(batch()).encode())),
]


@pytest.mark.parametrize(("name", "headers", "body"), CASES, ids=[c[0] for c in CASES])
def test_same_answer_as_the_fastapi_route(apps, name, headers, body) -> None:
    full, bare, token = apps
    if "Authorization" not in headers and not name.startswith("no auth"):
        headers = {**headers, "Authorization": f"Bearer {token}"}
    headers = {"Content-Type": "application/json", **headers}
    answers = []
    for client in (full, bare):
        r = client.post(BATCH_PATH, content=body, headers=headers)
        answers.append(
            (
                r.status_code,
                r.content,
                r.headers.get("content-type"),
                r.headers.get("www-authenticate"),
                r.headers.get("content-length"),
            )
        )
    # The good batch is stored by the first app; the second then answers it as a duplicate.
    if name == "good, gzip":
        first, second = (json.loads(a[1]) for a in answers)
        assert answers[0][0] == answers[1][0] == 200
        assert first["duplicate"] is False and first["samples"] == 2, first
        assert second["duplicate"] is True and second["batch_id"] == first["batch_id"]
        return
    assert answers[0] == answers[1]
    assert answers[0][0] != 500


def test_batches_skip_fastapi_routing(apps, monkeypatch) -> None:
    """The collector app answers batches in BatchRoute: the FastAPI endpoint never runs."""
    full, _, token = apps
    import collector.api as api

    calls: list[str] = []
    original = api.BatchRoute.__call__

    async def spy(self: BatchRoute, scope, receive, send) -> None:
        calls.append(scope["path"])
        await original(self, scope, receive, send)

    monkeypatch.setattr(api.BatchRoute, "__call__", spy)

    async def never(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the FastAPI route ran")

    monkeypatch.setattr(api, "post_batch", never)  # (the router holds its own reference)
    r = full.post(
        BATCH_PATH,
        content=json.dumps(batch(batch_id=str(uuid.uuid4()))),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200, r.text
    assert calls == [BATCH_PATH]
    assert full.get(BATCH_PATH).status_code == 405  # other methods: FastAPI as before
