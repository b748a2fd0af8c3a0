"""The incidents' read model (collector.incidents.read): a period's incidents and their
figures (origin groups, priorities, assets, causes, MTTR, time spent), recurring assets, open
counts, the web UI's lists and the management figures (per bucket, age, actor, client and
asset), on hand-made rows (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from collector import admin
from collector.incidents import read
from collector.schema import assets, incident_events, incidents, service_requests, time_entries

START, END = 1_000_000.0, 2_000_000.0
H = 3600.0


def insert(conn: Any, client_id: int, number: int, **values: Any) -> int:
    row = {
        "client_id": client_id,
        "number": number,
        "key": f"UPK-{client_id}-{number}",
        "title": f"incident {number}",
        "origin": "proactive",
        "state": "open",
        "priority": "minor",
        "kind": "fault",
        "description": "",
        "labels": {},
        "count": 1,
        "flapping": False,
        "version": 1,
        "updated_at": START,
        **values,
    }
    return conn.execute(incidents.insert().values(**row)).inserted_primary_key[0]


@pytest.fixture
def seeded(store):
    admin.create_client(store, "acme")
    admin.create_client(store, "globex")
    with store.write() as conn:
        acme, globex = (admin.get_client(conn, n).id for n in ("acme", "globex"))
        srv1 = conn.execute(
            assets.insert().values(
                client_id=acme,
                name="srv1",
                kind="server",
                tags=[],
                attributes={},
                first_seen=START,
                last_seen=START,
            )
        ).inserted_primary_key[0]
        first = insert(
            conn,
            acme,
            1,
            asset="srv1",
            rule="disk_full",
            cause="wear",
            priority="major",
            state="resolved",
            opened_at=START,  # the range's first second counts
            resolved_at=START + 2 * H,
        )
        insert(
            conn,
            acme,
            2,
            asset="srv1",
            rule="disk_full",
            origin="user_reported",
            state="closed",  # closed without a resolution: resolved at its closing
            opened_at=START + 10 * H,
            closed_at=START + 14 * H,
        )
        insert(
            conn, acme, 3, asset="srv1", asset_id=srv1, rule="backup_age", opened_at=START + 20 * H
        )
        insert(conn, acme, 4, origin="external", opened_at=END - 1)  # Alertmanager: proactive
        insert(conn, acme, 5, asset="srv1", asset_id=srv1, opened_at=END)  # not in the range
        insert(
            conn, acme, 6, asset="srv1", asset_id=srv1, opened_at=START - 1, state="acknowledged"
        )
        insert(conn, globex, 1, asset="gw", opened_at=START + H, priority="critical")
        conn.execute(
            time_entries.insert(),
            [
                {
                    "incident_id": first,
                    "actor": "t",
                    "minutes": 30,
                    "note": "",
                    "created_at": START,
                },
                {
                    "incident_id": first,
                    "actor": "t",
                    "minutes": 15,
                    "note": "",
                    "created_at": START,
                },
            ],
        )
    return store, acme, globex, srv1


def test_a_period_s_incidents_and_figures(seeded) -> None:
    store, acme, _, _ = seeded
    with store.read() as conn:
        found = read.opened_in(conn, acme, START, END)
        counted = read.origin_counts(conn, acme, START, END)
    assert [i.key for i in found] == [f"UPK-{acme}-{n}" for n in (1, 2, 3, 4)]
    assert [i.origin for i in found] == ["proactive", "user_reported", "proactive", "proactive"]
    assert [i.time_to_resolve for i in found] == [2 * H, 4 * H, None, None]
    assert [i.minutes_spent for i in found] == [45, 0, 0, 0]
    s = read.summarize(found)
    assert (s.total, s.resolved, s.mean_time_to_resolve, s.minutes_spent) == (4, 2, 3 * H, 45)
    assert s.by_origin == counted == {"proactive": 3, "user_reported": 1}
    assert s.by_priority["major"] == {"proactive": 1, "user_reported": 0}
    assert s.by_priority["minor"] == {"proactive": 2, "user_reported": 1}
    assert s.by_asset == {"srv1": 3, None: 1}
    assert s.by_cause == [(None, 3), ("wear", 1)]


def test_nothing_resolved_has_no_mttr() -> None:
    assert read.summarize([]).mean_time_to_resolve is None


def test_recurring_assets(seeded) -> None:
    store, acme, _, _ = seeded
    with store.read() as conn:
        [srv1] = read.recurring(conn, acme, START - 10, END + 10, recent=START + 5 * H)
        none = read.recurring(conn, acme, START, END, recent=START, at_least=4)
    assert (srv1.asset, srv1.incidents, srv1.recent) == ("srv1", 5, 3)
    assert [o.rule for o in srv1.occurrences] == [
        None,
        "disk_full",
        "disk_full",
        "backup_age",
        None,
    ]
    assert none == []


def test_open_counts_and_lists(seeded) -> None:
    store, acme, globex, srv1 = seeded
    with store.read() as conn:
        per_client = read.open_counts(conn, per="client")
        phoned = read.open_counts(conn, per="client", without_asset=True)
        per_asset = read.open_counts(conn, per="asset", ids=[srv1])
        only_acme = read.listing(conn, client_ids={acme}, limit=3)
        urgent = read.most_urgent_open(conn)
        nobody = read.listing(conn, client_ids=set())
        one = read.by_key(conn, f"UPK-{globex}-1")
        missing = read.by_key(conn, "nope")
    assert per_client == {acme: 4, globex: 1}  # 3, 4, 5 open and 6 acknowledged; 1, 2 done
    # without an asset (a phone call; the web UI counts these for the client): 4 and globex's
    assert phoned == {acme: 1, globex: 1} and per_asset == {srv1: 3}
    assert [r.key for r in only_acme] == [f"UPK-{acme}-{n}" for n in (5, 4, 3)]
    assert {r.client for r in only_acme} == {"acme"}
    assert urgent[0].key == f"UPK-{globex}-1" and nobody == []
    assert one.client == "globex" and missing is None


# ---------------------------------------------------------------------- management figures


@pytest.fixture
def worked(seeded):
    """``seeded`` plus time logged (on incidents and a service request, inside and outside the
    range by when it was spent) and incident events, for the management figures."""
    store, acme, globex, srv1 = seeded
    with store.write() as conn:
        ids = dict(conn.execute(sa.select(incidents.c.key, incidents.c.id)).all())
        inc = {n: ids[f"UPK-{acme}-{n}"] for n in (1, 2, 3)}
        gw = ids[f"UPK-{globex}-1"]
        # opened before the range, on another asset: minutes on it count, the incident not
        nas = insert(conn, acme, 7, asset="nas", state="resolved", opened_at=START - 100)
        request = conn.execute(
            service_requests.insert().values(
                key=f"REQ-{globex}-1",
                client_id=globex,
                number=1,
                title="new laptop",
                description="",
                requested_by="someone",
                standard=False,
                state="done",
                created_at=START,
                updated_at=START,
            )
        ).inserted_primary_key[0]
        entry = {"note": "", "spent_at": None, "incident_id": None, "request_id": None}
        conn.execute(
            time_entries.insert(),
            [
                # spent in the range though logged after it: counts
                {**entry, "incident_id": gw, "actor": "ann", "minutes": 20, "spent_at": START + H,
                 "created_at": END + 5},
                {**entry, "request_id": request, "actor": "ann", "minutes": 60,
                 "created_at": START + 2 * H},
                # spent before the range though logged in it: left out
                {**entry, "incident_id": inc[3], "actor": "ann", "minutes": 10,
                 "spent_at": START - 10, "created_at": START + H},
                {**entry, "incident_id": inc[3], "actor": "bob", "minutes": 5, "created_at": END},
                {**entry, "incident_id": nas, "actor": "bob", "minutes": 25,
                 "created_at": START + 3 * H},
            ],
        )  # fmt: skip
        conn.execute(
            incident_events.insert(),
            [
                {"incident_id": i, "actor": actor, "type": kind, "ts": ts, "data": {}}
                for i, actor, kind, ts in (
                    (inc[1], "ann", "acknowledged", START + H),
                    (inc[1], "ann", "resolved", START + 2 * H),
                    (inc[2], "upkeep", "resolved", START + 14 * H),
                    (gw, "ann", "acknowledged", END),  # the range's end is not in it
                    (inc[3], "ann", "commented", START + 21 * H),  # not a counted type
                )
            ],
        )
    return store, acme, globex, inc


def test_opened_and_resolved_per_bucket(worked) -> None:
    store, *_ = worked
    with store.read() as conn:
        halves = read.opened_resolved_by_bucket(conn, START, END, [START + 12 * H, END])
        one = read.opened_resolved_by_bucket(conn, START, END, [END])
        empty = read.opened_resolved_by_bucket(conn, END + H, END + 2 * H, [END + 2 * H])
    # opened: acme 1 (START), 2 (+10 h), globex 1 (+1 h) | acme 3 (+20 h), 4 (END - 1);
    # resolved: only acme 1 has a resolution time (2 was closed without one)
    assert (halves.opened, halves.resolved) == ({0: 3, 1: 2}, {0: 1})
    assert (one.opened, one.resolved) == ({0: 5}, {0: 1})
    assert (empty.opened, empty.resolved) == ({}, {})


def test_open_incidents_by_priority_and_age(worked) -> None:
    store, *_ = worked
    ages = (("young", 6 * H), ("day", 30 * H), ("old", None))
    with store.read() as conn:
        found = read.open_by_age(conn, END + 2 * H, ages)
    counts = {(c.priority, c.age): c.count for c in found.counts}
    # open: acme 3 (old), 4 and 5 (2 h: young), 6 (acknowledged, old); globex 1 (critical, old)
    assert counts == {("minor", "young"): 2, ("minor", "old"): 2, ("critical", "old"): 1}
    assert found.oldest_opened_at == START - 1


def test_time_and_transitions_per_actor(worked) -> None:
    store, *_ = worked
    with store.read() as conn:
        time = {t.actor: t for t in read.time_by_actor(conn, START, END)}
        moves = read.transitions_by_actor(conn, START, END, ("acknowledged", "resolved"))
    assert time == {
        "t": read.ActorTime("t", 45, 0, 2, 1, 0),
        "ann": read.ActorTime("ann", 20, 60, 2, 1, 1),
        "bob": read.ActorTime("bob", 25, 0, 1, 1, 0),
    }
    assert moves == {("ann", "acknowledged"): 1, ("ann", "resolved"): 1, ("upkeep", "resolved"): 1}


def test_work_per_client_and_asset(worked) -> None:
    store, acme, globex, inc = worked
    with store.read() as conn:
        minutes = read.minutes_by_client(conn, START, END)
        opened = read.opened_by_client(conn, START, END)
        per_asset = {(a.client_id, a.asset): a for a in read.work_by_asset(conn, START, END)}
        keys = read.keys_by_id(conn, [inc[1], inc[3]])
        nothing = read.keys_by_id(conn, [])
    # acme: 45 on incident 1, 25 on 7; globex: 20 on its incident and 60 on its request
    assert minutes == {acme: 70, globex: 80}
    assert opened == {acme: 4, globex: 1}
    assert per_asset == {
        (acme, "srv1"): read.AssetWork(acme, "srv1", 3, 45),
        (acme, "nas"): read.AssetWork(acme, "nas", 0, 25),  # opened before: its time only
        (globex, "gw"): read.AssetWork(globex, "gw", 1, 20),
    }
    assert keys == {inc[1]: f"UPK-{acme}-1", inc[3]: f"UPK-{acme}-3"} and nothing == {}
