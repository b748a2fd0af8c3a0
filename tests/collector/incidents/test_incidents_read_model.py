"""The incidents' read model (collector.incidents.read): a period's incidents and their
figures (origin groups, priorities, assets, causes, MTTR, time spent), recurring assets, open
counts and the web UI's lists, on hand-made rows (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest

from collector import admin
from collector.incidents import read
from collector.schema import assets, incidents, time_entries

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
