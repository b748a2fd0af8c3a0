"""Sends spooled batches to the collector, oldest first, and settles each one.

Every answer falls in one of three classes (Telegraf's buffer semantics):

* **accepted** — 200 (also for a batch the collector already had): delete it;
* **rejected** — 400/413/422, the batch itself is invalid and retrying cannot help:
  drop it, count the samples, raise an event;
* **kept** — anything else (connection refused, timeout, 401/403 until an admin fixes the
  token, 429, 5xx): keep it and retry with exponential backoff and jitter.

Uses urllib3 (requests' own transport) directly: the agent's memory budget is small.

**Clock offset.** Every accepted answer carries the collector's ``Date``; compared with the
midpoint of the request's round trip it gives this machine's clock offset (agent minus
collector, positive when the agent is ahead; good to about a second, ``Date`` has whole
seconds). It is reported as ``upkeep_agent_clock_offset_seconds``. Beyond
``clock_skew_warning`` (60 s) the agent logs a loud warning and spools a ``clock_skew``
event — once per change of state, and ``clock_in_sync`` when it is back: the collector
refuses samples more than 5 minutes in its future, so a clock far ahead loses data.
"""

from __future__ import annotations

import email.utils
import gzip
import json
import logging
import random
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import UTC
from enum import Enum

import urllib3

from agent.checks.base import Event, Sample
from agent.spool import OutgoingBatch, Spool
from agent.wire import BATCH_PATH

log = logging.getLogger(__name__)

_REJECTED = {400, 413, 422}
#: An idle shipper looks at the spool this often even if nobody woke it (belt and braces).
_IDLE_RECHECK = 300.0
#: Offset (s) beyond which the agent's clock is reported as wrong; the collector refuses
#: samples more than 5 minutes ahead of its own clock.
CLOCK_SKEW_WARNING = 60.0
CLOCK_OFFSET_METRIC = "upkeep_agent_clock_offset_seconds"


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
        clock_skew_warning: float = CLOCK_SKEW_WARNING,
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
        self.clock_skew_warning = clock_skew_warning
        #: Agent clock minus collector clock (s), from the last accepted answer's ``Date``.
        self.clock_offset: float | None = None
        self.clock_skewed = False
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
        self.in_flight = self.spool.in_flight = batch.seq
        try:
            return self._send(batch)
        finally:
            self.in_flight = self.spool.in_flight = None

    def _send(self, batch: OutgoingBatch) -> Outcome:
        sent = time.time()
        body = gzip.compress(batch.body(self.agent_info, sent), compresslevel=5)
        try:
            resp = self._http.request("POST", self.endpoint, body=body, headers=self._headers)
        except urllib3.exceptions.HTTPError as exc:
            self._failed(f"collector unreachable: {exc}")
            return Outcome.KEPT
        received = time.time()
        if resp.status == 200:
            self.spool.ack(batch)
            self._clock(resp.headers.get("Date"), sent, received)
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

    def _clock(self, date: str | None, sent: float, received: float) -> None:
        """Update the clock offset from an answer's ``Date``; say so when its state changes."""
        offset = clock_offset(date, sent, received)
        if offset is None:
            return
        self.clock_offset = offset
        skewed = abs(offset) > self.clock_skew_warning
        if skewed == self.clock_skewed:
            return  # the self-check reports the offset every round
        self.clock_skewed = skewed
        asset = self.agent_info.get("hostname")
        if skewed:
            direction = "ahead of" if offset > 0 else "behind"
            message = (
                f"this machine's clock is {abs(offset):.0f} s {direction} the collector's; "
                "fix its time sync (NTP): the collector refuses samples more than 5 min "
                "in its future, and timestamps of everything this agent reports are off"
            )
            log.warning("CLOCK SKEW: %s", message)
            kind = "clock_skew"
        else:
            message = f"this machine's clock is back in sync with the collector's ({offset:+.1f} s)"
            log.info("%s", message)
            kind = "clock_in_sync"
        # The offset goes with the event at once (the self-check's next round may be 30 s off).
        self.spool.add(
            [Sample(CLOCK_OFFSET_METRIC, offset, {}, asset, received)],
            [Event(kind, message, {"offset_seconds": offset}, asset, received)],
        )

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
            try:
                outcome = self.drain(stop)
            except sqlite3.Error as exc:
                # The spool recovers from corruption itself; anything else it raises (disk
                # full, locked) must not end the shipper thread: say so, back off, go on.
                self._failed(f"spool error: {exc}")
                outcome = Outcome.KEPT
            if outcome is Outcome.KEPT:
                stop.wait(self.backoff.next_delay())  # a wake must not cut a backoff short
                continue
            self._wake.wait(_IDLE_RECHECK)
            self._wake.clear()
        self._http.clear()


def clock_offset(date: str | None, sent: float, received: float) -> float | None:
    """Agent clock minus server clock (s) from an HTTP ``Date`` and the round trip's ends.

    The server wrote ``Date`` somewhere inside the round trip, truncated to the second; the
    best estimate of that moment on the server's clock is ``Date`` + 0.5 s, taken to be
    the midpoint of the round trip on ours.
    """
    if not date:
        return None
    try:
        when = email.utils.parsedate_to_datetime(date)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000": HTTP dates are GMT
        when = when.replace(tzinfo=UTC)
    server = when.timestamp() + 0.5
    return (sent + received) / 2 - server


def _error_detail(data: bytes) -> str:
    try:
        doc = json.loads(data)
        return str(doc.get("detail") or doc.get("error") or doc)[:500]
    except (ValueError, AttributeError):
        return data[:200].decode(errors="replace")
