"""Units, help texts and the sending check of every metric, from the agent's own catalogs.

The agent declares each metric once (``MetricSpec`` in every check's ``catalog`` and in each
SNMP profile); this module indexes them by name for the UI, so a chart's unit cannot drift
from what the agent sends. A metric outside the catalogs (a custom check, a newer agent)
gets no unit and the group "other".
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

log = logging.getLogger(__name__)

#: The group of metrics the agent sends about itself and every check (``BASE_CATALOG``).
AGENT_GROUP = "agent"
OTHER_GROUP = "other"


@dataclass(frozen=True, slots=True)
class MetricInfo:
    """One metric as the agent declares it, and the check that sends it."""

    name: str
    unit: str
    type: str
    help: str
    check: str
    states: MappingProxyType[int, str] = field(default_factory=lambda: MappingProxyType({}))


@functools.cache
def catalog() -> dict[str, MetricInfo]:
    """metric name → its :class:`MetricInfo` (first declaration wins)."""
    out: dict[str, MetricInfo] = {}
    for group, specs in _groups():
        for spec in specs:
            if spec.name not in out:
                out[spec.name] = MetricInfo(
                    spec.name,
                    spec.unit,
                    spec.type,
                    spec.help,
                    group,
                    MappingProxyType(dict(spec.states)),
                )
    return out


def info(metric: str) -> MetricInfo:
    """The metric's info; an unknown metric: no unit, group "other"."""
    found = catalog().get(metric)
    if found is not None:
        return found
    return MetricInfo(metric, "", "gauge", "", OTHER_GROUP)


def _groups() -> list[tuple[str, tuple[Any, ...]]]:
    from agent.checks.base import BASE_CATALOG
    from agent.checks.registry import CHECKS, check_class
    from agent.selfcheck import AgentSelfCheck

    groups: list[tuple[str, tuple[Any, ...]]] = []
    for name in CHECKS:
        try:
            groups.append((name, tuple(check_class(name).catalog)))
        except Exception:  # a check that cannot import on this platform
            log.debug("metric catalog: check %s not importable here", name)
    try:
        from agent.snmp.profiles import load_profiles

        for name, profile in sorted(load_profiles().items()):
            groups.append((f"snmp {name}", tuple(profile.catalog)))
    except Exception:  # pysnmp-side problems must not break a page
        log.exception("metric catalog: SNMP profiles could not be read")
    groups.append((AGENT_GROUP, (*BASE_CATALOG, *AgentSelfCheck.catalog)))
    return groups
