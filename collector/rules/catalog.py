"""Metric names (and their labels) rules may refer to: the agent's own catalogs.

Read from the agent itself — every registered check's catalog and every shipped SNMP
profile's catalog — so the rules side cannot drift from what agents send. ``rules check``
warns (does not fail) on a metric outside this list: a custom check, a custom SNMP
profile or a newer agent may send it.
"""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def metric_labels() -> dict[str, frozenset[str]]:
    """Every metric name the agent is known to send → its label names."""
    out: dict[str, set[str]] = {}
    for spec in _specs():
        out.setdefault(spec.name, set()).update(spec.labels)
    return {name: frozenset(labels) for name, labels in out.items()}


@functools.cache
def metric_units() -> dict[str, str]:
    """Every metric name the agent is known to send → its catalog unit (``seconds``, ``bytes``,
    ``percent``, … or ``""``): what decides how a value is written for a person."""
    return {spec.name: spec.unit for spec in _specs()}


@functools.cache
def label_values() -> dict[str, dict[str, frozenset[str]]]:
    """metric → enumerated label → every value the agent can send (its vocabulary)."""
    out: dict[str, dict[str, set[str]]] = {}
    for spec in _specs():
        for label, values in spec.values.items():
            out.setdefault(spec.name, {}).setdefault(label, set()).update(values)
    return {m: {k: frozenset(v) for k, v in labels.items()} for m, labels in out.items()}


@functools.cache
def metric_states() -> dict[str, dict[int, str]]:
    """metric → value → name, for metrics whose value is an enumeration code."""
    out: dict[str, dict[int, str]] = {}
    for spec in _specs():
        if spec.states:
            out.setdefault(spec.name, {}).update(spec.states)
    return out


@functools.cache
def _specs() -> tuple[Any, ...]:
    from agent.checks.base import BASE_CATALOG
    from agent.checks.registry import CHECKS, check_class
    from agent.selfcheck import AgentSelfCheck

    specs = [*BASE_CATALOG, *AgentSelfCheck.catalog]
    for check in CHECKS:
        try:
            specs.extend(check_class(check).catalog)
        except Exception:  # a check that cannot import here (platform) still has rules elsewhere
            continue
    try:
        from agent.snmp.profiles import load_profiles

        for profile in load_profiles().values():
            specs.extend(profile.catalog)
    except Exception:  # pysnmp-side problems must not stop rule loading
        pass
    return tuple(specs)


def known_metrics() -> frozenset[str]:
    """Every metric name the agent is known to send."""
    return frozenset(metric_labels())
