"""A page as the escalation job renders it, for the paging connector tests."""

from __future__ import annotations

from typing import Any

from collector.connectors.paging import Page, PagingConnector, paging_class, parse_paging_config


def make_page(**overrides: Any) -> Page:
    values: dict[str, Any] = {
        "number": 7,
        "incident": "UPK-acme-12",
        "client": "acme",
        "priority": "critical",
        "title": "Core switch down",
        "person": "anna",
        "to": "100001",
        "step": 1,
        "subject": "[Critical] UPK-acme-12 Core switch down",
        "text": "Critical incident UPK-acme-12 at acme\nCore switch down\n",
        "ack_url": "https://upkeep.example/oncall/page?token=ACK",
        "resolve_url": "https://upkeep.example/oncall/page?token=RES",
    }
    values.update(overrides)
    return Page(**values)


def channel(name: str, raw: dict[str, Any]) -> PagingConnector:
    config = parse_paging_config(raw)
    return paging_class(config.type)(f"page:{name}", config)
