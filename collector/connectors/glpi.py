"""GLPI (``apirest.php``, user token + optional App-Token, session tokens).

A session is opened with ``GET initSession`` (``Authorization: user_token …``, ``App-Token``)
and its ``Session-Token`` sent on every request; a 401 ``ERROR_SESSION_TOKEN_INVALID``
(expired session) opens a new session once and repeats the request. ``close()`` kills the
session. The incident key is in the ticket's name (``[UPK-acme-1234] title``); a lookup is
``GET /Ticket?searchText[name]=KEY`` and keeps only names starting with ``[KEY]``. Comments
are followups (``ITILFollowup``), time entries tasks (``TicketTask``, ``actiontime`` in
seconds); both end with ``[upkeep:<id>]``, which is looked for before writing. Resolve adds
the resolution as a solution (``ITILSolution``), then sets ``resolve_status`` (5 solved or
6 closed); reopen sets ``reopen_status``. A ticket with status 5 or 6 counts as closed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any, ClassVar, Literal

import httpx
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
)
from collector.connectors.http import JsonApi, NotFoundError

SOLVED: Literal[5] = 5
CLOSED = 6
SESSION_INVALID = "ERROR_SESSION_TOKEN_INVALID"


class GlpiConfig(ConnectorConfig):
    """Options of a GLPI connector (see docs/connectors.md)."""

    SECRETS: ClassVar[tuple[str, ...]] = ("user_token", "app_token")
    REQUIRED_SECRETS: ClassVar[tuple[str, ...]] = ("user_token",)

    type: Literal["glpi"] = "glpi"
    #: The REST API's URL, e.g. ``https://glpi.msp.example/apirest.php``.
    url: str = Field(pattern=r"^https?://")
    user_token: SecretStr | None = None
    user_token_file: str | None = None
    user_token_env: str | None = None
    #: The API client's App-Token (Setup → General → API), when the API client has one.
    app_token: SecretStr | None = None
    app_token_file: str | None = None
    app_token_env: str | None = None
    #: Entity id per client; others go to ``default_entity``.
    default_entity: int = 0
    entity_by_client: dict[str, int] = Field(default_factory=dict)
    #: Ticket type: 1 incident, 2 request.
    ticket_type: Literal[1, 2] = 1
    #: Upkeep priority → GLPI priority (1 very low … 5 very high, 6 major).
    priorities: dict[Priority, int] = Field(
        default_factory=lambda: {
            Priority.CRITICAL: 5,
            Priority.MAJOR: 4,
            Priority.MINOR: 3,
            Priority.TECHNICAL: 2,
        }
    )
    #: Status a resolve sets after the solution: 5 (solved) or 6 (closed).
    resolve_status: Literal[5, 6] = SOLVED
    #: Status a reopen sets (1 new, 2 processing (assigned), 4 pending).
    reopen_status: Literal[1, 2, 3, 4] = 1
    #: Followups and tasks are private (not shown to the requester).
    private: bool = True
    verify_tls: bool | str = True


class GlpiConnector(TicketConnector):
    """Tickets in GLPI; see the module docstring."""

    config_model: ClassVar[type[ConnectorConfig]] = GlpiConfig
    config: GlpiConfig

    def __init__(self, name: str, config: GlpiConfig) -> None:
        super().__init__(name, config)
        headers = {"Accept": "application/json"}
        if config.app_token is not None:
            headers["App-Token"] = secret(config.app_token)
        self.api = JsonApi(
            f"glpi {name}",
            config.url,
            timeout=config.timeout,
            verify=config.verify_tls,
            headers=headers,
        )
        self._session: str | None = None

    # ---------------------------------------------------------------- session

    def _init_session(self) -> str:
        answer = self.api.get(
            "initSession", headers={"Authorization": f"user_token {secret(self.config.user_token)}"}
        )
        token = answer.get("session_token") if isinstance(answer, dict) else None
        if not token:
            raise ConnectorError(
                f"glpi {self.name}: initSession answered without a session_token", permanent=False
            )
        self._session = str(token)
        return self._session

    def _call(
        self, method: str, path: str, json: Any = None, params: Mapping[str, Any] | None = None
    ) -> Any:
        """A request in the session (opened on first use, re-opened once when it expired)."""
        session = self._session or self._init_session()
        for attempt in (1, 2):
            response = self.api.send(
                method,
                path,
                json=json,
                params=params,
                headers={"Session-Token": session},
                ok=(401,),
            )
            if response.status_code != 401:
                return self._decode(method, path, response)
            if attempt == 1 and SESSION_INVALID in response.text:
                self._session = None
                session = self._init_session()
                continue
            excerpt = " ".join(response.text[:300].split())
            raise ConnectorError(
                f"glpi {self.name}: {method} /{path}: HTTP 401: {excerpt}", permanent=True
            )
        raise AssertionError("unreachable")

    def _decode(self, method: str, path: str, response: httpx.Response) -> Any:
        if not response.content.strip():
            return None
        try:
            return response.json()
        except ValueError:
            raise ConnectorError(
                f"glpi {self.name}: {method} /{path}: HTTP {response.status_code} "
                "with a body that is not JSON",
                permanent=False,
            ) from None

    def close(self) -> None:
        if self._session is not None:
            with contextlib.suppress(ConnectorError):  # else the session expires on its own
                self.api.send("GET", "killSession", headers={"Session-Token": self._session})
            self._session = None
        self.api.close()

    # ---------------------------------------------------------------- helpers

    @cached_property
    def _web(self) -> str:
        base = self.config.url.rstrip("/")
        return base.removesuffix("apirest.php").rstrip("/")

    def _name(self, subject: TicketSubject) -> str:
        return f"[{subject.key}] {subject.title}"[:255]

    @staticmethod
    def _status(ticket: dict[str, Any]) -> int:
        return int(ticket.get("status") or 0)

    def _set(self, ticket: dict[str, Any], changes: dict[str, Any]) -> None:
        self._call("PUT", f"Ticket/{ticket['id']}", {"input": changes})

    def _has_marker(self, ticket: dict[str, Any], itemtype: str, tag: str) -> bool:
        try:
            items = self._call("GET", f"Ticket/{ticket['id']}/{itemtype}") or []
        except NotFoundError:
            return False
        return any(tag in str(item.get("content") or "") for item in items)

    # ---------------------------------------------------------------- primitives

    def ref_of(self, ticket: dict[str, Any]) -> TicketRef:
        return TicketRef(
            self.name, str(ticket["id"]), f"{self._web}/front/ticket.form.php?id={ticket['id']}"
        )

    def fetch(self, ref: TicketRef) -> dict[str, Any] | None:
        try:
            return self._call("GET", f"Ticket/{ref.external_id}")
        except NotFoundError:
            return None

    def find(self, subject: TicketSubject) -> dict[str, Any] | None:
        try:
            tickets = (
                self._call(
                    "GET", "Ticket", params={"searchText[name]": subject.key, "range": "0-49"}
                )
                or []
            )
        except NotFoundError:
            return None
        prefix = f"[{subject.key}]"
        hits = [t for t in tickets if str(t.get("name", "")).startswith(prefix)]
        return min(hits, key=lambda t: int(t["id"])) if hits else None

    def create(self, subject: TicketSubject) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "name": self._name(subject),
            "content": description_text(subject),
            "entities_id": routed(
                subject.client, self.config.entity_by_client, self.config.default_entity
            ),
            "type": self.config.ticket_type,
            "status": 1,
        }
        if subject.priority in self.config.priorities:
            fields["priority"] = self.config.priorities[subject.priority]
        created = self._call("POST", "Ticket", {"input": fields})
        return {
            "id": created["id"],
            "name": fields["name"],
            "status": 1,
            "priority": fields.get("priority"),
        }

    def update(self, ticket: dict[str, Any], subject: TicketSubject, action: Action) -> None:
        changes: dict[str, Any] = {}
        if ticket.get("name") != self._name(subject):
            changes["name"] = self._name(subject)
        wanted = self.config.priorities.get(subject.priority)
        if wanted and ticket.get("priority") != wanted:
            changes["priority"] = wanted
        if changes:
            self._set(ticket, changes)

    def add_comment(self, ticket: dict[str, Any], subject: TicketSubject, comment: Comment) -> None:
        tag = marker(comment.id)
        if self._has_marker(ticket, "ITILFollowup", tag):
            return
        by = f"{comment.author}: " if comment.author else ""
        self._call(
            "POST",
            "ITILFollowup",
            {
                "input": {
                    "itemtype": "Ticket",
                    "items_id": ticket["id"],
                    "content": f"{by}{comment.body}\n{tag}",
                    "is_private": int(self.config.private),
                }
            },
        )

    def add_time_entry(
        self, ticket: dict[str, Any], subject: TicketSubject, entry: TimeEntry
    ) -> None:
        tag = marker(entry.id)
        if self._has_marker(ticket, "TicketTask", tag):
            return
        task: dict[str, Any] = {
            "tickets_id": ticket["id"],
            "content": f"{entry.note}\n{tag}".lstrip("\n"),
            "actiontime": entry.minutes * 60,
            "is_private": int(self.config.private),
            "state": 2,
        }
        if entry.spent_on is not None:
            task["date"] = f"{entry.spent_on.isoformat()} 09:00:00"
        self._call("POST", "TicketTask", {"input": task})

    def resolve(self, ticket: dict[str, Any], subject: TicketSubject) -> None:
        status = self._status(ticket)
        if status >= self.config.resolve_status:
            return
        if status < SOLVED:
            tag = marker(f"resolve-{subject.version}")
            if not self._has_marker(ticket, "ITILSolution", tag):
                self._call(
                    "POST",
                    "ITILSolution",
                    {
                        "input": {
                            "itemtype": "Ticket",
                            "items_id": ticket["id"],
                            "content": f"{resolution_text(subject)}\n{tag}",
                        }
                    },
                )
        self._set(ticket, {"status": self.config.resolve_status})

    def reopen(self, ticket: dict[str, Any], subject: TicketSubject) -> None:
        if self._status(ticket) >= SOLVED:
            self._set(ticket, {"status": self.config.reopen_status})

    def poll_closed(self, refs: Sequence[TicketRef]) -> list[TicketRef]:
        closed: list[TicketRef] = []
        for ref in refs:
            if ref.system != self.name:
                continue
            ticket = self.fetch(ref)
            if ticket is not None and self._status(ticket) >= SOLVED:
                closed.append(ref)
        return closed
