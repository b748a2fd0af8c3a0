"""SNMP poller: CPU per device poll, devices per minute on one core, net-snmp side by side,
and the agent's memory with the poller loaded.

    .venv/bin/python benchmarks/snmp.py [--polls 300] [--devices 1000] [--delay-ms 20]

Runs against snmpsim on 127.0.0.1 serving the test recordings (tests/servers/
snmp_recordings.py: mono printer, 48-port switch), nothing else.

1. **CPU per poll** — one device polled ``--polls`` times after 3 warm-up polls (the
   poller learns row counts on the first one); ``time.process_time`` of the whole process
   around each poll (the SNMP loop thread included), median and p90.
2. **Devices per minute** — ``--devices`` printer targets behind a UDP proxy that adds
   ``--delay-ms`` to every answer (a LAN-ish round trip), polled at the default
   concurrency (64). The poller is pinned to one core; reported: wall time, the poller
   process's CPU time, and devices per minute of that CPU (what one core can sustain).
3. **net-snmp** — ``snmpbulkwalk -v2c -Cr25 -On -Oq`` of the same tables (one process per
   subtree, as a script would do it), CPU of the child processes per printer "poll",
   as a ratio to ours. Also per var-bind, since the walks return whole subtrees.
4. **Memory** — a child process with the host checks and 100 printer targets, after five
   polls: RSS and PSS (psutil, /proc/PID/smaps_rollup).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers.snmp import SnmpsimProcess, free_udp_port  # noqa: E402
from tests.servers.snmp_recordings import write_recordings  # noqa: E402

#: The subtrees the printer profile reads (system, hrDevice, hrPrinter, Printer-MIB tables).
PRINTER_SUBTREES = [
    "1.3.6.1.2.1.1",
    "1.3.6.1.2.1.25.3.2.1",
    "1.3.6.1.2.1.25.3.5.1",
    "1.3.6.1.2.1.43.5.1.1",
    "1.3.6.1.2.1.43.6.1.1",
    "1.3.6.1.2.1.43.8.2.1",
    "1.3.6.1.2.1.43.10.2.1",
    "1.3.6.1.2.1.43.11.1.1",
    "1.3.6.1.2.1.43.12.1.1",
    "1.3.6.1.2.1.43.18.1.1",
]


def make_poller(targets: list[dict], **options):
    from agent.snmp.config import SnmpConfig
    from agent.snmp.poller import SnmpPoller
    from agent.snmp.profiles import load_profiles

    config = SnmpConfig.model_validate({"targets": targets, "timeout": 2, "retries": 1, **options})
    return SnmpPoller(config, load_profiles())


def cpu_per_poll(port: int, community: str, profile: str, polls: int) -> dict:
    poller = make_poller(
        [
            {
                "name": "d",
                "address": "127.0.0.1",
                "port": port,
                "profile": profile,
                "community": community,
            }
        ]
    )
    try:
        for _ in range(3):
            poller.poll(["d"], 10)
        times = []
        for _ in range(polls):
            start = time.process_time()
            result = poller.poll(["d"], 10)
            times.append(time.process_time() - start)
        assert any(s.metric == "snmp_up" and s.value == 1 for s in result.samples), (
            "device did not answer"
        )
        times.sort()
        return {
            "device": community,
            "median_ms": round(statistics.median(times) * 1000, 2),
            "p90_ms": round(times[int(len(times) * 0.9)] * 1000, 2),
            "samples": len(result.samples),
            "requests_per_poll": round(poller.devices["d"].session.requests / (polls + 3), 1),
        }
    finally:
        poller.close()


PROXY = r"""
import asyncio, sys
listen, upstream, delay = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])

class Upstream(asyncio.DatagramProtocol):
    def __init__(self, front, client):
        self.front, self.client = front, client
    def datagram_received(self, data, addr):
        loop.call_later(delay, self.front.sendto, data, self.client)

class Front(asyncio.DatagramProtocol):
    def __init__(self):
        self.up = {}
    def connection_made(self, transport):
        self.transport = transport
    def datagram_received(self, data, addr):
        up = self.up.get(addr)
        if up is None:
            up = self.up[addr] = asyncio.ensure_future(loop.create_datagram_endpoint(
                lambda: Upstream(self.transport, addr), remote_addr=("127.0.0.1", upstream)))
        up.add_done_callback(lambda f: f.result()[0].sendto(data))

loop = asyncio.new_event_loop()
loop.run_until_complete(loop.create_datagram_endpoint(Front, local_addr=("127.0.0.1", listen)))
print("ready", flush=True)
loop.run_forever()
"""


def devices_per_minute(port: int, devices: int, delay_ms: float) -> dict:
    """Poll ``devices`` printer targets through a delaying proxy, in a child pinned to one core."""
    proxy_port = free_udp_port()
    proxy = subprocess.Popen(
        [sys.executable, "-c", PROXY, str(proxy_port), str(port), str(delay_ms / 1000)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proxy.stdout is not None and proxy.stdout.readline().strip() == "ready"
        code = f"""
import json, os, sys, time
sys.path.insert(0, {str(ROOT)!r})
os.sched_setaffinity(0, {{0}})
from benchmarks.snmp import make_poller
targets = [{{"name": f"p{{i}}", "address": "127.0.0.1", "port": {proxy_port}, "profile": "printer",
            "community": "printer-mono"}} for i in range({devices})]
poller = make_poller(targets, timeout=5, retries=1)
names = list(poller.devices)
poller.poll(names, 600)   # first poll: learns row counts
cpu, wall = time.process_time(), time.monotonic()
result = poller.poll(names, 600)
cpu, wall = time.process_time() - cpu, time.monotonic() - wall
up = sum(1 for s in result.samples if s.metric == "snmp_up" and s.value == 1)
print(json.dumps({{"devices": {devices}, "answered": up, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2)}}))
poller.close()
"""
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=1200, cwd=ROOT
        )
        assert done.returncode == 0, done.stderr[-3000:]
        out = json.loads(done.stdout.strip().splitlines()[-1])
        out["delay_ms"] = delay_ms
        out["devices_per_minute_wall"] = round(out["devices"] / out["wall_s"] * 60)
        out["devices_per_minute_per_core_cpu"] = round(out["devices"] / out["cpu_s"] * 60)
        out["cpu_ms_per_device"] = round(out["cpu_s"] / out["devices"] * 1000, 2)
        return out
    finally:
        proxy.terminate()
        proxy.wait(5)


def net_snmp(port: int, ours_ms: float, polls: int) -> dict | None:
    binary = shutil.which("snmpbulkwalk")
    if binary is None:
        return None
    env = {**os.environ, "MIBS": "", "MIBDIRS": "/nonexistent"}
    varbinds = 0
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    for _ in range(polls):
        varbinds = 0
        for subtree in PRINTER_SUBTREES:
            done = subprocess.run(
                [
                    binary,
                    "-v2c",
                    "-c",
                    "printer-mono",
                    "-Cr25",
                    "-On",
                    "-Oq",
                    "-t",
                    "2",
                    f"127.0.0.1:{port}",
                    subtree,
                ],
                capture_output=True,
                text=True,
                env=env,
                check=True,
            )
            varbinds += len(done.stdout.splitlines())
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) / polls
    return {
        "processes_per_poll": len(PRINTER_SUBTREES),
        "varbinds_per_poll": varbinds,
        "cpu_ms_per_poll": round(cpu * 1000, 2),
        "ratio_ours_to_net_snmp": round(ours_ms / (cpu * 1000), 2),
    }


def memory(port: int) -> dict:
    code = f"""
import json, sys, time
sys.path.insert(0, {str(ROOT)!r})
import psutil
from agent.cli import _tune_malloc
_tune_malloc()  # as `upkeep-agent run` does before any thread starts
from agent.config import check_configs
from agent.host import Host
from agent.runner import CheckRunner
from agent.checks import registry
from agent.snmp.check import snmp_checks
from agent.snmp.config import SnmpConfig
host = Host()
checks = {{n: registry.check_class(n)(c, host) for n, c in check_configs(None, None).items()}}
config = SnmpConfig.model_validate({{"timeout": 2, "retries": 1, "targets": [
    {{"name": f"p{{i}}", "address": "127.0.0.1", "port": {port}, "profile": "printer", "community": "printer-mono"}}
    for i in range(100)]}})
checks.update(snmp_checks(config, host))
runner = CheckRunner(checks)
for _ in range(5):
    for name in checks:
        runner.run(name)
    time.sleep(0.2)
info = psutil.Process().memory_full_info()
print(json.dumps({{"rss_mib": round(info.rss / 2**20, 1), "pss_mib": round(info.pss / 2**20, 1),
                  "uss_mib": round(info.uss / 2**20, 1), "snmp_devices": 100}}))
runner.shutdown()
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--polls", type=int, default=300)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--delay-ms", type=float, default=20.0)
    parser.add_argument("--walk-polls", type=int, default=30, help="snmpbulkwalk rounds")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="upkeep-bench-snmp-"))
    data = write_recordings(root / "data")
    report: dict = {"python": sys.version.split()[0], "cpus": os.cpu_count()}
    with SnmpsimProcess(data, root / "work").start("printer-mono") as sim:
        report["printer_poll"] = cpu_per_poll(sim.port, "printer-mono", "printer", args.polls)
        report["color_printer_poll"] = cpu_per_poll(
            sim.port, "printer-color", "printer", args.polls
        )
        report["switch_48_poll"] = cpu_per_poll(
            sim.port, "switch-48", "switch", max(30, args.polls // 5)
        )
        report["net_snmp"] = net_snmp(
            sim.port, report["printer_poll"]["median_ms"], args.walk_polls
        )
        report["memory"] = memory(sim.port)
        report["throughput"] = devices_per_minute(sim.port, args.devices, args.delay_ms)
    shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
