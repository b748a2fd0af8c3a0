"""Clock skew at ingest (issue 12 item 1), against a real collector process on SQLite and
PostgreSQL: samples and events dated beyond ``max_clock_skew`` are refused one by one (the
rest of the batch stored, the answer and /metrics say why, an agent event records the
offset); a store that already holds a sample from the future (written before the policy, or
by a wrong clock) does not freeze its series: later correct samples replace the latest
value, the alert they clear resolves and the series is on /metrics with the new value."""

from __future__ import annotations

import email.utils
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from collector.store import Store
from tests.servers.collector import CollectorProcess, provision

pytestmark = pytest.mark.slow

DAY = 86400.0
AGENT = str(uuid.UUID(int=12))

RULES = """
rules:
  - id: disk_full
    metric: disk_used_percent
    warning: "> 90"
    severity: warning
    priority: minor
    summary: "{asset}: disk {mount} full"
"""


def batch(samples: list[dict[str, Any]], events: list[dict[str, Any]] = ()) -> dict[str, Any]:
    return {
        "agent": {"id": AGENT, "hostname": "srv1", "version": "1", "site": "office"},
        "batch_id": str(uuid.uuid4()),
        "seq": 1,
        "sent_at": time.time(),
        "assets": [{"name": "srv1", "kind": "host"}],
        "samples": samples,
        "events": list(events),
    }


def disk(value: float, ts: float, mount: str = "/") -> dict[str, Any]:
    return {
        "asset": "srv1",
        "metric": "disk_used_percent",
        "labels": {"mount": mount},
        "value": value,
        "ts": ts,
    }


def post(collector: CollectorProcess, token: str, body: dict[str, Any]) -> httpx.Response:
    resp = httpx.post(
        f"{collector.url}/api/v1/batches", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status_code == 200, resp.text
    return resp


def scrape(collector: CollectorProcess) -> dict[tuple[str, tuple], float]:
    text = httpx.get(f"{collector.url}/metrics").text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def alerts(collector: CollectorProcess, token: str) -> list[dict[str, Any]]:
    resp = httpx.get(f"{collector.url}/api/v1/alerts", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_future_samples_and_events_are_refused_one_by_one(db_url: str, tmp_path: Path) -> None:
    with CollectorProcess(tmp_path / "c", database_url=db_url) as collector:
        creds = provision(collector)
        now = time.time()
        resp = post(
            collector,
            creds.agent_token,
            batch(
                [
                    disk(40.0, now - 60),
                    disk(41.0, now + 60),  # within the default skew of 5 min: stored
                    disk(99.0, now + 3 * DAY),
                    disk(99.0, now + 200 * 365 * DAY, mount="/data"),
                    disk(10.0, now - 500 * DAY, mount="/old"),  # past rollup_retention
                ],
                events=[
                    {"asset": "srv1", "type": "reboot", "ts": now - 30},
                    {"asset": "srv1", "type": "reboot", "ts": now + 3 * DAY},
                ],
            ),
        )
        answer = resp.json()
        assert (answer["samples"], answer["events"]) == (2, 1)
        refused = {(r["what"], r["reason"]): r for r in answer["refused"]}
        assert {k: r["count"] for k, r in refused.items()} == {
            ("samples", "future_timestamp"): 2,
            ("samples", "expired"): 1,
            ("events", "future_timestamp"): 1,
        }
        assert (
            "ahead of the collector's clock" in refused[("samples", "future_timestamp")]["detail"]
        )
        assert "max_clock_skew 5m" in refused[("samples", "future_timestamp")]["detail"]

        # The collector's Date header is what the agent measures its own clock offset by.
        date = email.utils.parsedate_to_datetime(resp.headers["date"]).timestamp()
        assert abs(date - time.time()) < 5

        metrics = scrape(collector)
        key = "upkeep_ingest_samples_refused_total"
        assert metrics[(key, (("reason", "future_timestamp"),))] == 2
        assert metrics[(key, (("reason", "expired"),))] == 1
        assert metrics[(key, (("reason", "series_limit"),))] == 0
        assert (
            metrics[("upkeep_ingest_events_refused_total", (("reason", "future_timestamp"),))] == 1
        )

        store = Store.from_url(collector.env.get("UPKEEP_DATABASE_URL") or db_url)
        try:
            with store.read() as conn:
                rows = conn.execute(sa.text("SELECT type, ts, data FROM events ORDER BY id")).all()
                mounts = conn.execute(sa.text("SELECT labels FROM series ORDER BY id")).scalars()
                stored = conn.execute(sa.text("SELECT max(ts) FROM samples")).scalar()
            assert list(mounts) == ['{"mount":"/"}']  # refused samples create no series
            assert stored == pytest.approx(now + 60)
        finally:
            store.dispose()
        assert [r.type for r in rows] == ["reboot", "clock_skew"]
        skew = (
            rows[1].data
            if isinstance(rows[1].data, dict)
            else __import__("json").loads(rows[1].data)
        )
        assert skew["offset_seconds"] == pytest.approx(200 * 365 * DAY, rel=1e-3)
        assert (skew["refused_samples"], skew["refused_events"]) == (2, 1)
        assert skew["max_clock_skew_seconds"] == 300


def test_a_stored_future_sample_does_not_freeze_its_series(db_url: str, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(RULES)
    env = {"UPKEEP_RULES_PATHS": str(rules), "UPKEEP_RULES_WATCH_INTERVAL": "0s"}
    # A store as the collector left it before the policy: it took any timestamp (here: a
    # collector told to accept a year of skew), and one agent's clock was 3 days ahead.
    lenient = {**env, "UPKEEP_MAX_CLOCK_SKEW": "400d"}
    collector = CollectorProcess(tmp_path / "c", database_url=db_url, env=lenient)
    with collector:
        creds = provision(collector)
        now = time.time()
        post(collector, creds.agent_token, batch([disk(97.0, now + 3 * DAY)]))
        [firing] = alerts(collector, creds.admin_token)
        assert (firing["rule"], firing["status"]) == ("disk_full", "firing")

    collector.env.pop("UPKEEP_MAX_CLOCK_SKEW")  # the default policy from now on
    with collector:
        now = time.time()
        post(collector, creds.agent_token, batch([disk(50.0, now - 10)]))
        post(collector, creds.agent_token, batch([disk(51.0, now)]))
        # The correct samples replace the future latest value...
        assets = httpx.get(
            f"{collector.url}/api/v1/assets",
            headers={"Authorization": f"Bearer {creds.admin_token}"},
        ).json()
        latest = httpx.get(
            f"{collector.url}/api/v1/assets/{assets[0]['id']}/latest",
            headers={"Authorization": f"Bearer {creds.admin_token}"},
        ).json()
        assert [(v["metric"], v["value"]) for v in latest] == [("disk_used_percent", 51.0)]
        # ... the alert they clear resolves ...
        assert [a for a in alerts(collector, creds.admin_token) if a["status"] != "inactive"] == []
        # ... and /metrics shows the series with its current value.
        identity = (("asset", "srv1"), ("client", "acme"), ("mount", "/"), ("site", "office"))
        assert scrape(collector)[("upkeep_disk_used_percent", identity)] == 51.0
