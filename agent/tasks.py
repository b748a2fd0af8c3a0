"""The task channel, agent side: pick up signed tasks on the regular contact, run, report.

No inbound port: the agent asks ``POST /api/v1/agent/tasks/poll`` (only when ``actions.allow``
names something; the default allows nothing and never polls). Each poll is a long-poll: it
asks the collector to hold the answer up to ``long_poll`` seconds until a task is queued, so
a task is picked up within a moment, and asks again as soon as it is answered. A failed poll
backs off (1 s, 2 s, … up to ``poll_interval``); a collector without the long-poll (it
refuses ``wait``) is asked every ``poll_interval``. Stopping the agent interrupts a held
poll at once (its socket is shut down).

Every task is checked before anything runs:

* its Ed25519 signature against the collector's public key — the one in ``actions.public_key``
  or, without it, the key pinned on first contact (``<state_dir>/collector-task-key``; a
  different key later is refused, loudly);
* it is for this asset, not expired, its action is in ``actions.allow`` and its kind known;
* its id is not in the journal (a replay, or a re-delivery after a lost answer, never runs
  again: the stored result is reported instead).

The journal (``<state_dir>/tasks.db``, SQLite) records a task as *running* before it
starts and *done* with its result after, so a task is never run twice: a task found
running after a restart is reported failed ("the agent restarted while it ran") and not
run again. Results are kept until the collector acknowledged them, so a collector outage
loses none. Each run is also logged (INFO) with its id, action and outcome.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import random
import socket
import sqlite3
import threading
import time
import weakref
from pathlib import Path
from typing import Any

import urllib3

from agent.actions import ActionContext, ActionError, perform

log = logging.getLogger(__name__)

POLL_PATH = "/api/v1/agent/tasks/poll"
KEY_PATH = "/api/v1/agent/tasks/key"
RESULT_PATH = "/api/v1/agent/tasks/{id}/result"
#: Journal rows are kept this long after a task's expiry (replays of it are refused by
#: expiry after that anyway).
JOURNAL_KEEP = 7 * 86400.0


class TaskRefused(Exception):
    """A task that must not run: bad signature, expired, not allowed, not for us."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class TaskVerifier:
    """Checks a task envelope ``{payload, signature}`` against the pinned public key."""

    def __init__(self, public_key: bytes) -> None:
        # cryptography is loaded only by an agent that allows actions.
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        self._key = Ed25519PublicKey.from_public_bytes(public_key)

    def verify(self, envelope: dict[str, Any]) -> dict[str, Any]:
        from cryptography.exceptions import InvalidSignature

        payload = envelope.get("payload")
        signature = envelope.get("signature")
        if not isinstance(payload, str) or not isinstance(signature, str):
            raise TaskRefused("refused", "not a signed task (payload and signature missing)")
        try:
            self._key.verify(base64.b64decode(signature, validate=True), payload.encode())
        except (InvalidSignature, ValueError):
            raise TaskRefused("refused", "bad signature") from None
        task = json.loads(payload)
        if not isinstance(task, dict) or not isinstance(task.get("id"), str):
            raise TaskRefused("refused", "signed payload is not a task")
        return task


class TaskJournal:
    """What this agent received and did, durable across restarts (SQLite)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS tasks (id TEXT PRIMARY KEY, action TEXT NOT NULL,"
            " received_at REAL NOT NULL, expires_at REAL NOT NULL, state TEXT NOT NULL,"
            " result TEXT, reported INTEGER NOT NULL DEFAULT 0)"
        )
        self._lock = threading.Lock()

    def get(self, task_id: str) -> tuple[str, dict | None, bool] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT state, result, reported FROM tasks WHERE id = ?", (task_id,)
            ).fetchone()
        if row is None:
            return None
        return row[0], json.loads(row[1]) if row[1] else None, bool(row[2])

    def start(self, task_id: str, action: str, expires_at: float) -> bool:
        """Record the task as running; False if it is already known (never run it twice)."""
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO tasks (id, action, received_at, expires_at, state)"
                " VALUES (?, ?, ?, ?, 'running')",
                (task_id, action, time.time(), expires_at),
            )
            return cur.rowcount == 1

    def finish(self, task_id: str, action: str, expires_at: float, result: dict) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO tasks (id, action, received_at, expires_at, state, result)"
                " VALUES (?, ?, ?, ?, 'done', ?) ON CONFLICT(id) DO UPDATE SET state = 'done',"
                " result = excluded.result",
                (task_id, action, time.time(), expires_at, json.dumps(result)),
            )

    def reported(self, task_id: str) -> None:
        with self._lock:
            self._db.execute("UPDATE tasks SET reported = 1 WHERE id = ?", (task_id,))

    def interrupted(self) -> list[str]:
        """Tasks that were running when the agent stopped."""
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT id FROM tasks WHERE state='running'")]

    def unreported(self) -> list[tuple[str, dict]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, result FROM tasks WHERE state = 'done' AND reported = 0"
            ).fetchall()
        return [(r[0], json.loads(r[1])) for r in rows]

    def prune(self, now: float) -> None:
        with self._lock:
            self._db.execute(
                "DELETE FROM tasks WHERE reported = 1 AND expires_at < ?", (now - JOURNAL_KEEP,)
            )

    def close(self) -> None:
        self._db.close()


class TaskChannel:
    """Polls for tasks, runs the allowed ones, reports every outcome (thread ``tasks``)."""

    def __init__(
        self,
        url: str,
        token: str,
        asset: str,
        state_dir: Path,
        allow: list[str],
        *,
        public_key: str | None = None,
        scripts_dir: Path | None = None,
        poll_interval: float = 30.0,
        long_poll: float = 25.0,
        max_output: int = 16384,
        ca_bundle: str | None = None,
        timeout: float = 15.0,
        user_agent: str = "upkeep-agent",
    ) -> None:
        self.base = url.rstrip("/")
        self.asset = asset
        self.allow = set(allow)
        self.poll_interval = poll_interval
        self.long_poll = long_poll
        self.timeout = timeout
        #: False once the collector refused ``wait`` (older than the long-poll).
        self.long_poll_supported = True
        self.state_dir = state_dir
        self.configured_key = public_key
        self.ctx = ActionContext(scripts_dir=scripts_dir, max_output=max_output)
        self.journal = TaskJournal(state_dir / "tasks.db")
        self._verifier: TaskVerifier | None = None
        self._headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "User-Agent": user_agent,
        }
        self._http = urllib3.PoolManager(
            num_pools=2,
            maxsize=1,
            timeout=urllib3.Timeout(connect=min(timeout, 10.0), read=timeout),
            retries=False,
            cert_reqs="CERT_REQUIRED",
            ca_certs=ca_bundle,
        )
        # The connections in use, so that stopping can shut down a held long-poll's socket.
        self._connections: weakref.WeakSet[Any] = weakref.WeakSet()
        self._http.pool_classes_by_scheme = {
            scheme: _tracking(pool, self._connections)
            for scheme, pool in self._http.pool_classes_by_scheme.items()
        }
        self.last_error: str | None = None
        for task_id in self.journal.interrupted():
            log.warning("task %s was running when the agent stopped: not run again", task_id)
            self.journal.finish(
                task_id,
                "?",
                time.time(),
                {
                    "status": "failed",
                    "exit_code": None,
                    "output": "the agent restarted while this task was running; "
                    "it is not run again (check the machine)",
                    "duration": 0.0,
                },
            )

    # -- HTTP --------------------------------------------------------------------------
    def _request(self, method: str, path: str, body: dict | None = None) -> tuple[int, Any]:
        # A long-poll is answered after up to ``wait`` seconds: read that much longer.
        wait = float((body or {}).get("wait") or 0) if path == POLL_PATH else 0.0
        resp = self._http.request(
            method,
            self.base + path,
            body=json.dumps(body).encode() if body is not None else None,
            headers=self._headers,
            timeout=urllib3.Timeout(connect=min(self.timeout, 10.0), read=self.timeout + wait),
        )
        try:
            data = json.loads(resp.data) if resp.data else None
        except ValueError:
            data = None
        return resp.status, data

    def verifier(self) -> TaskVerifier:
        """The pinned key: configured, else pinned on first contact (trust on first use)."""
        if self._verifier is not None:
            return self._verifier
        pin = self.state_dir / "collector-task-key"
        if self.configured_key:
            key = base64.b64decode(self.configured_key, validate=True)
        elif pin.exists():
            key = base64.b64decode(pin.read_text().strip(), validate=True)
        else:
            status, data = self._request("GET", KEY_PATH)
            if status != 200 or not isinstance(data, dict) or "public_key" not in data:
                raise RuntimeError(f"collector has no task key (HTTP {status})")
            key = base64.b64decode(data["public_key"], validate=True)
            tmp = pin.with_suffix(".tmp")
            tmp.write_text(data["public_key"] + "\n")
            tmp.replace(pin)
            log.info("pinned the collector's task signing key %s", data["public_key"][:12])
        self._verifier = TaskVerifier(key)
        return self._verifier

    # -- one round ---------------------------------------------------------------------
    def poll_once(self, wait: float = 0.0) -> int:
        """Report what is pending, fetch new tasks (holding the poll open up to ``wait``
        seconds until one comes) and handle them; the number handled."""
        return len(self._round(wait))

    def _round(self, wait: float) -> list[bool]:
        """One poll; for each task received, whether it was new here (run or refused now)."""
        self.report_pending()
        verifier = self.verifier()
        body: dict[str, Any] = {"asset": self.asset}
        if wait > 0 and self.long_poll_supported:
            body["wait"] = wait
        status, data = self._request("POST", POLL_PATH, body)
        if status == 422 and "wait" in body:
            # A collector from before the long-poll: poll it plainly from now on.
            log.info("the collector holds no task long-poll; polling every %gs", self.poll_interval)
            self.long_poll_supported = False
            status, data = self._request("POST", POLL_PATH, {"asset": self.asset})
        if status != 200 or not isinstance(data, dict):
            raise RuntimeError(f"task poll answered HTTP {status}: {data}")
        tasks = data.get("tasks") or []
        handled = [self.handle(envelope, verifier) for envelope in tasks]
        self.journal.prune(time.time())
        return handled

    def handle(self, envelope: dict[str, Any], verifier: TaskVerifier) -> bool:
        """Check, run and report one task; False when it was known here already."""
        task_id = str(envelope.get("id") or "")
        try:
            task = verifier.verify(envelope)
            if task["id"] != task_id:
                raise TaskRefused("refused", "the envelope's id is not the signed one")
        except TaskRefused as exc:
            log.warning("task %s refused: %s", task_id or "?", exc)
            if task_id:
                self._report(task_id, {"status": exc.status, "output": str(exc), "duration": 0.0})
            return True
        known = self.journal.get(task_id)
        if known is not None:
            state, result, reported = known
            if state == "done" and result is not None and not reported:
                self._report(task_id, result)
            log.info("task %s already %s here: not run again", task_id, state)
            return False
        action = str(task.get("action"))
        expires_at = float(task.get("expires_at") or 0)
        try:
            self._check(task, expires_at)
        except TaskRefused as exc:
            log.warning("task %s (%s) refused: %s", task_id, action, exc)
            result = {"status": exc.status, "output": str(exc), "duration": 0.0}
            self.journal.finish(task_id, action, expires_at, result)
            self._report(task_id, result)
            return True
        if not self.journal.start(task_id, action, expires_at):
            return False  # another round got it first
        result = self.run(task)
        self.journal.finish(task_id, action, expires_at, result)
        log.info(
            "task %s (%s %s) %s in %.1fs: %s",
            task_id,
            action,
            json.dumps(task.get("params") or {}),
            result["status"],
            result["duration"],
            (result.get("output") or "")[:200],
        )
        self._report(task_id, result)
        return True

    def _check(self, task: dict[str, Any], expires_at: float) -> None:
        if task.get("asset") != self.asset:
            raise TaskRefused("refused", f"task is for asset {task.get('asset')!r}, not this one")
        if expires_at <= time.time():
            raise TaskRefused("expired", "the task's deadline passed before it could run")
        if task.get("action") not in self.allow:
            raise TaskRefused(
                "refused", f"action {task.get('action')!r} is not in this agent's actions.allow"
            )

    def run(self, task: dict[str, Any]) -> dict[str, Any]:
        started = time.time()
        start = time.monotonic()
        timeout = min(float(task.get("timeout") or 600), max(1.0, task["expires_at"] - started))
        self.ctx.timeout = timeout
        try:
            outcome = perform(str(task.get("kind")), task.get("params") or {}, self.ctx)
        except ActionError as exc:
            return {
                "status": "refused",
                "output": str(exc),
                "duration": time.monotonic() - start,
                "started_at": started,
            }
        except Exception as exc:  # an action that breaks must not take the agent down
            log.exception("task %s failed", task["id"])
            return {
                "status": "failed",
                "output": f"{type(exc).__name__}: {exc}",
                "duration": time.monotonic() - start,
                "started_at": started,
            }
        return {
            "status": "succeeded" if outcome.exit_code == 0 else "failed",
            "exit_code": outcome.exit_code,
            "output": outcome.output[: self.ctx.max_output],
            "duration": time.monotonic() - start,
            "started_at": started,
            "measured": outcome.measured,
            "facts": outcome.facts,
        }

    def _report(self, task_id: str, result: dict[str, Any]) -> bool:
        try:
            status, data = self._request("POST", RESULT_PATH.format(id=task_id), result)
        except urllib3.exceptions.HTTPError as exc:
            self.last_error = f"collector unreachable: {exc}"
            return False  # kept in the journal; reported on the next round
        if status in (200, 404, 409):  # accepted, unknown (not ours) or already final
            self.journal.reported(task_id)
            return True
        self.last_error = f"result of {task_id}: HTTP {status}"
        return False

    def report_pending(self) -> None:
        for task_id, result in self.journal.unreported():
            if not self._report(task_id, result):
                return

    def interrupt(self) -> None:
        """Shut down the sockets in use: a held long-poll returns (with an error) at once."""
        for conn in list(self._connections):
            sock = getattr(conn, "sock", None)
            if sock is not None:
                with contextlib.suppress(OSError):  # closed meanwhile
                    sock.shutdown(socket.SHUT_RDWR)

    def next_delay(
        self, handled: list[bool] | None, failures: int, took: float | None = None
    ) -> float:
        """Seconds before the next poll: none after a long-poll's answer; after a failure
        1, 2, 4 … s (with jitter) up to ``poll_interval``; ``poll_interval`` when polling
        plainly, or when an empty answer came long before the wait (``took`` seconds: the
        collector held no poll — at its bound, shutting down, or configured without); a
        short pause when only tasks handled before came back (nothing new: the collector
        still waits for a result; asking at once again would spin)."""
        if handled is None:
            return min(self.poll_interval, 2.0 ** min(failures - 1, 16)) * random.uniform(0.8, 1)
        if not (self.long_poll > 0 and self.long_poll_supported):
            return self.poll_interval
        if not handled and took is not None and took < self.long_poll / 2:
            return self.poll_interval
        if handled and not any(handled):
            return min(self.poll_interval, 5.0)
        return 0.0

    def run_forever(self, stop: threading.Event) -> None:
        """Poll until ``stop``; a held poll is interrupted the moment it is set."""

        finished = threading.Event()

        def interrupt_on_stop() -> None:
            # Again and again until the loop has returned: a poll that was just being sent
            # when ``stop`` was set opens (or takes from the pool) a connection after the
            # first interruption, and would otherwise be held for the whole long-poll.
            stop.wait()
            while not finished.is_set():
                self.interrupt()
                finished.wait(0.2)

        watcher = threading.Thread(target=interrupt_on_stop, name="tasks-stop", daemon=True)
        watcher.start()
        try:
            self._poll_until(stop)
        finally:
            finished.set()

    def _poll_until(self, stop: threading.Event) -> None:
        failures = 0
        while not stop.is_set():
            handled: list[bool] | None = None
            started = time.monotonic()
            try:
                handled = self._round(self.long_poll)
                self.last_error = None
                failures = 0
            except Exception as exc:  # the channel retries; it never stops the agent
                if stop.is_set():
                    return
                failures += 1
                self.last_error = str(exc)
                log.info("task channel: %s", exc)
            if stop.wait(self.next_delay(handled, failures, time.monotonic() - started)):
                return


def _tracking(pool_class: Any, connections: weakref.WeakSet[Any]) -> Any:
    """``pool_class`` recording each connection it opens in ``connections``."""

    class Tracking(pool_class):
        def _new_conn(self) -> Any:
            conn = super()._new_conn()
            connections.add(conn)
            return conn

    Tracking.__name__ = f"Tracking{pool_class.__name__}"
    return Tracking
