"""A failing, hanging or unsupported check never stops the others."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from agent.checks.base import Check, CheckConfig, Sample, Unsupported
from agent.config import AgentConfig, LoadedConfig
from agent.host import Host
from agent.runner import AgentService, CheckRunner, agent_id


class Steady(Check):
    name = "steady"

    def collect(self) -> Iterator[Sample]:
        yield Sample("steady_value", 1.0)


class Broken(Check):
    name = "broken"

    def collect(self) -> Iterator[Sample]:
        yield Sample("never_sent", 1.0)
        raise OSError("disk went away")


class Hanging(Check):
    name = "hanging"
    release = threading.Event()

    def collect(self) -> Iterator[Sample]:
        self.release.wait(10)
        yield Sample("late", 1.0)


class WrongOS(Check):
    name = "wrong_os"

    def unsupported(self) -> str | None:
        return "needs an OS this is not"


class LacksTool(Check):
    name = "lacks_tool"
    runs = 0

    def collect(self) -> Iterator[Sample]:
        LacksTool.runs += 1
        raise Unsupported("smartctl is not installed")


def make(cls, interval=0.2, timeout=None) -> Check:
    return cls(CheckConfig(interval=interval, timeout=timeout), Host("srv1"))


def test_exception_becomes_event_and_check_up_zero():
    result = make(Broken).run(now=1_790_000_000.0)
    assert not result.ok
    assert [
        (s.metric, s.value, s.labels) for s in result.samples if s.metric == "upkeep_check_up"
    ] == [("upkeep_check_up", 0.0, {"check": "broken"})]
    assert "never_sent" not in {s.metric for s in result.samples}  # partial output is discarded
    (event,) = result.events
    assert event.type == "check_error" and "disk went away" in event.message
    assert event.asset == "srv1" and event.ts == 1_790_000_000.0


def test_hanging_check_times_out_and_does_not_pile_up():
    Hanging.release.clear()
    runner = CheckRunner({"hanging": make(Hanging, timeout=0.2), "steady": make(Steady)})
    try:
        started = time.monotonic()
        first = runner.run("hanging")
        assert time.monotonic() - started < 2
        assert not first.ok and "timed out" in first.events[0].message
        second = runner.run("hanging")  # previous run still stuck: not started again
        assert "still running" in second.events[0].message
        assert runner.run("steady").ok
    finally:
        Hanging.release.set()
        runner.shutdown()


def service(tmp_path, checks: dict[str, Check]) -> AgentService:
    cfg = LoadedConfig(AgentConfig(state_dir=tmp_path), {}, "<test>")
    return AgentService(cfg, host=Host("srv1"), checks=checks)


def test_service_keeps_collecting_around_bad_checks(tmp_path):
    Hanging.release.clear()
    LacksTool.runs = 0
    svc = service(
        tmp_path,
        {
            "steady": make(Steady),
            "broken": make(Broken),
            "hanging": make(Hanging, timeout=0.3),
            "wrong_os": make(WrongOS),
            "lacks_tool": make(LacksTool),
        },
    )
    svc.start()
    try:
        time.sleep(3.5)
    finally:
        Hanging.release.set()
        svc.stop()
    from agent.spool import Spool

    spool = Spool(tmp_path / "spool.db")
    batch = spool.next_batch(max_samples=20_000)
    import json

    doc = json.loads(batch.body({"id": "x"}, 0))
    steady = [s for s in doc["samples"] if s["metric"] == "steady_value"]
    assert len(steady) >= 5  # every 0.2 s for ~1.5 s after the first-run spread
    up = {
        (s["labels"]["check"], s["value"])
        for s in doc["samples"]
        if s["metric"] == "upkeep_check_up"
    }
    assert ("broken", 0.0) in up and ("hanging", 0.0) in up and ("steady", 1.0) in up
    assert not any(c in ("wrong_os", "lacks_tool") for c, _ in up)
    unsupported = [e for e in doc["events"] if e["type"] == "check_unsupported"]
    assert sorted(e["data"]["check"] for e in unsupported) == [
        "lacks_tool",
        "wrong_os",
    ]  # said once each
    assert LacksTool.runs == 1  # not retried every cycle
    spool.close()


def test_agent_id_is_stable(tmp_path):
    first = agent_id(tmp_path)
    assert agent_id(tmp_path) == first
    (tmp_path / "agent_id").write_text("garbage")
    assert agent_id(tmp_path) != first  # a corrupt id is replaced, not crashed on


@pytest.mark.parametrize("bad", ["0", "-5s", "five minutes"])
def test_check_config_rejects_bad_interval(bad):
    from agent.yamlsource import ConfigError, validate

    with pytest.raises(ConfigError) as exc:
        validate(CheckConfig, {"interval": bad}, None, ("checks", "cpu"))
    assert "checks.cpu.interval" in str(exc.value)


def test_service_gives_uptime_a_state_file_so_reboots_are_seen(tmp_path):
    from agent.config import load_config

    path = tmp_path / "agent.yaml"
    path.write_text(f"state_dir: {tmp_path}\nchecks:\n  uptime: {{}}\n")
    svc = AgentService(load_config(path), host=Host("srv1"))
    try:
        assert svc.checks["uptime"].config.state_file == tmp_path / "uptime.state.json"
    finally:
        svc.spool.close()


class Slow(Check):
    name = "slow"
    starts: list[float] = []

    def collect(self) -> Iterator[Sample]:
        Slow.starts.append(time.monotonic())
        time.sleep(0.6)
        yield Sample("slow_value", 1.0)


def test_groups_run_on_their_own_intervals_and_an_overrun_is_not_caught_up(tmp_path):
    Slow.starts = []
    svc = service(tmp_path, {"steady": make(Steady, 0.1), "slow": make(Slow, 0.15, timeout=5)})
    svc.start()
    try:
        time.sleep(2.5)
    finally:
        svc.stop()
    from agent.spool import Spool

    spool = Spool(tmp_path / "spool.db")
    import json

    doc = json.loads(spool.next_batch(max_samples=20_000).body({"id": "x"}, 0))
    spool.close()
    steady = [s for s in doc["samples"] if s["metric"] == "steady_value"]
    # The slow group (0.6 s per run on a 0.15 s interval) does not hold up the other group.
    assert len(steady) >= 8
    # ... and its missed slots are skipped, not run back to back to catch up.
    assert 2 <= len(Slow.starts) <= 5
    gaps = [b - a for a, b in zip(Slow.starts, Slow.starts[1:], strict=False)]
    assert min(gaps) >= 0.55
    # One scheduling thread per interval group, no scheduler library or job pool.
    names = {t.name for t in threading.enumerate()}
    assert not any("APScheduler" in n or n.startswith("ThreadPoolExecutor") for n in names)
