"""The remote-write 1.0 wire format: ``WriteRequest`` (protobuf, from remote.proto) snappy
block-compressed (cramjam), and the headers every request carries."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import cramjam

# No type stubs ship with the protobuf runtime.
from google.protobuf import (  # type: ignore[import-untyped]
    descriptor_pb2,
    descriptor_pool,
    message_factory,
)

HEADERS = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}

_DESCRIPTOR = Path(__file__).with_name("remote.desc")


def _classes() -> dict[str, Any]:
    # The compiled descriptor set, not generated Python code: it works with any protobuf
    # runtime (no gencode/runtime version coupling) and protoc is needed only to change it.
    files = descriptor_pb2.FileDescriptorSet.FromString(_DESCRIPTOR.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for f in files.file:
        pool.Add(f)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"prometheus.{name}"))
        for name in ("WriteRequest", "TimeSeries", "Label", "Sample")
    }


_MESSAGES = _classes()
WriteRequest = _MESSAGES["WriteRequest"]
_TimeSeries = _MESSAGES["TimeSeries"]

#: A series' sorted (name, value) labels, or those labels already serialised by
#: :func:`encode_labels` (what the exporter keeps per series: setting each label's fields
#: from Python was most of a request's encoding, a series carrying one or two samples).
Labels = bytes | Sequence[tuple[str, str]]
#: One series of a request: its labels and (timestamp ms, value) samples.
Series = tuple[Labels, Sequence[tuple[int, float]]]


def encode_labels(labels: Sequence[tuple[str, str]]) -> bytes:
    """The labels as a serialised ``TimeSeries`` holding only them (merged by :func:`encode`)."""
    series = _TimeSeries()
    _add_labels(series, labels)
    return bytes(series.SerializeToString())


def _add_labels(series: Any, labels: Sequence[tuple[str, str]]) -> None:
    for name, value in labels:
        label = series.labels.add()
        label.name = name
        label.value = value


def encode(series: Iterable[Series]) -> bytes:
    """A snappy-compressed ``WriteRequest`` body."""
    request = WriteRequest()
    for labels, samples in series:
        ts = request.timeseries.add()
        if isinstance(labels, bytes):
            ts.MergeFromString(labels)  # parsed in the runtime's C code
        else:
            _add_labels(ts, labels)
        for stamp, number in samples:
            sample = ts.samples.add()
            sample.timestamp = stamp
            sample.value = number
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))


def decode(body: bytes) -> Any:
    """The ``WriteRequest`` of a body (tests, and a receiver's view of what was sent)."""
    return WriteRequest.FromString(bytes(cramjam.snappy.decompress_raw(body)))
