"""The GLPI connector against a local fake of GLPI's apirest.php that asserts the exact requests."""

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
from collector.connectors.glpi import GlpiConnector
from tests.servers.fake_http import FakeHttpServer, RecordedRequest, Reply

SubjectFactory = Callable[..., TicketSubject]
USER_TOKEN = "glpi-user-123"
APP_TOKEN = "glpi-app-456"
API = "/glpi/apirest.php"
SEARCH = f"{API}/Ticket?searchText%5Bname%5D=UPK-acme-42&range=0-49"


class FakeGlpi:
    """Just enough of GLPI: sessions, tickets, followups, tasks, solutions."""

    def __init__(self) -> None:
        self.sessions: set[str] = set()
        self.opened = 0
        self.tickets: dict[int, dict[str, Any]] = {}
        self.items: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self.fail_with: int | None = None

    def __call__(self, request: RecordedRequest) -> Reply:
        if self.fail_with:
            return Reply(self.fail_with, ["ERROR", "unavailable"])
        assert request.route.startswith(API + "/"), request.path
        if request.headers.get("app-token") != APP_TOKEN:
            return Reply(400, ["ERROR_WRONG_APP_TOKEN_PARAMETER", "wrong app token"])
        route, body, method = request.route.removeprefix(API), request.json, request.method
        if route == "/initSession":
            assert method == "GET" and "session-token" not in request.headers
            if request.headers.get("authorization") != f"user_token {USER_TOKEN}":
                return Reply(401, ["ERROR_GLPI_LOGIN_USER_TOKEN", "user_token seems invalid"])
            self.opened += 1
            self.sessions.add(f"sess-{self.opened}")
            return Reply(200, {"session_token": f"sess-{self.opened}"})
        assert "authorization" not in request.headers  # the user token only opens sessions
        if request.headers.get("session-token") not in self.sessions:
            return Reply(401, [SESSION_INVALID, "session_token seems invalid"])
        if route == "/killSession":
            self.sessions.discard(request.headers["session-token"])
            return Reply(200, "")
        if method == "GET" and route == "/Ticket":
            text = request.query["searchText[name]"][0]
            assert request.query["range"] == ["0-49"]
            return Reply(
                200, [{"id": i, **t} for i, t in self.tickets.items() if text in t["name"]]
            )
        if method == "POST" and route == "/Ticket":
            ticket_id = len(self.tickets) + 1
            self.tickets[ticket_id] = dict(body["input"])
            return Reply(201, {"id": ticket_id, "message": ""})
        if method == "POST" and route in ("/ITILFollowup", "/ITILSolution", "/TicketTask"):
            fields = body["input"]
            ticket_id = fields["tickets_id"] if route == "/TicketTask" else fields["items_id"]
            self.items.setdefault((route[1:], ticket_id), []).append(fields)
            if route == "/ITILSolution":
                self.tickets[ticket_id]["status"] = 5  # GLPI solves a ticket given a solution
            return Reply(201, {"id": 100, "message": ""})
        match = re.fullmatch(r"/Ticket/(\d+)(?:/(\w+))?", route)
        if not match or int(match.group(1)) not in self.tickets:
            return Reply(404, ["ERROR_ITEM_NOT_FOUND", "Item not found"])
        ticket_id, sub = int(match.group(1)), match.group(2)
        if sub is not None and method == "GET":
            return Reply(200, self.items.get((sub, ticket_id), []))
        if method == "GET":
            return Reply(200, {"id": ticket_id, **self.tickets[ticket_id]})
        if method == "PUT":
            self.tickets[ticket_id].update(body["input"])
            return Reply(200, [{str(ticket_id): True, "message": ""}])
        return Reply(405)


SESSION_INVALID = "ERROR_SESSION_TOKEN_INVALID"


def connector(url: str, **overrides: object) -> GlpiConnector:
    raw = {
        "type": "glpi",
        "url": f"{url}{API}",
        "user_token": USER_TOKEN,
        "app_token": APP_TOKEN,
        "default_entity": 0,
        "entity_by_client": {"globex": 3},
        "timeout": 5,
        **overrides,
    }
    return ConnectorsConfig.model_validate({"connectors": {"glpi": raw}}).build()["glpi"]


def calls(server: FakeHttpServer) -> list[tuple[str, str]]:
    return [(r.method, r.path.removeprefix(API)) for r in server.requests]


def test_lifecycle_sends_exact_requests(make_subject: SubjectFactory) -> None:
    fake = FakeGlpi()
    subject = make_subject(key="UPK-acme-42", priority="minor")
    with FakeHttpServer(fake) as server:
        with connector(server.url) as glpi:
            ref = glpi.deliver(Action.OPEN, subject, None)
            assert ref == TicketRef("glpi", "1", f"{server.url}/glpi/front/ticket.form.php?id=1")
            assert calls(server) == [
                ("GET", "/initSession"),
                ("GET", SEARCH.removeprefix(API)),
                ("POST", "/Ticket"),
            ]
            init, search, create = server.requests
            assert init.headers["authorization"] == f"user_token {USER_TOKEN}"
            assert all(r.headers["app-token"] == APP_TOKEN for r in server.requests)
            assert search.headers["session-token"] == create.headers["session-token"] == "sess-1"
            assert create.headers["content-type"] == "application/json"
            assert create.json == {
                "input": {
                    "name": "[UPK-acme-42] Disk / on srv1 is 93% full",
                    "content": description_text(subject),
                    "entities_id": 0,
                    "type": 1,
                    "status": 1,
                    "priority": 3,
                }
            }

            # a retry without the ref (the create's answer was lost) finds the ticket by key
            server.requests.clear()
            assert glpi.deliver(Action.OPEN, subject, None) == ref
            assert calls(server) == [("GET", SEARCH.removeprefix(API))]
            assert len(fake.tickets) == 1

            server.requests.clear()
            escalated = dataclasses.replace(subject, priority="critical", version=2)
            assert glpi.deliver(Action.ESCALATE, escalated, ref) == ref
            assert calls(server) == [("GET", "/Ticket/1"), ("PUT", "/Ticket/1")]
            assert server.requests[1].json == {"input": {"priority": 5}}

            server.requests.clear()
            commented = dataclasses.replace(
                escalated, version=3, comment=Comment("ev-3", "Ordered a new disk.", "carol")
            )
            glpi.deliver(Action.COMMENT, commented, ref)
            glpi.deliver(Action.COMMENT, commented, ref)  # mirrored once
            assert calls(server) == [
                ("GET", "/Ticket/1"),
                ("GET", "/Ticket/1/ITILFollowup"),
                ("POST", "/ITILFollowup"),
                ("GET", "/Ticket/1"),
                ("GET", "/Ticket/1/ITILFollowup"),
            ]
            assert server.requests[2].json == {
                "input": {
                    "itemtype": "Ticket",
                    "items_id": 1,
                    "content": "carol: Ordered a new disk.\n[upkeep:ev-3]",
                    "is_private": 1,
                }
            }

            server.requests.clear()
            timed = dataclasses.replace(
                commented,
                comment=None,
                time_entry=TimeEntry("ev-4", 30, "Swapped disk", spent_on=date(2026, 3, 3)),
            )
            glpi.deliver(Action.TIME_ENTRY, timed, ref)
            glpi.deliver(Action.TIME_ENTRY, timed, ref)  # mirrored once
            assert calls(server) == [
                ("GET", "/Ticket/1"),
                ("GET", "/Ticket/1/TicketTask"),
                ("POST", "/TicketTask"),
                ("GET", "/Ticket/1"),
                ("GET", "/Ticket/1/TicketTask"),
            ]
            assert server.requests[2].json == {
                "input": {
                    "tickets_id": 1,
                    "content": "Swapped disk\n[upkeep:ev-4]",
                    "actiontime": 1800,
                    "is_private": 1,
                    "state": 2,
                    "date": "2026-03-03 09:00:00",
                }
            }

            server.requests.clear()
            resolved = dataclasses.replace(
                timed,
                version=5,
                time_entry=None,
                state="resolved",
                resolved_at=datetime(2026, 3, 3, 10, 0, tzinfo=UTC),
            )
            assert glpi.deliver(Action.RESOLVE, resolved, ref) == ref
            assert calls(server) == [
                ("GET", "/Ticket/1"),
                ("GET", "/Ticket/1/ITILSolution"),
                ("POST", "/ITILSolution"),
                ("PUT", "/Ticket/1"),
            ]
            assert server.requests[2].json == {
                "input": {
                    "itemtype": "Ticket",
                    "items_id": 1,
                    "content": "Resolved by Upkeep at 2026-03-03 10:00 UTC.\n[upkeep:resolve-5]",
                }
            }
            assert server.requests[3].json == {"input": {"status": 5}}
            server.requests.clear()
            glpi.deliver(Action.RESOLVE, resolved, ref)  # solved already: nothing written
            assert calls(server) == [("GET", "/Ticket/1")]

            assert glpi.poll_closed([ref, TicketRef("glpi", "999"), TicketRef("other", "1")]) == [
                ref
            ]

            server.requests.clear()
            reopened = dataclasses.replace(resolved, version=6, state="open", resolved_at=None)
            glpi.deliver(Action.REOPEN, reopened, ref)
            assert calls(server) == [("GET", "/Ticket/1"), ("PUT", "/Ticket/1")]
            assert server.requests[-1].json == {"input": {"status": 1}}
            assert glpi.poll_closed([ref]) == []
            server.requests.clear()
        # close() kills the session
        assert calls(server) == [("GET", "/killSession")]
        assert server.requests[0].headers["session-token"] == "sess-1"
        assert not fake.sessions


def test_expired_session_is_reopened_once(make_subject: SubjectFactory) -> None:
    fake = FakeGlpi()
    subject = make_subject(key="UPK-acme-42")
    with FakeHttpServer(fake) as server, connector(server.url) as glpi:
        ref = glpi.deliver(Action.OPEN, subject, None)
        fake.sessions.clear()  # the session expired on GLPI's side
        server.requests.clear()
        assert glpi.deliver(Action.UPDATE, subject, ref) == ref
        assert calls(server) == [
            ("GET", "/Ticket/1"),
            ("GET", "/initSession"),
            ("GET", "/Ticket/1"),
        ]
        assert [r.headers.get("session-token") for r in server.requests] == [
            "sess-1",
            None,
            "sess-2",
        ]

        # a session refused again right after a new one: permanent, no loop
        original = fake.__call__
        fake.sessions.clear()
        server.handler = lambda r: (
            Reply(401, [SESSION_INVALID, "x"]) if "initSession" not in r.path else original(r)
        )
        server.requests.clear()
        with pytest.raises(ConnectorError) as refused:
            glpi.deliver(Action.UPDATE, subject, ref)
        assert refused.value.permanent and "HTTP 401" in refused.value.message
        assert calls(server) == [
            ("GET", "/Ticket/1"),
            ("GET", "/initSession"),
            ("GET", "/Ticket/1"),
        ]
        server.handler = fake


def test_client_entity_close_status_and_resolve_of_unknown_key(
    make_subject: SubjectFactory,
) -> None:
    fake = FakeGlpi()
    with FakeHttpServer(fake) as server, connector(server.url, resolve_status=6) as glpi:
        ref = glpi.deliver(Action.OPEN, make_subject(client="globex", key="UPK-globex-1"), None)
        assert server.requests[-1].json["input"]["entities_id"] == 3
        resolved = make_subject(
            client="globex",
            key="UPK-globex-1",
            state="resolved",
            resolved_at=datetime(2026, 3, 3, tzinfo=UTC),
        )
        glpi.deliver(Action.RESOLVE, resolved, ref)
        assert server.requests[-1].json == {"input": {"status": 6}}
        assert fake.tickets[1]["status"] == 6
        assert glpi.poll_closed([ref]) == [ref]

        # a ticket whose name merely mentions the key is not a match
        fake.tickets[9] = {"name": "see also UPK-acme-7", "status": 1, "priority": 3}
        server.requests.clear()
        unknown = make_subject(
            key="UPK-acme-7", state="resolved", resolved_at=datetime(2026, 3, 3, tzinfo=UTC)
        )
        assert glpi.deliver(Action.RESOLVE, unknown, None) is None
        assert calls(server) == [("GET", "/Ticket?searchText%5Bname%5D=UPK-acme-7&range=0-49")]
        assert len(fake.tickets) == 2


def test_error_mapping(make_subject: SubjectFactory) -> None:
    fake = FakeGlpi()
    with FakeHttpServer(fake) as server:
        with (
            connector(server.url, user_token="wrong") as glpi,
            pytest.raises(ConnectorError) as unauthorized,
        ):
            glpi.deliver(Action.OPEN, make_subject(), None)
        fake.fail_with = 503
        with connector(server.url) as glpi, pytest.raises(ConnectorError) as unavailable:
            glpi.deliver(Action.OPEN, make_subject(), None)
    assert unauthorized.value.permanent and "HTTP 401" in unauthorized.value.message
    assert "wrong" not in unauthorized.value.message and USER_TOKEN not in unavailable.value.message
    assert not unavailable.value.permanent and "HTTP 503" in unavailable.value.message
    assert not fake.tickets
