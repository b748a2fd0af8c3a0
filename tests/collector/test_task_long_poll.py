"""The task channel's long-poll with real parts: the collector under uvicorn (in a thread, on
SQLite and PostgreSQL) and the agent's own :class:`agent.tasks.TaskChannel` loop.

* a task queued while the agent's poll is held reaches the agent at once (its
  ``poll_interval`` is 30 s: only the long-poll can deliver it within seconds);
* held polls hold no thread or connection: other requests are answered meanwhile;
* more polls than ``task_poll_max_parked`` are answered at once; a poll ends at its ``wait``;
* stopping the agent interrupts its held poll; stopping the collector answers held polls;
* cluster (PostgreSQL): a task queued through another replica's API reaches an agent whose
  poll the first replica holds (the shared re-check).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from agent.tasks import TaskChannel
from collector import admin, timeutil
from collector.api import create_app
from collector.remediation.keys import TaskSigner, generate_key
from collector.server import build_server
from collector.settings import Settings
from collector.store import Store
from tests.collector.conftest import add_tenant, make_batch, sample
from tests.servers.collector import free_port

POLL = "/api/v1/agent/tasks/poll"


@contextlib.contextmanager
def collector(settings: Settings, store: Store) -> Iterator[Any]:
    """The collector app under uvicorn in a thread; yields the server (``.url`` set)."""
    server = build_server(settings, port=free_port(), store=store, migrate=False)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "collector did not start"
        time.sleep(0.02)
    server.url = f"http://127.0.0.1:{server.config.port}"  # type: ignore[attr-defined]
    server.thread = thread  # type: ignore[attr-defined]
    try:
        yield server
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def waiters(server: Any) -> Any:
    return server.config.app.state.runtime.remediation.waiters


def wait_until(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def key() -> str:
    return generate_key()


def collector_settings(tmp_path: Path, db_url: str, key: str, **extra: Any) -> Settings:
    return Settings.for_data_dir(
        tmp_path / "data",
        database_url=db_url,
        task_signing_key=key,
        background=False,  # nothing but the requests of the test
        **extra,
    )


@pytest.fixture
def world(store: Store, tmp_path: Path) -> Any:
    """Client acme with an agent token, an admin token, and the agent's script folder."""
    tenant = add_tenant(store, "acme")
    _, admin_token = admin.create_token(store, admin=True)
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    marker = tmp_path / "ran"
    (scripts / "fix.sh").write_text(f'#!/bin/sh\necho run >> "{marker}"\necho fixed\n')
    (scripts / "fix.sh").chmod(0o755)
    return type(
        "World",
        (),
        {"tenant": tenant, "admin": admin_token, "scripts": scripts, "marker": marker},
    )


def add_asset(url: str, token: str, name: str = "srv1") -> None:
    batch = make_batch([sample(name, "memory_used_percent", 50.0, timeutil.now())], hostname=name)
    answer = httpx.post(
        f"{url}/api/v1/batches", json=batch, headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200, answer.text


def queue_task(url: str | Any, admin_token: str, asset: str = "srv1") -> dict[str, Any]:
    """POST /api/v1/tasks to ``url`` (or through a TestClient of another replica)."""
    http = httpx.Client(base_url=url) if isinstance(url, str) else url
    answer = http.post(
        "/api/v1/tasks",
        json={
            "client": "acme",
            "asset": asset,
            "action": "run-script",
            "params": {"script": "fix.sh"},
        },
        headers={"Authorization": f"Bearer {admin_token}"},
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def succeeded(url: str, admin_token: str, task_id: str) -> dict[str, Any]:
    """The task once it succeeded (within 10 s)."""
    return wait_until(
        lambda: (t := get_task(url, admin_token, task_id))["state"] == "succeeded" and t,
        10,
        f"task {task_id} to succeed",
    )


def held_polls(url: str, token: str, assets: list[str], wait: float) -> list[threading.Thread]:
    """Polls with ``wait`` for ``assets``, each in a thread of its own (started)."""
    threads = [
        threading.Thread(
            target=httpx.post,
            args=(f"{url}{POLL}",),
            kwargs={
                "json": {"asset": asset, "wait": wait},
                "headers": {"Authorization": f"Bearer {token}"},
                "timeout": wait + 30,
            },
            daemon=True,
        )
        for asset in assets
    ]
    for thread in threads:
        thread.start()
    return threads


def get_task(url: str, admin_token: str, task_id: str) -> dict[str, Any]:
    return httpx.get(
        f"{url}/api/v1/tasks/{task_id}", headers={"Authorization": f"Bearer {admin_token}"}
    ).json()


@contextlib.contextmanager
def agent(url: str, world: Any, key: str, tmp_path: Path, **kw: Any) -> Iterator[Any]:
    """The agent's task loop (``run_forever``) in a thread, as the agent runs it."""
    channel = TaskChannel(
        url,
        world.tenant.token,
        "srv1",
        tmp_path / "agent-state",
        ["run-script"],
        public_key=TaskSigner(key).public_key(),
        scripts_dir=world.scripts,
        poll_interval=30.0,
        **kw,
    )
    stop = threading.Event()
    thread = threading.Thread(target=channel.run_forever, args=(stop,), daemon=True)
    thread.start()
    channel.stop, channel.thread = stop, thread  # type: ignore[attr-defined]
    try:
        yield channel
    finally:
        stop.set()
        thread.join(timeout=10)
        channel.journal.close()


def test_a_task_reaches_a_long_polling_agent_at_once(
    store: Store, tmp_path: Path, db_url: str, key: str, world: Any
) -> None:
    settings = collector_settings(tmp_path, db_url, key)
    with collector(settings, store) as server:
        add_asset(server.url, world.tenant.token)
        with agent(server.url, world, key, tmp_path, long_poll=20.0) as channel:
            wait_until(lambda: waiters(server).parked == 1, 10, "the agent's poll to be held")
            # Held polls keep no thread or connection: the API answers meanwhile.
            extra = held_polls(
                server.url, world.tenant.token, [f"idle{i}" for i in range(30)], wait=3
            )
            wait_until(lambda: waiters(server).parked == 31, 10, "31 held polls")
            started = time.monotonic()
            health = httpx.get(f"{server.url}/healthz", timeout=5)
            listed = httpx.get(
                f"{server.url}/api/v1/tasks",
                headers={"Authorization": f"Bearer {world.admin}"},
                timeout=5,
            )
            answered_in = time.monotonic() - started
            assert health.status_code == 200 and listed.json() == []
            assert answered_in < 2.0, f"other requests waited {answered_in:.2f}s"

            task = queue_task(server.url, world.admin)
            done = succeeded(server.url, world.admin, task["id"])
            latency = done["delivered_at"] - done["created_at"]
            # The agent polls every 30 s without the long-poll; it got this one at once.
            assert latency < 5.0, f"delivered {latency:.2f}s after it was queued"
            print(f"long-poll delivery latency: {latency * 1000:.0f} ms ({store.dialect})")
            assert world.marker.read_text().count("run") == 1
            # The agent asks again at once: a second task is delivered as fast.
            wait_until(lambda: waiters(server).parked >= 1, 10, "the next held poll")
            second = queue_task(server.url, world.admin)
            again = succeeded(server.url, world.admin, second["id"])
            assert again["delivered_at"] - again["created_at"] < 5.0
            for thread in extra:
                thread.join(timeout=10)
            # Stopping the agent interrupts its held poll at once.
            wait_until(lambda: waiters(server).parked == 1, 10, "the agent held again")
            stopped = time.monotonic()
            channel.stop.set()
            channel.thread.join(timeout=5)
            assert not channel.thread.is_alive()
            assert time.monotonic() - stopped < 2.0
        audit = httpx.get(
            f"{server.url}/api/v1/tasks/{task['id']}/audit",
            headers={"Authorization": f"Bearer {world.admin}"},
        ).json()
    assert [a["event"] for a in audit] == ["created", "delivered", "result"]
    assert world.marker.read_text().count("run") == 2  # each task ran once


def test_held_polls_are_bounded_end_at_their_wait_and_on_shutdown(
    store: Store, tmp_path: Path, db_url: str, key: str, world: Any
) -> None:
    settings = collector_settings(
        tmp_path, db_url, key, task_poll_max_parked=2, task_poll_max_wait=30
    )
    headers = {"Authorization": f"Bearer {world.tenant.token}"}
    with collector(settings, store) as server:
        add_asset(server.url, world.tenant.token)
        # A poll without a task ends (empty) when its wait is over.
        started = time.monotonic()
        empty = httpx.post(
            f"{server.url}{POLL}", json={"asset": "srv1", "wait": 1}, headers=headers
        )
        took = time.monotonic() - started
        assert empty.json() == {"tasks": []} and 0.9 < took < 4, took
        # Two held (the bound); a third is answered at once.
        held = held_polls(server.url, world.tenant.token, ["a0", "a1"], wait=30)
        wait_until(lambda: waiters(server).parked == 2, 10, "two held polls")
        started = time.monotonic()
        third = httpx.post(
            f"{server.url}{POLL}", json={"asset": "srv1", "wait": 30}, headers=headers
        )
        assert third.json() == {"tasks": []} and time.monotonic() - started < 2.0
        # A bad wait names the field.
        bad = httpx.post(f"{server.url}{POLL}", json={"asset": "srv1", "wait": -1}, headers=headers)
        assert bad.status_code == 422 and "wait" in bad.text
        for wrong in (False, "5"):  # a number, not a flag or a text
            refused = httpx.post(
                f"{server.url}{POLL}", json={"asset": "srv1", "wait": wrong}, headers=headers
            )
            assert refused.status_code == 422 and "wait" in refused.text
        # Shutdown answers the held polls at once instead of waiting 30 s for them.
        started = time.monotonic()
        server.should_exit = True
        server.thread.join(timeout=20)
        for thread in held:
            thread.join(timeout=5)
        assert not server.thread.is_alive() and not any(t.is_alive() for t in held)
        assert time.monotonic() - started < 5.0


@pytest.mark.postgres
def test_a_task_queued_on_another_replica_reaches_the_held_poll(
    store: Store, tmp_path: Path, db_url: str, key: str, world: Any
) -> None:
    if store.is_sqlite:
        pytest.skip("a cluster of replicas needs PostgreSQL")
    settings = collector_settings(tmp_path, db_url, key)
    other_settings = collector_settings(tmp_path / "b", db_url, key)
    with collector(settings, store) as first:
        add_asset(first.url, world.tenant.token)
        second = create_app(other_settings, migrate=False, run_retention=False)
        with (
            TestClient(second) as replica_b,
            agent(first.url, world, key, tmp_path, long_poll=20.0) as channel,
        ):
            wait_until(lambda: waiters(first).parked == 1, 10, "the agent held on replica A")
            task = queue_task(replica_b, world.admin)
            done = succeeded(first.url, world.admin, task["id"])
            assert channel.last_error is None
    latency = done["delivered_at"] - done["created_at"]
    # Found by A's re-check (every task_poll_recheck = 1 s), not the agent's 30 s polling.
    assert latency < 5.0, f"delivered {latency:.2f}s after replica B queued it"
    print(f"cross-replica delivery latency: {latency * 1000:.0f} ms")
    assert world.marker.read_text().count("run") == 1


def test_after_commit_callbacks_see_the_commit_and_never_run_on_rollback(store: Store) -> None:
    """The wake of a held poll (Store.write's after-commit callbacks): it runs once the rows
    are visible to another connection, never for a transaction rolled back, and nothing is
    left behind on the pooled connection for its next user."""
    from collector.schema import clients
    from collector.store import after_commit

    def count() -> int:
        with store.read() as conn:
            return len(conn.execute(clients.select()).all())

    seen: list[int] = []
    with store.write() as conn:
        conn.execute(clients.insert().values(name="one", created_at=timeutil.now()))
        after_commit(conn, lambda: seen.append(count()))
        assert seen == []
    assert seen == [1]  # run after the commit: another connection saw the row

    with pytest.raises(RuntimeError), store.write() as conn:
        conn.execute(clients.insert().values(name="two", created_at=timeutil.now()))
        after_commit(conn, lambda: seen.append(-1))
        raise RuntimeError("rolled back")
    with store.write() as conn:
        pass  # the same pooled connection, most likely: the dropped callback stays dropped
    assert seen == [1] and count() == 1
