"""One vocabulary, checked both ways: the shipped rule packs and the agent's catalogs.

The agent declares every value an enumerated label can take and every code of an
enumerated metric (``values:`` and ``states:`` in agent/snmp/profiles/*.yaml, read through
:mod:`collector.rules.catalog`). This fails

- when a rule's ``where`` (each alternative of a regex), ``state: {in: …}``, ``state: {flag: …}``
  or a rule test's input uses a value the agent never sends (the toner rules matched
  ``tonerCartridge`` while the agent sends ``toner_cartridge``: they never fired);
- when a value the agent sends for a label (or code) a pack's rules look at is matched by
  no rule of that pack, unless :data:`UNMATCHED` lists it with the reason.
"""

from __future__ import annotations

import re

try:  # Python 3.11+: the parser moved (sre_parse warns)
    import re._parser as sre_parse  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover
    import sre_parse  # type: ignore[no-redef]
from pathlib import Path

import pytest

from agent.yamlsource import YamlDocument
from collector.rules.catalog import label_values, metric_states
from collector.rules.loader import load
from collector.rules.model import Rule
from collector.rules.ruleset import Matcher
from collector.rules.testing import RuleTestFile, expand_values

RULES = Path(__file__).resolve().parents[2] / "rules"
PACKS = sorted(p for p in RULES.glob("*.yaml") if not p.name.endswith(".test.yaml"))
TESTS = sorted(RULES.glob("*.test.yaml"))

_FLAGS_PRINTER_ERROR_COVERED_ELSEWHERE = (
    "the supply level rules (toner-low, waste-toner-full) say it with a number"
)
#: (pack, metric, label or "value") → value the agent sends that no rule of the pack matches
#: → why that is right.
UNMATCHED: dict[tuple[str, str, str], dict[str, str]] = {
    ("plugins", "plugin_state", "value"): {
        "0": "OK: nothing to do",
        "1": "plugin-problem's warning level (a threshold rule, == 1, so it escalates)",
        "2": "plugin-problem's critical level (== 2)",
    },
    ("printers", "printer_supply_level_percent", "supply_type"): {
        "other": "the printer does not say what it is: no level that means anything",
        "unknown": "the printer does not say what it is: no level that means anything",
        "water": "production-press supply; its alerts come from the press's own alert table",
        "glue_water_additive": "production-press supply, see water",
        "binding_supply": "finisher supply: the finisher stops and says so (printer_alerts)",
        "banding_supply": "finisher supply, see binding_supply",
        "stitching_wire": "finisher supply, see binding_supply",
        "shrink_wrap": "finisher supply, see binding_supply",
        "paper_wrap": "finisher supply, see binding_supply",
        "staples": "finisher supply, see binding_supply",
        "inserts": "media for an inserter, not a consumable that wears",
        "covers": "media for an inserter, not a consumable that wears",
    },
    ("printers", "printer_error", "flag"): {
        "lowToner": _FLAGS_PRINTER_ERROR_COVERED_ELSEWHERE,
        "lowPaper": "trays run low every day; only an empty tray (noPaper) is worth a ticket",
        "inputTrayEmpty": "one empty tray of several: the others still print (noPaper is all)",
        "inputTrayMissing": "a tray pulled out to refill it; noPaper/offline follow if it stays",
        "outputTrayMissing": "seen with the output bin removed on purpose; offline follows",
        "outputNearFull": "someone takes the prints; outputFull stops the printer and shows offline",
        "outputFull": "the printer stops and reports offline (printer-offline)",
    },
    ("ups", "ups_alarm", "alarm"): {
        "onBattery": "ups-on-battery, from upsOutputSource (ups_on_battery)",
        "lowBattery": "ups-battery-low, from upsBatteryStatus (ups_battery_status)",
        "depletedBattery": "ups-battery-low, from upsBatteryStatus (ups_battery_status)",
        "outputOffAsRequested": "someone switched the output off on purpose",
        "upsOffAsRequested": "someone switched the UPS off on purpose",
        "awaitingPower": "after a shutdown on battery: the power cut is the incident",
        "testInProgress": "a self-test someone started (or the weekly schedule)",
    },
    ("ups", "ups_alarm", "value"): {"0": "the alarm is not present"},
    ("ups", "ups_battery_status", "value"): {
        "1": "unknown: the UPS does not say; the charge and alarm rules still watch it",
        "2": "normal",
    },
    ("ups", "ups_on_battery", "value"): {"0": "on mains"},
    ("network", "ping_rtt_seconds", "stat"): {
        "min": "latency alerts on the average; the best probe says nothing about users",
        "max": "one slow probe is noise; the average over 10 minutes is what users feel",
    },
    ("servers", "load_average_per_core", "period"): {
        "1m": "short spikes (backups, updates) are normal; the 15-minute average is the alert",
        "5m": "see 1m",
    },
    ("network", "if_oper_status", "value"): {
        "1": "up",
        "3": "testing: an admin is testing the port",
        "4": "unknown: the switch cannot tell; not evidence of an outage",
        "5": "dormant: waiting for traffic (dial-on-demand, LACP standby)",
        "6": "notPresent: a module slot without its module",
    },
}


def shipped() -> list[tuple[str, Rule]]:
    out = []
    for path in PACKS:
        result = load([path])
        assert not result.errors, [str(p) for p in result.errors]
        out.extend((path.stem, compiled.rule) for compiled in result.ruleset.rules.values())
    return out


def alternatives(pattern: str) -> list[str]:
    """The top-level alternatives of a regex (``(a|b)|c`` → a, b, c), as regex text."""
    parsed = sre_parse.parse(pattern)
    items = list(parsed)
    # one group around everything: look inside it
    while len(items) == 1 and items[0][0] is sre_parse.SUBPATTERN:
        parsed = items[0][1][-1]
        items = list(parsed)
    if len(items) == 1 and items[0][0] is sre_parse.BRANCH:
        return [_text(branch) for branch in items[0][1][1]]
    return [pattern]


def _text(sub: sre_parse.SubPattern) -> str:
    # Alternatives of the shipped packs are literal words: rebuild them, else keep the regex.
    chars = []
    for op, arg in sub:
        if op is not sre_parse.LITERAL:
            return "(?:" + "".join(chars) + ")"  # never reached for literal alternatives
        chars.append(re.escape(chr(arg)))
    return "".join(chars)


def matched(rule: Rule, label: str, allowed: frozenset[str]) -> set[str]:
    """The values of ``allowed`` the rule's matcher on ``label`` lets through."""
    if label in rule.where:
        matcher = Matcher.parse(label, rule.where[label])
        return {v for v in allowed if matcher.matches(v)}
    if label == "flag" and rule.state is not None and rule.state.flag is not None:
        flags = [rule.state.flag] if isinstance(rule.state.flag, str) else rule.state.flag
        return set(flags) & allowed
    return set(allowed)


@pytest.mark.parametrize(("pack", "rule"), shipped(), ids=lambda r: getattr(r, "id", r))
def test_rule_matchers_name_values_the_agent_sends(pack: str, rule: Rule) -> None:
    vocabulary = label_values().get(rule.metric, {})
    states = metric_states()
    for key, text in rule.where.items():
        matcher = Matcher.parse(key, text)
        if key in vocabulary:
            allowed = vocabulary[key]
            if matcher.op in ("=", "!="):
                assert matcher.value in allowed, (
                    f"{pack}.yaml {rule.id}: where {key}: {matcher.value!r} is never sent; "
                    f"the agent sends {sorted(allowed)}"
                )
            else:
                for alternative in alternatives(matcher.value):
                    assert any(re.fullmatch(alternative, v) for v in allowed), (
                        f"{pack}.yaml {rule.id}: where {key}: {alternative!r} (of "
                        f"{matcher.value!r}) matches nothing the agent sends: {sorted(allowed)}"
                    )
        elif key in states and matcher.op in ("=", "!="):  # a sibling metric's code
            assert int(matcher.value) in states[key], (
                f"{pack}.yaml {rule.id}: where {key}: {matcher.value} is not one of {states[key]}"
            )
    if rule.state is not None and rule.state.in_ is not None and rule.metric in states:
        for code in rule.state.in_:
            assert code in states[rule.metric], (
                f"{pack}.yaml {rule.id}: state in {code:g}: {rule.metric} is one of "
                f"{states[rule.metric]}"
            )
    if rule.state is not None and rule.state.flag is not None:
        flags = [rule.state.flag] if isinstance(rule.state.flag, str) else rule.state.flag
        allowed = vocabulary.get("flag", frozenset())
        assert allowed, f"{pack}.yaml {rule.id}: {rule.metric} has no declared flags"
        for flag in flags:
            assert flag in allowed, f"{pack}.yaml {rule.id}: flag {flag!r} is never sent"


def _test_series() -> list[tuple[str, int, dict, str, str]]:
    out = []
    for path in TESTS:
        doc = YamlDocument.from_file(path)
        spec = RuleTestFile.model_validate(doc.data)
        for t, test in enumerate(spec.tests):
            for s, series in enumerate(test.series):
                out.append((path.name, t, dict(series.labels), series.metric, series.values))
                _ = s
    return out


@pytest.mark.parametrize(
    ("file", "test", "labels", "metric", "values"),
    _test_series(),
    ids=lambda v: v if isinstance(v, str) and not v[:1].isdigit() else None,
)
def test_rule_test_inputs_are_what_the_agent_sends(
    file: str, test: int, labels: dict, metric: str, values: str
) -> None:
    for label, allowed in label_values().get(metric, {}).items():
        if label in labels:
            assert labels[label] in allowed, (
                f"{file} tests[{test}] {metric}: {label}: {labels[label]!r} is never sent; "
                f"the agent sends {sorted(allowed)}"
            )
    states = metric_states().get(metric)
    if states:
        for value in expand_values(values):
            assert value is None or value in states, (
                f"{file} tests[{test}] {metric}: value {value:g} is not one of {states}"
            )


def _coverage_cases() -> list[tuple[str, str, str]]:
    """(pack, metric, label or "value") for every enumerated thing a pack's rules look at."""
    cases = set()
    vocab = label_values()
    states = metric_states()
    for pack, rule in shipped():
        for label in vocab.get(rule.metric, {}):
            if label in rule.where or (
                label == "flag" and rule.state is not None and rule.state.flag is not None
            ):
                cases.add((pack, rule.metric, label))
        if rule.metric in states and rule.state is not None and rule.state.in_ is not None:
            cases.add((pack, rule.metric, "value"))
    return sorted(cases)


@pytest.mark.parametrize(("pack", "metric", "label"), _coverage_cases())
def test_every_value_the_agent_sends_is_matched_or_allowed(
    pack: str, metric: str, label: str
) -> None:
    rules = [r for p, r in shipped() if p == pack and r.metric == metric]
    allowed_unmatched = UNMATCHED.get((pack, metric, label), {})
    if label == "value":
        codes = metric_states()[metric]
        seen = {
            format(code, "g")
            for r in rules
            if r.state is not None and r.state.in_ is not None
            for code in r.state.in_
        }
        values = {str(code) for code in codes}
    else:
        values = set(label_values()[metric][label])
        seen = set().union(*(matched(r, label, frozenset(values)) for r in rules))
    missing = values - seen - set(allowed_unmatched)
    assert not missing, (
        f"{pack}.yaml: the agent sends {metric} {label} {sorted(missing)}, which no rule "
        "matches: add a rule, or list it in UNMATCHED with the reason"
    )
    stale = set(allowed_unmatched) & seen
    assert not stale, f"UNMATCHED lists {sorted(stale)} for {pack} {metric}, but a rule matches"
    unknown = set(allowed_unmatched) - values
    assert not unknown, f"UNMATCHED lists {sorted(unknown)}, which the agent never sends"


def test_the_checks_catch_the_toner_bug() -> None:
    """The matcher the packs shipped with (camelCase) fails the first test."""
    old = Rule.model_validate(
        {
            "id": "toner-low",
            "metric": "printer_supply_level_percent",
            "where": {"supply_type": "=~(toner|tonerCartridge|ink|inkCartridge|solidWax)"},
            "warning": "< 10",
        }
    )
    with pytest.raises(AssertionError, match="tonerCartridge"):
        test_rule_matchers_name_values_the_agent_sends("printers", old)
    allowed = label_values()["printer_supply_level_percent"]["supply_type"]
    assert "toner_cartridge" not in matched(old, "supply_type", allowed)
