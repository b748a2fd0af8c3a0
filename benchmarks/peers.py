"""Peers of the agent, measured the way benchmarks/agent_footprint.py measures the agent:
PSS (median and peak, /proc/PID/smaps_rollup, summed over the process tree) and CPU per
collection over ``--seconds``, every peer collecting each second.

    .venv/bin/python benchmarks/peers.py [--seconds 30]

* prometheus-node-exporter (default collectors), scraped once a second;
* zabbix_agentd (passive checks), 16 keys asked once a second over its TCP protocol;
* collectd (cpu, memory, load, df, disk, interface, uptime; csv writer), Interval 1.

Debian packages: prometheus-node-exporter zabbix-agent collectd-core (a peer that is not
installed is reported as such).
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import psutil

ZABBIX_KEYS = [
    "system.cpu.util",
    "system.cpu.load[all,avg1]",
    "system.cpu.load[all,avg5]",
    "vm.memory.size[available]",
    "vm.memory.size[total]",
    "vm.memory.size[pavailable]",
    "vfs.fs.size[/,free]",
    "vfs.fs.size[/,pfree]",
    "vfs.fs.inode[/,pfree]",
    "net.if.in[lo]",
    "net.if.out[lo]",
    "system.uptime",
    "system.swap.size[,free]",
    "proc.num[]",
    "kernel.maxproc",
    "system.users.num",
]


def free_port(below: int = 65536) -> int:
    for port in range(20_000 + int(time.time() * 1000) % 10_000, below):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port if below < 65536 else 0))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free port")


def tree(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def measure(proc: subprocess.Popen, seconds: float, poll: Callable[[], None]) -> dict:
    root = psutil.Process(proc.pid)
    time.sleep(3)  # start-up
    for _ in range(3):
        poll()
        time.sleep(1)
    cpu0 = sum(sum(p.cpu_times()[:2]) for p in tree(root))
    readings, polls = [], 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        poll()
        polls += 1
        time.sleep(1)
        readings.append(sum(p.memory_full_info().pss for p in tree(root)))
    cpu = sum(sum(p.cpu_times()[:2]) for p in tree(root)) - cpu0
    return {
        "processes": len(tree(root)),
        "pss_median_mib": round(statistics.median(readings) / 2**20, 1),
        "pss_peak_mib": round(max(readings) / 2**20, 1),
        "cpu_ms_per_poll": round(cpu / polls * 1000, 2),
        "polls": polls,
    }


def node_exporter(tmp: Path, seconds: float) -> dict | None:
    binary = shutil.which("prometheus-node-exporter")
    if binary is None:
        return None
    port = free_port()
    proc = subprocess.Popen(
        [binary, f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    lines: list[int] = []

    def scrape() -> None:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
            lines.append(sum(1 for line in answer.read().splitlines() if not line.startswith(b"#")))

    try:
        out = measure(proc, seconds, scrape)
    finally:
        proc.terminate()
        proc.wait(10)
    return {**out, "series_per_poll": lines[-1] if lines else 0}


def zabbix(tmp: Path, seconds: float) -> dict | None:
    binary = shutil.which("zabbix_agentd") or (
        "/usr/sbin/zabbix_agentd" if Path("/usr/sbin/zabbix_agentd").exists() else None
    )
    if binary is None:
        return None
    port = free_port(below=32768)  # zabbix_agentd accepts 1024-32767
    conf = tmp / "zabbix_agentd.conf"
    conf.write_text(
        f"Server=127.0.0.1\nListenIP=127.0.0.1\nListenPort={port}\nLogType=console\n"
        f"PidFile={tmp}/zabbix_agentd.pid\nAllowRoot=1\nStartAgents=3\nServerActive=\n"
    )
    proc = subprocess.Popen(
        [binary, "-f", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )

    def ask(key: str) -> bytes:
        body = key.encode()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"ZBXD\x01" + struct.pack("<Q", len(body)) + body)
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
        return data[13:]

    def poll() -> None:
        for key in ZABBIX_KEYS:
            ask(key)

    for _ in range(100):  # up and listening (slow to start on a loaded machine)
        try:
            ask("agent.ping")
            break
        except OSError:
            time.sleep(0.2)

    try:
        out = measure(proc, seconds, poll)
    finally:
        proc.terminate()
        proc.wait(10)
    return {**out, "keys_per_poll": len(ZABBIX_KEYS)}


def collectd(tmp: Path, seconds: float) -> dict | None:
    binary = shutil.which("collectd") or (
        "/usr/sbin/collectd" if Path("/usr/sbin/collectd").exists() else None
    )
    if binary is None:
        return None
    conf = tmp / "collectd.conf"
    plugins = ["cpu", "memory", "load", "df", "disk", "interface", "uptime", "csv"]
    conf.write_text(
        f'Interval 1\nBaseDir "{tmp}"\nPIDFile "{tmp}/collectd.pid"\nTypesDB "/usr/share/collectd/types.db"\n'
        + "".join(f"LoadPlugin {p}\n" for p in plugins)
        + f'<Plugin csv>\n  DataDir "{tmp}/csv"\n</Plugin>\n'
    )
    proc = subprocess.Popen(
        [binary, "-f", "-C", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        out = measure(proc, seconds, lambda: None)  # it collects on its own every second
    finally:
        proc.terminate()
        proc.wait(10)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for name, run in (
            ("prometheus-node-exporter", node_exporter),
            ("zabbix_agentd", zabbix),
            ("collectd", collectd),
        ):
            result = run(tmp, args.seconds)
            print(f"{name}:", json.dumps(result) if result else "not installed", flush=True)
    print(f"load average {psutil.getloadavg()[0]:.1f}, {psutil.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
