"""The collector's HTTP API (FastAPI): ingest, admin reads, health and metrics.

``create_app(settings)`` builds the app; ``collector.server`` runs it under uvicorn.
:func:`build_runtime` wires one replica into a :class:`collector.runtime.Runtime`, kept on
``app.state.runtime``; the routers here (``ingest_router``, ``read_router``,
``operations_router``) are defined at module level and reach it through the dependency
``RuntimeDep``, so each can be mounted alone on a bare app in a test. Domain errors
(``collector.errors``) become HTTP answers in one place, :data:`collector.errors.HTTP_STATUS`,
and every 4xx body is an :class:`agent.wire.WireError`.

The batch body is read by hand (size limits before anything is parsed; gzip inflated with
a cap) and decoded by :mod:`collector.wirecodec` (pydantic's ``Batch`` answers whatever it
refuses); its schema is added to the OpenAPI document explicitly, since FastAPI cannot see a
body it does not parse. That document is the contract the fuzz test checks. In the full app
``POST /api/v1/batches`` is answered by :class:`BatchRoute`, an ASGI middleware ahead of
FastAPI's routing that runs the route's own functions (same answers), with one hop to an
ingest thread (:mod:`collector.ingest_threads`) per batch; on SQLite the batches queued
together are stored in one transaction (group commit, :meth:`Ingestor.ingest_many`).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import re
import time
import zlib
from collections.abc import AsyncIterator, MutableMapping
from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match

from agent.wire import BATCH_PATH, Batch, BatchAccepted, WireError
from collector import admin, proxies, timeutil, web, wirecodec
from collector.admin import Principal
from collector.api_auth import (
    ERROR_RESPONSES,
    Admin,
    Credentials,
    authenticate,
    bearer_token,
    require_admin,
    require_agent,
    responses,
)
from collector.background import collector_jobs
from collector.cluster import Cluster
from collector.contracts import api as contracts_api
from collector.contracts.files import ContractFiles
from collector.errors import (
    HTTP_STATUS,
    BodyTooLarge,
    ClientDisconnected,
    InvalidBatch,
    MalformedBody,
    NotFound,
    UnsupportedEncoding,
    UpkeepError,
    from_validation,
    problem_fields,
    status_for,
)
from collector.headers import HstsMiddleware
from collector.incidents import alertmanager, maintenance_api, noise, outbox_api
from collector.incidents import api as incidents_api
from collector.incidents.alertmanager import PATH as ALERTMANAGER_PATH
from collector.incidents.alertmanager import AmWebhook, require_receiver
from collector.incidents.runtime import Incidents
from collector.ingest import IngestLimits, Ingestor
from collector.ingest_threads import IngestThreads
from collector.install_scripts import router as install_router
from collector.jobs import JobMetrics, JobRunner
from collector.ledger import api as ledger_api
from collector.management import api as management_api
from collector.metrics import CONTENT_TYPE_LATEST, CollectorMetrics
from collector.preventive import api as preventive_api
from collector.remote_write.exporter import RemoteWriteExporter
from collector.request_body import read_body, read_chunks
from collector.rules import api as rules_api
from collector.rules.api import run_rules
from collector.rules.service import RuleService
from collector.runtime import Runtime, RuntimeDep
from collector.schema import assets, clients, latest, series, sites
from collector.settings import Settings
from collector.sla import api as sla_api
from collector.store import Store
from collector.strictjson import StrictJsonMiddleware

log = logging.getLogger(__name__)

__all__ = [
    "HTTP_STATUS",
    "Admin",
    "Runtime",
    "authenticate",
    "bearer_token",
    "build_runtime",
    "create_app",
    "read_body",
    "require_admin",
    "require_agent",
    "require_receiver",
    "status_for",
]

_ERROR_RESPONSES = ERROR_RESPONSES


def _error_response(
    status: int, code: str, detail: str, fields: list | None = None
) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    body = WireError(error=code, detail=detail, fields=fields or [])
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


# ---------------------------------------------------------------------- response models


class ClientOut(BaseModel):
    """A client as the read API lists it."""

    id: int
    name: str
    enabled: bool
    created_at: datetime


class AssetOut(BaseModel):
    """An asset and its inventory fields; ``client`` and ``site`` are names."""

    id: int
    client: str
    site: str | None
    name: str
    kind: str
    vendor: str | None = None
    model: str | None = None
    serial: str | None = None
    address: str | None = None
    description: str | None = None
    tags: list[str] = []
    attributes: dict[str, Any] = {}
    first_seen: datetime
    last_seen: datetime


class LatestValue(BaseModel):
    """The newest sample of one series of an asset."""

    series_id: int
    metric: str
    labels: dict[str, str]
    value: float
    ts: datetime


class Health(BaseModel):
    status: str


# ---------------------------------------------------------------------- body decoding


def inflate(body: bytes, limit: int) -> bytes:
    """Gunzip ``body`` without ever producing more than ``limit`` + 1 bytes (gzip bombs)."""
    out = bytearray()
    data = body
    while True:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            out += inflater.decompress(data, limit + 1 - len(out))
        except zlib.error as exc:
            raise MalformedBody(f"body is not valid gzip: {exc}") from None
        if len(out) > limit:
            raise BodyTooLarge(f"decompressed body is over the limit of {limit} bytes")
        if not inflater.eof:
            raise MalformedBody("body is not valid gzip: truncated stream")
        data = inflater.unused_data
        if not data.strip(b"\0"):  # concatenated gzip members are valid; padding is not data
            return bytes(out)


# A \u0000 escape not itself escaped (preceded by an even number of backslashes).
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def parse_batch(raw: bytes) -> Batch | wirecodec.Batch:
    """Validate a JSON body against the wire contract (400 not JSON, 422 contract broken)."""
    if b"\\u0000" in raw and _NUL_ESCAPE.search(raw):
        # PostgreSQL cannot store NUL in text; refuse it on every store alike.
        raise InvalidBatch(
            "strings must not contain NUL characters (\\u0000)",
            fields=[{"loc": "(body)", "msg": "NUL character in a string", "type": "nul_character"}],
        )
    try:
        return wirecodec.decode_batch(raw)
    except ValidationError as exc:
        raise from_validation(exc) from None


# ---------------------------------------------------------------------- authentication

_responses = responses


# ---------------------------------------------------------------------- ingest

ingest_router = APIRouter(tags=["ingest"])


def ingest_body(
    runtime: Runtime, principal: Principal, token: str, cached: bool, body: bytes, encoding: str
) -> Response:
    """Inflate, parse and store one batch body (runs in a worker thread)."""
    (outcome,) = ingest_bodies([(runtime, principal, token, cached, body, encoding)])
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


#: Batches decoded and stored together by the ingest thread at most (group commit on SQLite).
MAX_GROUP = 16


def decode_body(
    runtime: Runtime, token: str, cached: bool, body: bytes, encoding: str
) -> Batch | wirecodec.Batch:
    """Inflate and parse one batch body (400/413/422 as domain errors)."""
    settings = runtime.settings
    try:
        if encoding in ("gzip", "x-gzip"):
            body = inflate(body, settings.max_decompressed_bytes)
        elif len(body) > settings.max_decompressed_bytes:
            raise BodyTooLarge(
                f"request body is over the limit of {settings.max_decompressed_bytes} bytes"
            )
        return parse_batch(body)
    except UpkeepError:
        if cached:  # a token revoked since it was cached is a 401 before any body error
            authenticate(runtime.store, token, "agent")
        raise


def ingest_bodies(works: list[tuple[Any, ...]]) -> list[Response | BaseException]:
    """Inflate, parse and store the batch bodies queued together (the ingest thread's
    group): ``works`` are :func:`ingest_body`'s arguments; each gets its answer or its
    error, one batch's error never another's. Stored with :meth:`Ingestor.ingest_many`
    (one transaction on SQLite)."""
    runtime = works[0][0]
    if any(work[0] is not runtime for work in works):  # (one runtime per thread pool)
        return [ingest_bodies([work])[0] for work in works]
    out: list[Response | BaseException | None] = [None] * len(works)
    decoded: list[tuple[int, float, Principal, Batch | wirecodec.Batch]] = []
    for i, (_, principal, token, cached, body, encoding) in enumerate(works):
        started = time.perf_counter()
        try:
            decoded.append(
                (i, started, principal, decode_body(runtime, token, cached, body, encoding))
            )
        except Exception as exc:
            out[i] = exc
    if decoded:
        results = runtime.ingestor.ingest_many([(p, batch) for _, _, p, batch in decoded])
        metrics = runtime.metrics
        for (i, started, _, _), result in zip(decoded, results, strict=True):
            if isinstance(result, BaseException):
                out[i] = result
                continue
            accepted = result.accepted
            metrics.observe_batch(
                accepted.samples,
                accepted.events,
                accepted.duplicate,
                time.perf_counter() - started,
                accepted.refused,
            )
            # Serialized here, once: a Response skips FastAPI's second validation of the model.
            out[i] = Response(accepted.model_dump_json(), media_type="application/json")
    return [o for o in out if o is not None]


@ingest_router.post(
    BATCH_PATH,
    response_model=BatchAccepted,
    responses=_ERROR_RESPONSES,
    summary="Store a batch of samples, assets and events from an agent",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Batch"}}},
        }
    },
)
async def post_batch(request: Request, credentials: Credentials, runtime: RuntimeDep) -> Response:
    """Idempotent by ``batch_id``: a retry answers 200 with ``duplicate: true``.

    ``Content-Encoding: gzip`` is accepted. Limits: the body as sent and decompressed.
    """
    # In the full app :class:`BatchRoute` answers this path before FastAPI routes it; this
    # route documents it (OpenAPI) and serves it on bare apps that mount the router alone.
    headers = request.headers
    return await receive_batch(
        runtime,
        credentials,
        headers.get("content-length", ""),
        headers.get("content-encoding", "identity"),
        request.stream(),
    )


async def receive_batch(
    runtime: Runtime,
    credentials: HTTPAuthorizationCredentials | None,
    length: str,
    encoding: str,
    chunks: AsyncIterator[bytes],
) -> Response:
    """Authenticate, read the body, then decode and store it in an ingest thread (one hop)."""
    metrics = runtime.metrics
    try:
        token = bearer_token(credentials)
        # A token seen before costs no lookup here; the ingest transaction re-checks it.
        ingestor = runtime.ingestor
        principal = ingestor.cached_principal(token)
        cached = principal is not None
        if principal is None:
            principal = await run_in_threadpool(authenticate, runtime.store, token, "agent")
            ingestor.remember_principal(token, principal)
        body = await read_chunks(chunks, length, runtime.settings.max_body_bytes)
        metrics.request_bytes.observe(len(body))
        encoding = encoding.strip().lower()
        if encoding not in ("identity", "gzip", "x-gzip", ""):
            raise UnsupportedEncoding(f"Content-Encoding {encoding!r} is not supported; use gzip")
        threads = runtime.ingest_threads
        if threads is None:  # a Runtime built by hand (tests): no pool of its own
            return await run_in_threadpool(
                ingest_body, runtime, principal, token, cached, body, encoding
            )
        result: Response = await threads.run_grouped(
            ingest_bodies, runtime, principal, token, cached, body, encoding
        )
        return result
    except UpkeepError as exc:
        if not isinstance(exc, ClientDisconnected):
            metrics.rejected.labels(exc.code).inc()
        raise


class BatchRoute:
    """ASGI middleware answering ``POST`` :data:`BATCH_PATH` itself, ahead of FastAPI.

    The agents' batches are nearly all of the collector's requests; FastAPI's routing,
    dependency solving (two of them sync, i.e. two extra thread hops) and exception
    middleware cost more than decoding a host's batch. This does what :func:`post_batch`
    does with the same functions (:func:`receive_batch`, :func:`error_answer`), so every
    answer, status and header is the route's; any other method or path goes to the app.
    It is added innermost, so the middlewares around the app (HSTS, trusted proxies,
    strict JSON) see batches as before.
    """

    def __init__(self, app: Any, *, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != BATCH_PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        authorization = length = None
        encoding = "identity"
        for name, value in scope["headers"]:
            if name == b"authorization":
                if authorization is None:
                    authorization = value.decode("latin-1")
            elif name == b"content-length":
                if length is None:
                    length = value.decode("latin-1")
            elif name == b"content-encoding" and encoding == "identity":
                encoding = value.decode("latin-1")
        try:
            response = await receive_batch(
                self.runtime,
                bearer_credentials(authorization),
                length or "",
                encoding,
                asgi_chunks(receive),
            )
        except UpkeepError as exc:
            response = error_answer(self.runtime, scope["method"], scope["path"], exc)
        await response(scope, receive, send)


def bearer_credentials(authorization: str | None) -> HTTPAuthorizationCredentials | None:
    """The ``Authorization`` header as FastAPI's ``HTTPBearer(auto_error=False)`` reads it."""
    if not authorization:
        return None
    scheme, _, credentials = authorization.partition(" ")
    credentials = credentials.strip()
    if not (scheme and credentials) or scheme.lower() != "bearer":
        return None
    return HTTPAuthorizationCredentials(scheme=scheme, credentials=credentials)


async def asgi_chunks(receive: Any) -> AsyncIterator[bytes]:
    """The request body as Starlette's ``Request.stream()`` yields it."""
    while True:
        message = await receive()
        if message["type"] == "http.request":
            body = message.get("body", b"")
            if body:
                yield body
            if not message.get("more_body", False):
                return
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect()


# ---------------------------------------------------------------------- reads (admin)

read_router = APIRouter(tags=["read"], responses=_responses(401, 403))


@read_router.get("/api/v1/clients", response_model=list[ClientOut])
def get_clients(principal: Admin, runtime: RuntimeDep) -> list[ClientOut]:
    return [
        ClientOut(id=c.id, name=c.name, enabled=c.enabled, created_at=c.created_at)
        for c in admin.list_clients(runtime.store)
    ]


@read_router.get("/api/v1/assets", response_model=list[AssetOut])
def get_assets(
    principal: Admin,
    runtime: RuntimeDep,
    client: Annotated[
        str | None,
        Query(description="only this client's assets", max_length=100, pattern=r"^[^\x00]*$"),
    ] = None,
) -> list[AssetOut]:
    query = (
        sa.select(assets, clients.c.name.label("client_name"), sites.c.name.label("site_name"))
        .join(clients, assets.c.client_id == clients.c.id)
        .outerjoin(sites, assets.c.site_id == sites.c.id)
        .order_by(clients.c.name, assets.c.name)
    )
    with runtime.store.read() as conn:
        if client is not None:
            query = query.where(assets.c.client_id == admin.get_client(conn, client).id)
        rows = conn.execute(query).all()
    return [
        AssetOut(
            id=r.id,
            client=r.client_name,
            site=r.site_name,
            name=r.name,
            kind=r.kind,
            vendor=r.vendor,
            model=r.model,
            serial=r.serial,
            address=r.address,
            description=r.description,
            tags=r.tags,
            attributes=r.attributes,
            first_seen=timeutil.to_datetime(r.first_seen),
            last_seen=timeutil.to_datetime(r.last_seen),
        )
        for r in rows
    ]


@read_router.get("/api/v1/assets/{asset_id}/latest", response_model=list[LatestValue])
def get_asset_latest(
    asset_id: Annotated[int, PathParam(ge=1, le=2**31 - 1)], principal: Admin, runtime: RuntimeDep
) -> list[LatestValue]:
    query = (
        sa.select(series.c.id, series.c.metric, series.c.labels, latest.c.value, latest.c.ts)
        .join(latest, latest.c.series_id == series.c.id)
        .where(series.c.asset_id == asset_id)
        .order_by(series.c.metric, series.c.labels)
    )
    with runtime.store.read() as conn:
        if conn.execute(sa.select(assets.c.id).where(assets.c.id == asset_id)).first() is None:
            raise NotFound(f"no asset with id {asset_id}")
        rows = conn.execute(query).all()
    return [
        LatestValue(
            series_id=r.id,
            metric=r.metric,
            labels=json.loads(r.labels),
            value=r.value,
            ts=timeutil.to_datetime(r.ts),
        )
        for r in rows
    ]


# ---------------------------------------------------------------------- operations

operations_router = APIRouter(tags=["operations"])


@operations_router.get(
    "/healthz",
    response_model=Health,
    responses={503: {"model": WireError, "description": "Database not usable"}},
)
def healthz(runtime: RuntimeDep) -> Health:
    """200 when the database answers and is migrated. No authentication."""
    runtime.store.check()
    return Health(status="ok")


@operations_router.get(
    "/metrics",
    response_class=Response,
    # Open unless metrics_token_file is set: the bearer token is optional here.
    openapi_extra={"security": [{}, {"HTTPBearer": []}]},
    responses={200: {"content": {"text/plain": {}}}, 401: _ERROR_RESPONSES[401]},
)
def get_metrics(credentials: Credentials, runtime: RuntimeDep) -> Response:
    """Prometheus exposition; needs a bearer token only when ``metrics_token_file`` is set."""
    runtime.metrics.authorize(credentials.credentials if credentials is not None else None)
    cluster = runtime.cluster
    return Response(
        runtime.metrics.exposition()
        + runtime.rules.metrics.exposition()
        + (cluster.metrics.exposition() if cluster is not None else b""),
        media_type=CONTENT_TYPE_LATEST,
    )


# ---------------------------------------------------------------------- errors as answers


async def domain_error(request: Request, exc: Exception) -> Response:
    """A domain error (:mod:`collector.errors`) as its HTTP answer with a ``WireError`` body."""
    assert isinstance(exc, UpkeepError)
    runtime = getattr(request.app.state, "runtime", None)
    return error_answer(runtime, request.method, request.url.path, exc)


def error_answer(runtime: Runtime | None, method: str, path: str, exc: UpkeepError) -> Response:
    """The answer to a domain error (also :class:`BatchRoute`'s, outside FastAPI)."""
    if isinstance(exc, ClientDisconnected):
        # A dropped connection (agent on a flaky link, killed upload) is not our fault and
        # not worth a traceback: one line, counted; the agent retries the batch.
        if runtime is not None:
            runtime.metrics.client_disconnects.inc()
        log.info("%s %s: %s", method, path, exc.detail)
        return Response(status_code=status_for(exc))
    return _error_response(status_for(exc), exc.code, exc.detail, exc.fields)


async def request_invalid(request: Request, exc: Exception) -> Response:
    """FastAPI's own validation errors as a ``WireError`` naming the fields (422)."""
    assert isinstance(exc, RequestValidationError)
    detail, fields = problem_fields(exc.errors())
    return _error_response(422, "invalid_request", detail, fields)


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's 404/405/… as a ``WireError``; a 405 names every method of the path."""
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    response = _error_response(exc.status_code, code, str(exc.detail))
    response.headers.update(exc.headers or {})
    if exc.status_code == 405:
        # Starlette names the methods of the first route of the path only; a path served
        # by several routes (GET and PUT as two functions) allows all of theirs.
        response.headers["Allow"] = ", ".join(_allowed_methods(request))
    return response


def install_error_handlers(app: FastAPI) -> None:
    """The JSON error answers of the API (the web UI adds HTML pages for ``/ui`` on top)."""
    app.add_exception_handler(UpkeepError, domain_error)
    app.add_exception_handler(RequestValidationError, request_invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)


# ---------------------------------------------------------------------- the app


def build_runtime(
    settings: Settings,
    store: Store,
    *,
    run_retention: bool = True,
    run_reports: bool | None = None,
) -> Runtime:
    """Wire one replica: rule engine, ingest, metrics, incidents, contract files and the
    registry of periodic jobs (:mod:`collector.background`). Nothing is started here."""
    # Rules evaluate each stored batch right after its commit, within the same request. On
    # PostgreSQL the batch first goes to its shard's queue (same transaction) for whichever
    # replica owns the shard (collector/cluster.py); on SQLite there is one process.
    cluster = None if store.is_sqlite else Cluster(store, settings)
    rule_service = RuleService(store, settings, cluster=cluster)
    # Prometheus remote write (optional): samples queued in the ingest transaction.
    remote_write = RemoteWriteExporter.from_settings(store, settings)
    ingestor = Ingestor(
        store,
        listeners=[rule_service.on_ingest],
        in_transaction=[
            *([cluster.enqueue] if cluster is not None else []),
            *([remote_write.enqueue] if remote_write is not None else []),
        ],
        seen_interval=(
            settings.cluster_seen_write_interval
            if cluster is not None
            else settings.seen_write_interval
        ),
        limits=IngestLimits.from_settings(settings),
    )
    metrics = CollectorMetrics(store, settings)
    if remote_write is not None:
        metrics.register(remote_write)
    # Rule transitions open/update incidents in the same transaction; workers deliver tickets.
    incident_runtime = Incidents(store, settings, rule_service, metrics)
    # Noise control: the maintenance file, and the lifecycle as the target of released signals.
    noise_control = noise.configure(noise.NoiseControl(settings.maintenance_file))
    noise.set_emitter(incident_runtime.service.apply_signal, noise.active_incident_key)
    # Remediation (docs/remediation.md): automatic fixes on firing alerts, signed agent tasks.
    from collector.remediation.service import Remediation

    remediation = Remediation(
        store, settings, rule_service, incident_runtime.service, incident_runtime.ledger
    )
    # Contract files: loaded at start (after migrations), on SIGHUP and on the reload API;
    # their remediation.standard must name actions of the library (unchecked when the
    # library did not load: a broken action file must not refuse every contract).
    contract_files = ContractFiles(
        store, settings.contracts_paths, actions=remediation.library.actions or None
    )
    # Every periodic job and worker of this replica, in one registry (collector.background).
    jobs, workers = collector_jobs(
        store,
        settings,
        rule_service,
        incident_runtime,
        retention=run_retention,
        reports=run_retention if run_reports is None else run_reports,
        remote_write=remote_write,
        remediation=remediation,
    )
    runner = JobRunner(
        jobs, workers, engine=store.engine, metrics=JobMetrics(registry=metrics.registry)
    )
    return Runtime(
        settings=settings,
        store=store,
        rules=rule_service,
        incidents=incident_runtime,
        metrics=metrics,
        ingestor=ingestor,
        contract_files=contract_files,
        jobs=runner,
        cluster=cluster,
        # Decoding and storing a batch is CPU work under the GIL. On SQLite, where writes
        # are serialized anyway, running several at once only makes threads queue for the
        # GIL (each sqlite3 step releases and re-takes it): one at a time is ~20% faster. On
        # PostgreSQL the database works in its own processes, so a few overlap usefully.
        # Group commit on SQLite: the batches that queued while one was stored share one
        # transaction (Ingestor.ingest_many); PostgreSQL's threads take one batch each.
        ingest_threads=(
            IngestThreads(1, max_group=MAX_GROUP) if store.is_sqlite else IngestThreads(4)
        ),
        noise_control=noise_control,
        remediation=remediation,
        remote_write=remote_write,
    )


@contextlib.asynccontextmanager
async def run_runtime(
    runtime: Runtime, *, migrate: bool = True, dispose: bool = False
) -> AsyncIterator[None]:
    """Migrate, load the contract files, run rules and the job registry; stop them after."""
    store = runtime.store
    if migrate:
        await run_in_threadpool(store.upgrade)
    try:
        await run_in_threadpool(runtime.contract_files.reload)
    except Exception:  # a broken contract store must not keep the collector from serving
        log.exception("loading the contract files failed")
    on_hup = [
        runtime.noise_control.reload,
        runtime.contract_files.reload,
        runtime.incidents.oncall.reload,
    ]
    async with run_rules(runtime.rules, on_hup=on_hup):
        await run_in_threadpool(runtime.jobs.start)
        runtime.incidents.log_connectors()
        try:
            yield
        finally:
            await run_in_threadpool(runtime.jobs.stop)
            if runtime.ingest_threads is not None:
                await run_in_threadpool(runtime.ingest_threads.stop)
            if dispose:
                store.dispose()


def include_routers(app: FastAPI, runtime: Runtime) -> None:
    """Every API router of the collector, and the web UI under ``/ui``."""
    from collector.reports.api import router as reports  # matplotlib and WeasyPrint, lazily

    for router in (
        ingest_router,
        install_router,  # GET /install/agent.sh, /install/agent.ps1 (public)
        read_router,
        operations_router,
        rules_api.router,
        incidents_api.router,
        sla_api.router,
        contracts_api.router,
        preventive_api.router,
        ledger_api.router,
        reports,
        maintenance_api.router,
        outbox_api.router,
        management_api.router,
        alertmanager.router,
    ):
        app.include_router(router)
    from collector.closing import api as closing_api

    # Before the web UI: /ui/incidents/{key}/closing must not be taken for an incident action.
    # (Its pages and the staff API /api/v1/closings; one module-level router on the Runtime.)
    app.include_router(closing_api.router)
    from collector.reports.web import router as report_pages

    app.include_router(report_pages)
    from collector.remediation.api import router as remediation_router

    app.include_router(remediation_router)
    from collector.oncall.api import router as oncall

    app.include_router(oncall)
    # The web UI under /ui (docs/web-ui.md): pages, sessions, and HTML error pages for /ui paths.
    web.install(app, runtime.settings, runtime.incident_service, runtime.rules)


def create_app(
    settings: Settings,
    *,
    store: Store | None = None,
    migrate: bool = True,
    run_retention: bool = True,
    run_reports: bool | None = None,
) -> FastAPI:
    """The collector app. Migrates the store on startup unless ``migrate=False``.

    ``store`` defaults to one built from ``settings`` (and disposed on shutdown). The periodic
    jobs and workers (:mod:`collector.background`) run while the app does, unless
    ``settings.background`` is off; ``run_retention`` / ``run_reports`` (default: as
    ``run_retention``) leave out the retention job / the report schedule.
    """
    own_store = store is None
    runtime = build_runtime(
        settings,
        store or Store.from_settings(settings),
        run_retention=run_retention,
        run_reports=run_reports,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with run_runtime(runtime, migrate=migrate, dispose=own_store):
            yield

    app = FastAPI(
        title="Upkeep collector",
        version="1",
        lifespan=lifespan,
        description="Ingest API for Upkeep agents and read API for admins.",
    )
    app.state.runtime = runtime
    # The parts by name, as before the Runtime existed (pages and tests read them).
    app.state.settings = settings
    app.state.store = runtime.store
    app.state.ingestor = runtime.ingestor
    app.state.metrics = runtime.metrics
    app.state.rules = runtime.rules
    app.state.cluster = runtime.cluster
    app.state.incidents = runtime.incidents
    app.state.contract_files = runtime.contract_files
    app.state.jobs = runtime.jobs
    app.state.remediation = runtime.remediation

    # Batches are answered ahead of FastAPI's routing (innermost: every middleware below
    # still wraps them).
    app.add_middleware(BatchRoute, runtime=runtime)
    if settings.tls_certfile is not None and settings.tls_hsts_max_age > 0:
        app.add_middleware(HstsMiddleware, max_age=int(settings.tls_hsts_max_age))
    # NaN/Infinity in any JSON body → 422 naming the field (batches and the Alertmanager
    # receiver validate their own bodies, within their own limits).
    app.add_middleware(
        StrictJsonMiddleware,
        skip={BATCH_PATH, ALERTMANAGER_PATH},
        max_bytes=settings.max_body_bytes,
        on_disconnect=functools.partial(_disconnected, runtime.metrics),
    )
    install_error_handlers(app)
    include_routers(app, runtime)
    # The real client address behind trusted reverse proxies (collector.proxies).
    proxies.install(app, settings.trusted_proxies, settings.trusted_proxy_header)
    app.openapi = functools.partial(openapi_document, app)  # type: ignore[method-assign]
    return app


def _disconnected(
    metrics: CollectorMetrics, scope: MutableMapping[str, Any], received: int
) -> None:
    metrics.client_disconnects.inc()
    log.info(
        "%s %s: client disconnected after %d body bytes", scope["method"], scope["path"], received
    )


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document (the contract the fuzz test checks), built once per app."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        batch = Batch.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(batch.pop("$defs", {}))
        components["Batch"] = batch
        webhook = AmWebhook.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(webhook.pop("$defs", {}))
        components["AmWebhook"] = webhook
        _document_errors(schema)
        app.openapi_schema = schema
    return app.openapi_schema


def _lax_datetime(schema: dict[str, Any]) -> None:
    """A date-time parameter also takes seconds since the epoch (pydantic reads both): say so."""
    for option in [schema, *schema.get("anyOf", [])]:
        if option.get("format") == "date-time":
            option.pop("format")
            option.pop("type", None)
            option["anyOf"] = [{"type": "string", "format": "date-time"}, {"type": "number"}]


def _allowed_methods(request: Request) -> list[str]:
    """Methods some route of the app answers on this path (asked the way the router matches)."""
    allowed = []
    for method in ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"):
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


def _document_errors(schema: dict[str, Any]) -> None:
    """Make the document say what the answers are: every 4xx body is a ``WireError``.

    FastAPI documents 422 as its own ``HTTPValidationError``; ours is a ``WireError`` (the
    handlers above). Every JSON body can also be refused by the strict JSON check (422) or
    its size (413).
    """
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["WireError"] = WireError.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    wire_error = {"application/json": {"schema": {"$ref": "#/components/schemas/WireError"}}}
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            if "requestBody" in operation:
                responses.setdefault("400", {"description": "Body cannot be read"})
                responses.setdefault("422", {"description": "Body breaks the contract"})
                responses.setdefault("413", {"description": "Body too large"})
            parameters = operation.get("parameters", [])
            if (
                path.startswith("/api/")
                and path != BATCH_PATH
                and (parameters or "requestBody" in operation)
            ):
                # Whatever names something (a path key, ?client=, a body's client or asset)
                # may name something that does not exist.
                responses.setdefault("404", {"description": "A named thing does not exist"})
            for parameter in parameters:
                _lax_datetime(parameter.get("schema", {}))
            # The signed-link pages (outside /api/) refuse a bad link with an HTML page (400).
            page = not path.startswith("/api/") and "text/html" in responses.get("200", {}).get(
                "content", {}
            )
            if page:
                responses.setdefault("400", {"description": "The link is not valid"})
            for code, answer in responses.items():
                if code.startswith("4"):
                    html = page and code == "400"
                    answer["content"] = (
                        {"text/html": {"schema": {"type": "string"}}} if html else wire_error
                    )
                    if code == "422":
                        answer["description"] = (
                            "Invalid request: `detail` and `fields` name the field"
                        )
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
