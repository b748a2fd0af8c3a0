"""The web UI shows times in the client's time zone (its contract's calendar): a client viewer
and a client's own pages read Europe/Berlin times; pages across clients stay in UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from collector.contracts.model import Contract
from collector.contracts.store import get_contract, put_contract
from collector.schema import incidents
from tests.web.kit import NOW, World


def _berlin(world: World) -> None:
    with world.store.write() as conn:
        current = get_contract(conn, world.a.id)
        data = (
            current.model_dump(mode="json")
            if current
            else {"client": "acme", "plan": {"name": "Basic"}}
        )
        data["calendar"] = {**data.get("calendar", {}), "timezone": "Europe/Berlin"}
        put_contract(
            conn, world.a.id, Contract.model_validate(data), source="api", actor="test", now=NOW
        )


def _opened(world: World) -> float:
    with world.store.read() as conn:
        return conn.execute(
            sa.select(incidents.c.opened_at).where(incidents.c.key == world.a.incident)
        ).scalar_one()


def test_a_berlin_clients_times_are_shown_in_berlin(world: World, browser: Any) -> None:
    _berlin(world)
    opened = datetime.fromtimestamp(_opened(world), UTC)
    berlin = opened.astimezone(ZoneInfo("Europe/Berlin")).strftime("%Y-%m-%d %H:%M %Z")
    utc = opened.strftime("%Y-%m-%d %H:%M UTC")
    assert re.fullmatch(r"\S+ \S+ CES?T", berlin)
    for who in ("viewer-a", "root"):
        page = browser(who).get(f"/ui/incidents/{world.a.incident}").text
        assert berlin in page, who
        assert utc not in page, who
    # globex has no Berlin calendar: its incident stays in UTC for staff.
    other = browser("root").get(f"/ui/incidents/{world.b.incident}").text
    assert " UTC" in other and " CET" not in other and " CEST" not in other
