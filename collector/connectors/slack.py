"""Slack incoming webhook: the page as a message with Acknowledge / Resolve link buttons.

Body: ``{"text": <fallback>, "blocks": [section with the text, actions with two url buttons]}``
(Block Kit). The webhook URL is a secret (it is the credential). A person is mentioned with
their contact's ``to`` (a Slack member id, ``<@U…>``) when given.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import SecretStr

from collector.connectors.base import ConnectorConfig, TicketRef, secret
from collector.connectors.http import JsonApi
from collector.connectors.paging import Page, PagingConnector


class SlackConfig(ConnectorConfig):
    SECRETS: ClassVar[tuple[str, ...]] = ("url",)
    REQUIRED_SECRETS: ClassVar[tuple[str, ...]] = ("url",)

    type: Literal["slack"] = "slack"
    url: SecretStr | None = None
    url_file: str | None = None
    url_env: str | None = None


def _mention(page: Page) -> str:
    return f"<@{page.to}> " if page.to else ""


def slack_body(page: Page) -> dict[str, Any]:
    text = f"{_mention(page)}{page.text}"
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": page.ack_label},
                        "url": page.ack_url,
                        "style": "primary",
                    },
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": page.resolve_label},
                        "url": page.resolve_url,
                    },
                ],
            },
        ],
    }


class WebhookPoster(PagingConnector):
    """A channel that POSTs one JSON body to a secret webhook URL."""

    config: Any

    def __init__(self, name: str, config: ConnectorConfig) -> None:
        super().__init__(name, config)
        self._api: JsonApi | None = None

    def body(self, page: Page) -> dict[str, Any]:
        raise NotImplementedError

    def send(self, page: Page) -> TicketRef | None:
        if self._api is None:
            self._api = JsonApi(self.name, "http://unused.invalid", timeout=self.config.timeout)
        # The URL is the credential: errors must not print it (JsonApi names the path).
        from collector.connectors.base import ConnectorError

        try:
            self._api.send("POST", secret(self.config.url), json=self.body(page))
        except ConnectorError as exc:
            status = exc.message.split(": HTTP ", 1)[1] if ": HTTP " in exc.message else "failed"
            raise ConnectorError(
                f"{self.name}: POST webhook: {status}", permanent=exc.permanent
            ) from None
        return None

    def close(self) -> None:
        if self._api is not None:
            self._api.close()


class SlackConnector(WebhookPoster):
    config_model: ClassVar[type[ConnectorConfig]] = SlackConfig

    def body(self, page: Page) -> dict[str, Any]:
        return slack_body(page)
