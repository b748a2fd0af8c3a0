"""The Slack paging channel against a local fake incoming webhook: the exact Block Kit body."""

from __future__ import annotations

import pytest
from servers.fake_http import FakeHttpServer, Reply

from collector.connectors.base import ConnectorError
from tests.collector.connectors.paging_kit import channel, make_page


def test_page_is_a_message_with_two_link_buttons_mentioning_the_person() -> None:
    with FakeHttpServer(lambda r: Reply(200, b"ok")) as server:
        hook = channel("slack", {"type": "slack", "url": server.url + "/services/T0/B0/XXXX"})
        assert hook.page(make_page(to="U024BE7LH")) is None
    [request] = server.requests
    assert (request.method, request.route) == ("POST", "/services/T0/B0/XXXX")
    text = "<@U024BE7LH> Critical incident UPK-acme-12 at acme\nCore switch down\n"
    assert request.json == {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Acknowledge"},
                        "url": "https://upkeep.example/oncall/page?token=ACK",
                        "style": "primary",
                    },
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Resolve"},
                        "url": "https://upkeep.example/oncall/page?token=RES",
                    },
                ],
            },
        ],
    }


@pytest.mark.parametrize(("status", "permanent"), [(404, True), (410, True), (500, False)])
def test_errors_never_show_the_webhook_url(status: int, permanent: bool) -> None:
    with (
        FakeHttpServer(lambda r: Reply(status, b"no_service")) as server,
        pytest.raises(ConnectorError) as caught,
    ):
        channel("slack", {"type": "slack", "url": server.url + "/services/T0/B0/SECRETPART"}).page(
            make_page()
        )
    assert caught.value.permanent is permanent
    assert "SECRETPART" not in caught.value.message and str(status) in caught.value.message
