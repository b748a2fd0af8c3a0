"""The SMS gateway channel against a local fake gateway: the admin's request template filled
in (JSON body, form body, GET with the query), the secret in a header, errors without the URL."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
from servers.fake_http import FakeHttpServer, Reply

from collector.connectors.base import ConnectorError
from tests.collector.connectors.paging_kit import channel, make_page

SMS = "[Critical] UPK-acme-12 Core switch down Acknowledge: https://upkeep.example/oncall/page?token=ACK"


def test_json_template_with_the_secret_in_a_header() -> None:
    with FakeHttpServer(lambda r: Reply(200, {"id": "m1"})) as server:
        gateway = channel(
            "sms",
            {
                "type": "sms",
                "url": server.url + "/api/send",
                "body": {"to": "{to}", "message": "{text}", "reference": "{id}", "flash": False},
                "headers": {"Authorization": "Bearer {secret}"},
                "secret": "gw-key",
            },
        )
        gateway.page(make_page(to="+4915100000001"))
    [request] = server.requests
    assert (request.method, request.route) == ("POST", "/api/send")
    assert request.headers["authorization"] == "Bearer gw-key"
    assert request.json == {
        "to": "+4915100000001",
        "message": SMS,
        "reference": "UPK-acme-12-p7",
        "flash": False,
    }


def test_form_template() -> None:
    with FakeHttpServer(lambda r: Reply(200, b"OK")) as server:
        channel("sms", {"type": "sms", "url": server.url + "/send", "format": "form"}).page(
            make_page(to="+49151")
        )
    [request] = server.requests
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.body.decode()) == {"to": ["+49151"], "text": [SMS]}


def test_get_template_fills_the_query() -> None:
    with FakeHttpServer(lambda r: Reply(200, b"OK")) as server:
        channel(
            "sms", {"type": "sms", "method": "GET", "url": server.url + "/send?to={to}&msg={text}"}
        ).page(make_page(to="+49151"))
    [request] = server.requests
    assert request.method == "GET" and request.query == {"to": ["+49151"], "msg": [SMS]}


@pytest.mark.parametrize(("status", "permanent"), [(401, True), (503, False)])
def test_gateway_errors(status: int, permanent: bool) -> None:
    with (
        FakeHttpServer(lambda r: Reply(status, b"nope")) as server,
        pytest.raises(ConnectorError) as caught,
    ):
        channel("sms", {"type": "sms", "url": server.url + "/send?key=SECRETKEY"}).page(make_page())
    assert caught.value.permanent is permanent and "SECRETKEY" not in caught.value.message
