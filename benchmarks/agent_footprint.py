"""Agent footprint: resident memory (RSS, PSS) of `upkeep-agent run` and CPU per cycle.

    .venv/bin/python benchmarks/agent_footprint.py [--seconds 60] [--interval 1]

1. Starts a real collector (uvicorn, SQLite, temp dir) and a real `upkeep-agent run`
   process with the default host checks for this OS, every check on ``--interval``.
2. After a warm-up, reads the agent's RSS/PSS/USS (psutil memory_full_info, i.e.
   /proc/PID/smaps_rollup) and its CPU time over ``--seconds``; CPU per cycle = CPU time
   / cycles (a cycle = every default check once, plus spooling and shipping their samples).
3. In-process: CPU time (time.process_time) of one cycle of the default checks + spool
   write, median over 300 cycles, without scheduler and HTTP.
Also reports which heavy modules the service had imported (pysnmp, pydantic, APScheduler,
requests): the agent writes its ``sys.modules`` at stop (``UPKEEP_AGENT_DUMP_MODULES``), since
pure-Python modules never appear in /proc/PID/maps. ``--snmp-check`` runs the same probe
with one SNMP target configured, to show that it does see pysnmp then.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def in_process_cycle(state_dir: Path, cycles: int = 300) -> dict:
    """The service's own path for one cycle: CheckRunner.run_group + one Spool.add."""
    from agent.config import load_config
    from agent.host import Host
    from agent.runner import CheckRunner, build_checks
    from agent.spool import Spool

    cfg = load_config(None)
    checks = {n: c for n, c in build_checks(cfg, Host()).items() if not c.unsupported()}
    runner = CheckRunner(checks)
    names = list(checks)
    spool = Spool(state_dir / "bench-spool.db")
    primed = runner.run_group(names)  # prime rate/percent checks
    # as the service does: a check that says it cannot run here is not scheduled again
    names = [n for n in names if not primed[n].unsupported]
    times, counts = [], []
    for _ in range(cycles):
        t0 = time.process_time()
        results = runner.run_group(names)
        samples = [s for r in results.values() for s in r.samples]
        spool.add(samples, [e for r in results.values() for e in r.events])
        times.append(time.process_time() - t0)
        counts.append(len(samples))
        time.sleep(0.05)  # let caches cool a little, as between real cycles
    runner.shutdown()
    spool.close()
    return {
        "checks": sorted(names),
        "samples_per_cycle": statistics.median(counts),
        "cpu_ms_per_cycle_median": round(statistics.median(times) * 1000, 3),
        "cpu_ms_per_cycle_p90": round(sorted(times)[int(len(times) * 0.9)] * 1000, 3),
    }


HEAVY = ("pysnmp", "pydantic", "apscheduler", "requests")


def service_footprint(tmp: Path, seconds: float, interval: float, snmp: bool = False) -> dict:
    from agent.checks import registry
    from tests.servers.collector import CollectorProcess, provision

    tmp = tmp / ("with-snmp" if snmp else "host")
    tmp.mkdir()

    with CollectorProcess(tmp / "collector") as collector:
        token = provision(collector, "bench").agent_token
        names = registry.default_checks()
        cfg = tmp / "agent.yaml"
        # interval 0 = each check's own default (30 s for most, 60 s temperature)
        checks = {n: ({"interval": f"{interval}s"} if interval else {}) for n in names}
        cfg.write_text(
            json.dumps(
                {
                    "collector": {"url": collector.url, "token": token},
                    "state_dir": str(tmp / "agent-state"),
                    "spool": {"flush_interval": "5s"},
                    "checks": checks,
                    **(
                        {
                            "snmp": {
                                "targets": [
                                    {
                                        "name": "p",
                                        "address": "127.0.0.1",
                                        "port": 9,
                                        "community": "x",
                                    }
                                ]
                            }
                        }
                        if snmp
                        else {}
                    ),
                }
            )
        )
        dump = tmp / "modules.txt"
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent", "run", "--config", str(cfg)],
            stderr=subprocess.DEVNULL,
            env={**os.environ, "UPKEEP_AGENT_DUMP_MODULES": str(dump)},
        )
        try:
            p = psutil.Process(proc.pid)
            time.sleep(
                max(10.0, interval * 5 if interval else 35.0)
            )  # warm-up: imports, first batches
            cpu0 = sum(p.cpu_times()[:2])
            t0 = time.monotonic()
            peak = None
            readings = []
            while time.monotonic() - t0 < seconds:
                time.sleep(1)
                mem = p.memory_full_info()
                readings.append(mem.pss)
                if peak is None or mem.pss > peak.pss:
                    peak = mem
            threads = p.num_threads()
            cpu = sum(p.cpu_times()[:2]) - cpu0
            elapsed = time.monotonic() - t0
        finally:
            proc.terminate()
            proc.wait(20)
        loaded = {line.split(".")[0] for line in dump.read_text().split()}
    cycles = elapsed / (interval or 30.0)
    return {
        "rss_mib": round(peak.rss / 2**20, 1),
        "pss_mib": round(peak.pss / 2**20, 1),
        "pss_median_mib": round(statistics.median(readings) / 2**20, 1),
        "uss_mib": round(peak.uss / 2**20, 1),
        "cpu_s": round(cpu, 3),
        "seconds": round(elapsed, 1),
        "cycles": round(cycles),
        "cpu_ms_per_cycle": round(cpu / cycles * 1000, 2),
        "threads": threads,
        **{f"{name}_loaded": name in loaded for name in HEAVY},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument(
        "--interval",
        type=float,
        default=1.0,
        help="seconds between runs of every check; 0 = the checks' own defaults (30 s)",
    )
    parser.add_argument(
        "--snmp-check",
        action="store_true",
        help="also run the service with one SNMP target: the module probe must see pysnmp",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if args.snmp_check:
            snmp = service_footprint(tmp, 5, args.interval or 1.0, snmp=True)
            print("service with one SNMP target:", json.dumps(snmp))
            assert snmp["pysnmp_loaded"], "the module probe cannot see pysnmp"
        if args.interval:
            print("in-process cycle:", json.dumps(in_process_cycle(tmp)))
        print(
            "service (upkeep-agent run):",
            json.dumps(service_footprint(tmp, args.seconds, args.interval)),
        )
    print(
        f"machine: {os.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.1f} GiB, Python {sys.version.split()[0]}"
    )


if __name__ == "__main__":
    main()
