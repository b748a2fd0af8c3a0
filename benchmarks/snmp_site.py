"""SNMP at site scale: N simulated printers, what each poller costs, and what the simulator sees.

    .venv/bin/python benchmarks/snmp_site.py [--devices 400] [--concurrency 32] [--timeout 5]
        [--retries 1] [--steady 60] [--agent-root DIR] [--skip ...]

snmpsim on 127.0.0.1 serves the test recordings (tests/servers/snmp_recordings.py); the
targets alternate between the mono and the colour printer. Every poller talks to snmpsim
through a counting UDP proxy (tests/servers/udp_proxy.py), so requests, answers and the
simulator's CPU time (psutil, the snmpsim process) are counted where the simulator sees them.

1. ``once`` — a cold ``upkeep-agent once --print`` over all devices, as a process: its CPU
   (user + system), wall time, exit code, devices with ``snmp_up 1``, requests.
2. ``steady`` — a real ``upkeep-agent run`` (host checks too, pushing to a real collector) with
   the devices on a short interval: CPU per device per poll over the polls after the first
   (whole process: polling, spooling, sending), and its peak RSS/PSS.
3. ``reference`` — a minimal poller with pysnmp's plain hlapi: GET of the scalars, then per
   table a multi-column GETBULK walk (max-repetitions 25) of the same columns the printer
   profile reads; same concurrency, timeout, retries. Cold and warm are the same for it.
4. ``netsnmp`` — ``snmpbulkwalk -v2c -Cr25`` of the printer subtrees, one process each (a
   script's way), on a tenth of the devices; CPU of the children, per device.

``--agent-root`` runs the agent from another checkout (e.g. ``git worktree``/``git archive``
of main) for before/after numbers. Keep runs short on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.snmp import PRINTER_SUBTREES  # noqa: E402
from tests.servers.snmp import SnmpsimProcess  # noqa: E402
from tests.servers.snmp_recordings import write_recordings  # noqa: E402
from tests.servers.udp_proxy import CountingUdpProxy  # noqa: E402

COMMUNITIES = ("printer-mono", "printer-color")


def targets(n: int, port: int) -> list[dict]:
    return [
        {
            "name": f"printer-{i:04d}",
            "address": "127.0.0.1",
            "port": port,
            "profile": "printer",
            "community": COMMUNITIES[i % 2],
        }
        for i in range(n)
    ]


class Counted:
    """Requests/answers at the proxy and the simulator's CPU over a block of work."""

    def __init__(self, proxy: CountingUdpProxy, sim_pid: int) -> None:
        self.proxy, self.sim = proxy, psutil.Process(sim_pid)

    def __enter__(self) -> dict:
        self.proxy.reset()
        self.cpu0 = sum(self.sim.cpu_times()[:2])
        self.out: dict = {}
        return self.out

    def __exit__(self, *exc: object) -> None:
        self.out["requests"] = self.proxy.requests
        self.out["answers"] = self.proxy.answers
        self.out["simulator_cpu_s"] = round(sum(self.sim.cpu_times()[:2]) - self.cpu0, 2)


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def agent_env(agent_root: Path) -> dict:
    return {**os.environ, "PYTHONPATH": str(agent_root)}


def run_once(tmp: Path, args, port: int, counted: Counted) -> dict:
    config = tmp / "once.yaml"
    snmp = {
        "targets": targets(args.devices, port),
        "timeout": args.timeout,
        "retries": args.retries,
        "concurrency": args.concurrency,
    }
    config.write_text(
        json.dumps({"state_dir": str(tmp / "once-state"), "checks": {}, "snmp": snmp})
    )
    with counted as out:
        cpu0, t0 = child_cpu(), time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "agent", "once", "--print", "--config", str(config)],
            capture_output=True,
            text=True,
            cwd=args.agent_root,
            env=agent_env(args.agent_root),
            timeout=1200,
        )
        cpu, wall = child_cpu() - cpu0, time.monotonic() - t0
    samples = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    up = sum(1 for s in samples if s["metric"] == "snmp_up" and s["value"] == 1)
    out.update(
        exit_code=proc.returncode,
        lines=len(samples),
        devices_up=up,
        wall_s=round(wall, 1),
        cpu_s=round(cpu, 2),
        cpu_ms_per_device=round(cpu / args.devices * 1000, 1),
        requests_per_device=round(out["requests"] / args.devices, 2),
    )
    return out


def run_steady(tmp: Path, args, port: int, counted: Counted) -> dict:
    """A real ``upkeep-agent run`` with the devices on ``--steady-interval``."""
    from tests.servers.collector import CollectorProcess, provision

    with CollectorProcess(tmp / "collector") as collector:
        token = provision(collector, "bench").agent_token
        config = tmp / "run.yaml"
        snmp = {
            "targets": targets(args.devices, port),
            "timeout": args.timeout,
            "retries": args.retries,
            "concurrency": args.concurrency,
            "interval": f"{args.steady_interval}s",
        }
        config.write_text(
            json.dumps(
                {
                    "collector": {"url": collector.url, "token": token},
                    "state_dir": str(tmp / "run-state"),
                    "checks": {"cpu": {}, "memory": {}, "load": {}},
                    "snmp": snmp,
                }
            )
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent", "run", "--config", str(config)],
            stderr=subprocess.DEVNULL,
            cwd=args.agent_root,
            env=agent_env(args.agent_root),
        )
        p = psutil.Process(proc.pid)
        peak_rss = peak_pss = 0
        try:
            # The first poll (cold) starts within 2 s: wait until it is over (no request
            # for 2 s), then measure whole intervals, each holding one poll.
            seen, quiet = -1, 0
            while quiet < 2:
                mem = p.memory_full_info()
                peak_rss, peak_pss = max(peak_rss, mem.rss), max(peak_pss, mem.pss)
                time.sleep(1)
                now = counted.proxy.requests
                quiet = quiet + 1 if now == seen and now > 0 else 0
                seen = now
            polls = max(1, round(args.steady / args.steady_interval))
            with counted as out:
                cpu0 = sum(p.cpu_times()[:2])
                end = time.monotonic() + polls * args.steady_interval
                while time.monotonic() < end:
                    mem = p.memory_full_info()
                    peak_rss, peak_pss = max(peak_rss, mem.rss), max(peak_pss, mem.pss)
                    time.sleep(1)
                cpu = sum(p.cpu_times()[:2]) - cpu0
        finally:
            proc.terminate()
            proc.wait(60)
    out.update(
        polls=polls,
        cpu_s=round(cpu, 2),
        cpu_ms_per_device_poll=round(cpu / polls / args.devices * 1000, 2),
        requests_per_device_poll=round(out["requests"] / polls / args.devices, 2),
        peak_rss_mib=round(peak_rss / 2**20, 1),
        peak_pss_mib=round(peak_pss / 2**20, 1),
    )
    return out


def reference_poll(args, port: int, counted: Counted) -> dict:
    """pysnmp's plain API: what a straightforward poller of the same OIDs does."""
    import yaml
    from pysnmp.hlapi.v3arch import asyncio as hl

    profile = yaml.safe_load((ROOT / "agent/snmp/profiles/printer.yaml").read_text())
    generic = yaml.safe_load((ROOT / "agent/snmp/profiles/generic.yaml").read_text())
    scalars = list({**generic.get("scalars", {}), **profile.get("scalars", {})}.values())
    tables = [list(t["columns"].values()) for t in profile["tables"].values()]

    from pysnmp.proto import rfc1902, rfc1905

    async def device(engine, sem, community: str) -> bool:
        async with sem:
            transport = await hl.UdpTransportTarget.create(
                ("127.0.0.1", port), timeout=args.timeout, retries=args.retries
            )
            auth, ctx = hl.CommunityData(community), hl.ContextData()
            err, status, _, _ = await hl.get_cmd(
                engine, auth, transport, ctx,
                *(hl.ObjectType(hl.ObjectIdentity(o)) for o in scalars), lookupMib=False,
            )  # fmt: skip
            if err:
                return False
            for columns in tables:
                roots = [rfc1902.ObjectName(c) for c in columns]
                cursor = list(roots)
                active = list(range(len(columns)))
                while active:
                    err, status, _, varbinds = await hl.bulk_cmd(
                        engine, auth, transport, ctx, 0, 25,
                        *(hl.ObjectType(hl.ObjectIdentity(cursor[i])) for i in active),
                        lookupMib=False,
                    )  # fmt: skip
                    if err or status or not varbinds:
                        break
                    width, finished = len(active), set()
                    for j, (name, value) in enumerate(varbinds):
                        i = active[j % width]
                        if i in finished:
                            continue
                        if isinstance(value, rfc1905.EndOfMibView) or not roots[i].isPrefixOf(name):
                            finished.add(i)
                        else:
                            cursor[i] = name
                    finished.update(active[len(varbinds) :])
                    active = [i for i in active if i not in finished]
            return True

    async def main() -> int:
        engine = hl.SnmpEngine()
        sem = asyncio.Semaphore(args.concurrency)
        done = await asyncio.gather(
            *(device(engine, sem, COMMUNITIES[i % 2]) for i in range(args.devices))
        )
        engine.close_dispatcher()
        return sum(done)

    with counted as out:
        cpu0, t0 = time.process_time(), time.monotonic()
        up = asyncio.run(main())
        cpu, wall = time.process_time() - cpu0, time.monotonic() - t0
    out.update(
        devices_up=up,
        wall_s=round(wall, 1),
        cpu_ms_per_device=round(cpu / args.devices * 1000, 1),
        requests_per_device=round(out["requests"] / args.devices, 2),
    )
    return out


def netsnmp(args, port: int, counted: Counted) -> dict | None:
    tool = shutil.which("snmpbulkwalk")
    if tool is None:
        return None
    n = max(2, args.devices // 10)
    with counted as out:
        cpu0, t0 = child_cpu(), time.monotonic()
        for i in range(n):
            for subtree in PRINTER_SUBTREES:
                subprocess.run(
                    [tool, "-v2c", "-c", COMMUNITIES[i % 2], "-Cr25", "-On", "-Oq",
                     f"-t{args.timeout}", f"-r{args.retries}", f"127.0.0.1:{port}", subtree],
                    capture_output=True,
                    check=False,
                )  # fmt: skip
        cpu, wall = child_cpu() - cpu0, time.monotonic() - t0
    out.update(
        devices=n,
        wall_s=round(wall, 1),
        cpu_ms_per_device=round(cpu / n * 1000, 1),
        requests_per_device=round(out["requests"] / n, 2),
    )
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--timeout", type=float, default=5)
    parser.add_argument("--retries", type=int, default=1)
    parser.add_argument("--steady", type=float, default=80, help="seconds of steady state")
    parser.add_argument("--steady-interval", type=float, default=40)
    parser.add_argument("--agent-root", type=Path, default=ROOT)
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=["once", "steady", "reference", "netsnmp"]
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        data = write_recordings(tmp / "data")
        with (
            SnmpsimProcess(data, tmp / "work").start("printer-mono") as sim,
            CountingUdpProxy(sim.port) as proxy,
        ):
            counted = Counted(proxy, sim.proc.pid)
            report: dict = {"devices": args.devices, "agent_root": str(args.agent_root)}
            if "once" not in args.skip:
                report["once_cold"] = run_once(tmp, args, proxy.port, counted)
                print("once (cold):", json.dumps(report["once_cold"]), flush=True)
            if "reference" not in args.skip:
                report["reference"] = reference_poll(args, proxy.port, counted)
                print("pysnmp reference:", json.dumps(report["reference"]), flush=True)
            if "netsnmp" not in args.skip:
                report["netsnmp"] = netsnmp(args, proxy.port, counted)
                print("snmpbulkwalk:", json.dumps(report["netsnmp"]), flush=True)
            if "steady" not in args.skip:
                report["steady"] = run_steady(tmp, args, proxy.port, counted)
                print("run (steady):", json.dumps(report["steady"]), flush=True)
    print(
        f"machine: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, Python {sys.version.split()[0]}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
