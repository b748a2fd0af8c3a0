"""Dependencies: a site's uplink down, or the whole site silent, is one incident, not N.

Pure decisions on plain values; :mod:`collector.incidents.noise` reads the site's state from
the store and runs them as a pipeline stage.

* **Uplink down.** A site's uplinks are its assets tagged with one of ``uplink_tags``
  (default ``uplink``) or named under ``uplinks: {client: {site: [asset, …]}}``. While an
  outage rule (``outage_rules``) fires for an uplink, every other firing signal from that
  site is suppressed and folded into the uplink's incident.
* **Site unreachable.** When at least ``site_unreachable.fraction`` (default: all) of a
  site's assets — and at least ``min_assets`` (default 2) — have a silence rule firing
  (``silent_rules``, default ``agent-silent``), the collector opens ONE ``site-unreachable``
  incident for the site and suppresses the assets' own signals into it. Assets do not go
  silent in the same second, so a silence signal from a site that is not (yet) unreachable
  is held back for ``grace`` after it fired before it may open its own incident.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from agent.durations import Duration
from collector.incidents.pipeline import PASS, AlertSignal, Decision, defer, suppress

SITE_UNREACHABLE = "site-unreachable"


class SiteUnreachableConfig(BaseModel):
    """When a site counts as unreachable (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fraction: float = Field(default=1.0, gt=0, le=1)
    min_assets: int = Field(default=2, ge=2)
    grace: Duration = Field(default=60.0, ge=0)


class DependencyConfig(BaseModel):
    """The ``dependencies:`` section of the maintenance file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    uplink_tags: list[str] = ["uplink"]
    #: client → site → uplink asset names
    uplinks: dict[str, dict[str, list[str]]] = {}
    #: rules whose firing on an uplink means "everything behind it is unreachable"
    outage_rules: list[str] = ["agent-silent", "snmp-unreachable", "link-down", "ping-loss"]
    #: rules that mean "this asset's agent went silent"
    silent_rules: list[str] = ["agent-silent"]
    site_unreachable: SiteUnreachableConfig = SiteUnreachableConfig()

    def is_uplink(
        self, client: str, site: str | None, asset: str | None, tags: frozenset[str]
    ) -> bool:
        if asset is None or site is None:
            return False
        return bool(tags.intersection(self.uplink_tags)) or asset in self.uplinks.get(
            client, {}
        ).get(site, [])


@dataclass(frozen=True, slots=True)
class SiteState:
    """What the stage knows about a site right now (read from the store)."""

    assets: int  # assets of the site that report (denominator)
    silent: frozenset[str] = frozenset()  # assets with a silence rule firing
    #: uplink asset → the fingerprint of its firing outage alert
    uplinks_down: dict[str, str] = field(default_factory=dict)
    #: the incident key of the site-unreachable incident, if one is open
    site_incident: str | None = None
    #: incident keys of the uplinks' outage alerts, by fingerprint (where one is open)
    uplink_incidents: dict[str, str] = field(default_factory=dict)


def unreachable(state: SiteState, config: SiteUnreachableConfig) -> bool:
    """Enough of the site's assets are silent at once."""
    if state.assets < config.min_assets:
        return False
    return len(state.silent) >= max(config.min_assets, config.fraction * state.assets - 1e-9)


def site_fingerprint(client_id: int, site: str) -> str:
    """The site-unreachable incident's fingerprint (one per client and site)."""
    text = "\x1f".join([SITE_UNREACHABLE, str(client_id), site])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def site_signal(signal: AlertSignal, state: SiteState, status: str, now: float) -> AlertSignal:
    """The synthetic asset-less signal that opens (or resolves) a site's unreachable incident."""
    site = signal.site or ""
    silent = ", ".join(sorted(state.silent)[:20]) + (" …" if len(state.silent) > 20 else "")
    return AlertSignal(
        fingerprint=site_fingerprint(signal.client_id, site),
        name=SITE_UNREACHABLE,
        client_id=signal.client_id,
        client=signal.client,
        status=status,  # type: ignore[arg-type]
        ts=now,
        origin=signal.origin,
        site=site,
        labels={"site": site},
        severity="critical",
        priority="critical",
        kind="outage",
        summary=f"site {site} of {signal.client} is unreachable",
        description=(
            f"{len(state.silent)} of {state.assets} assets at site {site} stopped reporting "
            f"at once: {silent}. Their own alerts are listed here instead of opening incidents."
        ),
        event=status,
    )


@dataclass(frozen=True, slots=True)
class Verdict:
    """The stage's decision, and what to do with the site incident (firing/resolved/None)."""

    decision: Decision
    site_signal: str | None = None


def decide(signal: AlertSignal, state: SiteState, config: DependencyConfig, now: float) -> Verdict:
    """Suppress, hold back or pass one signal given its site's state."""
    if signal.site is None or signal.name == SITE_UNREACHABLE or signal.origin == "user_reported":
        return Verdict(PASS)
    silence = signal.name in config.silent_rules
    site_down = unreachable(state, config.site_unreachable)
    if signal.status == "resolved":
        # The first asset back makes the site reachable again: resolve the site incident.
        if silence and state.site_incident is not None and not site_down:
            return Verdict(PASS, site_signal="resolved")
        return Verdict(PASS)
    if site_down:
        reason = (
            f"site {signal.site} unreachable ({len(state.silent)} of {state.assets} assets silent)"
        )
        return Verdict(
            suppress(reason, parent=state.site_incident), site_signal="firing" if silence else None
        )
    is_uplink = config.is_uplink(signal.client, signal.site, signal.asset, signal.tags)
    if not is_uplink:
        for uplink, fp in sorted(state.uplinks_down.items()):
            if uplink != signal.asset:
                return Verdict(
                    suppress(
                        f"uplink {uplink} of site {signal.site} is down",
                        parent=state.uplink_incidents.get(fp),
                    )
                )
    grace_end = signal.ts + config.site_unreachable.grace
    if silence and state.assets >= config.site_unreachable.min_assets and now < grace_end:
        return Verdict(
            defer(
                grace_end,
                reason=f"waiting {config.site_unreachable.grace:g}s: "
                f"is all of site {signal.site} going silent?",
            )
        )
    return Verdict(PASS)
