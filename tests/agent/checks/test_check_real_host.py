"""The default check set against this machine: robust facts only, nothing about the
machine's own state (sizes, load, which disks it has)."""

from __future__ import annotations

import pytest
from recorded import assert_conforms, series

from agent.checks import registry
from agent.config import check_configs
from agent.host import Host

DEFAULTS = registry.default_checks()


@pytest.fixture(scope="module")
def checks():
    host = Host("test")
    configs = check_configs(dict.fromkeys(DEFAULTS), None)
    return {name: registry.check_class(name)(configs[name], host) for name in DEFAULTS}


@pytest.mark.skipif(not DEFAULTS, reason="no default checks on this OS")
def test_every_default_check_runs_or_says_why_not(checks) -> None:
    for _ in range(2):  # the second run produces the rate and percentage samples
        for name, check in checks.items():
            reason = check.unsupported()
            if reason is not None:
                assert isinstance(reason, str) and reason
                continue
            result = check.run()
            assert result.ok or result.unsupported, (name, [e.message for e in result.events])
            assert_conforms(type(check), result.samples)
            series(result.samples)


def test_memory_figures_are_consistent() -> None:
    check = registry.check_class("memory")(
        check_configs({"memory": None}, None)["memory"], Host("test")
    )
    values = {s.metric: s.value for s in check.run().samples}
    assert values["memory_total_bytes"] > 0
    assert 0 < values["memory_available_bytes"] <= values["memory_total_bytes"]
    assert 0 <= values["memory_used_percent"] <= 100
    assert values["swap_used_bytes"] <= values["swap_total_bytes"]
