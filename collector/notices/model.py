"""The notices, one dataclass per kind: language-free facts (codes, numbers, epoch times).

:func:`collector.notices.render.render` turns one into words; ``template`` names its
templates (``templates/<template>.txt.j2`` with blocks ``subject`` and ``body``, and
``templates/<template>.html.j2``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal


@dataclass(frozen=True)
class Notice:
    """Common to every notice: whose it is."""

    template: ClassVar[str]
    client: str


@dataclass(frozen=True)
class SlaNotice(Notice):
    """An SLA target of an incident is about to be missed (``warning``) or was (``breach``)."""

    template: ClassVar[str] = "sla"
    incident: str  # the incident's key, UPK-acme-7
    priority: str  # critical, major, minor, technical
    target: Literal["response", "resolution"]
    kind: Literal["warning", "breach"]
    within_seconds: float  # the time allowed
    clock: Literal["business", "calendar", "business_days"]
    due_at: float | None
    elapsed_seconds: float  # counted so far (on the target's clock)
    percent: float  # of the time allowed
    title: str = ""  # the incident's title, when there is one


@dataclass(frozen=True)
class LowBalanceNotice(Notice):
    """The points balance reached a low-balance threshold (or zero) in a period."""

    template: ClassVar[str] = "low_balance"
    period: str  # YYYY-MM
    period_start: float  # epoch, inclusive
    period_end: float  # epoch, exclusive
    balance_centipoints: int
    allotment_centipoints: int
    threshold: str  # the contract's label: "25%", "10.00pt", or "zero"
    used_up: bool
    at_zero: Literal["allow_negative", "require_approval"]


@dataclass(frozen=True)
class ApprovalRequestNotice(Notice):
    """A non-standard service request needs the client's approval of its estimate."""

    template: ClassVar[str] = "approval_request"
    request: str  # the request's key, REQ-acme-3
    title: str
    requested_by: str
    description: str = ""
    estimate_minutes: int | None = None
    work_type: str | None = None
    estimate_centipoints: int = 0
    approve_url: str | None = None
    reject_url: str | None = None
    #: A charge held at zero balance: the incident it is for and why it costs points.
    held_incident: str | None = None
    held_basis: str | None = None
    #: A standard request that still needs approval: included in the contract, no points.
    included: bool = False


@dataclass(frozen=True)
class ReportMailNotice(Notice):
    """The monthly report is attached."""

    template: ClassVar[str] = "report_mail"
    period: str  # YYYY-MM
    period_start: float
    period_end: float  # exclusive
    assets: int
    availability: float | None  # percent
    proactive: int
    incidents: int
    preventive_hours: float
    sla_met: bool
    sla_breaches: int
    points_enabled: bool
    points_left: int | None  # centipoints


@dataclass(frozen=True)
class ClosingNotice(Notice):
    """An incident the client sees was resolved: what happened, what was done, what it cost,
    and the two signed links (collector.closing)."""

    template: ClassVar[str] = "closing"
    incident: str  # the incident's key
    title: str
    asset: str | None
    reported: bool  # the client reported it
    opened_at: float
    resolved_at: float
    note: str | None  # the technician's resolution note (None: none, or Upkeep's own)
    cleared: bool  # no person's note: the alert cleared
    minutes: int  # time logged
    points_enabled: bool
    charged_centipoints: int  # what it cost (0: covered)
    balance_centipoints: int | None  # the balance right after its charge
    confirm_url: str
    reopen_url: str
    closes_at: float  # no answer by then: it closes


@dataclass(frozen=True)
class FixAnnouncedNotice(Notice):
    """A proactive fix the client never noticed, told on its own (``announce_proactive: each``)."""

    template: ClassVar[str] = "fix_announced"
    incident: str
    title: str
    asset: str | None
    opened_at: float
    resolved_at: float
    note: str | None
    cleared: bool
    minutes: int
    points_enabled: bool
    charged_centipoints: int
    balance_centipoints: int | None
    reopen_url: str


@dataclass(frozen=True)
class FixItem:
    """One fix of a daily digest."""

    incident: str
    title: str
    asset: str | None
    resolved_at: float
    note: str | None
    cleared: bool
    charged_centipoints: int


@dataclass(frozen=True)
class FixDigestNotice(Notice):
    """The proactive fixes of one of the client's days (``announce_proactive: daily``)."""

    template: ClassVar[str] = "fix_digest"
    day: float  # a moment in that day (its date is shown in the client's zone)
    items: tuple[FixItem, ...]
    points_enabled: bool
    balance_centipoints: int | None
