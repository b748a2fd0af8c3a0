"""The Microsoft Teams paging channel against a local fake webhook/workflow: the exact
Adaptive Card envelope."""

from __future__ import annotations

from servers.fake_http import FakeHttpServer, Reply

from tests.collector.connectors.paging_kit import channel, make_page


def test_page_is_an_adaptive_card_with_two_open_url_actions() -> None:
    with FakeHttpServer(lambda r: Reply(202, b"")) as server:
        channel("teams", {"type": "teams", "url": server.url + "/workflows/run?sig=abc"}).page(
            make_page()
        )
    [request] = server.requests
    assert (request.method, request.path) == ("POST", "/workflows/run?sig=abc")
    assert request.json == {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {
                            "type": "TextBlock",
                            "text": "[Critical] UPK-acme-12 Core switch down",
                            "weight": "Bolder",
                            "wrap": True,
                        },
                        {
                            "type": "TextBlock",
                            "text": "Critical incident UPK-acme-12 at acme\nCore switch down\n",
                            "wrap": True,
                        },
                    ],
                    "actions": [
                        {
                            "type": "Action.OpenUrl",
                            "title": "Acknowledge",
                            "url": "https://upkeep.example/oncall/page?token=ACK",
                        },
                        {
                            "type": "Action.OpenUrl",
                            "title": "Resolve",
                            "url": "https://upkeep.example/oncall/page?token=RES",
                        },
                    ],
                },
            }
        ],
    }
