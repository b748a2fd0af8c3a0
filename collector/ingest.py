"""Store one agent batch: all or nothing, idempotent by ``batch_id``, independent of HTTP.

:meth:`Ingestor.ingest` takes a validated batch (:class:`agent.wire.Batch`, or the same decoded
by :mod:`collector.wirecodec`) and the authenticated
:class:`~collector.admin.Principal` and, in one write transaction:

0. re-reads the agent token's row (the API caches tokens across requests: a token revoked
   or a client disabled by any process is refused here, 401/403);
1. answers ``duplicate`` if the batch_id is already stored (nothing is written);
2. registers or updates the agent (403 if its id belongs to another client) and its site;
3. upserts the batch's assets and checks every sample/event names an asset the client has
   (422 naming ``samples[i].asset`` otherwise);
4. resolves series ids (in-process cache; new series are created in bulk, within the
   per-asset and per-client series limits);
5. writes raw samples (``COPY`` on PostgreSQL) and the latest value per series (one row per
   series per batch, only if not older); hourly rollups are built from the raw samples by
   the ``rollups`` job (:mod:`collector.rollups`), and only a sample of an hour already
   built (a late one) is merged into its rollup here;
6. stores events and the batch row that makes a retry a no-op.

Samples and events are refused one by one, never the batch (the rest is stored, the answer
lists what was refused and why, the ``refused`` counters count it, and an event on the
asset records it): a ``ts`` more than ``max_clock_skew`` ahead of the collector's clock
(``future_timestamp``, event ``clock_skew``), a ``ts`` older than ``rollup_retention``
(``expired``: nothing that old is kept), a new series over ``max_series_per_asset`` or
``max_series_per_client`` (``series_limit``, event ``series_limit``).

The result lists every stored sample as ``(SeriesRef, value, ts)``: the hook for the rule
engine, which evaluates on arrival. Listeners passed to the Ingestor are called with the
result after the commit, so a slow listener never holds the write transaction.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import operator
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from agent import wire
from agent.durations import format_duration
from agent.wire import BatchAccepted, Refused
from collector import rollups, timeutil, wirecodec
from collector.admin import Principal, hash_token
from collector.bulk import SampleRow, SamplesConflict, writer_for
from collector.errors import Forbidden, InvalidBatch, Unauthenticated
from collector.rules.engine import humanize
from collector.schema import agents, assets, events, series, sites
from collector.store import DriverSQL, Store, inserted_id

if TYPE_CHECKING:
    from collector.settings import Settings

log = logging.getLogger(__name__)

#: A batch as the pydantic model of the contract or its fast decoder (collector.wirecodec)
#: makes it: the same attributes and values, read alike here.
Batch = wire.Batch | wirecodec.Batch
Asset = wire.Asset | wirecodec.Asset
Sample = wire.Sample | wirecodec.Sample
Event = wire.Event | wirecodec.Event

#: (asset name, metric, sorted label items): identifies a series within one client.
SeriesKey = tuple[str, str, tuple[tuple[str, str], ...]]

#: Refresh a token's last_used_at at most this often (it costs a write).
_TOKEN_TOUCH_INTERVAL = 60.0
_HOUR = 3600
_TS = operator.attrgetter("ts")
_VALUE = operator.attrgetter("value")
_ID = operator.attrgetter("id")
_ROW_TS = operator.itemgetter(1)
#: Series named in a ``series_limit`` event (the count says how many there were).
_EXAMPLES = 5
#: Agent tokens remembered (token hash → Principal); beyond this the cache starts over.
_MAX_PRINCIPALS = 100_000


@dataclass(frozen=True, slots=True)
class IngestLimits:
    """What a batch may hold beyond the wire contract (settings ``max_clock_skew``, …)."""

    max_clock_skew: float = 300.0
    max_age: float = 400 * 86400.0
    max_series_per_asset: int = 2000
    max_series_per_client: int = 50_000

    @classmethod
    def from_settings(cls, settings: Settings) -> IngestLimits:
        return cls(
            max_clock_skew=settings.max_clock_skew,
            max_age=settings.rollup_retention,
            max_series_per_asset=settings.max_series_per_asset,
            max_series_per_client=settings.max_series_per_client,
        )


#: Label sets as the series cache holds them, shared by every series with the same labels
#: (a fleet's hosts repeat the same few hundred): stored JSON → (sorted pairs, dict), the
#: strings interned. Bounded: past the bound a label set is simply not shared.
_LABEL_SETS: dict[str, tuple[tuple[tuple[str, str], ...], dict[str, str]]] = {}
_MAX_LABEL_SETS = 500_000


def shared_labels(stored: str) -> tuple[tuple[tuple[str, str], ...], dict[str, str]]:
    """A series' labels (its stored JSON) as (sorted pairs, dict), one shared copy per
    distinct label set. The dict is read-only by contract (:class:`SeriesRef`)."""
    got = _LABEL_SETS.get(stored)
    if got is None:
        intern = sys.intern
        pairs = tuple(sorted((intern(k), intern(v)) for k, v in json.loads(stored).items()))
        got = (pairs, dict(pairs))
        if len(_LABEL_SETS) < _MAX_LABEL_SETS:
            _LABEL_SETS[intern(stored)] = got
    return got


@dataclass(slots=True, eq=False)  # identity equality; not frozen: 5x cheaper to build
class SeriesRef:
    """One series as the rule engine sees it, built per batch from the :class:`SeriesCache`
    (no object per series is kept between batches). Read-only by contract, like ``labels``,
    which is shared by the series with the same label set (:func:`shared_labels`)."""

    id: int
    client_id: int
    asset_id: int
    asset: str
    metric: str
    labels: dict[str, str]


class _Kind:
    """The series of one (metric, label pairs) across a client's assets: the metric and the
    shared labels once, then only asset name → series id."""

    __slots__ = ("metric", "labels", "ids")

    def __init__(self, metric: str, labels: dict[str, str]) -> None:
        self.metric = metric
        self.labels = labels
        self.ids: dict[str, int] = {}


class SeriesCache:
    """One client's series ids by :data:`SeriesKey`, without a key tuple or a ref per series:
    (metric, label pairs) → :class:`_Kind` → asset name → id. The (metric, pairs) keys are
    shared by every asset with that series (a fleet's hosts repeat the same few hundred) and
    the names by the asset's series. :meth:`lookup` builds each batch's :class:`SeriesRef` s
    (about 0.2 µs each): keeping one per series cost 80 bytes a series (180 MiB at 30,000
    hosts)."""

    __slots__ = ("_by_kind", "client_id")

    def __init__(self, client_id: int) -> None:
        self.client_id = client_id
        self._by_kind: dict[tuple[str, tuple[tuple[str, str], ...]], _Kind] = {}

    def lookup(self, keys: list[SeriesKey], asset_ids: dict[str, int]) -> list[SeriesRef | None]:
        """The ref of each key (None: not cached), aligned with ``keys``; ``asset_ids`` holds
        the id of every asset named in ``keys``."""
        get_kind = self._by_kind.get
        client_id = self.client_id
        out: list[SeriesRef | None] = []
        add = out.append
        for a, m, p in keys:
            kind = get_kind((m, p))
            if kind is not None and (sid := kind.ids.get(a)) is not None:
                add(SeriesRef(sid, client_id, asset_ids[a], a, kind.metric, kind.labels))
            else:
                add(None)
        return out

    def update(self, refs: dict[SeriesKey, SeriesRef]) -> None:
        by_kind = self._by_kind
        for (asset, metric, pairs), ref in refs.items():
            kind = by_kind.get((metric, pairs))
            if kind is None:
                kind = by_kind[(metric, pairs)] = _Kind(ref.metric, ref.labels)
            kind.ids[asset] = ref.id

    def __len__(self) -> int:
        return sum(len(kind.ids) for kind in self._by_kind.values())


@dataclass(slots=True)
class IngestResult:
    """The answer for the agent, and what was stored (nothing for a duplicate).

    ``rows`` are the stored ``(series_id, ts, value)``; ``series`` maps their ids to
    :class:`SeriesRef`. :attr:`stored` pairs them up for the rule engine on demand, so
    ingest pays nothing for it while no listener asks.
    """

    accepted: BatchAccepted
    rows: list[SampleRow] = field(default_factory=list)
    series: dict[int, SeriesRef] = field(default_factory=dict)

    @property
    def stored(self) -> list[tuple[SeriesRef, float, float]]:
        """Every sample stored by this batch as ``(series, value, ts)``."""
        series = self.series
        return [(series[sid], v, ts) for sid, ts, v in self.rows]


Listener = Callable[[IngestResult], None]
#: Called inside the ingest transaction with the result about to be committed (the cluster's
#: hand-off to a shard owner is written atomically with the samples it carries).
TransactionHook = Callable[[Connection, IngestResult], None]


@dataclass(slots=True)
class _Pending:
    """Cache entries learned inside a transaction; applied only after it commits."""

    assets: dict[str, int] = field(default_factory=dict)
    inventory: dict[str, tuple[int, Asset]] = field(default_factory=dict)
    series: dict[SeriesKey, SeriesRef] = field(default_factory=dict)
    sites: dict[tuple[int, str], int] = field(default_factory=dict)
    touched: float | None = None  # the token's last_used_at as written
    #: last_seen rows written (agent/asset key → time), for the throttle once committed
    seen: dict[object, float] = field(default_factory=dict)


@dataclass(slots=True)
class _Admitted:
    """The samples and events of a batch that pass the time checks, and what was refused."""

    samples: Sequence[Sample]
    events: Sequence[Event]
    refused: list[Refused] = field(default_factory=list)
    #: asset name → (seconds ahead of the collector's clock at most, samples, events refused)
    ahead: dict[str, list[float]] = field(default_factory=dict)


class _SamplesAlreadyStored(Exception):
    """Some (series, ts) were stored by an earlier batch: redo the transaction filtering them."""


class _Statements:
    """The per-batch statements of the steady state as the driver's own SQL: a batch runs
    each once, and SQLAlchemy Core's per-execution work (compile-cache lookup, parameter
    processing, result metadata) cost more than the statements themselves on SQLite."""

    def __init__(self, dialect: str) -> None:
        mark = "?" if dialect == "sqlite" else "%s"

        def sql(text: str) -> str:
            return text.replace("?", mark)

        self.token = sql(
            "SELECT t.revoked_at, t.kind, c.name, c.enabled FROM tokens t "
            "LEFT JOIN clients c ON c.id = t.client_id WHERE t.id = ?"
        )
        self.batch_done = sql(
            "SELECT client_id, seq, samples, events, assets FROM batches WHERE batch_id = ?"
        )
        self.agent = sql("SELECT client_id, last_seq FROM agents WHERE id = ?")
        self.agent_seen = sql(
            "UPDATE agents SET site_id = ?, hostname = ?, version = ?, os = ?, last_seen = ?, "
            "last_seq = ? WHERE id = ?"
        )
        self.asset_seen = sql("UPDATE assets SET last_seen = ? WHERE id = ?")
        self.batch = sql(
            "INSERT INTO batches (batch_id, agent_id, client_id, seq, samples, events, assets, "
            "received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        )
        self.token_used = sql("UPDATE tokens SET last_used_at = ? WHERE id = ?")


def canonical_labels(labels: dict[str, str] | Iterable[tuple[str, str]]) -> str:
    items = sorted(labels.items()) if isinstance(labels, dict) else list(labels)
    return json.dumps(dict(items), separators=(",", ":"), ensure_ascii=False)


def labels_hash(canonical: str) -> str:
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _insert(dialect: str):
    return sqlite.insert if dialect == "sqlite" else postgresql.insert


class Ingestor:
    """Stores batches for one Store. Thread-safe; caches hold only committed ids.

    The caches map names to ids per client (assets, series) so a steady stream of batches
    costs no lookups, and remember each asset's inventory as last written so an agent that
    re-sends unchanged assets with every batch costs one ``last_seen`` update. (With several
    collectors on one PostgreSQL, a collector rewrites an asset only when *its* agents
    report a change.) Rows are never deleted while the collector runs (retention deletes
    samples, not series or assets); a future command that does must call :meth:`clear_caches`.
    """

    def __init__(
        self,
        store: Store,
        listeners: Sequence[Listener] = (),
        *,
        limits: IngestLimits | None = None,
        in_transaction: Sequence[TransactionHook] = (),
        seen_interval: float = 0.0,
    ) -> None:
        self.store = store
        self.limits = limits or IngestLimits()
        self.writer = writer_for(store.dialect, max_clock_skew=self.limits.max_clock_skew)
        self.listeners = list(listeners)
        self.in_transaction = list(in_transaction)
        #: Write an agent's/asset's unchanged row (only last_seen moves) at most this often.
        self.seen_interval = seen_interval
        self._seen_written: dict[object, float] = {}
        self._insert = _insert(store.dialect)
        upsert = self._insert(assets)
        self._asset_upsert = upsert.on_conflict_do_update(
            index_elements=[assets.c.client_id, assets.c.name],
            set_={
                "site_id": upsert.excluded.site_id,
                "kind": upsert.excluded.kind,
                # An agent that no longer knows a field (device did not answer) keeps the old value.
                **{
                    c: sa.func.coalesce(getattr(upsert.excluded, c), getattr(assets.c, c))
                    for c in ("vendor", "model", "serial", "address", "description")
                },
                "tags": upsert.excluded.tags,
                "attributes": upsert.excluded.attributes,
                "last_seen": upsert.excluded.last_seen,
            },
        )
        self._assets: dict[int, dict[str, int]] = {}
        # The inventory last written per asset: an unchanged asset only needs last_seen.
        self._inventory: dict[int, dict[str, tuple[int, Asset]]] = {}
        self._series: dict[int, SeriesCache] = {}
        self._sites: dict[tuple[int, str], int] = {}
        # Agent tokens already authenticated, so a steady stream of batches pays neither a
        # read transaction nor a thread hop for it. Never trusted alone: every batch's write
        # transaction re-reads the token's row (revoked by any process, client disabled).
        self._principals: dict[str, Principal] = {}
        self._token_keys: dict[int, str] = {}  # token id → its key in _principals
        self._sql = _Statements(store.dialect)
        #: The rollups job's progress as last read here (it only grows): hours before it are
        #: built, so their samples are merged into rollups by the batch (collector/rollups.py).
        self._built_until: int | None = None

    def clear_caches(self) -> None:
        self._assets, self._inventory, self._series, self._sites = {}, {}, {}, {}
        self._principals, self._token_keys = {}, {}

    # ------------------------------------------------------------------ agent tokens

    def cached_principal(self, token: str) -> Principal | None:
        """The principal of an agent token seen before (still checked in each transaction)."""
        return self._principals.get(hash_token(token))

    def remember_principal(self, token: str, principal: Principal) -> None:
        """Remember an agent token :func:`collector.admin.authenticate` just accepted."""
        if principal.kind != "agent":
            return
        if len(self._principals) >= _MAX_PRINCIPALS:
            self._principals, self._token_keys = {}, {}
        key = hash_token(token)
        self._principals[key] = principal
        self._token_keys[principal.token_id] = key

    def _check_token(self, db: DriverSQL, principal: Principal) -> None:
        """Refuse a batch whose token was revoked (or client disabled) since it was cached:
        the answers of :func:`collector.admin.authenticate`, read inside the write transaction."""
        row = db.first(self._sql.token, (principal.token_id,))
        if row is None or row[0] is not None:
            self._forget(principal)
            raise Unauthenticated("unknown or revoked token")
        _, kind, name, enabled = row
        if kind == "agent" and not enabled:
            self._forget(principal)
            raise Forbidden(f"client {name!r} is disabled")

    def _touched(self, principal: Principal, when: float) -> None:
        """The cached principal carries the last_used_at just written (touched once a minute)."""
        key = self._token_keys.get(principal.token_id)
        if key is not None and key in self._principals:
            self._principals[key] = dataclasses.replace(self._principals[key], last_used_at=when)

    def _forget(self, principal: Principal) -> None:
        key = self._token_keys.pop(principal.token_id, None)
        if key is not None:
            self._principals.pop(key, None)

    # ------------------------------------------------------------------ entry point

    def ingest(
        self, principal: Principal, batch: Batch, *, received_at: float | None = None
    ) -> IngestResult:
        """Store ``batch`` for ``principal`` (an agent token); raise a domain error on refusal."""
        if principal.kind != "agent" or principal.client_id is None:
            raise Forbidden("only agent tokens may send batches")
        now = received_at if received_at is not None else timeutil.now()
        admitted = self._admit(batch, now)
        keys = self._keys(admitted.samples)
        careful = False
        for attempt in range(3):
            pending = _Pending()
            try:
                with self.store.write() as conn:
                    result = self._store(
                        conn, principal, batch, admitted, keys, now, careful, pending
                    )
            except _SamplesAlreadyStored:
                careful = True
                continue
            except sa.exc.IntegrityError:
                # A concurrent writer (PostgreSQL) created the same batch, asset or series
                # first; the retry sees its committed rows.
                if attempt == 2:
                    raise
                log.debug("ingest conflict on attempt %d, retrying", attempt + 1)
                continue
            self._committed(principal, result, pending)
            return result
        raise AssertionError("unreachable")

    def ingest_many(
        self, items: Sequence[tuple[Principal, Batch]]
    ) -> list[IngestResult | Exception]:
        """Store several batches, each as :meth:`ingest` would, in one write transaction on
        SQLite (group commit): the batches that arrived while the ingest thread was busy
        share one ``BEGIN IMMEDIATE`` … ``COMMIT``. Each batch runs in a savepoint of its
        own, so a refused batch (or one that fails for any reason) is rolled back alone and
        gets its own error, the others are stored. Nothing is answered before the commit:
        the caches and listeners see a batch only once it is committed, and if the commit
        itself fails, every batch of the group is stored again on its own (one transaction
        each). Returns, aligned with ``items``, the result or the exception :meth:`ingest`
        would have raised. Elsewhere (PostgreSQL, where writers do not queue for one lock)
        and for a single batch it is :meth:`ingest` per batch.
        """
        if len(items) == 1 or not self.store.is_sqlite:
            return [self._ingest_one(principal, batch) for principal, batch in items]
        out: list[IngestResult | Exception | None] = [None] * len(items)
        todo = []
        for i, (principal, batch) in enumerate(items):
            if principal.kind != "agent" or principal.client_id is None:
                out[i] = Forbidden("only agent tokens may send batches")
                continue
            now = timeutil.now()
            admitted = self._admit(batch, now)
            todo.append((i, principal, batch, admitted, self._keys(admitted.samples), now))
        stored: list[tuple[int, Principal, IngestResult, _Pending]] = []
        try:
            with self.store.write() as conn:
                db = DriverSQL(conn)
                for i, principal, batch, admitted, keys, now in todo:
                    got = self._in_savepoint(conn, db, principal, batch, admitted, keys, now)
                    if isinstance(got, Exception):
                        out[i] = got
                    else:
                        stored.append((i, principal, *got))
        except Exception:
            # Nothing of the group is stored: each batch again, in a transaction of its own.
            log.warning("group commit of %d batches failed; one by one", len(todo), exc_info=True)
            for i, principal, batch, *_ in todo:
                out[i] = self._ingest_one(principal, batch)
            return [r for r in out if r is not None]
        for i, principal, result, pending in stored:
            self._committed(principal, result, pending)
            out[i] = result
        return [r for r in out if r is not None]

    def _ingest_one(self, principal: Principal, batch: Batch) -> IngestResult | Exception:
        try:
            return self.ingest(principal, batch)
        except Exception as exc:  # the caller answers it, as if ingest had raised it
            return exc

    def _in_savepoint(
        self,
        conn: Connection,
        db: DriverSQL,
        principal: Principal,
        batch: Batch,
        admitted: _Admitted,
        keys: list[SeriesKey],
        now: float,
    ) -> tuple[IngestResult, _Pending] | Exception:
        """One batch of a group (:meth:`ingest_many`) in a savepoint: its result and cache
        entries, or the exception that refused it (its writes rolled back, the group's kept).
        A failure to roll back to the savepoint is raised: the group is then redone."""
        careful = False
        for attempt in range(3):
            pending = _Pending()
            db.run("SAVEPOINT upkeep_batch", ())
            try:
                result = self._store(conn, principal, batch, admitted, keys, now, careful, pending)
            except _SamplesAlreadyStored:
                self._rollback_savepoint(db)
                careful = True
                continue
            except sa.exc.IntegrityError as exc:
                self._rollback_savepoint(db)
                if attempt == 2:
                    return exc
                continue
            except Exception as exc:
                self._rollback_savepoint(db)
                return exc
            db.run("RELEASE upkeep_batch", ())
            return result, pending
        return AssertionError("unreachable")

    @staticmethod
    def _rollback_savepoint(db: DriverSQL) -> None:
        db.run("ROLLBACK TO upkeep_batch", ())
        db.run("RELEASE upkeep_batch", ())

    def _committed(self, principal: Principal, result: IngestResult, pending: _Pending) -> None:
        """After the commit: cache what the batch created, then the listeners (rules)."""
        assert principal.client_id is not None
        self._assets.setdefault(principal.client_id, {}).update(pending.assets)
        self._inventory.setdefault(principal.client_id, {}).update(pending.inventory)
        cache = self._series.get(principal.client_id)
        if cache is None:
            cache = self._series[principal.client_id] = SeriesCache(principal.client_id)
        cache.update(pending.series)
        self._sites.update(pending.sites)
        self._seen_written.update(pending.seen)
        if pending.touched is not None:
            self._touched(principal, pending.touched)
        for listener in self.listeners:
            try:
                listener(result)
            except Exception:  # a listener must never turn a stored batch into an error
                log.exception("ingest listener %r failed", listener)

    # ------------------------------------------------------------------ pure preparation

    @staticmethod
    def _keys(samples: Sequence[Sample]) -> list[SeriesKey]:
        """The series key of each sample, in batch order."""
        return [
            (s.asset, s.metric, tuple(sorted(s.labels.items())) if s.labels else ())
            for s in samples
        ]

    def _admit(self, batch: Batch, now: float) -> _Admitted:
        """Split off samples and events dated in the future (beyond the skew) or too old."""
        future = now + self.limits.max_clock_skew
        expired = now - self.limits.max_age
        out = _Admitted(batch.samples, batch.events)
        # The common case costs C-level passes over the timestamps, no Python per sample.
        for what in ("samples", "events"):
            items: list[Any] = getattr(batch, what)
            if not items:
                continue
            stamps = list(map(_TS, items))
            if max(stamps) <= future and min(stamps) >= expired:
                continue
            kept, ahead, old = [], [], 0
            for item in items:
                if item.ts > future:
                    ahead.append(item)
                elif item.ts < expired:
                    old += 1
                else:
                    kept.append(item)
            setattr(out, what, kept)
            if ahead:
                offset = max(item.ts for item in ahead) - now
                out.refused.append(
                    Refused(
                        what=what,
                        reason="future_timestamp",
                        count=len(ahead),
                        detail=(
                            f"{len(ahead)} {what} dated up to {humanize(offset)} ahead "
                            f"of the collector's clock (max_clock_skew "
                            f"{format_duration(self.limits.max_clock_skew)}): check the "
                            f"agent's clock (NTP)"
                        ),
                    )
                )
                for item in ahead:
                    entry = out.ahead.setdefault(item.asset, [0.0, 0, 0])
                    entry[0] = max(entry[0], item.ts - now)
                    entry[1 if what == "samples" else 2] += 1
            if old:
                out.refused.append(
                    Refused(
                        what=what,
                        reason="expired",
                        count=old,
                        detail=(
                            f"{old} {what} older than the collector keeps anything "
                            f"(rollup_retention {format_duration(self.limits.max_age)})"
                        ),
                    )
                )
        return out

    # ------------------------------------------------------------------ the transaction

    def _store(
        self,
        conn: Connection,
        principal: Principal,
        batch: Batch,
        admitted: _Admitted,
        keys: list[SeriesKey],
        now: float,
        careful: bool,
        pending: _Pending,
    ) -> IngestResult:
        client_id = principal.client_id
        assert client_id is not None
        db = DriverSQL(conn)
        self._check_token(db, principal)
        batch_id = str(batch.batch_id)
        done = db.first(self._sql.batch_done, (batch_id,))
        if done is not None:
            done_client, done_seq, done_samples, done_events, done_assets = done
            if done_client != client_id:
                raise Forbidden(f"batch_id {batch_id} was sent by another client")
            return IngestResult(
                BatchAccepted(
                    batch_id=batch.batch_id,
                    seq=done_seq,
                    duplicate=True,
                    samples=done_samples,
                    events=done_events,
                    assets=done_assets,
                )
            )

        site_id = self._site(conn, client_id, batch.agent.site, pending.sites)
        agent_id = self._agent(conn, db, client_id, site_id, batch, now, pending)
        asset_ids = self._assets_of(conn, db, client_id, site_id, batch, admitted, now, pending)
        samples = admitted.samples
        refused = list(admitted.refused)
        notes: list[dict[str, Any]] = []
        refs = self._series_of(conn, client_id, keys, asset_ids, pending.series, refused, notes)
        known: Sequence[SeriesRef]
        if None in refs:  # New series over a limit have no ref: their samples are refused.
            kept = [(ref, s) for ref, s in zip(refs, samples, strict=True) if ref is not None]
            samples = [s for _, s in kept]
            known = [ref for ref, _ in kept]
        else:  # the steady state: every sample has its series
            known = refs  # type: ignore[assignment]
        # Built by C-level passes (no Python frame per sample).
        ids = list(map(_ID, known))
        sample_rows = list(zip(ids, map(_TS, samples), map(_VALUE, samples), strict=True))
        if careful:
            sample_rows = self._without_stored(conn, sample_rows)
        sample_rows, latest_rows = _dedupe(sample_rows)
        try:
            inserted = self.writer.insert_samples(conn, sample_rows, exact=careful)
        except SamplesConflict:
            raise _SamplesAlreadyStored() from None
        if inserted != len(sample_rows):
            raise _SamplesAlreadyStored()
        self.writer.upsert_latest(conn, latest_rows)
        if sample_rows and self._maybe_late(sample_rows, now):
            # A sample of an hour the rollups job may have built: merged into its rollup here.
            rollup_rows, progress = rollups.late_rollups(conn, sample_rows)
            self._built_until = max(self._built_until or 0, progress.until)
            self.writer.upsert_rollups(conn, rollup_rows)

        event_rows = [
            {
                "client_id": client_id,
                "asset_id": asset_ids[e.asset],
                "agent_id": agent_id,
                "type": e.type,
                "ts": e.ts,
                "message": e.message,
                "data": e.data,
                "received_at": now,
            }
            for e in admitted.events
        ]
        notes.extend(self._clock_notes(admitted, asset_ids, batch, now))
        for note in notes:  # the collector's own events about this batch
            event_rows.append({**note, "client_id": client_id, "agent_id": agent_id, "ts": now})
            event_rows[-1]["received_at"] = now
        if event_rows:
            conn.execute(events.insert(), event_rows)
        db.run(
            self._sql.batch,
            (
                batch_id,
                agent_id,
                client_id,
                batch.seq,
                inserted,
                len(admitted.events),
                len(batch.assets),
                now,
            ),
        )
        if principal.last_used_at is None or now - principal.last_used_at > _TOKEN_TOUCH_INTERVAL:
            db.run(self._sql.token_used, (now, principal.token_id))
            pending.touched = now
        accepted = BatchAccepted(
            batch_id=batch.batch_id,
            seq=batch.seq,
            samples=inserted,
            events=len(admitted.events),
            assets=len(batch.assets),
            refused=refused,
        )
        result = IngestResult(accepted, sample_rows, dict(zip(ids, known, strict=True)))
        for hook in self.in_transaction:
            hook(conn, result)
        return result

    def _clock_notes(
        self, admitted: _Admitted, asset_ids: dict[str, int], batch: Batch, now: float
    ) -> list[dict[str, Any]]:
        """A ``clock_skew`` event per asset whose samples/events were dated in the future."""
        out = []
        for asset, (offset, n_samples, n_events) in sorted(admitted.ahead.items()):
            # The asset may be unknown (its only samples were refused): the agent's host then.
            asset_id = asset_ids.get(asset) or asset_ids.get(batch.agent.hostname)
            if asset_id is None:
                continue
            out.append(
                {
                    "asset_id": asset_id,
                    "type": "clock_skew",
                    "message": (
                        f"{int(n_samples)} samples and {int(n_events)} events of {asset!r} refused: "
                        f"dated up to {humanize(offset)} ahead of the collector's clock "
                        f"(max_clock_skew {format_duration(self.limits.max_clock_skew)}); "
                        f"check the agent's clock (NTP)"
                    ),
                    "data": {
                        "asset": asset,
                        "offset_seconds": round(offset, 3),
                        "max_clock_skew_seconds": self.limits.max_clock_skew,
                        "refused_samples": int(n_samples),
                        "refused_events": int(n_events),
                    },
                }
            )
        return out

    def _maybe_late(self, rows: list[SampleRow], now: float) -> bool:
        """Whether a sample may be of an hour the rollups job built already: one older than
        :data:`collector.rollups.LATE_AFTER` past its hour's end, or of an hour before the
        progress this process last read (or none read yet). False for the steady state: then
        the batch writes no rollup and does not read the progress (collector/rollups.py)."""
        hour = int(min(map(_ROW_TS, rows)) // _HOUR) * _HOUR
        built = self._built_until
        return built is None or hour < built or hour + _HOUR + rollups.LATE_AFTER <= now

    def _seen_due(self, key: object, now: float, pending: _Pending) -> bool:
        """Throttle last_seen-only writes (0: always). Counted from what this process's
        committed transactions wrote: a write rolled back (a refused batch of a group, a
        failed group redone one by one) does not delay the next one."""
        if self.seen_interval <= 0:
            return True
        last = self._seen_written.get(key)
        if last is not None and now - last < self.seen_interval:
            return False
        pending.seen[key] = now
        return True

    def _site(self, conn: Connection, client_id: int, name: str, new_sites: dict) -> int:
        site_id = self._sites.get((client_id, name))
        if site_id is not None:
            return site_id
        query = sa.select(sites.c.id).where(sites.c.client_id == client_id, sites.c.name == name)
        site_id = conn.execute(query).scalar()
        if site_id is None:
            result = conn.execute(
                sites.insert().values(client_id=client_id, name=name, created_at=timeutil.now())
            )
            site_id = inserted_id(result)
        new_sites[(client_id, name)] = site_id
        return site_id

    def _agent(
        self,
        conn: Connection,
        db: DriverSQL,
        client_id: int,
        site_id: int,
        batch: Batch,
        now: float,
        pending: _Pending,
    ) -> str:
        info = batch.agent
        agent_id = str(info.id)
        row = db.first(self._sql.agent, (agent_id,))
        values = {
            "site_id": site_id,
            "hostname": info.hostname,
            "version": info.version,
            "os": info.os,
            "last_seen": now,
        }
        if row is None:
            pending.seen[("agent", agent_id)] = now
            conn.execute(
                agents.insert().values(
                    id=agent_id, client_id=client_id, first_seen=now, last_seq=batch.seq, **values
                )
            )
        elif row[0] != client_id:
            raise Forbidden(f"agent {agent_id} is registered to another client")
        elif self._seen_due(("agent", agent_id), now, pending):
            # Throttled (seen_interval): hostname/version/last_seq changes wait at most as long.
            db.run(
                self._sql.agent_seen,
                (
                    site_id,
                    info.hostname,
                    info.version,
                    info.os,
                    now,
                    max(row[1], batch.seq),
                    agent_id,
                ),
            )
        return agent_id

    def _assets_of(
        self,
        conn: Connection,
        db: DriverSQL,
        client_id: int,
        site_id: int,
        batch: Batch,
        admitted: _Admitted,
        now: float,
        pending: _Pending,
    ) -> dict[str, int]:
        """Upsert the batch's new or changed assets; return name → id of every asset it mentions."""
        inventory = self._inventory.get(client_id, {})
        changed = [a for a in batch.assets if inventory.get(a.name) != (site_id, a)]
        if changed:
            conn.execute(
                self._asset_upsert,
                [
                    {
                        "client_id": client_id,
                        "site_id": site_id,
                        "name": a.name,
                        "kind": a.kind,
                        "vendor": a.vendor,
                        "model": a.model,
                        "serial": a.serial,
                        "address": a.address,
                        "description": a.description,
                        "tags": list(a.tags),
                        "attributes": dict(a.attributes),
                        "first_seen": now,
                        "last_seen": now,
                    }
                    for a in changed
                ],
            )
            pending.inventory.update((a.name, (site_id, a)) for a in changed)
        written = {a.name for a in changed}

        mentioned = {s.asset for s in admitted.samples} | {e.asset for e in admitted.events}
        named = mentioned | {a.name for a in batch.assets}
        cached = self._assets.get(client_id, {})
        ids = {name: cached[name] for name in named if name in cached and name not in written}
        for chunk in _chunks(sorted(named - ids.keys()), 500):
            rows = conn.execute(
                sa.select(assets.c.id, assets.c.name).where(
                    assets.c.client_id == client_id, assets.c.name.in_(chunk)
                )
            )
            for asset_id, name in rows:
                ids[name] = asset_id
                pending.assets[name] = asset_id
        unknown = mentioned - ids.keys()
        if unknown:  # (only admitted samples/events name their assets; a refused one is moot)
            detail, fields = _unknown_asset_error(batch, unknown)
            raise InvalidBatch(detail, fields=fields)
        if self.seen_interval > 0:  # just written with the inventory: the throttle starts now
            pending.seen.update((ids[n], now) for n in written if n in ids)
        touch = [ids[n] for n in named - written if self._seen_due(ids[n], now, pending)]
        if touch:
            db.many(self._sql.asset_seen, [(now, asset_id) for asset_id in sorted(touch)])
        return ids

    def _series_of(
        self,
        conn: Connection,
        client_id: int,
        keys: list[SeriesKey],
        asset_ids: dict[str, int],
        new_series: dict[SeriesKey, SeriesRef],
        refused: list[Refused],
        notes: list[dict[str, Any]],
    ) -> list[SeriesRef | None]:
        """The SeriesRef of each sample (aligned with ``keys``), creating missing series in bulk.

        None for a sample of a new series over ``max_series_per_asset`` or
        ``max_series_per_client`` (counted in ``refused``, one ``series_limit`` note per asset).
        """
        cached = self._series.get(client_id)
        # The steady state: two dict probes and one new ref per sample.
        refs: list[SeriesRef | None] = (
            cached.lookup(keys, asset_ids) if cached is not None else [None] * len(keys)
        )
        if None not in refs:
            return refs
        missing = list(
            dict.fromkeys(key for key, ref in zip(keys, refs, strict=True) if ref is None)
        )
        asset_names = {asset_id: name for name, asset_id in asset_ids.items()}
        touched = sorted({asset_ids[key[0]] for key in missing})
        existing = self._load_series(conn, client_id, touched, asset_names, new_series)
        missing = [key for key in missing if key not in existing]
        over = self._over_limits(conn, client_id, missing, asset_ids, existing)
        if over:
            missing = [key for key in missing if key not in over]
            self._refuse_series(over, keys, refs, existing, asset_ids, refused, notes)

        rows: list[dict[str, Any]] = []
        for key in missing:
            canonical = canonical_labels(key[2])
            digest = labels_hash(canonical)
            rows.append(
                {
                    "asset_id": asset_ids[key[0]],
                    "metric": key[1],
                    "labels": canonical,
                    "labels_hash": digest,
                }
            )
        if rows:
            conn.execute(
                self._insert(series).on_conflict_do_nothing(
                    index_elements=[series.c.asset_id, series.c.metric, series.c.labels_hash]
                ),
                rows,
            )
            self._load_series(
                conn, client_id, sorted({r["asset_id"] for r in rows}), asset_names, new_series
            )
        return [
            ref if ref is not None else new_series.get(key)
            for key, ref in zip(keys, refs, strict=True)
        ]

    @staticmethod
    def _load_series(
        conn: Connection,
        client_id: int,
        asset_ids: list[int],
        asset_names: dict[int, str],
        into: dict[SeriesKey, SeriesRef],
    ) -> dict[SeriesKey, SeriesRef]:
        """All series of these assets (warms the cache for the agent's next batch too)."""
        found: dict[SeriesKey, SeriesRef] = {}
        # One int object per asset for all its series' refs (each row brings its own copy:
        # 32 bytes a series in the cache otherwise).
        same_id = {asset_id: asset_id for asset_id in asset_names}
        for chunk in _chunks(asset_ids, 500):
            rows = conn.execute(
                sa.select(series.c.id, series.c.asset_id, series.c.metric, series.c.labels).where(
                    series.c.asset_id.in_(chunk)
                )
            )
            for sid, asset_id, metric, labels in rows:
                pairs, shared = shared_labels(labels)
                key = (asset_names[asset_id], sys.intern(metric), pairs)
                found[key] = SeriesRef(
                    sid, client_id, same_id.get(asset_id, asset_id), key[0], key[1], shared
                )
        into.update(found)
        return found

    def _over_limits(
        self,
        conn: Connection,
        client_id: int,
        missing: list[SeriesKey],
        asset_ids: dict[str, int],
        existing: dict[SeriesKey, SeriesRef],
    ) -> dict[SeriesKey, str]:
        """New series that would pass a series limit → which limit ("asset" or "client")."""
        if not missing:
            return {}
        per_asset: dict[int, int] = {}
        for ref in existing.values():
            per_asset[ref.asset_id] = per_asset.get(ref.asset_id, 0) + 1
        asset_limit = self.limits.max_series_per_asset
        client_limit = self.limits.max_series_per_client
        # Only batches that bring new series get here (an agent's first batches, a new disk).
        client_total = conn.execute(
            sa.select(sa.func.count())
            .select_from(series.join(assets, assets.c.id == series.c.asset_id))
            .where(assets.c.client_id == client_id)
        ).scalar_one()
        over: dict[SeriesKey, str] = {}
        for key in missing:  # in batch order: the first new series of a batch win
            asset_id = asset_ids[key[0]]
            if per_asset.get(asset_id, 0) >= asset_limit:
                over[key] = "asset"
            elif client_total >= client_limit:
                over[key] = "client"
            else:
                per_asset[asset_id] = per_asset.get(asset_id, 0) + 1
                client_total += 1
        return over

    def _refuse_series(
        self,
        over: dict[SeriesKey, str],
        keys: list[SeriesKey],
        refs: list[SeriesRef | None],
        existing: dict[SeriesKey, SeriesRef],
        asset_ids: dict[str, int],
        refused: list[Refused],
        notes: list[dict[str, Any]],
    ) -> None:
        n_samples = sum(
            1 for key, ref in zip(keys, refs, strict=True) if ref is None and key in over
        )
        refused.append(
            Refused(
                what="samples",
                reason="series_limit",
                count=n_samples,
                detail=(
                    f"{n_samples} samples of {len(over)} new series over the series limit "
                    f"(max_series_per_asset {self.limits.max_series_per_asset}, "
                    f"max_series_per_client {self.limits.max_series_per_client})"
                ),
            )
        )
        by_asset: dict[str, list[SeriesKey]] = {}
        for key in over:
            by_asset.setdefault(key[0], []).append(key)
        for asset, new in sorted(by_asset.items()):
            which = over[new[0]]
            limit = (
                self.limits.max_series_per_asset
                if which == "asset"
                else self.limits.max_series_per_client
            )
            examples = [
                {"metric": metric, "labels": dict(labels)} for _, metric, labels in new[:_EXAMPLES]
            ]
            notes.append(
                {
                    "asset_id": asset_ids[asset],
                    "type": "series_limit",
                    "message": (
                        f"{len(new)} new series of {asset!r} refused: over the limit of {limit} "
                        f"series per {which} (max_series_per_{which}); their samples were not "
                        f"stored. Fix the check that makes a label per value, or raise the limit."
                    ),
                    "data": {
                        "asset": asset,
                        "limit": which,
                        "max_series": limit,
                        "refused_series": len(new),
                        "examples": examples,
                    },
                }
            )

    @staticmethod
    def _without_stored(conn: Connection, rows: list[SampleRow]) -> list[SampleRow]:
        """Drop samples whose (series, ts) is already stored: a re-sent sample is not new data."""
        stored: set[tuple[int, float]] = set()
        by_id: dict[int, list[float]] = {}
        for sid, ts, _ in rows:
            by_id.setdefault(sid, []).append(ts)
        query = sa.text(
            "SELECT series_id, ts FROM samples WHERE series_id IN :ids AND ts BETWEEN :lo AND :hi"
        ).bindparams(sa.bindparam("ids", expanding=True))
        for chunk in _chunks(sorted(by_id), 500):
            lo = min(min(by_id[sid]) for sid in chunk)
            hi = max(max(by_id[sid]) for sid in chunk)
            stored.update(
                (sid, ts) for sid, ts in conn.execute(query, {"ids": chunk, "lo": lo, "hi": hi})
            )
        return [row for row in rows if (row[0], row[1]) not in stored]


def _dedupe(rows: list[SampleRow]) -> tuple[list[SampleRow], list[SampleRow]]:
    """Raw rows (deduplicated, sorted by (series, ts) when a series has several) and the
    latest row per series: one ``latest`` write per series per batch, the newest ts wins."""
    if len({row[0] for row in rows}) == len(rows):
        return rows, rows  # the common case, one sample per series: nothing to group
    # Several samples of one series (an agent catching up). The same (series, ts) twice in
    # one batch: the one sent last wins.
    unique = sorted({(sid, ts): v for sid, ts, v in rows}.items())
    rows = [(sid, ts, v) for (sid, ts), v in unique]
    latest: dict[int, SampleRow] = {}
    for row in rows:  # sorted by (series, ts): the last row seen is the newest
        latest[row[0]] = row
    return rows, list(latest.values())


def _unknown_asset_error(batch: Batch, unknown: set[str]) -> tuple[str, list[dict[str, Any]]]:
    fields = []
    samples: Sequence[Sample] = batch.samples
    batch_events: Sequence[Event] = batch.events
    for i, s in enumerate(samples):
        if s.asset in unknown:
            fields.append(
                {
                    "loc": f"samples[{i}].asset",
                    "msg": f"unknown asset {s.asset!r}",
                    "type": "unknown_asset",
                }
            )
            unknown = unknown - {s.asset}
    for i, e in enumerate(batch_events):
        if e.asset in unknown:
            fields.append(
                {
                    "loc": f"events[{i}].asset",
                    "msg": f"unknown asset {e.asset!r}",
                    "type": "unknown_asset",
                }
            )
            unknown = unknown - {e.asset}
    first = fields[0]
    detail = (
        f"{first['loc']}: unknown asset {first['msg'].split(' ', 2)[2]}: it is neither in "
        f"this batch's assets nor already known for this client"
    )
    if len(fields) > 1:
        detail += f" (and {len(fields) - 1} more unknown asset(s))"
    return detail, fields


def _chunks(items: list, size: int) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
