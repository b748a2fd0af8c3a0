"""The wire contract between agent and collector: ``POST /api/v1/batches``.

This module is the only piece of the agent the collector imports. It defines what a
batch may contain and the limits both sides enforce, so the two cannot drift apart.

The agent builds batches as plain dicts (cheap) and the collector validates them with
:class:`Batch`; tests validate what the agent sends against the same model.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from agent import BATCH_PATH  # noqa: F401  (re-exported: one spelling, shared with the shipper)

WIRE_VERSION = 1

#: Largest request body accepted, as sent (possibly gzip-compressed).
MAX_BODY_BYTES = 8 * 1024 * 1024
#: Largest body after decompression: bounds a gzip bomb.
MAX_DECOMPRESSED_BYTES = 32 * 1024 * 1024
#: The agent never puts more than this many samples into one batch.
MAX_SAMPLES_PER_BATCH = 20_000
MAX_EVENTS_PER_BATCH = 2_000
MAX_ASSETS_PER_BATCH = 1_000
MAX_LABELS = 32

METRIC_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

MetricName = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=METRIC_NAME_RE.pattern)
]
AssetName = Annotated[str, StringConstraints(min_length=1, max_length=253, strip_whitespace=False)]
ShortText = Annotated[str, StringConstraints(max_length=200)]
#: Seconds since the epoch (UTC). Year 2001 .. 2286: rules out milliseconds sent by mistake.
EpochSeconds = Annotated[float, Field(ge=1e9, le=1e10, allow_inf_nan=False)]


def _check_labels(labels: dict[str, str]) -> dict[str, str]:
    if len(labels) > MAX_LABELS:
        raise ValueError(f"at most {MAX_LABELS} labels per sample, got {len(labels)}")
    for name, value in labels.items():
        if not LABEL_NAME_RE.match(name) or name.startswith("__"):
            raise ValueError(f"label name {name!r} is not a valid Prometheus label name")
        if len(value) > 1024:
            raise ValueError(f"label {name!r} is longer than 1024 characters")
    return labels


Labels = Annotated[dict[str, str], AfterValidator(_check_labels)]


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("value must be a finite number")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AgentInfo(_Strict):
    """Who sends the batch. ``id`` is generated once per agent installation and kept."""

    id: UUID
    version: ShortText
    hostname: AssetName
    site: Annotated[str, StringConstraints(min_length=1, max_length=100)] = "default"
    os: ShortText = ""


class Asset(_Strict):
    """A thing that samples are about: the host itself or a device the agent polls."""

    name: AssetName
    kind: Annotated[
        str, StringConstraints(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]*$")
    ]
    vendor: ShortText | None = None
    model: ShortText | None = None
    serial: ShortText | None = None
    address: ShortText | None = None
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    tags: list[ShortText] = Field(default_factory=list, max_length=50)
    attributes: dict[str, Any] = Field(default_factory=dict, max_length=50)


class Sample(_Strict):
    asset: AssetName
    metric: MetricName
    labels: Labels = Field(default_factory=dict)
    value: Annotated[float, AfterValidator(_finite)]
    ts: EpochSeconds


class Event(_Strict):
    """Something that happened once: a reboot, a check error, samples dropped from the spool."""

    asset: AssetName
    type: Annotated[
        str, StringConstraints(min_length=1, max_length=60, pattern=r"^[a-z][a-z0-9_]*$")
    ]
    ts: EpochSeconds
    message: Annotated[str, StringConstraints(max_length=4000)] = ""
    data: dict[str, Any] = Field(default_factory=dict, max_length=50)


class Batch(_Strict):
    """One push from an agent. ``batch_id`` makes a retry a no-op; ``seq`` orders batches."""

    batch_id: UUID
    seq: Annotated[int, Field(ge=0, le=2**63 - 1)]  # stored as a signed 64-bit integer
    sent_at: datetime  # RFC 3339 string or epoch seconds
    agent: AgentInfo
    assets: list[Asset] = Field(default_factory=list, max_length=MAX_ASSETS_PER_BATCH)
    samples: list[Sample] = Field(default_factory=list, max_length=MAX_SAMPLES_PER_BATCH)
    events: list[Event] = Field(default_factory=list, max_length=MAX_EVENTS_PER_BATCH)


class BatchAccepted(BaseModel):
    """The collector's answer to a batch (also for a duplicate)."""

    batch_id: UUID
    seq: int
    duplicate: bool = False
    samples: int = 0
    events: int = 0
    assets: int = 0


class WireError(BaseModel):
    """Every 4xx answer: ``error`` is a stable code, ``detail`` says what and where."""

    error: str
    detail: str
    fields: list[dict[str, Any]] = Field(default_factory=list)
