"""Jira Cloud and Jira Service Management (REST v3, basic auth with e-mail + API token).

The incident key is a label on the issue (``UPK-acme-1234``; keys contain no spaces, which
labels forbid) next to the label ``upkeep``. A lookup is the JQL ``labels = "KEY"``
(``POST /rest/api/3/search/jql``). Comments and worklogs use Atlassian Document Format and
end with ``[upkeep:<id>]``, which is looked for before writing. Resolve posts the resolution
as a comment, then the transition named ``resolve_transition``; reopen the transition named
``reopen_transition``. A ticket whose status category is "done" counts as closed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, time
from functools import cached_property
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr

from collector.connectors.base import (
    Action,
    Comment,
    ConnectorConfig,
    ConnectorError,
    Priority,
    TicketConnector,
    TicketRef,
    TicketSubject,
    TimeEntry,
    description_text,
    marker,
    resolution_text,
    routed,
    secret,
    technician_note,
)
from collector.connectors.http import JsonApi, NotFoundError

FIELDS = ["summary", "priority", "status", "labels", "project"]


def adf(text: str) -> dict[str, Any]:
    """Plain text as an Atlassian Document Format document: one paragraph per line."""
    paragraphs = [
        {"type": "paragraph", "content": [{"type": "text", "text": line}]}
        for line in text.splitlines()
        if line.strip()
    ]
    return {"type": "doc", "version": 1, "content": paragraphs}


def _adf_parts(node: Any, parts: list[str]) -> None:
    if isinstance(node, dict):
        if node.get("type") == "text":
            parts.append(str(node.get("text") or ""))
        for child in node.get("content") or []:
            _adf_parts(child, parts)


def adf_text(document: Any) -> str:
    """The plain text of an Atlassian Document Format document (paragraphs as lines); a
    plain string (Jira Server's API v2) as it is."""
    if isinstance(document, str):
        return document
    if not isinstance(document, dict):
        return ""
    lines: list[str] = []
    for block in document.get("content") or []:
        parts: list[str] = []
        _adf_parts(block, parts)
        lines.append("".join(parts))
    return "\n".join(lines)


class JiraConfig(ConnectorConfig):
    """Options of a Jira connector (see docs/connectors.md)."""

    SECRETS: ClassVar[tuple[str, ...]] = ("api_token",)
    REQUIRED_SECRETS: ClassVar[tuple[str, ...]] = ("api_token",)

    type: Literal["jira"] = "jira"
    url: str = Field(pattern=r"^https?://")
    email: str
    api_token: SecretStr | None = None
    api_token_file: str | None = None
    api_token_env: str | None = None
    #: Project key per client; others go to ``default_project``.
    default_project: str
    project_by_client: dict[str, str] = Field(default_factory=dict)
    issue_type: str = "Task"
    #: Upkeep priority → Jira priority name.
    priorities: dict[Priority, str] = Field(
        default_factory=lambda: {
            Priority.CRITICAL: "Highest",
            Priority.MAJOR: "High",
            Priority.MINOR: "Medium",
            Priority.TECHNICAL: "Low",
        }
    )
    #: Extra labels on every issue (the key and ``upkeep`` are always there).
    labels: list[str] = Field(default_factory=list)
    resolve_transition: str = "Done"
    reopen_transition: str = "To Do"
    verify_tls: bool | str = True


class JiraConnector(TicketConnector):
    """Issues in Jira; see the module docstring."""

    config_model: ClassVar[type[ConnectorConfig]] = JiraConfig
    supports_resolution_note = True
    config: JiraConfig

    def __init__(self, name: str, config: JiraConfig) -> None:
        super().__init__(name, config)
        self.api = JsonApi(
            f"jira {name}",
            config.url,
            timeout=config.timeout,
            verify=config.verify_tls,
            auth=(config.email, secret(config.api_token)),
            headers={"Accept": "application/json"},
        )

    def close(self) -> None:
        self.api.close()

    @cached_property
    def _base(self) -> str:
        return self.config.url.rstrip("/")

    def _search(self, jql: str) -> list[dict[str, Any]]:
        answer = self.api.post(
            "rest/api/3/search/jql", {"jql": jql, "fields": FIELDS, "maxResults": 50}
        )
        return answer.get("issues", [])

    def _summary(self, subject: TicketSubject) -> str:
        return f"[{subject.key}] {subject.title}"[:255]

    # ---------------------------------------------------------------- primitives

    def ref_of(self, ticket: dict[str, Any]) -> TicketRef:
        return TicketRef(self.name, ticket["key"], f"{self._base}/browse/{ticket['key']}")

    def fetch(self, ref: TicketRef) -> dict[str, Any] | None:
        try:
            return self.api.get(
                f"rest/api/3/issue/{ref.external_id}", params={"fields": ",".join(FIELDS)}
            )
        except NotFoundError:
            return None

    def find(self, subject: TicketSubject) -> dict[str, Any] | None:
        for issue in self._search(f'labels = "{subject.key}" ORDER BY created ASC'):
            if subject.key in issue.get("fields", {}).get("labels", []):
                return issue
        return None

    def create(self, subject: TicketSubject) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "project": {
                "key": routed(
                    subject.client, self.config.project_by_client, self.config.default_project
                )
            },
            "issuetype": {"name": self.config.issue_type},
            "summary": self._summary(subject),
            "description": adf(description_text(subject)),
            "labels": ["upkeep", subject.key, *self.config.labels],
        }
        if subject.priority in self.config.priorities:
            fields["priority"] = {"name": self.config.priorities[subject.priority]}
        created = self.api.post("rest/api/3/issue", {"fields": fields})
        return {"id": created["id"], "key": created["key"], "fields": {"labels": fields["labels"]}}

    def update(self, ticket: dict[str, Any], subject: TicketSubject, action: Action) -> None:
        current = ticket.get("fields", {})
        changes: dict[str, Any] = {}
        if current.get("summary") != self._summary(subject):
            changes["summary"] = self._summary(subject)
        wanted = self.config.priorities.get(subject.priority)
        if wanted and (current.get("priority") or {}).get("name") != wanted:
            changes["priority"] = {"name": wanted}
        if changes:
            self.api.put(f"rest/api/3/issue/{ticket['key']}", {"fields": changes})

    def _has_marker(self, path: str, root: str, tag: str) -> bool:
        answer = self.api.get(path, params={"maxResults": 5000})
        return any(
            tag in json.dumps(item.get("body") or item.get("comment") or {})
            for item in answer.get(root, [])
        )

    def _comment_once(self, ticket: dict[str, Any], item_id: str, text: str) -> None:
        tag = marker(item_id)
        path = f"rest/api/3/issue/{ticket['key']}/comment"
        if not self._has_marker(path, "comments", tag):
            self.api.post(path, {"body": adf(f"{text}\n{tag}")})

    def add_comment(self, ticket: dict[str, Any], subject: TicketSubject, comment: Comment) -> None:
        by = f"{comment.author}: " if comment.author else ""
        self._comment_once(ticket, comment.id, f"{by}{comment.body}")

    def add_time_entry(
        self, ticket: dict[str, Any], subject: TicketSubject, entry: TimeEntry
    ) -> None:
        tag = marker(entry.id)
        path = f"rest/api/3/issue/{ticket['key']}/worklog"
        if self._has_marker(path, "worklogs", tag):
            return
        day = entry.spent_on or datetime.now(UTC).date()
        started = datetime.combine(day, time(9, 0), tzinfo=UTC).strftime(
            "%Y-%m-%dT%H:%M:%S.000+0000"
        )
        self.api.post(
            path,
            {
                "timeSpentSeconds": entry.minutes * 60,
                "started": started,
                "comment": adf(f"{entry.note}\n{tag}"),
            },
        )

    def _transition(self, ticket: dict[str, Any], name: str) -> None:
        path = f"rest/api/3/issue/{ticket['key']}/transitions"
        for transition in self.api.get(path).get("transitions", []):
            if transition.get("name", "").casefold() == name.casefold():
                self.api.post(path, {"transition": {"id": transition["id"]}})
                return
        raise ConnectorError(
            f"jira {self.name}: {ticket['key']} has no transition named {name!r}", permanent=True
        )

    @staticmethod
    def _is_done(ticket: dict[str, Any]) -> bool:
        status = ticket.get("fields", {}).get("status") or {}
        return (status.get("statusCategory") or {}).get("key") == "done"

    def resolve(self, ticket: dict[str, Any], subject: TicketSubject) -> None:
        if self._is_done(ticket):
            return
        self._comment_once(ticket, f"resolve-{subject.version}", resolution_text(subject))
        self._transition(ticket, self.config.resolve_transition)

    def reopen(self, ticket: dict[str, Any], subject: TicketSubject) -> None:
        if self._is_done(ticket):
            self._transition(ticket, self.config.reopen_transition)

    def read_resolution_note(self, ref: TicketRef) -> str | None:
        """The newest comment a person wrote on the issue (the technician's closing note)."""
        answer = self.api.get(
            f"rest/api/3/issue/{ref.external_id}/comment",
            params={"orderBy": "created", "maxResults": 100},
        )
        return technician_note([adf_text(c.get("body")) for c in answer.get("comments", [])])

    def poll_closed(self, refs: Sequence[TicketRef]) -> list[TicketRef]:
        by_key = {r.external_id: r for r in refs if r.system == self.name}
        closed: list[TicketRef] = []
        keys = list(by_key)
        for start in range(0, len(keys), 50):
            chunk = ", ".join(keys[start : start + 50])
            for issue in self._search(f"key in ({chunk}) AND statusCategory = Done"):
                if issue["key"] in by_key:
                    closed.append(by_key[issue["key"]])
        return closed
