"""The registry of pipeline stages (see :mod:`collector.incidents.pipeline` for the contract).

Each entry is ``"module:function"`` (imported on first use) or the callable itself, run in
this order. Noise control plugs in here: maintenance windows, dependencies / site
unreachable, re-notification back-off. Dedupe by fingerprint is the lifecycle's own job.
"""

from __future__ import annotations

STAGES: tuple[str, ...] = (
    "collector.incidents.noise:maintenance_stage",  # inside a maintenance window: hold until its end
    "collector.incidents.noise:dependency_stage",  # uplink down / site unreachable: fold into one
    "collector.contracts.scope:scope_stage",  # out of the contract's scope, policy ignore: drop
)
