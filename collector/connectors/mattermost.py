"""Mattermost incoming webhook: ``{"text": …}`` in Markdown with the two signed links, and the
person mentioned (``@username`` from the contact's ``to``)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import SecretStr

from collector.connectors.base import ConnectorConfig
from collector.connectors.paging import Page
from collector.connectors.slack import WebhookPoster


class MattermostConfig(ConnectorConfig):
    SECRETS: ClassVar[tuple[str, ...]] = ("url",)
    REQUIRED_SECRETS: ClassVar[tuple[str, ...]] = ("url",)

    type: Literal["mattermost"] = "mattermost"
    url: SecretStr | None = None
    url_file: str | None = None
    url_env: str | None = None
    #: Post as this name (the webhook must allow overriding it), else the webhook's own.
    username: str | None = None


def mattermost_body(page: Page, username: str | None = None) -> dict[str, Any]:
    mention = f"@{page.to} " if page.to else ""
    body: dict[str, Any] = {
        "text": (
            f"{mention}{page.text}\n\n"
            f"[{page.ack_label}]({page.ack_url}) · [{page.resolve_label}]({page.resolve_url})"
        )
    }
    if username:
        body["username"] = username
    return body


class MattermostConnector(WebhookPoster):
    config_model: ClassVar[type[ConnectorConfig]] = MattermostConfig

    def body(self, page: Page) -> dict[str, Any]:
        return mattermost_body(page, self.config.username)
