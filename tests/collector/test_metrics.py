"""The collector's /metrics: agents' series from the latest table, agents, guards, token."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families

from collector.api import create_app
from collector.metrics import STORE_COLLECTORS
from collector.schema import assets, latest
from tests.promtool import check_metrics


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _families(text: str) -> dict[str, object]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def _samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    return [
        (dict(s.labels), s.value)
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == name
    ]


def _store_batch(api, tenant, kit, samples, site="office-a"):
    resp = api.post(
        "/api/v1/batches", json=kit.make_batch(samples, site=site), headers=_auth(tenant.token)
    )
    assert resp.status_code == 200, resp.text


def test_latest_values_with_client_site_asset_labels_pass_promtool(api, acme, kit):
    now = time.time()
    _store_batch(
        api,
        acme,
        kit,
        [
            kit.sample("srv1", "disk_used_percent", 81.5, now - 5, mountpoint="/", fstype="ext4"),
            kit.sample("srv1", "disk_used_percent", 12.0, now - 5, mountpoint="/srv", fstype="xfs"),
            kit.sample("srv1", "cpu_usage_percent", 3.0, now - 60),
            kit.sample("srv1", "cpu_usage_percent", 7.0, now - 5),  # the newer one is "latest"
            kit.sample("srv1", "netio_receive_errors_total", 4.0, now - 5, interface="eth0"),
            kit.sample("srv1", "upkeep_check_up", 1.0, now - 5, check="cpu"),
            # a series label that clashes with an identifying label is kept as exported_<name>
            {
                **kit.sample("srv1", "file_age_seconds", 30.0, now - 5),
                "labels": {"asset": "backup-job", "path": "/srv/b"},
            },
        ],
    )
    text = api.get("/metrics").text
    check_metrics(text)
    fams = _families(text)
    assert fams["upkeep_disk_used_percent"].type == "gauge"
    assert fams["upkeep_netio_receive_errors"].type == "counter"
    ident = {"client": "acme", "site": "office-a", "asset": "srv1"}
    assert sorted(_samples(text, "upkeep_disk_used_percent"), key=str) == sorted(
        [
            ({**ident, "mountpoint": "/", "fstype": "ext4"}, 81.5),
            ({**ident, "mountpoint": "/srv", "fstype": "xfs"}, 12.0),
        ],
        key=str,
    )
    assert _samples(text, "upkeep_cpu_usage_percent") == [(ident, 7.0)]
    assert _samples(text, "upkeep_netio_receive_errors_total") == [
        ({**ident, "interface": "eth0"}, 4.0)
    ]
    assert _samples(text, "upkeep_check_up") == [({**ident, "check": "cpu"}, 1.0)]
    assert _samples(text, "upkeep_file_age_seconds") == [
        ({**ident, "exported_asset": "backup-job", "path": "/srv/b"}, 30.0)
    ]
    # every store collector answered (the table grows as components add theirs)
    assert sorted(
        _samples(text, "upkeep_metrics_scrape_collector_success"), key=lambda s: s[0]["collector"]
    ) == [({"collector": name}, 1.0) for name in sorted(STORE_COLLECTORS)]
    assert {"agents", "incidents", "series"} <= set(STORE_COLLECTORS)
    # the agents table: last seen and version
    ((labels, seen),) = _samples(text, "upkeep_agent_last_seen_timestamp_seconds")
    assert (
        labels["client"] == "acme" and labels["site"] == "office-a" and labels["hostname"] == "srv1"
    )
    assert now - 5 <= seen <= time.time() + 1
    ((info, one),) = _samples(text, "upkeep_agent_info")
    assert info["version"] == "0.1.0" and one == 1.0
    # ingest figures
    assert _samples(text, "upkeep_ingest_batches_total") == [({}, 1.0)]
    assert _samples(text, "upkeep_ingest_batch_samples_count") == [({}, 1.0)]


def test_tenants_are_labelled_apart(api, tenant_factory, kit):
    now = time.time()
    for name in ("acme", "globex"):
        _store_batch(
            api, tenant_factory(name), kit, [kit.sample("srv1", "memory_used_percent", 50.0, now)]
        )
    text = api.get("/metrics").text
    assert sorted(lbl["client"] for lbl, _ in _samples(text, "upkeep_memory_used_percent")) == [
        "acme",
        "globex",
    ]


def test_stale_series_and_silent_assets_are_left_out(api, store, acme, kit):
    now = time.time()
    _store_batch(
        api,
        acme,
        kit,
        [
            kit.sample("srv1", "fresh", 1.0, now),
            kit.sample("srv1", "old_sample", 1.0, now - 26 * 3600),
        ],
    )
    _store_batch(api, acme, kit, [kit.sample("srv2", "fresh", 2.0, now)])
    with store.write() as conn:  # srv2's agent went silent 11 minutes ago
        conn.execute(assets.update().where(assets.c.name == "srv2").values(last_seen=now - 660))
    text = api.get("/metrics").text
    assert [lbl["asset"] for lbl, _ in _samples(text, "upkeep_fresh")] == ["srv1"]
    assert _samples(text, "upkeep_old_sample") == []


def test_series_per_asset_limit_counts_what_it_drops(store, tmp_path, db_url, tenant_factory, kit):
    from collector.settings import Settings

    settings = Settings.for_data_dir(
        tmp_path / "data", database_url=db_url, metrics_max_series_per_asset=2
    )
    acme = tenant_factory("acme")
    with TestClient(create_app(settings, store=store, migrate=False, run_retention=False)) as api:
        now = time.time()
        _store_batch(
            api,
            acme,
            kit,
            [kit.sample("srv1", "sensor_value", float(i), now, n=str(i)) for i in range(5)]
            + [kit.sample("srv2", "sensor_value", 9.0, now)],
        )
        for scrape in (1, 2):
            text = api.get("/metrics").text
            check_metrics(text)
            assert sorted(
                lbl["n"]
                for lbl, _ in _samples(text, "upkeep_sensor_value")
                if lbl["asset"] == "srv1"
            ) == ["0", "1"]
            assert [
                lbl["asset"] for lbl, _ in _samples(text, "upkeep_sensor_value") if "n" not in lbl
            ] == ["srv2"]
            assert _samples(text, "upkeep_metrics_asset_series_dropped") == [
                ({"client": "acme", "site": "office-a", "asset": "srv1"}, 3.0)
            ]
            assert _samples(text, "upkeep_metrics_series_dropped_total") == [({}, 3.0 * scrape)]


def test_agent_series_cannot_shadow_the_collectors_own_metrics(api, acme, kit):
    now = time.time()
    _store_batch(
        api,
        acme,
        kit,
        [
            kit.sample("srv1", "upkeep_ingest_batches_total", 99.0, now),
            kit.sample("srv1", "upkeep_agent_info", 5.0, now),
        ],
    )
    text = api.get("/metrics").text
    check_metrics(text)
    assert _samples(text, "upkeep_ingest_batches_total") == [({}, 1.0)]
    assert [v for _, v in _samples(text, "upkeep_agent_info")] == [1.0]


def test_a_failing_store_collector_costs_only_its_own_families(api, acme, kit, monkeypatch):
    from collector.metrics import AgentCollector

    _store_batch(api, acme, kit, [kit.sample("srv1", "cpu_usage_percent", 1.0, time.time())])

    def broken(self):
        raise sa.exc.OperationalError("SELECT", {}, Exception("database is locked"))

    monkeypatch.setattr(AgentCollector, "collect", broken)
    resp = api.get("/metrics")
    assert resp.status_code == 200
    success = {
        s["collector"]: v for s, v in _samples(resp.text, "upkeep_metrics_scrape_collector_success")
    }
    assert success["agents"] == 0.0
    assert success["series"] == 1.0 and set(success.values()) == {0.0, 1.0}
    assert len(_samples(resp.text, "upkeep_cpu_usage_percent")) == 1


def test_other_components_register_their_collectors(api):
    class RuleReloads:
        def collect(self):
            gauge = GaugeMetricFamily("upkeep_test_reload_success", "Test: last reload worked.")
            gauge.add_metric([], 1.0)
            yield gauge

    api.app.state.metrics.register(RuleReloads())
    assert _samples(api.get("/metrics").text, "upkeep_test_reload_success") == [({}, 1.0)]


def test_metrics_token_file(store, tmp_path, db_url):
    from collector.settings import Settings

    token_file = tmp_path / "metrics.token"
    token_file.write_text("s3cret-metrics\n")
    settings = Settings.for_data_dir(
        tmp_path / "data", database_url=db_url, metrics_token_file=token_file
    )
    with TestClient(create_app(settings, store=store, migrate=False, run_retention=False)) as api:
        assert api.get("/metrics").status_code == 401
        assert api.get("/metrics", headers=_auth("wrong")).status_code == 401
        resp = api.get("/metrics", headers=_auth("s3cret-metrics"))
        assert resp.status_code == 200 and "upkeep_ingest_batches_total" in resp.text


def test_unreadable_metrics_token_file_refuses_to_start(store, tmp_path, db_url):
    from agent.yamlsource import ConfigError
    from collector.settings import Settings

    settings = Settings.for_data_dir(
        tmp_path / "data", database_url=db_url, metrics_token_file=tmp_path / "missing"
    )
    with pytest.raises(ConfigError, match="metrics_token_file"):
        create_app(settings, store=store, migrate=False, run_retention=False)


def test_latest_table_is_read_at_scrape_time(api, store, acme, kit):
    now = time.time()
    _store_batch(api, acme, kit, [kit.sample("srv1", "load_average", 0.5, now, period="1m")])
    with store.write() as conn:
        conn.execute(latest.update().values(value=2.5))
    assert [v for _, v in _samples(api.get("/metrics").text, "upkeep_load_average")] == [2.5]


def test_open_incidents_by_client_priority_origin(api, acme, admin_token):
    auth = _auth(admin_token)
    for title, priority in (("printer jams", "minor"), ("no e-mail", "major"), ("no VPN", "major")):
        resp = api.post(
            "/api/v1/incidents",
            json={"client": "acme", "title": title, "priority": priority},
            headers=auth,
        )
        assert resp.status_code == 201, resp.text
    key = resp.json()["key"]
    text = api.get("/metrics").text
    check_metrics(text)
    open_ = {
        (s["priority"], s["state"]): v
        for s, v in _samples(text, "upkeep_incidents_open")
        if s["client"] == "acme" and s["origin"] == "user_reported"
    }
    assert open_ == {("minor", "open"): 1, ("major", "open"): 2}
    assert (
        api.post(
            f"/api/v1/incidents/{key}/resolve",
            json={"note": "VPN certificate renewed"},
            headers=auth,
        ).status_code
        == 200
    )
    open_ = {
        (s["priority"], s["state"]): v
        for s, v in _samples(api.get("/metrics").text, "upkeep_incidents_open")
    }
    assert open_ == {("minor", "open"): 1, ("major", "open"): 1}
