"""What the poller sends: prepared var-binds, and no 32-bit octet counters once every
interface has the 64-bit ones (fewer var-binds per switch poll, same rates)."""

from __future__ import annotations

from conftest import make_poller, sim_target

from agent.snmp import engine
from agent.snmp import poller as poller_module
from agent.snmp.config import Credentials


def test_switch_stops_reading_32_bit_octets_once_hc_counters_are_known(snmpsim, profiles) -> None:
    poller = make_poller([sim_target(snmpsim, "sw", "switch-48", "switch")], profiles)
    try:
        poller.poll(["sw"], 20)
        device = poller.devices["sw"]
        assert device.skipped == {"interfaces": {"in_octets", "out_octets"}}
        sent: list[int] = []
        send = device.session._send

        async def counting(kind, varbinds, *args):
            sent.append(len(varbinds))
            return await send(kind, varbinds, *args)

        device.session._send = counting
        second = poller.poll(["sw"], 20)
    finally:
        poller.close()
    interface_columns = len(profiles["switch"].tables["interfaces"].columns)
    assert max(sent) == interface_columns - 2
    rates = [s for s in second.samples if s.metric == "if_in_bytes_per_second"]
    assert len(rates) == 48  # from the HC counters, as before


def test_request_varbinds_are_built_once() -> None:
    oid = (1, 3, 6, 1, 2, 1, 1, 3, 0)
    assert engine.request_varbind(oid) is engine.request_varbind(oid)


def _sent_oids(device) -> list[tuple[int, ...]]:
    """Replace the session's _send with one that records every requested OID."""
    sent: list[tuple[int, ...]] = []
    send = device.session._send

    async def recording(kind, varbinds, *args):
        sent.extend(tuple(name) for name, _ in varbinds)
        return await send(kind, varbinds, *args)

    device.session._send = recording
    return sent


def _supplies(result) -> list[tuple]:
    return sorted(
        (s.value, tuple(sorted(s.labels.items())))
        for s in result.samples
        if s.metric == "printer_supply_level_percent"
    )


def test_printer_static_columns_are_read_on_first_poll_then_from_cache(snmpsim, profiles) -> None:
    poller = make_poller([sim_target(snmpsim, "p", "printer-color", "printer")], profiles)
    try:
        first = poller.poll(["p"], 20)
        device = poller.devices["p"]
        sent = _sent_oids(device)
        before = device.session.requests
        second = poller.poll(["p"], 20)
        requests = device.session.requests - before
    finally:
        poller.close()
    description = engine.parse_oid(profiles["printer"].tables["supplies"].columns["description"])
    level = engine.parse_oid(profiles["printer"].tables["supplies"].columns["level"])
    assert level in sent and not any(oid[: len(description)] == description for oid in sent)
    assert requests <= 2
    assert _supplies(second) == _supplies(first) and len(_supplies(first)) == 4
    assert {s.labels["color"] for s in second.samples if s.metric == "printer_supply_state"} >= {
        "cyan",
        "black",
    }
    assert second.assets == [] and device.asset["serial"]


def test_printer_static_columns_are_read_again_when_rows_change_and_every_nth_poll(
    snmpsim, profiles
) -> None:
    poller = make_poller([sim_target(snmpsim, "p", "printer-mono", "printer")], profiles)
    fresh = make_poller([sim_target(snmpsim, "c", "printer-color", "printer")], profiles)
    try:
        poller.poll(["p"], 20)
        poller.poll(["p"], 20)
        # Another printer at the same address: more supplies, so their rows change.
        poller._credentials["p"] = Credentials("2c", community="printer-color")
        poller.devices["p"].session = None
        changed = poller.poll(["p"], 20)
        assert _supplies(changed) == _supplies(fresh.poll(["c"], 20))
        device = poller.devices["p"]
        assert device.static_age == 0
        for _ in range(poller_module.STATIC_REFRESH_POLLS):
            poller.poll(["p"], 20)
        assert device.static_age == poller_module.STATIC_REFRESH_POLLS
        sent = _sent_oids(device)
        poller.poll(["p"], 20)
        assert device.static_age == 0
        description = engine.parse_oid(
            profiles["printer"].tables["supplies"].columns["description"]
        )
        assert any(oid[: len(description)] == description for oid in sent)
    finally:
        poller.close()
        fresh.close()
