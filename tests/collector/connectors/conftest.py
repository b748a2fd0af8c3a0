"""Fixtures for the connector tests: incident snapshots and the real servers."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from collector.connectors import TicketSubject

_seq = itertools.count(1)


def make_subject(**overrides: Any) -> TicketSubject:
    """An open, proactive, major incident of client acme with a key unique to this run."""
    values: dict[str, Any] = {
        "key": f"UPK-acme-{uuid.uuid4().hex[:6]}{next(_seq)}",
        "client": "acme",
        "site": "office-a",
        "asset": "srv1",
        "rule": "disk_full",
        "title": "Disk / on srv1 is 93% full",
        "description": "Disk usage 93% (threshold 90%).",
        "priority": "major",
        "state": "open",
        "origin": "proactive",
        "opened_at": datetime(2026, 3, 2, 9, 15, tzinfo=UTC),
        "labels": {"mount": "/"},
    }
    values.update(overrides)
    return TicketSubject(**values)


@pytest.fixture(name="make_subject")
def make_subject_fixture() -> Callable[..., TicketSubject]:
    """:func:`make_subject`, for tests."""
    return make_subject
