"""Every shipped profile's catalog follows the naming rules, every sample a poll emits is in
its device's profile catalog with exactly those labels, and every catalog metric is emitted
by at least one simulated device (so names cannot drift)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from conftest import make_poller, sim_target

from agent.snmp.config import Credentials
from agent.snmp.profiles import CORE_CATALOG, SHIPPED_DIR, load_profiles
from agent.yamlsource import ConfigError

SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
UNITS = {
    "",
    "seconds",
    "percent",
    "celsius",
    "volts",
    "hertz",
    "watts",
    "amperes",
    "bytes_per_second",
    "per_second",
}
SHIPPED = sorted(p.stem for p in SHIPPED_DIR.glob("*.yaml"))
DOCS = Path(__file__).resolve().parents[3] / "docs" / "snmp.md"


@pytest.mark.parametrize("name", SHIPPED)
def test_catalog_naming(name: str) -> None:
    catalog = load_profiles()[name].catalog
    names = [spec.name for spec in catalog]
    assert len(names) == len(set(names))
    for spec in catalog:
        assert SNAKE.match(spec.name) and spec.unit in UNITS and spec.help.strip(), spec
        assert spec.name.endswith("_total") == (spec.type == "counter"), spec.name
        if spec.unit:
            assert spec.name.removesuffix("_total").endswith("_" + spec.unit), spec.name
        assert "asset" not in spec.labels and "check" not in spec.labels


def test_every_profile_extends_generic_and_docs_cover_it() -> None:
    profiles = load_profiles()
    docs = DOCS.read_text(encoding="utf-8")
    for name in SHIPPED:
        assert {"sys_uptime", "sys_descr", "sys_object_id", "sys_name"} <= set(
            profiles[name].scalars
        )
        assert f"`{name}`" in docs
        for spec in profiles[name].catalog:
            assert f"`{spec.name}`" in docs, f"docs/snmp.md does not mention {spec.name}"


def test_emitted_samples_match_catalogs(snmpsim) -> None:
    profiles = load_profiles()
    devices = {
        "mono": ("printer-mono", "printer"),
        "color": ("printer-color", "printer"),
        "ups": ("ups-onbattery", "ups"),
        "sw": ("switch-48", "switch"),
        "gen": ("printer-mono", "generic"),
    }
    poller = make_poller([sim_target(snmpsim, n, c, p) for n, (c, p) in devices.items()], profiles)
    try:
        poller.poll(list(devices), 20)
        poller._credentials["sw"] = Credentials("2c", community="switch-48-later")
        poller.devices["sw"].session = None
        time.sleep(0.2)
        result = poller.poll(list(devices), 20)
    finally:
        poller.close()
    emitted: dict[str, set[str]] = {}
    for sample in result.samples:
        profile = profiles[devices[sample.asset][1]]
        spec = {s.name: s for s in profile.catalog}.get(sample.metric)
        assert spec is not None, f"{sample.metric} not in profile {profile.name}"
        assert set(sample.labels) == set(spec.labels), (sample.metric, sample.labels)
        assert all(isinstance(v, str) for v in sample.labels.values())
        emitted.setdefault(profile.name, set()).add(sample.metric)
    for name in SHIPPED:
        declared = {s.name for s in load_profiles()[name].catalog}
        assert declared - emitted[name] == set(), (
            f"{name}: catalog metrics no simulated device emits"
        )
    assert {s.name for s in CORE_CATALOG} <= emitted["generic"]


def test_custom_profile_folder(tmp_path: Path) -> None:
    (tmp_path / "roomsensor.yaml").write_text(
        "kind: sensor\nextends: generic\nscalars:\n  temp: 1.3.6.1.4.1.99999.1.1.0\n"
        "metrics:\n  - name: room_temperature_celsius\n    scalar: temp\n    scale: 0.1\n"
        "    unit: celsius\n    help: Room temperature\n"
    )
    profiles = load_profiles(tmp_path)
    assert (
        profiles["roomsensor"].kind == "sensor" and "sys_uptime" in profiles["roomsensor"].scalars
    )
    (tmp_path / "broken.yaml").write_text(
        "kind: x\nscalars:\n  a: not-an-oid\nmetrics:\n  - name: m\n    help: h\n    scalar: b\n"
    )
    with pytest.raises(ConfigError) as err:
        load_profiles(tmp_path)
    assert "broken.yaml:2" in str(err.value) and "numeric OID" in str(err.value)
