"""The engine with plain values: state machine, hysteresis, flapping, order, staleness, overrides."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.rules.engine import FIRING, AssetInfo, RuleEngine
from collector.rules.model import Override, Rule
from collector.rules.ruleset import RuleSet

T0 = 1_700_000_000.0


@dataclass
class Series:
    id: int = 1
    client_id: int = 1
    asset_id: int = 1
    asset: str = "srv1"
    metric: str = "m"
    labels: dict = field(default_factory=dict)


def engine(
    *rules: dict, overrides: tuple[dict, ...] = (), tags: frozenset[str] = frozenset()
) -> RuleEngine:
    ruleset = RuleSet.build(
        [(Rule.model_validate(r), "") for r in rules],
        [Override.model_validate(o) for o in overrides],
    )
    return RuleEngine(
        ruleset, lambda a: AssetInfo(a, 1, "acme", "office", f"srv{a}", tags), started_at=T0
    )


def run(
    e: RuleEngine, values: list[float], step: float = 60.0, series: Series | None = None
) -> list[str]:
    """Feed values on time; return the outward status after each."""
    s = series or Series()
    out = []
    for i, v in enumerate(values):
        ts = T0 + i * step
        e.observe([(s, v, ts)], ts)
        e.sweep(ts)
        mine = [a for a in e.alerts.values() if a.series_id == s.id]
        out.append(mine[0].core.status if mine else "inactive")
    return out


HYST = {
    "id": "r",
    "metric": "m",
    "warning": "> 80",
    "clear": "< 70",
    "for": "3m",
    "keep_firing_for": "2m",
    "flapping": {"enabled": False},
}


def test_for_and_keep_firing_for() -> None:
    states = run(engine(HYST), [90, 90, 90, 90, 75, 60, 60, 60, 60])
    assert states == [
        "pending",
        "pending",
        "pending",
        "firing",
        "firing",
        "firing",
        "firing",
        "inactive",
        "inactive",
    ]


def test_severity_escalates_after_for_and_deescalates() -> None:
    e = engine({"id": "r", "metric": "m", "warning": "> 80", "critical": "> 95", "for": "2m"})
    severities = []
    for i, v in enumerate([90, 90, 90, 99, 99, 99, 90]):
        ts = T0 + i * 60
        e.observe([(Series(), v, ts)], ts)
        severities.append(next(iter(e.alerts.values())).core.severity)
    assert severities == [None, None, "warning", "warning", "warning", "critical", "warning"]


def test_flapping_stays_firing_until_stable() -> None:
    e = engine(
        {
            "id": "r",
            "metric": "m",
            "warning": "> 80",
            "flapping": {"max_changes": 3, "window": "10m"},
        }
    )
    states = run(e, [90, 10, 90, 10, 90, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10])
    alert = next(iter(e.alerts.values()))
    assert states[:3] == ["firing", "inactive", "firing"]
    assert states[3:12] == ["firing"] * 9  # flapping: held firing
    assert states[-1] == "inactive" and not alert.core.flapping


def test_stale_replayed_samples_never_fire() -> None:
    e = engine({"id": "r", "metric": "m", "warning": "> 80", "for": "2m"})
    now = T0 + 7200
    e.observe([(Series(), 90.0, T0 + i * 60) for i in range(10)], now)  # an hour-old replay
    e.sweep(now)
    assert next(iter(e.alerts.values())).core.status == "pending"
    e.observe([(Series(), 90.0, now)], now)  # fresh: it has held since T0
    assert next(iter(e.alerts.values())).core.status == FIRING


def test_late_sample_older_than_the_newest_is_replayed_in_order() -> None:
    e = engine({"id": "r", "metric": "m", "warning": "> 80", "for": "2m"})
    s = Series()
    for i in (0, 1, 3):
        e.observe([(s, 90.0, T0 + i * 60)], T0 + i * 60)
    assert next(iter(e.alerts.values())).core.status == FIRING
    e.observe([(s, 10.0, T0 + 120)], T0 + 190)  # the sample at 2m arrives late: the clock restarted
    assert next(iter(e.alerts.values())).core.status == "pending"


def test_overrides_most_specific_wins_and_disable() -> None:
    rule = {"id": "disk", "metric": "m", "warning": "> 80"}
    e = engine(
        rule,
        overrides=(
            {"rule": "disk", "client": "acme", "warning": "> 90"},
            {"rule": "disk", "asset": "srv1", "warning": "> 95"},
            {"rule": "*", "tag": "lab", "enabled": False},
        ),
    )
    assert run(e, [93]) == ["inactive"]
    assert run(e, [96], series=Series(2, labels={"disk": "2"})) == ["firing"]
    e2 = engine(
        rule, overrides=({"rule": "*", "tag": "lab", "enabled": False},), tags=frozenset({"lab"})
    )
    assert run(e2, [99]) == ["inactive"]


def test_sibling_metric_in_where() -> None:
    e = engine(
        {
            "id": "link",
            "metric": "if_oper_status",
            "where": {"if_admin_status": "1"},
            "state": {"in": [2]},
        }
    )
    labels = {"ifindex": "1"}
    oper = Series(1, metric="if_oper_status", labels=labels)
    admin = Series(2, metric="if_admin_status", labels=labels)
    e.observe([(oper, 2.0, T0), (admin, 2.0, T0)], T0)
    assert not e.active()
    e.observe([(oper, 2.0, T0 + 60), (admin, 1.0, T0 + 60)], T0 + 60)
    assert [a.core.status for a in e.active()] == [FIRING]


def test_absent_per_asset_fires_and_resolves() -> None:
    e = engine({"id": "silent", "metric": "any", "absent": {"for": "5m"}})
    e.observe([(Series(), 1.0, T0)], T0)
    assert e.sweep(T0 + 240) == []
    [t] = e.sweep(T0 + 300)
    assert (t.event, t.asset, t.client) == ("firing", "srv1", "acme")
    e.observe([(Series(), 1.0, T0 + 310)], T0 + 310)
    assert not e.active()


def _silent_fleet(n: int) -> RuleEngine:
    """``n`` assets whose per-asset absent alert fired (a fleet-wide silence: an outage)."""
    e = engine({"id": "silent", "metric": "any", "absent": {"for": "5m"}})
    e.observe([(Series(a, asset_id=a), 1.0, T0) for a in range(1, n + 1)], T0)
    fired = e.sweep(T0 + 300)
    assert sorted(t.asset for t in fired) == sorted(f"srv{a}" for a in range(1, n + 1))
    return e


def test_after_a_fleet_wide_silence_each_asset_resolves_with_its_own_batch() -> None:
    e = _silent_fleet(40)
    out = e.observe([(Series(7, asset_id=7), 1.0, T0 + 310)], T0 + 310)
    assert [(t.event, t.asset) for t in out] == [("resolved", "srv7")]
    assert len(e.active()) == 39
    # A batch of two assets resolves both; one already back resolves nothing again.
    out = e.observe(
        [(Series(3, asset_id=3), 1.0, T0 + 320), (Series(7, asset_id=7), 1.0, T0 + 320)],
        T0 + 320,
    )
    assert [(t.event, t.asset) for t in out] == [("resolved", "srv3")]
    assert e.sweep(T0 + 330) == []  # the others stay firing (still silent)
    assert len(e.active()) == 38


@pytest.mark.parametrize("seen_first", [False, True])
def test_a_restored_asset_alert_resolves_at_the_next_batch_when_its_asset_was_seen(
    seen_first: bool,
) -> None:
    """A restart: the firing asset alert comes back from the store, and the store's newest time
    for its asset (``seen``, either order) is newer: the next batch, of any asset, resolves it."""
    before = _silent_fleet(3)
    [alert] = [a for a in before.active() if a.asset_id == 2]
    e = engine({"id": "silent", "metric": "any", "absent": {"for": "5m"}})
    if seen_first:
        e.seen(2, 1, T0 + 400)
        e.observe([(Series(3, asset_id=3), 1.0, T0 + 405)], T0 + 405)  # before the restore
    e.restore_alert(alert)
    if not seen_first:
        e.seen(2, 1, T0 + 400)
    out = e.observe([(Series(1, asset_id=1), 1.0, T0 + 410)], T0 + 410)
    assert [(t.event, t.asset) for t in out] == [("resolved", "srv2")]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["batch", "sweep"]), st.sets(st.integers(1, 5), max_size=3)),
        min_size=1,
        max_size=30,
    )
)
def test_property_no_active_asset_alert_is_behind_its_asset(steps: list) -> None:
    """After every batch no active `metric: any` alert has an older time than its asset's
    newest (what looking at every asset alert after each batch guaranteed)."""
    e = engine({"id": "silent", "metric": "any", "absent": {"for": "5m"}})
    now = T0
    for kind, assets in steps:
        now += 120
        if kind == "sweep":
            e.sweep(now)
            continue
        e.observe([(Series(a, asset_id=a), 1.0, now) for a in sorted(assets)], now)
        for (_, asset_id), alert in e._by_asset.items():
            if alert.core.status != "inactive":
                assert e._asset_seen[asset_id][1] <= alert.core.last_ts


def test_reload_keeps_state_of_unchanged_rules_and_resolves_removed() -> None:
    a = {"id": "a", "metric": "m", "warning": "> 80"}
    b = {"id": "b", "metric": "m", "critical": "> 50"}
    e = engine(a, b)
    e.observe([(Series(), 90.0, T0)], T0)
    assert {x.rule_id for x in e.active()} == {"a", "b"}
    out = e.reload(RuleSet.build([(Rule.model_validate(a), "")]), T0 + 1)
    assert [(t.rule_id, t.event, t.reason) for t in out] == [("b", "resolved", "rule removed")]
    assert [(x.rule_id, x.core.status) for x in e.active()] == [("a", FIRING)]


# ---------------------------------------------------------------------- properties

values = st.lists(st.sampled_from([10.0, 65.0, 75.0, 85.0, 95.0]), min_size=1, max_size=40)


@settings(max_examples=150, deadline=None)
@given(values)
def test_property_no_alert_without_condition_held_for_for(vs: list[float]) -> None:
    e = engine(HYST)
    states = run(e, vs)
    for i, state in enumerate(states):
        if state == FIRING and (i == 0 or states[i - 1] != FIRING):
            # it just fired: the condition held at every sample of the last `for` (3 min)
            assert all(v > 80 for v in vs[i - 3 : i + 1]) and i >= 3


@settings(max_examples=150, deadline=None)
@given(values)
def test_property_hysteresis_never_resolves_while_clear_does_not_hold(vs: list[float]) -> None:
    states = run(engine(HYST), vs)
    for i in range(1, len(states)):
        if states[i - 1] == FIRING and states[i] != FIRING:
            # resolved: clear (< 70) held at every sample of the last keep_firing_for (2 min)
            assert i >= 2 and all(v < 70 for v in vs[i - 2 : i + 1])


@settings(max_examples=100, deadline=None)
@given(values, st.randoms(use_true_random=False))
def test_property_order_of_arrival_does_not_change_alerts(vs: list[float], rnd) -> None:
    rule = {**HYST, "flapping": {"enabled": True, "max_changes": 2, "window": "10m"}}
    samples = [(Series(), v, T0 + i * 60) for i, v in enumerate(vs)]
    end = T0 + len(vs) * 60
    in_order, shuffled = engine(rule), engine(rule)
    for s in samples:
        in_order.observe([s], end)
    mixed = list(samples)
    rnd.shuffle(mixed)
    for i in range(0, len(mixed), 3):  # batches of up to three, arriving in random order
        shuffled.observe(mixed[i : i + 3], end)
    in_order.sweep(end)
    shuffled.sweep(end)

    def view(e: RuleEngine):
        return [
            (a.rule_id, a.core.status, a.core.severity, a.core.flapping) for a in e.alerts.values()
        ]

    assert view(in_order) == view(shuffled)
