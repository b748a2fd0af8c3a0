"""Fixtures for the ledger tests: a settable clock, a client with a points contract, services."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from collector import admin
from collector.incidents.service import IncidentService
from collector.ledger.runtime import Ledger
from collector.store import Store
from tests.collector.ledger.ledgerkit import LINKS, Clock, give_contract, ts


@pytest.fixture
def clock(monkeypatch) -> Clock:
    from collector import timeutil

    c = Clock(ts("2026-10-01 09:00"))
    monkeypatch.setattr(timeutil, "now", c)
    return c


@pytest.fixture
def books(store: Store, tmp_path, clock) -> SimpleNamespace:
    """acme with a points contract; an IncidentService with the ledger listening; the Ledger."""
    from collector.settings import Settings

    admin.create_client(store, "acme")
    client_id = give_contract(store, "acme")
    ledger = Ledger(store, Settings.for_data_dir(tmp_path / "data"), links=LINKS)
    incidents = IncidentService(store)
    incidents.listeners.append(ledger.on_incident_changed)
    return SimpleNamespace(
        store=store, ledger=ledger, incidents=incidents, client_id=client_id, clock=clock
    )
