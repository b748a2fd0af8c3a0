"""Prometheus remote write against Debian's real ``prometheus`` (--web.enable-remote-write-receiver):
the series arrive with their labels and values, the queue survives a collector restart and a
receiver outage without loss or duplicates, refused samples do not block it, and it is bounded."""

from __future__ import annotations

import random
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from agent.wire import Batch
from collector.ingest import Ingestor
from collector.remote_write import labels as rw_labels
from collector.remote_write import protocol
from collector.remote_write.exporter import RemoteWriteExporter
from collector.settings import RemoteWrite, Settings
from collector.store import Store
from tests.promtool import check_metrics
from tests.servers.prometheus import PrometheusServer, prometheus_binary

pytestmark = pytest.mark.skipif(prometheus_binary() is None, reason="Debian package prometheus")


def _config(url: str, **kw) -> RemoteWrite:
    return RemoteWrite(**{"url": url, "min_backoff": 0.01, "max_backoff": 0.05, "timeout": 5, **kw})


def _series_values(prom: PrometheusServer, expr: str) -> dict[tuple, list[tuple[float, float]]]:
    """expr's range vector over the last hour: labels → [(ts, value)]."""
    out = {}
    for r in prom.query(f"{expr}[1h]"):
        out[tuple(sorted(r["metric"].items()))] = [(float(t), float(v)) for t, v in r["values"]]
    return out


def _wait(predicate, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} not reached in {timeout}s"
        time.sleep(0.1)


# ---------------------------------------------------------------------- pure parts


def test_the_descriptor_set_is_compiled_from_remote_proto(tmp_path):
    protoc = shutil.which("protoc")
    if protoc is None:
        pytest.skip(
            "protoc not installed (Debian package protobuf-compiler; scripts/test-system-deps)"
        )
    folder = Path(protocol.__file__).parent
    out = tmp_path / "remote.desc"
    subprocess.run(
        [protoc, f"--proto_path={folder}", f"--descriptor_set_out={out}", "remote.proto"],
        check=True,
        timeout=30,
    )
    assert out.read_bytes() == (folder / "remote.desc").read_bytes()


def test_encode_is_a_snappy_writerequest_with_the_standard_headers():
    body = protocol.encode(
        [((("__name__", "upkeep_x"), ("asset", "a")), [(1000, 1.5), (2000, 2.5)])]
    )
    request = protocol.decode(body)
    (ts,) = request.timeseries
    assert [(label.name, label.value) for label in ts.labels] == [
        ("__name__", "upkeep_x"),
        ("asset", "a"),
    ]
    assert [(s.timestamp, s.value) for s in ts.samples] == [(1000, 1.5), (2000, 2.5)]
    assert protocol.HEADERS == {
        "Content-Type": "application/x-protobuf",
        "Content-Encoding": "snappy",
        "X-Prometheus-Remote-Write-Version": "0.1.0",
    }


def test_labels_serialised_once_encode_the_same_request_byte_for_byte():
    """What the exporter keeps per series (its labels, serialised) makes exactly the request
    the labels themselves make, with the labels before the samples in each series."""
    labels = [
        (("__name__", "upkeep_disk_used_percent"), ("asset", "srv1"), ("mountpoint", "/")),
        (("__name__", "upkeep_up"), ("asset", "é-ü"), ("client", "acme")),
    ]
    samples = [[(1000, 1.5), (2000, 2.5)], [(1500, 0.0)]]
    plain = protocol.encode(zip(labels, samples, strict=True))
    kept = protocol.encode(
        zip([protocol.encode_labels(pairs) for pairs in labels], samples, strict=True)
    )
    assert kept == plain
    decoded = protocol.decode(kept)
    assert [[(lb.name, lb.value) for lb in ts.labels] for ts in decoded.timeseries] == [
        list(pairs) for pairs in labels
    ]
    assert [[(s.timestamp, s.value) for s in ts.samples] for ts in decoded.timeseries] == samples


@pytest.mark.parametrize(
    ("metric", "own", "site", "expected"),
    [
        (
            "cpu_usage_percent",
            {"cpu": "total"},
            "hq",
            [
                ("__name__", "upkeep_cpu_usage_percent"),
                ("asset", "srv1"),
                ("client", "acme"),
                ("cpu", "total"),
                ("site", "hq"),
            ],
        ),
        # No site: no site label; a clash with an identity label is renamed as /metrics does.
        (
            "upkeep_check_up",
            {"asset": "x"},
            None,
            [
                ("__name__", "upkeep_check_up"),
                ("asset", "srv1"),
                ("client", "acme"),
                ("exported_asset", "x"),
            ],
        ),
        # Names outside Prometheus' rules (stored before validation) are sanitised.
        (
            "9bad.name-x",
            {"a-b": "1", "__r": "2", "e": ""},
            "hq",
            [
                ("__name__", "upkeep_9bad_name_x"),
                ("a_b", "1"),
                ("asset", "srv1"),
                ("client", "acme"),
                ("exported___r", "2"),
                ("site", "hq"),
            ],
        ),
    ],
)
def test_series_labels(metric, own, site, expected):
    assert (
        list(rw_labels.series_labels(metric, own, client="acme", site=site, asset="srv1"))
        == expected
    )
    assert rw_labels.metric_name("1x") == "_1x" or rw_labels.metric_name("1x").startswith("upkeep_")


# ---------------------------------------------------------------------- against Prometheus


def test_samples_arrive_in_prometheus_with_their_labels_and_values(tmp_path, db_url, kit):
    """Through the real collector app: POST a batch, the remote-write job sends it, PromQL finds it."""
    from fastapi.testclient import TestClient

    from collector import admin
    from collector.api import create_app

    with PrometheusServer(tmp_path / "prom", [], remote_write_receiver=True) as prom:
        settings = Settings.for_data_dir(
            tmp_path / "data",
            database_url=db_url,
            remote_write=_config(
                prom.write_url, send_interval=0.1, external_labels={"upkeep": "test"}
            ).model_dump(),
        )
        store = Store.from_settings(settings)
        store.upgrade()
        admin.create_client(store, "acme")
        _, token = admin.create_token(store, client="acme")
        now = time.time()
        # Out of order within the batch (an agent catching up): sent in timestamp order.
        stamps = [now - 30, now - 90, now - 60, now]
        samples = [
            kit.sample("srv1", "cpu_usage_percent", float(i), t, cpu="total")
            for i, t in enumerate(stamps)
        ]
        samples.append(kit.sample("srv1", "disk_used_percent", 81.5, now, mountpoint="/"))
        try:
            app = create_app(
                settings, store=store, migrate=False, run_retention=False, run_reports=False
            )
            job = app.state.jobs.job("remote-write")  # through the one job registry
            assert job.singleton and job.interval == 0.1
            with TestClient(app) as client:
                r = client.post(
                    "/api/v1/batches",
                    json=kit.make_batch(samples, site="hq"),
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert r.status_code == 200, r.text
                expr = 'upkeep_cpu_usage_percent{client="acme"}'

                def all_four():
                    found = _series_values(prom, expr)
                    return found if found and len(next(iter(found.values()))) == 4 else None

                got = _wait(all_four, what="the four samples in Prometheus")

                def sent_all():
                    text = client.get("/metrics").text
                    return text if "upkeep_remote_write_samples_sent_total 5.0" in text else None

                text = _wait(sent_all, what="the sent counter")
            assert "upkeep_remote_write_queue_samples 0.0" in text
            assert "upkeep_remote_write_samples_dropped_total 0.0" in text
            check_metrics(text)
            ((labels, values),) = got.items()
            assert dict(labels) == {
                "__name__": "upkeep_cpu_usage_percent",
                "client": "acme",
                "site": "hq",
                "asset": "srv1",
                "cpu": "total",
                "upkeep": "test",
            }
            expected = sorted((round(t * 1000) / 1000, float(i)) for i, t in enumerate(stamps))
            assert [(round(t, 3), v) for t, v in values] == expected
            disk = prom.query('upkeep_disk_used_percent{asset="srv1",mountpoint="/",site="hq"}')
            assert [float(d["value"][1]) for d in disk] == [81.5]
        finally:
            store.dispose()


def _ingest(store: Store, exporter: RemoteWriteExporter, tenant, kit, samples) -> None:
    ing = Ingestor(store, in_transaction=[exporter.enqueue])
    ing.ingest(
        tenant.principal, Batch.model_validate(kit.make_batch(samples, agent_id=str(uuid.uuid4())))
    )


def test_the_queue_survives_a_receiver_outage_and_a_collector_restart(tmp_path, db_url, kit):
    prom = PrometheusServer(tmp_path / "prom", [], remote_write_receiver=True)
    prom.start()
    prom.stop()  # the receiver is down; its port and data directory stay for its return
    store = Store.from_url(db_url)
    store.upgrade()
    tenant = kit.add_tenant(store, "acme")
    config = _config(prom.write_url, max_samples_per_send=7)
    now = time.time()
    first = [kit.sample("srv1", "m", float(i), now - 300 + i) for i in range(20)]
    second = [kit.sample("srv1", "m", float(100 + i), now - 100 + i) for i in range(20)]
    second += [kit.sample(f"srv{k}", "n", float(k), now - 50) for k in range(2, 6)]
    try:
        exporter = RemoteWriteExporter(store, config)
        _ingest(store, exporter, tenant, kit, first)
        assert exporter.send_pending() == 0  # connection refused: kept, backing off
        assert exporter.failed_requests == 1 and exporter.backlog() == 20 and exporter.sent == 0
        exporter.close()
    finally:
        store.dispose()

    # The collector restarts (a new process's exporter over the same database), ingests more
    # while the receiver is still down, then the receiver comes back.
    store = Store.from_url(db_url)
    try:
        exporter = RemoteWriteExporter(store, config)
        _ingest(store, exporter, tenant, kit, second)
        assert exporter.backlog() == 44
        prom.start()
        try:
            assert exporter.send_pending() == 44
            assert exporter.backlog() == 0 and exporter.sent == 44 and exporter.rejected == 0
            assert exporter.requests == 7  # ceil(44 / 7): each row sent once
            assert exporter.send_pending() == 0  # nothing left to send again
            got = _series_values(prom, 'upkeep_m{client="acme",asset="srv1"}')
            ((labels, values),) = got.items()
            expected = sorted(
                (round(s["ts"], 3), s["value"]) for s in first + second if s["metric"] == "m"
            )
            assert [(round(t, 3), v) for t, v in values] == expected  # every sample, once
            n = prom.query('count_over_time(upkeep_n{client="acme"}[1h])')
            assert sorted((r["metric"]["asset"], r["value"][1]) for r in n) == [
                (f"srv{k}", "1") for k in range(2, 6)
            ]
        finally:
            prom.stop()
    finally:
        exporter.close()
        store.dispose()


def test_samples_the_receiver_refuses_are_counted_and_do_not_block_the_queue(tmp_path, db_url, kit):
    store = Store.from_url(db_url)
    store.upgrade()
    tenant = kit.add_tenant(store, "acme")
    now = time.time()
    with PrometheusServer(tmp_path / "prom", [], remote_write_receiver=True) as prom:
        exporter = RemoteWriteExporter(store, _config(prom.write_url))
        try:
            _ingest(store, exporter, tenant, kit, [kit.sample("srv1", "m", 1.0, now)])
            assert exporter.send_pending() == 1
            # An older sample of the same series (a second agent's late report): Prometheus
            # refuses it as out of order (HTTP 400); it must not be retried forever.
            _ingest(store, exporter, tenant, kit, [kit.sample("srv1", "m", 2.0, now - 120)])
            _ingest(store, exporter, tenant, kit, [kit.sample("srv1", "other", 3.0, now)])
            exporter.send_pending()
            assert exporter.rejected >= 1 and exporter.backlog() == 0
            assert exporter.failed_requests == 0
        finally:
            exporter.close()
            store.dispose()


def test_a_dead_receiver_does_not_grow_the_queue_past_its_bound(tmp_path, db_url, kit):
    store = Store.from_url(db_url)
    store.upgrade()
    tenant = kit.add_tenant(store, "acme")
    # Port 9 (discard) on loopback: nothing listens, every send fails at once.
    exporter = RemoteWriteExporter(
        store, _config("http://127.0.0.1:9/api/v1/write", max_queue_samples=5)
    )
    now = time.time()
    try:
        for k in range(3):
            _ingest(
                store,
                exporter,
                tenant,
                kit,
                [kit.sample("srv1", "m", float(j), now - 60 * k - j) for j in range(3)],
            )
        assert exporter.backlog() == 3 and exporter.queued == 3 and exporter.dropped == 6
        assert exporter.send_pending() == 0 and exporter.failed_requests == 1
        # Backing off: the next turn within the backoff does not even try.
        before = exporter.requests
        exporter._next_try = time.monotonic() + 60
        assert exporter.send_pending() == 0 and exporter.requests == before
        families = {f.name: f for f in exporter.collect()}
        assert families["upkeep_remote_write_samples_dropped"].samples[0].value == 6
        assert families["upkeep_remote_write_queue_samples"].samples[0].value == 3
        assert families["upkeep_remote_write_requests_failed"].samples[0].value == 1
    finally:
        exporter.close()
        store.dispose()


def test_a_random_mix_of_series_arrives_complete(tmp_path, db_url, kit):
    """Many series and batches, sent in several requests: Prometheus holds exactly what was stored."""
    rnd = random.Random(7)
    store = Store.from_url(db_url)
    store.upgrade()
    tenant = kit.add_tenant(store, "acme")
    now = time.time() - 600
    with PrometheusServer(tmp_path / "prom", [], remote_write_receiver=True) as prom:
        exporter = RemoteWriteExporter(store, _config(prom.write_url, max_samples_per_send=50))
        try:
            total = 0
            for b in range(10):
                batch = [
                    kit.sample(f"h{a}", "load", rnd.random(), now + 30 * b, core=str(c))
                    for a in range(4)
                    for c in range(5)
                ]
                total += len(batch)
                _ingest(store, exporter, tenant, kit, batch)
            assert exporter.send_pending() == total == 200
            counts = prom.query('count_over_time(upkeep_load{client="acme"}[1h])')
            assert len(counts) == 20 and {r["value"][1] for r in counts} == {"10"}
        finally:
            exporter.close()
            store.dispose()


def test_a_hanging_receiver_never_holds_up_ingest(tmp_path, db_url, kit):
    """The sender stuck in a request (a receiver trickling its answer) holds no database lock:
    batches keep being stored and queued meanwhile (SQLite's single writer included)."""
    import threading

    from tests.servers.slow_http import SlowServer

    store = Store.from_url(db_url)
    store.upgrade()
    tenant = kit.add_tenant(store, "acme")
    now = time.time()
    with SlowServer("head", interval=0.5) as slow:
        exporter = RemoteWriteExporter(store, _config(slow.url, timeout=30))
        try:
            _ingest(store, exporter, tenant, kit, [kit.sample("srv1", "m", 1.0, now - 10)])
            sender = threading.Thread(target=exporter.send_pending, daemon=True)
            sender.start()
            _wait(lambda: slow.connections >= 1, what="the sender's request in flight")
            for k in range(5):
                _ingest(store, exporter, tenant, kit, [kit.sample("srv1", "m", float(k), now + k)])
            assert sender.is_alive()  # still waiting for the receiver's answer
            assert exporter.backlog() == 6 and exporter.queued == 6
            # And the request as a whole is bounded by `timeout` (not only each read).
            cut = RemoteWriteExporter(store, _config(slow.url, timeout=1))
            started = time.monotonic()
            assert cut.send_pending() == 0
            assert time.monotonic() - started < 10 and cut.failed_requests == 1
            assert exporter.backlog() == 6  # nothing lost
            cut.close()
        finally:
            exporter.close()
            store.dispose()
