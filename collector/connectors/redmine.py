"""Redmine (REST JSON API, ``X-Redmine-API-Key``).

The incident key is in the subject (``[UPK-acme-1234] title``) and, when
``key_custom_field_id`` is set, in that issue custom field (a string field, "used as a
filter"); a lookup uses the custom field when there is one, else ``subject=~KEY``, always
over all projects and statuses, and keeps only exact matches. Comments are journal notes,
time entries ``/time_entries.json``; both carry ``[upkeep:<id>]`` and are looked for first.
Time entries technicians log in Redmine are read back (:meth:`RedmineConnector.read_time_entries`,
``GET /time_entries.json?issue_id=``) and mirrored into Upkeep by the outbox poll loop.
Resolve sets ``closed_status``; reopen sets ``reopen_status``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from functools import cached_property
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr

from collector.connectors.base import (
    Action,
    Comment,
    ConnectorConfig,
    ConnectorError,
    Priority,
    RemoteTimeEntry,
    TicketConnector,
    TicketRef,
    TicketSubject,
    TimeEntry,
    description_text,
    marked_id,
    marker,
    resolution_text,
    routed,
    secret,
    technician_note,
)
from collector.connectors.http import JsonApi, NotFoundError

#: Upkeep priority → Redmine's default priority names.
_PRIORITIES: dict[Priority, str | int] = {
    Priority.CRITICAL: "Immediate",
    Priority.MAJOR: "High",
    Priority.MINOR: "Normal",
    Priority.TECHNICAL: "Low",
}


class RedmineConfig(ConnectorConfig):
    """Options of a Redmine connector (see docs/connectors.md)."""

    SECRETS: ClassVar[tuple[str, ...]] = ("api_key",)
    REQUIRED_SECRETS: ClassVar[tuple[str, ...]] = ("api_key",)

    type: Literal["redmine"] = "redmine"
    url: str = Field(pattern=r"^https?://")
    api_key: SecretStr | None = None
    api_key_file: str | None = None
    api_key_env: str | None = None
    #: Project identifier (or id) per client; others go to ``default_project``.
    default_project: str
    project_by_client: dict[str, str] = Field(default_factory=dict)
    #: Tracker name or id for new issues; default: the project's first tracker.
    tracker: str | int | None = None
    #: Id of an issue custom field (string) holding the incident key; also used to search.
    key_custom_field_id: int | None = None
    #: Upkeep priority → Redmine priority name or id.
    priorities: dict[Priority, str | int] = Field(default_factory=lambda: dict(_PRIORITIES))
    #: Status (name or id) a resolve sets; must be a closed status.
    closed_status: str | int = "Closed"
    reopen_status: str | int = "New"
    #: Time entry activity name or id; default: Redmine's default activity.
    time_entry_activity: str | int | None = None
    verify_tls: bool | str = True


class RedmineConnector(TicketConnector):
    """Issues in Redmine; see the module docstring."""

    config_model: ClassVar[type[ConnectorConfig]] = RedmineConfig
    config: RedmineConfig
    supports_time_entries = True
    supports_resolution_note = True

    def __init__(self, name: str, config: RedmineConfig) -> None:
        super().__init__(name, config)
        self.api = JsonApi(
            f"redmine {name}",
            config.url,
            timeout=config.timeout,
            verify=config.verify_tls,
            headers={"X-Redmine-API-Key": secret(config.api_key)},
        )

    def close(self) -> None:
        self.api.close()

    # ---------------------------------------------------------------- lookups and names

    def _enumeration(self, path: str, root: str, wanted: str | int, what: str) -> int:
        if isinstance(wanted, int) or str(wanted).isdigit():
            return int(wanted)
        for item in self.api.get(path)[root]:
            if item["name"].casefold() == str(wanted).casefold():
                return int(item["id"])
        raise ConnectorError(f"redmine {self.name}: no {what} named {wanted!r}", permanent=True)

    @cached_property
    def _priority_ids(self) -> dict[Priority, int]:
        return {
            p: self._enumeration(
                "enumerations/issue_priorities.json", "issue_priorities", v, "priority"
            )
            for p, v in self.config.priorities.items()
        }

    def _priority_id(self, priority: Priority) -> int | None:
        return self._priority_ids.get(priority)

    @cached_property
    def _closed_status_id(self) -> int:
        return self._enumeration(
            "issue_statuses.json", "issue_statuses", self.config.closed_status, "status"
        )

    @cached_property
    def _reopen_status_id(self) -> int:
        return self._enumeration(
            "issue_statuses.json", "issue_statuses", self.config.reopen_status, "status"
        )

    @cached_property
    def _tracker_id(self) -> int | None:
        if self.config.tracker is None:
            return None
        return self._enumeration("trackers.json", "trackers", self.config.tracker, "tracker")

    @cached_property
    def _activity_id(self) -> int | None:
        if self.config.time_entry_activity is None:
            return None
        return self._enumeration(
            "enumerations/time_entry_activities.json",
            "time_entry_activities",
            self.config.time_entry_activity,
            "time entry activity",
        )

    def _subject_line(self, subject: TicketSubject) -> str:
        return f"[{subject.key}] {subject.title}"[:255]

    def _carries_key(self, issue: dict[str, Any], key: str) -> bool:
        if issue.get("subject", "").startswith(f"[{key}]"):
            return True
        field_id = self.config.key_custom_field_id
        return any(
            cf.get("id") == field_id and cf.get("value") == key
            for cf in issue.get("custom_fields", [])
        )

    # ---------------------------------------------------------------- primitives

    def ref_of(self, ticket: dict[str, Any]) -> TicketRef:
        return TicketRef(
            self.name, str(ticket["id"]), f"{self.config.url.rstrip('/')}/issues/{ticket['id']}"
        )

    def fetch(self, ref: TicketRef) -> dict[str, Any] | None:
        try:
            return self.api.get(f"issues/{int(ref.external_id)}.json")["issue"]
        except NotFoundError:
            return None

    def find(self, subject: TicketSubject) -> dict[str, Any] | None:
        params: dict[str, Any] = {"status_id": "*", "sort": "id", "limit": 100}
        if self.config.key_custom_field_id is not None:
            params[f"cf_{self.config.key_custom_field_id}"] = subject.key
        else:
            params["subject"] = f"~{subject.key}"
        for issue in self.api.get("issues.json", params=params)["issues"]:
            if self._carries_key(issue, subject.key):
                return issue
        return None

    def create(self, subject: TicketSubject) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "project_id": routed(
                subject.client, self.config.project_by_client, self.config.default_project
            ),
            "subject": self._subject_line(subject),
            "description": description_text(subject),
        }
        if (priority_id := self._priority_id(subject.priority)) is not None:
            fields["priority_id"] = priority_id
        if self._tracker_id is not None:
            fields["tracker_id"] = self._tracker_id
        if self.config.key_custom_field_id is not None:
            fields["custom_fields"] = [
                {"id": self.config.key_custom_field_id, "value": subject.key}
            ]
        return self.api.post("issues.json", {"issue": fields})["issue"]

    def _put(self, ticket: dict[str, Any], fields: dict[str, Any]) -> None:
        self.api.put(f"issues/{ticket['id']}.json", {"issue": fields})

    def update(self, ticket: dict[str, Any], subject: TicketSubject, action: Action) -> None:
        changes: dict[str, Any] = {}
        if ticket.get("subject") != self._subject_line(subject):
            changes["subject"] = self._subject_line(subject)
        if (ticket.get("description") or "").replace("\r\n", "\n") != description_text(subject):
            changes["description"] = description_text(subject)
        priority_id = self._priority_id(subject.priority)
        if priority_id is not None and ticket.get("priority", {}).get("id") != priority_id:
            changes["priority_id"] = priority_id
            if action is Action.ESCALATE and subject.comment is None:
                # (an escalation from the lifecycle carries its own note, added once)
                changes["notes"] = f"Upkeep: priority changed to {subject.priority}."
        if changes:
            self._put(ticket, changes)

    def _journal_notes(self, ticket: dict[str, Any]) -> list[str]:
        issue = self.api.get(f"issues/{ticket['id']}.json", params={"include": "journals"})["issue"]
        return [j.get("notes") or "" for j in issue.get("journals", [])]

    def add_comment(self, ticket: dict[str, Any], subject: TicketSubject, comment: Comment) -> None:
        tag = marker(comment.id)
        if any(tag in notes for notes in self._journal_notes(ticket)):
            return
        by = f"{comment.author}: " if comment.author else ""
        self._put(ticket, {"notes": f"{by}{comment.body}\n\n{tag}"})

    def add_time_entry(
        self, ticket: dict[str, Any], subject: TicketSubject, entry: TimeEntry
    ) -> None:
        tag = marker(entry.id)
        existing = self.api.get(
            "time_entries.json", params={"issue_id": ticket["id"], "limit": 100}
        )
        if any(tag in (e.get("comments") or "") for e in existing["time_entries"]):
            return
        fields: dict[str, Any] = {
            "issue_id": ticket["id"],
            "hours": round(entry.minutes / 60, 2),
            "comments": f"{tag} {entry.note}".strip()[:1024],
        }
        if entry.spent_on is not None:
            fields["spent_on"] = entry.spent_on.isoformat()
        if self._activity_id is not None:
            fields["activity_id"] = self._activity_id
        self.api.post("time_entries.json", {"time_entry": fields})

    def resolve(self, ticket: dict[str, Any], subject: TicketSubject) -> None:
        if ticket.get("status", {}).get("is_closed"):
            return
        self._put(ticket, {"status_id": self._closed_status_id, "notes": resolution_text(subject)})

    def reopen(self, ticket: dict[str, Any], subject: TicketSubject) -> None:
        if not ticket.get("status", {}).get("is_closed"):
            return
        self._put(
            ticket,
            {
                "status_id": self._reopen_status_id,
                "notes": "Upkeep: the problem is back; reopened.",
            },
        )

    def read_resolution_note(self, ref: TicketRef) -> str | None:
        """The newest journal note a person wrote on the issue (the technician's closing note)."""
        issue = self.api.get(f"issues/{int(ref.external_id)}.json", params={"include": "journals"})[
            "issue"
        ]
        return technician_note([j.get("notes") or "" for j in issue.get("journals", [])])

    def poll_closed(self, refs: Sequence[TicketRef]) -> list[TicketRef]:
        by_id = {r.external_id: r for r in refs if r.system == self.name}
        closed: list[TicketRef] = []
        ids = list(by_id)
        for start in range(0, len(ids), 100):
            chunk = ids[start : start + 100]
            answer = self.api.get(
                "issues.json",
                params={"issue_id": ",".join(chunk), "status_id": "closed", "limit": 100},
            )
            closed += [
                by_id[str(issue["id"])] for issue in answer["issues"] if str(issue["id"]) in by_id
            ]
        return closed

    def read_time_entries(self, ref: TicketRef) -> list[RemoteTimeEntry]:
        out: list[RemoteTimeEntry] = []
        offset = 0
        while True:
            answer = self.api.get(
                "time_entries.json",
                params={"issue_id": int(ref.external_id), "limit": 100, "offset": offset},
            )
            page = answer.get("time_entries", [])
            for e in page:
                minutes = round(float(e.get("hours") or 0) * 60)
                if minutes <= 0:
                    continue
                spent = e.get("spent_on")
                out.append(
                    RemoteTimeEntry(
                        external_id=str(e["id"]),
                        minutes=minutes,
                        note=e.get("comments") or "",
                        author=(e.get("user") or {}).get("name"),
                        spent_on=date.fromisoformat(spent) if spent else None,
                        work_type=(e.get("activity") or {}).get("name"),
                        upkeep_id=marked_id(e.get("comments")),
                    )
                )
            offset += len(page)
            if not page or offset >= int(answer.get("total_count", 0)):
                return out
