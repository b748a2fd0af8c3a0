"""The overall deadline of a delivery attempt, against servers that answer one byte at a time,
and worker isolation: a connector stuck on such a server never starves a healthy one."""

from __future__ import annotations

import time
from email.message import EmailMessage

import pytest
import sqlalchemy as sa

from collector import admin
from collector.connectors import Action, ConnectorError, ConnectorsConfig
from collector.connectors.email import EmailConfig, EmailConnector
from collector.connectors.webhook import WebhookConfig, WebhookConnector
from collector.incidents.outbox import OutboxWorkers
from collector.incidents.pipeline import AlertSignal
from collector.incidents.service import IncidentService
from collector.schema import outbox
from collector.settings import Settings
from tests.servers.fake_http import FakeHttpServer, RecordedRequest, Reply
from tests.servers.slow_http import SlowServer

DEADLINE = 3.0


@pytest.mark.parametrize("mode", ["body", "head"])
def test_a_trickling_http_answer_is_cut_at_the_deadline(mode, make_subject) -> None:
    """200, then one byte every 2 s (in the body, or in the head itself): the per-read timeout
    (10 s) never fires, the attempt's deadline does, and it is a transient failure."""
    with SlowServer(mode, interval=2.0) as server:
        config = WebhookConfig(url=server.url, secret="s", timeout=10, deadline=DEADLINE)
        with WebhookConnector("slow", config) as connector:
            started = time.monotonic()
            with pytest.raises(ConnectorError) as caught:
                connector.attempt(Action.OPEN, make_subject(), None)
            took = time.monotonic() - started
    assert caught.value.permanent is False
    assert "deadline" in caught.value.message
    assert DEADLINE - 0.1 <= took < DEADLINE + 2.0
    assert server.requests == ["POST /hook HTTP/1.1"]


def test_a_trickling_smtp_server_is_cut_at_the_deadline() -> None:
    with SlowServer("smtp", interval=2.0) as server:
        config = EmailConfig(
            host="127.0.0.1",
            port=server.port,
            security="none",
            from_address="upkeep@example.net",
            to=["desk@example.net"],
            timeout=10,
            deadline=DEADLINE,
        )
        msg = EmailMessage()
        msg["Subject"] = "hello"
        msg.set_content("body")
        started = time.monotonic()
        with pytest.raises(ConnectorError) as caught:
            EmailConnector("mail", config).send(msg)
        took = time.monotonic() - started
    assert caught.value.permanent is False and "deadline" in caught.value.message
    assert took < DEADLINE + 2.0


def test_deadline_is_a_connector_option_with_a_default() -> None:
    assert WebhookConfig(url="http://x/", secret="s").deadline == 30.0
    assert WebhookConfig(url="http://x/", secret="s", deadline="2m").deadline == 120.0
    with pytest.raises(ValueError, match="deadline"):
        WebhookConfig(url="http://x/", secret="s", deadline=0)


def test_a_slow_connector_never_starves_a_healthy_one(store, tmp_path) -> None:
    """Connector A's endpoint answers one byte every 2 s; webhook B is healthy. B gets all six
    deliveries at once while A is stuck; A's attempts are cut at their deadline and wait for
    a retry."""
    client_id = admin.create_client(store, "acme").id
    delivered: list[str] = []

    def sink(request: RecordedRequest) -> Reply:
        delivered.append(request.json["key"])
        return Reply(200, {"id": request.json["key"]})

    with SlowServer("body", interval=2.0) as slow, FakeHttpServer(sink) as healthy:
        config = ConnectorsConfig(
            connectors={
                "a-slow": WebhookConfig(url=slow.url, secret="s", deadline=DEADLINE),
                "b-healthy": WebhookConfig(url=healthy.url + "/hook", secret="s"),
            }
        )
        service = IncidentService(store, config, reopen_window=3600.0, stages=[])
        for n in range(6):
            with store.write() as conn:
                service.apply_signal(
                    conn,
                    AlertSignal(
                        fingerprint=f"fp{n}",
                        name="disk_full",
                        client_id=client_id,
                        client="acme",
                        status="firing",
                        ts=time.time(),
                        severity="warning",
                        priority="minor",
                        summary=f"disk {n}",
                        value=91.0,
                        asset=f"srv{n}",
                    ),
                    time.time(),
                )
        settings = Settings.for_data_dir(
            tmp_path, outbox_workers=2, outbox_retry_base=60, outbox_retry_max=60
        )
        workers = OutboxWorkers(store, settings, config.build())
        started = time.monotonic()
        workers.start()
        try:
            deadline = started + 20
            while len(delivered) < 6 and time.monotonic() < deadline:
                time.sleep(0.05)
            b_took = time.monotonic() - started
            assert sorted(delivered) == sorted(f"UPK-acme-{n}" for n in range(1, 7))
            # Promptly (loaded CI machines are slow; on one shared pool B got 1 of 6 in 20 s).
            assert b_took < 10
            while time.monotonic() < started + DEADLINE + 5:
                with store.read() as conn:
                    cut = conn.execute(
                        sa.select(outbox.c.last_error).where(
                            outbox.c.connector == "a-slow", outbox.c.last_error.is_not(None)
                        )
                    ).all()
                if len(cut) >= 2:
                    break
                time.sleep(0.1)
            # Both of A's threads had an attempt cut at the deadline; those rows wait for a
            # retry (and the threads went on to A's next rows). Nothing of A was delivered.
            assert len(cut) >= 2 and all("deadline" in e for (e,) in cut)
            with store.read() as conn:
                states = conn.execute(
                    sa.select(outbox.c.state).where(outbox.c.connector == "a-slow")
                ).all()
            assert len(states) == 6 and {s for (s,) in states} <= {"pending", "in_flight"}
        finally:
            workers.stop()
