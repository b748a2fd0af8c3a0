"""Zammad (REST API v1, ``Authorization: Token token=…``).

The incident key is in the title (``[UPK-acme-1234] title``) and is a tag on the ticket
(``POST /api/v1/tags/add``). A lookup is ``GET /api/v1/tickets/search?query=KEY`` and keeps
only tickets whose title starts with ``[KEY]``. Comments and time entries are articles
(internal notes; a time entry carries ``time_unit`` = minutes) ending with ``[upkeep:<id>]``,
which is looked for before writing. Resolve adds the resolution as an article, then sets
``closed_state``; reopen sets ``reopen_state``. A ticket in one of ``closed_states`` (or in
``closed_state``) counts as closed.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr

from collector.connectors.base import (
    Action,
    Comment,
    ConnectorConfig,
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
)
from collector.connectors.http import JsonApi, NotFoundError


class ZammadConfig(ConnectorConfig):
    """Options of a Zammad connector (see docs/connectors.md)."""

    SECRETS: ClassVar[tuple[str, ...]] = ("api_token",)
    REQUIRED_SECRETS: ClassVar[tuple[str, ...]] = ("api_token",)

    type: Literal["zammad"] = "zammad"
    url: str = Field(pattern=r"^https?://")
    api_token: SecretStr | None = None
    api_token_file: str | None = None
    api_token_env: str | None = None
    #: Group (name) per client; others go to ``default_group``.
    default_group: str
    group_by_client: dict[str, str] = Field(default_factory=dict)
    #: Customer (login or e-mail of an existing Zammad user) per client.
    default_customer: str
    customer_by_client: dict[str, str] = Field(default_factory=dict)
    #: Upkeep priority → Zammad priority name.
    priorities: dict[Priority, str] = Field(
        default_factory=lambda: {
            Priority.CRITICAL: "3 high",
            Priority.MAJOR: "3 high",
            Priority.MINOR: "2 normal",
            Priority.TECHNICAL: "1 low",
        }
    )
    #: Extra tags on every ticket (the key is always one).
    tags: list[str] = Field(default_factory=list)
    #: State a resolve sets; states that count as closed (besides ``closed_state``).
    closed_state: str = "closed"
    closed_states: list[str] = Field(default_factory=lambda: ["closed", "merged"])
    reopen_state: str = "open"
    verify_tls: bool | str = True


class ZammadConnector(TicketConnector):
    """Tickets in Zammad; see the module docstring."""

    config_model: ClassVar[type[ConnectorConfig]] = ZammadConfig
    config: ZammadConfig

    def __init__(self, name: str, config: ZammadConfig) -> None:
        super().__init__(name, config)
        self.api = JsonApi(
            f"zammad {name}",
            config.url,
            timeout=config.timeout,
            verify=config.verify_tls,
            headers={
                "Authorization": f"Token token={secret(config.api_token)}",
                "Accept": "application/json",
            },
        )

    def close(self) -> None:
        self.api.close()

    @cached_property
    def _base(self) -> str:
        return self.config.url.rstrip("/")

    def _title(self, subject: TicketSubject) -> str:
        return f"[{subject.key}] {subject.title}"[:250]

    def _is_closed(self, ticket: dict[str, Any]) -> bool:
        state = ticket.get("state")
        return state == self.config.closed_state or state in self.config.closed_states

    # ---------------------------------------------------------------- primitives

    def ref_of(self, ticket: dict[str, Any]) -> TicketRef:
        return TicketRef(self.name, str(ticket["id"]), f"{self._base}/#ticket/zoom/{ticket['id']}")

    def fetch(self, ref: TicketRef) -> dict[str, Any] | None:
        try:
            return self.api.get(f"api/v1/tickets/{ref.external_id}", params={"expand": "true"})
        except NotFoundError:
            return None

    def find(self, subject: TicketSubject) -> dict[str, Any] | None:
        answer = (
            self.api.get(
                "api/v1/tickets/search",
                params={"query": subject.key, "expand": "true", "limit": 50},
            )
            or []
        )
        tickets = answer if isinstance(answer, list) else []
        prefix = f"[{subject.key}]"
        hits = [t for t in tickets if str(t.get("title", "")).startswith(prefix)]
        return min(hits, key=lambda t: t["id"]) if hits else None

    def create(self, subject: TicketSubject) -> dict[str, Any]:
        body: dict[str, Any] = {
            "title": self._title(subject),
            "group": routed(subject.client, self.config.group_by_client, self.config.default_group),
            "customer": routed(
                subject.client, self.config.customer_by_client, self.config.default_customer
            ),
            "article": {
                "subject": self._title(subject),
                "body": description_text(subject),
                "type": "note",
                "internal": True,
                "content_type": "text/plain",
            },
        }
        if subject.priority in self.config.priorities:
            body["priority"] = self.config.priorities[subject.priority]
        created = self.api.post("api/v1/tickets", body)
        ticket = {
            "id": created["id"],
            "title": body["title"],
            "state": "new",
            "priority": body.get("priority"),
        }
        for tag in [subject.key, *self.config.tags]:
            self.api.post(
                "api/v1/tags/add", {"object": "Ticket", "o_id": ticket["id"], "item": tag}
            )
        return ticket

    def update(self, ticket: dict[str, Any], subject: TicketSubject, action: Action) -> None:
        changes: dict[str, Any] = {}
        if ticket.get("title") != self._title(subject):
            changes["title"] = self._title(subject)
        wanted = self.config.priorities.get(subject.priority)
        if wanted and ticket.get("priority") != wanted:
            changes["priority"] = wanted
        if changes:
            self.api.put(f"api/v1/tickets/{ticket['id']}", changes)

    def _article_once(self, ticket: dict[str, Any], item_id: str, text: str, **extra: Any) -> None:
        tag = marker(item_id)
        articles = self.api.get(f"api/v1/ticket_articles/by_ticket/{ticket['id']}") or []
        if any(tag in str(article.get("body") or "") for article in articles):
            return
        self.api.post(
            "api/v1/ticket_articles",
            {
                "ticket_id": ticket["id"],
                "body": f"{text}\n{tag}",
                "type": "note",
                "internal": True,
                "content_type": "text/plain",
                **extra,
            },
        )

    def add_comment(self, ticket: dict[str, Any], subject: TicketSubject, comment: Comment) -> None:
        by = f"{comment.author}: " if comment.author else ""
        self._article_once(ticket, comment.id, f"{by}{comment.body}")

    def add_time_entry(
        self, ticket: dict[str, Any], subject: TicketSubject, entry: TimeEntry
    ) -> None:
        note = entry.note or f"Time spent: {entry.minutes} min"
        self._article_once(ticket, entry.id, note, time_unit=entry.minutes)

    def resolve(self, ticket: dict[str, Any], subject: TicketSubject) -> None:
        if self._is_closed(ticket):
            return
        self._article_once(ticket, f"resolve-{subject.version}", resolution_text(subject))
        self.api.put(f"api/v1/tickets/{ticket['id']}", {"state": self.config.closed_state})

    def reopen(self, ticket: dict[str, Any], subject: TicketSubject) -> None:
        if self._is_closed(ticket):
            self.api.put(f"api/v1/tickets/{ticket['id']}", {"state": self.config.reopen_state})

    def poll_closed(self, refs: Sequence[TicketRef]) -> list[TicketRef]:
        closed: list[TicketRef] = []
        for ref in refs:
            if ref.system != self.name:
                continue
            ticket = self.fetch(ref)
            if ticket is not None and self._is_closed(ticket):
                closed.append(ref)
        return closed
