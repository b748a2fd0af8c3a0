"""Rule backtest (collector/rules/backtest.py, ``upkeep rules backtest``) over a seeded week of
history on SQLite and PostgreSQL, with the shipped rule packs as "the loaded rules": the real
engine's ``for``, ``clear`` hysteresis and the reopen window decide the counts."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from collector import admin
from collector.rules.backtest import BacktestError, backtest, load_candidate, load_candidate_text
from collector.rules.loader import load
from collector.settings import Settings
from collector.store import Store
from tests.web.health_kit import seed_asset

RULES = Path(__file__).resolve().parents[2] / "rules"
DAY = 86400

CANDIDATE = """\
rules:
  - id: disk-space
    metric: disk_used_percent
    warning: "> 70"
    clear: "< 65"
    for: 10m
    priority: {warning: minor}
    kind: capacity
    summary: "{asset}: disk {value:.0f}%"
  - id: cpu-evening
    metric: cpu_usage_percent
    warning: "> 45"
    clear: "< 30"
    for: 30m
    priority: {warning: minor}
    kind: capacity
    summary: "{asset}: CPU {value:.0f}%"
"""


@pytest.fixture
def history(store: Store, tmp_path: Path) -> dict:
    now = time.time()
    client = admin.create_client(store, "acme")
    other = admin.create_client(store, "globex")
    seed_asset(store, client.id, "web-01", "host", now=now)
    seed_asset(store, client.id, "web-02", "host", now=now)
    seed_asset(store, other.id, "gx-01", "host", now=now)
    settings = Settings.for_data_dir(tmp_path / "data")
    return {"now": now, "settings": settings}


def test_candidate_against_the_loaded_rule(store: Store, history: dict, tmp_path: Path) -> None:
    current = load([RULES]).ruleset
    path = tmp_path / "candidate.yaml"
    path.write_text(CANDIDATE)
    candidate = load_candidate(path, current)
    now = history["now"]
    report = backtest(
        store,
        candidate,
        current,
        client="acme",
        since=now - 8 * DAY,
        until=now,
        settings=history["settings"],
    )
    by_id = {o.rule_id: o for o in report.candidate}
    # The disk climbs 60 % → 88 % over the week: crossing 70 % once per asset (hysteresis
    # keeps it one alert); the shipped disk-space (> 85 %) fires once per asset too, later.
    disk = by_id["disk-space"]
    assert disk.alerts == 2 and disk.incidents == 2
    assert disk.by_asset == {"web-01": 1, "web-02": 1}
    loaded = report.current["disk-space"]
    assert loaded is not None and loaded.alerts == 2
    first_new = min(e["ts"] for e in disk.events if e["incident"] == "opens")
    first_old = min(e["ts"] for e in loaded.events if e["incident"] == "opens")
    # 70 % is reached 2.5 days in, 85 % 6.25 days in.
    assert first_old - first_new == pytest.approx(3.75 * DAY, abs=2 * 3600)
    # The CPU sawtooth (20 → 50 % every day) crosses 45 % every evening and falls below 30 %
    # every morning: one alert a day per asset; the re-fire within the 24 h reopen window
    # reopens the same incident, so each asset has one incident.
    cpu = by_id["cpu-evening"]
    assert 7 <= cpu.alerts // 2 <= 8 and cpu.alerts % 2 == 0
    assert cpu.incidents == 2
    assert report.current["cpu-evening"] is None  # a new rule
    # Only acme's assets were replayed; raw samples and hourly averages both used.
    assert "gx-01" not in json.dumps(report.to_json())
    assert report.raw_samples > 0 and report.hourly_points > 0


def test_bad_files_are_refused_at_file_line(tmp_path: Path) -> None:
    current = load([RULES]).ruleset
    bad = "rules:\n  - id: x\n    metric: cpu_usage_percent\n    warning: '>> 9'\n"
    with pytest.raises(BacktestError) as caught:
        load_candidate_text(bad, "my-rules.yaml", current)
    assert caught.value.problems and str(caught.value.problems[0]).startswith("my-rules.yaml:4:")
    absent = "rules:\n  - id: quiet\n    metric: any\n    absent: {for: 5m}\n    priority: major\n    kind: outage\n    summary: s\n"
    with pytest.raises(BacktestError, match="absent"):
        load_candidate_text(absent, "a.yaml", current)


def test_cli(store: Store, history: dict, tmp_path: Path, db_url: str) -> None:
    from collector.cli import app

    path = tmp_path / "candidate.yaml"
    path.write_text(CANDIDATE)
    settings_file = tmp_path / "settings.yaml"
    settings_file.write_text(
        f"data_dir: {tmp_path / 'data'}\ndatabase_url: {db_url}\nrules_paths: [{RULES}]\n"
    )
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "rules",
            "backtest",
            str(path),
            "--client",
            "acme",
            "--since",
            "8d",
            "-c",
            str(settings_file),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "rule disk-space (disk_used_percent)" in result.output
    assert "candidate: 2 alert(s), 2 incident(s)" in result.output
    assert "loaded:    2 alert(s), 2 incident(s)" in result.output
    assert "web-01: 1 (loaded rule: 1)" in result.output
    result = runner.invoke(
        app,
        [
            "rules",
            "backtest",
            str(path),
            "--client",
            "acme",
            "--since",
            "forever",
            "-c",
            str(settings_file),
        ],
    )
    assert result.exit_code == 2 and "--since" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - id: x\n    metric: cpu_usage_percent\n    warning: '>> 9'\n")
    result = runner.invoke(
        app, ["rules", "backtest", str(bad), "--client", "acme", "-c", str(settings_file)]
    )
    assert result.exit_code == 1 and f"error: {bad}:4:" in result.output
    result = runner.invoke(
        app, ["rules", "backtest", str(path), "--client", "nobody", "-c", str(settings_file)]
    )
    assert result.exit_code != 0 and "no client named 'nobody'" in result.output


def test_a_sibling_metric_in_where_is_replayed_with_its_series(
    store: Store, tmp_path: Path
) -> None:
    """``where: {if_admin_status: "1"}`` reads the port's other series: both are replayed in one
    time order, so a port that is down counts only while it is enabled."""
    from collector.schema import assets, series, sites
    from tests.web.health_kit import add_history

    now = time.time()
    client = admin.create_client(store, "acme")
    with store.write() as conn:
        site_id = conn.execute(
            sites.insert().values(client_id=client.id, name="hq", created_at=now)
        ).inserted_primary_key[0]
        asset_id = conn.execute(
            assets.insert().values(
                client_id=client.id,
                site_id=site_id,
                name="sw-1",
                kind="switch",
                tags=[],
                attributes={},
                first_seen=now - 9 * DAY,
                last_seen=now,
            )
        ).inserted_primary_key[0]
        for port, admin_status in (("eth0", 1.0), ("eth1", 2.0)):  # eth1 is disabled
            labels = json.dumps({"alias": "", "interface": port}, separators=(",", ":"))
            ids = {}
            for metric in ("if_oper_status", "if_admin_status"):
                ids[metric] = conn.execute(
                    series.insert().values(
                        asset_id=asset_id,
                        metric=metric,
                        labels=labels,
                        labels_hash=f"{metric}-{port}",
                    )
                ).inserted_primary_key[0]
            # Down (2) on the third day for six hours, up (1) otherwise.
            t_down = now - 5 * DAY
            add_history(
                conn,
                ids["if_oper_status"],
                lambda t, t_down=t_down: 2.0 if t_down <= t < t_down + 6 * 3600 else 1.0,
                now=now,
            )
            add_history(conn, ids["if_admin_status"], lambda t, v=admin_status: v, now=now)
    current = load([RULES]).ruleset
    report = backtest(
        store,
        current,
        current,
        client="acme",
        since=now - 8 * DAY,
        until=now,
        settings=Settings.for_data_dir(tmp_path / "data"),
    )
    link = {o.rule_id: o for o in report.candidate}["link-down"]
    assert link.alerts == 1 and link.by_asset == {"sw-1": 1}
    assert [e["labels"]["interface"] for e in link.events if e["incident"] == "opens"] == ["eth0"]


NOISY = """\
rules:
  - id: cpu-noisy
    metric: cpu_usage_percent
    warning: "> 50"
    clear: "< 40"
    for: 40s
    keep_firing_for: 30s
    priority: {warning: minor}
    kind: capacity
    summary: "{asset}: CPU {value:.0f}%"
"""


NOISY_AVG = NOISY.replace("for: 40s", "for: 40s\n    aggregate: avg 2m")
NOISY_MAX = NOISY.replace("for: 40s", "for: 40s\n    aggregate: max 90s")


def test_the_shortcuts_change_no_outcome(store: Store, tmp_path: Path) -> None:
    """The backtest skips idle, quiet samples and slices time; a plain engine fed every sample
    one by one (swept after each) must open exactly as many alerts."""
    rule_text = NOISY
    import heapq
    import random

    from collector.ingest import SeriesRef
    from collector.rules.backtest import _history
    from collector.rules.engine import AssetInfo, RuleEngine
    from collector.schema import series
    from tests.web.health_kit import add_history

    now = time.time()
    client = admin.create_client(store, "acme")
    ids = seed_asset(store, client.id, "web-01", "host", now=now)
    noise = random.Random(17)
    values = {}

    def value_at(t: float) -> float:  # a stable pseudo-random walk around the thresholds
        key = round(t)
        if key not in values:
            values[key] = noise.choice((30.0, 45.0, 55.0, 60.0, 35.0, 52.0))
        return values[key]

    with store.write() as conn:
        sid = conn.execute(
            series.insert().values(
                asset_id=ids["asset"],
                metric="cpu_usage_percent",
                labels='{"core":"x"}',
                labels_hash="noisy",
            )
        ).inserted_primary_key[0]
        add_history(conn, sid, value_at, now=now, days=1, raw_hours=3, step=20)
    current = load([RULES]).ruleset
    candidate = load_candidate_text(rule_text, "noisy.yaml", current)
    settings = Settings.for_data_dir(tmp_path / "data")
    since = now - DAY
    report = backtest(
        store, candidate, current, client="acme", since=since, until=now, settings=settings
    )
    got = {o.rule_id: o for o in report.candidate}["cpu-noisy"]

    engine = RuleEngine(
        candidate,
        lambda a: AssetInfo(a, client.id, "acme", "hq", "web-01"),
        started_at=since,
        stale_after=settings.rules_stale_after,
        reorder_window=settings.rules_reorder_window,
        series_gone_after=settings.rules_series_gone_after,
        max_clock_skew=settings.max_clock_skew,
    )
    ref = SeriesRef(sid, client.id, ids["asset"], "web-01", "cpu_usage_percent", {"core": "x"})
    other = SeriesRef(
        ids["cpu_usage_percent"], client.id, ids["asset"], "web-01", "cpu_usage_percent", {}
    )
    with store.read() as conn:
        streams, _, _ = _history(conn, [sid, ids["cpu_usage_percent"]], since, now)
    fired = 0
    clock = since
    for ts, s, value in heapq.merge(*streams):
        # The collector sweeps every rules_sweep_interval between samples.
        changes = []
        while clock + settings.rules_sweep_interval < ts:
            clock += settings.rules_sweep_interval
            changes += engine.sweep(clock)
        clock = max(clock, ts)
        changes += engine.observe([(ref if s == sid else other, value, ts)], ts)
        changes += engine.sweep(ts)
        for t in changes:
            if t.rule_id == "cpu-noisy" and t.event == "firing" and t.previous_status != "firing":
                fired += 1
    assert fired >= 3  # the walk crosses the thresholds now and then
    assert got.alerts == fired


@pytest.mark.parametrize(
    "rule_text",
    [NOISY, NOISY_AVG, NOISY_MAX, NOISY.replace("cpu-noisy", "cpu-saturated")],
    ids=["last", "avg", "max", "replaces-loaded"],
)
def test_the_fast_replay_reports_what_the_exhaustive_one_does(
    store: Store, tmp_path: Path, rule_text: str
) -> None:
    """Skipping samples that cannot hold (aggregates from arrays, the window primed), sweeping
    only when a clock can run out: the whole report (counts, assets, every event, firing
    time) is the one of a replay handing every sample to the engines and sweeping every
    tick."""
    import random

    from collector.schema import series
    from tests.web.health_kit import add_history

    now = time.time()
    client = admin.create_client(store, "acme")
    noise = random.Random(23)
    for name in ("web-01", "web-02"):
        ids = seed_asset(store, client.id, name, "host", now=now)
        with store.write() as conn:
            values: dict[int, float] = {}

            def value_at(t: float, values: dict[int, float] = values) -> float:
                key = round(t) // 300 if t < now - 3 * 3600 else round(t)
                if key not in values:
                    values[key] = noise.choice((30.0, 45.0, 55.0, 60.0, 35.0, 52.0, 95.0, 99.0))
                return values[key]

            sid = conn.execute(
                series.insert().values(
                    asset_id=ids["asset"],
                    metric="cpu_usage_percent",
                    labels='{"core":"y"}',
                    labels_hash=f"noisy-{name}",
                )
            ).inserted_primary_key[0]
            add_history(conn, sid, value_at, now=now, days=3, raw_hours=6, step=20)
    current = load([RULES]).ruleset
    candidate = load_candidate_text(rule_text, "noisy.yaml", current)
    settings = Settings.for_data_dir(tmp_path / "data")
    reports = [
        backtest(
            store,
            candidate,
            current,
            client="acme",
            since=now - 3 * DAY,
            until=now,
            settings=settings,
            shortcuts=shortcuts,
        ).to_json()
        for shortcuts in (True, False)
    ]
    for report in reports:
        report.pop("seconds")
    fast, slow = reports
    assert fast == slow
    assert sum(o["alerts"] for o in fast["candidate"]) >= 3


@pytest.mark.parametrize("func", ["last", "avg", "sum", "count", "min", "max", "delta"])
def test_may_hold_never_misses_a_sample_the_engine_would_alert_on(func: str) -> None:
    """The vectorised pre-pass may say "could hold" too often (a margin for rounding) but never
    "cannot" where the engine's own aggregate over the window holds."""
    import random

    import numpy as np

    from collector.rules.backtest import may_hold
    from collector.rules.engine import aggregate
    from collector.rules.model import Rule

    rnd = random.Random(func)
    ts = np.cumsum([rnd.choice((15.0, 30.0, 30.0, 3600.0)) for _ in range(3000)])
    values = np.array([rnd.choice((1e9, 44.9, 45.0, 45.1, 0.1, 60.0)) for _ in range(3000)])
    spec = {"aggregate": f"{func} 5m"} if func != "last" else {}
    crossed = []
    for threshold in ("> 45", "<= 45", "== 45", ">= 135", "< 12"):
        rule = Rule.model_validate(
            {
                "id": "r",
                "metric": "m",
                "warning": threshold,
                "priority": {"warning": "minor"},
                "kind": "capacity",
                "summary": "s",
                **spec,
            }
        )
        mask = may_hold(rule, ts, values)
        assert mask is not None
        points = list(zip(ts.tolist(), values.tolist(), strict=True))
        wrong = []
        for k, (t, v) in enumerate(points):
            got = v if func == "last" else aggregate(points, func, rule.aggregate.window, t)
            assert got is not None and rule.warning is not None
            if rule.warning.holds(got) and not mask[k]:
                wrong.append((k, got))
        assert not wrong, (threshold, wrong[:3])
        crossed.append(0 < mask.sum() < len(mask))
    assert any(crossed)  # the data crosses some threshold both ways
