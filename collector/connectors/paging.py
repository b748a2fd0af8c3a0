"""Paging channels: connectors that reach one on-call person (collector.oncall).

A paging connector is a :class:`~collector.connectors.base.Connector` (typed config with
secrets, one module each, errors saying whether they are permanent, the same outbox) that
also answers :meth:`PagingConnector.page`. The outbox stores a page as a row with the action
``page`` and the :class:`Page` in its payload; the worker calls :meth:`page` with it. Pages
never go to the ticket connectors, and ticket actions never to a paging connector.

The registry table below is the one place a paging type exists (type → ``"module:Class"``,
imported on first use).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any, ClassVar

from collector.connectors.base import (
    Action,
    Connector,
    ConnectorConfig,
    ConnectorError,
    TicketRef,
    TicketSubject,
)

PAGING: dict[str, str] = {
    "telegram": "collector.connectors.telegram:TelegramConnector",
    "slack": "collector.connectors.slack:SlackConnector",
    "mattermost": "collector.connectors.mattermost:MattermostConnector",
    "teams": "collector.connectors.teams:TeamsConnector",
    "sms": "collector.connectors.sms:SmsConnector",
    "email": "collector.connectors.page_email:PageEmailConnector",
}

#: The outbox connector name of a paging channel (ticket connectors never carry the prefix).
PREFIX = "page:"


@dataclass(frozen=True)
class Page:
    """One page to one person on one channel, rendered in the person's language.

    :attr:`id` is stable for the page (``<incident key>-p<number>``): retries of it carry the
    same id (the e-mail Message-ID, the SMS gateway's reference). ``to`` is the person's address on the
    channel (chat id, phone number, e-mail; empty for a channel that posts to one room)."""

    number: int  # the page's row id (collector.oncall's oncall_pages)
    incident: str
    client: str
    priority: str
    title: str
    person: str
    to: str
    step: int
    subject: str
    text: str
    ack_url: str
    resolve_url: str
    language: str = "en"
    ack_label: str = "Acknowledge"
    resolve_label: str = "Resolve"
    url: str | None = None

    @property
    def id(self) -> str:
        return f"{self.incident}-p{self.number}"

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Page:
        fields = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in fields})


class PagingConnector(Connector):
    """A channel that pages people. Subclasses implement :meth:`send`."""

    #: The channel can tell the person's answer back (Telegram's buttons): see collector.oncall.api.
    two_way: ClassVar[bool] = False

    def deliver(
        self, action: Action, subject: TicketSubject, ref: TicketRef | None
    ) -> TicketRef | None:
        raise ConnectorError(
            f"{self.name}: a paging channel takes pages, not ticket actions ({action})",
            permanent=True,
        )

    def page(self, page: Page) -> TicketRef | None:
        """Send ``page`` within the connector's deadline (what the outbox calls)."""
        from collector.connectors.deadline import deadline

        with deadline(self.config.deadline) as limit:
            try:
                return self.send(page)
            except ConnectorError as exc:
                if exc.permanent or not limit.expired:
                    raise
                raise ConnectorError(
                    f"{exc.message} (cut at the {limit.seconds:g} s deadline)", permanent=False
                ) from None

    def send(self, page: Page) -> TicketRef | None:
        """Deliver ``page``; return a reference to the message (or None). Raises ConnectorError."""
        raise NotImplementedError


@cache
def paging_class(type_name: str) -> type[PagingConnector]:
    module_name, _, class_name = PAGING[type_name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def parse_paging_config(raw: Mapping[str, Any]) -> ConnectorConfig:
    """Validate one channel's options with its type's model (raises ValueError naming the key)."""
    type_name = raw.get("type") if isinstance(raw, Mapping) else None
    if type_name not in PAGING:
        raise ValueError(f"type: must be one of {', '.join(sorted(PAGING))} (got {type_name!r})")
    return paging_class(type_name).config_model.model_validate(raw)


def build_channels(configs: Mapping[str, ConnectorConfig]) -> dict[str, PagingConnector]:
    """Outbox name (``page:<channel>``) → connector."""
    return {
        PREFIX + name: paging_class(config.type)(PREFIX + name, config)
        for name, config in configs.items()
    }
