"""The agent stays light: it never imports the collector's stack, and a host-only agent
never imports pysnmp, requests, prometheus_client, pydantic or APScheduler (memory budget:
20 MiB PSS)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

FORBIDDEN = {
    "collector",
    "fastapi",
    "starlette",
    "uvicorn",
    "sqlalchemy",
    "alembic",
    "jinja2",
    "typer",
    "rich",
    "pysnmp",
    "requests",
    "prometheus_client",
    # config validation is agent.schema, scheduling one thread per interval group
    "pydantic",
    "pydantic_core",
    "apscheduler",
}

BLOCKER = f"""
import sys
class Forbidden:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {sorted(FORBIDDEN)!r}:
            raise ImportError("the agent imported " + name)
sys.meta_path.insert(0, Forbidden())
"""


def run_python(code: str, tmp_path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )


def test_once_print_imports_nothing_heavy(tmp_path):
    proc = run_python(
        """
        from agent.cli import main
        sys.exit(main(["once", "--print", "--wait", "0.2"]))
    """,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    samples = [json.loads(line) for line in proc.stdout.splitlines()]
    assert {"cpu_usage_percent", "memory_total_bytes", "upkeep_check_up"} <= {
        s["metric"] for s in samples
    }


def test_service_loop_imports_nothing_heavy(tmp_path):
    proc = run_python(
        f"""
        import time
        from pathlib import Path
        from agent.config import load_config
        from agent.runner import AgentService
        Path("agent.yaml").write_text("collector: {{url: 'http://127.0.0.1:9', token: t}}\\nstate_dir: {tmp_path}\\n")
        svc = AgentService(load_config("agent.yaml"))
        svc.start()
        time.sleep(2.5)
        svc.stop()
        print(sorted(m for m in sys.modules if m.split(".")[0] in {sorted(FORBIDDEN)!r}))
        print(sorted(m for m in sys.modules if m.startswith("agent.snmp")))
    """,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    heavy, snmp = proc.stdout.strip().splitlines()[-2:]
    assert heavy == "[]"
    assert snmp == "[]"  # not even the SNMP config models without an snmp: section


def _run_service(tmp_path, extra: str, until=None) -> set[str]:
    """``upkeep-agent run`` as a process for a few seconds (or until ``until(process)``
    holds); the modules it had loaded."""
    import os
    import signal
    import time

    import psutil

    config = tmp_path / "agent.yaml"
    config.write_text(
        f"collector: {{url: 'http://127.0.0.1:9', token: t}}\nstate_dir: {tmp_path}\n{extra}"
    )
    dump = tmp_path / "modules.txt"
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent", "run", "--config", str(config)],
        env={**os.environ, "UPKEEP_AGENT_DUMP_MODULES": str(dump)},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(3)
        deadline = time.monotonic() + 60
        while until is not None and not until(psutil.Process(proc.pid)):
            assert time.monotonic() < deadline, "the agent never got there"
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return set(dump.read_text().split())


def test_running_service_has_no_pydantic_scheduler_or_snmp(tmp_path):
    modules = _run_service(tmp_path, "")
    assert {m.split(".")[0] for m in modules} & FORBIDDEN == set()
    assert "agent.schema" in modules and "agent.runner" in modules


def test_running_service_with_snmp_targets_loads_pysnmp(tmp_path):
    """The same probe sees pysnmp when devices are configured: the check can fail."""
    modules = _run_service(
        tmp_path,
        "snmp: {targets: [{name: p, address: 127.0.0.1, port: 9, community: x}]}\n",
        # polled: the SNMP loop opened its UDP socket (the poller imports pysnmp before)
        until=lambda process: process.net_connections(kind="udp"),
    )
    assert "pysnmp" in {m.split(".")[0] for m in modules}
    assert "pydantic" not in {m.split(".")[0] for m in modules}
