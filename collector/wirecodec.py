"""The wire contract decoded fast: msgspec Structs mirroring :mod:`agent.wire`, same answers.

:func:`decode_batch` is what ``POST /api/v1/batches`` runs on every body. A well-formed
batch is decoded once by msgspec (C, no Python per field) into the Structs below, which have
the attribute names and values of :class:`agent.wire.Batch` (the ingest path reads them the
same way). Their constraints are the contract's, written so that msgspec is never *more
lenient* than pydantic: every pattern is anchored with ``\\A…\\Z`` (Python's ``$`` would let a
trailing newline through), numbers must be finite, and whatever pydantic accepts in a looser
spelling (``seq`` as ``3.0``, a number for a string) is simply not accepted here.

Any body msgspec refuses, and any batch that fails one of the checks msgspec cannot express,
is decoded again by the pydantic model. So the accepted set and every refusal (status, error
code, ``detail`` and ``fields`` naming the field) are the pydantic model's by construction;
the fast path only decides how quickly a valid batch gets through. ``tests/collector/
test_wirecodec.py`` checks both directions: a table of bad inputs and property tests
comparing the two decoders value by value.
"""

from __future__ import annotations

import re
import sys
import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec
from pydantic import TypeAdapter

from agent import wire

__all__ = ["AgentInfo", "Asset", "Batch", "Event", "Sample", "decode_batch"]

_MAX = sys.float_info.max
#: Finite floats only: msgspec has no allow_inf_nan; a bound below inf refuses inf and NaN.
_Finite = Annotated[float, msgspec.Meta(ge=-_MAX, le=_MAX)]
_Epoch = Annotated[float, msgspec.Meta(ge=1e9, le=1e10)]
_Short = Annotated[str, msgspec.Meta(max_length=200)]
_AssetName = Annotated[str, msgspec.Meta(min_length=1, max_length=253)]
#: Metric and label names: their patterns are checked by :func:`_names_ok` once per distinct
#: name (a process-wide set of names already seen valid), not by msgspec for every sample.
_METRIC_NAME = re.compile(r"\A[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL_NAME = re.compile(r"\A(?!__)[a-zA-Z_][a-zA-Z0-9_]*\Z")
_Metric = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
_LabelName = str
_LabelValue = Annotated[str, msgspec.Meta(max_length=1024)]
_Labels = Annotated[dict[_LabelName, _LabelValue], msgspec.Meta(max_length=wire.MAX_LABELS)]
_Kind = Annotated[str, msgspec.Meta(min_length=1, max_length=40, pattern=r"\A[a-z][a-z0-9_]*\Z")]
_EventType = Annotated[
    str, msgspec.Meta(min_length=1, max_length=60, pattern=r"\A[a-z][a-z0-9_]*\Z")
]
_JsonObject = Annotated[dict[str, Any], msgspec.Meta(max_length=50)]
_Seq = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]


class AgentInfo(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """:class:`agent.wire.AgentInfo`."""

    id: uuid.UUID
    version: _Short
    hostname: _AssetName
    site: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] = "default"
    os: _Short = ""


class Asset(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """:class:`agent.wire.Asset`."""

    name: _AssetName
    kind: _Kind
    vendor: _Short | None = None
    model: _Short | None = None
    serial: _Short | None = None
    address: _Short | None = None
    description: Annotated[str, msgspec.Meta(max_length=2000)] | None = None
    tags: Annotated[list[_Short], msgspec.Meta(max_length=50)] = msgspec.field(default_factory=list)
    attributes: _JsonObject = msgspec.field(default_factory=dict)


class Sample(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """:class:`agent.wire.Sample`."""

    asset: _AssetName
    metric: _Metric
    value: _Finite
    ts: _Epoch
    labels: _Labels = msgspec.field(default_factory=dict)


class Event(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """:class:`agent.wire.Event`."""

    asset: _AssetName
    type: _EventType
    ts: _Epoch
    message: Annotated[str, msgspec.Meta(max_length=4000)] = ""
    data: _JsonObject = msgspec.field(default_factory=dict)


class Batch(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """:class:`agent.wire.Batch`. ``sent_at`` keeps its wire spelling (nothing downstream
    reads it), checked by pydantic's own datetime parser."""

    batch_id: uuid.UUID
    seq: _Seq
    #: An RFC 3339 string or epoch seconds.
    sent_at: str | float
    agent: AgentInfo
    assets: Annotated[list[Asset], msgspec.Meta(max_length=wire.MAX_ASSETS_PER_BATCH)] = (
        msgspec.field(default_factory=list)
    )
    samples: Annotated[list[Sample], msgspec.Meta(max_length=wire.MAX_SAMPLES_PER_BATCH)] = (
        msgspec.field(default_factory=list)
    )
    events: Annotated[list[Event], msgspec.Meta(max_length=wire.MAX_EVENTS_PER_BATCH)] = (
        msgspec.field(default_factory=list)
    )


_decoder = msgspec.json.Decoder(Batch)
_sent_at = TypeAdapter(datetime)


class _Unsure(Exception):
    """The fast path cannot vouch for this batch: let the pydantic model decide."""


def _checked(batch: Batch) -> Batch:
    """The checks msgspec's constraints cannot express, exactly as agent.wire runs them."""
    # The contract's datetime, parsed by pydantic itself (formats, ms above 2e10, ranges).
    try:
        _sent_at.validate_python(batch.sent_at)
    except ValueError:
        raise _Unsure from None
    samples = batch.samples
    if samples and not _names_ok(samples):
        raise _Unsure
    for asset in batch.assets:
        if asset.attributes:
            _finite_json(asset.attributes)
    for event in batch.events:
        if event.data:
            _finite_json(event.data)
    return batch


#: Names seen valid (bounded: a flood of distinct names only costs the regex again).
_GOOD_METRICS: set[str] = set()
_GOOD_LABELS: set[str] = set()
_MAX_GOOD = 200_000


def _names_ok(samples: list[Sample]) -> bool:
    """Every metric and label name of ``samples`` matches the contract's pattern.

    Set operations in C over the batch's names; the regex runs only for names not seen
    valid before (a fleet sends the same few hundred names again and again)."""
    new = {s.metric for s in samples} - _GOOD_METRICS
    if new and not _learn(new, _METRIC_NAME, _GOOD_METRICS):
        return False
    new = set().union(*[s.labels for s in samples]) - _GOOD_LABELS
    return not new or _learn(new, _LABEL_NAME, _GOOD_LABELS)


def _learn(names: set[str], pattern: re.Pattern[str], good: set[str]) -> bool:
    if not all(pattern.search(name) for name in names):
        return False
    if len(good) < _MAX_GOOD:
        good |= names
    return True


def _finite_json(value: dict[str, Any]) -> None:
    try:
        wire._finite_json(value)
    except ValueError:
        raise _Unsure from None


def decode_batch(raw: bytes) -> Batch | wire.Batch:
    """The batch in ``raw`` (JSON), or pydantic's ValidationError for the contract's answer."""
    try:
        return _checked(_decoder.decode(raw))
    except (msgspec.DecodeError, _Unsure):
        # msgspec.ValidationError is a DecodeError. Refused (or unsure): the reference model
        # decides, and names the field if it refuses too.
        return wire.Batch.model_validate_json(raw)
