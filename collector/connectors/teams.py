"""Microsoft Teams: an incoming webhook or a Workflows ("Post to a channel when a webhook
request is received") URL, both taking an Adaptive Card in a ``message`` envelope::

    {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
      "content": {"type": "AdaptiveCard", "version": "1.4", "body": [...],
                  "actions": [{"type": "Action.OpenUrl", "title": "Acknowledge", "url": ...}, ...]}}]}
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import SecretStr

from collector.connectors.base import ConnectorConfig
from collector.connectors.paging import Page
from collector.connectors.slack import WebhookPoster


class TeamsConfig(ConnectorConfig):
    SECRETS: ClassVar[tuple[str, ...]] = ("url",)
    REQUIRED_SECRETS: ClassVar[tuple[str, ...]] = ("url",)

    type: Literal["teams"] = "teams"
    url: SecretStr | None = None
    url_file: str | None = None
    url_env: str | None = None


def teams_body(page: Page) -> dict[str, Any]:
    return {
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
                            "text": page.subject,
                            "weight": "Bolder",
                            "wrap": True,
                        },
                        {"type": "TextBlock", "text": page.text, "wrap": True},
                    ],
                    "actions": [
                        {"type": "Action.OpenUrl", "title": page.ack_label, "url": page.ack_url},
                        {
                            "type": "Action.OpenUrl",
                            "title": page.resolve_label,
                            "url": page.resolve_url,
                        },
                    ],
                },
            }
        ],
    }


class TeamsConnector(WebhookPoster):
    config_model: ClassVar[type[ConnectorConfig]] = TeamsConfig

    def body(self, page: Page) -> dict[str, Any]:
        return teams_body(page)
