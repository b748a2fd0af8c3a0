"""Rule-engine CPU per host batch after a fleet-wide silence (every agent silent for the
`agent-silent` rule's 5 minutes: an outage of the sites or of the collector's network; a
collector restart does not count, silence is counted from the engine's start).

Each of N hosts sends its first batch (the agent's catalog host shape with the default
packs), then the sweep 5 minutes later fires `agent-silent` for every one, then the hosts come
back one batch at a time: the figure is the process CPU per batch of ``RuleEngine.observe``
for the return wave and for a second round after it (every asset alert resolved, but still
in the engine), as the ingest listener calls it.

    .venv/bin/python benchmarks/silence_wave.py --hosts 1000,10000,30000
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.fleet import host_series  # noqa: E402
from collector.ingest import SeriesRef  # noqa: E402
from collector.rules.engine import AssetInfo, RuleEngine  # noqa: E402
from collector.rules.loader import load_ruleset  # noqa: E402


def batches(hosts: int) -> list[list[SeriesRef]]:
    shape = host_series("catalog")
    out, sid = [], 0
    for h in range(1, hosts + 1):
        refs = []
        for metric, labels in shape:
            sid += 1
            refs.append(SeriesRef(sid, 1 + h % 20, h, f"host{h}", metric, dict(labels)))
        out.append(refs)
    return out


def per_batch(engine: RuleEngine, fleet: list[list[SeriesRef]], ts: float) -> float:
    """Process CPU seconds per host batch of observe() over the whole fleet at ``ts``."""
    started = time.process_time()
    for refs in fleet:
        engine.observe([(ref, 10.0, ts) for ref in refs], ts)
    return (time.process_time() - started) / len(fleet)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", default="1000,10000,30000")
    args = parser.parse_args(argv)
    ruleset = load_ruleset([ROOT / "rules"])
    for hosts in (int(x) for x in args.hosts.split(",")):
        fleet = batches(hosts)
        t0 = time.time() - 3600
        engine = RuleEngine(
            ruleset,
            lambda a: AssetInfo(a, 1 + a % 20, "acme", "office", f"host{a}", frozenset()),
            started_at=t0,
        )
        first = per_batch(engine, fleet, t0)
        fired = [t for t in engine.sweep(t0 + 301) if t.rule_id == "agent-silent"]
        back = per_batch(engine, fleet, t0 + 330)
        again = per_batch(engine, fleet, t0 + 360)
        print(
            f"{hosts:>6} hosts: first batch {first * 1e3:.2f} ms; agent-silent fired for "
            f"{len(fired)}; return wave {back * 1e3:.2f} ms a batch; next round "
            f"{again * 1e3:.2f} ms a batch (load {os.getloadavg()[0]:.2f})",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
