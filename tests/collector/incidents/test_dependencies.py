"""Dependencies, pure: uplink down suppresses the site, all silent is one site incident."""

from __future__ import annotations

import pytest

from collector.incidents.dependencies import (
    SITE_UNREACHABLE,
    DependencyConfig,
    SiteState,
    SiteUnreachableConfig,
    decide,
    site_fingerprint,
    site_signal,
    unreachable,
)
from collector.incidents.pipeline import AlertSignal

CONFIG = DependencyConfig(uplinks={"acme": {"hq": ["router1"]}})
NOW = 10_000.0


def sig(
    name="disk-space", asset="srv1", status="firing", ts=NOW, site="hq", tags=(), origin="proactive"
):
    return AlertSignal(
        fingerprint=f"{name}-{asset}",
        name=name,
        client_id=1,
        client="acme",
        status=status,
        ts=ts,
        site=site,
        asset=asset,
        tags=frozenset(tags),
        origin=origin,
    )


TEN = frozenset(f"srv{i}" for i in range(10))

CASES = [
    # id, signal, state, now, (action, site_signal)
    ("nothing down", sig(), SiteState(assets=10), NOW, ("pass", None)),
    (
        "no site",
        sig(site=None),
        SiteState(assets=10, uplinks_down={"router1": "fp"}),
        NOW,
        ("pass", None),
    ),
    (
        "uplink down: others suppressed",
        sig(),
        SiteState(assets=10, uplinks_down={"router1": "fpr"}),
        NOW,
        ("suppress", None),
    ),
    (
        "uplink down: uplink itself passes",
        sig(name="agent-silent", asset="router1", ts=NOW - 120),
        SiteState(assets=10, uplinks_down={"router1": "fpr"}),
        NOW,
        ("pass", None),
    ),
    (
        "uplink by tag",
        sig(asset="fw1", tags={"uplink"}, name="snmp-unreachable"),
        SiteState(assets=10, uplinks_down={"router1": "fpr"}),
        NOW,
        ("pass", None),
    ),
    (
        "uplink down: resolves pass",
        sig(status="resolved"),
        SiteState(assets=10, uplinks_down={"router1": "fpr"}),
        NOW,
        ("pass", None),
    ),
    (
        "uplink down: a person's report passes",
        sig(origin="user_reported"),
        SiteState(assets=10, uplinks_down={"router1": "fpr"}),
        NOW,
        ("pass", None),
    ),
    (
        "first silent agent waits for the others",
        sig(name="agent-silent"),
        SiteState(assets=10, silent=frozenset({"srv1"})),
        NOW,
        ("defer", None),
    ),
    (
        "after the grace it opens its own incident",
        sig(name="agent-silent", ts=NOW - 60),
        SiteState(assets=10, silent=frozenset({"srv1"})),
        NOW,
        ("pass", None),
    ),
    (
        "all silent: site incident, asset suppressed",
        sig(name="agent-silent"),
        SiteState(assets=10, silent=TEN),
        NOW,
        ("suppress", "firing"),
    ),
    (
        "all silent: other alerts suppressed too",
        sig(name="disk-space"),
        SiteState(assets=10, silent=TEN),
        NOW,
        ("suppress", None),
    ),
    (
        "a single-asset site is not a site outage",
        sig(name="agent-silent"),
        SiteState(assets=1, silent=frozenset({"srv1"})),
        NOW,
        ("pass", None),
    ),
    (
        "nine of ten is not all",
        sig(name="agent-silent", ts=NOW - 61),
        SiteState(assets=10, silent=TEN - {"srv9"}),
        NOW,
        ("pass", None),
    ),
    (
        "first agent back resolves the site incident",
        sig(name="agent-silent", status="resolved"),
        SiteState(assets=10, silent=TEN - {"srv1"}, site_incident="UPK-acme-1"),
        NOW,
        ("pass", "resolved"),
    ),
    (
        "site signal itself passes",
        sig(name=SITE_UNREACHABLE, asset=None),
        SiteState(assets=10, silent=TEN),
        NOW,
        ("pass", None),
    ),
]


@pytest.mark.parametrize(
    ("signal", "state", "now", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_decide(signal, state, now, expected):
    verdict = decide(signal, state, CONFIG, now)
    assert (verdict.decision.action, verdict.site_signal) == expected


def test_suppression_names_the_parent_incident():
    state = SiteState(
        assets=10, uplinks_down={"router1": "fpr"}, uplink_incidents={"fpr": "UPK-acme-7"}
    )
    decision = decide(sig(), state, CONFIG, NOW).decision
    assert decision.parent == "UPK-acme-7" and "router1" in decision.reason
    state = SiteState(assets=10, silent=TEN, site_incident="UPK-acme-9")
    assert decide(sig(name="agent-silent"), state, CONFIG, NOW).decision.parent == "UPK-acme-9"


def test_defer_until_the_grace_ends():
    decision = decide(
        sig(name="agent-silent", ts=NOW - 20),
        SiteState(assets=3, silent=frozenset({"srv1"})),
        CONFIG,
        NOW,
    ).decision
    assert decision.until == NOW - 20 + 60


@pytest.mark.parametrize(
    ("assets", "silent", "fraction", "expected"),
    [
        (10, 10, 1.0, True),
        (10, 9, 1.0, False),
        (10, 8, 0.8, True),
        (10, 7, 0.8, False),
        (2, 2, 1.0, True),
        (1, 1, 1.0, False),
        (3, 1, 0.3, False),  # at least min_assets (2) silent
    ],
)
def test_unreachable(assets, silent, fraction, expected):
    state = SiteState(assets=assets, silent=frozenset(f"a{i}" for i in range(silent)))
    assert unreachable(state, SiteUnreachableConfig(fraction=fraction)) is expected


def test_site_signal_is_one_per_site_and_asset_less():
    state = SiteState(assets=10, silent=TEN)
    a = site_signal(sig(name="agent-silent", asset="srv1"), state, "firing", NOW)
    b = site_signal(sig(name="agent-silent", asset="srv2"), state, "firing", NOW)
    assert a.fingerprint == b.fingerprint == site_fingerprint(1, "hq")
    assert (
        a.asset is None and a.name == SITE_UNREACHABLE and a.site == "hq" and a.status == "firing"
    )
    assert "10 of 10" in a.description
    assert site_fingerprint(1, "branch") != a.fingerprint
