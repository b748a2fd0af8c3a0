"""Ingest through collector.ingest directly, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from agent.wire import Batch
from collector.errors import Forbidden, InvalidBatch
from collector.ingest import Ingestor, SeriesCache, SeriesRef, shared_labels
from collector.schema import assets, events, latest, rollups_hourly, samples, series


def _ingest(ingestor, tenant, batch_dict):
    return ingestor.ingest(tenant.principal, Batch.model_validate(batch_dict))


def _latest(store, asset_name, metric, client_id=None):
    query = (
        sa.select(latest.c.value, latest.c.ts)
        .join(series, series.c.id == latest.c.series_id)
        .join(assets, assets.c.id == series.c.asset_id)
        .where(assets.c.name == asset_name, series.c.metric == metric)
    )
    if client_id is not None:
        query = query.where(assets.c.client_id == client_id)
    with store.read() as conn:
        return conn.execute(query).one()


def _rollups(store, metric):
    query = (
        sa.select(rollups_hourly)
        .join(series, series.c.id == rollups_hourly.c.series_id)
        .where(series.c.metric == metric)
        .order_by(rollups_hourly.c.hour)
    )
    with store.read() as conn:
        return conn.execute(query).all()


def test_batch_is_stored_with_counts_latest_and_rollups(store, acme, kit):
    ing = Ingestor(store)
    t = kit.HOUR0 + 60
    batch = kit.make_batch(
        [
            kit.sample("srv1", "cpu_percent", 10.0, t),
            kit.sample("srv1", "disk_used_percent", 50.0, t, mount="/"),
            kit.sample("srv1", "disk_used_percent", 70.0, t, mount="/var"),
        ],
        events=[{"asset": "srv1", "type": "reboot", "ts": t, "message": "rebooted"}],
    )
    result = _ingest(ing, acme, batch)
    assert result.accepted.duplicate is False
    assert (result.accepted.samples, result.accepted.events, result.accepted.assets) == (3, 1, 1)
    assert _latest(store, "srv1", "cpu_percent") == (10.0, t)
    (r,) = _rollups(store, "cpu_percent")
    assert (r.hour, r.min, r.max, r.sum, r.count, r.last, r.last_ts) == (
        kit.HOUR0,
        10,
        10,
        10,
        1,
        10,
        t,
    )
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(samples)).scalar() == 3
        assert conn.execute(sa.select(sa.func.count()).select_from(series)).scalar() == 3
        ev = conn.execute(sa.select(events)).one()
        assert (ev.type, ev.message) == ("reboot", "rebooted")
    # The rule-engine hook: every stored sample with its series.
    stored = sorted((ref.metric, tuple(ref.labels.items()), v, ts) for ref, v, ts in result.stored)
    assert stored == [
        ("cpu_percent", (), 10.0, t),
        ("disk_used_percent", (("mount", "/"),), 50.0, t),
        ("disk_used_percent", (("mount", "/var"),), 70.0, t),
    ]


def test_same_batch_twice_is_stored_once_and_answers_duplicate(store, acme, kit):
    ing = Ingestor(store)
    batch = kit.make_batch([kit.sample("srv1", "cpu_percent", 10.0, kit.HOUR0 + 1)])
    first = _ingest(ing, acme, batch)
    before = kit.row_counts(store)
    again = _ingest(ing, acme, batch)
    # A fresh Ingestor (a restarted collector: empty caches) must agree.
    third = _ingest(Ingestor(store), acme, batch)
    assert again.accepted.duplicate and third.accepted.duplicate
    assert again.accepted.samples == first.accepted.samples == 1
    assert again.stored == []
    assert kit.row_counts(store) == before


def test_rollups_merge_across_batches_in_one_hour_and_split_across_hours(store, acme, kit):
    ing = Ingestor(store)
    h0, h1 = kit.HOUR0, kit.HOUR0 + 3600
    agent = str(uuid.uuid4())
    _ingest(
        ing, acme, kit.make_batch([kit.sample("srv1", "load", 4.0, h0 + 10)], agent_id=agent, seq=1)
    )
    _ingest(
        ing, acme, kit.make_batch([kit.sample("srv1", "load", 1.0, h0 + 20)], agent_id=agent, seq=2)
    )
    _ingest(
        ing,
        acme,
        kit.make_batch(
            [
                kit.sample("srv1", "load", 2.0, h0 + 3599),
                kit.sample("srv1", "load", 8.0, h1),
                kit.sample("srv1", "load", 6.0, h1 + 5),
            ],
            agent_id=agent,
            seq=3,
        ),
    )
    r0, r1 = _rollups(store, "load")
    assert (r0.hour, r0.min, r0.max, r0.sum, r0.count, r0.last, r0.last_ts) == (
        h0,
        1,
        4,
        7,
        3,
        2,
        h0 + 3599,
    )
    assert r0.sum / r0.count == pytest.approx(7 / 3)
    assert (r1.hour, r1.min, r1.max, r1.sum, r1.count, r1.last, r1.last_ts) == (
        h1,
        6,
        8,
        14,
        2,
        6,
        h1 + 5,
    )
    assert _latest(store, "srv1", "load") == (6.0, h1 + 5)


def test_out_of_order_samples_do_not_overwrite_latest_or_rollup_last(store, acme, kit):
    ing = Ingestor(store)
    t = kit.HOUR0 + 1000
    _ingest(ing, acme, kit.make_batch([kit.sample("srv1", "temp", 40.0, t)], seq=2))
    _ingest(
        ing, acme, kit.make_batch([kit.sample("srv1", "temp", 90.0, t - 500)], seq=1)
    )  # older, late
    assert _latest(store, "srv1", "temp") == (40.0, t)
    (r,) = _rollups(store, "temp")
    assert (r.min, r.max, r.count, r.last, r.last_ts) == (40, 90, 2, 40, t)


def test_resent_sample_in_a_new_batch_is_not_counted_twice(store, acme, kit):
    ing = Ingestor(store)
    t = kit.HOUR0 + 5
    _ingest(ing, acme, kit.make_batch([kit.sample("srv1", "m", 3.0, t)]))
    result = _ingest(
        ing,
        acme,
        kit.make_batch([kit.sample("srv1", "m", 3.0, t), kit.sample("srv1", "m", 5.0, t + 1)]),
    )
    assert result.accepted.samples == 1
    assert [(v, ts) for _, v, ts in result.stored] == [(5.0, t + 1)]
    (r,) = _rollups(store, "m")
    assert (r.count, r.sum, r.min, r.max) == (2, 8, 3, 5)


def test_same_series_and_ts_twice_in_one_batch_keeps_the_last(store, acme, kit):
    ing = Ingestor(store)
    t = kit.HOUR0 + 5
    result = _ingest(
        ing,
        acme,
        kit.make_batch([kit.sample("srv1", "m", 1.0, t), kit.sample("srv1", "m", 2.0, t)]),
    )
    assert result.accepted.samples == 1
    assert _latest(store, "srv1", "m") == (2.0, t)


def test_unknown_asset_is_refused_naming_the_sample_and_nothing_is_stored(store, acme, kit):
    ing = Ingestor(store)
    _ingest(ing, acme, kit.make_batch([kit.sample("srv1", "m", 1.0, kit.HOUR0)]))
    before = kit.row_counts(store)
    bad = kit.make_batch(
        [
            kit.sample("srv1", "m", 2.0, kit.HOUR0 + 1),
            kit.sample("srv1", "n", 2.0, kit.HOUR0 + 1),
            kit.sample("ghost", "m", 1.0, kit.HOUR0 + 1),
        ],
        assets=["srv1"],
    )
    with pytest.raises(InvalidBatch) as info:
        _ingest(ing, acme, bad)
    assert info.value.detail.startswith("samples[2].asset: unknown asset 'ghost'")
    assert info.value.fields[0]["loc"] == "samples[2].asset"
    assert kit.row_counts(store) == before
    # The refused batch_id was not recorded: fixed, it is stored.
    bad["assets"].append({"name": "ghost", "kind": "printer"})
    assert _ingest(ing, acme, bad).accepted.samples == 3


def test_asset_known_from_an_earlier_batch_needs_no_listing(store, acme, kit):
    ing = Ingestor(store)
    _ingest(
        ing,
        acme,
        kit.make_batch(
            [kit.sample("printer1", "toner_percent", 80, kit.HOUR0)],
            assets=[
                {
                    "name": "printer1",
                    "kind": "printer",
                    "vendor": "HP",
                    "serial": "X1",
                    "tags": ["floor2"],
                }
            ],
        ),
    )
    for i, fresh in enumerate((ing, Ingestor(store))):  # cached and from the database
        result = _ingest(
            fresh,
            acme,
            kit.make_batch(
                [kit.sample("printer1", "toner_percent", 79, kit.HOUR0 + 60 + i)], assets=[]
            ),
        )
        assert result.accepted.samples == 1
    with store.read() as conn:
        row = conn.execute(sa.select(assets).where(assets.c.name == "printer1")).one()
    assert (row.kind, row.vendor, row.serial, row.tags) == ("printer", "HP", "X1", ["floor2"])
    assert row.last_seen >= row.first_seen


def test_asset_inventory_update_keeps_fields_the_agent_no_longer_sends(store, acme, kit):
    ing = Ingestor(store)
    _ingest(
        ing,
        acme,
        kit.make_batch(
            [], assets=[{"name": "ups1", "kind": "ups", "vendor": "APC", "model": "SMT"}]
        ),
    )
    _ingest(
        ing,
        acme,
        kit.make_batch(
            [], assets=[{"name": "ups1", "kind": "ups", "model": "SMT1500", "serial": "S9"}]
        ),
    )
    with store.read() as conn:
        row = conn.execute(sa.select(assets).where(assets.c.name == "ups1")).one()
    assert (row.vendor, row.model, row.serial) == ("APC", "SMT1500", "S9")


def test_agent_registered_to_another_client_is_forbidden(store, tenant_factory, kit):
    acme, globex = tenant_factory("acme"), tenant_factory("globex")
    ing = Ingestor(store)
    agent = str(uuid.uuid4())
    _ingest(ing, acme, kit.make_batch([kit.sample("srv1", "m", 1, kit.HOUR0)], agent_id=agent))
    before = kit.row_counts(store)
    with pytest.raises(Forbidden, match="registered to another client"):
        _ingest(
            ing, globex, kit.make_batch([kit.sample("srv1", "m", 2, kit.HOUR0 + 1)], agent_id=agent)
        )
    assert kit.row_counts(store) == before


def test_tenants_with_the_same_asset_names_never_mix(store, tenant_factory, kit):
    acme, globex = tenant_factory("acme"), tenant_factory("globex")
    ing = Ingestor(store)
    t = kit.HOUR0 + 10
    _ingest(ing, acme, kit.make_batch([kit.sample("srv1", "cpu_percent", 11, t)]))
    _ingest(ing, globex, kit.make_batch([kit.sample("srv1", "cpu_percent", 99, t)]))
    assert _latest(store, "srv1", "cpu_percent", acme.principal.client_id) == (11, t)
    assert _latest(store, "srv1", "cpu_percent", globex.principal.client_id) == (99, t)
    with store.read() as conn:
        rows = conn.execute(
            sa.select(assets.c.id, assets.c.client_id).where(assets.c.name == "srv1")
        ).all()
    assert len({r.id for r in rows}) == 2
    assert {r.client_id for r in rows} == {acme.principal.client_id, globex.principal.client_id}
    # globex cannot write to acme's assets by name: an asset only acme has is unknown to globex.
    _ingest(ing, acme, kit.make_batch([kit.sample("acme-only", "m", 1, t)]))
    with pytest.raises(InvalidBatch, match="acme-only"):
        _ingest(ing, globex, kit.make_batch([kit.sample("acme-only", "m", 2, t)], assets=[]))


def test_listeners_see_the_stored_samples_after_commit(store, acme, kit):
    seen = []
    ing = Ingestor(
        store, listeners=[lambda result: seen.append(result.stored), lambda result: 1 / 0]
    )  # a failing listener is only logged
    result = _ingest(ing, acme, kit.make_batch([kit.sample("srv1", "m", 1.5, kit.HOUR0)]))
    assert result.accepted.samples == 1
    ((ref, value, ts),) = seen[0]
    assert (ref.asset, ref.metric, value, ts) == ("srv1", "m", 1.5, kit.HOUR0)


def test_large_batch_with_many_series_and_hours(store, acme, kit):
    ing = Ingestor(store)
    agent = str(uuid.uuid4())
    batch = kit.make_batch(
        [
            kit.sample(f"dev{a}", f"metric_{m}", float(i), kit.HOUR0 + i * 1800, port=str(m % 3))
            for i in range(3)
            for a in range(20)
            for m in range(50)
        ],
        agent_id=agent,
    )
    assert _ingest(ing, acme, batch).accepted.samples == 3000
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(series)).scalar() == 1000
        assert conn.execute(sa.select(sa.func.count()).select_from(rollups_hourly)).scalar() == 2000
        assert set(conn.execute(sa.select(latest.c.value)).scalars()) == {2.0}


def test_unchanged_assets_are_not_rewritten_but_seen(store, acme, kit):
    ing = Ingestor(store)
    agent = str(uuid.uuid4())
    inventory = [{"name": "sw1", "kind": "switch", "vendor": "Cisco", "tags": ["core"]}]
    _ingest(
        ing,
        acme,
        kit.make_batch([kit.sample("sw1", "up", 1, kit.HOUR0)], assets=inventory, agent_id=agent),
    )
    with store.write() as conn:  # someone edits the row; an unchanged report must not undo it
        conn.execute(assets.update().values(description="edited", last_seen=0))
    _ingest(
        ing,
        acme,
        kit.make_batch(
            [kit.sample("sw1", "up", 1, kit.HOUR0 + 60)], assets=inventory, agent_id=agent, seq=2
        ),
    )
    with store.read() as conn:
        row = conn.execute(sa.select(assets).where(assets.c.name == "sw1")).one()
    assert row.description == "edited" and row.last_seen > 0
    inventory[0]["model"] = "C9300"
    _ingest(ing, acme, kit.make_batch([], assets=inventory, agent_id=agent, seq=3))
    with store.read() as conn:
        row = conn.execute(sa.select(assets).where(assets.c.name == "sw1")).one()
    assert (row.model, row.vendor, row.description) == ("C9300", "Cisco", "edited")


def test_last_seen_is_written_at_most_once_per_interval(store, acme, kit):
    """The single collector's throttle (``seen_write_interval``, as the cluster's): an
    unchanged agent/asset row is rewritten once per interval, not per batch."""
    ing = Ingestor(store, seen_interval=30.0)
    agent = str(uuid.uuid4())
    inventory = [{"name": "srv1", "kind": "host"}]
    t = kit.HOUR0 + 100

    def seen():
        with store.read() as conn:
            return (
                conn.execute(sa.text("SELECT last_seen FROM agents")).scalar(),
                conn.execute(sa.text("SELECT last_seen FROM assets")).scalar(),
            )

    for seq, offset in enumerate((0, 10, 29), 1):
        doc = kit.make_batch(
            [kit.sample("srv1", "up", 1, t + offset - 1)],
            assets=inventory,
            agent_id=agent,
            seq=seq,
        )
        ing.ingest(acme.principal, Batch.model_validate(doc), received_at=t + offset)
    assert seen() == (t, t)  # one write per 30 s
    doc = kit.make_batch(
        [kit.sample("srv1", "up", 1, t + 30)], assets=inventory, agent_id=agent, seq=4
    )
    ing.ingest(acme.principal, Batch.model_validate(doc), received_at=t + 31)
    assert seen() == (t + 31, t + 31)


def test_series_cache_keeps_ids_and_builds_each_batchs_refs():
    """The cache holds (metric, labels) once and asset → id under it; each lookup builds
    refs with the batch's asset ids, the cache's metric string and the shared labels dict."""
    pairs, labels = shared_labels('{"mount":"/"}')
    cache = SeriesCache(client_id=7)
    cache.update(
        {
            ("web1", "disk_used_percent", pairs): SeriesRef(
                11, 7, 1, "web1", "disk_used_percent", labels
            ),
            ("web2", "disk_used_percent", pairs): SeriesRef(
                12, 7, 2, "web2", "disk_used_percent", labels
            ),
            ("web1", "cpu_percent", ()): SeriesRef(13, 7, 1, "web1", "cpu_percent", {}),
        }
    )
    assert len(cache) == 3
    keys = [
        ("web2", "disk_used_percent", pairs),
        ("web1", "cpu_percent", ()),
        ("web3", "disk_used_percent", pairs),  # a new asset
        ("web1", "disk_used_percent", (("mount", "/var"),)),  # a new label set
    ]
    got = cache.lookup(keys, {"web1": 1, "web2": 2, "web3": 3})
    assert got[2:] == [None, None]
    two, one = got[0], got[1]
    assert two is not None and one is not None
    assert (two.id, two.client_id, two.asset_id, two.asset, two.metric) == (
        12,
        7,
        2,
        "web2",
        "disk_used_percent",
    )
    assert two.labels is labels  # shared, never copied per series
    assert (one.id, one.asset_id, one.labels) == (13, 1, {})
    again = cache.lookup(keys[:1], {"web2": 2})[0]
    assert again is not two and again is not None and again.id == two.id  # built per batch
