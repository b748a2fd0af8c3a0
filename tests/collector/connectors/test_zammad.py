"""The Zammad connector against a local fake of Zammad's REST API v1 that asserts the exact requests."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

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
from collector.connectors.base import description_text
from collector.connectors.zammad import ZammadConnector
from tests.servers.fake_http import FakeHttpServer, RecordedRequest, Reply

SubjectFactory = Callable[..., TicketSubject]
AUTH = "Token token=zammad-token-123"
TICKET = "/api/v1/tickets/1?expand=true"


class FakeZammad:
    """Just enough of Zammad: tickets (expanded), tags, articles, search by query."""

    def __init__(self) -> None:
        self.tickets: dict[int, dict[str, Any]] = {}
        self.articles: dict[int, list[dict[str, Any]]] = {}
        self.tags: dict[int, list[str]] = {}
        self.fail_with: int | None = None

    def __call__(self, request: RecordedRequest) -> Reply:
        if self.fail_with:
            return Reply(self.fail_with, {"error": "unavailable"})
        if request.headers.get("authorization") != AUTH:
            return Reply(401, {"error": "Invalid token!"})
        route, body, method = request.route, request.json, request.method
        if method == "GET" and route == "/api/v1/tickets/search":
            assert request.query["expand"] == ["true"] and request.query["limit"] == ["50"]
            query = request.query["query"][0]
            return Reply(
                200, [self.expanded(i) for i, t in self.tickets.items() if query in t["title"]]
            )
        if method == "POST" and route == "/api/v1/tickets":
            ticket_id = len(self.tickets) + 1
            self.tickets[ticket_id] = {
                "title": body["title"],
                "group": body["group"],
                "customer": body["customer"],
                "priority": body.get("priority", "2 normal"),
                "state": "new",
            }
            self.articles[ticket_id] = [body["article"]]
            self.tags[ticket_id] = []
            return Reply(
                201,
                {
                    "id": ticket_id,
                    "number": f"3100{ticket_id}",
                    "title": body["title"],
                    "state_id": 1,
                },
            )
        if method == "POST" and route == "/api/v1/tags/add":
            assert body["object"] == "Ticket"
            self.tags[body["o_id"]].append(body["item"])
            return Reply(200, True)
        if method == "POST" and route == "/api/v1/ticket_articles":
            self.articles[body["ticket_id"]].append(body)
            return Reply(201, {"id": 100 + len(self.articles[body["ticket_id"]]), **body})
        if match := re.fullmatch(r"/api/v1/ticket_articles/by_ticket/(\d+)", route):
            return Reply(200, self.articles[int(match.group(1))])
        match = re.fullmatch(r"/api/v1/tickets/(\d+)", route)
        if not match or int(match.group(1)) not in self.tickets:
            return Reply(404, {"error": "Couldn't find Ticket"})
        ticket_id = int(match.group(1))
        if method == "GET":
            assert request.query == {"expand": ["true"]}
            return Reply(200, self.expanded(ticket_id))
        if method == "PUT":
            self.tickets[ticket_id].update(body)
            return Reply(200, self.expanded(ticket_id))
        return Reply(405)

    def expanded(self, ticket_id: int) -> dict[str, Any]:
        return {"id": ticket_id, "number": f"3100{ticket_id}", **self.tickets[ticket_id]}


def connector(url: str, **overrides: object) -> ZammadConnector:
    raw = {
        "type": "zammad",
        "url": url,
        "api_token": "zammad-token-123",
        "default_group": "Users",
        "default_customer": "desk@msp.example",
        "group_by_client": {"globex": "Globex"},
        "customer_by_client": {"globex": "it@globex.example"},
        "timeout": 5,
        **overrides,
    }
    return ConnectorsConfig.model_validate({"connectors": {"zammad": raw}}).build()["zammad"]


def calls(server: FakeHttpServer) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in server.requests]


def test_lifecycle_sends_exact_requests(make_subject: SubjectFactory) -> None:
    fake = FakeZammad()
    subject = make_subject(key="UPK-acme-42", priority="minor")
    with FakeHttpServer(fake) as server, connector(server.url) as zammad:
        ref = zammad.deliver(Action.OPEN, subject, None)
        assert ref == TicketRef("zammad", "1", f"{server.url}/#ticket/zoom/1")
        assert calls(server) == [
            ("GET", "/api/v1/tickets/search?query=UPK-acme-42&expand=true&limit=50"),
            ("POST", "/api/v1/tickets"),
            ("POST", "/api/v1/tags/add"),
        ]
        assert all(r.headers["authorization"] == AUTH for r in server.requests)
        search, create, tag = server.requests
        assert create.headers["content-type"] == "application/json"
        assert create.json == {
            "title": "[UPK-acme-42] Disk / on srv1 is 93% full",
            "group": "Users",
            "customer": "desk@msp.example",
            "priority": "2 normal",
            "article": {
                "subject": "[UPK-acme-42] Disk / on srv1 is 93% full",
                "body": description_text(subject),
                "type": "note",
                "internal": True,
                "content_type": "text/plain",
            },
        }
        assert tag.json == {"object": "Ticket", "o_id": 1, "item": "UPK-acme-42"}

        # a retry without the ref (the create's answer was lost) finds the ticket by key
        server.requests.clear()
        assert zammad.deliver(Action.OPEN, subject, None) == ref
        assert calls(server) == [
            ("GET", "/api/v1/tickets/search?query=UPK-acme-42&expand=true&limit=50")
        ]
        assert len(fake.tickets) == 1

        server.requests.clear()
        escalated = dataclasses.replace(subject, priority="major", version=2)
        assert zammad.deliver(Action.ESCALATE, escalated, ref) == ref
        assert calls(server) == [("GET", TICKET), ("PUT", "/api/v1/tickets/1")]
        assert server.requests[1].json == {"priority": "3 high"}

        server.requests.clear()
        commented = dataclasses.replace(
            escalated, version=3, comment=Comment("ev-3", "Ordered a new disk.", "carol")
        )
        zammad.deliver(Action.COMMENT, commented, ref)
        zammad.deliver(Action.COMMENT, commented, ref)  # mirrored once
        assert calls(server) == [
            ("GET", TICKET),
            ("GET", "/api/v1/ticket_articles/by_ticket/1"),
            ("POST", "/api/v1/ticket_articles"),
            ("GET", TICKET),
            ("GET", "/api/v1/ticket_articles/by_ticket/1"),
        ]
        assert server.requests[2].json == {
            "ticket_id": 1,
            "body": "carol: Ordered a new disk.\n[upkeep:ev-3]",
            "type": "note",
            "internal": True,
            "content_type": "text/plain",
        }

        server.requests.clear()
        timed = dataclasses.replace(
            commented,
            comment=None,
            time_entry=TimeEntry("ev-4", 30, "Swapped disk", spent_on=date(2026, 3, 3)),
        )
        zammad.deliver(Action.TIME_ENTRY, timed, ref)
        zammad.deliver(Action.TIME_ENTRY, timed, ref)
        posts = [r for r in server.requests if r.method == "POST"]
        assert [(r.path, r.json) for r in posts] == [
            (
                "/api/v1/ticket_articles",
                {
                    "ticket_id": 1,
                    "body": "Swapped disk\n[upkeep:ev-4]",
                    "type": "note",
                    "internal": True,
                    "content_type": "text/plain",
                    "time_unit": 30,
                },
            )
        ]

        server.requests.clear()
        resolved = dataclasses.replace(
            timed,
            version=5,
            time_entry=None,
            state="resolved",
            resolved_at=datetime(2026, 3, 3, 10, 0, tzinfo=UTC),
        )
        assert zammad.deliver(Action.RESOLVE, resolved, ref) == ref
        assert calls(server) == [
            ("GET", TICKET),
            ("GET", "/api/v1/ticket_articles/by_ticket/1"),
            ("POST", "/api/v1/ticket_articles"),
            ("PUT", "/api/v1/tickets/1"),
        ]
        assert (
            server.requests[2].json["body"]
            == "Resolved by Upkeep at 2026-03-03 10:00 UTC.\n[upkeep:resolve-5]"
        )
        assert server.requests[2].json["internal"] is True
        assert server.requests[3].json == {"state": "closed"}
        server.requests.clear()
        zammad.deliver(Action.RESOLVE, resolved, ref)  # closed already: nothing written
        assert calls(server) == [("GET", TICKET)]

        assert zammad.poll_closed([ref, TicketRef("zammad", "999"), TicketRef("other", "1")]) == [
            ref
        ]

        reopened = dataclasses.replace(resolved, version=6, state="open", resolved_at=None)
        server.requests.clear()
        zammad.deliver(Action.REOPEN, reopened, ref)
        assert server.requests[-1].json == {"state": "open"}
        assert zammad.poll_closed([ref]) == []


def test_client_routing_configurable_state_and_resolve_of_unknown_key(
    make_subject: SubjectFactory,
) -> None:
    fake = FakeZammad()
    with (
        FakeHttpServer(fake) as server,
        connector(server.url, closed_state="solved", tags=["upkeep"]) as zammad,
    ):
        ref = zammad.deliver(Action.OPEN, make_subject(client="globex", key="UPK-globex-1"), None)
        assert server.requests[1].json["group"] == "Globex"
        assert server.requests[1].json["customer"] == "it@globex.example"
        assert [r.json["item"] for r in server.requests[2:]] == ["UPK-globex-1", "upkeep"]
        resolved = make_subject(
            client="globex",
            key="UPK-globex-1",
            state="resolved",
            resolved_at=datetime(2026, 3, 3, tzinfo=UTC),
        )
        zammad.deliver(Action.RESOLVE, resolved, ref)
        assert server.requests[-1].json == {"state": "solved"}
        assert zammad.poll_closed([ref]) == [ref]

        # a ticket whose title merely mentions the key is not a match
        fake.tickets[9] = {"title": "see also UPK-acme-7", "state": "new", "priority": "2 normal"}
        server.requests.clear()
        unknown = make_subject(
            key="UPK-acme-7", state="resolved", resolved_at=datetime(2026, 3, 3, tzinfo=UTC)
        )
        assert zammad.deliver(Action.RESOLVE, unknown, None) is None
        assert calls(server) == [
            ("GET", "/api/v1/tickets/search?query=UPK-acme-7&expand=true&limit=50")
        ]
        assert len(fake.tickets) == 2


def test_error_mapping(make_subject: SubjectFactory) -> None:
    fake = FakeZammad()
    with FakeHttpServer(fake) as server:
        with (
            connector(server.url, api_token="wrong") as zammad,
            pytest.raises(ConnectorError) as unauthorized,
        ):
            zammad.deliver(Action.OPEN, make_subject(), None)
        fake.fail_with = 503
        with connector(server.url) as zammad, pytest.raises(ConnectorError) as unavailable:
            zammad.deliver(Action.OPEN, make_subject(), None)
    assert unauthorized.value.permanent and "HTTP 401" in unauthorized.value.message
    assert (
        "wrong" not in unauthorized.value.message
        and "zammad-token-123" not in unavailable.value.message
    )
    assert not unavailable.value.permanent and "HTTP 503" in unavailable.value.message
    assert not fake.tickets
