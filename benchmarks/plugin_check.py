"""What a plugin check costs the agent: one run of a real plugin, and parsing its output.

Usage: .venv/bin/python benchmarks/plugin_check.py  (needs monitoring-plugins-basic)
"""

from __future__ import annotations

import time

from agent.boundedrun import run_bounded
from agent.checks.perfdata import parse_output

PLUGIN = ["/usr/lib/nagios/plugins/check_dummy", "0", "ok"]
OUTPUT = (
    "DISK OK - free space: / 77028MiB (74% inode=96%);| /=28174188544B;216442024755;"
    "243497277849;0;270552530944 'a b'=1.5ms;1;2;0;10 c=3c"
)


def main(runs: int = 100, parses: int = 10000) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(runs):
        run_bounded(PLUGIN, 30)
    per_run = (time.perf_counter() - wall) / runs * 1000
    per_cpu = (time.process_time() - cpu) / runs * 1000
    start = time.perf_counter()
    for _ in range(parses):
        parse_output(OUTPUT)
    per_parse = (time.perf_counter() - start) / parses * 1e6
    print(f"run_bounded(check_dummy): {per_run:.1f} ms wall, {per_cpu:.2f} ms agent CPU per run")
    print(f"parse_output (3 perfdata items): {per_parse:.0f} us")


if __name__ == "__main__":
    main()
