"""The Redmine connector against a real Redmine (Debian's package; tests/servers/redmine.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest

from collector.connectors import (
    Action,
    Comment,
    ConnectorError,
    ConnectorsConfig,
    TicketRef,
    TicketSubject,
    TimeEntry,
)
from collector.connectors.redmine import RedmineConnector
from tests.servers.redmine import RedmineServer

SubjectFactory = Callable[..., TicketSubject]


def connector(redmine: RedmineServer, **overrides: object) -> RedmineConnector:
    raw = redmine.connector_config(
        {"acme": "acme-support", "globex": "globex-support"},
        time_entry_activity="Maintenance",
        **overrides,
    )
    config = ConnectorsConfig.model_validate({"connectors": {"redmine-main": raw}})
    return config.build()["redmine-main"]


def issues_with_key(redmine: RedmineServer, key: str) -> list[dict]:
    answer = redmine.api("GET", f"issues.json?status_id=*&subject=~{key}")
    return [i for i in answer["issues"] if i["subject"].startswith(f"[{key}]")]


def issue(redmine: RedmineServer, ref: TicketRef, include: str = "journals") -> dict:
    return redmine.api("GET", f"issues/{ref.external_id}.json?include={include}")["issue"]


def test_open_creates_issue_in_clients_project_with_key(
    redmine: RedmineServer, make_subject: SubjectFactory
) -> None:
    subject = make_subject()
    with connector(redmine) as redmine_main:
        ref = redmine_main.deliver(Action.OPEN, subject, None)
        assert ref is not None and ref.system == "redmine-main"
        assert ref.url == f"{redmine.url}/issues/{ref.external_id}"
        created = issue(redmine, ref)
        assert created["project"]["name"] == "acme-support"
        assert created["subject"] == f"[{subject.key}] Disk / on srv1 is 93% full"
        assert created["priority"]["name"] == "High"
        assert {
            "id": redmine.custom_field_id,
            "name": "Upkeep key",
            "value": subject.key,
        } in created["custom_fields"]
        assert (
            "Asset: srv1" in created["description"]
            and f"Upkeep key: {subject.key}" in created["description"]
        )
        # the open delivered again (lost answer), with and without the stored ref: no second issue
        assert redmine_main.deliver(Action.OPEN, subject, ref) == ref
        assert redmine_main.deliver(Action.OPEN, subject, None) == ref
        assert len(issues_with_key(redmine, subject.key)) == 1


def test_project_by_client_and_default(
    redmine: RedmineServer, make_subject: SubjectFactory
) -> None:
    with connector(redmine) as redmine_main:
        globex = redmine_main.deliver(
            Action.OPEN, make_subject(client="globex", key="UPK-globex-77a1"), None
        )
        other = redmine_main.deliver(
            Action.OPEN, make_subject(client="initech", key="UPK-initech-77a1"), None
        )
    assert issue(redmine, globex)["project"]["name"] == "globex-support"
    assert issue(redmine, other)["project"]["name"] == "support"


def test_severity_escalation_with_the_same_priority_is_one_note(
    redmine: RedmineServer, make_subject: SubjectFactory
) -> None:
    """warning → critical under one priority: nothing to change in the issue's fields, but
    the escalation note reaches Redmine, once (a retried delivery finds its marker)."""
    subject = make_subject(severity="warning")
    with connector(redmine) as redmine_main:
        ref = redmine_main.deliver(Action.OPEN, subject, None)
        priority = issue(redmine, ref)["priority"]["name"]
        note = Comment(f"{subject.key}-e2", "Escalated: severity warning → critical (value 97).")
        escalated = dataclasses.replace(subject, severity="critical", version=2, comment=note)
        for _ in range(2):
            assert redmine_main.deliver(Action.ESCALATE, escalated, ref) == ref
        after = issue(redmine, ref)
        assert after["priority"]["name"] == priority
        assert [j["notes"] for j in after["journals"] if j["notes"]] == [
            f"Escalated: severity warning → critical (value 97).\n\n[upkeep:{subject.key}-e2]"
        ]


def test_escalate_comment_time_entry_resolve(
    redmine: RedmineServer, make_subject: SubjectFactory
) -> None:
    subject = make_subject()
    with connector(redmine) as redmine_main:
        ref = redmine_main.deliver(Action.OPEN, subject, None)
        escalated = dataclasses.replace(subject, priority="critical", version=2)
        assert redmine_main.deliver(Action.ESCALATE, escalated, ref) == ref
        assert (
            redmine_main.deliver(Action.ESCALATE, escalated, ref) == ref
        )  # retried: no second note
        after = issue(redmine, ref)
        assert after["priority"]["name"] == "Immediate"
        assert [j["notes"] for j in after["journals"]] == ["Upkeep: priority changed to critical."]

        commented = dataclasses.replace(
            escalated, version=3, comment=Comment("ev-31", "Called the client.", "alice")
        )
        for _ in range(2):
            assert redmine_main.deliver(Action.COMMENT, commented, ref) == ref
        notes = [j["notes"] for j in issue(redmine, ref)["journals"] if j["notes"]]
        assert notes[1:] == ["alice: Called the client.\n\n[upkeep:ev-31]"]

        entry = TimeEntry(
            "ev-32", minutes=45, note="Cleaned up /var/log", spent_on=date(2026, 3, 2)
        )
        timed = dataclasses.replace(commented, version=4, comment=None, time_entry=entry)
        for _ in range(2):
            assert redmine_main.deliver(Action.TIME_ENTRY, timed, None) == ref  # found by key too
        entries = redmine.api("GET", f"time_entries.json?issue_id={ref.external_id}")[
            "time_entries"
        ]
        assert [
            (e["hours"], e["comments"], e["activity"]["name"], e["spent_on"]) for e in entries
        ] == [(0.75, "[upkeep:ev-32] Cleaned up /var/log", "Maintenance", "2026-03-02")]

        resolved = dataclasses.replace(
            timed,
            version=5,
            time_entry=None,
            state="resolved",
            resolved_at=datetime(2026, 3, 2, 10, 0, tzinfo=UTC),
            resolution_note="Usage back to 41%.",
        )
        for _ in range(2):
            assert redmine_main.deliver(Action.RESOLVE, resolved, ref) == ref
        final = issue(redmine, ref)
        assert final["status"]["name"] == "Closed"
        resolve_notes = [
            j["notes"] for j in final["journals"] if j["notes"].startswith("Resolved by Upkeep")
        ]
        assert resolve_notes == [
            "Resolved by Upkeep at 2026-03-02 10:00 UTC.\n\nUsage back to 41%."
        ]

        reopened = dataclasses.replace(resolved, version=6, state="open", resolved_at=None)
        assert redmine_main.deliver(Action.REOPEN, reopened, ref) == ref
        assert issue(redmine, ref)["status"]["name"] == "New"


def test_resolve_of_unknown_key_creates_nothing(
    redmine: RedmineServer, make_subject: SubjectFactory
) -> None:
    subject = make_subject(state="resolved", resolved_at=datetime(2026, 3, 2, 10, 0, tzinfo=UTC))
    with connector(redmine) as redmine_main:
        assert redmine_main.deliver(Action.RESOLVE, subject, None) is None
        # a late comment on a resolved incident with no ticket creates nothing either
        late = dataclasses.replace(subject, comment=Comment("ev-1", "late"))
        assert redmine_main.deliver(Action.COMMENT, late, None) is None
    assert issues_with_key(redmine, subject.key) == []


def test_key_in_subject_only(redmine: RedmineServer, make_subject: SubjectFactory) -> None:
    """Without a custom field the key is found in the subject; a longer key does not match."""
    base = make_subject()
    longer = dataclasses.replace(base, key=base.key + "0")
    with connector(redmine, key_custom_field_id=None) as redmine_main:
        long_ref = redmine_main.deliver(Action.OPEN, longer, None)
        ref = redmine_main.deliver(Action.OPEN, base, None)
        assert ref != long_ref
        assert (
            redmine_main.deliver(
                Action.UPDATE, dataclasses.replace(base, description="now 95%"), None
            )
            == ref
        )
    assert issue(redmine, ref)["description"].startswith("now 95%")


def test_poll_closed_sees_issue_closed_in_redmine(
    redmine: RedmineServer, make_subject: SubjectFactory
) -> None:
    with connector(redmine) as redmine_main:
        open_ref = redmine_main.deliver(Action.OPEN, make_subject(), None)
        closed_ref = redmine_main.deliver(Action.OPEN, make_subject(), None)
        assert redmine_main.poll_closed([open_ref, closed_ref]) == []
        redmine.api("PUT", f"issues/{closed_ref.external_id}.json", {"issue": {"status_id": 5}})
        assert redmine_main.poll_closed([open_ref, closed_ref]) == [closed_ref]


def test_errors_are_permanent_or_retryable(
    redmine: RedmineServer, make_subject: SubjectFactory
) -> None:
    with connector(redmine, api_key="0" * 40) as bad_key:
        with pytest.raises(ConnectorError) as excinfo:
            bad_key.deliver(Action.OPEN, make_subject(), None)
        assert excinfo.value.permanent and "HTTP 401" in excinfo.value.message
        assert "0" * 40 not in str(excinfo.value)
    with connector(redmine, default_project="no-such-project") as bad_project:
        with pytest.raises(ConnectorError) as excinfo:
            bad_project.deliver(Action.OPEN, make_subject(client="initech"), None)
        assert excinfo.value.permanent and "HTTP 422" in excinfo.value.message


def test_redmine_down_for_a_while_then_everything_delivered_once(
    redmine: RedmineServer, make_subject: SubjectFactory
) -> None:
    subject = make_subject()
    resolved = dataclasses.replace(
        subject, version=2, state="resolved", resolved_at=datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
    )
    with connector(redmine, timeout=5) as redmine_main:
        redmine.stop()
        try:
            with pytest.raises(ConnectorError) as excinfo:
                redmine_main.deliver(Action.OPEN, subject, None)
            assert not excinfo.value.permanent
        finally:
            redmine.start()
        # the outbox retries: open (twice: the first answer was lost), then the resolve
        ref = redmine_main.deliver(Action.OPEN, subject, None)
        assert redmine_main.deliver(Action.OPEN, subject, None) == ref
        assert redmine_main.deliver(Action.RESOLVE, resolved, None) == ref
    found = issues_with_key(redmine, subject.key)
    assert [i["status"]["name"] for i in found] == ["Closed"]
