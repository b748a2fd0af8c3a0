"""Every shipped rule's summary and description read in a person's terms: rendered with the
samples the agent really sends (the label shapes and values of the agent's golden test
cases, tests/agent/checks/cases/*/expected.yaml) plus an awkward value per unit, no text may
show a raw float, a raw count of seconds or bytes, "None" or an unfilled field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from collector.rules.catalog import label_values, metric_labels, metric_units
from collector.rules.engine import render, summary_context
from collector.rules.loader import load
from collector.rules.model import Rule

ROOT = Path(__file__).resolve().parents[2]
PACKS = sorted(p for p in (ROOT / "rules").glob("*.yaml") if not p.name.endswith(".test.yaml"))
CASES = sorted((ROOT / "tests/agent/checks/cases").glob("*/expected.yaml"))
#: Values a person must never see raw: seconds of a backup's age, bytes, a float's tail.
AWKWARD = {
    "seconds": [259211.27283787727, 590.4, 431835.0, 0.0234],
    "bytes": [12_345_678_901.5, 734_003_200],
    "percent": [97.23456789, 3.3333333],
    "ratio": [0.0333333333],
    "per_second": [3.3333333],
    "bytes_per_second": [12_345_678.9],
    "celsius": [71.23456],
    "": [0.123456789, 3.14159265],
}
RAW_FLOAT = re.compile(r"\d+[.,]\d{4,}")
RAW_BIG = re.compile(r"\d{5,}")
RAW_SECONDS = re.compile(r"\b\d{3,}\s*(s|sec|seconds)\b")


def shipped() -> list[Rule]:
    rules = []
    for path in PACKS:
        result = load([path])
        assert not result.errors, [str(p) for p in result.errors]
        rules.extend(c.rule for c in result.ruleset.rules.values())
    return rules


def agent_samples() -> dict[str, list[dict]]:
    """metric → the samples (labels, value) the agent's golden cases show it sending."""
    out: dict[str, list[dict]] = {}
    for path in CASES:
        for sample in (yaml.safe_load(path.read_text()) or {}).get("samples") or []:
            if isinstance(sample, dict) and "metric" in sample:
                out.setdefault(sample["metric"], []).append(sample)
    return out


def _shapes(rule: Rule, samples: dict[str, list[dict]]) -> list[tuple[dict[str, str], float]]:
    """(labels, value) pairs for ``rule``: real samples, then its labels with awkward values."""
    metric = rule.metric
    real = [(dict(s.get("labels") or {}), float(s["value"])) for s in samples.get(metric, [])[:5]]
    vocab = label_values().get(metric, {})
    labels = {
        name: sorted(vocab[name])[0] if name in vocab else f"{name}-1"
        for name in metric_labels().get(metric, ())
    }
    if real:
        labels = {**labels, **real[0][0]}
    unit = metric_units().get(metric, "")
    awkward = [(labels, v) for v in AWKWARD.get(unit, AWKWARD[""])]
    return real + awkward


def problems(text: str) -> list[str]:
    found = []
    for name, pattern in (
        ("raw float", RAW_FLOAT),
        ("raw number", RAW_BIG),
        ("raw seconds", RAW_SECONDS),
    ):
        found += [f"{name} {m.group(0)!r}" for m in pattern.finditer(text)]
    if "None" in text:
        found.append("None")
    if "{" in text or "}" in text:
        found.append("an unfilled field")
    return found


RULES = shipped()
SAMPLES = agent_samples()


def test_the_agent_samples_cover_the_rules_metrics():
    # SNMP rules have no golden agent case (their samples come from profiles): they get the
    # catalog's labels and the awkward values only. The host and network rules must be covered.
    covered = {r.metric for r in RULES if r.metric in SAMPLES}
    assert {
        "file_age_seconds",
        "uptime_seconds",
        "tls_cert_expiry_seconds",
        "disk_used_percent",
    } <= covered


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_shipped_rule_texts_are_in_human_terms(rule):
    for labels, value in _shapes(rule, SAMPLES):
        context = summary_context(
            labels,
            value,
            rule,
            asset="srv1",
            client="acme",
            site="hq",
            eta=3 * 86400 + 1234.5,
            severity="warning",
        )
        for field in ("summary", "description"):
            text = render(getattr(rule, field), context)
            assert problems(text) == [], f"{rule.id} {field} with {labels} {value}: {text!r}"


@pytest.mark.parametrize(
    ("template", "metric", "value", "shown"),
    [
        ("{asset} rebooted {value:.0f} seconds ago", "uptime_seconds", 590.4, "590 seconds"),
        (
            "newest file is {value} s old",
            "file_age_seconds",
            259289.27283787727,
            "259289.27283787727",
        ),
        ("{value:.6f} GB", "disk_free_bytes", 12.3456789, "12.345679"),
    ],
)
def test_the_check_catches_raw_values(template, metric, value, shown):
    rule = Rule.model_validate({"id": "x", "metric": metric, "warning": "> 1", "summary": template})
    context = summary_context(
        {}, value, rule, asset="a", client="c", site=None, eta=None, severity=None
    )
    text = render(template, context).replace("{value}", "")
    if "{value}" in template:  # a bare {value} is written by the unit: no raw number left
        assert problems(text) == []
    else:
        assert shown in text and problems(text)


@pytest.mark.parametrize(
    ("template", "metric", "value", "text"),
    [
        ("{asset} rebooted {value:ago}", "uptime_seconds", 590.4, "srv1 rebooted 10 minutes ago"),
        (
            "newest file is {value:duration} old",
            "file_age_seconds",
            259211,
            "newest file is 3 days old",
        ),
        ("expires {value:in}", "tls_cert_expiry_seconds", 431835, "expires in 5 days"),
        ("{value:bytes} free", "disk_free_bytes", 12.3e9, "12.3 GB free"),
        ("{value} free", "disk_free_bytes", 12.3e9, "12.3 GB free"),  # by the catalog's unit
        ("{value} old", "file_age_seconds", 259211, "3 days old"),
        ("round trip {value}", "ping_rtt_seconds", 0.0234, "round trip 23 ms"),
        ("{value:percent} full", "disk_used_percent", 97.2, "97% full"),
        ("{value:.1f}%", "disk_used_percent", 97.25, "97.2%"),
    ],
)
def test_filters(template, metric, value, text):
    rule = Rule.model_validate({"id": "x", "metric": metric, "warning": "> 1", "summary": template})
    context = summary_context(
        {}, value, rule, asset="srv1", client="c", site=None, eta=None, severity=None
    )
    assert render(template, context) == text


def test_an_unknown_filter_is_refused_at_load():
    with pytest.raises(ValueError, match=r"\{value:days\} names no filter; use one of duration"):
        Rule.model_validate({"id": "x", "metric": "m", "warning": "> 1", "summary": "{value:days}"})
