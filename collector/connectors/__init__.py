"""Ticket-system connectors: the one registry table, config loading and per-client selection.

A connector type exists when it is listed in :data:`CONNECTORS` (type name →
``"module:Class"``, imported on first use). The configuration (``sample-config.yaml`` next to
this file) names connector instances and says which clients use which::

    connectors:
      redmine-main: {type: redmine, url: ..., api_key_file: ..., default_project: support}
      desk-mail: {type: email, host: ..., to: [desk@example.net]}
    default: [redmine-main]          # the connectors a client uses unless listed below
    clients:
      globex: [desk-mail]            # globex's incidents go by e-mail only

Usage::

    config = ConnectorsConfig.model_validate(yaml.safe_load(text))
    connectors = config.build()                       # name → Connector
    for name in config.for_client("acme"):
        ref = connectors[name].deliver(Action.OPEN, subject, None)
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from collector.connectors.base import (
    Action,
    Comment,
    Connector,
    ConnectorConfig,
    ConnectorError,
    IncidentState,
    Origin,
    Priority,
    TicketRef,
    TicketSubject,
    TimeEntry,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "CONNECTORS",
    "Action",
    "Comment",
    "Connector",
    "ConnectorConfig",
    "ConnectorError",
    "ConnectorsConfig",
    "IncidentState",
    "Origin",
    "Priority",
    "TicketRef",
    "TicketSubject",
    "TimeEntry",
    "build_connector",
    "connector_class",
    "parse_connector_config",
]

CONNECTORS: dict[str, str] = {
    "redmine": "collector.connectors.redmine:RedmineConnector",
    "jira": "collector.connectors.jira:JiraConnector",
    "webhook": "collector.connectors.webhook:WebhookConnector",
    "email": "collector.connectors.email:EmailConnector",
    "zammad": "collector.connectors.zammad:ZammadConnector",
    "glpi": "collector.connectors.glpi:GlpiConnector",
}


@cache
def connector_class(type_name: str) -> type[Connector]:
    """The class registered under ``type_name``. Raises KeyError for an unknown type."""
    module_name, _, class_name = CONNECTORS[type_name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def parse_connector_config(raw: Mapping[str, Any]) -> ConnectorConfig:
    """Validate one connector's options with its type's model (raises ValueError naming the key)."""
    type_name = raw.get("type") if isinstance(raw, dict) else None
    if type_name not in CONNECTORS:
        raise ValueError(
            f"type: must be one of {', '.join(sorted(CONNECTORS))} (got {type_name!r})"
        )
    return connector_class(type_name).config_model.model_validate(raw)


def build_connector(name: str, config: ConnectorConfig) -> Connector:
    return connector_class(config.type)(name, config)


class ConnectorsConfig(BaseModel):
    """Named connector instances and which clients use them (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    connectors: dict[str, ConnectorConfig] = Field(default_factory=dict)
    #: Connectors for clients not listed in ``clients``; default: every connector.
    default: list[str] | None = None
    #: Per client: exactly these connectors (an empty list: none).
    clients: dict[str, list[str]] = Field(default_factory=dict)
    #: Connectors kept defined but given no incidents (disabled from the web UI).
    disabled: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _typed(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("connectors"), dict):
            return data
        typed: dict[str, ConnectorConfig] = {}
        for name, raw in data["connectors"].items():
            if isinstance(raw, ConnectorConfig):
                typed[name] = raw
                continue
            try:
                typed[name] = parse_connector_config(raw)
            except ValidationError as exc:
                first = exc.errors(include_input=False)[0]
                loc = ".".join(str(p) for p in first["loc"])
                where = f"connectors.{name}{'.' + loc if loc else ''}"
                raise ValueError(f"{where}: {first['msg'].removeprefix('Value error, ')}") from None
            except ValueError as exc:
                raise ValueError(f"connectors.{name}.{exc}") from None
        return {**data, "connectors": typed}

    @model_validator(mode="after")
    def _known_names(self) -> ConnectorsConfig:
        for where, names in [
            ("default", self.default or []),
            ("disabled", self.disabled),
            *((f"clients.{c}", n) for c, n in self.clients.items()),
        ]:
            unknown = [n for n in names if n not in self.connectors]
            if unknown:
                raise ValueError(f"{where}: unknown connector {', '.join(unknown)}")
        return self

    def for_client(self, client: str) -> list[str]:
        """Names of the connectors ``client``'s incidents go to."""
        if client in self.clients:
            names = self.clients[client]
        else:
            names = list(self.connectors) if self.default is None else self.default
        return [n for n in names if n not in self.disabled]

    def build(self) -> dict[str, Connector]:
        """The enabled connectors (a disabled one gets no deliveries)."""
        return {
            name: build_connector(name, config)
            for name, config in self.connectors.items()
            if name not in self.disabled
        }
