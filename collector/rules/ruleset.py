"""A loaded, validated set of rules and overrides, compiled for fast matching.

``RuleSet`` is what the loader returns and the engine runs. Matching a series against a
rule's ``where`` is split into the label part (cacheable per series) and the sibling part
(a ``where`` key that is not a label of the series names another metric of the same asset
and labels, compared by its latest value — e.g. ``if_admin_status: "1"`` on
``if_oper_status``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from collector.rules.model import ANY_METRIC, AbsentSpec, Override, Rule


@dataclass(frozen=True, slots=True)
class Matcher:
    """One ``where`` entry: ``=`` exact, ``!=``, ``=~`` / ``!~`` (full-match regex)."""

    key: str
    op: str
    value: str
    regex: re.Pattern[str] | None = None

    @classmethod
    def parse(cls, key: str, text: str) -> Matcher:
        for op in ("!=", "=~", "!~"):
            if text.startswith(op):
                value = text[len(op) :]
                regex = re.compile(value) if op in ("=~", "!~") else None
                return cls(key, op, value, regex)
        return cls(key, "=", text)

    def matches(self, actual: str) -> bool:
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        assert self.regex is not None
        found = self.regex.fullmatch(actual) is not None
        return found if self.op == "=~" else not found


def format_value(value: float) -> str:
    """A sample value as a label-like string: ``1.0`` → ``"1"``."""
    return str(int(value)) if float(value).is_integer() else repr(value)


@dataclass(slots=True)
class CompiledRule:
    """A rule with its matchers compiled and a hash of its definition (for reloads)."""

    rule: Rule
    matchers: tuple[Matcher, ...]
    digest: str
    source: str = ""

    @property
    def id(self) -> str:
        return self.rule.id

    def match_labels(
        self, labels: dict[str, str], siblings: frozenset[str]
    ) -> tuple[bool, tuple[Matcher, ...]]:
        """(labels match, matchers left for sibling metrics)."""
        left = []
        for m in self.matchers:
            if m.key in labels:
                if not m.matches(labels[m.key]):
                    return False, ()
            elif m.key in siblings:
                left.append(m)
            elif not m.matches(""):  # a missing label is the empty string, as in Prometheus
                return False, ()
        return True, tuple(left)


def rule_digest(rule: Rule) -> str:
    data = rule.model_dump(mode="json", by_alias=True)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(slots=True)
class RuleSet:
    """Rules by id and by metric, overrides, and which metrics ``where`` joins need."""

    rules: dict[str, CompiledRule] = field(default_factory=dict)
    overrides: list[Override] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    by_metric: dict[str, list[CompiledRule]] = field(default_factory=dict)
    any_rules: list[CompiledRule] = field(default_factory=list)
    sibling_metrics: frozenset[str] = frozenset()

    @classmethod
    def build(
        cls,
        rules: Iterable[tuple[Rule, str]],
        overrides: Iterable[Override] = (),
        files: Iterable[str] = (),
    ) -> RuleSet:
        out = cls(overrides=list(overrides), files=list(files))
        for rule, source in rules:
            compiled = CompiledRule(
                rule,
                tuple(Matcher.parse(k, v) for k, v in rule.where.items()),
                rule_digest(rule),
                source,
            )
            out.rules[rule.id] = compiled
            if rule.metric == ANY_METRIC:
                out.any_rules.append(compiled)
            else:
                out.by_metric.setdefault(rule.metric, []).append(compiled)
        # Any `where` key may name a sibling metric; keys that are only label names never
        # match a metric, so tracking them costs one set probe per sample.
        out.sibling_metrics = frozenset(m.key for c in out.rules.values() for m in c.matchers)
        return out

    def effective(
        self, rule_id: str, client: str, site: str | None, asset: str, tags: Iterable[str]
    ) -> Rule:
        """The rule as it applies to one asset: overrides applied, least specific first."""
        rule = self.rules[rule_id].rule
        tags = frozenset(tags)
        chosen = [o for o in self.overrides if rule_id in o.rules() or "*" in o.rules()]
        chosen = [o for o in chosen if o.matches(client, site, asset, tags)]
        if not chosen:
            return rule
        update: dict = {}
        for o in sorted(chosen, key=Override.specificity):  # stable: later files win ties
            update.update(o.changes())
            if o.absent_for is not None and rule.absent is not None:
                update["absent"] = AbsentSpec(for_=o.absent_for)
        if "labels" in update:
            update["labels"] = {**rule.labels, **update["labels"]}
        return rule.model_copy(update=update)
