"""The Jira connector against a local fake of Jira Cloud's REST v3 that asserts the exact requests."""

from __future__ import annotations

import base64
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
from collector.connectors.jira import JiraConnector, adf
from tests.servers.fake_http import FakeHttpServer, RecordedRequest, Reply

SubjectFactory = Callable[..., TicketSubject]
AUTH = "Basic " + base64.b64encode(b"bot@msp.example:jira-token-123").decode()
FIELDS = ["summary", "priority", "status", "labels", "project"]
TODO = {"name": "To Do", "statusCategory": {"key": "new"}}
DONE = {"name": "Done", "statusCategory": {"key": "done"}}


class FakeJira:
    """Just enough of Jira: issues with labels, comments, worklogs and two transitions."""

    def __init__(self) -> None:
        self.issues: dict[str, dict[str, Any]] = {}
        self.fail_with: int | None = None

    def __call__(self, request: RecordedRequest) -> Reply:
        if self.fail_with:
            return Reply(self.fail_with, {"errorMessages": ["unavailable"]})
        if request.headers.get("authorization") != AUTH:
            return Reply(401, {"errorMessages": ["Client must be authenticated"]})
        route, body = request.route, request.json
        if request.method == "POST" and route == "/rest/api/3/search/jql":
            return Reply(200, {"issues": self.search(body["jql"])})
        if request.method == "POST" and route == "/rest/api/3/issue":
            key = f"OPS-{len(self.issues) + 1}"
            self.issues[key] = {
                "id": str(10000 + len(self.issues)),
                "key": key,
                "fields": {**body["fields"], "status": TODO},
                "comments": [],
                "worklogs": [],
            }
            return Reply(
                201, {"id": self.issues[key]["id"], "key": key, "self": f"/rest/api/3/issue/{key}"}
            )
        match = re.fullmatch(r"/rest/api/3/issue/([A-Z]+-\d+)(?:/(\w+))?", route)
        if not match or match.group(1) not in self.issues:
            return Reply(404, {"errorMessages": ["Issue does not exist"]})
        issue, sub = self.issues[match.group(1)], match.group(2)
        if sub is None and request.method == "GET":
            return Reply(
                200,
                {
                    "id": issue["id"],
                    "key": issue["key"],
                    "fields": {f: issue["fields"].get(f) for f in FIELDS},
                },
            )
        if sub is None and request.method == "PUT":
            issue["fields"].update(body["fields"])
            return Reply(204)
        if sub in ("comment", "worklog"):
            items = issue["comments" if sub == "comment" else "worklogs"]
            if request.method == "POST":
                items.append(body)
                return Reply(201, {"id": str(len(items))})
            return Reply(200, {"comments" if sub == "comment" else "worklogs": items})
        if sub == "transitions" and request.method == "GET":
            return Reply(
                200,
                {
                    "transitions": [
                        {"id": "31", "name": "Done", "to": DONE},
                        {"id": "11", "name": "To Do", "to": TODO},
                    ]
                },
            )
        if sub == "transitions" and request.method == "POST":
            issue["fields"]["status"] = DONE if body["transition"]["id"] == "31" else TODO
            return Reply(204)
        return Reply(405)

    def search(self, jql: str) -> list[dict[str, Any]]:
        if m := re.fullmatch(r'labels = "([^"]+)" ORDER BY created ASC', jql):
            hits = [i for i in self.issues.values() if m.group(1) in i["fields"]["labels"]]
        elif m := re.fullmatch(r"key in \(([^)]*)\) AND statusCategory = Done", jql):
            keys = m.group(1).split(", ")
            hits = [
                i for k, i in self.issues.items() if k in keys and i["fields"]["status"] == DONE
            ]
        else:
            raise AssertionError(f"unexpected JQL {jql!r}")
        return [
            {"id": i["id"], "key": i["key"], "fields": {f: i["fields"].get(f) for f in FIELDS}}
            for i in hits
        ]


def connector(url: str, **overrides: object) -> JiraConnector:
    raw = {
        "type": "jira",
        "url": url,
        "email": "bot@msp.example",
        "api_token": "jira-token-123",
        "default_project": "OPS",
        "project_by_client": {"globex": "GLX"},
        "timeout": 5,
        **overrides,
    }
    return ConnectorsConfig.model_validate({"connectors": {"jira": raw}}).build()["jira"]


def calls(server: FakeHttpServer) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in server.requests]


def test_lifecycle_sends_exact_requests(make_subject: SubjectFactory) -> None:
    jira_api = FakeJira()
    subject = make_subject(key="UPK-acme-42")
    with FakeHttpServer(jira_api) as server, connector(server.url) as jira:
        ref = jira.deliver(Action.OPEN, subject, None)
        assert ref == TicketRef("jira", "OPS-1", f"{server.url}/browse/OPS-1")
        search, create = server.requests
        assert (search.method, search.path) == ("POST", "/rest/api/3/search/jql")
        assert search.json == {
            "jql": 'labels = "UPK-acme-42" ORDER BY created ASC',
            "fields": FIELDS,
            "maxResults": 50,
        }
        assert all(r.headers["authorization"] == AUTH for r in server.requests)
        assert (create.method, create.path) == ("POST", "/rest/api/3/issue")
        assert create.headers["content-type"] == "application/json"
        body = create.json
        description = body["fields"].pop("description")
        assert body == {
            "fields": {
                "project": {"key": "OPS"},
                "issuetype": {"name": "Task"},
                "summary": "[UPK-acme-42] Disk / on srv1 is 93% full",
                "labels": ["upkeep", "UPK-acme-42"],
                "priority": {"name": "High"},
            }
        }
        assert description["type"] == "doc" and description["content"][0] == {
            "type": "paragraph",
            "content": [{"type": "text", "text": "Disk usage 93% (threshold 90%)."}],
        }

        # a retry without the ref (the create's answer was lost) finds the issue by label
        server.requests.clear()
        assert jira.deliver(Action.OPEN, subject, None) == ref
        assert calls(server) == [("POST", "/rest/api/3/search/jql")]

        server.requests.clear()
        escalated = dataclasses.replace(subject, priority="critical", version=2)
        assert jira.deliver(Action.ESCALATE, escalated, ref) == ref
        assert calls(server) == [
            (
                "GET",
                "/rest/api/3/issue/OPS-1?fields=summary%2Cpriority%2Cstatus%2Clabels%2Cproject",
            ),
            ("PUT", "/rest/api/3/issue/OPS-1"),
        ]
        assert server.requests[1].json == {"fields": {"priority": {"name": "Highest"}}}

        server.requests.clear()
        commented = dataclasses.replace(
            escalated, version=3, comment=Comment("ev-3", "Ordered a new disk.", "carol")
        )
        jira.deliver(Action.COMMENT, commented, ref)
        jira.deliver(Action.COMMENT, commented, ref)  # mirrored once
        posts = [r for r in server.requests if r.method == "POST"]
        assert [(r.path, r.json) for r in posts] == [
            (
                "/rest/api/3/issue/OPS-1/comment",
                {"body": adf("carol: Ordered a new disk.\n[upkeep:ev-3]")},
            )
        ]

        server.requests.clear()
        timed = dataclasses.replace(
            commented,
            comment=None,
            time_entry=TimeEntry("ev-4", 30, "Swapped disk", spent_on=date(2026, 3, 3)),
        )
        jira.deliver(Action.TIME_ENTRY, timed, ref)
        jira.deliver(Action.TIME_ENTRY, timed, ref)
        posts = [r for r in server.requests if r.method == "POST"]
        assert [(r.path, r.json) for r in posts] == [
            (
                "/rest/api/3/issue/OPS-1/worklog",
                {
                    "timeSpentSeconds": 1800,
                    "started": "2026-03-03T09:00:00.000+0000",
                    "comment": adf("Swapped disk\n[upkeep:ev-4]"),
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
        assert jira.deliver(Action.RESOLVE, resolved, ref) == ref
        assert [(r.method, r.route) for r in server.requests] == [
            ("GET", "/rest/api/3/issue/OPS-1"),
            ("GET", "/rest/api/3/issue/OPS-1/comment"),
            ("POST", "/rest/api/3/issue/OPS-1/comment"),
            ("GET", "/rest/api/3/issue/OPS-1/transitions"),
            ("POST", "/rest/api/3/issue/OPS-1/transitions"),
        ]
        assert server.requests[2].json == {
            "body": adf("Resolved by Upkeep at 2026-03-03 10:00 UTC.\n[upkeep:resolve-5]")
        }
        assert server.requests[-1].json == {"transition": {"id": "31"}}
        server.requests.clear()
        jira.deliver(Action.RESOLVE, resolved, ref)  # already done: nothing written
        assert calls(server) == [
            ("GET", "/rest/api/3/issue/OPS-1?fields=summary%2Cpriority%2Cstatus%2Clabels%2Cproject")
        ]

        assert jira.poll_closed([ref, TicketRef("jira", "OPS-999")]) == [ref]
        assert (
            server.requests[-1].json["jql"] == "key in (OPS-1, OPS-999) AND statusCategory = Done"
        )

        reopened = dataclasses.replace(resolved, version=6, state="open", resolved_at=None)
        jira.deliver(Action.REOPEN, reopened, ref)
        assert server.requests[-1].json == {"transition": {"id": "11"}}
        assert jira.poll_closed([ref]) == []


def test_client_project_and_resolve_of_unknown_key(make_subject: SubjectFactory) -> None:
    jira_api = FakeJira()
    with FakeHttpServer(jira_api) as server, connector(server.url) as jira:
        jira.deliver(Action.OPEN, make_subject(client="globex", key="UPK-globex-1"), None)
        assert server.requests[-1].json["fields"]["project"] == {"key": "GLX"}
        resolved = make_subject(state="resolved", resolved_at=datetime(2026, 3, 3, tzinfo=UTC))
        server.requests.clear()
        assert jira.deliver(Action.RESOLVE, resolved, None) is None
        assert calls(server) == [("POST", "/rest/api/3/search/jql")]


def test_error_mapping(make_subject: SubjectFactory) -> None:
    jira_api = FakeJira()
    with FakeHttpServer(jira_api) as server:
        with (
            connector(server.url, api_token="wrong") as jira,
            pytest.raises(ConnectorError) as unauthorized,
        ):
            jira.deliver(Action.OPEN, make_subject(), None)
        jira_api.fail_with = 503
        with connector(server.url) as jira, pytest.raises(ConnectorError) as unavailable:
            jira.deliver(Action.OPEN, make_subject(), None)
    assert unauthorized.value.permanent and "HTTP 401" in unauthorized.value.message
    assert (
        "wrong" not in unauthorized.value.message
        and "jira-token-123" not in unavailable.value.message
    )
    assert not unavailable.value.permanent and "HTTP 503" in unavailable.value.message
