"""The spool keeps every sample until acknowledged, survives restarts, and drops oldest-first."""

from __future__ import annotations

import gzip
import json
import time

import pytest

from agent.checks.base import Event, Sample
from agent.spool import Spool
from agent.wire import Batch

AGENT = {
    "id": "7f2c1f9e-8a57-4a4e-9f39-1f0c2a7e6b11",
    "version": "0.1.0",
    "hostname": "srv1",
    "site": "office-a",
}
NOW = 1_790_000_000.0


def samples(n: int, start: int = 0, ts: float = NOW, asset: str = "srv1") -> list[Sample]:
    return [
        Sample("test_counter", float(i), {"i": str(i)}, asset, ts + i * 0.001)
        for i in range(start, start + n)
    ]


@pytest.fixture
def spool(tmp_path):
    s = Spool(tmp_path / "spool.db")
    s.set_assets([{"name": "srv1", "kind": "host"}])
    yield s
    s.close()


def decode(batch) -> dict:
    return json.loads(batch.body(AGENT, NOW))


def test_batch_is_valid_wire_and_oldest_first(spool):
    spool.add(samples(10), [Event("reboot", "boot time changed", {}, "srv1", NOW)])
    batch = spool.next_batch(max_samples=4)
    doc = decode(batch)
    Batch.model_validate(doc)  # the collector's own model accepts it
    assert [s["value"] for s in doc["samples"]] == [0.0, 1.0, 2.0, 3.0]
    assert doc["assets"] == [{"name": "srv1", "kind": "host"}]
    assert doc["seq"] == 1 and doc["agent"] == AGENT


def test_unacked_batch_is_resent_identically(spool):
    spool.add(samples(5))
    first = spool.next_batch()
    again = spool.next_batch()
    assert (again.batch_id, again.seq, again.content) == (first.batch_id, first.seq, first.content)
    spool.ack(first)
    assert spool.next_batch() is None
    assert not spool.has_data()


def test_seq_increases_and_survives_restart(tmp_path):
    path = tmp_path / "spool.db"
    s = Spool(path)
    s.set_assets([{"name": "srv1", "kind": "host"}])
    s.add(samples(3))
    b1 = s.next_batch()
    s.ack(b1)
    s.add(samples(3, start=3))
    b2 = s.next_batch()  # cut but not acknowledged when the agent dies
    s.close()

    s = Spool(path)
    again = s.next_batch()
    assert (again.seq, again.batch_id) == (b2.seq, b2.batch_id) == (2, b2.batch_id)
    s.ack(again)
    s.add(samples(1, start=6))
    assert s.next_batch().seq == 3
    s.close()


def test_reject_counts_samples_and_moves_on(spool):
    spool.add(samples(7))
    batch = spool.next_batch()
    spool.reject(batch)
    spool.reject(batch)  # a second settle of the same batch counts nothing
    stats = spool.stats()
    assert stats.rejected_samples == 7
    assert stats.outgoing_batches == 0 and stats.pending_samples == 0


def test_age_bound_drops_old_samples_and_counts_them(spool):
    spool.max_age = 3600
    spool.add(samples(5, ts=NOW - 7200))
    spool.add(samples(3, start=5, ts=NOW))
    dropped = spool.enforce_limits(now=NOW)
    assert dropped == 5
    doc = decode(spool.next_batch())
    assert [s["value"] for s in doc["samples"]] == [5.0, 6.0, 7.0]
    assert spool.stats().dropped_samples == 5


def test_size_bound_drops_oldest_first(tmp_path):
    s = Spool(tmp_path / "spool.db", max_bytes=400_000)
    s.set_assets([{"name": "srv1", "kind": "host"}])
    for k in range(40):
        s.add(samples(200, start=k * 200))  # each add keeps the bound (on disk)
        assert s.stats().used_bytes <= 400_000
    s.enforce_limits(now=NOW + 60)
    after = s.stats()
    dropped = after.dropped_samples
    assert dropped > 0
    assert after.used_bytes <= 400_000
    assert after.pending_samples == 8000 - dropped
    # what is left is the newest data, contiguous up to the last sample
    doc = decode(s.next_batch(max_samples=20_000))
    values = [x["value"] for x in doc["samples"]]
    assert values == [float(v) for v in range(8000 - len(values), 8000)]
    s.close()


def test_size_bound_prefers_dropping_cut_batches_but_not_the_one_in_flight(tmp_path):
    s = Spool(tmp_path / "spool.db", max_bytes=300_000)
    s.set_assets([{"name": "srv1", "kind": "host"}])
    s.add(samples(1500))
    in_flight = s.next_batch(max_samples=1500)
    s.in_flight = in_flight.seq  # what the shipper does while the batch is on the wire
    for k in range(1, 8):
        s.add(samples(500, start=1500 + k * 500))
    s.enforce_limits(now=NOW, in_flight=in_flight.seq)
    assert s.next_batch().batch_id == in_flight.batch_id  # still there to be settled
    s.close()


def test_body_is_gzip_friendly_and_bounded(spool):
    spool.add(samples(5000))
    batch = spool.next_batch(max_samples=5000)
    raw = batch.body(AGENT, time.time())
    assert len(gzip.compress(raw)) < len(raw) / 4
    assert batch.n_samples == 5000
