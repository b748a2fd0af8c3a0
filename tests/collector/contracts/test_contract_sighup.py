"""A running collector (real process) loads contract files at start and on SIGHUP; a broken
file is refused, logged, and the stored contract keeps running."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx

from tests.servers.collector import CollectorProcess, provision

SAMPLE = Path(__file__).resolve().parents[3] / "collector" / "contracts" / "sample-contract.yaml"


def wait_until(predicate, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
    return value


def test_sighup_loads_contract_files_and_keeps_the_last_good_one(tmp_path: Path) -> None:
    folder = tmp_path / "contracts"
    folder.mkdir()
    path = folder / "acme.yaml"
    path.write_text(SAMPLE.read_text())
    with CollectorProcess(tmp_path / "c", env={"UPKEEP_CONTRACTS_PATHS": str(folder)}) as collector:
        # At start the client does not exist yet: refused by name, and the collector serves on.
        wait_until(
            lambda: "no client named 'acme'" in collector.log_path.read_text(),
            what="refusal logged",
        )
        creds = provision(collector, "acme")
        headers = {"Authorization": f"Bearer {creds.admin_token}"}

        def timezone() -> str | None:
            answer = httpx.get(f"{collector.url}/api/v1/contracts/acme", headers=headers)
            return (
                answer.json()["contract"]["calendar"]["timezone"]
                if answer.status_code == 200
                else None
            )

        collector.process.send_signal(signal.SIGHUP)
        assert wait_until(timezone, what="contract loaded on SIGHUP") == "Europe/Berlin"
        path.write_text(
            SAMPLE.read_text().replace("timezone: Europe/Berlin", "timezone: Europe/Atlantis")
        )
        collector.process.send_signal(signal.SIGHUP)
        wait_until(
            lambda: "Europe/Atlantis" in collector.log_path.read_text(), what="bad file logged"
        )
        line = SAMPLE.read_text().splitlines().index("  timezone: Europe/Berlin    # IANA name") + 1
        assert (
            f"{path}:{line}: calendar.timezone: unknown time zone 'Europe/Atlantis'"
            in collector.log_path.read_text()
        )
        assert timezone() == "Europe/Berlin" and collector.running
