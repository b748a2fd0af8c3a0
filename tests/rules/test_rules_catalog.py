"""The shipped rule packs only use metrics and labels that agents really send.

The catalog is read from the agent's own check and SNMP-profile catalogs, so a renamed
metric or label on either side fails here instead of silently never firing.
"""

from __future__ import annotations

import string
from pathlib import Path

import pytest

from collector.rules.catalog import metric_labels
from collector.rules.loader import load

RULES = Path(__file__).resolve().parents[2] / "rules"
#: What every template sees besides the series' labels (docs/rules.md).
TEMPLATE_VARS = {"value", "asset", "client", "site", "eta", "rule", "severity", "priority", "kind"}
#: Fields a rule on one of these metrics may quote besides its labels (collector/rules/engine.py).
METRIC_TEMPLATE_VARS = {"plugin_state": {"output"}}


def shipped_rules():
    result = load([RULES])
    assert not result.errors, [str(p) for p in result.errors]
    return [compiled.rule for compiled in result.ruleset.rules.values()]


def fields(template: str) -> set[str]:
    return {
        name.split(".")[0].split("[")[0]
        for _, name, _, _ in string.Formatter().parse(template)
        if name
    }


@pytest.mark.parametrize("rule", shipped_rules(), ids=lambda r: r.id)
def test_rule_uses_real_metric_and_labels(rule):
    catalog = metric_labels()
    if rule.metric == "any":
        return
    assert rule.metric in catalog, f"{rule.id}: no agent check or SNMP profile sends {rule.metric}"
    labels = catalog[rule.metric]
    for key in rule.where:
        # a where key is a label of the series, or a sibling metric of the same asset
        assert key in labels or key in catalog, (
            f"{rule.id}: where {key!r} is neither a label nor a metric"
        )
    used = fields(rule.summary) | fields(rule.description)
    unknown = (
        used
        - labels
        - TEMPLATE_VARS
        - set(rule.labels)
        - METRIC_TEMPLATE_VARS.get(rule.metric, set())
    )
    assert not unknown, (
        f"{rule.id}: template uses {sorted(unknown)}, {rule.metric} has labels {sorted(labels)}"
    )


def test_catalog_reads_the_agents_catalogs():
    catalog = metric_labels()
    assert catalog["if_oper_status"] == {"interface", "alias"}
    assert catalog["disk_used_percent"] >= {"mountpoint", "device", "fstype"}
    assert "printer_supply_level_percent" in catalog and "upkeep_check_up" in catalog
