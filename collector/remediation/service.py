"""Remediation policies and the outcome of a fix, wired into rules and incidents.

* ``auto``: a rule transition to *firing* (after its ``for``) queues the rule's action for the
  alert's asset, in the same transaction that opened the incident, unless the asset had
  ``max_per_day`` automatic runs of that action in the last 24 hours or a fix is already
  open for the incident.
* ``technician``: "Run fix" (API, CLI, web UI) queues it for an open incident.
* ``client``: "Run fix" creates a ledger request quoting the action's estimate; the task
  waits (``awaiting_approval``) until the client approves the request, is queued then, and
  the request is completed (its points charged, once) when the fix succeeds.

A result comments on the incident: success with the before/after evidence (the incident
resolves when its metric clears; the preventive-work record takes the fix's evidence),
failure with the output, leaving the incident to the technician.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector import timeutil
from collector.errors import InvalidArgument, NotFound
from collector.remediation import tasks as task_domain
from collector.remediation.actions import ActionLibrary, ActionsInvalid, load_library
from collector.remediation.keys import TaskSigner
from collector.remediation.waiters import TaskWaiters, pending_keys
from collector.schema import assets, incidents

if TYPE_CHECKING:
    from collector.rules.engine import Transition
    from collector.rules.model import RemediateSpec
    from collector.rules.service import RuleService
    from collector.settings import Settings
    from collector.store import Store

log = logging.getLogger(__name__)
_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def fill(params: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    """``"{mountpoint}"`` in a text parameter → the alert's label value."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, str):
            value = _FIELD.sub(lambda m: labels.get(m.group(1), m.group(0)), value)
        out[key] = value
    return out


class Remediation:
    """The remediation runtime of one collector: signer, library, listeners, actions."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        rules: RuleService,
        incident_service: Any,
        ledger: Any = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.rules = rules
        self.incidents = incident_service
        self.ledger = ledger
        key = settings.task_signing_key
        self.signer = TaskSigner(key.get_secret_value()) if key is not None else None
        try:
            self.library = load_library(settings.actions_paths)
        except ActionsInvalid as exc:
            for problem in exc.problems:
                log.error("action library: %s", problem)
            self.library = ActionLibrary({})
        #: Agents' long-polls parked in this process (docs/remediation.md, "Delivery").
        self.waiters = TaskWaiters(
            pending_keys(store, timeutil.now),
            max_parked=settings.task_poll_max_parked,
            recheck=settings.task_poll_recheck,
        )
        rules.transition_listeners.append(self.on_transitions)

    # ------------------------------------------------------------------ delivery

    def _queued(self, conn: Connection, row: Any) -> None:
        """``row`` is queued for its agent: wake its long-poll when ``conn`` commits."""
        if row.state == "queued":
            self.waiters.after_commit(conn, (row.client_id, row.asset))

    def poll(self, client_id: int, asset: str, agent: str) -> list[dict[str, Any]]:
        """The signed tasks waiting for ``asset`` of ``client_id``, marked delivered."""
        with self.store.write() as conn:
            return task_domain.poll(conn, client_id, asset, agent, timeutil.now())

    def create_task(
        self, client: str, asset: str, action: str, params: dict[str, Any], actor: str
    ) -> dict[str, Any]:
        """Queue ``action`` on ``asset`` of ``client`` without an incident (a technician's own)."""
        from collector import admin

        try:
            definition = self.library.get(action)
        except KeyError as exc:
            raise InvalidArgument(str(exc.args[0])) from None
        now = timeutil.now()
        with self.store.write() as conn:
            found = admin.get_client(conn, client)
            asset_id = conn.execute(
                sa.select(assets.c.id).where(assets.c.client_id == found.id, assets.c.name == asset)
            ).scalar()
            if asset_id is None:
                raise NotFound(f"client {client} has no asset {asset!r}")
            row = task_domain.create(
                conn,
                self.signer,
                definition,
                client_id=found.id,
                asset_id=asset_id,
                params=params,
                policy="technician",
                actor=actor,
                now=now,
                deadline=self.settings.task_deadline,
            )
            self._queued(conn, row)
            return task_domain.summary(row)

    # ------------------------------------------------------------------ policy auto

    def _spec(self, rule_id: str) -> RemediateSpec | None:
        for engine in self.rules.engines():
            compiled = engine.ruleset.rules.get(rule_id)
            if compiled is not None:
                return compiled.rule.remediate
        return None

    def on_transitions(self, conn: Connection, transitions: list[Transition], now: float) -> None:
        for t in transitions:
            if t.event != "firing":
                continue
            spec = self._spec(t.rule_id)
            if spec is None or spec.policy != "auto":
                continue
            try:
                self._auto(conn, t, spec, now)
            except Exception:  # a fix that cannot be queued must not undo the incident
                log.exception("%s on %s: the automatic fix could not be queued", t.rule_id, t.asset)

    def _auto(self, conn: Connection, t: Transition, spec: RemediateSpec, now: float) -> None:
        incident = conn.execute(
            sa.select(incidents.c.id, incidents.c.key).where(
                incidents.c.fingerprint == t.fingerprint,
                incidents.c.state.not_in(("resolved", "closed")),
            )
        ).first()
        incident_id = incident.id if incident is not None else None
        if incident_id is not None and task_domain.open_for_incident(conn, incident_id):
            return
        done = task_domain.count_auto_today(conn, t.asset_id, spec.action, now)
        if done >= spec.max_per_day:
            log.info("%s on %s: %d automatic runs today, no more", spec.action, t.asset, done)
            if incident_id is not None:
                self._comment(
                    conn,
                    incident_id,
                    f"Automatic fix {spec.action} not run: it already ran {done} times on "
                    f"{t.asset} in the last 24 hours (the limit). Left to the technician.",
                    f"fix-limit-{int(now)}",
                    now,
                )
            return
        action = self.library.get(spec.action)
        with conn.begin_nested():
            task = task_domain.create(
                conn,
                self.signer,
                action,
                client_id=t.client_id,
                asset_id=t.asset_id,
                params=fill(spec.params, t.labels),
                policy="auto",
                actor=f"rule:{t.rule_id}",
                now=now,
                deadline=self.settings.task_deadline,
                incident_id=incident_id,
            )
        self._queued(conn, task)
        if incident_id is not None:
            self._comment(
                conn,
                incident_id,
                f"Automatic fix {action.name} queued for {t.asset} (task {task.id}).",
                f"fix-{task.id[:8]}-queued",
                now,
            )

    # ------------------------------------------------------------------ technician, client

    def run_fix(
        self,
        key: str,
        actor: str,
        *,
        action: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """ "Run fix" on incident ``key``: the rule's action (or ``action``), by its policy."""
        now = timeutil.now()
        with self.store.write() as conn:
            row = conn.execute(sa.select(incidents).where(incidents.c.key == key)).first()
            if row is None:
                raise NotFound(f"no incident {key}")
            if row.state in ("resolved", "closed"):
                raise InvalidArgument(f"{key} is {row.state}")
            if row.asset_id is None:
                raise InvalidArgument(f"{key} has no asset to run a fix on")
            spec = self._spec(row.rule) if row.rule else None
            name = action or (spec.action if spec else None)
            if name is None:
                raise InvalidArgument(f"{key}: its rule names no remediation; give an action")
            try:
                definition = self.library.get(name)
            except KeyError as exc:
                raise InvalidArgument(str(exc.args[0])) from None
            if task_domain.open_for_incident(conn, row.id):
                raise InvalidArgument(f"{key} already has a fix waiting or running")
            policy = spec.policy if spec is not None and action is None else "technician"
            if policy == "auto":
                policy = "technician"
            given = params if params is not None else (spec.params if spec else {})
            request_key = None
            if policy == "client":
                request_key = self._quote(conn, row, definition, actor, now)
            task = task_domain.create(
                conn,
                self.signer,
                definition,
                client_id=row.client_id,
                asset_id=row.asset_id,
                params=fill(given, dict(row.labels or {})),
                policy=policy,
                actor=actor,
                now=now,
                deadline=self.settings.task_deadline,
                incident_id=row.id,
                approved=policy != "client",
                request_key=request_key,
            )
            self._queued(conn, task)
            verb = "waits for the client's approval" if policy == "client" else "queued"
            self._comment(
                conn,
                row.id,
                f"Fix {definition.name} {verb} ({actor}, task {task.id}).",
                f"fix-{task.id[:8]}-created",
                now,
                actor=actor,
            )
            return task_domain.summary(task)

    def _quote(self, conn: Connection, row: Any, action: Any, actor: str, now: float) -> str:
        """The ledger request the client approves before the fix runs: non-standard (quoted
        in points, charged on success) unless the contract includes the action
        (``remediation.standard``, or a contract without points): then a standard request,
        free, that still waits for the approval."""
        from collector.contracts.store import get_contract
        from collector.ledger import requests as ledger_requests

        contract = get_contract(conn, row.client_id)
        standard = contract is None or contract.fix_is_standard(action.name)
        return ledger_requests.create(
            conn,
            client_id=row.client_id,
            title=f"{action.description} ({row.asset}, {row.key})"[:500],
            description=f"Fix {action.name} for incident {row.key}: {row.title}",
            requested_by=actor,
            standard=standard,
            approval=True,
            estimate_minutes=action.estimate_minutes,
            now=now,
            actor=actor,
            links=getattr(self.ledger, "links", None),
        )

    def sync(self) -> int:
        """Periodic: queue fixes whose request the client approved, cancel rejected ones,
        expire tasks past their deadline. Returns how many tasks changed."""
        from collector.ledger import requests as ledger_requests

        now = timeutil.now()
        changed = 0
        with self.store.write() as conn:
            waiting = conn.execute(
                sa.select(task_domain.remediation_tasks).where(
                    task_domain.remediation_tasks.c.state == "awaiting_approval",
                    task_domain.remediation_tasks.c.request_key.is_not(None),
                )
            ).all()
            for row in waiting:
                state = ledger_requests.get(conn, row.request_key).get("state")
                if state in ("approved", "in_progress") and self.signer is not None:
                    approved = task_domain.approve(
                        conn,
                        self.signer,
                        row.id,
                        self.library.get(row.action).timeout,
                        "client",
                        now,
                    )
                    self._queued(conn, approved)
                    changed += 1
                elif state in ("rejected", "cancelled"):
                    task_domain.cancel(conn, row.id, "client", now, "the client rejected the quote")
                    changed += 1
        return changed + self.expire()

    # ------------------------------------------------------------------ results

    def record_result(
        self, client_id: int, task_id: str, result: dict[str, Any], agent: str
    ) -> dict[str, Any]:
        now = timeutil.now()
        with self.store.write() as conn:
            row, changed = task_domain.record_result(conn, client_id, task_id, result, agent, now)
            if changed:
                self._outcome(conn, row, now)
            return task_domain.summary(row)

    def _outcome(self, conn: Connection, row: Any, now: float) -> None:
        if row.state == "succeeded" and row.request_key:
            self._charge(conn, row, now)
        if row.incident_id is None:
            return
        if row.state == "succeeded":
            evidence = task_domain.evidence_text(row)
            body = f"Fix {row.action} succeeded on {row.asset}" + (
                f": {evidence}." if evidence else "."
            )
        else:
            output = (row.output or "").strip()[:500]
            body = (
                f"Fix {row.action} {row.state} on {row.asset}"
                + (f" (exit code {row.exit_code})" if row.exit_code is not None else "")
                + (f": {output}" if output else "")
                + ". Left to the technician."
            )
        self._comment(conn, row.incident_id, body, f"fix-{row.id[:8]}-{row.state}", now)

    def _charge(self, conn: Connection, row: Any, now: float) -> None:
        """Complete the approved request with the quoted time: charged through the ledger,
        once (a completed request cannot be completed again; a second result is a no-op)."""
        from collector.ledger import requests as ledger_requests

        action = self.library.actions.get(row.action)
        minutes = action.estimate_minutes if action is not None else 15
        try:
            with conn.begin_nested():
                ledger_requests.log_time(
                    conn,
                    row.request_key,
                    actor="remediation",
                    minutes=minutes,
                    now=now,
                    note=f"fix {row.action} on {row.asset} (task {row.id})",
                )
                ledger_requests.complete(conn, row.request_key, actor="remediation", now=now)
        except Exception:
            log.exception("%s: the fix succeeded but its request could not be charged", row.id)

    def expire(self) -> int:
        """Periodic: tasks past their deadline become expired (and say so on the incident)."""
        now = timeutil.now()
        with self.store.write() as conn:
            expired = task_domain.expire(conn, now)
            for row in expired:
                if row.incident_id is not None:
                    self._comment(
                        conn,
                        row.incident_id,
                        f"Fix {row.action} expired: no agent ran it before its deadline. "
                        "Left to the technician.",
                        f"fix-{row.id[:8]}-expired",
                        now,
                    )
        return len(expired)

    def _comment(
        self,
        conn: Connection,
        incident_id: int,
        body: str,
        note_id: str,
        now: float,
        actor: str = "remediation",
    ) -> None:
        self.incidents.annotate(
            conn, incident_id, "remediation", {}, body=body, note_id=note_id, now=now, actor=actor
        )
