"""How a stored series becomes a Prometheus series (pure; docs/remote-write.md).

* ``__name__``: the metric as ``/metrics`` exposes it (:func:`agent.exposition.family_name`,
  ``upkeep_`` + metric unless it has the prefix), every character outside
  ``[a-zA-Z0-9_:]`` replaced by ``_`` and a leading digit prefixed with ``_``;
* ``client``, ``site``, ``asset``: the asset's client, site (left out when the asset has
  none) and name;
* the sample's own labels, names sanitised like the metric (``[a-zA-Z0-9_]``); one that
  clashes with a label already set is renamed ``exported_<name>`` (as ``/metrics`` does),
  and a name starting with ``__`` (reserved by Prometheus) gets the ``exported_`` prefix too;
* ``external_labels`` from the settings, where the series has no label of that name;
* empty values are left out (Prometheus treats an empty label as absent); names sorted.

So the same PromQL selects a series in the remote-written history and in a scrape of
``/metrics``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from agent.exposition import exposed_labels, family_name

_METRIC_BAD = re.compile(r"[^a-zA-Z0-9_:]")
_LABEL_BAD = re.compile(r"[^a-zA-Z0-9_]")


def metric_name(metric: str) -> str:
    """A valid Prometheus metric name for a stored metric."""
    name = _METRIC_BAD.sub("_", family_name(metric))
    return "_" + name if name[:1].isdigit() else name


def label_name(name: str) -> str:
    """A valid, non-reserved Prometheus label name."""
    out = _LABEL_BAD.sub("_", name) or "_"
    if out[:1].isdigit():
        out = "_" + out
    return "exported_" + out if out.startswith("__") else out


def series_labels(
    metric: str,
    labels: Mapping[str, str],
    *,
    client: str,
    site: str | None,
    asset: str,
    external: Mapping[str, str] = {},  # noqa: B006 (read only)
) -> tuple[tuple[str, str], ...]:
    """The sorted ``(name, value)`` labels of one series, ``__name__`` included."""
    identity = {"client": client, "site": site or "", "asset": asset}
    own = {label_name(k): v for k, v in labels.items()}
    out = exposed_labels(identity, own)
    for k, v in external.items():
        out.setdefault(k, v)
    out["__name__"] = metric_name(metric)
    return tuple(sorted((k, v) for k, v in out.items() if v != ""))
