"""The default checks stay cheap: no process listing, no tools, no folder walks.

The CPU time itself is measured, not tested (a timing test would depend on the
machine): see docs/checks.md, "Cost".
"""

from __future__ import annotations

import pytest
from recorded import all_cases, replay

from agent.checks import registry

EXPENSIVE = {"process_iter", "run", "iter_files", "win_service_get"}
DEFAULT_CASES = [
    c
    for c in all_cases()
    if c.check in {*registry.default_checks("linux"), *registry.default_checks("win32")}
]


@pytest.mark.parametrize("case", DEFAULT_CASES, ids=[c.name for c in DEFAULT_CASES])
def test_default_checks_make_no_expensive_host_calls(case) -> None:
    outcome = replay(case)
    assert not set(outcome.host.calls) & EXPENSIVE
    # One pass over the machine per run: each listing is read once per cycle.
    per_cycle = len(outcome.results) or 1
    for method in (
        "disk_partitions",
        "disk_io_counters",
        "net_io_counters",
        "net_if_stats",
        "virtual_memory",
        "swap_memory",
        "getloadavg",
        "boot_time",
        "sensors_temperatures",
    ):
        assert outcome.host.calls.count(method) <= per_cycle + (method == "sensors_temperatures"), (
            method
        )
