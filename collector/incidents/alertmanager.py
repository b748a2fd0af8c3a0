"""The Alertmanager receiver: ``POST /api/v1/alertmanager`` takes Alertmanager's webhook
payload (version 4) and hands each alert to the incident lifecycle as an
:class:`~collector.incidents.pipeline.AlertSignal` of origin ``external``.

A firing alert opens or updates the incident of its fingerprint, a resolved one resolves
it, through the same stages as a rule transition (maintenance, dependencies, …). Labels map
to Upkeep's names by configurable label names (settings ``alertmanager_*``): the client
(default ``client``), the asset (first present of ``asset``, ``instance``) and the site.
Alerts are applied one by one: an alert naming a client Upkeep does not know (or none)
is not applied, but it does not hold up the others. It is listed in the answer's
``unknown`` with the reason, counted (``upkeep_alertmanager_alerts_unknown_client_total``)
and logged as a warning: a configuration error to fix, never an alert dropped silently.
(Alertmanager does not retry a notification answered 2xx or 4xx, so refusing the whole
notification would only lose the known clients' alerts too.)

Mapping a payload is pure (:func:`signals_of`); the endpoint only reads the body within its
limit, authenticates (an admin token or a dedicated ``alertmanager`` token) and writes all
alerts of one payload in one transaction.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from sqlalchemy.engine import Connection
from starlette.concurrency import run_in_threadpool

from agent.wire import json_integer
from collector import admin, timeutil
from collector.api_auth import Credentials, authenticate, bearer_token, responses
from collector.errors import from_validation
from collector.incidents.pipeline import AlertSignal
from collector.request_body import read_body
from collector.runtime import Runtime, RuntimeDep, get_runtime
from collector.schema import assets, clients, sites
from collector.settings import Settings

log = logging.getLogger(__name__)

PATH = "/api/v1/alertmanager"
#: Token kinds the receiver accepts.
RECEIVER_KINDS: tuple[admin.TokenKind, ...] = ("alertmanager", "admin")
#: Priority when the alert has no valid ``priority`` label, by its (normalized) severity.
PRIORITY_BY_SEVERITY = {"critical": "major", "warning": "minor", None: "minor"}
_PRIORITIES = ("critical", "major", "minor", "technical")
_SEVERITY = {
    "critical": "critical",
    "page": "critical",
    "error": "critical",
    "emergency": "critical",
    "alert": "critical",
    "high": "critical",
    "warning": "warning",
    "warn": "warning",
    "medium": "warning",
}


# ---------------------------------------------------------------------- the payload


def _not_a_number(value: Any) -> Any:
    if isinstance(value, int | float):
        raise ValueError("must be an RFC 3339 date-time string, not a number")
    return value


AmTime = Annotated[datetime | None, BeforeValidator(_not_a_number)]


class AmAlert(BaseModel):
    """One alert of a webhook notification (Alertmanager ``template.Alert``)."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    # RFC 3339 strings as Alertmanager sends them, never numbers read as epochs (pydantic's
    # strict mode would also refuse the strings of a Python dict, so numbers are refused here)
    startsAt: AmTime = None  # noqa: N815 - AM's names
    endsAt: AmTime = None  # noqa: N815
    generatorURL: str = ""  # noqa: N815
    fingerprint: str = ""


class AmWebhook(BaseModel):
    """Alertmanager's webhook body, version 4 (unknown fields are ignored, as AM may add some)."""

    model_config = ConfigDict(extra="ignore")

    version: Literal["4"]
    receiver: str = ""
    status: Literal["firing", "resolved"]
    alerts: list[AmAlert] = Field(max_length=10000)
    groupLabels: dict[str, str] = {}  # noqa: N815
    commonLabels: dict[str, str] = {}  # noqa: N815
    commonAnnotations: dict[str, str] = {}  # noqa: N815
    externalURL: str = ""  # noqa: N815
    groupKey: str = ""  # noqa: N815
    truncatedAlerts: Annotated[int, BeforeValidator(json_integer)] = Field(default=0, ge=0)  # noqa: N815


class AlertResult(BaseModel):
    """What became of one alert: the incident it touched and how, or why nothing happened."""

    fingerprint: str
    name: str
    client: str
    status: str
    incident: str | None
    event: str | None
    decision: str
    reason: str = ""


class UnknownAlert(BaseModel):
    """An alert not applied because its client label names no client Upkeep knows."""

    fingerprint: str
    name: str
    client: str
    status: str
    reason: str


class WebhookAccepted(BaseModel):
    """What became of each alert: ``alerts`` applied, ``unknown`` not (with the reason)."""

    receiver: str
    alerts: list[AlertResult]
    unknown: list[UnknownAlert] = []


def parse_webhook(raw: bytes) -> AmWebhook:
    """Validate a webhook body (MalformedBody: not JSON; InvalidBatch: not a v4 payload)."""
    try:
        return AmWebhook.model_validate_json(raw)
    except ValidationError as exc:
        raise from_validation(exc) from None


# ---------------------------------------------------------------------- mapping (pure)


@dataclass(frozen=True, slots=True)
class LabelNames:
    """Which alert labels name Upkeep's client, asset (first present wins) and site."""

    client: str = "client"
    asset: tuple[str, ...] = ("asset", "instance")
    site: str = "site"

    @classmethod
    def from_settings(cls, settings: Settings) -> LabelNames:
        return cls(
            settings.alertmanager_client_label,
            tuple(settings.alertmanager_asset_labels),
            settings.alertmanager_site_label,
        )


@dataclass(frozen=True, slots=True)
class KnownAsset:
    """An asset Upkeep knows under the alert's client (gives the signal its id, site, tags)."""

    id: int
    site: str | None
    tags: frozenset[str]


def fingerprint(labels: Mapping[str, str]) -> str:
    """The alert's identity: its label set (as Alertmanager's), hashed; stable across AM restarts."""
    canonical = json.dumps(sorted(labels.items()), separators=(",", ":"), ensure_ascii=False)
    return "am:" + hashlib.sha256(canonical.encode()).hexdigest()[:40]


def severity_of(labels: Mapping[str, str]) -> str | None:
    return _SEVERITY.get(labels.get("severity", "").strip().lower())


def priority_of(labels: Mapping[str, str], severity: str | None) -> str:
    given = labels.get("priority", "").strip().lower()
    return given if given in _PRIORITIES else PRIORITY_BY_SEVERITY[severity]


def client_of(alert: AmAlert, names: LabelNames) -> str | None:
    return alert.labels.get(names.client) or None


def asset_of(alert: AmAlert, names: LabelNames) -> str | None:
    return next((alert.labels[n] for n in names.asset if alert.labels.get(n)), None)


def signal_of(
    alert: AmAlert,
    client_id: int,
    client: str,
    names: LabelNames,
    now: float,
    known: KnownAsset | None = None,
) -> AlertSignal:
    """The signal one Alertmanager alert sends to the lifecycle."""
    labels = alert.labels
    severity = severity_of(labels)
    when = alert.endsAt if alert.status == "resolved" else alert.startsAt
    ts = when.timestamp() if when is not None and when.year > 1 else now
    summary = alert.annotations.get("summary") or alert.annotations.get("title") or ""
    name = labels.get("alertname") or "alertmanager"
    return AlertSignal(
        fingerprint=fingerprint(labels),
        name=name[:200],
        client_id=client_id,
        client=client,
        status=alert.status,
        ts=ts,
        origin="external",
        site=labels.get(names.site) or (known.site if known else None),
        asset_id=known.id if known else None,
        asset=asset_of(alert, names),
        labels=dict(labels),
        severity=severity,
        priority=priority_of(labels, severity),
        summary=summary,
        description=alert.annotations.get("description", ""),
        tags=known.tags if known else frozenset(),
        event=alert.status,
    )


# ---------------------------------------------------------------------- applying

Apply = Callable[[Connection, AlertSignal, float], Any]


def apply_webhook(
    conn: Connection, payload: AmWebhook, names: LabelNames, apply: Apply, now: float
) -> tuple[list[AlertResult], list[UnknownAlert]]:
    """Map and apply every alert of ``payload`` whose client is known, inside ``conn``'s
    transaction; the others are returned as :class:`UnknownAlert` (nothing written for them)."""
    wanted = {client_of(a, names) for a in payload.alerts} - {None}
    rows = (
        conn.execute(
            sa.select(clients.c.id, clients.c.name).where(clients.c.name.in_(wanted))
        ).all()
        if wanted
        else []
    )
    ids = {r.name: r.id for r in rows}
    results, unknown = [], []
    for alert in payload.alerts:
        client = client_of(alert, names) or ""
        if client not in ids:
            reason = (
                f"alert label {names.client!r} is missing"
                if not client
                else f"unknown client {client!r}"
            )
            unknown.append(
                UnknownAlert(
                    fingerprint=fingerprint(alert.labels),
                    name=(alert.labels.get("alertname") or "alertmanager")[:200],
                    client=client,
                    status=alert.status,
                    reason=f"{reason}: create the client (upkeep client add NAME) or fix the "
                    f"label in Alertmanager's configuration",
                )
            )
            continue
        known = _known_asset(conn, ids[client], asset_of(alert, names))
        signal = signal_of(alert, ids[client], client, names, now, known)
        applied = apply(conn, signal, now)
        decision = getattr(applied, "decision", None)
        results.append(
            AlertResult(
                fingerprint=signal.fingerprint,
                name=signal.name,
                client=client,
                status=signal.status,
                incident=getattr(applied, "key", None),
                event=getattr(applied, "event", None),
                decision=decision.action if decision is not None else "pass",
                reason=decision.reason if decision is not None else "",
            )
        )
    return results, unknown


def _known_asset(conn: Connection, client_id: int, name: str | None) -> KnownAsset | None:
    if name is None:
        return None
    row = conn.execute(
        sa.select(assets.c.id, assets.c.tags, sites.c.name.label("site"))
        .outerjoin(sites, sites.c.id == assets.c.site_id)
        .where(assets.c.client_id == client_id, assets.c.name == name)
    ).first()
    if row is None:
        return None
    return KnownAsset(row.id, row.site, frozenset(row.tags or ()))


# ---------------------------------------------------------------------- HTTP


def require_receiver(request: Request, credentials: Credentials) -> admin.Principal:
    """Dependency of the receiver: an alertmanager or an admin token."""
    return authenticate(get_runtime(request).store, bearer_token(credentials), RECEIVER_KINDS)


Receiver = Annotated[admin.Principal, Depends(require_receiver)]

#: ``POST /api/v1/alertmanager`` (an alertmanager or an admin token).
router = APIRouter(tags=["alertmanager"], responses=responses(400, 401, 403, 413, 422))


def receive(runtime: Runtime, payload: AmWebhook) -> tuple[list[AlertResult], list[UnknownAlert]]:
    """Apply one payload's alerts in one transaction; count and log those not applied."""
    now = timeutil.now()
    names = LabelNames.from_settings(runtime.settings)
    with runtime.store.write() as conn:
        results, unknown = apply_webhook(
            conn, payload, names, runtime.incident_service.apply_signal, now
        )
    if unknown:
        runtime.metrics.alertmanager_unknown.inc(len(unknown))
        log.warning(
            "alertmanager receiver %r: %d of %d alerts not applied: %s",
            payload.receiver,
            len(unknown),
            len(payload.alerts),
            "; ".join(sorted({u.reason.split(":")[0] for u in unknown})),
        )
    return results, unknown


@router.post(
    PATH,
    response_model=WebhookAccepted,
    summary="Alertmanager webhook receiver (version 4)",
    openapi_extra={
        "requestBody": {
            "required": True,
            # (the app adds AmWebhook and its parts to the document's components)
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AmWebhook"}}},
        }
    },
)
async def post_alertmanager(
    request: Request, principal: Receiver, runtime: RuntimeDep
) -> WebhookAccepted:
    """Firing alerts open or update incidents (origin ``external``), resolved ones resolve them.

    Alerts whose client is unknown (or not named) are not applied: they are listed in
    ``unknown`` and counted; the other alerts of the notification are applied.
    """
    body = await read_body(request, runtime.settings.alertmanager_max_body_bytes)
    payload = parse_webhook(body)
    results, unknown = await run_in_threadpool(receive, runtime, payload)
    return WebhookAccepted(receiver=payload.receiver, alerts=results, unknown=unknown)
