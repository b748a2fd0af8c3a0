"""Contract scope applied to incidents: in scope, out of scope (tagged or billable), or ignored.

What an incident is about — its asset's kind, tags, site and name (from the ``assets`` and
``sites`` tables) and its *service* (the ``target`` label of network checks, else the
``service`` label) — is matched against the client's :class:`~collector.contracts.model.Scope`.
For something out of scope the contract's ``out_of_scope`` policy decides:

- ``tag``: the incident opens with the labels ``scope=out-of-scope`` and ``scope_policy=tag``
  (ticket systems show them) and an ``out_of_scope`` incident event carrying the exclusion's
  description (what the client reads);
- ``billable``: the same with ``scope_policy=billable``; the points ledger charges the
  incident's time like client-caused work;
- ``ignore``: the signal is suppressed, so no incident opens. People are never ignored: a
  user-reported incident on something out of scope is tagged instead.

:func:`decide` is pure; :func:`scope_stage` is the pipeline stage (after noise control in
``collector.incidents.stages``, and the one stage of what people report): its decision carries
the labels and the event, so the incident is written once, complete, and its first ticket
carries them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector.contracts.model import Contract
from collector.contracts.store import cached_contract
from collector.incidents.pipeline import PASS, AddedEvent, AlertSignal, Decision, annotate, suppress
from collector.schema import assets, incidents, sites

log = logging.getLogger(__name__)

SCOPE_LABEL = "scope"
OUT_OF_SCOPE = "out-of-scope"
POLICY_LABEL = "scope_policy"
EVENT = "out_of_scope"
NOT_INCLUDED = "not covered by the contract's scope"
_ACTIVE = ("open", "acknowledged", "waiting_for_client", "waiting_for_third_party")


@dataclass(frozen=True, slots=True)
class Facts:
    """What scope selectors match on."""

    kind: str | None = None
    tags: tuple[str, ...] = ()
    site: str | None = None
    name: str | None = None
    service: str | None = None

    @property
    def empty(self) -> bool:
        return self.name is None and self.service is None

    def as_kwargs(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "tags": self.tags,
            "site": self.site,
            "name": self.name,
            "service": self.service,
        }


@dataclass(frozen=True, slots=True)
class OutOfScope:
    """Why something is out of scope, and what the contract says to do about it."""

    reason: str  # the exclusion's description, or NOT_INCLUDED
    policy: str  # tag | billable | ignore


def service_of(labels: Mapping[str, str]) -> str | None:
    """The service an incident is about: a network check's ``target``, else a ``service`` label."""
    return labels.get("target") or labels.get("service") or None


def decide(contract: Contract, facts: Facts) -> OutOfScope | None:
    """None when ``facts`` are covered (or there is nothing to match on); else why not."""
    scope = contract.scope
    if facts.empty or (not scope.include and not scope.exclude):
        return None
    exclusion = scope.exclusion_for(**facts.as_kwargs())
    if exclusion is not None:
        return OutOfScope(exclusion.description, scope.out_of_scope)
    if scope.covers(**facts.as_kwargs()):
        return None
    return OutOfScope(NOT_INCLUDED, scope.out_of_scope)


def facts_of(
    conn: Connection,
    client_id: int,
    *,
    asset_id: int | None,
    asset: str | None,
    site: str | None,
    labels: Mapping[str, str],
) -> Facts:
    """The asset's kind, tags, site and name from the store (by id, else by name), and the service."""
    query = (
        sa.select(assets.c.name, assets.c.kind, assets.c.tags, sites.c.name.label("site"))
        .outerjoin(sites, sites.c.id == assets.c.site_id)
        .where(assets.c.client_id == client_id)
    )
    row = None
    if asset_id is not None:
        row = conn.execute(query.where(assets.c.id == asset_id)).first()
    elif asset:
        row = conn.execute(query.where(assets.c.name == asset)).first()
    service = service_of(labels)
    if row is None:
        return Facts(site=site, name=asset or None, service=service)
    return Facts(
        kind=row.kind,
        tags=tuple(row.tags or ()),
        site=row.site or site,
        name=row.name,
        service=service,
    )


# ---------------------------------------------------------------------- the pipeline stage


def scope_stage(conn: Connection, signal: AlertSignal, now: float) -> Decision:
    """A firing signal about something out of scope: suppressed when the policy is ``ignore``
    (never a person's report), else passed with the labels and the ``out_of_scope`` event its
    incident opens with."""
    if signal.status != "firing":
        return PASS
    contract = cached_contract(conn, signal.client_id)
    if contract is None or (not contract.scope.include and not contract.scope.exclude):
        return PASS
    facts = facts_of(
        conn,
        signal.client_id,
        asset_id=signal.asset_id,
        asset=signal.asset,
        site=signal.site,
        labels=signal.labels,
    )
    verdict = decide(contract, facts)
    if verdict is None:
        return PASS
    if verdict.policy == "ignore" and signal.origin != "user_reported":
        if (
            signal.fingerprint
            and conn.execute(
                sa.select(incidents.c.id)
                .where(
                    incidents.c.fingerprint == signal.fingerprint, incidents.c.state.in_(_ACTIVE)
                )
                .limit(1)
            ).first()
        ):
            return PASS  # opened before the policy changed: let it run its course
        return suppress(f"out of scope ({verdict.reason}); the contract ignores it")
    policy = "billable" if verdict.policy == "billable" else "tag"
    return annotate(
        {SCOPE_LABEL: OUT_OF_SCOPE, POLICY_LABEL: policy},
        [
            AddedEvent(
                EVENT,
                {
                    "reason": verdict.reason,
                    "policy": policy,
                    "contract_policy": verdict.policy,
                    "asset": facts.name,
                    "service": facts.service,
                },
            )
        ],
    )


def is_billable(labels: Mapping[str, str]) -> bool:
    """For the ledger: an incident the contract says to charge because it is out of scope."""
    return labels.get(SCOPE_LABEL) == OUT_OF_SCOPE and labels.get(POLICY_LABEL) == "billable"
