"""Every golden case under ``cases/``: the check emits exactly the expected samples and
events, and everything it emits matches its metric catalog."""

from __future__ import annotations

import pytest
from recorded import BASE_METRICS, Case, all_cases, assert_conforms, replay, series

from agent.checks import registry

CASES = all_cases()


def _key(metric: str, labels: dict | None) -> tuple:
    return (metric, tuple(sorted((k, str(v)) for k, v in (labels or {}).items())))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden_case(case: Case) -> None:
    outcome = replay(case)
    expected = case.expected
    if expected.get("unsupported"):
        assert outcome.unsupported is not None, "expected the check to say it is unsupported"
        assert expected["unsupported"] in outcome.unsupported
        return
    assert outcome.unsupported is None, f"unexpectedly unsupported: {outcome.unsupported}"

    check_cls = registry.check_class(case.check)
    for result in outcome.results:
        assert_conforms(check_cls, result.samples)
    last = outcome.last
    assert last.ok is expected.get("ok", True), [e.message for e in last.events]
    up = {s.metric: s.value for s in last.samples if s.metric in BASE_METRICS}
    assert up["upkeep_check_up"] == (1.0 if last.ok else 0.0)

    got = {k: v for k, v in series(last.samples).items() if k[0] not in BASE_METRICS}
    want = {_key(s["metric"], s.get("labels")): s["value"] for s in expected.get("samples") or []}
    assert len(want) == len(expected.get("samples") or []), "expected.yaml lists a series twice"
    missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    assert not missing and not extra, f"missing: {missing}\nunexpected: {extra}"
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-6, abs=1e-6), key

    events = outcome.events
    want_events = expected.get("events") or []
    assert [e.type for e in events] == [e["type"] for e in want_events], [e.message for e in events]
    for event, wanted in zip(events, want_events, strict=True):
        assert event.asset == "recorded-host"
        if "message" in wanted:
            assert wanted["message"] in event.message
        for key, value in (wanted.get("data") or {}).items():
            assert event.data.get(key) == pytest.approx(value), key
