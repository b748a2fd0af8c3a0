"""cpu: percentages from two readings of the CPU time counters."""

from __future__ import annotations

import threading
import time
from collections import namedtuple

from recorded import RecordedHost

from agent.checks.base import CheckResult
from agent.checks.cpu import CpuCheck, CpuConfig, busy_percent, mode_shares
from agent.host import Host

Times = namedtuple("Times", "user nice system idle iowait steal guest guest_nice")


def values(result: CheckResult, metric: str) -> dict[str, float]:
    return {"/".join(s.labels.values()): s.value for s in result.samples if s.metric == metric}


def test_guest_time_is_not_counted_twice() -> None:
    before = Times(100, 0, 50, 1000, 10, 0, 0, 0)
    after = Times(160, 0, 70, 1110, 10, 10, 40, 0)  # 40 of the 60 user seconds ran a guest
    shares = mode_shares(before, after)  # 200 s elapsed: 60 user + 20 system + 110 idle + 10 steal
    assert shares is not None
    assert shares["user"] == 30.0 and shares["system"] == 10.0 and shares["idle"] == 55.0
    assert shares["steal"] == 5.0 and shares["guest"] == 20.0
    assert busy_percent(shares) == 45.0


def test_no_elapsed_time_gives_no_shares_and_counters_never_go_negative() -> None:
    reading = Times(100, 0, 50, 1000, 10, 0, 0, 0)
    assert mode_shares(reading, reading) is None
    shares = mode_shares(reading, reading._replace(idle=1010, iowait=5))  # iowait went back
    assert shares == {**dict.fromkeys(Times._fields, 0.0), "idle": 100.0}
    assert busy_percent(shares) == 0.0


def test_a_cpu_going_offline_skips_per_cpu_values_for_one_run() -> None:
    cpu = {"user": 1.0, "nice": 0.0, "system": 1.0, "idle": 10.0}
    host = RecordedHost(
        {
            "cycles": [
                {"cpu_count": 2, "cpu_times": cpu, "cpu_times_percpu": [cpu, cpu]},
                {"cpu_times": {**cpu, "idle": 20.0}, "cpu_times_percpu": [{**cpu, "idle": 20.0}]},
                {"cpu_times": {**cpu, "idle": 30.0}, "cpu_times_percpu": [{**cpu, "idle": 40.0}]},
            ]
        }
    )
    check = CpuCheck(CpuConfig(per_cpu=True), host)
    results = []
    for cycle in range(3):
        host.cycle = cycle
        results.append(check.run(now=1.8e9))
    assert values(results[1], "cpu_core_usage_percent") == {}
    assert values(results[1], "cpu_usage_percent") == {"": 0.0}
    assert values(results[2], "cpu_core_usage_percent") == {"0": 0.0}


def test_real_host_two_runs_on_different_threads() -> None:
    """The previous reading belongs to the check, not to the thread that ran it: a
    scheduler may run each cycle on another worker thread."""
    check = CpuCheck(CpuConfig(per_cpu=True), Host("test"))
    first = check.run()
    assert first.ok and values(first, "cpu_usage_percent") == {}
    end = time.process_time() + 0.05
    while time.process_time() < end:  # burn some CPU so a tick passes
        pass
    box: list[CheckResult] = []
    worker = threading.Thread(target=lambda: box.append(check.run()))
    worker.start()
    worker.join()
    second = box[0]
    assert second.ok
    usage = values(second, "cpu_usage_percent")[""]
    assert 0.0 < usage <= 100.0
    modes = values(second, "cpu_mode_percent")
    assert abs(sum(v for m, v in modes.items() if m not in ("guest", "guest_nice")) - 100.0) < 1e-6
    cores = values(second, "cpu_core_usage_percent")
    assert 1 <= len(cores) <= values(second, "cpu_logical_cores")[""]  # offline CPUs have no times
    assert all(0.0 <= v <= 100.0 for v in cores.values())
