"""The agent reports its own health; spool drops become a metric and an event."""

from __future__ import annotations

from agent.checks.base import BASE_CATALOG, Sample
from agent.host import Host
from agent.selfcheck import AgentSelfCheck
from agent.spool import Spool

NOW = 1_790_000_000.0


def test_spool_drop_is_an_event_and_a_counter(tmp_path):
    spool = Spool(tmp_path / "spool.db", max_age=3600)
    spool.set_assets([{"name": "srv1", "kind": "host"}])
    spool.add([Sample("m", float(i), {}, "srv1", NOW - 86400 + i) for i in range(30)])  # a day old
    check = AgentSelfCheck(spool, None, Host("srv1"))
    result = check.run()
    assert result.ok
    (event,) = [e for e in result.events if e.type == "spool_dropped"]
    assert event.data == {"samples": 30} and event.asset == "srv1"
    values = {s.metric: s.value for s in result.samples}
    assert values["upkeep_agent_spool_dropped_samples_total"] == 30
    assert values["upkeep_agent_spool_samples"] == 0
    assert values["upkeep_agent_resident_memory_bytes"] > 10 * 2**20
    # the second run has nothing to drop: no new event, the counter stays
    again = check.run()
    assert not [e for e in again.events if e.type == "spool_dropped"]
    assert {s.metric: s.value for s in again.samples}[
        "upkeep_agent_spool_dropped_samples_total"
    ] == 30
    spool.close()


def test_samples_match_the_catalog(tmp_path):
    spool = Spool(tmp_path / "spool.db")
    result = AgentSelfCheck(spool, None, Host("srv1")).run()
    catalog = {m.name: m for m in (*AgentSelfCheck.catalog, *BASE_CATALOG)}
    for sample in result.samples:
        assert sample.metric in catalog
        assert set(sample.labels) == set(catalog[sample.metric].labels)
    # the clock offset is known only once the collector answered
    unknown_yet = {"upkeep_agent_clock_offset_seconds"}
    assert {m.name for m in AgentSelfCheck.catalog} - unknown_yet <= {
        s.metric for s in result.samples
    }
    spool.close()
