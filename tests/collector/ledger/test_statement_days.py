"""`upkeep ledger show` names a Berlin client's period by its own days: 2026-12 is
"2026-12-01 to 2026-12-31", not the UTC instants "2026-11-30 to 2026-12-31"."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from collector.ledger.cli import render_statement


def test_period_line_uses_the_contracts_days_end_inclusive():
    berlin = ZoneInfo("Europe/Berlin")
    start = datetime(2026, 12, 1, tzinfo=berlin).timestamp()
    end = datetime(2027, 1, 1, tzinfo=berlin).timestamp()
    s = {
        "client": "acme",
        "period": "2026-12",
        "start": start,
        "end": end,
        "timezone": "Europe/Berlin",
        "opening_balance": 0,
        "entries": [
            {
                "kind": "allotment",
                "centipoints": 2000,
                "ts": start,
                "actor": "upkeep",
                "reason": "allotment for 2026-12",
                "incident": None,
                "request": None,
                "data": {},
            }
        ],
        "closing_balance": 2000,
        "allotment": 2000,
        "rollover_in": 0,
        "rollover_out": 0,
        "charged": 0,
        "topped_up": 0,
        "adjusted": 0,
        "expired": 0,
        "overdraft": False,
        "overdraft_centipoints": 0,
        "at_zero": "allow_negative",
    }
    lines = render_statement(s)
    assert lines[0] == "Points statement: acme, period 2026-12 (2026-12-01 to 2026-12-31)"
    assert lines[2].strip().startswith("2026-12-01 allotment")
