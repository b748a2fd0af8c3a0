"""Each router on its own: mounted on a bare FastAPI app with a Runtime built for the test
(a real, migrated store), never the whole collector app. A handler that still reached for a
closure or a global of ``create_app`` would fail here."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from collector import admin, timeutil
from collector.api import (
    build_runtime,
    ingest_router,
    install_error_handlers,
    operations_router,
    read_router,
    run_runtime,
)
from collector.runtime import Runtime
from collector.settings import Settings
from collector.store import Store
from collector.web import auth
from collector.web import routes as web_routes


@pytest.fixture
def runtime(store: Store, settings: Settings) -> Runtime:
    # No periodic jobs: only what a request needs (rules, and on PostgreSQL the cluster).
    return build_runtime(settings.model_copy(update={"background": False}), store)


def bare_app(runtime: Runtime, router: APIRouter) -> FastAPI:
    """One router, the runtime (run for the app's life) and the JSON error answers; nothing
    else of the collector."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with run_runtime(runtime, migrate=False):
            yield

    app = FastAPI(lifespan=lifespan)
    app.state.runtime = runtime
    install_error_handlers(app)
    app.include_router(router)
    return app


@pytest.fixture
def client_for(runtime: Runtime) -> Iterator[Any]:
    clients: list[TestClient] = []

    def make(router: APIRouter) -> TestClient:
        client = TestClient(bare_app(runtime, router))
        client.__enter__()  # the lifespan: the runtime runs
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def test_read_router_alone_lists_clients_for_an_admin_token_only(
    runtime: Runtime, client_for: Any
) -> None:
    admin.create_client(runtime.store, "acme")
    _, admin_token = admin.create_token(runtime.store, admin=True)
    _, agent_token = admin.create_token(runtime.store, client="acme")
    http = client_for(read_router)

    listed = http.get("/api/v1/clients", headers={"Authorization": f"Bearer {admin_token}"})
    refused = http.get("/api/v1/clients", headers={"Authorization": f"Bearer {agent_token}"})
    missing = http.get(
        "/api/v1/assets/99/latest", headers={"Authorization": f"Bearer {admin_token}"}
    )

    assert listed.status_code == 200 and [c["name"] for c in listed.json()] == ["acme"]
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    assert missing.status_code == 404 and missing.json()["detail"] == "no asset with id 99"
    # Only this router is mounted: the ingest path does not exist on this app.
    assert http.post("/api/v1/batches", content=b"{}").status_code == 404


def test_ingest_router_alone_stores_a_batch_through_the_runtime(
    runtime: Runtime, client_for: Any, kit: Any
) -> None:
    tenant = kit.add_tenant(runtime.store, "acme")
    http = client_for(ingest_router)
    batch = kit.make_batch([kit.sample("srv1", "cpu_usage_percent", 12.5, timeutil.now())])

    answer = http.post(
        "/api/v1/batches", json=batch, headers={"Authorization": f"Bearer {tenant.token}"}
    )
    again = http.post(
        "/api/v1/batches", json=batch, headers={"Authorization": f"Bearer {tenant.token}"}
    )
    no_token = http.post("/api/v1/batches", json=batch)

    assert answer.status_code == 200, answer.text
    assert answer.json()["samples"] == 1 and answer.json()["duplicate"] is False
    assert again.json()["duplicate"] is True
    assert no_token.status_code == 401 and no_token.headers["www-authenticate"] == "Bearer"
    assert kit.row_counts(runtime.store)["samples"] == 1


def test_operations_router_alone_answers_health_from_the_runtimes_store(
    runtime: Runtime, client_for: Any, tmp_path: Any
) -> None:
    healthy = client_for(operations_router).get("/healthz")
    assert healthy.status_code == 200 and healthy.json() == {"status": "ok"}

    # A runtime over a store nobody migrated: the same handler answers 503.
    empty = Store.from_url(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        unmigrated = build_runtime(Settings.for_data_dir(tmp_path / "empty"), empty)
        app = FastAPI()  # not run: its lifespan would migrate
        app.state.runtime = unmigrated
        install_error_handlers(app)
        app.include_router(operations_router)
        answer = TestClient(app).get("/healthz")
    finally:
        empty.dispose()
    assert answer.status_code == 503 and answer.json()["error"] == "store_unavailable"


def test_web_router_alone_serves_a_logged_in_page_and_refuses_without_a_session(
    runtime: Runtime, client_for: Any
) -> None:
    now = timeutil.now()
    with runtime.store.write() as conn:
        user_id = auth.create_user(
            conn, "tech", "correct horse battery", role="technician", now=now
        )
        cookie, _ = auth.create_session(conn, user_id, now=now, max_age=3600)
    runtime.rules.reload()  # the shipped packs
    http = client_for(web_routes.router)

    http.cookies.set(web_routes.SESSION_COOKIE, cookie)
    page = http.get("/ui/rules")
    http.cookies.set(web_routes.SESSION_COOKIE, "not-a-session")
    anonymous = http.get("/ui/rules")

    assert page.status_code == 200, page.text
    # The page reads the rule engine of the runtime it was given.
    rules_loaded = runtime.rules.status().rules
    assert rules_loaded > 0
    assert "<h1>Rules</h1>" in page.text
    assert f"<dt>Rules loaded</dt><dd>{rules_loaded}</dd>" in page.text
    # Without the web UI's HTML error pages (not installed on this bare app) the API's
    # JSON answer shows the dependency refused: no live session.
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "login_required"


def test_a_router_needs_the_runtime_on_app_state() -> None:
    """Mounted without a Runtime, a handler fails loudly instead of reaching a global."""
    app = FastAPI()
    app.include_router(operations_router)
    with TestClient(app, raise_server_exceptions=True) as http, pytest.raises(AttributeError):
        http.get("/healthz")


def test_remediation_router_alone_delivers_tasks_from_the_runtime(
    store: Store, settings: Settings
) -> None:
    """The task channel's router on a bare app: its handlers reach the Runtime's remediation
    (signer, library, long-poll waiters) through the dependency, nothing else."""
    import threading

    from agent.wire import Batch
    from collector.remediation.api import router as remediation_router
    from collector.remediation.keys import TaskSigner, generate_key
    from tests.collector.conftest import add_tenant, make_batch

    key = generate_key()
    keyed = Settings.for_data_dir(
        settings.data_dir, database_url=settings.database_url, task_signing_key=key
    )
    runtime = build_runtime(keyed.model_copy(update={"background": False}), store)
    acme = add_tenant(store, "acme")
    runtime.ingestor.ingest(acme.principal, Batch.model_validate(make_batch(assets=["srv1"])))
    _, admin_token = admin.create_token(store, admin=True)
    as_admin = {"Authorization": f"Bearer {admin_token}"}
    as_agent = {"Authorization": f"Bearer {acme.token}"}
    with TestClient(bare_app(runtime, remediation_router)) as http:
        public = http.get("/api/v1/agent/tasks/key", headers=as_agent)
        refused = http.get("/api/v1/agent/tasks/key", headers=as_admin)
        assert public.json()["public_key"] == TaskSigner(key).public_key()
        assert refused.status_code == 403
        # A held poll is answered by a task queued through the same router meanwhile.
        answers: list[Any] = []
        poller = threading.Thread(
            target=lambda: answers.append(
                http.post(
                    "/api/v1/agent/tasks/poll", json={"asset": "srv1", "wait": 20}, headers=as_agent
                )
            )
        )
        poller.start()
        deadline = time.monotonic() + 10
        while runtime.remediation.waiters.parked != 1:
            assert time.monotonic() < deadline, "the poll was not held"
            time.sleep(0.01)
        started = time.monotonic()
        created = http.post(
            "/api/v1/tasks",
            json={
                "client": "acme",
                "asset": "srv1",
                "action": "restart-service",
                "params": {"service": "nginx"},
            },
            headers=as_admin,
        )
        poller.join(timeout=10)
        assert created.status_code == 201, created.text
        [answer] = answers
        assert [t["id"] for t in answer.json()["tasks"]] == [created.json()["id"]]
        assert time.monotonic() - started < 5
        unknown = http.post(
            "/api/v1/tasks",
            json={"client": "acme", "asset": "srv9", "action": "restart-service", "params": {}},
            headers=as_admin,
        )
        assert unknown.status_code == 404 and "no asset 'srv9'" in unknown.json()["detail"]
        # Only this router is mounted.
        assert http.get("/api/v1/clients", headers=as_admin).status_code == 404


def test_closing_router_alone_lists_closings_and_answers_a_link_through_the_runtime(
    runtime: Runtime, client_for: Any
) -> None:
    from collector.closing import api as closing_api
    from tests.collector.closing import closingkit

    closingkit.give(runtime.store, "acme")
    _, admin_token = admin.create_token(runtime.store, admin=True)
    _, agent_token = admin.create_token(runtime.store, client="acme")
    service = runtime.incident_service
    key = service.report(client="acme", title="Printer on the 2nd floor jams", actor="jane")
    service.act(key, "resolve", "tech", note="Cleared the jam.")
    sent = runtime.incidents.closing.run_once(now=timeutil.now() + runtime.settings.closing_delay)
    assert sent["sent"] == 1
    (mail,) = closingkit.queued(runtime.store)
    token = closingkit.links_in(mail.body_text)["confirm"]
    http = client_for(closing_api.router)
    staff = {"Authorization": f"Bearer {admin_token}"}

    listed = http.get("/api/v1/closings", headers=staff)
    refused = http.get("/api/v1/closings", headers={"Authorization": f"Bearer {agent_token}"})
    anonymous = http.get("/api/v1/closings")
    page = http.get("/closing/confirm", params={"token": token})
    bad = http.get("/closing/confirm", params={"token": "forged"})
    answer = http.post("/closing/confirm", data={"token": token, "rating": "5", "comment": ""})
    after = http.get("/api/v1/closings", headers=staff, params={"client": "acme"})

    assert listed.status_code == 200, listed.text
    assert [(c["incident"], c["client"], c["state"]) for c in listed.json()] == [
        (key, "acme", "awaiting")
    ]
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    assert anonymous.status_code == 401
    assert page.status_code == 200 and "Printer on the 2nd floor jams" in page.text
    assert bad.status_code == 400
    assert answer.status_code == 200, answer.text
    assert key in answer.text
    assert [(c["state"], c["rating"], c["answered_via"]) for c in after.json()] == [
        ("confirmed", 5, "link")
    ]
    # Only this router is mounted: the rest of the API is not there.
    assert http.get("/api/v1/clients", headers=staff).status_code == 404
