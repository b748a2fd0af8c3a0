"""The wire contract between agent and collector: ``POST /api/v1/batches``.

This module is the only piece of the agent the collector imports. It defines what a
batch may contain and the limits both sides enforce, so the two cannot drift apart.

The agent builds batches as plain dicts (cheap) and the collector validates them with
:class:`Batch`; tests validate what the agent sends against the same model.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)

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
#: (strict: a JSON number, never a numeric string or a boolean, as everywhere in the contract.)
EpochSeconds = Annotated[float, Field(ge=1e9, le=1e10, allow_inf_nan=False, strict=True)]


def _check_labels(labels: dict[str, str]) -> dict[str, str]:
    if len(labels) > MAX_LABELS:
        raise ValueError(f"at most {MAX_LABELS} labels per sample, got {len(labels)}")
    for name, value in labels.items():
        if not LABEL_NAME_RE.match(name) or name.startswith("__"):
            raise ValueError(f"label name {name!r} is not a valid Prometheus label name")
        if len(value) > 1024:
            raise ValueError(f"label {name!r} is longer than 1024 characters")
    return labels


Labels = Annotated[
    dict[str, str],
    AfterValidator(_check_labels),
    WithJsonSchema(
        {
            "type": "object",
            "maxProperties": MAX_LABELS,
            "propertyNames": {"pattern": r"^(?!__)[a-zA-Z_][a-zA-Z0-9_]*$"},
            "additionalProperties": {"type": "string", "maxLength": 1024},
        }
    ),
]


def json_integer(value: Any) -> Any:
    """A JSON integer (``3`` or ``3.0``), never a boolean or a numeric string."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a JSON integer")
    return value


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("value must be a finite number")
    return value


def non_finite_path(value: Any, path: str = "") -> str | None:
    """Where in a JSON-like value the first NaN or ±Infinity is (``a.b[2]``), or None."""
    if isinstance(value, float):
        return None if math.isfinite(value) else path
    if isinstance(value, dict):
        for key, item in value.items():
            where = non_finite_path(item, f"{path}.{key}" if path else str(key))
            if where is not None:
                return where
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            where = non_finite_path(item, f"{path}[{i}]")
            if where is not None:
                return where
    return None


def _finite_json(value: dict[str, Any]) -> dict[str, Any]:
    # JSON has no NaN/Infinity; Python's parser (and pydantic's) accept them, and stored
    # they are invalid JSON (PostgreSQL refuses them). The C encoder finds one fastest;
    # only then is the value walked to name where it is.
    if value:
        try:
            json.dumps(value, allow_nan=False)
        except ValueError:
            where = non_finite_path(value) or "(value)"
            raise ValueError(
                f"{where}: NaN and Infinity are not JSON numbers; send a finite number or null"
            ) from None
    return value


#: A JSON object of free-form values (asset attributes, event data): finite numbers only.
FiniteJsonObject = Annotated[dict[str, Any], AfterValidator(_finite_json)]


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
    attributes: FiniteJsonObject = Field(default_factory=dict, max_length=50)


class Sample(_Strict):
    asset: AssetName
    metric: MetricName
    labels: Labels = Field(default_factory=dict)
    value: Annotated[float, Field(strict=True), AfterValidator(_finite)]
    ts: EpochSeconds


class Event(_Strict):
    """Something that happened once: a reboot, a check error, samples dropped from the spool."""

    asset: AssetName
    type: Annotated[
        str, StringConstraints(min_length=1, max_length=60, pattern=r"^[a-z][a-z0-9_]*$")
    ]
    ts: EpochSeconds
    message: Annotated[str, StringConstraints(max_length=4000)] = ""
    data: FiniteJsonObject = Field(default_factory=dict, max_length=50)


_SENT_AT_SCHEMA = {
    "anyOf": [{"type": "string", "format": "date-time"}, {"type": "number"}],
    "description": "When the agent sent the batch: RFC 3339, or seconds since the epoch",
}


class Batch(_Strict):
    """One push from an agent. ``batch_id`` makes a retry a no-op; ``seq`` orders batches.

    No string anywhere in a batch may contain NUL (U+0000): the store cannot hold it, so such
    a batch is refused whole with 422 ``nul_character``.
    """

    batch_id: UUID
    seq: Annotated[
        int, Field(ge=0, le=2**63 - 1), BeforeValidator(json_integer)
    ]  # stored as a signed 64-bit integer
    sent_at: Annotated[datetime, WithJsonSchema(_SENT_AT_SCHEMA)]  # RFC 3339 or epoch seconds
    agent: AgentInfo
    assets: list[Asset] = Field(default_factory=list, max_length=MAX_ASSETS_PER_BATCH)
    samples: list[Sample] = Field(default_factory=list, max_length=MAX_SAMPLES_PER_BATCH)
    events: list[Event] = Field(default_factory=list, max_length=MAX_EVENTS_PER_BATCH)


class Refused(BaseModel):
    """Samples or events of a batch the collector did not store, and why (the rest is stored).

    ``reason``: ``future_timestamp`` (``ts`` ahead of the collector's clock by more than its
    ``max_clock_skew``), ``expired`` (``ts`` older than the collector keeps anything),
    ``series_limit`` (a new series over the per-asset or per-client series limit).
    """

    what: Literal["samples", "events"]
    reason: str
    count: int
    detail: str


class BatchAccepted(BaseModel):
    """The collector's answer to a batch (also for a duplicate).

    ``samples``/``events`` count what was stored; ``refused`` lists what was not, by reason
    (not retried: a refused sample is as final as a stored one).
    """

    batch_id: UUID
    seq: int
    duplicate: bool = False
    samples: int = 0
    events: int = 0
    assets: int = 0
    refused: list[Refused] = Field(default_factory=list)


class WireError(BaseModel):
    """Every 4xx answer: ``error`` is a stable code, ``detail`` says what and where."""

    error: str
    detail: str
    fields: list[dict[str, Any]] = Field(default_factory=list)
