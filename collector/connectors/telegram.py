"""Telegram bot: ``sendMessage`` to the person's chat with inline Acknowledge / Resolve buttons.

The buttons carry ``callback_data`` ``ack:<page number>`` / ``res:<page number>`` (at most 64
bytes, so not the signed link itself; the webhook checks that the press comes from the chat
the page went to); Telegram posts the press to the collector's webhook
(``POST /api/v1/oncall/telegram/<channel>``, registered with ``setWebhook`` and a
``secret_token`` that Telegram sends back in ``X-Telegram-Bot-Api-Secret-Token``). The
collector checks the header, acts, and answers with ``answerCallbackQuery``. The message also
holds the signed links, for a phone without the buttons.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr

from collector.connectors.base import ConnectorConfig, ConnectorError, TicketRef, secret
from collector.connectors.http import JsonApi
from collector.connectors.paging import Page, PagingConnector


class TelegramConfig(ConnectorConfig):
    SECRETS: ClassVar[tuple[str, ...]] = ("bot_token", "webhook_secret")
    REQUIRED_SECRETS: ClassVar[tuple[str, ...]] = ("bot_token",)

    type: Literal["telegram"] = "telegram"
    #: The Bot API's address (a test points it at a local server).
    api_url: str = Field(default="https://api.telegram.org", pattern=r"^https?://")
    bot_token: SecretStr | None = None
    bot_token_file: str | None = None
    bot_token_env: str | None = None
    #: The ``secret_token`` given to ``setWebhook``; button presses need it to be answered.
    webhook_secret: SecretStr | None = None
    webhook_secret_file: str | None = None
    webhook_secret_env: str | None = None


def callback_data(action: str, number: int) -> str:
    """``ack:<page number>`` / ``res:<page number>`` (Telegram allows 64 bytes)."""
    return f"{action}:{number}"


class TelegramConnector(PagingConnector):
    config_model: ClassVar[type[ConnectorConfig]] = TelegramConfig
    config: TelegramConfig
    two_way: ClassVar[bool] = True

    def __init__(self, name: str, config: ConnectorConfig) -> None:
        super().__init__(name, config)
        self._api: JsonApi | None = None

    @property
    def api(self) -> JsonApi:
        if self._api is None:
            token = secret(self.config.bot_token)
            # The token is part of the path: errors name only the method (never the URL).
            self._api = JsonApi(
                f"telegram {self.name}",
                f"{self.config.api_url.rstrip('/')}/bot{token}",
                timeout=self.config.timeout,
            )
        return self._api

    def _call(self, method: str, body: dict[str, Any]) -> Any:
        try:
            answer = self.api.post(method, json=body)
        except ConnectorError as exc:
            # JsonApi names the path, which holds the bot token: say only the method.
            status = exc.message.split(": HTTP ", 1)[-1] if ": HTTP " in exc.message else "failed"
            raise ConnectorError(
                f"telegram {self.name}: {method}: {status.replace(secret(self.config.bot_token), '***')}",
                permanent=exc.permanent,
            ) from None
        if not isinstance(answer, dict) or not answer.get("ok"):
            raise ConnectorError(f"telegram {self.name}: {method}: not ok", permanent=False)
        return answer.get("result")

    def send(self, page: Page) -> TicketRef | None:
        if not page.to:
            raise ConnectorError(
                f"telegram {self.name}: {page.person} has no chat id", permanent=True
            )
        result = self._call(
            "sendMessage",
            {
                "chat_id": page.to,
                "text": page.text,
                "disable_web_page_preview": True,
                "reply_markup": {
                    "inline_keyboard": [
                        [
                            {
                                "text": page.ack_label,
                                "callback_data": callback_data("ack", page.number),
                            },
                            {
                                "text": page.resolve_label,
                                "callback_data": callback_data("res", page.number),
                            },
                        ]
                    ]
                },
            },
        )
        message_id = str((result or {}).get("message_id", ""))
        return TicketRef(self.name, f"{page.to}:{message_id}")

    def answer_callback(self, callback_query_id: str, text: str) -> None:
        """Tell Telegram the button press was handled (the person sees ``text``)."""
        self._call("answerCallbackQuery", {"callback_query_id": callback_query_id, "text": text})

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
