"""The rule service on a real store (SQLite and PostgreSQL): on-arrival evaluation through
ingest, persistence across a restart, hot reload that keeps state and refuses bad changes."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from agent.wire import Batch
from collector import admin
from collector.ingest import Ingestor
from collector.rules.service import RuleService
from collector.schema import alert_transitions, rule_alerts
from collector.settings import Settings

RULES = """
rules:
  - id: svc
    metric: service_up
    state: {in: [0]}
    for: 2m
    keep_firing_for: 1m
    summary: "{asset}: {service} down"
  - id: hot
    metric: temperature_celsius
    warning: "> 80"
    clear: "< 70"
"""


def batch(samples: list[tuple[str, dict, float, float]], asset: str = "srv1") -> Batch:
    return Batch.model_validate(
        {
            "agent": {
                "id": str(uuid.UUID(int=1)),
                "hostname": asset,
                "version": "1",
                "site": "office",
            },
            "batch_id": str(uuid.uuid4()),
            "seq": 1,
            "sent_at": time.time(),
            "assets": [{"name": asset, "kind": "host", "tags": ["file-server"]}],
            "samples": [
                {"asset": asset, "metric": m, "labels": labels, "value": v, "ts": ts}
                for m, labels, v, ts in samples
            ],
        }
    )


def setup(store, tmp_path: Path) -> tuple[RuleService, Ingestor, admin.Principal]:
    rules = tmp_path / "rules"
    rules.mkdir(exist_ok=True)
    if not (rules / "r.yaml").exists():
        (rules / "r.yaml").write_text(RULES)
    service = RuleService(store, Settings.for_data_dir(tmp_path, rules_paths=[rules]))
    service.start()
    with contextlib.suppress(Exception):
        admin.create_client(store, "acme")
    _, token = admin.create_token(store, client="acme")
    with store.read() as conn:
        principal = admin.authenticate(conn, token, need="agent")
    return service, Ingestor(store, listeners=[service.on_ingest]), principal


def stored_alerts(store) -> dict[str, str]:
    with store.read() as conn:
        return {r.rule_id: r.status for r in conn.execute(sa.select(rule_alerts))}


def test_on_arrival_then_restart_keeps_the_for_clock(store, tmp_path: Path) -> None:
    service, ingestor, principal = setup(store, tmp_path)
    now = time.time()
    ingestor.ingest(principal, batch([("service_up", {"service": "nginx"}, 0.0, now - 150)]))
    assert stored_alerts(store) == {"svc": "pending"}  # evaluated within ingest, persisted

    # "Restart": a new service on the same store; the pending clock started 150 s ago.
    service2, ingestor2, principal2 = setup(store, tmp_path)
    ingestor2.ingest(principal2, batch([("service_up", {"service": "nginx"}, 0.0, time.time())]))
    assert stored_alerts(store) == {"svc": "firing"}
    # keep_firing_for survives a restart too: clear starts, restart, it resolves after 1m.
    t = time.time()
    ingestor2.ingest(principal2, batch([("service_up", {"service": "nginx"}, 1.0, t)]))
    service3, _, _ = setup(store, tmp_path)
    assert [a.core.clear_since for a in service3.engine.active()] == [t]
    assert service3.sweep(t + 30) == []
    [resolved] = service3.sweep(t + 61)
    assert resolved.event == "resolved" and stored_alerts(store) == {
        "svc": "inactive"
    }  # flap history kept
    with store.read() as conn:
        events = [
            r.event
            for r in conn.execute(sa.select(alert_transitions).order_by(alert_transitions.c.id))
        ]
    assert events == ["pending", "firing", "resolved"]


def test_reload_keeps_state_and_refuses_an_invalid_change_whole(store, tmp_path: Path) -> None:
    service, ingestor, principal = setup(store, tmp_path)
    now = time.time()
    ingestor.ingest(principal, batch([("temperature_celsius", {"sensor": "cpu"}, 85.0, now)]))
    before = {a.fingerprint: a.core.firing_since for a in service.engine.active()}
    assert len(before) == 1

    rules = tmp_path / "rules"
    (rules / "r.yaml").write_text(RULES.replace('warning: "> 80"', 'warnin: "> 80"'))
    (rules / "extra.yaml").write_text(
        "rules:\n  - {id: new, metric: memory_used_percent, warning: '> 1'}\n"
    )
    assert service.reload_if_changed()
    status = service.status()
    assert not status.ok and "did you mean 'warning'" in status.errors[0]
    assert service.metrics.reload_success._value.get() == 0
    assert "new" not in service.engine.ruleset.rules  # refused whole: the valid new file too
    assert {a.fingerprint: a.core.firing_since for a in service.engine.active()} == before

    (rules / "r.yaml").write_text(RULES)
    assert service.reload().ok and "new" in service.engine.ruleset.rules
    assert service.metrics.reload_success._value.get() == 1
    assert {a.fingerprint: a.core.firing_since for a in service.engine.active()} == before
    assert service.reload_if_changed() is False


def test_reload_under_load_keeps_every_alerts_state(store, tmp_path: Path) -> None:
    service, ingestor, principal = setup(store, tmp_path)
    stop = threading.Event()
    errors: list[BaseException] = []

    def ingest_loop() -> None:
        try:
            i = 0
            while not stop.is_set():
                t = time.time()
                ingestor.ingest(
                    principal,
                    batch(
                        [
                            ("temperature_celsius", {"sensor": f"s{n}"}, 85.0 + (i % 3), t)
                            for n in range(20)
                        ]
                        + [("service_up", {"service": f"svc{n}"}, 1.0, t) for n in range(20)]
                    ),
                )
                i += 1
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=ingest_loop)
    thread.start()
    try:
        deadline = time.time() + 10
        while len(service.engine.active()) < 20 and time.time() < deadline:
            time.sleep(0.01)
        firing = {a.fingerprint: a.core.firing_since for a in service.engine.active()}
        assert len(firing) == 20
        for _ in range(15):
            assert service.reload().ok
            time.sleep(0.01)
    finally:
        stop.set()
        thread.join()
    assert not errors
    assert {a.fingerprint: a.core.firing_since for a in service.engine.active()} == firing
    with store.read() as conn:
        events = {r.event for r in conn.execute(sa.select(alert_transitions.c.event))}
    assert events == {"firing"}
