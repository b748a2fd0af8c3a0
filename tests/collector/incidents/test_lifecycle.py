"""The lifecycle's pure decisions, with plain values."""

from __future__ import annotations

import pytest

from collector.connectors import Action
from collector.incidents.lifecycle import (
    IncidentFacts,
    InvalidTransition,
    escalation_note,
    on_action,
    on_signal,
)
from collector.incidents.pipeline import AlertSignal

DAY = 86400.0


def sig(status: str = "firing", **kw) -> AlertSignal:
    values = {
        "fingerprint": "fp",
        "name": "disk_full",
        "client_id": 1,
        "client": "acme",
        "status": status,
        "ts": 1000.0,
        "severity": "warning",
        "priority": "minor",
        "summary": "Disk / is 91% full",
        "value": 91.0,
    }
    return AlertSignal(**{**values, **kw})


def facts(**kw) -> IncidentFacts:
    return IncidentFacts(
        **{"key": "UPK-acme-1", "state": "open", "priority": "minor", "count": 1, **kw}
    )


def test_first_firing_opens() -> None:
    change = on_signal(sig(), None, None, 1000.0, DAY)
    assert change.new and change.event == "opened" and change.action is Action.OPEN
    assert change.fields["title"] == "Disk / is 91% full" and change.fields["first_value"] == 91.0


def test_repeat_updates_value_and_count_without_a_ticket_update() -> None:
    change = on_signal(sig(value=93.0), facts(count=2), None, 1100.0, DAY)
    assert change.event == "repeated" and change.action is None
    assert change.fields == {"count": 3, "last_value": 93.0, "severity": "warning"}


def test_higher_priority_escalates() -> None:
    change = on_signal(
        sig(severity="critical", priority="critical", escalated=True), facts(), None, 1100.0, DAY
    )
    assert change.event == "escalated" and change.action is Action.ESCALATE
    assert change.fields["priority"] == "critical"
    assert change.data["previous_priority"] == "minor"


def test_higher_severity_with_the_same_priority_still_escalates() -> None:
    """warning → critical under a rule with one priority reaches the ticket systems (it was a
    silent "repeated" before)."""
    change = on_signal(
        sig(severity="critical", priority="major", value=97.0, escalated=True),
        facts(priority="major", severity="warning", count=2),
        None,
        1100.0,
        DAY,
    )
    assert change.event == "escalated" and change.action is Action.ESCALATE
    assert "priority" not in change.fields and change.fields["severity"] == "critical"
    assert change.data["previous_severity"] == "warning" and change.data["severity"] == "critical"
    assert escalation_note(change.data) == ("Escalated: severity warning → critical (value 97).")
    # back to warning is not news for the ticket; rising again is
    down = on_signal(
        sig(priority="major"), facts(priority="major", severity="critical"), None, 1200.0, DAY
    )
    assert down.event == "repeated" and down.action is None and down.fields["severity"] == "warning"


def test_escalation_note_names_both_changes() -> None:
    change = on_signal(
        sig(severity="critical", priority="critical", value=99.0),
        facts(severity="warning"),
        None,
        1100.0,
        DAY,
    )
    assert escalation_note(change.data) == (
        "Escalated: severity warning → critical, priority minor → critical (value 99)."
    )


def test_lower_severity_never_lowers_priority() -> None:
    change = on_signal(sig(priority="minor"), facts(priority="critical"), None, 1100.0, DAY)
    assert change.event == "repeated" and "priority" not in change.fields


def test_resolve_writes_an_automatic_note() -> None:
    change = on_signal(sig("resolved", value=40.0, ts=0.0), facts(), None, 1200.0, DAY)
    assert change.event == "resolved" and change.action is Action.RESOLVE
    assert (
        change.fields["resolution_note"]
        == "Alert disk_full resolved at 1970-01-01 00:00:00 UTC (value 40)."
    )


def test_resolve_with_nothing_open_does_nothing() -> None:
    assert (
        on_signal(sig("resolved"), None, facts(state="resolved", resolved_at=0.0), 10.0, DAY)
        is None
    )


def test_refire_within_window_reopens_after_it_opens_new() -> None:
    recent = facts(state="resolved", resolved_at=1000.0, count=4)
    change = on_signal(sig(), None, recent, 1000.0 + DAY - 1, DAY)
    assert (
        change.event == "reopened"
        and change.action is Action.REOPEN
        and change.fields["count"] == 5
    )
    later = on_signal(sig(), None, recent, 1000.0 + DAY + 1, DAY)
    assert later.event == "opened" and later.new


def test_flapping_marks_the_one_incident() -> None:
    change = on_signal(sig(flapping=True), facts(), None, 1100.0, DAY)
    assert change.event == "flapping" and change.fields["flapping"] is True and not change.new


def test_technician_actions() -> None:
    assert on_action(facts(), "acknowledge", 5.0).fields == {
        "state": "acknowledged",
        "acknowledged_at": 5.0,
    }
    with pytest.raises(InvalidTransition):
        on_action(facts(state="acknowledged"), "acknowledge", 5.0)
    assert (
        on_action(facts(), "time_entry", 5.0, minutes=30, work_type="remote").action
        is Action.TIME_ENTRY
    )
    with pytest.raises(InvalidTransition):
        on_action(facts(), "time_entry", 5.0, minutes=0)
    with pytest.raises(InvalidTransition):
        on_action(facts(), "cause", 5.0, cause="gremlins")
    resolved = on_action(facts(state="acknowledged"), "resolve", 5.0, note="replaced disk")
    assert (
        resolved.fields["resolution_note"] == "replaced disk" and resolved.action is Action.RESOLVE
    )
    closed = on_action(facts(state="resolved", resolved_at=5.0), "close", 6.0)
    assert closed.fields == {"state": "closed", "closed_at": 6.0} and closed.action is None
    assert on_action(facts(state="closed"), "reopen", 7.0).action is Action.REOPEN
    with pytest.raises(InvalidTransition):
        on_action(facts(), "reopen", 7.0)
