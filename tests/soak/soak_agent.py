"""One agent of the soak scenario (tests/soak/test_soak.py), run as its own process.

The real agent service (scheduler, spool, shipper) with two checks instead of the host's:

- ``counting``: one sample ``soak_sequence`` per run with the values 1, 2, 3, … — so the
  collector's store can be checked for every value exactly once;
- ``fault``: ``disk_used_percent{mountpoint="/"}`` at 97 for ``FAULT_RUNS`` runs of every
  ``CYCLE_RUNS``, for ``CYCLES`` cycles, 40 otherwise — each fault opens and then resolves
  one incident.

After the last fault the check touches the faults-done file. Once the stop file exists, neither check produces anything more and ``counting`` writes how
many values it produced to the result file; the shipper keeps draining the spool until
SIGTERM. The shipper's retry backoff is shortened (time is compressed ~10x).

Usage: python soak_agent.py CONFIG.json
(keys: url, token, asset, state_dir, stop_file, result_file, faults_done)
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from agent.checks.base import Check, CheckConfig, Sample  # noqa: E402
from agent.config import AgentConfig, CollectorConfig, LoadedConfig, SpoolConfig  # noqa: E402
from agent.host import Host  # noqa: E402
from agent.runner import AgentService  # noqa: E402
from agent.shipper import Backoff  # noqa: E402

COUNT_INTERVAL = 0.2
FAULT_INTERVAL = 0.5
CYCLE_RUNS = 40  # 20 s per cycle
FAULT_RUNS = 14  # 7 s at 97 % per cycle
FAULT_START = 6  # run index in the cycle where the fault starts
CYCLES = 4


class Counting(Check):
    name = "counting"

    def __init__(self, config: CheckConfig, host: Host, stop_file: Path, result: Path) -> None:
        super().__init__(config, host)
        self.stop_file, self.result = stop_file, result
        self.produced = 0
        self.lock = threading.Lock()

    def collect(self) -> Iterator[Sample]:
        with self.lock:
            if self.stop_file.exists():
                if not self.result.exists():
                    tmp = self.result.with_suffix(".tmp")
                    tmp.write_text(str(self.produced))
                    os.replace(tmp, self.result)
                return
            self.produced += 1
            value = self.produced
        yield Sample("soak_sequence", float(value))


class Fault(Check):
    name = "fault"

    def __init__(self, config: CheckConfig, host: Host, stop_file: Path, done_file: Path) -> None:
        super().__init__(config, host)
        self.stop_file, self.done_file = stop_file, done_file
        self.runs = 0

    def collect(self) -> Iterator[Sample]:
        if self.stop_file.exists():
            return
        cycle, index = divmod(self.runs, CYCLE_RUNS)
        self.runs += 1
        if cycle >= CYCLES and not self.done_file.exists():
            self.done_file.touch()  # the test stops the agents only after every fault
        faulty = cycle < CYCLES and FAULT_START <= index < FAULT_START + FAULT_RUNS
        yield Sample("disk_used_percent", 97.0 if faulty else 40.0, {"mountpoint": "/"})


def main() -> None:
    conf = json.loads(Path(sys.argv[1]).read_text())
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    stop_file, result = Path(conf["stop_file"]), Path(conf["result_file"])
    cfg = LoadedConfig(
        AgentConfig(
            collector=CollectorConfig(url=conf["url"], token=conf["token"], timeout=5),
            site="hq",
            asset_name=conf["asset"],
            state_dir=Path(conf["state_dir"]),
            spool=SpoolConfig(flush_interval=0.5, batch_max_samples=200),
        ),
        {},
        "<soak>",
    )
    host = Host(conf["asset"])
    service = AgentService(
        cfg,
        host=host,
        checks={
            "counting": Counting(CheckConfig(interval=COUNT_INTERVAL), host, stop_file, result),
            "fault": Fault(
                CheckConfig(interval=FAULT_INTERVAL), host, stop_file, Path(conf["faults_done"])
            ),
        },
    )
    assert service.shipper is not None
    service.shipper.backoff = Backoff(base=0.2, cap=2.0)
    service.run_forever()


if __name__ == "__main__":
    main()
