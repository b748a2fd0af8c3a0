"""Noise control's stages against a real store (SQLite and PostgreSQL): maintenance windows
hold signals back and release only what still fires; dependencies fold a site into one incident."""

from __future__ import annotations

import re
import textwrap

import pytest
import sqlalchemy as sa

from agent.yamlsource import ConfigError
from collector import timeutil
from collector.incidents import noise
from collector.incidents.dependencies import SITE_UNREACHABLE, site_fingerprint
from collector.incidents.pipeline import AlertSignal
from collector.schema import (
    assets,
    clients,
    deferred_signals,
    maintenance_windows,
    rule_alerts,
    sites,
)

T0 = 1_780_000_000.0


@pytest.fixture
def control(tmp_path):
    path = tmp_path / "maintenance.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        timezones: {{acme: Europe/Berlin}}
        windows:
          - name: patch-night
            client: acme
            start: {timeutil.to_datetime(T0).isoformat()}
            end: {timeutil.to_datetime(T0 + 3600).isoformat()}
            sites: [hq]
        dependencies:
          uplinks: {{acme: {{branch: [router1]}}}}
          site_unreachable: {{grace: 30s}}
        """)
    )
    previous = noise.control()
    ctl = noise.configure(noise.NoiseControl(path))
    emitted: list[AlertSignal] = []
    ctl.emit = lambda conn, signal, now: emitted.append(signal)
    ctl.incident_key = lambda conn, fp: (
        "UPK-acme-1" if any(s.fingerprint == fp for s in emitted) else None
    )
    ctl.emitted = emitted  # type: ignore[attr-defined]
    yield ctl
    noise.configure(previous)


def seed(store, n_assets=10):
    """acme with site hq (n assets) and site branch (router1 + 2 servers)."""
    with store.write() as conn:
        client_id = conn.execute(
            clients.insert().values(name="acme", enabled=True, created_at=T0)
        ).inserted_primary_key[0]
        ids = {}
        for site, names in (
            ("hq", [f"srv{i}" for i in range(n_assets)]),
            ("branch", ["router1", "b1", "b2"]),
        ):
            site_id = conn.execute(
                sites.insert().values(client_id=client_id, name=site, created_at=T0)
            ).inserted_primary_key[0]
            for name in names:
                ids[name] = conn.execute(
                    assets.insert().values(
                        client_id=client_id,
                        site_id=site_id,
                        name=name,
                        kind="host",
                        tags=[],
                        attributes={},
                        first_seen=T0,
                        last_seen=T0,
                    )
                ).inserted_primary_key[0]
    return client_id, ids


def fire(store, ids, asset, rule="agent-silent", status="firing"):
    fp = f"{rule}:{asset}"
    with store.write() as conn:
        conn.execute(rule_alerts.delete().where(rule_alerts.c.fingerprint == fp))
        conn.execute(
            rule_alerts.insert().values(
                fingerprint=fp,
                rule_id=rule,
                client_id=1,
                asset_id=ids[asset],
                labels={},
                status=status,
                severity="critical",
                state={},
                summary="",
                updated_at=T0,
            )
        )
    return fp


def sig(asset, site="hq", rule="disk-space", status="firing", ts=T0 + 60, client_id=1):
    return AlertSignal(
        fingerprint=f"{rule}:{asset}",
        name=rule,
        client_id=client_id,
        client="acme",
        status=status,
        ts=ts,
        site=site,
        asset=asset,
    )


def stage(store, fn, signal, now):
    with store.write() as conn:
        return fn(conn, signal, now)


def release(store, now):
    with store.write() as conn:
        return noise.release_due(conn, now)


def test_maintenance_window_scenario(store, control):
    _, ids = seed(store)
    fire(store, ids, "srv1", "disk-space")
    fire(store, ids, "srv2", "disk-space")
    # Inside the window: both held back until its end.
    for asset in ("srv1", "srv2"):
        decision = stage(store, noise.maintenance_stage, sig(asset), T0 + 60)
        assert (decision.action, decision.until) == ("defer", T0 + 3600)
        assert "patch-night" in decision.reason
    # Outside the window's site: passes.
    assert stage(store, noise.maintenance_stage, sig("b1", site="branch"), T0 + 60).passes
    # srv2 resolves inside the window: folded into its held signal, nothing goes out.
    assert (
        stage(store, noise.maintenance_stage, sig("srv2", status="resolved"), T0 + 120).action
        == "suppress"
    )
    fire(store, ids, "srv2", "disk-space", status="inactive")
    assert release(store, T0 + 3599) == []
    released = release(store, T0 + 3600)
    assert [s.asset for s in released] == ["srv1"] == [s.asset for s in control.emitted]
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(deferred_signals)).scalar() == 0
    # After the window: nothing held.
    assert stage(store, noise.maintenance_stage, sig("srv3"), T0 + 3600).passes


def test_a_held_alert_that_stopped_firing_opens_nothing(store, control):
    _, ids = seed(store)
    fire(store, ids, "srv1", "disk-space")
    assert stage(store, noise.maintenance_stage, sig("srv1"), T0 + 60).action == "defer"
    fire(store, ids, "srv1", "disk-space", status="pending")
    assert release(store, T0 + 4000) == []


def test_resolve_without_a_held_signal_passes(store, control):
    seed(store)
    assert stage(store, noise.maintenance_stage, sig("srv1", status="resolved"), T0 + 60).passes


def test_windows_from_the_table_apply(store, control):
    client_id, ids = seed(store)
    window = noise.MaintenanceWindow(
        name="api", client="acme", cron="0 * * * *", duration=3599, rules=["cpu"]
    )
    with store.write() as conn:
        conn.execute(
            maintenance_windows.insert().values(
                client_id=client_id,
                name="api",
                created_at=T0,
                definition=window.model_dump(mode="json"),
            )
        )
    decision = stage(
        store, noise.maintenance_stage, sig("b1", site="branch", rule="cpu"), T0 + 7200 + 10
    )
    assert decision.action == "defer"
    assert stage(
        store, noise.maintenance_stage, sig("b1", site="branch", rule="mem"), T0 + 7200 + 10
    ).passes


def test_uplink_down_suppresses_the_site(store, control):
    _, ids = seed(store)
    fire(store, ids, "router1", "snmp-unreachable")
    decision = stage(store, noise.dependency_stage, sig("b1", site="branch"), T0)
    assert decision.action == "suppress" and "router1" in decision.reason
    assert stage(
        store, noise.dependency_stage, sig("router1", site="branch", rule="snmp-unreachable"), T0
    ).passes
    assert stage(store, noise.dependency_stage, sig("srv1"), T0).passes  # another site


def test_ten_silent_agents_are_one_site_incident(store, control):
    _, ids = seed(store)
    decisions = []
    for i in range(10):  # they go silent one sweep after another
        fire(store, ids, f"srv{i}")
        decisions.append(
            stage(store, noise.dependency_stage, sig(f"srv{i}", rule="agent-silent", ts=T0), T0 + i)
        )
    assert [d.action for d in decisions[:9]] == ["defer"] * 9
    assert decisions[9].action == "suppress" and decisions[9].parent == "UPK-acme-1"
    # The held ones come back after the grace: all suppressed into the same site incident.
    with store.write() as conn:
        held = [noise.signal_from_json(r.signal) for r in conn.execute(sa.select(deferred_signals))]
    assert len(held) == 9
    for s in held:
        decision = stage(store, noise.dependency_stage, s, T0 + 31)
        assert decision.action == "suppress" and decision.parent == "UPK-acme-1"
    site_signals = {(s.fingerprint, s.name) for s in control.emitted}
    assert site_signals == {(site_fingerprint(1, "hq"), SITE_UNREACHABLE)}
    # The first agent back resolves the site incident.
    fire(store, ids, "srv0", status="inactive")
    assert stage(
        store, noise.dependency_stage, sig("srv0", rule="agent-silent", status="resolved"), T0 + 99
    ).passes
    assert control.emitted[-1].status == "resolved" and control.emitted[-1].name == SITE_UNREACHABLE


def test_one_silent_agent_opens_its_own_incident_after_the_grace(store, control):
    _, ids = seed(store)
    fire(store, ids, "srv3")
    assert (
        stage(store, noise.dependency_stage, sig("srv3", rule="agent-silent", ts=T0), T0).action
        == "defer"
    )
    # The released signal goes through the pipeline again: now past the grace, it passes.
    released = release(store, T0 + 30)
    assert [s.asset for s in released] == ["srv3"]
    assert stage(store, noise.dependency_stage, released[0], T0 + 30).passes


def test_broken_file_is_refused_with_its_line(tmp_path, control):
    bad = tmp_path / "bad.yaml"
    bad.write_text("windows:\n  - name: x\n    client: acme\n    cron: '0 22 * * *'\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:2: windows\[0\]: .*needs a duration"):
        noise.load_config(bad)
    ctl = noise.NoiseControl(None)
    ctl.path = bad
    assert ctl.reload() is False and ctl.errors and ctl.config.windows == []


def test_noise_stages_are_registered_in_order():
    from collector.incidents import pipeline

    assert pipeline.stages()[:2] == (noise.maintenance_stage, noise.dependency_stage)


def test_a_silent_site_in_one_batch_is_read_once_and_lists_each_alert_in_order(store, control):
    """A fleet-wide silence fires agent-silent for every host in one sweep: the batch reads
    the site once (not once per host: 30,000 hosts made that a sweep of minutes), applies the
    site signal once (no 'repeated' per host) and lists every alert on the site incident,
    before the batch's next incident write."""
    from collector.incidents.service import IncidentService
    from collector.schema import incident_events, incidents

    _, ids = seed(store, n_assets=40)
    service = IncidentService(store)
    control.emit = service.apply_signal
    control.incident_key = noise.active_incident_key
    for i in range(40):
        fire(store, ids, f"srv{i}")
    after = T0 + 4000  # past the file's maintenance window of hq
    silent = [sig(f"srv{i}", rule="agent-silent", ts=after) for i in range(40)]
    other = sig("b1", site="branch", rule="disk-space", ts=after)  # passes: its own incident
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(store.engine, "before_cursor_execute", count)
    try:
        with store.write() as conn:
            service.apply_signals(conn, [*silent, other], after + 40)
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", count)
    # Each site's state is read once: 41 signals, two sites (hq and branch), two reads of
    # assets for each (the site's assets, their firing alerts).
    assert sum(1 for s in statements if re.search(r"\bassets\b", s)) == 2 * 2
    site_fp = site_fingerprint(1, "hq")
    with store.read() as conn:
        rows = conn.execute(sa.select(incidents.c.id, incidents.c.fingerprint)).all()
        by_fp = {r.fingerprint: r.id for r in rows}
        assert set(by_fp) == {site_fp, "disk-space:b1"}
        events = conn.execute(
            sa.select(incident_events.c.id, incident_events.c.incident_id, incident_events.c.type)
            .select_from(incident_events)
            .order_by(incident_events.c.id)
        ).all()
        listed = conn.execute(
            sa.select(incident_events.c.data)
            .where(incident_events.c.type == "suppressed")
            .order_by(incident_events.c.id)
        ).scalars()
        assert [d["asset"] for d in listed] == [f"srv{i}" for i in range(40)]
    on_site = [e.type for e in events if e.incident_id == by_fp[site_fp]]
    assert on_site == ["opened"] + ["suppressed"] * 40
    last_listing = max(e.id for e in events if e.type == "suppressed")
    first_other = min(e.id for e in events if e.incident_id == by_fp["disk-space:b1"])
    assert last_listing < first_other
    # The same silence again (a later sweep, another batch) lists nothing twice.
    with store.write() as conn:
        service.apply_signals(conn, silent, after + 70)
    with store.read() as conn:
        assert (
            conn.execute(
                sa.select(sa.func.count())
                .select_from(incident_events)
                .where(incident_events.c.type == "suppressed")
            ).scalar()
            == 40
        )
    # One by one, outside a batch (each in its own transaction), the outcome is the same.
    fire(store, ids, "srv0", status="inactive")
    with store.write() as conn:
        service.apply_signal(
            conn, sig("srv0", rule="agent-silent", status="resolved", ts=after + 99), after + 99
        )
    with store.read() as conn:
        state = conn.execute(
            sa.select(incidents.c.state).where(incidents.c.fingerprint == site_fp)
        ).scalar()
    assert state == "resolved"


def test_release_goes_in_slices_and_within_its_budget(store, control, monkeypatch):
    """Thousands due at once (a silent fleet's held alerts) are released in transactions of
    RELEASE_SLICE, earliest first; past the run's budget the rest waits for the next run."""
    _, ids = seed(store)
    for i in range(10):
        fire(store, ids, f"srv{i}", "disk-space")
        assert stage(store, noise.maintenance_stage, sig(f"srv{i}"), T0 + 60 + i).action == "defer"
    monkeypatch.setattr(noise, "RELEASE_SLICE", 3)
    transactions = []
    write = store.write
    monkeypatch.setattr(store, "write", lambda: transactions.append(1) or write())
    assert noise.release_once(store, T0 + 3600) == 10
    assert len(transactions) == 4  # 3 + 3 + 3 + 1
    assert sorted(s.asset for s in control.emitted) == sorted(f"srv{i}" for i in range(10))
    # Past the budget after the first slice: three now, the other seven at the next run.
    control.emitted.clear()
    for i in range(10):
        assert stage(store, noise.maintenance_stage, sig(f"srv{i}"), T0 + 60).action == "defer"
    monkeypatch.setattr(noise, "RELEASE_BUDGET", -1.0)
    assert noise.release_once(store, T0 + 3600) == 3
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(deferred_signals)).scalar() == 7
    monkeypatch.setattr(noise, "RELEASE_BUDGET", 30.0)
    assert noise.release_once(store, T0 + 3600) == 7
    assert len(control.emitted) == 10 == len({s.asset for s in control.emitted})


def test_a_large_silent_site_is_counted_and_named_from_the_store(store, control):
    """The site incident counts the silent assets in the store and names the first 20."""
    _, ids = seed(store, n_assets=25)
    for i in range(25):
        fire(store, ids, f"srv{i}")
    fire(store, ids, "srv3", "disk-space")  # another firing rule is not a silence
    decision = stage(
        store, noise.dependency_stage, sig("srv0", rule="agent-silent", ts=T0 + 4000), T0 + 4000
    )
    assert decision.action == "suppress" and "25 of 25 assets silent" in decision.reason
    site = control.emitted[-1]
    assert site.name == SITE_UNREACHABLE and site.description.startswith("25 of 25 assets")
    named = site.description.split("at once: ")[1].split(". Their")[0]
    assert named == ", ".join(sorted(f"srv{i}" for i in range(25))[:20]) + " …"
