"""The client's "not solved" comment reaches the ticket system: a reopen with a comment is
delivered through the outbox as the reopen and then a comment with a stable id, here to a
webhook receiver (a local HTTP server) whose exact requests are asserted."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from collector.closing.service import ClosingService
from collector.connectors import ConnectorsConfig
from collector.incidents.outbox import OutboxWorkers
from collector.incidents.runtime import attach_contract_listeners
from collector.incidents.service import IncidentService
from collector.settings import Settings
from tests.collector.closing import closingkit as kit
from tests.collector.ledger.ledgerkit import Clock, ts
from tests.servers.fake_http import FakeHttpServer, RecordedRequest, Reply

SECRET = "hook-secret"


@pytest.fixture
def clock(monkeypatch) -> Clock:
    from collector import timeutil

    c = Clock(ts("2026-10-05 08:00"))
    monkeypatch.setattr(timeutil, "now", c)
    return c


def _receiver(request: RecordedRequest) -> Reply:
    expected = "sha256=" + hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    if request.headers.get("x-upkeep-signature") != expected:
        return Reply(401, {"error": "bad signature"})
    return Reply(200, {"id": "T-1", "url": "https://desk.example/T/1"})


def _deliver_all(workers: OutboxWorkers) -> None:
    for _ in range(50):
        if not workers.run_once():
            return
    raise AssertionError("the outbox did not drain")


@pytest.mark.parametrize(("comment", "mirrored"), [("It jams again.\n", True), ("  ", False)])
def test_not_solved_comment_is_posted_to_the_ticket_after_the_reopen(
    store, tmp_path, clock, comment, mirrored
) -> None:
    settings = Settings.for_data_dir(tmp_path / "data", closing_delay=0.0)
    kit.give(store, "acme")
    with FakeHttpServer(_receiver) as server:
        config = ConnectorsConfig.model_validate(
            {
                "connectors": {
                    "desk": {"type": "webhook", "url": server.url + "/hook", "secret": SECRET}
                }
            }
        )
        service = IncidentService(store, config)
        attach_contract_listeners(service, settings)
        closing = ClosingService(store, settings, service)
        workers = OutboxWorkers(store, settings, config.build())
        key = service.report(client="acme", title="Printer jams", actor="jane")
        clock.set("2026-10-05 09:30")
        service.act(key, "resolve", "tech", note="Cleared the jam.")
        closing.run_once(now=clock.tick(60))
        _deliver_all(workers)
        before = len(server.requests)
        tokens = kit.links_in(kit.queued(store)[0].body_text)
        closing.answer_by_link(
            tokens["reopen"], "reopen", rating=2, comment=comment, now=clock.tick(60)
        )
        _deliver_all(workers)
    sent = server.requests[before:]
    assert [r.headers["x-upkeep-event"] for r in server.requests[:before]] == ["open", "resolve"]
    if not mirrored:  # nothing said: the reopen alone
        assert [r.headers["x-upkeep-event"] for r in sent] == ["reopen"]
        return
    reopen, note = sent
    assert (reopen.method, reopen.path, reopen.headers["x-upkeep-event"]) == (
        "POST",
        "/hook",
        "reopen",
    )
    assert (note.method, note.path, note.headers["x-upkeep-event"]) == ("POST", "/hook", "comment")
    # The reopen made version 4 (open 1, resolved 2, closing_sent 3, reopened 4): "a4".
    assert note.headers["idempotency-key"] == f"{key}:comment:{key}-a4"
    body = note.json
    assert (body["action"], body["key"], body["incident"]["state"]) == ("comment", key, "open")
    assert body["incident"]["comment"] == {
        "id": f"{key}-a4",
        "body": "The client says it is not solved, via the closing link (rating 2/5):\n\n"
        "It jams again.",
        "author": "client",
        "created_at": "2026-10-05T09:32:00+00:00",
    }
