"""Generic webhook: every action is POSTed as JSON, signed with HMAC-SHA256.

Body: ``{"schema": 1, "action", "key", "idempotency_key", "sent_at", "incident": {...}}``
(``incident`` is :meth:`TicketSubject.as_json`). Headers:

- ``X-Upkeep-Signature: sha256=<hex>``: HMAC-SHA256 of the raw body with the shared secret
  (the body contains ``sent_at``; receivers should refuse old timestamps);
- ``X-Upkeep-Timestamp``: the same moment as Unix seconds;
- ``Idempotency-Key: <key>:<action>:<version>``: the same for every retry of one delivery,
  so a receiver applies it once; a comment is ``<key>:comment:<comment id>`` (its stable id:
  a note that changes nothing of the incident, e.g. an SLA warning, keeps the version);
- ``X-Upkeep-Event: <action>``.

Any 2xx is success. If the answer is JSON with ``id`` (and optionally ``url``), that becomes the
ticket reference; otherwise the reference is the incident key. A webhook cannot be asked what
it holds, so a resolve is sent like any other action (receivers ignore unknown keys).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr

from collector.connectors.base import (
    Action,
    Connector,
    ConnectorConfig,
    TicketRef,
    TicketSubject,
    secret,
)
from collector.connectors.http import JsonApi

SCHEMA_VERSION = 1


def signature(secret_value: str, body: bytes) -> str:
    """The ``X-Upkeep-Signature`` value for ``body`` (receivers compare with hmac.compare_digest)."""
    return "sha256=" + hmac.new(secret_value.encode(), body, hashlib.sha256).hexdigest()


def idempotency_key(action: Action, subject: TicketSubject) -> str:
    if action == Action.COMMENT and subject.comment is not None:
        return f"{subject.key}:{action}:{subject.comment.id}"
    return f"{subject.key}:{action}:{subject.version}"


class WebhookConfig(ConnectorConfig):
    """Options of a webhook connector (see docs/connectors.md)."""

    SECRETS: ClassVar[tuple[str, ...]] = ("secret",)
    REQUIRED_SECRETS: ClassVar[tuple[str, ...]] = ("secret",)

    type: Literal["webhook"] = "webhook"
    url: str = Field(pattern=r"^https?://")
    secret: SecretStr | None = None
    secret_file: str | None = None
    secret_env: str | None = None
    #: Actions to send; default all.
    actions: list[Action] = Field(default_factory=lambda: list(Action))
    #: Extra request headers (not secret: they are shown in config dumps).
    headers: dict[str, str] = Field(default_factory=dict)
    verify_tls: bool | str = True


class WebhookConnector(Connector):
    """POSTs each action to one URL; see the module docstring."""

    config_model: ClassVar[type[ConnectorConfig]] = WebhookConfig
    config: WebhookConfig

    def __init__(self, name: str, config: WebhookConfig) -> None:
        super().__init__(name, config)
        self.api = JsonApi(
            f"webhook {name}",
            config.url,
            timeout=config.timeout,
            verify=config.verify_tls,
            headers={"User-Agent": "upkeep-collector", **config.headers},
        )

    def close(self) -> None:
        self.api.close()

    def body(self, action: Action, subject: TicketSubject, sent_at: datetime) -> bytes:
        document: dict[str, Any] = {
            "schema": SCHEMA_VERSION,
            "action": str(action),
            "key": subject.key,
            "idempotency_key": idempotency_key(action, subject),
            "sent_at": sent_at.isoformat(),
            "incident": subject.as_json(),
        }
        return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()

    def deliver(
        self, action: Action, subject: TicketSubject, ref: TicketRef | None
    ) -> TicketRef | None:
        action = Action(action)
        fallback = ref or TicketRef(self.name, subject.key)
        if action not in self.config.actions:
            return fallback
        sent_at = datetime.now(UTC)
        body = self.body(action, subject, sent_at)
        headers = {
            "Content-Type": "application/json",
            "X-Upkeep-Signature": signature(secret(self.config.secret), body),
            "X-Upkeep-Timestamp": str(int(sent_at.timestamp())),
            "Idempotency-Key": idempotency_key(action, subject),
            "X-Upkeep-Event": str(action),
        }
        response = self.api.send("POST", self.config.url, content=body, headers=headers)
        try:
            answer = response.json() if response.content.strip() else None
        except ValueError:
            answer = None
        if isinstance(answer, dict) and answer.get("id") is not None:
            url = answer.get("url")
            return TicketRef(self.name, str(answer["id"]), url if isinstance(url, str) else None)
        return fallback
