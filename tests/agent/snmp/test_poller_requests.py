"""What the poller sends: prepared var-binds, and no 32-bit octet counters once every
interface has the 64-bit ones (fewer var-binds per switch poll, same rates)."""

from __future__ import annotations

from conftest import make_poller, sim_target

from agent.snmp import engine


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
    rates = [s for s in second.samples if s.metric == "if_in_bits_per_second"]
    assert len(rates) == 48  # from the HC counters, as before


def test_request_varbinds_are_built_once() -> None:
    oid = (1, 3, 6, 1, 2, 1, 1, 3, 0)
    assert engine.request_varbind(oid) is engine.request_varbind(oid)
