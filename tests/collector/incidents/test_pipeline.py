"""The stage contract: first non-pass decision wins, later stages are not called."""

from __future__ import annotations

from collector.incidents import pipeline
from collector.incidents.pipeline import PASS, AlertSignal, defer, suppress


def signal(**kw) -> AlertSignal:
    values = {
        "fingerprint": "fp1",
        "name": "disk_full",
        "client_id": 1,
        "client": "acme",
        "status": "firing",
        "ts": 1000.0,
    }
    return AlertSignal(**{**values, **kw})


def test_empty_pipeline_passes() -> None:
    assert pipeline.run(None, signal(), 1000.0, []) == PASS  # type: ignore[arg-type]


def test_first_non_pass_wins() -> None:
    calls: list[str] = []

    def maintenance(conn, sig, now):
        calls.append("maintenance")
        return PASS

    def dependency(conn, sig, now):
        calls.append("dependency")
        return suppress("site down", parent="UPK-acme-1")

    def never(conn, sig, now):
        calls.append("never")
        return defer(now + 60)

    decision = pipeline.run(None, signal(), 1000.0, [maintenance, dependency, never])  # type: ignore[arg-type]
    assert decision.action == "suppress" and decision.parent == "UPK-acme-1"
    assert calls == ["maintenance", "dependency"]


def test_registered_stages_load() -> None:
    assert isinstance(pipeline.stages(), tuple)
