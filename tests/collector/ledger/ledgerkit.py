"""Helpers of the ledger tests (importable: conftest modules are not): a clock, contracts, links."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from collector import admin
from collector.contracts.model import Contract
from collector.contracts.store import put_contract
from collector.ledger.links import ApprovalLinks
from collector.schema import incidents
from collector.store import Store

POINTS = {
    "allotment": 20,
    "rollover": {"policy": "up_to", "max": 5},
    "rates": {"default": 1, "onsite": 1.5},
    "rounding": "15m",
    "minimum_charge": "30m",
    "low_balance": ["25%", "10%"],
    "at_zero": "allow_negative",
}
CONTACTS = [
    {"name": "Jane Client", "email": "jane@acme.example", "receives": ["low_balance", "approvals"]},
    {"name": "Reports Only", "email": "boss@acme.example", "receives": ["reports"]},
]


def ts(text: str) -> float:
    """``"2026-10-05 10:00"`` (UTC) → epoch seconds."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC).timestamp()


class Clock:
    """``collector.timeutil.now`` under the test's control."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def set(self, text: str) -> float:
        self.now = ts(text)
        return self.now

    def tick(self, seconds: float = 60.0) -> float:
        self.now += seconds
        return self.now


def contract_for(client: str, points: dict[str, Any] | None = None, **extra: Any) -> Contract:
    return Contract.model_validate(
        {
            "client": client,
            "plan": {"name": "Standard"},
            "points": {**POINTS, **(points or {})},
            "contacts": CONTACTS,
            **extra,
        }
    )


def give_contract(
    store: Store, client: str, points: dict[str, Any] | None = None, **extra: Any
) -> int:
    with store.write() as conn:
        client_id = admin.get_client(conn, client).id
        put_contract(
            conn,
            client_id,
            contract_for(client, points, **extra),
            source="test",
            actor="test",
            now=0.0,
        )
    return client_id


LINKS = ApprovalLinks(
    b"0123456789abcdef0123456789abcdef", "https://upkeep.example.com", 7 * 86400.0
)


def work_incident(
    books,
    title: str,
    cause: str | None,
    entries: list[tuple[int, str | None]],
    *,
    labels: dict | None = None,
    charge: dict | None = None,
    resolve: bool = True,
) -> str:
    """Report an incident, log time, set the cause (and labels, as the contracts helper does), resolve."""
    svc, clock = books.incidents, books.clock
    key = svc.report(client="acme", title=title, actor="desk")
    if labels:
        with books.store.write() as conn:
            conn.execute(incidents.update().where(incidents.c.key == key).values(labels=labels))
    for minutes, work_type in entries:
        clock.tick()
        svc.act(
            key, "time_entry", "bob", minutes=minutes, work_type=work_type, note=f"{title} work"
        )
    if cause:
        svc.act(key, "cause", "bob", cause=cause)
    if charge:
        svc.act(key, "charge", "bob", **charge)
    if resolve:
        clock.tick()
        svc.act(key, "resolve", "bob", note="done")
    clock.tick()
    return key
