"""An incident's title in its reader's language (issue 16).

A rule's summary is rendered in English, UTC, when the incident opens: the title technicians
and ticket systems read. The incident also keeps what the title was rendered from
(``incidents.title_source``: the summary template, the fields it quoted, the raw value with its
unit, the forecast; :func:`collector.rules.engine.title_source`). For a client — the report,
the closing message, the client portal — the same title is rendered again from the shipped
rule's translated summary (the rules' catalog, :mod:`collector.rules.i18n`) with the values in
the contract's language, locale and time zone: "srv1: самому новому файлу в /backup уже 3 дня".

Falls back to the stored title when there is nothing to render from (a reported incident, an
Alertmanager alert, an incident opened before titles were kept) or the rule's summary has no
translation (a custom rule).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector.notices.human import Human
from collector.rules import i18n as rule_texts
from collector.rules.engine import render_source
from collector.schema import incidents

log = logging.getLogger(__name__)


def localized_title(
    title: str, source: Mapping[str, Any] | None, language: str, human: Human
) -> str:
    """``title`` as the reader of ``language`` (values by ``human``) reads it."""
    if not source or not isinstance(source.get("template"), str):
        return title
    template = rule_texts.translated(source["template"], language)
    if template is None:
        return title
    try:
        return render_source(dict(source), human, template) or title
    except Exception:  # a broken stored source never hides the title
        log.exception("title of %r could not be rendered in %s", title, language)
        return title


def client_titles(
    conn: Connection, client_id: int, keys: Iterable[str], language: str, human: Human
) -> dict[str, str]:
    """The titles of ``client_id``'s incidents ``keys`` (their keys) in ``language``."""
    wanted = sorted(set(keys))
    out: dict[str, str] = {}
    for i in range(0, len(wanted), 500):
        for r in conn.execute(
            sa.select(incidents.c.key, incidents.c.title, incidents.c.title_source).where(
                incidents.c.client_id == client_id, incidents.c.key.in_(wanted[i : i + 500])
            )
        ):
            out[r.key] = localized_title(r.title, r.title_source, language, human)
    return out


def localize_titles(
    data: Any, conn: Connection, client_id: int, language: str, human: Human
) -> None:
    """Every incident title in ``data`` (nested dicts and lists, e.g. a report's sections) in
    ``language``, in place: a dict naming an incident by ``key`` or ``incident`` has its
    ``title`` (or, for a ledger charge, its ``subject``) replaced."""
    found: list[tuple[dict[str, Any], str, str]] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            key = value.get("incident") if isinstance(value.get("incident"), str) else None
            key = key or (value.get("key") if isinstance(value.get("key"), str) else None)
            if key is not None:
                for field in ("title", "subject"):
                    if isinstance(value.get(field), str):
                        found.append((value, field, key))
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(data)
    if not found:
        return
    titles = client_titles(conn, client_id, (k for _d, _f, k in found), language, human)
    for holder, field, key in found:
        if key in titles:
            holder[field] = titles[key]
