"""Every Upkeep metric that deploy/ (alert rules, dashboards) queries is one the code emits.

A renamed metric otherwise leaves an alert that can never fire and an empty panel.
"""

from __future__ import annotations

import re
from pathlib import Path

from collector.rules.catalog import metric_labels

ROOT = Path(__file__).resolve().parents[2]
NAME = re.compile(r"\bupkeep_[a-z0-9_]+\b")
SUFFIXES = ("_bucket", "_count", "_sum", "_created")


def emitted_names() -> set[str]:
    """Metric names written literally in the code (counters also as ``*_total``)."""
    names: set[str] = set()
    for path in [*ROOT.glob("collector/**/*.py"), *ROOT.glob("agent/**/*.py")]:
        for name in re.findall(r"""["'](upkeep_[a-z0-9_]+)["']""", path.read_text()):
            names.update({name, f"{name}_total"})
    return names


def queried_names() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for path in [
        *ROOT.glob("deploy/prometheus/rules/*.yml"),
        *ROOT.glob("deploy/grafana/**/*.json"),
    ]:
        text = "\n".join(
            line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")
        )
        for name in NAME.findall(text):
            out.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return out


def test_deploy_queries_only_emitted_metrics():
    emitted = emitted_names()
    agent_metrics = set(metric_labels())  # exposed by the collector as upkeep_<agent metric>
    missing = {}
    for name, files in queried_names().items():
        base = name
        for suffix in SUFFIXES:
            if base.endswith(suffix):
                base = base[: -len(suffix)]
        if base in emitted or name in emitted or base.removeprefix("upkeep_") in agent_metrics:
            continue
        missing[name] = sorted(files)
    assert not missing, f"queried but never emitted: {missing}"


def test_the_guard_sees_the_rules():
    assert "upkeep_outbox_backlog" in queried_names()
    assert "upkeep_outbox_backlog" in emitted_names()
