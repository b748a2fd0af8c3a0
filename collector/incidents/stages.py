"""The registry of pipeline stages (see :mod:`collector.incidents.pipeline` for the contract).

Each entry is ``"module:function"`` (imported on first use) or the callable itself, run in
this order. Noise control plugs in here: maintenance windows, dependencies / site
unreachable, re-notification back-off. Dedupe by fingerprint is the lifecycle's own job.
"""

from __future__ import annotations

STAGES: tuple[str, ...] = (
    "collector.incidents.noise:maintenance_stage",  # inside a maintenance window: hold until its end
    "collector.incidents.noise:dependency_stage",  # uplink down / site unreachable: fold into one
    "collector.contracts.scope:scope_stage",  # out of scope: drop (ignore) or label (tag, billable)
)

#: The stages a problem reported by a person goes through (never held back, never dropped:
#: only annotated, e.g. tagged out of scope).
PEOPLE_STAGES: tuple[str, ...] = ("collector.contracts.scope:scope_stage",)
