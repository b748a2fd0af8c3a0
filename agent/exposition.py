"""How a stored series is named and labelled in Prometheus exposition.

Shared by the collector's ``/metrics`` and the agent's optional local endpoint, so a
dashboard or alert written against one works against the other. Pure functions, no
imports: the agent loads this only when its endpoint is enabled.

* Names get the application prefix ``upkeep_`` unless they already have it
  (``cpu_usage_percent`` → ``upkeep_cpu_usage_percent``; ``upkeep_check_up`` stays).
* A name ending in ``_total`` is a counter, everything else a gauge: agents report
  cumulative counts as ``…_total`` and nothing else with that suffix (Prometheus naming
  conventions; ``promtool check metrics`` holds both endpoints to them).
* The identifying labels (``client``, ``site``, ``asset``) win over a series label of the
  same name, which is kept as ``exported_<name>`` — what Prometheus itself does with a
  target label that clashes with a scraped one.
"""

from __future__ import annotations

from collections.abc import Mapping

PREFIX = "upkeep_"


def family_name(metric: str) -> str:
    """The exposed metric name of a stored metric."""
    return metric if metric.startswith(PREFIX) else PREFIX + metric


def family_type(metric: str) -> str:
    """``counter`` or ``gauge`` (see the module docstring)."""
    return "counter" if metric.endswith("_total") else "gauge"


def family_help(metric: str) -> str:
    return f"Latest value of {metric} reported by Upkeep agents."


def exposed_labels(identity: Mapping[str, str], labels: Mapping[str, str]) -> dict[str, str]:
    """``identity`` (client/site/asset) plus the series' own labels, clashes renamed."""
    out = dict(identity)
    for name, value in labels.items():
        key = name
        while key in out:
            key = "exported_" + key
        out[key] = value
    return out
