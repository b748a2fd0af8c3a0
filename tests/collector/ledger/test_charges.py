"""The ledger's arithmetic as table tests: plain values in, exact centipoints out."""

from __future__ import annotations

import pytest

from collector.contracts.model import PointsPolicy
from collector.ledger import charges
from collector.ledger.charges import EntryView, WorkItem


def policy(**points) -> PointsPolicy:
    return PointsPolicy.model_validate({"allotment": 20, **points})


RATES = {"default": 1, "onsite": 1.5, "expert": 2.25}


@pytest.mark.parametrize(
    ("items", "kw", "total"),
    [
        # no rounding, no minimum: minutes × rate / 60, half up to a centipoint
        ([(60, None)], {}, 100),
        ([(30, "onsite")], {}, 75),
        ([(10, None)], {}, 17),  # 16.67 → 17
        ([(1, None)], {}, 2),  # 1.67 → 2
        ([(3, None)], {}, 5),  # exactly 5
        ([(20, "expert")], {}, 75),  # 225 × 20 / 60 = 75
        ([(7, "expert")], {}, 26),  # 26.25 → 26
        ([(60, "unknown-type")], {}, 100),  # a work type not listed: the default rate
        # rounding up per time entry
        ([(1, None)], {"rounding": "15m"}, 25),
        ([(15, None)], {"rounding": "15m"}, 25),
        ([(16, None)], {"rounding": "15m"}, 50),
        ([(50, None), (20, "onsite")], {"rounding": "15m"}, 175),  # 60 min @1 + 30 min @1.5
        ([(10, None), (10, None)], {"rounding": "15m"}, 50),  # each entry rounds by itself
        ([(61, None)], {"rounding": "1h"}, 200),
        # minimum charge per charge: the shortfall at the first entry's rate
        ([(10, None)], {"rounding": "15m", "minimum_charge": "30m"}, 50),
        ([(10, "onsite")], {"minimum_charge": "1h"}, 150),
        (
            [(10, "onsite"), (5, None)],
            {"minimum_charge": "30m"},
            71,
        ),  # 25 + 8.33→8 + 15 min onsite 37.5→38
        ([(45, None)], {"minimum_charge": "30m"}, 75),  # above the minimum: no top-up
        # no time entries: nothing to charge, not even the minimum
        ([], {"minimum_charge": "1h"}, 0),
        ([(0, None)], {"minimum_charge": "1h"}, 0),
    ],
)
def test_price(items, kw, total) -> None:
    priced = charges.price(
        [WorkItem(m, w, i) for i, (m, w) in enumerate(items)], policy(rates=RATES, **kw)
    )
    assert priced.total == total
    assert priced.total == sum(line.centipoints for line in priced.lines)


def test_price_lines_show_each_entry_and_the_minimum() -> None:
    priced = charges.price(
        [WorkItem(10, "onsite", 7, "bob", "swap toner"), WorkItem(5, None, 8)],
        policy(rates=RATES, minimum_charge="30m"),
    )
    assert [
        (ln.entry_id, ln.work_type, ln.minutes, ln.billed_seconds, ln.rate, ln.centipoints)
        for ln in priced.lines
    ] == [
        (7, "onsite", 10, 600, 150, 25),
        (8, None, 5, 300, 100, 8),
        (None, "onsite", 0, 900, 150, 38),
    ]
    assert priced.total == 71
    assert priced.lines[0].actor == "bob" and priced.lines[0].note == "swap toner"


@pytest.mark.parametrize(
    ("total", "cap", "expected"),
    [(250, 100, 100), (175, 200, 175), (250, 300, 250), (250, None, 250), (250, 0, 0)],
)
def test_cap(total, cap, expected) -> None:
    assert charges.Priced((), total).capped(cap) == expected


def test_estimate_prices_like_actual_time() -> None:
    p = policy(rates=RATES, rounding="15m", minimum_charge="30m")
    assert charges.estimate(120, None, p) == 200
    assert charges.estimate(10, "onsite", p) == 75
    assert charges.estimate(100, None, p) == charges.price([WorkItem(100)], p).total == 175


@pytest.mark.parametrize(
    ("balance", "rollover", "expected"),
    [
        (800, {"policy": "none"}, (0, 800)),
        (800, {"policy": "all"}, (800, 0)),
        (800, {"policy": "up_to", "max": 5}, (500, 300)),
        (300, {"policy": "up_to", "max": 5}, (300, 0)),
        (0, {"policy": "all"}, (0, 0)),
        (-250, {"policy": "none"}, (0, 0)),  # an overdraft neither expires nor rolls
        (-250, {"policy": "all"}, (0, 0)),
    ],
)
def test_close_period(balance, rollover, expected) -> None:
    assert charges.close_period(balance, policy(rollover=rollover)) == expected


@pytest.mark.parametrize(
    ("balance", "thresholds", "expected"),
    [
        (600, ["25%", "10%"], []),
        (500, ["25%", "10%"], [("25%", 500)]),  # at the threshold counts
        (199, ["25%", "10%"], [("25%", 500), ("10%", 200)]),
        (0, ["25%", "10%"], [("25%", 500), ("10%", 200), ("zero", 0)]),
        (-5, [], [("zero", 0)]),
        (300, [3, "10%"], [("3.00pt", 300)]),  # an absolute threshold in points
    ],
)
def test_thresholds_crossed(balance, thresholds, expected) -> None:
    assert charges.thresholds_crossed(balance, 2000, policy(low_balance=thresholds)) == expected


def test_periods() -> None:
    assert charges.next_period("2026-12") == "2027-01"
    assert charges.previous_period("2027-01") == "2026-12"
    assert charges.next_period("2026-09") == "2026-10"
    with pytest.raises(ValueError, match="YYYY-MM"):
        charges.next_period("2026-13")


def test_build_statement_sums_by_kind_and_flags_an_overdraft() -> None:
    entries = [
        EntryView(1, "rollover", 500, 1.0, "upkeep", "carried over"),
        EntryView(2, "allotment", 2000, 1.0, "upkeep", "allotment"),
        EntryView(3, "charge", -2600, 2.0, "bob", "UPK-acme-1", incident="UPK-acme-1"),
        EntryView(4, "charge", 100, 3.0, "bob", "reversal", incident="UPK-acme-1"),
        EntryView(5, "topup", 1000, 4.0, "bob", "invoice 7"),
        EntryView(6, "adjustment", -1200, 5.0, "alice", "correction"),
    ]
    s = charges.build_statement(client="acme", period="2026-10", opening=0, entries=entries)
    assert [e.balance for e in s.entries] == [500, 2500, -100, 0, 1000, -200]
    assert s.figures.by_kind()["rollover"] == 500 and s.figures.net == -200
    s = s.as_json()
    assert (
        s["rollover_in"],
        s["rollover_out"],
        s["allotment"],
        s["charged"],
        s["topped_up"],
        s["adjusted"],
        s["expired"],
    ) == (500, 0, 2000, -2500, 1000, -1200, 0)
    assert s["closing_balance"] == -200 and s["overdraft"] and s["overdraft_centipoints"] == 200
    assert [c["id"] for c in s["charges"]] == [3, 4] and s["charges"][0]["incident"] == "UPK-acme-1"
    assert not charges.build_statement(
        client="acme", period="2026-10", opening=200, entries=entries
    ).as_json()["overdraft"]


def test_figures_fold_grouped_sums_like_entries() -> None:
    # a rollover is in or out by its sign; sums grouped by kind and sign fold the same
    moves = [("rollover", 300), ("rollover", -100), ("charge", -50), ("charge", 20)]
    grouped = [("rollover", 300), ("rollover", -100), ("charge", -30)]
    assert charges.Figures.fold(10, moves) == charges.Figures.fold(10, grouped)
    f = charges.Figures.fold(10, moves)
    assert (f.rollover_in, f.rollover_out, f.charged, f.closing_balance) == (300, -100, -30, 180)
