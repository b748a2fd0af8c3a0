"""SMS through a generic HTTP gateway: the request is a template the admin fills in for their
provider. ``{to}``, ``{text}``, ``{id}`` and ``{ack_url}`` are replaced (JSON-escaped in a JSON
body, URL-encoded in a form body or the URL's query)::

    sms: {type: sms, url: "https://gw.example/send", method: POST, format: json,
          body: {"to": "{to}", "message": "{text}", "reference": "{id}"},
          headers: {Authorization: "Bearer {secret}"}, secret_file: /etc/upkeep/sms-key}

The text is short: the subject and the acknowledge link (an SMS has no buttons).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal
from urllib.parse import quote

from pydantic import Field, SecretStr

from collector.connectors.base import ConnectorConfig, ConnectorError, TicketRef, secret
from collector.connectors.http import JsonApi
from collector.connectors.paging import Page, PagingConnector

#: An SMS is cut to this many characters (a few concatenated parts).
MAX_TEXT = 459


class SmsConfig(ConnectorConfig):
    SECRETS: ClassVar[tuple[str, ...]] = ("secret",)

    type: Literal["sms"] = "sms"
    url: str = Field(pattern=r"^https?://")
    method: Literal["POST", "GET"] = "POST"
    format: Literal["json", "form"] = "json"
    body: dict[str, Any] = Field(default_factory=lambda: {"to": "{to}", "text": "{text}"})
    headers: dict[str, str] = Field(default_factory=dict)
    secret: SecretStr | None = None
    secret_file: str | None = None
    secret_env: str | None = None


def sms_text(page: Page) -> str:
    tail = f" {page.ack_label}: {page.ack_url}"
    head = page.subject
    return head[: max(0, MAX_TEXT - len(tail))] + tail


def _fill(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, str):
        for key, text in values.items():
            value = value.replace("{" + key + "}", text)
        return value
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    return value


class SmsConnector(PagingConnector):
    config_model: ClassVar[type[ConnectorConfig]] = SmsConfig
    config: SmsConfig

    def __init__(self, name: str, config: ConnectorConfig) -> None:
        super().__init__(name, config)
        self._api: JsonApi | None = None

    def request(self, page: Page) -> tuple[str, dict[str, str], dict[str, Any] | None]:
        """(url, headers, body) of the gateway request for ``page``."""
        if not page.to:
            raise ConnectorError(
                f"sms {self.name}: {page.person} has no phone number", permanent=True
            )
        values = {"to": page.to, "text": sms_text(page), "id": page.id, "ack_url": page.ack_url}
        url = _fill(self.config.url, {k: quote(v, safe="") for k, v in values.items()})
        headers = _fill(self.config.headers, {"secret": secret(self.config.secret)})
        body = None if self.config.method == "GET" else _fill(self.config.body, values)
        return url, headers, body

    def send(self, page: Page) -> TicketRef | None:
        if self._api is None:
            self._api = JsonApi(f"sms {self.name}", self.config.url, timeout=self.config.timeout)
        url, headers, body = self.request(page)
        try:
            if body is None:
                self._api.send("GET", url, headers=headers)
            elif self.config.format == "json":
                self._api.send("POST", url, json=body, headers=headers)
            else:
                from urllib.parse import urlencode

                self._api.send(
                    "POST",
                    url,
                    content=urlencode({k: str(v) for k, v in body.items()}).encode(),
                    headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
                )
        except ConnectorError as exc:
            # The URL may hold the number and the text: name only the status.
            status = exc.message.split(": HTTP ", 1)[1] if ": HTTP " in exc.message else "failed"
            raise ConnectorError(
                f"sms {self.name}: gateway: {status}", permanent=exc.permanent
            ) from None
        return None

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
