"""Fixtures: one snmpsim (all recordings) and one snmpd per test session, on loopback."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.snmp.config import SnmpConfig
from agent.snmp.poller import SnmpPoller
from agent.snmp.profiles import load_profiles
from tests.servers.snmp import SnmpdProcess, SnmpsimProcess
from tests.servers.snmp_recordings import write_recordings


@pytest.fixture(scope="session")
def snmpsim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnmpsimProcess]:
    root = tmp_path_factory.mktemp("snmpsim")
    data = write_recordings(root / "data")
    with SnmpsimProcess(data, root / "work").start("printer-mono") as sim:
        yield sim


@pytest.fixture(scope="session")
def snmpd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnmpdProcess]:
    if not (shutil.which("snmpd") or Path("/usr/sbin/snmpd").exists()):
        pytest.skip("snmpd is not installed (scripts/test-system-deps installs it)")
    with SnmpdProcess(tmp_path_factory.mktemp("snmpd")) as server:
        yield server


@pytest.fixture(scope="session")
def profiles():
    return load_profiles()


def make_poller(targets: list[dict], profiles, **options) -> SnmpPoller:
    config = SnmpConfig.model_validate({"targets": targets, "timeout": 1, "retries": 0, **options})
    return SnmpPoller(config, profiles)


def sim_target(sim: SnmpsimProcess, name: str, community: str, profile: str) -> dict:
    return {
        "name": name,
        "address": "127.0.0.1",
        "port": sim.port,
        "profile": profile,
        "community": community,
    }
