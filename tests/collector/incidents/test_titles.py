"""Incident titles in the client's language: a shipped rule's summary is rendered in English
when the incident opens (technicians, tickets), and again from the rules' catalog in the
contract's language, locale and zone for the client — the report, the closing pages. A
custom rule's incident keeps its English title."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from collector import admin, reports
from collector.contracts.model import Contract
from collector.contracts.store import put_contract
from collector.incidents.resolution import resolution_of
from collector.incidents.service import IncidentService, signal_of
from collector.incidents.titles import localized_title
from collector.notices import Voice
from collector.reports import render as report_render
from collector.rules.engine import AssetInfo, RuleEngine
from collector.rules.model import Rule
from collector.rules.ruleset import RuleSet
from collector.schema import incidents

ROOT = Path(__file__).resolve().parents[3]
T0 = 1_700_000_000.0  # 14 Nov 2023 22:13 UTC
#: 3 days and 11 minutes: "3 days" / "3 дня" (never "259860 seconds").
AGE = 3 * 86400 + 660.0


class Series:
    id = 1
    client_id = 1
    asset_id = 7
    asset = "srv1"
    metric = "file_age_seconds"
    labels = {"path": "/srv/backup"}


def shipped(rule_id: str) -> dict[str, Any]:
    for path in sorted((ROOT / "rules").glob("*.yaml")):
        for rule in (yaml.safe_load(path.read_text()) or {}).get("rules") or []:
            if rule.get("id") == rule_id:
                return rule
    raise LookupError(rule_id)


def open_from_rule(store: Any, rule: dict[str, Any], client_id: int) -> str:
    """The rule engine fires ``rule`` on one sample; the incident service opens the incident."""
    engine = RuleEngine(
        RuleSet.build([(Rule.model_validate(rule), "")], []),
        lambda a: AssetInfo(a, client_id, "acme", "office", "srv1"),
        started_at=T0,
    )
    series = Series()
    series.client_id = client_id
    series.metric = rule["metric"]
    (transition,) = engine.observe([(series, AGE, T0)], T0)
    signal = signal_of(transition)
    assert signal is not None
    with store.write() as conn:
        applied = IncidentService(store).apply_signal(conn, signal, T0)
    assert applied.key is not None
    return applied.key


def contract(language: str, timezone: str) -> Contract:
    return Contract.model_validate(
        {
            "client": "acme",
            "plan": {"name": "Standard"},
            "language": language,
            "calendar": {"timezone": timezone},
        }
    )


@pytest.mark.parametrize(
    ("language", "timezone", "title"),
    [
        ("en", "Europe/Berlin", "srv1: newest file in /srv/backup is 3 days old"),
        ("ru", "Europe/Moscow", "srv1: самому новому файлу в /srv/backup уже 3 дня"),
    ],
)
def test_the_report_says_a_shipped_rules_title_in_the_contracts_language(
    store, language, timezone, title
) -> None:
    client = admin.create_client(store, "acme")
    with store.write() as conn:
        put_contract(
            conn, client.id, contract(language, timezone), source="t", actor="t", now=T0 - 1
        )
    key = open_from_rule(store, shipped("backup-too-old"), client.id)
    with store.read() as conn:
        stored = conn.execute(
            sa.select(incidents.c.title, incidents.c.title_source).where(incidents.c.key == key)
        ).one()
        facts = resolution_of(
            conn, conn.execute(sa.select(incidents.c.id).where(incidents.c.key == key)).scalar_one()
        )
    # Technicians and ticket systems: English, as before.
    assert stored.title == "srv1: newest file in /srv/backup is 3 days old"
    assert stored.title_source["template"] == shipped("backup-too-old")["summary"]
    assert stored.title_source["value"] == AGE

    model = reports.build(store, "acme", "2023-11", now=T0 + 3600)
    (item,) = model["sections"]["incidents"]["items"]
    assert (item["key"], item["title"]) == (key, title)
    page = report_render.html(model)
    assert title in page and "259860" not in page and "None" not in page
    # The closing message and pages read the same title.
    assert facts is not None
    voice = Voice.of(contract(language, timezone))
    assert facts.title_in(language, voice.human) == title


def test_a_forecast_and_an_ago_are_said_in_words_per_language(store) -> None:
    from collector.notices.human import Human

    source = {
        "template": "{asset}: {mountpoint} full in about {eta}",
        "fields": {"asset": "srv1", "mountpoint": "/"},
        "value": 91.0,
        "unit": "percent",
        "eta": 5 * 86400.0,
    }
    ru, en = Human("ru_RU", "Europe/Moscow"), Human("en_GB", "Europe/London")
    assert localized_title("x", source, "ru", ru) == "srv1: / заполнится примерно через 5 дней"
    assert localized_title("x", source, "en", en) == "srv1: / full in about 5 days"
    rebooted = {**source, "template": "{asset} rebooted {value:ago}", "value": 590.0}
    rebooted["unit"] = "seconds"
    assert localized_title("x", rebooted, "ru", ru) == "srv1 перезагружен 10 минут назад"
    assert localized_title("x", rebooted, "en", en) == "srv1 rebooted 10 minutes ago"


def test_a_custom_rule_keeps_its_english_title(store) -> None:
    client = admin.create_client(store, "acme")
    with store.write() as conn:
        put_contract(
            conn, client.id, contract("ru", "Europe/Moscow"), source="t", actor="t", now=T0 - 1
        )
    custom = {
        "id": "backup-share",
        "metric": "file_age_seconds",
        "warning": "> 1d",
        "summary": "{asset}: the share backup in {path} is {value:duration} old",
    }
    key = open_from_rule(store, custom, client.id)
    model = reports.build(store, "acme", "2023-11", now=T0 + 3600)
    (item,) = model["sections"]["incidents"]["items"]
    assert (item["key"], item["title"]) == (
        key,
        "srv1: the share backup in /srv/backup is 3 days old",
    )
    # Nothing to render from (a reported incident): the stored title, whatever the language.
    from collector.notices.human import Human

    assert localized_title("Printer jams", None, "ru", Human("ru_RU")) == "Printer jams"
