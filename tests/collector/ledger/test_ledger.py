"""The points ledger on SQLite and PostgreSQL: a month of work gives the exact statement,
periods roll over and expire once, charges are never lost or doubled, the balance is the
sum of the entries, low-balance notices go out once per threshold and period."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector import admin
from collector.errors import InvalidArgument
from collector.ledger import charges, entries, read, service
from collector.schema import (
    incidents,
    ledger_entries,
    ledger_notices,
    notifications,
    service_requests,
)
from tests.collector.ledger.ledgerkit import give_contract, ts, work_incident


def entries_of(store, client_id: int) -> list[tuple]:
    with store.read() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                sa.select(
                    ledger_entries.c.period, ledger_entries.c.kind, ledger_entries.c.centipoints
                )
                .where(ledger_entries.c.client_id == client_id)
                .order_by(ledger_entries.c.id)
            ).all()
        ]


def summary(statement: dict) -> list[tuple]:
    return [
        (e["kind"], e["centipoints"], e["incident"] or e["request"]) for e in statement["entries"]
    ]


# ---------------------------------------------------------------------- a month of work


def test_a_month_of_incidents_and_requests_gives_the_exact_statement(books) -> None:
    ledger, clock = books.ledger, books.clock
    # September: the ledger starts; one billable incident of 12 hours leaves 8 points.
    clock.set("2026-09-03 09:00")
    sept = work_incident(books, "user deleted the share", "client_error", [(720, None)])
    # October: every kind of work.
    clock.set("2026-10-02 09:00")
    free = work_incident(books, "disk failed", "hardware", [(90, "onsite")])  # 0
    billable = work_incident(
        books, "wrong config by staff", "client_error", [(50, None), (20, "onsite")]
    )  # 60 min + 30 onsite
    out_of_scope = work_incident(
        books,
        "leased printer",
        "unknown",
        [(10, None)],
        labels={"scope": "out-of-scope", "scope_policy": "billable"},
    )  # 15 min + min 30
    goodwill = work_incident(books, "ISP outage", "third_party", [(120, None)])  # 2.00, then waived
    books.incidents.act(goodwill, "charge", "carol", mode="free", reason="goodwill: first outage")
    fixed = work_incident(
        books,
        "provider patch broke app",
        "provider",
        [(45, None)],
        charge={"mode": "amount", "centipoints": 300, "reason": "client asked for a rush"},
    )
    reopened = work_incident(books, "password reset loop", "client_error", [(60, None)])  # 1.00
    books.incidents.act(reopened, "reopen", "bob")
    books.incidents.act(reopened, "resolve", "bob")  # again: nothing new
    books.incidents.act(reopened, "reopen", "bob")
    books.incidents.act(reopened, "time_entry", "bob", minutes=30, work_type=None, note="more")
    books.incidents.act(reopened, "resolve", "bob")  # + 0.50
    books.incidents.act(reopened, "close", "bob")  # nothing new

    r1 = ledger.create_request(
        client="acme",
        title="new laptop setup",
        requested_by="Jane",
        standard=False,
        actor="desk",
        estimate_minutes=120,
    )
    r2 = ledger.create_request(
        client="acme",
        title="move office",
        requested_by="Jane",
        standard=False,
        actor="desk",
        estimate_minutes=60,
    )
    r3 = ledger.create_request(
        client="acme",
        title="VPN for home office",
        requested_by="Jane",
        standard=False,
        actor="desk",
        estimate_minutes=60,
    )
    r4 = ledger.create_request(
        client="acme",
        title="migrate mailbox",
        requested_by="Jane",
        standard=False,
        actor="desk",
        estimate_minutes=60,
    )
    r5 = ledger.create_request(
        client="acme", title="add user", requested_by="Jane", standard=True, actor="desk"
    )
    assert [r["estimate_centipoints"] for r in (r1, r2, r3, r4)] == [200, 100, 100, 100]
    assert {r["state"] for r in (r1, r2, r3, r4)} == {"awaiting_approval"} and r5["state"] == "new"
    with pytest.raises(InvalidArgument, match="awaiting the client's approval"):
        ledger.log_time(r3["key"], by="bob", minutes=30)
    clock.tick()
    ledger.approve(r1["key"], by="Jane", via="phone")
    ledger.reject(r2["key"], by="Jane", via="api", note="too expensive")
    ledger.approve(r3["key"], by="Jane", via="api")
    ledger.approve(r4["key"], by="Jane", via="api")
    ledger.approve(
        r4["key"], by="Jane", via="phone", cap=300, note="ok to go over"
    )  # approved more
    with pytest.raises(InvalidArgument, match="rejected"):
        ledger.log_time(r2["key"], by="bob", minutes=30)
    for key, minutes in ((r1["key"], 100), (r3["key"], 150), (r4["key"], 150), (r5["key"], 60)):
        clock.tick()
        ledger.log_time(key, by="bob", minutes=minutes)
        ledger.complete(key, by="bob")
    clock.tick()
    ledger.topup("acme", 1000, by="bob", reason="invoice 2026-117")
    clock.tick()
    ledger.adjust("acme", -100, by="alice", reason="duplicate time entry")

    september = ledger.statement("acme", "2026-09")
    assert summary(september) == [
        ("allotment", 2000, None),
        ("charge", -1200, sept),
        ("expiry", -300, None),
        ("rollover", -500, None),
    ]
    assert (september["opening_balance"], september["closing_balance"], september["overdraft"]) == (
        0,
        0,
        False,
    )

    october = ledger.statement("acme", "2026-10")
    assert summary(october) == [
        ("rollover", 500, None),
        ("allotment", 2000, None),
        ("charge", -175, billable),
        ("charge", -50, out_of_scope),
        ("charge", -200, goodwill),
        ("charge", 200, goodwill),  # charged, then waived: a reversal
        ("charge", -300, fixed),
        ("charge", -100, reopened),
        ("charge", -50, reopened),
        ("charge", -175, r1["key"]),
        ("charge", -100, r3["key"]),
        ("charge", -250, r4["key"]),
        ("topup", 1000, None),
        ("adjustment", -100, None),
    ]
    assert (
        october["opening_balance"],
        october["rollover_in"],
        october["allotment"],
        october["charged"],
        october["topped_up"],
        october["adjusted"],
        october["expired"],
        october["closing_balance"],
        october["overdraft"],
    ) == (0, 500, 2000, -1200, 1000, -100, 0, 2200, False)
    assert free not in {e["incident"] for e in october["entries"]}  # covered work records nothing
    by_ref = {(c["incident"] or c["request"], c["centipoints"]): c for c in october["charges"]}
    lines = by_ref[(billable, -175)]["data"]["time_entries"]
    assert [
        (ln["minutes"], ln["work_type"], ln["billed_seconds"], ln["centipoints"]) for ln in lines
    ] == [(50, None, 3600, 100), (20, "onsite", 1800, 75)]
    assert [ln["note"] for ln in by_ref[(out_of_scope, -50)]["data"]["time_entries"]] == [
        "leased printer work",
        "minimum charge",
    ]
    assert by_ref[(r3["key"], -100)]["data"] | {"time_entries": None} == {
        "basis": "service request",
        "cost": 250,
        "cap": 100,
        "capped": True,
        "time_entries": None,
    }
    assert (
        "goodwill" in by_ref[(goodwill, 200)]["reason"]
        and by_ref[(goodwill, 200)]["actor"] == "carol"
    )
    adjustment = october["adjustments"][0]
    assert (adjustment["actor"], adjustment["reason"]) == ("alice", "duplicate time entry")
    assert ledger.get_request(r2["key"])["charged_centipoints"] == 0
    assert ledger.get_request(r4["key"])["approved_centipoints"] == 300
    assert ledger.get_request(r5["key"])["charged_centipoints"] == 0
    # The approval mails went to the contacts receiving approvals, with signed links.
    with books.store.read() as conn:
        mails = conn.execute(
            sa.select(notifications)
            .where(notifications.c.kind == "approval_request")
            .order_by(notifications.c.id)
        ).all()
    assert len(mails) == 4 and all(m.recipients == ["jane@acme.example"] for m in mails)
    assert (
        "https://upkeep.example.com/approve?token=" in mails[0].body_text
        and "2.00 points" in mails[0].subject
    )


def test_the_ledger_only_appends(books) -> None:
    """No UPDATE or DELETE ever touches ledger_entries (statements in the module source)."""
    import inspect

    from collector.ledger import requests, runtime

    for module in (service, requests, runtime, charges):
        source = inspect.getsource(module)
        assert "ledger_entries.update" not in source and "ledger_entries.delete" not in source


# ---------------------------------------------------------------------- periods


@pytest.mark.parametrize(
    ("rollover", "expected"),
    [
        ({"policy": "none"}, [("2026-09", "expiry", -800)]),
        ({"policy": "all"}, [("2026-09", "rollover", -800), ("2026-10", "rollover", 800)]),
        (
            {"policy": "up_to", "max": 5},
            [
                ("2026-09", "expiry", -300),
                ("2026-09", "rollover", -500),
                ("2026-10", "rollover", 500),
            ],
        ),
    ],
)
def test_period_end_rolls_over_and_expires_once(books, rollover, expected) -> None:
    give_contract(books.store, "acme", {"rollover": rollover})
    books.clock.set("2026-09-05 10:00")
    books.ledger.adjust("acme", -1200, by="alice", reason="used")
    books.clock.set("2026-10-01 00:00")  # the first second of October
    for _ in range(3):  # lazily on reads, by the periodic task, again: written once
        books.ledger.statement("acme")
        entries.ensure_all_periods(books.store)
    got = entries_of(books.store, books.client_id)
    assert got == [
        ("2026-09", "allotment", 2000),
        ("2026-09", "adjustment", -1200),
        *expected,
        ("2026-10", "allotment", 2000),
    ]


def test_a_collector_down_for_months_catches_up_and_an_overdraft_carries(books) -> None:
    give_contract(books.store, "acme", {"rollover": {"policy": "all"}})
    books.clock.set("2026-09-05 10:00")
    books.ledger.adjust(
        "acme", -2500, by="alice", reason="big job"
    )  # -5.00 at the end of September
    books.clock.set("2026-12-15 10:00")
    statement = books.ledger.statement("acme")
    assert statement["period"] == "2026-12"
    assert entries_of(books.store, books.client_id) == [
        ("2026-09", "allotment", 2000),
        ("2026-09", "adjustment", -2500),
        ("2026-10", "allotment", 2000),  # nothing of an overdraft rolls
        ("2026-10", "rollover", -1500),
        ("2026-11", "rollover", 1500),
        ("2026-11", "allotment", 2000),
        ("2026-11", "rollover", -3500),
        ("2026-12", "rollover", 3500),
        ("2026-12", "allotment", 2000),
    ]
    assert books.ledger.statement("acme", "2026-09")["overdraft"] is True
    assert statement["opening_balance"] == 0 and statement["closing_balance"] == 5500
    # Statements chain: each period opens with the last one's closing balance.
    periods = ["2026-09", "2026-10", "2026-11", "2026-12"]
    closing = [books.ledger.statement("acme", p)["closing_balance"] for p in periods]
    opening = [books.ledger.statement("acme", p)["opening_balance"] for p in periods]
    assert opening[1:] == closing[:-1]


def test_periods_follow_the_contract_start_day_and_zone(books) -> None:
    give_contract(
        books.store,
        "acme",
        {"rollover": {"policy": "none"}},
        period={"start_day": 15},
        calendar={"timezone": "Europe/Berlin"},
    )
    books.clock.set("2026-10-14 21:59")  # 23:59 in Berlin: still the period that began in September
    assert books.ledger.statement("acme")["period"] == "2026-09"
    books.clock.set("2026-10-14 22:00")  # midnight in Berlin, 15 October
    statement = books.ledger.statement("acme")
    assert statement["period"] == "2026-10" and statement["start"] == ts("2026-10-14 22:00")
    assert entries_of(books.store, books.client_id)[-2:] == [
        ("2026-09", "expiry", -2000),
        ("2026-10", "allotment", 2000),
    ]


def test_no_points_contract_no_ledger(store, clock, tmp_path) -> None:
    from collector.errors import NotFound
    from collector.ledger.runtime import Ledger
    from collector.settings import Settings

    admin.create_client(store, "bare")
    ledger = Ledger(store, Settings.for_data_dir(tmp_path))
    with pytest.raises(NotFound, match="no points"):
        ledger.statement("bare")
    with pytest.raises(InvalidArgument, match="no points"):
        ledger.topup("bare", 100, by="bob", reason="x")
    with store.read() as conn:
        assert read.statement(conn, admin.get_client(conn, "bare").id) is None


def test_topups_and_adjustments_need_who_and_why(books) -> None:
    for bad, match in (
        (dict(centipoints=0), "top-up is a positive"),
        (dict(centipoints=-5), "positive"),
        (dict(by=" "), "by"),
        (dict(reason=""), "reason"),
    ):
        args = {"centipoints": 100, "by": "bob", "reason": "r", **bad}
        with pytest.raises(InvalidArgument, match=match):
            books.ledger.topup("acme", args.pop("centipoints"), **args)
    with pytest.raises(InvalidArgument, match="not zero"):
        books.ledger.adjust("acme", 0, by="bob", reason="r")


# ---------------------------------------------------------------------- charging rules


def test_an_override_before_resolution_applies_at_resolution_and_needs_a_reason(books) -> None:
    key = work_incident(
        books,
        "staff unplugged the switch",
        "hardware",
        [(30, None)],
        resolve=False,
        charge={"mode": "charged", "reason": "staff caused it, says the client"},
    )
    assert books.ledger.statement("acme")["charges"] == []
    books.incidents.act(key, "resolve", "bob")
    [charge] = books.ledger.statement("acme")["charges"]
    assert charge["centipoints"] == -50 and "staff caused it" in charge["reason"]
    with pytest.raises(InvalidArgument, match="reason"):
        books.incidents.act(key, "charge", "bob", mode="free", reason=" ")
    with pytest.raises(InvalidArgument, match="mode"):
        books.incidents.act(key, "charge", "bob", mode="half", reason="x")
    # Changing the cause after resolution and resolving again reverses the charge.
    books.incidents.act(
        key, "charge", "bob", mode="amount", centipoints=0, reason="waived after all"
    )
    assert [c["centipoints"] for c in books.ledger.statement("acme")["charges"]] == [-50, 50]


def test_billable_causes_come_from_the_contract(books) -> None:
    give_contract(books.store, "acme", {"billable_causes": ["wear"]})
    wear = work_incident(books, "toner empty", "wear", [(30, None)])
    client = work_incident(books, "user error", "client_error", [(30, None)])
    out = work_incident(
        books,
        "tagged only",
        "unknown",
        [(30, None)],
        labels={"scope": "out-of-scope", "scope_policy": "tag"},
    )
    charged = {c["incident"] for c in books.ledger.statement("acme")["charges"]}
    assert charged == {wear} and client not in charged and out not in charged


# ---------------------------------------------------------------------- at zero


def test_allow_negative_goes_below_zero_and_flags_the_overdraft(books) -> None:
    give_contract(books.store, "acme", {"allotment": 1})
    work_incident(books, "user error", "client_error", [(120, None)])
    statement = books.ledger.statement("acme")
    assert (
        statement["closing_balance"] == -100
        and statement["overdraft"]
        and statement["overdraft_centipoints"] == 100
    )


def test_require_approval_holds_a_charge_until_the_client_approves(books) -> None:
    give_contract(books.store, "acme", {"allotment": 1, "at_zero": "require_approval"})
    key = work_incident(books, "user error", "client_error", [(120, None)])
    statement = books.ledger.statement("acme")
    assert statement["charges"] == [] and statement["closing_balance"] == 100
    [held] = books.ledger.list_requests(client="acme", state="awaiting_approval")
    assert held["estimate_centipoints"] == 200 and key in held["title"]
    books.incidents.act(key, "close", "bob")  # settles again: still one hold
    assert len(books.ledger.list_requests(client="acme")) == 1
    books.ledger.approve(held["key"], by="Jane", via="phone")
    statement = books.ledger.statement("acme")
    [charge] = statement["charges"]
    assert (charge["centipoints"], charge["incident"], charge["request"]) == (
        -200,
        key,
        held["key"],
    )
    assert statement["closing_balance"] == -100 and statement["overdraft"]
    assert books.ledger.get_request(held["key"])["state"] == "done"
    books.incidents.act(key, "reopen", "bob")
    books.incidents.act(key, "resolve", "bob")  # no double charge after approval
    assert len(books.ledger.statement("acme")["charges"]) == 1

    other = work_incident(books, "user error again", "client_error", [(30, None)])
    [held2] = books.ledger.list_requests(client="acme", state="awaiting_approval")
    books.ledger.reject(held2["key"], by="Jane", via="phone", note="disputed")
    books.incidents.act(other, "close", "bob")
    assert books.ledger.list_requests(client="acme", state="awaiting_approval") == []
    assert len(books.ledger.statement("acme")["charges"]) == 1

    # Within the balance nothing is held.
    books.ledger.topup("acme", 1000, by="bob", reason="bought points")
    third = work_incident(books, "third", "client_error", [(30, None)])
    assert books.ledger.statement("acme")["charges"][-1]["incident"] == third


# ---------------------------------------------------------------------- low balance


def test_low_balance_notice_once_per_threshold_per_period(books) -> None:
    def notices():
        with books.store.read() as conn:
            rows = conn.execute(
                sa.select(ledger_notices.c.period, ledger_notices.c.threshold).order_by(
                    ledger_notices.c.sent_at, ledger_notices.c.threshold
                )
            ).all()
            mails = conn.execute(
                sa.select(notifications.c.subject, notifications.c.recipients, notifications.c.data)
                .where(notifications.c.kind == "low_balance")
                .order_by(notifications.c.id)
            ).all()
        return [tuple(r) for r in rows], mails

    ledger = books.ledger
    ledger.adjust("acme", -1400, by="a", reason="work")  # 6.00 left of 20: above 25 %
    assert notices() == ([], [])
    books.clock.tick()
    ledger.adjust("acme", -150, by="a", reason="work")  # 4.50: below 25 % (5.00)
    books.clock.tick()
    ledger.adjust("acme", -50, by="a", reason="work")  # 4.00: still only 25 %
    rows, mails = notices()
    assert rows == [("2026-10", "25%")] and len(mails) == 1
    assert mails[0].recipients == ["jane@acme.example"] and "4.50 left" in mails[0].subject
    books.clock.tick()
    ledger.topup("acme", 1000, by="bob", reason="bought")  # 14.00
    ledger.adjust(
        "acme", -1250, by="a", reason="work"
    )  # 1.50: below 10 %; 25 % was noticed already
    rows, mails = notices()
    assert rows == [("2026-10", "25%"), ("2026-10", "10%")] and len(mails) == 2
    assert mails[1].data["threshold"] == "10%"
    ledger.adjust("acme", -200, by="a", reason="work")  # -0.50: used up
    rows, mails = notices()
    assert rows[-1] == ("2026-10", "zero") and "used up" in mails[-1].subject and len(mails) == 3
    ledger.adjust("acme", -100, by="a", reason="work")
    assert len(notices()[1]) == 3
    # A new period starts over: 20.00 allotment, nothing rolls from an overdraft.
    books.clock.set("2026-11-02 10:00")
    ledger.adjust(
        "acme", -1700, by="a", reason="work"
    )  # -1.50 + 20 - 17 = 1.50: both thresholds at once
    rows, mails = notices()
    assert [r for r in rows if r[0] == "2026-11"] == [("2026-11", "10%"), ("2026-11", "25%")]
    assert len(mails) == 4 and mails[-1].data["threshold"] == "10%"  # one mail, for the lowest


# ---------------------------------------------------------------------- concurrency


def _resolved_incident(books, title: str, minutes: int) -> int:
    """A resolved client_error incident with time, settled by nobody yet (no listener)."""
    from collector.incidents.service import IncidentService

    bare = IncidentService(books.store)
    key = bare.report(client="acme", title=title, actor="desk")
    bare.act(key, "time_entry", "bob", minutes=minutes)
    bare.act(key, "cause", "bob", cause="client_error")
    bare.act(key, "resolve", "bob")
    with books.store.read() as conn:
        return conn.execute(sa.select(incidents.c.id).where(incidents.c.key == key)).scalar_one()


def _at_once(books, incident_ids: list[int]) -> list[BaseException]:
    barrier = threading.Barrier(len(incident_ids))
    errors: list[BaseException] = []

    def settle(incident_id: int) -> None:
        try:
            barrier.wait(5)
            with books.store.write() as conn:  # its own connection and transaction
                service.settle_incident(conn, incident_id, books.clock.now, "worker")
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=settle, args=(i,)) for i in incident_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return errors


def test_two_charges_at_once_never_lose_an_entry(books) -> None:
    books.ledger.statement("acme")  # the allotment exists
    for round_ in range(5):
        a = _resolved_incident(books, f"a{round_}", 60)
        b = _resolved_incident(books, f"b{round_}", 30)
        assert _at_once(books, [a, b]) == []
    with books.store.read() as conn:
        rows = conn.execute(
            sa.select(ledger_entries.c.incident_id, ledger_entries.c.centipoints).where(
                ledger_entries.c.kind == "charge"
            )
        ).all()
        total = entries.balance(conn, books.client_id)
    assert len(rows) == 10 and len({r.incident_id for r in rows}) == 10
    assert total == 2000 - 5 * (100 + 50)


def test_a_duplicate_charge_of_the_same_incident_is_written_once(books) -> None:
    books.ledger.statement("acme")
    for round_ in range(5):
        incident_id = _resolved_incident(books, f"dup{round_}", 60)
        assert _at_once(books, [incident_id, incident_id, incident_id]) == []
        with books.store.read() as conn:
            charged = (
                conn.execute(
                    sa.select(ledger_entries.c.centipoints).where(
                        ledger_entries.c.incident_id == incident_id
                    )
                )
                .scalars()
                .all()
            )
        assert charged == [-100]


# ---------------------------------------------------------------------- property

_ops = st.lists(
    st.tuples(
        st.sampled_from(["topup", "adjust", "charge", "month"]),
        st.integers(min_value=-5000, max_value=5000),
    ),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=_ops)
def test_the_balance_is_the_sum_of_the_entries(books, ops) -> None:
    """Whatever happens, the balance is the entries' sum, and statements chain period to period."""
    books.ledger.statement("acme")  # the ledger exists (the current period's allotment)
    for op, amount in ops:
        books.clock.tick(3600)
        if op == "month":
            books.clock.tick(31 * 86400)
            books.ledger.statement("acme")
        elif op == "topup" and amount > 0:
            books.ledger.topup("acme", amount, by="bob", reason="bought")
        elif op == "adjust" and amount != 0:
            books.ledger.adjust("acme", amount, by="bob", reason="fix")
        elif op == "charge" and amount != 0:
            with books.store.write() as conn:
                entries.post(
                    conn,
                    books.client_id,
                    kind="charge",
                    centipoints=-abs(amount),
                    now=books.clock.now,
                    actor="bob",
                    reason="work",
                )
    with books.store.read() as conn:
        amounts = conn.execute(
            sa.select(ledger_entries.c.centipoints, ledger_entries.c.period).where(
                ledger_entries.c.client_id == books.client_id
            )
        ).all()
        assert entries.balance(conn, books.client_id) == sum(a for a, _ in amounts)
        periods = sorted({p for _, p in amounts})
        statements = [read.statement(conn, books.client_id, p).as_json() for p in periods]
    assert statements[-1]["closing_balance"] == sum(a for a, _ in amounts)
    for before, after in zip(statements, statements[1:], strict=False):
        assert after["opening_balance"] == before["closing_balance"]
    # Every closed period ends at zero or in overdraft: positive remainders rolled or expired.
    assert all(s["closing_balance"] <= 0 for s in statements[:-1])


def test_requests_number_per_client(books) -> None:
    first = books.ledger.create_request(
        client="acme", title="a", requested_by="J", standard=True, actor="d"
    )
    second = books.ledger.create_request(
        client="acme", title="b", requested_by="J", standard=True, actor="d"
    )
    assert (first["key"], second["key"]) == ("REQ-acme-1", "REQ-acme-2")
    with books.store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(service_requests)).scalar() == 2


def test_clients_ledgers_are_separate(books) -> None:
    admin.create_client(books.store, "globex")
    give_contract(books.store, "globex", {"allotment": 5})
    work_incident(books, "acme staff error", "client_error", [(60, None)])
    books.ledger.topup("globex", 100, by="bob", reason="bought")
    acme, globex = books.ledger.statement("acme"), books.ledger.statement("globex")
    assert (acme["closing_balance"], globex["closing_balance"]) == (1900, 600)
    assert [e["kind"] for e in globex["entries"]] == ["allotment", "topup"]
    globex_request = books.ledger.create_request(
        client="globex", title="x", requested_by="G", standard=True, actor="d"
    )
    assert globex_request["key"] == "REQ-globex-1"
    assert [r["key"] for r in books.ledger.list_requests(client="acme")] == []
