"""Series limits at ingest (issue 12 item 13), on SQLite and PostgreSQL: an asset whose
check makes a label per value (10,000 distinct values) gets ``max_series_per_asset`` series
and no more; the refused new series are counted (answer, /metrics) and reported as a
``series_limit`` event; existing series and other assets' samples keep being stored."""

from __future__ import annotations

import json

import sqlalchemy as sa

from agent.wire import Batch
from collector.ingest import IngestLimits, Ingestor


def _series_per_asset(store) -> dict[str, int]:
    with store.read() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT a.name, count(*) FROM series s JOIN assets a ON a.id = s.asset_id "
                "GROUP BY a.name"
            )
        ).all()
    return dict(rows)


def _events(store, type_: str) -> list[dict]:
    with store.read() as conn:
        rows = conn.execute(
            sa.text("SELECT data FROM events WHERE type = :t ORDER BY id"), {"t": type_}
        ).scalars()
        return [r if isinstance(r, dict) else json.loads(r) for r in rows]


def test_ten_thousand_label_values_on_one_asset_are_capped(store, acme, kit):
    ing = Ingestor(store)  # the defaults: 2,000 series per asset, 50,000 per client
    agent = "00000000-0000-0000-0000-000000000013"
    good = [kit.sample("srv1", "cpu_percent", 5.0, kit.NOW)]
    first = ing.ingest(
        acme.principal, Batch.model_validate(kit.make_batch(good, agent_id=agent))
    ).accepted
    assert first.samples == 1 and first.refused == []

    noisy = [
        kit.sample("srv1", "requests", 1.0, kit.NOW + 1, path=f"/p/{i}") for i in range(10_000)
    ]
    other = [kit.sample("printer1", "toner_percent", 50.0, kit.NOW + 1)]
    batch = kit.make_batch(
        [kit.sample("srv1", "cpu_percent", 6.0, kit.NOW + 1), *noisy, *other],
        assets=["srv1", "printer1"],
        agent_id=agent,
        seq=2,
    )
    answer = ing.ingest(acme.principal, Batch.model_validate(batch)).accepted
    # srv1 had 1 series: 1,999 new ones fit; the existing series and printer1 are stored.
    assert answer.samples == 1 + 1999 + 1
    [refused] = answer.refused
    assert (refused.what, refused.reason, refused.count) == ("samples", "series_limit", 8001)
    assert "max_series_per_asset 2000" in refused.detail
    assert _series_per_asset(store) == {"srv1": 2000, "printer1": 1}
    [event] = _events(store, "series_limit")
    assert (event["asset"], event["limit"], event["max_series"], event["refused_series"]) == (
        "srv1",
        "asset",
        2000,
        8001,
    )
    assert event["examples"][0] == {"metric": "requests", "labels": {"path": "/p/1999"}}

    # The next batch: the admitted series are stored as usual; the refused ones stay refused.
    again = kit.make_batch(
        [kit.sample("srv1", "requests", 2.0, kit.NOW + 2, path=f"/p/{i}") for i in range(2500)],
        assets=["srv1"],
        agent_id=agent,
        seq=3,
    )
    answer = Ingestor(store).ingest(acme.principal, Batch.model_validate(again)).accepted
    assert answer.samples == 1999 and answer.refused[0].count == 501
    assert _series_per_asset(store) == {"srv1": 2000, "printer1": 1}


def test_the_client_limit_counts_all_assets_of_the_client(store, acme, tenant_factory, kit):
    ing = Ingestor(store, limits=IngestLimits(max_series_per_asset=100, max_series_per_client=30))
    batch = kit.make_batch(
        [kit.sample(f"srv{a}", "m", 1.0, kit.NOW, i=str(i)) for a in range(3) for i in range(20)]
    )
    answer = ing.ingest(acme.principal, Batch.model_validate(batch)).accepted
    assert answer.samples == 30 and answer.refused[0].count == 30
    assert _series_per_asset(store) == {"srv0": 20, "srv1": 10}
    assert [
        (e["asset"], e["limit"], e["refused_series"]) for e in _events(store, "series_limit")
    ] == [
        ("srv1", "client", 10),
        ("srv2", "client", 20),
    ]
    # Another client has its own budget.
    globex = tenant_factory("globex")
    fresh = {**batch, "batch_id": "00000000-0000-0000-0000-0000000000b2"}
    fresh["agent"] = {**batch["agent"], "id": "00000000-0000-0000-0000-0000000000a2"}
    other = ing.ingest(globex.principal, Batch.model_validate(fresh)).accepted
    assert other.samples == 30


def test_refused_series_are_counted_on_metrics(api, acme, kit, settings):
    batch = kit.make_batch([kit.sample("srv1", "m", 1.0, kit.NOW, i=str(i)) for i in range(2100)])
    resp = api.post(
        "/api/v1/batches", json=batch, headers={"Authorization": f"Bearer {acme.token}"}
    )
    assert resp.status_code == 200 and resp.json()["samples"] == 2000
    text = api.get("/metrics").text
    assert 'upkeep_ingest_samples_refused_total{reason="series_limit"} 100.0' in text
