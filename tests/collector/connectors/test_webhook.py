"""The webhook connector against a real local HTTP receiver that checks the HMAC and dedupes."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from collector.connectors import (
    Action,
    Comment,
    ConnectorError,
    ConnectorsConfig,
    TicketRef,
    TicketSubject,
)
from collector.connectors.webhook import WebhookConnector
from tests.servers.collector import free_port
from tests.servers.fake_http import FakeHttpServer, RecordedRequest, Reply

SECRET = "s3cret-webhook-key"
SubjectFactory = Callable[..., TicketSubject]


def connector(url: str, **overrides: object) -> WebhookConnector:
    raw = {"type": "webhook", "url": url, "secret": SECRET, "timeout": 2, **overrides}
    return ConnectorsConfig.model_validate({"connectors": {"hook": raw}}).build()["hook"]


class Receiver:
    """A webhook receiver: refuses the first ``failures`` requests with 503, checks the
    signature, and applies each idempotency key once."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.effects: list[tuple[str, str]] = []
        self.seen: set[str] = set()

    def __call__(self, request: RecordedRequest) -> Reply:
        if self.failures > 0:
            self.failures -= 1
            return Reply(503, {"error": "busy"})
        expected = "sha256=" + hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.headers.get("x-upkeep-signature", ""), expected):
            return Reply(401, {"error": "bad signature"})
        key = request.headers["idempotency-key"]
        if key not in self.seen:
            self.seen.add(key)
            self.effects.append((request.json["action"], request.json["key"]))
        return Reply(
            200,
            {
                "id": f"T-{request.json['key']}",
                "url": f"https://desk.example/T/{request.json['key']}",
            },
        )


def test_retry_after_failures_has_exactly_one_effect(make_subject: SubjectFactory) -> None:
    subject = make_subject()
    receiver = Receiver(failures=2)
    with FakeHttpServer(receiver) as server, connector(server.url + "/hooks/upkeep") as hook:
        for _ in range(2):
            with pytest.raises(ConnectorError) as excinfo:
                hook.deliver(Action.OPEN, subject, None)
            assert not excinfo.value.permanent and "HTTP 503" in excinfo.value.message
        ref = hook.deliver(Action.OPEN, subject, None)
        assert ref == TicketRef("hook", f"T-{subject.key}", f"https://desk.example/T/{subject.key}")
        assert hook.deliver(Action.OPEN, subject, None) == ref  # the answer was lost: sent again
        resolved = dataclasses.replace(
            subject, version=2, state="resolved", resolved_at=subject.opened_at.replace(hour=11)
        )
        hook.deliver(Action.RESOLVE, resolved, ref)
    assert receiver.effects == [("open", subject.key), ("resolve", subject.key)]

    first_ok = server.requests[2]
    assert first_ok.method == "POST" and first_ok.path == "/hooks/upkeep"
    assert first_ok.headers["content-type"] == "application/json"
    assert first_ok.headers["idempotency-key"] == f"{subject.key}:open:1"
    assert first_ok.headers["x-upkeep-event"] == "open"
    body = first_ok.json
    assert int(first_ok.headers["x-upkeep-timestamp"]) == int(
        datetime.fromisoformat(body["sent_at"]).timestamp()
    )
    assert abs(int(first_ok.headers["x-upkeep-timestamp"]) - time.time()) < 60
    assert {k: body[k] for k in ("schema", "action", "key", "idempotency_key")} == {
        "schema": 1,
        "action": "open",
        "key": subject.key,
        "idempotency_key": f"{subject.key}:open:1",
    }
    assert body["incident"] == {
        "key": subject.key,
        "client": "acme",
        "site": "office-a",
        "asset": "srv1",
        "rule": "disk_full",
        "title": "Disk / on srv1 is 93% full",
        "description": "Disk usage 93% (threshold 90%).",
        "priority": "major",
        "severity": None,
        "state": "open",
        "origin": "proactive",
        "opened_at": "2026-03-02T09:15:00+00:00",
        "resolved_at": None,
        "labels": {"mount": "/"},
        "resolution_note": None,
        "version": 1,
        "url": None,
        "comment": None,
        "time_entry": None,
    }
    assert server.requests[-1].headers["idempotency-key"] == f"{subject.key}:resolve:2"
    assert server.requests[-1].json["incident"]["resolved_at"] == "2026-03-02T11:15:00+00:00"


def test_a_wrong_secret_is_refused_permanently(make_subject: SubjectFactory) -> None:
    receiver = Receiver()
    with (
        FakeHttpServer(receiver) as server,
        connector(server.url, secret="wrong-secret") as hook,
        pytest.raises(ConnectorError) as excinfo,
    ):
        hook.deliver(Action.OPEN, make_subject(), None)
    assert excinfo.value.permanent and "HTTP 401" in excinfo.value.message
    assert "wrong-secret" not in repr(excinfo.value) and receiver.effects == []


def test_unreachable_and_slow_receivers_are_retryable(make_subject: SubjectFactory) -> None:
    with (
        connector(f"http://127.0.0.1:{free_port()}/hook") as hook,
        pytest.raises(ConnectorError) as refused,
    ):
        hook.deliver(Action.OPEN, make_subject(), None)
    assert not refused.value.permanent

    def slow(request: RecordedRequest) -> Reply:
        time.sleep(1.5)
        return Reply(200)

    with (
        FakeHttpServer(slow) as server,
        connector(server.url, timeout=0.5) as hook,
        pytest.raises(ConnectorError) as timed_out,
    ):
        hook.deliver(Action.OPEN, make_subject(), None)
    assert not timed_out.value.permanent and "timed out" in timed_out.value.message


def test_secret_from_file_actions_filter_and_plain_answers(
    tmp_path: Path, make_subject: SubjectFactory
) -> None:
    secret_file = tmp_path / "hook.secret"
    secret_file.write_text(SECRET + "\n")
    subject = make_subject(comment=Comment("ev-9", "noted"))
    with (
        FakeHttpServer(lambda request: Reply(204)) as server,
        connector(
            server.url, secret=None, secret_file=str(secret_file), actions=["open", "resolve"]
        ) as hook,
    ):
        assert SECRET not in repr(hook.config) and SECRET not in str(hook.config.model_dump())
        assert hook.deliver(Action.OPEN, subject, None) == TicketRef("hook", subject.key)
        assert hook.deliver(Action.COMMENT, subject, None) == TicketRef("hook", subject.key)
    assert [r.json["action"] for r in server.requests] == ["open"]
    expected = (
        "sha256=" + hmac.new(SECRET.encode(), server.requests[0].body, hashlib.sha256).hexdigest()
    )
    assert server.requests[0].headers["x-upkeep-signature"] == expected


def test_config_errors_name_the_key_not_the_secret(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"connectors\.hook: .*secret is required"):
        ConnectorsConfig.model_validate(
            {"connectors": {"hook": {"type": "webhook", "url": "http://x"}}}
        )
    with pytest.raises(ValueError, match=r"connectors\.hook.*secret_file: cannot read"):
        ConnectorsConfig.model_validate(
            {
                "connectors": {
                    "hook": {
                        "type": "webhook",
                        "url": "http://x",
                        "secret_file": str(tmp_path / "missing"),
                    }
                }
            }
        )
    with pytest.raises(
        ValueError, match=r"connectors\.hook\.bogus: Extra inputs are not permitted"
    ) as excinfo:
        ConnectorsConfig.model_validate(
            {
                "connectors": {
                    "hook": {
                        "type": "webhook",
                        "url": "http://x",
                        "secret": "topsecret",
                        "bogus": 1,
                    }
                }
            }
        )
    assert "topsecret" not in str(excinfo.value)
    with pytest.raises(ValueError, match=r"connectors\.x\.type: must be one of"):
        ConnectorsConfig.model_validate({"connectors": {"x": {"type": "fax"}}})
    with pytest.raises(ValueError, match=r"clients\.acme: unknown connector nope"):
        ConnectorsConfig.model_validate({"connectors": {}, "clients": {"acme": ["nope"]}})


def test_selection_per_client() -> None:
    hook = {"type": "webhook", "url": "http://x", "secret": "k"}
    config = ConnectorsConfig.model_validate(
        {
            "connectors": {"a": hook, "b": hook, "c": hook},
            "default": ["a"],
            "clients": {"globex": ["b", "c"], "initech": []},
        }
    )
    assert config.for_client("acme") == ["a"]
    assert config.for_client("globex") == ["b", "c"]
    assert config.for_client("initech") == []
    everything = ConnectorsConfig.model_validate({"connectors": {"a": hook, "b": hook}})
    assert everything.for_client("acme") == ["a", "b"]
