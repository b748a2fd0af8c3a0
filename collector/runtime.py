"""The one object a running collector's routes depend on: :class:`Runtime`.

``collector.api.build_runtime`` wires it (store, rule engine, incidents, metrics, jobs) and
``create_app`` keeps it on ``app.state.runtime``. Routers are defined at module level and
reach it through the FastAPI dependency :func:`get_runtime` (``RuntimeDep``), so a handler
can be tested alone: mount its router on a bare ``FastAPI()`` whose ``state.runtime`` is a
Runtime built for the test.

This module imports nothing of the collector at run time (only for type checking), so any
package may depend on it without an import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request

if TYPE_CHECKING:
    from collector.cluster import Cluster
    from collector.contracts.files import ContractFiles
    from collector.incidents.runtime import Incidents
    from collector.incidents.service import IncidentService
    from collector.ingest import Ingestor
    from collector.jobs import JobRunner
    from collector.metrics import CollectorMetrics
    from collector.rules.service import RuleService
    from collector.settings import Settings
    from collector.store import Store


@dataclass
class Runtime:
    """Everything one collector replica runs with; built once per app."""

    settings: Settings
    store: Store
    rules: RuleService
    incidents: Incidents
    metrics: CollectorMetrics
    ingestor: Ingestor
    contract_files: ContractFiles
    jobs: JobRunner
    cluster: Cluster | None = None
    #: The threads that decode and store batches (collector.ingest_threads.IngestThreads;
    #: their number is how many batches are stored at once). None: Starlette's thread pool.
    ingest_threads: Any = None
    #: The maintenance file's noise control (collector.incidents.noise.NoiseControl).
    noise_control: Any = None
    #: Automatic fixes and signed agent tasks (collector.remediation.service.Remediation).
    remediation: Any = None
    #: The Prometheus remote-write exporter, when configured (collector.remote_write).
    remote_write: Any = None

    @property
    def incident_service(self) -> IncidentService:
        return self.incidents.service


def get_runtime(request: Request) -> Runtime:
    """FastAPI dependency: the app's :class:`Runtime` (``app.state.runtime``)."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
