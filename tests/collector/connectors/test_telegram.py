"""The Telegram paging channel against a local fake Bot API (Telegram cannot run here): the
exact sendMessage with the inline keyboard, answerCallbackQuery, and the error mapping (the
bot token never appears in an error)."""

from __future__ import annotations

import pytest
from servers.fake_http import FakeHttpServer, RecordedRequest, Reply

from collector.connectors.base import ConnectorError
from tests.collector.connectors.paging_kit import channel, make_page

TOKEN = "123456:SECRET-bot-token"


def bot(server: FakeHttpServer):
    return channel(
        "tg",
        {"type": "telegram", "api_url": server.url, "bot_token": TOKEN, "webhook_secret": "hook"},
    )


def test_send_message_with_acknowledge_and_resolve_buttons() -> None:
    def api(request: RecordedRequest) -> Reply:
        return Reply(200, {"ok": True, "result": {"message_id": 55, "chat": {"id": 100001}}})

    with FakeHttpServer(api) as server:
        ref = bot(server).page(make_page())
    [request] = server.requests
    assert (request.method, request.route) == ("POST", f"/bot{TOKEN}/sendMessage")
    assert request.headers["content-type"] == "application/json"
    assert request.json == {
        "chat_id": "100001",
        "text": "Critical incident UPK-acme-12 at acme\nCore switch down\n",
        "disable_web_page_preview": True,
        "reply_markup": {
            "inline_keyboard": [
                [
                    {"text": "Acknowledge", "callback_data": "ack:7"},
                    {"text": "Resolve", "callback_data": "res:7"},
                ]
            ]
        },
    }
    assert ref is not None and ref.external_id == "100001:55"


def test_answer_callback_query() -> None:
    with FakeHttpServer(lambda r: Reply(200, {"ok": True, "result": True})) as server:
        bot(server).answer_callback("cbq-1", "Acknowledged.")  # type: ignore[attr-defined]
    [request] = server.requests
    assert request.route == f"/bot{TOKEN}/answerCallbackQuery"
    assert request.json == {"callback_query_id": "cbq-1", "text": "Acknowledged."}


@pytest.mark.parametrize(
    ("status", "permanent"),
    [(400, True), (403, True), (429, False), (502, False)],
)
def test_errors_say_whether_a_retry_helps_and_hide_the_token(status: int, permanent: bool) -> None:
    body = {
        "ok": False,
        "error_code": status,
        "description": "Forbidden: bot was blocked by the user",
    }
    with (
        FakeHttpServer(lambda r: Reply(status, body)) as server,
        pytest.raises(ConnectorError) as caught,
    ):
        bot(server).page(make_page())
    assert caught.value.permanent is permanent
    assert TOKEN not in caught.value.message and "SECRET" not in caught.value.message
    assert "sendMessage" in caught.value.message


def test_a_person_without_chat_id_is_a_permanent_error() -> None:
    with (
        FakeHttpServer(lambda r: Reply(200, {"ok": True})) as server,
        pytest.raises(ConnectorError) as caught,
    ):
        bot(server).page(make_page(to=""))
    assert caught.value.permanent and server.requests == []


def test_the_bot_token_is_required() -> None:
    with pytest.raises(ValueError, match="bot_token is required"):
        channel("tg", {"type": "telegram"})
