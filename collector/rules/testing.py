"""``upkeep rules test``: unit tests for rules, in the spirit of ``promtool test rules``.

A test file names rule files (relative to itself), then tests: input series written as
value strings and the alerts expected to be firing at given times. The runner feeds the
real engine — samples at ``interval`` spacing, arriving on time, and a sweep every
``evaluation_interval`` — so a passing test means the collector behaves the same way.

Value strings: ``a`` one value; ``axN`` a, then N more times (N+1 values); ``a+bxN`` /
``a-bxN`` a ramp (N+1 values); ``_`` no sample; ``_xN`` N missing samples.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from agent.durations import format_duration
from agent.yamlsource import ConfigError, YamlDocument
from collector.ingest import SeriesRef
from collector.rules.engine import FIRING, PENDING, AssetInfo, RuleEngine
from collector.rules.loader import Problem, _validation_problems, load, position
from collector.rules.model import DurationStr, LabelValue, Severity, Strict

IDENTITY = ("client", "site", "asset")
EPOCH = 1_700_000_000.0  # tests run at a fixed, realistic time (2023-11-14)


class SeriesSpec(Strict):
    """One input series: metric, labels (``client``, ``site``, ``asset`` identify the asset), values."""

    metric: str
    labels: dict[str, LabelValue] = Field(default_factory=dict)
    values: str


class ExpectedAlert(Strict):
    """An alert expected at a time; unlisted labels are ignored."""

    rule: str
    severity: Severity | None = None
    labels: dict[str, LabelValue] = Field(default_factory=dict)
    summary: str | None = None


class Expectation(Strict):
    at: DurationStr
    firing: list[ExpectedAlert] | None = None
    pending: list[ExpectedAlert] | None = None


class AssetSpec(Strict):
    """Context for overrides: an asset's site and tags (its client comes from the series)."""

    site: str | None = None
    tags: list[str] = Field(default_factory=list)


class RuleTest(Strict):
    name: str
    interval: DurationStr = Field(default=60.0, gt=0)
    series: list[SeriesSpec] = Field(default_factory=list)
    expect: list[Expectation] = Field(min_length=1)


class RuleTestFile(Strict):
    rule_files: list[str] = Field(min_length=1)
    evaluation_interval: DurationStr = Field(default=60.0, gt=0)
    assets: dict[str, AssetSpec] = Field(default_factory=dict)
    tests: list[RuleTest] = Field(min_length=1)


_VALUE = re.compile(
    r"^(?P<a>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?)"
    r"(?:(?P<op>[+-])(?P<b>(?:\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?))?(?:x(?P<n>\d+))?$"
)


def expand_values(text: str) -> list[float | None]:
    """``"80 86x2 1+1x2 _x2"`` → ``[80, 86, 86, 86, 1, 2, 3, None, None]``. Raises ValueError."""
    out: list[float | None] = []
    for token in text.split():
        if token == "_":
            out.append(None)
            continue
        if token.startswith("_x") and token[2:].isdigit():
            out.extend([None] * int(token[2:]))
            continue
        match = _VALUE.match(token)
        if not match:
            raise ValueError(f"{token!r} is not a value: use a, axN, a+bxN, a-bxN, _ or _xN")
        a = float(match["a"])
        n = int(match["n"]) if match["n"] else 0
        b = float(match["b"]) if match["b"] else 0.0
        if match["op"] == "-":
            b = -b
        if match["op"] and not match["n"]:
            raise ValueError(f"{token!r}: a ramp needs a count, e.g. '1+2x10'")
        out.extend(a + b * i for i in range(n + 1))
    return out


@dataclass(slots=True)
class Failure:
    test: str
    at: float
    what: str
    expected: list[str]
    got: list[str]


@dataclass(slots=True)
class FileResult:
    path: str
    tests: int = 0
    failures: list[Failure] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.problems


def _describe(
    rule: str, severity: str | None, labels: dict[str, str], summary: str | None = None
) -> str:
    items = ", ".join(f"{k}: {v}" for k, v in sorted(labels.items()))
    text = f"{{rule: {rule}, severity: {severity}, labels: {{{items}}}"
    if summary is not None:
        text += f", summary: {summary!r}"
    return text + "}"


def run_file(path: str | Path) -> FileResult:
    """Run every test in one test file."""
    path = Path(path)
    result = FileResult(str(path))
    try:
        doc = YamlDocument.from_file(path)
    except ConfigError as exc:
        result.problems = [Problem(p.split(": ", 1)[0], p.split(": ", 1)[-1]) for p in exc.problems]
        return result
    try:
        spec = RuleTestFile.model_validate(doc.data if isinstance(doc.data, dict) else {})
    except ValidationError as exc:
        result.problems = _validation_problems(exc, doc, RuleTestFile)
        return result
    files = [(path.parent / f) for f in spec.rule_files]
    loaded = load(files)
    if loaded.errors:
        result.problems = loaded.errors
        return result
    for i, test in enumerate(spec.tests):
        result.tests += 1
        try:
            result.failures.extend(_run_test(spec, test, loaded.ruleset))
        except ValueError as exc:
            result.problems.append(
                Problem(position(doc, ["tests", i, "series"]), f"tests[{i}]: {exc}")
            )
    return result


def _run_test(spec: RuleTestFile, test: RuleTest, ruleset: Any) -> list[Failure]:
    clients: dict[str, int] = {}
    assets: dict[tuple[str, str], AssetInfo] = {}
    samples: list[tuple[float, SeriesRef, float]] = []
    for n, series in enumerate(test.series):
        labels = dict(series.labels)
        client = labels.pop("client", "default")
        site = labels.pop("site", None)
        asset = labels.pop("asset", "asset")
        client_id = clients.setdefault(client, len(clients) + 1)
        info = assets.get((client, asset))
        if info is None:
            extra = spec.assets.get(asset, AssetSpec())
            info = AssetInfo(
                len(assets) + 1, client_id, client, site or extra.site, asset, frozenset(extra.tags)
            )
            assets[(client, asset)] = info
        ref = SeriesRef(n + 1, client_id, info.id, asset, series.metric, labels)
        for i, value in enumerate(expand_values(series.values)):
            if value is not None:
                samples.append((EPOCH + i * test.interval, ref, value))
    by_id = {info.id: info for info in assets.values()}
    engine = RuleEngine(
        ruleset,
        lambda asset_id: by_id.get(asset_id) or AssetInfo(asset_id, 0, "", None, "?"),
        started_at=EPOCH,
    )
    samples.sort(key=lambda s: s[0])
    last = max(e.at for e in test.expect)
    step = spec.evaluation_interval
    times = sorted(
        {EPOCH + k * step for k in range(int(last // step) + 1)}
        | {EPOCH + e.at for e in test.expect}
    )
    expectations = {EPOCH + e.at: e for e in test.expect}
    failures: list[Failure] = []
    fed = 0
    for now in times:
        batch = []
        while fed < len(samples) and samples[fed][0] <= now:
            ts, ref, value = samples[fed]
            batch.append((ref, value, ts))
            fed += 1
        if batch:
            engine.observe(batch, now)
        engine.sweep(now)
        expect = expectations.get(now)
        if expect is None:
            continue
        for status, wanted in ((FIRING, expect.firing), (PENDING, expect.pending)):
            if wanted is None:
                continue
            failure = _compare(engine, by_id, status, wanted)
            if failure is not None:
                failures.append(Failure(test.name, now - EPOCH, status, *failure))
    return failures


def _compare(
    engine: RuleEngine, assets: dict[int, AssetInfo], status: str, wanted: list[ExpectedAlert]
) -> tuple[list[str], list[str]] | None:
    got = []
    for alert in engine.alerts.values():
        if alert.core.status != status:
            continue
        info = assets.get(alert.asset_id)
        rule = engine.ruleset.rules[alert.rule_id].rule
        labels = {
            **alert.labels,
            **rule.labels,
            "client": info.client if info else "",
            "asset": info.name if info else "",
        }
        if info and info.site:
            labels["site"] = info.site
        summary = None
        if any(w.summary is not None for w in wanted):
            from collector.rules.engine import render, summary_context

            compiled = engine.ruleset.rules[alert.rule_id]
            context = summary_context(
                alert.labels,
                alert.core.last_value,
                compiled.rule,
                asset=labels["asset"],
                client=labels["client"],
                site=labels.get("site"),
                eta=alert.core.eta,
                severity=alert.core.severity,
            )
            summary = render(
                engine._rule_for(engine.ruleset.rules[alert.rule_id], alert.asset_id).summary,
                context,
            )
        got.append((alert.rule_id, alert.core.severity, labels, summary))
    unmatched = list(got)
    ok = True
    for w in wanted:
        for candidate in unmatched:
            rule_id, severity, labels, summary = candidate
            if (
                rule_id == w.rule
                and (w.severity is None or w.severity == severity)
                and all(labels.get(k) == v for k, v in w.labels.items())
                and (w.summary is None or w.summary == summary)
            ):
                unmatched.remove(candidate)
                break
        else:
            ok = False
    if ok and not unmatched:
        return None
    expected = [_describe(w.rule, w.severity, dict(w.labels), w.summary) for w in wanted]
    shown = [
        _describe(r, s, labels, summ)
        for r, s, labels, summ in sorted(got, key=lambda g: (g[0], str(g[2])))
    ]
    return expected, shown


def format_result(result: FileResult) -> str:
    """Human output: problems, then each failure with expected vs got, then a summary line."""
    lines = [str(p) for p in result.problems]
    for f in result.failures:
        lines.append(
            f"  FAILED: {result.path}: test {f.test!r} at {format_duration(f.at) if f.at else '0s'}:"
        )
        lines.append(f"    expected {f.what}:")
        lines.extend(f"      - {e}" for e in f.expected) if f.expected else lines.append(
            "      (none)"
        )
        lines.append(f"    got {f.what}:")
        lines.extend(f"      - {g}" for g in f.got) if f.got else lines.append("      (none)")
    if result.ok:
        lines.append(f"  SUCCESS: {result.path}: {result.tests} test(s) passed")
    elif not result.problems:
        failed = len({f.test for f in result.failures})
        lines.append(f"  FAILED: {result.path}: {failed} of {result.tests} test(s) failed")
    return "\n".join(lines)


__all__ = ["FileResult", "expand_values", "format_result", "run_file", "math"]
