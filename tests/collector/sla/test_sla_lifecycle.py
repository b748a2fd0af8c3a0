"""The lifecycle's waiting states and priority change (pure decisions)."""

from __future__ import annotations

import pytest

from collector.connectors import Action
from collector.incidents.lifecycle import IncidentFacts, InvalidTransition, on_action

NOW = 1_790_000_000.0


def facts(state: str = "acknowledged", priority: str = "major") -> IncidentFacts:
    return IncidentFacts(key="UPK-acme-1", state=state, priority=priority)


@pytest.mark.parametrize(
    ("state", "reason", "fields", "action"),
    [
        (
            "open",
            "waiting_for_client",
            {"state": "waiting_for_client", "acknowledged_at": NOW},
            Action.UPDATE,
        ),
        (
            "acknowledged",
            "waiting_for_third_party",
            {"state": "waiting_for_third_party"},
            Action.UPDATE,
        ),
        (
            "waiting_for_client",
            "waiting_for_third_party",
            {"state": "waiting_for_third_party"},
            Action.UPDATE,
        ),
    ],
)
def test_wait(state, reason, fields, action):
    change = on_action(facts(state), "wait", NOW, reason=reason, note="n")
    assert (change.event, change.fields, change.action) == ("waiting", fields, action)
    assert change.data == {"reason": reason, "previous_state": state, "note": "n"}


@pytest.mark.parametrize(
    ("state", "args", "message"),
    [
        ("resolved", {"reason": "waiting_for_client"}, "only an unresolved incident can wait"),
        ("closed", {"reason": "waiting_for_client"}, "only an unresolved incident can wait"),
        ("waiting_for_client", {"reason": "waiting_for_client"}, "waiting_for_client already"),
        ("acknowledged", {"reason": "lunch"}, "reason must be one of"),
        ("acknowledged", {}, "reason must be one of"),
    ],
)
def test_wait_refused(state, args, message):
    with pytest.raises(InvalidTransition, match=message):
        on_action(facts(state), "wait", NOW, **args)


def test_resume():
    change = on_action(facts("waiting_for_third_party"), "resume", NOW)
    assert (change.event, change.fields, change.action) == (
        "resumed",
        {"state": "acknowledged"},
        Action.UPDATE,
    )
    for state in ("open", "acknowledged", "resolved"):
        with pytest.raises(InvalidTransition, match="not waiting"):
            on_action(facts(state), "resume", NOW)


@pytest.mark.parametrize(
    ("state", "old", "new", "action"),
    [
        ("open", "major", "critical", Action.ESCALATE),
        ("waiting_for_client", "major", "minor", Action.UPDATE),
        ("resolved", "minor", "major", Action.ESCALATE),
    ],
)
def test_priority(state, old, new, action):
    change = on_action(facts(state, old), "priority", NOW, priority=new, note="why")
    assert (change.event, change.fields, change.action) == (
        "priority_changed",
        {"priority": new},
        action,
    )
    assert change.data == {"previous_priority": old, "priority": new, "note": "why"}


@pytest.mark.parametrize(
    ("state", "priority", "message"),
    [
        ("closed", "critical", "closed"),
        ("open", "major", "major already"),
        ("open", "urgent", "priority must be one of"),
    ],
)
def test_priority_refused(state, priority, message):
    with pytest.raises(InvalidTransition, match=message):
        on_action(facts(state), "priority", NOW, priority=priority)
