"""The Mattermost paging channel against a local fake incoming webhook: the exact body."""

from __future__ import annotations

from servers.fake_http import FakeHttpServer, Reply

from tests.collector.connectors.paging_kit import channel, make_page


def test_page_is_markdown_with_both_links_and_a_mention() -> None:
    with FakeHttpServer(lambda r: Reply(200, b"ok")) as server:
        hook = channel(
            "mm", {"type": "mattermost", "url": server.url + "/hooks/abc123", "username": "Upkeep"}
        )
        hook.page(make_page(to="anna.berg"))
    [request] = server.requests
    assert (request.method, request.route) == ("POST", "/hooks/abc123")
    assert request.json == {
        "text": (
            "@anna.berg Critical incident UPK-acme-12 at acme\nCore switch down\n\n\n"
            "[Acknowledge](https://upkeep.example/oncall/page?token=ACK) · "
            "[Resolve](https://upkeep.example/oncall/page?token=RES)"
        ),
        "username": "Upkeep",
    }
