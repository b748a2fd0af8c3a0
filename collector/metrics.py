"""The collector's own Prometheus metrics (``GET /metrics``). A later issue adds series values.

Each app gets its own registry, so tests and the demo can build several apps in one process.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "IngestMetrics"]

_SIZE_BUCKETS = (1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 8388608, 33554432)


class IngestMetrics:
    """Counters and histograms of ``POST /api/v1/batches``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.batches = Counter("upkeep_ingest_batches", "Batches stored (not counting duplicates).",
                               registry=self.registry)
        self.samples = Counter("upkeep_ingest_samples", "Samples stored.", registry=self.registry)
        self.events = Counter("upkeep_ingest_events", "Events stored.", registry=self.registry)
        self.duplicates = Counter("upkeep_ingest_duplicate_batches",
                                  "Batches answered as duplicates (already stored).", registry=self.registry)
        self.rejected = Counter("upkeep_ingest_rejected_batches", "Batches refused, by error code.",
                                ["reason"], registry=self.registry)
        self.request_bytes = Histogram("upkeep_ingest_request_bytes", "Batch request body size as sent.",
                                       buckets=_SIZE_BUCKETS, registry=self.registry)
        self.seconds = Histogram("upkeep_ingest_seconds", "Time to decode, validate and store a batch.",
                                 registry=self.registry)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
