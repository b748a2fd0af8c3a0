"""What each management view returns: plain data (pydantic models), the API's response models.

Times are aware UTC datetimes; points are integer centipoints (hundredths of a point, exact);
money is a Decimal in the currency named next to it (JSON: a string such as ``"123.45"``).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field


class Ranged(BaseModel):
    """A view over the half-open range ``[since, until)``."""

    since: datetime
    until: datetime


# ---------------------------------------------------------------------- created vs resolved


class CreatedResolvedBucket(BaseModel):
    """One local day or week: incidents opened and resolved in it."""

    label: str = Field(description="the local date the day or week starts on")
    start: datetime = Field(description="the bucket's start within the range")
    end: datetime
    created: int
    resolved: int


class CreatedResolved(Ranged):
    """Incidents created vs resolved per bucket (``resolved`` counts each incident once, at its
    current resolution time)."""

    timezone: str
    bucket: Literal["day", "week"]
    buckets: list[CreatedResolvedBucket]
    created: int
    resolved: int


# ---------------------------------------------------------------------- open incidents by age


class OpenAgeRow(BaseModel):
    """Open incidents of one priority, counted per age bucket."""

    priority: str
    counts: dict[str, int]
    total: int


class OpenByAge(BaseModel):
    """Incidents not yet resolved (open, acknowledged, waiting) by age and priority, now."""

    as_of: datetime
    age_buckets: list[str]
    rows: list[OpenAgeRow]
    totals: dict[str, int]
    total: int
    oldest_opened_at: datetime | None


# ---------------------------------------------------------------------- SLA compliance


class SlaFigures(BaseModel):
    """One SLA target over a set of incidents. ``percent`` = met / (met + breached); running
    clocks (``pending``) and incidents without a target (``untracked``) are not judged yet."""

    met: int
    breached: int
    pending: int
    untracked: int
    percent: float | None


class SlaRow(BaseModel):
    """SLA compliance of one client's incidents of one priority (``priority`` "all": the client's total)."""

    client: str
    priority: str
    incidents: int
    response: SlaFigures
    resolution: SlaFigures


class SlaCompliance(Ranged):
    """SLA compliance of the incidents opened in the range, per client and priority."""

    rows: list[SlaRow]
    clients: list[SlaRow]
    overall: SlaRow


# ---------------------------------------------------------------------- technicians


class TechnicianRow(BaseModel):
    """One actor's work in the range: time logged (by when it was spent) and incident actions."""

    actor: str
    automatic: bool = Field(description="Upkeep itself (auto-resolved incidents), not a person")
    incident_minutes: int
    request_minutes: int
    total_minutes: int
    time_entries: int
    incidents_worked: int
    requests_worked: int
    acknowledged: int
    resolved: int


class TechnicianWorkload(Ranged):
    rows: list[TechnicianRow]
    total_minutes: int


# ---------------------------------------------------------------------- top problems


class ProblemAsset(BaseModel):
    client: str
    asset: str
    incidents: int = Field(description="incidents opened in the range")
    minutes: int = Field(description="time logged in the range on the asset's incidents")


class ProblemClient(BaseModel):
    client: str
    incidents: int = Field(description="incidents opened in the range")
    minutes: int = Field(description="time logged in the range on incidents and service requests")


class TopProblems(Ranged):
    assets_by_incidents: list[ProblemAsset]
    assets_by_time: list[ProblemAsset]
    clients_by_incidents: list[ProblemClient]
    clients_by_time: list[ProblemClient]


# ---------------------------------------------------------------------- time vs fee


class ClientCost(BaseModel):
    """Time spent on a client priced at the hourly cost, against its fee for the range.

    ``fee`` is the contract's monthly fee × ``months`` (calendar months the range covers);
    ``loss`` is true when the cost is above the fee. Without a contract, fee and margin are None.
    """

    client: str
    plan: str | None
    currency: str | None
    minutes: int
    hours: Decimal
    cost: Decimal
    monthly_fee: Decimal | None
    months: Decimal
    fee: Decimal | None
    margin: Decimal | None
    loss: bool


class TimeVsFee(Ranged):
    timezone: str
    hourly_cost: Decimal
    rows: list[ClientCost]
    loss_clients: list[str]


# ---------------------------------------------------------------------- points


class PeriodPoints(BaseModel):
    """The statement figures of one contract period the range overlaps, as of its end
    (centipoints; the same as the period's points statement).

    ``charged`` is positive (what was consumed); the others are signed as in the ledger.
    """

    period: str
    allotment: int
    rollover: int
    charged: int
    topups: int
    adjustments: int
    expired: int
    net: int


class ClientPoints(BaseModel):
    """A client's points: the figures per period the range overlaps, and the balance at
    ``until`` (the last period's closing balance then)."""

    client: str
    periods: list[PeriodPoints]
    charged: int
    balance: int
    overdraft: int = Field(description="how far the balance is below zero (0 if not)")


class PointsConsumption(Ranged):
    clients: list[ClientPoints]
    charged: int
    overdrawn_clients: list[str]


# ---------------------------------------------------------------------- connectors' health


class QueueHealth(BaseModel):
    """One connector's outbox (or one kind of notification): rows by state, now."""

    name: str
    pending: int
    in_flight: int
    failed: int
    delivered: int = Field(description="delivered within the range")
    oldest_pending_at: datetime | None
    oldest_pending_age_seconds: float | None
    max_attempts: int
    last_error: str | None


class DeliveryProblem(BaseModel):
    """A row that failed for good, or is being retried after an error."""

    id: int
    name: str = Field(description="the connector, or the notification kind")
    subject: str = Field(description="the incident key, or the notification subject")
    state: str
    attempts: int
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime | None


class ConnectorHealth(Ranged):
    as_of: datetime
    connectors: list[QueueHealth]
    connector_problems: list[DeliveryProblem]
    notifications: list[QueueHealth]
    notification_problems: list[DeliveryProblem]


# ---------------------------------------------------------------------- on-call


class AckFigures(BaseModel):
    """Acknowledgements of escalation climbs: how many, the median and the slowest (seconds)."""

    key: str  # a priority, or a person (``other``: acknowledged by someone not on call)
    count: int
    median_seconds: float
    max_seconds: float


class NightsRow(BaseModel):
    rotation: str
    person: str
    name: str
    nights: int


class OncallView(Ranged):
    timezone: str
    by_priority: list[AckFigures]
    by_person: list[AckFigures]
    #: Who held the phone at 03:00 (the rotation's time zone) of each day in the range, most first.
    nights: list[NightsRow]


# ---------------------------------------------------------------------- satisfaction ratings


class RatingFigures(BaseModel):
    """Ratings (1–5) of one group: how many, the average (None: none given), per score."""

    key: str = Field(description="the client, the technician or the local month (YYYY-MM)")
    count: int
    average: float | None = Field(description="the mean rating, rounded to 2 decimals")
    per_score: dict[int, int]


class RatingRow(BaseModel):
    """One rating a client gave answering a closing message."""

    incident: str
    url: str = Field(description="the incident's page in the web UI")
    title: str
    client: str
    technician: str = Field(description="who resolved it ('upkeep': it cleared by itself)")
    rating: int
    comment: str | None
    answer: Literal["confirmed", "reopened"]
    answered_at: datetime
    answered_via: str | None


class SatisfactionView(Ranged):
    """Clients' satisfaction ratings answered in the range: overall, per client, per
    technician and per local month, and each rating (newest first) with a link to its incident."""

    timezone: str
    client: str | None = None
    technician: str | None = None
    overall: RatingFigures
    by_client: list[RatingFigures]
    by_technician: list[RatingFigures]
    by_month: list[RatingFigures]
    ratings: list[RatingRow]
