"""Sends spooled batches to the collector, oldest first, and settles each one.

Every answer falls in one of three classes (Telegraf's buffer semantics):

* **accepted** — 200 (also for a batch the collector already had): delete it;
* **rejected** — 400/413/422, the batch itself is invalid and retrying cannot help:
  drop it, count the samples, raise an event;
* **kept** — anything else (connection refused, timeout, 401/403 until an admin fixes the
  token, 429, 5xx): keep it and retry with exponential backoff and jitter.

Uses urllib3 (requests' own transport) directly: the agent's memory budget is small.
"""

from __future__ import annotations

import gzip
import json
import logging
import random
import threading
import time
from dataclasses import dataclass
from enum import Enum

import urllib3

from agent import BATCH_PATH
from agent.spool import OutgoingBatch, Spool

log = logging.getLogger(__name__)

_REJECTED = {400, 413, 422}
#: An idle shipper looks at the spool this often even if nobody woke it (belt and braces).
_IDLE_RECHECK = 300.0


class Outcome(Enum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    KEPT = "kept"
    EMPTY = "empty"


@dataclass(slots=True)
class Backoff:
    """Exponential backoff with full jitter, reset by a success."""

    base: float = 1.0
    cap: float = 300.0
    failures: int = 0

    def next_delay(self) -> float:
        self.failures += 1
        return random.uniform(self.base, min(self.cap, self.base * 2**self.failures))

    def reset(self) -> None:
        self.failures = 0


class Shipper:
    """Moves batches from the spool to ``POST /api/v1/batches``."""

    def __init__(
        self,
        spool: Spool,
        url: str,
        token: str,
        agent_info: dict,
        *,
        ca_bundle: str | None = None,
        timeout: float = 15.0,
        batch_max_samples: int = 5000,
        flush_interval: float = 10.0,
    ) -> None:
        self.spool = spool
        self.endpoint = url.rstrip("/") + BATCH_PATH
        self.agent_info = agent_info
        self.batch_max_samples = batch_max_samples
        self.flush_interval = flush_interval
        self.backoff = Backoff()
        self.in_flight: int | None = None
        self.last_error: str | None = None
        self.sent_batches = 0
        self.sent_samples = 0
        self._headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "User-Agent": f"upkeep-agent/{agent_info.get('version', '?')}",
        }
        self._http = urllib3.PoolManager(
            num_pools=2,
            maxsize=1,
            timeout=urllib3.Timeout(connect=min(timeout, 10.0), read=timeout),
            retries=False,
            cert_reqs="CERT_REQUIRED",
            ca_certs=ca_bundle,
        )
        self._wake = threading.Event()

    def wake(self) -> None:
        """Ask the loop to send now (e.g. a full batch is waiting)."""
        self._wake.set()

    # -- one attempt -------------------------------------------------------------------
    def ship_one(self) -> Outcome:
        batch = self.spool.next_batch(self.batch_max_samples)
        if batch is None:
            return Outcome.EMPTY
        self.in_flight = batch.seq
        try:
            return self._send(batch)
        finally:
            self.in_flight = None

    def _send(self, batch: OutgoingBatch) -> Outcome:
        body = gzip.compress(batch.body(self.agent_info, time.time()), compresslevel=5)
        try:
            resp = self._http.request("POST", self.endpoint, body=body, headers=self._headers)
        except urllib3.exceptions.HTTPError as exc:
            self._failed(f"collector unreachable: {exc}")
            return Outcome.KEPT
        if resp.status == 200:
            self.spool.ack(batch)
            self.sent_batches += 1
            self.sent_samples += batch.n_samples
            if self.last_error:
                log.info("collector reachable again; sending the backlog")
            self.last_error = None
            self.backoff.reset()
            return Outcome.ACCEPTED
        detail = _error_detail(resp.data)
        if resp.status in _REJECTED:
            log.error(
                "collector rejected batch seq=%d (%d samples) with %d: %s — dropped",
                batch.seq,
                batch.n_samples,
                resp.status,
                detail,
            )
            self.spool.reject(batch)
            self.last_error = None
            return Outcome.REJECTED
        self._failed(f"collector answered {resp.status}: {detail}")
        return Outcome.KEPT

    def _failed(self, message: str) -> None:
        # Say it once per kind of failure, not on every retry.
        if message != self.last_error:
            log.warning("%s; keeping data in the spool and retrying", message)
        self.last_error = message

    # -- the loop ----------------------------------------------------------------------
    def drain(self, stop: threading.Event) -> Outcome:
        """Send until the spool is empty or a send fails; the last outcome says which."""
        outcome = Outcome.EMPTY
        while not stop.is_set():
            outcome = self.ship_one()
            if outcome in (Outcome.KEPT, Outcome.EMPTY):
                break
        return outcome

    def run(self, stop: threading.Event) -> None:
        """Until ``stop``: send when woken (new data), at most once per ``flush_interval``.

        Sending right after a collection keeps the sample-to-collector latency low; the
        minimum gap batches up checks that run every few seconds; an idle agent does not
        wake up at all between collections.
        """
        last_send = 0.0
        while not stop.is_set():
            gap = last_send + self.flush_interval - time.monotonic()
            if gap > 0 and stop.wait(gap):
                break
            last_send = time.monotonic()
            if self.drain(stop) is Outcome.KEPT:
                stop.wait(self.backoff.next_delay())  # a wake must not cut a backoff short
                continue
            self._wake.wait(_IDLE_RECHECK)
            self._wake.clear()
        self._http.clear()


def _error_detail(data: bytes) -> str:
    try:
        doc = json.loads(data)
        return str(doc.get("detail") or doc.get("error") or doc)[:500]
    except (ValueError, AttributeError):
        return data[:200].decode(errors="replace")
